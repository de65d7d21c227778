// Command loadgen measures tripline watch under load: it builds a fixture root with many files in
// a persistence location, starts the daemon on it (--format json), changes the mode of distinct
// files at a target rate from this process, and reports the events/s the daemon kept up with,
// whether it lost events (a gap and a reconcile), its CPU seconds per 100,000 events, the latency
// from each change to its emitted line (p50/p99), its resident memory idle and under load, and
// whether the state it recorded equals the filesystem's at the end.
//
//	go build -o /tmp/tl ./cmd/tripline && go run ./cmd/loadgen -bin /tmp/tl -rate 20000 -n 100000
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/internal/loadtest"
)

func main() {
	bin := flag.String("bin", "tripline", "the tripline binary")
	dir := flag.String("dir", "/tmp/tripline-load", "work directory (removed and re-created)")
	n := flag.Int("n", 100000, "files to change, once each")
	rate := flag.Int("rate", 20000, "changes per second (0: as fast as possible)")
	backend := flag.String("backend", "fanotify", "backend to run the daemon with")
	cpuprofile := flag.String("cpuprofile", "", "write the daemon's pprof CPU profile to `FILE` (TRIPLINE_CPUPROFILE)")
	format := flag.String("format", "ecs", "the daemon's --format: ecs (its default) or json")
	flag.Parse()
	if err := run(*bin, *dir, *n, *rate, *backend, *format, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// reconciled collects the daemon's log lines seen so far and reports whether one says a reconcile
// after an overflow finished.
func reconciled(lines chan string, logs *[]string) bool {
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return true
			}
			*logs = append(*logs, l)
			if strings.Contains(l, "msg=reconciled why=overflow") {
				return true
			}
		default:
			return false
		}
	}
}

