package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/internal/testenv"
)

func TestParseMountInfo(t *testing.T) {
	info := []byte(`22 28 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw
98 28 8:1 /srv/other /etc/init.d/beta rw,relatime shared:1 master:2 - ext4 /dev/sda1 rw
99 28 0:50 / /home/a\040b rw - tmpfs my\134tmp rw,size=8k
`)
	ms, err := parseMountInfo(info)
	if err != nil {
		t.Fatal(err)
	}
	if m := ms[98]; m.point != "/etc/init.d/beta" || m.root != "/srv/other" || m.fstype != "ext4" || m.source != "/dev/sda1" {
		t.Errorf("bind mount: %+v", m)
	}
	if m := ms[99]; m.point != "/home/a b" || m.source != `my\tmp` || m.fstype != "tmpfs" {
		t.Errorf("escaped paths: %+v", m)
	}
	if _, err := parseMountInfo([]byte("1 2 3\n")); err == nil {
		t.Errorf("a short line parsed")
	}
}

func TestDiffMounts(t *testing.T) {
	old := map[int]mount{1: {id: 1, point: "/"}, 2: {id: 2, point: "/etc/init.d/beta"}, 3: {id: 3, point: "/mnt/a"}}
	cur := map[int]mount{1: {id: 1, point: "/"}, 3: {id: 3, point: "/etc/cron.daily"}, 4: {id: 4, point: "/etc/rc.local"}}
	got := diffMounts(old, cur, 7)
	want := []struct{ op, point, was string }{
		{"moved", "/etc/cron.daily", "/mnt/a"}, {"unmounted", "/etc/init.d/beta", ""}, {"mounted", "/etc/rc.local", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%+v, want %+v", got, want)
	}
	for i, w := range want {
		if g := got[i]; g.op != w.op || g.m.point != w.point || g.was != w.was || g.at != 7 {
			t.Errorf("change %d: %+v, want %+v", i, g, w)
		}
	}
	if chs := diffMounts(cur, cur, 0); len(chs) != 0 {
		t.Errorf("no change, yet %+v", chs)
	}
}

// The table reports a mount and its unmount made after start, through poll(2) on mountinfo,
// with our pid from the fanotify mount events where the kernel has them; and without them
// (before 6.15), from mountinfo alone.
func TestMountTableSeesMounts(t *testing.T) {
	testenv.RequireRoot(t)
	t.Run("as opened", func(t *testing.T) { testMountTable(t, false) })
	t.Run("mountinfo alone", func(t *testing.T) { testMountTable(t, true) })
}

func testMountTable(t *testing.T, mountinfoOnly bool) {
	tab, err := openMountTable("")
	if err != nil {
		t.Fatal(err)
	}
	defer tab.close()
	if mountinfoOnly && tab.fan >= 0 {
		unix.Close(tab.fan)
		tab.fan = -1
	}
	must(t, tab.start())
	mnt := mkdir(t, filepath.Join(t.TempDir(), "m"))
	t.Logf("mount changes seen by %s (%v)", tab.how(), tab.fanErr)
	wait := func(op string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case chs := <-tab.out:
				for _, c := range chs {
					if c.op == op && c.m.point == mnt {
						if tab.fan >= 0 && c.pid != int32(os.Getpid()) {
							t.Errorf("%s of %s: pid %d, want ours (%d) from the fanotify mount event", op, mnt, c.pid, os.Getpid())
						}
						if tab.fan < 0 && c.pid != 0 {
							t.Errorf("%s of %s: pid %d from mountinfo alone, which names none", op, mnt, c.pid)
						}
						return
					}
				}
			case <-deadline:
				t.Fatalf("no %s of %s from the mount table", op, mnt)
			}
		}
	}
	if err := unix.Mount("tripline-test", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	mounted := true
	defer func() {
		if mounted {
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	}()
	wait("mounted")
	must(t, unix.Unmount(mnt, 0))
	mounted = false
	wait("unmounted")
}

// A fanotify mount event as the kernel writes it (FAN_MNT_ATTACH, pid 42, mount id
// 0x8000030a), then a truncated one, which ends the parse.
func TestParseMountEvents(t *testing.T) {
	ev := []byte{0x28, 0, 0, 0, 3, 0, 0x18, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 42, 0, 0, 0,
		7, 0, 0x10, 0, 0, 0, 0, 0, 0x0a, 0x03, 0, 0x80, 0, 0, 0, 0}
	got := parseMountEvents(append(append([]byte{}, ev...), ev[:30]...))
	if len(got) != 1 || got[0].detach || got[0].pid != 42 || got[0].unique != 0x8000030a {
		t.Errorf("%+v, want one attach by pid 42 of mount 0x8000030a", got)
	}
}
