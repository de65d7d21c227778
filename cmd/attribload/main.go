// Command attribload measures process attribution: for each exec-cache feed (kernel, connector,
// proc) it starts `tripline watch` on a fixture root, arms files in /etc/cron.daily with real
// short-lived processes launched from bash loops, and checks every finding against what was
// launched: the executable and arguments, the parent (the loop's bash), the user and the login
// user. It reports, per case and feed, the share of files whose finding names each correctly,
// the attributions seen, the daemon's CPU seconds and the feed's drops.
//
// The loops set their audit login uid to 1000 before starting (as a login by user 1000 that then
// became root would), so the login user is checked against a value that differs from the user.
//
//	go build -o /tmp/tl ./cmd/tripline && go run ./cmd/attribload -bin /tmp/tl
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tripline/tripline/internal/loadtest"
)

const loginUID = "1000"

type testCase struct {
	name  string
	loops int
	busy  bool
	// cmd is the command of one iteration for file f: what the loop runs.
	cmd func(env, f string) []string
	// rule: what arms the file: exec-bit-set on an existing file, executable-created for a new one.
	rule string
}

type env struct {
	python string
	src    string // an executable to install
}

func main() {
	bin := flag.String("bin", "tripline", "the tripline binary")
	dir := flag.String("dir", "/tmp/tripline-attribload", "work directory (removed and re-created)")
	n := flag.Int("n", 1000, "files per case")
	feeds := flag.String("feeds", "kernel,connector,proc", "feeds to measure, comma-separated")
	only := flag.String("cases", "", "cases to run, separated by || (default all)")
	flag.Parse()
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		py, _ = exec.LookPath("python3")
	}
	cases := []testCase{
		{name: "chmod +x, 1 loop", loops: 1, rule: "exec-bit-set", cmd: func(_, f string) []string { return []string{"chmod", "+x", f} }},
		{name: "chmod +x, 4 loops", loops: 4, rule: "exec-bit-set", cmd: func(_, f string) []string { return []string{"chmod", "+x", f} }},
		{name: "install -m0755", loops: 1, rule: "executable-created", cmd: func(_, f string) []string { return []string{"install", "-m0755", "SRC", f} }},
		{name: "python3 os.chmod", loops: 1, rule: "exec-bit-set", cmd: func(_, f string) []string {
			return []string{py, "-c", "import os,sys; os.chmod(sys.argv[1], 0o755)", f}
		}},
		{name: "chmod +x, 1 loop, CPUs busy", loops: 1, busy: true, rule: "exec-bit-set", cmd: func(_, f string) []string { return []string{"chmod", "+x", f} }},
	}
	fmt.Printf("%-28s %-9s %6s %9s %8s %8s %8s %8s %7s %6s  %s\n", "case", "feed", "found", "exe+args", "parent", "user", "login", "cpu s", "drops", "recon", "attributions")
	for _, feed := range strings.Split(*feeds, ",") {
		for _, c := range cases {
			if *only != "" && !slices.Contains(strings.Split(*only, "|"), c.name) {
				continue
			}
			r, err := run(*bin, *dir, feed, c, *n)
			if err != nil {
				fmt.Fprintf(os.Stderr, "attribload: %s / %s: %v\n", c.name, feed, err)
				os.Exit(1)
			}
			pct := func(k int) string { return fmt.Sprintf("%.1f%%", 100*float64(k)/float64(*n)) }
			var attrs []string
			for k, v := range r.attributions {
				attrs = append(attrs, fmt.Sprintf("%s=%d", k, v))
			}
			sort.Strings(attrs)
			fmt.Printf("%-28s %-9s %6d %9s %8s %8s %8s %8.2f %7d %6d  %s\n", c.name, feed, r.found, pct(r.exeArgs), pct(r.parent), pct(r.user), pct(r.login),
				r.cpu.Seconds(), r.drops, r.gaps, strings.Join(attrs, " "))
		}
	}
}

type result struct {
	found, exeArgs, parent, user, login int
	attributions                        map[string]int
	cpu                                 time.Duration
	drops, gaps                         int
}

type ecs struct {
	File struct {
		Path string `json:"path"`
	} `json:"file"`
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	Process *struct {
		PID        int      `json:"pid"`
		Executable string   `json:"executable"`
		Args       []string `json:"args"`
		Parent     *struct {
			Executable string   `json:"executable"`
			Args       []string `json:"args"`
		} `json:"parent"`
	} `json:"process"`
	User *struct {
		ID string `json:"id"`
	} `json:"user"`
	Tripline struct {
		Attribution string `json:"attribution"`
		LoginUser   *struct {
			ID string `json:"id"`
		} `json:"login_user"`
	} `json:"tripline"`
}

// sameFile compares executables by what they resolve to: the kernel feed names the file as
// executed (/usr/bin/python3), /proc the resolved one (/usr/bin/python3.11).
func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

