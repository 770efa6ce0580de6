package privilege

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// How a principal's history is kept.
//
// The truth is a list of changes ordered by event time (ties: the order
// they were applied in), on top of a base state that holds before the
// first of them:
//
//   - add: the role is held from the event time until its end (a PIM
//     activation's end time; none for an assignment) unless removed;
//   - remove: the role is no longer held from the event time;
//   - snapshot: a role map swapped in at that time says what the
//     principal holds (the reset makes earlier changes stop applying).
//
// The roles held at time t are the fold of the changes up to t over the
// base. Folding by event time, not by arrival, is what makes a late
// record land right: a removal logged at 10:00 still applies to a later
// activation's record only from 10:00, and a sign-in of 09:55 that arrives
// at 10:30 is tagged with the roles held at 09:55.
//
// Each time the changes change, the fold is materialised as segments
// (time ranges with the roles held in each) in a new immutable version,
// tagged with the generation that made it; a lookup of generation g binary
// searches the newest version of generation <= g. Old versions are kept
// for the readers still enriching earlier batches: every version a reader
// of the last keepGenerations generations can ask for, however many
// versions that is (a count per principal would not do: a worker can be
// overtaken by any number of batches, each changing the principal).

type op uint8

const (
	opAdd op = iota + 1
	opRemove
	opReset
)

func (o op) String() string {
	switch o {
	case opAdd:
		return "add"
	case opRemove:
		return "remove"
	case opReset:
		return "snapshot"
	}
	return "?"
}

// held is a role and when it stops (zero: open).
type held struct {
	role  entra.RoleHeld
	until time.Time
}

// state is what a principal holds at some time.
type state struct {
	known     bool // the role map has an entry for it
	emergency bool
	roles     []held
}

func stateOf(e *Entry) state {
	if e == nil {
		return state{}
	}
	st := state{known: true, emergency: e.Emergency, roles: make([]held, len(e.Roles))}
	for i, r := range e.Roles {
		st.roles[i] = held{role: r}
	}
	return st
}

func (st state) clone() state {
	st.roles = slices.Clone(st.roles)
	return st
}

func (st state) equal(o state) bool {
	if st.known != o.known || st.emergency != o.emergency || len(st.roles) != len(o.roles) {
		return false
	}
	for i := range st.roles {
		j := st.find(&o.roles[i].role)
		if j < 0 || !st.roles[j].until.Equal(o.roles[i].until) || st.roles[j].role != o.roles[i].role {
			return false
		}
	}
	return true
}

func (st *state) find(r *entra.RoleHeld) int {
	for i := range st.roles {
		if sameRole(&st.roles[i].role, r) {
			return i
		}
	}
	return -1
}

// expire drops the roles that ended at or before t.
func (st *state) expire(t time.Time) {
	st.roles = slices.DeleteFunc(st.roles, func(h held) bool { return !h.until.IsZero() && !h.until.After(t) })
}

func (st *state) apply(c *change) {
	switch c.op {
	case opAdd:
		if i := st.find(&c.role); i >= 0 {
			h := &st.roles[i]
			// Held already: an open end wins, else the later one.
			if !h.until.IsZero() && (c.until.IsZero() || c.until.After(h.until)) {
				h.until = c.until
			}
			return
		}
		st.roles = append(st.roles, held{role: c.role, until: c.until})
	case opRemove:
		st.roles = slices.DeleteFunc(st.roles, func(h held) bool { return sameRole(&h.role, &c.role) })
	case opReset:
		*st = c.snap.clone()
	}
}

// sameRole says whether two roles are the same assignment: the same role
// (by template ID when both have one, else by name), assignment and way.
func sameRole(a, b *entra.RoleHeld) bool {
	if !strings.EqualFold(a.Assignment, b.Assignment) || !strings.EqualFold(a.Via, b.Via) {
		return false
	}
	if a.TemplateID != "" && b.TemplateID != "" {
		return strings.EqualFold(a.TemplateID, b.TemplateID)
	}
	return a.Name != "" && strings.EqualFold(a.Name, b.Name)
}

type change struct {
	op    op
	at    time.Time
	seq   uint64
	role  entra.RoleHeld // add, remove
	until time.Time      // add: when it ends; zero: open
	snap  state          // snapshot
	src   string         // add, remove: the audit record's ID
}

func (c *change) before(o *change) bool {
	if !c.at.Equal(o.at) {
		return c.at.Before(o.at)
	}
	return c.seq < o.seq
}

// segment is what a principal holds from `from` to the next segment.
type segment struct {
	from       time.Time // zero: since ever
	roles      []entra.RoleHeld
	known      bool
	privileged bool
	emergency  bool
}

