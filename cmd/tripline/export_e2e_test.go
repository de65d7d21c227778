package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
)

// hostilePath is a file name with a comma, a double quote and a newline.
const hostilePath = "etc/cron.d/a,b \"c\"\nd"

// TestExportFormats: the three formats from a fixture root; the CSV read back by a CSV parser
// keeps the hostile path intact; the JSON is the documented document.
func TestExportFormats(t *testing.T) {
	fx := newFixture(t)
	fx.write(t, hostilePath, "* * * * * root true\n", 0o644)
	if r := tl(t, fx, "scan"); r.code != 0 {
		t.Fatalf("scan: %d %s", r.code, r.stderr)
	}
	dir := t.TempDir()
	for _, f := range []string{"json", "csv", "html"} {
		out := filepath.Join(dir, "baseline."+f)
		// 17 paths: 12 files and 5 directories of locations.
		if r := tl(t, fx, "baseline", "export", "--format", f, "-o", out); r.code != 0 {
			t.Fatalf("export %s: %d %s", f, r.code, r.stderr)
		} else if !strings.Contains(r.stderr, "exported 17 files") {
			t.Errorf("export %s said %q", f, r.stderr)
		}
	}
	// JSON: the canonical document.
	var doc struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
		Header  struct {
			Files        int    `json:"files"`
			PolicyDigest string `json:"policy_digest"`
			Executables  int    `json:"executables_in_executed_locations"`
		} `json:"header"`
		Locations []struct {
			ID         string   `json:"id"`
			Files      int      `json:"files"`
			Compliance []string `json:"compliance"`
		} `json:"locations"`
		Files []struct {
			Path         string   `json:"path"`
			Mode         string   `json:"mode"`
			ModeSymbolic string   `json:"mode_symbolic"`
			Owner        string   `json:"owner"`
			SHA256       string   `json:"sha256"`
			Executable   bool     `json:"executable"`
			ApprovedBy   string   `json:"approved_by"`
			Compliance   []string `json:"compliance"`
		} `json:"files"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Format != "tripline-baseline" || doc.Version != 1 || doc.Header.Files != 17 || len(doc.Header.PolicyDigest) != 64 {
		t.Errorf("header: %+v", doc)
	}
	// Executables in executed locations: cron.daily/logrotate, init.d/beta, update-motd.d/10-help-text.
	if doc.Header.Executables != 3 {
		t.Errorf("executables in executed locations: %d, want 3", doc.Header.Executables)
	}
	var sawBeta bool
	for _, f := range doc.Files {
		if f.Path == "/etc/init.d/beta" {
			sawBeta = true
			if f.Mode != "0755" || f.ModeSymbolic != "-rwxr-xr-x" || f.Owner == "" || len(f.SHA256) != 64 || !f.Executable ||
				f.ApprovedBy == "" || len(f.Compliance) == 0 {
				t.Errorf("beta: %+v", f)
			}
		}
	}
	if !sawBeta {
		t.Error("no /etc/init.d/beta in the export")
	}
	// CSV: re-read by Go's RFC 4180 parser; the hostile path survives.
	cf, err := os.Open(filepath.Join(dir, "baseline.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	recs, err := csv.NewReader(cf).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	if len(recs) != 18 || recs[0][0] != "path" {
		t.Fatalf("CSV: %d records, header %q", len(recs), recs[0])
	}
	found := false
	for _, r := range recs[1:] {
		if r[0] == "/"+hostilePath {
			found = true
		}
		if len(r) != len(recs[0]) {
			t.Errorf("row %q has %d fields, header %d", r[0], len(r), len(recs[0]))
		}
	}
	if !found {
		t.Errorf("the path %q did not survive the CSV", "/"+hostilePath)
	}
	// python3's csv module agrees (a second, independent parser).
	if py, err := exec.LookPath("python3"); err != nil {
		testenv.SkipOrFail(t, "python3 is not installed: the CSV export is not checked by a second parser")
	} else {
		out, err := exec.Command(py, "-c", `import csv,sys
rows=list(csv.reader(open(sys.argv[1], newline='')))
print(sum(1 for r in rows if r[0]==sys.argv[2]), len(rows))`, filepath.Join(dir, "baseline.csv"), "/"+hostilePath).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "1 18" {
			t.Errorf("python3 csv: %v %q", err, out)
		}
	}
	// HTML: one self-contained page.
	h, err := os.ReadFile(filepath.Join(dir, "baseline.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(h), "/etc/init.d/beta") || strings.Contains(string(h), "src=\"http") || strings.Contains(string(h), "<link") {
		t.Errorf("HTML page is not what it should be")
	}
}

// TestExportSignVerify: keygen, a signed export, verification by tripline and by stock OpenSSL,
// then both refusing once one byte of the export is flipped.
func TestExportSignVerify(t *testing.T) {
	fx := newFixture(t)
	if r := tl(t, fx, "scan"); r.code != 0 {
		t.Fatalf("scan: %d %s", r.code, r.stderr)
	}
	dir := t.TempDir()
	prefix := filepath.Join(dir, "auditor")
	if r := tl(t, fx, "baseline", "keygen", "--out", prefix); r.code != 0 {
		t.Fatalf("keygen: %d %s", r.code, r.stderr)
	}
	if st, err := os.Stat(prefix + ".key"); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v %v", err, st.Mode())
	}
	if r := tl(t, fx, "baseline", "keygen", "--out", prefix); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("a second keygen must not overwrite the key: %d %s", r.code, r.stderr)
	}
	out := filepath.Join(dir, "baseline.json")
	if r := tl(t, fx, "baseline", "export", "--sign", prefix+".key", "-o", out); r.code != 0 {
		t.Fatalf("export --sign: %d %s", r.code, r.stderr)
	}
	if r := tl(t, fx, "baseline", "export", "--sign", prefix+".key"); r.code != 16 {
		t.Errorf("--sign to stdout: exit %d, want 16 (usage)", r.code)
	}
	verify := func() (int, bool) {
		r := tl(t, fx, "baseline", "verify", out, "--pubkey", prefix+".pub.pem")
		ossl := true
		if _, err := exec.LookPath("openssl"); err == nil {
			o, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", prefix+".pub.pem", "-rawin", "-in", out, "-sigfile", out+".sig").CombinedOutput()
			ossl = err == nil && strings.Contains(string(o), "Signature Verified Successfully")
		} else {
			testenv.SkipOrFail(t, "openssl is not installed")
		}
		return r.code, ossl
	}
	if code, ossl := verify(); code != 0 || !ossl {
		t.Fatalf("a fresh signed export: tripline exit %d, openssl ok %v", code, ossl)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, ossl := verify(); code != 1 || ossl {
		t.Errorf("one flipped byte: tripline exit %d (want 1), openssl ok %v (want false)", code, ossl)
	}
}

// TestExportDiff: two exports that differ by an added file, a removed one and a mode change.
func TestExportDiff(t *testing.T) {
	fx := newFixture(t)
	if r := tl(t, fx, "scan"); r.code != 0 {
		t.Fatalf("scan: %d %s", r.code, r.stderr)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	if r := tl(t, fx, "baseline", "export", "-o", a); r.code != 0 {
		t.Fatal(r.stderr)
	}
	fx.write(t, "etc/cron.daily/new-job", "#!/bin/sh\n", 0o755)
	if err := os.Remove(fx.path("etc/cron.d/old-job")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(fx.path("etc/init.d/alpha"), 0o755); err != nil {
		t.Fatal(err)
	}
	tl(t, fx, "scan")
	if r := tl(t, fx, "baseline", "update"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := tl(t, fx, "baseline", "export", "-o", b); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := tl(t, fx, "baseline", "diff", a, b)
	if r.code != 7 {
		t.Errorf("diff exit %d, want 7 (1 added + 2 removed + 4 changed)\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"only in A  0644 file /etc/cron.d/old-job", "only in B  0755 file /etc/cron.daily/new-job",
		"differs    /etc/init.d/alpha: mode 0644 -> 0755", "1 only in A, 1 only in B, 1 differ."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("diff text lacks %q:\n%s", want, r.stdout)
		}
	}
	r = tl(t, fx, "baseline", "diff", "--format", "json", a, b)
	var d struct {
		OnlyA  []struct{ Path string } `json:"only_in_a"`
		OnlyB  []struct{ Path string } `json:"only_in_b"`
		Differ []struct {
			Path   string
			Fields []struct{ Field, A, B string }
		} `json:"differ"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || r.code != 7 {
		t.Fatalf("diff json: %v exit %d\n%s", err, r.code, r.stdout)
	}
	if len(d.OnlyA) != 1 || len(d.OnlyB) != 1 || len(d.Differ) != 1 || d.Differ[0].Fields[0].Field != "mode" {
		t.Errorf("diff json: %+v", d)
	}
	// The latest approval shows in the export: three paths changed.
	var doc struct {
		Changes []struct{ Path, Action string } `json:"changes_since_previous_approval"`
	}
	bb, _ := os.ReadFile(b)
	if err := json.Unmarshal(bb, &doc); err != nil || len(doc.Changes) != 3 {
		t.Errorf("changes since the previous approval: %+v %v", doc.Changes, err)
	}
	if r := tl(t, fx, "baseline", "diff", a, a); r.code != 0 || !strings.Contains(r.stdout, "agree") {
		t.Errorf("diff of an export with itself: exit %d\n%s", r.code, r.stdout)
	}
	if err := os.WriteFile(filepath.Join(dir, "x.json"), []byte(`{"format":"other"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := tl(t, fx, "baseline", "diff", a, filepath.Join(dir, "x.json")); r.code != 17 || !strings.Contains(r.stderr, "not a tripline baseline export") {
		t.Errorf("diff of a foreign file: exit %d %s", r.code, r.stderr)
	}
}
