package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/scan"
)

// ecsFieldsCSV is the official ECS field list (testdata/ecs/README.md says where it is from).
const ecsFieldsCSV = "testdata/ecs/fields.csv"

// loadECS reads field name -> type from fields.csv. The file is part of the repository, so a
// missing or unreadable one fails the test: ECS output is never left unvalidated.
func loadECS(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(ecsFieldsCSV)
	if err != nil {
		t.Fatalf("the ECS field list: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", ecsFieldsCSV, err)
	}
	if len(rows) < 1000 || rows[0][3] != "Field" || rows[0][4] != "Type" {
		t.Fatalf("%s does not look like the ECS field list (%d rows, header %v)", ecsFieldsCSV, len(rows), rows[0])
	}
	out := map[string]string{}
	for _, r := range rows[1:] {
		out[r[3]] = r[4]
	}
	return out
}

// flatten turns nested objects into dotted names; arrays stay values.
func flatten(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, x := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		flatten(name, x, out)
	}
}

// checkType reports whether a JSON value fits an ECS field type. Arrays of the type are allowed
// for every field (ECS fields may hold arrays).
func checkType(ecsType string, v any) error {
	if arr, ok := v.([]any); ok {
		for _, x := range arr {
			if err := checkType(ecsType, x); err != nil {
				return err
			}
		}
		return nil
	}
	switch ecsType {
	case "keyword", "match_only_text", "text", "wildcard", "constant_keyword", "ip":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("want a string for %s, got %T", ecsType, v)
		}
	case "long", "integer", "short", "byte", "unsigned_long":
		n, ok := v.(float64)
		if !ok || n != float64(int64(n)) {
			return fmt.Errorf("want an integer for %s, got %T %v", ecsType, v, v)
		}
	case "float", "scaled_float", "double", "half_float":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("want a number for %s, got %T", ecsType, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("want a boolean, got %T", v)
		}
	case "date":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a date string, got %T", v)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("date %q: %v", s, err)
		}
	default:
		return fmt.Errorf("a leaf value cannot be of ECS type %s", ecsType)
	}
	return nil
}

// sampleFindings builds one finding of every kind the renderer must handle.
func sampleFindings(t testing.TB) []policy.Finding {
	pol := policy.Default()
	file := func(p string, mode uint32, sha string) *baseline.Entry {
		return &baseline.Entry{Path: p, Type: baseline.TypeFile, Mode: mode, Size: 10, Inode: 1 << 40, Dev: 2049, Nlink: 1,
			MtimeNS: 1.7e18, CtimeNS: 1.7e18, BtimeNS: 1.69e18, SHA256: sha, HashState: baseline.HashOK}
	}
	sha1 := strings.Repeat("a", 64)
	sha2 := strings.Repeat("b", 64)
	link := func(p, target string) *baseline.Entry {
		return &baseline.Entry{Path: p, Type: baseline.TypeSymlink, Mode: 0o777, Target: target, MtimeNS: 1.7e18, CtimeNS: 1.7e18, HashState: baseline.HashNotRegular}
	}
	var out []policy.Finding
	add := func(old, cur *baseline.Entry, actor *proc.Actor) {
		t.Helper()
		c, ok := baseline.Diff(old, cur)
		if !ok {
			t.Fatalf("no change between %+v and %+v", old, cur)
		}
		e := c.Entry()
		loc := pol.Match(e.Path)
		if loc == nil {
			t.Fatalf("%s not in the default policy", e.Path)
		}
		f, ok := pol.Evaluate(c, loc, actor)
		if !ok {
			t.Fatalf("no finding for %s", e.Path)
		}
		out = append(out, f)
	}
	add(file("/etc/cron.daily/backup", 0o644, sha1), file("/etc/cron.daily/backup", 0o755, sha1), nil)
	add(nil, file("/etc/update-motd.d/99-evil", 0o755, sha1), nil)
	add(file("/etc/init.d/beta", 0o755, sha1), file("/etc/init.d/beta", 0o4755, sha1), nil)
	add(file("/etc/profile.d/a.sh", 0o644, sha1), file("/etc/profile.d/a.sh", 0o644, sha2), &proc.Actor{Attribution: proc.AttrKernel, PID: 9, Process: &proc.Process{PID: 9, Exe: "/usr/bin/dpkg"}})
	add(file("/etc/cron.d/job", 0o644, sha1), nil, nil)
	add(link("/etc/systemd/system/x.service", "/dev/null"), link("/etc/systemd/system/x.service", "/tmp/x"), nil)
	add(file("/etc/cron.d/\xff\nodd", 0o644, sha1), file("/etc/cron.d/\xff\nodd", 0o666, sha1), nil)
	return out
}

