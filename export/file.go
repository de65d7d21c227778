package export

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tripline/tripline/baseline"
)

// Write writes d to w in format: json, csv or html.
func Write(w io.Writer, d *Document, format string) error {
	switch format {
	case "json":
		return WriteJSON(w, d)
	case "csv":
		return WriteCSV(w, d)
	case "html":
		// The page groups the files by location: it needs them all.
		if err := d.loadFiles(); err != nil {
			return err
		}
		return WriteHTML(w, d)
	}
	return fmt.Errorf("export format %q: must be json, csv or html", format)
}

// WriteFile writes data to the file name (mode 0644) through a temporary file in the same
// directory and a rename, so a reader never sees half an export or half a signature.
func WriteFile(name string, data []byte) error {
	return WriteFileWith(name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileWith is WriteFile with the content written by write, streamed into the temporary
// file.
func WriteFileWith(name string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// ReadFile reads the JSON export in the file name. Its errors name the file; one that is not an
// export is ErrNotExport.
func ReadFile(name string) (*Document, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// VerifyFile checks that the signature in sigFile is pubFile's key's over the bytes of file. A
// signature that does not verify is ErrBadSignature; other errors are the files'.
func VerifyFile(pubFile, file, sigFile string) error {
	pk, err := LoadPublicKey(pubFile)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(sigFile)
	if err != nil {
		return err
	}
	return Verify(pk, data, sig)
}

// WriteDiffText writes r for people: a header naming the exports nameA and nameB, a line per
// path, and the counts.
func WriteDiffText(w io.Writer, nameA, nameB string, r *DiffResult) {
	host := func(h string) string {
		if h == "" {
			return "unnamed"
		}
		return h
	}
	fmt.Fprintf(w, "A: %s (host %s, %d files)\nB: %s (host %s, %d files)\n", nameA, host(r.HostA), r.FilesA, nameB, host(r.HostB), r.FilesB)
	for _, f := range r.OnlyA {
		fmt.Fprintf(w, "only in A  %s %s %s\n", f.Mode, f.Type, shownPath(&f))
	}
	for _, f := range r.OnlyB {
		fmt.Fprintf(w, "only in B  %s %s %s\n", f.Mode, f.Type, shownPath(&f))
	}
	for _, d := range r.Differ {
		var parts []string
		for _, fd := range d.Fields {
			parts = append(parts, fmt.Sprintf("%s %s -> %s", fd.Field, fd.A, fd.B))
		}
		fmt.Fprintf(w, "differs    %s: %s\n", baseline.QuotePath(d.Path), strings.Join(parts, ", "))
	}
	if len(r.OnlyA)+len(r.OnlyB)+len(r.Differ) == 0 {
		fmt.Fprintln(w, "The exports agree on every path.")
		return
	}
	fmt.Fprintf(w, "%d only in A, %d only in B, %d differ.\n", len(r.OnlyA), len(r.OnlyB), len(r.Differ))
}

func shownPath(f *File) string {
	if f.PathEscaped != "" {
		return f.PathEscaped
	}
	return baseline.QuotePath(f.Path)
}
