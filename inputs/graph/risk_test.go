package graph

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
)

// riskyUsers adds n risky users "<prefix>-<i>" whose risk changed evenly
// over [from, to), and returns their IDs.
func (e *env) riskyUsers(prefix string, n int, from, to time.Time) []string {
	var ids []string
	var docs []any
	step := to.Sub(from) / time.Duration(n)
	for i := range n {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		ids = append(ids, id)
		docs = append(docs, graphtest.RiskyUser(id, from.Add(time.Duration(i)*step), "user@contoso.example", "atRisk"))
	}
	e.srv.Add(graphtest.RiskyUsers, docs...)
	return ids
}

// items are the emitted items whose origin names id, in emission order.
func (r *run) items(id string) []batch.Item {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []batch.Item
	for _, b := range r.batches {
		for _, it := range b.Items {
			if strings.HasSuffix(it.Origin, " id="+id) {
				out = append(out, it)
			}
		}
	}
	return out
}

// 403 on a risk stream. Read by default (streams left out: an upgrade
// whose app registration predates the risk streams), it is one warning
// per outage naming the permission to grant, not an error, and is not a
// failed poll; the other streams go on, the refused one is tried again at
// every poll and, once granted, read from where it stood. Listed in
// streams, it is an error like any stream's.
func TestForbiddenRiskStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		streams []string // nil: the defaults
		deny    string
		code    string
		stream  string
		level   string
		want    []string // in the log line
	}{
		{name: "risk_detections read by default", deny: detectionsPath, stream: StreamRiskDetections, level: "WARN",
			want: []string{"missing_permission=IdentityRiskEvent.Read.All", "Authorization_RequestDenied", "the other streams go on", "tried again at every poll"}},
		{name: "risky_users read by default, tenant without the licence", deny: riskyUsersPath, code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
			stream: StreamRiskyUsers, level: "WARN", want: []string{"Microsoft Entra ID P2", "the other streams go on"}},
		{name: "risk_detections listed", streams: []string{StreamSignIns, StreamRiskDetections}, deny: detectionsPath, stream: StreamRiskDetections,
			level: "ERROR", want: []string{"missing_permission=IdentityRiskEvent.Read.All", "graph poll failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c0 := t0.Add(-2 * time.Hour)
			byStream := map[string][]string{
				StreamSignIns:        e.signIns("s", 50, c0, t0.Add(-8*time.Minute)),
				StreamRiskDetections: e.riskDetections("d", 20, c0, t0.Add(-8*time.Minute)),
				StreamRiskyUsers:     e.riskyUsers("u", 5, c0, t0.Add(-8*time.Minute)),
			}
			e.srv.Deny(tt.deny, tt.code)
			cfg := e.config(tt.streams...)
			cfg.Backfill = 2 * time.Hour
			r := e.start(cfg)
			var others []string
			for _, s := range r.in.cfg.Streams {
				if s != tt.stream {
					others = append(others, byStream[s]...)
				}
			}
			checkOnce(t, "first poll", r.emittedIDs(), others)
			if c := e.cursor(tt.stream); !c.Equal(c0) {
				t.Errorf("%s cursor %s moved", tt.stream, c)
			}
			lines := func(level string) []string {
				return e.logs.lines("level="+level, "stream="+tt.stream, "403")
			}
			other := map[string]string{"WARN": "ERROR", "ERROR": "WARN"}[tt.level]
			got := lines(tt.level)
			if len(got) != 1 || len(lines(other)) != 0 {
				t.Fatalf("%s lines %q, %s lines %q\nlog:\n%s", tt.level, got, other, lines(other), e.logs)
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("the %s line lacks %q: %s", tt.level, w, got[0])
				}
			}
			t.Logf("logged: %s", got[0])

			r.next(time.Minute)
			r.next(time.Minute)
			if n := len(lines(tt.level)); n != 1 {
				t.Errorf("logged %d times at %s level in three polls of one outage", n, tt.level)
			}
			if n := len(e.requests(tt.deny)); n != 3 {
				t.Errorf("%d requests to %s in three polls: the stream is not tried again at every poll", n, tt.deny)
			}
			s := r.in.Stats()
			nstreams := int64(len(r.in.streams))
			if tt.level == "WARN" && (s.ForbiddenPolls != 3 || s.FailedPolls != 0 || s.Polls != 3*(nstreams-1)) ||
				tt.level == "ERROR" && (s.ForbiddenPolls != 0 || s.FailedPolls != 3) {
				t.Errorf("stats %+v", s)
			}

			e.srv.Allow(tt.deny)
			r.next(time.Minute)
			checkOnce(t, "after the grant", r.emittedIDs(), append(slices.Clone(others), byStream[tt.stream]...))
			if c := e.cursor(tt.stream); !c.Equal(t0.Add(-4 * time.Minute)) {
				t.Errorf("%s cursor %s", tt.stream, c)
			}
			if l := e.logs.lines("level=INFO", "the stream reads again", "stream="+tt.stream, "failed_polls=3"); len(l) != 1 {
				t.Errorf("recovery lines %q", l)
			}
			// A new outage is logged again, once.
			e.srv.Deny(tt.deny, tt.code)
			r.next(time.Minute)
			r.next(time.Minute)
			if n := len(lines(tt.level)); n != 2 {
				t.Errorf("%d %s lines after a second outage, want 2", n, tt.level)
			}
			r.stop()
		})
	}
}

