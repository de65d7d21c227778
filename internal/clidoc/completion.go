package clidoc

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/internal/cliargs"
)

// Completion is what the completion scripts of an App know, keyed by command path ("tripline",
// "tripline baseline accept"). Its Bash, Zsh and Fish write the script of each shell.
type Completion struct {
	name    string              // the program: the first word of every path
	paths   []string            // every path, parents first
	subs    map[string][]string // subcommand names
	descs   map[string][]string // "name:usage" of each subcommand
	flags   map[string][]string // "--format", "-o" ...
	vflags  map[string][]string // the flags that take a value
	values  map[string][]string // "tripline scan --format": text json ecs
	kinds   map[string]string   // "tripline --db": file or dir
	usage   map[string]string   // "tripline scan --format": the flag's usage, for fish and zsh
	argFile map[string]bool     // the command's arguments are file names (else none)
	args    map[string][]string // the values the command's argument takes
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

// NewCompletion reads the completions of app: choices are the values the argument of a command
// can take ("completion": bash, zsh, fish), arities say which commands take file names.
func NewCompletion(app *cli.App, choices map[string][]string, arities map[string]cliargs.Arity) *Completion {
	name := app.Name
	s := &Completion{name: name, subs: map[string][]string{}, descs: map[string][]string{}, flags: map[string][]string{},
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
	add(name, append(visibleFlags(app.Flags), docOf(cli.VersionFlag)))
	subsOf(name, app.Commands)
	Walk(app.Commands, "", func(path string, c *cli.Command) {
		p := name + " " + path
		add(p, visibleFlags(c.Flags))
		subsOf(p, c.Subcommands)
		if v, ok := choices[path]; ok {
			s.args[p] = v
		}
		if ar, ok := arities[path]; ok && ar.Max != 0 && s.args[p] == nil {
			s.argFile[p] = ar.Files()
		}
	})
	// 'tripline help baseline accept': the arguments of help are command names.
	help := name + " help"
	for _, p := range append([]string{}, s.paths...) {
		if p == name || strings.HasPrefix(p, help) || len(s.subs[p]) == 0 {
			continue
		}
		hp := help + strings.TrimPrefix(p, name)
		s.subs[hp], s.descs[hp] = s.subs[p], s.descs[p]
	}
	var topics, topicDescs []string
	for i, n := range s.subs[name] {
		if n != "help" {
			topics = append(topics, n)
			topicDescs = append(topicDescs, s.descs[name][i])
		}
	}
	s.subs[help], s.descs[help] = topics, topicDescs
	return s
}

// script writes text with the program's name for "tripline".
func (s *Completion) script(w io.Writer, text string) {
	io.WriteString(w, strings.ReplaceAll(text, "tripline", s.name))
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

func kindsLists(s *Completion) map[string][]string {
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

// tables writes the associative arrays both the bash and the zsh script read.
func (s *Completion) tables(w io.Writer, zsh bool) {
	assoc(w, "subs", s.subs, zsh)
	assoc(w, "args", s.args, zsh)
	assoc(w, "flags", s.flags, zsh)
	assoc(w, "vflags", s.vflags, zsh)
	assoc(w, "values", s.values, zsh)
	assoc(w, "kinds", kindsLists(s), zsh)
}

// Bash writes the bash script.
func (s *Completion) Bash(w io.Writer) error {
	s.script(w, "# bash completion for tripline, generated by 'tripline completion bash'.\n")
	s.script(w, "_tripline() {\n")
	fmt.Fprintln(w, "    local -A subs flags vflags values kinds args")
	s.tables(w, false)
	s.script(w, `    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
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

// Zsh writes the zsh script.
func (s *Completion) Zsh(w io.Writer) error {
	s.script(w, "#compdef tripline\n")
	s.script(w, "# zsh completion for tripline, generated by 'tripline completion zsh'.\n")
	s.script(w, "_tripline() {\n")
	fmt.Fprintln(w, "    local -A subs flags vflags values kinds descs args")
	s.tables(w, true)
	fmt.Fprintln(w, "    descs=(")
	for _, k := range sortedKeys(s.descs) {
		fmt.Fprintf(w, "        %s %s\n", shellWord(k), shellWord(strings.Join(s.descs[k], "\n")))
	}
	fmt.Fprintln(w, "    )")
	s.script(w, `    local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}"
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

// Fish writes the fish script.
func (s *Completion) Fish(w io.Writer) error {
	s.script(w, "# fish completion for tripline, generated by 'tripline completion fish'.\n")
	// __tripline_path prints the command path of the line being typed: "tripline baseline".
	s.script(w, "function __tripline_path\n")
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
	s.script(w, `    set -l words (commandline -opc)
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
		if p == s.name {
			return "" // the app's flags work after any command, and its commands come first
		}
		return "-n " + fishWord(fmt.Sprintf("test (__%s_path) = %q", s.name, p))
	}
	for _, p := range sortedKeys(s.subs) {
		for i, n := range s.subs[p] {
			desc := strings.SplitN(s.descs[p][i], ":", 2)[1]
			c := cond(p)
			if p == s.name {
				c = "-n " + fishWord(fmt.Sprintf("test (__%s_path) = %s", s.name, s.name))
			}
			fmt.Fprintf(w, "complete -c %s %s -a %s -d %s\n", s.name, c, fishWord(n), fishWord(firstClause(desc)))
		}
	}
	for _, p := range s.paths {
		for _, f := range s.flags[p] {
			key := p + " " + f
			opt := "-l " + strings.TrimPrefix(f, "--")
			if !strings.HasPrefix(f, "--") {
				opt = "-s " + strings.TrimPrefix(f, "-")
			}
			line := fmt.Sprintf("complete -c %s %s %s -d %s", s.name, cond(p), opt, fishWord(firstClause(s.usage[key])))
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
			fmt.Fprintf(w, "complete -c %s %s -a %s\n", s.name, cond(p), fishWord(strings.Join(v, " ")))
		} else if s.argFile[p] {
			fmt.Fprintf(w, "complete -c %s %s -F\n", s.name, cond(p))
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
