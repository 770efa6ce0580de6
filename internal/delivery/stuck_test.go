package delivery

// Stuck destinations (issue 16), as the delivery machinery sees them: a
// Send that does not come back. The outputs' stuck_test.go run the same
// against real peers; here the Sender is a double, so the back-off can be
// followed to its cap, and a Send that never times out by itself (a
// Kafka produce in flight) can be shown.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/buffer"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
)

// stuckSender takes every batch and does not answer: a Send fails after
// timeout (0: it waits until its context ends), until answer; from then on
// it accepts, noting the items in the order they came.
type stuckSender struct {
	timeout   time.Duration
	answering chan struct{}
	once      sync.Once

	mu      sync.Mutex
	starts  []time.Time
	stopped int // Sends that returned because their context ended
	got     []string
}

func newStuckSender(timeout time.Duration) *stuckSender {
	return &stuckSender{timeout: timeout, answering: make(chan struct{})}
}

func (s *stuckSender) Send(ctx context.Context, items [][]byte) Result {
	s.mu.Lock()
	s.starts = append(s.starts, time.Now())
	s.mu.Unlock()
	var expired <-chan time.Time
	if s.timeout > 0 {
		t := time.NewTimer(s.timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-s.answering:
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, it := range items {
			s.got = append(s.got, string(it))
		}
		return Result{}
	case <-expired:
		return Result{Err: fmt.Errorf("request timed out after %v", s.timeout)}
	case <-ctx.Done():
		s.mu.Lock()
		s.stopped++
		s.mu.Unlock()
		return Result{Err: ctx.Err()}
	}
}

func (s *stuckSender) answer() { s.once.Do(func() { close(s.answering) }) }

func (s *stuckSender) state() (starts []time.Time, stopped int, got []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.starts), s.stopped, slices.Clone(s.got)
}

type stuckEncoder struct{}

func (stuckEncoder) Encode(dst []byte, rec *entra.Record, _ []byte) ([]byte, error) {
	return append(dst, rec.Raw...), nil
}

// stuckBatch is records from…from+n-1 of 1 KiB, each starting with its number.
func stuckBatch(from, n int) (*batch.Batch, *bool) {
	b := &batch.Batch{}
	for i := from; i < from+n; i++ {
		raw := fmt.Appendf(nil, "%06d ", i)
		raw = append(raw, make([]byte, 1024-len(raw))...)
		b.Records = append(b.Records, &entra.Record{Raw: raw, Origin: fmt.Sprintf("stuck:%d", i)})
	}
	acked := new(bool)
	b.Arm(uint64(from+1), 1, func(uint64) { *acked = true })
	return b, acked
}

