package export

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

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
	return writeFileThen(name, write, nil)
}

// WriteSignedFile is WriteFileWith that also writes name.sig, sk's Ed25519 signature over the
// bytes written. Ed25519 reads its message twice (once for the nonce, once for the challenge)
// and Go's takes it as one slice: rather than hold the export in memory, the signature is made
// over the temporary file mapped read-only, before it is renamed into place. Its pages are
// the page cache's, which the kernel can drop, not the heap's. The signature is still over the
// exact bytes, so stock 'openssl pkeyutl -verify -rawin' checks it.
func WriteSignedFile(name string, sk ed25519.PrivateKey, write func(io.Writer) error) error {
	var sig []byte
	err := writeFileThen(name, write, func(f *os.File) error {
		var err error
		sig, err = signMapped(sk, f)
		return err
	})
	if err != nil {
		return err
	}
	return WriteFile(name+".sig", sig)
}

// signMapped signs the content of f, mapped read-only.
func signMapped(sk ed25519.PrivateKey, f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return Sign(sk, nil), nil
	}
	if int64(int(st.Size())) != st.Size() {
		return nil, fmt.Errorf("%s: too large to sign here (%d bytes)", f.Name(), st.Size())
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		// A filesystem that cannot map files (some FUSE ones): sign a copy read into memory.
		data := make([]byte, st.Size())
		if _, rerr := f.ReadAt(data, 0); rerr != nil {
			return nil, fmt.Errorf("%s: read back for signing: %w (mapping it failed too: %v)", f.Name(), rerr, err)
		}
		return Sign(sk, data), nil
	}
	defer unix.Munmap(b)
	unix.Madvise(b, unix.MADV_SEQUENTIAL)
	return Sign(sk, b), nil
}

// writeFileThen writes the temporary file with write, syncs it, calls then (when not nil) with
// it, and renames it to name.
func writeFileThen(name string, write func(io.Writer) error, then func(*os.File) error) error {
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
	if then != nil {
		if err := then(f); err != nil {
			f.Close()
			return err
		}
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
