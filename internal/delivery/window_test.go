package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/buffer"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
)

// failingAppender fails every append while failing is set, writing
// nothing, as a disk that refuses the write would.
type failingAppender struct {
	q       *buffer.Queue
	failing atomic.Bool
	tries   atomic.Int32
}

func (f *failingAppender) Append(ctx context.Context, items [][]byte) error {
	f.tries.Add(1)
	if f.failing.Load() {
		return errors.New("input/output error")
	}
	return f.q.Append(ctx, items)
}

// A commit that fails acknowledges nothing: neither the batches it held
// nor later ones, which Consume refuses (the runner retries them) while
// the committer retries its own. Once the disk takes writes again every
// batch taken is acknowledged, in order, and delivered in order.
func TestFailedCommitAcknowledgesNothing(t *testing.T) {
	s := &scriptSender{}
	o := newOut(t, t.TempDir(), s, &deadList{}, Config{})
	defer o.Close(context.Background())
	app := &failingAppender{q: o.q}
	app.failing.Store(true)
	o.app = app

	var mu sync.Mutex
	var acked []uint64
	take := func(seq uint64, from int) error {
		b := mkBatch(from, 2)
		b.Arm(seq, 1, func(seq uint64) { mu.Lock(); acked = append(acked, seq); mu.Unlock() })
		return o.Consume(context.Background(), b)
	}
	if err := take(1, 0); err != nil {
		t.Fatalf("the first batch is taken before its commit: %v", err)
	}
	waitUntil(t, func() bool { return app.tries.Load() >= 2 })
	err := take(2, 2)
	if err == nil {
		t.Fatal("Consume took a batch while the commits fail")
	}
	mu.Lock()
	if len(acked) != 0 {
		t.Fatalf("acknowledged %v with every commit failing", acked)
	}
	mu.Unlock()
	if n, _ := o.Buffered(); n != 0 {
		t.Fatalf("%d records in the buffer", n)
	}

	app.failing.Store(false)
	waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) == 1 })
	// The runner calls Consume again with the batch it refused.
	if err := take(2, 2); err != nil {
		t.Fatal(err)
	}
	if err := take(3, 4); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return len(s.got()) == 6 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(acked, []uint64{1, 2, 3}) {
		t.Fatalf("acknowledged %v", acked)
	}
	if got := s.got(); !slices.Equal(got, []string{"r000", "r001", "r002", "r003", "r004", "r005"}) {
		t.Fatalf("delivered %v", got)
	}
}

// Many batches taken at once are written together, acknowledged in the
// order Consume got them, and sent in that order (one request in flight).
func TestGroupCommitKeepsOrder(t *testing.T) {
	s := &scriptSender{}
	o := newOut(t, t.TempDir(), s, &deadList{}, Config{BatchSize: 7})
	defer o.Close(context.Background())
	app := &failingAppender{q: o.q}
	o.app = app
	var mu sync.Mutex
	var acked []uint64
	const batches = 50
	for i := range batches {
		b := mkBatch(3*i, 3)
		b.Arm(uint64(i+1), 1, func(seq uint64) { mu.Lock(); acked = append(acked, seq); mu.Unlock() })
		if err := o.Consume(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { return len(s.got()) == 3*batches })
	mu.Lock()
	defer mu.Unlock()
	for i, seq := range acked {
		if seq != uint64(i+1) {
			t.Fatalf("acknowledged out of order: %v", acked)
		}
	}
	for i, r := range s.got() {
		if r != fmt.Sprintf("r%03d", i) {
			t.Fatalf("record %d is %s", i, r)
		}
	}
	t.Logf("%d batches in %d commits", batches, app.tries.Load())
}

// gateSender holds the request carrying the first record until released,
// and accepts the others at once.
type gateSender struct {
	first   string
	release chan struct{}
	mu      sync.Mutex
	got     []string
}

func (g *gateSender) Send(ctx context.Context, items [][]byte) Result {
	if string(items[0]) == g.first {
		select {
		case <-g.release:
		case <-ctx.Done():
			return Result{Err: ctx.Err()}
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, it := range items {
		g.got = append(g.got, string(it))
	}
	return Result{}
}

func (g *gateSender) received() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.got)
}

// With requests in flight, one done before an earlier one removes
// nothing: the buffer gives up entries only in order. Released, the first
// request removes both. Stopped instead (a crash, or Close at the end of
// its drain time), the next start sends again what was not removed: the
// held request's records and those after it.
func TestWindowRemovesInOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release bool
	}{
		{"first finishes last", true},
		{"stopped before the first finishes", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			g := &gateSender{first: "r000", release: make(chan struct{})}
			o := newOut(t, dir, g, &deadList{}, Config{BatchSize: 2, MaxInFlight: 4})
			if !consume(t, o, mkBatch(0, 2)) || !consume(t, o, mkBatch(2, 2)) {
				t.Fatal("not acknowledged")
			}
			waitUntil(t, func() bool { return len(g.received()) == 2 })
			if got := g.received(); !slices.Equal(got, []string{"r002", "r003"}) {
				t.Fatalf("received %v", got)
			}
			time.Sleep(20 * time.Millisecond)
			if n, _ := o.Buffered(); n != 4 {
				t.Fatalf("%d records buffered while the first request is out; want all 4", n)
			}
			if tc.release {
				close(g.release)
				waitUntil(t, func() bool { n, _ := o.Buffered(); return n == 0 })
				o.Close(context.Background())
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			o.Close(ctx)
			cancel()

			s := &scriptSender{}
			o = newOut(t, dir, s, &deadList{}, Config{BatchSize: 2})
			defer o.Close(context.Background())
			waitUntil(t, func() bool { return len(s.got()) == 4 })
			if got := s.got(); !slices.Equal(got, []string{"r000", "r001", "r002", "r003"}) {
				t.Fatalf("after the restart received %v", got)
			}
		})
	}
}

