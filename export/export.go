// Package export turns the approved baseline into evidence for auditors: a canonical JSON
// document (versioned, documented, signed with Ed25519 so stock OpenSSL can verify it), a CSV that
// opens cleanly in a spreadsheet, and a self-contained HTML page for people; and compares two
// exports.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

// FormatName and Version identify the JSON document. Version changes only when a field's meaning
// changes or a field is removed; new fields may appear in any version.
const (
	FormatName = "tripline-baseline"
	Version    = 1
)

// Document is an export: a header, the locations with their counts, every approved file, and
// what the latest approval changed.
type Document struct {
	Format    string     `json:"format"`  // FormatName
	Version   int        `json:"version"` // Version
	Header    Header     `json:"header"`
	Locations []Location `json:"locations"`
	Files     []File     `json:"files"`
	// Changes are the paths the most recent acceptance approved or removed from the baseline.
	Changes []Change `json:"changes_since_previous_approval"`

	spill *fileSpill // the files of a document built with Options.Stream (EachFile)
}

// Header says what was exported, from where, by which tripline and policy.
type Header struct {
	Host            string `json:"host"`
	MachineID       string `json:"machine_id"` // /etc/machine-id of the exported root; "" when absent
	TriplineVersion string `json:"tripline_version"`
	PolicySource    string `json:"policy_source"`
	PolicyDigest    string `json:"policy_digest"` // sha256 of the policy's sources
	Root            string `json:"root"`          // the tree the baseline describes
	ExportedAt      string `json:"exported_at"`   // RFC 3339, UTC
	BaselineAt      string `json:"baseline_created_at"`
	BaselineBy      string `json:"baseline_created_by"`
	LastApprovalAt  string `json:"last_approval_at,omitempty"`
	LastApprovalBy  string `json:"last_approval_by,omitempty"`
	Files           int    `json:"files"`
	Executables     int    `json:"executables_in_executed_locations"`
	// History is the change history behind this baseline: its length and the hash of its
	// newest row, the head of its tamper-evident chain.
	History store.HistoryHead `json:"history"`
}

// Location is one policy location and how many approved files it holds.
type Location struct {
	ID          string   `json:"id"`
	Category    string   `json:"category"`
	Use         string   `json:"use"` // executed, sourced, config
	Technique   string   `json:"technique,omitempty"`
	Compliance  []string `json:"compliance,omitempty"`
	Files       int      `json:"files"`
	Executables int      `json:"executables"` // regular files with an exec bit
}

// File is one approved path.
type File struct {
	Path string `json:"path"`
	// PathEscaped is the path with bytes that are not UTF-8 written as \xHH; set only then (Path
	// then holds U+FFFD in their place).
	PathEscaped  string   `json:"path_escaped,omitempty"`
	Location     string   `json:"location"`
	Category     string   `json:"category"`
	Type         string   `json:"type"`
	Mode         string   `json:"mode"`          // octal, "0755"
	ModeSymbolic string   `json:"mode_symbolic"` // "-rwxr-xr-x"
	UID          uint32   `json:"uid"`
	GID          uint32   `json:"gid"`
	Owner        string   `json:"owner"` // "" when the uid has no name in the exported root
	Group        string   `json:"group"`
	Size         int64    `json:"size"`
	SHA256       string   `json:"sha256"`     // "" when not hashed (see HashState)
	HashState    string   `json:"hash_state"` // ok, too-large, unreadable, not-regular...
	Birth        string   `json:"birth,omitempty"`
	Modified     string   `json:"modified"`
	Changed      string   `json:"changed"`
	Target       string   `json:"target,omitempty"` // symlink target
	ApprovedAt   string   `json:"approved_at"`
	ApprovedBy   string   `json:"approved_by"`
	Executable   bool     `json:"executable"` // a regular file with an exec bit in an executed location
	Compliance   []string `json:"compliance,omitempty"`
	// The package that owns the path and how the file compared with it when it was observed
	// (pkgdb): package_state is verified, modified, conffile-modified, no-digest or unowned; all
	// empty when no package database was read.
	PackageName    string `json:"package_name,omitempty"`
	PackageVersion string `json:"package_version,omitempty"`
	PackageType    string `json:"package_type,omitempty"`
	PackageState   string `json:"package_state,omitempty"`
}

