package investigate

import (
	"fmt"
	"slices"
	"time"

	"github.com/tripline/tripline/store"
)

// ArmWindow is how close a creation and an arming must be to be called out together.
const ArmWindow = 10 * time.Minute

// Suspicious calls out the time facts an investigator looks for in one path's rows (oldest
// first): an mtime set backwards, an mtime before the file's birth (timestomping), and a file
// created and then armed with an exec bit within ArmWindow in one login session. tripline's own
// restores (which set the baseline's mtime back on purpose) and acceptances are not suspicious.
func Suspicious(rows []store.HistoryRow) []string {
	var out []string
	for i := range rows {
		r := &rows[i]
		if r.New == nil || r.Source == "restore" || r.Source == "accept" {
			continue
		}
		if r.Old != nil && r.New.MtimeNS < r.Old.MtimeNS {
			out = append(out, fmt.Sprintf("#%d at %s: mtime set backwards, %s -> %s", r.ID, when(r.TimeNS), when(r.Old.MtimeNS), when(r.New.MtimeNS)))
		}
		if r.New.BtimeNS != 0 && r.New.MtimeNS < r.New.BtimeNS {
			out = append(out, fmt.Sprintf("#%d at %s: mtime %s is before the file's birth %s (timestomped)", r.ID, when(r.TimeNS), when(r.New.MtimeNS), when(r.New.BtimeNS)))
		}
	}
	for i := range rows {
		c := &rows[i]
		if c.Kind != "created" {
			continue
		}
		creator := ActorOf(c)
		for j := i + 1; j < len(rows); j++ {
			a := &rows[j]
			apart := time.Duration(a.TimeNS - c.TimeNS)
			if apart > ArmWindow {
				break
			}
			if !slices.Contains(a.Flags, "exec-added") {
				continue
			}
			if same, how := SameSession(creator, ActorOf(a)); same {
				out = append(out, fmt.Sprintf("created (#%d) and armed with an exec bit (#%d) %s apart, %s",
					c.ID, a.ID, apart.Round(time.Second), how))
			}
			break
		}
	}
	return out
}
