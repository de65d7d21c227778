package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

// A daemon's finding says in every format whether it is recorded yet, and ECS and json say when
// its event was read; a scan's finding says neither.
func TestFindingEventRecorded(t *testing.T) {
	readNS := int64(1.7e18 + 123)
	now := func() time.Time { return time.Unix(0, 1.8e18).UTC() }
	for _, unrecorded := range []bool{true, false} {
		for _, format := range []Format{ECS, JSON, Text} {
			var buf bytes.Buffer
			r := &Renderer{W: &buf, Format: format, Host: Host{Name: "h"}, Root: "/", Users: &baseline.Users{}, Now: now}
			f := sampleFindings(t)[0]
			if err := r.FindingEvent(&f, "event", proc.Nobody(), EventInfo{ReadNS: readNS, Unrecorded: unrecorded}); err != nil {
				t.Fatal(err)
			}
			line := buf.String()
			switch format {
			case Text:
				if got := strings.HasSuffix(line, " (not yet recorded)\n"); got != unrecorded {
					t.Errorf("text, unrecorded %v: %q", unrecorded, line)
				}
				continue
			case ECS:
				var doc struct {
					Timestamp string `json:"@timestamp"`
					Event     struct {
						Created string `json:"created"`
					} `json:"event"`
					Tripline struct {
						Recorded *bool `json:"recorded"`
					} `json:"tripline"`
				}
				if err := json.Unmarshal([]byte(line), &doc); err != nil {
					t.Fatal(err)
				}
				created, err := time.Parse(time.RFC3339Nano, doc.Event.Created)
				if err != nil || created.UnixNano() != readNS || doc.Timestamp != "2027-01-15T08:00:00.000000000Z" ||
					doc.Tripline.Recorded == nil || *doc.Tripline.Recorded == unrecorded {
					t.Errorf("ecs, unrecorded %v: %s", unrecorded, line)
				}
			case JSON:
				var doc struct {
					Recorded *bool  `json:"recorded"`
					ReadAt   string `json:"read_at"`
				}
				if err := json.Unmarshal([]byte(line), &doc); err != nil {
					t.Fatal(err)
				}
				at, err := time.Parse(time.RFC3339Nano, doc.ReadAt)
				if err != nil || at.UnixNano() != readNS || doc.Recorded == nil || *doc.Recorded == unrecorded {
					t.Errorf("json, unrecorded %v: %s", unrecorded, line)
				}
			}
		}
	}
	for _, format := range []Format{ECS, JSON, Text} {
		var buf bytes.Buffer
		r := &Renderer{W: &buf, Format: format, Host: Host{Name: "h"}, Root: "/", Users: &baseline.Users{}, Now: now}
		f := sampleFindings(t)[0]
		if err := r.FindingBy(&f, "scan", nil); err != nil {
			t.Fatal(err)
		}
		s := buf.String()
		var doc struct {
			Event struct {
				Created string `json:"created"`
			} `json:"event"`
		}
		if format == ECS {
			if err := json.Unmarshal([]byte(s), &doc); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Contains(s, `"recorded"`) || strings.Contains(s, "not yet recorded") || strings.Contains(s, "read_at") || doc.Event.Created != "" {
			t.Errorf("a scan's finding in %v says what only the daemon's do: %s", format, s)
		}
	}
}

// A text finding names the package that owns the file (a syslog line in the text format carries
// it), quoted: the name comes from the scanned image's package database.
func TestFindingTextPackage(t *testing.T) {
	for _, tc := range []struct {
		pkg  *baseline.Package
		want string
	}{
		{&baseline.Package{Name: "cron", Version: "3.0pl1-163", Type: "deb", State: baseline.PkgModified}, " [package cron 3.0pl1-163, modified]\n"},
		{&baseline.Package{Name: "evil\x1b[2J", Version: "1\n2", Type: "rpm", State: baseline.PkgVerified}, ` [package "evil\x1b[2J" "1\n2", verified]` + "\n"},
		{&baseline.Package{State: baseline.PkgUnowned}, ")\n"},
		{nil, ")\n"},
	} {
		var buf bytes.Buffer
		r := &Renderer{W: &buf, Format: Text, Host: Host{Name: "h"}, Root: "/", Users: &baseline.Users{}}
		f := sampleFindings(t)[0]
		if f.Change.New != nil {
			n := *f.Change.New
			n.Package = tc.pkg
			f.Change.New = &n
		} else {
			o := *f.Change.Old
			o.Package = tc.pkg
			f.Change.Old = &o
		}
		if err := r.FindingBy(&f, "event", proc.Nobody()); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(buf.String(), tc.want) || strings.ContainsRune(buf.String()[:buf.Len()-1], '\n') {
			t.Errorf("package %+v: %q, want the suffix %q", tc.pkg, buf.String(), tc.want)
		}
	}
}
