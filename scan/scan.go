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
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/pkgdb"
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
	// Source names the run in the history: store.SourceScan (default) or SourceReconcile (the
	// watcher comparing every location with its last observation after a gap).
	Source store.Source
	// ChangesOnly leaves Result.Findings (the drift from the baseline) empty: a reconcile needs
	// only the changes since the last observation, and on a tree that drifted a lot the findings
	// would double its memory.
	ChangesOnly bool
	// NoChanges leaves Result.Changes empty: the scan command shows the findings only, and on a
	// tree that drifted a lot the changes would hold as much memory as the findings.
	NoChanges bool
	// Progress, when set, is called every ProgressEvery (default 200 ms) from a goroutine of its
	// own while the scan runs, and not after Run returns.
	// NoContent: store no file contents (see KeepContent).
	NoContent     bool
	Progress      func(Progress)
	ProgressEvery time.Duration
	Now           func() time.Time
	// Packages is the package database index every path is verified against (package.go);
	// nil: paths carry no package and the package rules do not fire.
	Packages *pkgdb.Cache
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
	// ContentStoreBytes is the bound of the content store that was full (store.MaxContentBytes).
	ContentStoreBytes int64
	// Uncovered counts baseline paths that the policy no longer selects (left untouched).
	Uncovered int
	Findings  *Findings // against the baseline, in path order; past 1,000, on disk until Close
	// Changes are the changes since the last observation (what the history records), judged by
	// the policy; a change no rule fires on is recorded but not listed. The watcher emits these
	// after a reconcile.
	Changes   []policy.Finding
	Recorded  int        // history rows written
	Errors    []error    // one per path that could not be observed completely
	Inventory *Inventory // first scan only
	Notes     []string   // things the user should know (policy changed since the baseline...)
	// Packages says what package databases the paths were verified against (pkgdb's Summary);
	// empty when Options.Packages was nil or the root has no package database.
	Packages string
}

// Close releases what the findings hold on disk.
func (r *Result) Close() error { return r.Findings.Close() }

// Unreadable reports whether some path could not be read (exit bit 8).
func (r *Result) Unreadable() bool { return len(r.Errors) > 0 }

// ErrRootMismatch means the database holds the baseline of another root.
var ErrRootMismatch = errors.New("database holds the baseline of another root")

// job is one walked path on its way through the hashing pool.
type job struct {
	v       *baseline.Visit
	base    *store.Approved // nil: not in the baseline
	prev    *baseline.Entry // the last observation (state, else baseline); nil: none
	hashErr error
	reused  bool // the hash was taken from the last observation
	// content is the file's content, encoded for the store by the hashing worker from the bytes
	// it hashed (nil: not kept; keep reads the file again if it must). held is what it counts
	// against maxHeld until the job is recorded.
	content  *store.Encoded
	held     int64
	needHash bool         // a hashing worker reads it (or computes its package's digest)
	state    *store.State // the path's drift row; nil: none
	gone     []goneItem   // baseline entries and drift rows before this path that were not walked
}

// batch is a run of consecutive jobs, in path order, that goes through the pipeline as one: the
// walk fills it, one hashing worker hashes the jobs of it that need it, and the consumer records
// them all once done is closed. One channel operation and one wake-up per batch instead of per
// path: per path, the hand-offs between the three goroutines (and the runtime's spinning while
// it looked for the next one) were a tenth of a first scan's CPU.
type batch struct {
	jobs []*job
	done chan struct{}
}

// batchJobs is the size of a full batch, and pipelineBatches how many batches each channel of the
// pipeline holds: as many paths in flight as before batches (512).
const (
	batchJobs       = 32
	pipelineBatches = 16
)

func newBatch() *batch { return &batch{jobs: make([]*job, 0, batchJobs), done: make(chan struct{})} }

// needsHash reports whether a hashing worker has something to do for b.
func (b *batch) needsHash() bool {
	for _, j := range b.jobs {
		if j.needHash {
			return true
		}
	}
	return false
}

