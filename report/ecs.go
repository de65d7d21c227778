package report

import (
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/scan"
)

// ECSVersion is the version of the Elastic Common Schema the events follow.
const ECSVersion = "9.5.0"

// The ECS documents are written straight into a buffer, each object's keys in sorted order as
// encoding/json writes a map's (TestECSCanonical re-encodes every kind of document and finds it
// unchanged). The daemon renders one per event: building them as nested maps and sorting their
// keys was 170 allocations and a seventh of the daemon's CPU per event.

// jw appends one JSON object's members; the caller writes them in sorted key order. Keys are
// constants that need no escaping.
type jw struct {
	b     []byte
	comma bool // a member was written in the innermost open object
}

func (w *jw) key(k string) {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
	w.comma = true
}

func (w *jw) open(k string) {
	w.key(k)
	w.b = append(w.b, '{')
	w.comma = false
}

func (w *jw) close() {
	w.b = append(w.b, '}')
	w.comma = true
}

func (w *jw) str(k, v string) {
	w.key(k)
	w.b = AppendJSONString(w.b, v)
}

func (w *jw) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

// istr writes a number as a string, as ECS keeps ids.
func (w *jw) istr(k string, v int64) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = strconv.AppendInt(w.b, v, 10)
	w.b = append(w.b, '"')
}

// ustr writes an unsigned number as a string, as ECS keeps ids and inodes.
func (w *jw) ustr(k string, v uint64) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = strconv.AppendUint(w.b, v, 10)
	w.b = append(w.b, '"')
}

func (w *jw) boolean(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

// strs writes a string array; nil is null, as encoding/json writes it.
func (w *jw) strs(k string, v []string) {
	w.key(k)
	if v == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, '[')
	for i, s := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = AppendJSONString(w.b, s)
	}
	w.b = append(w.b, ']')
}

// time writes a wall-clock time in nanoseconds as @timestamp and event.created are written.
func (w *jw) time(k string, t time.Time) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = t.UTC().AppendFormat(w.b, "2006-01-02T15:04:05.000000000Z07:00")
	w.b = append(w.b, '"')
}

// ecsEvent is what a document's event object says beyond what every one says.
type ecsEvent struct {
	kind, action, typ string
	created           int64  // event.created, when not 0
	outcome           string // event.outcome, when not ""
	reason            *string
	severity          int // event.severity and risk_score, when >= 0
}

// ecsHead writes the members every document begins with: @timestamp, container (when not ""),
// ecs, what errorObj writes ("error" sorts between "ecs" and "event"), event.
func (r *Renderer) ecsHead(w *jw, container string, errorObj func(*jw), ev ecsEvent) {
	w.time("@timestamp", r.now())
	if container != "" {
		w.open("container")
		w.str("id", container)
		w.close()
	}
	w.open("ecs")
	w.str("version", ECSVersion)
	w.close()
	if errorObj != nil {
		errorObj(w)
	}
	w.open("event")
	w.str("action", ev.action)
	w.key("category")
	w.b = append(w.b, `["file"]`...)
	if ev.created != 0 {
		w.time("created", time.Unix(0, ev.created))
	}
	w.str("dataset", "tripline.file")
	w.str("kind", ev.kind)
	w.str("module", "tripline")
	if ev.outcome != "" {
		w.str("outcome", ev.outcome)
	}
	if ev.reason != nil {
		w.str("reason", *ev.reason)
	}
	if ev.severity >= 0 {
		w.key("risk_score")
		w.b = strconv.AppendFloat(w.b, float64(ev.severity), 'f', -1, 64)
		w.int("severity", int64(ev.severity))
	}
	w.key("type")
	w.b = append(w.b, '[')
	w.b = AppendJSONString(w.b, ev.typ)
	w.b = append(w.b, ']')
	w.close()
}

func (r *Renderer) ecsHost(w *jw) {
	w.open("host")
	if r.Host.ID != "" {
		w.str("id", r.Host.ID)
	}
	w.str("name", r.Host.Name)
	w.close()
}

func ecsObserver(w *jw) {
	w.open("observer")
	w.str("product", "tripline")
	w.str("type", "file-integrity")
	w.str("vendor", "tripline")
	w.close()
}

// ecsFile writes an Entry as ECS file.* fields.
func (r *Renderer) ecsFile(w *jw, e *baseline.Entry) {
	w.open("file")
	if e.BtimeNS != 0 {
		w.str("created", ts(e.BtimeNS))
	}
	w.str("ctime", ts(e.CtimeNS))
	w.ustr("device", e.Dev)
	w.str("directory", path.Dir(e.Path))
	if ext := path.Ext(e.Path); len(ext) > 1 {
		w.str("extension", ext[1:])
	}
	w.ustr("gid", uint64(e.GID))
	if n := r.Users.Group(e.GID); n != "" {
		w.str("group", n)
	}
	if e.SHA256 != "" {
		w.open("hash")
		w.str("sha256", e.SHA256)
		w.close()
	}
	w.ustr("inode", e.Inode)
	w.str("mode", baseline.ModeString(e.Mode))
	w.str("mtime", ts(e.MtimeNS))
	w.str("name", path.Base(e.Path))
	if n := r.Users.User(e.UID); n != "" {
		w.str("owner", n)
	}
	w.str("path", e.Path)
	w.int("size", e.Size)
	if e.Type == baseline.TypeSymlink {
		w.str("target_path", e.Target)
	}
	w.str("type", string(e.Type))
	w.ustr("uid", uint64(e.UID))
	w.close()
}

