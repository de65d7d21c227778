package policy

import (
	"encoding/json"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// Write writes the effective policy p in format, "yaml" (under a comment naming its source and
// digest) or "json". It is what 'policy show' prints, and it loads back as the same policy.
func (p *Policy) Write(w io.Writer, format string) error {
	switch format {
	case "yaml":
		fmt.Fprintf(w, "# effective policy from %s (sha256 %s)\n", p.Source(), p.Digest())
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(p); err != nil {
			return err
		}
		return enc.Close()
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	return fmt.Errorf("policy format %q: must be yaml or json", format)
}
