// Package buffer is an output's bounded, durable queue on disk: what a
// destination has not yet accepted waits here, across restarts, in order.
//
// It is a folder of append-only segment files, as Vector's disk buffer (v2)
// and Kafka's log are: an append writes its entries' frames at the end of
// the newest segment and fsyncs once; entries are read back sequentially;
// a segment is deleted once every entry in it is removed. Nothing is
// rewritten in place, so the disk does as little as the promise needs (one
// sequential write and one fsync per append) — the bbolt file this replaced
// wrote each entry two to three times over in pages and kept throughput at
// a fraction of what the destinations take.
//
// The bound is the size of the folder's files on disk; see the README.
package buffer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/privtrail/privtrail/internal/linefile"
)

var (
	// ErrTooLarge is returned for an append bigger than the whole buffer:
	// waiting could never make room for it.
	ErrTooLarge = errors.New("buffer: items larger than the buffer's max_bytes can hold")
	// ErrClosed is returned by a queue that was closed.
	ErrClosed = errors.New("buffer: closed")
)

// MinMaxBytes is the smallest bound Open takes.
const MinMaxBytes = 1 << 20

const (
	// block is the unit files are counted in: a file of 1 byte takes 4 KiB
	// on the file systems an agent runs on.
	block = 4 << 10
	// reserved is what the bound keeps for the acknowledgement file and
	// the folder itself.
	reserved = 2 * block
	// A segment is an eighth of the bound (so that what waits for the
	// oldest segment's last entry is at most an eighth), between these.
	minSegment = 128 << 10
	maxSegment = 64 << 20
	ackName    = "acked"
	// writeChunk is how much of an append is copied into frames before
	// it is written (synced once at the end): a group of batches can be
	// tens of MiB, which the appender need not hold twice.
	writeChunk = 1 << 20
)

// Entry is one queued item.
type Entry struct {
	Seq  uint64
	Data []byte
}

// position is where an entry's frame starts: in the segment whose first
// entry is seg, at byte off.
type position struct {
	seg uint64
	off int64
}

// Queue is safe for concurrent use by one appender and one reader; the
// reader may call Remove from another goroutine than Read (delivery
// removes in order while it reads the next entries).
type Queue struct {
	dir      string
	maxBytes int64
	segMax   int64

	// The appender's own: the newest segment's file, open for writing, and
	// the frames being written. Only Append and Close touch them.
	wmu  sync.Mutex
	w    *os.File
	wbuf []byte

	// The acknowledgement file: the last removed entry, written on every
	// removal (a 12-byte pwrite; synced at Close).
	ackMu   sync.Mutex
	ackFile *os.File

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every append, remove or close
	segs    []segment     // oldest first; the last is the one appended to
	used    int64         // the segments' blocks
	// deleting are the blocks of spent segments Remove is deleting: still
	// on disk, still in used.
	deleting int64
	bytes    int64    // the queued entries' payload bytes
	next     uint64   // sequence number of the next append
	oldest   uint64   // the oldest entry still queued
	sizes    []int32  // payload lengths of the queued entries, oldest first
	oldPos   position // where entry oldest starts
	read     uint64   // the next entry Read hands out
	readPos  position // where entry read starts
	readN    int      // how many queued entries Read handed out
	// appended marks when entries came in, one mark per Append (entries
	// found at open count from the open): the oldest queued record's age
	// is what tells an operator how far behind a destination is.
	appended []appendMark
	closed   bool
	full     bool // an Append waits for room
	// Read's buffers, each until Remove passes its last entry, and those
	// free for the next Reads: a fresh buffer of megabytes costs a page
	// fault per 4 KiB inside the read, more than the copy.
	lent  []lent
	spare [][]byte
	notes []string // what Open found wrong and mended
}

