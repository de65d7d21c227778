// Package investigate turns the history the store keeps into what an investigator reads: a
// path's timeline, the changes grouped by the process that made them, the suspicious time facts
// (timestomping, a file created and armed within one login session), the distinct content
// versions of a file and the unified diffs between them, and the JSON view of all of it.
//
// It decides nothing and touches nothing: every function works on store rows and gaps handed to
// it, and the one that needs stored content asks a Contents for it (the grouped listing keeps
// its rendered lines in an unlinked temporary file while it reads the rows). What changed in a row is
// said by report.What, the words the scan and the daemon used when they reported it. Every string
// an attacker may have chosen (names, content, arguments) is quoted with baseline's rules before
// it is written.
package investigate

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// Timeline is one path's recorded life, as 'tripline history PATH' shows it.
type Timeline struct {
	Path  string
	Rows  []store.HistoryRow // oldest first; at least one
	Gaps  []store.Gap        // the coverage gaps since the first row
	Notes []string           // Suspicious(Rows)
	Diffs []string           // the content diffs (Diffs), when they were asked for
}

// NewTimeline builds the timeline of path from its rows (oldest first, at least one) and the
// coverage gaps since the first of them.
func NewTimeline(path string, rows []store.HistoryRow, gaps []store.Gap) *Timeline {
	return &Timeline{Path: path, Rows: rows, Gaps: gaps, Notes: Suspicious(rows)}
}

// WriteText writes the timeline for people: when the path was first seen and born, each change
// with its finding and actor, the gaps, the suspicious facts and the diffs. users names the
// acting processes' uids (they are this host's processes, even under --root).
func (tl *Timeline) WriteText(w io.Writer, users *baseline.Users) error {
	rows := tl.Rows
	bw := &errWriter{w: w}
	bw.printf("%s: %d recorded changes, oldest first\n", baseline.QuotePath(tl.Path), len(rows))
	if len(rows) > 0 {
		bw.printf("first seen %s (%s)", when(rows[0].TimeNS), baseline.QuoteLine(string(rows[0].Source)))
		for _, r := range rows {
			if r.New != nil && r.New.BtimeNS != 0 {
				bw.printf("; born %s", when(r.New.BtimeNS))
				break
			}
		}
		bw.printf("\n")
	}
	for i := range rows {
		r := &rows[i]
		bw.printf("\n#%d %s  %-9s %s\n", r.ID, when(r.TimeNS), baseline.QuoteLine(string(r.Source)), What(r))
		bw.printf("      %s\n", Finding(r))
		if r.Source != "accept" && r.Source != "restore" {
			bw.printf("      %s\n", DescribeActor(ActorOf(r), users))
		}
	}
	if len(tl.Gaps) > 0 {
		bw.printf("\ncoverage gaps during its life (changes in them were found by reconciling, without an actor):\n")
		for _, g := range tl.Gaps {
			end := when(g.EndNS)
			if g.EndNS == 0 {
				end = "still open"
			}
			bw.printf("  %s to %s: %s %s\n", when(g.StartNS), end, baseline.QuoteLine(g.Reason), baseline.QuoteLine(g.Detail))
		}
	}
	if len(tl.Notes) > 0 {
		bw.printf("\nsuspicious:\n")
		for _, n := range tl.Notes {
			bw.printf("  ! %s\n", n)
		}
	}
	for _, d := range tl.Diffs {
		bw.printf("%s\n", d)
	}
	return bw.err
}

// WriteGrouped writes rows for people, grouped by the process that made them in the order each
// first appears: "what else did this process, this user, this session touch".
func WriteGrouped(w io.Writer, rows []store.HistoryRow, users *baseline.Users) error {
	return WriteGroupedEach(w, func(f func(store.HistoryRow) error) error {
		for _, r := range rows {
			if err := f(r); err != nil {
				return err
			}
		}
		return nil
	}, users)
}

