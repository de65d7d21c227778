package investigate

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"

	"github.com/tripline/tripline/baseline"
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
// without holding the rows (400,000 rows encoded at once took 5.5 GB).
func WriteRowsJSON(w io.Writer, each func(func(store.HistoryRow) error) error) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	var b []byte
	err := each(func(r store.HistoryRow) error {
		compact, err := json.Marshal(RowJSON{HistoryRow: r, Time: baseline.FormatTime(r.TimeNS), Old: Entry(r.Old), New: Entry(r.New)})
		if err != nil {
			return err
		}
		b = indentMarshaled(b[:0], compact, "    ", "  ")
		if n == 0 {
			bw.WriteString("{\n  \"rows\": [\n    ")
		} else {
			bw.WriteString(",\n    ")
		}
		n++
		_, err = bw.Write(b)
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