// Open opens (creating) the queue in the folder dir. maxBytes bounds the
// size of the folder's files on disk, counted in 4 KiB blocks: Append
// waits once the next items would not fit (see Usage and the README).
//
// A queue written by an earlier version — the bbolt file dir + ".db" — is
// moved into the folder first, its entries in order.
func Open(dir string, maxBytes int64) (*Queue, error) {
	if maxBytes < MinMaxBytes {
		return nil, fmt.Errorf("buffer: max_bytes must be at least %d (1MiB), got %d", MinMaxBytes, maxBytes)
	}
	if err := migrateLegacy(dir); err != nil {
		return nil, fmt.Errorf("buffer %s: moving the entries of %s.db: %w", dir, filepath.Base(dir), err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	q := &Queue{dir: dir, maxBytes: maxBytes, changed: make(chan struct{}), next: 1}
	q.segMax = min(max(maxBytes/8, minSegment), maxSegment)
	if err := q.recover(); err != nil {
		q.closeFiles()
		return nil, fmt.Errorf("buffer %s: %w", dir, err)
	}
	return q, nil
}

// recover reads the acknowledgement file and every segment, cuts a torn
// append off the newest, sets the damaged rest of an older one aside, and
// deletes the segments whose entries were all removed.
func (q *Queue) recover() error {
	f, err := os.OpenFile(filepath.Join(q.dir, ackName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	q.ackFile = f
	var rec [ackSize]byte
	n, _ := f.ReadAt(rec[:], 0)
	// A damaged acknowledgement (never written whole) counts as none:
	// entries are sent again, not lost.
	acked, _ := parseAck(rec[:n])
	firsts, err := listSegments(q.dir)
	if err != nil {
		return err
	}
	q.next = acked + 1
	q.oldest = q.next
	for i, first := range firsts {
		sc, err := scanSegment(q.dir, first)
		if err != nil {
			return err
		}
		name := filepath.Join(q.dir, segName(first))
		if sc.bad >= 0 {
			if i < len(firsts)-1 {
				if err := setAside(name, sc.bad, sc.tail); err != nil {
					return err
				}
				q.notes = append(q.notes, fmt.Sprintf("segment %s: %d bytes after its %d valid entries are damaged; set aside in %s.damaged", segName(first), sc.tail-sc.bad, sc.seg.n, segName(first)))
			}
			if err := os.Truncate(name, sc.bad); err != nil {
				return err
			}
		}
		if sc.seg.n == 0 || sc.seg.end() <= acked+1 || sc.seg.first < q.next && len(q.segs) > 0 {
			// Removed already (or, the last case, overlapping what an
			// earlier segment holds, which appends never write).
			if err := os.Remove(name); err != nil {
				return err
			}
			continue
		}
		q.segs = append(q.segs, sc.seg)
		q.used += blocks(sc.seg.size)
		skip := uint64(0) // entries of the first kept segment removed already
		if len(q.segs) == 1 && acked >= sc.seg.first {
			skip = acked + 1 - sc.seg.first
			q.oldest = acked + 1
			q.oldPos = position{seg: first}
			for _, n := range sc.sizes[:skip] {
				q.oldPos.off += frameHeader + int64(n)
			}
		} else if len(q.segs) == 1 {
			q.oldest = first
			q.oldPos = position{seg: first}
		}
		for _, n := range sc.sizes[skip:] {
			q.sizes = append(q.sizes, n)
			q.bytes += int64(n)
		}
		q.next = sc.seg.end()
	}
	if len(q.segs) > 0 {
		// Entries lost between segments (damage) are gone: count from the
		// oldest there is, with the gap in the sequence.
		if g := q.gaps(); g > 0 {
			q.notes = append(q.notes, fmt.Sprintf("%d entries missing between segments (damaged or deleted by hand)", g))
		}
		q.appended = []appendMark{{seq: q.oldest, at: time.Now()}}
	}
	q.read, q.readPos = q.oldest, q.oldPos
	return nil
}

// gaps counts the sequence numbers missing between consecutive segments;
// reading and removing step over them.
func (q *Queue) gaps() uint64 {
	var g uint64
	for i := 1; i < len(q.segs); i++ {
		g += q.segs[i].first - q.segs[i-1].end()
	}
	return g
}

// setAside copies the bytes of name from off to end into name.damaged.
func setAside(name string, off, end int64) error {
	src, err := os.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	buf := make([]byte, end-off)
	if _, err := src.ReadAt(buf, off); err != nil {
		return err
	}
	return os.WriteFile(name+".damaged", buf, 0o600)
}

// Recovered says what Open found wrong with the files and mended, for the
// caller to log: damaged segments set aside, entries missing.
func (q *Queue) Recovered() []string { return q.notes }

func blocks(n int64) int64 { return (n + block - 1) / block * block }

// need is the most an append of size bytes of frames can add to Usage:
// the frames, and a partly filled block in each segment it writes to —
// the newest and those it starts, of which any two consecutive hold more
// than a segment (a frame starts a new one only when it would not fit).
func (q *Queue) need(size int64) int64 {
	return size + block*(3+2*size/q.segMax)
}

func framesSize(items [][]byte) int64 {
	var n int64
	for _, it := range items {
		n += frameHeader + int64(len(it))
	}
	return n
}

// Append queues items durably, in order: when it returns nil they are on
// disk (written and fsynced). When the queue is full — their frames would
// take the folder past its bound — it waits for room (that wait is the
// back-pressure the inputs feel) until ctx ends.
func (q *Queue) Append(ctx context.Context, items [][]byte) error {
	if len(items) == 0 {
		return nil
	}
	size := framesSize(items)
	if !q.fits(size) {
		return ErrTooLarge
	}
	q.wmu.Lock()
	defer q.wmu.Unlock()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		if len(q.sizes) == 0 && len(q.segs) > 0 && (len(q.segs) > 1 || q.segs[0].size+size > q.segMax) {
			// Everything was removed and the segment would fill: start
			// afresh rather than carry spent frames into the next one.
			q.mu.Unlock()
			if err := q.dropSpent(); err != nil {
				return err
			}
			continue
		}
		// With nothing queued the append need not wait for a reader —
		// but it must for the deletion of spent segments under way: their
		// blocks are on disk until then.
		if q.used+q.need(size) > q.capacity() && (len(q.sizes) > 0 || q.deleting > 0) {
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
		var newest segment
		if len(q.segs) > 0 {
			newest = q.segs[len(q.segs)-1]
		}
		q.mu.Unlock()
		// Only one goroutine appends, so next and the newest segment cannot
		// move under us; the lock is not held across the fsync so the
		// reader keeps draining meanwhile.
		return q.write(first, newest, items)
	}
}

// write appends the frames of items, numbered from first, to the segment
// newest (the zero segment: none yet), starting new segments as they
// fill, syncs, then publishes the entries.
func (q *Queue) write(first uint64, newest segment, items [][]byte) error {
	var touched []segment // each segment written, as it ends up
	var created bool
	var start position // where the first item's frame goes
	cur := newest
	buf := q.wbuf[:0]
	written := false // to the open segment since its last sync
	write := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := q.w.Write(buf)
		buf, written = buf[:0], true
		return err
	}
	flush := func() error {
		if err := write(); err != nil || !written {
			return err
		}
		written = false
		return q.w.Sync()
	}
	err := func() error {
		if q.w == nil && cur.n > 0 {
			f, err := os.OpenFile(filepath.Join(q.dir, segName(cur.first)), os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return err
			}
			q.w = f
		}
		for i, it := range items {
			seq := first + uint64(i)
			frame := frameHeader + int64(len(it))
			if cur.n == 0 || cur.size+frame > q.segMax {
				if err := flush(); err != nil {
					return err
				}
				if q.w != nil {
					if err := q.w.Close(); err != nil {
						q.w = nil
						return err
					}
					q.w = nil
				}
				f, err := os.OpenFile(filepath.Join(q.dir, segName(seq)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
				if err != nil {
					return err
				}
				q.w, created, cur = f, true, segment{first: seq}
			}
			if i == 0 {
				start = position{seg: cur.first, off: cur.size}
			}
			buf = appendFrame(buf, seq, it)
			if len(buf) >= writeChunk {
				if err := write(); err != nil {
					return err
				}
			}
			cur.n++
			cur.size += frame
			if len(touched) == 0 || touched[len(touched)-1].first != cur.first {
				touched = append(touched, cur)
			} else {
				touched[len(touched)-1] = cur
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if created {
			return linefile.SyncDir(q.dir)
		}
		return nil
	}()
	q.wbuf = buf[:0]
	if err != nil {
		q.undo(newest, touched)
		return err
	}
	q.publish(first, start, touched, items)
	return nil
}

// undo takes back what a failed write put on disk: the segments it
// started are deleted, the one it extended cut to its size before.
// Nothing of it was counted; a reopen must not find it either (the caller
// sends those items again, it would only duplicate them).
func (q *Queue) undo(newest segment, touched []segment) {
	if q.w != nil {
		_ = q.w.Close()
		q.w = nil
	}
	for _, s := range touched {
		if s.first == newest.first && newest.n > 0 {
			_ = os.Truncate(filepath.Join(q.dir, segName(s.first)), newest.size)
			continue
		}
		_ = os.Remove(filepath.Join(q.dir, segName(s.first)))
	}
}

// publish counts the entries from first, written at start into the
// segments touched, and wakes the reader.
func (q *Queue) publish(first uint64, start position, touched []segment, items [][]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range touched {
		if n := len(q.segs); n > 0 && q.segs[n-1].first == s.first {
			q.used -= blocks(q.segs[n-1].size)
			q.segs[n-1] = s
		} else {
			q.segs = append(q.segs, s)
		}
		q.used += blocks(s.size)
	}
	if len(q.sizes) == 0 {
		q.oldest, q.oldPos = first, start
	}
	if q.readN == len(q.sizes) {
		q.read, q.readPos = first, start
	}
	for _, it := range items {
		q.sizes = append(q.sizes, int32(len(it)))
		q.bytes += int64(len(it))
	}
	q.next = first + uint64(len(items))
	q.appended = append(q.appended, appendMark{seq: first, at: time.Now()})
	q.signal()
}

// dropSpent deletes the segments of an empty queue (every entry in them
// was removed); the next append starts a new one. q.wmu must be held.
func (q *Queue) dropSpent() error {
	q.mu.Lock()
	if len(q.sizes) > 0 || q.closed {
		q.mu.Unlock()
		return nil
	}
	spent := q.segs
	q.segs = nil
	q.mu.Unlock()
	if q.w != nil {
		_ = q.w.Close()
		q.w = nil
	}
	err := q.deleteSegments(spent)
	q.mu.Lock()
	for _, s := range spent {
		q.used -= blocks(s.size)
	}
	q.mu.Unlock()
	return err
}

// beforeDelete, when set (by a test), runs in Remove before it deletes
// spent segments.
var beforeDelete func()

func (q *Queue) deleteSegments(segs []segment) error {
	for _, s := range segs {
		if err := os.Remove(filepath.Join(q.dir, segName(s.first))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (q *Queue) capacity() int64 { return q.maxBytes - reserved }

func (q *Queue) fits(size int64) bool { return q.need(size) <= q.capacity() }

// Fits reports whether items could be appended at all, together, to
// this queue: Append of items that do not fails with ErrTooLarge however
// long it waits. It is what a caller that appends later (delivery's
// committer) checks first, while it can still refuse them.
func (q *Queue) Fits(items [][]byte) bool { return q.fits(framesSize(items)) }

// signal wakes every waiter; q.mu must be held.
func (q *Queue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// segAfter finds the segment whose first entry is first, and the one
// after it (nil: none); q.mu held.
func (q *Queue) segAfter(first uint64) (seg segment, next *segment) {
	for i := range q.segs {
		if q.segs[i].first == first {
			if i+1 < len(q.segs) {
				return q.segs[i], &q.segs[i+1]
			}
			return q.segs[i], nil
		}
	}
	return segment{}, nil
}

// lent is a buffer Read handed out, holding entries up to last.
type lent struct {
	last uint64
	buf  []byte
}

// maxSpare is how many of Read's buffers are kept for reuse: delivery
// holds at most max_in_flight reads at a time, and one read ahead.
const maxSpare = 8

// span is a run of frames of one segment that Read reads at once.
type span struct {
	seg   uint64
	off   int64
	size  int64
	first uint64 // the sequence number of its first frame
	n     int
}

// Read returns the next entries not yet handed out, at most maxItems and
// (beyond the first) maxBytes. It waits until at least one is there, then
// up to linger for more, so that a trickle still goes out in batches.
// An entry's Data is valid until it is removed: its memory is then reused.
func (q *Queue) Read(ctx context.Context, maxItems, maxBytes int, linger time.Duration) ([]Entry, error) {
	var timer *time.Timer
	expired := false
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		avail := len(q.sizes) - q.readN
		if avail >= maxItems || avail > 0 && (linger <= 0 || expired) {
			break // with q.mu held
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
	// Plan the frames to read, segment by segment.
	var spans []span
	seq, pos, idx := q.read, q.readPos, q.readN
	total, count := 0, 0
	for idx < len(q.sizes) && count < maxItems {
		n := int(q.sizes[idx])
		if count > 0 && total+n > maxBytes {
			break
		}
		if seg, next := q.segAfter(pos.seg); seq >= seg.end() && next != nil {
			seq, pos = next.first, position{seg: next.first}
		}
		if len(spans) == 0 || spans[len(spans)-1].seg != pos.seg {
			spans = append(spans, span{seg: pos.seg, off: pos.off, first: seq})
		}
		sp := &spans[len(spans)-1]
		sp.size += frameHeader + int64(n)
		sp.n++
		pos.off += frameHeader + int64(n)
		seq++
		idx++
		count++
		total += n
	}
	q.mu.Unlock()

	var size int64
	for _, sp := range spans {
		size += sp.size
	}
	buf := q.takeBuffer(size)
	whole := buf
	out := make([]Entry, 0, count)
	for _, sp := range spans {
		b := buf[:sp.size]
		buf = buf[sp.size:]
		if err := q.readSpan(sp, b); err != nil {
			return nil, err
		}
		for i := range sp.n {
			s, payload, n, ok := parseFrame(b)
			if !ok || s != sp.first+uint64(i) {
				return nil, fmt.Errorf("%w: %s at byte %d (entry %d)", ErrCorrupt, segName(sp.seg), sp.off+sp.size-int64(len(b)), sp.first+uint64(i))
			}
			out = append(out, Entry{Seq: s, Data: payload[:len(payload):len(payload)]})
			b = b[n:]
		}
	}
	q.mu.Lock()
	q.read, q.readPos = seq, pos
	q.readN += count
	q.lent = append(q.lent, lent{last: out[len(out)-1].Seq, buf: whole})
	q.mu.Unlock()
	return out, nil
}

// takeBuffer is a buffer of size bytes, a spare one if there is one large
// enough.
func (q *Queue) takeBuffer(size int64) []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, b := range q.spare {
		if int64(cap(b)) >= size {
			q.spare = append(q.spare[:i], q.spare[i+1:]...)
			return b[:size]
		}
	}
	return make([]byte, size)
}

func (q *Queue) readSpan(sp span, b []byte) error {
	f, err := os.Open(filepath.Join(q.dir, segName(sp.seg)))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.ReadAt(b, sp.off)
	return err
}

// Remove drops every entry up to and including seq: the destination (or
// the dead-letter file) has them. Their bytes count as gone at once; a
// segment's blocks once every entry in it is removed (its file is deleted
// then). The removal is written to the acknowledgement file at once.
func (q *Queue) Remove(seq uint64) error {
	q.mu.Lock()
	k := 0
	var spent []segment
	for len(q.sizes) > 0 && q.oldest <= seq {
		n := q.sizes[0]
		q.sizes = q.sizes[1:]
		q.bytes -= int64(n)
		q.oldPos.off += frameHeader + int64(n)
		q.oldest++
		k++
		// Let the spent segments before it go — the newest stays for the
		// appender (who deletes it once everything is removed) — and step
		// into the next segment if the oldest entry was at the end of one.
		// A segment spent while it was the newest is still first when the
		// appender starts another: popping it must not move the oldest.
		for len(q.segs) > 1 && q.oldest >= q.segs[0].end() {
			popped := q.segs[0]
			spent = append(spent, popped)
			q.segs = q.segs[1:]
			if q.oldPos.seg == popped.first {
				q.oldest, q.oldPos = max(q.oldest, q.segs[0].first), position{seg: q.segs[0].first}
			}
		}
	}
	if len(q.sizes) == 0 {
		q.sizes = nil // let the backing array go
	}
	// Buffers whose entries are all removed are free again.
	for len(q.lent) > 0 && q.lent[0].last <= seq {
		if len(q.spare) < maxSpare {
			q.spare = append(q.spare, q.lent[0].buf)
		}
		q.lent = q.lent[1:]
	}
	q.readN = max(q.readN-k, 0)
	if q.readN == 0 {
		q.read, q.readPos = q.oldest, q.oldPos
	}
	for len(q.appended) > 0 && (len(q.sizes) == 0 || len(q.appended) > 1 && q.appended[1].seq <= q.oldest) {
		q.appended = q.appended[1:]
	}
	last := q.oldest - 1
	// A drained buffer keeps its newest segment to append to (a new file
	// costs a creation and a folder fsync) until it is half full.
	drained := len(q.sizes) == 0 && len(q.segs) > 0 && (len(q.segs) > 1 || q.segs[0].size >= q.segMax/2)
	var spentBlocks int64
	for _, s := range spent {
		spentBlocks += blocks(s.size)
	}
	q.deleting += spentBlocks
	q.signal()
	q.mu.Unlock()
	// Written without a sync: the page cache keeps it through a crash of
	// the process; a crash of the host may lose it, and what it lost is
	// sent again (at least once).
	if k > 0 {
		if err := q.writeAck(last, false); err != nil {
			// The spent segments stay (and count) until the next open.
			q.mu.Lock()
			q.deleting -= spentBlocks
			q.signal()
			q.mu.Unlock()
			return err
		}
	}
	// Their blocks are free once the files are gone, not before: an
	// append must not take them while they are still on disk.
	if len(spent) > 0 && beforeDelete != nil {
		beforeDelete()
	}
	err := q.deleteSegments(spent)
	if len(spent) > 0 {
		q.mu.Lock()
		q.used -= spentBlocks
		q.deleting -= spentBlocks
		q.signal()
		q.mu.Unlock()
	}
	if err != nil {
		return err
	}
	// Unless an append is under way (it deletes spent segments itself).
	if drained && q.wmu.TryLock() {
		err := q.dropSpent()
		q.wmu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeAck writes down that every entry up to seq was removed: Open skips
// them. A torn write fails its checksum and counts as none (the entries
// come again, at least once). sync is for Close.
func (q *Queue) writeAck(seq uint64, sync bool) error {
	q.ackMu.Lock()
	defer q.ackMu.Unlock()
	if q.ackFile == nil {
		return nil
	}
	if _, err := q.ackFile.WriteAt(ackRecord(seq), 0); err != nil {
		return err
	}
	if sync {
		return q.ackFile.Sync()
	}
	return nil
}

// Rewind hands out again, from the oldest, the entries read but not
// removed: after a failed send, the next Read starts over.
func (q *Queue) Rewind() {
	q.mu.Lock()
	q.read, q.readPos, q.readN = q.oldest, q.oldPos, 0
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
	if len(q.sizes) == 0 || len(q.appended) == 0 {
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

// Len is the number of queued entries.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.sizes)
}

// Bytes is the size of the queued data.
func (q *Queue) Bytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// Usage is what the segment files take on disk (in 4 KiB blocks) and the
// most they may: an append that could go beyond capacity waits. A segment
// counts whole until every entry in it is removed. The folder stays within
// the bound given to Open: capacity plus the acknowledgement file and the
// folder's own block.
func (q *Queue) Usage() (used, capacity int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used, q.capacity()
}

// Close wakes every waiter with ErrClosed, writes down the removals and
// closes the files.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.signal()
	last := q.oldest - 1
	q.mu.Unlock()
	q.wmu.Lock() // an append under way finishes first
	defer q.wmu.Unlock()
	err := q.writeAck(last, true)
	if cerr := q.closeFiles(); err == nil {
		err = cerr
	}
	return err
}

func (q *Queue) closeFiles() error {
	var err error
	if q.w != nil {
		err = q.w.Close()
		q.w = nil
	}
	q.ackMu.Lock()
	if q.ackFile != nil {
		if cerr := q.ackFile.Close(); err == nil {
			err = cerr
		}
		q.ackFile = nil
	}
	q.ackMu.Unlock()
	return err
}
