package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
)

// Source names who observed a change recorded in the history.
type Source string

// Sources. The values are stable: they are the history's source column and "source" in every
// JSON output.
const (
	SourceScan      Source = "scan"      // a scan compared the host with the last observation
	SourceBaseline  Source = "baseline"  // the first scan, which records the baseline (a run's kind)
	SourceEvent     Source = "event"     // the watcher, after a kernel event
	SourceReconcile Source = "reconcile" // the watcher's scan after a gap
	SourceAccept    Source = "accept"    // baseline accept or update
	SourceRestore   Source = "restore"   // tripline restore
	// SourceApproval marks a seal of the baseline (approvals.go): a row of the chain, not a
	// change of a path. History and Count leave it out.
	SourceApproval Source = "approval"
)

// Record is one row of the history.
type Record struct {
	TimeNS   int64
	RunID    int64
	Source   Source
	Path     string
	Location string
	Kind     baseline.Kind // created, deleted, modified, accepted, restored
	Flags    []string
	Old, New *baseline.Entry
	Rule     string
	Severity string
	Verdict  policy.Verdict
	Hits     any         // JSON-encoded as given
	Actor    *proc.Actor // nil when nobody is known; not changed once recorded (AddHistory reuses its JSON)
	By       string
	// ReadNS is when the kernel event that led to the observation was read; 0 when none did (a
	// scan, an acceptance). TimeNS is when the row was recorded.
	ReadNS int64
	// Set by AddHistory: the row's id and its hash in the chain.
	ID   int64
	Hash string
}