// The window keeps at most MaxInFlight requests out, however many
// batches are waiting.
func TestWindowBound(t *testing.T) {
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	s := senderFunc(func(ctx context.Context, items [][]byte) Result {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-release:
		case <-ctx.Done():
			return Result{Err: ctx.Err()}
		}
		return Result{}
	})
	o := newOut(t, t.TempDir(), s, &deadList{}, Config{BatchSize: 1, MaxInFlight: 3})
	defer o.Close(context.Background())
	for i := range 10 {
		b := mkBatch(i, 1)
		b.Arm(uint64(i+1), 1, func(uint64) {})
		if err := o.Consume(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { return inFlight.Load() == 3 })
	time.Sleep(30 * time.Millisecond)
	if m := most.Load(); m != 3 {
		t.Fatalf("%d requests in flight, max_in_flight 3", m)
	}
	close(release)
	waitUntil(t, func() bool { n, _ := o.Buffered(); return n == 0 })
}

type senderFunc func(ctx context.Context, items [][]byte) Result

func (f senderFunc) Send(ctx context.Context, items [][]byte) Result { return f(ctx, items) }

// Consume after Close is refused, so the runner does not count it taken.
func TestConsumeAfterClose(t *testing.T) {
	o := newOut(t, t.TempDir(), &scriptSender{}, &deadList{}, Config{})
	o.Close(context.Background())
	b := mkBatch(0, 1)
	b.Arm(1, 1, func(uint64) { t.Error("acknowledged after Close") })
	if err := o.Consume(context.Background(), b); !errors.Is(err, ErrClosed) {
		t.Fatalf("Consume after Close: %v", err)
	}
}

// failingReader fails the first reads, handing out nothing, as a disk
// that fails a read would.
type failingReader struct {
	q     *buffer.Queue
	fails atomic.Int32
}

func (f *failingReader) Read(ctx context.Context, maxItems, maxBytes int, linger time.Duration) ([]buffer.Entry, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("read segment: input/output error")
	}
	return f.q.Read(ctx, maxItems, maxBytes, linger)
}

