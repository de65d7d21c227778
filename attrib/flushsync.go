package attrib

import (
	"sync/atomic"
	"time"
)

// flushSync is how a caller waits until a ring buffer's reader has applied every record the
// kernel produced before the call, for both feeds. A wait takes the next number in req and
// flushes the ring; the reader notes the number req had when each read began (begin), and when
// a read ends in ErrFlushed (answered) every record made before that number was taken has been
// applied, so it stores the number in synced. A flush answered by a read that began before the
// wait's number was taken (a stale one, or another caller's) does not count: the wait flushes
// again. (A single "flushed" signal, without numbers, let a wait return on the answer to an
// earlier flush, before the records it waited for were applied.)
type flushSync struct {
	req, synced atomic.Uint64
	flushed     chan struct{}
	timeout     time.Duration // syncTimeout; a test sets its own
}

func newFlushSync() flushSync {
	return flushSync{flushed: make(chan struct{}, 1), timeout: syncTimeout}
}

// begin is called by the reader before each read: it returns the number the read answers for.
func (s *flushSync) begin() uint64 { return s.req.Load() }

// answered is called by the reader when a read that began at g ended in ErrFlushed.
func (s *flushSync) answered(g uint64) {
	if g > s.synced.Load() { // the reader is the only writer
		s.synced.Store(g)
	}
	select {
	case s.flushed <- struct{}{}:
	default:
	}
}

// wait flushes until a read that began after the call answers, or for at most s.timeout, or
// until done is closed (the reader returned). Safe for concurrent use.
func (s *flushSync) wait(flush func() error, done <-chan struct{}) {
	g := s.req.Add(1)
	timeout := time.NewTimer(s.timeout)
	defer timeout.Stop()
	for s.synced.Load() < g {
		if err := flush(); err != nil {
			return
		}
		// A reader that has not begun (its goroutine not yet scheduled) does not answer: retry.
		retry := time.NewTimer(5 * time.Millisecond)
		select {
		case <-s.flushed:
		case <-retry.C:
		case <-timeout.C:
			retry.Stop()
			return
		case <-done:
			retry.Stop()
			return
		}
		retry.Stop()
	}
}
