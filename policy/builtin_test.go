package policy

import "testing"

// TestBuiltinSeveritiesMatchDefault keeps the fallback severities (for policies without a rules:
// section) the same as the default policy's, so replacing the default never silently changes how
// loud a rule is.
func TestBuiltinSeveritiesMatchDefault(t *testing.T) {
	def := Default()
	for _, rule := range RuleIDs() {
		rc, ok := def.Rules[rule]
		if !ok {
			t.Errorf("default policy has no severity for %s", rule)
			continue
		}
		for _, u := range uses {
			if got, want := builtinSeverity(rule, u), rc.Severity[u]; got != want {
				t.Errorf("%s at %s: builtin %s, default policy %s", rule, u, got, want)
			}
		}
	}
}
