package dirscan

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
	"github.com/privtrail/privtrail/internal/store"
	"github.com/privtrail/privtrail/monitor"
)

// t0 is the scan time of the tests (the fake clock).
var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func uid(n int) string { return fmt.Sprintf("0b229528-7664-5327-845d-%012d", n) }

// gUser is a Graph user with the members the scan selects.
func gUser(n int, upn string, lastSignIn, created time.Time) map[string]any {
	d := graphtest.User(uid(n), upn, lastSignIn)
	d["userType"], d["accountEnabled"] = "Member", true
	d["createdDateTime"] = created.UTC().Format(time.RFC3339)
	return d
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

var globalAdmin = entra.RoleHeld{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active"}

func admin(n int, upn string) Principal {
	return Principal{ID: uid(n), UPN: upn, Roles: []entra.RoleHeld{globalAdmin}}
}

// logBuf collects log output.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

type fixture struct {
	t      *testing.T
	srv    *graphtest.Server
	client *graphapi.Client
	logs   *logBuf
	log    *slog.Logger
	now    time.Time
}

func newFixture(t *testing.T, tune func(*graphapi.Config)) *fixture {
	t.Helper()
	srv := graphtest.New(t)
	logs := &logBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gc := srv.Config()
	gc.ReportsRate = 100
	if tune != nil {
		tune(&gc)
	}
	c, err := graphapi.New(gc, log)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, srv: srv, client: c, logs: logs, log: log, now: t0}
}

func (f *fixture) input(p Principals, opts ...Option) *Input {
	f.t.Helper()
	in, err := New("scan", Config{TenantID: f.srv.TenantID}, f.log, p, append([]Option{WithClient(f.client)}, opts...)...)
	if err != nil {
		f.t.Fatal(err)
	}
	in.now = func() time.Time { return f.now }
	return in
}

// collect is an emit that keeps the batches (and commits them if asked).
type collect struct {
	commit  bool
	batches []*batch.Batch
}

func (c *collect) emit(_ context.Context, b *batch.Batch) error {
	c.batches = append(c.batches, b)
	if c.commit {
		return b.Commit()
	}
	return nil
}

func (c *collect) docs() [][]byte {
	var out [][]byte
	for _, b := range c.batches {
		for _, it := range b.Items {
			out = append(out, it.Data)
		}
	}
	return out
}

// scanOnce runs one scan and returns the decoded records, by UPN. Every
// document must decode.
func scanOnce(t *testing.T, in *Input) map[string]*entra.Record {
	t.Helper()
	c := &collect{commit: true}
	if _, err := in.scan(context.Background(), c.emit); err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, c.docs())
}

func decodeAll(t *testing.T, docs [][]byte) map[string]*entra.Record {
	t.Helper()
	var dec entra.Decoder
	out := map[string]*entra.Record{}
	for _, d := range docs {
		rec := &entra.Record{}
		if err := dec.Decode(d, rec); err != nil {
			t.Fatalf("document does not decode: %v\n%s", err, d)
		}
		if rec.Stream != entra.StreamDirectory {
			t.Fatalf("stream %q: %s", rec.Stream, d)
		}
		if _, dup := out[rec.Actor.UPN]; dup {
			t.Fatalf("two documents for %s", rec.Actor.UPN)
		}
		out[rec.Actor.UPN] = rec
	}
	return out
}

func hits(rec *entra.Record) []string {
	var ids []string
	for _, h := range rec.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}

