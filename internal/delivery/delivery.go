// Package delivery is what every SIEM output shares: a record is encoded
// for the destination, appended to the output's disk buffer and
// acknowledged upstream once it is durably there; a sender drains the
// buffer in order, in batches, retrying transient failures with
// exponential back-off and jitter (or the destination's Retry-After), and
// sends what the destination refuses for good to the dead-letter file.
//
// Two things keep the disk buffer's fsync and the destination's round
// trip from setting the pace (see README.md):
//
//   - Group commit. Consume encodes a batch and queues it for a committer
//     goroutine, which appends every batch queued meanwhile in one write
//     to the buffer (one fsync) and then acknowledges them, in the order
//     they were consumed. A batch is still acknowledged only once it is on
//     disk; Consume returns before that, so the runner hands over the next
//     batch while the last ones are being synced.
//   - A window of requests. The sender keeps up to Config.MaxInFlight
//     requests outstanding and removes entries from the buffer only in
//     order: a request's entries go once it and every request before it
//     are done. A crash resends what was not removed, in order.
//
// Ordering: batches are appended to the buffer and acknowledged in the
// order Consume got them, and read from it in that order. With
// MaxInFlight 1 the destination receives them in that order too (a retried
// batch is retried before the next is sent). With more, requests overlap:
// one may reach the destination before an earlier one, and a retried
// request arrives after later ones. Each output's README states what that
// means for its destination.
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
// and returns soon once ctx ends: Close waits for the Sends in flight.
// With Config.MaxInFlight above 1, Send is called from several goroutines
// at once, one call per request in flight: it must be safe for that, and
// must not serialize the requests it could overlap.
type Sender interface {
	Send(ctx context.Context, items [][]byte) Result
}

// An OrderedSender is a Sender whose destination keeps the order in which
// items are handed over, with several requests in flight (Kafka's
// idempotent producer keeps each partition's order over up to five
// requests per broker). With max_in_flight above 1, drain hands each
// request's items over with Start, in buffer order from one goroutine,
// and waits for the outcome with the function Start returns, which
// reports as Send does. Items the outcome asks to retry are sent again
// with Send once every earlier request is done, and no new request starts
// while any are: what is sent again never lands behind a later request's
// items. That a later request's items, written while an earlier one
// failed, do not stay ahead of its items sent again is the sender's part:
// its outcome lists them to retry too.
type OrderedSender interface {
	Sender
	Start(ctx context.Context, items [][]byte) (wait func() Result)
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
	// app is what the committer appends to and src what drain reads
	// from: q, or a test's stand-ins.
	app appender
	src reader

	stats Stats

	commits   commitQueue
	commitErr atomic.Pointer[error] // the last commit's failure, nil once one succeeds
	committed chan struct{}         // closed when the committer returns
	// stopCommit ends the committer's wait for room in the buffer; closing
	// lets it return once the queue is empty.
	stopCommit context.CancelFunc
	// free keeps the encode buffers of committed batches for the next
	// ones: a batch's buffer is megabytes, grown append by append.
	free chan *encoded

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

// New opens the output's buffer in <DataDir>/buffers/<name>/ and starts
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
	q, err := buffer.Open(filepath.Join(dataDir, "buffers", name), int64(cfg.Buffer.MaxBytes))
	if err != nil {
		return nil, err
	}
	for _, note := range q.Recovered() {
		log.Warn("output buffer was damaged on disk; what could be read is sent", "output", name, "found", note)
	}
	if n := q.Len(); n > 0 {
		log.Info("output buffer holds records from a previous run; sending them first", "output", name, "records", n, "bytes", q.Bytes())
	}
	ctx, stop := context.WithCancel(context.Background())
	cctx, stopCommit := context.WithCancel(context.Background())
	o := &Output{name: name, cfg: cfg, enc: enc, send: send, dead: dead, log: log, q: q, stop: stop, drained: make(chan struct{}),
		committed: make(chan struct{}), stopCommit: stopCommit}
	o.app, o.src = q, readerOf(q)
	o.commits.init(commitLimits(q))
	o.free = make(chan *encoded, 2*maxWaitingBatches+1)
	go o.commit(cctx)
	go o.drain(ctx)
	return o, nil
}

// Stats are the output's counters.
func (o *Output) Stats() *Stats { return &o.stats }

// Buffered reports the records and bytes waiting on disk.
func (o *Output) Buffered() (int, int64) { return o.q.Len(), o.q.Bytes() }