func jsonOrNull(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if e, ok := v.(*baseline.Entry); ok && e == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// AddHistory appends a record.
func (t *Tx) AddHistory(ctx context.Context, r *Record) error {
	t.entryBuf = encodeEntry(t.entryBuf[:0], r.Old, entryRef(r.Path, r.Location, nil))
	var old, cur []byte
	if r.Old != nil {
		old = t.entryBuf
	}
	if r.New != nil {
		// Appended after old in the same buffer; old keeps its bytes (its slice ends before).
		start := len(t.entryBuf)
		t.entryBuf = encodeEntry(t.entryBuf, r.New, entryRef(r.Path, r.Location, r.Old))
		cur = t.entryBuf[start:]
		if r.Old != nil {
			old = t.entryBuf[:start]
		}
	}
	hits, err := jsonOrNull(r.Hits)
	if err != nil {
		return err
	}
	var actorID any
	var actorJSON sql.NullString
	if r.Actor != nil {
		if r.Actor != t.lastActor { // the caller never changes an actor it has recorded
			b, err := json.Marshal(r.Actor)
			if err != nil {
				return err
			}
			id, err := t.actorID(ctx, r.Actor, string(b))
			if err != nil {
				return err
			}
			t.lastActor, t.lastActorJSON, t.lastActorID = r.Actor, string(b), id
		}
		actorID = t.lastActorID
		actorJSON = sql.NullString{String: t.lastActorJSON, Valid: true}
	}
	if !t.headKnown {
		if t.headID, t.headHash, err = head(ctx, t.tx); err != nil {
			return t.db.wrap(err)
		}
		t.headKnown = true
	}
	row := chainRow{ID: t.headID + 1, TimeNS: r.TimeNS, Source: string(r.Source), Path: r.Path, Location: r.Location, Kind: string(r.Kind),
		Flags: strings.Join(r.Flags, ","), OldEntry: old, NewEntry: cur, Rule: r.Rule, Severity: r.Severity,
		Verdict: string(r.Verdict), Hits: nullString(hits), Actor: actorJSON, By: r.By}
	var run, read any
	if r.RunID != 0 {
		run = r.RunID
		row.RunID = sql.NullInt64{Int64: r.RunID, Valid: true}
	}
	if r.ReadNS != 0 {
		read = r.ReadNS
		row.ReadNS = sql.NullInt64{Int64: r.ReadNS, Valid: true}
	}
	if row.Hash, err = rowHash(t.headHash, &row); err != nil {
		return fmt.Errorf("database %s: corrupt history (%v); 'tripline history --verify' says more", t.db.path, err)
	}
	// nil []byte binds as NULL.
	if err := t.exec(ctx, sqlAddHistory, row.ID, r.TimeNS, run, row.Source, r.Path, r.Location, row.Kind, row.Flags, old, cur,
		r.Rule, r.Severity, row.Verdict, hits, actorID, r.By, row.Hash, read); err != nil {
		return err
	}
	t.headID, t.headHash = row.ID, row.Hash
	r.ID, r.Hash = row.ID, row.Hash
	return nil
}

// nullString turns what jsonOrNull returns (nil or a string) into a chain column.
func nullString(v any) sql.NullString {
	if s, ok := v.(string); ok {
		return sql.NullString{String: s, Valid: true}
	}
	return sql.NullString{}
}

// HistoryRow is one recorded change, decoded.
type HistoryRow struct {
	ID       int64           `json:"id"`
	TimeNS   int64           `json:"time_ns"`
	ReadNS   int64           `json:"read_ns,omitempty"` // when the event was read; 0 for a scan
	RunID    int64           `json:"run_id,omitempty"`
	Source   Source          `json:"source"`
	Path     string          `json:"path"`
	Location string          `json:"location"`
	Kind     baseline.Kind   `json:"kind"`
	Flags    []string        `json:"flags"`
	Old      *baseline.Entry `json:"old,omitempty"`
	New      *baseline.Entry `json:"new,omitempty"`
	Rule     string          `json:"rule,omitempty"`
	Severity string          `json:"severity"`
	Verdict  policy.Verdict  `json:"verdict"`
	Actor    *proc.Actor     `json:"actor,omitempty"` // nil for scans
	// Stored is the actor as the database holds it, set by EachHistoryStored (which leaves Actor
	// nil): a listing decodes each distinct actor once by its id, or copies its JSON.
	Stored StoredActor `json:"-"`
	By     string      `json:"by"`
	Hash   string      `json:"hash"`
}

// HistoryQuery selects history rows. Zero fields do not filter.
type HistoryQuery struct {
	Path        string
	SinceNS     int64
	UntilNS     int64
	PID         int32
	UID         int64 // the acting process's real or effective uid, or its login uid; -1: any
	Exe         string
	MinSeverity string // info, low, medium, high, critical
	Location    string
	Limit       int
}

var severityRank = map[string]int{"none": 0, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}

// History returns the rows q selects, oldest first.
func (db *DB) History(ctx context.Context, q HistoryQuery) ([]HistoryRow, error) {
	var out []HistoryRow
	err := db.EachHistory(ctx, q, func(h HistoryRow) error {
		out = append(out, h)
		return nil
	})
	return out, err
}

// historySQL builds the query of q. The actor filters are answered from the indexes of the actors
// table and history_actor (history_index_test.go checks the plans).
func historySQL(q HistoryQuery) (string, []any, error) { return historySQLCols(q, true) }

// historySQLCols is historySQL, with each row's actor JSON (actors.json, by a join) or without it
// (NULL in its place).
func historySQLCols(q HistoryQuery, actorJSON bool) (string, []any, error) {
	var where []string
	var args []any
	if q.Path != "" {
		where, args = append(where, "path = ?"), append(args, q.Path)
	}
	if q.SinceNS != 0 {
		// The rows are read in id order, so SQLite would rather walk the whole table by id than
		// look the window up in history_time and sort. The first id in the window bounds the
		// walk instead: every row with time_ns >= since has an id >= it, so the result is the
		// same even where the clock stepped back.
		where = append(where, "history.id >= (SELECT min(id) FROM history INDEXED BY history_time WHERE time_ns >= ?)", "time_ns >= ?")
		args = append(args, q.SinceNS, q.SinceNS)
	}
	if q.UntilNS != 0 {
		where, args = append(where, "time_ns < ?"), append(args, q.UntilNS)
	}
	// The actor filters look the actors up in their own indexes, then their rows in
	// history_actor (schema 8).
	if q.PID != 0 {
		where, args = append(where, "history.actor_id IN (SELECT id FROM actors WHERE pid = ?)"), append(args, q.PID)
	}
	if q.UID >= 0 {
		where = append(where, "history.actor_id IN (SELECT id FROM actors WHERE uid = ? OR euid = ? OR loginuid = ?)")
		args = append(args, q.UID, q.UID, q.UID)
	}
	if q.Exe != "" {
		where, args = append(where, "history.actor_id IN (SELECT id FROM actors WHERE exe = ?)"), append(args, q.Exe)
	}
	if q.Location != "" {
		where, args = append(where, "location = ?"), append(args, q.Location)
	}
	if q.MinSeverity != "" {
		r, ok := severityRank[q.MinSeverity]
		if !ok {
			return "", nil, fmt.Errorf("severity %q: want info, low, medium, high or critical", q.MinSeverity)
		}
		var in []string
		for s, n := range severityRank {
			if n >= r {
				in = append(in, "'"+s+"'")
			}
		}
		sort.Strings(in)
		where = append(where, "severity IN ("+strings.Join(in, ",")+")")
	}
	// Seal rows are the chain's, not changes of a path: VerifyChain and VerifyBaseline read them.
	where = append(where, "source != '"+string(SourceApproval)+"'")
	cols, from := listCols, chainFrom
	if !actorJSON {
		cols, from = listColsNoActor, "history"
	}
	sqlq := "SELECT " + cols + " FROM " + from + " WHERE " + strings.Join(where, " AND ") + " ORDER BY history.id"
	if q.Limit > 0 {
		sqlq += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	return sqlq, args, nil
}

// listCols are what EachHistory reads of a row and its actor, FROM chainFrom.
const (
	listCols        = "history.id, time_ns, run_id, source, path, location, kind, flags, old, new, rule, severity, verdict, by, hash, read_ns, old_entry, new_entry, actor_id, actors.json"
	listColsNoActor = "history.id, time_ns, run_id, source, path, location, kind, flags, old, new, rule, severity, verdict, by, hash, read_ns, old_entry, new_entry, actor_id, NULL"
)

// StoredActor is a row's actor as the actors table holds it (schema 8): one id and one JSON
// document per distinct actor, shared by all its rows.
type StoredActor struct {
	ID   int64  // the actor's id; 0: the row has no actor
	JSON []byte // its JSON as AddHistory wrote it (json.Marshal); nil when missing or not read with the row; valid only during the callback
	// lookup reads the JSON by ID when it was not read with the row (EachHistoryStored without
	// actor JSON); nil otherwise. Valid only during the callback.
	lookup *sql.Stmt
	ctx    context.Context
}

// Decode returns the actor (nil when the row has none).
func (s StoredActor) Decode() *proc.Actor {
	if s.ID == 0 {
		return nil
	}
	js := s.JSON
	if js == nil && s.lookup != nil {
		// In the listing's own read transaction: the snapshot its rows come from.
		err := s.lookup.QueryRowContext(s.ctx, s.ID).Scan(&js)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return &proc.Actor{Attribution: proc.AttrNone, Why: fmt.Sprintf("the recorded actor (%d) could not be read: %v", s.ID, err)}
		}
	}
	if js == nil {
		// Only an edit outside tripline removes an actor a row refers to ('history --verify'
		// names the row); the row is still shown.
		return &proc.Actor{Attribution: proc.AttrNone, Why: fmt.Sprintf("the recorded actor (%d) is missing from the database", s.ID)}
	}
	return decodeActorBytes(js)
}

// EachHistory calls f with each row q selects, oldest first, one at a time: memory stays flat
// however many rows match. An error from f stops the walk and is returned.
func (db *DB) EachHistory(ctx context.Context, q HistoryQuery, f func(HistoryRow) error) error {
	return db.eachHistory(ctx, q, true, true, f)
}

// EachHistoryStored is EachHistory that leaves each row's Actor nil and sets Stored instead:
// for a listing over many rows and actors, which decodes an actor only the first time its id
// comes (decoding every row's actor was a fifth of the CPU of 'history --since' over 400,000
// rows with 30,000 actors). With actorJSON each row's Stored.JSON is read with it (a listing
// that writes every row's actor); without it Stored.Decode reads the actor when asked (one that
// needs each actor once: reading every row's actor JSON was a fifth of the grouped listing's
// CPU).
func (db *DB) EachHistoryStored(ctx context.Context, q HistoryQuery, actorJSON bool, f func(HistoryRow) error) error {
	return db.eachHistory(ctx, q, false, actorJSON, f)
}

func (db *DB) eachHistory(ctx context.Context, q HistoryQuery, decodeActors, actorJSON bool, f func(HistoryRow) error) error {
	sqlq, args, err := historySQLCols(q, decodeActors || actorJSON)
	if err != nil {
		return err
	}
	var rows *sql.Rows
	var lookup *sql.Stmt
	if decodeActors || actorJSON {
		rows, err = db.r.QueryContext(ctx, sqlq, args...)
	} else {
		// The rows and the actors looked up as they are asked for are read in one read
		// transaction, on one connection: one snapshot.
		var tx *sql.Tx
		if tx, err = db.r.BeginTx(ctx, nil); err != nil {
			return db.wrap(err)
		}
		defer tx.Rollback()
		if lookup, err = tx.PrepareContext(ctx, "SELECT json FROM actors WHERE id = ?"); err != nil {
			return db.wrap(err)
		}
		defer lookup.Close()
		rows, err = tx.QueryContext(ctx, sqlq, args...)
	}
	if err != nil {
		return db.wrap(err)
	}
	defer rows.Close()
	var actors actorCache
	// The entry and actor columns are read as raw bytes into buffers kept from row to row, not
	// as new strings: they are decoded at once and only the decoded values are kept. An actor is
	// decoded only when it is not among the ones decoded last (actorCache).
	var old, cur, oldB, curB, actor sql.RawBytes
	// One row buffer for the walk (Scan sets every field): one a row escaped to the heap.
	var c chainRow
	for rows.Next() {
		// Scan sets a buffer to nil for NULL, and appending "" to a nil buffer leaves it nil: an
		// empty buffer that is not nil keeps "" (not JSON: an error) apart from NULL.
		for _, b := range []*sql.RawBytes{&old, &cur, &oldB, &curB, &actor} {
			if *b == nil {
				*b = sql.RawBytes{}
			}
		}
		if err := rows.Scan(&c.ID, &c.TimeNS, &c.RunID, &c.Source, &c.Path, &c.Location, &c.Kind, &c.Flags, &old, &cur,
			&c.Rule, &c.Severity, &c.Verdict, &c.By, &c.Hash, &c.ReadNS, &oldB, &curB, &c.ActorID, &actor); err != nil {
			return db.wrap(err)
		}
		h := HistoryRow{ID: c.ID, TimeNS: c.TimeNS, ReadNS: c.ReadNS.Int64, RunID: c.RunID.Int64, Source: Source(c.Source), Path: c.Path, Location: c.Location,
			Kind: baseline.Kind(c.Kind), Flags: []string{}, Rule: c.Rule, Severity: c.Severity, Verdict: policy.Verdict(c.Verdict), By: c.By, Hash: c.Hash}
		if c.Flags != "" {
			h.Flags = strings.Split(c.Flags, ",")
		}
		if h.Old, h.New, err = rowEntries(c.Path, c.Location, old, cur, oldB, curB); err != nil {
			return fmt.Errorf("%s: history row %d: %w", db.path, c.ID, err)
		}
		if !decodeActors {
			if c.ActorID.Valid {
				h.Stored = StoredActor{ID: c.ActorID.Int64, JSON: actor, lookup: lookup, ctx: ctx}
			}
		} else {
			h.Actor = actors.get(c.ActorID, actor)
		}
		if err := f(h); err != nil {
			return err
		}
	}
	return db.wrap(rows.Err())
}

// decodeEntryBytes is decodeStoredEntry for a column read as raw bytes (nil: NULL).
func decodeEntryBytes(b sql.RawBytes) (*baseline.Entry, error) {
	if b == nil {
		return nil, nil
	}
	var e baseline.Entry
	if err := unmarshalEntry(b, &e); err != nil {
		return nil, fmt.Errorf("stored entry is not valid JSON: %w", err)
	}
	return &e, nil
}

// decodeActorBytes is decodeActor for a column read as raw bytes (nil: NULL).
func decodeActorBytes(b sql.RawBytes) *proc.Actor {
	if len(b) == 0 {
		return nil
	}
	var a proc.Actor
	if err := unmarshalActor(b, &a); err != nil {
		return &proc.Actor{Attribution: proc.AttrNone, Why: "the recorded actor does not decode: " + err.Error()}
	}
	return &a
}