func ecsEventType(k baseline.Kind) string {
	switch k {
	case baseline.Created:
		return "creation"
	case baseline.Deleted:
		return "deletion"
	case baseline.Present:
		return "info"
	}
	return "change"
}

// ecsPackage writes ECS package.name, package.version and package.type when a package owns e.
func ecsPackage(w *jw, e *baseline.Entry) {
	if p := e.Package; p.Owned() {
		w.open("package")
		w.str("name", p.Name)
		w.str("type", p.Type)
		w.str("version", p.Version)
		w.close()
	}
}

// ecsTriplinePackage writes tripline.package (state, detail) whenever a package database was read.
func ecsTriplinePackage(w *jw, e *baseline.Entry) {
	if p := e.Package; p != nil {
		w.open("package")
		if p.Detail != "" {
			w.str("detail", p.Detail)
		}
		w.str("state", string(p.State))
		w.close()
	}
}

// ecsFinding appends the ECS document of a finding; ev adds what the daemon knows of its event
// (tripline.recorded, event.created).
func (r *Renderer) ecsFinding(b []byte, f *policy.Finding, source string, a *proc.Actor, ev *EventInfo) []byte {
	c := &f.Change
	e := c.Entry()
	p := a.Process
	kind := "event"
	if f.Alerting() {
		kind = "alert"
	}
	var reason strings.Builder
	for i, h := range f.Hits {
		if i > 0 {
			reason.WriteString("; ")
		}
		reason.WriteString(h.Reason)
	}
	var created int64
	if ev != nil {
		created = ev.ReadNS
	}
	container := ""
	if p != nil {
		container = p.ContainerID
	}
	why := reason.String()
	w := &jw{b: append(b, '{')}
	r.ecsHead(w, container, nil, ecsEvent{kind: kind, action: f.Rule(), typ: ecsEventType(c.Kind), created: created, reason: &why, severity: f.Severity.Number()})
	r.ecsFile(w, e)
	r.ecsHost(w)
	w.str("message", r.message(f))
	ecsObserver(w)
	ecsPackage(w, e)
	if a.PID != 0 || p != nil {
		r.ecsProcess(w, a)
	}
	w.open("rule")
	w.str("category", f.Location.Category)
	w.str("id", f.Rule())
	w.str("name", policy.RuleName(f.Rule()))
	w.str("ruleset", "tripline")
	w.close()
	if f.Location.Technique != "" {
		w.open("threat")
		w.str("framework", "MITRE ATT&CK")
		w.open("technique")
		w.strs("id", []string{f.Location.Technique})
		w.close()
		w.close()
	}
	w.open("tripline")
	if p != nil && p.ArgsTruncated {
		w.boolean("args_truncated", true)
	}
	w.str("attribution", string(a.Attribution))
	if a.Why != "" {
		w.str("attribution_why", a.Why)
	}
	if len(f.Location.Compliance) > 0 {
		w.strs("compliance", f.Location.Compliance)
	}
	w.strs("flags", nonNil(c.Flags.Names()))
	if f.HistoryHash != "" {
		// A copy of the chain off the host: editing the history later breaks it against these.
		w.open("history")
		w.str("hash", f.HistoryHash)
		w.int("id", f.HistoryID)
		w.close()
	}
	w.str("kind", string(c.Kind))
	w.open("location")
	w.str("category", f.Location.Category)
	w.str("id", f.Location.ID)
	w.str("use", string(f.Location.Use))
	w.close()
	// ECS has no field for the audit login uid (the user who logged in, kept across su and
	// sudo): it goes under tripline.
	if p != nil && p.LoginUID >= 0 {
		r.hostUser(w, "login_user", p.LoginUID)
	}
	ecsTriplinePackage(w, e)
	if pe := escaped(c.Path); pe != "" {
		w.str("path_escaped", pe)
	}
	if c.Old != nil && c.New != nil {
		previous(w, c.Old)
	}
	if ev != nil {
		w.boolean("recorded", !ev.Unrecorded)
	}
	w.str("root", r.Root)
	rules := make([]string, len(f.Hits))
	for i, h := range f.Hits {
		rules[i] = h.Rule
	}
	w.strs("rules", rules)
	if p != nil && p.SessionID >= 0 {
		w.int("session_id", int64(p.SessionID))
	}
	w.str("severity", f.Severity.String())
	w.str("source", source)
	w.str("verdict", string(f.Verdict))
	if f.Why != "" {
		w.str("why", f.Why)
	}
	w.close()
	// The acting user: the effective uid where it was observed, else the real one.
	if p != nil {
		switch {
		case p.EUID >= 0:
			r.hostUser(w, "user", p.EUID)
		case p.UID >= 0:
			r.hostUser(w, "user", p.UID)
		}
	}
	return append(w.b, '}')
}

