package store

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/tripline/tripline/baseline"
)

// The old and new entries of a history row written since schema 8 are stored in the BLOB
// columns old_entry and new_entry in this compact form instead of JSON (335 bytes each): only the
// fields that differ from a reference are written. The reference of old is an entry holding only
// the row's path and location; the reference of new is old (or that same entry when there is no
// old), so a mode change stores, for new, little more than its mode and ctime.
//
//	byte    version (entryCodecVersion)
//	uvarint mask: bit i set = field i differs from the reference and follows, in bit order
//	fields  strings as uvarint length + bytes; unsigned integers as uvarint; signed ones as
//	        (zigzag) varint; sha256 as its 32 bytes (bit 14) or, when not 64 lowercase hex
//	        digits, as a string (bit 15); the package as its five strings (bit 17), or bit 18
//	        when the entry has none and the reference has one
//
// Decoding gives back exactly the entry that was encoded: the outputs of history print the same
// as when the entries were JSON. The blobs are what the hash chain covers for these rows
// (chain.go), so an edited blob breaks the chain like an edited JSON column.
const entryCodecVersion = 1

const (
	ecPath = iota
	ecLocation
	ecType
	ecMode
	ecUID
	ecGID
	ecSize
	ecInode
	ecDev
	ecNlink
	ecMtime
	ecCtime
	ecBtime
	ecTarget
	ecSHA256Raw
	ecSHA256Str
	ecHashState
	ecPackage
	ecNoPackage
	ecFields // the number of fields: a mask bit at or above it is refused
)

// entryRef is the reference an entry of a row at path, location is encoded against.
func entryRef(path, location string, old *baseline.Entry) *baseline.Entry {
	if old != nil {
		return old
	}
	return &baseline.Entry{Path: path, Location: location}
}

