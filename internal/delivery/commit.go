package delivery

import (
	"context"
	"errors"
	"sync"

	"github.com/privtrail/privtrail/internal/buffer"
)

// commitQueue holds the batches Consume took and the committer has not
// written yet: waiting ones (bounded, so that Consume pushes back) and the
// group being written (at most one queue's worth more). It is a slice
// under a mutex rather than a channel so that Close can end it while a
// Consume waits, and so that its bound can be in bytes.
type commitQueue struct {
	maxBatches int
	maxBytes   int64

	mu      sync.Mutex
	waiting []*encoded
	bytes   int64 // of waiting
	closed  bool
	lost    int           // batches taken but never written (Close gave up)
	changed chan struct{} // closed and replaced on every change
}

// ErrClosed is what Consume returns once Close has begun.
var ErrClosed = errors.New("output closed")

// commitLimits bounds the batches waiting for the committer: enough that
// a group commit takes several runner batches per fsync, few enough that
// their memory is small next to the buffer. A group is kept within a
// quarter of the buffer so that it rarely waits for more room than one
// batch would; not less, because every group is an fsync that grows a
// segment file (and so commits the file system's journal: 0.5 ms median,
// 3.5 ms at worst, against 0.25 ms for an overwrite, measured beside 3 GB
// of other writes on the development machine), and a small buffer must
// still move hundreds of records per fsync.
func commitLimits(q *buffer.Queue) (batches int, bytes int64) {
	_, capacity := q.Usage()
	return maxWaitingBatches, min(maxWaitingBytes, max(capacity/4, 1))
}

const (
	maxWaitingBatches = 16
	maxWaitingBytes   = 32 << 20
)

func (c *commitQueue) init(batches int, bytes int64) {
	c.maxBatches, c.maxBytes = batches, bytes
	c.changed = make(chan struct{})
}

func (c *commitQueue) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// put queues e, waiting while the queue is full. A batch larger than the
// byte bound goes in alone, once the queue is empty.
func (c *commitQueue) put(ctx context.Context, e *encoded) error {
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		if len(c.waiting) == 0 || len(c.waiting) < c.maxBatches && c.bytes+e.size <= c.maxBytes {
			break
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.waiting = append(c.waiting, e)
	c.bytes += e.size
	c.signal()
	c.mu.Unlock()
	return nil
}

// take waits for queued batches and moves all of them into group; an
// empty group means the queue is closed and empty.
func (c *commitQueue) take(group []*encoded) []*encoded {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.waiting) == 0 {
		if c.closed {
			return group
		}
		ch := c.changed
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
	group = append(group, c.waiting...)
	clear(c.waiting)
	c.waiting = c.waiting[:0]
	c.bytes = 0
	c.signal()
	return group
}

// done is called when the group taken is written (or given up): nothing
// to do but wake whoever waits for the queue to change.
func (c *commitQueue) done() {
	c.mu.Lock()
	c.signal()
	c.mu.Unlock()
}

// close makes put fail from now on and take return once the queue is empty.
func (c *commitQueue) close() {
	c.mu.Lock()
	c.closed = true
	c.signal()
	c.mu.Unlock()
}

// abandon counts n batches of a group given up, plus every one still
// waiting (which no committer will take any more).
func (c *commitQueue) abandon(n int) {
	c.mu.Lock()
	c.lost += n + len(c.waiting)
	clear(c.waiting)
	c.waiting = c.waiting[:0]
	c.bytes = 0
	c.closed = true
	c.signal()
	c.mu.Unlock()
}

// abandoned is how many batches were taken but never written.
func (c *commitQueue) abandoned() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost
}
