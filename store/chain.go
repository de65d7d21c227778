package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The history is a hash chain. A row's hash is
//
//	sha256("tripline-history-1\x00" || previous hash (32 bytes; zeros before the first row) ||
//	       each column of the row, in schema order, as a length-prefixed field)
//
// where the actor column is the JSON of the row's actor (kept once in the actors table since
// schema 8), and the compact entries of schema 8 follow the columns of schema 5 (rowHash).
//
// so editing a row, deleting one, inserting one or changing an id breaks the chain at that row,
// and `tripline history --verify` names it. Its limit: whoever can write the database can also
// recompute every hash after the rows they changed. What makes that detectable is a copy of the
// chain head kept off the host (every ECS event carries the hash of the row it recorded, as
// tripline.history.hash, and the export's header carries the head).

const chainDomain = "tripline-history-1\x00"

// entriesMarker precedes the compact entries (schema 8) in a row's hash: the fields after it are
// old_entry and new_entry, each present or NULL.
const entriesMarker = "entries-1"

// chainRow is a history row as the chain sees it: every column, NULLs distinct from "".
type chainRow struct {
	ID                                  int64
	TimeNS                              int64
	RunID                               sql.NullInt64
	Source, Path, Location, Kind, Flags string
	Old, New                            sql.NullString
	Rule, Severity, Verdict             string
	Hits, Actor                         sql.NullString
	By                                  string
	Hash                                string
	// ReadNS (schema 5) is hashed only when set: rows without it, all rows before schema 5
	// among them, hash as they always did.
	ReadNS sql.NullInt64
	// OldEntry and NewEntry (schema 8) are the compact entries (entrycodec.go) of the rows
	// written since; nil (NULL) in older rows, which keep theirs in Old and New. They are hashed
	// only when one is set, after a marker, so older rows hash as they always did.
	OldEntry, NewEntry []byte
	// ActorID (schema 8) is the row's actor in the actors table; Actor is that actor's JSON,
	// which is what the chain covers (the id is only where it is stored).
	ActorID sql.NullInt64
}

// chainCols3 are the columns of schemas 3 and 4, which their migrations' Go steps read.
// chainCols are a row's columns since schema 8, with its actor's JSON, read FROM chainFrom.
const (
	chainCols3 = "id, time_ns, run_id, source, path, location, kind, flags, old, new, rule, severity, verdict, hits, actor, by, hash"
	chainCols  = "history.id, time_ns, run_id, source, path, location, kind, flags, old, new, rule, severity, verdict, hits, actors.json, by, hash, read_ns, old_entry, new_entry, actor_id"
	chainFrom  = "history LEFT JOIN actors ON actors.id = history.actor_id"
)

func (r *chainRow) scan(s scanner) error {
	return s.Scan(&r.ID, &r.TimeNS, &r.RunID, &r.Source, &r.Path, &r.Location, &r.Kind, &r.Flags, &r.Old, &r.New,
		&r.Rule, &r.Severity, &r.Verdict, &r.Hits, &r.Actor, &r.By, &r.Hash, &r.ReadNS, &r.OldEntry, &r.NewEntry, &r.ActorID)
}

// scan3 reads the columns of chainCols3.
func (r *chainRow) scan3(s scanner) error {
	return s.Scan(&r.ID, &r.TimeNS, &r.RunID, &r.Source, &r.Path, &r.Location, &r.Kind, &r.Flags, &r.Old, &r.New,
		&r.Rule, &r.Severity, &r.Verdict, &r.Hits, &r.Actor, &r.By, &r.Hash)
}

