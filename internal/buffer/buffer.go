// Package buffer is an output's bounded, durable queue on disk: what a
// destination has not yet accepted waits here, across restarts, in order.
//
// It is a bbolt file per output (a bucket of sequence-numbered entries)
// rather than hand-written segment files: bbolt's transactions already give
// what a queue needs — an append that is on disk when it returns, no torn
// entry after a crash, and space reused once entries are removed.
package buffer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	entriesBucket = []byte("entries")
	// ErrTooLarge is returned for an append bigger than the whole buffer:
	// waiting could never make room for it.
	ErrTooLarge = errors.New("buffer: items larger than the buffer's max_bytes")
	// ErrClosed is returned by a queue that was closed.
	ErrClosed = errors.New("buffer: closed")
)

// Entry is one queued item.
type Entry struct {
	Seq  uint64
	Data []byte
}

// Queue is safe for concurrent use by one appender and one reader.
type Queue struct {
	db       *bolt.DB
	maxBytes int64

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every append, remove or close
	bytes   int64
	next    uint64  // sequence number of the next append
	oldest  uint64  // the oldest entry still queued; next-oldest are queued
	sizes   []int32 // sizes of the queued entries, oldest first
	read    uint64  // entries below this were handed out by Read
	closed  bool

	// Removed entries are deleted from the file lazily: with the next
	// append's transaction (which syncs anyway) or at most once a second.
	// A crash before that only sends them again — delivery is at least
	// once — and it halves the fsyncs of a busy output.
	purgedAt time.Time
	unpurged bool
}

// Open opens (creating) the queue file at path, bounded to maxBytes of
// queued data.
func Open(path string, maxBytes int64) (*Queue, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("buffer: max_bytes must be positive")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("buffer %s: %w", path, err)
	}
	q := &Queue{db: db, maxBytes: maxBytes, changed: make(chan struct{}), next: 1}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(entriesBucket)
		if err != nil {
			return err
		}
		c := b.Cursor()
		first := true
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if first {
				q.oldest = seq
				first = false
			}
			q.bytes += int64(len(v))
			q.sizes = append(q.sizes, int32(len(v)))
			q.next = seq + 1
		}
		if first {
			q.oldest = q.next
		}
		q.read = q.oldest
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("buffer %s: %w", path, err)
	}
	return q, nil
}

// Append queues items durably, in order. When the queue is full it waits
// for room (that wait is the back-pressure the inputs feel) until ctx ends.
func (q *Queue) Append(ctx context.Context, items [][]byte) error {
	var size int64
	for _, it := range items {
		size += int64(len(it))
	}
	if size > q.maxBytes {
		return ErrTooLarge
	}
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		if q.bytes+size <= q.maxBytes || q.next == q.oldest {
			break
		}
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	first := q.next
	purgeBelow := q.oldest
	q.mu.Unlock()
	// Only one goroutine appends, so next cannot move under us; the lock is
	// not held across the fsync so the reader keeps draining meanwhile.
	err := q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(entriesBucket)
		if err := purge(b, purgeBelow); err != nil {
			return err
		}
		var key [8]byte
		for i, it := range items {
			binary.BigEndian.PutUint64(key[:], first+uint64(i))
			if err := b.Put(key[:], it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.next = first + uint64(len(items))
	q.bytes += size
	for _, it := range items {
		q.sizes = append(q.sizes, int32(len(it)))
	}
	if purgeBelow == q.oldest {
		q.unpurged = false
	}
	q.signal()
	q.mu.Unlock()
	return nil
}

// purge deletes the entries below seq from b.
func purge(b *bolt.Bucket, below uint64) error {
	c := b.Cursor()
	// Deleting under a moving cursor skips keys in bbolt: collect first.
	var keys [][]byte
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < below; k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// signal wakes every waiter; q.mu must be held.
func (q *Queue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// Read returns the next entries not yet handed out, at most maxItems and
// (beyond the first) maxBytes. It waits until at least one is there, then
// up to linger for more, so that a trickle still goes out in batches.
func (q *Queue) Read(ctx context.Context, maxItems, maxBytes int, linger time.Duration) ([]Entry, error) {
	var timer *time.Timer
	expired := false
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		avail := int(q.next - q.read)
		if avail >= maxItems || avail > 0 && (linger <= 0 || expired) {
			q.mu.Unlock()
			break
		}
		ch := q.changed
		q.mu.Unlock()
		var tick <-chan time.Time
		if avail > 0 {
			if timer == nil {
				timer = time.NewTimer(linger)
				defer timer.Stop()
			}
			tick = timer.C
		}
		select {
		case <-ch:
		case <-tick:
			expired = true
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var out []Entry
	err := q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(entriesBucket).Cursor()
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], q.read)
		size := 0
		for k, v := c.Seek(key[:]); k != nil && len(out) < maxItems; k, v = c.Next() {
			if len(out) > 0 && size+len(v) > maxBytes {
				break
			}
			size += len(v)
			out = append(out, Entry{Seq: binary.BigEndian.Uint64(k), Data: append([]byte(nil), v...)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) > 0 {
		q.mu.Lock()
		q.read = out[len(out)-1].Seq + 1
		q.mu.Unlock()
	}
	return out, nil
}

// Remove drops every entry up to and including seq: the destination (or
// the dead-letter file) has them. Their space counts as free at once.
func (q *Queue) Remove(seq uint64) error {
	q.mu.Lock()
	for q.oldest <= seq && q.oldest < q.next {
		q.bytes -= int64(q.sizes[0])
		q.sizes = q.sizes[1:]
		q.oldest++
	}
	if len(q.sizes) == 0 {
		q.sizes = nil // let the backing array go
	}
	q.read = max(q.read, q.oldest)
	q.unpurged = true
	due := time.Since(q.purgedAt) >= time.Second
	below := q.oldest
	q.signal()
	q.mu.Unlock()
	if !due {
		return nil
	}
	return q.purgeNow(below)
}

func (q *Queue) purgeNow(below uint64) error {
	err := q.db.Update(func(tx *bolt.Tx) error { return purge(tx.Bucket(entriesBucket), below) })
	q.mu.Lock()
	q.purgedAt = time.Now()
	if err == nil && below == q.oldest {
		q.unpurged = false
	}
	q.mu.Unlock()
	return err
}

// Rewind hands out again, from the oldest, the entries read but not
// removed: after a failed send, the next Read starts over.
func (q *Queue) Rewind() {
	q.mu.Lock()
	q.read = q.oldest
	q.mu.Unlock()
}

// Len and Bytes report what is queued.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.next - q.oldest)
}

// Bytes is the size of the queued data.
func (q *Queue) Bytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// Close wakes every waiter with ErrClosed and closes the file.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.signal()
	unpurged, below := q.unpurged, q.oldest
	q.mu.Unlock()
	if unpurged {
		if err := q.purgeNow(below); err != nil {
			q.db.Close()
			return err
		}
	}
	return q.db.Close()
}
