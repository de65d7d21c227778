package investigate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tripline/tripline/store"
)

// Filter is what selects the changes 'history' shows, each field as the user gave it; a zero
// field selects everything.
type Filter struct {
	Path         string // absolute and clean
	Since, Until string // a duration back from now ("2h", "30m") or a time ("2006-01-02", RFC 3339, UTC)
	PID          int
	User         string // a uid, or a name that LookupUID knows
	Exe          string
	Severity     string // the least severity: info, low, medium, high or critical
	Location     string
	Limit        int
}

// Query turns f into the store's query, durations counted back from now. lookupUID resolves a
// user name (false: no such user). Every error is a mistake in f, said in one line with the
// flag it came from.
func (f Filter) Query(now time.Time, lookupUID func(name string) (int64, bool)) (store.HistoryQuery, error) {
	q := store.HistoryQuery{Path: f.Path, UID: -1, PID: int32(f.PID), Exe: f.Exe, MinSeverity: f.Severity, Location: f.Location, Limit: f.Limit}
	var err error
	if q.SinceNS, err = parseWhen("--since", f.Since, now); err != nil {
		return q, err
	}
	if q.UntilNS, err = parseWhen("--until", f.Until, now); err != nil {
		return q, err
	}
	if f.User != "" {
		if n, err := strconv.ParseInt(f.User, 10, 32); err == nil && n >= 0 {
			q.UID = n
		} else if uid, ok := lookupUID(f.User); ok {
			q.UID = uid
		} else {
			return q, fmt.Errorf("--user %q: no such user on this host (give a uid)", f.User)
		}
	}
	if f.Severity != "" && !slices.Contains([]string{"info", "low", "medium", "high", "critical"}, f.Severity) {
		return q, fmt.Errorf("--severity %q: must be info, low, medium, high or critical", f.Severity)
	}
	return q, nil
}

// ParseAge reads an age of retention (--older-than, --history-max-age): a duration that may also
// be given in days ("400d", "720h").
func ParseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err == nil && n > 0 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: give an age such as 400d or 720h", s)
	}
	return d, nil
}

// parseWhen reads a time of a filter as nanoseconds (0 for "").
func parseWhen(flag, s string, now time.Time) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("%s %q: a duration back from now must be positive", flag, s)
		}
		return now.Add(-d).UnixNano(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UnixNano(), nil
		}
	}
	return 0, fmt.Errorf("%s %q is neither a duration (2h, 30m) nor a time (2006-01-02, 2006-01-02T15:04:05Z)", flag, s)
}
