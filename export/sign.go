package export

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Signatures are Ed25519 over the exact bytes of the exported file (no hashing step, no
// envelope), written raw (64 bytes) to FILE.sig. Keys are PEM: the private key as PKCS #8
// ("PRIVATE KEY"), the public key as PKIX ("PUBLIC KEY"). That is what stock OpenSSL 3 reads, so
// an auditor can check an export without trusting tripline:
//
//	openssl pkeyutl -verify -pubin -inkey PUB.pem -rawin -in FILE -sigfile FILE.sig

// ErrBadSignature is returned by Verify when the signature does not match.
var ErrBadSignature = errors.New("signature does not verify: the file or the signature was altered, or another key signed it")

// Keygen writes a new key pair: priv (mode 0600, created exclusively: an existing key is never
// overwritten) and pub (0644).
func Keygen(priv, pub string) error {
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	skDER, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		return err
	}
	pkDER, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(priv, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("private key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: skDER}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	g, err := os.OpenFile(pub, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	if err := pem.Encode(g, &pem.Block{Type: "PUBLIC KEY", Bytes: pkDER}); err != nil {
		g.Close()
		return err
	}
	return g.Close()
}

func readPEM(file, want string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not a PEM file", file)
	}
	if blk.Type != want {
		return nil, fmt.Errorf("%s: a PEM %q block, want %q", file, blk.Type, want)
	}
	return blk.Bytes, nil
}

// LoadPrivateKey reads an Ed25519 private key written by Keygen (or by `openssl genpkey
// -algorithm ed25519`).
func LoadPrivateKey(file string) (ed25519.PrivateKey, error) {
	der, err := readPEM(file, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	sk, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T key, want Ed25519", file, k)
	}
	return sk, nil
}

// LoadPublicKey reads an Ed25519 public key (PEM "PUBLIC KEY").
func LoadPublicKey(file string) (ed25519.PublicKey, error) {
	der, err := readPEM(file, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	pk, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T key, want Ed25519", file, k)
	}
	return pk, nil
}

// Sign returns the signature of data.
func Sign(sk ed25519.PrivateKey, data []byte) []byte { return ed25519.Sign(sk, data) }

// Verify checks sig over data.
func Verify(pk ed25519.PublicKey, data, sig []byte) error {
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w (%d bytes, an Ed25519 signature has %d)", ErrBadSignature, len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pk, data, sig) {
		return ErrBadSignature
	}
	return nil
}
