package investigate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/report"
	"github.com/tripline/tripline/store"
)

// The JSON views below are the store's rows with every integer time doubled by an RFC 3339
// string of it, in UTC to the nanosecond (baseline.FormatTime): "time" beside "time_ns",
// "mtime" beside "mtime_ns" and so on. jq and most JSON readers hold numbers as float64 and round
// 19-digit nanoseconds; the strings keep them exact. The integers stay (fields are added, never
// renamed).

// RowJSON is a history row in 'history --format json'.
type RowJSON struct {
	store.HistoryRow
	Time string     `json:"time"`
	Old  *EntryJSON `json:"old,omitempty"`
	New  *EntryJSON `json:"new,omitempty"`
}

// EntryJSON is an observation of a path in a RowJSON.
type EntryJSON struct {
	*baseline.Entry
	Mtime string `json:"mtime"`
	Ctime string `json:"ctime"`
	Btime string `json:"btime,omitempty"` // absent when the filesystem gives no birth time
}

// GapJSON is a coverage gap.
type GapJSON struct {
	store.Gap
	Start string `json:"start"`
	End   string `json:"end,omitempty"` // absent while the gap is open
}

// TimelineJSON is 'history PATH --format json'.
type TimelineJSON struct {
	Path  string    `json:"path"`
	Rows  []RowJSON `json:"rows"`
	Gaps  []GapJSON `json:"gaps"`
	Notes []string  `json:"notes"`
	Diffs []string  `json:"diffs,omitempty"` // with --diff; never empty then
}

// RowsJSON is 'history --format json' without a path.
type RowsJSON struct {
	Rows []RowJSON `json:"rows"`
}

// JSON returns the timeline's JSON view.
func (tl *Timeline) JSON() TimelineJSON {
	out := TimelineJSON{Path: tl.Path, Rows: Rows(tl.Rows), Gaps: []GapJSON{}, Notes: tl.Notes, Diffs: tl.Diffs}
	for _, g := range tl.Gaps {
		out.Gaps = append(out.Gaps, Gap(g))
	}
	if out.Notes == nil {
		out.Notes = []string{}
	}
	return out
}

// Rows returns the JSON view of rows (never nil).
func Rows(rows []store.HistoryRow) []RowJSON {
	out := make([]RowJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, RowJSON{HistoryRow: r, Time: baseline.FormatTime(r.TimeNS), Old: Entry(r.Old), New: Entry(r.New)})
	}
	return out
}

// Entry returns the JSON view of e (nil for nil).
func Entry(e *baseline.Entry) *EntryJSON {
	if e == nil {
		return nil
	}
	j := &EntryJSON{Entry: e, Mtime: baseline.FormatTime(e.MtimeNS), Ctime: baseline.FormatTime(e.CtimeNS)}
	if e.BtimeNS != 0 {
		j.Btime = baseline.FormatTime(e.BtimeNS)
	}
	return j
}

// Gap returns the JSON view of g.
func Gap(g store.Gap) GapJSON {
	j := GapJSON{Gap: g, Start: baseline.FormatTime(g.StartNS)}
	if g.EndNS != 0 {
		j.End = baseline.FormatTime(g.EndNS)
	}
	return j
}

// WriteRowsJSON writes the RowsJSON of the rows each yields (store.DB.EachHistory), one row at
// a time: the very bytes a json.Encoder indented by two spaces writes for the whole RowsJSON,
// without holding the rows (400,000 rows encoded at once took 5.5 GB). Each row's document is
// written straight into a buffer (appendRowJSON) rather than through encoding/json and an
// indenting pass, which were 40% of the CPU of 'history --format json' over 400,000 rows.
func WriteRowsJSON(w io.Writer, each func(func(store.HistoryRow) error) error) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	var b []byte
	// The stored actors whose JSON is what json.Marshal writes for them decoded: their rows
	// copy it (the larger part of a row's document) instead of decoding and encoding it again.
	verbatim := map[int64]bool{}
	var tc times
	err := each(func(r store.HistoryRow) error {
		var actor []byte
		switch {
		case r.Actor != nil:
			enc, err := json.Marshal(r.Actor)
			if err != nil {
				return err
			}
			actor = enc
		case r.Stored.ID != 0:
			same, seen := verbatim[r.Stored.ID]
			enc := r.Stored.JSON
			if !seen || !same {
				a, err := json.Marshal(ActorOf(&r))
				if err != nil {
					return err
				}
				same = bytes.Equal(a, r.Stored.JSON)
				verbatim[r.Stored.ID] = same
				enc = a
			}
			actor = enc
		}
		if n == 0 {
			bw.WriteString("{\n  \"rows\": [\n    ")
		} else {
			bw.WriteString(",\n    ")
		}
		n++
		b = appendRowJSON(b[:0], &r, actor, &tc)
		_, err := bw.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		bw.WriteString("{\n  \"rows\": []\n}\n")
	} else {
		bw.WriteString("\n  ]\n}\n")
	}
	return bw.Flush()
}

