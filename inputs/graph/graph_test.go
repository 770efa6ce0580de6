package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
)

const (
	signInsPath    = "/v1.0/auditLogs/signIns"
	betaPath       = "/beta/auditLogs/signIns"
	auditsPath     = "/v1.0/auditLogs/directoryAudits"
	detectionsPath = "/v1.0/identityProtection/riskDetections"
	riskyUsersPath = "/v1.0/identityProtection/riskyUsers"
)

// Every page of a long window is followed, each element is emitted as the
// bytes Graph sent, batch_size per batch, and the cursor ends at now − lag.
func TestPagingManyPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 1500
	from, to := t0.Add(-75*time.Minute), t0.Add(-8*time.Minute)
	var want []string
	raw := map[string][]byte{}
	for i := range n {
		id := fmt.Sprintf("s-%05d", i)
		d := graphtest.SignIn(id, from.Add(time.Duration(i)*to.Sub(from)/n), "adm@contoso.example")
		b, _ := json.Marshal(d)
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			t.Fatal(err)
		}
		raw[id] = c.Bytes()
		want = append(want, id)
		e.srv.Add(graphtest.SignIns, d)
	}
	cfg := e.config(StreamSignIns)
	cfg.Backfill = time.Hour
	cfg.PageSize = 60
	cfg.BatchSize = 200

	started := time.Now()
	r := e.start(cfg)
	took := time.Since(started)

	checkOnce(t, "emitted", r.emittedIDs(), want)
	checkOnce(t, "committed", r.committedIDs(), want)
	reqs := e.requests(signInsPath)
	if len(reqs) != n/60 {
		t.Errorf("%d requests for %d records in pages of 60", len(reqs), n)
	}
	for i, q := range reqs {
		if q.query.Get("$top") != "60" || (i > 0) != (q.query.Get("$skiptoken") != "") || q.Status != http.StatusOK {
			t.Errorf("request %d: status %d, query %v", i, q.Status, q.query)
		}
	}
	r.mu.Lock()
	var sizes []int
	for _, b := range r.batches {
		sizes = append(sizes, len(b.Items))
		for _, it := range b.Items {
			id := it.Origin[strings.LastIndex(it.Origin, "=")+1:]
			if !bytes.Equal(it.Data, raw[id]) {
				t.Fatalf("%s: the item is not the element as Graph sent it:\n%s\n%s", it.Origin, it.Data, raw[id])
			}
		}
	}
	r.mu.Unlock()
	if !slices.Equal(sizes, []int{200, 200, 200, 200, 200, 200, 200, 100}) {
		t.Errorf("batch sizes %v", sizes)
	}
	if c := e.cursor(StreamSignIns); !c.Equal(t0.Add(-7 * time.Minute)) {
		t.Errorf("cursor %s, want now − lag", c)
	}
	if s := r.in.Stats(); s.Read != n || s.Emitted != n || s.Batches != 8 || s.Polls != 1 || s.Duplicates != 0 {
		t.Errorf("stats %+v", s)
	}
	t.Logf("%d sign-ins (%d KiB of JSON) in %d pages of 60: %s, %.0f records/s", n, sum(raw)>>10, len(reqs), took.Round(time.Millisecond), n/took.Seconds())
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

func sum(m map[string][]byte) int {
	n := 0
	for _, b := range m {
		n += len(b)
	}
	return n
}