func TestMonitorsHitsAndNearMisses(t *testing.T) {
	f := newFixture(t, nil)
	old := t0.Add(-days(400))
	type row struct {
		n          int
		upn        string
		lastSignIn time.Time // zero: never
		created    time.Time
		methods    []string // nil: absent from the registration report
		want       []string
	}
	mfa := []string{"microsoftAuthenticatorPush", "fido2"}
	rows := []row{
		{1, "adm_alice@contoso.example", t0.Add(-days(2)), old, mfa, nil},
		{2, "alice@contoso.example", t0.Add(-days(2)), old, mfa, []string{"directory.naming_policy"}},
		{3, "ADM_Bob@contoso.example", t0.Add(-days(2)), old, mfa, nil},                                  // near miss: case
		{4, "xadm_bob@contoso.example", t0.Add(-days(2)), old, mfa, []string{"directory.naming_policy"}}, // prefix only
		{5, "adm_carol@contoso.example", t0.Add(-days(2)), old, []string{}, []string{"directory.mfa_not_registered"}},
		{6, "adm_dave@contoso.example", t0.Add(-days(2)), old, nil, nil}, // near miss: not in the report
		{7, "adm_erin@contoso.example", t0.Add(-days(30)), old, mfa, []string{"review.unused_privileged_account"}},
		{8, "adm_frank@contoso.example", t0.Add(-days(30) + time.Second), old, mfa, nil}, // near miss: 29 days
		{9, "adm_gina@contoso.example", time.Time{}, t0.Add(-days(60)), mfa, []string{"review.unused_privileged_account"}},
		{10, "adm_hank@contoso.example", time.Time{}, t0.Add(-days(10)), mfa, nil}, // never, but new
		{11, "bg-02@contoso.example", time.Time{}, old, []string{},
			[]string{"directory.naming_policy", "directory.mfa_not_registered", "review.unused_privileged_account"}},
	}
	var principals List
	for _, r := range rows {
		f.srv.Add(graphtest.Users, gUser(r.n, r.upn, r.lastSignIn, r.created))
		if r.methods != nil {
			f.srv.Add(graphtest.UserRegistrationDetails, graphtest.UserRegistration(uid(r.n), r.upn, true, r.methods...))
		}
		principals = append(principals, admin(r.n, r.upn))
	}
	// Ivan failed to sign in 5 days ago; his last successful sign-in was
	// 45 days ago: the successful one counts.
	ivan := gUser(12, "adm_ivan@contoso.example", t0.Add(-days(5)), old)
	ivan["signInActivity"].(map[string]any)["lastSuccessfulSignInDateTime"] = t0.Add(-days(45)).Format(time.RFC3339)
	f.srv.Add(graphtest.Users, ivan)
	f.srv.Add(graphtest.UserRegistrationDetails, graphtest.UserRegistration(uid(12), "adm_ivan@contoso.example", true, mfa...))
	principals = append(principals, admin(12, "adm_ivan@contoso.example"))
	rows = append(rows, row{upn: "adm_ivan@contoso.example", want: []string{"review.unused_privileged_account"}})
	// Not privileged: in Graph, never emitted.
	f.srv.Add(graphtest.Users, gUser(13, "someone@contoso.example", time.Time{}, old))
	f.srv.Add(graphtest.UserRegistrationDetails, graphtest.UserRegistration(uid(13), "someone@contoso.example", false))
	// Privileged, but not a user in Graph (deleted): not emitted.
	principals = append(principals, admin(14, "adm_gone@contoso.example"))

	p, err := monitor.LoadPipeline("../../pipelines/privileged-accounts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := monitor.Compile(p.Monitors, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range eng.Monitors() {
		if m.Source == "directory" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d directory monitors in the shipped pipeline, want 3", n)
	}
	ev := eng.NewEvaluator()

	in := f.input(principals)
	recs := scanOnce(t, in)
	if len(recs) != len(rows) {
		t.Fatalf("%d documents, want %d (privileged users in Graph only)", len(recs), len(rows))
	}
	if in.Stats().Missing != 1 || f.logs.count("adm_gone@contoso.example") != 1 {
		t.Errorf("missing %d; logged %d times", in.Stats().Missing, f.logs.count("adm_gone@contoso.example"))
	}
	for _, r := range rows {
		t.Run(r.upn, func(t *testing.T) {
			rec := recs[r.upn]
			if rec == nil {
				t.Fatal("no document")
			}
			rec.Actor.Privileged = true // the privilege stage would
			ev.Eval(rec)
			if got := hits(rec); !slices.Equal(got, r.want) {
				t.Errorf("hits %v, want %v (reasons %v)", got, r.want, rec.Hits)
			}
		})
	}

	// The document's members.
	carol := recs["adm_carol@contoso.example"]
	if carol.ID != "dirscan-20260302T120000Z-"+uid(5) || carol.TenantID != f.srv.TenantID || !carol.Time.Equal(t0) ||
		!carol.Directory.MFAKnown || carol.Directory.MFARegistered || carol.Directory.LastSignInSource != "graph" ||
		carol.Directory.DaysSinceSignIn != 2 || !carol.Directory.AccountEnabled || carol.Directory.UserType != "Member" ||
		len(carol.Directory.Roles) != 1 || carol.Directory.Roles[0].Name != "Global Administrator" {
		t.Errorf("carol: %+v %+v", carol, carol.Directory)
	}
	if d := recs["adm_dave@contoso.example"].Directory; d.MFAKnown || d.Methods != nil {
		t.Errorf("dave, not in the report: %+v", d)
	}
	if d := recs["adm_alice@contoso.example"].Directory; !slices.Equal(d.Methods, mfa) {
		t.Errorf("alice's methods %v", d.Methods)
	}
	if d := recs["adm_gina@contoso.example"].Directory; d.DaysSinceSignIn != -1 || d.LastSignInSource != "graph" {
		t.Errorf("gina, never signed in: %+v", d)
	}
	// Without the privilege stage's tag nothing fires.
	rec := recs["bg-02@contoso.example"]
	rec.Actor.Privileged, rec.Hits = false, nil
	ev.Eval(rec)
	if len(rec.Hits) != 0 {
		t.Errorf("not privileged: hits %v", hits(rec))
	}
}

