// Package delivery is what every SIEM output shares: a record is encoded
// for the destination, appended to the output's disk buffer and
// acknowledged upstream once it is durably there; a sender goroutine drains
// the buffer in order, in batches, retrying transient failures with
// exponential back-off and jitter (or the destination's Retry-After), and
// sends what the destination refuses for good to the dead-letter file.
//
// An output package supplies only its Encoder (pure, golden-tested) and its
// Sender (the protocol); see outputs/splunk and friends.
package delivery

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/buffer"
)

// Encoder turns one enriched record into the bytes the Sender sends for
// it. enriched is the record's JSON (original document plus the privtrail
// object) as the runner encoded it.
type Encoder interface {
	Encode(dst []byte, rec *entra.Record, enriched []byte) ([]byte, error)
}

// Sender delivers one batch of encoded items. Send bounds its own wait on
// the destination (a request timeout, a write deadline), so that one that
// never answers fails the attempt (a Result.Err, retried after back-off),
// and returns soon once ctx ends: Close waits for the Send in flight.
type Sender interface {
	Send(ctx context.Context, items [][]byte) Result
}

// Result is what the destination made of a batch.
type Result struct {
	// Err means the request as a whole failed and nothing was accepted:
	// retried after back-off, unless marked Permanent, in which case the
	// whole batch is dead-lettered.
	Err error
	// RetryAfter is the destination's own hint (HTTP Retry-After).
	RetryAfter time.Duration
	// Retry lists items to send again (throttled one by one, e.g. a 429
	// inside an Elasticsearch bulk response); the others were accepted.
	Retry []int
	// Rejected lists items the destination refused for good.
	Rejected []Rejection
}

