package graph

import (
	"cmp"
	"container/heap"
	"strings"
)

// entry is one record ID with its event time (Unix nanoseconds).
type entry struct {
	t  int64
	id string
}

func (a entry) compare(b entry) int {
	if c := cmp.Compare(a.t, b.t); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// seenSet is the de-duplication set of one stream: the IDs of the records
// emitted whose event time is recent enough to be read again, each with
// that time. It holds at most max IDs; beyond that, and below the floor
// the caller sets, the oldest go first (by event time, then ID: the order
// of the persisted keys, so memory and store drop the same ones).
type seenSet struct {
	max int
	m   map[string]int64
	h   entryHeap
}

func newSeenSet(max int) *seenSet {
	return &seenSet{max: max, m: map[string]int64{}}
}

func (s *seenSet) len() int { return len(s.m) }

func (s *seenSet) has(id string) bool {
	_, ok := s.m[id]
	return ok
}

// add records id at t, evicting the oldest IDs beyond the bound. An id
// already present keeps its first time.
func (s *seenSet) add(id string, t int64) {
	if _, ok := s.m[id]; ok {
		return
	}
	s.m[id] = t
	heap.Push(&s.h, entry{t, id})
	for len(s.m) > s.max {
		s.pop()
	}
}

// evictBefore drops every ID older than t.
func (s *seenSet) evictBefore(t int64) {
	for len(s.h) > 0 && s.h[0].t < t {
		s.pop()
	}
}

func (s *seenSet) pop() {
	e := heap.Pop(&s.h).(entry)
	delete(s.m, e.id)
}

// oldest is the oldest entry (ok false when empty).
func (s *seenSet) oldest() (entry, bool) {
	if len(s.h) == 0 {
		return entry{}, false
	}
	return s.h[0], true
}

// entryHeap is a min-heap of entries by (t, id).
type entryHeap []entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].compare(h[j]) < 0 }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = entry{}
	*h = old[:len(old)-1]
	return e
}
