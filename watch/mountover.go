package watch

// The loop's side of mounts: what a change of the mount table means for the locations.

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/attrib"
	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// openMounts opens the mount table; nil, and a warning, when it cannot be watched.
func (w *Watcher) openMounts() (*mountTable, string) {
	t, err := openMountTable("")
	if err != nil {
		w.o.Log.Warn("mounts over locations are not seen until a reconcile", "err", err)
		return nil, ""
	}
	if t.fanErr != nil {
		w.o.Log.Info("mounts are seen in the mount table, without the pid of who made them", "err", t.fanErr)
	}
	return t, t.how()
}

// mounted handles changes of the mount table: each mount, unmount or move that changes what is
// visible in a location is an alert (mount-over), with the process whose arguments name the
// mount point when the exec cache has one; then the directories are marked again (what is
// visible now is what must be watched) and everything is reconciled, so what the mount shows is
// judged as changes too.
func (w *Watcher) mounted(ctx context.Context, chs []mountChange) error {
	pol := w.policy()
	w.attr.Sync()
	var out []Change
	var points []string
	for _, ch := range chs {
		w.trackFileMount(ch.m.point, ch.op != "unmounted")
		if ch.was != "" {
			w.trackFileMount(ch.was, false)
		}
		for _, p := range []string{ch.m.point, ch.was} {
			if p == "" {
				continue
			}
			var logical string
			switch {
			case w.inRoot(p):
				logical = w.logical(p)
			case strings.HasPrefix(w.root, strings.TrimSuffix(p, "/")+"/"):
				logical = "/" // over a parent of the root: everything in it
			default:
				continue
			}
			loc := pol.MountCovers(logical)
			if loc == nil {
				continue
			}
			e, err := baseline.Stat(w.root, logical, w.o.MaxHashBytes)
			if err != nil && e.Path == "" {
				e = baseline.Entry{Path: logical, Type: baseline.TypeDir, Location: loc.ID}
			}
			e.Location = loc.ID
			reason := ch.what() + " over " + baseline.QuotePath(logical)
			if ch.op == "moved" && p == ch.was {
				reason = ch.what() + " away from " + baseline.QuotePath(logical)
			}
			var a *proc.Actor
			switch {
			case ch.pid != 0:
				r := w.attr.Resolve(ch.pid, ch.at, -1)
				a = &r
			case w.attr.Feed() != attrib.FeedProc:
				if a = w.attr.Guess(p, ch.at); a != nil {
					a.Why = "the mount table names no process: this recent process's arguments name the mount point"
				}
			}
			if a == nil {
				a = proc.Nobody()
				a.Why = "the mount table names no process, and no recent process's arguments name the mount point"
			}
			c := Change{Source: store.SourceEvent, Actor: a}
			c.Finding = pol.MountOver(baseline.Change{Path: logical, Kind: baseline.Modified, New: &e}, loc, reason, a)
			out = append(out, c)
			points = append(points, baseline.QuotePath(logical))
		}
	}
	if len(out) == 0 {
		return nil
	}
	// Recorded first, as every change is, then emitted: the history names the mount and who made
	// it. A database that cannot be written does not hold the alert back: it goes out marked not
	// yet recorded and is queued with the observations (outage.go); the outage's gap and
	// reconcile settle what the mount changed.
	queued, err := w.noteMounts(context.WithoutCancel(ctx), out)
	if err != nil {
		return err
	}
	for i := range out {
		out[i].Unrecorded = queued
	}
	for _, c := range out {
		w.o.Log.Warn("mount over a location", "path", baseline.QuotePath(c.Finding.Change.Path), "rule", policy.RuleMountOver, "why", c.Finding.Hits[0].Reason)
		if err := w.emit(c); err != nil {
			return err
		}
	}
	w.remark()
	if err := w.openGap(context.WithoutCancel(ctx), time.Now().UnixNano(), "mount", "the mount table changed at "+strings.Join(points, ", ")); err != nil {
		return err
	}
	return w.reconcile(ctx, "mount")
}

// inRoot reports whether host path p is the root or below it.
func (w *Watcher) inRoot(p string) bool {
	return w.root == "/" || p == w.root || strings.HasPrefix(p, w.root+"/")
}

// trackFileMount starts (on) or stops rescanning the directory where host path p is visible,
// when p is a file of a location with a mount over it.
func (w *Watcher) trackFileMount(p string, on bool) {
	if !on {
		parent, ok := w.mountFiles[p]
		if !ok {
			return
		}
		delete(w.mountFiles, p)
		for _, other := range w.mountFiles {
			if other == parent {
				return
			}
		}
		w.mountPoll.Remove(parent)
		return
	}
	if !w.inRoot(p) || w.policy().Match(w.logical(p)) == nil {
		return
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return // a directory's mount is marked like any directory
	}
	if _, ok := w.mountFiles[p]; ok {
		return
	}
	parent := filepath.Dir(p)
	if err := w.mountPoll.Add(parent); err != nil {
		w.o.Log.Warn("a file mounted over a location cannot be rescanned: its changes are seen by reconciles only", "path", baseline.QuotePath(w.logical(p)), "err", err)
		return
	}
	w.mountFiles[p] = parent
	w.o.Log.Warn(fmt.Sprintf("a file mounted over a location is not watched live: rescanned every %v, and a gap stays open for it", w.mountPoll.every),
		"path", baseline.QuotePath(w.logical(p)), "backend", w.mountPoll.Name())
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// noteMounts records the mount-over findings in one transaction, each with its history row. While
// the database cannot be written it queues them instead, to be recorded in order with the queued
// observations (queued true).
func (w *Watcher) noteMounts(ctx context.Context, out []Change) (queued bool, err error) {
	now := time.Now().UnixNano()
	obs := make([]journal.Observation, len(out))
	for i, c := range out {
		obs[i] = journal.Observation{Path: c.Finding.Change.Path, Cur: c.Finding.Change.New, Source: store.SourceEvent, TimeNS: now, By: w.o.By, Actor: c.Actor}
	}
	for {
		if w.queueNoted(out, obs) {
			return true, nil
		}
		err := w.writeMounts(ctx, out, obs)
		if !w.unavailable(err, "") {
			return false, err
		}
	}
}

func (w *Watcher) writeMounts(ctx context.Context, out []Change, obs []journal.Observation) error {
	tx, err := w.o.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The findings get their history rows only once they are committed: a finding queued after
	// a failed write goes out without one.
	noted := make([]policy.Finding, len(out))
	for i := range out {
		noted[i] = out[i].Finding
		if err := journal.Noted(ctx, tx, &noted[i], obs[i]); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for i := range out {
		out[i].Finding = noted[i]
	}
	w.g.wrote(obs[0].TimeNS)
	return nil
}
