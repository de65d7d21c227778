package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"

	"github.com/tripline/tripline/proc"
)

// Actors are stored once each (schema 8): a row of the history refers to its actor by id. The
// actor's JSON is kept as it was recorded (the hash chain covers it), and the values the actor
// filters of 'history' search are copied from it into indexed columns.

// actorCols are the indexed copies, in actorColumns' order, as read FROM chainFrom.
const actorCols = "actors.pid, actors.uid, actors.euid, actors.loginuid, actors.exe"

// actorColumns are an actor's indexed values: NULL where the recorded JSON has no such value
// (no pid; no process, so no ids or exe; an empty exe), as the expression indexes of schema 6
// read them.
type actorColumns struct {
	PID, UID, EUID, LoginUID sql.NullInt64
	Exe                      sql.NullString
}

// actorColumnsOf derives the indexed values from an actor's recorded JSON. JSON that does not
// decode (written by hand) has none.
func actorColumnsOf(js string) actorColumns {
	var c actorColumns
	if js == "" {
		return c
	}
	var a proc.Actor
	if err := unmarshalActor([]byte(js), &a); err != nil {
		return c
	}
	return actorColumnsFor(&a)
}

func actorColumnsFor(a *proc.Actor) actorColumns {
	var c actorColumns
	if a.PID != 0 {
		c.PID = sql.NullInt64{Int64: int64(a.PID), Valid: true}
	}
	if p := a.Process; p != nil {
		c.UID = sql.NullInt64{Int64: int64(p.UID), Valid: true}
		c.EUID = sql.NullInt64{Int64: int64(p.EUID), Valid: true}
		c.LoginUID = sql.NullInt64{Int64: int64(p.LoginUID), Valid: true}
		if p.Exe != "" {
			c.Exe = sql.NullString{String: p.Exe, Valid: true}
		}
	}
	return c
}

// actorKey is how a writer finds an actor already stored: the first 8 bytes of its JSON's sha256.
func actorKey(js string) int64 {
	sum := sha256.Sum256([]byte(js))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

const (
	sqlActorByKey = "SELECT id, json FROM actors WHERE key = ?"
	sqlAddActor   = "INSERT INTO actors(key, json, pid, uid, euid, loginuid, exe) VALUES(?,?,?,?,?,?,?)"
)

// storeActor returns the id of the actor whose JSON is js, adding it when it is not stored yet.
// cols are its indexed values.
func storeActor(ctx context.Context, query func(q string, args ...any) (*sql.Rows, error),
	exec func(q string, args ...any) (sql.Result, error), js string, cols actorColumns) (int64, error) {
	key := actorKey(js)
	rows, err := query(sqlActorByKey, key)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var id int64
		var have string
		if err := rows.Scan(&id, &have); err != nil {
			rows.Close()
			return 0, err
		}
		if have == js {
			rows.Close()
			return id, nil
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	res, err := exec(sqlAddActor, key, js, cols.PID, cols.UID, cols.EUID, cols.LoginUID, cols.Exe)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// actorID returns the stored id of a, whose JSON is js.
func (t *Tx) actorID(ctx context.Context, a *proc.Actor, js string) (int64, error) {
	query := func(q string, args ...any) (*sql.Rows, error) {
		st, err := t.stmt(ctx, q)
		if err != nil {
			return nil, err
		}
		return st.QueryContext(ctx, args...)
	}
	exec := func(q string, args ...any) (sql.Result, error) {
		st, err := t.stmt(ctx, q)
		if err != nil {
			return nil, err
		}
		return st.ExecContext(ctx, args...)
	}
	id, err := storeActor(ctx, query, exec, js, actorColumnsFor(a))
	return id, t.db.wrap(err)
}

// keyActors is schema 8's Go step. Its SQL moved the actor of each older row to the actors
// table, once per distinct JSON kept byte for byte (so the rows hash as they did), with key 0 and
// no indexed values; this sets them, a thousand actors at a time.
func keyActors(ctx context.Context, tx *sql.Tx) error {
	set, err := tx.PrepareContext(ctx, "UPDATE actors SET key = ?, pid = ?, uid = ?, euid = ?, loginuid = ?, exe = ? WHERE id = ?")
	if err != nil {
		return err
	}
	defer set.Close()
	type actor struct {
		id int64
		js string
	}
	var last int64
	for {
		rows, err := tx.QueryContext(ctx, "SELECT id, json FROM actors WHERE id > ? ORDER BY id LIMIT 1000", last)
		if err != nil {
			return err
		}
		var batch []actor
		for rows.Next() {
			var a actor
			if err := rows.Scan(&a.id, &a.js); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, a := range batch {
			c := actorColumnsOf(a.js)
			if _, err := set.ExecContext(ctx, actorKey(a.js), c.PID, c.UID, c.EUID, c.LoginUID, c.Exe, a.id); err != nil {
				return err
			}
		}
		last = batch[len(batch)-1].id
	}
}

// actorCache decodes each actor of a query once while it is among the last maxCachedActors
// seen: the many changes of one process share one decoded actor. Rows share the *proc.Actor;
// nobody changes it.
type actorCache struct {
	byID map[int64]*proc.Actor
}

// maxCachedActors bounds the cache (a decoded actor with its parent is about 1 KB), so that a
// query over many distinct actors stays within a few MB.
const maxCachedActors = 8192

// get returns the actor id, whose JSON (read with the row) is js: nil when the row has none.
func (c *actorCache) get(id sql.NullInt64, js sql.RawBytes) *proc.Actor {
	if !id.Valid {
		return nil
	}
	if a, ok := c.byID[id.Int64]; ok {
		return a
	}
	a := StoredActor{ID: id.Int64, JSON: js}.Decode()
	if c.byID == nil || len(c.byID) >= maxCachedActors {
		c.byID = make(map[int64]*proc.Actor, 256)
	}
	c.byID[id.Int64] = a
	return a
}