// rowHash computes a row's hash from the previous row's (hex; "" before the first row).
func rowHash(prev string, r *chainRow) (string, error) {
	h := sha256.New()
	h.Write([]byte(chainDomain))
	var p [32]byte
	if prev != "" {
		b, err := hex.DecodeString(prev)
		if err != nil || len(b) != 32 {
			return "", fmt.Errorf("history row before %d: stored hash %q is not a sha256", r.ID, prev)
		}
		copy(p[:], b)
	}
	h.Write(p[:])
	var n [binary.MaxVarintLen64]byte
	field := func(present bool, s string) {
		if !present {
			h.Write([]byte{0})
			return
		}
		h.Write([]byte{1})
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	field(true, strconv.FormatInt(r.ID, 10))
	field(true, strconv.FormatInt(r.TimeNS, 10))
	field(r.RunID.Valid, strconv.FormatInt(r.RunID.Int64, 10))
	for _, s := range []string{r.Source, r.Path, r.Location, r.Kind, r.Flags} {
		field(true, s)
	}
	field(r.Old.Valid, r.Old.String)
	field(r.New.Valid, r.New.String)
	for _, s := range []string{r.Rule, r.Severity, r.Verdict} {
		field(true, s)
	}
	field(r.Hits.Valid, r.Hits.String)
	field(r.Actor.Valid, r.Actor.String)
	field(true, r.By)
	if r.ReadNS.Valid {
		field(true, strconv.FormatInt(r.ReadNS.Int64, 10))
	}
	if r.OldEntry != nil || r.NewEntry != nil {
		field(true, entriesMarker)
		field(r.OldEntry != nil, string(r.OldEntry))
		field(r.NewEntry != nil, string(r.NewEntry))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Meta keys of the chain's anchor: the id and hash of the last row pruned by retention.
const (
	metaAnchorID   = "history_anchor_id"
	metaAnchorHash = "history_anchor_hash"
)

type rowQuerier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// anchor returns where the chain starts: the last pruned row's id and hash, or 0 and "".
func anchor(ctx context.Context, q rowQuerier) (int64, string, error) {
	var id, hash string
	err := q.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", metaAnchorID).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	if err := q.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", metaAnchorHash).Scan(&hash); err != nil {
		return 0, "", err
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("meta %s: %q is not a row id", metaAnchorID, id)
	}
	return n, hash, nil
}

// head returns the newest row's id and hash (or the anchor when every row was pruned).
func head(ctx context.Context, q rowQuerier) (int64, string, error) {
	var id int64
	var hash string
	err := q.QueryRowContext(ctx, "SELECT id, hash FROM history ORDER BY id DESC LIMIT 1").Scan(&id, &hash)
	if err == sql.ErrNoRows {
		return anchor(ctx, q)
	}
	return id, hash, err
}

// backfillChain hashes the rows written before schema 3, in id order.
func backfillChain(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT "+chainCols3+" FROM history ORDER BY id")
	if err != nil {
		return err
	}
	var all []chainRow
	for rows.Next() {
		var r chainRow
		if err := r.scan3(rows); err != nil {
			rows.Close()
			return err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	prev := ""
	for i := range all {
		h, err := rowHash(prev, &all[i])
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE history SET hash = ? WHERE id = ?", h, all[i].ID); err != nil {
			return err
		}
		prev = h
	}
	return nil
}

// ChainResult is what Verify found.
type ChainResult struct {
	// Kept is the head the caller kept off the host (VerifyChainHead), "" when none was given;
	// KeptID is the row whose hash it is, 0 when this history has no such row.
	Kept     string `json:"kept_head,omitempty"`
	KeptID   int64  `json:"kept_head_id,omitempty"`
	Rows     int64  `json:"rows"`      // rows checked
	Head     string `json:"head"`      // the newest row's hash: keep it off the host
	HeadID   int64  `json:"head_id"`   // its id
	AnchorID int64  `json:"anchor_id"` // rows up to this id were pruned by retention
	OK       bool   `json:"ok"`
	BadRow   int64  `json:"bad_row,omitempty"` // the first row that breaks the chain
	Problem  string `json:"problem,omitempty"`
}

// VerifyChain walks the whole history, in id order, from a snapshot.
func (db *DB) VerifyChain(ctx context.Context) (ChainResult, error) {
	return db.VerifyChainHead(ctx, "")
}

// VerifyChainHead is VerifyChain that also checks a head kept off the host earlier (an ECS
// event's tripline.history.hash, an export's chain head): the history must still hold the row
// with that hash. A history cut back to before it, or rewritten, no longer does; a chain whose
// hashes were all recomputed after an edit does not either.
func (db *DB) VerifyChainHead(ctx context.Context, kept string) (ChainResult, error) {
	kept = strings.ToLower(strings.TrimSpace(kept))
	res := ChainResult{Kept: kept}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return res, db.wrap(err)
	}
	defer tx.Rollback()
	aid, prev, err := anchor(ctx, tx)
	if err != nil {
		return res, db.wrap(err)
	}
	res.AnchorID, res.HeadID, res.Head = aid, aid, prev
	if kept != "" && kept == prev {
		res.KeptID = aid
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+chainCols+", "+actorCols+" FROM "+chainFrom+" ORDER BY history.id")
	if err != nil {
		return res, db.wrap(err)
	}
	defer rows.Close()
	prevID := aid
	checked := map[int64]bool{} // the actors whose indexed columns were compared with their JSON
	for rows.Next() {
		var r chainRow
		var cols actorColumns
		if err := rows.Scan(&r.ID, &r.TimeNS, &r.RunID, &r.Source, &r.Path, &r.Location, &r.Kind, &r.Flags, &r.Old, &r.New,
			&r.Rule, &r.Severity, &r.Verdict, &r.Hits, &r.Actor, &r.By, &r.Hash, &r.ReadNS, &r.OldEntry, &r.NewEntry, &r.ActorID,
			&cols.PID, &cols.UID, &cols.EUID, &cols.LoginUID, &cols.Exe); err != nil {
			return res, db.wrap(err)
		}
		res.Rows++
		h, err := rowHash(prev, &r)
		if err != nil {
			res.BadRow, res.Problem = r.ID, err.Error()
			return res, nil
		}
		if h != r.Hash {
			res.BadRow = r.ID
			switch {
			case r.ID <= prevID:
				res.Problem = fmt.Sprintf("row %d comes after row %d: rows were reordered or an id was changed", r.ID, prevID)
			case r.ID > prevID+1:
				res.BadRow = prevID + 1
				missing := fmt.Sprintf("rows %d to %d are missing (deleted)", prevID+1, r.ID-1)
				if r.ID == prevID+2 {
					missing = fmt.Sprintf("row %d is missing (deleted)", prevID+1)
				}
				if prevID == 0 {
					res.Problem = missing + ": the history starts at row " + strconv.FormatInt(r.ID, 10)
				} else {
					res.Problem = fmt.Sprintf("row %d does not follow row %d: %s", r.ID, prevID, missing)
				}
			default:
				res.Problem = fmt.Sprintf("row %d was edited: its content no longer matches its hash (or row %d was edited together with its hash)", r.ID, prevID)
			}
			return res, nil
		}
		// The chain covers an actor's JSON; the columns the filters search are copies of it, and
		// an edited copy would hide a row from --pid, --user or --exe.
		if r.ActorID.Valid && r.Actor.Valid && !checked[r.ActorID.Int64] {
			if want := actorColumnsOf(r.Actor.String); cols != want {
				res.BadRow = r.ID
				res.Problem = fmt.Sprintf("row %d: actor %d's indexed columns (pid, uid, euid, loginuid, exe) were edited: they no longer match its recorded JSON, so the actor filters would miss it", r.ID, r.ActorID.Int64)
				return res, nil
			}
			checked[r.ActorID.Int64] = true
		}
		prev, prevID = r.Hash, r.ID
		res.Head, res.HeadID = r.Hash, r.ID
		if kept != "" && r.Hash == kept {
			res.KeptID = r.ID
		}
	}
	if err := rows.Err(); err != nil {
		return res, db.wrap(err)
	}
	if kept != "" && res.KeptID == 0 {
		res.Problem = fmt.Sprintf("the head kept earlier (%s) is not in this history, which ends at row %d: rows after it were removed (the history was cut back or rolled back) or the history was rewritten", kept, res.HeadID)
		if res.AnchorID > 0 {
			res.Problem += fmt.Sprintf("; or retention pruned it (rows up to %d are gone)", res.AnchorID)
		}
		return res, nil
	}
	res.OK = true
	return res, nil
}

// PruneResult says what Prune removed.
type PruneResult struct {
	Rows     int64 // rows deleted
	AnchorID int64 // the chain now starts after this row
	// KeptSeal says why the newest seal of the baseline and the rows after it were kept: the
	// baseline no longer matches it (VerifyBaseline's problem). "" when nothing was kept back.
	KeptSeal string
}

// Prune deletes the oldest history rows: those recorded before beforeNS (0: no age limit) and
// those beyond the newest keepRows (0: no row limit). The chain stays verifiable: the last pruned
// row's id and hash become its anchor (meta history_anchor_id / history_anchor_hash). The freed
// pages go back to the filesystem (reclaim). (Stored contents have their own bound, MaxContentBytes.)
func (db *DB) Prune(ctx context.Context, beforeNS, keepRows int64) (PruneResult, error) {
	var res PruneResult
	tx, err := db.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	// Pruning over a hole would remove the evidence that rows were deleted (a newest seal, say).
	if p, err := contiguous(ctx, tx.tx); err != nil {
		return res, db.wrap(err)
	} else if p != "" {
		return res, fmt.Errorf("database %s: %s; retention prunes nothing over it", db.path, p)
	}
	var cutoff int64
	if beforeNS > 0 {
		if err := tx.tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM history WHERE time_ns < ?", beforeNS).Scan(&cutoff); err != nil {
			return res, db.wrap(err)
		}
	}
	if keepRows > 0 {
		var n, maxID int64
		if err := tx.tx.QueryRowContext(ctx, "SELECT count(*), coalesce(max(id), 0) FROM history").Scan(&n, &maxID); err != nil {
			return res, db.wrap(err)
		}
		if n > keepRows {
			var id int64
			if err := tx.tx.QueryRowContext(ctx, "SELECT id FROM history ORDER BY id DESC LIMIT 1 OFFSET ?", keepRows).Scan(&id); err != nil {
				return res, db.wrap(err)
			}
			cutoff = max(cutoff, id)
		}
	}
	// The newest seal goes only when the baseline is still what it sealed: it is sealed again
	// after the cut, by a row that says so. A baseline that no longer matches keeps its seal (and
	// the rows after it), so pruning never launders an edit.
	var sealID int64
	if err := tx.tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM history WHERE source = ? AND kind = ?", SourceApproval, KindSealed).Scan(&sealID); err != nil {
		return res, db.wrap(err)
	}
	reseal := false
	if sealID > 0 && cutoff >= sealID {
		chk, err := db.checkBaseline(ctx, tx.tx)
		if err != nil {
			return res, err
		}
		if chk.OK {
			reseal = true
		} else {
			cutoff = sealID - 1
			res.KeptSeal = chk.Problem
		}
	}
	if cutoff == 0 {
		aid, _, err := anchor(ctx, tx.tx)
		res.AnchorID = aid
		return res, db.wrap(err)
	}
	var hash string
	if err := tx.tx.QueryRowContext(ctx, "SELECT hash FROM history WHERE id <= ? ORDER BY id DESC LIMIT 1", cutoff).Scan(&hash); err != nil {
		return res, db.wrap(err)
	}
	r, err := tx.tx.ExecContext(ctx, "DELETE FROM history WHERE id <= ?", cutoff)
	if err != nil {
		return res, db.wrap(err)
	}
	res.Rows, _ = r.RowsAffected()
	res.AnchorID = cutoff
	if _, err := tx.tx.ExecContext(ctx, "DELETE FROM approval_leaves WHERE history_id <= ?", cutoff); err != nil {
		return res, db.wrap(err)
	}
	// Actors no row refers to any more.
	if _, err := tx.tx.ExecContext(ctx, "DELETE FROM actors WHERE NOT EXISTS (SELECT 1 FROM history WHERE actor_id = actors.id)"); err != nil {
		return res, db.wrap(err)
	}
	if reseal {
		tx.baselineChanged, tx.approvedBy = true, fmt.Sprintf("retention (the approval sealed by row %d, which it pruned)", sealID)
		tx.approvedNS = time.Now().UnixNano()
	}
	for k, v := range map[string]string{metaAnchorID: strconv.FormatInt(cutoff, 10), metaAnchorHash: hash} {
		if err := tx.SetMeta(ctx, k, v); err != nil {
			return res, err
		}
	}
	if err := tx.Commit(); err != nil {
		return res, err
	}
	return res, db.reclaim(ctx)
}

// Checkpoint copies the write-ahead log into the database file and truncates it, so that the
// file's size is the database's size.
func (db *DB) Checkpoint(ctx context.Context) error {
	if db.w == nil {
		return fmt.Errorf("database %s: opened read-only", db.path)
	}
	_, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return db.wrap(err)
}

// HistoryHead says how long the history is: its row count and the id of its newest row.
type HistoryHead struct {
	Rows   int64  `json:"rows"`
	LastID int64  `json:"last_id"`
	Hash   string `json:"chain_head"` // the newest row's hash ("" when there is none)
}

// Head returns the history's row count, newest row id and chain head.
func (db *DB) Head(ctx context.Context) (HistoryHead, error) {
	var h HistoryHead
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM history").Scan(&h.Rows); err != nil {
		return h, db.wrap(err)
	}
	var err error
	h.LastID, h.Hash, err = head(ctx, db.r)
	return h, db.wrap(err)
}
