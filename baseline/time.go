package baseline

import "time"

// FormatTime renders a time as tripline keeps it (integer nanoseconds since the epoch) in
// RFC 3339, in UTC, to the nanosecond with trailing zeros dropped (time.RFC3339Nano). It is the
// one form of a time in every output: the text tables, the timeline, JSON, ECS and the export.
// Zero is the epoch; a caller for which zero means "not known" says so itself.
func FormatTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// AppendTime appends FormatTime(ns) to b, for writers that build a line or a document in a
// buffer.
func AppendTime(b []byte, ns int64) []byte {
	return time.Unix(0, ns).UTC().AppendFormat(b, time.RFC3339Nano)
}