// Change is one path the latest approval changed.
type Change struct {
	Path   string   `json:"path"`
	Action string   `json:"action"` // approved (added or changed) or removed
	At     string   `json:"at"`
	By     string   `json:"by"`
	What   []string `json:"what"` // "mode 0644 -> 0755", "new file", "content"...
}

// Options is what Build needs besides the database.
type Options struct {
	Host, MachineID, TriplineVersion string
	Users                            *baseline.Users // names of the exported root
	Now                              time.Time
	// Stream keeps the files on disk instead of in Files: read them with EachFile, write the
	// document with Write, and Close it.
	Stream bool
}

func ts(ns int64) string {
	if ns == 0 {
		return ""
	}
	return baseline.FormatTime(ns)
}

func escapedPath(p string) string {
	if utf8.ValidString(p) {
		return ""
	}
	return baseline.QuotePath(p)
}

// Build reads the baseline and the latest approval from db.
func Build(ctx context.Context, db *store.DB, pol *policy.Policy, o Options) (*Document, error) {
	doc := &Document{Format: FormatName, Version: Version, Files: []File{}, Changes: []Change{}}
	h := &doc.Header
	h.Host, h.MachineID, h.TriplineVersion = o.Host, o.MachineID, o.TriplineVersion
	h.PolicySource, h.PolicyDigest = pol.Source(), pol.Digest()
	h.ExportedAt = o.Now.UTC().Format(time.RFC3339)
	info, ok, err := db.BaselineInfo(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("no baseline yet: run 'tripline scan' first")
	}
	h.BaselineAt, h.BaselineBy, h.Root = ts(info.CreatedNS), info.CreatedBy, info.Root
	if h.History, err = db.Head(ctx); err != nil {
		return nil, err
	}
	locs := map[string]*Location{}
	var order []string
	for i := range pol.Locations {
		l := &pol.Locations[i]
		locs[l.ID] = &Location{ID: l.ID, Category: l.Category, Use: string(l.Use), Technique: l.Technique, Compliance: l.Compliance}
		order = append(order, l.ID)
	}
	users := o.Users
	if users == nil {
		users = &baseline.Users{}
	}
	if o.Stream {
		if doc.spill, err = newFileSpill(); err != nil {
			return nil, err
		}
	}
	ok = false
	defer func() {
		if !ok {
			doc.Close()
		}
	}()
	it, err := db.Baseline(ctx)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for {
		a, ok := it.Next()
		if !ok {
			break
		}
		e := &a.Entry
		f := File{Path: e.Path, PathEscaped: escapedPath(e.Path), Location: e.Location, Type: string(e.Type),
			Mode: baseline.ModeString(e.Mode), ModeSymbolic: baseline.SymbolicMode(e.Type, e.Mode), UID: e.UID, GID: e.GID,
			Owner: users.User(e.UID), Group: users.Group(e.GID), Size: e.Size, SHA256: e.SHA256, HashState: string(e.HashState),
			Birth: ts(e.BtimeNS), Modified: ts(e.MtimeNS), Changed: ts(e.CtimeNS), Target: e.Target,
			ApprovedAt: ts(a.ApprovedNS), ApprovedBy: a.ApprovedBy}
		if p := e.Package; p != nil {
			f.PackageName, f.PackageVersion, f.PackageType, f.PackageState = p.Name, p.Version, p.Type, string(p.State)
		}
		l := locs[e.Location]
		if l == nil {
			// A location the current policy no longer has: kept, and listed, so nothing the
			// baseline holds is left out of the evidence.
			l = &Location{ID: e.Location, Category: "unknown", Use: "unknown"}
			locs[e.Location] = l
			order = append(order, e.Location)
		}
		f.Category, f.Compliance = l.Category, l.Compliance
		l.Files++
		if e.Type == baseline.TypeFile && e.Mode&0o111 != 0 {
			l.Executables++
			if l.Use == string(policy.Executed) {
				f.Executable = true
				h.Executables++
			}
		}
		h.Files++
		if doc.spill != nil {
			if err := doc.spill.add(&f); err != nil {
				return nil, err
			}
			continue
		}
		doc.Files = append(doc.Files, f)
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	for _, id := range order {
		doc.Locations = append(doc.Locations, *locs[id])
	}
	approvals, err := db.LastApprovals(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range approvals {
		c := Change{Path: a.Path, Action: "approved", At: ts(a.TimeNS), By: a.By}
		h.LastApprovalAt, h.LastApprovalBy = c.At, c.By
		switch {
		case a.New == nil:
			c.Action, c.What = "removed", []string{"removed from the baseline"}
		case a.Old == nil:
			c.What = []string{"new " + string(a.New.Type) + " " + baseline.ModeString(a.New.Mode)}
		default:
			c.What = describe(a.Old, a.New)
		}
		doc.Changes = append(doc.Changes, c)
	}
	ok = true
	return doc, nil
}

// describe lists what differs between two entries, in words.
func describe(o, n *baseline.Entry) []string {
	var out []string
	if o.Type != n.Type {
		out = append(out, fmt.Sprintf("type %s -> %s", o.Type, n.Type))
	}
	if o.Mode != n.Mode {
		out = append(out, fmt.Sprintf("mode %s -> %s", baseline.ModeString(o.Mode), baseline.ModeString(n.Mode)))
	}
	if o.UID != n.UID || o.GID != n.GID {
		out = append(out, fmt.Sprintf("owner %d:%d -> %d:%d", o.UID, o.GID, n.UID, n.GID))
	}
	if o.SHA256 != n.SHA256 || o.Size != n.Size {
		out = append(out, fmt.Sprintf("content (size %d -> %d)", o.Size, n.Size))
	}
	if o.Target != n.Target {
		out = append(out, fmt.Sprintf("target %q -> %q", o.Target, n.Target))
	}
	if len(out) == 0 {
		out = append(out, "metadata (times or inode)")
	}
	return out
}

// WriteJSON writes the canonical form: indented, fields in declaration order, files in path
// byte order, one trailing newline. The same baseline exported twice differs only in
// exported_at.
func WriteJSON(w io.Writer, d *Document) error {
	if d.spill != nil {
		return writeJSONStream(w, d)
	}
	b, err := jsonIndent(d, "")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func jsonIndent(v any, prefix string) ([]byte, error) { return json.MarshalIndent(v, prefix, "  ") }

// ErrNotExport is wrapped by Read for input that is not a tripline baseline export.
var ErrNotExport = errors.New("not a tripline baseline export")

// Read parses a JSON export, refusing other documents and versions it does not know.
func Read(r io.Reader) (*Document, error) {
	var d Document
	dec := json.NewDecoder(r)
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotExport, err)
	}
	if d.Format != FormatName {
		return nil, fmt.Errorf("%w: format %q", ErrNotExport, d.Format)
	}
	if d.Version < 1 || d.Version > Version {
		return nil, fmt.Errorf("%w: version %d (this tripline reads 1 to %d)", ErrNotExport, d.Version, Version)
	}
	// Files are written in the byte order of their paths, but a path that is not UTF-8 is shown
	// with U+FFFD, which can move it: only uniqueness is checked.
	seen := make(map[string]bool, len(d.Files))
	for i := range d.Files {
		k := key(&d.Files[i])
		if seen[k] {
			return nil, fmt.Errorf("%w: %s is listed twice", ErrNotExport, baseline.QuotePath(d.Files[i].Path))
		}
		seen[k] = true
	}
	return &d, nil
}