// The indents of a row in RowsJSON: its keys, and the keys of the objects in it.
const (
	rowPrefix   = "    "
	rowKey      = "\n      "
	rowInnerKey = "\n        "
)

// appendRowJSON appends the RowJSON of r, indented as in RowsJSON (the row at rowPrefix, two
// spaces a level), as encoding/json writes it: the keys in RowJSON's order, its omitempty
// fields left out when empty. actor is the row's actor as json.Marshal writes it (nil: none).
// TestWriteRowsJSONIsEncoder holds it to encoding/json with every field set.
func appendRowJSON(b []byte, r *store.HistoryRow, actor []byte, t *times) []byte {
	b = append(b, '{')
	b = appendKey(b, rowKey, "id", true)
	b = strconv.AppendInt(b, r.ID, 10)
	b = appendKey(b, rowKey, "time_ns", false)
	b = strconv.AppendInt(b, r.TimeNS, 10)
	if r.ReadNS != 0 {
		b = appendKey(b, rowKey, "read_ns", false)
		b = strconv.AppendInt(b, r.ReadNS, 10)
	}
	if r.RunID != 0 {
		b = appendKey(b, rowKey, "run_id", false)
		b = strconv.AppendInt(b, r.RunID, 10)
	}
	b = appendStringField(b, rowKey, "source", string(r.Source))
	b = appendStringField(b, rowKey, "path", r.Path)
	b = appendStringField(b, rowKey, "location", r.Location)
	b = appendStringField(b, rowKey, "kind", string(r.Kind))
	b = appendKey(b, rowKey, "flags", false)
	switch {
	case r.Flags == nil:
		b = append(b, "null"...)
	case len(r.Flags) == 0:
		b = append(b, "[]"...)
	default:
		b = append(b, '[')
		for i, f := range r.Flags {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, rowInnerKey...)
			b = report.AppendJSONString(b, f)
		}
		b = append(b, rowKey...)
		b = append(b, ']')
	}
	if r.Rule != "" {
		b = appendStringField(b, rowKey, "rule", r.Rule)
	}
	b = appendStringField(b, rowKey, "severity", r.Severity)
	b = appendStringField(b, rowKey, "verdict", string(r.Verdict))
	if actor != nil {
		b = appendKey(b, rowKey, "actor", false)
		b = indentMarshaled(b, actor, rowPrefix+"  ", "  ")
	}
	b = appendStringField(b, rowKey, "by", r.By)
	b = appendStringField(b, rowKey, "hash", r.Hash)
	b = appendKey(b, rowKey, "time", false)
	b = t.appendTime(b, r.TimeNS)
	if r.Old != nil {
		b = appendKey(b, rowKey, "old", false)
		b = appendEntryJSON(b, r.Old, t)
	}
	if r.New != nil {
		b = appendKey(b, rowKey, "new", false)
		b = appendEntryJSON(b, r.New, t)
	}
	b = append(b, "\n"+rowPrefix...)
	return append(b, '}')
}