// The $filter of each window, per stream: a back-fill of 3 h is read as
// three windows oldest first (the first reaching back by the overlap),
// the next poll as one window from the cursor − overlap.
func TestFilterWindows(t *testing.T) {
	t.Parallel()
	c0 := t0.Add(-3 * time.Hour)
	tests := []struct {
		name    string
		streams []string
		types   []string
		stream  string
		path    string
		field   string
		extra   string
		top     string // $top with the default page_size: Graph's maximum for the API
	}{
		{"signins", []string{StreamSignIns}, nil, StreamSignIns, signInsPath, "createdDateTime", "", "1000"},
		{"signins_beta", []string{StreamSignInsBeta}, nil, StreamSignInsBeta, betaPath, "createdDateTime",
			" and signInEventTypes/any(t: t ne 'interactiveUser')", "1000"},
		{"signins_beta event_types", []string{StreamSignIns, StreamSignInsBeta}, []string{"nonInteractiveUser", "ServicePrincipal"}, StreamSignInsBeta, betaPath, "createdDateTime",
			" and signInEventTypes/any(t: t eq 'nonInteractiveUser' or t eq 'servicePrincipal')", "1000"},
		{"audits", []string{StreamAudits}, nil, StreamAudits, auditsPath, "activityDateTime", "", "1000"},
		// The risk APIs take $filter, $select and $top up to 500, no
		// $orderby (the fake answers 400 to anything else).
		{"risk_detections", []string{StreamRiskDetections}, nil, StreamRiskDetections, detectionsPath, "lastUpdatedDateTime", "", "500"},
		{"risky_users", []string{StreamRiskyUsers}, nil, StreamRiskyUsers, riskyUsersPath, "riskLastUpdatedDateTime", "", "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.config(tt.streams...)
			cfg.EventTypes = tt.types
			cfg.Backfill = 3 * time.Hour
			r := e.start(cfg)
			r.next(time.Minute)
			want := []string{
				filterOf(tt.field, c0.Add(-15*time.Minute), c0.Add(time.Hour)) + tt.extra,
				filterOf(tt.field, c0.Add(time.Hour), c0.Add(2*time.Hour)) + tt.extra,
				filterOf(tt.field, c0.Add(2*time.Hour), t0.Add(-7*time.Minute)) + tt.extra,
				filterOf(tt.field, t0.Add(-22*time.Minute), t0.Add(-6*time.Minute)) + tt.extra,
			}
			var got []string
			for _, q := range e.firstPages(tt.path) {
				got = append(got, q.query.Get("$filter"))
				if q.query.Get("$top") != tt.top || len(q.query) != 2 || q.Status != http.StatusOK {
					t.Errorf("query %v (status %d), want $filter and $top=%s only", q.query, q.Status, tt.top)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("filters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if c := e.cursor(tt.stream); !c.Equal(t0.Add(-6 * time.Minute)) {
				t.Errorf("cursor %s", c)
			}
			// The back-fill's progress is logged, and ends at 100%.
			if l := e.logs.String(); !strings.Contains(l, "catching up: progress") || !strings.Contains(l, "percent=100") {
				t.Errorf("no back-fill progress in the log:\n%s", l)
			}
			r.stop()
		})
	}
}

// A record newer than now − lag is not read until a poll whose now − lag
// has passed it.
func TestLag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.add(graphtest.SignIns,
		graphtest.SignIn("old", t0.Add(-30*time.Minute), "a@contoso.example"),
		graphtest.SignIn("recent", t0.Add(-3*time.Minute), "b@contoso.example"))
	cfg := e.config(StreamSignIns)
	cfg.Backfill = time.Hour
	r := e.start(cfg, WithGraphOptions(graphapi.WithVersion("9.9.9-test")))
	if got := r.emittedIDs(); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("first poll (now − lag = %s) emitted %v", t0.Add(-7*time.Minute), got)
	}
	if ua := e.requests(signInsPath)[0].Header.Get("User-Agent"); ua != "privtrail/9.9.9-test" {
		t.Errorf("WithGraphOptions not passed on: User-Agent %q", ua)
	}
	r.next(2 * time.Minute) // now − lag = t0 − 5m: still before "recent"
	if got := r.emittedIDs(); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("second poll emitted %v", got)
	}
	r.next(3 * time.Minute) // now − lag = t0 − 2m
	if got := r.emittedIDs(); !slices.Equal(got, []string{"old", "recent"}) {
		t.Fatalf("third poll: %v", got)
	}
	if c := e.cursor(StreamSignIns); !c.Equal(t0.Add(-2 * time.Minute)) {
		t.Errorf("cursor %s", c)
	}
	r.stop()
}

// Late arrivals: a record that shows up after the poll that covered its
// time is emitted once if its time is inside the overlap, and the records
// the overlap reads again are dropped; one older than cursor − overlap is
// never read (README: "Late records").
func TestLateArrivals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		at   time.Time // the late record's time; the cursor is t0 − 7m
		want bool
	}{
		{"inside the overlap", t0.Add(-20 * time.Minute), true},
		{"at the overlap's start", t0.Add(-22 * time.Minute), true},
		{"later than the overlap: lost", t0.Add(-23 * time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.add(graphtest.SignIns,
				graphtest.SignIn("a", t0.Add(-21*time.Minute), "a@contoso.example"),
				graphtest.SignIn("b", t0.Add(-10*time.Minute), "b@contoso.example"))
			cfg := e.config(StreamSignIns)
			cfg.Backfill = time.Hour
			r := e.start(cfg)
			checkOnce(t, "first poll", r.emittedIDs(), []string{"a", "b"})

			e.add(graphtest.SignIns, graphtest.SignIn("late", tt.at, "late@contoso.example"))
			for range 3 {
				r.next(time.Minute)
			}
			want := []string{"a", "b"}
			if tt.want {
				want = append(want, "late")
			}
			checkOnce(t, "after three more polls", r.emittedIDs(), want)
			checkOnce(t, "committed", r.committedIDs(), want)
			// Polls 2-4 read [t0−22m, …), [t0−21m, …), [t0−20m, …): "a"
			// (t0−21m) is dropped twice, "b" three times, "late" twice
			// after it was emitted, or not at all.
			dups := int64(5)
			if tt.want {
				dups += 2
				if tt.at.Before(t0.Add(-21 * time.Minute)) {
					dups -= 2
				}
			}
			if s := r.in.Stats(); s.Duplicates != dups {
				t.Errorf("%d duplicates dropped, want %d", s.Duplicates, dups)
			}
			r.stop()
		})
	}
}

