package eventhubs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
)

// A processor's input names each item's partition and says which
// partitions it owns: assigned before the first item of a partition is
// emitted, revoked when it stops.
func TestPartitionHooks(t *testing.T) {
	e := newEnv(t, 3, nil)
	ids := e.produceEnvelopes(0, 2, 3)
	ids = append(ids, e.produceEnvelopes(2, 2, 3)...)
	in := e.input("proc", "g-hooks", nil, nil)
	var mu sync.Mutex
	var owned, revoked []string
	in.SetPartitionHooks(func(_ context.Context, shards []string) error {
		mu.Lock()
		defer mu.Unlock()
		owned = append(owned, shards...)
		return nil
	}, func(shards []string) {
		mu.Lock()
		defer mu.Unlock()
		revoked = append(revoked, shards...)
	})
	var items []batch.Item
	var itemsMu sync.Mutex
	stop := start(t, in, func(_ context.Context, b *batch.Batch) error {
		mu.Lock()
		have := slices.Clone(owned)
		mu.Unlock()
		itemsMu.Lock()
		defer itemsMu.Unlock()
		for _, it := range b.Items {
			if !slices.Contains(have, it.Shard) {
				t.Errorf("item %s of shard %q emitted before its partition was assigned (%v)", it.Origin, it.Shard, have)
			}
			items = append(items, it)
		}
		return b.Commit()
	})
	waitFor(t, 10*time.Second, "every item", func() bool {
		itemsMu.Lock()
		defer itemsMu.Unlock()
		return len(items) == len(ids)
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := []string{testTopic + "/0", testTopic + "/1", testTopic + "/2"}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(owned)
	slices.Sort(revoked)
	if !slices.Equal(owned, want) || !slices.Equal(revoked, want) {
		t.Errorf("assigned %v, revoked %v, want %v each", owned, revoked, want)
	}
	for _, it := range items {
		if !strings.HasPrefix(it.Origin, "eventhubs:"+it.Shard+"@") {
			t.Errorf("item %s has shard %q", it.Origin, it.Shard)
		}
	}
}

// A partition whose state cannot be restored is not read, and the input
// stops with the error (the group gives the partitions to another member)
// instead of reading records it could not judge.
func TestPartitionRestoreFailureStopsTheInput(t *testing.T) {
	e := newEnv(t, 2, nil)
	e.produceEnvelopes(0, 2, 3)
	admin := e.client()
	in := e.input("proc", "g-fail", nil, nil)
	in.restoreBackoff = 10 * time.Millisecond
	calls := 0
	in.SetPartitionHooks(func(context.Context, []string) error {
		calls++
		return errors.New("changelog unreachable")
	}, nil)
	emitted := 0
	done := make(chan error, 1)
	go func() {
		done <- in.Run(context.Background(), func(_ context.Context, b *batch.Batch) error {
			emitted += len(b.Items)
			return b.Commit()
		})
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "changelog unreachable") || !strings.Contains(err.Error(), "restoring the state") {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop")
	}
	if calls != restoreAttempts || emitted != 0 {
		t.Errorf("%d restore attempts, %d items emitted; want %d and none", calls, emitted, restoreAttempts)
	}
	if c := e.committed(admin, "g-fail"); len(c) != 0 {
		t.Errorf("committed %v", c)
	}
}
