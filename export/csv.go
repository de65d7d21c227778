package export

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// CSVHeader is the CSV's one header row, in column order.
var CSVHeader = []string{"path", "path_escaped", "location", "category", "type", "mode", "mode_symbolic", "uid", "gid",
	"owner", "group", "size", "sha256", "hash_state", "birth", "modified", "changed", "target", "approved_at",
	"approved_by", "executable", "compliance", "package_name", "package_version", "package_type", "package_state"}

// WriteCSV writes one header row and one row per file, quoted per RFC 4180 (fields with a comma,
// a quote or a line break in double quotes, quotes doubled), so that a path holding any of them
// survives a spreadsheet. Lines end in LF, not RFC 4180's CRLF: Go's writer would turn a newline
// inside a path into CRLF too, altering it, and every spreadsheet and CSV library reads LF. Paths always begin with "/"; the other free
// text a host controls (symlink target, owner and group names, approver) is prefixed with "'"
// when it begins with a character a spreadsheet takes for a formula (= + - @ tab CR), so that a
// crafted name cannot run as one (OWASP's CSV injection advice). The JSON export is exact.
func WriteCSV(w io.Writer, d *Document) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	err := d.EachFile(func(f *File) error {
		rec := []string{f.Path, f.PathEscaped, f.Location, f.Category, f.Type, f.Mode, f.ModeSymbolic,
			strconv.FormatUint(uint64(f.UID), 10), strconv.FormatUint(uint64(f.GID), 10), inert(f.Owner), inert(f.Group),
			strconv.FormatInt(f.Size, 10), f.SHA256, f.HashState, f.Birth, f.Modified, f.Changed, inert(f.Target),
			f.ApprovedAt, inert(f.ApprovedBy), strconv.FormatBool(f.Executable), strings.Join(f.Compliance, "; "),
			inert(f.PackageName), inert(f.PackageVersion), f.PackageType, f.PackageState}
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// inert keeps a spreadsheet from reading s as a formula.
func inert(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
