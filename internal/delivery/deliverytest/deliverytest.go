// Package deliverytest has the test doubles that the output packages'
// tests share, as net/http/httptest does for handlers.
package deliverytest

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
)

// DeadLetters collects what an output dead-letters (a delivery.DeadLetters).
// Safe for concurrent use.
type DeadLetters struct {
	mu      sync.Mutex
	reasons []string
	data    []string
	origins []string
}

// Write records one dead letter.
func (d *DeadLetters) Write(_, origin, reason string, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons = append(d.reasons, reason)
	d.data = append(d.data, string(data))
	d.origins = append(d.origins, origin)
	return nil
}

// Len is how many dead letters were written.
func (d *DeadLetters) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.reasons)
}

// Reasons, Data and Origins return copies of what was written, in order.
func (d *DeadLetters) Reasons() []string { return d.copy(&d.reasons) }

// Data returns the dead-lettered records.
func (d *DeadLetters) Data() []string { return d.copy(&d.data) }

// Origins returns where each dead-lettered record came from.
func (d *DeadLetters) Origins() []string { return d.copy(&d.origins) }

func (d *DeadLetters) copy(s *[]string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(*s)
}

// LogBuffer is a goroutine-safe log sink for slog handlers.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// WaitFor polls cond until it holds, failing t after 20 s with what it
// was waiting for: deliveries are asynchronous, and a fixed sleep is either
// flaky or slow.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Consumer is an output as the runner sees it (a batch.Output).
type Consumer interface {
	Consume(ctx context.Context, b *batch.Batch) error
}

// ConsumeAcked hands b to out, as the runner does, and waits until b is
// acknowledged or ctx ends. Consume returns once it has taken the batch;
// the acknowledgement follows once the batch is on disk (delivery's group
// commit), so a test of "acknowledged once buffered" waits for it. err is
// Consume's error, or ctx's if the acknowledgement did not come in time
// (the batch may then still be queued for the disk buffer: a full buffer).
func ConsumeAcked(ctx context.Context, out Consumer, b *batch.Batch, seq uint64) (acked bool, err error) {
	done := make(chan struct{})
	b.Arm(seq, 1, func(uint64) { close(done) })
	if err := out.Consume(ctx, b); err != nil {
		select {
		case <-done:
			return true, err
		default:
			return false, err
		}
	}
	select {
	case <-done:
		return true, nil
	case <-ctx.Done():
		select {
		case <-done:
			return true, nil
		default:
			return false, ctx.Err()
		}
	}
}
