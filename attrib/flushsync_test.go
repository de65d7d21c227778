package attrib

import (
	"testing"
	"time"
)

// A flush answered by a read that began before the wait does not end the wait: the waiter
// flushes again, and returns only once a read that began after it answers.
func TestFlushSyncIgnoresStaleAnswers(t *testing.T) {
	s := newFlushSync()
	s.timeout = time.Hour // the bound is not what is tested: a loaded machine must not reach it
	flushes := make(chan struct{}, 16)
	stale := s.begin() // a read under way before the wait
	returned := make(chan struct{})
	go func() {
		s.wait(func() error { flushes <- struct{}{}; return nil }, nil)
		close(returned)
	}()
	<-flushes
	s.answered(stale) // that read ends in ErrFlushed: its records may predate the wait's
	select {
	case <-flushes: // the waiter flushed again: it did not take the stale answer
	case <-returned:
		t.Fatal("the wait returned on an answer to a read that began before it")
	case <-time.After(time.Minute):
		t.Fatal("the waiter neither returned nor flushed again")
	}
	s.answered(s.begin()) // a read that began after the wait's number was taken
	select {
	case <-returned:
	case <-time.After(time.Minute):
		t.Fatal("the wait did not return once a read that began after it answered")
	}
}