// With Commit withheld nothing is stored: a restart reads everything
// again, and the cursor moves only once the batches are committed.
func TestCursorOnlyAfterCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c0 := t0.Add(-3 * time.Hour)
	want := e.signIns("s", 300, c0.Add(-10*time.Minute), t0.Add(-8*time.Minute))
	cfg := e.config(StreamSignIns)
	cfg.Backfill = 3 * time.Hour
	cfg.BatchSize = 50

	r := e.newRun(cfg)
	r.hold.Store(true)
	r.begin()
	r.waitPolls()
	checkOnce(t, "first run, emitted", r.emittedIDs(), want)
	if got := r.committedIDs(); len(got) != 0 {
		t.Fatalf("committed %d without acknowledgement", len(got))
	}
	if c := e.cursor(StreamSignIns); !c.Equal(c0) {
		t.Errorf("cursor %s moved without a commit (want the first start's %s)", c, c0)
	}
	if ids := e.storedIDs(StreamSignIns); len(ids) != 0 {
		t.Errorf("%d IDs stored without a commit", len(ids))
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	e.reopen()

	r2 := e.newRun(cfg)
	r2.hold.Store(true)
	r2.begin()
	r2.waitPolls()
	checkOnce(t, "second run, emitted", r2.emittedIDs(), want)
	if c := e.cursor(StreamSignIns); !c.Equal(c0) || len(r2.committedIDs()) != 0 {
		t.Errorf("cursor %s moved before the acknowledgements", c)
	}
	r2.ackHeld()
	checkOnce(t, "second run, committed", r2.committedIDs(), want)
	if c := e.cursor(StreamSignIns); !c.Equal(t0.Add(-7 * time.Minute)) {
		t.Errorf("cursor %s after the commits", c)
	}
	// Stored: the IDs the next poll's overlap reads again, no others.
	var recent []string
	for i, id := range want {
		if !c0.Add(-10 * time.Minute).Add(time.Duration(i) * (t0.Add(-8*time.Minute).Sub(c0.Add(-10*time.Minute)) / 300)).Before(t0.Add(-22 * time.Minute)) {
			recent = append(recent, id)
		}
	}
	checkOnce(t, "stored de-dup set", e.storedIDs(StreamSignIns), recent)
	r2.stop()
}

