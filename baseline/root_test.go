package baseline

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAbsRoot(t *testing.T) {
	dir := t.TempDir()
	if got, err := AbsRoot(dir); err != nil || got != dir {
		t.Errorf("%s: %q %v", dir, got, err)
	}
	t.Chdir(dir)
	os.Mkdir("img", 0o755)
	if got, err := AbsRoot("img"); err != nil || got != filepath.Join(dir, "img") {
		t.Errorf("relative: %q %v", got, err)
	}
	os.WriteFile("file", nil, 0o644)
	if _, err := AbsRoot("file"); err == nil || err.Error() != "not a directory" {
		t.Errorf("a file: %v", err)
	}
	if _, err := AbsRoot("missing"); !os.IsNotExist(err) {
		t.Errorf("missing: %v", err)
	}
}
