// Package buffer is an output's bounded, durable queue on disk: what a
// destination has not yet accepted waits here, across restarts, in order.
//
// It is a bbolt file per output (a bucket of sequence-numbered entries)
// rather than hand-written segment files: bbolt's transactions already give
// what a queue needs — an append that is on disk when it returns, no torn
// entry after a crash, and space reused once entries are removed.
//
// The bound is the size of the file, not of the entries in it: see the
// README for how entries are laid out on bbolt's pages so that it holds.
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
	berrors "go.etcd.io/bbolt/errors"
)

var (
	entriesBucket = []byte("entries")
	// ErrTooLarge is returned for an append bigger than the whole buffer:
	// waiting could never make room for it.
	ErrTooLarge = errors.New("buffer: items larger than the buffer's max_bytes can hold")
	// ErrClosed is returned by a queue that was closed.
	ErrClosed = errors.New("buffer: closed")
)

// MinMaxBytes is the smallest bound Open takes: bbolt's meta pages, its
// growth step and the pages kept for removals come out of it first.
const MinMaxBytes = 1 << 20

const openTimeout = 2 * time.Second // for another process holding the file

// Entry is one queued item.
type Entry struct {
	Seq  uint64
	Data []byte
}

// Queue is safe for concurrent use by one appender and one reader; the
// reader may call Remove from another goroutine than Read (delivery
// removes in order while it reads the next entries).
type Queue struct {
	db       *bolt.DB
	maxBytes int64
	l        layout

	// wmu serializes the write transactions with the page count taken
	// after each; rmu keeps a write from beginning while Read's
	// transaction is open, which would hold back the pages freed before
	// it (bbolt frees a page for reuse only once no reader can see it).
	wmu sync.Mutex
	rmu sync.RWMutex

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every append, remove or close
	bytes   int64
	pages   int64   // pages the file's live data takes, counted after every write
	room    int64   // pages the file holds as it is: beyond, it grows
	next    uint64  // sequence number of the next append
	oldest  uint64  // the oldest entry still queued; next-oldest are queued
	sizes   []int32 // sizes of the queued entries, oldest first
	// appended marks when entries came in, one mark per Append (entries
	// found at open count from the open): the oldest queued record's age
	// is what tells an operator how far behind a destination is.
	appended []appendMark
	read     uint64 // entries below this were handed out by Read
	closed   bool
	full     bool // an Append waits for room

	// Removed entries are deleted from the file lazily: with the next
	// append's transaction (which syncs anyway), at most once a second, or
	// at once when an append needs their pages. A crash before that only
	// sends them again — delivery is at least once — and it halves the
	// fsyncs of a busy output.
	purgedAt time.Time
	unpurged bool
}

// Open opens (creating) the queue file at path. maxBytes bounds the file's
// size on disk, everything in it counted (bbolt's pages and their headers,
// keys, partly filled and free pages, its growth step): the file never
// grows past it, and Append waits once the next items would not fit (see
// Usage and the README). A file already larger (written by an older
// version, or under a larger bound) is first rewritten to what its entries
// take.
func Open(path string, maxBytes int64) (*Queue, error) {
	return openPaged(path, maxBytes, pageSizeFor(maxBytes))
}

// openPaged is Open with the page size for a new file.
func openPaged(path string, maxBytes int64, page int) (*Queue, error) {
	if maxBytes < MinMaxBytes {
		return nil, fmt.Errorf("buffer: max_bytes must be at least %d (1MiB), got %d", MinMaxBytes, maxBytes)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	_ = os.Remove(path + rewriteSuffix) // a rewrite that did not finish
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxBytes {
		if err := rewrite(path, maxBytes, page); err != nil {
			return nil, fmt.Errorf("buffer %s: rewriting a file over max_bytes: %w", path, err)
		}
	}
	db, l, err := openDB(path, maxBytes, page)
	if err != nil {
		return nil, fmt.Errorf("buffer %s: %w", path, err)
	}
	if l.usable < minUsablePages {
		db.Close()
		return nil, fmt.Errorf("buffer %s: max_bytes %d is too small for the file's %d-byte pages", path, maxBytes, l.page)
	}
	q := &Queue{db: db, maxBytes: maxBytes, l: l, changed: make(chan struct{}), next: 1}
	db.MaxSize = int(maxBytes)
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(entriesBucket)
		if err != nil {
			return err
		}
		first := true
		each(b.Cursor(), 0, func(seq uint64, parts [][]byte) bool {
			if first {
				q.oldest = seq
				first = false
			}
			n := partsLen(parts)
			q.bytes += int64(n)
			q.sizes = append(q.sizes, int32(n))
			q.next = seq + 1
			return true
		})
		if first {
			q.oldest = q.next
		} else {
			q.appended = []appendMark{{seq: q.oldest, at: time.Now()}}
		}
		q.read = q.oldest
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("buffer %s: %w", path, err)
	}
	q.count()
	return q, nil
}