// goneItem is a path the walk did not meet that the store knew: its baseline entry, its drift
// row, or both.
type goneItem struct {
	path  string
	base  *store.Approved
	state *store.State
}

// Run scans. It returns an error only when the scan as a whole failed (the database, the root,
// an interrupt); problems with single paths are in Result.Errors. Close the Result when done. Its steps: begin (the write
// lock, the meta data, the root check and the run row), observe (walk, hash, merge with the
// baseline, record each path), finish (the drift left over, the meta data, the commit).
func Run(ctx context.Context, o Options) (*Result, error) {
	r, err := begin(ctx, o.withDefaults())
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := r.observe(ctx); err != nil {
		r.res.Close()
		return nil, err
	}
	if err := r.finish(ctx); err != nil {
		r.res.Close()
		return nil, err
	}
	return r.res, nil
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.MaxHashBytes == 0 {
		o.MaxHashBytes = baseline.DefaultMaxHashBytes
	}
	if o.Source == "" {
		o.Source = store.SourceScan
	}
	if o.Progress != nil && o.ProgressEvery <= 0 {
		o.ProgressEvery = 200 * time.Millisecond
	}
	return o
}

// run is one scan between begin and finish.
type run struct {
	o     Options
	res   *Result
	tx    *store.Tx
	root  string
	first bool                // this run records the baseline
	nowNS int64               // the time every row of the run is stamped with
	iter  *store.BaselineIter // nil on a first scan
	siter *store.StateIter    // the drift rows; nil on a first scan
	m     meter

	// held counts the bytes of contents the workers hold for jobs not yet recorded; full says the
	// content store took no more, so the workers stop keeping contents.
	held atomic.Int64
	full atomic.Bool

	unknown []string     // prefixes ("dir/") whose contents could not be listed
	inv     *Inventory   // first scan only
	pkgs    *pkgdb.Index // nil: no package verification
}

// begin takes the write lock first, then reads the meta data, the baseline and the drift: no
// other writer can commit between the snapshot this scan compares against and the rows it writes.
func begin(ctx context.Context, o Options) (*run, error) {
	root := baseline.NormRoot(o.Root)
	r := &run{o: o, root: root, res: &Result{Root: root, Started: o.Now(), Findings: &Findings{}}}
	r.nowNS = r.res.Started.UnixNano()
	var err error
	if r.tx, err = o.DB.Begin(ctx); err != nil {
		return nil, err
	}
	if err := r.checkBaseline(ctx); err != nil {
		r.close()
		return nil, err
	}
	if err := r.loadLast(ctx); err != nil {
		r.close()
		return nil, err
	}
	if err := r.startRun(ctx); err != nil {
		r.close()
		return nil, err
	}
	r.loadPackages(ctx)
	return r, nil
}

// close abandons what was not committed.
func (r *run) close() {
	if r.iter != nil {
		r.iter.Close()
	}
	if r.siter != nil {
		r.siter.Close()
	}
	r.tx.Rollback()
}

