package sink

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
)

// The output-file attacks of issue 13, each made for real.
func TestOpenAppend(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	// A new file is 0640 even with an umask of 0.
	name := filepath.Join(dir, "findings.ndjson")
	f, note, err := openAppend(name)
	if err != nil || note != "" {
		t.Fatalf("new file: %v %q", err, note)
	}
	f.WriteString("one\n")
	f.Close()
	if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o640 {
		t.Errorf("new file mode %v, want 0640", fi.Mode().Perm())
	}

	// A symlink at the name is refused, and its target is left alone.
	target := filepath.Join(dir, "shadow")
	os.WriteFile(target, []byte("secret\n"), 0o600)
	link := filepath.Join(dir, "out-link")
	os.Symlink(target, link)
	if _, _, err := openAppend(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("symlink: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "secret\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	// A dangling symlink is refused too (O_CREAT would otherwise create its target).
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "created-through-link"), dangling)
	if _, _, err := openAppend(dangling); err == nil {
		t.Error("dangling symlink accepted")
	}
	if _, err := os.Lstat(filepath.Join(dir, "created-through-link")); err == nil {
		t.Error("a file was created through the dangling symlink")
	}

	// An existing world-writable file is tightened, with a line that says so; its content stays.
	ww := filepath.Join(dir, "ww.log")
	os.WriteFile(ww, []byte("earlier\n"), 0o666)
	os.Chmod(ww, 0o666)
	f, note, err = openAppend(ww)
	if err != nil || !strings.Contains(note, "writable by others (mode 0666): tightened to 0644") {
		t.Fatalf("world-writable: %v %q", err, note)
	}
	f.WriteString("later\n")
	f.Close()
	fi, _ := os.Stat(ww)
	if b, _ := os.ReadFile(ww); fi.Mode().Perm() != 0o644 || string(b) != "earlier\nlater\n" {
		t.Errorf("after: mode %v content %q", fi.Mode().Perm(), b)
	}
	// A file that is private already is opened without a note.
	if f, note, err = openAppend(ww); err != nil || note != "" {
		t.Errorf("private file: %v %q", err, note)
	} else {
		f.Close()
	}
}

// A file someone else created and owns, in a directory anyone may create files in (the sticky
// /tmp of the review), is refused: its owner can rewrite every finding appended to it, and could
// hold a descriptor open for writing that no chown or chmod of ours takes back.
func TestOpenAppendOthersFile(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(dir, "tripline.log")
	if err := os.WriteFile(planted, []byte("planted\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(planted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	f, note, err := openAppend(planted)
	if err == nil {
		f.Close()
		t.Fatalf("a file owned by uid 65534 was opened (note %q)", note)
	}
	if msg := err.Error(); !strings.Contains(msg, "is owned by uid 65534") || !strings.Contains(msg, "remove it or choose another file") || strings.Contains(msg, "\n") {
		t.Errorf("message: %q", msg)
	}
	if b, _ := os.ReadFile(planted); string(b) != "planted\n" {
		t.Errorf("the planted file was written: %q", b)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(planted, &st); err != nil || st.Uid != 65534 {
		t.Errorf("the planted file's owner changed: %v uid %d", err, st.Uid)
	}

	// The same file, once tripline's user owns it, is opened: the refusal is about the owner alone.
	if err := os.Chown(planted, os.Geteuid(), os.Getegid()); err != nil {
		t.Fatal(err)
	}
	f, _, err = openAppend(planted)
	if err != nil {
		t.Fatalf("own file: %v", err)
	}
	f.Close()
}
