package pkgdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A read-only reader of a Berkeley DB hash database, the format of rpm's Packages file before
// rpm 4.16 (RHEL/CentOS 8 and older, Amazon Linux 2, SLES 12): written from Berkeley DB's
// documented on-disk layout (db_page.h, hash.h). Both byte orders are read: the meta page's magic
// says which one the file was written in, and every field is decoded in it.
//
// The layout, as far as this reader needs it:
//   - page 0 is the hash meta page: magic 0x061561, version, page size, last page number,
//     max_bucket and the 32 "spares" that map a bucket to its page;
//   - every page starts with a 26-byte header: its own number, the previous and next page of
//     its chain, the number of entries, the high free offset (on an overflow page: the bytes of
//     data it holds) and its type;
//   - a hash page (P_HASH, or P_HASH_UNSORTED before Berkeley DB 4.6) holds a table of 16-bit
//     offsets after the header, pairs of key and data items packed downwards from the page's
//     end; an item is one type byte, then either the bytes themselves (H_KEYDATA) or, for an
//     item too large for the page, the number and total length of an overflow chain (H_OFFPAGE);
//   - a bucket is a chain of hash pages linked by their next page number;
//   - an overflow page (P_OVERFLOW) holds the next part of an item after its header.
//
// Everything read is bounded: page numbers must lie in the file, no page is read twice in a walk
// (so no chain can loop), offsets and lengths must lie in their page, and an item cannot be
// longer than an rpm header can be. A malformed item or bucket chain is reported and skipped,
// the rest is read; a malformed meta page is one error.

// Berkeley DB page types and hash item types (db_page.h).
const (
	bdbPageHashUnsorted = 2
	bdbPageOverflow     = 7
	bdbPageHashMeta     = 8
	bdbPageHash         = 13

	bdbItemKeyData   = 1
	bdbItemDuplicate = 2
	bdbItemOffPage   = 3
	bdbItemOffDup    = 4
)

const (
	bdbHashMagic   = 0x061561
	bdbMetaSize    = 512 // the smallest page, and all of the hash meta page's fields
	bdbPageHeader  = 26  // SIZEOF_PAGE
	bdbMetaChksum  = 0x01
	bdbOffPageSize = 12 // HOFFPAGE: type, 3 unused, page number, total length
)

// maxRPMBlob is the largest header blob rpm can write (header.c's limits): what an item's length
// is checked against before it is read.
const maxRPMBlob = 8 + 16*maxHeaderEntries + maxHeaderData

// bdbHash is an open Berkeley DB hash database.
type bdbHash struct {
	r         io.ReaderAt
	order     binary.ByteOrder
	pageSize  uint32
	pages     uint32 // pages the walk may read: 1 .. pages-1
	maxBucket uint32
	spares    [32]uint32
	seen      []uint64 // pages read in this walk, one bit each
	page, ov  []byte   // the current hash page, and the overflow page being read
	val       []byte   // an overflow item, assembled
}

