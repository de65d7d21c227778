-- Schema 7: the package a path belongs to, as the package database said when the path was
-- observed (pkgdb): name, version, type (deb, rpm), state (verified, modified, conffile-modified,
-- no-digest, unowned; '' when no package database was read) and a one-line detail. Every scan
-- derives them again from the package database, so they are a record, not a trust anchor: the
-- baseline's seal (approvals.go) covers the schema 1 columns only, as it did before.
ALTER TABLE baseline ADD COLUMN pkg_name TEXT NOT NULL DEFAULT '';
ALTER TABLE baseline ADD COLUMN pkg_version TEXT NOT NULL DEFAULT '';
ALTER TABLE baseline ADD COLUMN pkg_type TEXT NOT NULL DEFAULT '';
ALTER TABLE baseline ADD COLUMN pkg_state TEXT NOT NULL DEFAULT '';
ALTER TABLE baseline ADD COLUMN pkg_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE state ADD COLUMN pkg_name TEXT NOT NULL DEFAULT '';
ALTER TABLE state ADD COLUMN pkg_version TEXT NOT NULL DEFAULT '';
ALTER TABLE state ADD COLUMN pkg_type TEXT NOT NULL DEFAULT '';
ALTER TABLE state ADD COLUMN pkg_state TEXT NOT NULL DEFAULT '';
ALTER TABLE state ADD COLUMN pkg_detail TEXT NOT NULL DEFAULT '';