// A detection or a risky user whose state changes comes back with the
// same id and a later lastUpdatedDateTime / riskLastUpdatedDateTime: it is
// emitted again, once, and that version is never emitted twice — not by
// the overlap, not after a restart. The same id and time read again is a
// duplicate, even if other members changed.
func TestRiskStateChanges(t *testing.T) {
	t.Parallel()
	detection := func(id string, at time.Time, state string) map[string]any {
		d := graphtest.RiskDetection(id, at, "adm@contoso.example")
		d["detectedDateTime"] = graphtest.Time(t0.Add(-10 * time.Minute))
		d["riskState"] = state
		if state == "dismissed" {
			d["riskDetail"] = "adminDismissedAllRiskForUser"
		}
		return d
	}
	user := func(id string, at time.Time, state string) map[string]any {
		return graphtest.RiskyUser(id, at, "adm@contoso.example", state)
	}
	tests := []struct {
		name   string
		stream string
		coll   string
		doc    func(id string, at time.Time, state string) map[string]any
		update time.Time // x's new time
		state  string    // x's new state
		again  bool      // x is emitted again
		kind   string    // entra Risk.Kind
	}{
		{"risky user dismissed", StreamRiskyUsers, graphtest.RiskyUsers, user, t0.Add(-6 * time.Minute), "dismissed", true, "state"},
		{"risk detection dismissed", StreamRiskDetections, graphtest.RiskDetections, detection, t0.Add(-6 * time.Minute), "dismissed", true, "detection"},
		{"risky user read again, same time", StreamRiskyUsers, graphtest.RiskyUsers, func(id string, at time.Time, state string) map[string]any {
			d := user(id, at, state)
			d["isProcessing"] = true // another member changed, not the time
			return d
		}, t0.Add(-10 * time.Minute), "atRisk", false, "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			// Inside the overlap of the next polls.
			e.srv.Add(tt.coll, tt.doc("x", t0.Add(-10*time.Minute), "atRisk"), tt.doc("y", t0.Add(-12*time.Minute), "atRisk"))
			cfg := e.config(tt.stream)
			cfg.Backfill = time.Hour
			r := e.start(cfg)
			checkOnce(t, "first poll", r.emittedIDs(), []string{"x", "y"})

			e.srv.Add(tt.coll, tt.doc("x", tt.update, tt.state))
			r.next(2 * time.Minute) // now − lag = t0 − 5m: past the update
			r.next(time.Minute)
			r.next(time.Minute)
			want := []string{"x", "y"}
			if tt.again {
				want = append(want, "x")
			}
			got := r.emittedIDs()
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("emitted %v, want %v", got, want)
			}
			committed := r.committedIDs()
			slices.Sort(committed)
			if !slices.Equal(committed, want) {
				t.Errorf("committed %v, want %v", committed, want)
			}
			xs := r.items("x")
			last := xs[len(xs)-1]
			var dec entra.Decoder
			var rec entra.Record
			if err := r.in.DecodeItem(&dec, &last, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Stream != entra.StreamRisk || rec.Risk.Kind != tt.kind || rec.Risk.State != tt.state || rec.ID != "x" {
				t.Errorf("the last x decodes to stream %s, kind %q, state %q, id %q", rec.Stream, rec.Risk.Kind, rec.Risk.State, rec.ID)
			}
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}

			// After a restart the overlap reads x's latest version again:
			// its key (id and time) was stored with its commit.
			e.reopen()
			e.clk.add(time.Minute)
			r2 := e.start(cfg)
			if got := r2.emittedIDs(); len(got) != 0 {
				t.Errorf("after a restart: emitted %v again", got)
			}
			if s := r2.in.Stats(); s.Read == 0 || s.Duplicates != s.Read {
				t.Errorf("after a restart: stats %+v, want everything read dropped", s)
			}
			r2.stop()
		})
	}
}