func procMem(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func run(bin, dir string, n, rate int, backend, format, cpuprofile string) error {
	os.RemoveAll(dir)
	root := filepath.Join(dir, "root")
	loc := filepath.Join(root, "etc", "cron.daily")
	if err := os.MkdirAll(loc, 0o755); err != nil {
		return err
	}
	names := make([]string, n)
	for i := range names {
		names[i] = filepath.Join(loc, fmt.Sprintf("job%07d", i))
		if err := os.WriteFile(names[i], []byte("#!/bin/sh\n"), 0o644); err != nil {
			return err
		}
	}
	out := filepath.Join(dir, "events.jsonl")
	db := filepath.Join(dir, "tripline.db")
	cmd := exec.Command(bin, "--db", db, "--root", root, "watch", "--format", format, "--output", out, "--backend", backend)
	if cpuprofile != "" {
		abs, err := filepath.Abs(cpuprofile)
		if err != nil {
			return err
		}
		cmd.Env = append(os.Environ(), "TRIPLINE_CPUPROFILE="+abs)
	}
	d, _, err := loadtest.Start(cmd, 120*time.Second)
	if err != nil {
		return err
	}
	defer d.Kill()
	pid := cmd.Process.Pid
	time.Sleep(time.Second)
	idleRSS := procMem(pid, "VmRSS")
	cpu0 := loadtest.CPU(pid)

	// Tail the output and sample memory while the changes are made.
	type seenAt struct {
		path string
		at   time.Time
	}
	seenc := make(chan seenAt, 1<<16)
	stopTail := make(chan struct{})
	var maxRSS int64
	tailDone := make(chan struct{})
	go func() {
		defer close(tailDone)
		defer close(seenc)
		var offset int64
		var partial []byte
		for {
			if r := procMem(pid, "VmRSS"); r > maxRSS {
				maxRSS = r
			}
			if f, err := os.Open(out); err == nil {
				f.Seek(offset, 0)
				buf, _ := io.ReadAll(f)
				f.Close()
				offset += int64(len(buf))
				now := time.Now()
				buf = append(partial, buf...)
				for {
					i := bytes.IndexByte(buf, '\n')
					if i < 0 {
						break
					}
					// json: path and rule; ECS: file.path and rule.id.
					var ev struct {
						Path string          `json:"path"`
						Rule json.RawMessage `json:"rule"`
						File struct {
							Path string `json:"path"`
						} `json:"file"`
					}
					if json.Unmarshal(buf[:i], &ev) == nil {
						var rule struct {
							ID string `json:"id"`
						}
						if json.Unmarshal(ev.Rule, &rule) != nil {
							json.Unmarshal(ev.Rule, &rule.ID)
						}
						if ev.Path == "" {
							ev.Path = ev.File.Path
						}
						if rule.ID == "exec-bit-set" {
							seenc <- seenAt{ev.Path, now}
						}
					}
					buf = buf[i+1:]
				}
				partial = append([]byte(nil), buf...)
			}
			select {
			case <-stopTail:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	seen := map[string]time.Time{}
	collect := func() {
		for {
			select {
			case s, ok := <-seenc:
				if !ok {
					return
				}
				if _, dup := seen[s.path]; !dup {
					seen[s.path] = s.at
				}
			default:
				return
			}
		}
	}

	// Change every file once, paced to the rate, remembering when.
	changed := make([]time.Time, n)
	start := time.Now()
	for i, p := range names {
		if rate > 0 {
			due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > 50*time.Microsecond {
				time.Sleep(d)
			}
		}
		changed[i] = time.Now()
		if err := unix.Chmod(p, 0o755); err != nil {
			return err
		}
		if i%1024 == 0 {
			collect()
		}
	}
	genDur := time.Since(start)
	deadline := time.Now().Add(120 * time.Second)
	for len(seen) < n && time.Now().Before(deadline) {
		collect()
		if len(seen) < n {
			time.Sleep(5 * time.Millisecond)
		}
		if reconciled(d.Lines, &d.Log) {
			break // a reconcile records the rest without one event line each
		}
	}
	close(stopTail)
	<-tailDone
	collect()
	drained := time.Since(start)
	cpu := loadtest.CPU(pid) - cpu0
	hwm := procMem(pid, "VmHWM")
	d.Stop()

	// Latency is measured to when this process read the line (5 ms polling): an upper bound of
	// change -> emitted.
	var lat []time.Duration
	for i, p := range names {
		if t, ok := seen["/etc/cron.daily/"+filepath.Base(p)]; ok {
			lat = append(lat, t.Sub(changed[i]))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(q*float64(len(lat)-1))]
	}
	overflow, reconciles := 0, 0
	for _, l := range d.Log {
		if strings.Contains(l, "overflowed") {
			overflow++
		}
		if strings.Contains(l, "msg=reconciled") && !strings.Contains(l, "why=start") {
			reconciles++
		}
	}
	mismatch, err := compareState(db, names)
	if err != nil {
		return err
	}
	fmt.Printf("backend %s, format %s, %d files changed once each, target rate %d/s\n", backend, format, n, rate)
	fmt.Printf("generated in %.3f s (%.0f changes/s); all recorded after %.3f s\n", genDur.Seconds(), float64(n)/genDur.Seconds(), drained.Seconds())
	fmt.Printf("emitted as events: %d of %d; overflows: %d; reconciles after start: %d\n", len(seen), n, overflow, reconciles)
	fmt.Printf("daemon CPU: %.3f s in all, %.3f s per 100,000 changes\n", cpu.Seconds(), cpu.Seconds()*100000/float64(n))
	fmt.Printf("latency change -> line read (5 ms polling): p50 %v, p99 %v, max %v\n", pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond))
	fmt.Printf("RSS idle %.1f MB, max under load %.1f MB (VmHWM %.1f MB)\n", float64(idleRSS)/(1<<20), float64(maxRSS)/(1<<20), float64(hwm)/(1<<20))
	fmt.Printf("recorded state differs from the filesystem for %d of %d files\n", mismatch, n)
	return nil
}

// compareState checks the daemon's last recorded mode of every file against the filesystem.
func compareState(dbPath string, names []string) (int, error) {
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	ctx := context.Background()
	modes := map[string]int64{}
	for _, q := range []string{"SELECT path, mode FROM baseline", "SELECT path, mode FROM state WHERE present = 1"} {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			var p string
			var m int64
			rows.Scan(&p, &m)
			modes[p] = m // state rows come second and win
		}
		rows.Close()
	}
	bad := 0
	for _, p := range names {
		st, err := os.Stat(p)
		if err != nil {
			return 0, err
		}
		if modes["/etc/cron.daily/"+filepath.Base(p)] != int64(st.Mode().Perm()) {
			bad++
		}
	}
	return bad, nil
}
