package baseline

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkHash measures the safe hash of one regular file (open without following, fstat
// checks before and after, sha256), with a reused buffer as the scanner's workers use it.
func BenchmarkHash(b *testing.B) {
	for _, size := range []int{64 << 10, 4 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			data := make([]byte, size)
			rand.Read(data)
			if err := os.WriteFile(filepath.Join(dir, "f"), data, 0o644); err != nil {
				b.Fatal(err)
			}
			dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(dirfd)
			st, err := statAt(dirfd, "f")
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, hashBufSize)
			b.SetBytes(int64(size))
			for b.Loop() {
				e := st
				if err := hashAt(dirfd, "f", &e, DefaultMaxHashBytes, buf); err != nil || e.HashState != HashOK {
					b.Fatalf("hash: %v, %v", e.HashState, err)
				}
			}
		})
	}
}

// BenchmarkWalk measures a stat-only walk of 5,000 files in 50 directories.
func BenchmarkWalk(b *testing.B) {
	root := b.TempDir()
	for d := 0; d < 50; d++ {
		dir := filepath.Join(root, "etc", fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < 100; f++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	tree := rootAll()
	want := 1 + 50 + 5000
	for b.Loop() {
		n := 0
		err := Walk(b.Context(), root, tree, func(v *Visit) error {
			n++
			v.Release()
			return nil
		})
		if err != nil || n != want {
			b.Fatalf("Walk: %d visits, %v", n, err)
		}
	}
	b.ReportMetric(float64(want), "paths/op")
}