// A restart in the middle of a 24 h back-fill — killed after 17 committed
// batches, with 3 more emitted and never acknowledged — loses nothing and
// repeats no committed record; Progress follows the back-fill. The same
// for risk detections, which Graph serves in no time order and whose
// de-duplication keys are id and lastUpdatedDateTime.
func TestRestartMidBackfill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stream string
		add    func(e *env, prefix string, n int, from, to time.Time) []string
	}{
		{StreamSignIns, (*env).signIns},
		{StreamRiskDetections, (*env).riskDetections},
	}
	for _, tt := range tests {
		t.Run(tt.stream, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c0 := t0.Add(-24 * time.Hour)
			want := tt.add(e, "s", 1200, c0.Add(-15*time.Minute), t0.Add(-8*time.Minute))
			cfg := e.config(tt.stream)
			cfg.PageSize = 40
			cfg.BatchSize = 27
			const kill = 17

			r := e.newRun(cfg)
			r.onEmit = func(r *run, b *batch.Batch, n int) {
				if n == kill+1 {
					r.hold.Store(true)
				}
				if n == kill+3 {
					r.cancel()
				}
			}
			r.begin()
			if err := <-r.done; err != nil {
				t.Fatal(err)
			}
			first := r.committedIDs()
			if len(first) != kill*27 {
				t.Fatalf("first run committed %d records, want %d", len(first), kill*27)
			}
			cursor := e.cursor(tt.stream)
			if !cursor.After(c0) || !cursor.Before(t0.Add(-12*time.Hour)) {
				t.Fatalf("cursor after the first run: %s", cursor)
			}
			// Some committed records are past the cursor (their window was not
			// finished): the stored de-dup set holds them, and only committed ones.
			stored := e.storedIDs(tt.stream)
			for _, key := range stored {
				if !slices.Contains(first, idOfKey(tt.stream, key)) {
					t.Errorf("stored key %s was never committed", key)
				}
			}
			if len(stored) == 0 {
				t.Error("no ID stored: the kill was not in the middle of a window")
			}
			e.reopen()

			var progress [][2]int64
			r2 := e.newRun(cfg)
			r2.onEmit = func(r *run, _ *batch.Batch, _ int) {
				d, tot := r.in.Progress()
				progress = append(progress, [2]int64{d, tot})
			}
			r2.begin()
			r2.waitPolls()
			second := r2.committedIDs()
			checkOnce(t, "both runs, committed", append(slices.Clone(first), second...), want)
			total := int64(t0.Add(-7 * time.Minute).Sub(cursor).Seconds())
			for i, p := range progress {
				if p[1] != total || p[0] < 0 || p[0] > total || (i > 0 && p[0] < progress[i-1][0]) {
					t.Fatalf("progress %d: %v (total %d)", i, p, total)
				}
			}
			if d, tot := r2.in.Progress(); d != total || tot != total || progress[0][0] >= total/2 {
				t.Errorf("progress at the end %d/%d, at the first batch %v", d, tot, progress[0])
			}
			t.Logf("first run: %d committed, cursor %s, %d keys stored; second run: %d committed, %d duplicates dropped, progress samples %d",
				len(first), cursor.Format(time.RFC3339), len(stored), len(second), r2.in.Stats().Duplicates, len(progress))
			r2.stop()
		})
	}
}

// idOfKey is the record ID of a stored de-duplication key: the key itself,
// or for the risk streams the part before "@<time>".
func idOfKey(stream, key string) string {
	if slices.Contains(riskStreams, stream) {
		if i := strings.LastIndex(key, "@"); i > 0 {
			return key[:i]
		}
	}
	return key
}

// Faults the client retries (429 and 503 with Retry-After, a page cut
// half-way, a token that expired in the middle of a back-fill): every
// record once, the cursor at the end.
func TestTransientFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(e *env)                // before the start
		fault func(e *env, r *run, n int) // on the n-th batch
		check func(t *testing.T, e *env, r *run)
	}{
		{
			name:  "429 with Retry-After",
			setup: func(e *env) { e.srv.FailNext(signInsPath, http.StatusTooManyRequests, "1", 1) },
			check: func(t *testing.T, e *env, r *run) { checkRetryAfter(t, e, http.StatusTooManyRequests) },
		},
		{
			name: "503 with Retry-After during the poll",
			fault: func(e *env, _ *run, n int) {
				if n == 2 {
					e.srv.FailNext(signInsPath, http.StatusServiceUnavailable, "1", 1)
				}
			},
			check: func(t *testing.T, e *env, r *run) { checkRetryAfter(t, e, http.StatusServiceUnavailable) },
		},
		{
			name:  "a page broken half-way",
			setup: func(e *env) { e.srv.BreakPage(signInsPath, 3) },
			check: func(t *testing.T, e *env, r *run) {
				broken := 0
				for _, q := range e.requests(signInsPath) {
					if q.Broken {
						broken++
					}
				}
				if broken != 1 || r.in.client.Stats().TransportErrors != 1 {
					t.Errorf("%d broken pages, client stats %+v", broken, r.in.client.Stats())
				}
			},
		},
		{
			name: "a token expired mid-backfill",
			fault: func(e *env, _ *run, n int) {
				if n == 4 {
					e.srv.ExpireTokens()
				}
			},
			check: func(t *testing.T, e *env, r *run) {
				unauthorized := 0
				for _, q := range e.requests(signInsPath) {
					if q.Status == http.StatusUnauthorized {
						unauthorized++
					}
				}
				if n := len(e.srv.TokenRequests()); n != 2 || unauthorized != 1 {
					t.Errorf("%d token requests and %d 401s, want 2 and 1", n, unauthorized)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			want := e.signIns("s", 600, t0.Add(-6*time.Hour), t0.Add(-8*time.Minute))
			cfg := e.config(StreamSignIns)
			cfg.Backfill = 6 * time.Hour
			cfg.PageSize = 50
			cfg.BatchSize = 40
			if tt.setup != nil {
				tt.setup(e)
			}
			r := e.newRun(cfg)
			if tt.fault != nil {
				r.onEmit = func(r *run, _ *batch.Batch, n int) { tt.fault(e, r, n) }
			}
			r.begin()
			r.waitPolls()
			checkOnce(t, "committed", r.committedIDs(), want)
			if c := e.cursor(StreamSignIns); !c.Equal(t0.Add(-7 * time.Minute)) {
				t.Errorf("cursor %s", c)
			}
			if s := r.in.Stats(); s.FailedPolls != 0 || s.Polls != 1 {
				t.Errorf("stats %+v", s)
			}
			tt.check(t, e, r)
			r.stop()
		})
	}
}

