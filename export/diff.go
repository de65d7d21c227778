package export

import "strconv"

// FieldDiff is one attribute that differs between two exports of a path.
type FieldDiff struct {
	Field string `json:"field"`
	A     string `json:"a"`
	B     string `json:"b"`
}

// FileDiff is a path in both exports whose attributes differ.
type FileDiff struct {
	Path   string      `json:"path"`
	Fields []FieldDiff `json:"fields"`
}

// DiffResult compares export A with export B: paths only in A (removed in B), only in B (added),
// and in both with different attributes. Times (birth, modified, changed, approved) are not
// compared: two hosts cloned from one image differ in them without differing in what they run.
type DiffResult struct {
	OnlyA   []File     `json:"only_in_a"`
	OnlyB   []File     `json:"only_in_b"`
	Differ  []FileDiff `json:"differ"`
	HostA   string     `json:"host_a"`
	HostB   string     `json:"host_b"`
	FilesA  int        `json:"files_a"`
	FilesB  int        `json:"files_b"`
	Compare []string   `json:"compared_fields"`
}

// compared are the attributes Diff looks at, in its output order.
var compared = []struct {
	name string
	get  func(*File) string
}{
	{"type", func(f *File) string { return f.Type }},
	{"mode", func(f *File) string { return f.Mode }},
	{"owner", func(f *File) string { return uidName(f.UID, f.Owner) }},
	{"group", func(f *File) string { return uidName(f.GID, f.Group) }},
	{"size", func(f *File) string { return strconv.FormatInt(f.Size, 10) }},
	{"sha256", func(f *File) string { return f.SHA256 }},
	{"target", func(f *File) string { return f.Target }},
	{"location", func(f *File) string { return f.Location }},
}

func uidName(id uint32, name string) string {
	if name == "" {
		return strconv.FormatInt(int64(id), 10)
	}
	return strconv.FormatInt(int64(id), 10) + " (" + name + ")"
}

// key identifies a path across exports: the escaped form when the path is not UTF-8 (JSON
// cannot hold it exactly), else the path.
func key(f *File) string {
	if f.PathEscaped != "" {
		return "\x00" + f.PathEscaped
	}
	return f.Path
}

// Diff compares two exports. Both list files in path order; the comparison is a merge.
func Diff(a, b *Document) *DiffResult {
	r := &DiffResult{OnlyA: []File{}, OnlyB: []File{}, Differ: []FileDiff{}, HostA: a.Header.Host, HostB: b.Header.Host,
		FilesA: len(a.Files), FilesB: len(b.Files)}
	for _, c := range compared {
		r.Compare = append(r.Compare, c.name)
	}
	ia := map[string]*File{}
	for i := range a.Files {
		ia[key(&a.Files[i])] = &a.Files[i]
	}
	seen := map[string]bool{}
	for i := range b.Files {
		fb := &b.Files[i]
		k := key(fb)
		seen[k] = true
		fa, ok := ia[k]
		if !ok {
			r.OnlyB = append(r.OnlyB, *fb)
			continue
		}
		var d []FieldDiff
		for _, c := range compared {
			if va, vb := c.get(fa), c.get(fb); va != vb {
				d = append(d, FieldDiff{Field: c.name, A: va, B: vb})
			}
		}
		if len(d) > 0 {
			r.Differ = append(r.Differ, FileDiff{Path: fb.Path, Fields: d})
		}
	}
	for i := range a.Files {
		if !seen[key(&a.Files[i])] {
			r.OnlyA = append(r.OnlyA, a.Files[i])
		}
	}
	return r
}
