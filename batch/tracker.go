package batch

import "sync"

// Tracker turns acknowledgements that may arrive in any order into commits
// in the order the batches were emitted: batch n is committed only after
// batches 1..n-1 were. One Tracker serves one input.
type Tracker struct {
	mu      sync.Mutex
	next    uint64            // sequence number handed to the next batch
	lowest  uint64            // oldest batch not yet committed
	done    map[uint64]*Batch // acknowledged but waiting for an older one
	waiting map[uint64]*Batch // emitted, not yet acknowledged
	commit  func(*Batch)
	idle    *sync.Cond
}

// NewTracker returns a Tracker that calls commit for each batch, in
// emission order, once it is fully acknowledged.
func NewTracker(commit func(*Batch)) *Tracker {
	t := &Tracker{next: 1, lowest: 1, done: map[uint64]*Batch{}, waiting: map[uint64]*Batch{}, commit: commit}
	t.idle = sync.NewCond(&t.mu)
	return t
}

// Track arms b for outputs acknowledgements and returns its sequence number.
func (t *Tracker) Track(b *Batch, outputs int) uint64 {
	t.mu.Lock()
	seq := t.next
	t.next++
	t.waiting[seq] = b
	t.mu.Unlock()
	b.Arm(seq, outputs, t.acked)
	return seq
}

func (t *Tracker) acked(seq uint64) {
	// Commits happen under the lock: that is what keeps them in order when
	// outputs acknowledge from several goroutines at once, and a commit is
	// a short store write.
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[seq] = t.waiting[seq]
	delete(t.waiting, seq)
	for {
		b, ok := t.done[t.lowest]
		if !ok {
			break
		}
		delete(t.done, t.lowest)
		t.lowest++
		t.commit(b)
		b.Release()
	}
	t.idle.Broadcast()
}

// Outstanding reports how many batches were emitted but not yet committed.
func (t *Tracker) Outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int(t.next - t.lowest)
}

// Wait blocks until every tracked batch is committed.
func (t *Tracker) Wait() {
	t.mu.Lock()
	for t.next != t.lowest {
		t.idle.Wait()
	}
	t.mu.Unlock()
}