// A Send that times out is retried with an exponential back-off up to
// max_backoff, every failure counted; one that waits until it is stopped
// is one attempt in flight (nothing counts as failed: only the oldest
// buffered record's age tells). Either way the buffer fills to its bound
// and pushes back without dropping anything, Close stops the Send in
// flight at the drain time, the records stay in the buffer file, and the
// next start delivers them in order once the destination answers.
func TestStuckSender(t *testing.T) {
	const (
		drain      = 300 * time.Millisecond
		maxBackoff = 400 * time.Millisecond
		slack      = 2 * time.Second // a loaded 2-core machine
	)
	cases := []struct {
		name    string
		timeout time.Duration
	}{
		{"times out", 200 * time.Millisecond},
		{"hangs until stopped", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{MaxInFlight: 1, BatchSize: 10, BatchBytes: 64 << 10, FlushInterval: time.Millisecond, MaxBackoff: maxBackoff, Buffer: BufferConfig{MaxBytes: 1 << 20}}
			logs, dead := &deliverytest.LogBuffer{}, &deliverytest.DeadLetters{}
			send := newStuckSender(tc.timeout)
			out, err := New("stuck", cfg, Deps{DataDir: dir, DeadLetters: dead, Log: slog.New(slog.NewTextHandler(logs, nil))}, stuckEncoder{}, send)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				out.Close(ctx)
			})

			// The buffer fills to its bound, then pushes back.
			n := 0
			for {
				b, _ := stuckBatch(n, 5)
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				acked, err := deliverytest.ConsumeAcked(ctx, out, b, uint64(n+1))
				cancel()
				if err != nil {
					if acked {
						t.Fatal("a batch the buffer did not take was acknowledged")
					}
					if out.Health() != nil {
						break
					}
					continue // a slow disk
				}
				n += 5
				if n > 5000 {
					t.Fatal("the buffer never pushed back")
				}
			}
			b, _ := stuckBatch(n, 5)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			began := time.Now()
			acked, err := deliverytest.ConsumeAcked(ctx, out, b, uint64(n+1))
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || acked || time.Since(began) < 250*time.Millisecond {
				t.Fatalf("a full buffer returned %v after %v (acked %v); want it to wait", err, time.Since(began), acked)
			}
			if k, _ := out.Buffered(); k != n {
				t.Fatalf("%d records buffered, %d acknowledged", k, n)
			}

			st := out.Stats()
			if tc.timeout > 0 {
				const failures = 5 // the back-off reaches max_backoff
				deliverytest.WaitFor(t, "failures", func() bool { return st.ConsecutiveFailures.Load() >= failures })
				starts, _, _ := send.state()
				var waits []time.Duration
				for _, m := range regexp.MustCompile(`retry_in=(\S+)`).FindAllStringSubmatch(logs.String(), -1) {
					d, _ := time.ParseDuration(m[1])
					waits = append(waits, d)
				}
				if len(starts) < failures || len(waits) < failures-1 {
					t.Fatalf("%d attempts, %d back-offs logged", len(starts), len(waits))
				}
				for i := range failures - 1 {
					hi := min(100*time.Millisecond<<i, maxBackoff)
					if waits[i] < hi/2 || waits[i] > hi {
						t.Errorf("back-off %d is %v, want %v…%v", i+1, waits[i], hi/2, hi)
					}
					// The next attempt waited for this one's timeout and the back-off.
					if d := starts[i+1].Sub(starts[i]); d < tc.timeout+waits[i] || d > tc.timeout+waits[i]+slack {
						t.Errorf("attempt %d began %v after attempt %d (timeout %v, back-off %v)", i+2, d, i+1, tc.timeout, waits[i])
					}
				}
				if st.Retries.Load() < failures || st.FailingSince.Load() == 0 {
					t.Errorf("retries %d, failing since %d", st.Retries.Load(), st.FailingSince.Load())
				}
			} else {
				deliverytest.WaitFor(t, "the oldest record waiting", func() bool { return out.OldestBuffered() > 2*drain })
				if starts, _, _ := send.state(); len(starts) != 1 || st.ConsecutiveFailures.Load() != 0 || st.FailingSince.Load() != 0 {
					t.Errorf("%d attempts, %d failures counted for one Send in flight", len(starts), st.ConsecutiveFailures.Load())
				}
			}
			if st.LastSuccess.Load() != 0 || st.Sent.Load() != 0 || st.DeadLettered.Load() != 0 || dead.Len() != 0 {
				t.Errorf("last success %d, sent %d, dead letters %v", st.LastSuccess.Load(), st.Sent.Load(), dead.Reasons())
			}
			if err := out.Health(); err == nil {
				t.Error("Health is nil with the buffer full")
			}

			// Close stops the Send in flight at the drain time.
			_, stopped, _ := send.state()
			ctx, cancel = context.WithTimeout(context.Background(), drain)
			began = time.Now()
			out.Close(ctx)
			cancel()
			if el := time.Since(began); el < drain*9/10 || el > drain+slack {
				t.Errorf("Close took %v with drain %v", el, drain)
			}
			if _, after, _ := send.state(); tc.timeout == 0 && after != stopped+1 {
				t.Errorf("the Send in flight was not stopped by Close")
			}
			q, err := buffer.Open(filepath.Join(dir, "buffers", "stuck"), int64(cfg.Buffer.MaxBytes))
			if err != nil {
				t.Fatal(err)
			}
			if q.Len() != n {
				t.Errorf("the buffer file holds %d records after Close, want %d", q.Len(), n)
			}
			q.Close()

			// Started again with the destination answering: in order.
			send.answer()
			out, err = New("stuck", cfg, Deps{DataDir: dir, DeadLetters: dead, Log: slog.New(slog.NewTextHandler(logs, nil))}, stuckEncoder{}, send)
			if err != nil {
				t.Fatal(err)
			}
			st = out.Stats()
			deliverytest.WaitFor(t, "the backlog delivered", func() bool { k, _ := out.Buffered(); return k == 0 && st.Sent.Load() == int64(n) })
			_, _, got := send.state()
			if len(got) != n {
				t.Fatalf("%d records delivered, want %d", len(got), n)
			}
			for i, g := range got {
				if want := fmt.Sprintf("%06d ", i); g[:len(want)] != want {
					t.Fatalf("record %d is %.7q", i, g)
				}
			}
			ctx, cancel = context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := out.Close(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}
