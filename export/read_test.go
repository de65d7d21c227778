package export

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func doc(files ...File) *Document {
	return &Document{Format: FormatName, Version: Version, Files: files, Changes: []Change{}}
}

func TestReadRoundTrip(t *testing.T) {
	d := doc(File{Path: "/etc/a", Mode: "0644"}, File{Path: "/etc/b\n,\"", Mode: "0755", Executable: true})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, d); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != 2 || got.Files[1].Path != "/etc/b\n,\"" || !got.Files[1].Executable {
		t.Errorf("round trip: %+v", got.Files)
	}
}

func TestReadRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"not JSON":       "hello",
		"other format":   `{"format":"aide","version":1}`,
		"future version": `{"format":"tripline-baseline","version":2}`,
		"version 0":      `{"format":"tripline-baseline","version":0}`,
		"duplicate":      `{"format":"tripline-baseline","version":1,"files":[{"path":"/a"},{"path":"/a"}]}`,
		"wrong type":     `{"format":"tripline-baseline","version":"1"}`,
	} {
		if _, err := Read(strings.NewReader(in)); !errors.Is(err, ErrNotExport) {
			t.Errorf("%s: %v, want ErrNotExport", name, err)
		}
	}
}

func TestDiff(t *testing.T) {
	a := doc(File{Path: "/etc/a", Mode: "0644", SHA256: "x"}, File{Path: "/etc/gone", Mode: "0644"},
		File{Path: "/etc/\ufffd", PathEscaped: `/etc/\xff`, Mode: "0644"}, File{Path: "/etc/same", Mode: "0600", Modified: "t1"})
	b := doc(File{Path: "/etc/a", Mode: "0755", SHA256: "y", UID: 1, Owner: "bin"}, File{Path: "/etc/new", Mode: "0700"},
		File{Path: "/etc/\ufffd", PathEscaped: `/etc/\xfe`, Mode: "0644"}, File{Path: "/etc/same", Mode: "0600", Modified: "t2"})
	r := Diff(a, b)
	if len(r.OnlyA) != 2 || len(r.OnlyB) != 2 || len(r.Differ) != 1 {
		t.Fatalf("diff: only A %v, only B %v, differ %v", r.OnlyA, r.OnlyB, r.Differ)
	}
	// Two different non-UTF-8 names that JSON shows alike are told apart by path_escaped.
	if r.OnlyA[1].PathEscaped != `/etc/\xff` && r.OnlyA[0].PathEscaped != `/etc/\xff` {
		t.Errorf("escaped paths: %+v", r.OnlyA)
	}
	d := r.Differ[0]
	var fields []string
	for _, f := range d.Fields {
		fields = append(fields, f.Field+":"+f.A+">"+f.B)
	}
	if strings.Join(fields, " ") != "mode:0644>0755 owner:0>1 (bin) sha256:x>y" {
		t.Errorf("fields %v", fields)
	}
}

// FuzzRead: Read never panics, and what it accepts writes back and reads again the same.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"format":"tripline-baseline","version":1,"header":{},"locations":[],"files":[{"path":"/etc/a","mode":"0644"}],"changes_since_previous_approval":[]}`))
	f.Add([]byte(`{"format":"tripline-baseline","version":1,"files":[{"path":"/a"},{"path":"/a"}]}`))
	f.Add([]byte(`{"format":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Read(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrNotExport) {
				t.Fatalf("error not wrapping ErrNotExport: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteJSON(&buf, d); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(&buf); err != nil {
			t.Fatalf("rewritten export refused: %v", err)
		}
	})
}