func TestUsersPaging(t *testing.T) {
	f := newFixture(t, nil)
	var principals List
	for i := range 250 {
		upn := fmt.Sprintf("user%03d@contoso.example", i)
		if i%50 == 7 {
			upn = "adm_" + upn
			principals = append(principals, admin(i, upn))
			f.srv.Add(graphtest.UserRegistrationDetails, graphtest.UserRegistration(uid(i), upn, true, "fido2"))
		}
		f.srv.Add(graphtest.Users, gUser(i, upn, t0.Add(-time.Hour), t0.Add(-days(100))))
	}
	f.srv.SetPageSize(graphtest.UserRegistrationDetails, 2)
	in := f.input(principals)
	recs := scanOnce(t, in)
	if len(recs) != 5 {
		t.Fatalf("%d documents, want 5", len(recs))
	}
	for upn, r := range recs {
		if !r.Directory.MFAKnown || !r.Directory.MFARegistered || r.Directory.DaysSinceSignIn != 0 {
			t.Errorf("%s: %+v", upn, r.Directory)
		}
	}
	if n := f.srv.Requests(usersPath); n != 3 {
		t.Errorf("%d users pages, want 3 (250 users, $top 120)", n)
	}
	if n := f.srv.Requests(registrationPath); n != 3 {
		t.Errorf("%d registration pages, want 3", n)
	}
	for _, r := range f.srv.Log() {
		if r.Path == usersPath && !strings.Contains(r.RawQuery, "signInActivity") {
			t.Errorf("users request without signInActivity: %s", r.RawQuery)
		}
	}
}

func TestRegistrationForbidden(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.Add(graphtest.Users, gUser(1, "adm_a@contoso.example", t0.Add(-days(1)), t0.Add(-days(100))))
	f.srv.Add(graphtest.UserRegistrationDetails, graphtest.UserRegistration(uid(1), "adm_a@contoso.example", true))
	f.srv.Deny(registrationPath, "")
	in := f.input(List{admin(1, "adm_a@contoso.example")})
	for range 2 {
		recs := scanOnce(t, in)
		d := recs["adm_a@contoso.example"].Directory
		if d.MFAKnown || d.Methods != nil {
			t.Errorf("mfa known without the report: %+v", d)
		}
	}
	if n := f.logs.count("AuditLog.Read.All"); n != 1 {
		t.Errorf("the missing permission logged %d times, want once", n)
	}
	f.srv.Allow(registrationPath)
	if d := scanOnce(t, in)["adm_a@contoso.example"].Directory; !d.MFAKnown || d.MFARegistered {
		t.Errorf("after the grant: %+v", d)
	}
}

func TestUsersForbidden(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.Add(graphtest.Users, gUser(1, "adm_a@contoso.example", t0, t0))
	f.srv.Deny(usersPath, "")
	in := f.input(List{admin(1, "adm_a@contoso.example")})
	c := &collect{commit: true}
	_, err := in.scan(context.Background(), c.emit)
	if err == nil || !strings.Contains(err.Error(), "User.Read.All and AuditLog.Read.All") || len(c.batches) != 0 {
		t.Fatalf("err %v, %d batches", err, len(c.batches))
	}
}

func TestThrottledMidScan(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int
		wantErr  bool
	}{
		{"retried", 1, false},
		{"gave up", 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *graphapi.Config) { c.MaxAttempts = 2 })
			f.srv.Add(graphtest.Users, gUser(1, "adm_a@contoso.example", t0, t0))
			f.srv.Add(graphtest.UserRegistrationDetails, graphtest.UserRegistration(uid(1), "adm_a@contoso.example", true, "fido2"))
			// The users listing is read; the registration report is
			// throttled after it.
			f.srv.FailNext(registrationPath, http.StatusTooManyRequests, "0", tc.failures)
			in := f.input(List{admin(1, "adm_a@contoso.example")})
			c := &collect{commit: true}
			_, err := in.scan(context.Background(), c.emit)
			if tc.wantErr {
				if err == nil || len(c.batches) != 0 || !in.LastScan().IsZero() {
					t.Fatalf("err %v, %d batches, last scan %v: a failed scan emits nothing", err, len(c.batches), in.LastScan())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			recs := decodeAll(t, c.docs())
			if d := recs["adm_a@contoso.example"].Directory; !d.MFAKnown || !d.MFARegistered {
				t.Errorf("%+v", d)
			}
			if n := f.srv.Requests(registrationPath); n != 2 {
				t.Errorf("%d registration requests, want 2", n)
			}
		})
	}
}

