package investigate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tripline/tripline/baseline"
)

// UnifiedDiff renders a line diff of a and b as diff -u prints its hunks (without the two file
// header lines), with three lines of context. It is an LCS over lines: inputs are at most 1 MiB,
// and beyond 4,000 lines a side it gives up and says so. The final newline is not compared.
//
// Each line is written as baseline.QuoteLine renders it: a line holding a control character
// (a carriage return, an escape sequence that erases the line) is Go-quoted after its '+', '-'
// or ' ', so a terminal shows what the file holds instead of obeying it.
func UnifiedDiff(a, b []byte) string {
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
			sb.WriteString(baseline.QuoteLine(o.line))
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
