package pkgdb

import (
	"context"
	"github.com/tripline/tripline/internal/pkgtest"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tripline/tripline/policy"
)

// defaultKeep is the filter the scan uses: the default policy's locations.
func defaultKeep(b *testing.B) *Filter {
	pol := policy.Default()
	var pats []string
	for _, l := range pol.Locations {
		pats = append(pats, pol.Patterns(l.ID)...)
	}
	return NewFilter(pats)
}

// BenchmarkLoad2000 loads the index of 2,000 packages (dpkg; rpm through rpmdb.sqlite, a Berkeley
// DB Packages written by db5.3_load, and an ndb Packages.db). It reports the heap the index keeps
// (retained-MB, after a GC) besides the time and allocations of a load. Run:
//
//	go test -run '^$' -bench Load2000 -benchmem -count 3 ./pkgdb
func BenchmarkLoad2000(b *testing.B) {
	// A generated dpkg database of 2,000 packages of 150 files each (300,000 paths, about what a
	// Debian desktop with 2,000 packages lists), and an rpmdb.sqlite of the same shape.
	root := b.TempDir()
	writeDpkg(b, root, 2000, 150)
	rpmRoot := b.TempDir()
	writeRPM(b, rpmRoot, 2000, 150)
	blobs := genRPMBlobs(2000, 150)
	bdbRoot, ndbRoot := b.TempDir(), b.TempDir()
	pkgtest.WriteBDB(b, filepath.Join(bdbRoot, "var/lib/rpm/Packages"), 1234, 4096, blobs)
	pkgtest.WriteNDB(b, filepath.Join(ndbRoot, "usr/lib/sysimage/rpm/Packages.db"), blobs)
	for _, c := range []struct {
		name, root string
		keep       func(*testing.B) *Filter
	}{
		{"dpkg/policy", root, defaultKeep},
		{"dpkg/all", root, func(*testing.B) *Filter { return nil }},
		{"rpm/policy", rpmRoot, defaultKeep},
		{"rpm-bdb/policy", bdbRoot, defaultKeep},
		{"rpm-ndb/policy", ndbRoot, defaultKeep},
	} {
		b.Run(c.name, func(b *testing.B) {
			root := c.root
			keep := c.keep(b)
			var ix *Index
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var err error
				if ix, err = Load(context.Background(), root, Options{Keep: keep}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			if ix.Packages() != 2000 {
				b.Fatalf("%d packages", ix.Packages())
			}
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "retained-MB")
			b.ReportMetric(float64(ix.Files()), "paths")
			runtime.KeepAlive(ix)
		})
	}
}
