package pkgdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// An rpm package file is a lead (96 bytes), a signature header padded to 8 bytes, the main
// header, then the compressed payload. The main header is the one rpm adds to its database: it
// carries the same file names, modes and digests the database will record.
var (
	rpmLeadMagic   = []byte{0xed, 0xab, 0xee, 0xdb}
	rpmHeaderMagic = []byte{0x8e, 0xad, 0xe8, 0x01}
)

const (
	rpmLeadSize = 96
	// maxSigData bounds the signature header: rpm's own limit for it is 64 MiB (hdrblobRead).
	maxSigData = 64 << 20
)

// errNotRPM is returned for a file that does not start with the rpm lead.
var errNotRPM = errors.New("rpm package: no rpm lead")

// ParseRPMPackage reads the main header of an rpm package file (.rpm) from r: the lead, the
// signature header (skipped) and the main header, parsed as ParseRPMHeader does. The payload is
// not read. Sizes are checked before anything is allocated for them, and the buffers grow only
// with what r gives: a short or hostile file is an error, never a panic nor a large allocation.
func ParseRPMPackage(r io.Reader) (*RPMHeader, error) { return parseRPMPackage(r, nil) }

func parseRPMPackage(r io.Reader, keep *Filter) (*RPMHeader, error) {
	var lead [rpmLeadSize]byte
	if _, err := io.ReadFull(r, lead[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errNotRPM
		}
		return nil, fmt.Errorf("rpm package: lead: %w", err)
	}
	if !bytes.Equal(lead[:4], rpmLeadMagic) {
		return nil, errNotRPM
	}
	sig, err := readHeaderRecord(r, maxSigData)
	if err != nil {
		return nil, fmt.Errorf("rpm package: signature header: %w", err)
	}
	// The signature header (16 bytes of preamble, the index, the data) is padded to 8 bytes.
	if pad := (8 - (len(sig)+8)%8) % 8; pad > 0 {
		if _, err := io.CopyN(io.Discard, r, int64(pad)); err != nil {
			return nil, fmt.Errorf("rpm package: signature padding: %w", err)
		}
	}
	main, err := readHeaderRecord(r, maxHeaderData)
	if err != nil {
		return nil, fmt.Errorf("rpm package: main header: %w", err)
	}
	return parseRPMHeader(main, keep)
}

// readHeaderRecord reads a header as a package file stores it (magic, 4 reserved bytes, entry
// count, data size, index, data) and returns it as the database stores it: from the entry count
// on.
func readHeaderRecord(r io.Reader, maxData uint32) ([]byte, error) {
	var pre [16]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, err
	}
	if !bytes.Equal(pre[:4], rpmHeaderMagic) {
		return nil, errors.New("no header magic")
	}
	il, dl := binary.BigEndian.Uint32(pre[8:]), binary.BigEndian.Uint32(pre[12:])
	if il == 0 || il > maxHeaderEntries || dl > maxData {
		return nil, fmt.Errorf("%d entries, %d data bytes: out of bounds", il, dl)
	}
	var b bytes.Buffer
	b.Write(pre[8:16])
	n := int64(il)*16 + int64(dl)
	if got, err := io.CopyN(&b, r, n); err != nil {
		return nil, fmt.Errorf("%d of %d bytes: %w", got, n, err)
	}
	return b.Bytes(), nil
}