// Rejection is one item refused for good, with the destination's reason.
type Rejection struct {
	Index  int
	Reason string
}

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Permanent marks err as a failure that retrying cannot fix (an invalid
// token, a missing index): the batch goes to the dead-letter file.
func Permanent(err error) error { return permanent{err} }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// DeadLetters is where refused records go.
type DeadLetters interface {
	Write(stage, origin, reason string, data []byte) error
}

// Stats are an output's counters.
type Stats struct {
	Sent, Retries, Throttled, DeadLettered atomic.Int64
	// LastSuccess is when the destination last accepted a request
	// (UnixNano; 0: not since start). FailingSince is when the current
	// run of failed requests began (0: the last request succeeded), and
	// ConsecutiveFailures how many failed in a row (refusals for good
	// included: an invalid token fails every batch).
	LastSuccess, FailingSince, ConsecutiveFailures atomic.Int64
}

// succeeded and failed keep the destination's health.
func (s *Stats) succeeded() {
	s.LastSuccess.Store(time.Now().UnixNano())
	s.FailingSince.Store(0)
	s.ConsecutiveFailures.Store(0)
}

func (s *Stats) failed() {
	s.FailingSince.CompareAndSwap(0, time.Now().UnixNano())
	s.ConsecutiveFailures.Add(1)
}

// Output is a buffered, retrying output for the runner.
type Output struct {
	name string
	cfg  Config
	enc  Encoder
	send Sender
	dead DeadLetters
	log  *slog.Logger
	q    *buffer.Queue

	buf   []byte
	ends  []int
	items [][]byte
	stats Stats

	stop    context.CancelFunc
	drained chan struct{}
	closing atomic.Bool
	once    sync.Once
	// appending is when the Append under way started (unix ns; 0: none):
	// one that waits is the buffer pushing back on the inputs.
	appending atomic.Int64
}

// Deps is what the agent gives every output.
type Deps struct {
	DataDir     string
	DeadLetters DeadLetters
	Log         *slog.Logger
}

// New opens the output's buffer at <DataDir>/buffers/<name>.db and starts
// its sender.
func New(name string, cfg Config, deps Deps, enc Encoder, send Sender) (*Output, error) {
	dataDir, dead, log := deps.DataDir, deps.DeadLetters, deps.Log
	if log == nil {
		log = slog.Default()
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q, err := buffer.Open(filepath.Join(dataDir, "buffers", name+".db"), int64(cfg.Buffer.MaxBytes))
	if err != nil {
		return nil, err
	}
	if n := q.Len(); n > 0 {
		log.Info("output buffer holds records from a previous run; sending them first", "output", name, "records", n, "bytes", q.Bytes())
	}
	ctx, stop := context.WithCancel(context.Background())
	o := &Output{name: name, cfg: cfg, enc: enc, send: send, dead: dead, log: log, q: q, stop: stop, drained: make(chan struct{})}
	go o.drain(ctx)
	return o, nil
}

// Stats are the output's counters.
func (o *Output) Stats() *Stats { return &o.stats }

// Buffered reports the records and bytes waiting on disk.
func (o *Output) Buffered() (int, int64) { return o.q.Len(), o.q.Bytes() }

// Consume encodes the batch, appends it to the disk buffer and acknowledges
// it: from here the record survives a crash, so the inputs may checkpoint.
// When the buffer is full it waits, which is the back-pressure.
func (o *Output) Consume(ctx context.Context, b *batch.Batch) error {
	o.buf = o.buf[:0]
	ends := o.ends[:0]
	for i, rec := range b.Records {
		var enriched []byte
		if i < len(b.JSON) {
			enriched = b.JSON[i]
		}
		// Each buffered item carries the record's origin ahead of the
		// encoded bytes, so that a later rejection names where it came from.
		start := len(o.buf)
		o.buf = binary.AppendUvarint(o.buf, uint64(len(rec.Origin)))
		o.buf = append(o.buf, rec.Origin...)
		var err error
		o.buf, err = o.enc.Encode(o.buf, rec, enriched)
		if err != nil {
			o.buf = o.buf[:start]
			if derr := o.dead.Write("output:"+o.name, rec.Origin, "encode: "+err.Error(), rec.Raw); derr != nil {
				return derr
			}
			o.stats.DeadLettered.Add(1)
			continue
		}
		ends = append(ends, len(o.buf))
	}
	o.ends = ends
	items := o.items[:0]
	start := 0
	for _, end := range ends {
		items = append(items, o.buf[start:end])
		start = end
	}
	o.items = items
	if len(items) > 0 {
		o.appending.Store(time.Now().UnixNano())
		err := o.q.Append(ctx, items)
		o.appending.Store(0)
		if err != nil {
			if errors.Is(err, buffer.ErrTooLarge) {
				return fmt.Errorf("a batch of %d records does not fit in buffer.max_bytes even with the buffer empty: raise it", len(items))
			}
			return err
		}
	}
	b.Ack()
	return nil
}

// split undoes Consume's framing of a buffered item.
func split(item []byte) (origin string, data []byte) {
	n, k := binary.Uvarint(item)
	if k <= 0 || uint64(len(item)-k) < n {
		return "", item // not framed: keep all of it for the dead letter
	}
	return string(item[k : k+int(n)]), item[k+int(n):]
}

// Close sends what is buffered until the buffer is empty or ctx ends (what
// remains is sent after the next start), then closes the buffer.
func (o *Output) Close(ctx context.Context) error {
	o.once.Do(func() {
		o.closing.Store(true)
		for o.q.Len() > 0 {
			select {
			case <-ctx.Done():
				o.log.Warn("output stopped with records still buffered; they are sent after the next start", "output", o.name, "records", o.q.Len())
				o.stop()
				<-o.drained
				o.q.Close()
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		o.stop()
		<-o.drained
		o.q.Close()
	})
	// A Sender holding connections releases them.
	if c, ok := o.send.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (o *Output) drain(ctx context.Context) {
	defer close(o.drained)
	for {
		entries, err := o.q.Read(ctx, o.cfg.BatchSize, int(o.cfg.BatchBytes), o.flushInterval())
		if err != nil {
			return
		}
		if !o.deliver(ctx, entries) {
			o.q.Rewind()
			return
		}
		if err := o.q.Remove(entries[len(entries)-1].Seq); err != nil {
			o.log.Error("output buffer", "output", o.name, "err", err)
			o.q.Rewind()
		}
	}
}

// flushInterval is not worth waiting for once the agent is stopping.
func (o *Output) flushInterval() time.Duration {
	if o.closing.Load() {
		return 0
	}
	return o.cfg.FlushInterval
}

// deliver sends entries until each is accepted or dead-lettered; false
// when ctx ended first (the entries stay buffered).
func (o *Output) deliver(ctx context.Context, entries []buffer.Entry) bool {
	pending := make([]int, len(entries))
	for i := range pending {
		pending[i] = i
	}
	origins := make([]string, len(entries))
	data := make([][]byte, len(entries))
	for i, e := range entries {
		origins[i], data[i] = split(e.Data)
	}
	items := make([][]byte, 0, len(entries))
	for attempt := 0; len(pending) > 0; attempt++ {
		items = items[:0]
		for _, i := range pending {
			items = append(items, data[i])
		}
		res := o.send.Send(ctx, items)
		if ctx.Err() != nil && res.Err != nil {
			return false
		}
		if res.Err != nil {
			o.stats.failed()
		} else {
			o.stats.succeeded()
		}
		switch {
		case res.Err != nil && IsPermanent(res.Err):
			for _, i := range pending {
				o.reject(origins[i], data[i], res.Err.Error())
			}
			return true
		case res.Err != nil:
			o.stats.Retries.Add(1)
			if res.RetryAfter > 0 {
				o.stats.Throttled.Add(1)
			}
			wait := o.backoff(attempt, res.RetryAfter)
			o.log.Warn("output: destination failed, retrying", "output", o.name, "records", len(pending), "err", res.Err, "retry_in", wait)
			if !sleep(ctx, wait) {
				return false
			}
			continue
		}
		for _, r := range res.Rejected {
			if r.Index >= 0 && r.Index < len(pending) {
				o.reject(origins[pending[r.Index]], data[pending[r.Index]], r.Reason)
			}
		}
		var again []int
		for _, k := range res.Retry {
			if k >= 0 && k < len(pending) {
				again = append(again, pending[k])
			}
		}
		o.stats.Sent.Add(int64(len(pending) - len(again) - len(res.Rejected)))
		pending = again
		if len(pending) > 0 {
			o.stats.Throttled.Add(1)
			if !sleep(ctx, o.backoff(attempt, res.RetryAfter)) {
				return false
			}
		}
	}
	return true
}

func (o *Output) reject(origin string, data []byte, reason string) {
	o.stats.DeadLettered.Add(1)
	if err := o.dead.Write("output:"+o.name, origin, reason, data); err != nil {
		o.log.Error("dead-letter write failed", "output", o.name, "err", err)
	}
}

// backoff is exponential from 100ms with full jitter in its upper half,
// capped at MaxBackoff; a destination's Retry-After wins when given.
func (o *Output) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, o.cfg.MaxBackoff) + time.Duration(rand.Int64N(int64(100*time.Millisecond)))
	}
	d := 100 * time.Millisecond << min(attempt, 16)
	d = min(d, o.cfg.MaxBackoff)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Health is nil while the output delivers or buffers within bounds, and
// says why not once its disk buffer is 90% full (the destination has been
// failing for a while and back-pressure is near). Full is what the buffer
// pushes back at: the file's pages in use against what buffer.max_bytes
// leaves them (BufferUsage), not the records' bytes.
//
// A batch that has waited for room for longer than pushBackAfter is
// back-pressure already, whatever the percentage (with large batches a
// buffer stops taking them well below 90%): Health says so too.
func (o *Output) Health() error {
	used, capacity := o.q.Usage()
	if since := o.appending.Load(); since != 0 && time.Since(time.Unix(0, since)) >= pushBackAfter {
		return fmt.Errorf("disk buffer full for a batch (%d%% used, %d records): inputs wait, the destination is not taking them", used*100/capacity, o.q.Len())
	}
	if used*10 >= capacity*9 {
		return fmt.Errorf("disk buffer %d%% full (%d records): the destination is not taking them", used*100/capacity, o.q.Len())
	}
	return nil
}

// pushBackAfter is how long a batch waits for room in the disk buffer
// before Health reports the back-pressure.
const pushBackAfter = time.Second

// OldestBuffered is how long the oldest record still in the disk buffer
// has waited for the destination (0: the buffer is empty).
func (o *Output) OldestBuffered() time.Duration { return o.q.OldestAge() }

// BufferUsage is what the buffer file's pages in use take on disk and the
// most they may (buffer.max_bytes less bbolt's growth step and the pages
// kept for deleting); Buffered's bytes are the records' alone.
func (o *Output) BufferUsage() (used, capacity int64) { return o.q.Usage() }
