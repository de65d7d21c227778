package main

import (
	"github.com/tripline/tripline/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// completionScript writes tripline's completion script for shell to a file.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	r := tlRun(t, "completion", shell)
	if r.code != 0 || r.stdout == "" {
		t.Fatalf("completion %s: exit %d %s", shell, r.code, r.stderr)
	}
	f := filepath.Join(t.TempDir(), "tripline."+shell)
	if err := os.WriteFile(f, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// compCases are command lines being typed (the last word is the one completed) and the
// candidates expected among the answers.
var compCases = []struct {
	line string
	want []string
	not  []string
}{
	{"tripline ", []string{"scan", "watch", "baseline", "history", "restore", "show", "policy", "version", "help", "completion", "man"}, nil},
	{"tripline baseline a", []string{"accept"}, []string{"create"}},
	{"tripline baseline ", []string{"create", "update", "accept", "show", "export", "keygen", "verify", "diff"}, []string{"scan"}},
	{"tripline scan --format ", []string{"text", "json", "ecs"}, nil},
	{"tripline watch --backend ", []string{"auto", "fanotify", "inotify"}, nil},
	{"tripline history /etc/x --for", []string{"--format"}, nil},
	{"tripline --db /tmp/x scan --fa", []string{"--fail-on"}, nil},
	{"tripline scan --ro", []string{"--root"}, nil}, // the app's flags after the command
	{"tripline help base", []string{"baseline"}, nil},
	{"tripline help baseline ", []string{"accept", "diff"}, nil},
	{"tripline completion ", []string{"bash", "zsh", "fish"}, nil},
	{"tripline policy locations --", []string{"--existing", "--format"}, []string{"--missing"}},
}

// TestCompletionBash sources the script in bash, as a user's shell does, and asks it.
func TestCompletionBash(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		testenv.SkipOrFail(t, "bash is not installed")
	}
	script := completionScript(t, "bash")
	out, err := exec.Command("bash", "-c", "source "+script+"; complete -p tripline").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "complete -F _tripline tripline" {
		t.Fatalf("complete -p tripline: %v %q", err, out)
	}
	for _, c := range compCases {
		words := strings.Split(c.line, " ")
		var q []string
		for _, w := range words {
			q = append(q, shellWord(w))
		}
		prog := "source " + script + "; COMP_WORDS=(" + strings.Join(q, " ") + "); COMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "; _tripline; printf '%s\\n' \"${COMPREPLY[@]}\""
		out, err := exec.Command("bash", "-c", prog).CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v %s", c.line, err, out)
			continue
		}
		checkCandidates(t, "bash", c.line, strings.Fields(string(out)), c.want, c.not)
	}
}

// TestCompletionFish asks fish itself (complete -C) with the script loaded.
func TestCompletionFish(t *testing.T) {
	if _, err := exec.LookPath("fish"); err != nil {
		testenv.SkipOrFail(t, "fish is not installed (apt-get install fish): the fish script is not checked")
	}
	script := completionScript(t, "fish")
	for _, c := range compCases {
		out, err := exec.Command("fish", "-c", "source "+script+"; complete -C "+shellWord(c.line)).CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v %s", c.line, err, out)
			continue
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			got = append(got, strings.SplitN(l, "\t", 2)[0])
		}
		checkCandidates(t, "fish", c.line, got, c.want, c.not)
	}
}

// TestCompletionZsh checks the zsh script's syntax and that it registers itself when sourced
// (its answers were checked by hand in a terminal: compsys needs one).
func TestCompletionZsh(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		testenv.SkipOrFail(t, "zsh is not installed (apt-get install zsh): the zsh script is not checked")
	}
	script := completionScript(t, "zsh")
	if out, err := exec.Command("zsh", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v %s", err, out)
	}
	out, err := exec.Command("zsh", "-f", "-c", "autoload -U compinit && compinit -u -d "+filepath.Join(t.TempDir(), "zcompdump")+
		" && source "+script+" && print -r -- $_comps[tripline] ${+functions[_tripline]}").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_tripline 1" {
		t.Errorf("sourced in zsh: %v %q", err, out)
	}
}

func checkCandidates(t *testing.T, shell, line string, got, want, not []string) {
	t.Helper()
	have := map[string]bool{}
	for _, g := range got {
		have[g] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("%s: %q offers %v, not %q", shell, line, got, w)
		}
	}
	for _, n := range not {
		if have[n] {
			t.Errorf("%s: %q offers %q", shell, line, n)
		}
	}
}

// shellWord quotes s in single quotes for the shells' command lines; a quote inside is closed,
// escaped and reopened.
func shellWord(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
