package sink

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

type flaky struct {
	fail, reopenFails bool
	wrote, reopened   int
}

func (f *flaky) Write(Record) error {
	if f.fail {
		return errors.New("connection refused")
	}
	f.wrote++
	return nil
}
func (f *flaky) Reopen() error {
	f.reopened++
	if f.reopenFails {
		return errors.New("connection refused")
	}
	f.fail = false
	return nil
}
func (f *flaky) Close() error   { return nil }
func (f *flaky) String() string { return "flaky" }

// A failing output never fails the daemon's write: it is reopened once, and what it could not
// take is counted and said once a minute, not once per finding.
func TestTolerant(t *testing.T) {
	var log bytes.Buffer
	f := &flaky{fail: true}
	s := Tolerant(f, slog.New(slog.NewTextHandler(&log, nil)))
	// A restarted collector: the reopen works and the record is written.
	if err := s.Write(Record{Path: "/etc/a"}); err != nil || f.wrote != 1 || f.reopened != 1 || log.Len() != 0 {
		t.Fatalf("reopened: %v wrote %d reopened %d log %q", err, f.wrote, f.reopened, log.String())
	}
	// A collector that is gone: three findings, no error, one log line that counts.
	f.fail, f.reopenFails = true, true
	for _, p := range []string{"/etc/b", "/etc/c", "/etc/d"} {
		if err := s.Write(Record{Path: p}); err != nil {
			t.Fatalf("write %s: %v", p, err)
		}
	}
	if n := strings.Count(log.String(), "output failing"); n != 1 || !strings.Contains(log.String(), "undelivered=1") {
		t.Errorf("%d failure lines:\n%s", n, log.String())
	}
	// Back: one line says how many were not delivered.
	f.fail, f.reopenFails = false, false
	if err := s.Write(Record{Path: "/etc/e"}); err != nil || !strings.Contains(log.String(), "output works again") || !strings.Contains(log.String(), "undelivered=3") {
		t.Errorf("back: %v\n%s", err, log.String())
	}
}
