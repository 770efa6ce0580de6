package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/buffer"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
)

type rawEncoder struct{}

func (rawEncoder) Encode(dst []byte, rec *entra.Record, _ []byte) ([]byte, error) {
	if string(rec.Raw) == "unencodable" {
		return dst, errors.New("cannot encode")
	}
	return append(dst, rec.Raw...), nil
}

// scriptSender answers each Send with the next scripted result (then
// success), and records what it accepted.
type scriptSender struct {
	mu       sync.Mutex
	script   []func(items [][]byte) Result
	accepted []string
	calls    int
	down     bool
}

func (s *scriptSender) Send(_ context.Context, items [][]byte) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.down {
		return Result{Err: errors.New("connection refused")}
	}
	var res Result
	if len(s.script) > 0 {
		res = s.script[0](items)
		s.script = s.script[1:]
	}
	if res.Err != nil {
		return res
	}
	skip := map[int]bool{}
	for _, i := range res.Retry {
		skip[i] = true
	}
	for _, r := range res.Rejected {
		skip[r.Index] = true
	}
	for i, it := range items {
		if !skip[i] {
			s.accepted = append(s.accepted, string(it))
		}
	}
	return res
}

func (s *scriptSender) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.accepted)
}

func mkBatch(from, n int) *batch.Batch {
	b := &batch.Batch{}
	for i := from; i < from+n; i++ {
		b.Records = append(b.Records, &entra.Record{Raw: fmt.Appendf(nil, "r%03d", i), Origin: fmt.Sprintf("x.jsonl:%d", i+1)})
	}
	return b
}