// isLowerHex32 reports whether s is 64 lowercase hex digits.
func isLowerHex32(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func samePackage(a, b *baseline.Package) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// encodeEntry appends e, encoded against ref, to buf. A nil e encodes as nil (the column is NULL).
func encodeEntry(buf []byte, e, ref *baseline.Entry) []byte {
	if e == nil {
		return nil
	}
	var mask uint64
	set := func(bit int, differs bool) {
		if differs {
			mask |= 1 << bit
		}
	}
	set(ecPath, e.Path != ref.Path)
	set(ecLocation, e.Location != ref.Location)
	set(ecType, e.Type != ref.Type)
	set(ecMode, e.Mode != ref.Mode)
	set(ecUID, e.UID != ref.UID)
	set(ecGID, e.GID != ref.GID)
	set(ecSize, e.Size != ref.Size)
	set(ecInode, e.Inode != ref.Inode)
	set(ecDev, e.Dev != ref.Dev)
	set(ecNlink, e.Nlink != ref.Nlink)
	set(ecMtime, e.MtimeNS != ref.MtimeNS)
	set(ecCtime, e.CtimeNS != ref.CtimeNS)
	set(ecBtime, e.BtimeNS != ref.BtimeNS)
	set(ecTarget, e.Target != ref.Target)
	if e.SHA256 != ref.SHA256 {
		set(ecSHA256Raw, isLowerHex32(e.SHA256))
		set(ecSHA256Str, !isLowerHex32(e.SHA256))
	}
	set(ecHashState, e.HashState != ref.HashState)
	if !samePackage(e.Package, ref.Package) {
		set(ecPackage, e.Package != nil)
		set(ecNoPackage, e.Package == nil)
	}
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	if buf == nil {
		buf = make([]byte, 0, 96)
	}
	buf = append(buf, entryCodecVersion)
	buf = binary.AppendUvarint(buf, mask)
	for bit := 0; bit < ecFields; bit++ {
		if mask&(1<<bit) == 0 {
			continue
		}
		switch bit {
		case ecPath:
			str(e.Path)
		case ecLocation:
			str(e.Location)
		case ecType:
			str(string(e.Type))
		case ecMode:
			buf = binary.AppendUvarint(buf, uint64(e.Mode))
		case ecUID:
			buf = binary.AppendUvarint(buf, uint64(e.UID))
		case ecGID:
			buf = binary.AppendUvarint(buf, uint64(e.GID))
		case ecSize:
			buf = binary.AppendVarint(buf, e.Size)
		case ecInode:
			buf = binary.AppendUvarint(buf, e.Inode)
		case ecDev:
			buf = binary.AppendUvarint(buf, e.Dev)
		case ecNlink:
			buf = binary.AppendUvarint(buf, uint64(e.Nlink))
		case ecMtime:
			buf = binary.AppendVarint(buf, e.MtimeNS)
		case ecCtime:
			buf = binary.AppendVarint(buf, e.CtimeNS)
		case ecBtime:
			buf = binary.AppendVarint(buf, e.BtimeNS)
		case ecTarget:
			str(e.Target)
		case ecSHA256Raw:
			buf, _ = hex.AppendDecode(buf, []byte(e.SHA256))
		case ecSHA256Str:
			str(e.SHA256)
		case ecHashState:
			str(string(e.HashState))
		case ecPackage:
			p := e.Package
			str(p.Name)
			str(p.Version)
			str(p.Type)
			str(string(p.State))
			str(p.Detail)
		}
	}
	return buf
}

var errEntryShort = errors.New("truncated")

// entryDecoder reads the fields of an encoded entry.
type entryDecoder struct {
	b   []byte
	err error
}

func (d *entryDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errEntryShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varint reads a zig-zag encoded signed number (binary.AppendVarint's) through uvarint.
func (d *entryDecoder) varint() int64 {
	v := d.uvarint()
	return int64(v>>1) ^ -int64(v&1)
}

func (d *entryDecoder) uint32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 && d.err == nil {
		d.err = fmt.Errorf("value %d out of range", v)
	}
	return uint32(v)
}

func (d *entryDecoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = errEntryShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *entryDecoder) str() string {
	n := d.uvarint()
	return string(d.bytes(n))
}

// decodeEntry decodes what encodeEntry wrote against the same ref. A nil b (NULL) is no entry.
func decodeEntry(b []byte, ref *baseline.Entry) (*baseline.Entry, error) {
	if b == nil {
		return nil, nil
	}
	if len(b) == 0 || b[0] != entryCodecVersion {
		return nil, fmt.Errorf("stored entry: unknown encoding (written by a newer tripline, or damaged)")
	}
	d := entryDecoder{b: b[1:]}
	mask := d.uvarint()
	if d.err == nil && mask>>ecFields != 0 {
		return nil, fmt.Errorf("stored entry: unknown fields %#x (written by a newer tripline, or damaged)", mask)
	}
	if mask&(1<<ecSHA256Raw) != 0 && mask&(1<<ecSHA256Str) != 0 || mask&(1<<ecPackage) != 0 && mask&(1<<ecNoPackage) != 0 {
		return nil, fmt.Errorf("stored entry: contradictory fields %#x (damaged)", mask)
	}
	e := *ref
	if ref.Package != nil {
		p := *ref.Package
		e.Package = &p
	}
	for bit := 0; bit < ecFields && d.err == nil; bit++ {
		if mask&(1<<bit) == 0 {
			continue
		}
		switch bit {
		case ecPath:
			e.Path = d.str()
		case ecLocation:
			e.Location = d.str()
		case ecType:
			e.Type = baseline.Type(d.str())
		case ecMode:
			e.Mode = d.uint32()
		case ecUID:
			e.UID = d.uint32()
		case ecGID:
			e.GID = d.uint32()
		case ecSize:
			e.Size = d.varint()
		case ecInode:
			e.Inode = d.uvarint()
		case ecDev:
			e.Dev = d.uvarint()
		case ecNlink:
			e.Nlink = d.uint32()
		case ecMtime:
			e.MtimeNS = d.varint()
		case ecCtime:
			e.CtimeNS = d.varint()
		case ecBtime:
			e.BtimeNS = d.varint()
		case ecTarget:
			e.Target = d.str()
		case ecSHA256Raw:
			e.SHA256 = hex.EncodeToString(d.bytes(32))
		case ecSHA256Str:
			e.SHA256 = d.str()
		case ecHashState:
			e.HashState = baseline.HashState(d.str())
		case ecPackage:
			e.Package = &baseline.Package{Name: d.str(), Version: d.str(), Type: d.str(), State: baseline.PackageState(d.str()), Detail: d.str()}
		case ecNoPackage:
			e.Package = nil
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("stored entry: %w", d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("stored entry: %d bytes after its fields (damaged)", len(d.b))
	}
	return &e, nil
}

// rowEntries decodes a history row's old and new entries from whichever columns hold them: the
// compact BLOBs (rows written since schema 8) or the JSON text of older rows.
func rowEntries(path, location string, oldJSON, newJSON, oldB, newB []byte) (old, cur *baseline.Entry, err error) {
	if oldB != nil {
		old, err = decodeEntry(oldB, entryRef(path, location, nil))
	} else {
		old, err = decodeEntryBytes(oldJSON)
	}
	if err != nil {
		return nil, nil, err
	}
	if newB != nil {
		cur, err = decodeEntry(newB, entryRef(path, location, old))
	} else {
		cur, err = decodeEntryBytes(newJSON)
	}
	if err != nil {
		return nil, nil, err
	}
	return old, cur, nil
}
