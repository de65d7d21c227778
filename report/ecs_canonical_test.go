package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/scan"
)

// TestECSCanonical renders every kind of ECS document (findings with every optional part present
// and absent, notables, path errors) and checks each is what encoding/json writes for its own
// content: valid JSON, every object's keys sorted, strings escaped the same way. The documents
// are written straight into a buffer (jw); this is what holds them to a map's encoding.
func TestECSCanonical(t *testing.T) {
	docs := ecsVariety(t)
	for _, d := range docs {
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, d)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, unescapeReplacement(d)) {
			t.Fatalf("not canonical:\n got %s\nwant %s", d, again)
		}
	}
	if len(docs) < 1000 {
		t.Errorf("only %d documents", len(docs))
	}
}

// unescapeReplacement writes each escaped U+FFFD of a JSON text as the character: encoding/json
// escapes the invalid UTF-8 it replaces, and writes a decoded U+FFFD as it is.
func unescapeReplacement(d []byte) []byte {
	var out []byte
	for i := 0; i < len(d); i++ {
		if bytes.HasPrefix(d[i:], []byte(`\ufffd`)) {
			n := 0 // backslashes before this one: an odd count makes it a literal backslash
			for j := i - 1; j >= 0 && d[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				out = append(out, "\ufffd"...)
				i += len(`\ufffd`) - 1
				continue
			}
		}
		out = append(out, d[i])
	}
	return out
}

// ecsVariety renders the documents TestECSCanonical checks, one per line.
func ecsVariety(t *testing.T) [][]byte {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nalice:x:1000:\n"), 0o644)
	named := baseline.LoadUsers(root)
	now := func() time.Time { return time.Unix(0, 1.8e18).UTC() }
	var all bytes.Buffer
	full := &proc.Process{PID: 7, PPID: 6, Name: "chmod", Exe: "/usr/bin/chmod", Args: []string{"chmod", "+x", "f<&>"},
		UID: 1000, EUID: 0, GID: 1000, EGID: 0, LoginUID: 1000, SessionID: 3, Cwd: "/root", ContainerID: "abc", ArgsTruncated: true}
	parent := proc.Process{PID: 6, PPID: 1, Name: "bash", Exe: "/usr/bin/bash", Args: []string{"bash"}, UID: 1000, EUID: -1, LoginUID: -1, SessionID: -1}
	parent2 := proc.Process{PID: 6, PPID: 1, Name: "", Exe: "", UID: -1, EUID: -1, LoginUID: -1, SessionID: -1}
	actors := []*proc.Actor{
		nil, proc.Nobody(),
		{PID: 9, Attribution: proc.AttrKernel},
		{PID: 7, Attribution: proc.AttrKernel, Process: full, Ancestors: []proc.Process{parent}},
		{PID: 7, Attribution: proc.AttrSyscall, Why: "why\x01", Process: &proc.Process{PID: 7, UID: -1, EUID: -1, GID: -1, EGID: -1, LoginUID: -1, SessionID: -1}, Ancestors: []proc.Process{parent2}},
		{PID: 7, Attribution: proc.AttrKernel, Process: &proc.Process{PID: 7, UID: 5, EUID: -1, GID: -1, EGID: 5, LoginUID: 0, SessionID: 0}},
	}
	pkgs := []*baseline.Package{nil, {State: baseline.PkgUnowned}, {Name: "cron", Version: "3.0", Type: "deb", State: baseline.PkgModified, Detail: "md5 differs"}, {Name: "x", Version: "1", Type: "rpm", State: baseline.PkgVerified}}
	for _, host := range []Host{{Name: "h"}, {Name: "h2", ID: "id\"1"}} {
		for _, users := range []*baseline.Users{{}, named} {
			for fi, f0 := range sampleFindings(t) {
				for ai, a := range actors {
					for _, pk := range pkgs {
						for vi := 0; vi < 4; vi++ {
							f := f0
							if f.Change.New != nil {
								n := *f.Change.New
								n.Package = pk
								f.Change.New = &n
							} else {
								o := *f.Change.Old
								o.Package = pk
								f.Change.Old = &o
							}
							if vi&1 == 1 {
								f.Why = "matches <pkg> 1.0"
								f.HistoryID, f.HistoryHash = 42, "abc"
								loc := *f.Location
								loc.Technique, loc.Compliance = "", []string{"PCI 1", "x"}
								f.Location = &loc
							}
							var buf bytes.Buffer
							r := &Renderer{W: &buf, Format: ECS, Host: host, Root: "/r\x7f", Users: users, HostUsers: users, Now: now}
							var err error
							switch vi >> 1 {
							case 0:
								err = r.FindingBy(&f, "event", a)
							case 1:
								err = r.FindingEvent(&f, "reconcile", a, EventInfo{ReadNS: int64(1.7e18) + int64(fi), Unrecorded: ai%2 == 0})
							}
							if err != nil {
								t.Fatal(err)
							}
							all.Write(buf.Bytes())
						}
					}
				}
			}
			var buf bytes.Buffer
			r := &Renderer{W: &buf, Format: ECS, Host: host, Root: "/", Users: users, HostUsers: users, Now: now}
			for _, n := range []scan.Notable{{Entry: *sampleFindings(t)[1].Change.New, Location: "motd", Why: []string{"a", "b<"}}} {
				for _, pk := range pkgs {
					n.Entry.Package = pk
					if err := r.write(r.ecsNotable(nil, &n)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := r.PathErrors([]error{errors.New("boom\n"), &baseline.PathError{Path: "/etc/x\xff", Err: errors.New("gone")}}); err != nil {
				t.Fatal(err)
			}
			all.Write(buf.Bytes())
		}
	}
	return bytes.Split(bytes.TrimSuffix(all.Bytes(), []byte("\n")), []byte("\n"))
}