// version is an immutable materialisation of a principal's history.
type version struct {
	gen     uint64
	id, upn string
	segs    []segment
	prev    atomic.Pointer[version] // the version before, for earlier generations
}

// at returns the segment in force at t.
func (v *version) at(t time.Time) *segment {
	lo, hi := 0, len(v.segs) // segs[0].from is zero, never after t
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if v.segs[mid].from.After(t) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return &v.segs[lo]
}

// Old versions are kept for readers of an earlier generation: all those
// superseded at most keepGenerations generations ago, so a lookup of any
// of the last keepGenerations generations gets exactly what it would have
// got right after its Observe, however many versions a principal made
// since. The runner has a few batches in flight at a time, far fewer; a
// reader older than that gets the oldest version kept. (A count of
// versions per principal is no bound on the lag: a principal changed by
// every batch makes one version per generation.)
const (
	keepGenerations = 1024
	// sweepEvery is how often (in generations) every history is compacted
	// to the retention and histories that say no more than the snapshot
	// are dropped.
	sweepEvery = 64
)

// principal is one principal with a history. Its fields other than cur
// belong to the writer (Stage.mu).
type principal struct {
	cur     atomic.Pointer[version]
	id, upn string
	keys    []string // lower-cased id and upn it is indexed under
	base    state    // held before the first change
	changes []change // by event time, then sequence
	// folded are the audit record IDs of the newest changes compact
	// folded into the base (at most keepFolded), so that one of those
	// records read again is still known as applied.
	folded  []string
	touched bool // in the current Observe
}

// keepFolded bounds principal.folded: a record is read again only after a
// restart, from the last checkpoint on, a few batches back.
const keepFolded = 16

// version returns the newest version of generation <= gen (or the oldest
// kept, for a gen more than keepGenerations behind).
func (p *principal) version(gen uint64) *version {
	v := p.cur.Load()
	for v.gen > gen {
		o := v.prev.Load()
		if o == nil {
			break
		}
		v = o
	}
	return v
}

