package scan

import (
	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

// Resolved is one path a target of the policy resolves to under a root, for 'policy
// locations'. A target that matches nothing is one Resolved with its pattern's path, not
// existing.
type Resolved struct {
	Location  string `json:"location"`
	Category  string `json:"category"`
	Use       string `json:"use"`
	Pattern   string `json:"pattern"`
	Path      string `json:"path"`
	Kind      string `json:"kind"` // dir, file, or what exists there
	Recursive bool   `json:"recursive"`
	Exists    bool   `json:"exists"`
}

// Resolve expands the targets of pol under root (the host for ""), in the policy's order. With
// existing, targets that match nothing are left out.
func Resolve(pol *policy.Policy, root string, existing bool) ([]Resolved, error) {
	var out []Resolved
	for _, t := range pol.Targets() {
		loc := pol.Location(t.Location)
		want := "file"
		if t.Dir {
			want = "dir"
		}
		base := Resolved{Location: t.Location, Category: loc.Category, Use: string(loc.Use), Pattern: t.Pattern, Recursive: t.Recursive}
		found, err := baseline.Glob(root, t.Path)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 && !existing {
			r := base
			r.Path, r.Kind = t.Path, want
			out = append(out, r)
		}
		for _, f := range found {
			r := base
			r.Path, r.Kind, r.Exists = f.Path, string(f.Type), true
			if t.Dir && f.Type != baseline.TypeDir {
				r.Kind += " (not a directory: nothing below it is watched)"
			}
			out = append(out, r)
		}
	}
	return out, nil
}