// checkRetryAfter finds the answer with status and checks that the client
// came back no sooner than its Retry-After (1s) said.
func checkRetryAfter(t *testing.T, e *env, status int) {
	t.Helper()
	reqs := e.requests(signInsPath)
	for i, q := range reqs {
		if q.Status != status {
			continue
		}
		if i+1 == len(reqs) {
			t.Fatalf("no request after the %d", status)
		}
		if wait := reqs[i+1].Time.Sub(q.Time); wait < 950*time.Millisecond {
			t.Errorf("retried %s after a %d with Retry-After: 1", wait, status)
		}
		return
	}
	t.Errorf("no %d answer in the log", status)
}

// A page that fails for good stops the poll with a logged error naming the
// stream; the next poll starts again from the same cursor and the records
// already emitted are not emitted twice.
func TestPageFailsForGood(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := e.signIns("s", 600, t0.Add(-6*time.Hour), t0.Add(-8*time.Minute))
	cfg := e.config(StreamSignIns)
	cfg.Backfill = 6 * time.Hour
	cfg.PageSize = 50
	cfg.BatchSize = 40
	r := e.newRun(cfg)
	r.onEmit = func(r *run, _ *batch.Batch, n int) {
		if n == 5 {
			e.srv.FailNext(signInsPath, http.StatusInternalServerError, "", 1)
		}
	}
	r.begin()
	r.waitPolls()
	first := r.emittedIDs()
	if len(first) == 0 || len(first) >= len(want) {
		t.Fatalf("the failed poll emitted %d of %d", len(first), len(want))
	}
	cursor := e.cursor(StreamSignIns)
	if !cursor.Before(t0.Add(-7 * time.Minute)) {
		t.Fatalf("cursor %s reached the end despite the failure", cursor)
	}
	if l := e.logs.lines("level=ERROR", "stream=signins", "graph poll failed", "500"); len(l) != 1 {
		t.Errorf("error lines: %q", l)
	}
	if s := r.in.Stats(); s.FailedPolls != 1 {
		t.Errorf("stats %+v", s)
	}
	r.next(time.Minute)
	// The window that failed is read again from its start: the records it
	// had emitted are dropped, the rest emitted.
	checkOnce(t, "emitted over both polls", r.emittedIDs(), want)
	checkOnce(t, "committed", r.committedIDs(), want)
	if c := e.cursor(StreamSignIns); !c.Equal(t0.Add(-6 * time.Minute)) {
		t.Errorf("cursor %s", c)
	}
	if l := e.logs.lines("level=INFO", "the stream reads again", "failed_polls=1"); len(l) != 1 {
		t.Errorf("recovery lines: %q", l)
	}
	r.stop()
}

// 403 on audits (AuditLog.Read.All missing): the error names the stream
// and the permission, the sign-ins go on, and once the permission is
// granted audits are read from where they stopped.
func TestForbiddenStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c0 := t0.Add(-2 * time.Hour)
	signins := e.signIns("s", 50, c0, t0.Add(-8*time.Minute))
	var audits []string
	for i := range 30 {
		id := fmt.Sprintf("Directory_%02d", i)
		audits = append(audits, id)
		e.add(graphtest.DirectoryAudits, graphtest.DirectoryAudit(id, c0.Add(time.Duration(i)*3*time.Minute), "Add member to role"))
	}
	e.srv.Deny(auditsPath, "")
	cfg := e.config(StreamSignIns, StreamAudits)
	cfg.Backfill = 2 * time.Hour
	r := e.start(cfg)
	checkOnce(t, "first poll", r.emittedIDs(), signins)
	if c := e.cursor(StreamAudits); !c.Equal(c0) {
		t.Errorf("audits cursor %s moved", c)
	}
	lines := e.logs.lines("level=ERROR", "stream=audits", "403", `missing_permission="AuditLog.Read.All and Directory.Read.All"`, "Authorization_RequestDenied")
	if len(lines) != 1 {
		t.Fatalf("error lines naming stream and permission: %q\nlog:\n%s", lines, e.logs)
	}
	t.Logf("logged: %s", lines[0])

	later := e.signIns("t", 5, t0.Add(-7*time.Minute), t0.Add(-6*time.Minute))
	r.next(time.Minute)
	checkOnce(t, "second poll", r.emittedIDs(), append(slices.Clone(signins), later...))
	if n := len(e.logs.lines("level=ERROR", "stream=audits")); n != 1 {
		t.Errorf("the same error logged %d times at error level in two polls", n)
	}
	e.srv.Allow(auditsPath)
	r.next(time.Minute)
	checkOnce(t, "after the grant", r.emittedIDs(), slices.Concat(signins, later, audits))
	if c := e.cursor(StreamAudits); !c.Equal(t0.Add(-5 * time.Minute)) {
		t.Errorf("audits cursor %s", c)
	}
	if s := r.in.Stats(); s.FailedPolls != 2 || s.Polls != 4 {
		t.Errorf("stats %+v", s)
	}
	r.stop()
}

