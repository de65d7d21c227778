package baseline

import "testing"

func TestModeStrings(t *testing.T) {
	cases := []struct {
		typ      Type
		mode     uint32
		symbolic string
		octal    string
	}{
		{TypeFile, 0o4755, "-rwsr-xr-x", "4755"},
		{TypeDir, 0o1777, "drwxrwxrwt", "1777"},
		{TypeFile, 0o2644, "-rw-r-Sr--", "2644"},
		{TypeFile, 0o4644, "-rwSr--r--", "4644"},
		{TypeFile, 0o6755, "-rwsr-sr-x", "6755"},
		{TypeFile, 0o7777, "-rwsrwsrwt", "7777"},
		{TypeFile, 0o7000, "---S--S--T", "7000"},
		{TypeDir, 0o1770, "drwxrwx--T", "1770"},
		{TypeDir, 0o2775, "drwxrwsr-x", "2775"},
		{TypeFile, 0o644, "-rw-r--r--", "0644"},
		{TypeFile, 0o755, "-rwxr-xr-x", "0755"},
		{TypeFile, 0, "----------", "0000"},
		{TypeFile, 0o100644, "-rw-r--r--", "0644"}, // S_IFREG bits are not mode bits
		{TypeSymlink, 0o777, "lrwxrwxrwx", "0777"},
		{TypeFIFO, 0o644, "prw-r--r--", "0644"},
		{TypeSocket, 0o755, "srwxr-xr-x", "0755"},
		{TypeChar, 0o666, "crw-rw-rw-", "0666"},
		{TypeBlock, 0o660, "brw-rw----", "0660"},
		{TypeUnknown, 0o600, "-rw-------", "0600"},
		{"", 0o400, "-r--------", "0400"},
	}
	for _, tc := range cases {
		if got := SymbolicMode(tc.typ, tc.mode); got != tc.symbolic {
			t.Errorf("SymbolicMode(%s, %o) = %q, want %q", tc.typ, tc.mode, got, tc.symbolic)
		}
		if got := ModeString(tc.mode); got != tc.octal {
			t.Errorf("ModeString(%o) = %q, want %q", tc.mode, got, tc.octal)
		}
	}
}

func TestEntryExecutable(t *testing.T) {
	cases := []struct {
		typ  Type
		mode uint32
		want bool
	}{
		{TypeFile, 0o644, false},
		{TypeFile, 0o744, true},
		{TypeFile, 0o654, true},
		{TypeFile, 0o645, true},
		{TypeFile, 0o4644, false},
		{TypeDir, 0o755, false},
		{TypeSymlink, 0o777, false},
	}
	for _, tc := range cases {
		e := Entry{Type: tc.typ, Mode: tc.mode}
		if got := e.Executable(); got != tc.want {
			t.Errorf("Executable(%s %o) = %v", tc.typ, tc.mode, got)
		}
	}
}

func TestEntrySameInode(t *testing.T) {
	base := fileEntry()
	for name, change := range map[string]func(e *Entry){
		"dev":   func(e *Entry) { e.Dev++ },
		"inode": func(e *Entry) { e.Inode++ },
		"size":  func(e *Entry) { e.Size++ },
		"mtime": func(e *Entry) { e.MtimeNS++ },
		"ctime": func(e *Entry) { e.CtimeNS++ },
		"type":  func(e *Entry) { e.Type = TypeDir },
	} {
		e := base
		change(&e)
		if base.SameInode(&e) || e.SameInode(&base) {
			t.Errorf("SameInode with another %s = true", name)
		}
	}
	// Fields that do not decide whether a stored hash is still valid.
	e := base
	e.Mode, e.UID, e.Nlink, e.SHA256, e.HashState, e.Location = 0o755, 7, 3, "", HashNotComputed, "x"
	if !base.SameInode(&e) {
		t.Error("SameInode depends on more than dev, inode, size, mtime, ctime and type")
	}
}