// Consume encodes the batch and queues it for the disk buffer; the
// committer appends it (with whatever else is queued, in one fsync) and
// only then acknowledges it, in the order batches were consumed: from
// there the records survive a crash, so the inputs may checkpoint.
//
// Consume returning nil therefore means "taken", not yet "acknowledged":
// b.Ack follows once the batch is on disk, or never, if the output is
// closed before it could be written (the batch is then read again on the
// next start, as any unacknowledged batch is). An error means the batch
// was not taken and nothing of it will be acknowledged, as batch.Output
// says: the runner calls Consume again with it. That happens while the
// committer's last write failed (it retries its own batches meanwhile),
// after Close, or when ctx ends while Consume waits.
//
// Consume waits while the batches queued for the committer reach their
// bound (in number and bytes, see commitLimits); the committer waits for
// room in the buffer: together that is the back-pressure.
func (o *Output) Consume(ctx context.Context, b *batch.Batch) error {
	if p := o.commitErr.Load(); p != nil {
		return fmt.Errorf("disk buffer: writing the batches before this one failed (retrying): %w", *p)
	}
	e := o.encode(b)
	if e.err != nil {
		o.recycle(e)
		return e.err
	}
	if len(e.items) > 0 && !o.q.Fits(e.items) {
		o.recycle(e)
		return fmt.Errorf("a batch of %d records does not fit in buffer.max_bytes even with the buffer empty: raise it", len(e.items))
	}
	if err := o.commits.put(ctx, e); err != nil {
		o.recycle(e)
		return err
	}
	return nil
}

// encoded is one consumed batch on its way to the disk buffer.
type encoded struct {
	b     *batch.Batch
	buf   []byte
	items [][]byte
	size  int64
	err   error
}

func (o *Output) encode(b *batch.Batch) *encoded {
	var e *encoded
	select {
	case e = <-o.free:
	default:
		e = &encoded{}
	}
	e.b, e.err = b, nil
	// Most encodings are the enriched JSON plus an envelope: size the
	// buffer once rather than grow it record by record.
	want := 0
	for _, j := range b.JSON {
		want += len(j) + encodeOverhead
	}
	if cap(e.buf) < want {
		e.buf = make([]byte, 0, want)
	}
	buf := e.buf[:0]
	var ends []int
	for i, rec := range b.Records {
		var enriched []byte
		if i < len(b.JSON) {
			enriched = b.JSON[i]
		}
		// Each buffered item carries the record's origin ahead of the
		// encoded bytes, so that a later rejection names where it came from.
		start := len(buf)
		buf = binary.AppendUvarint(buf, uint64(len(rec.Origin)))
		buf = append(buf, rec.Origin...)
		var err error
		buf, err = o.enc.Encode(buf, rec, enriched)
		if err != nil {
			buf = buf[:start]
			if derr := o.dead.Write("output:"+o.name, rec.Origin, "encode: "+err.Error(), rec.Raw); derr != nil {
				e.err = derr
				return e
			}
			o.stats.DeadLettered.Add(1)
			continue
		}
		ends = append(ends, len(buf))
	}
	items := e.items[:0]
	start := 0
	for _, end := range ends {
		items = append(items, buf[start:end:end])
		start = end
	}
	e.buf, e.items, e.size = buf, items, int64(len(buf))
	return e
}

// recycle keeps e's memory for a later batch; it must no longer be used.
func (o *Output) recycle(e *encoded) {
	if cap(e.buf) > maxRecycled {
		return
	}
	clear(e.items)
	e.b, e.items, e.err = nil, e.items[:0], nil
	select {
	case o.free <- e:
	default:
	}
}

const (
	// maxRecycled is the largest encode buffer kept for reuse.
	maxRecycled = 16 << 20
	// encodeOverhead is what an encoder adds to a record's enriched JSON,
	// about (a HEC envelope, a bulk action line, a syslog header).
	encodeOverhead = 512
)

// commit is the committer: it appends what Consume queued, as many
// batches per append as are waiting, and acknowledges them once the
// append (and its fsync) is done. A failed write acknowledges
// nothing: it is retried, after back-off, with the same batches, and
// Consume refuses new ones meanwhile. It returns once the queue is closed
// and empty, or ctx ends (whatever was not written stays unacknowledged).
func (o *Output) commit(ctx context.Context) {
	defer close(o.committed)
	var group []*encoded
	var items [][]byte
	for attempt := 0; ; {
		if len(group) == 0 {
			group = o.commits.take(group[:0])
			if len(group) == 0 {
				return // closed and empty
			}
		}
		items = items[:0]
		for _, e := range group {
			items = append(items, e.items...)
		}
		err := o.appendItems(ctx, items)
		if errors.Is(err, buffer.ErrTooLarge) && len(group) > 1 {
			// Together they exceed what the buffer can ever hold; each
			// alone fits (Consume checked): write them one at a time.
			for len(group) > 0 && err == nil {
				if err = o.appendItems(ctx, group[0].items); err == nil {
					o.acknowledge(group[:1])
					group = group[1:]
				}
			}
		}
		if err == nil {
			o.acknowledge(group)
			o.commits.done()
			group = group[:0]
			attempt = 0
			continue
		}
		if ctx.Err() != nil {
			o.commits.done()
			o.commits.abandon(len(group))
			return
		}
		o.commitErr.Store(&err)
		wait := o.backoff(attempt, 0)
		attempt++
		o.log.Error("output: writing to the disk buffer failed; retrying, nothing of it is acknowledged", "output", o.name, "batches", len(group), "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			o.commits.done()
			o.commits.abandon(len(group))
			return
		}
	}
}

