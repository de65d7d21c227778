package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// Meta keys of what the store records of its baseline.
const (
	metaBaselineNS   = "baseline_created_ns"
	metaBaselineBy   = "baseline_created_by"
	metaRoot         = "root"
	metaPolicyDigest = "policy_digest"
	metaPolicySource = "policy_source"
)

// BaselineInfo is what the store records of its baseline: when, by whom, of which root and
// under which policy it was recorded.
type BaselineInfo struct {
	CreatedNS    int64
	CreatedBy    string
	Root         string // "/" for the host
	PolicyDigest string
	PolicySource string
}

// BaselineInfo returns what the store records of its baseline; ok is false when no baseline was
// recorded yet.
func (db *DB) BaselineInfo(ctx context.Context) (info BaselineInfo, ok bool, err error) {
	created, ok, err := db.Meta(ctx, metaBaselineNS)
	if err != nil || !ok {
		return info, false, err
	}
	if info.CreatedNS, err = strconv.ParseInt(created, 10, 64); err != nil {
		return info, false, fmt.Errorf("database %s: meta %s %q: not a time", db.path, metaBaselineNS, created)
	}
	for _, kv := range []struct {
		key string
		v   *string
	}{{metaBaselineBy, &info.CreatedBy}, {metaRoot, &info.Root}, {metaPolicyDigest, &info.PolicyDigest}, {metaPolicySource, &info.PolicySource}} {
		if *kv.v, _, err = db.Meta(ctx, kv.key); err != nil {
			return info, false, err
		}
	}
	return info, true, nil
}

// BaselineRoot returns the root the store's baseline is of; ok is false when none is recorded.
func (db *DB) BaselineRoot(ctx context.Context) (root string, ok bool, err error) {
	return db.Meta(ctx, metaRoot)
}

// SetBaselineInfo records what is known of a baseline just recorded.
func (t *Tx) SetBaselineInfo(ctx context.Context, info BaselineInfo) error {
	for _, kv := range [][2]string{
		{metaBaselineNS, strconv.FormatInt(info.CreatedNS, 10)},
		{metaBaselineBy, info.CreatedBy},
		{metaRoot, info.Root},
		{metaPolicyDigest, info.PolicyDigest},
		{metaPolicySource, info.PolicySource},
	} {
		if err := t.SetMeta(ctx, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// Meta returns a value of the meta table.
func (db *DB) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.r.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, db.wrap(err)
	}
	return v, true, nil
}

// SetMeta sets a value of the meta table.
func (t *Tx) SetMeta(ctx context.Context, key, value string) error {
	return t.exec(ctx, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value)
}
