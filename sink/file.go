package sink

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// File appends events to a file opened O_APPEND, one write per event, so lines from concurrent
// writers never interleave; Reopen follows logrotate. Named "-", it writes to stdout.
type File struct {
	mu   sync.Mutex
	name string
	w    io.Writer
	f    *os.File
	buf  []byte
}

// OpenFile opens name for appending, creating it 0640.
func OpenFile(name string) (*File, error) {
	f := &File{name: name}
	return f, f.Reopen()
}

// Reopen opens the file by name again and closes the old descriptor: after logrotate moved the
// file away, events go to the new one.
func (o *File) Reopen() error {
	if o.name == "-" {
		return nil
	}
	f, err := os.OpenFile(o.name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("output %s: %w", o.name, err)
	}
	o.mu.Lock()
	old := o.f
	o.f, o.w = f, f
	o.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Write appends the message and a newline in one write.
func (o *File) Write(r Record) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w == nil {
		return fmt.Errorf("output %s: closed", o.name)
	}
	o.buf = append(append(o.buf[:0], r.Message...), '\n')
	if _, err := o.w.Write(o.buf); err != nil {
		return fmt.Errorf("output %s: %w", o.name, err)
	}
	return nil
}

// Close closes the file (not stdout).
func (o *File) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w = nil
	if o.f != nil {
		err := o.f.Close()
		o.f = nil
		return err
	}
	return nil
}

func (o *File) String() string {
	if o.name == "-" {
		return "stdout"
	}
	return "file " + o.name
}