// appendEntryJSON appends the EntryJSON of e as a value in a row (appendRowJSON).
func appendEntryJSON(b []byte, e *baseline.Entry, t *times) []byte {
	k := rowInnerKey
	b = append(b, '{')
	b = appendKey(b, k, "path", true)
	b = report.AppendJSONString(b, e.Path)
	if e.Location != "" {
		b = appendStringField(b, k, "location", e.Location)
	}
	b = appendStringField(b, k, "type", string(e.Type))
	b = appendUintField(b, k, "mode", uint64(e.Mode))
	b = appendUintField(b, k, "uid", uint64(e.UID))
	b = appendUintField(b, k, "gid", uint64(e.GID))
	b = appendKey(b, k, "size", false)
	b = strconv.AppendInt(b, e.Size, 10)
	b = appendUintField(b, k, "inode", e.Inode)
	b = appendUintField(b, k, "dev", e.Dev)
	b = appendUintField(b, k, "nlink", uint64(e.Nlink))
	b = appendKey(b, k, "mtime_ns", false)
	b = strconv.AppendInt(b, e.MtimeNS, 10)
	b = appendKey(b, k, "ctime_ns", false)
	b = strconv.AppendInt(b, e.CtimeNS, 10)
	if e.BtimeNS != 0 {
		b = appendKey(b, k, "btime_ns", false)
		b = strconv.AppendInt(b, e.BtimeNS, 10)
	}
	if e.Target != "" {
		b = appendStringField(b, k, "target", e.Target)
	}
	if e.SHA256 != "" {
		b = appendStringField(b, k, "sha256", e.SHA256)
	}
	b = appendStringField(b, k, "hash_state", string(e.HashState))
	if e.Package != nil {
		// Rare in a listing (only entries observed with a package database): the generic way.
		if p, err := json.Marshal(e.Package); err == nil {
			b = appendKey(b, k, "package", false)
			b = indentMarshaled(b, p, rowPrefix+"    ", "  ")
		}
	}
	b = appendKey(b, k, "mtime", false)
	b = t.appendTime(b, e.MtimeNS)
	b = appendKey(b, k, "ctime", false)
	b = t.appendTime(b, e.CtimeNS)
	if e.BtimeNS != 0 {
		b = appendKey(b, k, "btime", false)
		b = t.appendTime(b, e.BtimeNS)
	}
	b = append(b, rowKey...)
	return append(b, '}')
}

func appendKey(b []byte, indent, name string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, indent...)
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':', ' ')
}

func appendStringField(b []byte, indent, name, v string) []byte {
	return report.AppendJSONString(appendKey(b, indent, name, false), v)
}

func appendUintField(b []byte, indent, name string, v uint64) []byte {
	return strconv.AppendUint(appendKey(b, indent, name, false), v, 10)
}

// times holds the last times a listing formatted, by their value: an entry's mtime and often
// its ctime are the same from one row of a path to the next, and in the old and new entry of a
// row. Formatting every time was an eighth of the CPU of 'history --format json' over 400,000
// rows.
type times [16]struct {
	ns  int64
	n   uint8 // 0: empty
	buf [32]byte
}

// appendTime appends the JSON string of FormatTime(ns).
func (t *times) appendTime(b []byte, ns int64) []byte {
	b = append(b, '"')
	c := &t[uint64(ns)%uint64(len(t))]
	if c.n == 0 || c.ns != ns {
		f := baseline.AppendTime(c.buf[:0], ns)
		if len(f) > len(c.buf) { // not for the years an int64 of nanoseconds reaches
			c.n = 0
			return append(append(b, f...), '"')
		}
		c.ns, c.n = ns, uint8(len(f))
	}
	b = append(b, c.buf[:c.n]...)
	return append(b, '"')
}

// indentMarshaled appends to dst what json.Indent(dst, src, prefix, indent) would, for src
// written by json.Marshal: valid JSON with no white space outside strings. json.Indent runs the
// full JSON scanner over every byte, which was 37% of the CPU of 'history --format json' over
// 400,000 rows; Marshal's output needs only the strings skipped. Like json.Indent, an empty
// object or array stays "{}" or "[]".
func indentMarshaled(dst, src []byte, prefix, indent string) []byte {
	depth := 0
	nl := "\n" + prefix + strings.Repeat(indent, 8) // the line breaks of the usual depths, ready
	newline := func() {
		if n := 1 + len(prefix) + depth*len(indent); n <= len(nl) {
			dst = append(dst, nl[:n]...)
			return
		}
		dst = append(dst, nl[:1+len(prefix)]...)
		for range depth {
			dst = append(dst, indent...)
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			dst = append(dst, src[i:min(j+1, len(src))]...)
			i = j
		case '{', '[':
			dst = append(dst, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst = append(dst, src[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
