package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tripline/tripline/store"
)

// Hostile file names an attacker who can create files in a watched directory controls.
const (
	hostileScript  = "/etc/cron.d/<script>alert(1)</script>"
	hostileQuote   = `/etc/cron.d/evil"onmouseover="alert(2)`
	hostileNewline = "/etc/cron.d/job\n* * * * * root /tmp/x"
	hostileComma   = "/etc/cron.d/a,b"
	hostileBytes   = "/etc/cron.d/\xff\xferaw"
)

// sampleDocument is a realistic export built by hand (no database): several locations, about
// twenty files, a few executables in executed locations, hostile names in /etc/cron.d, and the
// changes the latest approval made. Counts in the header and locations are computed from the
// files, as Build does.
func sampleDocument() *Document {
	const (
		t0   = "2025-03-02T09:14:07.120000000Z"
		t1   = "2025-06-18T16:41:52.873215004Z"
		root = "root"
		ana  = "ana.lopez"
	)
	d := &Document{Format: FormatName, Version: Version,
		Header: Header{Host: "db-prod-03.corp.internal", MachineID: "4c1f0e9a7b2d4e6f8a0b1c2d3e4f5a6b",
			TriplineVersion: "0.9.0", PolicySource: "/etc/tripline/policy.yaml",
			PolicyDigest: "9f2c4b7d1e0a3c5b8d6f4e2a1c0b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c", Root: "/",
			ExportedAt: "2025-06-19T08:00:00Z", BaselineAt: t0, BaselineBy: root,
			LastApprovalAt: t1, LastApprovalBy: ana, History: store.HistoryHead{Rows: 142, LastID: 142}},
		Locations: []Location{
			{ID: "cron-periodic", Category: "cron", Use: "executed", Technique: "T1053.003",
				Compliance: []string{"PCI DSS 4.0 11.5.2", "NIST SP 800-53 SI-7", "CIS 5.1 cron"}},
			{ID: "crontab-system", Category: "cron", Use: "config", Technique: "T1053.003",
				Compliance: []string{"PCI DSS 4.0 11.5.2", "NIST SP 800-53 SI-7", "CIS 5.1 cron"}},
			{ID: "systemd-units", Category: "systemd", Use: "config", Technique: "T1543.002",
				Compliance: []string{"PCI DSS 4.0 11.5.2", "NIST SP 800-53 CM-3"}},
			{ID: "shell-profile-system", Category: "shell", Use: "sourced", Technique: "T1546.004"},
			{ID: "ld-preload", Category: "loader", Use: "config", Technique: "T1574.006",
				Compliance: []string{"NIST SP 800-53 SI-7"}},
			{ID: "sudoers", Category: "privilege", Use: "config", Technique: "T1548.003",
				Compliance: []string{"PCI DSS 4.0 11.5.2", "CIS 5.3 sudo"}},
			{ID: "update-motd", Category: "motd", Use: "executed", Technique: "T1037"},
		},
		Files: []File{}, Changes: []Change{},
	}
	sum := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return fmt.Sprintf("%x", h)
	}
	add := func(path, loc, typ, mode, sym, owner, group string, uid, gid uint32, size int64, by, at string) *File {
		f := File{Path: path, Location: loc, Type: typ, Mode: mode, ModeSymbolic: sym, UID: uid, GID: gid,
			Owner: owner, Group: group, Size: size, HashState: "ok", Modified: at, Changed: at, ApprovedAt: at,
			ApprovedBy: by}
		if typ == "file" {
			f.SHA256 = sum(path)
		} else {
			f.HashState = "not-regular"
		}
		if !utf8.ValidString(path) {
			f.PathEscaped = fmt.Sprintf("%q", path)
		}
		d.Files = append(d.Files, f)
		return &d.Files[len(d.Files)-1]
	}
	x, r := "-rwxr-xr-x", "-rw-r--r--"
	add("/etc/cron.daily/apt-compat", "cron-periodic", "file", "0755", x, root, root, 0, 0, 1478, root, t0)
	add("/etc/cron.daily/dpkg", "cron-periodic", "file", "0755", x, root, root, 0, 0, 123, root, t0)
	add("/etc/cron.daily/logrotate", "cron-periodic", "file", "0755", x, root, root, 0, 0, 377, root, t0)
	add("/etc/cron.daily/pg-backup", "cron-periodic", "file", "0750", "-rwxr-x---", "postgres", "postgres", 114, 121, 2211, ana, t1)
	add("/etc/cron.weekly/.placeholder", "cron-periodic", "file", "0644", r, root, root, 0, 0, 102, root, t0)
	add("/etc/crontab", "crontab-system", "file", "0644", r, root, root, 0, 0, 1042, root, t0)
	add("/etc/cron.d/e2scrub_all", "crontab-system", "file", "0644", r, root, root, 0, 0, 201, root, t0)
	add(hostileScript, "crontab-system", "file", "0644", r, "", "", 1001, 1001, 61, ana, t1)
	add(hostileQuote, "crontab-system", "file", "0755", x, "mallory", "mallory", 1001, 1001, 48, ana, t1)
	add(hostileNewline, "crontab-system", "file", "0644", r, "mallory", "mallory", 1001, 1001, 33, ana, t1)
	add(hostileComma, "crontab-system", "file", "0644", r, root, root, 0, 0, 12, ana, t1)
	add(hostileBytes, "crontab-system", "file", "0644", r, root, root, 0, 0, 7, ana, t1)
	add("/etc/systemd/system/multi-user.target.wants/postgresql.service", "systemd-units", "symlink", "0777",
		"lrwxrwxrwx", root, root, 0, 0, 43, root, t0).Target = "/lib/systemd/system/postgresql.service"
	add("/etc/systemd/system/pg-exporter.service", "systemd-units", "file", "0644", r, root, root, 0, 0, 412, ana, t1)
	add("/etc/systemd/system/sshd.service.d/override.conf", "systemd-units", "file", "0644", r, root, root, 0, 0, 96, root, t0)
	add("/etc/profile", "shell-profile-system", "file", "0644", r, root, root, 0, 0, 769, root, t0)
	add("/etc/profile.d/bash_completion.sh", "shell-profile-system", "file", "0644", r, root, root, 0, 0, 726, root, t0)
	add("/etc/profile.d/vte-2.91.sh", "shell-profile-system", "file", "0755", x, root, root, 0, 0, 2112345, root, t0).SHA256 = ""
	d.Files[len(d.Files)-1].HashState = "too-large"
	add("/etc/sudoers", "sudoers", "file", "0440", "-r--r-----", root, root, 0, 0, 1800, root, t0)
	add("/etc/sudoers.d/90-dba", "sudoers", "file", "0440", "-r--r-----", root, root, 0, 0, 64, ana, t1)
	add("/etc/update-motd.d/00-header", "update-motd", "file", "0755", x, root, root, 0, 0, 1220, root, t0)
	add("/etc/update-motd.d/50-landscape-sysinfo", "update-motd", "symlink", "0777", "lrwxrwxrwx", root, root, 0, 0, 42, root, t0).Target =
		"/usr/share/landscape/landscape-sysinfo.wrapper"
	add("/etc/update-motd.d/99-\x1b[2Jbanner", "update-motd", "file", "0755", x, "", "", 1001, 1001, 88, ana, t1)
	sort.Slice(d.Files, func(i, j int) bool { return d.Files[i].Path < d.Files[j].Path })

	idx := map[string]*Location{}
	for i := range d.Locations {
		idx[d.Locations[i].ID] = &d.Locations[i]
	}
	for i := range d.Files {
		f := &d.Files[i]
		l := idx[f.Location]
		f.Category, f.Compliance = l.Category, l.Compliance
		l.Files++
		if f.Type == "file" && strings.ContainsAny(f.Mode[1:], "1357") {
			l.Executables++
			if l.Use == "executed" {
				f.Executable = true
				d.Header.Executables++
			}
		}
	}
	d.Header.Files = len(d.Files)
	for _, c := range []Change{
		{Path: "/etc/cron.daily/pg-backup", Action: "approved", What: []string{"content (size 1980 -> 2211)", "mode 0755 -> 0750"}},
		{Path: hostileScript, Action: "approved", What: []string{"new file 0644"}},
		{Path: hostileQuote, Action: "approved", What: []string{"new file 0755"}},
		{Path: hostileNewline, Action: "approved", What: []string{"new file 0644"}},
		{Path: "/etc/cron.hourly/old-sync", Action: "removed", What: []string{"removed from the baseline"}},
		{Path: "/etc/sudoers.d/90-dba", Action: "approved", What: []string{"owner 1000:1000 -> 0:0", `target "</td><b>x" -> "y"`}},
	} {
		c.At, c.By = t1, ana
		d.Changes = append(d.Changes, c)
	}
	return d
}

