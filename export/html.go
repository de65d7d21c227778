package export

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tripline/tripline/baseline"
)

// WriteHTML writes the export as one self-contained page for people: a summary, the locations,
// what the latest approval changed, and the files grouped by location, executables in executed
// locations marked. The page loads nothing: its style and its one small script (sortable tables)
// are inline, and its Content-Security-Policy allows those two by hash and nothing else, so even
// a file name that slipped past escaping could neither run script nor fetch anything. It reads
// completely without script and prints. File names and every other string a host controls are
// escaped by html/template, and those that are not plain printable UTF-8 are shown quoted
// ("/etc/a\nb", "/tmp/\xff"), as everywhere else in tripline. The JSON export is the evidence;
// this page is for reading it.
func WriteHTML(w io.Writer, d *Document) error {
	p := newHTMLPage(d)
	// The page lists the files grouped by location, and the document has them in path order. So
	// each file's row is rendered as it is read and appended to an unlinked temporary file, each
	// group's rows remembered as runs of bytes there; the page is then written group by group
	// from those runs. Memory holds one file and the runs, whatever the number of files (the
	// whole page in memory took 570 MB for 200,000 files).
	rows, err := os.CreateTemp("", "tripline-export-html-*")
	if err != nil {
		return fmt.Errorf("export: a temporary file for the page's rows (TMPDIR): %w", err)
	}
	os.Remove(rows.Name())
	defer rows.Close()
	rw := &countWriter{w: bufio.NewWriterSize(rows, 64<<10)}
	err = d.EachFile(func(f *File) error {
		g := p.group(f)
		start := rw.n
		if err := htmlTemplate.ExecuteTemplate(rw, "row", newHTMLFile(f)); err != nil {
			return err
		}
		p.Groups[g].add(start, rw.n-start)
		p.Groups[g].Files++
		if f.Executable {
			p.Groups[g].Exec++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := rw.w.Flush(); err != nil {
		return fmt.Errorf("export: write to a temporary file: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := htmlTemplate.Execute(bw, p); err != nil {
		return err
	}
	for i := range p.Groups {
		g := &p.Groups[i]
		if err := htmlTemplate.ExecuteTemplate(bw, "group-open", g); err != nil {
			return err
		}
		for _, r := range g.runs {
			if _, err := io.Copy(bw, io.NewSectionReader(rows, r.off, r.n)); err != nil {
				return fmt.Errorf("export: read back a temporary file: %w", err)
			}
		}
		if err := htmlTemplate.ExecuteTemplate(bw, "group-close", g); err != nil {
			return err
		}
	}
	if len(p.Groups) == 0 {
		if err := htmlTemplate.ExecuteTemplate(bw, "no-groups", p); err != nil {
			return err
		}
	}
	if err := htmlTemplate.ExecuteTemplate(bw, "tail", p); err != nil {
		return err
	}
	return bw.Flush()
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// htmlStyle and htmlScript are inserted verbatim (not parsed by html/template, which would strip
// comments and so change the bytes the CSP hashes). Neither holds a comment nor a URL.
const htmlStyle = `
:root{--fg:#1d232a;--muted:#5b6672;--line:#d8dee4;--head:#f3f5f7;--accent:#1f5fa8;--exec:#fff1e0;--execline:#c2410c}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;color:var(--fg);background:#fff;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif}
main,header.page,footer.page{max-width:1480px;margin:0 auto;padding:0 24px}
header.page{padding-top:20px;padding-bottom:8px;border-bottom:3px solid var(--accent)}
h1{font-size:1.7em;margin:0 0 2px}
h1 .host{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",monospace}
.sub{color:var(--muted);margin:0}
nav{margin:10px 0 0;display:flex;gap:18px;flex-wrap:wrap}
nav a{color:var(--accent);text-decoration:none;font-weight:600}
nav a:hover,td a:hover{text-decoration:underline}
td a{color:var(--accent);text-decoration:none}
h2{font-size:1.3em;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:1.07em;margin:22px 0 6px}
h3 .meta{font-weight:normal;color:var(--muted);margin-left:8px}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",monospace;font-size:.93em}
dl.summary{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));grid-auto-flow:row dense;gap:0 28px;margin:8px 0 0}
dl.summary div{padding:7px 0;border-bottom:1px solid #eef1f4}
dl.summary div.wide{grid-column:span 2}
dl.summary dt{color:var(--muted);font-size:.8em;text-transform:uppercase;letter-spacing:.05em;margin-bottom:1px}
dl.summary dd{margin:0;overflow-wrap:anywhere}
.counts{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0 4px}
.count{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:150px;background:var(--head)}
.count b{display:block;font-size:1.6em;font-variant-numeric:tabular-nums}
.count span{color:var(--muted);font-size:.9em}
.count.execs{border-color:var(--execline);background:var(--exec)}
table{border-collapse:collapse;width:100%;margin:4px 0 8px;font-size:.93em}
table.files{table-layout:fixed}
col.c-path{width:26%}col.c-type{width:5.5%}col.c-mode{width:10.5%}col.c-owner{width:10%}col.c-size{width:6.5%}col.c-hash{width:13.5%}col.c-time{width:14%}
td.owner{overflow-wrap:anywhere}
td.hash{overflow-wrap:anywhere;font-size:.86em}
th,td{text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid var(--line)}
thead th{background:var(--head);border-bottom:2px solid #b9c2cc;white-space:nowrap;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.path{overflow-wrap:anywhere}
td.nowrap,td.mode,td.time{white-space:nowrap}
table.files td.time{white-space:normal}
.dim{color:var(--muted)}
.target{display:block;color:var(--muted)}
tr.exec td{background:var(--exec)}
tr.exec td:first-child{box-shadow:inset 4px 0 0 var(--execline)}
.badge{display:inline-block;margin-left:6px;padding:0 5px;border:1px solid var(--execline);border-radius:3px;color:var(--execline);background:#fff;font:700 .78em/1.5 system-ui,sans-serif;letter-spacing:.04em;text-transform:uppercase;vertical-align:1px}
.action-removed{color:#b42318;font-weight:600}
.action-approved{color:#1a7f37;font-weight:600}
.none{padding:8px 12px;border:1px dashed var(--line);border-radius:6px;display:inline-block}
ul.what{margin:0;padding-left:16px}
button.sort{all:unset;cursor:pointer;display:inline-block;width:100%}
button.sort:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
button.sort::after{content:"\2195";color:#9aa5b1;margin-left:5px;font-weight:normal}
th[aria-sort=ascending] button.sort::after{content:"\25B2";color:var(--accent)}
th[aria-sort=descending] button.sort::after{content:"\25BC";color:var(--accent)}
.legend{color:var(--muted);margin:4px 0 0}
footer.page{margin-top:36px;padding-top:10px;padding-bottom:30px;border-top:1px solid var(--line);color:var(--muted);font-size:.93em}
footer.page pre{background:var(--head);border:1px solid var(--line);border-radius:6px;padding:8px 10px;white-space:pre-wrap;overflow-wrap:anywhere;color:var(--fg)}
@media print{
@page{size:A4 landscape;margin:12mm}
body{font-size:10.5px}
main,header.page,footer.page{max-width:none;padding:0}
nav,button.sort::after{display:none}
header.page{border-bottom-width:2px}
thead{display:table-header-group}
tr{break-inside:avoid}
h2,h3{break-after:avoid}
section.loc{break-inside:auto}
tr.exec td{background:none}
tr.exec td:first-child{box-shadow:none;border-left:3px solid #000}
.badge{border-color:#000;color:#000}
.count,.count.execs{background:none}
a,td a{color:inherit;text-decoration:none}
}
`

const htmlScript = `
(function(){
function key(row,i){var c=row.cells[i];if(!c)return "";var k=c.getAttribute("data-sort");return k!==null?k:c.textContent.trim();}
function num(s){return s!==""&&/^-?[0-9]+(\.[0-9]+)?$/.test(s);}
function cmp(a,b){if(num(a)&&num(b))return Number(a)-Number(b);return a<b?-1:a>b?1:0;}
var tables=document.querySelectorAll("table.sortable");
Array.prototype.forEach.call(tables,function(t){
if(!t.tHead||!t.tBodies.length)return;
var ths=t.tHead.rows[0].cells;
Array.prototype.forEach.call(ths,function(th,i){
var b=document.createElement("button");b.type="button";b.className="sort";b.title="Sort by this column";
while(th.firstChild)b.appendChild(th.firstChild);
th.appendChild(b);
b.addEventListener("click",function(){
var asc=th.getAttribute("aria-sort")!=="ascending";
Array.prototype.forEach.call(ths,function(h){h.removeAttribute("aria-sort");});
th.setAttribute("aria-sort",asc?"ascending":"descending");
var body=t.tBodies[0];
var rows=Array.prototype.map.call(body.rows,function(r,n){return {r:r,n:n,k:key(r,i)};});
rows.sort(function(x,y){var d=cmp(x.k,y.k);if(!asc)d=-d;return d||x.n-y.n;});
rows.forEach(function(x){body.appendChild(x.r);});
});
});
});
document.body.dataset.ready="1";
})();
`

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// htmlCSP lets the page run its own style and script, identified by hash, and load nothing:
// no network, no other file, no form target.
var htmlCSP = "default-src 'none'; style-src " + cspHash(htmlStyle) + "; script-src " + cspHash(htmlScript) +
	"; img-src 'none'; base-uri 'none'; form-action 'none'"

var htmlTemplate = template.Must(template.New("export.html").Funcs(template.FuncMap{
	"style":  func() template.HTML { return template.HTML("<style>" + htmlStyle + "</style>") },
	"script": func() template.HTML { return template.HTML("<script>" + htmlScript + "</script>") },
	"wbr":    wbr,
}).Parse(strings.Replace(htmlSource, "CSP_POLICY", htmlCSP, 1)))

const htmlSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="CSP_POLICY">
<meta name="generator" content="tripline">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>tripline baseline — {{.H.Name}}</title>
{{style}}
</head>
<body>
<header class="page">
<h1>Baseline of <span class="host">{{.H.Name}}</span></h1>
<p class="sub">tripline baseline export · exported {{template "time" .H.ExportedAt}} · {{.H.Files}} files in {{.LocTotal}} locations</p>
<nav><a href="#summary">Summary</a><a href="#locations">Locations</a><a href="#changes">Changes since the previous approval</a><a href="#files">Files</a><a href="#verify">Verifying the export</a></nav>
</header>
<main>
<section id="summary">
<h2>Summary</h2>
<div class="counts">
<div class="count"><b>{{.H.Files}}</b><span>approved files</span></div>
<div class="count execs"><b>{{.H.Executables}}</b><span>executables in executed locations</span></div>
<div class="count"><b>{{.LocTotal}}</b><span>locations</span></div>
<div class="count"><b>{{.Changes}}</b><span>changes in the latest approval</span></div>
<div class="count"><b>{{.H.HistoryRows}}</b><span>history rows{{if .H.HistoryRows}} (newest id {{.H.HistoryLast}}){{end}}</span></div>
</div>
<dl class="summary">
<div><dt>Host</dt><dd class="mono">{{or .H.Host "— (no /etc/hostname)"}}</dd></div>
<div><dt>Machine ID</dt><dd class="mono">{{or .H.MachineID "—"}}</dd></div>
<div><dt>Root</dt><dd class="mono">{{.H.Root}}</dd></div>
<div><dt>Policy source</dt><dd class="mono">{{.H.PolicySource}}</dd></div>
<div class="wide"><dt>Policy digest (sha256)</dt><dd class="mono">{{.H.PolicyDigest}}</dd></div>
<div><dt>tripline version</dt><dd class="mono">{{.H.TriplineVersion}}</dd></div>
<div><dt>Export format</dt><dd class="mono">{{.Format}} v{{.Version}}</dd></div>
<div><dt>Exported at</dt><dd>{{template "time" .H.ExportedAt}}</dd></div>
<div><dt>Baseline created</dt><dd>{{template "time" .H.BaselineAt}}{{if .H.BaselineBy}} by <b>{{.H.BaselineBy}}</b>{{end}}</dd></div>
<div><dt>Last approval</dt><dd>{{if .H.LastApprovalAt.Full}}{{template "time" .H.LastApprovalAt}}{{if .H.LastApprovalBy}} by <b>{{.H.LastApprovalBy}}</b>{{end}}{{else}}none since the baseline was created{{end}}</dd></div>
</dl>
</section>

<section id="locations">
<h2>Locations</h2>
{{if .Locations}}<table class="sortable locations">
<thead><tr><th>Location</th><th>Category</th><th>Use</th><th>Technique</th><th>Compliance controls</th><th class="num">Files</th><th class="num">Executables</th></tr></thead>
<tbody>
{{range .Locations}}<tr><td class="mono"><a href="#{{.Anchor}}">{{.ID}}</a></td><td>{{.Category}}</td><td>{{.Use}}</td><td class="mono">{{or .Technique "—"}}</td><td class="mono">{{or .Compliance "—"}}</td><td class="num">{{.Files}}</td><td class="num">{{.Executables}}</td></tr>
{{end}}</tbody>
</table>
<p class="legend">Executables are regular files with an execute bit. Only those in locations whose use is <i>executed</i> are marked below.</p>
{{else}}<p class="none">none</p>{{end}}
{{if .EmptyCount}}<p class="legend">No approved files in {{.EmptyCount}} more locations: <span class="mono">{{.EmptyLocations}}</span>.</p>{{end}}
</section>

<section id="changes">
<h2>Changes since the previous approval</h2>
{{if .ChangeRows}}<table class="sortable changes">
<thead><tr><th>Path</th><th>Action</th><th>What</th><th>By</th><th>At</th></tr></thead>
<tbody>
{{range .ChangeRows}}<tr><td class="path mono" data-sort="{{.Path}}">{{wbr .Path}}</td><td class="action-{{.ActionClass}}">{{.Action}}</td><td><ul class="what">{{range .What}}<li>{{.}}</li>{{end}}</ul></td><td>{{.By}}</td><td class="nowrap" data-sort="{{.At.Full}}">{{template "time" .At}}</td></tr>
{{end}}</tbody>
</table>
{{else}}<p class="none"><b>none</b>: the latest approval neither approved nor removed any path.</p>{{end}}
</section>

<section id="files">
<h2>Files by location</h2>
<p class="legend">Rows marked <span class="badge">exec</span> (and shaded) are executable regular files in executed locations. Paths that are not plain printable UTF-8 are shown in double quotes with escapes (\n, \xff). SHA-256 values are shown whole, wrapped in groups of 16 hex digits (a copy gives the 64 digits without breaks).</p>
{{define "group-open"}}<section class="loc" id="{{.Anchor}}">
<h3><span class="mono">{{.ID}}</span><span class="meta">{{.Category}} · {{.Use}} · {{.Files}} files{{if .Exec}} · {{.Exec}} marked exec{{end}}</span></h3>
{{if .Files}}<table class="sortable files">
<colgroup><col class="c-path"><col class="c-type"><col class="c-mode"><col class="c-owner"><col class="c-size"><col class="c-hash"><col class="c-time"><col class="c-time"></colgroup>
<thead><tr><th>Path</th><th>Type</th><th>Mode</th><th>Owner:group</th><th class="num">Size</th><th>SHA-256</th><th>Modified</th><th>Approved</th></tr></thead>
<tbody>
{{end}}{{end}}{{define "row"}}<tr{{if .Exec}} class="exec"{{end}}><td class="path mono" data-sort="{{.Path}}">{{wbr .Path}}{{if .Exec}}<span class="badge">exec</span>{{end}}{{if .Target}}<span class="target">→ {{wbr .Target}}</span>{{end}}{{if .Package}}<span class="target">{{.Package}}</span>{{end}}</td><td>{{.Type}}</td><td class="mode mono">{{.Mode}} {{.ModeSym}}</td><td class="owner" title="uid {{.UID}}, gid {{.GID}}">{{.Owner}}</td><td class="num" data-sort="{{.Size}}">{{.SizeText}}</td><td class="hash mono">{{if .Hash}}{{.HashWrapped}}{{else}}<span class="dim">{{.HashState}}</span>{{end}}</td><td class="time" data-sort="{{.Modified.Full}}">{{template "time" .Modified}}</td><td class="time" data-sort="{{.ApprovedAt.Full}}">{{template "time" .ApprovedAt}}{{if .ApprovedBy}}<br><span class="dim">by {{.ApprovedBy}}</span>{{end}}</td></tr>
{{end}}{{define "group-close"}}{{if .Files}}</tbody>
</table>
{{else}}<p class="none">no approved files</p>{{end}}
</section>
{{end}}{{define "no-groups"}}<p class="none">none</p>
{{end}}{{define "tail"}}</section>
</main>
<footer class="page" id="verify">
<h2>Verifying the export</h2>
<p>This page is for reading. The evidence is the JSON export and its Ed25519 signature (<code>tripline baseline export --format json -o FILE.json --sign KEY</code>). Check it with <code>tripline baseline verify FILE.json --pubkey PUB.pem</code>, or with stock OpenSSL 3, without trusting tripline:</p>
<pre>openssl pkeyutl -verify -pubin -inkey PUB.pem -rawin -in FILE.json -sigfile FILE.json.sig</pre>
<p>Generated by tripline {{.H.TriplineVersion}} for {{.H.Name}} at {{.H.ExportedAt.Full}}. The page loads nothing from anywhere; sorting a table by its header needs script, reading it does not.</p>
</footer>
{{script}}
</body>
</html>
{{end}}{{define "time"}}{{if .Full}}<time datetime="{{.Full}}" title="{{.Full}}">{{.Short}}</time>{{else}}<span class="dim">—</span>{{end}}{{end}}`

type htmlTime struct{ Full, Short string }

type htmlHeader struct {
	// Name is what the page calls the host: its host name, else its machine id (an image without
	// /etc/hostname), else the exported root, so the title never reads "Baseline of".
	Name                                                               string
	Host, MachineID, Root, TriplineVersion, PolicySource, PolicyDigest string
	BaselineBy, LastApprovalBy                                         string
	ExportedAt, BaselineAt, LastApprovalAt                             htmlTime
	Files, Executables                                                 int
	HistoryRows, HistoryLast                                           int64
}

type htmlLocation struct {
	Anchor, ID, Category, Use, Technique, Compliance string
	Files, Executables                               int
}

type htmlChange struct {
	Path, Action, ActionClass, By string
	At                            htmlTime
	What                          []string
}

type htmlFile struct {
	Path, Target, Type, Mode, ModeSym, Owner string
	UID, GID                                 uint32
	Size                                     int64
	SizeText, Hash, HashState                string
	HashWrapped                              template.HTML
	Modified, ApprovedAt                     htmlTime
	ApprovedBy                               string
	Exec                                     bool
	Package                                  string // "NAME VERSION (TYPE), STATE", "unowned" or ""
}

type htmlGroup struct {
	Anchor, ID, Category, Use string
	Files, Exec               int
	runs                      []byteRun // where the group's rendered rows are in the temporary file
}

type byteRun struct{ off, n int64 }

// add records that n bytes at off are the group's next rows, extending its last run when they
// follow it (the files of one location are mostly adjacent in path order).
func (g *htmlGroup) add(off, n int64) {
	if k := len(g.runs); k > 0 && g.runs[k-1].off+g.runs[k-1].n == off {
		g.runs[k-1].n += n
		return
	}
	g.runs = append(g.runs, byteRun{off, n})
}

type htmlPage struct {
	Format    string
	Version   int
	Changes   int
	H         htmlHeader
	Locations []htmlLocation
	// EmptyLocations are the ids of locations with no approved file: listed in one sentence,
	// not as rows of zeros.
	EmptyLocations string
	EmptyCount     int
	LocTotal       int
	ChangeRows     []htmlChange
	Groups         []htmlGroup
	groups         map[string]int // location id -> index in Groups
}

func newHTMLPage(d *Document) *htmlPage {
	h := &d.Header
	p := &htmlPage{Format: text(d.Format), Version: d.Version, Changes: len(d.Changes)}
	p.H = htmlHeader{Host: text(h.Host), MachineID: text(h.MachineID), Root: showPath(h.Root, ""),
		TriplineVersion: text(h.TriplineVersion), PolicySource: text(h.PolicySource), PolicyDigest: text(h.PolicyDigest),
		ExportedAt: showTime(h.ExportedAt), BaselineAt: showTime(h.BaselineAt), BaselineBy: text(h.BaselineBy),
		LastApprovalAt: showTime(h.LastApprovalAt), LastApprovalBy: text(h.LastApprovalBy),
		Files: h.Files, Executables: h.Executables, HistoryRows: h.History.Rows, HistoryLast: h.History.LastID}
	p.H.Name = hostName(h)
	// Anchors are made from positions, never from names a policy or host controls.
	p.groups = map[string]int{}
	p.LocTotal = len(d.Locations)
	for i, l := range d.Locations {
		anchor := "loc-" + strconv.Itoa(i+1)
		if l.Files == 0 {
			if p.EmptyLocations != "" {
				p.EmptyLocations += ", "
			}
			p.EmptyLocations += text(l.ID)
			p.EmptyCount++
			continue
		}
		p.Locations = append(p.Locations, htmlLocation{Anchor: anchor, ID: text(l.ID), Category: text(l.Category),
			Use: text(l.Use), Technique: text(l.Technique), Compliance: text(strings.Join(l.Compliance, ", ")),
			Files: l.Files, Executables: l.Executables})
		if _, dup := p.groups[l.ID]; !dup {
			p.groups[l.ID] = len(p.Groups)
			p.Groups = append(p.Groups, htmlGroup{Anchor: anchor, ID: text(l.ID), Category: text(l.Category), Use: text(l.Use)})
		}
	}
	for _, c := range d.Changes {
		hc := htmlChange{Path: showPath(c.Path, ""), Action: text(c.Action), ActionClass: "other", By: text(c.By), At: showTime(c.At)}
		switch c.Action {
		case "approved", "removed":
			hc.ActionClass = c.Action
		}
		for _, w := range c.What {
			hc.What = append(hc.What, text(w))
		}
		p.ChangeRows = append(p.ChangeRows, hc)
	}
	return p
}

// group returns the index of f's location in p.Groups.
func (p *htmlPage) group(f *File) int {
	g, ok := p.groups[f.Location]
	if !ok {
		// A location the document does not list: shown anyway, so no file is left out.
		g = len(p.Groups)
		p.groups[f.Location] = g
		p.Groups = append(p.Groups, htmlGroup{Anchor: "loc-x" + strconv.Itoa(g+1), ID: text(f.Location),
			Category: text(f.Category), Use: "not listed"})
	}
	return g
}

// newHTMLFile is f as a row of the page shows it.
func newHTMLFile(f *File) *htmlFile {
	hf := &htmlFile{Path: showPath(f.Path, f.PathEscaped), Type: text(f.Type), Mode: text(f.Mode),
		ModeSym: text(f.ModeSymbolic), Owner: ownerGroup(f), UID: f.UID, GID: f.GID, Size: f.Size,
		SizeText: groupDigits(f.Size), Hash: text(f.SHA256), HashState: text(f.HashState),
		Modified: showTime(f.Modified), ApprovedAt: showTime(f.ApprovedAt), ApprovedBy: text(f.ApprovedBy),
		Exec: f.Executable}
	if f.Target != "" {
		hf.Target = showPath(f.Target, "")
	}
	switch {
	case f.PackageState == "unowned":
		hf.Package = "owned by no package"
	case f.PackageState != "":
		hf.Package = text(f.PackageName) + " " + text(f.PackageVersion) + " (" + text(f.PackageType) + "), " + text(f.PackageState)
	}
	if hf.HashState == "" {
		hf.HashState = "not hashed"
	}
	hf.HashWrapped = wrapEvery(hf.Hash, 16)
	return hf
}

// hostName names the exported host for a title: its host name, else "machine ID" from
// /etc/machine-id, else "root DIR".
func hostName(h *Header) string {
	switch {
	case strings.TrimSpace(h.Host) != "":
		return text(h.Host)
	case strings.TrimSpace(h.MachineID) != "":
		return "machine " + text(h.MachineID)
	case h.Root != "":
		return "root " + showPath(h.Root, "")
	}
	return "an unnamed host"
}

// wrapEvery escapes s and lets it break after every n characters (<wbr> adds nothing to what a
// reader copies), for values such as a sha256 that have no natural break.
func wrapEvery(s string, n int) template.HTML {
	r := []rune(s)
	var b strings.Builder
	for i := 0; i < len(r); i += n {
		if i > 0 {
			b.WriteString("<wbr>")
		}
		b.WriteString(template.HTMLEscapeString(string(r[i:min(i+n, len(r))])))
	}
	return template.HTML(b.String())
}

// showPath is a path as tripline prints it everywhere: as it is when plain, else Go-quoted. A
// path read back from JSON holds U+FFFD for bytes that were not UTF-8, and escaped the original.
func showPath(path, escaped string) string {
	if escaped != "" {
		return text(escaped)
	}
	return baseline.QuotePath(path)
}

// wbr escapes a path for HTML text and lets a long one wrap after its slashes (<wbr> breaks a
// line there without adding a character to what a reader copies).
func wbr(path string) template.HTML {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		parts[i] = template.HTMLEscapeString(p)
	}
	return template.HTML(strings.Join(parts, "/<wbr>"))
}

// text is free text a host or policy controls (owner names, approvers, what changed): as it is
// when valid UTF-8 without control or invisible format characters, else Go-quoted, so it can
// neither break a line nor hide as something else. html/template escapes the markup.
func text(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func ownerGroup(f *File) string {
	o, g := f.Owner, f.Group
	if o == "" {
		o = strconv.FormatUint(uint64(f.UID), 10)
	}
	if g == "" {
		g = strconv.FormatUint(uint64(f.GID), 10)
	}
	return text(o) + ":" + text(g)
}

// showTime shortens an RFC 3339 time to the second for the eye; the full value is kept for the
// title attribute and for sorting.
func showTime(s string) htmlTime {
	s = text(s)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return htmlTime{Full: s, Short: s}
	}
	return htmlTime{Full: s, Short: t.UTC().Format("2006-01-02 15:04:05Z")}
}

// groupDigits writes n with thin spaces between groups of three digits: 1 234 567.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
