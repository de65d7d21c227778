package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/scan"
)

// The text summary names the content store's bound as the scan reports it.
func TestScanTextContentFull(t *testing.T) {
	var buf bytes.Buffer
	r := &Renderer{W: &buf, Format: Text, Root: "/", Users: &baseline.Users{}}
	res := &scan.Result{ContentFull: 3, ContentStoreBytes: 64 << 20, Duration: time.Second}
	if err := r.Scan(res, 0); err != nil {
		t.Fatal(err)
	}
	if want := "3 file contents were not stored for history --diff and restore: the content store (64 MiB) is full"; !strings.Contains(buf.String(), want) {
		t.Errorf("summary %q\nwant it to contain %q", buf.String(), want)
	}
}

// A finding's actor in JSON is proc.Actor as it is (the shape history --format json shows):
// the parent is ancestors[0], with no key of its own.
func TestFindingJSONActor(t *testing.T) {
	var buf bytes.Buffer
	r := &Renderer{W: &buf, Format: JSON, Root: "/", Users: &baseline.Users{}}
	fs := sampleFindings(t)
	shell := proc.Process{PID: 100, PPID: 1, Name: "bash", Exe: "/usr/bin/bash"}
	a := &proc.Actor{Attribution: proc.AttrKernel, PID: 7, Process: &proc.Process{PID: 7, PPID: 100, Exe: "/usr/bin/chmod"}, Ancestors: []proc.Process{shell}}
	if err := r.FindingBy(&fs[0], "event", a); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Actor json.RawMessage `json:"actor"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(a)
	if string(doc.Actor) != string(want) {
		t.Errorf("actor %s\nwant %s", doc.Actor, want)
	}
	buf.Reset()
	if err := r.Finding(&fs[0], "scan"); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || string(doc.Actor) != `{"attribution":"none"}` {
		t.Errorf("a scan's actor %s (%v), want nobody", doc.Actor, err)
	}
}
