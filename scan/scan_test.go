package scan

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

const testPolicy = `
version: 1
rules:
  exec-bit-set: {severity: {executed: high, sourced: medium, config: low}}
  file-deleted: {severity: low}
locations:
  - id: cron-periodic
    paths: ["/etc/cron.daily/*"]
    category: cron
    technique: T1053.003
    use: executed
  - id: units
    paths: ["/etc/systemd/system/**"]
    category: systemd
    technique: T1543.002
    use: config
ignore: ["*.dpkg-new"]
`

type env struct {
	t    *testing.T
	root string
	pol  *policy.Policy
	db   *store.DB
	dbf  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, root: filepath.Join(dir, "root"), dbf: filepath.Join(dir, "t.db")}
	var err error
	if e.pol, err = policy.Load("test.yaml", []byte(testPolicy)); err != nil {
		t.Fatal(err)
	}
	if e.db, err = store.Open(context.Background(), e.dbf); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.write("etc/cron.daily/a", "#!/bin/sh\n", 0o644)
	e.write("etc/cron.daily/b", "#!/bin/sh\necho b\n", 0o755)
	e.write("etc/systemd/system/x.service", "[Unit]\n", 0o644)
	e.write("etc/systemd/system/x.service.d/override.conf", "[Service]\n", 0o644)
	e.write("etc/other/file", "not covered\n", 0o644)
	return e
}