// A failed read of the buffer does not end the sending: it is logged and
// read again, and every record still arrives, once and in order.
func TestFailedReadIsRetried(t *testing.T) {
	defer func(d time.Duration, r func(*buffer.Queue) reader) { readRetry, readerOf = d, r }(readRetry, readerOf)
	readRetry = 10 * time.Millisecond
	fr := &failingReader{}
	fr.fails.Store(3)
	readerOf = func(q *buffer.Queue) reader { fr.q = q; return fr }
	s := &scriptSender{}
	logs := &deliverytest.LogBuffer{}
	o, err := New("test", Config{FlushInterval: 5 * time.Millisecond, MaxInFlight: 1}, Deps{DataDir: t.TempDir(), DeadLetters: &deadList{}, Log: slog.New(slog.NewTextHandler(logs, nil))}, rawEncoder{}, s)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	for i := range 3 {
		b := mkBatch(i*2, 2)
		b.Arm(uint64(i+1), 1, func(uint64) {})
		if err := o.Consume(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { return len(s.got()) == 6 })
	if got := s.got(); !slices.Equal(got, []string{"r000", "r001", "r002", "r003", "r004", "r005"}) {
		t.Fatalf("delivered %v", got)
	}
	if n := strings.Count(logs.String(), "output buffer: reading failed; retrying"); n != 3 {
		t.Fatalf("%d failed reads logged, want 3:\n%s", n, logs.String())
	}
}

// retryAll is an outcome that asks for all n items again.
func retryAll(n int) Result {
	retry := make([]int, n)
	for i := range retry {
		retry[i] = i
	}
	return Result{Retry: retry}
}

// gaplessSender is one ordered stream with a destination that, like a
// Kafka partition under an idempotent producer, fails everything handed
// over after a failed request until something is sent again.
type gaplessSender struct {
	mu      sync.Mutex
	written []string
	starts  int
	failAt  map[int]bool // requests (by start) that fail
	broken  bool
}

func (g *gaplessSender) Start(_ context.Context, items [][]byte) func() Result {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.starts++
	fail := g.broken || g.failAt[g.starts]
	g.broken = fail
	if !fail {
		for _, it := range items {
			g.written = append(g.written, string(it))
		}
	}
	return func() Result {
		time.Sleep(time.Millisecond) // outcomes come later than handovers
		if !fail {
			return Result{}
		}
		return retryAll(len(items))
	}
}

func (g *gaplessSender) Send(_ context.Context, items [][]byte) Result {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.broken = false
	for _, it := range items {
		g.written = append(g.written, string(it))
	}
	return Result{}
}

// With an ordered sender and several requests in flight, requests are
// handed over in buffer order, and what fails is sent again before any
// request handed over after it: the destination holds every record once,
// in order, however many requests failed.
func TestOrderedWindowSendsFailuresAgainFirst(t *testing.T) {
	g := &gaplessSender{failAt: map[int]bool{2: true, 5: true, 6: true, 11: true}}
	o := newOut(t, t.TempDir(), g, &deadList{}, Config{MaxInFlight: 4, BatchSize: 5})
	var want []string
	for b := range 12 {
		batch := mkBatch(b*10, 10)
		for _, r := range batch.Records {
			want = append(want, string(r.Raw))
		}
		if err := o.Consume(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.written) >= len(want) })
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !slices.Equal(g.written, want) {
		t.Errorf("written\n%v\nwant\n%v", g.written, want)
	}
	if g.starts < 24 {
		t.Errorf("%d requests started for 120 records of 5 each", g.starts)
	}
}

// pickySender fails the first outcome of every request but those starting
// with one item, and is slow to send again the request starting with
// another: a later request's retry must still wait for it.
type pickySender struct {
	mu        sync.Mutex
	written   []string
	succeeds  string // the first item of the request that goes through
	slowRetry string // the first item of the request slow to send again
}

func (s *pickySender) write(items [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range items {
		s.written = append(s.written, string(it))
	}
}

func (s *pickySender) Start(_ context.Context, items [][]byte) func() Result {
	ok := string(items[0]) == s.succeeds
	if ok {
		s.write(items)
	}
	return func() Result {
		time.Sleep(5 * time.Millisecond)
		if ok {
			return Result{}
		}
		return retryAll(len(items))
	}
}

func (s *pickySender) Send(_ context.Context, items [][]byte) Result {
	if string(items[0]) == s.slowRetry {
		time.Sleep(150 * time.Millisecond)
	}
	s.write(items)
	return Result{}
}

// Three requests in flight: the first fails and is slow to go again, the
// second goes through, the third fails. The third's retry waits for the
// first's, not only for the second (which was done long before).
func TestOrderedRetriesWaitForEveryEarlierRequest(t *testing.T) {
	s := &pickySender{succeeds: "r002", slowRetry: "r000"}
	o := newOut(t, t.TempDir(), s, &deadList{}, Config{MaxInFlight: 4, BatchSize: 2, FlushInterval: 50 * time.Millisecond})
	for b := range 3 {
		if err := o.Consume(context.Background(), mkBatch(b*2, 2)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.written) >= 6 })
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if want := []string{"r002", "r003", "r000", "r001", "r004", "r005"}; !slices.Equal(s.written, want) {
		t.Errorf("written %v, want %v", s.written, want)
	}
}
