package export

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
)

func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub.pem")
	if err := Keygen(priv, pub); err != nil {
		t.Fatal(err)
	}
	if err := Keygen(priv, pub); !errors.Is(err, os.ErrExist) {
		t.Errorf("second Keygen: %v, want ErrExist (never overwrite a key)", err)
	}
	sk, err := LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(`{"format":"tripline-baseline"}` + "\n")
	sig := Sign(sk, data)
	if err := Verify(pk, data, sig); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x20
		if err := Verify(pk, bad, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if err := Verify(pk, data, sig[:10]); !errors.Is(err, ErrBadSignature) {
		t.Errorf("short signature: %v", err)
	}
	// Keys of the wrong kind or type are refused by name.
	if _, err := LoadPublicKey(priv); err == nil {
		t.Error("a private key loaded as a public one")
	}
	if _, err := LoadPrivateKey(pub); err == nil {
		t.Error("a public key loaded as a private one")
	}
	os.WriteFile(filepath.Join(dir, "junk"), []byte("not pem"), 0o600)
	if _, err := LoadPrivateKey(filepath.Join(dir, "junk")); err == nil {
		t.Error("junk loaded as a key")
	}
}

// A key made by OpenSSL signs exports tripline verifies, and the other way round.
func TestOpenSSLKeys(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		testenv.SkipOrFail(t, "openssl is not installed")
	}
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "o.key"), filepath.Join(dir, "o.pub")
	if out, err := exec.Command("openssl", "genpkey", "-algorithm", "ed25519", "-out", priv).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := exec.Command("openssl", "pkey", "-in", priv, "-pubout", "-out", pub).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	sk, err := LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	os.WriteFile(data, []byte("evidence\n"), 0o644)
	b, _ := os.ReadFile(data)
	os.WriteFile(data+".sig", Sign(sk, b), 0o644)
	if out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", data, "-sigfile", data+".sig").CombinedOutput(); err != nil {
		t.Fatalf("openssl refused tripline's signature: %v %s", err, out)
	}
	if out, err := exec.Command("openssl", "pkeyutl", "-sign", "-inkey", priv, "-rawin", "-in", data, "-out", data+".osig").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	osig, _ := os.ReadFile(data + ".osig")
	if err := Verify(pk, b, osig); err != nil {
		t.Errorf("tripline refused openssl's signature: %v", err)
	}
}

// WriteSignedFile signs the bytes it wrote, read back from the file (mapped), not a copy: the
// signature verifies over the file, an empty one included, and no temporary file is left.
func TestWriteSignedFile(t *testing.T) {
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, n := range []int{0, 1, 4096, 3<<20 + 17} {
		name := filepath.Join(dir, fmt.Sprintf("export-%d.html", n))
		content := make([]byte, n)
		rand.Read(content)
		if err := WriteSignedFile(name, sk, func(w io.Writer) error {
			_, err := w.Write(content)
			return err
		}); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := os.ReadFile(name)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%d bytes: the file holds %d bytes (%v)", n, len(got), err)
		}
		sig, err := os.ReadFile(name + ".sig")
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(sk.Public().(ed25519.PublicKey), content, sig); err != nil {
			t.Errorf("%d bytes: %v", n, err)
		}
		if len(content) > 0 {
			content[len(content)/2] ^= 1
			if Verify(sk.Public().(ed25519.PublicKey), content, sig) == nil {
				t.Errorf("%d bytes: the signature verifies over other bytes", n)
			}
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 8 {
		t.Errorf("%d files in the directory, want 4 exports and 4 signatures", len(ents))
	}
}
