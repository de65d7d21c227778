-- Schema 5: when a change was seen. time_ns is when a history row was recorded; read_ns is when
-- the kernel event that made tripline look was read (a backlog, or a database that could not be
-- written for a while, puts time between the two). NULL for rows of a scan, an acceptance, and
-- rows written before this schema. The chain hashes it only when it is set (chain.go), so the
-- hashes of older rows stay as they were.
ALTER TABLE history ADD COLUMN read_ns INTEGER;