// WriteGroupedEach is WriteGrouped over the rows each yields (store.DB.EachHistory), in flat
// memory: each row's line, and each group's title, is rendered as it comes and kept in a
// temporary file, and only a few bytes per row and per group stay in memory until the groups
// are written (400,000 rows held as values took 1.1 GB).
func WriteGroupedEach(w io.Writer, each func(func(store.HistoryRow) error) error, users *baseline.Users) error {
	tmp, err := os.CreateTemp("", "tripline-history-*")
	if err != nil {
		return fmt.Errorf("history: a temporary file for the rows (TMPDIR): %w", err)
	}
	os.Remove(tmp.Name())
	defer tmp.Close()
	lines := bufio.NewWriterSize(tmp, 64<<10)
	// A span is where a rendered line or title is in tmp.
	type span struct {
		off int64
		n   int32
	}
	var titles []span // per group, in the order each first appears
	index := map[string]int32{}
	var group []int32 // per row
	// Per row, the length of its line: a line follows the one before it in tmp, or its group's
	// title (an offset per row was most of the listing's live heap, and its collections).
	var lens []int32
	var off int64
	put := func(line []byte) (span, error) {
		n, err := lines.Write(line)
		if err != nil {
			return span{}, fmt.Errorf("history: write to a temporary file: %w", err)
		}
		sp := span{off, int32(n)}
		off += int64(n)
		return sp, nil
	}
	var line []byte
	// The group of each stored actor, by its id: an actor is decoded once, the first time its
	// id comes, not on every row.
	byActorID := map[int64]int32{}
	err = each(func(r store.HistoryRow) error {
		k, ok := byActorID[r.Stored.ID]
		if !ok || r.Stored.ID == 0 {
			k, ok = -1, false
		}
		var key string
		var a *proc.Actor
		if k < 0 {
			key, a = groupKey(&r)
			k, ok = index[key]
		}
		if !ok {
			k = int32(len(titles))
			index[key] = k
			title := "no actor (scans, reconciles, acceptances)"
			if a != nil {
				title = DescribeActor(a, users)
			}
			sp, err := put([]byte("\n" + title + "\n"))
			if err != nil {
				return err
			}
			titles = append(titles, sp)
		}
		if r.Stored.ID != 0 {
			byActorID[r.Stored.ID] = k
		}
		line = appendRowLine(line[:0], &r)
		sp, err := put(line)
		if err != nil {
			return err
		}
		group, lens = append(group, k), append(lens, sp.n)
		return nil
	})
	if err != nil {
		return err
	}
	if err := lines.Flush(); err != nil {
		return fmt.Errorf("history: write to a temporary file: %w", err)
	}
	// Buffered: the rows are copied out one at a time (a write each took 430,000 system calls
	// over 400,000 rows).
	out := bufio.NewWriterSize(w, 64<<10)
	w = out
	bw := &errWriter{w: w}
	if len(group) == 0 {
		bw.printf("No recorded change matches.\n")
		return flushed(bw.err, out)
	}
	bw.printf("%d changes by %d actors\n", len(group), len(titles))
	// The groups are copied out a window of whole groups at a time, each window's title and rows
	// gathered into their places in one buffer by one pass over the temporary file in file order
	// (reading it a chunk at a time, skipping chunks that hold none of them): a read for each row
	// was 400,000 system calls over 400,000 rows. A group larger than a window is a window of its
	// own and is written as it is read: its title and rows are in file order already.
	size := make([]int64, len(titles))  // of each group's output
	first := make([]int32, len(titles)) // each group's first row
	for k, t := range titles {
		size[k] = int64(t.n)
	}
	for i := len(group) - 1; i >= 0; i-- {
		k := group[i]
		size[k] += int64(lens[i])
		first[k] = int32(i)
	}
	var chunk []byte
	var chunkOff int64
	// read returns the bytes of sp, from chunk, refilled from sp's offset when sp is not all in
	// it. Each pass asks for spans in increasing offsets, so the file is read forwards.
	read := func(sp span) ([]byte, error) {
		if sp.off < chunkOff || sp.off+int64(sp.n) > chunkOff+int64(len(chunk)) {
			chunk = slices.Grow(chunk[:0], max(copyChunkBytes, int(sp.n)))[:max(copyChunkBytes, int(sp.n))]
			n, err := tmp.ReadAt(chunk, sp.off)
			if n < int(sp.n) {
				return nil, fmt.Errorf("history: read back a temporary file: %w", err)
			}
			chunk, chunkOff = chunk[:n], sp.off
		}
		return chunk[sp.off-chunkOff:][:sp.n], nil
	}
	var win []byte
	at := make([]int64, len(titles)) // where the next bytes of each group of the window go
	for g0 := 0; g0 < len(titles) && bw.err == nil; {
		g1, total := g0, int64(0)
		for g1 < len(titles) && (g1 == g0 || total+size[g1] <= copyWindowBytes) {
			at[g1] = total
			total += size[g1]
			g1++
		}
		direct := total > copyWindowBytes // one group
		if !direct {
			win = slices.Grow(win[:0], int(total))[:total]
		}
		put := func(k int32, sp span) error {
			b, err := read(sp)
			if err != nil {
				return err
			}
			if direct {
				if bw.err == nil {
					_, bw.err = w.Write(b)
				}
				return nil
			}
			at[k] += int64(copy(win[at[k]:], b))
			return nil
		}
		end := int64(0) // of the line before
		for i, k := range group {
			off := end
			if first[k] == int32(i) {
				off = titles[k].off + int64(titles[k].n)
			}
			end = off + int64(lens[i])
			if int(k) < g0 || int(k) >= g1 {
				continue
			}
			if first[k] == int32(i) {
				if err := put(k, titles[k]); err != nil {
					return err
				}
			}
			if err := put(k, span{off, lens[i]}); err != nil {
				return err
			}
		}
		if !direct && bw.err == nil {
			_, bw.err = w.Write(win)
		}
		g0 = g1
	}
	return flushed(bw.err, out)
}

