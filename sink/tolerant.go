package sink

import (
	"log/slog"
	"sync"
	"time"

	"github.com/tripline/tripline/baseline"
)

// Tolerant wraps s so that a failed write never stops the daemon: it reopens s once and writes
// again (a collector restarted, a socket recreated); when that fails too it counts the record as
// undelivered, says so at most once a minute, and returns nil. The finding is in the history
// either way ('tripline history --since' lists it).
func Tolerant(s Sink, log *slog.Logger) Sink { return &tolerant{Sink: s, log: log} }

type tolerant struct {
	Sink
	log *slog.Logger

	mu     sync.Mutex
	failed int
	since  time.Time
	said   time.Time
}

func (t *tolerant) Write(r Record) error {
	err := t.Sink.Write(r)
	if err != nil && t.Sink.Reopen() == nil {
		err = t.Sink.Write(r)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil && t.failed > 0:
		t.log.Info("output works again", "output", t.Sink.String(), "undelivered", t.failed)
		t.failed = 0
	case err != nil:
		if t.failed == 0 {
			t.since = time.Now()
		}
		t.failed++
		if time.Since(t.said) >= time.Minute {
			t.said = time.Now()
			t.log.Error("output failing: findings are recorded but not delivered; 'tripline history --since' lists them",
				"output", t.Sink.String(), "undelivered", t.failed, "since", t.since.UTC().Format(time.RFC3339),
				"path", baseline.QuotePath(r.Path), "err", err)
		}
	}
	return nil
}

// Note passes on what opening the output changed about it (File's tightened mode).
func (t *tolerant) Note() string {
	if n, ok := t.Sink.(interface{ Note() string }); ok {
		return n.Note()
	}
	return ""
}
