package export

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

// A document built with its files on disk (Options.Stream) writes the very bytes of one built in
// memory, in every format.
func TestStreamedExportIsTheSame(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pol := policy.Default()
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loc := pol.Locations[0].ID
	for i := 0; i < 300; i++ {
		e := baseline.Entry{Path: fmt.Sprintf("/etc/cron.d/job%03d<&>\xff", i), Location: loc, Type: baseline.TypeFile, Mode: uint32(0o644 + i%2*0o111),
			Size: int64(i), MtimeNS: int64(i) * 1e9, CtimeNS: 1, SHA256: fmt.Sprintf("%064x", i), HashState: baseline.HashOK}
		if err := tx.PutBaseline(ctx, &e, 5, "root"); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.SetBaselineInfo(ctx, store.BaselineInfo{CreatedNS: 1, CreatedBy: "root", Root: "/", PolicyDigest: pol.Digest(), PolicySource: pol.Source()}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	o := Options{Host: "h", MachineID: "m", TriplineVersion: "test", Now: time.Unix(100, 0)}
	for _, format := range []string{"json", "csv", "html"} {
		var want, got bytes.Buffer
		mem, err := Build(ctx, db, pol, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(&want, mem, format); err != nil {
			t.Fatal(err)
		}
		so := o
		so.Stream = true
		streamed, err := Build(ctx, db, pol, so)
		if err != nil {
			t.Fatal(err)
		}
		if len(streamed.Files) != 0 || streamed.Header.Files != 300 {
			t.Errorf("streamed: %d files in memory, header says %d", len(streamed.Files), streamed.Header.Files)
		}
		if err := Write(&got, streamed, format); err != nil {
			t.Fatal(err)
		}
		streamed.Close()
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: the streamed export (%d bytes) differs from the one built in memory (%d bytes)", format, got.Len(), want.Len())
		}
	}
}
