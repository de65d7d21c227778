package investigate

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// indentMarshaled writes what json.Indent writes, for anything json.Marshal produced.
func FuzzIndentMarshaled(f *testing.F) {
	row := RowJSON{HistoryRow: store.HistoryRow{ID: 7, Path: "/etc/cron.d/a\"b\\c\n{[,:]}", Flags: []string{},
		Actor: &proc.Actor{Attribution: proc.AttrKernel, PID: 3, Process: &proc.Process{Args: []string{"sh", "-c", `"x": [1, {}]`}}, Ancestors: []proc.Process{}}},
		Old: Entry(&baseline.Entry{Path: "/x", Mode: 0o755})}
	b, err := json.Marshal(row)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(b), `{}`, `[]`, `[{},[],{"a":[]}]`, `{"a":{"b":{"c":[1,2,{"d":"\u003c\"}"}]}}}`, `"str\\"`, `null`, `12.5e3`, `{"":""}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		compact, err := json.Marshal(v)
		if err != nil {
			return
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact, "    ", "  "); err != nil {
			t.Fatal(err)
		}
		if got := indentMarshaled(nil, compact, "    ", "  "); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("indentMarshaled(%s):\n%s\nwant\n%s", compact, got, want.Bytes())
		}
	})
}