// run runs in until its first wait and returns the batches and the waits.
func run(t *testing.T, in *Input, commit bool) (*collect, []time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits []time.Duration
	in.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		cancel()
		return context.Canceled
	}
	c := &collect{commit: commit}
	if err := in.Run(ctx, c.emit); err != nil {
		t.Fatal(err)
	}
	return c, waits
}

func TestIntervalAcrossRestarts(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.Add(graphtest.Users, gUser(1, "adm_a@contoso.example", t0, t0))
	principals := List{admin(1, "adm_a@contoso.example")}
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// A scan whose batch is never committed is redone at the next start.
	c, waits := run(t, f.input(principals, WithStore(st)), false)
	if len(c.batches) != 1 || !slices.Equal(waits, []time.Duration{24 * time.Hour}) {
		t.Fatalf("first start: %d batches, waits %v", len(c.batches), waits)
	}
	f.now = t0.Add(time.Hour)
	c, _ = run(t, f.input(principals, WithStore(st)), true)
	if len(c.batches) != 1 || f.srv.Requests(usersPath) != 2 {
		t.Fatalf("uncommitted scan not redone: %d batches, %d users requests", len(c.batches), f.srv.Requests(usersPath))
	}
	// Committed at t0+1h: a restart 2h later waits the 22h left.
	f.now = t0.Add(3 * time.Hour)
	in := f.input(principals, WithStore(st))
	c, waits = run(t, in, true)
	if len(c.batches) != 0 || !slices.Equal(waits, []time.Duration{22 * time.Hour}) || f.srv.Requests(usersPath) != 2 {
		t.Fatalf("restart inside the interval: %d batches, waits %v", len(c.batches), waits)
	}
	if !in.LastScan().Equal(t0.Add(time.Hour)) {
		t.Errorf("last scan %v", in.LastScan())
	}
	// Once the interval elapsed, a start scans at once.
	f.now = t0.Add(26 * time.Hour)
	c, waits = run(t, f.input(principals, WithStore(st)), true)
	if len(c.batches) != 1 || !slices.Equal(waits, []time.Duration{24 * time.Hour}) {
		t.Fatalf("after the interval: %d batches, waits %v", len(c.batches), waits)
	}
	got := decodeAll(t, c.docs())["adm_a@contoso.example"]
	if got.ID != "dirscan-20260303T140000Z-"+uid(1) {
		t.Errorf("id %s", got.ID)
	}
}

func TestFailedScanIsRetried(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.Add(graphtest.Users, gUser(1, "adm_a@contoso.example", t0, t0))
	f.srv.Deny(usersPath, "")
	in := f.input(List{admin(1, "adm_a@contoso.example")})
	c, waits := run(t, in, true)
	if len(c.batches) != 0 || !slices.Equal(waits, []time.Duration{maxRetryDelay}) || in.Stats().FailedScans != 1 {
		t.Fatalf("%d batches, waits %v, stats %+v", len(c.batches), waits, in.Stats())
	}
	if f.logs.count("User.Read.All") == 0 {
		t.Error("the missing permission is not named")
	}
}

func TestBatchesCommitTheScanOnlyWhenAllCommitted(t *testing.T) {
	f := newFixture(t, nil)
	var principals List
	for i := range 5 {
		upn := fmt.Sprintf("adm_%d@contoso.example", i)
		f.srv.Add(graphtest.Users, gUser(i, upn, t0, t0))
		principals = append(principals, admin(i, upn))
	}
	// The same principal twice, and one without an id: one document.
	principals = append(principals, admin(0, "adm_0@contoso.example"), Principal{UPN: "x@contoso.example"})
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in := f.input(principals, WithStore(st))
	in.batchSize = 2
	c := &collect{}
	if _, err := in.scan(context.Background(), c.emit); err != nil {
		t.Fatal(err)
	}
	if len(c.batches) != 3 || len(decodeAll(t, c.docs())) != 5 {
		t.Fatalf("%d batches, %d documents", len(c.batches), len(c.docs()))
	}
	for i, b := range c.batches {
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		raw, _ := st.Get(stateBucket, "dirscan/scan")
		if stored := raw != nil; stored != (i == 2) {
			t.Fatalf("after commit %d: stored %q", i+1, raw)
		}
	}
	if !in.LastScan().Equal(t0) {
		t.Errorf("last scan %v", in.LastScan())
	}
}

func TestNoPrivilegedPrincipals(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.Add(graphtest.Users, gUser(1, "someone@contoso.example", t0, t0))
	in := f.input(List{})
	c := &collect{}
	if _, err := in.scan(context.Background(), c.emit); err != nil {
		t.Fatal(err)
	}
	if len(c.batches) != 0 || f.srv.Requests(usersPath) != 0 || !in.LastScan().Equal(t0) {
		t.Fatalf("%d batches, %d requests, last scan %v", len(c.batches), f.srv.Requests(usersPath), in.LastScan())
	}
}
