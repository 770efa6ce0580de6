package graph

import (
	"fmt"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
)

// stepHost steps the host's wall clock by d (NTP, a resumed VM): Graph's
// clock and the monotonic clock do not move.
func (c *clock) stepHost(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.skew -= d
	c.mu.Unlock()
}

// writer plays Graph writing sign-ins and audits: each record appears 3
// minutes after its event time (within lag), two a minute per stream.
type writer struct {
	e    *env
	next time.Time
	recs []written
}

type written struct {
	id string
	at time.Time
}

// upTo writes the records whose time is before Graph's now − 3m.
func (w *writer) upTo() {
	end := w.e.clk.graph().Add(-3 * time.Minute)
	for ; w.next.Before(end); w.next = w.next.Add(30 * time.Second) {
		s := fmt.Sprintf("s-%d", w.next.Unix())
		a := fmt.Sprintf("a-%d", w.next.Unix())
		w.e.srv.Add(graphtest.SignIns, graphtest.SignIn(s, w.next, "adm@contoso.example"))
		w.e.srv.Add(graphtest.DirectoryAudits, graphtest.DirectoryAudit(a, w.next, "Add member to role"))
		w.recs = append(w.recs, written{s, w.next}, written{a, w.next})
	}
}

// ids are the IDs of the records written with times in [from, to).
func (w *writer) ids(from, to time.Time) []string {
	var out []string
	for _, r := range w.recs {
		if !r.at.Before(from) && r.at.Before(to) {
			out = append(out, r.id)
		}
	}
	return out
}

// A host clock off Graph's — from the start, stepped between two runs,
// or stepped while running, ahead or behind — neither loses, repeats nor
// holds back a record: window ends follow Graph's clock (the Date header
// of its answers), so the cursor never passes Graph's now − lag (records
// Graph has not written yet would be skipped for good), and a host clock
// behind Graph's does not stall the polls.
func TestClockSkew(t *testing.T) {
	t.Parallel()
	const lag = 7 * time.Minute
	tests := []struct {
		name    string
		skew    time.Duration // Graph's clock minus the host's at the first start
		step    time.Duration // the host's clock steps by it before poll 10
		restart bool          // … while privtrail is stopped
	}{
		{"in step", 0, 0, false},
		{"host an hour ahead from the start", -time.Hour, 0, false},
		{"host an hour behind from the start", time.Hour, 0, false},
		{"host steps an hour ahead between two runs", 0, time.Hour, true},
		{"host steps an hour behind between two runs", 0, -time.Hour, true},
		{"host steps an hour ahead while running", 0, time.Hour, false},
		{"host steps an hour behind while running", 0, -time.Hour, false},
		{"host a day ahead, then set right between two runs", -24 * time.Hour, 24 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.clk.setSkew(tt.skew)
			w := &writer{e: e, next: e.clk.graph().Add(-50 * time.Minute)}
			w.upTo()
			cfg := e.config(StreamSignIns, StreamAudits)
			cfg.Backfill = 2 * time.Hour
			var runs []*run
			emitted := func() []string {
				var ids []string
				for _, r := range runs {
					ids = append(ids, r.emittedIDs()...)
				}
				return ids
			}
			// check runs after every poll but the first of a run (whose
			// window end is the host's clock's until an answer tells
			// Graph's: cut back if ahead, short if behind).
			check := func(poll int) {
				t.Helper()
				g := e.clk.graph()
				for _, s := range []string{StreamSignIns, StreamAudits} {
					if c := e.cursor(s); c.After(g.Add(-lag)) {
						t.Fatalf("poll %d: %s cursor %s is past Graph's now − lag %s: records Graph writes later are skipped", poll, s, c, g.Add(-lag))
					}
				}
				got := map[string]bool{}
				for _, id := range emitted() {
					got[id] = true
				}
				for _, rec := range w.recs {
					if rec.at.Before(g.Add(-lag-time.Minute)) && !got[rec.id] {
						t.Fatalf("poll %d: %s (%s) not emitted by Graph's %s (host %s): the polls stall", poll, rec.id, rec.at, g, e.clk.now())
					}
				}
			}
			r := e.start(cfg)
			runs = append(runs, r)
			for poll := 1; poll <= 40; poll++ {
				if poll <= 30 {
					w.upTo()
				}
				if poll == 10 && tt.step != 0 {
					if tt.restart {
						if err := r.stop(); err != nil {
							t.Fatal(err)
						}
						e.reopen()
						e.clk.stepHost(tt.step)
						e.clk.add(time.Minute)
						r = e.start(cfg)
						runs = append(runs, r)
						continue
					}
					e.clk.stepHost(tt.step)
				}
				r.next(time.Minute)
				check(poll)
			}
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			want := w.ids(time.Time{}, e.clk.graph())
			checkOnce(t, "emitted", emitted(), want)
			var committed []string
			for _, r := range runs {
				committed = append(committed, r.committedIDs()...)
			}
			checkOnce(t, "committed", committed, want)
			warned := len(e.logs.lines("level=WARN", "the host's clock is off Graph's")) > 0
			if off := tt.skew != 0 || tt.step != 0; warned != off {
				t.Errorf("skew warning logged: %v, want %v", warned, off)
			}
		})
	}
}

