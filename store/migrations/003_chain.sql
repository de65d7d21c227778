-- Schema 3: tamper evidence and content versions.
--
-- Every history row commits to the row before it: hash = sha256 over the previous row's hash and
-- the row's canonical encoding (chain.go). The hashes of rows written before this schema are
-- computed when it is applied. Rows pruned by retention leave their last hash in meta
-- (history_anchor_id, history_anchor_hash), where the chain then starts.
ALTER TABLE history ADD COLUMN hash TEXT NOT NULL DEFAULT '';

-- Each distinct content of a regular file in a location, up to a size cap, stored once
-- (deflate-compressed), so that history can show what a file held and restore can put it back.
CREATE TABLE content (
  sha256   TEXT PRIMARY KEY,
  size     INTEGER NOT NULL,
  data     BLOB NOT NULL,
  first_ns INTEGER NOT NULL,
  last_ns  INTEGER NOT NULL
) STRICT;

CREATE INDEX content_age ON content(last_ns);
