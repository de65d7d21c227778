package main

import (
	"os"
	"runtime/debug"
)

// leanGC makes the garbage collector run twice as often (GOGC 50) in the one-shot commands that
// go through data as large as the host's (scan, history): their live heap is small (the rows and
// files stream), and the default lets garbage grow to as much again, which was a tenth of a first
// scan's peak RSS on a 200,000-file tree (72 MB, 61 MB with GOGC 50, for about 3% more CPU).
// GOGC set in the environment wins.
func leanGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(50)
	}
}

// streamGC is for a command that streams rows with a live heap of a few MB at most (a history
// listing without a PATH): no collection by growth, only when the heap reaches 24 MiB. At GOGC 50
// over a 4 MiB heap the collector ran hundreds of times over 400,000 history rows, most of the
// CPU of 'history --format json' past the decoding. The limit is a soft one: past it the
// collector runs as often as needed, its CPU capped by the runtime. GOGC or GOMEMLIMIT set in the
// environment win.
func streamGC() {
	_, gogc := os.LookupEnv("GOGC")
	_, limit := os.LookupEnv("GOMEMLIMIT")
	if !gogc && !limit {
		debug.SetMemoryLimit(24 << 20)
		debug.SetGCPercent(-1)
	}
}

// scanGC is for a scan: its live heap is 8 to 17 MB on a 200,000-file tree (the jobs in flight,
// the contents being encoded), and at GOGC 50 the collector ran 270 times over a first scan, 4%
// of its CPU. With collection only when the Go heap reaches scanHeapBytes it runs a few dozen
// times, and the peak RSS stays where GOGC 50 left it. As in streamGC, the limit is a soft one.
// GOGC or GOMEMLIMIT set in the environment win.
func scanGC() {
	_, gogc := os.LookupEnv("GOGC")
	_, limit := os.LookupEnv("GOMEMLIMIT")
	if !gogc && !limit {
		debug.SetMemoryLimit(scanHeapBytes)
		debug.SetGCPercent(-1)
	}
}

const scanHeapBytes = 32 << 20