// checkBaseline decides whether this run records the baseline, refuses the baseline of another
// root, and notes a policy that changed since the baseline.
func (r *run) checkBaseline(ctx context.Context) error {
	db := r.o.DB
	info, have, err := db.BaselineInfo(ctx)
	if err != nil {
		return err
	}
	if have && info.Root != r.root && !r.o.Recreate {
		return fmt.Errorf("%w: the baseline in %s is of root %s, not %s (use --db for a separate database per root, or `baseline create` to start over)",
			ErrRootMismatch, db.Path(), baseline.QuotePath(info.Root), baseline.QuotePath(r.root))
	}
	if !have && !r.o.Recreate {
		// No record of a baseline, yet one is there (rows, or a seal in the chain): the meta was
		// edited or lost. A first scan now would approve whatever is on disk.
		c, err := db.Count(ctx)
		if err != nil {
			return err
		}
		chk, err := db.VerifyBaseline(ctx)
		if err != nil {
			return err
		}
		if c.Baseline > 0 || chk.SealID > 0 {
			return fmt.Errorf("%w: %s holds a baseline (%d rows, sealed by history row %d) but no record of it in its meta: refusing to record a new one over it ('tripline baseline create' starts over)",
				store.ErrBaselineEdited, db.Path(), c.Baseline, chk.SealID)
		}
	}
	r.first = !have || r.o.Recreate
	r.res.First = r.first
	if !r.first && info.PolicyDigest != "" && info.PolicyDigest != r.o.Policy.Digest() {
		r.res.Notes = append(r.res.Notes, "the policy changed since the baseline was recorded: files of new locations show as created, paths no longer covered are left alone; review, then `tripline baseline update`")
	}
	return nil
}

// loadLast opens the last observations: the drift rows and the baseline, as iterators in path
// order that the walk merges with (memory stays flat however much drifted). A first scan has
// none.
func (r *run) loadLast(ctx context.Context) error {
	if r.first {
		r.inv = newInventory(r.o.Policy, r.root)
		return nil
	}
	var err error
	if r.siter, err = r.o.DB.StateRows(ctx); err != nil {
		return err
	}
	r.iter, err = r.o.DB.Baseline(ctx)
	return err
}

// startRun records the run, and on baseline create clears the old baseline.
func (r *run) startRun(ctx context.Context) error {
	kind := r.o.Source
	if r.first {
		kind = store.SourceBaseline
	}
	var err error
	if r.res.RunID, err = r.tx.StartRun(ctx, kind, r.root, r.o.By, r.nowNS); err != nil {
		return err
	}
	if r.o.Recreate {
		return r.tx.ClearBaseline(ctx)
	}
	return nil
}

// observe walks every location, hashes on a pool of workers, merges the walk with the baseline
// and records each path in walk order. Interrupted, it returns ctx's error: nothing of the run is
// committed.
func (r *run) observe(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if r.o.Progress != nil {
		stop, done := make(chan struct{}), make(chan struct{})
		go r.m.report(r.o.Progress, r.o.ProgressEvery, r.res.Started, stop, done)
		defer func() { close(stop); <-done }()
	}
	ordered := make(chan *batch, pipelineBatches)
	hashq := make(chan *batch, pipelineBatches)
	var hashers sync.WaitGroup
	for i := 0; i < r.o.Workers; i++ {
		hashers.Add(1)
		go func() {
			defer hashers.Done()
			r.hash(hashq)
		}()
	}
	var walkErr error
	walked := make(chan struct{})
	go func() {
		defer close(walked)
		defer close(ordered)
		defer close(hashq)
		walkErr = r.walk(ctx, ordered, hashq)
	}()
	consumeErr := r.consume(ctx, cancel, ordered)
	hashers.Wait()
	<-walked
	if err := parent.Err(); err != nil {
		// Interrupted: the transaction is rolled back, nothing of this run is recorded. Other
		// errors seen on the way (statements closed by the rollback) are consequences.
		return err
	}
	if consumeErr != nil {
		return consumeErr
	}
	return walkErr
}

// maxHeld bounds the contents the hashing workers hold for jobs waiting to be recorded: past
// it, a content is not kept and keep reads the file again (rarely: the consumer is quicker than
// the hashing), so memory stays flat whatever the tree.
const maxHeld = 4 << 20

// hash hashes the files of the batches it receives until hashq is closed. While the content
// store takes contents, it keeps the bytes of each small file it hashed and encodes them for the
// store (deflate, the costly part), on its own goroutine: every file is read once, and the
// consumer, which writes the database alone, only inserts them.
func (r *run) hash(hashq <-chan *batch) {
	buf := make([]byte, 256<<10)
	for b := range hashq {
		for _, j := range b.jobs {
			if j.needHash {
				r.hashJob(j, buf)
			}
		}
		close(b.done)
	}
}

