package monitor

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// wallClock is the host's clock of a State (StateOptions.Now).
type wallClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *wallClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *wallClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

const year = 365 * 24 * time.Hour

// keysOf are the keys a monitor holds in the store.
func (r *stateRig) keysOf() []string {
	r.t.Helper()
	var keys []string
	if err := r.st.ForEach(r.s.order[0].bucket, func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	}); err != nil {
		r.t.Fatal(err)
	}
	return keys
}

// A record dated a year ahead in the middle of a normal stream (the host's
// clock on time) is judged on its own time — a burst of them fires, a new
// value fires — but expires nobody's state and makes no later record of
// its key look too old to count: the monitor's newest event time and the
// key's stay within max_skew of the host's clock.
func TestFutureRecord(t *testing.T) {
	m := time.Minute
	cases := []struct {
		name    string
		monitor string
		recs    []*entra.Record
		want    []string
		keys    int
	}{
		{"threshold", badPasswords, slices.Concat(
			burst("a", "u1", 0, m, 4),
			burst("b", "u2", 0, m, 4),
			burst("future", "u1", year, m, 1),                                   // u1's own key
			burst("f", "u3", year, m, 5),                                        // a burst next year: fires on its fifth
			[]*entra.Record{failure("a5", "u1", 4*m), failure("b5", "u2", 5*m)}, // complete today's bursts
		), []string{"f004", "a5", "b5"}, 3},
		{"first_seen", newDevice, []*entra.Record{
			signin("a", "u1", "dev1", "DE", 0),
			signin("b", "u2", "dev2", "DE", 0),
			signin("future", "u1", "dev9", "DE", year), // a new device, judged as such
			signin("c", "u1", "dev1", "DE", 50*time.Hour),
			signin("d", "u1", "dev1", "DE", 51*time.Hour),
			signin("e", "u2", "dev2", "DE", 52*time.Hour),
		}, []string{"future"}, 2},
		{"correlate", accountCreated, []*entra.Record{
			audit("a", "Add user", "t1", 0),
			audit("b", "Add user", "t2", 0),
			audit("future", "Add member to role", "t1", year), // nothing within the hour
			audit("c", "Add member to role", "t1", 21*m),
			audit("d", "Delete user", "t2", 30*m),
			audit("e", "Add user", "t3", year),
			audit("f", "Add member to role", "t3", year+5*m), // a pair next year: fires
		}, []string{"c", "d", "f"}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wall := &wallClock{t: t0.Add(3 * 24 * time.Hour)}
			logs := &strings.Builder{}
			r := newRig(t, c.monitor, StateOptions{Now: wall.now, Log: slog.New(slog.NewTextHandler(logs, nil))})
			if got := r.each(c.recs...); !slices.Equal(got, c.want) {
				t.Errorf("hits on %v, want %v", got, c.want)
			}
			ms := r.s.order[0]
			if w, bound := ms.meta.watermark, wall.now().Add(time.Hour).UnixMilli(); w > bound {
				t.Errorf("newest event time %s, past the host's clock + max_skew %s", time.UnixMilli(w).UTC(), time.UnixMilli(bound).UTC())
			}
			if n := len(r.keysOf()); n != c.keys {
				t.Errorf("%d keys stored, want %d: %v", n, c.keys, r.keysOf())
			}
			if !strings.Contains(logs.String(), "level=WARN msg=\"a record is dated more than max_skew ahead of the host's clock") {
				t.Errorf("no warning about the record in the future:\n%s", logs)
			}
			r.restart()
			if w := r.s.order[0].meta.watermark; w > wall.now().Add(time.Hour).UnixMilli() {
				t.Errorf("stored newest event time %s", time.UnixMilli(w).UTC())
			}
		})
	}
}

