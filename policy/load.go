package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"
)

// SyntaxError is a policy that cannot be used, with the file and line of the problem. Its message
// has the form "file:line: what is wrong" (the line is left out when unknown).
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	file := e.File
	if file == "" {
		file = "policy"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", file, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", file, e.Msg)
}

// MaxPolicyBytes bounds a policy file, so a wrong path (a disk image, /dev/zero) fails fast.
const MaxPolicyBytes = 4 << 20

// Default returns the embedded default policy.
func Default() *Policy {
	p, err := parse("default", defaultYAML)
	if err != nil {
		panic("embedded default policy is invalid: " + err.Error()) // caught by the package tests
	}
	p.source = "default"
	p.digest = digestOf(defaultYAML)
	return p
}

// LoadFile reads a policy file. A file with "extends: default" is merged onto the default policy;
// otherwise it replaces the default entirely.
func LoadFile(name string) (*Policy, error) {
	// O_NONBLOCK: opening a FIFO named by mistake must not wait for a writer. It changes nothing
	// for the regular file that is then required.
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		return nil, &SyntaxError{File: name, Msg: "not a regular file"}
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxPolicyBytes+1)); err != nil {
		return nil, fmt.Errorf("read policy %s: %w", name, err)
	}
	if buf.Len() > MaxPolicyBytes {
		return nil, &SyntaxError{File: name, Msg: fmt.Sprintf("larger than %d bytes; is this a policy file?", MaxPolicyBytes)}
	}
	return Load(name, buf.Bytes())
}