// A cursor stored in the future (written while the host's clock was
// ahead, the clock corrected since) is found at the first poll that knows
// Graph's clock, logged, and moved back to Graph's now − lag: that poll
// reads [now − lag − overlap, now − lag) — instead of nothing for hours —
// and the polls go on from there, every record once.
func TestFutureCursor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		skew       time.Duration // Graph's clock minus the host's
		rewindPoll int           // the poll that finds the cursor in the future
	}{
		// The host's clock says there is nothing to read: one request
		// learns Graph's clock, and the first poll rewinds.
		{"host clock set right", 0, 0},
		// The host's clock is still ahead, past the cursor: the first poll
		// reads from it, learns Graph's clock and moves nothing; the next
		// one rewinds.
		{"host clock still 4h ahead", -4 * time.Hour, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.clk.setSkew(tt.skew)
			g0 := e.clk.graph()
			future := g0.Add(3 * time.Hour)
			for _, s := range []string{StreamSignIns, StreamAudits} {
				if err := e.st.Put(metaBucket, metaKey("aad", s), encodeMeta(future, apiOf(s).path)); err != nil {
					t.Fatal(err)
				}
			}
			w := &writer{e: e, next: g0.Add(-time.Hour)}
			w.upTo()
			cfg := e.config(StreamSignIns, StreamAudits)
			r := e.start(cfg)
			if tt.rewindPoll == 1 {
				if got := r.emittedIDs(); len(got) != 0 {
					t.Errorf("first poll emitted %v", got)
				}
				r.next(time.Minute)
			}
			g := e.clk.graph()
			from, until := g.Add(-7*time.Minute-15*time.Minute), g.Add(-7*time.Minute)
			for _, s := range []string{StreamSignIns, StreamAudits} {
				if c := e.cursor(s); !c.Equal(until) {
					t.Errorf("%s: cursor %s after the rewind, want Graph's now − lag %s", s, c, until)
				}
				if l := e.logs.lines("level=WARN", "the cursor is later than Graph's clock", "stream="+s); len(l) != 1 {
					t.Errorf("%s: %d warnings: %q", s, len(l), l)
				}
			}
			first := e.firstPages(signInsPath)
			if f := first[len(first)-1].query.Get("$filter"); f != filterOf("createdDateTime", from, until) {
				t.Errorf("the rewinding poll read %q, want [now − lag − overlap, now − lag)", f)
			}
			checkOnce(t, "emitted by the rewinding poll", r.emittedIDs(), w.ids(from, until))
			for range 15 {
				w.upTo()
				r.next(time.Minute)
			}
			want := w.ids(from, e.clk.graph().Add(-7*time.Minute))
			checkOnce(t, "emitted", r.emittedIDs(), want)
			checkOnce(t, "committed", r.committedIDs(), want)
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Graph's own clock going back past the cursor (not seen in practice, but
// the Date header is all the input goes by) is a cursor in the future too:
// it is moved back, and batches still in flight when that happens no
// longer move the stored cursor past it when they commit.
func TestGraphClockGoesBackWithBatchesInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := &writer{e: e, next: t0.Add(-time.Hour)}
	w.upTo()
	cfg := e.config(StreamSignIns)
	cfg.Backfill = time.Hour
	r := e.start(cfg)
	r.hold.Store(true)
	w.upTo()
	r.next(time.Minute) // emitted, not acknowledged: in flight, carrying the cursor t0 − 6m
	r.mu.Lock()
	held := len(r.held)
	r.mu.Unlock()
	if held == 0 {
		t.Fatal("no batch in flight")
	}
	e.clk.setSkew(-3 * time.Hour)
	r.next(time.Minute) // learns Graph's clock from its answers: nothing moves
	r.next(time.Minute) // the cursor is in the future: moved back
	c := e.clk.graph().Add(-7 * time.Minute)
	if got := e.cursor(StreamSignIns); !got.Equal(c) {
		t.Errorf("cursor %s after the rewind, want %s", got, c)
	}
	r.ackHeld()
	if got := e.cursor(StreamSignIns); !got.Equal(c) {
		t.Errorf("cursor %s once the batches in flight committed, want %s", got, c)
	}
	checkOnce(t, "committed", r.committedIDs(), r.emittedIDs())
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
