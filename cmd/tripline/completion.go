package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

func completionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		UsageText: "tripline completion bash|zsh|fish",
		Description: `Prints a completion script generated from tripline's own definitions: commands, subcommands,
their flags, the values a flag lists (--format text|json|ecs), file names for FILE, DIR and
PATH. To use it now:
  source <(tripline completion bash)
  source <(tripline completion zsh)
  tripline completion fish | source
To install it:
  tripline completion bash > /usr/share/bash-completion/completions/tripline
  tripline completion zsh > /usr/share/zsh/vendor-completions/_tripline
  tripline completion fish > /usr/share/fish/vendor_completions.d/tripline.fish`,
		Action: func(c *cli.Context) error {
			spec := completionSpec(e.app)
			// The shells are argChoices["completion"]; the switch is the one place that knows
			// them all.
			switch sh := c.Args().First(); sh {
			case "bash":
				return writeBash(e.stdout, spec)
			case "zsh":
				return writeZsh(e.stdout, spec)
			case "fish":
				return writeFish(e.stdout, spec)
			default:
				return usagef("completion: unknown shell %q (bash, zsh or fish)", sh)
			}
		},
	}
}

// argChoices are the values the argument of a command can take, for its completion.
var argChoices = map[string][]string{"completion": {"bash", "zsh", "fish"}}

// compSpec is what the completion scripts know, keyed by command path ("tripline", "tripline
// baseline accept").
type compSpec struct {
	paths   []string            // every path, parents first
	subs    map[string][]string // subcommand names
	descs   map[string][]string // "name:usage" of each subcommand
	flags   map[string][]string // "--format", "-o" ...
	vflags  map[string][]string // the flags that take a value
	values  map[string][]string // "tripline scan --format": text json ecs
	kinds   map[string]string   // "tripline --db": file or dir
	usage   map[string]string   // "tripline scan --format": the flag's usage, for fish and zsh
	argFile map[string]bool     // the command's arguments are file names (else none)
	args    map[string][]string // the values the command's argument takes (argChoices)
}

// fileKind says whether a flag's value is a file or a directory name, by its placeholder.
func fileKind(placeholder string) string {
	switch placeholder {
	case "DIR":
		return "dir"
	case "FILE", "PATH", "PREFIX", "KEY", "PUB":
		return "file"
	}
	return ""
}

func completionSpec(app *cli.App) *compSpec {
	s := &compSpec{subs: map[string][]string{}, descs: map[string][]string{}, flags: map[string][]string{},
		vflags: map[string][]string{}, values: map[string][]string{}, kinds: map[string]string{},
		usage: map[string]string{}, argFile: map[string]bool{}, args: map[string][]string{}}
	add := func(path string, flags []flagDoc) {
		s.paths = append(s.paths, path)
		for _, f := range flags {
			for _, n := range f.names {
				sp := flagSpelling(n)
				s.flags[path] = append(s.flags[path], sp)
				key := path + " " + sp
				s.usage[key] = f.usage
				if f.placeholder == "" {
					continue
				}
				s.vflags[path] = append(s.vflags[path], sp)
				if f.choices != nil {
					s.values[key] = f.choices
				}
				if k := fileKind(f.placeholder); k != "" {
					s.kinds[key] = k
				}
			}
		}
	}
	var subsOf func(path string, cmds []*cli.Command)
	subsOf = func(path string, cmds []*cli.Command) {
		for _, c := range visibleCommands(cmds) {
			s.subs[path] = append(s.subs[path], c.Name)
			s.descs[path] = append(s.descs[path], c.Name+":"+c.Usage)
		}
	}
	add("tripline", append(visibleFlags(app.Flags), docOf(cli.VersionFlag)))
	subsOf("tripline", app.Commands)
	walkCommands(app.Commands, "", func(path string, c *cli.Command) {
		p := "tripline " + path
		add(p, visibleFlags(c.Flags))
		subsOf(p, c.Subcommands)
		if v, ok := argChoices[path]; ok {
			s.args[p] = v
		}
		if ar, ok := arities[path]; ok && ar.max != 0 && s.args[p] == nil {
			s.argFile[p] = strings.Contains(ar.what, "PATH") || strings.Contains(ar.what, "FILE") || strings.Contains(ar.what, "json")
		}
	})
	// 'tripline help baseline accept': the arguments of help are command names.
	for _, p := range append([]string{}, s.paths...) {
		if p == "tripline" || strings.HasPrefix(p, "tripline help") || len(s.subs[p]) == 0 {
			continue
		}
		hp := "tripline help" + strings.TrimPrefix(p, "tripline")
		s.subs[hp], s.descs[hp] = s.subs[p], s.descs[p]
	}
	var topics, topicDescs []string
	for i, n := range s.subs["tripline"] {
		if n != "help" {
			topics = append(topics, n)
			topicDescs = append(topicDescs, s.descs["tripline"][i])
		}
	}
	s.subs["tripline help"], s.descs["tripline help"] = topics, topicDescs
	return s
}

