package graphapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
)

// fakeClock is a settable clock for the host's side and Graph's.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// GraphNow follows the Date header of Graph's answers, not the host's
// clock: Graph ahead of the host, behind it, or in step; an error answer
// counts too; between answers it moves with the host's elapsed time, and
// a host clock stepped back does not take it back.
func TestGraphNow(t *testing.T) {
	tests := []struct {
		name string
		skew time.Duration // Graph's clock minus the host's
	}{
		{"in step", 0},
		{"host an hour ahead of Graph", -time.Hour},
		{"host an hour behind Graph", time.Hour},
		{"host a day ahead, sub-second skew", -24*time.Hour - 400*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := graphtest.New(t)
			host := &fakeClock{t: t0}
			srv.SetClock(func() time.Time { return host.now().Add(tt.skew) })
			c, err := graphapi.New(srv.Config(), slog.New(slog.DiscardHandler), graphapi.WithHostClock(host.now))
			if err != nil {
				t.Fatal(err)
			}
			if g, ok := c.GraphNow(); ok {
				t.Fatalf("GraphNow before any answer: %s, ok", g)
			}
			if err := c.Get(context.Background(), "/v1.0/auditLogs/signIns", nil, nil); err != nil {
				t.Fatal(err)
			}
			// The Date header counts whole seconds: GraphNow is Graph's
			// clock rounded down, never ahead of it.
			want := t0.Add(tt.skew).Truncate(time.Second)
			if g, ok := c.GraphNow(); !ok || !g.Equal(want) {
				t.Fatalf("GraphNow %s, %v; want %s", g, ok, want)
			}
			host.add(90 * time.Second)
			if g, _ := c.GraphNow(); !g.Equal(want.Add(90 * time.Second)) {
				t.Errorf("90 s later GraphNow %s, want %s", g, want.Add(90*time.Second))
			}
			host.add(-10 * time.Minute) // the host's clock stepped back
			if g, _ := c.GraphNow(); g.Before(want) {
				t.Errorf("a host clock stepped back took GraphNow back to %s, before the last Date %s", g, want)
			}
			// An error answer carries Graph's clock too.
			srv.Deny("/v1.0/users", "")
			host.add(time.Hour)
			if err := c.Get(context.Background(), "/v1.0/users", nil, nil); !graphapi.IsForbidden(err) {
				t.Fatalf("want 403, got %v", err)
			}
			want = host.now().Add(tt.skew).Truncate(time.Second)
			if g, _ := c.GraphNow(); !g.Equal(want) {
				t.Errorf("after a 403 GraphNow %s, want %s", g, want)
			}
		})
	}
}

// Without SetClock the fake sends net/http's Date, the host's clock; a
// client on the real clock reads it within a second and a round trip.
func TestGraphNowRealClock(t *testing.T) {
	srv := graphtest.New(t)
	c, err := graphapi.New(srv.Config(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := c.Get(context.Background(), "/v1.0/auditLogs/signIns", nil, nil); err != nil {
		t.Fatal(err)
	}
	g, ok := c.GraphNow()
	if now := time.Now(); !ok || g.After(now) || g.Before(before.Add(-time.Second)) {
		t.Errorf("GraphNow %s, %v; the request ran from %s to %s", g, ok, before.Format(http.TimeFormat), now.Format(http.TimeFormat))
	}
}
