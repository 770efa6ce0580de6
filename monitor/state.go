package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/store"
)

// Observation is a record that passed a stateful monitor's filter, with
// what the monitor groups it by and what it remembers of it. Evaluators
// make them in parallel; State.Apply judges them in input order.
type Observation struct {
	Record *entra.Record
	side   *side
	key    string
	values []string
	risk   string
	reason string
}

// StateOptions bound a pipeline's monitor state.
type StateOptions struct {
	// CacheKeys is how many keys per monitor stay decoded in memory
	// (default 131072: 100,000 users fit); the rest are read from the store
	// when needed.
	CacheKeys int
	// CacheBytes bounds the memory the decoded keys of all the pipeline's
	// stateful monitors take together (default 32 MiB, estimated from
	// their events): a key keeps up to hundreds of events, so a count of
	// keys alone does not bound the heap. Past it the least recently used
	// keys of the monitor holding the most go back to the store.
	CacheBytes int64
	// MaxKeys caps the keys per monitor on disk (default 1,000,000): past
	// it the least recently updated keys go first.
	MaxKeys int64
	// Lateness is how far behind the newest record of a key (in event
	// time) a record may arrive and still be judged with what came before
	// it (default 7 days): Entra delivers most records within minutes,
	// some hours late, and a replay of several exports reads each file's
	// week in turn. State is kept that much longer.
	Lateness time.Duration
	// MaxSkew is how far ahead of the host's clock a record's event time
	// may be and still count as the state's "now" for expiry (default 1h).
	// A record dated later — a source with a wrong clock, a forged or test
	// record — is judged on its own time, but moves neither the monitor's
	// newest event time nor its key's past host clock + MaxSkew: one
	// record dated next year must not expire everyone's state, nor make
	// every later record of its key look too old to count. See
	// "Time" in the package documentation.
	MaxSkew time.Duration
	// Now is the host's clock (default time.Now), read once per Apply;
	// tests set it.
	Now func() time.Time
	Log *slog.Logger
}

// State is the memory of one pipeline's stateful monitors: per monitor
// and key, the recent records a threshold counts, the values first_seen
// knows, the events a correlation waits to pair. It lives in the store
// under the data directory.
//
// Apply writes what a batch changed in one transaction before the batch
// goes to the outputs (Judge and Flush: what several batches changed, in
// one), so the store is never behind what was delivered.
// It can be ahead: after a crash the input reads its unacknowledged batches
// again. Every remembered event carries its record's ID, and a record seen
// again is judged as it was the first time (same hit, no double count): a
// restart in the middle of a brute-force burst still gives one alert.
type State struct {
	// mu serialises Apply with Restore and Release, which a rebalance
	// calls from the Kafka client's goroutine.
	mu       sync.Mutex
	pipeline string
	st       *store.Store
	log      *slog.Logger
	now      func() time.Time
	mons     map[*Monitor]*monState
	order    []*monState
	// cacheLimit bounds the sum of the monitors' cacheBytes
	// (StateOptions.CacheBytes).
	cacheLimit int64
	// dirty holds keys changed but not yet stored (judged since the last
	// Flush, or kept by a failed write); loads look here first.
	dirty map[dirtyKey]*keyState
	// deleted are the keys the expiry sweep removed since the last Flush
	// (tombstones): gone for loads and the sweep, deleted from the store
	// by the Flush unless a later record made them again (then in dirty).
	deleted map[dirtyKey]bool

	// Sharded state (a processor of the cluster topic): the shards whose
	// records are judged, where their changes are copied, and the meta
	// last copied per shard and monitor.
	owned    map[string]bool
	replica  Replica
	rctx     context.Context
	metaSent map[shardMon]int64
	changes  []Change // scratch of flush
	// metaPending are the meta entries of changes, recorded as sent once
	// Replicate took them.
	metaPending map[shardMon]int64

	// Unowned counts observations of shards not (or no longer) owned,
	// left unjudged: their records are judged by the shard's owner.
	Unowned atomic.Int64
	// WriteErrors counts Apply calls whose store write failed.
	WriteErrors atomic.Int64
	// CachedBytes is the estimated memory of the decoded keys in cache
	// after the last store write, for metrics (at most StateOptions.CacheBytes).
	CachedBytes atomic.Int64
}

type dirtyKey struct {
	ms  *monState
	key string
}