// The beta stream reads the sign-ins v1.0 does not return; event_types
// narrows it.
func TestBetaSignIns(t *testing.T) {
	t.Parallel()
	at := t0.Add(-30 * time.Minute)
	kind := func(id, eventType string) map[string]any {
		d := graphtest.NonInteractiveSignIn(id, at, "svc@contoso.example")
		d["signInEventTypes"] = []any{eventType}
		return d
	}
	tests := []struct {
		name    string
		streams []string
		types   []string
		want    map[string][]string // by origin label
	}{
		{"signins and signins_beta", []string{StreamSignIns, StreamSignInsBeta}, nil, map[string][]string{
			"signIns":      {"interactive", "interactive2"},
			"beta/signIns": {"noninteractive", "sp", "mi"},
		}},
		{"service principals only", []string{StreamSignInsBeta}, []string{"servicePrincipal"}, map[string][]string{
			"beta/signIns": {"sp"},
		}},
		{"every type on beta", []string{StreamSignInsBeta}, []string{"interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"}, map[string][]string{
			"beta/signIns": {"interactive", "interactive2", "noninteractive", "sp", "mi"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.add(graphtest.SignIns,
				graphtest.SignIn("interactive", at, "adm@contoso.example"),
				graphtest.NonInteractiveSignIn("noninteractive", at, "adm@contoso.example"),
				kind("sp", "servicePrincipal"), kind("mi", "managedIdentity"), kind("interactive2", "interactiveUser"))
			cfg := e.config(tt.streams...)
			cfg.EventTypes = tt.types
			cfg.Backfill = time.Hour
			r := e.start(cfg)
			got := map[string][]string{}
			r.mu.Lock()
			for _, b := range r.batches {
				for _, it := range b.Items {
					label, id, _ := strings.Cut(strings.TrimPrefix(it.Origin, "graph:"), " id=")
					got[label] = append(got[label], id)
				}
			}
			r.mu.Unlock()
			for label, ids := range tt.want {
				checkOnce(t, label, got[label], ids)
			}
			if len(got) != len(tt.want) {
				t.Errorf("streams emitted %v", got)
			}
			r.stop()
		})
	}
}

// rewrite replaces bytes in Graph's answers, to serve elements the fake
// will not hold (it keeps JSON objects only).
type rewrite struct {
	base http.RoundTripper
	repl []string // old, new, old, new…
}

func (rw rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := rw.base.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.Path, "/auditLogs/") && !strings.Contains(req.URL.Path, "/identityProtection/") {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	body = []byte(strings.NewReplacer(rw.repl...).Replace(string(body)))
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return res, nil
}

// Elements that are not a JSON object go to bad with a reason; every
// object is emitted, whatever its shape (no id, an id that is not a
// string: named by their place in the window, de-duplicated by their
// bytes), and the poll completes (with an injected, shared client). The
// next poll, whose overlap reads them all again, emits none of them twice.
func TestMalformedElements(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	at := func(m int) string { return graphtest.Time(t0.Add(time.Duration(-m) * time.Minute)) }
	doc := func(id string, m int) string { return fmt.Sprintf(`{"id":%q,"createdDateTime":%q}`, id, at(m)) }
	// Inside the overlap of the next poll, served newest first.
	noID := fmt.Sprintf(`{"createdDateTime":%q,"userPrincipalName":"x@contoso.example"}`, at(15))
	numID := fmt.Sprintf(`{"id":7,"createdDateTime":%q}`, at(14))
	for _, d := range []string{
		doc("good-1", 20), doc("array", 19), doc("string", 18), doc("number", 17), doc("good-2", 16), noID, numID, doc("good-3", 13),
	} {
		e.srv.Add(graphtest.SignIns, d)
	}
	hc := &http.Client{Transport: rewrite{base: e.srv.Client().Transport, repl: []string{
		doc("array", 19), `[1,2]`, doc("string", 18), `"just text"`, doc("number", 17), `42`,
	}}}
	client, err := graphapi.New(*e.graphConfig(), e.log, graphapi.WithHTTPClient(hc), graphapi.WithHostClock(e.clk.monotonic))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config(StreamSignIns)
	cfg.Graph = nil // the client is shared
	cfg.Backfill = time.Hour
	r := e.start(cfg, WithClient(client))
	window := "graph:signIns " + graphtest.Time(t0.Add(-75*time.Minute)) + ".." + graphtest.Time(t0.Add(-7*time.Minute))
	var got []string
	r.mu.Lock()
	for _, b := range r.batches {
		for _, it := range b.Items {
			got = append(got, it.Origin+" <- "+string(it.Data))
		}
	}
	r.mu.Unlock()
	slices.Sort(got)
	want := []string{
		window + " #2 <- " + numID,
		window + " #3 <- " + noID,
		"graph:signIns id=good-1 <- " + doc("good-1", 20),
		"graph:signIns id=good-2 <- " + doc("good-2", 16),
		"graph:signIns id=good-3 <- " + doc("good-3", 13),
	}
	if !slices.Equal(got, want) {
		t.Errorf("emitted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var reasons []string
	for _, b := range r.badElements() {
		if !strings.HasPrefix(b.origin, window+" #") {
			t.Errorf("origin %q", b.origin)
		}
		reasons = append(reasons, b.reason+" <- "+string(b.data))
	}
	slices.Sort(reasons)
	wantBad := []string{
		"not a JSON object <- \"just text\"",
		"not a JSON object <- 42",
		"not a JSON object <- [1,2]",
	}
	if !slices.Equal(reasons, wantBad) {
		t.Errorf("bad elements:\n%s\nwant:\n%s", strings.Join(reasons, "\n"), strings.Join(wantBad, "\n"))
	}
	if s := r.in.Stats(); s.Bad != 3 || s.Emitted != 5 || s.Polls != 1 || s.FailedPolls != 0 {
		t.Errorf("stats %+v", s)
	}
	if c := e.cursor(StreamSignIns); !c.Equal(t0.Add(-7 * time.Minute)) {
		t.Errorf("cursor %s", c)
	}
	r.next(time.Minute)
	if s := r.in.Stats(); s.Emitted != 5 || s.Duplicates != 5 {
		t.Errorf("second poll: stats %+v, want the 5 objects dropped as duplicates", s)
	}
	r.stop()
}

// End to end through the fake, 10,000 records inside the overlap with
// dedup_ids 5,000 (TestSeenSet200k holds the bound with 200,000): the
// de-dup set, in memory and in the store, keeps the newest 5,000; the
// next poll, which reads all 10,000 again, drops those and emits the
// 5,000 oldest again (README: duplicates beyond the bound).
func TestDedupBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n, bound = 10_000, 5_000
	from := t0.Add(-20 * time.Minute)
	docs := make([]any, n)
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("d-%06d", i)
		docs[i] = fmt.Sprintf(`{"id":%q,"createdDateTime":%q}`, want[i], graphtest.Time(from.Add(time.Duration(i)*30*time.Millisecond)))
	}
	e.srv.Add(graphtest.SignIns, docs...)
	cfg := e.config(StreamSignIns)
	cfg.Backfill = 30 * time.Minute
	cfg.DedupIDs = bound
	cfg.BatchSize = 1000
	started := time.Now()
	r := e.start(cfg)
	took := time.Since(started)
	checkOnce(t, "first poll", r.emittedIDs(), want)
	s := r.in.streams[0]
	if got := s.seen.len(); got != bound {
		t.Errorf("de-dup set in memory: %d IDs", got)
	}
	stored := e.storedIDs(StreamSignIns)
	if len(stored) != bound || stored[0] != want[n-bound] || stored[len(stored)-1] != want[n-1] {
		t.Fatalf("stored de-dup set: %d IDs", len(stored))
	}
	t.Logf("%d small records in %d pages: %s, %.0f records/s", n, n/1000, took.Round(time.Millisecond), n/took.Seconds())

	r.next(time.Minute)
	second := r.emittedIDs()[n:]
	checkOnce(t, "second poll", second, want[:n-bound])
	if got := s.seen.len(); got != bound {
		t.Errorf("de-dup set in memory after the second poll: %d IDs", got)
	}
	if got := len(e.storedIDs(StreamSignIns)); got != bound {
		t.Errorf("stored de-dup set after the second poll: %d IDs", got)
	}
	if st := r.in.Stats(); st.Duplicates != bound || st.Emitted != n+n-bound {
		t.Errorf("stats %+v", st)
	}
	r.stop()
}

// Several streams share one client and its reports rate limit: with
// reports_rate 2, the third report stream's request waits for the
// 10-second window of the first two (the risk streams, not on the reports
// API, are not held back by it).
func TestStreamsShareRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 10 s")
	}
	t.Parallel()
	e := newEnv(t)
	at := t0.Add(-20 * time.Minute)
	e.add(graphtest.SignIns, graphtest.SignIn("i", at, "a@contoso.example"), graphtest.NonInteractiveSignIn("n", at, "a@contoso.example"))
	e.add(graphtest.DirectoryAudits, graphtest.DirectoryAudit("d", at, "Add member to role"))
	cfg := e.config()
	cfg.Graph.ReportsRate = 2
	cfg.Backfill = 30 * time.Minute
	r := e.start(cfg)
	checkOnce(t, "emitted", r.emittedIDs(), []string{"i", "n", "d"})
	var times []time.Time
	for _, q := range e.srv.Log() {
		if strings.HasPrefix(q.Path, "/v1.0/auditLogs/") || strings.HasPrefix(q.Path, "/beta/auditLogs/") {
			times = append(times, q.Time)
		}
	}
	if len(times) != 3 || len(e.requests(detectionsPath))+len(e.requests(riskyUsersPath)) != 2 {
		t.Fatalf("%d report requests (want 3), %d requests in all", len(times), len(e.srv.Log()))
	}
	slices.SortFunc(times, time.Time.Compare)
	if gap := times[2].Sub(times[0]); gap < 10*time.Second-200*time.Millisecond {
		t.Errorf("3 report requests within %s with reports_rate 2", gap)
	}
	r.stop()
}