func (o *Output) appendItems(ctx context.Context, items [][]byte) error {
	if len(items) == 0 {
		return nil
	}
	o.appending.Store(time.Now().UnixNano())
	defer o.appending.Store(0)
	return o.app.Append(ctx, items)
}

// appender is the disk buffer as the committer uses it: Append returns
// once items are durably on disk, or writes nothing.
type appender interface {
	Append(ctx context.Context, items [][]byte) error
}

// reader is the disk buffer as drain uses it: Read hands out the next
// entries in order, or fails having handed out none.
type reader interface {
	Read(ctx context.Context, maxItems, maxBytes int, linger time.Duration) ([]buffer.Entry, error)
}

// readerOf is what drain reads q through: q itself, or a test's stand-in.
var readerOf = func(q *buffer.Queue) reader { return q }

// acknowledge acks the batches just written, in order, and recycles them.
func (o *Output) acknowledge(group []*encoded) {
	o.commitErr.Store(nil)
	for _, e := range group {
		e.b.Ack()
		o.recycle(e)
	}
}

// split undoes Consume's framing of a buffered item.
func split(item []byte) (origin string, data []byte) {
	n, k := binary.Uvarint(item)
	if k <= 0 || uint64(len(item)-k) < n {
		return "", item // not framed: keep all of it for the dead letter
	}
	return string(item[k : k+int(n)]), item[k+int(n):]
}