// hashJob hashes one file, keeps its content when it may, and computes its package's digest.
func (r *run) hashJob(j *job, buf []byte) {
	if !j.reused { // a reused hash comes here only for the package's digest
		keepMax := int64(-1)
		if !r.o.NoContent && !r.full.Load() {
			keepMax = store.MaxContentFile
		}
		data, err := j.v.HashContent(r.o.MaxHashBytes, buf, keepMax)
		j.hashErr = err
		if data != nil {
			n := int64(len(data))
			if r.held.Add(n) <= maxHeld {
				if c, err := store.EncodeContent(j.v.Entry.SHA256, data); err == nil {
					j.content, j.held = &c, n
				}
			}
			if j.held == 0 {
				r.held.Add(-n)
			}
		}
		if j.v.Entry.HashState == baseline.HashOK {
			r.m.bytes.Add(j.v.Entry.Size)
		}
	}
	r.verify(&j.v.Entry) // here, on the pool, when it reads the file (dpkg's md5)
}

// walk merges the walk with the baseline and the drift rows (all three in path order), decides
// what to hash, and sends every job, in batches, to ordered in path order, and the batches with
// something to hash to hashq as well.
func (r *run) walk(ctx context.Context, ordered, hashq chan<- *batch) error {
	cur := newBatch()
	// send passes on the batch being filled, and starts a new one.
	send := func() error {
		b := cur
		cur = newBatch()
		select {
		case ordered <- b:
		case <-ctx.Done():
			for _, j := range b.jobs {
				if j.v != nil {
					j.v.Release()
				}
			}
			return ctx.Err()
		}
		if !b.needsHash() {
			close(b.done)
			return nil
		}
		select {
		case hashq <- b:
		case <-ctx.Done():
			for _, j := range b.jobs {
				if j.needHash {
					j.hashErr = ctx.Err()
				}
			}
			close(b.done)
			return ctx.Err()
		}
		return nil
	}
	// add appends j to the batch being filled, and passes the batch on once it is full.
	add := func(j *job) error {
		cur.jobs = append(cur.jobs, j)
		if len(cur.jobs) < batchJobs {
			return nil
		}
		return send()
	}
	var pendingBase *store.Approved
	var pendingState *store.State
	// The baseline is read (and hashed for its seal) on a goroutine of its own, in batches:
	// reading it was as much of the walk's goroutine's time as its statx calls.
	var bases <-chan []store.Approved
	var batch []store.Approved
	if r.iter != nil {
		stop, done := make(chan struct{}), make(chan struct{})
		bases = r.readBaseline(stop, done)
		defer func() { close(stop); <-done }()
	}
	nextBase := func() *store.Approved {
		if pendingBase == nil && bases != nil {
			if len(batch) == 0 {
				batch = <-bases // nil once the baseline is read
			}
			if len(batch) > 0 {
				pendingBase, batch = &batch[0], batch[1:]
			}
		}
		return pendingBase
	}
	nextState := func() *store.State {
		if r.siter != nil && pendingState == nil {
			if st, ok := r.siter.Next(); ok {
				pendingState = &st
			}
		}
		return pendingState
	}
	// next takes the smallest path the store knew, if it sorts before limit (or all == true).
	next := func(limit string, all bool) (goneItem, bool) {
		b, st := nextBase(), nextState()
		var g goneItem
		switch {
		case b == nil && st == nil:
			return g, false
		case st == nil || (b != nil && b.Path <= st.Path):
			g.path = b.Path
		default:
			g.path = st.Path
		}
		if !all && g.path > limit {
			return g, false
		}
		if b != nil && b.Path == g.path {
			g.base, pendingBase = b, nil
		}
		if st != nil && st.Path == g.path {
			g.state, pendingState = st, nil
		}
		return g, true
	}
	err := baseline.Walk(ctx, r.root, r.o.Policy.Tree(), func(v *baseline.Visit) error {
		r.m.paths.Add(1)
		j := &job{v: v}
		for g, ok := next(v.Entry.Path, false); ok; g, ok = next(v.Entry.Path, false) {
			if g.path == v.Entry.Path {
				j.base, j.state = g.base, g.state
				break
			}
			j.gone = append(j.gone, g)
		}
		if j.base != nil {
			j.prev = &j.base.Entry
		}
		if j.state != nil {
			if j.state.Present {
				j.prev = &j.state.Entry
			} else {
				j.prev = nil
			}
			if v.Ignored {
				// An ignored name is not observed: its drift row is handled as one the walk did
				// not meet.
				j.gone = append(j.gone, goneItem{path: v.Entry.Path, state: j.state})
			}
		}
		needHash := v.Err == nil && !v.Ignored && v.Entry.Type == baseline.TypeFile
		if needHash && j.prev != nil && j.prev.HashState == baseline.HashOK && j.prev.SameInode(&v.Entry) {
			v.Entry.SHA256, v.Entry.HashState = j.prev.SHA256, baseline.HashOK
			needHash, j.reused = false, true
		}
		if j.reused && r.pkgs.NeedsContent(&v.Entry) {
			needHash = true // not to hash: to compute the package's digest on the pool
		}
		j.needHash = needHash
		return add(j)
	})
	if err != nil {
		for _, j := range cur.jobs {
			if j.v != nil {
				j.v.Release()
			}
		}
		return err
	}
	if r.iter == nil {
		if len(cur.jobs) == 0 {
			return nil
		}
		return send()
	}
	// Whatever is left of the baseline and the drift rows was not walked.
	var rest []goneItem
	for g, ok := next("", true); ok; g, ok = next("", true) {
		rest = append(rest, g)
	}
	if err := r.iter.Err(); err != nil {
		return err
	}
	if err := r.siter.Err(); err != nil {
		return err
	}
	if len(rest) > 0 {
		cur.jobs = append(cur.jobs, &job{gone: rest})
	}
	if len(cur.jobs) == 0 {
		return nil
	}
	return send()
}