// The read-back of the grouped listing (WriteGroupedEach): the bytes of output gathered per
// pass over the temporary file, and the size of its reads (variables for the tests).
var (
	copyWindowBytes int64 = 8 << 20
	copyChunkBytes        = 1 << 20
)

// flushed flushes out unless err, and returns the first error.
func flushed(err error, out *bufio.Writer) error {
	if err != nil {
		return err
	}
	return out.Flush()
}

// appendRowLine appends a row's line in the grouped listing:
// "  #ID TIME SOURCE(padded to 9) PATH: WHAT [FINDING]\n", built in a buffer (fmt was a sixth of
// the CPU of 'history --since' over 400,000 rows).
func appendRowLine(b []byte, r *store.HistoryRow) []byte {
	b = append(b, "  #"...)
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, ' ')
	if r.TimeNS == 0 {
		b = append(b, '-')
	} else {
		b = baseline.AppendTime(b, r.TimeNS)
	}
	b = append(b, ' ')
	src := baseline.QuoteLine(string(r.Source))
	b = append(b, src...)
	for n := utf8.RuneCountInString(src); n < 9; n++ { // as fmt's %-9s pads
		b = append(b, ' ')
	}
	b = append(b, ' ')
	b = append(b, baseline.QuotePath(r.Path)...)
	b = append(b, ": "...)
	b = append(b, What(r)...)
	b = append(b, " ["...)
	b = append(b, Finding(r)...)
	return append(b, "]\n"...)
}

// groupKey says which group a row is in (Group's key) and the actor that names it (nil: none).
func groupKey(r *store.HistoryRow) (string, *proc.Actor) {
	a := ActorOf(r)
	if a == nil || a.PID == 0 {
		return "none", nil
	}
	key := fmt.Sprint(a.PID)
	if a.Process != nil {
		key += "/" + a.Process.Exe
	}
	return key, a
}

// ActorGroup is the rows one process made (Actor nil: the rows no process is known for).
type ActorGroup struct {
	Actor *proc.Actor
	Rows  []*store.HistoryRow
}

// Group groups rows by the process that made them (its pid and executable), in the order each
// first appears; the rows without a known pid form one group.
func Group(rows []store.HistoryRow) []ActorGroup {
	var out []ActorGroup
	index := map[string]int{}
	for i := range rows {
		r := &rows[i]
		key, a := groupKey(r)
		k, ok := index[key]
		if !ok {
			k = len(out)
			index[key] = k
			out = append(out, ActorGroup{Actor: a})
		}
		out[k].Rows = append(out[k].Rows, r)
	}
	return out
}

// when renders a time of the history; zero is a time not known.
func when(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return baseline.FormatTime(ns)
}

// errWriter keeps the first write error, so a long rendering checks once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}