func newOut(t *testing.T, dir string, s Sender, d DeadLetters, cfg Config) *Output {
	t.Helper()
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 5 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 100 * time.Millisecond
	}
	if cfg.MaxInFlight == 0 {
		// These tests check the order of arrival, which only one request
		// in flight keeps; the window has its own tests.
		cfg.MaxInFlight = 1
	}
	o, err := New("test", cfg, Deps{DataDir: dir, DeadLetters: d, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, rawEncoder{}, s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// consume hands b over and reports whether it was acknowledged (once on
// disk: the group commit acknowledges after Consume returns).
func consume(t *testing.T, o *Output, b *batch.Batch) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	acked, err := deliverytest.ConsumeAcked(ctx, o, b, 1)
	if err != nil {
		t.Fatal(err)
	}
	return acked
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTransientFailuresAreRetriedInOrder(t *testing.T) {
	fail := func([][]byte) Result {
		return Result{Err: errors.New("503 server busy"), RetryAfter: 10 * time.Millisecond}
	}
	s := &scriptSender{script: []func([][]byte) Result{fail, fail}}
	o := newOut(t, t.TempDir(), s, &deadList{}, Config{})
	if !consume(t, o, mkBatch(0, 3)) {
		t.Fatal("a batch on disk must be acknowledged")
	}
	consume(t, o, mkBatch(3, 2))
	waitUntil(t, func() bool { return len(s.got()) == 5 })
	o.Close(context.Background())
	if got := s.got(); !slices.Equal(got, []string{"r000", "r001", "r002", "r003", "r004"}) {
		t.Fatalf("accepted %v", got)
	}
	if o.Stats().Retries.Load() != 2 || o.Stats().Throttled.Load() != 2 {
		t.Fatalf("retries %d throttled %d, want 2, 2", o.Stats().Retries.Load(), o.Stats().Throttled.Load())
	}
}

func TestPartialFailures(t *testing.T) {
	// Item 1 is throttled (sent again), item 2 refused for good.
	partial := func([][]byte) Result {
		return Result{Retry: []int{1}, Rejected: []Rejection{{Index: 2, Reason: "mapper_parsing_exception"}}}
	}
	s := &scriptSender{script: []func([][]byte) Result{partial}}
	d := &deadList{}
	o := newOut(t, t.TempDir(), s, d, Config{})
	consume(t, o, mkBatch(0, 4))
	waitUntil(t, func() bool { return len(s.got()) == 3 })
	o.Close(context.Background())
	if got := s.got(); !slices.Equal(got, []string{"r000", "r003", "r001"}) {
		t.Fatalf("accepted %v, want r00 r03 then the retried r01", got)
	}
	if !slices.Equal(d.Data(), []string{"r002"}) || d.Reasons()[0] != "mapper_parsing_exception" || d.Origins()[0] != "x.jsonl:3" {
		t.Fatalf("dead letters %v %v", d.Data(), d.Reasons())
	}
}

func TestPermanentFailureDeadLettersTheBatch(t *testing.T) {
	s := &scriptSender{script: []func([][]byte) Result{func([][]byte) Result { return Result{Err: Permanent(errors.New("invalid token"))} }}}
	d := &deadList{}
	o := newOut(t, t.TempDir(), s, d, Config{BatchSize: 10})
	b := mkBatch(0, 2)
	b.Records = append(b.Records, &entra.Record{Raw: []byte("unencodable")})
	consume(t, o, b)
	waitUntil(t, func() bool { return d.Len() == 3 })
	consume(t, o, mkBatch(2, 1))
	waitUntil(t, func() bool { return len(s.got()) == 1 })
	o.Close(context.Background())
	if len(d.Data()) != 3 || d.Reasons()[0] != "encode: cannot encode" || d.Reasons()[1] != "invalid token" {
		t.Fatalf("dead letters %v %v", d.Data(), d.Reasons())
	}
	if got := s.got(); !slices.Equal(got, []string{"r002"}) {
		t.Fatalf("the next batch must go through: %v", got)
	}
}

// The destination is down: records wait on disk up to the bound, then
// Consume blocks (back-pressure); after a restart with the destination
// back, everything arrives in order.
func TestDownDestinationBuffersThenPushesBack(t *testing.T) {
	dir := t.TempDir()
	s := &scriptSender{down: true}
	o := newOut(t, dir, s, &deadList{}, Config{BatchSize: 2, BatchBytes: 1024, Buffer: BufferConfig{MaxBytes: 1 << 20}})
	n := 0
	for ; ; n += 20 {
		b := fatBatch(n, 20, 2000)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		acked, err := deliverytest.ConsumeAcked(ctx, o, b, 1)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			if acked {
				t.Fatal("a batch that did not fit was acknowledged")
			}
			break
		}
		if err != nil || !acked {
			t.Fatalf("Consume on a buffer with room: %v (acked %v)", err, acked)
		}
		if n > 1000 {
			t.Fatal("1MiB of buffer took 1000 records of 2KB: no back-pressure")
		}
	}
	if size, err := buffer.FolderSize(filepath.Join(dir, "buffers", "test")); err != nil || size > 1<<20 {
		t.Fatalf("buffer folder of %d bytes, over buffer.max_bytes (%v)", size, err)
	}
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelClose()
	o.Close(closeCtx)
	if n := len(s.got()); n != 0 {
		t.Fatalf("%d accepted by a down destination", n)
	}

	up := &scriptSender{}
	o = newOut(t, dir, up, &deadList{}, Config{BatchSize: 50})
	waitUntil(t, func() bool { return len(up.got()) == n })
	o.Close(context.Background())
	for i, r := range up.got() {
		if !strings.HasPrefix(r, fmt.Sprintf("r%05d.", i)) {
			t.Fatalf("record %d is %.6s: out of order after restart", i, r)
		}
	}
}

// fatBatch is n records of size bytes each, the first numbered from.
func fatBatch(from, n, size int) *batch.Batch {
	b := &batch.Batch{}
	for i := from; i < from+n; i++ {
		raw := fmt.Appendf(nil, "r%05d.", i)
		raw = append(raw, strings.Repeat("x", size-len(raw))...)
		b.Records = append(b.Records, &entra.Record{Raw: raw, Origin: fmt.Sprintf("x.jsonl:%d", i+1)})
	}
	return b
}

func TestSizeParsing(t *testing.T) {
	for in, want := range map[string]Size{"1048576": 1 << 20, "512KiB": 512 << 10, "64MiB": 64 << 20, "1GiB": 1 << 30, "2MB": 2e6} {
		var s Size
		if err := s.UnmarshalText([]byte(in)); err != nil || s != want {
			t.Errorf("%s = %d, %v; want %d", in, s, err, want)
		}
	}
	var s Size
	if err := s.UnmarshalText([]byte("lots")); err == nil {
		t.Error("want an error for lots")
	}
}

func TestBackoffGrowsAndHonoursRetryAfter(t *testing.T) {
	o := &Output{cfg: Config{MaxBackoff: 10 * time.Second}}
	prev := time.Duration(0)
	for attempt := range 6 {
		d := o.backoff(attempt, 0)
		max := 100 * time.Millisecond << attempt
		if d < max/2 || d > max {
			t.Errorf("attempt %d: %v outside [%v, %v]", attempt, d, max/2, max)
		}
		prev = d
	}
	_ = prev
	if d := o.backoff(20, 0); d > 10*time.Second {
		t.Errorf("backoff %v above max_backoff", d)
	}
	if d := o.backoff(0, 3*time.Second); d < 3*time.Second || d > 3*time.Second+100*time.Millisecond {
		t.Errorf("Retry-After 3s gave %v", d)
	}
}

// Health reads the buffer's own measure of full — pages in use against
// what the bound leaves them — and speaks up before the buffer pushes back.
func TestHealthReportsANearlyFullBuffer(t *testing.T) {
	s := &scriptSender{down: true}
	o := newOut(t, t.TempDir(), s, &deadList{}, Config{BatchSize: 1, BatchBytes: 1024, Buffer: BufferConfig{MaxBytes: 4 << 20}})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		o.Close(ctx)
	}()
	if err := o.Health(); err != nil {
		t.Fatalf("empty buffer: %v", err)
	}
	var before int64
	for i := 0; o.Health() == nil; i += 20 {
		before, _ = o.BufferUsage()
		consume(t, o, fatBatch(i, 20, 4000))
		if i > 2000 {
			t.Fatal("4MiB of buffer took 2000 records of 4KB without Health saying it is nearly full")
		}
	}
	used, capacity := o.BufferUsage()
	if used*10 < capacity*9 || before*10 >= capacity*9 {
		t.Fatalf("Health failed at %d of %d bytes, after %d", used, capacity, before)
	}
	if err := o.Health(); err == nil || !strings.Contains(err.Error(), "% full") {
		t.Fatalf("Health() = %v, want a nearly-full buffer", err)
	}
	// Nearly full, not yet full: the buffer still takes a batch.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	b := fatBatch(5000, 20, 4000)
	b.Arm(1, 1, func(uint64) {})
	if err := o.Consume(ctx, b); err != nil {
		t.Fatalf("Consume at %d%% full: %v", used*100/capacity, err)
	}
}