// readBaseline sends the baseline in path order, in batches, until it is read or stop is closed;
// it closes the channel, then done, when it returns. r.iter is its own until then.
func (r *run) readBaseline(stop <-chan struct{}, done chan<- struct{}) <-chan []store.Approved {
	const size = 256
	out := make(chan []store.Approved, 4)
	go func() {
		defer close(done)
		defer close(out)
		b := make([]store.Approved, 0, size)
		for a, ok := r.iter.Next(); ok; a, ok = r.iter.Next() {
			if b = append(b, a); len(b) < size {
				continue
			}
			select {
			case out <- b:
			case <-stop:
				return
			}
			b = make([]store.Approved, 0, size)
		}
		if len(b) > 0 {
			select {
			case out <- b:
			case <-stop:
			}
		}
	}()
	return out
}

// consume records the jobs in path order as their hashes are done. After the first error it
// cancels the walk and only drains.
//
// The statements run under a context that nothing cancels, and an interrupt is looked for
// between jobs instead: the SQLite driver starts a goroutine to watch a cancellable context for
// every statement it runs, which cost a first scan 200,000 goroutines and their wake-ups.
func (r *run) consume(ctx context.Context, cancel context.CancelFunc, ordered <-chan *batch) error {
	var err error
	wctx := context.WithoutCancel(ctx)
	for b := range ordered {
		if len(b.jobs) > 0 && b.jobs[0].v != nil {
			r.m.current.Store(&b.jobs[0].v.Entry.Path) // the oldest path not yet done: what a stall waits on
		}
		<-b.done
		for _, j := range b.jobs {
			if err == nil {
				if err = ctx.Err(); err == nil {
					err = r.job(wctx, j)
				}
				if err != nil {
					cancel()
				}
			}
			if j.held > 0 {
				r.held.Add(-j.held)
				j.content = nil
			}
			if j.v != nil {
				j.v.Release()
			}
		}
	}
	return err
}

