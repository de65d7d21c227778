package policy

import (
	"strings"
	"testing"
)

// TestWriteLoadsBack: what 'policy show' prints, in either format, loads as the same policy.
func TestWriteLoadsBack(t *testing.T) {
	pol := Default()
	for _, format := range []string{"yaml", "json"} {
		var b strings.Builder
		if err := pol.Write(&b, format); err != nil {
			t.Fatal(err)
		}
		if format == "yaml" && !strings.HasPrefix(b.String(), "# effective policy from default (sha256 "+pol.Digest()+")\n") {
			t.Errorf("yaml header: %.100q", b.String())
		}
		back, err := Load("shown."+format, []byte(b.String()))
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(back.Locations) != len(pol.Locations) || len(back.Targets()) != len(pol.Targets()) {
			t.Errorf("%s: %d locations, %d targets; want %d, %d", format, len(back.Locations), len(back.Targets()), len(pol.Locations), len(pol.Targets()))
		}
	}
	if err := pol.Write(&strings.Builder{}, "xml"); err == nil {
		t.Error("xml was written")
	}
}