// ecsProcess writes ECS process.*: the acting process, its ids and its parent.
func (r *Renderer) ecsProcess(w *jw, a *proc.Actor) {
	p := a.Process
	w.open("process")
	if p == nil {
		w.int("pid", int64(a.PID))
		w.close()
		return
	}
	processArgs(w, p)
	if p.EGID >= 0 {
		r.hostGroup(w, "group", p.EGID)
	}
	if p.Name != "" {
		w.str("name", p.Name)
	}
	if par := a.Parent(); par != nil {
		w.open("parent")
		processArgs(w, par)
		if par.Name != "" {
			w.str("name", par.Name)
		}
		w.int("pid", int64(par.PID))
		if par.EUID >= 0 {
			r.hostUser(w, "user", par.EUID)
		} else if par.UID >= 0 {
			r.hostUser(w, "user", par.UID)
		}
		w.close()
	}
	w.int("pid", int64(p.PID))
	if p.GID >= 0 {
		r.hostGroup(w, "real_group", p.GID)
	}
	if p.UID >= 0 {
		r.hostUser(w, "real_user", p.UID)
	}
	if p.EUID >= 0 {
		r.hostUser(w, "user", p.EUID)
	}
	if p.Cwd != "" {
		w.str("working_directory", p.Cwd)
	}
	w.close()
}

// processArgs writes the fields process and process.parent share before "group" and "name":
// args, args_count, command_line, executable.
func processArgs(w *jw, p *proc.Process) {
	if len(p.Args) > 0 {
		w.strs("args", p.Args)
		w.int("args_count", int64(len(p.Args)))
		w.str("command_line", strings.Join(p.Args, " "))
	}
	if p.Exe != "" {
		w.str("executable", p.Exe)
	}
}

// hostGroup writes a gid of this host as ECS group fields.
func (r *Renderer) hostGroup(w *jw, k string, gid int32) {
	w.open(k)
	w.istr("id", int64(gid))
	if n := r.HostUsers.Group(uint32(gid)); n != "" {
		w.str("name", n)
	}
	w.close()
}

// hostUser writes a uid of this host as ECS user fields.
func (r *Renderer) hostUser(w *jw, k string, uid int32) {
	w.open(k)
	w.istr("id", int64(uid))
	if n := r.HostUsers.User(uint32(uid)); n != "" {
		w.str("name", n)
	}
	w.close()
}

// previous writes the before-values of a modification as tripline.previous.
func previous(w *jw, e *baseline.Entry) {
	w.open("previous")
	w.ustr("gid", uint64(e.GID))
	w.boolean("hash_ok", e.HashState == baseline.HashOK)
	w.ustr("inode", e.Inode)
	w.str("mode", baseline.ModeString(e.Mode))
	w.str("mtime", ts(e.MtimeNS))
	w.str("sha256", e.SHA256)
	w.int("size", e.Size)
	w.str("target", e.Target)
	w.str("type", string(e.Type))
	w.ustr("uid", uint64(e.UID))
	w.close()
}

func (r *Renderer) message(f *policy.Finding) string {
	what, detail := What(f)
	msg := policy.RuleName(f.Rule()) + ": " + baseline.QuotePath(f.Change.Path) + " " + what
	if detail != "" {
		msg += " (" + detail + ")"
	}
	return msg
}

// ecsNotable appends the ECS document of what a first scan found worth a look.
func (r *Renderer) ecsNotable(b []byte, n *scan.Notable) []byte {
	why := strings.Join(n.Why, "; ")
	w := &jw{b: append(b, '{')}
	r.ecsHead(w, "", nil, ecsEvent{kind: "event", action: "inventory", typ: "info", reason: &why, severity: -1})
	r.ecsFile(w, &n.Entry)
	r.ecsHost(w)
	w.str("message", "Worth a look on first scan: "+baseline.QuotePath(n.Entry.Path)+": "+strings.Join(n.Why, "; "))
	ecsObserver(w)
	ecsPackage(w, &n.Entry)
	w.open("tripline")
	w.open("location")
	w.str("id", n.Location)
	w.close()
	w.strs("notable", n.Why)
	ecsTriplinePackage(w, &n.Entry)
	w.str("root", r.Root)
	w.str("source", "scan")
	w.close()
	return append(w.b, '}')
}

// ecsError appends the ECS document of a path that could not be observed.
func (r *Renderer) ecsError(b []byte, e ErrorJSON) []byte {
	w := &jw{b: append(b, '{')}
	r.ecsHead(w, "", func(w *jw) {
		w.open("error")
		w.str("message", e.Error)
		w.close()
	}, ecsEvent{kind: "event", action: "observe-failed", typ: "info", outcome: "failure", severity: -1})
	if e.Path != "" {
		w.open("file")
		w.str("path", e.Path)
		w.close()
	}
	r.ecsHost(w)
	w.str("message", e.Error)
	ecsObserver(w)
	w.open("tripline")
	w.str("root", r.Root)
	w.close()
	return append(w.b, '}')
}
