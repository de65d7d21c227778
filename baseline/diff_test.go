package baseline

import (
	"slices"
	"strings"
	"testing"
)

const (
	t0  = int64(1_700_000_000_000_000_000) // an mtime
	sec = int64(1e9)
)

func fileEntry() Entry {
	return Entry{
		Path: "/etc/cron.daily/job", Location: "cron-daily", Type: TypeFile, Mode: 0o644,
		Size: 42, Inode: 1000, Dev: 2049, Nlink: 1, MtimeNS: t0, CtimeNS: t0, BtimeNS: t0 - 3600*sec,
		SHA256: sha("old"), HashState: HashOK,
	}
}

func dirEntry() Entry {
	return Entry{
		Path: "/etc/cron.daily", Type: TypeDir, Mode: 0o755, Size: 4096, Inode: 900, Dev: 2049,
		Nlink: 2, MtimeNS: t0, CtimeNS: t0, BtimeNS: t0 - 3600*sec, HashState: HashNotRegular,
	}
}

func linkEntry(target string) Entry {
	return Entry{
		Path: "/etc/systemd/system/multi-user.target.wants/x.service", Type: TypeSymlink, Mode: 0o777,
		Size: int64(len(target)), Inode: 1100, Dev: 2049, Nlink: 1, MtimeNS: t0, CtimeNS: t0,
		Target: target, HashState: HashNotRegular,
	}
}

// newInode gives e the identity of a freshly created file: another inode, born now.
func newInode(e *Entry) {
	e.Inode += 7
	e.BtimeNS = t0 + 60*sec
	e.CtimeNS = t0 + 60*sec
}

func TestDiffCreatedDeleted(t *testing.T) {
	cases := []struct {
		name  string
		cur   func() Entry
		flags Flags
	}{
		{"plain file", func() Entry { return fileEntry() }, 0},
		{"executable file", func() Entry { e := fileEntry(); e.Mode = 0o755; return e }, ExecAdded},
		{"u+x only", func() Entry { e := fileEntry(); e.Mode = 0o744; return e }, ExecAdded},
		{"setuid file", func() Entry { e := fileEntry(); e.Mode = 0o4755; return e }, ExecAdded | SetuidAdded},
		{"setgid file", func() Entry { e := fileEntry(); e.Mode = 0o2755; return e }, ExecAdded | SetgidAdded},
		{"setgid directory (group inheritance, common)", func() Entry { e := dirEntry(); e.Mode = 0o2775; return e }, 0},
		{"world-writable file", func() Entry { e := fileEntry(); e.Mode = 0o666; return e }, WorldWritable},
		{"world-writable directory", func() Entry { e := dirEntry(); e.Mode = 0o777; return e }, WorldWritable},
		{"world-writable sticky directory", func() Entry { e := dirEntry(); e.Mode = 0o1777; return e }, 0},
		{"symlink (mode 0777 means nothing)", func() Entry { return linkEntry("/usr/lib/x") }, 0},
		{"executable directory", func() Entry { return dirEntry() }, 0},
		{"mtime copied from an older file (cp -p, touch -r)", func() Entry {
			e := fileEntry()
			e.BtimeNS = e.MtimeNS + 3*sec
			return e
		}, MtimeBeforeBirth},
		{"mtime within the slack of birth", func() Entry {
			e := fileEntry()
			e.BtimeNS = e.MtimeNS + 2*sec
			return e
		}, 0},
		{"no birth time known", func() Entry { e := fileEntry(); e.BtimeNS = 0; return e }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur := tc.cur()
			c, ok := Diff(nil, &cur)
			if !ok || c.Kind != Created || c.Old != nil || c.New != &cur || c.Path != cur.Path {
				t.Fatalf("Diff(nil, e) = %+v, %v", c, ok)
			}
			if c.Flags != tc.flags {
				t.Errorf("flags %v, want %v", c.Flags, tc.flags)
			}
			if c.Entry() != &cur {
				t.Error("Entry() is not the new entry")
			}
		})
	}
	old := fileEntry()
	old.Mode = 0o4755
	c, ok := Diff(&old, nil)
	if !ok || c.Kind != Deleted || c.Flags != 0 || c.Old != &old || c.New != nil || c.Path != old.Path || c.Entry() != &old {
		t.Errorf("Diff(e, nil) = %+v, %v; want a deletion without flags", c, ok)
	}
	if c, ok := Diff(nil, nil); ok {
		t.Errorf("Diff(nil, nil) = %+v, true", c)
	}
}