// Load parses a policy from data; name is used in error messages.
func Load(name string, data []byte) (*Policy, error) {
	user, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	switch user.Extends {
	case "":
		user.source = name
		user.digest = digestOf(data)
		return user, nil
	case "default":
	default:
		return nil, &SyntaxError{File: name, Line: user.line("extends"), Msg: fmt.Sprintf("extends: %q is unknown (the only base is \"default\")", user.Extends)}
	}
	base := Default()
	merged, err := merge(base, user, name)
	if err != nil {
		return nil, err
	}
	merged.source = name + "+default"
	merged.digest = digestOf(defaultYAML, data)
	return merged, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

// yamlError turns a yaml.v3 error ("yaml: line 3: did not find expected key", or a list of
// "line N: cannot unmarshal ...") into one "file:line: msg".
func yamlError(file string, err error) error {
	var se *SyntaxError
	if errors.As(err, &se) {
		se.File = file
		return se
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	first := strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
	if m := yamlLineRE.FindStringSubmatch(first); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &SyntaxError{File: file, Line: line, Msg: m[2]}
	}
	return &SyntaxError{File: file, Msg: first}
}

func parse(file string, data []byte) (*Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &SyntaxError{File: file, Line: 1, Msg: "empty policy (it needs at least \"version: 1\" and locations, or \"extends: default\")"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &SyntaxError{File: file, Line: root.Line, Msg: "a policy is a mapping (version:, locations:, ...)"}
	}
	if err := checkKeys(root, reflect.TypeOf(Policy{})); err != nil {
		return nil, yamlError(file, err)
	}
	var p Policy
	if err := root.Decode(&p); err != nil {
		return nil, yamlError(file, err)
	}
	p.lines = valueLines(root)
	if p.Extends != "" {
		// Validation happens after the merge, on the whole policy.
		return &p, nil
	}
	if err := p.compile(file); err != nil {
		return nil, err
	}
	return &p, nil
}

// valueLines records the lines of the top-level keys of a policy, of the items of their lists and
// of the keys of their mappings (one level down, two under "trusted"), for Policy.line.
func valueLines(root *yaml.Node) map[string]int {
	out := map[string]int{}
	var walk func(prefix string, n *yaml.Node, depth int)
	walk = func(prefix string, n *yaml.Node, depth int) {
		switch n.Kind {
		case yaml.SequenceNode:
			for i, c := range n.Content {
				out[prefix+"."+strconv.Itoa(i)] = c.Line
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := prefix + "." + n.Content[i].Value
				out[key] = n.Content[i].Line
				if depth > 0 {
					walk(key, n.Content[i+1], depth-1)
				}
			}
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		out[k.Value] = k.Line
		depth := 0
		if k.Value == "trusted" {
			depth = 1
		}
		walk(k.Value, root.Content[i+1], depth)
	}
	return out
}

// checkKeys refuses mapping keys that the Go type has no field for, with their line, so that a
// misspelt "pahts:" is an error and not a location that silently watches nothing.
func checkKeys(n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // Decode reports the type mismatch
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			fields[tag] = f.Type
			names = append(names, tag)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return &SyntaxError{Line: k.Line, Msg: fmt.Sprintf("unknown key %q (expected one of %s)", k.Value, strings.Join(names, ", "))}
			}
			if err := checkKeys(n.Content[i+1], ft); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for _, c := range n.Content {
			if err := checkKeys(c, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 1; i < len(n.Content); i += 2 {
			if err := checkKeys(n.Content[i], t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// UnmarshalYAML records the line of a location, for error messages.
func (l *Location) UnmarshalYAML(n *yaml.Node) error {
	type plain Location
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*l = Location(p)
	l.line = n.Line
	return nil
}

// UnmarshalYAML records the line of an exception, for error messages.
func (e *Exception) UnmarshalYAML(n *yaml.Node) error {
	type plain Exception
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*e = Exception(p)
	e.line = n.Line
	return nil
}

// merge applies a policy that extends base onto a copy of base.
func merge(base, user *Policy, file string) (*Policy, error) {
	out := &Policy{
		Version: 1,
		Extends: "default",
		Homes:   base.Homes,
		Rules:   map[string]RuleConfig{},
		lines:   user.lines,
		baseLen: map[string]int{
			"ignore":              len(base.Ignore),
			"trusted.executables": len(base.Trusted.Executables),
			"trusted.ancestors":   len(base.Trusted.Ancestors),
		},
	}
	if err := user.checkVersion(file); err != nil {
		return nil, err
	}
	out.Compliance = base.Compliance
	if len(user.Compliance) > 0 {
		out.Compliance = user.Compliance
	}
	if len(user.Homes) > 0 {
		out.Homes = user.Homes
	} else {
		out.baseLen["homes"] = len(base.Homes)
	}
	for k, v := range base.Rules {
		sev := SeverityByUse{}
		for u, s := range v.Severity {
			sev[u] = s
		}
		out.Rules[k] = RuleConfig{Severity: sev}
	}
	for k, v := range user.Rules {
		rc, ok := out.Rules[k]
		if !ok {
			rc = RuleConfig{Severity: SeverityByUse{}}
		}
		for u, s := range v.Severity {
			rc.Severity[u] = s
		}
		out.Rules[k] = rc
	}
	disabled := map[string]bool{}
	for i, id := range user.Disable {
		if base.Location(id) == nil {
			return nil, &SyntaxError{File: file, Line: user.itemLine("disable", i), Msg: fmt.Sprintf("disable: the default policy has no location %q (see `tripline policy show`)", id)}
		}
		disabled[id] = true
	}
	replaced := map[string]Location{}
	for _, l := range user.Locations {
		// Checked here because two replacements of one default location would leave one.
		if prev, dup := replaced[l.ID]; dup && l.ID != "" {
			return nil, &SyntaxError{File: file, Line: l.line, Msg: fmt.Sprintf("location %q: duplicate id (first at line %d)", l.ID, prev.line)}
		}
		replaced[l.ID] = l
	}
	for _, l := range base.Locations {
		if disabled[l.ID] {
			continue
		}
		if r, ok := replaced[l.ID]; ok {
			l = r
			delete(replaced, l.ID)
		}
		out.Locations = append(out.Locations, l)
	}
	for _, l := range user.Locations {
		if _, still := replaced[l.ID]; still {
			out.Locations = append(out.Locations, l)
		}
	}
	out.Disable = user.Disable
	out.Trusted.Executables = append(append([]string{}, base.Trusted.Executables...), user.Trusted.Executables...)
	out.Trusted.Ancestors = append(append([]string{}, base.Trusted.Ancestors...), user.Trusted.Ancestors...)
	out.Ignore = append(append([]string{}, base.Ignore...), user.Ignore...)
	out.Exceptions = append(append([]Exception{}, base.Exceptions...), user.Exceptions...)
	if err := out.compile(file); err != nil {
		return nil, err
	}
	return out, nil
}
