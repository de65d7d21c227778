// Package scan is the one-shot scan: it walks every location of a policy under a root, compares
// what it finds with the baseline in the store, evaluates each change through the policy into
// findings, and records them. The first scan of a database records the baseline instead and
// returns an inventory. Hashing runs on a bounded pool; a file whose (dev, inode, size, mtime,
// ctime) equals the last observation is not read again. It prints nothing itself.
package scan

import (
	"context"
	"errors"
	"fmt"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

// Options configure a scan.
type Options struct {
	Root         string // "/" or "" for the host; otherwise a directory treated as /
	Policy       *policy.Policy
	DB           *store.DB
	MaxHashBytes int64 // 0: baseline.DefaultMaxHashBytes
	Workers      int   // hashing goroutines; 0: one per CPU
	By           string
	// Recreate discards the existing baseline and records a new one (baseline create).
	Recreate bool
	// Source names the run in the history: "scan" (default) or "reconcile" (the watcher
	// comparing every location with its last observation after a gap).
	Source string
	// ChangesOnly leaves Result.Findings (the drift from the baseline) empty: a reconcile needs
	// only the changes since the last observation, and on a tree that drifted a lot the findings
	// would double its memory.
	ChangesOnly bool
	// Progress, when set, is called every ProgressEvery (default 200 ms) from a goroutine of its
	// own while the scan runs, and not after Run returns.
	// NoContent: store no file contents (see KeepContent).
	NoContent     bool
	Progress      func(Progress)
	ProgressEvery time.Duration
	Now           func() time.Time
}

// Progress is a snapshot of a running scan.
type Progress struct {
	Paths       int64 // paths walked so far
	HashedBytes int64 // bytes of the files hashed so far
	Current     string
	Elapsed     time.Duration
}

// meter counts a running scan's progress for the Progress callback.
type meter struct {
	paths, bytes atomic.Int64
	current      atomic.Pointer[string]
}

// report calls fn every interval until stop is closed; it closes done when it returns.
func (m *meter) report(fn func(Progress), interval time.Duration, start time.Time, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			p := Progress{Paths: m.paths.Load(), HashedBytes: m.bytes.Load(), Elapsed: now.Sub(start)}
			if c := m.current.Load(); c != nil {
				p.Current = *c
			}
			fn(p)
		}
	}
}

// Result is what a scan found.
type Result struct {
	RunID     int64
	First     bool // this scan recorded the baseline
	Root      string
	Started   time.Time
	Duration  time.Duration
	Paths     int   // paths observed
	Hashed    int   // files read
	HashBytes int64 // bytes read
	Reused    int   // files whose hash was reused because nothing changed
	TooLarge  int   // files over the size cap, recorded without a hash
	Ignored   int   // names ignored by the policy
	// ContentFull counts contents not stored because the content store is full of contents the
	// baseline needs (store.MaxContentBytes).
	ContentFull int
	// Uncovered counts baseline paths that the policy no longer selects (left untouched).
	Uncovered int
	Findings  []policy.Finding // against the baseline, in path order
	// Changes are the changes since the last observation (what the history records), judged by
	// the policy; a change no rule fires on is recorded but not listed. The watcher emits these
	// after a reconcile.
	Changes   []policy.Finding
	Recorded  int        // history rows written
	Errors    []error    // one per path that could not be observed completely
	Inventory *Inventory // first scan only
	Notes     []string   // things the user should know (policy changed since the baseline...)
}

// Unreadable reports whether some path could not be read (exit bit 8).
func (r *Result) Unreadable() bool { return len(r.Errors) > 0 }

// Meta keys of the store used by scans.
const (
	MetaBaselineNS   = "baseline_created_ns"
	MetaBaselineBy   = "baseline_created_by"
	MetaRoot         = "root"
	MetaPolicyDigest = "policy_digest"
	MetaPolicySource = "policy_source"
)

// ErrRootMismatch means the database holds the baseline of another root.
var ErrRootMismatch = errors.New("database holds the baseline of another root")

// NormRoot returns the canonical form of a root option: "/" for the host.
func NormRoot(root string) string {
	if root == "" {
		return "/"
	}
	return path.Clean(root)
}

// job is one walked path on its way through the hashing pool.
type job struct {
	v       *baseline.Visit
	base    *store.Approved // nil: not in the baseline
	prev    *baseline.Entry // the last observation (state, else baseline); nil: none
	hashErr error
	reused  bool // the hash was taken from the last observation
	done    chan struct{}
	gone    []store.Approved // baseline entries before this path that were not walked
}