// openBDBHash reads the meta page of a Berkeley DB hash database of size bytes.
func openBDBHash(r io.ReaderAt, size int64) (*bdbHash, error) {
	var meta [bdbMetaSize]byte
	if size < bdbMetaSize {
		return nil, fmt.Errorf("berkeley db: %d bytes, shorter than a meta page", size)
	}
	if _, err := r.ReadAt(meta[:], 0); err != nil {
		return nil, fmt.Errorf("berkeley db: read the meta page: %w", err)
	}
	db := &bdbHash{r: r}
	switch {
	case binary.LittleEndian.Uint32(meta[12:]) == bdbHashMagic:
		db.order = binary.LittleEndian
	case binary.BigEndian.Uint32(meta[12:]) == bdbHashMagic:
		db.order = binary.BigEndian
	case binary.LittleEndian.Uint32(meta[12:]) == 0x053162 || binary.BigEndian.Uint32(meta[12:]) == 0x053162:
		return nil, errors.New("berkeley db: a btree database, not the hash database rpm's Packages is")
	default:
		return nil, errors.New("berkeley db: no hash magic (0x061561) in the meta page")
	}
	o := db.order
	version, pageSize := o.Uint32(meta[16:]), o.Uint32(meta[20:])
	// Hash version 8 is Berkeley DB 4.5 and older (unsorted pages), 9 is 4.6 to 5.x, 10 is 6.x.
	if version < 8 || version > 10 {
		return nil, fmt.Errorf("berkeley db: hash version %d, not one of 8-10 (Berkeley DB 4.1 to 6.x)", version)
	}
	if pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("berkeley db: page size %d, not a power of two from 512 to 65536", pageSize)
	}
	if meta[24] != 0 {
		return nil, errors.New("berkeley db: encrypted, which rpm never does")
	}
	if meta[25] != bdbPageHashMeta {
		return nil, fmt.Errorf("berkeley db: meta page of type %d, not a hash meta page", meta[25])
	}
	if meta[26]&bdbMetaChksum != 0 {
		return nil, errors.New("berkeley db: page checksums are on, which rpm never sets and tripline does not read")
	}
	db.pageSize = pageSize
	// Pages past the last one the meta page names, or past the end of the file, are never read.
	pages := uint64(o.Uint32(meta[32:])) + 1
	if inFile := uint64(size) / uint64(pageSize); inFile < pages {
		pages = inFile
	}
	db.pages = uint32(pages)
	db.maxBucket = o.Uint32(meta[72:])
	if uint64(db.maxBucket) >= pages {
		return nil, fmt.Errorf("berkeley db: %d buckets in a file of %d pages", uint64(db.maxBucket)+1, pages)
	}
	for i := range db.spares {
		db.spares[i] = o.Uint32(meta[96+4*i:])
	}
	return db, nil
}

// bucketPage is the page a bucket starts on: the bucket number plus the spare count of its
// doubling (BUCKET_TO_PAGE).
func (db *bdbHash) bucketPage(bucket uint32) uint64 {
	n := 0 // ceil(log2(bucket+1)): the bit length of bucket
	for b := bucket; b != 0; b >>= 1 {
		n++
	}
	return uint64(bucket) + uint64(db.spares[n])
}

// readPage reads page pg into buf, once per walk, and checks that it is the page it says it is,
// or 0 (a page never written; the caller checks the rest).
func (db *bdbHash) readPage(buf []byte, pg uint64) error {
	if pg == 0 || pg >= uint64(db.pages) {
		return fmt.Errorf("page %d outside the file's pages 1-%d", pg, db.pages-1)
	}
	if db.seen[pg/64]&(1<<(pg%64)) != 0 {
		return fmt.Errorf("page %d reached twice (a loop)", pg)
	}
	db.seen[pg/64] |= 1 << (pg % 64)
	if _, err := db.r.ReadAt(buf, int64(pg)*int64(db.pageSize)); err != nil {
		return fmt.Errorf("page %d: %w", pg, err)
	}
	if got := db.order.Uint32(buf[8:]); got != uint32(pg) && got != 0 {
		return fmt.Errorf("page %d says it is page %d", pg, got)
	}
	return nil
}

// walk calls fn with each key and data item of the database, bucket by bucket; the slices are
// valid only during the call. bad is called for each item or bucket chain that could not be read
// (it is skipped; the walk goes on).
func (db *bdbHash) walk(fn func(key, val []byte), bad func(error)) {
	db.seen = make([]uint64, (uint64(db.pages)+63)/64)
	db.page = make([]byte, db.pageSize)
	db.ov = make([]byte, db.pageSize)
	var key []byte
	for bucket := uint32(0); ; bucket++ {
		if err := db.walkBucket(bucket, &key, fn, bad); err != nil {
			bad(fmt.Errorf("bucket %d: %w", bucket, err))
		}
		if bucket == db.maxBucket {
			return
		}
	}
}