// openDB opens a bbolt file the way the queue writes it: no freelist on
// disk (bbolt rebuilds it at open from the tree), growth in small steps,
// pages of page bytes if it is new.
func openDB(path string, maxBytes int64, page int) (*bolt.DB, layout, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        openTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		PageSize:       page,
	})
	if err != nil {
		return nil, layout{}, err
	}
	l := newLayout(int64(db.Info().PageSize), maxBytes)
	db.AllocSize = int(l.step)
	return db, l, nil
}

// Append queues items durably, in order. When the queue is full — their
// pages would not fit in the file's bound — it waits for room (that wait is
// the back-pressure the inputs feel) until ctx ends.
func (q *Queue) Append(ctx context.Context, items [][]byte) error {
	need, likely, size := q.l.cost(items)
	if size > q.l.usable*q.l.page {
		return ErrTooLarge
	}
	short := false  // bbolt found the pages short where the count did not
	purged := false // this append deleted the removed entries once already
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		fits := q.pages+need <= q.l.usable
		grows := q.pages+likely > q.room
		// Once per append against growth: a reader removing as fast as
		// entries come in would otherwise have every append purge again
		// and again, a transaction and an fsync each, before it writes.
		if (!fits || grows && !purged || short) && q.unpurged {
			// Rather than wait, or grow the file, reuse the removed
			// entries' pages: delete them first, as an append's own
			// transaction could not reuse the pages it deletes.
			below := q.oldest
			q.mu.Unlock()
			if err := q.purgeNow(below); err != nil {
				return err
			}
			short, purged = false, true
			continue
		}
		if !fits && q.next != q.oldest {
			ch := q.changed
			q.full = true
			q.mu.Unlock()
			select {
			case <-ch:
				q.setFull(false)
				continue
			case <-ctx.Done():
				q.setFull(false)
				return ctx.Err()
			}
		}
		first := q.next
		purgeBelow := q.oldest
		ch := q.changed
		q.mu.Unlock()
		// Only one goroutine appends, so next cannot move under us; the lock
		// is not held across the fsync so the reader keeps draining meanwhile.
		err := q.update(q.l.limit, func(b *bolt.Bucket) error {
			if err := purge(b, purgeBelow); err != nil {
				return err
			}
			for i, it := range items {
				if err := q.l.put(b, first+uint64(i), it); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, berrors.ErrMaxSizeReached) {
			// The pages ran out before the estimate said they would (bbolt
			// checked the growth against the bound, nothing was written).
			// An empty queue can make no more room; otherwise wait for it.
			q.mu.Lock()
			empty := q.next == q.oldest && !q.unpurged
			q.mu.Unlock()
			if empty {
				return ErrTooLarge
			}
			select {
			case <-ch:
				short = true // delete what was removed meanwhile before retrying
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return err
		}
		q.mu.Lock()
		q.next = first + uint64(len(items))
		q.appended = append(q.appended, appendMark{seq: first, at: time.Now()})
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
}

// Fits reports whether items could be appended at all, together, to
// this queue: Append of items that do not fails with ErrTooLarge however
// long it waits. It is what a caller that appends later (delivery's
// committer) checks first, while it can still refuse them.
func (q *Queue) Fits(items [][]byte) bool {
	_, _, size := q.l.cost(items)
	return size <= q.l.usable*q.l.page
}

// update runs fn on the entries in a write transaction that bbolt lets
// grow the file to at most limit bytes, then counts the pages in use.
func (q *Queue) update(limit int64, fn func(b *bolt.Bucket) error) error {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	q.rmu.Lock()
	tx, err := q.db.Begin(true)
	q.rmu.Unlock()
	if err != nil {
		return err
	}
	// MaxSize is read only under the writer lock, which tx holds.
	q.db.MaxSize = int(limit)
	b := tx.Bucket(entriesBucket)
	b.FillPercent = 1 // keys only ever come in at the end: fill the pages
	if err := fn(b); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	q.count()
	return nil
}

// count sets q.pages from bbolt after a write: its high-water mark less the
// free pages and those freed but not yet reusable (gone once no reader
// sees them, at the latest with the next write); and q.room. Should it
// fail (the file closed under it), the counts stay as they were: the
// write itself is done.
func (q *Queue) count() {
	var high int64
	if err := q.db.View(func(tx *bolt.Tx) error {
		high = tx.Size() / q.l.page
		return nil
	}); err != nil {
		return
	}
	fi, err := os.Stat(q.db.Path())
	if err != nil {
		return
	}
	st := q.db.Stats()
	q.mu.Lock()
	q.pages = high - int64(st.FreePageN+st.PendingPageN)
	q.room = fi.Size() / q.l.page
	q.mu.Unlock()
}

// purge deletes the entries below seq from b. It walks them backwards:
// deleting under a cursor shifts what follows, not what precedes.
func purge(b *bolt.Bucket, below uint64) error {
	c := b.Cursor()
	var start [seqKeySize]byte
	binary.BigEndian.PutUint64(start[:], below)
	c.Seek(start[:])
	for k, _ := c.Prev(); k != nil; k, _ = c.Prev() {
		if err := c.Delete(); err != nil {
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
	var from, until uint64
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		// An append's entries are in the file a moment before they are
		// counted: read only those counted, or Remove would not know them.
		from, until = q.read, q.next
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
	q.rmu.RLock()
	err := q.db.View(func(tx *bolt.Tx) error {
		size := 0
		each(tx.Bucket(entriesBucket).Cursor(), from, func(seq uint64, parts [][]byte) bool {
			n := partsLen(parts)
			if seq >= until || len(out) == maxItems || len(out) > 0 && size+n > maxBytes {
				return false
			}
			size += n
			out = append(out, Entry{Seq: seq, Data: join(parts, n)})
			return true
		})
		return nil
	})
	q.rmu.RUnlock()
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
// the dead-letter file) has them. Their bytes count as gone at once, their
// pages once deleted from the file (at the latest when an append needs them).
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
	for len(q.appended) > 0 && (q.oldest == q.next || len(q.appended) > 1 && q.appended[1].seq <= q.oldest) {
		q.appended = q.appended[1:]
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

// purgeNow deletes the entries below seq. It may take the pages kept free
// beyond what appends may use: deleting rewrites a few pages before it frees
// any, and must never find the file full.
func (q *Queue) purgeNow(below uint64) error {
	err := q.update(q.maxBytes, func(b *bolt.Bucket) error { return purge(b, below) })
	q.mu.Lock()
	q.purgedAt = time.Now()
	if err == nil && below == q.oldest {
		q.unpurged = false
	}
	q.signal() // an append waiting for pages may find them now
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

// appendMark is when the entries from seq on (until the next mark) were
// appended.
type appendMark struct {
	seq uint64
	at  time.Time
}

// OldestAge is how long the oldest queued entry has waited (since it was
// appended, or since the queue was opened for entries found on disk); 0
// when the queue is empty.
func (q *Queue) OldestAge() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.oldest == q.next || len(q.appended) == 0 {
		return 0
	}
	return time.Since(q.appended[0].at)
}

// Full reports whether an Append is waiting for room: only removals,
// that is the destination, can end the wait.
func (q *Queue) Full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.full
}

func (q *Queue) setFull(v bool) {
	q.mu.Lock()
	q.full = v
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

// Usage is what the file's live pages take on disk and the most they may
// take: an append that would go beyond capacity waits. The file itself stays
// within the bound given to Open, capacity plus bbolt's growth step and the
// pages kept for removals. Removed entries still count until deleted from
// the file (within a second).
func (q *Queue) Usage() (used, capacity int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pages * q.l.page, q.l.usable * q.l.page
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
