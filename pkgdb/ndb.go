package pkgdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"sort"
)

// A read-only reader of rpm's own "ndb" package database, Packages.db (rpm 4.15 on; openSUSE and
// SLES 15 use it), written from its layout as rpm's lib/backend/ndb/rpmpkg.c writes it. All of
// its numbers are little-endian 32-bit words, on every architecture.
//
//   - The file is made of 16-byte blocks. The first ndbSlotPages 4096-byte pages are slot pages.
//   - The first 32 bytes of page 0 are the database header: magic "RpmP", format version 0, a
//     generation counter, the number of slot pages, and the next package index to hand out.
//   - The rest of the slot pages are 16-byte slots: magic "Slot", the package index (rpm's
//     header number), the blob's first block, and its length in blocks. A slot whose block
//     offset is 0 is free.
//   - A blob is a 16-byte head (magic "BlbS", the package index, a timestamp, the blob's
//     length), the header blob itself, zero padding to a whole block, and a 12-byte tail (the
//     Adler-32 of head, blob and padding; the length again; magic "BlbE").
//
// What rpm refuses, this refuses: a slot page without slot magics, a used slot with package
// index 0 or no blocks, a blob inside the slot pages or past the file's end, slots whose blobs
// overlap (so no byte is read twice, whatever the slots say). Those are one error for the whole
// file, as for rpm. A blob whose head or tail does not match its slot, or whose checksum is
// wrong, is reported and skipped; the others are read.

const (
	ndbMagic       = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic   = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobHead    = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbBlobTail    = 'B' | 'l'<<8 | 'b'<<16 | 'E'<<24
	ndbHeaderSize  = 32
	ndbPageSize    = 4096
	ndbSlotSize    = 16
	ndbBlockSize   = 16
	ndbBlobHeadLen = 16
	ndbBlobTailLen = 12
)

type ndbSlot struct{ pkgidx, blkoff, blkcnt uint32 }

// readRPMNDB reads the headers of an ndb Packages.db of size bytes: fn gets each header with its
// package index, in the order of the indexes, bad each blob that could not be read.
func readRPMNDB(r io.ReaderAt, size int64, fn func(hnum uint32, blob []byte), bad func(error)) error {
	le := binary.LittleEndian
	var hdr [ndbHeaderSize]byte
	if size < ndbPageSize {
		return fmt.Errorf("ndb: %d bytes, shorter than a slot page", size)
	}
	if size%ndbBlockSize != 0 {
		return fmt.Errorf("ndb: %d bytes, not whole %d-byte blocks", size, ndbBlockSize)
	}
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("ndb: read the header: %w", err)
	}
	if le.Uint32(hdr[0:]) != ndbMagic {
		return errors.New(`ndb: no "RpmP" magic`)
	}
	if v := le.Uint32(hdr[4:]); v != 0 {
		return fmt.Errorf("ndb: format version %d, not 0", v)
	}
	slotPages := le.Uint32(hdr[12:])
	if slotPages == 0 || uint64(slotPages)*ndbPageSize > uint64(size) {
		return fmt.Errorf("ndb: %d slot pages in a file of %d bytes", slotPages, size)
	}
	blocks := uint64(size) / ndbBlockSize
	firstBlob := uint64(slotPages) * (ndbPageSize / ndbBlockSize)
	var slots []ndbSlot
	page := make([]byte, ndbPageSize)
	for pg := uint32(0); pg < slotPages; pg++ {
		if _, err := r.ReadAt(page, int64(pg)*ndbPageSize); err != nil {
			return fmt.Errorf("ndb: slot page %d: %w", pg, err)
		}
		o := 0
		if pg == 0 {
			o = ndbHeaderSize
		}
		for ; o < ndbPageSize; o += ndbSlotSize {
			s := page[o : o+ndbSlotSize]
			if le.Uint32(s) != ndbSlotMagic {
				return fmt.Errorf(`ndb: slot page %d, offset %d: no "Slot" magic`, pg, o)
			}
			sl := ndbSlot{le.Uint32(s[4:]), le.Uint32(s[8:]), le.Uint32(s[12:])}
			if sl.blkoff == 0 {
				continue // free
			}
			if sl.pkgidx == 0 || sl.blkcnt == 0 || uint64(sl.blkoff) < firstBlob || uint64(sl.blkoff)+uint64(sl.blkcnt) > blocks {
				return fmt.Errorf("ndb: slot page %d, offset %d: package %d at blocks %d+%d, outside blocks %d-%d", pg, o, sl.pkgidx, sl.blkoff, sl.blkcnt, firstBlob, blocks)
			}
			slots = append(slots, sl)
		}
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].blkoff < slots[j].blkoff })
	for i := 1; i < len(slots); i++ {
		if a, b := slots[i-1], slots[i]; a.blkoff+a.blkcnt > b.blkoff {
			return fmt.Errorf("ndb: the blobs of packages %d and %d overlap", a.pkgidx, b.pkgidx)
		}
	}
	sort.SliceStable(slots, func(i, j int) bool { return slots[i].pkgidx < slots[j].pkgidx })
	var buf []byte
	for _, sl := range slots {
		n := int(sl.blkcnt) * ndbBlockSize // no more than the file: checked above
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		b := buf[:n]
		if _, err := r.ReadAt(b, int64(sl.blkoff)*ndbBlockSize); err != nil {
			bad(fmt.Errorf("ndb: package %d: %w", sl.pkgidx, err))
			continue
		}
		blob, err := ndbBlob(b, sl.pkgidx)
		if err != nil {
			bad(fmt.Errorf("ndb: package %d at block %d: %w", sl.pkgidx, sl.blkoff, err))
			continue
		}
		fn(sl.pkgidx, blob)
	}
	return nil
}

// ndbBlob checks a blob's head, tail and checksum and returns the header blob inside it.
func ndbBlob(b []byte, pkgidx uint32) ([]byte, error) {
	le := binary.LittleEndian
	if len(b) < ndbBlobHeadLen+ndbBlobTailLen {
		return nil, fmt.Errorf("%d bytes, too short for a blob", len(b))
	}
	if le.Uint32(b) != ndbBlobHead {
		return nil, errors.New(`no "BlbS" magic`)
	}
	if got := le.Uint32(b[4:]); got != pkgidx {
		return nil, fmt.Errorf("the blob says it is package %d", got)
	}
	n := le.Uint32(b[12:])
	if (ndbBlobHeadLen+uint64(n)+ndbBlobTailLen+ndbBlockSize-1)/ndbBlockSize != uint64(len(b)/ndbBlockSize) {
		return nil, fmt.Errorf("a blob of %d bytes in %d blocks", n, len(b)/ndbBlockSize)
	}
	tail := b[len(b)-ndbBlobTailLen:]
	if le.Uint32(tail[8:]) != ndbBlobTail || le.Uint32(tail[4:]) != n {
		return nil, errors.New("its tail does not close it (magic or length)")
	}
	if sum := adler32.Checksum(b[:len(b)-ndbBlobTailLen]); sum != le.Uint32(tail) {
		return nil, fmt.Errorf("checksum %08x, the blob records %08x", sum, le.Uint32(tail))
	}
	return b[ndbBlobHeadLen : ndbBlobHeadLen+n], nil
}
