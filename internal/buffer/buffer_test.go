package buffer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
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

// folderSize is what the queue's folder takes (see boundRun.size).
func folderSize(t *testing.T, dir string) int64 {
	t.Helper()
	size, err := FolderSize(dir)
	if err != nil {
		t.Fatal(err)
	}
	return size
}

func TestOrderRemoveAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf")
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
	path := filepath.Join(t.TempDir(), "buf")
	q := open(t, path, MinMaxBytes)
	defer q.Close()
	ctx := context.Background()
	item := func(i int) [][]byte { return [][]byte{bytes.Repeat([]byte{byte(i)}, 64<<10)} }
	n := 0
	for ; ; n++ {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		err := q.Append(cctx, item(n))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 8 {
		t.Fatalf("1MiB took %d items of 64KiB", n)
	}
	done := make(chan error, 1)
	go func() { done <- q.Append(ctx, item(n)) }()
	select {
	case err := <-done:
		t.Fatalf("append to a full queue returned %v instead of waiting", err)
	case <-time.After(50 * time.Millisecond):
	}
	got, _ := q.Read(ctx, n/2, 1<<20, 0)
	if err := q.Remove(got[len(got)-1].Seq); err != nil {
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
	if q.Len() != n-len(got)+1 {
		t.Fatalf("len = %d, want %d", q.Len(), n-len(got)+1)
	}
	if size := folderSize(t, path); size > MinMaxBytes {
		t.Fatalf("folder of %d bytes, over the bound", size)
	}
	// A waiting append gives up with its context.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	for err := error(nil); !errors.Is(err, context.DeadlineExceeded); {
		if err = q.Append(cctx, item(0)); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
	}
	if err := q.Append(ctx, [][]byte{make([]byte, MinMaxBytes)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

// An item that fits the capacity by its bytes but not by the pages it takes
// is too large once the queue is empty: waiting would not help.
func TestTooLargeForTheEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf")
	q := open(t, path, MinMaxBytes)
	defer q.Close()
	ctx := context.Background()
	_, capacity := q.Usage()
	if err := q.Append(ctx, [][]byte{make([]byte, capacity-1024)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if size := folderSize(t, path); size > MinMaxBytes {
		t.Fatalf("folder of %d bytes, over the bound", size)
	}
	if err := q.Append(ctx, items(0, 2)); err != nil || q.Len() != 2 {
		t.Fatalf("after ErrTooLarge: %v, len %d", err, q.Len())
	}
	if _, err := Open(path+"2", MinMaxBytes-1); err == nil {
		t.Fatal("a bound under MinMaxBytes was taken")
	}
}

func TestReadLingersForABatch(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "buf"), 1<<20)
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
	q := open(t, filepath.Join(t.TempDir(), "buf"), 1<<20)
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

// An append's entries are in the file a moment before the queue counts
// them; a Read in that moment must not hand them out, or Remove would not
// remove them and the queue would not drain.
func TestEverythingReadIsRemoved(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "buf"), 64<<20)
	defer q.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		for {
			es, err := q.Read(ctx, 500, 4<<20, time.Millisecond)
			if err != nil {
				return
			}
			last := es[len(es)-1].Seq
			if err := q.Remove(last); err != nil {
				t.Error(err)
			}
			q.mu.Lock()
			oldest := q.oldest
			q.mu.Unlock()
			if oldest <= last {
				t.Errorf("Read handed out entry %d, and Remove(%d) stopped at %d", last, last, oldest)
				return
			}
		}
	})
	for i := range 1000 {
		if t.Failed() {
			return
		}
		if err := q.Append(ctx, items(i*3, 3)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for q.Len() > 0 {
		if time.Now().After(deadline) {
			q.mu.Lock()
			oldest, read, next := q.oldest, q.read, q.next
			q.mu.Unlock()
			t.Fatalf("entries read and never removed: oldest %d, read %d, next %d", oldest, read, next)
		}
		time.Sleep(time.Millisecond)
	}
}

// The oldest queued entry's age follows removals, is 0 when the queue is
// empty, and counts from the open for entries found on disk.
func TestOldestAge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	q := open(t, path, 8<<20)
	if q.OldestAge() != 0 {
		t.Fatal("an empty queue has an age")
	}
	if err := q.Append(context.Background(), [][]byte{[]byte("a"), []byte("b")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if err := q.Append(context.Background(), [][]byte{[]byte("c")}); err != nil {
		t.Fatal(err)
	}
	if age := q.OldestAge(); age < 30*time.Millisecond {
		t.Errorf("oldest of a, b, c is %v old, want ≥ 30ms", age)
	}
	entries, err := q.Read(context.Background(), 2, 1<<20, 0)
	if err != nil || len(entries) != 2 {
		t.Fatalf("Read = %d entries, %v", len(entries), err)
	}
	if err := q.Remove(entries[1].Seq); err != nil {
		t.Fatal(err)
	}
	if age := q.OldestAge(); age <= 0 || age >= 30*time.Millisecond {
		t.Errorf("with only c left the oldest is %v old, want c's age (< 30ms)", age)
	}
	q.Close()
	q = open(t, path, 8<<20)
	defer q.Close()
	if age := q.OldestAge(); age <= 0 || age > time.Second {
		t.Errorf("after a reopen c is %v old, want its age since the open", age)
	}
}
