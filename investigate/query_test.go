package investigate

import (
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/store"
)

func TestFilterQuery(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	users := func(name string) (int64, bool) {
		if name == "alice" {
			return 1000, true
		}
		return 0, false
	}
	at := func(s string) int64 { tm, _ := time.Parse(time.RFC3339Nano, s); return tm.UnixNano() }
	for _, c := range []struct {
		name string
		f    Filter
		want store.HistoryQuery
		err  string
	}{
		{"nothing", Filter{}, store.HistoryQuery{UID: -1}, ""},
		{"a duration back", Filter{Since: "2h", Until: "30m"}, store.HistoryQuery{UID: -1, SinceNS: at("2026-12-02T10:00:00Z"), UntilNS: at("2026-12-02T11:30:00Z")}, ""},
		{"times", Filter{Since: "2026-12-01", Until: "2026-12-01T08:00:00.5Z"}, store.HistoryQuery{UID: -1, SinceNS: at("2026-12-01T00:00:00Z"), UntilNS: at("2026-12-01T08:00:00.5Z")}, ""},
		{"a uid", Filter{User: "0", PID: 42, Severity: "high"}, store.HistoryQuery{UID: 0, PID: 42, MinSeverity: "high"}, ""},
		{"a name", Filter{User: "alice", Path: "/etc/x", Limit: 3}, store.HistoryQuery{UID: 1000, Path: "/etc/x", Limit: 3}, ""},
		{"no such user", Filter{User: "mallory"}, store.HistoryQuery{}, `--user "mallory": no such user`},
		{"a negative duration", Filter{Since: "-2h"}, store.HistoryQuery{}, `--since "-2h": a duration back from now must be positive`},
		{"not a time", Filter{Until: "yesterday"}, store.HistoryQuery{}, `--until "yesterday" is neither a duration`},
		{"a severity", Filter{Severity: "urgent"}, store.HistoryQuery{}, `--severity "urgent": must be info, low, medium, high or critical`},
	} {
		q, err := c.f.Query(now, users)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case q != c.want:
			t.Errorf("%s: query %+v, want %+v", c.name, q, c.want)
		}
	}
}