func (p *principal) insert(c change) {
	i, _ := slices.BinarySearchFunc(p.changes, &c, func(a change, b *change) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	p.changes = slices.Insert(p.changes, i, c)
}

// applied says whether the changes of the audit record id are in the
// history already (a record read again; compacted changes are not seen).
func (p *principal) applied(id string) bool {
	if id == "" {
		return false
	}
	for i := range p.changes {
		if p.changes[i].src == id {
			return true
		}
	}
	return slices.Contains(p.folded, id)
}

// compact folds into the base the changes beyond the limit (oldest
// first) and those older than cutoff, and drops base roles that ended
// before cutoff. It reports whether anything changed.
func (p *principal) compact(limit int, cutoff time.Time) bool {
	n := 0
	for n < len(p.changes) && (len(p.changes)-n > limit || (!cutoff.IsZero() && p.changes[n].at.Before(cutoff))) {
		c := &p.changes[n]
		p.base.expire(c.at)
		p.base.apply(c)
		if c.src != "" && !slices.Contains(p.folded, c.src) {
			if len(p.folded) >= keepFolded {
				p.folded = slices.Delete(p.folded, 0, len(p.folded)-keepFolded+1)
			}
			p.folded = append(p.folded, c.src)
		}
		n++
	}
	before := len(p.base.roles)
	if !cutoff.IsZero() {
		p.base.expire(cutoff)
	}
	if n > 0 {
		p.changes = slices.Delete(p.changes, 0, n)
		p.changes = slices.Clip(p.changes)
	}
	return n > 0 || len(p.base.roles) != before
}

// segments folds the history into time ranges.
func (p *principal) segments() []segment {
	cur := p.base.clone()
	segs := make([]segment, 0, 2+len(p.changes))
	emit := func(from time.Time) {
		sg := segment{from: from, known: cur.known || len(cur.roles) > 0, emergency: cur.emergency, privileged: cur.emergency}
		if len(cur.roles) > 0 {
			sg.roles = make([]entra.RoleHeld, len(cur.roles))
			for i, h := range cur.roles {
				sg.roles[i] = h.role
				sg.privileged = sg.privileged || h.role.Privileged
			}
		}
		if n := len(segs); n > 0 && sameSegment(&segs[n-1], &sg) {
			return
		}
		segs = append(segs, sg)
	}
	emit(time.Time{})
	for i := 0; ; {
		// The next boundary: the earliest end of a role held, or the next
		// change, whichever comes first.
		var b time.Time
		found := false
		for _, h := range cur.roles {
			if !h.until.IsZero() && (!found || h.until.Before(b)) {
				b, found = h.until, true
			}
		}
		if i < len(p.changes) && (!found || !b.Before(p.changes[i].at)) {
			b, found = p.changes[i].at, true
		}
		if !found {
			return segs
		}
		cur.expire(b)
		for ; i < len(p.changes) && !p.changes[i].at.After(b); i++ {
			cur.apply(&p.changes[i])
		}
		cur.expire(b)
		emit(b)
	}
}

func sameSegment(a, b *segment) bool {
	return a.known == b.known && a.emergency == b.emergency && slices.Equal(a.roles, b.roles)
}

// publish materialises p's history as the version of generation gen. A
// history that reads as the newest version does needs no new version.
func (p *principal) publish(gen uint64) {
	segs := p.segments()
	old := p.cur.Load()
	if old != nil {
		if old.id == p.id && old.upn == p.upn && sameSegments(old.segs, segs) {
			p.prune(gen)
			return
		}
		shareRoles(segs, old.segs)
		if old.gen == gen {
			old = old.prev.Load() // no reader has this generation yet
		}
	}
	v := &version{gen: gen, id: p.id, upn: p.upn, segs: segs}
	v.prev.Store(old)
	p.cur.Store(v)
	p.prune(gen)
}

// prune drops the versions no reader of the last keepGenerations
// generations up to gen can ask for: those superseded (by a version of
// generation x) with x+keepGenerations < gen.
func (p *principal) prune(gen uint64) {
	for x := p.cur.Load(); x != nil; {
		o := x.prev.Load()
		if o == nil {
			return
		}
		if x.gen+keepGenerations < gen {
			x.prev.Store(nil)
			return
		}
		x = o
	}
}

func sameSegments(a, b []segment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].from.Equal(b[i].from) || a[i].privileged != b[i].privileged || !sameSegment(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

// shareRoles makes the segments of a new version use the role slices of
// the version before where they hold the same roles: the versions kept
// for late readers then mostly cost their segment arrays.
func shareRoles(segs, old []segment) {
	for i := range segs {
		if len(segs[i].roles) == 0 {
			continue
		}
		for j := range old {
			if slices.Equal(segs[i].roles, old[j].roles) {
				segs[i].roles = old[j].roles
				break
			}
		}
	}
}

// principalFor returns the principal with a history for id or upn,
// creating it (with the snapshot's entry as its base) when create is set.
// It reports whether the index keys changed.
func (s *Stage) principalFor(id, upn string, m *Map, create bool) (*principal, bool) {
	var p *principal
	if id != "" {
		p = s.byKey[strings.ToLower(id)]
	}
	if p == nil && upn != "" {
		p = s.byKey[strings.ToLower(upn)]
	}
	if p == nil && !create {
		return nil, false
	}
	if p == nil {
		e := m.find(id, upn)
		p = &principal{id: strings.Clone(id), upn: strings.Clone(upn), base: stateOf(e)}
		if e != nil {
			if p.id == "" {
				p.id = e.ID
			}
			if p.upn == "" {
				p.upn = e.UPN
			}
		}
		p.publish(0) // what readers of earlier generations saw: the snapshot
		s.seq++
		// The snapshot in use is the truth as of its time: changes of an
		// earlier event time stop applying then.
		p.insert(change{op: opReset, at: m.loadedAt, seq: s.seq, snap: p.base.clone()})
		s.plist = append(s.plist, p)
		s.link(p, id, upn)
		if e != nil {
			s.link(p, e.ID, e.UPN)
		}
		return p, true
	}
	linked := s.link(p, id, upn)
	return p, linked
}

// link indexes p under the keys it does not have yet (unless another
// principal has them); it reports whether it added one.
func (s *Stage) link(p *principal, keys ...string) bool {
	added := false
	for _, k := range keys {
		if k == "" {
			continue
		}
		lk := strings.ToLower(k)
		if _, taken := s.byKey[lk]; taken {
			continue
		}
		// A key that was lower case already is the record's own string,
		// which holds all of the record's decoded strings in memory.
		lk = strings.Clone(lk)
		s.byKey[lk] = p
		p.keys = append(p.keys, lk)
		added = true
		if strings.Contains(k, "@") {
			if p.upn == "" {
				p.upn = strings.Clone(k)
			}
		} else if p.id == "" {
			p.id = strings.Clone(k)
		}
	}
	return added
}

func (s *Stage) cutoff() time.Time {
	if s.newest.IsZero() {
		return time.Time{}
	}
	return s.newest.Add(-s.cfg.HistoryRetention)
}

// install makes m the snapshot in use. Every principal with a history gets
// a snapshot change at m's time, and every principal whose entry differs
// between the old and the new snapshot gets a history, so that records of
// an earlier event time are still tagged as the old snapshot said.
func (s *Stage) install(m *Map) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.idx.Load()
	if old == nil || !old.m.fromSource && len(s.plist) == 0 {
		// Nothing was known before (no role map, only the configured
		// emergency accounts, waiting for Graph's first read): the first
		// real map answers for earlier records too.
		s.idx.Store(s.newIndex(m))
		return
	}
	g := s.gen.Load() + 1
	t := m.loadedAt
	cutoff := s.cutoff()
	for _, p := range s.plist {
		e := m.find(p.id, p.upn)
		if e != nil {
			s.link(p, e.ID, e.UPN)
		}
		// The snapshot in use is the truth from its time on: a snapshot
		// swapped in before with a later time (a clock or source moving
		// back) no longer claims the times after this one.
		p.changes = slices.DeleteFunc(p.changes, func(c change) bool { return c.op == opReset && c.at.After(t) })
		s.seq++
		p.insert(change{op: opReset, at: t, seq: s.seq, snap: stateOf(e)})
		p.compact(s.cfg.HistoryLimit, cutoff)
		p.publish(g)
	}
	differs := func(was, now *Entry) {
		for _, k := range []*Entry{was, now} {
			if k != nil && (s.byKey[strings.ToLower(k.ID)] != nil || s.byKey[strings.ToLower(k.UPN)] != nil) {
				return // has a history, done above
			}
		}
		before, after := stateOf(was), stateOf(now)
		if before.equal(after) {
			return
		}
		p := &principal{base: before}
		p.publish(0)
		s.seq++
		p.insert(change{op: opReset, at: t, seq: s.seq, snap: after})
		for _, e := range []*Entry{was, now} {
			if e != nil {
				s.link(p, e.ID, e.UPN)
			}
		}
		p.compact(s.cfg.HistoryLimit, cutoff)
		p.publish(g)
		s.plist = append(s.plist, p)
	}
	for _, e := range old.m.entries {
		differs(e, m.find(e.ID, e.UPN))
	}
	for _, e := range m.entries {
		if old.m.find(e.ID, e.UPN) == nil {
			differs(nil, e)
		}
	}
	s.idx.Store(s.newIndex(m))
	s.gen.Store(g)
}

// sweep compacts every history to the retention and drops the histories
// that no longer say more than the snapshot. It reports whether the index
// keys changed.
func (s *Stage) sweep(g uint64, m *Map) bool {
	s.lastSweep = g
	cutoff := s.cutoff()
	dropped := false
	s.plist = slices.DeleteFunc(s.plist, func(p *principal) bool {
		if p.compact(s.cfg.HistoryLimit, cutoff) {
			p.publish(g)
		} else {
			p.prune(g)
		}
		if p.cur.Load().gen+keepGenerations >= g || !s.redundant(p, m) {
			return false
		}
		for _, k := range p.keys {
			delete(s.byKey, k)
		}
		dropped = true
		return true
	})
	return dropped
}

// redundant says whether p's history says no more than its entry in m.
func (s *Stage) redundant(p *principal, m *Map) bool {
	now := stateOf(m.find(p.id, p.upn))
	if !p.base.equal(now) {
		return false
	}
	for i := range p.changes {
		if c := &p.changes[i]; c.op != opReset || !c.snap.equal(now) {
			return false
		}
	}
	return true
}

// Interval is a role a principal held from From until Until, by event
// time. A zero From means since before the history kept; a zero Until,
// still held.
type Interval struct {
	Role        entra.RoleHeld
	From, Until time.Time
}

// History returns the role intervals of a principal, as known now, by
// object ID or UPN; nil for a principal without a history (its roles are
// its role map entry's).
func (s *Stage) History(id, upn string) []Interval {
	s.mu.Lock()
	p, _ := s.principalFor(id, upn, nil, false)
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return intervals(p.cur.Load().segs)
}

func intervals(segs []segment) []Interval {
	var out []Interval
	open := map[int]bool{} // index in out of the intervals still open
	for si := range segs {
		sg := &segs[si]
		for i := range out {
			if !open[i] {
				continue
			}
			if !slices.ContainsFunc(sg.roles, func(r entra.RoleHeld) bool { return r == out[i].Role }) {
				out[i].Until = sg.from
				delete(open, i)
			}
		}
		for _, r := range sg.roles {
			found := false
			for i := range out {
				if open[i] && out[i].Role == r {
					found = true
					break
				}
			}
			if !found {
				out = append(out, Interval{Role: r, From: sg.from})
				open[len(out)-1] = true
			}
		}
	}
	return out
}
