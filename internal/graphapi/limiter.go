package graphapi

import (
	"context"
	"sync"
	"time"
)

// reportsWindow is the period Microsoft states the reports API limit in.
const reportsWindow = 10 * time.Second

// windowLimiter lets at most n requests start in any period of length
// window: a request waits until the n-th most recent one is window old.
//
// A token bucket with burst n would not do: after a full burst it refills
// while the window is still open, and lets nearly 2n requests through in
// one window, which is what the service counts.
type windowLimiter struct {
	n      int
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	starts []time.Time // the last n grants, oldest first
}

func newWindowLimiter(n int, window time.Duration) *windowLimiter {
	return &windowLimiter{n: n, window: window, now: time.Now}
}

// Wait blocks until a request may start, or ctx ends.
func (l *windowLimiter) Wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := l.now()
		for len(l.starts) > 0 && now.Sub(l.starts[0]) >= l.window {
			l.starts = l.starts[1:]
		}
		if len(l.starts) < l.n {
			l.starts = append(l.starts, now)
			l.mu.Unlock()
			return nil
		}
		wait := l.starts[0].Add(l.window).Sub(now)
		l.mu.Unlock()

		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
