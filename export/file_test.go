package export

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFiles writes an export and its signature as files, reads and verifies them back, and
// diffs two of them as text.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	a := doc(File{Path: "/etc/a", Mode: "0644", Type: "file", SHA256: "x"}, File{Path: "/etc/gone", Mode: "0644", Type: "file"})
	b := doc(File{Path: "/etc/a", Mode: "0755", Type: "file", SHA256: "x"}, File{Path: "/etc/\ufffd", PathEscaped: `/etc/\xff`, Mode: "0600", Type: "file"})
	name := filepath.Join(dir, "a.json")
	var buf strings.Builder
	if err := Write(&buf, a, "json"); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(name, []byte(buf.String())); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(name); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("written: %v %v", st, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".a.json.*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	got, err := ReadFile(name)
	if err != nil || len(got.Files) != 2 {
		t.Fatalf("ReadFile: %v %+v", err, got)
	}
	if err := Write(&buf, a, "xml"); err == nil {
		t.Error("format xml was written")
	}
	os.WriteFile(filepath.Join(dir, "x.json"), []byte(`{"format":"x"}`), 0o644)
	if _, err := ReadFile(filepath.Join(dir, "x.json")); !errors.Is(err, ErrNotExport) || !strings.Contains(err.Error(), "x.json: ") {
		t.Errorf("not an export: %v", err)
	}

	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub.pem")
	if err := Keygen(priv, pub); err != nil {
		t.Fatal(err)
	}
	sk, err := LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(name)
	WriteFile(name+".sig", Sign(sk, data))
	if err := VerifyFile(pub, name, name+".sig"); err != nil {
		t.Errorf("good signature: %v", err)
	}
	os.WriteFile(name, append(data, ' '), 0o644)
	if err := VerifyFile(pub, name, name+".sig"); !errors.Is(err, ErrBadSignature) {
		t.Errorf("altered file: %v", err)
	}
	if err := VerifyFile(pub, name, filepath.Join(dir, "none.sig")); err == nil || errors.Is(err, ErrBadSignature) {
		t.Errorf("missing signature: %v, want the file's error", err)
	}

	var text strings.Builder
	WriteDiffText(&text, "a.json", "b.json", Diff(a, b))
	for _, want := range []string{"A: a.json (host unnamed, 2 files)\n", "only in A  0644 file /etc/gone\n", `only in B  0600 file /etc/\xff` + "\n",
		"differs    /etc/a: mode 0644 -> 0755\n", "1 only in A, 1 only in B, 1 differ.\n"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("diff text lacks %q:\n%s", want, text.String())
		}
	}
	text.Reset()
	WriteDiffText(&text, "a", "a", Diff(a, a))
	if !strings.HasSuffix(text.String(), "The exports agree on every path.\n") {
		t.Errorf("same exports:\n%s", text.String())
	}
}
