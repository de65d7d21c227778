-- Schema 8: a compact history (about 1,500 bytes a row before it).
--
-- Actors are stored once, in their own table: the same process makes many changes, and each of
-- its rows refers to it by actor_id. json is the actor as it was recorded (the hash chain covers
-- it, as it covered the actor column, so rows written before this schema hash as they did);
-- pid, uid, euid, loginuid and exe are copied from it (NULL where the JSON has no such value)
-- and indexed, so the actor filters of 'history' (--pid, --user, --exe) look actors up there
-- instead of through expression indexes on every row's JSON. key is the first 8 bytes of the
-- json's sha256, by which a writer finds an actor already stored.
--
-- The old and new entries of rows written since are in old_entry and new_entry, in the compact
-- form of entrycodec.go (about 100 bytes for both, against 670 as JSON); old and new keep the
-- JSON of older rows, and a seal's body (approvals.go). The actors of older rows move to actors
-- (below) and the actor column goes.
DROP INDEX history_actor_pid;
DROP INDEX history_actor_uid;
DROP INDEX history_actor_euid;
DROP INDEX history_actor_loginuid;
DROP INDEX history_actor_exe;

CREATE TABLE actors (
  id       INTEGER PRIMARY KEY,
  key      INTEGER NOT NULL,
  json     TEXT NOT NULL,
  pid      INTEGER,
  uid      INTEGER,
  euid     INTEGER,
  loginuid INTEGER,
  exe      TEXT
) STRICT;

CREATE INDEX actors_key ON actors(key);
CREATE INDEX actors_pid ON actors(pid);
CREATE INDEX actors_uid ON actors(uid);
CREATE INDEX actors_euid ON actors(euid);
CREATE INDEX actors_loginuid ON actors(loginuid);
CREATE INDEX actors_exe ON actors(exe);

ALTER TABLE history ADD COLUMN actor_id INTEGER REFERENCES actors(id);
ALTER TABLE history ADD COLUMN old_entry BLOB;
ALTER TABLE history ADD COLUMN new_entry BLOB;

CREATE INDEX history_actor ON history(actor_id);

-- The actors of older rows, once per distinct JSON (the Go step sets key and the indexed values).
INSERT INTO actors(key, json) SELECT 0, actor FROM history WHERE actor IS NOT NULL GROUP BY actor ORDER BY min(id);
CREATE INDEX actors_json_upgrade ON actors(json);
UPDATE history SET actor_id = (SELECT id FROM actors WHERE json = history.actor) WHERE actor IS NOT NULL;
DROP INDEX actors_json_upgrade;
ALTER TABLE history DROP COLUMN actor;