// A batch waiting for room is back-pressure on the inputs: Health says so
// after pushBackAfter, even where the buffer is below 90% (large batches
// stop fitting well before that).
func TestHealthReportsBackPressure(t *testing.T) {
	s := &scriptSender{down: true}
	o := newOut(t, t.TempDir(), s, &deadList{}, Config{BatchSize: 400, BatchBytes: 4 << 20, Buffer: BufferConfig{MaxBytes: 4 << 20}})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		o.Close(ctx)
	}()
	// Fill until a batch no longer fits: Consume waits.
	var waiting error
	for i := 0; waiting == nil; i += 300 {
		if i > 3000 {
			t.Fatal("4MiB of buffer took 3000 records of 4KB")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		b := fatBatch(i, 300, 4000)
		b.Arm(1, 1, func(uint64) {})
		waiting = o.Consume(ctx, b)
		cancel()
	}
	used, capacity := o.BufferUsage()
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		b := fatBatch(9000, 300, 4000)
		b.Arm(1, 1, func(uint64) {})
		done <- o.Consume(ctx, b)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := o.Health()
		if err != nil && strings.Contains(err.Error(), "inputs wait") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a batch waited %s at %d%% used; Health() = %v", 5*time.Second, used*100/capacity, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	// The batches Consume took before still wait for room in the
	// committer, so Health goes on reporting the back-pressure: the
	// inputs would wait at the next batch.
}

type deadList = deliverytest.DeadLetters

// While the destination is down the output says since when, how many
// requests failed in a row and how long the oldest buffered record has
// waited; once it answers, the failure count and start clear and the
// last success is set.
func TestDestinationHealthWhileDownAndAfter(t *testing.T) {
	s := &scriptSender{down: true}
	o := newOut(t, t.TempDir(), s, &deadList{}, Config{})
	defer o.Close(context.Background())
	st := o.Stats()
	if o.OldestBuffered() != 0 || st.LastSuccess.Load() != 0 || st.FailingSince.Load() != 0 {
		t.Fatal("a new output reports a history")
	}
	start := time.Now()
	consume(t, o, mkBatch(0, 3))
	waitUntil(t, func() bool { return st.ConsecutiveFailures.Load() >= 3 })
	time.Sleep(20 * time.Millisecond)
	if since := time.Unix(0, st.FailingSince.Load()); since.Before(start) || time.Since(since) < 20*time.Millisecond {
		t.Errorf("failing since %v, want after %v and at least 20ms ago", since, start)
	}
	if age := o.OldestBuffered(); age < 20*time.Millisecond || age > time.Since(start) {
		t.Errorf("oldest buffered record %v old, want between 20ms and %v", age, time.Since(start))
	}
	s.mu.Lock()
	s.down = false
	s.mu.Unlock()
	waitUntil(t, func() bool { return len(s.got()) == 3 })
	waitUntil(t, func() bool { return o.OldestBuffered() == 0 })
	if st.ConsecutiveFailures.Load() != 0 || st.FailingSince.Load() != 0 || st.LastSuccess.Load() < start.UnixNano() {
		t.Errorf("after recovery: %d failures, failing since %d, last success %d", st.ConsecutiveFailures.Load(), st.FailingSince.Load(), st.LastSuccess.Load())
	}
}