// TestECSFieldsExist renders every kind of ECS event and checks each field name against the
// official ECS list (or the tripline.* namespace) and each value against its ECS type.
func TestECSFieldsExist(t *testing.T) {
	fields := loadECS(t)
	var buf bytes.Buffer
	r := &Renderer{W: &buf, Format: ECS, Host: Host{Name: "h", ID: "0123"}, Root: "/",
		Users: &baseline.Users{}, Now: func() time.Time { return time.Unix(1.7e9, 5).UTC() }}
	for _, f := range sampleFindings(t) {
		if err := r.Finding(&f, "scan"); err != nil {
			t.Fatal(err)
		}
	}
	fs := sampleFindings(t)
	if err := r.FindingBy(&fs[0], "event", &proc.Actor{PID: 4242, Attribution: proc.AttrPIDOnly}); err != nil {
		t.Fatal(err)
	}
	chmod := &proc.Process{PID: 4243, PPID: 100, Name: "chmod", Exe: "/usr/bin/chmod", Args: []string{"chmod", "+x", "/etc/cron.daily/backup"},
		UID: 1000, EUID: 0, GID: 1000, EGID: 0, LoginUID: 1000, SessionID: 3, Cwd: "/root", ArgsTruncated: true,
		Cgroup: "/system.slice/docker-" + strings.Repeat("ab", 32) + ".scope", ContainerID: strings.Repeat("ab", 32)}
	shell := &proc.Process{PID: 100, PPID: 1, Name: "bash", Exe: "/usr/bin/bash", Args: []string{"-bash"}, UID: 1000, EUID: 1000, GID: 1000, EGID: 1000, LoginUID: 1000, SessionID: 3}
	if err := r.FindingEvent(&fs[0], "event", &proc.Actor{PID: 4243, Attribution: proc.AttrKernel, Process: chmod, Ancestors: []proc.Process{*shell}},
		EventInfo{ReadNS: 1.7e18 + 7, Unrecorded: true}); err != nil {
		t.Fatal(err)
	}
	inv := &scan.Inventory{Notable: []scan.Notable{{Entry: baseline.Entry{Path: "/etc/init.d/x", Type: baseline.TypeFIFO, MtimeNS: 1, CtimeNS: 1}, Location: "sysv-init", Why: []string{"a fifo"}}}}
	res := &scan.Result{Inventory: inv, Errors: []error{&baseline.PathError{Path: "/etc/x", Err: os.ErrPermission}}}
	if err := r.Scan(res, 8); err != nil {
		t.Fatal(err)
	}
	// A package file altered before the first scan: judged against its package.
	pol := policy.Default()
	altered := &baseline.Entry{Path: "/etc/cron.daily/logrotate", Type: baseline.TypeFile, Mode: 0o755, MtimeNS: 1, CtimeNS: 1,
		SHA256: strings.Repeat("c", 64), HashState: baseline.HashOK,
		Package: &baseline.Package{Name: "logrotate", Version: "3.21.0-1", Type: "deb", State: baseline.PkgModified, Detail: "md5 0123, logrotate 3.21.0-1 recorded 4567"}}
	pf, ok := pol.EvaluatePresent(altered, pol.Match(altered.Path))
	if !ok {
		t.Fatal("no package finding")
	}
	if err := r.Finding(&pf, "scan"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 12 {
		t.Fatalf("want 12 events (10 findings, 1 notable, 1 error), got %d:\n%s", len(lines), buf.String())
	}
	required := []string{"@timestamp", "event.kind", "event.category", "event.type", "event.action", "event.module",
		"file.path", "host.name", "message"}
	seen := map[string]bool{}
	for i, line := range lines {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("event %d is not JSON: %v\n%s", i, err, line)
		}
		flat := map[string]any{}
		flatten("", doc, flat)
		for _, name := range required {
			if _, ok := flat[name]; !ok {
				t.Errorf("event %d lacks %s", i, name)
			}
		}
		names := make([]string, 0, len(flat))
		for k := range flat {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, name := range names {
			seen[name] = true
			if strings.HasPrefix(name, "tripline.") {
				continue
			}
			typ, ok := fields[name]
			if !ok {
				t.Errorf("event %d: field %s is not in ECS (put it under tripline.)", i, name)
				continue
			}
			if err := checkType(typ, flat[name]); err != nil {
				t.Errorf("event %d: field %s: %v", i, name, err)
			}
		}
	}
	// The finding events carry what DESIGN.md lists.
	for _, name := range []string{"event.severity", "rule.id", "rule.name", "threat.technique.id", "file.name", "file.directory",
		"file.type", "file.mode", "file.uid", "file.gid", "file.inode", "file.size", "file.created", "file.mtime", "file.ctime",
		"file.hash.sha256", "host.id", "tripline.previous.mode", "tripline.attribution", "tripline.compliance", "file.target_path", "process.pid",
		"process.executable", "process.name", "process.args", "process.command_line", "process.parent.pid",
		"process.parent.executable", "process.parent.args", "process.user.id", "user.id", "process.real_user.id",
		"process.group.id", "process.real_group.id", "process.working_directory", "process.parent.user.id", "process.parent.name",
		"container.id", "tripline.login_user.id", "tripline.session_id", "tripline.args_truncated", "event.created", "tripline.recorded",
		"package.name", "package.version", "package.type", "tripline.package.state", "tripline.package.detail"} {
		if !seen[name] {
			t.Errorf("no event carried %s", name)
		}
	}
}

// TestECSValues pins the values scripts and SIEM rules rely on.
func TestECSValues(t *testing.T) {
	var buf bytes.Buffer
	r := &Renderer{W: &buf, Format: ECS, Host: Host{Name: "h"}, Root: "/", Users: &baseline.Users{}}
	fs := sampleFindings(t)
	for i := range fs {
		if err := r.Finding(&fs[i], "scan"); err != nil {
			t.Fatal(err)
		}
	}
	dec := json.NewDecoder(&buf)
	type ev struct {
		Event struct {
			Kind     string   `json:"kind"`
			Type     []string `json:"type"`
			Severity int      `json:"severity"`
		} `json:"event"`
		Rule struct {
			ID string `json:"id"`
		} `json:"rule"`
		File struct {
			Path string `json:"path"`
			Mode string `json:"mode"`
		} `json:"file"`
		Tripline struct {
			Verdict  string         `json:"verdict"`
			Previous map[string]any `json:"previous"`
			Escaped  string         `json:"path_escaped"`
		} `json:"tripline"`
	}
	var got []ev
	for dec.More() {
		var e ev
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	want := []struct{ kind, typ, rule, mode, verdict string }{
		{"alert", "change", "exec-bit-set", "0755", "alert"},
		{"alert", "creation", "executable-created", "0755", "alert"},
		{"alert", "change", "setuid-set", "4755", "alert"},
		{"event", "change", "content-changed", "0644", "trusted"},
		{"alert", "deletion", "file-deleted", "0644", "alert"},
		{"alert", "change", "symlink-retargeted", "0777", "alert"},
		{"alert", "change", "world-writable", "0666", "alert"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Event.Kind != w.kind || g.Event.Type[0] != w.typ || g.Rule.ID != w.rule || g.File.Mode != w.mode || g.Tripline.Verdict != w.verdict {
			t.Errorf("event %d: got kind=%s type=%v rule=%s mode=%s verdict=%s, want %+v", i, g.Event.Kind, g.Event.Type, g.Rule.ID, g.File.Mode, g.Tripline.Verdict, w)
		}
	}
	if got[0].Tripline.Previous["mode"] != "0644" {
		t.Errorf("tripline.previous.mode = %v, want 0644", got[0].Tripline.Previous["mode"])
	}
	if got[2].Event.Severity != policy.SevCritical.Number() {
		t.Errorf("setuid severity %d, want %d", got[2].Event.Severity, policy.SevCritical.Number())
	}
	if got[6].Tripline.Escaped != `"/etc/cron.d/\xff\nodd"` {
		t.Errorf("path_escaped = %q", got[6].Tripline.Escaped)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 2045106412: "1.9 GiB", 5 << 40: "5.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestECSActorValues pins who is who: user.* is the acting (effective) user, process.real_user
// the real one, the login user goes under tripline, and an id that was not observed (-1) is
// left out rather than rendered.
func TestECSActorValues(t *testing.T) {
	var buf bytes.Buffer
	users := &baseline.Users{}
	r := &Renderer{W: &buf, Format: ECS, Host: Host{Name: "h"}, Root: "/", Users: users, HostUsers: users}
	fs := sampleFindings(t)
	p := &proc.Process{PID: 7, PPID: 1, Name: "chmod", Exe: "/usr/bin/chmod", Args: []string{"chmod", "+x", "f"},
		UID: 1000, EUID: 0, GID: 1000, EGID: -1, LoginUID: 1000, SessionID: -1}
	if err := r.FindingBy(&fs[0], "event", &proc.Actor{PID: 7, Attribution: proc.AttrKernel, Process: p}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	flat := map[string]any{}
	flatten("", doc, flat)
	for name, want := range map[string]any{"user.id": "0", "process.user.id": "0", "process.real_user.id": "1000",
		"process.real_group.id": "1000", "tripline.login_user.id": "1000", "tripline.attribution": "kernel"} {
		if flat[name] != want {
			t.Errorf("%s = %v, want %v", name, flat[name], want)
		}
	}
	for _, absent := range []string{"process.group.id", "tripline.session_id", "process.parent.pid", "container.id"} {
		if v, ok := flat[absent]; ok {
			t.Errorf("%s = %v: not observed, must be absent", absent, v)
		}
	}
}
