package investigate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/store"
)

// Version is one distinct content of a path, numbered from 1 in the order the history met them.
type Version struct {
	N      int
	SHA256 string
	Size   int64
	RowID  int64 // the history row that recorded it (0: the baseline before any change)
	TimeNS int64
}

// Versions lists the contents a path held: the one before its first recorded change (the
// baseline's, usually), then each new one. A content that comes back after another is a new
// version; entries that are not hashed regular files are skipped.
func Versions(rows []store.HistoryRow) []Version {
	var out []Version
	add := func(e *baseline.Entry, row int64, t int64) {
		if e == nil || e.Type != baseline.TypeFile || e.SHA256 == "" {
			return
		}
		if len(out) > 0 && out[len(out)-1].SHA256 == e.SHA256 {
			return
		}
		out = append(out, Version{N: len(out) + 1, SHA256: e.SHA256, Size: e.Size, RowID: row, TimeNS: t})
	}
	if len(rows) > 0 {
		add(rows[0].Old, 0, 0)
	}
	for _, r := range rows {
		add(r.New, r.ID, r.TimeNS)
	}
	return out
}

func (v Version) when() string {
	if v.RowID == 0 {
		return "before the first recorded change"
	}
	return when(v.TimeNS)
}

// Contents gives stored content by its sha256; *store.DB is one. Content not kept is an error
// that is store.ErrNoContent.
type Contents interface {
	Content(ctx context.Context, sha256 string) ([]byte, error)
}

// Diffs renders the differences between each content version of rows and the next, one string
// per pair: a header naming the versions, then a unified diff (UnifiedDiff), or a line saying
// why there is none (binary, not stored, unreadable). It says so when there are fewer than two versions.
func Diffs(ctx context.Context, contents Contents, rows []store.HistoryRow) []string {
	vs := Versions(rows)
	if len(vs) == 0 {
		return []string{"no content versions: never a hashed regular file"}
	}
	if len(vs) == 1 {
		return []string{fmt.Sprintf("one version only (sha256 %.12s, %d bytes): nothing to compare", vs[0].SHA256, vs[0].Size)}
	}
	// A version that cannot be read is said in its place; the other pairs are still shown.
	get := func(v Version) ([]byte, string) {
		b, err := contents.Content(ctx, v.SHA256)
		if errors.Is(err, store.ErrNoContent) {
			return nil, fmt.Sprintf("version %d (sha256 %.12s, %d bytes) is not stored (over 1 MiB, or pruned)", v.N, v.SHA256, v.Size)
		}
		if err != nil {
			return nil, baseline.QuoteLine(err.Error())
		}
		return b, ""
	}
	var out []string
	prev, why := get(vs[0])
	for i := 1; i < len(vs); i++ {
		cur, whyCur := get(vs[i])
		head := fmt.Sprintf("--- version %d (%s)\n+++ version %d (%s, history row %d)", vs[i-1].N, vs[i-1].when(), vs[i].N, vs[i].when(), vs[i].RowID)
		switch {
		case why != "" || whyCur != "":
			out = append(out, head+"\n"+strings.TrimSpace(why+"\n"+whyCur))
		case isBinary(prev) || isBinary(cur):
			out = append(out, fmt.Sprintf("%s\nbinary content: %d bytes (sha256 %.12s) -> %d bytes (sha256 %.12s); 'tripline show PATH@N' prints either",
				head, len(prev), vs[i-1].SHA256, len(cur), vs[i].SHA256))
		default:
			out = append(out, head+"\n"+UnifiedDiff(prev, cur))
		}
		prev, why = cur, whyCur
	}
	return out
}

func isBinary(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b)
}