type monState struct {
	m         *Monitor
	bucket    string
	cache     *lru.Cache[string, *keyState]
	meta      stateMeta
	late      int64 // ms: StateOptions.Lateness
	skew      int64 // ms: StateOptions.MaxSkew
	retention int64 // ms: a key untouched for this long (event time) is deleted
	warned    int64 // host ms of the last warning about a record in the future
	maxKeys   int64
	cursor    []byte
	shrink    uint
	keys      atomic.Int64 // mirror of meta.keys for metrics
	// cacheBytes is the estimated memory of the keys in cache: each
	// key's size when it was installed or last stored.
	cacheBytes int64
	// unreadable counts stored entries that did not decode and were
	// started afresh.
	unreadable atomic.Int64
}

// stateMeta is stored per monitor beside its keys.
type stateMeta struct {
	start     int64 // event time of the first record (first_seen learning)
	watermark int64 // newest event time seen, at most host clock + MaxSkew: "now" for expiry
	keys      int64
}

const metaBucket = "monitor-meta"

// stateBucketPrefix starts the bucket of each pipeline's monitor:
// monitor-state/<pipeline>/<monitor ID>.
const stateBucketPrefix = "monitor-state/"

// DefaultCacheBytes is StateOptions.CacheBytes when unset.
const DefaultCacheBytes = 32 << 20

// sweepPerApply is how many keys each Apply examines for expiry: the
// sweep goes round the whole key space in steps, so no write ever waits
// for a scan of millions of keys.
const sweepPerApply = 256

// OpenState loads the state of e's stateful monitors for pipeline from st.
func (e *Engine) OpenState(st *store.Store, pipeline string, opt StateOptions) (*State, error) {
	if opt.CacheKeys <= 0 {
		opt.CacheKeys = 131072
	}
	if opt.CacheBytes <= 0 {
		opt.CacheBytes = DefaultCacheBytes
	}
	if opt.MaxKeys <= 0 {
		opt.MaxKeys = 1_000_000
	}
	if opt.Lateness <= 0 {
		opt.Lateness = 7 * 24 * time.Hour
	}
	if opt.MaxSkew <= 0 {
		opt.MaxSkew = time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = e.log
	}
	s := &State{pipeline: pipeline, st: st, log: opt.Log, now: opt.Now, mons: map[*Monitor]*monState{}, dirty: map[dirtyKey]*keyState{}, deleted: map[dirtyKey]bool{},
		owned: map[string]bool{}, metaSent: map[shardMon]int64{}, metaPending: map[shardMon]int64{}, cacheLimit: opt.CacheBytes}
	for _, m := range e.all {
		if m.op == stateless {
			continue
		}
		ms := &monState{m: m, bucket: stateBucketPrefix + pipeline + "/" + m.ID,
			late: opt.Lateness.Milliseconds(), skew: opt.MaxSkew.Milliseconds(), maxKeys: opt.MaxKeys}
		// Every way out of the cache (evicted, removed, purged) gives its
		// size back.
		cache, err := lru.NewWithEvict(opt.CacheKeys, func(_ string, ks *keyState) { ms.cacheBytes -= int64(ks.size) })
		if err != nil {
			return nil, err
		}
		ms.cache = cache
		ms.retention = ms.horizon() + ms.late
		raw, err := st.Get(metaBucket, ms.bucket)
		if err != nil {
			return nil, fmt.Errorf("monitor state %s: %w", ms.bucket, err)
		}
		if raw != nil {
			if ms.meta, err = decodeMeta(raw); err != nil {
				return nil, fmt.Errorf("monitor state %s: %w", ms.bucket, err)
			}
			if w, now := ms.meta.watermark, opt.Now().UnixMilli(); w > now+ms.skew {
				s.log.Warn("a stateful monitor's newest event time is ahead of the host's clock: either the host's clock is behind "+
					"(the newest event time then follows the records, max_skew at a time), or an earlier privtrail counted a "+
					"future-dated record (then keys expire early until the clock reaches it)",
					"pipeline", pipeline, "monitor", m.ID, "newest_event_time", time.UnixMilli(w).UTC(), "host_now", time.UnixMilli(now).UTC())
			}
		}
		ms.keys.Store(ms.meta.keys)
		s.mons[m] = ms
		s.order = append(s.order, ms)
	}
	return s, nil
}

// Keys returns how many keys each stateful monitor holds, for metrics.
func (s *State) Keys() map[string]int64 {
	out := make(map[string]int64, len(s.order))
	for _, ms := range s.order {
		out[ms.m.ID] = ms.keys.Load()
	}
	return out
}

