package store

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/internal/testenv"
)

// A database on a filesystem that became read-only says so (it used to say "unable to open
// database file: no such file or directory").
func TestOpenReadOnlyFilesystem(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs: "+err.Error())
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	path := filepath.Join(dir, "tripline.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "read-only here (read-only file system)") || !strings.Contains(err.Error(), "--db") {
		t.Errorf("read-only filesystem: %v", err)
	}
}

// A writable database file in a directory its user cannot write: SQLite could not create the
// write-ahead log, and said "no such file or directory". Run as uid 65534 in a child process.
func TestOpenReadOnlyDirectory(t *testing.T) {
	if os.Getenv("TRIPLINE_TEST_OPEN_DB") != "" {
		_, err := Open(context.Background(), os.Getenv("TRIPLINE_TEST_OPEN_DB"))
		if err == nil {
			os.Stdout.WriteString("opened\n")
			return
		}
		os.Stdout.WriteString(err.Error() + "\n")
		return
	}
	testenv.RequireRoot(t)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, "store.test")
	if b, err := os.ReadFile(os.Args[0]); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	dbDir := filepath.Join(dir, "db")
	os.Mkdir(dbDir, 0o755)
	path := filepath.Join(dbDir, "tripline.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	os.Chown(path, 65534, 65534) // the file is the user's; the directory is root's, 0755
	cmd := exec.Command(bin, "-test.run=^TestOpenReadOnlyDirectory$")
	cmd.Env = append(os.Environ(), "TRIPLINE_TEST_OPEN_DB="+path, "HOME="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "its directory is read-only here (permission denied)") || strings.Contains(string(out), "no such file") {
		t.Errorf("as uid 65534: %s", out)
	}
}
