package scan

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

// Findings are the findings of a scan against the baseline, in path order. The first
// findingsInMemory are kept in memory; past them, findings go to an unlinked temporary file and
// are read back one at a time, so a scan of a host that drifted from its baseline in every file
// keeps flat memory (200,000 findings held in memory took 500 MB). Not safe for concurrent use.
type Findings struct {
	mem  []policy.Finding
	n    int
	file *os.File // nil until the first finding past findingsInMemory
	w    *bufio.Writer
	enc  *gob.Encoder
	locs map[string]*policy.Location // the locations of the spilled findings, by id
	err  error                       // the first error writing the file
}

// findingsInMemory is how many findings are kept in memory before the rest go to disk.
const findingsInMemory = 1000

// spilled is a finding as the file keeps it: its location by id (the pointer is the policy's).
type spilled struct {
	Change      baseline.Change
	Location    string
	Hits        []policy.Hit
	Severity    policy.Severity
	Verdict     policy.Verdict
	Why         string
	HistoryID   int64
	HistoryHash string
}

// Len returns the number of findings.
func (l *Findings) Len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// add appends a finding.
func (l *Findings) add(f policy.Finding) {
	l.n++
	if l.file == nil && len(l.mem) < findingsInMemory {
		l.mem = append(l.mem, f)
		return
	}
	if l.err != nil {
		return
	}
	if l.file == nil {
		if l.err = l.open(); l.err != nil {
			return
		}
	}
	s := spilled{Change: f.Change, Hits: f.Hits, Severity: f.Severity, Verdict: f.Verdict, Why: f.Why,
		HistoryID: f.HistoryID, HistoryHash: f.HistoryHash}
	if f.Location != nil {
		s.Location = f.Location.ID
		l.locs[s.Location] = f.Location
	}
	if err := l.enc.Encode(&s); err != nil {
		l.err = fmt.Errorf("findings: write to a temporary file: %w", err)
	}
}

// open creates the temporary file, unlinked at once: nothing is left behind, however the
// process ends.
func (l *Findings) open() error {
	f, err := os.CreateTemp("", "tripline-findings-*")
	if err != nil {
		return fmt.Errorf("findings: more than %d, and no temporary file for the rest (TMPDIR): %w", findingsInMemory, err)
	}
	os.Remove(f.Name())
	l.file, l.w, l.locs = f, bufio.NewWriterSize(f, 64<<10), map[string]*policy.Location{}
	l.enc = gob.NewEncoder(l.w)
	return nil
}

// Each calls fn with every finding, in order; the finding is valid only during the call. An
// error from fn stops it and is returned. It may be called any number of times.
func (l *Findings) Each(fn func(*policy.Finding) error) error {
	if l == nil {
		return nil
	}
	if l.err != nil {
		return l.err
	}
	for i := range l.mem {
		if err := fn(&l.mem[i]); err != nil {
			return err
		}
	}
	if l.file == nil {
		return nil
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("findings: write to a temporary file: %w", err)
	}
	if _, err := l.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("findings: read back: %w", err)
	}
	// The file is appended to again only by add, which never runs after the scan: reading from
	// the start is all that is needed, and leaves the offset at the end for a later add.
	dec := gob.NewDecoder(bufio.NewReaderSize(l.file, 64<<10))
	for {
		var s spilled
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("findings: read back: %w", err)
		}
		f := policy.Finding{Change: s.Change, Location: l.locs[s.Location], Hits: s.Hits, Severity: s.Severity,
			Verdict: s.Verdict, Why: s.Why, HistoryID: s.HistoryID, HistoryHash: s.HistoryHash}
		if err := fn(&f); err != nil {
			return err
		}
	}
}

// All returns every finding in a slice: for tests and callers that know there are few.
func (l *Findings) All() []policy.Finding {
	var out []policy.Finding
	l.Each(func(f *policy.Finding) error {
		out = append(out, *f)
		return nil
	})
	return out
}

// Close removes what was spilled to disk. The findings cannot be read after.
func (l *Findings) Close() error {
	if l == nil || l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file, l.mem = nil, nil
	return err
}
