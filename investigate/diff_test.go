package investigate

import (
	"reflect"
	"strings"
	"testing"
)

// The expected texts are what GNU diffutils 3.8 `diff -u a b` prints for the same inputs, without
// its two file header lines (UnifiedDiff prints none: Diffs writes its own).
func checkUnified(t *testing.T, name, a, b, want string) {
	t.Helper()
	got := UnifiedDiff([]byte(a), []byte(b))
	if got == want {
		return
	}
	t.Errorf("%s: UnifiedDiff =\n%s\nwant (GNU diff -u):\n%s\n(%q, want %q)", name, got, want, got, want)
}

func TestUnifiedDiffGNU(t *testing.T) {
	cases := []struct{ name, a, b, want string }{
		{"line added at the end", "l1\nl2\nl3\nl4\nl5\n", "l1\nl2\nl3\nl4\nl5\nl6\n",
			"@@ -3,3 +3,4 @@\n l3\n l4\n l5\n+l6"},
		{"deletion at the start", "a\nb\nc\nd\ne\nf\n", "b\nc\nd\ne\nf\n",
			"@@ -1,4 +1,3 @@\n-a\n b\n c\n d"},
		{"lines inserted in the middle", "a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nnew1\nnew2\ne\nf\ng\nh\n",
			"@@ -2,6 +2,8 @@\n b\n c\n d\n+new1\n+new2\n e\n f\n g"},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n",
			"one\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\nsixteen\n",
			"@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n@@ -13,4 +13,4 @@\n 13\n 14\n 15\n-16\n+sixteen"},
		{"six lines between changes: one hunk", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
			"1\n2\nTHREE\n4\n5\n6\n7\n8\n9\nTEN\n11\n12\n",
			"@@ -1,12 +1,12 @@\n 1\n 2\n-3\n+THREE\n 4\n 5\n 6\n 7\n 8\n 9\n-10\n+TEN\n 11\n 12"},
		{"seven lines between changes: two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n",
			"1\n2\nTHREE\n4\n5\n6\n7\n8\n9\n10\nELEVEN\n12\n13\n",
			"@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+THREE\n 4\n 5\n 6\n@@ -8,6 +8,6 @@\n 8\n 9\n 10\n-11\n+ELEVEN\n 12\n 13"},
		{"everything deleted", "a\nb\n", "", "@@ -1,2 +0,0 @@\n-a\n-b"},
		{"everything added", "", "a\nb\n", "@@ -0,0 +1,2 @@\n+a\n+b"},
		{"a blank line deleted", "a\n\n\nb\n", "a\n\nb\n", "@@ -1,4 +1,3 @@\n a\n \n-\n b"},
		// GNU prints the carriage returns raw, and the lines look the same on a terminal;
		// UnifiedDiff quotes a line that holds one (baseline.QuoteLine), so the difference shows.
		{"CRLF to LF", "a\r\nb\r\n", "a\nb\n", "@@ -1,2 +1,2 @@\n-\"a\\r\"\n-\"b\\r\"\n+a\n+b"},
		// GNU adds "\ No newline at end of file" after the last line of each side; UnifiedDiff
		// compares lines and leaves the marker out (documented: the final newline is ignored).
		{"no final newline", "x\ny\nz", "x\ny\nw", "@@ -1,3 +1,3 @@\n x\n y\n-z\n+w"},
		{"one line changed in the middle", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n10\n",
			"@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8"},
		{"a block replaced", "a\nb\nc\nd\ne\n", "a\nX\nY\nZ\ne\n", "@@ -1,5 +1,5 @@\n a\n-b\n-c\n-d\n+X\n+Y\n+Z\n e"},
		{"one-line files", "a\n", "b\n", "@@ -1 +1 @@\n-a\n+b"},
		{"last line removed", "a\nb\n", "a\n", "@@ -1,2 +1 @@\n a\n-b"},
	}
	for _, c := range cases {
		if got := UnifiedDiff([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("%s: UnifiedDiff (in GNU form) =\n%s\nwant (GNU diff -u):\n%s", c.name, got, c.want)
		}
	}
}