// An element in a shape the decoder does not know — a member Graph
// renamed, a kind of record it adds — is emitted, never dead-lettered, and
// DecodeItem (what the runner should decode a graph input's items with)
// makes it a record of stream other with the endpoint's category; the
// overlap does not emit it twice. Known shapes decode as before.
func TestUnknownShapes(t *testing.T) {
	t.Parallel()
	at := graphtest.Time(t0.Add(-20 * time.Minute))
	known := func(d map[string]any) string { b, _ := json.Marshal(d); return string(b) }
	tests := []struct {
		name     string
		stream   string
		coll     string
		doc      string
		repl     []string // rewrites of Graph's answer (the fake only serves what its $filter finds)
		origin   string   // "" : "id=<wantID>"
		stream2  entra.Stream
		category string
		wantID   string
		actor    string // the actor's ID or UPN, when the record names one
	}{
		{name: "risk detection of a new kind", stream: StreamRiskDetections, coll: graphtest.RiskDetections,
			doc:     `{"id":"odd-1","lastUpdatedDateTime":"` + at + `","userPrincipalName":"adm@contoso.example","futureProperty":{"x":1}}`,
			stream2: entra.StreamOther, category: "UserRiskEvents", wantID: "odd-1", actor: "adm@contoso.example"},
		{name: "risk detection without an id", stream: StreamRiskDetections, coll: graphtest.RiskDetections,
			doc:    `{"lastUpdatedDateTime":"` + at + `","futureProperty":true}`,
			origin: "graph:riskDetections ", stream2: entra.StreamOther, category: "UserRiskEvents"},
		{name: "risky user with its time renamed", stream: StreamRiskyUsers, coll: graphtest.RiskyUsers,
			doc:     `{"id":"ru-odd","riskLastUpdatedDateTime":"` + at + `","riskState":"atRisk"}`,
			repl:    []string{`"riskLastUpdatedDateTime"`, `"riskUpdatedAt"`},
			stream2: entra.StreamOther, category: "RiskyUsers", wantID: "ru-odd"},
		{name: "sign-in with its time renamed", stream: StreamSignIns, coll: graphtest.SignIns,
			doc:     `{"id":"si-odd","createdDateTime":"` + at + `","userPrincipalName":"adm@contoso.example"}`,
			repl:    []string{`"createdDateTime"`, `"createdAt"`},
			stream2: entra.StreamOther, category: "SignInLogs", wantID: "si-odd", actor: "adm@contoso.example"},
		{name: "beta service principal sign-in with its time renamed", stream: StreamSignInsBeta, coll: graphtest.SignIns,
			doc:     `{"id":"sp-odd","createdDateTime":"` + at + `","signInEventTypes":["servicePrincipal"],"servicePrincipalId":"sp-1"}`,
			repl:    []string{`"createdDateTime"`, `"createdAt"`},
			stream2: entra.StreamOther, category: "ServicePrincipalSignInLogs", wantID: "sp-odd", actor: "sp-1"},
		{name: "directory audit with its time renamed", stream: StreamAudits, coll: graphtest.DirectoryAudits,
			doc:     `{"id":"au-odd","activityDateTime":"` + at + `","activityDisplayName":"Add member to role"}`,
			repl:    []string{`"activityDateTime"`, `"activityAt"`},
			stream2: entra.StreamOther, category: "AuditLogs", wantID: "au-odd"},
		{name: "risk detection as documented", stream: StreamRiskDetections, coll: graphtest.RiskDetections,
			doc:     known(graphtest.RiskDetection("d-1", t0.Add(-20*time.Minute), "adm@contoso.example")),
			stream2: entra.StreamRisk, category: "UserRiskEvents", wantID: "d-1", actor: "adm@contoso.example"},
		{name: "risky user as documented", stream: StreamRiskyUsers, coll: graphtest.RiskyUsers,
			doc:     known(graphtest.RiskyUser("u-1", t0.Add(-20*time.Minute), "adm@contoso.example", "atRisk")),
			stream2: entra.StreamRisk, category: "RiskyUsers", wantID: "u-1", actor: "adm@contoso.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.srv.Add(tt.coll, tt.doc)
			hc := &http.Client{Transport: rewrite{base: e.srv.Client().Transport, repl: tt.repl}}
			client, err := graphapi.New(*e.graphConfig(), e.log, graphapi.WithHTTPClient(hc), graphapi.WithHostClock(e.clk.monotonic))
			if err != nil {
				t.Fatal(err)
			}
			cfg := e.config(tt.stream)
			cfg.Graph = nil
			cfg.Backfill = time.Hour
			r := e.start(cfg, WithClient(client))
			if bad := r.badElements(); len(bad) != 0 {
				t.Fatalf("dead-lettered: %+v", bad)
			}
			r.mu.Lock()
			var items []batch.Item
			for _, b := range r.batches {
				items = append(items, b.Items...)
			}
			r.mu.Unlock()
			if len(items) != 1 {
				t.Fatalf("%d items emitted, want 1", len(items))
			}
			it := items[0]
			wantOrigin := tt.origin
			if wantOrigin == "" {
				wantOrigin = " id=" + tt.wantID
			}
			if !strings.Contains(it.Origin, wantOrigin) {
				t.Errorf("origin %q, want it to contain %q", it.Origin, wantOrigin)
			}
			var dec entra.Decoder
			var rec entra.Record
			if err := r.in.DecodeItem(&dec, &it, &rec); err != nil {
				t.Fatalf("DecodeItem: %v", err)
			}
			if rec.Stream != tt.stream2 || rec.LogCategory != tt.category || rec.ID != tt.wantID || rec.Time.IsZero() || rec.Origin != it.Origin {
				t.Errorf("decoded: stream %s, category %q, id %q, time %s, origin %q", rec.Stream, rec.LogCategory, rec.ID, rec.Time, rec.Origin)
			}
			if tt.actor != "" && rec.Actor.ID != tt.actor && rec.Actor.UPN != tt.actor {
				t.Errorf("actor %+v, want %s", rec.Actor, tt.actor)
			}
			if tt.stream2 == entra.StreamOther {
				// The plain decoder the runner uses today dead-letters it.
				if err := dec.Decode(it.Data, &rec); err == nil {
					t.Errorf("Decode took the unknown shape: stream %s", rec.Stream)
				}
				// Another input's item of that shape is not given a graph category.
				other := batch.Item{Data: it.Data, Origin: "exports/risk.json:record 1"}
				if err := r.in.DecodeItem(&dec, &other, &rec); err == nil {
					t.Errorf("DecodeItem decoded another input's item: stream %s, category %s", rec.Stream, rec.LogCategory)
				}
			}
			r.next(time.Minute)
			if s := r.in.Stats(); s.Emitted != 1 || s.Duplicates != 1 || s.Bad != 0 {
				t.Errorf("after the overlap read it again: stats %+v", s)
			}
			r.stop()
		})
	}
	// Only what is not a JSON object fails.
	e := newEnv(t)
	in, err := New("aad", e.config(StreamRiskDetections), e.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dec entra.Decoder
	var rec entra.Record
	if err := in.DecodeItem(&dec, &batch.Item{Data: []byte(`[1,2]`), Origin: "graph:riskDetections x..y #1"}, &rec); err == nil {
		t.Errorf("an array decoded: stream %s", rec.Stream)
	}
}