// Unreadable returns, per stateful monitor, how many stored entries could
// not be decoded (and were started afresh) since the state was opened.
func (s *State) Unreadable() map[string]int64 {
	out := make(map[string]int64, len(s.order))
	for _, ms := range s.order {
		out[ms.m.ID] = ms.unreadable.Load()
	}
	return out
}

// horizon is how long before a key's newest record an event still
// matters to a record on time: a window and its cool-down, a correlation's
// span, first_seen's memory. Lateness comes on top.
func (ms *monState) horizon() int64 {
	m := ms.m
	var d time.Duration
	switch m.op {
	case opThreshold:
		d = time.Duration(m.Threshold.Window) + cooldown(m.Threshold)
	case opFirstSeen:
		d = forget(m.FirstSeen)
	case opCorrelate:
		d = time.Duration(m.Correlate.Within)
	}
	return d.Milliseconds()
}

func cooldown(t *Threshold) time.Duration {
	if t.Cooldown > 0 {
		return time.Duration(t.Cooldown)
	}
	return time.Duration(t.Window)
}

func forget(f *FirstSeen) time.Duration {
	if f.Forget > 0 {
		return time.Duration(f.Forget)
	}
	return 90 * 24 * time.Hour
}

// Fired is one hit a stateful monitor added: Record.Hits[Hit].
type Fired struct {
	Record *entra.Record
	Hit    int
}

// Apply judges obs in order, appends a Hit to every record a monitor fires
// on, and stores what changed. It returns the hits it added, whose
// records' encoded form the caller must refresh. A failed store write is
// returned and counted; the judgement stands, and the changes stay
// pending until Flush (or the next Apply) stores them. With a Replica (a
// processor), any failure to store or copy the changes is
// ErrNotReplicated: the batch must not go on.
func (s *State) Apply(obs []Observation) ([]Fired, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hit, err := s.judge(obs)
	if err != nil {
		return hit, err
	}
	return hit, s.flush()
}

// Judge is Apply without the store write, for a caller that judges the
// batches that are ready one after the other and then stores what they
// changed with one Flush: one transaction and one sync for all of them
// (a group commit), none of which may go on before that Flush succeeded.
// What is judged and stored does not depend on where the Flushes fall.
// With a Replica it is Apply: a rebalance may come between two calls, and
// must find every judged batch's changes stored and copied.
func (s *State) Judge(obs []Observation) ([]Fired, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hit, err := s.judge(obs)
	if err != nil || s.replica == nil {
		return hit, err
	}
	return hit, s.flush()
}

// judge judges obs in order and moves the expiry sweep one step on.
func (s *State) judge(obs []Observation) ([]Fired, error) {
	read, err := s.prefetch(obs)
	if err != nil {
		return nil, err
	}
	batch := map[dirtyKey]bool{}
	var hit []Fired
	wall := s.now().UnixMilli()
	for i := range obs {
		o := &obs[i]
		ms := s.mons[o.side.m]
		if ms == nil {
			continue
		}
		if !s.judges(o) {
			s.Unowned.Add(1)
			continue
		}
		t := o.Record.Time.UnixMilli()
		if o.Record.Time.IsZero() {
			t = ms.meta.watermark
		}
		ks, err := s.load(ms, o.key, read)
		if err != nil {
			return hit, err
		}
		// now is t as the state's clock for expiry: bounded by the host's.
		now := t
		if bound := ms.bound(wall); t > bound {
			now = bound
			s.warnFuture(ms, o.Record, wall)
		} else {
			ms.meta.watermark = max(ms.meta.watermark, t)
		}
		// Learning starts at the first record; a late one moves the start
		// back, one beyond the lateness (a replay of old logs) does not.
		if ms.meta.start == 0 || t < ms.meta.start && t >= ms.meta.watermark-ms.late {
			ms.meta.start = t
		}
		var detail string
		var fired bool
		switch ms.m.op {
		case opThreshold:
			fired, detail = ms.threshold(ks, o, t, now)
		case opFirstSeen:
			fired, detail = ms.firstSeen(ks, o, t, now)
		case opCorrelate:
			fired, detail = ms.correlate(ks, o, t, now)
		}
		s.dirty[dirtyKey{ms, o.key}] = ks
		batch[dirtyKey{ms, o.key}] = true
		if !fired {
			continue
		}
		reason := o.reason
		if reason != "" && detail != "" {
			reason += " "
		}
		m := ms.m
		o.Record.Hits = append(o.Record.Hits, entra.Hit{ID: m.ID, Title: m.Title, Risk: o.risk, Source: m.Source, Reason: reason + detail, Notes: m.Notes, Tags: m.Tags})
		hit = append(hit, Fired{o.Record, len(o.Record.Hits) - 1})
	}
	if len(batch) == 0 {
		return hit, nil
	}
	return hit, s.sweep(batch)
}

