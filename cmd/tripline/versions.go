package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/store"
)

// contentVersion is one distinct content of a path, numbered from 1 in the order the history met them.
type contentVersion struct {
	N      int
	SHA256 string
	Size   int64
	RowID  int64 // the history row that recorded it (0: the baseline before any change)
	TimeNS int64
}

// versionsOf lists the contents a path held: the one before its first recorded change (the
// baseline's, usually), then each new one.
func versionsOf(rows []store.HistoryRow) []contentVersion {
	var out []contentVersion
	add := func(e *baseline.Entry, row int64, t int64) {
		if e == nil || e.Type != baseline.TypeFile || e.SHA256 == "" {
			return
		}
		if len(out) > 0 && out[len(out)-1].SHA256 == e.SHA256 {
			return
		}
		out = append(out, contentVersion{N: len(out) + 1, SHA256: e.SHA256, Size: e.Size, RowID: row, TimeNS: t})
	}
	if len(rows) > 0 {
		add(rows[0].Old, 0, 0)
	}
	for _, r := range rows {
		add(r.New, r.ID, r.TimeNS)
	}
	return out
}

func contentDiffs(c *cli.Context, db *store.DB, rows []store.HistoryRow) ([]string, error) {
	vs := versionsOf(rows)
	if len(vs) == 0 {
		return []string{"no content versions: never a hashed regular file"}, nil
	}
	var out []string
	get := func(v contentVersion) ([]byte, string) {
		b, err := db.Content(c.Context, v.SHA256)
		if errors.Is(err, store.ErrNoContent) {
			return nil, fmt.Sprintf("version %d (sha256 %.12s, %d bytes) is not stored (over 1 MiB, or pruned)", v.N, v.SHA256, v.Size)
		}
		if err != nil {
			return nil, err.Error()
		}
		return b, ""
	}
	prev, why := get(vs[0])
	for i := 1; i < len(vs); i++ {
		cur, whyCur := get(vs[i])
		head := fmt.Sprintf("--- version %d (%s)\n+++ version %d (%s, history row %d)", vs[i-1].N, versionWhen(vs[i-1]), vs[i].N, versionWhen(vs[i]), vs[i].RowID)
		switch {
		case why != "" || whyCur != "":
			out = append(out, head+"\n"+strings.TrimSpace(why+"\n"+whyCur))
		case isBinary(prev) || isBinary(cur):
			out = append(out, fmt.Sprintf("%s\nbinary content: %d bytes (sha256 %.12s) -> %d bytes (sha256 %.12s); 'tripline show PATH@N' prints either",
				head, len(prev), vs[i-1].SHA256, len(cur), vs[i].SHA256))
		default:
			out = append(out, head+"\n"+unifiedDiff(prev, cur))
		}
		prev, why = cur, whyCur
	}
	if len(vs) == 1 {
		out = append(out, fmt.Sprintf("one version only (sha256 %.12s, %d bytes): nothing to compare", vs[0].SHA256, vs[0].Size))
	}
	return out, nil
}

func versionWhen(v contentVersion) string {
	if v.RowID == 0 {
		return "before the first recorded change"
	}
	return ts(v.TimeNS)
}

func isBinary(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b)
}

// unifiedDiff renders a line diff with three lines of context (an LCS over lines; inputs are at
// most 1 MiB, and beyond 4,000 lines a side it gives up and says so).
func unifiedDiff(a, b []byte) string {
	al, bl := splitLines(a), splitLines(b)
	if len(al) > 4000 || len(bl) > 4000 {
		return fmt.Sprintf("(too long to diff here: %d and %d lines; 'tripline show PATH@N' prints each)", len(al), len(bl))
	}
	// lcs[i][j]: length of the LCS of al[i:] and bl[j:].
	lcs := make([][]int32, len(al)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(bl)+1)
	}
	for i := len(al) - 1; i >= 0; i-- {
		for j := len(bl) - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		line string
		ai   int // line number in a (1-based) of this or the next a line
		bi   int
	}
	var ops []op
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			ops = append(ops, op{' ', al[i], i + 1, j + 1})
			i, j = i+1, j+1
		case i < len(al) && (j == len(bl) || lcs[i+1][j] >= lcs[i][j+1]):
			// Removed lines first, as diff -u prints them.
			ops = append(ops, op{'-', al[i], i + 1, j + 1})
			i++
		default:
			ops = append(ops, op{'+', bl[j], i + 1, j + 1})
			j++
		}
	}
	const ctx = 3
	var sb strings.Builder
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(k-ctx, 0)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(ops) {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		var na, nb int
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				na++
			}
			if o.kind != '-' {
				nb++
			}
		}
		as, bs := ops[start].ai, ops[start].bi
		if na == 0 {
			as--
		}
		if nb == 0 {
			bs--
		}
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(as, na), hunkRange(bs, nb))
		for _, o := range ops[start:end] {
			sb.WriteByte(o.kind)
			sb.WriteString(o.line)
			sb.WriteByte('\n')
		}
		k = end
	}
	if sb.Len() == 0 {
		return "(same lines; only line endings or the final newline differ)"
	}
	return strings.TrimRight(sb.String(), "\n")
}

// hunkRange writes a hunk's start and length as diff -u does: the length only when it is not 1.
func hunkRange(start, n int) string {
	if n == 1 {
		return strconv.Itoa(start)
	}
	return strconv.Itoa(start) + "," + strconv.Itoa(n)
}

// splitLines splits content into lines; "\n" is one empty line, "" none.
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func showCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print a stored content version of a file",
		UsageText: "tripline show PATH@N",
		Description: `Prints version N (1 is the oldest) of PATH's content as tripline stored it, byte for byte.
'tripline history PATH --diff' lists the versions and their differences. Contents are stored
for regular files in locations up to 1 MiB.`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("show needs PATH@N")
			}
			arg := c.Args().First()
			at := strings.LastIndexByte(arg, '@')
			if at < 0 {
				return usagef("%s: give PATH@N, N a version number from 'tripline history PATH --diff'", arg)
			}
			n, err := strconv.Atoi(arg[at+1:])
			if err != nil || n < 1 {
				return usagef("%s: version %q is not a number from 1", arg, arg[at+1:])
			}
			p, err := pathArg(arg[:at])
			if err != nil {
				return err
			}
			db, err := e.openDBReadOnly(c.Context)
			if err != nil {
				return err
			}
			defer db.Close()
			rows, err := db.History(c.Context, store.HistoryQuery{Path: p, UID: -1})
			if err != nil {
				return err
			}
			vs := versionsOf(rows)
			if n > len(vs) {
				return fmt.Errorf("%s has %d content versions in the history, not %d", baseline.QuotePath(p), len(vs), n)
			}
			b, err := db.Content(c.Context, vs[n-1].SHA256)
			if errors.Is(err, store.ErrNoContent) {
				return fmt.Errorf("%s version %d (sha256 %s) is not stored (over 1 MiB, or pruned)", baseline.QuotePath(p), n, vs[n-1].SHA256)
			}
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(b)
			return err
		},
	}
}