// Faults on the risk APIs, through every page of their @odata.nextLink:
// 429 with Retry-After, 429 without it (what Graph documents for
// /identityProtection/), a page cut half-way. Every detection once, the
// cursor at the end.
func TestRiskFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(e *env)
		check func(t *testing.T, e *env, r *run)
	}{
		{"429 with Retry-After", func(e *env) { e.srv.FailNext(detectionsPath, http.StatusTooManyRequests, "1", 1) }, func(t *testing.T, e *env, r *run) {
			reqs := e.requests(detectionsPath)
			if len(reqs) < 2 || reqs[0].Status != http.StatusTooManyRequests || reqs[1].Time.Sub(reqs[0].Time) < 950*time.Millisecond {
				t.Errorf("the 429 with Retry-After: 1 was not waited for: %d requests", len(reqs))
			}
		}},
		{"429 without Retry-After", func(e *env) { e.srv.FailNext(detectionsPath, http.StatusTooManyRequests, "", 2) }, func(t *testing.T, e *env, r *run) {
			if s := r.in.client.Stats(); s.Throttled != 2 || s.Retries != 2 {
				t.Errorf("client stats %+v", s)
			}
		}},
		{"a page broken half-way", func(e *env) { e.srv.BreakPage(detectionsPath, 2) }, func(t *testing.T, e *env, r *run) {
			if s := r.in.client.Stats(); s.TransportErrors != 1 {
				t.Errorf("client stats %+v", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			want := e.riskDetections("d", 30, t0.Add(-2*time.Hour), t0.Add(-8*time.Minute))
			cfg := e.config(StreamRiskDetections)
			cfg.Backfill = 2 * time.Hour
			cfg.PageSize = 7
			cfg.BatchSize = 5
			tt.setup(e)
			r := e.start(cfg)
			checkOnce(t, "committed", r.committedIDs(), want)
			if c := e.cursor(StreamRiskDetections); !c.Equal(t0.Add(-7 * time.Minute)) {
				t.Errorf("cursor %s", c)
			}
			next := 0
			for _, q := range e.requests(detectionsPath) {
				if q.query.Get("$top") != "7" || q.query.Get("$orderby") != "" {
					t.Errorf("query %v", q.query)
				}
				if q.query.Get("$skiptoken") != "" && q.Status == http.StatusOK {
					next++
				}
			}
			if next < 2 {
				t.Errorf("%d nextLink pages followed", next)
			}
			if s := r.in.Stats(); s.FailedPolls != 0 || s.Polls != 1 {
				t.Errorf("stats %+v", s)
			}
			tt.check(t, e, r)
			r.stop()
		})
	}
}

// Graph allows 1 request per second per tenant on /identityProtection/:
// the risk streams of an input space their requests, first pages and
// nextLinks alike, by a second, together.
func TestRiskPacing(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 3 s")
	}
	t.Parallel()
	e := newEnv(t)
	detections := e.riskDetections("d", 5, t0.Add(-30*time.Minute), t0.Add(-8*time.Minute))
	users := e.riskyUsers("u", 1, t0.Add(-30*time.Minute), t0.Add(-8*time.Minute))
	cfg := e.config(StreamRiskDetections, StreamRiskyUsers)
	cfg.Backfill = time.Hour
	cfg.PageSize = 2
	r := e.newRun(cfg)
	r.in.pace.every = identityProtectionEvery
	// The token first: a first paced request that had to fetch it would
	// reach the fake late, and the next one, paced from when the first
	// was let go, less than a second after it.
	if err := r.in.client.Get(context.Background(), "/v1.0/auditLogs/signIns", url.Values{"$top": {"1"}}, nil); err != nil {
		t.Fatal(err)
	}
	r.begin()
	r.waitPolls()
	checkOnce(t, "emitted", r.emittedIDs(), append(detections, users...))
	var times []time.Time
	for _, q := range e.srv.Log() {
		if strings.Contains(q.Path, "/identityProtection/") {
			times = append(times, q.Time)
		}
	}
	slices.SortFunc(times, time.Time.Compare)
	if len(times) != 4 {
		t.Fatalf("%d requests, want 3 pages of detections and 1 of users", len(times))
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 950*time.Millisecond {
			t.Errorf("requests %d and %d %s apart", i-1, i, gap)
		}
	}
	r.stop()
}

