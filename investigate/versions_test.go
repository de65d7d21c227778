package investigate

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/store"
)

func fileEntry(sha string, size int64) *baseline.Entry {
	return &baseline.Entry{Path: "/etc/crontab", Type: baseline.TypeFile, SHA256: sha, Size: size, HashState: baseline.HashOK}
}

func TestVersionsOf(t *testing.T) {
	a, b, c := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	link := &baseline.Entry{Path: "/etc/crontab", Type: baseline.TypeSymlink, Target: "/tmp/x", HashState: baseline.HashNotRegular}
	unhashed := &baseline.Entry{Path: "/etc/crontab", Type: baseline.TypeFile, Size: 1 << 30, HashState: baseline.HashTooLarge}
	cases := []struct {
		name string
		rows []store.HistoryRow
		want []Version
	}{
		{"none", nil, nil},
		{"baseline then a change", []store.HistoryRow{
			{ID: 5, TimeNS: 50, Old: fileEntry(a, 1), New: fileEntry(b, 2)},
		}, []Version{
			{N: 1, SHA256: a, Size: 1, RowID: 0, TimeNS: 0},
			{N: 2, SHA256: b, Size: 2, RowID: 5, TimeNS: 50},
		}},
		{"created: no version before", []store.HistoryRow{
			{ID: 1, TimeNS: 10, Kind: "created", New: fileEntry(a, 1)},
			{ID: 2, TimeNS: 20, Old: fileEntry(a, 1), New: fileEntry(b, 2)},
		}, []Version{
			{N: 1, SHA256: a, Size: 1, RowID: 1, TimeNS: 10},
			{N: 2, SHA256: b, Size: 2, RowID: 2, TimeNS: 20},
		}},
		{"repeated sha collapses", []store.HistoryRow{
			{ID: 1, TimeNS: 10, Old: fileEntry(a, 1), New: fileEntry(a, 1)}, // a mode change, say
			{ID: 2, TimeNS: 20, Old: fileEntry(a, 1), New: fileEntry(b, 2)},
			{ID: 3, TimeNS: 30, Old: fileEntry(b, 2), New: fileEntry(b, 2)},
			{ID: 4, TimeNS: 40, Kind: "accepted", Old: fileEntry(a, 1), New: fileEntry(b, 2)},
		}, []Version{
			{N: 1, SHA256: a, Size: 1},
			{N: 2, SHA256: b, Size: 2, RowID: 2, TimeNS: 20},
		}},
		{"back to an earlier content is a new version", []store.HistoryRow{
			{ID: 1, TimeNS: 10, Old: fileEntry(a, 1), New: fileEntry(b, 2)},
			{ID: 2, TimeNS: 20, Old: fileEntry(b, 2), New: fileEntry(a, 1)},
		}, []Version{
			{N: 1, SHA256: a, Size: 1},
			{N: 2, SHA256: b, Size: 2, RowID: 1, TimeNS: 10},
			{N: 3, SHA256: a, Size: 1, RowID: 2, TimeNS: 20},
		}},
		{"non-file entries and deletions skipped", []store.HistoryRow{
			{ID: 1, TimeNS: 10, Old: fileEntry(a, 1), New: link},
			{ID: 2, TimeNS: 20, Kind: "deleted", Old: link},
			{ID: 3, TimeNS: 30, Kind: "created", New: unhashed},
			{ID: 4, TimeNS: 40, Old: unhashed, New: fileEntry(a, 1)}, // a again, after the gaps: collapses
			{ID: 5, TimeNS: 50, Old: fileEntry(a, 1), New: fileEntry(c, 3)},
		}, []Version{
			{N: 1, SHA256: a, Size: 1},
			{N: 2, SHA256: c, Size: 3, RowID: 5, TimeNS: 50},
		}},
		{"first row's old not a file", []store.HistoryRow{
			{ID: 7, TimeNS: 70, Old: link, New: fileEntry(c, 3)},
		}, []Version{
			{N: 1, SHA256: c, Size: 3, RowID: 7, TimeNS: 70},
		}},
		{"only the first row's old counts", []store.HistoryRow{
			{ID: 1, TimeNS: 10, Kind: "deleted", Old: fileEntry(a, 1)},
			{ID: 2, TimeNS: 20, Kind: "created", New: fileEntry(b, 2)},
			{ID: 3, TimeNS: 30, Old: fileEntry(c, 3), New: fileEntry(b, 2)},
		}, []Version{
			{N: 1, SHA256: a, Size: 1},
			{N: 2, SHA256: b, Size: 2, RowID: 2, TimeNS: 20},
		}},
	}
	for _, c := range cases {
		if got := Versions(c.rows); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: Versions = %+v, want %+v", c.name, got, c.want)
		}
	}
}
