package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/tripline/tripline/baseline"
)

// Approval is one path accepted into, or removed from, the baseline by an acceptance.
type Approval struct {
	Path     string
	TimeNS   int64
	By       string
	Old, New *baseline.Entry // New is nil when the path was removed from the baseline
}

// LastApprovals returns what the most recent acceptance (tripline baseline accept or update)
// changed in the baseline, in path order; nil when there was none.
func (db *DB) LastApprovals(ctx context.Context) ([]Approval, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT path, time_ns, by, old, new FROM history
		WHERE run_id = (SELECT max(id) FROM runs WHERE kind = 'accept') AND source = 'accept' ORDER BY path`)
	if err != nil {
		return nil, db.wrap(err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		var a Approval
		var old, cur sql.NullString
		if err := rows.Scan(&a.Path, &a.TimeNS, &a.By, &old, &cur); err != nil {
			return nil, db.wrap(err)
		}
		if a.Old, err = decodeStoredEntry(old); err != nil {
			return nil, fmt.Errorf("%s: history of %s: %w", db.path, baseline.QuotePath(a.Path), err)
		}
		if a.New, err = decodeStoredEntry(cur); err != nil {
			return nil, fmt.Errorf("%s: history of %s: %w", db.path, baseline.QuotePath(a.Path), err)
		}
		out = append(out, a)
	}
	return out, db.wrap(rows.Err())
}

func decodeStoredEntry(s sql.NullString) (*baseline.Entry, error) {
	if !s.Valid {
		return nil, nil
	}
	var e baseline.Entry
	if err := json.Unmarshal([]byte(s.String), &e); err != nil {
		return nil, fmt.Errorf("stored entry is not valid JSON: %w", err)
	}
	return &e, nil
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
