package sink

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/sink/sinktest"
)

// journalRecords are n records with every field set, paths holding a newline and a byte that is
// not UTF-8, and one entry larger than a datagram can carry.
func journalRecords(n int) []Record {
	recs := findingRecords(n)
	for i := range recs {
		r := &recs[i]
		r.Location, r.Kind, r.Verdict, r.Source, r.PID, r.Exe, r.HistoryID = "cron-system", "modified", "alert", "event", 1000+i, "/usr/bin/chmod", int64(i+1)
		r.Package, r.PackageVersion, r.PackageType, r.PackageState = "cron", fmt.Sprintf("3.0pl1-%d", i), "deb", "modified"
		switch i % 10 {
		case 1:
			r.Path = fmt.Sprintf("/etc/cron.d/job\n* * * * * root /tmp/x %d", i)
		case 2:
			r.Path = fmt.Sprintf("/etc/cron.d/\xff\xferaw %d", i)
		}
		p, _ := json.Marshal(r.Path) // not UTF-8: U+FFFD in the document, exact in TRIPLINE_PATH
		r.Message = []byte(fmt.Sprintf(`{"event":{"sequence":%d},"file":{"path":%s}}`, i, p))
	}
	// Larger than the socket's send buffer: only a memfd carries it.
	recs[n-1].Message = []byte(fmt.Sprintf(`{"event":{"sequence":%d},"padding":"%s"}`, n-1, strings.Repeat("y", 600<<10)))
	return recs
}

func TestJournalToJournald(t *testing.T) {
	jd := sinktest.StartJournald(t)
	socket, dir := jd.Socket, jd.Dir
	j, err := OpenJournal(socket, JournalOptions{Identifier: "tripline-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const n = 50
	recs := journalRecords(n)
	for _, r := range recs {
		if err := j.Write(r); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	var got []map[string][]byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = sinktest.JournalEntries(t, dir, "tripline-test")
		if len(got) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(got) != n {
		t.Fatalf("the journal holds %d of %d entries", len(got), n)
	}
	t.Logf("journald stored %d of %d entries (the last one %d bytes, through a memfd)", len(got), n, len(recs[n-1].Message))
	for _, e := range got {
		var doc struct{ Event struct{ Sequence int } }
		if err := json.Unmarshal(e["MESSAGE"], &doc); err != nil {
			t.Fatalf("MESSAGE is not the document sent: %v: %.200q", err, e["MESSAGE"])
		}
		r := recs[doc.Event.Sequence]
		want := map[string]string{
			"MESSAGE": string(r.Message), "PRIORITY": fmt.Sprint(Priority(r.Severity)), "SYSLOG_IDENTIFIER": "tripline-test",
			"MESSAGE_ID": MessageID, "SYSLOG_FACILITY": "4",
			"TRIPLINE_RULE": r.Rule, "TRIPLINE_PATH": r.Path, "TRIPLINE_SEVERITY": r.Severity.String(),
			"TRIPLINE_LOCATION": r.Location, "TRIPLINE_KIND": r.Kind, "TRIPLINE_VERDICT": r.Verdict,
			"TRIPLINE_SOURCE": r.Source, "TRIPLINE_PID": fmt.Sprint(r.PID), "TRIPLINE_EXE": r.Exe,
			"TRIPLINE_HISTORY_ID": fmt.Sprint(r.HistoryID), "_PID": fmt.Sprint(os.Getpid()),
			"TRIPLINE_PACKAGE": r.Package, "TRIPLINE_PACKAGE_VERSION": r.PackageVersion,
			"TRIPLINE_PACKAGE_TYPE": r.PackageType, "TRIPLINE_PACKAGE_STATE": r.PackageState,
		}
		for k, v := range want {
			if string(e[k]) != v {
				t.Errorf("entry %d: %s = %.120q, want %.120q", doc.Event.Sequence, k, e[k], v)
			}
		}
	}
}

// TestJournalProtocol decodes what the sink sends on a datagram socket the test binds: the
// native protocol byte for byte, and the memfd passed with SCM_RIGHTS for an entry too large
// for a datagram. (TestJournalToJournald checks the same against the real journald.)
func TestJournalProtocol(t *testing.T) {
	path := filepath.Join(t.TempDir(), "socket")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	j, err := OpenJournal(path, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs := journalRecords(3) // [1] has a newline in its path, [2] is too large for a datagram
	buf, oob := make([]byte, 1<<20), make([]byte, 1024)
	l.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, _, _, err := l.ReadMsgUnix(buf, oob); err != nil || n != 0 {
		t.Fatalf("the open probe: %d bytes, %v; want an empty datagram", n, err)
	}
	for i, r := range recs {
		if err := j.Write(r); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		n, oobn, _, _, err := l.ReadMsgUnix(buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		data := buf[:n]
		if i == 2 {
			if n != 0 {
				t.Fatalf("the large entry came as a %d-byte datagram, want an empty one with a memfd", n)
			}
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil || len(msgs) != 1 {
				t.Fatalf("no control message with the large entry: %v", err)
			}
			fds, err := unix.ParseUnixRights(&msgs[0])
			if err != nil || len(fds) != 1 {
				t.Fatalf("no fd with the large entry: %v %v", fds, err)
			}
			f := os.NewFile(uintptr(fds[0]), "memfd")
			seals, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GET_SEALS, 0)
			if err != nil || seals&unix.F_SEAL_WRITE == 0 {
				t.Errorf("the memfd is not sealed against writes: seals %#x, %v", seals, err)
			}
			data, err = readAll(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		fields, err := decodeEntry(data)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if fields["MESSAGE"] != string(r.Message) || fields["TRIPLINE_PATH"] != r.Path || fields["PRIORITY"] != fmt.Sprint(Priority(r.Severity)) {
			t.Errorf("entry %d decoded to MESSAGE %.80q PATH %q PRIORITY %s", i, fields["MESSAGE"], fields["TRIPLINE_PATH"], fields["PRIORITY"])
		}
	}
	// The path with a newline went length-prefixed.
	if e := AppendEntry(nil, j.Fields(recs[1])); !bytes.Contains(e, []byte("TRIPLINE_PATH\n")) {
		t.Error("a value with a newline was not sent length-prefixed")
	}
}

// readAll reads the memfd from its start: the descriptor shares the sender's file offset.
func readAll(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.NewSectionReader(f, 0, fi.Size()))
}

// decodeEntry parses the native protocol as journald does.
func decodeEntry(b []byte) (map[string]string, error) {
	out := map[string]string{}
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("field without a newline: %.40q", b)
		}
		line := b[:nl]
		if eq := bytes.IndexByte(line, '='); eq >= 0 {
			if !ValidFieldName(string(line[:eq])) {
				return nil, fmt.Errorf("invalid field name %q", line[:eq])
			}
			out[string(line[:eq])] = string(line[eq+1:])
			b = b[nl+1:]
			continue
		}
		name := string(line)
		if !ValidFieldName(name) {
			return nil, fmt.Errorf("invalid field name %q", name)
		}
		b = b[nl+1:]
		if len(b) < 8 {
			return nil, fmt.Errorf("%s: no length", name)
		}
		n := binary.LittleEndian.Uint64(b)
		b = b[8:]
		if uint64(len(b)) < n+1 || b[n] != '\n' {
			return nil, fmt.Errorf("%s: length %d does not end in a newline", name, n)
		}
		out[name] = string(b[:n])
		b = b[n+1:]
	}
	return out, nil
}
