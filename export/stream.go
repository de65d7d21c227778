package export

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
)

// fileSpill keeps the files of a Document built with Options.Stream in an unlinked temporary
// file, gob-encoded, so that writing an export of 200,000 files holds one at a time (the whole
// document in memory took 930 MB for JSON).
type fileSpill struct {
	f   *os.File
	w   *bufio.Writer
	enc *gob.Encoder
	n   int
}

func newFileSpill() (*fileSpill, error) {
	f, err := os.CreateTemp("", "tripline-export-*")
	if err != nil {
		return nil, fmt.Errorf("export: a temporary file for the files (TMPDIR): %w", err)
	}
	os.Remove(f.Name())
	s := &fileSpill{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	s.enc = gob.NewEncoder(s.w)
	return s, nil
}

func (s *fileSpill) add(f *File) error {
	s.n++
	if err := s.enc.Encode(f); err != nil {
		return fmt.Errorf("export: write to a temporary file: %w", err)
	}
	return nil
}

// each reads the files back, in the order they were added.
func (s *fileSpill) each(fn func(*File) error) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("export: write to a temporary file: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("export: read back a temporary file: %w", err)
	}
	dec := gob.NewDecoder(bufio.NewReaderSize(s.f, 64<<10))
	for {
		var f File
		err := dec.Decode(&f)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("export: read back a temporary file: %w", err)
		}
		if err := fn(&f); err != nil {
			return err
		}
	}
}

// EachFile calls fn with every file of the document, in order: Files, or, for a document built
// with Options.Stream, the files read back from disk one at a time.
func (d *Document) EachFile(fn func(*File) error) error {
	if d.spill != nil {
		return d.spill.each(fn)
	}
	for i := range d.Files {
		if err := fn(&d.Files[i]); err != nil {
			return err
		}
	}
	return nil
}

// Close releases what a document built with Options.Stream holds on disk.
func (d *Document) Close() error {
	if d.spill == nil {
		return nil
	}
	err := d.spill.f.Close()
	d.spill = nil
	return err
}

// writeJSONStream writes what WriteJSON writes for d, the same bytes, one file at a time: the
// document is encoded with no files, and the files are encoded where its empty list is.
func writeJSONStream(w io.Writer, d *Document) error {
	head := *d
	head.Files, head.spill = []File{}, nil
	b, err := jsonIndent(&head, "")
	if err != nil {
		return err
	}
	const empty = "\n  \"files\": [],\n"
	at := bytes.Index(b, []byte(empty))
	if at < 0 {
		return errors.New("export: the document has no list of files") // the struct changed
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	bw.Write(b[:at])
	err = d.EachFile(func(f *File) error {
		item, err := jsonIndent(f, "    ")
		if err != nil {
			return err
		}
		if n == 0 {
			bw.WriteString("\n  \"files\": [\n    ")
		} else {
			bw.WriteString(",\n    ")
		}
		n++
		_, err = bw.Write(item)
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		bw.WriteString(empty)
	} else {
		bw.WriteString("\n  ],\n")
	}
	bw.Write(b[at+len(empty):])
	bw.WriteByte('\n')
	return bw.Flush()
}