// finish handles the drift rows the walk did not meet, records the baseline's meta data on a
// first scan, closes the run and commits.
func (r *run) finish(ctx context.Context) error {
	if !r.first {
		if err := r.verifyBaseline(ctx); err != nil {
			return err
		}
	}
	res := r.res
	res.Duration = r.o.Now().Sub(res.Started)
	if r.first {
		res.Inventory = r.inv
		if err := r.tx.SetBaselineInfo(ctx, store.BaselineInfo{CreatedNS: r.nowNS, CreatedBy: r.o.By, Root: r.root,
			PolicyDigest: r.o.Policy.Digest(), PolicySource: r.o.Policy.Source()}); err != nil {
			return err
		}
	}
	if err := r.tx.FinishRun(context.WithoutCancel(ctx), res.RunID, r.o.Now().UnixNano(), res.Paths, res.Findings.Len(), len(res.Errors)); err != nil {
		return err
	}
	return r.tx.Commit()
}

// verifyBaseline checks the baseline this scan compared against with its seal, from the rows the
// walk's merge read (store.BaselineIter.Verify): one reading of the baseline for both. A baseline
// edited outside tripline fails the scan, and nothing of it is recorded: compared against, the
// edit would pass for approved.
func (r *run) verifyBaseline(ctx context.Context) error {
	chk, err := r.iter.Verify(ctx)
	if err != nil {
		return err
	}
	if !chk.OK {
		return editedError(fmt.Sprintf("baseline of %s: %s; refusing to compare against it: see 'tripline history --verify', and record a new baseline with 'tripline baseline create' once you know why",
			r.o.DB.Path(), chk.Problem))
	}
	return nil
}

// editedError says why a scan refused an edited baseline; it is a store.ErrBaselineEdited.
type editedError string

func (e editedError) Error() string { return string(e) }
func (e editedError) Unwrap() error { return store.ErrBaselineEdited }

func (r *run) isUnknown(p string) bool {
	for _, u := range r.unknown {
		if strings.HasPrefix(p, u) {
			return true
		}
	}
	return false
}

// known returns what the store knew of a path before this run: its drift row and baseline entry.
func known(base *baseline.Entry, state *store.State) journal.Known {
	return journal.Known{Base: base, State: state}
}

// job records one walked path and the baseline entries before it that the walk did not meet.
func (r *run) job(ctx context.Context, j *job) error {
	for i := range j.gone {
		if err := r.gone(ctx, &j.gone[i]); err != nil {
			return err
		}
	}
	if j.v == nil {
		return nil
	}
	v := j.v
	if v.Ignored {
		r.res.Ignored++
		return nil
	}
	if v.Err != nil {
		r.res.Errors = append(r.res.Errors, v.Err)
		if v.Unlisted {
			r.unknown = append(r.unknown, strings.TrimSuffix(v.Entry.Path, "/")+"/")
		}
		return nil
	}
	e := &v.Entry
	if e.Location == "" {
		return nil // a directory walked through, not itself selected
	}
	r.count(e, j)
	if j.hashErr != nil {
		r.res.Errors = append(r.res.Errors, j.hashErr)
		switch e.HashState {
		case baseline.HashVanished, baseline.HashChanged, baseline.HashReplaced:
			// Not observed consistently: neither a change nor a deletion can be claimed. The
			// next scan (or the watcher) sees the settled state.
			return nil
		}
	}
	r.verify(e)
	if r.first {
		r.inv.add(e)
		r.present(e)
		if err := r.tx.PutBaseline(ctx, e, r.nowNS, r.o.By); err != nil {
			return err
		}
		return r.keep(ctx, e, j.content)
	}
	if j.prev == nil || j.prev.SHA256 != e.SHA256 {
		if err := r.keep(ctx, e, j.content); err != nil {
			return err
		}
	}
	var base *baseline.Entry
	if j.base != nil {
		base = &j.base.Entry
	}
	if err := r.record(ctx, known(base, j.state), e.Path, e); err != nil {
		return err
	}
	if ch, ok := baseline.Diff(base, e); ok {
		r.find(ch)
	} else {
		r.present(e)
	}
	return nil
}

