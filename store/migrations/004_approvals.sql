-- Schema 4: tamper evidence for approvals.
--
-- Every transaction that changes the baseline ends with a seal: a history row (source
-- 'approval', kind 'sealed'), so in the hash chain, whose new column holds the root over every
-- baseline row (approvals.go). Rows of this table keep, for each seal, the first 8 bytes of each
-- baseline row's hash, sorted: enough to name a row edited outside tripline. The root in the
-- chain binds them; the blob's own sha256 is in the seal too. The Go step of this migration seals
-- the baseline as it is at the upgrade.
CREATE TABLE approval_leaves (
  history_id INTEGER PRIMARY KEY,
  leaves     BLOB NOT NULL
) STRICT;