func TestDiffModified(t *testing.T) {
	cases := []struct {
		name  string
		old   func() Entry
		cur   func(e *Entry) // applied to a copy of old
		flags Flags          // 0: not a change
	}{
		// Mode.
		{"exec added", fileEntry, func(e *Entry) { e.Mode = 0o755 }, ModeChanged | ExecAdded},
		{"u+x added", fileEntry, func(e *Entry) { e.Mode = 0o744 }, ModeChanged | ExecAdded},
		{"exec removed", func() Entry { e := fileEntry(); e.Mode = 0o755; return e }, func(e *Entry) { e.Mode = 0o644 }, ModeChanged | ExecRemoved},
		{"some exec removed", func() Entry { e := fileEntry(); e.Mode = 0o755; return e }, func(e *Entry) { e.Mode = 0o744 }, ModeChanged | ExecRemoved},
		{"exec moved from group to other", func() Entry { e := fileEntry(); e.Mode = 0o654; return e }, func(e *Entry) { e.Mode = 0o645 }, ModeChanged | ExecAdded | ExecRemoved},
		{"setuid added", func() Entry { e := fileEntry(); e.Mode = 0o755; return e }, func(e *Entry) { e.Mode = 0o4755 }, ModeChanged | SetuidAdded},
		{"setgid added", func() Entry { e := fileEntry(); e.Mode = 0o755; return e }, func(e *Entry) { e.Mode = 0o2755 }, ModeChanged | SetgidAdded},
		{"setuid and exec added", fileEntry, func(e *Entry) { e.Mode = 0o4755 }, ModeChanged | ExecAdded | SetuidAdded},
		{"setuid kept", func() Entry { e := fileEntry(); e.Mode = 0o4755; return e }, func(e *Entry) { e.Mode = 0o4775 }, ModeChanged},
		{"setgid on a directory", dirEntry, func(e *Entry) { e.Mode = 0o2755 }, ModeChanged},
		{"world-writable file", fileEntry, func(e *Entry) { e.Mode = 0o646 }, ModeChanged | WorldWritable},
		{"already world-writable", func() Entry { e := fileEntry(); e.Mode = 0o666; return e }, func(e *Entry) { e.Mode = 0o667 }, ModeChanged | ExecAdded},
		{"world-writable directory", dirEntry, func(e *Entry) { e.Mode = 0o777 }, ModeChanged | WorldWritable},
		{"world-writable sticky directory", dirEntry, func(e *Entry) { e.Mode = 0o1777 }, ModeChanged},
		{"read bit removed", fileEntry, func(e *Entry) { e.Mode = 0o600 }, ModeChanged},
		{"exec bit on a directory", func() Entry { e := dirEntry(); e.Mode = 0o700; return e }, func(e *Entry) { e.Mode = 0o711 }, ModeChanged},
		// Owner.
		{"uid", fileEntry, func(e *Entry) { e.UID = 1000 }, OwnerChanged},
		{"gid", fileEntry, func(e *Entry) { e.GID = 1000 }, OwnerChanged},
		{"symlink owner (lchown)", func() Entry { return linkEntry("/x") }, func(e *Entry) { e.UID = 1000 }, OwnerChanged},
		// Content.
		{"content", fileEntry, func(e *Entry) { e.SHA256 = sha("new"); e.MtimeNS += sec }, ContentChanged},
		{"content, same size and mtime", fileEntry, func(e *Entry) { e.SHA256 = sha("new") }, ContentChanged},
		{"same content, touched", fileEntry, func(e *Entry) { e.MtimeNS += 3600 * sec; e.CtimeNS += 3600 * sec }, 0},
		{"too large, size changed", func() Entry { e := fileEntry(); e.HashState, e.SHA256 = HashTooLarge, ""; return e }, func(e *Entry) { e.Size++ }, ContentChanged},
		{"too large, mtime changed", func() Entry { e := fileEntry(); e.HashState, e.SHA256 = HashTooLarge, ""; return e }, func(e *Entry) { e.MtimeNS += sec }, ContentChanged},
		{"too large, unchanged", func() Entry { e := fileEntry(); e.HashState, e.SHA256 = HashTooLarge, ""; return e }, func(e *Entry) { e.CtimeNS += sec }, 0},
		{"grew past the cap", fileEntry, func(e *Entry) { e.HashState, e.SHA256, e.Size = HashTooLarge, "", 1<<30 }, ContentChanged},
		// Type and target.
		{"file became a symlink", fileEntry, func(e *Entry) {
			*e = linkEntry("/tmp/evil")
			e.Path = "/etc/cron.daily/job"
		}, TypeChanged | Replaced},
		{"symlink became an executable file", func() Entry { return linkEntry("/usr/lib/x") }, func(e *Entry) {
			*e = fileEntry()
			e.Path, e.Mode = linkEntry("").Path, 0o755
		}, TypeChanged | ExecAdded | Replaced},
		{"symlink became a setgid file", func() Entry { return linkEntry("/usr/lib/x") }, func(e *Entry) {
			*e = fileEntry()
			e.Path, e.Mode = linkEntry("").Path, 0o2711
		}, TypeChanged | ExecAdded | SetgidAdded | Replaced},
		{"symlink became a setuid file", func() Entry { return linkEntry("/usr/lib/x") }, func(e *Entry) {
			*e = fileEntry()
			e.Path, e.Mode = linkEntry("").Path, 0o4755
		}, TypeChanged | ExecAdded | SetuidAdded | Replaced},
		{"symlink became a world-writable file", func() Entry { return linkEntry("/usr/lib/x") }, func(e *Entry) {
			*e = fileEntry()
			e.Path, e.Mode = linkEntry("").Path, 0o666
		}, TypeChanged | WorldWritable | Replaced},
		{"file became a sticky world-writable directory", fileEntry, func(e *Entry) {
			*e = dirEntry()
			e.Path, e.Mode = fileEntry().Path, 0o1777
		}, TypeChanged | Replaced},
		{"symlink retargeted in place", func() Entry { return linkEntry("/usr/lib/a.service") }, func(e *Entry) {
			e.Target = "/tmp/b.service"
		}, TargetChanged},
		{"symlink retargeted by ln -sf", func() Entry { return linkEntry("/usr/lib/a.service") }, func(e *Entry) {
			e.Target = "/tmp/b.service"
			newInode(e)
		}, TargetChanged | Replaced},
		{"symlink mode (ignored by Linux)", func() Entry { return linkEntry("/x") }, func(e *Entry) { e.Mode = 0o755 }, 0},
		{"symlink recreated with the same target", func() Entry { return linkEntry("/x") }, func(e *Entry) { newInode(e) }, 0},
		// Times and counters that mean nothing on their own.
		{"directory mtime, size and nlink", dirEntry, func(e *Entry) {
			e.MtimeNS += sec
			e.CtimeNS += sec
			e.Size = 8192
			e.Nlink = 5
		}, 0},
		{"directory mtime backwards", dirEntry, func(e *Entry) { e.MtimeNS -= 3600 * sec }, 0},
		{"mtime forward alone", fileEntry, func(e *Entry) { e.MtimeNS += sec }, 0},
		{"ctime alone", fileEntry, func(e *Entry) { e.CtimeNS += sec }, 0},
		{"nlink alone (hard link made)", fileEntry, func(e *Entry) { e.Nlink = 2 }, 0},
		{"mtime backwards", fileEntry, func(e *Entry) { e.MtimeNS -= 365 * 24 * 3600 * sec }, MtimeBackwards},
		{"mtime backwards with new content", fileEntry, func(e *Entry) {
			e.MtimeNS -= 365 * 24 * 3600 * sec
			e.SHA256 = sha("new")
		}, ContentChanged | MtimeBackwards},
		// Replacement.
		{"new inode, same everything (editor save, dpkg reinstall)", fileEntry, func(e *Entry) { newInode(e) }, 0},
		{"new inode, new content, mtime after birth", fileEntry, func(e *Entry) {
			newInode(e)
			e.SHA256 = sha("new")
			e.MtimeNS = e.BtimeNS + sec
		}, ContentChanged | Replaced},
		{"new inode, new content, mtime before birth (timestomp)", fileEntry, func(e *Entry) {
			newInode(e)
			e.SHA256 = sha("new")
			// mtime kept from the old file (touch -r), more than 2 s before the new birth
		}, ContentChanged | MtimeBeforeBirth | Replaced},
		{"new inode, new content, mtime just within the slack", fileEntry, func(e *Entry) {
			newInode(e)
			e.SHA256 = sha("new")
			e.MtimeNS = e.BtimeNS - 2*sec
		}, ContentChanged | Replaced},
		{"new inode, same content, mtime before birth (cp -p of the same file)", fileEntry, func(e *Entry) { newInode(e) }, 0},
		{"new inode, exec added", fileEntry, func(e *Entry) { newInode(e); e.Mode = 0o755 }, ModeChanged | ExecAdded | Replaced},
		{"new device", fileEntry, func(e *Entry) { e.Dev++; e.UID = 5 }, OwnerChanged | Replaced},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := tc.old()
			cur := old
			tc.cur(&cur)
			c, ok := Diff(&old, &cur)
			if tc.flags == 0 {
				if ok {
					t.Errorf("Diff reported %v (%s); want no change", c.Kind, c.Flags)
				}
				return
			}
			if !ok || c.Kind != Modified {
				t.Fatalf("Diff = %+v, %v; want a modification", c, ok)
			}
			if c.Flags != tc.flags {
				t.Errorf("flags %q, want %q", c.Flags, tc.flags)
			}
			if c.Old != &old || c.New != &cur || c.Path != cur.Path || c.Entry() != &cur {
				t.Errorf("change does not carry both entries: %+v", c)
			}
		})
	}
}