// walkBucket reads the chain of hash pages of one bucket. key is a buffer for keys that are
// overflow items.
func (db *bdbHash) walkBucket(bucket uint32, key *[]byte, fn func(key, val []byte), bad func(error)) error {
	for pg := db.bucketPage(bucket); pg != 0; {
		if err := db.readPage(db.page, pg); err != nil {
			return err
		}
		p, o := db.page, db.order
		if o.Uint32(p[8:]) == 0 {
			// A page never written is all zeros, and Berkeley DB reads it as an empty hash page.
			if p[25] != 0 || o.Uint16(p[20:]) != 0 || o.Uint32(p[16:]) != 0 {
				return fmt.Errorf("page %d says it is page 0", pg)
			}
			return nil
		}
		if t := p[25]; t != bdbPageHash && t != bdbPageHashUnsorted {
			return fmt.Errorf("page %d: type %d, not a hash page", pg, t)
		}
		n := uint32(o.Uint16(p[20:]))
		if n%2 != 0 || bdbPageHeader+2*n > db.pageSize {
			return fmt.Errorf("page %d: %d entries", pg, n)
		}
		end := db.pageSize // where the item before this one starts
		for i := uint32(0); i < n; i += 2 {
			koff := uint32(o.Uint16(p[bdbPageHeader+2*i:]))
			voff := uint32(o.Uint16(p[bdbPageHeader+2*i+2:]))
			if voff < bdbPageHeader+2*n || voff >= koff || koff >= end {
				return fmt.Errorf("page %d: item %d at offsets %d/%d, outside %d-%d", pg, i/2, koff, voff, bdbPageHeader+2*n, end)
			}
			k, err := db.item(p[koff:end], key)
			if err == nil {
				var v []byte
				if v, err = db.item(p[voff:koff], &db.val); err == nil {
					fn(k, v)
				}
			}
			if err != nil {
				bad(fmt.Errorf("page %d item %d: %w", pg, i/2, err))
			}
			end = voff
		}
		pg = uint64(o.Uint32(p[16:]))
	}
	return nil
}

// item returns the bytes of a hash item: on the page, or read from its overflow chain into buf.
func (db *bdbHash) item(it []byte, buf *[]byte) ([]byte, error) {
	switch it[0] {
	case bdbItemKeyData:
		return it[1:], nil
	case bdbItemOffPage:
		if len(it) < bdbOffPageSize {
			return nil, fmt.Errorf("an overflow reference of %d bytes", len(it))
		}
		return db.overflow(uint64(db.order.Uint32(it[4:])), db.order.Uint32(it[8:]), buf)
	case bdbItemDuplicate, bdbItemOffDup:
		return nil, errors.New("duplicate data items, which rpm's Packages never has")
	}
	return nil, fmt.Errorf("item type %d", it[0])
}

// overflow reads the chain of overflow pages from pg, total bytes long, into buf.
func (db *bdbHash) overflow(pg uint64, total uint32, buf *[]byte) ([]byte, error) {
	if total == 0 || total > maxRPMBlob {
		return nil, fmt.Errorf("an overflow item of %d bytes", total)
	}
	out := (*buf)[:0]
	for uint32(len(out)) < total {
		if pg == 0 {
			return nil, fmt.Errorf("overflow chain ends after %d of its %d bytes", len(out), total)
		}
		if err := db.readPage(db.ov, pg); err != nil {
			return nil, err
		}
		p := db.ov
		if p[25] != bdbPageOverflow || db.order.Uint32(p[8:]) == 0 {
			return nil, fmt.Errorf("page %d: type %d, not an overflow page", pg, p[25])
		}
		n := uint32(db.order.Uint16(p[22:]))
		if n == 0 || bdbPageHeader+n > db.pageSize || uint32(len(out))+n > total {
			return nil, fmt.Errorf("overflow page %d: %d bytes (%d of %d read)", pg, n, len(out), total)
		}
		out = append(out, p[bdbPageHeader:bdbPageHeader+n]...)
		pg = uint64(db.order.Uint32(p[16:]))
	}
	*buf = out
	return out, nil
}

// readRPMBDB reads the headers of rpm's Berkeley DB Packages file: fn gets each header with its
// number (the 4-byte key, in the file's byte order, as rpm wrote it), bad each that could not be
// read. Key 0 is not a package (rpm keeps the last instance number used there).
func readRPMBDB(r io.ReaderAt, size int64, fn func(hnum uint32, blob []byte), bad func(error)) error {
	db, err := openBDBHash(r, size)
	if err != nil {
		return err
	}
	db.walk(func(key, val []byte) {
		if len(key) != 4 {
			bad(fmt.Errorf("a key of %d bytes, not a 4-byte package number", len(key)))
			return
		}
		if n := db.order.Uint32(key); n != 0 {
			fn(n, val)
		}
	}, bad)
	return nil
}