// renderHTML renders d. The <wbr> after each slash of a path (a line-break opportunity, no
// text) is removed, so that tests can look for paths as they read; rawHTML keeps it.
func renderHTML(t *testing.T, d *Document) string {
	t.Helper()
	return strings.ReplaceAll(rawHTML(t, d), "<wbr>", "")
}

func rawHTML(t *testing.T, d *Document) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, d); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return b.String()
}

// section returns the part of page from the element with id to the next section heading.
func section(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no element with id %q", id)
	}
	rest := page[i:]
	h := strings.Index(rest, "<h2>") + len("<h2>")
	if j := strings.Index(rest[h:], "<h2>"); j >= 0 {
		rest = rest[:h+j]
	}
	return rest
}

func TestHTMLHostileNamesAreText(t *testing.T) {
	raw := rawHTML(t, sampleDocument())
	page := strings.ReplaceAll(raw, "<wbr>", "")
	if !utf8.ValidString(page) {
		t.Error("the page is not valid UTF-8")
	}
	lower := strings.ToLower(raw)
	for _, bad := range []string{"<script>alert", "<b>x", `"onmouseover=`, "\x1b", "<img", "<iframe"} {
		if strings.Contains(lower, strings.ToLower(bad)) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	if n := strings.Count(lower, "<script"); n != 1 {
		t.Errorf("page has %d <script elements, want exactly one (its own)", n)
	}
	if n := strings.Count(lower, "</script"); n != 1 {
		t.Errorf("page has %d </script, want 1", n)
	}
	for _, want := range []string{
		"/etc/cron.d/&lt;script&gt;alert(1)&lt;/script&gt;",
		"/etc/cron.d/evil&#34;onmouseover=&#34;alert(2)",
		`&#34;/etc/cron.d/job\n* * * * * root /tmp/x&#34;`, // Go-quoted: the newline cannot break the row
		"/etc/cron.d/a,b",
		`&#34;/etc/cron.d/\xff\xferaw&#34;`,
		`&#34;/etc/update-motd.d/99-\x1b[2Jbanner&#34;`,
		"&lt;/td&gt;&lt;b&gt;x",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The only markup inside a path is <wbr> after a slash.
	if !strings.Contains(raw, `/<wbr>etc/<wbr>cron.d/<wbr>&lt;script&gt;alert(1)&lt;/<wbr>script&gt;<`) {
		t.Error("path is not escaped text with <wbr> after its slashes")
	}
	// Outside hash cells (groups of 16 hex digits), a <wbr> only ever follows a slash.
	noHash := regexp.MustCompile(`<td class="hash mono">[0-9a-f]{16}(<wbr>[0-9a-f]{16}){3}</td>`).ReplaceAllString(raw, "")
	if strings.Count(noHash, "<wbr>") != strings.Count(noHash, "/<wbr>") {
		t.Error("a <wbr> does not follow a slash")
	}
	// No raw newline inside any table cell's text: every path cell is one line.
	for _, m := range regexp.MustCompile(`(?s)<td class="path mono"[^>]*>(.*?)</td>`).FindAllStringSubmatch(page, -1) {
		if strings.ContainsAny(m[1], "\n\r") {
			t.Errorf("path cell spans lines: %q", m[1])
		}
	}
}

func TestHTMLSelfContained(t *testing.T) {
	page := renderHTML(t, sampleDocument())
	lower := strings.ToLower(page)
	for _, bad := range []string{"http://", "https://", "src=", "<link", "url(", "@import", "//cdn", "<img", "<iframe", "<object", "<embed"} {
		if strings.Contains(lower, bad) {
			t.Errorf("page refers to an external resource: contains %q", bad)
		}
	}
	for _, want := range []string{`<meta charset="utf-8">`, `<meta name="generator" content="tripline">`,
		"<title>tripline baseline — db-prod-03.corp.internal</title>", "@media print", "document.body.dataset.ready",
		"openssl pkeyutl -verify -pubin -inkey PUB.pem -rawin -in FILE.json -sigfile FILE.json.sig"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The CSP allows exactly the page's own style and script, by hash.
	csp := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatch(page)
	if csp == nil {
		t.Fatal("no Content-Security-Policy")
	}
	if !strings.Contains(csp[1], "default-src 'none'") || strings.Contains(csp[1], "unsafe-inline") {
		t.Errorf("CSP too loose: %s", csp[1])
	}
	for _, el := range []string{"style", "script"} {
		m := regexp.MustCompile(`(?s)<` + el + `>(.*?)</` + el + `>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no <%s>", el)
		}
		h := sha256.Sum256([]byte(m[1]))
		want := el + "-src 'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
		if !strings.Contains(csp[1], want) {
			t.Errorf("CSP lacks %s (the browser would refuse the page's own %s)", want, el)
		}
	}
}

func TestHTMLSummaryAndLocations(t *testing.T) {
	d := sampleDocument()
	page := renderHTML(t, d)
	sum := section(t, page, "summary")
	for _, want := range []string{
		fmt.Sprintf("<b>%d</b><span>approved files</span>", d.Header.Files),
		fmt.Sprintf("<b>%d</b><span>executables in executed locations</span>", d.Header.Executables),
		fmt.Sprintf("<b>%d</b><span>locations</span>", len(d.Locations)),
		fmt.Sprintf("<b>%d</b><span>changes in the latest approval</span>", len(d.Changes)),
		"<b>142</b><span>history rows (newest id 142)</span>",
		"<dt>Machine ID</dt><dd class=\"mono\">4c1f0e9a7b2d4e6f8a0b1c2d3e4f5a6b</dd>",
		"<dt>Policy digest (sha256)</dt><dd class=\"mono\">" + d.Header.PolicyDigest + "</dd>",
		"<dt>Root</dt><dd class=\"mono\">/</dd>",
		`<dt>Last approval</dt><dd><time datetime="` + d.Header.LastApprovalAt + `" title="` + d.Header.LastApprovalAt +
			`">2025-06-18 16:41:52Z</time> by <b>ana.lopez</b>`,
		`<dt>Baseline created</dt><dd><time datetime="` + d.Header.BaselineAt + `" title="` + d.Header.BaselineAt +
			`">2025-03-02 09:14:07Z</time> by <b>root</b>`,
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if d.Header.Files != 23 || d.Header.Executables != 6 {
		t.Fatalf("sample has %d files, %d executables; the test expects 23 and 6", d.Header.Files, d.Header.Executables)
	}
	locs := section(t, page, "locations")
	for _, l := range d.Locations {
		if l.Files == 0 {
			// Listed in one sentence, not as a row of zeros.
			if !strings.Contains(locs, "No approved files in 1 more locations: <span class=\"mono\">"+l.ID+"</span>") {
				t.Errorf("empty location %s is not named as empty", l.ID)
			}
			continue
		}
		row := regexp.MustCompile(`<tr><td class="mono"><a href="#loc-\d+">` + regexp.QuoteMeta(l.ID) + `</a></td><td>` +
			regexp.QuoteMeta(l.Category) + `</td><td>` + l.Use + `</td>.*<td class="num">` + fmt.Sprint(l.Files) +
			`</td><td class="num">` + fmt.Sprint(l.Executables) + `</td></tr>`)
		if !row.MatchString(locs) {
			t.Errorf("locations table lacks a correct row for %s", l.ID)
		}
	}
	if !strings.Contains(locs, "PCI DSS 4.0 11.5.2, NIST SP 800-53 SI-7, CIS 5.1 cron") {
		t.Error("compliance ids are missing")
	}
	// One files table per location with files (ld-preload has none and has no section), in the
	// document's order.
	files := section(t, page, "files")
	if n := strings.Count(files, `<table class="sortable files">`); n != len(d.Locations)-1 {
		t.Errorf("%d files tables, want %d", n, len(d.Locations)-1)
	}
	if strings.Contains(files, `<span class="mono">ld-preload</span>`) {
		t.Error("an empty location has a files section")
	}
	last := -1
	for _, l := range d.Locations {
		if l.Files == 0 {
			continue
		}
		i := strings.Index(files, `<h3><span class="mono">`+l.ID+`</span>`)
		if i <= last {
			t.Errorf("location %s is missing or out of order in the files section", l.ID)
		}
		last = i
	}
}

func TestHTMLMarksExecutables(t *testing.T) {
	d := sampleDocument()
	page := renderHTML(t, d)
	files := section(t, page, "files")
	rows := regexp.MustCompile(`<tr class="exec"><td class="path mono" data-sort="[^"]*">([^<]*)<span class="badge">exec</span>`).
		FindAllStringSubmatch(files, -1)
	var got []string
	for _, m := range rows {
		got = append(got, m[1])
	}
	var want []string
	for _, f := range d.Files {
		if f.Executable {
			want = append(want, strings.NewReplacer(`"`, "&#34;", "<", "&lt;", ">", "&gt;").Replace(showPath(f.Path, f.PathEscaped)))
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("exec rows:\n got %q\nwant %q", got, want)
	}
	if n := strings.Count(files, `<tr class="exec">`); n != d.Header.Executables {
		t.Errorf("%d rows marked exec, want %d", n, d.Header.Executables)
	}
	// An executable in a config location is not marked.
	if regexp.MustCompile(`<tr class="exec"><td class="path mono" data-sort="/etc/cron.d/evil`).MatchString(files) {
		t.Error("an executable in a config location is marked")
	}
	// Every hash is shown whole: its 64 digits, in four breakable groups of 16.
	raw := section(t, rawHTML(t, d), "files")
	for _, f := range d.Files {
		if f.SHA256 == "" {
			continue
		}
		h := f.SHA256
		want := `<td class="hash mono">` + h[:16] + "<wbr>" + h[16:32] + "<wbr>" + h[32:48] + "<wbr>" + h[48:] + "</td>"
		if !strings.Contains(raw, want) {
			t.Errorf("hash of %q is not shown whole and wrapped: want %s", f.Path, want)
		}
	}
	if strings.Contains(files, "…") {
		t.Error("a value is still cut short with an ellipsis")
	}
	if !strings.Contains(files, "too-large") {
		t.Error("an unhashed file does not say why")
	}
	if !strings.Contains(files, "→ /lib/systemd/system/postgresql.service") {
		t.Error("symlink target missing")
	}
	if !strings.Contains(files, `title="uid 1001, gid 1001">1001:1001</td>`) {
		t.Error("owner without a name is not shown by id")
	}
	if !strings.Contains(files, "postgres:postgres") || !strings.Contains(files, "0750 -rwxr-x---") {
		t.Error("owner names or mode missing")
	}
}

func TestHTMLChanges(t *testing.T) {
	d := sampleDocument()
	ch := section(t, renderHTML(t, d), "changes")
	if n := strings.Count(ch, "<tr>"); n != 1+len(d.Changes) {
		t.Errorf("changes table has %d rows, want header + %d", n, len(d.Changes))
	}
	for _, want := range []string{"/etc/cron.hourly/old-sync", `class="action-removed">removed`,
		"<li>content (size 1980 -&gt; 2211)</li><li>mode 0755 -&gt; 0750</li>", "<td>ana.lopez</td>"} {
		if !strings.Contains(ch, want) {
			t.Errorf("changes lack %q", want)
		}
	}
	if strings.Contains(ch, "<b>none</b>") {
		t.Error(`changes say "none" but there are some`)
	}

	d.Changes = []Change{}
	d.Header.LastApprovalAt, d.Header.LastApprovalBy = "", ""
	page := renderHTML(t, d)
	ch = section(t, page, "changes")
	if !strings.Contains(ch, "<b>none</b>") || strings.Contains(ch, "<table") {
		t.Errorf("empty changes are not plainly none:\n%s", ch)
	}
	if !strings.Contains(section(t, page, "summary"), "<dt>Last approval</dt><dd>none") {
		t.Error("summary does not say there was no approval")
	}
	d.Changes = nil
	if !strings.Contains(section(t, renderHTML(t, d), "changes"), "<b>none</b>") {
		t.Error("nil changes are not plainly none")
	}
}

func TestHTMLMinimalAndHostileHeader(t *testing.T) {
	// An empty document renders; hostile header and owner strings are text; a file in a location
	// the document does not list is still shown.
	d := &Document{Format: FormatName, Version: Version, Header: Header{Host: `h"><script>alert(3)</script>`,
		BaselineBy: "\xffroot", PolicySource: "a\nb"}}
	page := renderHTML(t, d)
	if strings.Count(strings.ToLower(page), "<script") != 1 || !utf8.ValidString(page) {
		t.Error("hostile header broke out or made invalid UTF-8")
	}
	if !strings.Contains(page, `h&#34;&gt;&lt;script&gt;alert(3)&lt;/script&gt;`) || !strings.Contains(page, `&#34;a\nb&#34;`) {
		t.Error("hostile header not shown as text")
	}
	d.Files = []File{{Path: "/x", Location: "gone", Category: "unknown", Type: "file", Owner: `<img src=x onerror=alert(4)>`}}
	page = renderHTML(t, d)
	if strings.Contains(page, "<img") || !strings.Contains(page, `data-sort="/x">/x`) {
		t.Error("file in an unlisted location missing, or owner name is markup")
	}
}

// TestHTMLHostName: an image without /etc/hostname is named by its machine id, else by its root,
// never "Baseline of " followed by nothing.
func TestHTMLHostName(t *testing.T) {
	for _, tc := range []struct {
		name       string
		h          Header
		want, host string
	}{
		{"hostname", Header{Host: "web-1", MachineID: "4c1f", Root: "/mnt/img"}, "web-1", "web-1"},
		{"machine id only", Header{MachineID: "4c1f0e9a7b2d4e6f8a0b1c2d3e4f5a6b", Root: "/mnt/img"},
			"machine 4c1f0e9a7b2d4e6f8a0b1c2d3e4f5a6b", "— (no /etc/hostname)"},
		{"neither", Header{Root: "/mnt/img"}, "root /mnt/img", "— (no /etc/hostname)"},
		{"blank hostname", Header{Host: "  ", MachineID: "ab12", Root: "/"}, "machine ab12", "  "},
		{"hostile machine id", Header{MachineID: "<b>x\n"}, "machine &lt;b&gt;x&#34;", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Document{Format: FormatName, Version: Version, Header: tc.h}
			page := renderHTML(t, d)
			if tc.name == "hostile machine id" {
				if strings.Contains(page, "<b>x") {
					t.Fatal("a hostile machine id became markup")
				}
				return
			}
			for _, want := range []string{
				"<title>tripline baseline — " + tc.want + "</title>",
				`<h1>Baseline of <span class="host">` + tc.want + "</span></h1>",
				"for " + tc.want + " at",
			} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if tc.host != "" && !strings.Contains(page, `<dt>Host</dt><dd class="mono">`+tc.host+"</dd>") {
				t.Errorf("the summary's Host is not %q", tc.host)
			}
		})
	}
}
