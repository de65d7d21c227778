-- Schema 6: indexes for the actor filters of 'history' (--pid, --user, --exe). They are on the
-- very expressions History's WHERE uses (history.go), so SQLite answers those filters from the
-- index instead of decoding every row's actor. Rows without an actor (scans), and an actor that
-- is not JSON (edited by hand: the chain check says so), index as NULL, so no write fails on them.
CREATE INDEX history_actor_pid ON history(json_extract(CASE WHEN json_valid(actor) THEN actor END, '$.pid'));
CREATE INDEX history_actor_uid ON history(json_extract(CASE WHEN json_valid(actor) THEN actor END, '$.process.uid'));
CREATE INDEX history_actor_euid ON history(json_extract(CASE WHEN json_valid(actor) THEN actor END, '$.process.euid'));
CREATE INDEX history_actor_loginuid ON history(json_extract(CASE WHEN json_valid(actor) THEN actor END, '$.process.loginuid'));
CREATE INDEX history_actor_exe ON history(json_extract(CASE WHEN json_valid(actor) THEN actor END, '$.process.exe'));
