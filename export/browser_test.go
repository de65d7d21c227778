package export

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
)

// chromiumPath is Debian's chromium package; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// runChromium runs headless Chromium on page with extra arguments and returns its stdout and
// stderr. Chromium runs in its own process group, killed whole when it exits or times out, so
// that no renderer or zygote outlives the test.
func runChromium(t *testing.T, dir string, extra ...string) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--mute-audio", "--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + filepath.Join(dir, "profile")}
	args = append(args, extra...)
	cmd := exec.CommandContext(ctx, chromiumPath, args...)
	cmd.Dir = dir
	// Keep the browser's config and cache writes in the test's directory.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	// Files, not pipes: Wait then returns when chromium exits even if a child still holds them.
	outF, err := os.Create(filepath.Join(dir, "chromium.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer outF.Close()
	errF, err := os.Create(filepath.Join(dir, "chromium.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errF.Close()
	cmd.Stdout, cmd.Stderr = outF, errF
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	pgid := cmd.Process.Pid
	werr := cmd.Wait()
	killGroup(t, pgid)
	stdout, _ = os.ReadFile(outF.Name())
	stderr, _ = os.ReadFile(errF.Name())
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within 60 s (killed); stderr:\n%s", tail(stderr))
	}
	if werr != nil {
		t.Fatalf("chromium %s: %v; stderr:\n%s", strings.Join(extra, " "), werr, tail(stderr))
	}
	return stdout, stderr
}

// killGroup kills what is left of chromium's process group and waits until it is gone.
func killGroup(t *testing.T, pgid int) {
	t.Helper()
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("chromium process group %d still exists after SIGKILL (kill -0: %v)", pgid, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte) string {
	const n = 3000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// TestHTMLInChromium opens the page in a real browser: its script runs under the page's own
// Content-Security-Policy (so the hash is right), hostile names are text in the DOM, and a
// screenshot is a real, non-blank image. TRIPLINE_SCREENSHOT=FILE keeps the screenshot.
func TestHTMLInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		testenv.SkipOrFail(t, "needs Debian's chromium package ("+chromiumPath+"): apt-get install chromium")
	}
	dir := t.TempDir()
	d := sampleDocument()
	var b bytes.Buffer
	if err := WriteHTML(&b, d); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + page

	dom, stderr := runChromium(t, dir, "--dump-dom", url)
	s := strings.ReplaceAll(string(dom), "<wbr>", "") // line-break opportunities after slashes
	if !strings.Contains(s, `data-ready="1"`) {
		t.Errorf("the page's script did not run (no data-ready on body); CSP or script error? stderr:\n%s", tail(stderr))
	}
	// The page logs nothing; a console line is a script error or a CSP complaint.
	for _, line := range strings.Split(string(stderr), "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Content Security Policy") {
			t.Errorf("the browser console reported: %s", line)
		}
	}
	lower := strings.ToLower(string(dom))
	if n := strings.Count(lower, "<script"); n != 1 {
		t.Errorf("the DOM has %d script elements, want 1", n)
	}
	for _, bad := range []string{"<script>alert", "<b>x", "<img"} {
		if strings.Contains(lower, bad) {
			t.Errorf("a hostile name became markup: DOM contains %q", bad)
		}
	}
	for _, want := range []string{
		"/etc/cron.d/&lt;script&gt;alert(1)&lt;/script&gt;", // the hostile name, as text
		`/etc/cron.d/evil"onmouseover="alert(2)`,            // as text in a cell (the DOM serializer leaves quotes in text alone)
		`"/etc/cron.d/job\n* * * * * root /tmp/x"`,
		`"/etc/cron.d/\xff\xferaw"`,
		`<table class="sortable locations">`, `<table class="sortable changes">`, `<table class="sortable files">`,
		`<button type="button" class="sort"`, // the script made the headers sortable
		`<span class="badge">exec</span>`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the DOM lacks %q", want)
		}
	}
	if n, want := strings.Count(s, `<table class="sortable files">`), 6; n != want {
		t.Errorf("the DOM has %d files tables, want %d", n, want)
	}
	if n := strings.Count(s, `<tr class="exec">`); n != d.Header.Executables {
		t.Errorf("the DOM has %d exec rows, want %d", n, d.Header.Executables)
	}

	png := filepath.Join(dir, "report.png")
	runChromium(t, dir, "--screenshot="+png, "--window-size=1280,1600", "--hide-scrollbars", url)
	img, err := os.ReadFile(png)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if !bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG: % x", img[:min(len(img), 8)])
	}
	if len(img) < 10<<10 {
		t.Errorf("screenshot is %d bytes: blank?", len(img))
	}
	if out := os.Getenv("TRIPLINE_SCREENSHOT"); out != "" {
		if err := os.WriteFile(out, img, 0o644); err != nil {
			t.Errorf("TRIPLINE_SCREENSHOT: %v", err)
		} else {
			t.Logf("screenshot written to %s (%d bytes)", out, len(img))
		}
	}
}