// A cursor older than Entra keeps logs (30 days) is moved to 30 days ago,
// with a warning, instead of querying hundreds of empty windows.
func TestOldCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := t0.Add(-40 * 24 * time.Hour)
	if err := e.st.Put(metaBucket, metaKey("aad", StreamAudits), encodeMeta(old, auditsPath)); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(StreamAudits)
	cfg.Window = 24 * time.Hour
	r := e.start(cfg)
	first := e.firstPages(auditsPath)
	from := t0.Add(-30 * 24 * time.Hour)
	if len(first) != 30 || first[0].query.Get("$filter") != filterOf("activityDateTime", from.Add(-15*time.Minute), from.Add(24*time.Hour)) {
		t.Errorf("%d windows, the first %q", len(first), first[0].query.Get("$filter"))
	}
	if l := e.logs.lines("level=WARN", "older than Entra keeps logs", "stream=audits"); len(l) != 1 {
		t.Errorf("warnings: %q", l)
	}
	if c := e.cursor(StreamAudits); !c.Equal(t0.Add(-7 * time.Minute)) {
		t.Errorf("cursor %s", c)
	}
	r.stop()
}

// New refuses what it cannot run with.
func TestNewErrors(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(StreamSignIns)
	if _, err := New("a/b", cfg, e.st, nil, nil); err == nil || !strings.Contains(err.Error(), "'/'") {
		t.Errorf("name with '/': %v", err)
	}
	if _, err := New("aad", cfg, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "store") {
		t.Errorf("no store: %v", err)
	}
	cfg.Graph = nil
	if _, err := New("aad", cfg, e.st, nil, nil); err == nil || !strings.Contains(err.Error(), "graph: required") {
		t.Errorf("no graph block nor client: %v", err)
	}
	in, err := New("aad", e.config(StreamSignIns), e.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	in.ran.Store(true)
	if err := in.Run(t.Context(), nil); err == nil {
		t.Error("a second Run was accepted")
	}

	// A cursor it cannot read stops Run, naming the key, rather than
	// guessing where to start.
	if err := e.st.Put(metaBucket, metaKey("aad", StreamSignIns), []byte(`{"version":9}`)); err != nil {
		t.Fatal(err)
	}
	in, err = New("aad", e.config(StreamSignIns), e.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = in.Run(t.Context(), func(context.Context, *batch.Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "stream signins: reading its checkpoint: bucket checkpoints, key graph/aad/signins: checkpoint version 9") ||
		!strings.Contains(err.Error(), "delete the key") {
		t.Errorf("unreadable cursor: %v", err)
	}
}
