package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// BenchmarkPutContent stores 1,000 distinct small files (a persistence location's scripts and
// units, 1-8 KiB of text) in one transaction, as a first scan does: the cost per stored file.
func BenchmarkPutContent(b *testing.B) {
	ctx := context.Background()
	files := make([][]byte, 1000)
	shas := make([]string, len(files))
	for i := range files {
		line := fmt.Sprintf("#!/bin/sh\n# job %d\nexec /usr/lib/app/run --config /etc/app/%d.conf \"$@\"\n", i, i)
		for len(files[i]) < 1024+(i%8)*1024 {
			files[i] = append(files[i], line...)
		}
		s := sha256.Sum256(files[i])
		shas[i] = hex.EncodeToString(s[:])
	}
	b.ReportAllocs()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		db, _ := openTest(b)
		tx, err := db.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := range files {
			if err := tx.PutContent(ctx, shas[i], files[i], 1); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		db.Close()
		b.StartTimer()
	}
}