// Close writes the batches Consume queued to the disk buffer and
// acknowledges them, then sends what is buffered until the buffer is
// empty or ctx ends (what remains is sent after the next start), then
// closes the buffer. ctx bounds the writing too, except that a write
// under way that is not waiting for room (a local fsync, not the
// destination) gets closeCommitGrace more. Batches it could not write are
// left unacknowledged, which Close reports as an error: the inputs read
// them again on the next start.
func (o *Output) Close(ctx context.Context) error {
	var unwritten int
	o.once.Do(func() {
		o.closing.Store(true)
		o.commits.close()
		select {
		case <-o.committed:
		case <-ctx.Done():
			grace := time.NewTimer(closeCommitGrace)
			if o.q.Full() {
				grace.Reset(0) // waiting for room: only the destination could make it
			}
			select {
			case <-o.committed:
			case <-grace.C:
			}
			grace.Stop()
		}
		o.stopCommit()
		<-o.committed
		unwritten = o.commits.abandoned()
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
	var err error
	if unwritten > 0 {
		err = fmt.Errorf("%d batches could not be written to the disk buffer before the output closed; they stay unacknowledged and are read again on the next start", unwritten)
	}
	// A Sender holding connections releases them.
	if c, ok := o.send.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// closeCommitGrace is how long Close lets a write to the disk buffer
// under way finish once its ctx has ended.
const closeCommitGrace = 2 * time.Second

// drain reads the buffer in order and keeps up to MaxInFlight requests
// outstanding. The remover takes finished requests in the order they were
// read and removes each one's entries from the buffer only once it and
// every request before it are done; a request's slot frees only then,
// so that at most MaxInFlight requests' entries are held out of the
// buffer at a time. Once ctx ends, nothing more is removed: what was
// not, is sent again after the next start.
func (o *Output) drain(ctx context.Context) {
	defer close(o.drained)
	slots := make(chan struct{}, o.cfg.MaxInFlight)
	window := make(chan *flight, o.cfg.MaxInFlight)
	removed := make(chan struct{})
	go func() {
		defer close(removed)
		stopped := false
		for f := range window {
			if !<-f.done {
				stopped = true
			}
			if !stopped {
				if err := o.q.Remove(f.last); err != nil {
					o.log.Error("output buffer", "output", o.name, "err", err)
				}
			}
			<-slots
		}
	}()
	defer func() {
		close(window)
		<-removed
	}()
	ordered, _ := o.send.(OrderedSender)
	if o.cfg.MaxInFlight < 2 {
		ordered = nil // one request at a time is in order anyway
	}
	var retrying gate
	var prev *flight
	for {
		// The next request's entries are read while the window is full:
		// with one request in flight (Kafka, QRadar) the read and its
		// checks overlap the send instead of following it. Read but not
		// yet sent, they stay in the buffer like any not removed.
		entries, err := o.src.Read(ctx, o.cfg.BatchSize, int(o.cfg.BatchBytes), o.flushInterval())
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, buffer.ErrClosed) {
				return
			}
			// A disk that fails a read (or a file changed under the
			// buffer) must not end the sending unseen: say so, try again.
			o.log.Error("output buffer: reading failed; retrying", "output", o.name, "err", err, "retry_in", readRetry)
			if !sleep(ctx, readRetry) {
				return
			}
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		f := &flight{last: entries[len(entries)-1].Seq, done: make(chan bool, 1), over: make(chan struct{})}
		origins, data := splitEntries(entries)
		var first func() Result
		if ordered != nil {
			// No request starts while an earlier one sends items again:
			// they must land before anything handed over after them.
			select {
			case <-retrying.idle():
			case <-ctx.Done():
				return
			}
			first = ordered.Start(ctx, data)
			f.prev, prev = prev, f
		}
		window <- f
		go func() {
			f.done <- o.deliver(ctx, origins, data, f, first, &retrying)
			// over means this request and every one before it are done:
			// a later request's retry waits for all of them, not only for
			// the one just before it.
			if f.prev != nil {
				select {
				case <-f.prev.over:
				case <-ctx.Done():
				}
				f.prev = nil // a finished request holds none before it
			}
			close(f.over)
		}()
	}
}

// readRetry is how long drain waits before reading the buffer again after
// a failed read (a variable for the tests).
var readRetry = time.Second

// flight is one request of the window: done says whether its entries
// were delivered (or dead-lettered), false when ctx ended first.
type flight struct {
	last uint64
	done chan bool
	// prev is the request started before in ordered mode (nil once this
	// one is over); over is closed once this request and every one before
	// it are done.
	prev *flight
	over chan struct{}
}

// gate counts the requests sending items again in ordered mode; the
// channel idle returns is closed while there are none.
type gate struct {
	mu   sync.Mutex
	n    int
	open chan struct{}
}

func (g *gate) idle() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open = make(chan struct{})
		close(g.open)
	}
	return g.open
}

func (g *gate) enter() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == 0 {
		g.open = make(chan struct{})
	}
	g.n++
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n--; g.n == 0 {
		close(g.open)
	}
}

// flushInterval is not worth waiting for once the agent is stopping.
func (o *Output) flushInterval() time.Duration {
	if o.closing.Load() {
		return 0
	}
	return o.cfg.FlushInterval
}

// splitEntries undoes Consume's framing of each entry: its origin, and
// the encoded item the sender takes (the same slice on every attempt).
func splitEntries(entries []buffer.Entry) (origins []string, data [][]byte) {
	origins, data = make([]string, len(entries)), make([][]byte, len(entries))
	for i, e := range entries {
		origins[i], data[i] = split(e.Data)
	}
	return origins, data
}

// deliver sends the items (data, from origins) until each is accepted or
// dead-lettered; false when ctx ended first (the entries stay buffered). first, when set, waits
// for the outcome of the entries' ordered start (f's): sending anything
// again then waits for the requests before f, and holds new ones back.
func (o *Output) deliver(ctx context.Context, origins []string, data [][]byte, f *flight, first func() Result, retrying *gate) bool {
	pending := make([]int, len(data))
	for i := range pending {
		pending[i] = i
	}
	items := make([][]byte, 0, len(data))
	for attempt := 0; len(pending) > 0; attempt++ {
		items = items[:0]
		for _, i := range pending {
			items = append(items, data[i])
		}
		var res Result
		if first != nil {
			res, first = first(), nil
			if res.Err != nil || len(res.Retry) > 0 {
				retrying.enter()
				defer retrying.leave()
				if f.prev != nil {
					select {
					case <-f.prev.over:
					case <-ctx.Done():
						return false
					}
				}
			}
		} else {
			res = o.send.Send(ctx, items)
		}
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
// pushes back at: what its segment files take against what buffer.max_bytes
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

// BufferUsage is what the buffer's segment files take on disk and the
// most they may (buffer.max_bytes less the acknowledgement file and the
// folder); Buffered's bytes are the records' alone.
func (o *Output) BufferUsage() (used, capacity int64) { return o.q.Usage() }
