package report

import (
	"path"
	"strconv"
	"strings"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/scan"
)

// ECSVersion is the version of the Elastic Common Schema the events follow.
const ECSVersion = "9.5.0"

// obj is one level of an ECS document.
type obj = map[string]any

func (r *Renderer) ecsBase(kind string, action string) obj {
	ev := obj{
		"@timestamp": r.now().UTC().Format("2006-01-02T15:04:05.000000000Z07:00"),
		"ecs":        obj{"version": ECSVersion},
		"event": obj{
			"kind":     kind,
			"category": []string{"file"},
			"module":   "tripline",
			"dataset":  "tripline.file",
			"action":   action,
		},
		"host":     obj{"name": r.Host.Name},
		"observer": obj{"type": "file-integrity", "vendor": "tripline", "product": "tripline"},
		"tripline": obj{"root": r.Root},
	}
	if r.Host.ID != "" {
		ev["host"].(obj)["id"] = r.Host.ID
	}
	return ev
}

// ecsFile renders an Entry as ECS file.* fields.
func (r *Renderer) ecsFile(e *baseline.Entry) obj {
	f := obj{
		"path":      e.Path,
		"name":      path.Base(e.Path),
		"directory": path.Dir(e.Path),
		"type":      string(e.Type),
		"mode":      baseline.ModeString(e.Mode),
		"uid":       strconv.FormatUint(uint64(e.UID), 10),
		"gid":       strconv.FormatUint(uint64(e.GID), 10),
		"inode":     strconv.FormatUint(e.Inode, 10),
		"device":    strconv.FormatUint(e.Dev, 10),
		"size":      e.Size,
		"mtime":     ts(e.MtimeNS),
		"ctime":     ts(e.CtimeNS),
	}
	if ext := path.Ext(e.Path); ext != "" && len(ext) > 1 {
		f["extension"] = ext[1:]
	}
	if n := r.Users.User(e.UID); n != "" {
		f["owner"] = n
	}
	if n := r.Users.Group(e.GID); n != "" {
		f["group"] = n
	}
	if e.BtimeNS != 0 {
		f["created"] = ts(e.BtimeNS)
	}
	if e.SHA256 != "" {
		f["hash"] = obj{"sha256": e.SHA256}
	}
	if e.Type == baseline.TypeSymlink {
		f["target_path"] = e.Target
	}
	return f
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

// ecsPackage adds what the package database says of e: ECS package.name, package.version and
// package.type when a package owns it, and tripline.package (state, detail) whenever a package
// database was read.
func ecsPackage(ev obj, e *baseline.Entry) {
	p := e.Package
	if p == nil {
		return
	}
	if p.Owned() {
		ev["package"] = obj{"name": p.Name, "version": p.Version, "type": p.Type}
	}
	tp := obj{"state": string(p.State)}
	if p.Detail != "" {
		tp["detail"] = p.Detail
	}
	ev["tripline"].(obj)["package"] = tp
}

func (r *Renderer) ecsFinding(f *policy.Finding, source string, a *proc.Actor) obj {
	c := &f.Change
	kind := "event"
	if f.Alerting() {
		kind = "alert"
	}
	ev := r.ecsBase(kind, f.Rule())
	event := ev["event"].(obj)
	event["type"] = []string{ecsEventType(c.Kind)}
	event["severity"] = f.Severity.Number()
	event["risk_score"] = float64(f.Severity.Number())
	reasons := make([]string, len(f.Hits))
	rules := make([]string, len(f.Hits))
	for i, h := range f.Hits {
		reasons[i], rules[i] = h.Reason, h.Rule
	}
	event["reason"] = strings.Join(reasons, "; ")
	ev["rule"] = obj{"id": f.Rule(), "name": policy.RuleName(f.Rule()), "ruleset": "tripline", "category": f.Location.Category}
	if f.Location.Technique != "" {
		ev["threat"] = obj{"framework": "MITRE ATT&CK", "technique": obj{"id": []string{f.Location.Technique}}}
	}
	ev["file"] = r.ecsFile(c.Entry())
	ecsPackage(ev, c.Entry())
	tl := ev["tripline"].(obj)
	tl["source"] = source
	tl["kind"] = string(c.Kind)
	tl["severity"] = f.Severity.String()
	tl["verdict"] = string(f.Verdict)
	if f.Why != "" {
		tl["why"] = f.Why
	}
	tl["rules"] = rules
	tl["flags"] = nonNil(c.Flags.Names())
	tl["location"] = obj{"id": f.Location.ID, "category": f.Location.Category, "use": string(f.Location.Use)}
	if len(f.Location.Compliance) > 0 {
		tl["compliance"] = f.Location.Compliance
	}
	if f.HistoryHash != "" {
		// A copy of the chain off the host: editing the history later breaks it against these.
		tl["history"] = obj{"id": f.HistoryID, "hash": f.HistoryHash}
	}
	tl["attribution"] = a.Attribution
	if a.Why != "" {
		tl["attribution_why"] = a.Why
	}
	if a.PID != 0 {
		ev["process"] = obj{"pid": a.PID}
	}
	if p := a.Process; p != nil {
		pr := ev["process"].(obj)
		r.ecsProcess(pr, p)
		if p.Cwd != "" {
			pr["working_directory"] = p.Cwd
		}
		if p.EUID >= 0 {
			pr["user"] = r.hostUser(p.EUID)
		}
		if p.UID >= 0 {
			pr["real_user"] = r.hostUser(p.UID)
		}
		if p.EGID >= 0 {
			pr["group"] = r.hostGroup(p.EGID)
		}
		if p.GID >= 0 {
			pr["real_group"] = r.hostGroup(p.GID)
		}
		// The acting user: the effective uid where it was observed, else the real one.
		switch {
		case p.EUID >= 0:
			ev["user"] = r.hostUser(p.EUID)
		case p.UID >= 0:
			ev["user"] = r.hostUser(p.UID)
		}
		// ECS has no field for the audit login uid (the user who logged in, kept across su and
		// sudo): it goes under tripline.
		if p.LoginUID >= 0 {
			tl["login_user"] = r.hostUser(p.LoginUID)
		}
		if p.SessionID >= 0 {
			tl["session_id"] = p.SessionID
		}
		if p.ContainerID != "" {
			ev["container"] = obj{"id": p.ContainerID}
		}
		if p.ArgsTruncated {
			tl["args_truncated"] = true
		}
		if par := a.Parent(); par != nil {
			pp := obj{}
			r.ecsProcess(pp, par)
			if par.EUID >= 0 {
				pp["user"] = r.hostUser(par.EUID)
			} else if par.UID >= 0 {
				pp["user"] = r.hostUser(par.UID)
			}
			pr["parent"] = pp
		}
	}
	if p := escaped(c.Path); p != "" {
		tl["path_escaped"] = p
	}
	if c.Old != nil && c.New != nil {
		tl["previous"] = r.previous(c.Old)
	}
	ev["message"] = r.message(f)
	return ev
}

// ecsProcess fills the fields process and process.parent share.
func (r *Renderer) ecsProcess(pr obj, p *proc.Process) {
	pr["pid"] = p.PID
	if p.Name != "" {
		pr["name"] = p.Name
	}
	if p.Exe != "" {
		pr["executable"] = p.Exe
	}
	if len(p.Args) > 0 {
		pr["args"] = p.Args
		pr["args_count"] = len(p.Args)
		pr["command_line"] = strings.Join(p.Args, " ")
	}
}

// hostGroup renders a gid of this host as ECS group fields.
func (r *Renderer) hostGroup(gid int32) obj {
	g := obj{"id": strconv.FormatInt(int64(gid), 10)}
	if n := r.HostUsers.Group(uint32(gid)); n != "" {
		g["name"] = n
	}
	return g
}

// hostUser renders a uid of this host as ECS user fields.
func (r *Renderer) hostUser(uid int32) obj {
	u := obj{"id": strconv.FormatInt(int64(uid), 10)}
	if n := r.HostUsers.User(uint32(uid)); n != "" {
		u["name"] = n
	}
	return u
}

// previous carries the before-values of a modification under tripline.previous.
func (r *Renderer) previous(e *baseline.Entry) obj {
	p := obj{
		"type":    string(e.Type),
		"mode":    baseline.ModeString(e.Mode),
		"uid":     strconv.FormatUint(uint64(e.UID), 10),
		"gid":     strconv.FormatUint(uint64(e.GID), 10),
		"size":    e.Size,
		"mtime":   ts(e.MtimeNS),
		"inode":   strconv.FormatUint(e.Inode, 10),
		"sha256":  e.SHA256,
		"target":  e.Target,
		"hash_ok": e.HashState == baseline.HashOK,
	}
	return p
}

func (r *Renderer) message(f *policy.Finding) string {
	what, detail := What(f)
	msg := policy.RuleName(f.Rule()) + ": " + baseline.QuotePath(f.Change.Path) + " " + what
	if detail != "" {
		msg += " (" + detail + ")"
	}
	return msg
}

func (r *Renderer) ecsNotable(n *scan.Notable) obj {
	ev := r.ecsBase("event", "inventory")
	ev["event"].(obj)["type"] = []string{"info"}
	ev["event"].(obj)["reason"] = strings.Join(n.Why, "; ")
	ev["file"] = r.ecsFile(&n.Entry)
	ecsPackage(ev, &n.Entry)
	tl := ev["tripline"].(obj)
	tl["source"] = "scan"
	tl["location"] = obj{"id": n.Location}
	tl["notable"] = n.Why
	ev["message"] = "Worth a look on first scan: " + baseline.QuotePath(n.Entry.Path) + ": " + strings.Join(n.Why, "; ")
	return ev
}

func (r *Renderer) ecsError(e ErrorJSON) obj {
	ev := r.ecsBase("event", "observe-failed")
	event := ev["event"].(obj)
	event["type"] = []string{"info"}
	event["outcome"] = "failure"
	ev["error"] = obj{"message": e.Error}
	if e.Path != "" {
		ev["file"] = obj{"path": e.Path}
	}
	ev["message"] = e.Error
	return ev
}