func TestFlagNames(t *testing.T) {
	all := []struct {
		f    Flags
		name string
	}{
		{ExecAdded, "exec-added"}, {ExecRemoved, "exec-removed"}, {SetuidAdded, "setuid-added"},
		{SetgidAdded, "setgid-added"}, {WorldWritable, "world-writable"}, {ModeChanged, "mode"},
		{OwnerChanged, "owner"}, {ContentChanged, "content"}, {TypeChanged, "type"},
		{TargetChanged, "target"}, {MtimeBackwards, "mtime-backwards"},
		{MtimeBeforeBirth, "mtime-before-birth"}, {Replaced, "replaced"},
	}
	// These strings are stored and matched by scripts: they must never change.
	var every Flags
	var names []string
	for _, x := range all {
		if got := x.f.Names(); len(got) != 1 || got[0] != x.name {
			t.Errorf("%d.Names() = %q, want [%q]", x.f, got, x.name)
		}
		if x.f.String() != x.name {
			t.Errorf("%d.String() = %q", x.f, x.f.String())
		}
		every |= x.f
		names = append(names, x.name)
	}
	if got := every.Names(); !slices.Equal(got, names) {
		t.Errorf("all flags: %q, want %q", got, names)
	}
	if got := (Replaced | ExecAdded | ContentChanged).String(); got != "exec-added,content,replaced" {
		t.Errorf("String() = %q, want the fixed order", got)
	}
	if got := Flags(0).Names(); got != nil || Flags(0).String() != "" {
		t.Errorf("no flags: %q", got)
	}
	if got := Flags(1 << 30).Names(); got != nil {
		t.Errorf("unknown bit named %q", got)
	}
	f := ExecAdded | SetuidAdded
	if !f.Has(ExecAdded) || !f.Has(ExecAdded|SetuidAdded) || f.Has(ExecAdded|SetgidAdded) || !f.Has(0) {
		t.Error("Has is wrong")
	}
	if strings.Contains(every.String(), " ") {
		t.Error("flag names contain spaces")
	}
}