// Run scans. It returns an error only when the scan as a whole failed (the database, the root,
// an interrupt); problems with single paths are in Result.Errors.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.MaxHashBytes == 0 {
		o.MaxHashBytes = baseline.DefaultMaxHashBytes
	}
	root := NormRoot(o.Root)
	res := &Result{Root: root, Started: o.Now()}
	db := o.DB

	// Take the write lock first, then read the meta data, the baseline and the drift: no other
	// writer can commit between the snapshot this scan compares against and the rows it writes.
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	_, have, err := db.Meta(ctx, MetaBaselineNS)
	if err != nil {
		return nil, err
	}
	storedRoot, haveRoot, err := db.Meta(ctx, MetaRoot)
	if err != nil {
		return nil, err
	}
	if haveRoot && storedRoot != root && !o.Recreate {
		return nil, fmt.Errorf("%w: the baseline in %s is of root %s, not %s (use --db for a separate database per root, or `baseline create` to start over)",
			ErrRootMismatch, db.Path(), baseline.QuotePath(storedRoot), baseline.QuotePath(root))
	}
	first := !have || o.Recreate
	res.First = first
	if !first {
		if d, ok, _ := db.Meta(ctx, MetaPolicyDigest); ok && d != o.Policy.Digest() {
			res.Notes = append(res.Notes, "the policy changed since the baseline was recorded: files of new locations show as created, paths no longer covered are left alone; review, then `tripline baseline update`")
		}
	}

	var states map[string]store.State
	var iter *store.BaselineIter
	if !first {
		if states, err = db.States(ctx); err != nil {
			return nil, err
		}
		if iter, err = db.Baseline(ctx); err != nil {
			return nil, err
		}
		defer iter.Close()
	}

	if o.Source == "" {
		o.Source = "scan"
	}
	kind := o.Source
	if first {
		kind = "baseline"
	}
	nowNS := res.Started.UnixNano()
	if res.RunID, err = tx.StartRun(ctx, kind, root, o.By, nowNS); err != nil {
		return nil, err
	}
	if o.Recreate {
		if err := tx.ClearBaseline(ctx); err != nil {
			return nil, err
		}
	}

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ordered := make(chan *job, 512)
	hashq := make(chan *job, 512)
	var wg sync.WaitGroup
	var m meter
	if o.Progress != nil {
		if o.ProgressEvery <= 0 {
			o.ProgressEvery = 200 * time.Millisecond
		}
		stop, done := make(chan struct{}), make(chan struct{})
		go m.report(o.Progress, o.ProgressEvery, res.Started, stop, done)
		defer func() { close(stop); <-done }()
	}
	for i := 0; i < o.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for j := range hashq {
				j.hashErr = j.v.Hash(o.MaxHashBytes, buf)
				if j.v.Entry.HashState == baseline.HashOK {
					m.bytes.Add(j.v.Entry.Size)
				}
				close(j.done)
			}
		}()
	}

	// The walker merges the walk with the baseline (both in path order) and decides what to hash.
	var walkErr error
	var pendingBase *store.Approved
	nextBase := func() *store.Approved {
		if iter == nil {
			return nil
		}
		if pendingBase == nil {
			if a, ok := iter.Next(); ok {
				pendingBase = &a
			}
		}
		return pendingBase
	}
	go func() {
		defer close(ordered)
		defer close(hashq)
		walkErr = baseline.Walk(ctx, root, o.Policy.Tree(), func(v *baseline.Visit) error {
			m.paths.Add(1)
			j := &job{v: v, done: make(chan struct{})}
			for b := nextBase(); b != nil && b.Path <= v.Entry.Path; b = nextBase() {
				if b.Path == v.Entry.Path {
					j.base = b
				} else {
					j.gone = append(j.gone, *b)
				}
				pendingBase = nil
			}
			if j.base != nil {
				j.prev = &j.base.Entry
			}
			if s, ok := states[v.Entry.Path]; ok {
				if s.Present {
					j.prev = &s.Entry
				} else {
					j.prev = nil
				}
			}
			needHash := v.Err == nil && !v.Ignored && v.Entry.Type == baseline.TypeFile
			if needHash && j.prev != nil && j.prev.HashState == baseline.HashOK && j.prev.SameInode(&v.Entry) {
				v.Entry.SHA256, v.Entry.HashState = j.prev.SHA256, baseline.HashOK
				needHash, j.reused = false, true
			}
			select {
			case ordered <- j:
			case <-ctx.Done():
				v.Release()
				return ctx.Err()
			}
			if !needHash {
				close(j.done)
				return nil
			}
			select {
			case hashq <- j:
			case <-ctx.Done():
				j.hashErr = ctx.Err()
				close(j.done)
				return ctx.Err()
			}
			return nil
		})
		if walkErr == nil && iter != nil {
			// Whatever is left of the baseline was not walked.
			var rest []store.Approved
			for b := nextBase(); b != nil; b = nextBase() {
				rest = append(rest, *b)
				pendingBase = nil
			}
			if err := iter.Err(); err != nil {
				walkErr = err
				return
			}
			if len(rest) > 0 {
				j := &job{gone: rest, done: make(chan struct{})}
				close(j.done)
				select {
				case ordered <- j:
				case <-ctx.Done():
				}
			}
		}
	}()

	c := consumer{o: &o, res: res, tx: tx, states: states, first: first, nowNS: nowNS, runID: res.RunID, root: root}
	if first {
		c.inv = newInventory(o.Policy, root)
	}
	var consumeErr error
	for j := range ordered {
		if j.v != nil {
			m.current.Store(&j.v.Entry.Path) // the oldest path not yet done: what a stall waits on
		}
		<-j.done
		if consumeErr == nil {
			consumeErr = c.job(ctx, j)
			if consumeErr != nil {
				cancel()
			}
		}
		if j.v != nil {
			j.v.Release()
		}
	}
	wg.Wait()
	if err := parent.Err(); err != nil {
		// Interrupted: the transaction is rolled back, nothing of this run is recorded. Other
		// errors seen on the way (statements closed by the rollback) are consequences.
		return nil, err
	}
	if consumeErr != nil {
		return nil, consumeErr
	}
	if walkErr != nil {
		return nil, walkErr
	}
	if !first {
		if err := c.finishStates(ctx); err != nil {
			return nil, err
		}
	}
	res.Duration = o.Now().Sub(res.Started)
	if first {
		res.Inventory = c.inv
		for _, kv := range [][2]string{
			{MetaBaselineNS, fmt.Sprint(nowNS)},
			{MetaBaselineBy, o.By},
			{MetaRoot, root},
			{MetaPolicyDigest, o.Policy.Digest()},
			{MetaPolicySource, o.Policy.Source()},
		} {
			if err := tx.SetMeta(ctx, kv[0], kv[1]); err != nil {
				return nil, err
			}
		}
	}
	if err := tx.FinishRun(context.WithoutCancel(ctx), res.RunID, o.Now().UnixNano(), res.Paths, len(res.Findings), len(res.Errors)); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

