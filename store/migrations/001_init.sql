-- Schema 1: baseline, last-seen state, runs and history.
-- Times are INTEGER nanoseconds since the Unix epoch, UTC. inode and dev are stored as the
-- int64 with the same bits as the kernel's uint64. Hashes are lowercase hex.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- The approved state of every path in a location.
CREATE TABLE baseline (
  path        TEXT PRIMARY KEY,
  location    TEXT NOT NULL,
  type        TEXT NOT NULL,
  mode        INTEGER NOT NULL,
  uid         INTEGER NOT NULL,
  gid         INTEGER NOT NULL,
  size        INTEGER NOT NULL,
  inode       INTEGER NOT NULL,
  dev         INTEGER NOT NULL,
  nlink       INTEGER NOT NULL,
  mtime_ns    INTEGER NOT NULL,
  ctime_ns    INTEGER NOT NULL,
  btime_ns    INTEGER NOT NULL,
  target      TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  hash_state  TEXT NOT NULL,
  approved_ns INTEGER NOT NULL,
  approved_by TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- The last observed state of the paths that differ from the baseline in any way (a scan or the
-- watcher writes it; present = 0 means deleted since the baseline). A path absent here is as the
-- baseline says, so the table stays as small as the drift.
CREATE TABLE state (
  path        TEXT PRIMARY KEY,
  present     INTEGER NOT NULL,
  location    TEXT NOT NULL,
  type        TEXT NOT NULL,
  mode        INTEGER NOT NULL,
  uid         INTEGER NOT NULL,
  gid         INTEGER NOT NULL,
  size        INTEGER NOT NULL,
  inode       INTEGER NOT NULL,
  dev         INTEGER NOT NULL,
  nlink       INTEGER NOT NULL,
  mtime_ns    INTEGER NOT NULL,
  ctime_ns    INTEGER NOT NULL,
  btime_ns    INTEGER NOT NULL,
  target      TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  hash_state  TEXT NOT NULL,
  seen_ns     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- One row per scan, baseline creation or acceptance.
CREATE TABLE runs (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL,
  started_ns  INTEGER NOT NULL,
  finished_ns INTEGER NOT NULL DEFAULT 0,
  root        TEXT NOT NULL,
  by          TEXT NOT NULL,
  files       INTEGER NOT NULL DEFAULT 0,
  findings    INTEGER NOT NULL DEFAULT 0,
  errors      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Append-only: one row per observed change or acceptance.
CREATE TABLE history (
  id        INTEGER PRIMARY KEY,
  time_ns   INTEGER NOT NULL,
  run_id    INTEGER REFERENCES runs(id),
  source    TEXT NOT NULL,
  path      TEXT NOT NULL,
  location  TEXT NOT NULL,
  kind      TEXT NOT NULL,
  flags     TEXT NOT NULL,
  old       TEXT,
  new       TEXT,
  rule      TEXT NOT NULL,
  severity  TEXT NOT NULL,
  verdict   TEXT NOT NULL,
  hits      TEXT,
  actor     TEXT,
  by        TEXT NOT NULL
) STRICT;

CREATE INDEX history_path ON history(path, id);
CREATE INDEX history_time ON history(time_ns);
