package policy

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Severity orders findings. The zero value is SevNone (no rule fired).
type Severity int

// Severities, lowest first.
const (
	SevNone Severity = iota
	SevInfo
	SevLow
	SevMedium
	SevHigh
	SevCritical
)

var sevNames = []string{"none", "info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(sevNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return sevNames[s]
}

// ParseSeverity reads one of info, low, medium, high, critical (case-insensitive).
func ParseSeverity(s string) (Severity, error) {
	for i, n := range sevNames[1:] {
		if strings.EqualFold(s, n) {
			return Severity(i + 1), nil
		}
	}
	return SevNone, fmt.Errorf("severity %q must be one of info, low, medium, high, critical", s)
}

// Number maps a severity onto ECS event.severity (a long): 21 low ... 99 critical, as Elastic's
// detection rules grade risk scores.
func (s Severity) Number() int {
	return [...]int{0, 1, 21, 47, 73, 99}[s]
}

// MarshalJSON writes the name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML writes the name.
func (s Severity) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads a name.
func (s *Severity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &SyntaxError{Line: n.Line, Msg: "a severity must be one of info, low, medium, high, critical"}
	}
	v, err := ParseSeverity(n.Value)
	if err != nil {
		return &SyntaxError{Line: n.Line, Msg: err.Error()}
	}
	*s = v
	return nil
}

// SeverityByUse gives a rule's severity for each use of a location. In YAML it is either one
// severity for every use ("critical") or a map ({executed: high, sourced: medium, config: low}).
type SeverityByUse map[Use]Severity

// UnmarshalYAML reads the scalar or the map form.
func (s *SeverityByUse) UnmarshalYAML(n *yaml.Node) error {
	out := SeverityByUse{}
	switch n.Kind {
	case yaml.ScalarNode:
		var v Severity
		if err := v.UnmarshalYAML(n); err != nil {
			return err
		}
		for _, u := range uses {
			out[u] = v
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			u := Use(k.Value)
			if !validUse(u) {
				return &SyntaxError{Line: k.Line, Msg: fmt.Sprintf("%q is not a use (executed, sourced, config)", k.Value)}
			}
			var v Severity
			if err := v.UnmarshalYAML(vn); err != nil {
				return err
			}
			out[u] = v
		}
	default:
		return &SyntaxError{Line: n.Line, Msg: "severity must be a name or a map of use to name"}
	}
	*s = out
	return nil
}