// shellWord quotes s for bash, zsh and fish alike: in single quotes, a quote as '\”. fish
// reads '\” differently, so the fish writer quotes with fishWord instead.
func shellWord(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// assoc writes the assignments of an associative array, one entry a line.
func assoc(w io.Writer, name string, m map[string][]string, zsh bool) {
	fmt.Fprintf(w, "    %s=(\n", name)
	for _, k := range sortedKeys(m) {
		if zsh {
			fmt.Fprintf(w, "        %s %s\n", shellWord(k), shellWord(strings.Join(m[k], " ")))
		} else {
			fmt.Fprintf(w, "        [%s]=%s\n", shellWord(k), shellWord(strings.Join(m[k], " ")))
		}
	}
	fmt.Fprintln(w, "    )")
}

func kindsLists(s *compSpec) map[string][]string {
	m := map[string][]string{}
	for k, v := range s.kinds {
		m[k] = []string{v}
	}
	for k, v := range s.argFile {
		if v {
			m[k] = []string{"file"}
		}
	}
	return m
}

func writeBash(w io.Writer, s *compSpec) error {
	fmt.Fprintln(w, "# bash completion for tripline, generated by 'tripline completion bash'.")
	fmt.Fprintln(w, "_tripline() {")
	fmt.Fprintln(w, "    local -A subs flags vflags values kinds args")
	assoc(w, "subs", s.subs, false)
	assoc(w, "args", s.args, false)
	assoc(w, "flags", s.flags, false)
	assoc(w, "vflags", s.vflags, false)
	assoc(w, "values", s.values, false)
	assoc(w, "kinds", kindsLists(s), false)
	fmt.Fprint(w, `    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local path=tripline w i ended=0 flag="" key
    COMPREPLY=()
    # The command path: the words that name a subcommand, skipping flags and their values.
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        if ((ended)); then continue; fi
        if [[ $w == -- ]]; then ended=1; continue; fi
        if [[ $w == -?* ]]; then
            if [[ ${COMP_WORDS[i+1]} == = ]]; then ((i += 2)); continue; fi
            if [[ " ${vflags[$path]} ${vflags[tripline]} " == *" $w "* ]]; then ((i++)); fi
            continue
        fi
        if [[ " ${subs[$path]} " == *" $w "* ]]; then path="$path $w"; fi
    done
    # The value of a flag: "--format js", "--format=js" (= is a word of its own for bash).
    if ((!ended)); then
        if [[ $cur == = ]]; then flag="$prev"; cur=""
        elif [[ $prev == = ]]; then flag="${COMP_WORDS[COMP_CWORD-2]}"
        elif [[ $prev == -?* && " ${vflags[$path]} ${vflags[tripline]} " == *" $prev "* ]]; then flag="$prev"
        fi
    fi
    if [[ -n $flag ]]; then
        key="$path $flag"
        [[ -n ${values[$key]+x} || -n ${kinds[$key]+x} ]] || key="tripline $flag"
        if [[ -n ${values[$key]} ]]; then
            COMPREPLY=($(compgen -W "${values[$key]}" -- "$cur"))
        elif [[ ${kinds[$key]} == dir ]]; then
            compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))
        elif [[ ${kinds[$key]} == file ]]; then
            compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))
        fi
        return 0
    fi
    if ((!ended)) && [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${flags[$path]} ${flags[tripline]}" -- "$cur"))
        return 0
    fi
    if [[ -n ${subs[$path]} ]]; then
        COMPREPLY=($(compgen -W "${subs[$path]}" -- "$cur"))
        return 0
    fi
    if [[ -n ${args[$path]} ]]; then
        COMPREPLY=($(compgen -W "${args[$path]}" -- "$cur"))
    elif [[ ${kinds[$path]} == file ]]; then
        compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
}
complete -F _tripline tripline
`)
	return nil
}

func writeZsh(w io.Writer, s *compSpec) error {
	fmt.Fprintln(w, "#compdef tripline")
	fmt.Fprintln(w, "# zsh completion for tripline, generated by 'tripline completion zsh'.")
	fmt.Fprintln(w, "_tripline() {")
	fmt.Fprintln(w, "    local -A subs flags vflags values kinds descs args")
	assoc(w, "subs", s.subs, true)
	assoc(w, "args", s.args, true)
	assoc(w, "flags", s.flags, true)
	assoc(w, "vflags", s.vflags, true)
	assoc(w, "values", s.values, true)
	assoc(w, "kinds", kindsLists(s), true)
	fmt.Fprintln(w, "    descs=(")
	for _, k := range sortedKeys(s.descs) {
		fmt.Fprintf(w, "        %s %s\n", shellWord(k), shellWord(strings.Join(s.descs[k], "\n")))
	}
	fmt.Fprintln(w, "    )")
	fmt.Fprint(w, `    local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}"
    local cmdpath=tripline w i ended=0 flag="" key
    local -a list
    for ((i = 2; i < CURRENT; i++)); do
        w="${words[i]}"
        (( ended )) && continue
        if [[ $w == -- ]]; then ended=1; continue; fi
        if [[ $w == -?* ]]; then
            [[ $w == *=* ]] && continue
            [[ " ${vflags[$cmdpath]} ${vflags[tripline]} " == *" $w "* ]] && (( i++ ))
            continue
        fi
        [[ " ${subs[$cmdpath]} " == *" $w "* ]] && cmdpath="$cmdpath $w"
    done
    if (( !ended )); then
        if [[ $cur == -?*=* ]]; then
            flag="${cur%%=*}"; compset -P '*='
        elif [[ $prev == -?* && " ${vflags[$cmdpath]} ${vflags[tripline]} " == *" $prev "* ]]; then
            flag="$prev"
        fi
    fi
    if [[ -n $flag ]]; then
        key="$cmdpath $flag"
        (( ${+values[$key]} || ${+kinds[$key]} )) || key="tripline $flag"
        if [[ -n ${values[$key]} ]]; then
            list=(${=values[$key]}); compadd -a list
        elif [[ ${kinds[$key]} == dir ]]; then
            _directories
        elif [[ ${kinds[$key]} == file ]]; then
            _files
        fi
        return
    fi
    if (( !ended )) && [[ $cur == -* ]]; then
        list=(${=flags[$cmdpath]} ${=flags[tripline]}); compadd -a list
        return
    fi
    if [[ -n ${subs[$cmdpath]} ]]; then
        list=("${(@f)descs[$cmdpath]}"); _describe -t commands command list
        return
    fi
    if [[ -n ${args[$cmdpath]} ]]; then
        list=(${=args[$cmdpath]}); compadd -a list
    elif [[ ${kinds[$cmdpath]} == file ]]; then
        _files
    fi
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _tripline "$@"
else
    compdef _tripline tripline
fi
`)
	return nil
}

// fishWord quotes s for fish: single quotes, with \\ and \' escaped.
func fishWord(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func writeFish(w io.Writer, s *compSpec) error {
	fmt.Fprintln(w, "# fish completion for tripline, generated by 'tripline completion fish'.")
	// __tripline_path prints the command path of the line being typed: "tripline baseline".
	fmt.Fprintln(w, "function __tripline_path")
	fmt.Fprintln(w, "    set -l vflags")
	for _, p := range s.paths {
		for _, f := range s.vflags[p] {
			fmt.Fprintf(w, "    set -a vflags %s\n", fishWord(f))
		}
	}
	fmt.Fprintln(w, "    set -l subs")
	for _, p := range sortedKeys(s.subs) {
		for _, n := range s.subs[p] {
			fmt.Fprintf(w, "    set -a subs %s\n", fishWord(p+" "+n))
		}
	}
	fmt.Fprint(w, `    set -l words (commandline -opc)
    set -l path tripline
    set -l skip 0
    for w in $words[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        if test "$w" = --
            break
        end
        if string match -q -- '-?*' $w
            if not string match -q -- '*=*' $w; and contains -- $w $vflags
                set skip 1
            end
            continue
        end
        if contains -- "$path $w" $subs
            set path "$path $w"
        end
    end
    echo $path
end
complete -c tripline -f
`)
	cond := func(p string) string {
		if p == "tripline" {
			return "" // the app's flags work after any command, and its commands come first
		}
		return "-n " + fishWord(fmt.Sprintf("test (__tripline_path) = %q", p))
	}
	for _, p := range sortedKeys(s.subs) {
		for i, n := range s.subs[p] {
			desc := strings.SplitN(s.descs[p][i], ":", 2)[1]
			c := cond(p)
			if p == "tripline" {
				c = "-n 'test (__tripline_path) = tripline'"
			}
			fmt.Fprintf(w, "complete -c tripline %s -a %s -d %s\n", c, fishWord(n), fishWord(firstClause(desc)))
		}
	}
	for _, p := range s.paths {
		for _, f := range s.flags[p] {
			key := p + " " + f
			opt := "-l " + strings.TrimPrefix(f, "--")
			if !strings.HasPrefix(f, "--") {
				opt = "-s " + strings.TrimPrefix(f, "-")
			}
			line := fmt.Sprintf("complete -c tripline %s %s -d %s", cond(p), opt, fishWord(firstClause(s.usage[key])))
			if slices.Contains(s.vflags[p], f) {
				switch v := s.values[key]; {
				case v != nil:
					line += " -x -a " + fishWord(strings.Join(v, " "))
				case s.kinds[key] != "":
					line += " -r -F"
				default:
					line += " -x" // a value, but not a file name
				}
			}
			fmt.Fprintln(w, line)
		}
		if v := s.args[p]; v != nil {
			fmt.Fprintf(w, "complete -c tripline %s -a %s\n", cond(p), fishWord(strings.Join(v, " ")))
		} else if s.argFile[p] {
			fmt.Fprintf(w, "complete -c tripline %s -F\n", cond(p))
		}
	}
	return nil
}

// firstClause shortens a usage for a completion menu: up to the first "; ", without the
// parentheses.
func firstClause(s string) string {
	for {
		t := parenthetical.ReplaceAllString(s, "")
		if t == s {
			break
		}
		s = t
	}
	if i := strings.Index(s, "; "); i >= 0 {
		s = s[:i]
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, " ,", ",")), " ")
}
