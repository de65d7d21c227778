package store

import (
	"database/sql"
	"testing"
)

// FuzzHistoryColumns: what history reads back from the database (an entry's JSON or compact
// form, an actor's JSON, any column of a row) never panics the decoders or the chain's hash, and
// equal rows hash equally.
func FuzzHistoryColumns(f *testing.F) {
	f.Add(`{"path":"/etc/x","type":"file","mode":493,"sha256":"ab","hash_state":"ok"}`, "/etc/x", int64(7), "")
	f.Add(`null`, "/etc/cron.d/a\nb", int64(1), "00")
	f.Add(`{"mode":-1,"size":"x"}`, "", int64(-5), "zz")
	f.Fuzz(func(t *testing.T, entry, path string, id int64, prev string) {
		_, _ = decodeEntryBytes([]byte(entry))
		_ = decodeActorBytes([]byte(entry))
		_, _, _ = rowEntries(path, "", nil, nil, []byte(entry), []byte(entry))
		r := chainRow{ID: id, Path: path, Old: sql.NullString{String: entry, Valid: true}, Actor: sql.NullString{String: entry, Valid: len(entry)%2 == 0}}
		if len(entry)%3 == 0 {
			r.NewEntry = []byte(entry)
		}
		h1, err1 := rowHash(prev, &r)
		h2, err2 := rowHash(prev, &r)
		if (err1 == nil) != (err2 == nil) || h1 != h2 {
			t.Fatalf("hash not deterministic: %q %v / %q %v", h1, err1, h2, err2)
		}
		if err1 == nil && len(h1) != 64 {
			t.Fatalf("hash %q", h1)
		}
		// A different path gives a different hash.
		r2 := r
		r2.Path += "x"
		if h3, err := rowHash(prev, &r2); err == nil && err1 == nil && h3 == h1 {
			t.Fatalf("paths %q and %q hash alike", r.Path, r2.Path)
		}
	})
}
