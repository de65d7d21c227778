package watch

import (
	"testing"

	"github.com/tripline/tripline/attrib"
)

// An overflow's gap starts at the read before the one that reported it; events of one read count
// once; inotify's overflow, which carries no time, starts at the last read; an overflow in the
// first read starts when the watcher did.
func TestOverflowStart(t *testing.T) {
	now := attrib.Now()
	var g outage
	if got := g.overflowStart(now-4e9, 42); got != 42 {
		t.Errorf("an overflow in the first read: start %d, want the watcher's start 42", got)
	}
	g = outage{}
	first := g.noteRead(now - 3e9)
	g.noteRead(now - 3e9) // the same read
	second := g.noteRead(now - 2e9)
	if second-first < 9e8 || second-first > 11e8 {
		t.Fatalf("reads 1 s apart are %d ns apart on the wall clock", second-first)
	}
	if got := g.overflowStart(now-2e9, 0); got != first {
		t.Errorf("an overflow in the last read: start %d, want the read before (%d)", got, first)
	}
	if got := g.overflowStart(now-1e9, 0); got != second {
		t.Errorf("an overflow in a new read: start %d, want the read before (%d)", got, second)
	}
	third := g.lastRead.cur
	if got := g.overflowStart(0, 0); got != third {
		t.Errorf("an overflow without a time (inotify): start %d, want the last read (%d)", got, third)
	}
}