// count adds an observed entry to the result's counts.
func (r *run) count(e *baseline.Entry, j *job) {
	r.res.Paths++
	switch e.HashState {
	case baseline.HashOK:
		if j.reused {
			r.res.Reused++
		} else {
			r.res.Hashed++
			r.res.HashBytes += e.Size
		}
	case baseline.HashTooLarge:
		r.res.TooLarge++
	}
}

// keep stores e's content, counting those the full store could not take: c when the hashing
// worker encoded it, else read again (journal.KeepContent).
func (r *run) keep(ctx context.Context, e *baseline.Entry, c *store.Encoded) error {
	if r.o.NoContent {
		return nil
	}
	var err error
	if c != nil && c.SHA256 == e.SHA256 && e.HashState == baseline.HashOK {
		err = r.keepEncoded(ctx, c)
	} else {
		err = journal.KeepContent(ctx, r.tx, r.root, e, r.nowNS)
	}
	if errors.Is(err, store.ErrContentFull) {
		r.full.Store(true)
		r.res.ContentFull++
		r.res.ContentStoreBytes = store.MaxContentBytes
		return nil
	}
	return err
}

// keepEncoded stores a content the hashing worker encoded, unless the store has it already.
func (r *run) keepEncoded(ctx context.Context, c *store.Encoded) error {
	if r.tx.ContentFull() {
		return store.ErrContentFull
	}
	if ok, err := r.tx.HasContent(ctx, c.SHA256, r.nowNS); err != nil || ok {
		return err
	}
	return r.tx.PutEncoded(ctx, *c, r.nowNS)
}

// gone handles a path the store knew that the walk did not meet: a baseline entry (with its
// drift row, if any), or the drift row of a path outside the baseline (a file created after the
// baseline and deleted since).
func (r *run) gone(ctx context.Context, g *goneItem) error {
	if r.isUnknown(g.path) {
		return nil
	}
	if g.base == nil {
		if r.o.Policy.Match(g.path) == nil {
			return nil
		}
		return r.record(ctx, known(nil, g.state), g.path, nil)
	}
	b := g.base
	if r.o.Policy.Match(b.Path) == nil {
		r.res.Uncovered++
		return nil
	}
	if err := r.record(ctx, known(&b.Entry, g.state), b.Path, nil); err != nil {
		return err
	}
	if ch, ok := baseline.Diff(&b.Entry, nil); ok {
		r.find(ch)
	}
	return nil
}

// find adds a finding against the baseline.
func (r *run) find(ch baseline.Change) {
	if r.o.ChangesOnly {
		return
	}
	f, ok := r.o.Policy.Evaluate(ch, journal.LocationOf(r.o.Policy, ch.Entry()), nil)
	if ok {
		r.res.Findings.add(f)
	}
}

// record records the observation of p (cur nil: not found) against what the store knew of it.
func (r *run) record(ctx context.Context, k journal.Known, p string, cur *baseline.Entry) error {
	out, err := journal.Record(ctx, r.tx, r.o.Policy, k, journal.Observation{Path: p, Cur: cur, Source: r.o.Source,
		RunID: r.res.RunID, TimeNS: r.nowNS, By: r.o.By})
	if out.Changed {
		r.res.Recorded++
	}
	if out.Fired && !r.o.NoChanges {
		r.res.Changes = append(r.res.Changes, out.Finding)
	}
	return err
}