// bound is the latest event time that counts as the monitor's "now": the
// host's clock plus MaxSkew — or, when the monitor's newest event time is
// already past that (the host's clock went back since), the newest event
// time plus MaxSkew, so that the records still move it on.
func (ms *monState) bound(wall int64) int64 {
	ref := wall
	if w := ms.meta.watermark; w > wall+ms.skew {
		ref = w
	}
	return ref + ms.skew
}

// warnFuture logs, at most every 10 minutes per monitor, a record dated
// past bound.
func (s *State) warnFuture(ms *monState, r *entra.Record, wall int64) {
	if wall-ms.warned < (10 * time.Minute).Milliseconds() {
		return
	}
	ms.warned = wall
	s.log.Warn("a record is dated more than max_skew ahead of the host's clock: judged on its own time, but not counted as now "+
		"for the expiry of state (check the source's clock and the host's)",
		"pipeline", s.pipeline, "monitor", ms.m.ID, "origin", r.Origin, "event_time", r.Time.UTC(),
		"host_now", time.UnixMilli(wall).UTC(), "max_skew", time.Duration(ms.skew)*time.Millisecond)
}

// Flush stores what earlier Apply calls could not (a full disk, an I/O
// error); nil when nothing is pending. The runner holds a batch back
// until its state is stored, so that no checkpoint passes a judgement the
// store does not have.
func (s *State) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flush()
}

