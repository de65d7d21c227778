package report

import (
	"os"
	"path/filepath"
	"testing"
)

// TestHostAt: an image is named by its own files, never by the host that reads it.
func TestHostAt(t *testing.T) {
	root := t.TempDir()
	if h := HostAt(root); h != (Host{}) {
		t.Errorf("an image without names: %+v, want none (not this host's)", h)
	}
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("image1\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/machine-id"), []byte("0123abcd\n"), 0o644)
	if h := HostAt(root); h != (Host{Name: "image1", ID: "0123abcd"}) {
		t.Errorf("image: %+v", h)
	}
	if HostAt("") != LocalHost() || HostAt("/") != LocalHost() {
		t.Error(`"" and "/" are not this host`)
	}
}
