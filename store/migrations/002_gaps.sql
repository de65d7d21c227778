-- Schema 2: coverage gaps of the watcher. A gap is a window in which changes may have been missed
-- (the daemon was down, the kernel queue overflowed, a watch was lost); it is closed by the
-- reconcile run that compared every location with the last observed state afterwards.

CREATE TABLE gaps (
  id            INTEGER PRIMARY KEY,
  start_ns      INTEGER NOT NULL,
  end_ns        INTEGER NOT NULL DEFAULT 0,
  reason        TEXT NOT NULL,
  detail        TEXT NOT NULL DEFAULT '',
  reconcile_run INTEGER REFERENCES runs(id)
) STRICT;

CREATE INDEX gaps_time ON gaps(start_ns);