// Regression test (found in review, fixed): within a changed block UnifiedDiff prints the added lines before the removed ones
// (then cmd/tripline/versions.go, unifiedDiff: the walk over the LCS table takes a '+' whenever
// lcs[i][j+1] >= lcs[i+1][j], i.e. on ties too). GNU diff, git and patch readers expect the old
// lines first: for "1..10" with line 5 changed to FIVE, diff -u prints "-5" then "+FIVE";
// UnifiedDiff prints "+FIVE" then "-5".
func TestUnifiedDiffChangeOrder(t *testing.T) {
	checkUnified(t, "one line changed in the middle", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n10\n",
		"@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8")
	checkUnified(t, "a block replaced", "a\nb\nc\nd\ne\n", "a\nX\nY\nZ\ne\n",
		"@@ -1,5 +1,5 @@\n a\n-b\n-c\n-d\n+X\n+Y\n+Z\n e")
}

// Regression test (found in review, fixed): a range of one line is printed "N,1" where GNU diff -u prints just "N"
// (then cmd/tripline/versions.go, unifiedDiff, the "@@ -%d,%d +%d,%d @@" header). Both forms are
// accepted by patch; the output is not what diff -u prints.
func TestUnifiedDiffOneLineRange(t *testing.T) {
	checkUnified(t, "added to empty", "", "x\n", "@@ -0,0 +1 @@\n+x")
	checkUnified(t, "only line removed", "x\n", "", "@@ -1 +0,0 @@\n-x")
	checkUnified(t, "last line removed", "a\nb\n", "a\n", "@@ -1,2 +1 @@\n a\n-b")
}

// Regression test (found in review, fixed): splitLines treats a file holding one empty line ("\n") as a file with no lines
// (then cmd/tripline/versions.go, splitLines: TrimSuffix then `s == ""` returns nil). Diffing "\n"
// against "\nx\n" prints "@@ -0,0 +1,2 @@ / + / +x" (the blank line shown as added, wrong line
// numbers); GNU diff -u prints "@@ -1 +1,2 @@ / (blank context) / +x". And "\n" against "" says
// the lines are the same, though a line was removed.
func TestUnifiedDiffSingleEmptyLine(t *testing.T) {
	if got := splitLines([]byte("\n")); len(got) != 1 || got[0] != "" {
		t.Errorf("splitLines(%q) = %q, want one empty line", "\n", got)
	}
	checkUnified(t, "blank line then x", "\n", "\nx\n", "@@ -1 +1,2 @@\n \n+x")
	checkUnified(t, "blank line removed", "\n", "", "@@ -1 +0,0 @@\n-")
}

func TestUnifiedDiffSame(t *testing.T) {
	const same = "(same lines; only line endings or the final newline differ)"
	for _, c := range [][2]string{
		{"a\nb\n", "a\nb\n"},
		{"", ""},
		{"a\nb", "a\nb\n"}, // only the final newline differs
		{"a\nb\n", "a\nb"},
	} {
		if got := UnifiedDiff([]byte(c[0]), []byte(c[1])); got != same {
			t.Errorf("UnifiedDiff(%q, %q) = %q, want %q", c[0], c[1], got, same)
		}
	}
}

func TestUnifiedDiffTooLong(t *testing.T) {
	long := strings.Repeat("x\n", 4001)
	got := UnifiedDiff([]byte(long), []byte("x\n"))
	if !strings.HasPrefix(got, "(too long to diff here: 4001 and 1 lines") {
		t.Errorf("UnifiedDiff of 4001 lines = %q", got)
	}
	// 4000 lines a side is diffed.
	a := strings.Repeat("x\n", 4000)
	b := strings.Repeat("x\n", 3999) + "y\n"
	if got := UnifiedDiff([]byte(a), []byte(b)); got != "@@ -3997,4 +3997,4 @@\n x\n x\n x\n-x\n+y" {
		t.Errorf("UnifiedDiff of 4000 lines = %q", got)
	}
}

func TestUnifiedSplitLines(t *testing.T) {
	for in, want := range map[string][]string{
		"":           nil,
		"a":          {"a"},
		"a\n":        {"a"},
		"a\nb":       {"a", "b"},
		"a\n\nb\n\n": {"a", "", "b", ""},
		"a\r\n":      {"a\r"},
	} {
		if got := splitLines([]byte(in)); !reflect.DeepEqual(got, want) {
			t.Errorf("splitLines(%q) = %q, want %q", in, got, want)
		}
	}
}
