package scan

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

// benchPolicy is bench/policy-all.yaml: one location covering the whole root.
const benchPolicy = `
version: 1
locations:
  - id: everything
    description: every path under the root
    paths: ["/**"]
    category: bench
    technique: T1037
    use: executed
`

// The benchmark tree is made once per process by gentree.py (TRIPLINE_GENTREE, default
// bench/gentree.py in this repository): 2,000 entries, 1% of ~1 MiB files, no 50 MiB blobs. TestMain
// removes it.
var bench struct {
	once  sync.Once
	dir   string // temporary directory holding the tree
	root  string
	bytes int64 // bytes of the regular files, from gentree's summary
	skip  string
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		removeTree(bench.dir)
	}
	os.Exit(code)
}

// removeTree removes a gentree tree, whose mode-0000 directories would stop a non-root RemoveAll.
func removeTree(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(dir)
}

func benchTree(b *testing.B) string {
	b.Helper()
	bench.once.Do(func() {
		gen := os.Getenv("TRIPLINE_GENTREE")
		if gen == "" {
			gen = "../bench/gentree.py"
		}
		py, err := exec.LookPath("python3")
		if err != nil {
			bench.skip = "python3 not found"
			return
		}
		if _, err := os.Stat(gen); err != nil {
			bench.skip = "gentree.py not found (set TRIPLINE_GENTREE): " + err.Error()
			return
		}
		if os.Geteuid() != 0 {
			bench.skip = "gentree.py needs root (it chowns files to other users)"
			return
		}
		if bench.dir, err = os.MkdirTemp("", "tripline-bench-"); err != nil {
			bench.err = err
			return
		}
		bench.root = filepath.Join(bench.dir, "root")
		cmd := exec.Command(py, gen, bench.root, "--files", "2000", "--mb-frac", "0.01", "--big", "0")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			bench.err = errors.New("gentree.py: " + err.Error())
			return
		}
		var sum struct {
			Bytes int64 `json:"bytes"`
		}
		if err := json.Unmarshal(out, &sum); err != nil {
			bench.err = errors.New("gentree.py summary: " + err.Error())
			return
		}
		bench.bytes = sum.Bytes
	})
	if bench.skip != "" {
		b.Skip(bench.skip)
	}
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.root
}

func benchSetup(b *testing.B) (string, *policy.Policy) {
	b.Helper()
	root := benchTree(b)
	pol, err := policy.Load("policy-all.yaml", []byte(benchPolicy))
	if err != nil {
		b.Fatal(err)
	}
	return root, pol
}

func openBenchDB(b *testing.B) *store.DB {
	b.Helper()
	db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	return db
}

func benchScan(b *testing.B, root string, pol *policy.Policy, db *store.DB, wantFirst bool) *Result {
	b.Helper()
	res, err := Run(context.Background(), Options{Root: root, Policy: pol, DB: db, By: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if res.First != wantFirst {
		b.Fatalf("scan First = %v, want %v", res.First, wantFirst)
	}
	return res
}

// BenchmarkScanFirst is a first scan (baseline recording) of the tree into a fresh database:
// files/s counts the regular files hashed, MB/s the bytes read (10^6).
func BenchmarkScanFirst(b *testing.B) {
	root, pol := benchSetup(b)
	b.ReportAllocs()
	var files, nbytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := openBenchDB(b)
		b.StartTimer()
		res := benchScan(b, root, pol, db, true)
		b.StopTimer()
		files += int64(res.Hashed + res.Reused)
		nbytes += res.HashBytes
		db.Close()
		b.StartTimer()
	}
	b.StopTimer()
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(files)/s, "files/s")
	b.ReportMetric(float64(nbytes)/1e6/s, "MB/s")
}

// BenchmarkScanSecond is a scan of the unchanged tree against a recorded baseline: every hash is
// reused, nothing is read. files/s counts the regular files checked, MB/s their bytes (10^6)
// confirmed unchanged by their metadata.
func BenchmarkScanSecond(b *testing.B) {
	root, pol := benchSetup(b)
	db := openBenchDB(b)
	defer db.Close()
	benchScan(b, root, pol, db, true)
	b.ReportAllocs()
	var files, nbytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := benchScan(b, root, pol, db, false)
		if res.Findings.Len() != 0 || res.Hashed != 0 {
			b.Fatalf("second scan of an unchanged tree: %d findings, %d files hashed", res.Findings.Len(), res.Hashed)
		}
		files += int64(res.Hashed + res.Reused)
		nbytes += bench.bytes
	}
	b.StopTimer()
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(files)/s, "files/s")
	b.ReportMetric(float64(nbytes)/1e6/s, "MB/s")
}
