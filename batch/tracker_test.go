package batch

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// Outputs acknowledge from many goroutines in random order; commits must
// still come one by one in emission order, each only after every output
// acknowledged it and everything before it.
func TestTrackerCommitsInOrderUnderConcurrentAcks(t *testing.T) {
	const batches, outputs = 500, 3
	var mu sync.Mutex
	var committed []uint64
	acked := map[uint64]int{}
	tr := NewTracker(func(b *Batch) {
		mu.Lock()
		defer mu.Unlock()
		if n := acked[b.Seq()]; n != outputs {
			t.Errorf("batch %d committed with %d of %d acks", b.Seq(), n, outputs)
		}
		committed = append(committed, b.Seq())
	})
	bs := make([]*Batch, batches)
	for i := range bs {
		bs[i] = &Batch{}
		tr.Track(bs[i], outputs)
	}
	if tr.Outstanding() != batches {
		t.Fatalf("outstanding = %d, want %d", tr.Outstanding(), batches)
	}
	var wg sync.WaitGroup
	for o := range outputs {
		order := rand.New(rand.NewPCG(uint64(o), 7)).Perm(batches)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range order {
				mu.Lock()
				acked[bs[i].Seq()]++
				mu.Unlock()
				bs[i].Ack()
			}
		}()
	}
	wg.Wait()
	tr.Wait()
	if len(committed) != batches {
		t.Fatalf("%d commits, want %d", len(committed), batches)
	}
	for i, seq := range committed {
		if seq != uint64(i+1) {
			t.Fatalf("commit %d is batch %d: out of order", i, seq)
		}
	}
}

func TestTrackerWithNoOutputsCommitsAtOnce(t *testing.T) {
	n := 0
	tr := NewTracker(func(*Batch) { n++ })
	tr.Track(&Batch{}, 0)
	if n != 1 || tr.Outstanding() != 0 {
		t.Fatalf("commits %d, outstanding %d", n, tr.Outstanding())
	}
}

// A batch's memory is released once, after its Commit, never while an
// output still has it: a later batch acknowledged first waits for the
// earlier one's commit and is released after it.
func TestReleaseAfterCommit(t *testing.T) {
	var events []string
	tr := NewTracker(func(b *Batch) { events = append(events, "commit "+b.Input) })
	a, b := &Batch{Input: "a"}, &Batch{Input: "b"}
	for _, x := range []*Batch{a, b} {
		x.OnRelease(func() { events = append(events, "release "+x.Input) })
		tr.Track(x, 2)
	}
	b.Ack()
	b.Ack()
	a.Ack()
	if len(events) != 0 {
		t.Fatalf("before every output acknowledged a: %v", events)
	}
	a.Ack()
	want := []string{"commit a", "release a", "commit b", "release b"}
	if !slices.Equal(events, want) {
		t.Fatalf("events %v, want %v", events, want)
	}
	a.Release() // a second Release runs nothing
	if len(events) != len(want) {
		t.Fatalf("released twice: %v", events)
	}
}
