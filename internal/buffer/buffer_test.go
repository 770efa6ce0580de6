package buffer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func items(from, n int) [][]byte {
	var out [][]byte
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Appendf(nil, "record-%03d", i))
	}
	return out
}

func open(t *testing.T, path string, max int64) *Queue {
	t.Helper()
	q, err := Open(path, max)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestOrderRemoveAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf.db")
	ctx := context.Background()
	q := open(t, path, 1<<20)
	if err := q.Append(ctx, items(0, 5)); err != nil {
		t.Fatal(err)
	}
	if err := q.Append(ctx, items(5, 5)); err != nil {
		t.Fatal(err)
	}
	got, err := q.Read(ctx, 4, 1<<20, 0)
	if err != nil || len(got) != 4 || string(got[0].Data) != "record-000" || string(got[3].Data) != "record-003" {
		t.Fatalf("Read = %v, %v", got, err)
	}
	if err := q.Remove(got[1].Seq); err != nil { // the first two are delivered
		t.Fatal(err)
	}
	if q.Len() != 8 || q.Bytes() != 80 {
		t.Fatalf("len %d bytes %d, want 8, 80", q.Len(), q.Bytes())
	}
	q.Close()

	// After a restart, read-but-not-removed entries come again: delivered
	// at least once, never lost.
	q = open(t, path, 1<<20)
	defer q.Close()
	got, err = q.Read(ctx, 100, 1<<20, 0)
	if err != nil || len(got) != 8 || string(got[0].Data) != "record-002" || string(got[7].Data) != "record-009" {
		t.Fatalf("after restart Read = %d entries (%v)", len(got), err)
	}
	q.Rewind()
	again, _ := q.Read(ctx, 1, 1<<20, 0)
	if string(again[0].Data) != "record-002" {
		t.Fatalf("after Rewind got %s", again[0].Data)
	}
}

func TestFullQueueBlocksUntilRemove(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "buf.db"), 30) // three 10-byte items
	defer q.Close()
	ctx := context.Background()
	if err := q.Append(ctx, items(0, 3)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- q.Append(ctx, items(3, 1)) }()
	select {
	case err := <-done:
		t.Fatalf("append to a full queue returned %v instead of waiting", err)
	case <-time.After(50 * time.Millisecond):
	}
	got, _ := q.Read(ctx, 1, 100, 0)
	if err := q.Remove(got[0].Seq); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("append still blocked after room was made")
	}
	if q.Len() != 3 {
		t.Fatalf("len = %d, want 3", q.Len())
	}
	// A waiting append gives up with its context.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := q.Append(cctx, items(9, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if err := q.Append(ctx, [][]byte{make([]byte, 31)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestReadLingersForABatch(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "buf.db"), 1<<20)
	defer q.Close()
	ctx := context.Background()
	go func() {
		for i := range 5 {
			_ = q.Append(ctx, items(i, 1))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	got, err := q.Read(ctx, 100, 1<<20, 200*time.Millisecond)
	if err != nil || len(got) != 5 {
		t.Fatalf("lingering Read got %d entries (%v), want the 5 that trickled in", len(got), err)
	}
	// maxBytes bounds a batch, but never below one entry.
	_ = q.Append(ctx, items(10, 3))
	got, _ = q.Read(ctx, 100, 15, 0)
	if len(got) != 1 {
		t.Fatalf("maxBytes 15 gave %d entries, want 1", len(got))
	}
}

func TestCloseWakesWaiters(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "buf.db"), 1<<20)
	done := make(chan error, 1)
	go func() {
		_, err := q.Read(context.Background(), 1, 100, 0)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	q.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}
