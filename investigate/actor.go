package investigate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// ActorOf returns who made a row's change (nil when nobody is known). It is the one place that
// reads the actor a row holds: decoded (store.DB.History), or as stored
// (store.DB.EachHistoryStored), decoded here.
func ActorOf(r *store.HistoryRow) *proc.Actor {
	if r.Actor == nil && r.Stored.ID != 0 {
		return r.Stored.Decode()
	}
	return r.Actor
}

// DescribeActor renders who made a change, on one to three lines (the later ones indented to
// sit under a timeline entry). users names the uids.
func DescribeActor(a *proc.Actor, users *baseline.Users) string {
	if a == nil {
		return "actor unknown (found by a scan or a reconcile)"
	}
	if a.Process == nil {
		s := "attribution " + baseline.QuoteLine(string(a.Attribution))
		if a.PID != 0 {
			s = fmt.Sprintf("pid %d, %s", a.PID, s)
		}
		if a.Why != "" {
			s += ": " + baseline.QuoteLine(a.Why)
		}
		return s
	}
	p := a.Process
	s := fmt.Sprintf("pid %d %s %s", p.PID, baseline.QuotePath(p.Exe), strconv.Quote(strings.Join(p.Args, " ")))
	if par := a.Parent(); par != nil {
		s += fmt.Sprintf("\n      parent pid %d %s %s", par.PID, baseline.QuotePath(par.Exe), strconv.Quote(strings.Join(par.Args, " ")))
	}
	uid := p.EUID
	if uid < 0 {
		uid = p.UID
	}
	s += fmt.Sprintf("\n      user %s, login user %s", userName(users, uid), userName(users, p.LoginUID))
	if p.SessionID >= 0 {
		s += fmt.Sprintf(", session %d", p.SessionID)
	}
	return s + "; attribution " + baseline.QuoteLine(string(a.Attribution))
}

func userName(u *baseline.Users, id int32) string {
	if id < 0 {
		return "unset"
	}
	if n := u.User(uint32(id)); n != "" {
		return fmt.Sprintf("%s (%d)", baseline.QuoteLine(n), id)
	}
	return strconv.Itoa(int(id))
}

// SameSession reports whether two actors acted in one login session, or failing that as one
// login user, and says which.
func SameSession(a, b *proc.Actor) (bool, string) {
	if !a.Known() || !b.Known() {
		return false, ""
	}
	pa, pb := a.Process, b.Process
	switch {
	case pa.SessionID >= 0 && pa.SessionID == pb.SessionID:
		return true, fmt.Sprintf("in the same login session %d (login uid %d)", pa.SessionID, pa.LoginUID)
	case pa.LoginUID >= 0 && pa.LoginUID == pb.LoginUID:
		return true, fmt.Sprintf("by the same login user %d", pa.LoginUID)
	}
	return false, ""
}
