// Command feedcost measures what the eBPF file-change feed costs (run as root):
//
//   - outside: N file-changing calls (chmod, open for writing + close, rename, in turn) on files
//     outside every watched directory, by a worker process, with the feed loaded and without it,
//     alternating, REPS times each. It prints the worker's CPU seconds (user+sys, which is where
//     the feed's programs run: in the calling task) and wall seconds, the medians and the ratio.
//   - inside: N chmods of a file in a watched directory by a worker, with the feed loaded and read
//     by this process as the daemon reads it (decode, resolve, index by path). The feed's own
//     cost is the kernel's count of its programs' run time (BPF statistics) plus this process's
//     CPU while it reads; printed per 100,000 changes.
//
// The load average is printed before each measurement: the machine may be shared.
//
//	go build -o /tmp/feedcost ./cmd/feedcost && /tmp/feedcost -n 1000000 -reps 5
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/attrib"
)

func main() {
	worker := flag.String("worker", "", "internal: run the calls (outside or inside) in DIR")
	dir := flag.String("dir", "", "internal: the worker's directory")
	n := flag.Int("n", 1000000, "calls per run")
	reps := flag.Int("reps", 5, "runs of each kind")
	inside := flag.Int("inside", 100000, "changes inside a watched directory")
	flag.Parse()
	if *worker != "" {
		if err := work(*worker, *dir, *n); err != nil {
			fmt.Fprintln(os.Stderr, "feedcost worker:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *reps, *inside); err != nil {
		fmt.Fprintln(os.Stderr, "feedcost:", err)
		os.Exit(1)
	}
}

// work makes n calls in dir: chmod, open for writing and close, rename, in turn (outside), or n
// chmods (inside).
func work(kind, dir string, n int) error {
	f := filepath.Join(dir, "f")
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{f, a} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		mode := uint32(0o644)
		if i&1 == 1 {
			mode = 0o755
		}
		switch {
		case kind == "inside" || i%3 == 0:
			if err := unix.Chmod(f, mode); err != nil {
				return err
			}
		case i%3 == 1:
			fd, err := unix.Open(f, unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			unix.Close(fd)
		default:
			if err := unix.Rename(a, b); err != nil {
				return err
			}
			a, b = b, a
		}
	}
	return nil
}

type sample struct {
	cpu, wall float64
}

// worker runs the worker and returns its CPU and wall seconds.
func runWorker(kind, dir string, n int) (sample, error) {
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	cmd := exec.Command(self, "-worker", kind, "-dir", dir, "-n", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return sample{}, err
	}
	wall := time.Since(start).Seconds()
	ps := cmd.ProcessState
	return sample{cpu: (ps.UserTime() + ps.SystemTime()).Seconds(), wall: wall}, nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// feed opens the file-change feed watching watched, read as the daemon reads it.
type feed struct {
	f    *attrib.FileFeed
	mu   sync.Mutex
	seen map[string]int
	done chan struct{}
}

func openFeed(watched string) (*feed, error) {
	f, _, err := attrib.OpenFileFeed()
	if err != nil {
		return nil, err
	}
	// Live, as the daemon gives a directory fanotify watches: its records do not wake the
	// reader one by one; a quarter-full ring or a sync does.
	if err := f.SetDirs([]attrib.WatchedDir{{Path: watched, Live: true}}); err != nil {
		f.Close()
		return nil, err
	}
	fd := &feed{f: f, seen: map[string]int{}, done: make(chan struct{})}
	go func() {
		defer close(fd.done)
		f.Run(func(c *attrib.FileChange) {
			for _, t := range c.Touches() {
				fd.mu.Lock()
				fd.seen[t.Path]++
				fd.mu.Unlock()
			}
		})
	}()
	return fd, nil
}

func (fd *feed) close() {
	fd.f.Close()
	<-fd.done
}

func selfCPU() float64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func run(n, reps, inside int) error {
	base, err := os.MkdirTemp("", "tripline-feedcost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	watched, outside := filepath.Join(base, "watched"), filepath.Join(base, "outside")
	for _, d := range []string{watched, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}

	fmt.Printf("outside: %d calls (chmod, open for writing, rename) outside every watched directory\n", n)
	fmt.Printf("%-4s %-8s %10s %10s   loadavg\n", "rep", "feed", "cpu_s", "wall_s")
	var off, on, offWall, onWall []float64
	for r := 0; r < reps; r++ {
		for _, loaded := range []bool{false, true} {
			var fd *feed
			if loaded {
				if fd, err = openFeed(watched); err != nil {
					return err
				}
			}
			la := loadavg()
			s, err := runWorker("outside", outside, n)
			if fd != nil {
				fd.close()
			}
			if err != nil {
				return err
			}
			name := "off"
			if loaded {
				name = "loaded"
				on, onWall = append(on, s.cpu), append(onWall, s.wall)
			} else {
				off, offWall = append(off, s.cpu), append(offWall, s.wall)
			}
			fmt.Printf("%-4d %-8s %10.3f %10.3f   %s\n", r+1, name, s.cpu, s.wall, la)
		}
	}
	fmt.Printf("median   off %.3f cpu-s (%.3f wall-s), loaded %.3f cpu-s (%.3f wall-s): loaded/off = %.3f cpu, %.3f wall\n",
		median(off), median(offWall), median(on), median(onWall), median(on)/median(off), median(onWall)/median(offWall))

	// The programs' own time, counted by the kernel (BPF statistics, on for this run only: they
	// add a clock read per run), against the calls' CPU time without the feed.
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("BPF statistics: %w", err)
	}
	defer stats.Close()
	fd, err := openFeed(watched)
	if err != nil {
		return err
	}
	la := loadavg()
	rt0, n0 := fd.f.RunTime()
	if _, err := runWorker("outside", outside, n); err != nil {
		fd.close()
		return err
	}
	rt1, n1 := fd.f.RunTime()
	fd.close()
	prog := (rt1 - rt0).Seconds()
	fmt.Printf("programs' own time over the %d calls: %.3f s in %d runs (%.0f ns a call) = %.1f%% of the calls' median CPU without the feed   %s\n",
		n, prog, n1-n0, prog*1e9/float64(n), 100*prog/median(off), la)

	fmt.Printf("\ninside: %d chmods in a watched directory, the feed read as the daemon reads it\n", inside)
	var kern, user, total []float64
	for r := 0; r < reps; r++ {
		fd, err := openFeed(watched)
		if err != nil {
			return err
		}
		la := loadavg()
		rt0, _ := fd.f.RunTime()
		c0 := selfCPU()
		if _, err := runWorker("inside", watched, inside); err != nil {
			fd.close()
			return err
		}
		fd.f.Sync()
		c1 := selfCPU()
		rt1, cnt := fd.f.RunTime()
		fd.mu.Lock()
		got := fd.seen[filepath.Join(watched, "f")]
		fd.mu.Unlock()
		drops := fd.f.Drops()
		fd.close()
		k, u := (rt1 - rt0).Seconds(), c1-c0
		per := 100000 / float64(inside)
		kern, user, total = append(kern, k*per), append(user, u*per), append(total, (k+u)*per)
		fmt.Printf("rep %d: programs %.3f cpu-s over %d runs, reader %.3f cpu-s, %d records of f, %d drops; per 100,000: %.3f cpu-s   %s\n",
			r+1, k, cnt, u, got, drops, (k+u)*per, la)
	}
	fmt.Printf("median per 100,000 changes: programs %.3f + reader %.3f = %.3f cpu-s\n", median(kern), median(user), median(total))
	return nil
}
