package scan

import (
	"context"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/pkgdb"
)

// loadPackages takes the package index for this run (read again only when the package database
// changed). What it could not read is a note: those paths get no package, never "unowned".
func (r *run) loadPackages(ctx context.Context) {
	if r.o.Packages == nil {
		return
	}
	ix, err := r.o.Packages.Index(ctx)
	r.pkgs = ix
	if !ix.Empty() || len(ix.Gaps) > 0 {
		// A root without any package database (a container image, a test tree) says nothing.
		r.res.Packages = ix.Summary()
	}
	if err != nil {
		r.res.Notes = append(r.res.Notes, "package database partly unreadable: "+oneLine(err.Error()))
	}
	for _, g := range ix.Gaps {
		r.res.Notes = append(r.res.Notes, "package database not read: "+g.String())
	}
}

// verify sets e's package from the index, once. It reads the file again only for a package file
// whose package recorded an md5 (dpkg): the walk's sha256 serves rpm.
func (r *run) verify(e *baseline.Entry) {
	if r.pkgs == nil || e.Package != nil || e.Location == "" {
		return
	}
	e.Package = r.pkgs.Verify(e, pkgdb.ContentReader(r.root))
}

// present adds the finding of what e is, when there is no change to report: a package file
// that differs from its package, an unowned executable where files are executed. Every scan
// reports it, the first included.
func (r *run) present(e *baseline.Entry) {
	if r.o.ChangesOnly || e.Package == nil {
		return
	}
	if f, ok := r.o.Policy.EvaluatePresent(e, journal.LocationOf(r.o.Policy, e)); ok {
		r.res.Findings.add(f)
	}
}

func oneLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i] + " ..."
		}
	}
	return s
}