// The de-duplication key of an element: its id; for the risk streams its
// id and update time; the SHA-256 of its bytes when it has no usable id
// (or, for the risk streams, no time). Only what is not a JSON object is
// refused.
func TestParseElement(t *testing.T) {
	end := t0.Add(-7 * time.Minute)
	at := "2026-03-02T11:40:00.5+00:00" // not in Graph's spelling: the key uses the canonical one
	atNs := time.Date(2026, 3, 2, 11, 40, 0, 5e8, time.UTC).UnixNano()
	long := strings.Repeat("x", maxIDBytes+1)
	signIns, detections, users := apiOf(StreamSignIns), apiOf(StreamRiskDetections), apiOf(StreamRiskyUsers)
	tests := []struct {
		name   string
		a      api
		v      string
		id     string
		key    string // "hash": the SHA-256 of v
		t      int64
		reason string
	}{
		{"sign-in", signIns, `{"id":"s-1","createdDateTime":"` + at + `"}`, "s-1", "s-1", atNs, ""},
		{"sign-in, escaped id", signIns, `{"id":"s\u002d1","createdDateTime":"` + at + `"}`, "s-1", "s-1", atNs, ""},
		{"sign-in without its time", signIns, `{"id":"s-1","createdAt":"` + at + `"}`, "s-1", "s-1", end.UnixNano() - 1, ""},
		{"sign-in, numeric id", signIns, `{"id":7,"createdDateTime":"` + at + `"}`, "", "hash", atNs, ""},
		{"sign-in, id too long", signIns, `{"id":"` + long + `","createdDateTime":"` + at + `"}`, "", "hash", atNs, ""},
		{"sign-in, time of the wrong type", signIns, `{"id":"s-1","createdDateTime":12}`, "s-1", "s-1", end.UnixNano() - 1, ""},
		{"risk detection", detections, `{"id":"d-1","detectedDateTime":"2026-03-01T00:00:00Z","lastUpdatedDateTime":"` + at + `"}`,
			"d-1", "d-1@2026-03-02T11:40:00.5Z", atNs, ""},
		{"risk detection without lastUpdatedDateTime", detections, `{"id":"d-1","detectedDateTime":"` + at + `"}`, "d-1", "hash", end.UnixNano() - 1, ""},
		{"risky user", users, `{"id":"u-1","riskLastUpdatedDateTime":"` + at + `"}`, "u-1", "u-1@2026-03-02T11:40:00.5Z", atNs, ""},
		{"risky user, time out of range", users, `{"id":"u-1","riskLastUpdatedDateTime":"1601-01-01T00:00:00Z"}`, "u-1", "hash", end.UnixNano() - 1, ""},
		{"array", signIns, ` [1]`, "", "", 0, "not a JSON object"},
		{"string", detections, `"x"`, "", "", 0, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, reason := parseElement([]byte(tt.v), &tt.a, end)
			if reason != tt.reason {
				t.Fatalf("reason %q, want %q", reason, tt.reason)
			}
			if reason != "" {
				return
			}
			key := tt.key
			if key == "hash" {
				key = "sha256:" + fmt.Sprintf("%x", sha256sum([]byte(tt.v)))
			}
			if e.id != tt.id || e.key != key || e.t != tt.t {
				t.Errorf("got id %q key %q t %d, want %q %q %d", e.id, e.key, e.t, tt.id, key, tt.t)
			}
		})
	}
}

func sha256sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