type consumer struct {
	o       *Options
	res     *Result
	tx      *store.Tx
	states  map[string]store.State
	seen    map[string]bool // drift (state) paths met during the walk
	unknown []string        // prefixes ("dir/") whose contents could not be listed
	first   bool
	nowNS   int64
	runID   int64
	inv     *Inventory
	root    string
}

// sawState notes that a path with a drift row was met, so finishStates leaves it alone. Only
// drift paths are kept: the set stays as small as the state table, not as big as the tree.
func (c *consumer) sawState(p string) {
	if _, ok := c.states[p]; !ok {
		return
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	c.seen[p] = true
}

func (c *consumer) isUnknown(p string) bool {
	for _, u := range c.unknown {
		if strings.HasPrefix(p, u) {
			return true
		}
	}
	return false
}

func (c *consumer) job(ctx context.Context, j *job) error {
	for i := range j.gone {
		if err := c.gone(ctx, &j.gone[i]); err != nil {
			return err
		}
	}
	if j.v == nil {
		return nil
	}
	v := j.v
	if v.Ignored {
		c.res.Ignored++
		return nil
	}
	c.sawState(v.Entry.Path)
	if v.Err != nil {
		c.res.Errors = append(c.res.Errors, v.Err)
		if v.Unlisted {
			c.unknown = append(c.unknown, strings.TrimSuffix(v.Entry.Path, "/")+"/")
		}
		return nil
	}
	e := &v.Entry
	if e.Location == "" {
		return nil // a directory walked through, not itself selected
	}
	c.res.Paths++
	switch e.HashState {
	case baseline.HashOK:
		if j.reused {
			c.res.Reused++
		} else {
			c.res.Hashed++
			c.res.HashBytes += e.Size
		}
	case baseline.HashTooLarge:
		c.res.TooLarge++
	}
	if j.hashErr != nil {
		c.res.Errors = append(c.res.Errors, j.hashErr)
		switch e.HashState {
		case baseline.HashVanished, baseline.HashChanged, baseline.HashReplaced:
			// Not observed consistently: neither a change nor a deletion can be claimed. The
			// next scan (or the watcher) sees the settled state.
			return nil
		}
	}
	if c.first {
		c.inv.add(e)
		if err := c.tx.PutBaseline(ctx, e, c.nowNS, c.o.By); err != nil {
			return err
		}
		return c.keep(ctx, e)
	}
	if j.prev == nil || j.prev.SHA256 != e.SHA256 {
		if err := c.keep(ctx, e); err != nil {
			return err
		}
	}
	var base *baseline.Entry
	if j.base != nil {
		base = &j.base.Entry
	}
	if ch, ok := baseline.Diff(j.prev, e); ok {
		if err := c.record(ctx, ch); err != nil {
			return err
		}
	}
	if ch, ok := baseline.Diff(base, e); ok {
		c.find(ch)
	}
	st, hasState := c.states[e.Path]
	switch {
	case base != nil && identical(base, e):
		if hasState {
			return c.tx.DeleteState(ctx, e.Path)
		}
	case hasState && st.Present && identical(&st.Entry, e):
	default:
		return c.tx.PutState(ctx, e, true, c.nowNS)
	}
	return nil
}

// keep stores e's content, counting those the full store could not take.
func (c *consumer) keep(ctx context.Context, e *baseline.Entry) error {
	if c.o.NoContent {
		return nil
	}
	err := KeepContent(ctx, c.tx, c.root, e, c.nowNS)
	if errors.Is(err, store.ErrContentFull) {
		c.res.ContentFull++
		return nil
	}
	return err
}

// gone handles a baseline entry that the walk did not meet.
func (c *consumer) gone(ctx context.Context, b *store.Approved) error {
	if c.isUnknown(b.Path) {
		return nil
	}
	if c.o.Policy.Match(b.Path) == nil {
		c.res.Uncovered++
		return nil
	}
	c.sawState(b.Path)
	prev := &b.Entry
	st, hasState := c.states[b.Path]
	if hasState {
		if !st.Present {
			prev = nil
		} else {
			prev = &st.Entry
		}
	}
	if ch, ok := baseline.Diff(prev, nil); ok {
		if err := c.record(ctx, ch); err != nil {
			return err
		}
	}
	if ch, ok := baseline.Diff(&b.Entry, nil); ok {
		c.find(ch)
	}
	if hasState && !st.Present {
		return nil
	}
	return c.tx.PutState(ctx, &b.Entry, false, c.nowNS)
}

// finishStates handles drift rows for paths outside the baseline that the walk did not meet: a
// file created after the baseline and deleted since.
func (c *consumer) finishStates(ctx context.Context) error {
	for p, st := range c.states {
		if c.seen[p] || c.isUnknown(p) {
			continue
		}
		if c.o.Policy.Match(p) == nil {
			continue
		}
		if st.Present {
			if ch, ok := baseline.Diff(&st.Entry, nil); ok {
				if err := c.record(ctx, ch); err != nil {
					return err
				}
			}
		}
		if err := c.tx.DeleteState(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// find adds a finding against the baseline.
func (c *consumer) find(ch baseline.Change) {
	if c.o.ChangesOnly {
		return
	}
	f, ok := c.o.Policy.Evaluate(ch, locationOf(c.o.Policy, ch.Entry()), nil)
	if ok {
		c.res.Findings = append(c.res.Findings, f)
	}
}

// record appends a change since the last observation to the history.
func (c *consumer) record(ctx context.Context, ch baseline.Change) error {
	f, ok, err := recordChange(ctx, c.tx, c.o.Policy, ch, c.o.Source, c.runID, c.nowNS, c.o.By, nil, nil)
	c.res.Recorded++
	if ok {
		c.res.Changes = append(c.res.Changes, f)
	}
	return err
}

// identical reports whether two observations are the same in every field the store keeps, so no
// state row is needed to remember the newer one. A directory's times, size and link count move
// whenever a child comes or goes and mean nothing (baseline.Diff ignores them too), so they do not
// make a directory drift.
func identical(a, b *baseline.Entry) bool {
	if a.Type == baseline.TypeDir && b.Type == baseline.TypeDir {
		return a.Inode == b.Inode && a.Dev == b.Dev && a.Mode == b.Mode && a.UID == b.UID &&
			a.GID == b.GID && a.Location == b.Location
	}
	return a.SameInode(b) && a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID &&
		a.Target == b.Target && a.SHA256 == b.SHA256 && a.HashState == b.HashState &&
		a.Location == b.Location && a.Nlink == b.Nlink && a.BtimeNS == b.BtimeNS
}