func run(bin, dir, feed string, c testCase, n int) (*result, error) {
	os.RemoveAll(dir)
	root := filepath.Join(dir, "root")
	loc := filepath.Join(root, "etc", "cron.daily")
	if err := os.MkdirAll(loc, 0o755); err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "payload")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755); err != nil {
		return nil, err
	}
	files := make([]string, n)
	for i := range files {
		files[i] = filepath.Join(loc, fmt.Sprintf("job%05d", i))
		if c.rule == "exec-bit-set" {
			if err := os.WriteFile(files[i], []byte("#!/bin/sh\n"), 0o644); err != nil {
				return nil, err
			}
		}
	}
	out := filepath.Join(dir, "events.jsonl")
	cmd := exec.Command(bin, "--db", filepath.Join(dir, "t.db"), "--root", root, "watch", "--format", "ecs", "--output", out, "--attribution", feed)
	d, ready, err := loadtest.Start(cmd, 60*time.Second)
	if err != nil {
		return nil, err
	}
	defer d.Kill()
	if !strings.Contains(ready, "attribution="+feed) {
		return nil, fmt.Errorf("ready line: %s", ready)
	}
	pid := cmd.Process.Pid
	cpu0 := loadtest.CPU(pid)

	var burners []*exec.Cmd
	if c.busy {
		for i := 0; i < 2; i++ {
			b := exec.Command("sha256sum", "/dev/zero")
			if err := b.Start(); err != nil {
				return nil, err
			}
			burners = append(burners, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The loops: bash scripts, each over its share of the files.
	want := map[string][]string{}
	scripts := make([]string, c.loops)
	var loops []*exec.Cmd
	for l := 0; l < c.loops; l++ {
		var b strings.Builder
		b.WriteString("echo " + loginUID + " > /proc/self/loginuid || exit 9\n")
		for i := l; i < n; i += c.loops {
			argv := c.cmd("", files[i])
			for j, a := range argv {
				if a == "SRC" {
					argv[j] = src
				}
			}
			want[files[i]] = argv
			b.WriteString(shellJoin(argv) + "\n")
		}
		scripts[l] = filepath.Join(dir, fmt.Sprintf("loop%d.sh", l))
		if err := os.WriteFile(scripts[l], []byte(b.String()), 0o644); err != nil {
			return nil, err
		}
		loops = append(loops, exec.Command("/usr/bin/bash", scripts[l]))
	}
	for _, lc := range loops {
		if err := lc.Start(); err != nil {
			return nil, err
		}
	}
	for _, lc := range loops {
		if err := lc.Wait(); err != nil {
			return nil, fmt.Errorf("loop: %v", err)
		}
	}
	for _, b := range burners {
		b.Process.Kill()
		b.Wait()
	}
	// Wait for every file's finding (or 30 s).
	res := &result{attributions: map[string]int{}}
	seen := map[string]ecs{}
	var offset int64
	end := time.Now().Add(30 * time.Second)
	for len(seen) < n && time.Now().Before(end) {
		f, err := os.Open(out)
		if err == nil {
			f.Seek(offset, io.SeekStart)
			data, _ := io.ReadAll(f)
			f.Close()
			if i := strings.LastIndexByte(string(data), '\n'); i >= 0 {
				data = data[:i+1]
				offset += int64(len(data))
				for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
					var e ecs
					// The line that arms the file: install creates it 0600 and then chmods it,
					// which is one executable-created line or, when the daemon saw the file in
					// between, file-created then exec-bit-set.
					if json.Unmarshal([]byte(line), &e) != nil || e.Rule.ID != "exec-bit-set" && e.Rule.ID != "executable-created" {
						continue
					}
					seen[root+e.File.Path] = e
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.cpu = loadtest.CPU(pid) - cpu0
	d.Stop()
	for _, l := range d.Log {
		if strings.Contains(l, "msg=stopped") {
			if v := logField(l, "feed_drops"); v != "" {
				res.drops, _ = strconv.Atoi(v)
			}
		}
		// A gap (queue overflow, a path that changed while it was read) ends in a reconcile,
		// whose findings carry no actor.
		if strings.Contains(l, "msg=reconciled") && !strings.Contains(l, "why=start") {
			res.gaps++
		}
	}
	parentArgs := map[string][]string{}
	for l := 0; l < c.loops; l++ {
		for i := l; i < n; i += c.loops {
			parentArgs[files[i]] = []string{"/usr/bin/bash", scripts[l]}
		}
	}
	for f, argv := range want {
		e, ok := seen[f]
		if !ok {
			continue
		}
		res.found++
		res.attributions[e.Tripline.Attribution]++
		p := e.Process
		if p == nil {
			continue
		}
		exe, _ := exec.LookPath(argv[0])
		wantArgs := append([]string(nil), argv...)
		if sameFile(p.Executable, exe) && (slices.Equal(p.Args, wantArgs) || len(p.Args) > 0 && sameFile(p.Args[0], exe) && slices.Equal(p.Args[1:], wantArgs[1:])) {
			res.exeArgs++
		}
		if p.Parent != nil && sameFile(p.Parent.Executable, "/usr/bin/bash") && slices.Equal(p.Parent.Args, parentArgs[f]) {
			res.parent++
		}
		if e.User != nil && e.User.ID == "0" {
			res.user++
		}
		if e.Tripline.LoginUser != nil && e.Tripline.LoginUser.ID == loginUID {
			res.login++
		}
	}
	return res, nil
}

func logField(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