// A record dated two years back (replayed) in the middle of a normal
// stream is judged in its own window: a burst of them for a user with no
// state today fires there, and a pair of them correlates; it neither
// counts in today's windows nor disturbs today's state, does not end
// first_seen's learning, and a value only it carries is not known to a
// record of today (the stale key is not resurrected).
func TestPastRecord(t *testing.T) {
	m, d := time.Minute, 24*time.Hour
	past := -2 * year
	cases := []struct {
		name    string
		monitor string
		batches [][]*entra.Record
		want    []string
		later   *entra.Record // a record 11 days on, whose batch's sweep removes…
		gone    []string      // … the keys only the past records made
	}{
		{"threshold", badPasswords, [][]*entra.Record{
			burst("a", "u1", 0, m, 4),
			burst("old", "u1", past, m, 5), // beyond u1's lateness: not counted with today's, nor today's with it
			burst("p", "u9", past, m, 6),   // no state today: judged in its own window
			{failure("a5", "u1", 4*m)},
		}, []string{"p004", "a5"}, failure("later", "u5", 11*d), []string{"u9"}},
		{"first_seen learning", newDevice7d, [][]*entra.Record{
			{signin("a", "u1", "dev1", "DE", 0), signin("b", "u1", "dev2", "DE", d)},
			{signin("old", "u2", "devX", "FR", past)}, // must not end the learning begun at t0
			{signin("c", "u1", "dev3", "DE", 2*d)},    // still learning
			{signin("e", "u1", "dev4", "DE", 8*d)},    // learning over
		}, []string{"e"}, signin("later", "u5", "dev1", "DE", 11*d), []string{"u2"}},
		{"first_seen forgotten value", newDevice7d, [][]*entra.Record{
			{signin("a", "u1", "dev1", "DE", 0)},
			// In one batch: the stale key is still there when today's
			// record is judged; its devOld is two years old, forgotten.
			{signin("old", "u3", "devOld", "DE", past), signin("c", "u3", "devOld", "DE", 9*d)},
		}, []string{"c"}, signin("later", "u5", "dev1", "DE", 11*d), nil},
		{"correlate", accountCreated, [][]*entra.Record{
			{audit("a", "Add user", "t1", 0)},
			{audit("old", "Add user", "t1", past)},
			{audit("op", "Add user", "t2", past), audit("oq", "Add member to role", "t2", past+5*m)},
			{audit("b", "Add member to role", "t1", 20*m)},
			{audit("c", "Add member to role", "t1", 2*time.Hour)}, // the 2-year-old creation pairs with nothing
		}, []string{"oq", "b"}, audit("later", "Add user", "t5", 11*d), []string{"t2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wall := &wallClock{t: t0.Add(10 * d)}
			r := newRig(t, c.monitor, StateOptions{Now: wall.now, Log: slog.New(slog.DiscardHandler)})
			var got []string
			for _, b := range c.batches {
				hits := r.run(b...)
				for _, rec := range b {
					if _, ok := hits[rec.ID]; ok {
						got = append(got, rec.ID)
					}
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("hits on %v, want %v", got, c.want)
			}
			ms := r.s.order[0]
			if ms.meta.start < t0.UnixMilli() {
				t.Errorf("learning starts at %s, moved back by a replayed record", time.UnixMilli(ms.meta.start).UTC())
			}
			r.run(c.later)
			for _, k := range r.keysOf() {
				if slices.Contains(c.gone, k) {
					t.Errorf("key %s of two years ago is still stored", k)
				}
			}
		})
	}
}

const newDevice7d = `
id: test.new_device
title: new device
risk: high
source: signin
when: actor.privileged && signin.status == "success"
reason: [actor.upn]
first_seen:
  values: ["device=signin.deviceDetail.deviceId"]
  learning: 7d
  forget: 30d
`

// The host's clock steps a year forward or back between two runs over one
// store (or an hour, or not at all): state neither expires early — the
// burst begun before the restart completes after it — nor stays forever:
// once event time has moved on past the retention, the old keys expire.
// A record dated two years ahead of the records is still not counted as
// now.
func TestWallClockSteps(t *testing.T) {
	m, h := time.Minute, time.Hour
	for _, tt := range []struct {
		name string
		step time.Duration
	}{
		{"no step", 0},
		{"a year forward", year},
		{"a year back", -year},
		{"an hour forward", h},
		{"an hour back", -h},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wall := &wallClock{t: t0.Add(10 * m)}
			r := newRig(t, badPasswords, StateOptions{Now: wall.now, Log: slog.New(slog.DiscardHandler)})
			if got := r.each(append(burst("a", "u1", 0, m, 4), failure("b", "u2", 0))...); got != nil {
				t.Fatalf("hits on %v before the restart", got)
			}
			wall.set(wall.now().Add(tt.step))
			r.restart()
			if got := r.each(failure("a5", "u1", 4*m)); !slices.Equal(got, []string{"a5"}) {
				t.Errorf("after the restart: hits on %v, want a5 (the burst's state kept)", got)
			}
			if got := r.each(failure("future", "u3", 5*m+2*year)); got != nil {
				t.Errorf("hits on %v", got)
			}
			if ks := r.keysOf(); !slices.Contains(ks, "u1") || !slices.Contains(ks, "u2") {
				t.Errorf("keys %v after a record two years ahead: u1 and u2 expired early", ks)
			}
			// A live stream: one record every half hour, for eight days,
			// the host's clock as far off the records as after the step.
			var stream []*entra.Record
			for i := range 8 * 48 {
				stream = append(stream, failure(fmt.Sprint("s", i), "u4", 10*m+time.Duration(i)*30*m))
			}
			wall.set(t0.Add(8*24*h + 20*m + tt.step))
			r.run(stream...)
			r.run(failure("last", "u4", 8*24*h+20*m))
			if ks := r.keysOf(); !slices.Equal(ks, []string{"u3", "u4"}) && !slices.Equal(ks, []string{"u4"}) {
				t.Errorf("keys %v eight days later, want u4 (and the future u3): the old keys are kept", ks)
			}
			if w := r.s.order[0].meta.watermark; w != t0.Add(8*24*h+20*m).UnixMilli() {
				t.Errorf("newest event time %s, want the stream's last", time.UnixMilli(w).UTC())
			}
		})
	}
}