// prefetch reads the keys of obs that are in neither the cache nor the
// dirty set in one read transaction (one each would cost more than the
// judging), and caches them. It returns them too, for load: a cache
// smaller than the batch's keys would let some go before they are judged,
// and a new key read twice would be counted twice.
func (s *State) prefetch(obs []Observation) (map[dirtyKey]*keyState, error) {
	var missing []dirtyKey
	for i := range obs {
		ms := s.mons[obs[i].side.m]
		if ms == nil || !s.judges(&obs[i]) {
			continue
		}
		k := dirtyKey{ms, obs[i].key}
		if s.dirty[k] == nil && !ms.cache.Contains(k.key) {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	read := make(map[dirtyKey]*keyState, len(missing))
	return read, s.st.View(func(r *store.Reader) error {
		for _, k := range missing {
			if read[k] != nil {
				continue
			}
			var raw []byte
			if !s.deleted[k] {
				raw = r.Get(k.ms.bucket, []byte(k.key))
			}
			read[k] = s.install(k.ms, k.key, raw)
		}
		return nil
	})
}

// load finds a key's state: changed since the last Flush, read by
// prefetch, cached, stored, or new.
func (s *State) load(ms *monState, key string, read map[dirtyKey]*keyState) (*keyState, error) {
	k := dirtyKey{ms, key}
	if ks := s.dirty[k]; ks != nil {
		return ks, nil
	}
	if ks := read[k]; ks != nil {
		return ks, nil
	}
	if ks, ok := ms.cache.Get(key); ok {
		return ks, nil
	}
	// Evicted since prefetch looked (an existing key: new ones it read).
	if s.deleted[k] {
		return s.install(ms, key, nil), nil
	}
	raw, err := s.st.Get(ms.bucket, key)
	if err != nil {
		return nil, fmt.Errorf("monitor state %s: %w", ms.bucket, err)
	}
	return s.install(ms, key, raw), nil
}

// install decodes a stored entry (nil: a new key) into the cache.
func (s *State) install(ms *monState, key string, raw []byte) *keyState {
	ks := &keyState{}
	if raw == nil {
		ms.meta.keys++
	} else if err := ks.decode(raw); err != nil {
		// A damaged entry costs that key's memory, not the pipeline.
		ms.unreadable.Add(1)
		s.log.Warn("monitor state entry unreadable, starting it afresh", "pipeline", s.pipeline, "monitor", ms.m.ID, "err", err)
		ks = &keyState{}
	}
	ks.size = ks.footprint()
	ms.cacheBytes += int64(ks.size)
	ms.cache.Add(strings.Clone(key), ks) // not the record's string: see recordID
	return ks
}

// resize records the size of the stored keys that are still cached, then
// hands keys back to the store, least recently used first from the
// monitor holding the most, until the cache is within its bound. Between
// two stores (a group of batches) the cache may pass the bound by what
// the group's keys grew.
func (s *State) resize(stored []dirtyKey) {
	for _, k := range stored {
		ks := s.dirty[k]
		if cached, ok := k.ms.cache.Peek(k.key); ok && cached == ks {
			n := ks.footprint()
			k.ms.cacheBytes += int64(n - ks.size)
			ks.size = n
		}
	}
	total := func() (n int64) {
		for _, ms := range s.order {
			n += ms.cacheBytes
		}
		return n
	}
	for over := total() - s.cacheLimit; over > 0; {
		most := s.order[0]
		for _, ms := range s.order[1:] {
			if ms.cacheBytes > most.cacheBytes {
				most = ms
			}
		}
		if most.cache.Len() == 0 {
			break
		}
		before := most.cacheBytes
		most.cache.RemoveOldest() // the evict callback lowers cacheBytes
		over -= before - most.cacheBytes
	}
	s.CachedBytes.Store(total())
}

// flush stores the dirty keys, the sweep's deletions and the monitors'
// meta in one transaction; with a Replica it copies them to the changelog.
func (s *State) flush() error {
	if len(s.dirty) == 0 && len(s.deleted) == 0 {
		return nil
	}
	keys := make([]dirtyKey, 0, len(s.dirty))
	for k := range s.dirty {
		keys = append(keys, k)
	}
	// Key order makes bbolt's page writes sequential.
	byKey := func(a, b dirtyKey) int {
		if c := strings.Compare(a.ms.bucket, b.ms.bucket); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	}
	slices.SortFunc(keys, byKey)
	gone := make([]dirtyKey, 0, len(s.deleted))
	for k := range s.deleted {
		if s.dirty[k] == nil {
			gone = append(gone, k)
		}
	}
	slices.SortFunc(gone, byKey)
	s.changes = s.changes[:0]
	clear(s.metaPending)
	err := s.st.Update(func(w *store.Writer) error {
		var buf []byte
		for _, k := range keys {
			if s.replica != nil {
				val := s.dirty[k].encode(nil) // kept by the change
				s.changeOf(k.ms, k.key, val)
				if err := w.Put(k.ms.bucket, []byte(k.key), val); err != nil {
					return err
				}
				continue
			}
			buf = s.dirty[k].encode(buf[:0])
			if err := w.Put(k.ms.bucket, []byte(k.key), buf); err != nil {
				return err
			}
		}
		for _, k := range gone {
			if err := w.Delete(k.ms.bucket, []byte(k.key)); err != nil {
				return err
			}
			s.changeOf(k.ms, k.key, nil)
		}
		for _, ms := range s.order {
			if err := w.Put(metaBucket, []byte(ms.bucket), encodeMeta(ms.meta)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.WriteErrors.Add(1)
		if s.replica != nil {
			// Forwarding the batch would let it be checkpointed with its
			// changes in no changelog; a new owner would never see them.
			return fmt.Errorf("%w: stored locally: %v", ErrNotReplicated, err)
		}
		return fmt.Errorf("monitor state: %w", err)
	}
	for _, ms := range s.order {
		ms.keys.Store(ms.meta.keys)
	}
	s.resize(keys)
	clear(s.dirty)
	clear(s.deleted)
	if len(s.changes) > 0 {
		if err := s.replica.Replicate(s.rctx, s.changes); err != nil {
			return fmt.Errorf("%w: %v", ErrNotReplicated, err)
		}
		maps.Copy(s.metaSent, s.metaPending)
	}
	return nil
}

// sweep moves each monitor's expiry sweep one step on after a batch: up
// to sweepPerApply keys from where the last step stopped, deleting those
// expired but the batch's own. Over the cap, each round of the key space
// expires keys younger by half until the count is back under it: the
// least recently updated go first, and no scan ever needs the whole key
// set in memory. It steps through the state as stored after the batch —
// the store with the keys judged since the last Flush over it, the keys
// it deleted since gone — so that a Flush after every batch or after
// several stores the same.
func (s *State) sweep(batch map[dirtyKey]bool) error {
	// The keys judged since the last Flush, per monitor, from where its
	// step starts: one walk of them for all monitors.
	pending := map[*monState][]string{}
	for k := range s.dirty {
		if k.key >= string(k.ms.cursor) {
			pending[k.ms] = append(pending[k.ms], k.key)
		}
	}
	return s.st.View(func(r *store.Reader) error {
		for _, ms := range s.order {
			s.sweepStep(r, ms, batch, pending[ms])
		}
		return nil
	})
}

// sweepStep is one monitor's step; pending are its keys judged since the
// last Flush, from its cursor on (sorted here).
func (s *State) sweepStep(r *store.Reader, ms *monState, batch map[dirtyKey]bool, pending []string) {
	cutoff := ms.meta.watermark - ms.retention>>min(ms.shrink, 62)
	steps := sweepPerApply
	if ms.meta.keys > ms.maxKeys {
		steps *= 8
	}
	slices.Sort(pending) // the store's order
	var (
		expired []string
		visited int
		next    []byte // where the next step starts; nil: the round is complete
	)
	// visit looks at one key; false when the step has looked at enough
	// and key is where the next one starts.
	visit := func(key string, last int64, readable bool) bool {
		if visited == steps {
			next = []byte(key)
			return false
		}
		visited++
		if readable && last >= cutoff || batch[dirtyKey{ms, key}] {
			return true
		}
		expired = append(expired, key)
		return true
	}
	pendingBefore := func(key string, inclusive bool) bool {
		for len(pending) > 0 && (pending[0] < key || inclusive && pending[0] == key) {
			if !visit(pending[0], s.dirty[dirtyKey{ms, pending[0]}].last, true) {
				return false
			}
			pending = pending[1:]
		}
		return true
	}
	r.Scan(ms.bucket, ms.cursor, func(k, v []byte) bool {
		key := string(k)
		if !pendingBefore(key, false) {
			return false
		}
		if len(pending) > 0 && pending[0] == key {
			return pendingBefore(key, true) // judged since: its state is the dirty one
		}
		if s.deleted[dirtyKey{ms, key}] {
			return true
		}
		last, err := lastOf(v)
		return visit(key, last, err == nil)
	})
	if next == nil && len(pending) > 0 {
		pendingBefore(pending[len(pending)-1], true)
	}
	for _, key := range expired {
		k := dirtyKey{ms, key}
		delete(s.dirty, k)
		s.deleted[k] = true
		ms.cache.Remove(key)
		ms.meta.keys--
	}
	ms.cursor = next
	if next == nil { // a round is complete
		if ms.meta.keys > ms.maxKeys {
			ms.shrink++
		} else {
			ms.shrink = 0
		}
	}
}

// keyState is what a monitor remembers of one key.
type keyState struct {
	last   int64 // newest event time of the key (ms): expiry
	events []event
	// alerts are a threshold's last hits, kept apart from the counted
	// records so that a burst of thousands, which pushes the record that
	// fired out of events, cannot make a re-read of it lose the alert.
	alerts []event
	// size is footprint() when the key was installed in the cache or
	// last stored: what monState.cacheBytes counts for it.
	size int
}

// footprint estimates the memory a decoded key takes: the struct, its
// events' slots and their strings, each string rounded up as the
// allocator does.
func (ks *keyState) footprint() int {
	n := 96 // the struct and its cache entry
	for _, evs := range [][]event{ks.events, ks.alerts} {
		n += cap(evs) * int(unsafe.Sizeof(event{}))
		for i := range evs {
			n += allocated(len(evs[i].id)) + allocated(len(evs[i].v)) + allocated(len(evs[i].pid))
		}
	}
	return n
}

// allocated is roughly the heap block a string of n bytes takes.
func allocated(n int) int {
	if n == 0 {
		return 0
	}
	return (n + 15) &^ 15
}

const maxAlerts = 8

// event is one remembered record: for a threshold a record counted (or an
// alert), for first_seen a value (t = last seen), for a correlation a
// record waiting to pair.
type event struct {
	t    int64
	id   string // the record's ID: a record read again is recognised
	v    string
	flag uint8
	n    uint32 // threshold alert: the count that fired
	pid  string // correlation: the partner record's ID
}

const (
	flagFired  uint8 = 1 << iota // this record carried the hit
	flagWith                     // correlation: a record of the With filter
	flagPaired                   // correlation: paired, the hit is on pid's record
)

// recordID is what the state remembers a record by: a copy, since the
// record's own string would keep all of its decoded strings in memory for
// as long as the state keeps the event.
func recordID(r *entra.Record) string {
	if r.ID != "" {
		return strings.Clone(r.ID)
	}
	// Records without an ID (rare: some diagnostic categories) are told
	// apart by origin, stable across a re-read of the same input.
	return strings.Clone(r.Origin)
}

// The operators judge a record by its event time t; now is t bounded by
// the host's clock (Apply), which alone moves the key's newest time and
// so what is pruned.

func (ms *monState) threshold(ks *keyState, o *Observation, t, now int64) (bool, string) {
	spec := ms.m.Threshold
	window := time.Duration(spec.Window).Milliseconds()
	id := recordID(o.Record)
	for _, a := range ks.alerts {
		if a.id == id {
			return true, thresholdDetail(spec, int(a.n))
		}
	}
	if slices.ContainsFunc(ks.events, func(e event) bool { return e.id == id }) {
		return false, "" // read again, counted already
	}
	var v string
	if len(o.values) > 0 {
		v = o.values[0]
	}
	ks.insert(event{t: t, id: id, v: v})
	ks.last = max(ks.last, now)
	// Keep what late records may still complete a window with, and a
	// bound on records per key (a distinct count needs more of them).
	keep := ks.last - ms.horizon() - ms.late
	limit := max(4*spec.Count, 64)
	if spec.Distinct != "" {
		limit = max(limit, 1024)
	}
	ks.prune(func(e *event) bool { return e.t < keep }, limit)
	ks.alerts = slices.DeleteFunc(ks.alerts, func(a event) bool { return a.t < keep })

	n := ks.bestWindow(t, window, spec.Distinct != "")
	if n < spec.Count {
		return false, ""
	}
	cool := cooldown(spec).Milliseconds()
	for _, a := range ks.alerts {
		if abs(t-a.t) < cool {
			return false, ""
		}
	}
	ks.alerts = append(ks.alerts, event{t: t, id: id, n: uint32(n), flag: flagFired})
	if len(ks.alerts) > maxAlerts {
		ks.alerts = ks.alerts[len(ks.alerts)-maxAlerts:]
	}
	return true, thresholdDetail(spec, n)
}

func thresholdDetail(spec *Threshold, n int) string {
	what := "count"
	if spec.Distinct != "" {
		what = "distinct"
	}
	return fmt.Sprintf("%s=%d threshold=%d window=%s", what, n, spec.Count, spec.Window)
}

// bestWindow is the most records (or distinct values) in any window of
// the given length that contains t: with records out of order, the one
// that completes a burst can be in the middle of it.
func (ks *keyState) bestWindow(t, window int64, distinct bool) int {
	best := 0
	ev := ks.events
	j := 0
	for i := range ev {
		if ev[i].t < t-window {
			continue
		}
		if ev[i].t > t {
			break
		}
		for j < len(ev) && ev[j].t <= ev[i].t+window {
			j++
		}
		n := j - i
		if distinct {
			seen := make(map[string]bool, n)
			for _, e := range ev[i:j] {
				seen[e.v] = true
			}
			n = len(seen)
		}
		best = max(best, n)
	}
	return best
}

func (ms *monState) firstSeen(ks *keyState, o *Observation, t, now int64) (bool, string) {
	spec := ms.m.FirstSeen
	id := recordID(o.Record)
	var learning int64
	if spec.Learning != nil {
		learning = time.Duration(*spec.Learning).Milliseconds()
	}
	judging := t >= ms.meta.start+learning
	// Forget first what is stale by the key's newest time: a value kept
	// only by a record from long before (a replay of old logs on a key
	// not yet swept) is not known to a record of today.
	ks.last = max(ks.last, now)
	keep := ks.last - forget(spec).Milliseconds()
	ks.events = slices.DeleteFunc(ks.events, func(e event) bool { return e.t < keep })
	var b []byte
	for _, v := range o.values {
		isNew := false
		if i := slices.IndexFunc(ks.events, func(e event) bool { return e.v == v }); i >= 0 {
			e := &ks.events[i]
			// The record that first showed the value, read again, is
			// judged again as new.
			isNew = e.id == id && e.flag&flagFired != 0
			e.t = max(e.t, t)
		} else {
			e := event{t: t, id: id, v: v}
			if judging {
				e.flag = flagFired
				isNew = true
			}
			ks.events = append(ks.events, e)
		}
		if isNew {
			label, value, _ := strings.Cut(v, "=")
			if len(b) > 0 {
				b = append(b, ' ')
			}
			b = appendValue(append(append(b, "new_"...), label+"="...), value)
		}
	}
	limit := spec.MaxValues
	if limit == 0 {
		limit = 256
	}
	ks.pruneUnordered(func(e *event) bool { return e.t < keep }, limit)
	return len(b) > 0, string(b)
}

func (ms *monState) correlate(ks *keyState, o *Observation, t, now int64) (bool, string) {
	spec := ms.m.Correlate
	within := time.Duration(spec.Within).Milliseconds()
	id := recordID(o.Record)
	var mine uint8
	if o.side.with {
		mine = flagWith
	}
	// pairs reports whether a main record at tm and a With record at tw
	// are a pair by event time.
	pairs := func(tm, tw int64) bool {
		if spec.Order == "any" {
			return abs(tm-tw) <= within
		}
		return tw <= tm && tm-tw <= within
	}
	detail := func(me, other *event) string {
		label := "then"
		if other.flag&flagWith != 0 {
			label = spec.With.Label
			if label == "" {
				label = "with"
			}
		}
		var b []byte
		if other.v != "" {
			b = appendValue(append(b, label+"="...), other.v)
			b = append(b, ' ')
		}
		b = fmt.Appendf(b, "%s_id=%s gap=%s within=%s", label, other.id, time.Duration(abs(me.t-other.t))*time.Millisecond, spec.Within)
		return string(b)
	}
	find := func(id string, flag uint8) int {
		return slices.IndexFunc(ks.events, func(e event) bool { return e.id == id && e.flag&flagWith == flag })
	}
	if i := find(id, mine); i >= 0 {
		// Read again (a restart re-reads what was not acknowledged): the
		// same answer as the first time.
		me := ks.events[i]
		if me.flag&flagFired == 0 {
			return false, ""
		}
		if j := find(me.pid, mine^flagWith); j >= 0 {
			return true, detail(&me, &ks.events[j])
		}
		return true, fmt.Sprintf("paired_id=%s within=%s", me.pid, spec.Within)
	}
	me := event{t: t, id: id, v: o.reason, flag: mine}
	// Candidates: for a main record every With record in range (one
	// sign-in may explain two activations); for a With record the main
	// records in range that no record has paired yet, all of which it
	// completes. The closest is named, ties broken by record ID so the
	// answer never depends on arrival order.
	best := -1
	for i := range ks.events {
		e := &ks.events[i]
		if e.flag&flagWith == mine {
			continue
		}
		if mine != 0 && e.flag&(flagFired|flagPaired) != 0 {
			continue
		}
		tm, tw := t, e.t
		if mine != 0 {
			tm, tw = e.t, t
		}
		if !pairs(tm, tw) {
			continue
		}
		if mine != 0 {
			e.flag |= flagPaired
			e.pid = id
		}
		if best < 0 || abs(e.t-t) < abs(ks.events[best].t-t) || abs(e.t-t) == abs(ks.events[best].t-t) && e.id < ks.events[best].id {
			best = i
		}
	}
	var d string
	if best >= 0 {
		me.flag |= flagFired
		me.pid = ks.events[best].id
		d = detail(&me, &ks.events[best])
	}
	ks.events = append(ks.events, me)
	ks.last = max(ks.last, now)
	keep := ks.last - within - ms.late
	ks.pruneUnordered(func(e *event) bool { return e.t < keep }, 256)
	return best >= 0, d
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// insert keeps events sorted by time, then record ID.
func (ks *keyState) insert(e event) {
	i, _ := slices.BinarySearchFunc(ks.events, e, func(a, b event) int {
		if a.t != b.t {
			if a.t < b.t {
				return -1
			}
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	ks.events = slices.Insert(ks.events, i, e)
}

// prune drops the leading events old says are stale (events are sorted)
// and then the oldest beyond limit.
func (ks *keyState) prune(old func(*event) bool, limit int) {
	n := 0
	for n < len(ks.events) && old(&ks.events[n]) {
		n++
	}
	if len(ks.events)-n > limit {
		n = len(ks.events) - limit
	}
	if n > 0 {
		ks.events = slices.Delete(ks.events, 0, n)
	}
}

// pruneUnordered drops stale events and, beyond limit, the least recent.
func (ks *keyState) pruneUnordered(old func(*event) bool, limit int) {
	ks.events = slices.DeleteFunc(ks.events, func(e event) bool { return old(&e) })
	if len(ks.events) > limit {
		slices.SortStableFunc(ks.events, func(a, b event) int {
			switch {
			case a.t > b.t:
				return -1
			case a.t < b.t:
				return 1
			}
			return 0
		})
		ks.events = ks.events[:limit]
	}
}