func (e *env) write(p, content string, mode os.FileMode) {
	e.t.Helper()
	full := filepath.Join(e.root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) scan(mod ...func(*Options)) *Result {
	e.t.Helper()
	o := Options{Root: e.root, Policy: e.pol, DB: e.db, By: "test"}
	for _, m := range mod {
		m(&o)
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) historyRows() int {
	e.t.Helper()
	c, err := e.db.Count(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return int(c.History)
}

func rulesByPath(res *Result) map[string]string {
	out := map[string]string{}
	for _, f := range res.Findings.All() {
		out[f.Change.Path] = f.Rule()
	}
	return out
}

func TestFirstScanRecordsBaseline(t *testing.T) {
	e := newEnv(t)
	res := e.scan()
	if !res.First || res.Inventory == nil {
		t.Fatalf("first scan: First=%v Inventory=%v", res.First, res.Inventory)
	}
	// cron.daily dir + 2 files; systemd/system dir itself (** matches it), x.service,
	// x.service.d and override.conf.
	if res.Paths != 7 {
		t.Errorf("paths = %d, want 7", res.Paths)
	}
	if res.Findings.Len() != 0 || e.historyRows() != 0 {
		t.Errorf("a first scan reports no findings and writes no history: %d findings, %d rows", res.Findings.Len(), e.historyRows())
	}
	counts := map[string]int{}
	for _, l := range res.Inventory.Locations {
		counts[l.ID] = l.Paths
	}
	if counts["cron-periodic"] != 3 || counts["units"] != 4 {
		t.Errorf("inventory counts %v", counts)
	}
	entries, err := e.db.BaselineEntries(context.Background())
	if err != nil || len(entries) != 7 {
		t.Fatalf("baseline has %d entries (%v), want 7", len(entries), err)
	}
	for _, a := range entries {
		if strings.HasPrefix(a.Path, "/etc/other") {
			t.Errorf("uncovered path %s in the baseline", a.Path)
		}
		if a.Type == baseline.TypeFile && a.HashState != baseline.HashOK {
			t.Errorf("%s not hashed: %s", a.Path, a.HashState)
		}
	}
	// Unchanged second scan: nothing re-read, nothing found.
	res = e.scan()
	if res.First || res.Findings.Len() != 0 || res.Hashed != 0 || res.Reused != 4 {
		t.Errorf("second scan: first=%v findings=%d hashed=%d reused=%d", res.First, res.Findings.Len(), res.Hashed, res.Reused)
	}
}

func TestChangesReportedUntilAcceptedAndRecordedOnce(t *testing.T) {
	e := newEnv(t)
	e.scan()
	os.Chmod(filepath.Join(e.root, "etc/cron.daily/a"), 0o755)
	os.Remove(filepath.Join(e.root, "etc/systemd/system/x.service.d/override.conf"))
	e.write("etc/systemd/system/new.service", "[Unit]\n", 0o644)
	e.write("etc/cron.daily/pkg.dpkg-new", "#!/bin/sh\n", 0o755)

	res := e.scan()
	got := rulesByPath(res)
	want := map[string]string{
		"/etc/cron.daily/a":                             "exec-bit-set",
		"/etc/systemd/system/x.service.d/override.conf": "file-deleted",
		"/etc/systemd/system/new.service":               "file-created",
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for p, r := range want {
		if got[p] != r {
			t.Errorf("%s: %q, want %q", p, got[p], r)
		}
	}
	if res.Ignored != 1 {
		t.Errorf("ignored = %d, want 1 (the .dpkg-new file)", res.Ignored)
	}
	if res.Recorded != 3 || e.historyRows() != 3 {
		t.Errorf("recorded %d, history rows %d, want 3", res.Recorded, e.historyRows())
	}
	// The same drift is reported again, but not recorded again.
	res = e.scan()
	if res.Findings.Len() != 3 || res.Recorded != 0 || e.historyRows() != 3 {
		t.Errorf("repeat scan: %d findings, %d recorded, %d rows", res.Findings.Len(), res.Recorded, e.historyRows())
	}
	// A further change to a drifting file is recorded against the last observation.
	unix.Chmod(filepath.Join(e.root, "etc/cron.daily/a"), 0o4755) // os.Chmod would drop the setuid bit
	res = e.scan()
	if got := rulesByPath(res)["/etc/cron.daily/a"]; got != "setuid-set" || res.Recorded != 1 {
		t.Errorf("after u+s: rule %q, recorded %d", got, res.Recorded)
	}
	if _, err := journal.Accept(context.Background(), e.db, nil, "test", 1); err != nil {
		t.Fatal(err)
	}
	res = e.scan()
	if res.Findings.Len() != 0 {
		t.Errorf("after accepting: %v", rulesByPath(res))
	}
}

func TestCreatedThenDeletedLeavesHistoryNotFindings(t *testing.T) {
	e := newEnv(t)
	e.scan()
	e.write("etc/cron.daily/tmp", "x", 0o755)
	if r := e.scan(); rulesByPath(r)["/etc/cron.daily/tmp"] != "executable-created" {
		t.Fatalf("creation not found: %v", rulesByPath(r))
	}
	os.Remove(filepath.Join(e.root, "etc/cron.daily/tmp"))
	res := e.scan()
	if res.Findings.Len() != 0 {
		t.Errorf("a file created and deleted between baselines is no finding: %v", rulesByPath(res))
	}
	if res.Recorded != 1 {
		t.Errorf("its deletion should be recorded once, got %d", res.Recorded)
	}
	states, _ := e.db.States(context.Background())
	if len(states) != 0 {
		t.Errorf("state should be empty again, has %d rows", len(states))
	}
}

func TestPolicyNoLongerCoveringIsNotDeletion(t *testing.T) {
	e := newEnv(t)
	e.scan()
	narrow, err := policy.Load("narrow.yaml", []byte(strings.Replace(testPolicy, `"/etc/systemd/system/**"`, `"/etc/systemd/system/*.service"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	res := e.scan(func(o *Options) { o.Policy = narrow })
	if res.Findings.Len() != 0 {
		t.Errorf("findings %v", rulesByPath(res))
	}
	// x.service.d and override.conf are no longer selected (systemd/system still is, as the
	// directory *.service lists).
	if res.Uncovered != 2 {
		t.Errorf("uncovered = %d, want 2", res.Uncovered)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "policy changed") {
		t.Errorf("notes %v", res.Notes)
	}
}

func TestRecreateAndRootMismatch(t *testing.T) {
	e := newEnv(t)
	e.scan()
	os.Chmod(filepath.Join(e.root, "etc/cron.daily/a"), 0o755)
	res := e.scan(func(o *Options) { o.Recreate = true })
	if !res.First || res.Findings.Len() != 0 {
		t.Fatalf("recreate: first=%v findings=%d", res.First, res.Findings.Len())
	}
	if res := e.scan(); res.Findings.Len() != 0 {
		t.Errorf("after recreate: %v", rulesByPath(res))
	}
	_, err := Run(context.Background(), Options{Root: t.TempDir(), Policy: e.pol, DB: e.db})
	if err == nil || !strings.Contains(err.Error(), "use --db") {
		t.Errorf("scanning another root against this baseline: %v", err)
	}
}

func TestInterruptedScanRecordsNothing(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	// A 1 GiB sparse file keeps the scan busy for far longer than the first progress tick, at
	// which the scan is cancelled.
	if err := os.Truncate(filepath.Join(e.root, "etc/cron.daily/a"), 1<<30); err != nil {
		t.Fatal(err)
	}
	o := Options{Root: e.root, Policy: e.pol, DB: e.db, By: "test", MaxHashBytes: 2 << 30,
		Progress: func(p Progress) { cancel() }, ProgressEvery: time.Millisecond}
	if _, err := Run(ctx, o); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, ok, _ := e.db.BaselineInfo(context.Background()); ok {
		t.Error("an interrupted first scan left a baseline behind")
	}
	raw, err := sql.Open("sqlite3", e.dbf)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	raw.QueryRow("SELECT count(*) FROM baseline").Scan(&n)
	if n != 0 {
		t.Errorf("%d baseline rows after an interrupted scan", n)
	}
}

// A reconcile run records its changes under its own source and returns them as Changes (the
// watcher emits those), while Findings stay the drift from the baseline.
func TestReconcileSourceAndChanges(t *testing.T) {
	e := newEnv(t)
	e.scan()
	os.Chmod(filepath.Join(e.root, "etc/cron.daily/a"), 0o755)
	res := e.scan(func(o *Options) { o.Source = store.SourceReconcile })
	if len(res.Changes) != 1 || res.Changes[0].Rule() != "exec-bit-set" || res.Findings.Len() != 1 {
		t.Fatalf("changes %d, findings %d", len(res.Changes), res.Findings.Len())
	}
	res = e.scan(func(o *Options) { o.Source = store.SourceReconcile })
	if len(res.Changes) != 0 || res.Findings.Len() != 1 {
		t.Errorf("second reconcile: changes %d (want 0: nothing new), findings %d (want 1)", len(res.Changes), res.Findings.Len())
	}
	unix.Chmod(filepath.Join(e.root, "etc/cron.daily/b"), 0o4755)
	res = e.scan(func(o *Options) { o.Source, o.ChangesOnly = store.SourceReconcile, true })
	if len(res.Changes) != 1 || res.Findings.Len() != 0 {
		t.Errorf("ChangesOnly: changes %d (want 1), findings %d (want 0)", len(res.Changes), res.Findings.Len())
	}
	raw, err := sql.Open("sqlite3", e.dbf)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Every change row says reconcile (the seals of the baseline are the chain's own rows).
	var n int
	var srcs string
	raw.QueryRow("SELECT count(*), group_concat(DISTINCT source) FROM history WHERE source != 'approval'").Scan(&n, &srcs)
	if n != 2 || srcs != "reconcile" {
		t.Errorf("%d history rows from sources %q, want 2 from reconcile", n, srcs)
	}
}
