package outputbench

import (
	"hash/maphash"
	"sync"
)

// seed is shared by what was sent and what a peer received: a record is
// known by the hash of the bytes that reach the peer for it.
var seed = maphash.MakeSeed()

func key(b []byte) uint64 { return maphash.Bytes(seed, b) }

// tally is a multiset of record keys a peer received. Records may repeat
// (the same document twice in the synthetic stream, or an at-least-once
// resend), so what arrived is compared with what was sent count by count.
type tally struct {
	mu    sync.Mutex
	n     int64
	count map[uint64]int32
}

func newTally() *tally { return &tally{count: map[uint64]int32{}} }

func (t *tally) add(keys ...uint64) {
	t.mu.Lock()
	for _, k := range keys {
		t.count[k]++
	}
	t.n += int64(len(keys))
	t.mu.Unlock()
}

// received is how many records arrived, repeats included.
func (t *tally) received() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

func (t *tally) reset() {
	t.mu.Lock()
	t.n = 0
	clear(t.count)
	t.mu.Unlock()
}

// compare counts the records of want that did not arrive (as often as
// they were sent) and the ones that arrived more often.
func (t *tally) compare(want map[uint64]int32) (missing, extra int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, n := range want {
		if got := t.count[k]; got < n {
			missing += int64(n - got)
		} else {
			extra += int64(got - n)
		}
	}
	for k, got := range t.count {
		if _, ok := want[k]; !ok {
			extra += int64(got)
		}
	}
	return missing, extra
}
