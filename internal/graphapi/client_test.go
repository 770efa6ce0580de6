package graphapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
)

const (
	signInsPath = "/v1.0/auditLogs/signIns"
	auditsPath  = "/v1.0/auditLogs/directoryAudits"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// logBuffer collects a Client's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sleeps records the waits between attempts instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

// newClient is a Client of srv's app with the real ClientSecretCredential,
// trusting srv's certificate through the config's tls.ca_file, logging
// at debug level into the returned buffer, and recording its waits.
func newClient(t *testing.T, srv *graphtest.Server, edit func(*graphapi.Config)) (*graphapi.Client, *logBuffer, *sleeps) {
	t.Helper()
	cfg := srv.Config()
	if edit != nil {
		edit(&cfg)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := graphapi.New(cfg, log, graphapi.WithVersion("test"))
	if err != nil {
		t.Fatal(err)
	}
	sl := &sleeps{}
	graphapi.SetSleep(c, sl.sleep)
	return c, logs, sl
}

func ids(t *testing.T, values []json.RawMessage) []string {
	t.Helper()
	var out []string
	for _, v := range values {
		var d struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(v, &d); err != nil {
			t.Fatalf("element %q: %v", v, err)
		}
		out = append(out, d.ID)
	}
	return out
}

// collect pages through path and returns the pages' element ids.
func collect(t *testing.T, c *graphapi.Client, path string, q url.Values) ([][]string, []*graphapi.Page, error) {
	t.Helper()
	var got [][]string
	var pages []*graphapi.Page
	err := c.Pages(context.Background(), path, q, func(p *graphapi.Page) error {
		got = append(got, ids(t, p.Values))
		pages = append(pages, p)
		return nil
	})
	return got, pages, err
}

func TestPages(t *testing.T) {
	srv := graphtest.New(t)
	for i := range 5 {
		srv.Add(graphtest.SignIns, graphtest.SignIn(fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Minute), "adm@contoso.example"))
	}
	srv.Add(graphtest.SignIns,
		graphtest.NonInteractiveSignIn("n1", t0.Add(90*time.Second), "adm@contoso.example"),
		graphtest.NonInteractiveSignIn("n2", t0.Add(150*time.Second), "svc@contoso.example"))
	srv.SetPageSize(graphtest.SignIns, 3)
	window := fmt.Sprintf("createdDateTime ge %s and createdDateTime lt %s",
		t0.Add(time.Minute).Format(time.RFC3339), t0.Add(4*time.Minute).Format(time.RFC3339))

	tests := []struct {
		name  string
		path  string
		query url.Values
		want  [][]string
		sent  []string // in the first request's raw query
	}{
		{name: "newest first, $top", path: signInsPath, query: url.Values{"$top": {"2"}},
			want: [][]string{{"s4", "s3"}, {"s2", "s1"}, {"s0"}}, sent: []string{"$top=2"}},
		{name: "server page size without $top", path: signInsPath,
			want: [][]string{{"s4", "s3", "s2"}, {"s1", "s0"}}},
		{name: "time window", path: signInsPath, query: url.Values{"$top": {"2"}, "$filter": {window}},
			want: [][]string{{"s3", "s2"}, {"s1"}},
			sent: []string{"$filter=createdDateTime%20ge%202026-03-02T10%3A01%3A00Z%20and%20createdDateTime%20lt%202026-03-02T10%3A04%3A00Z", "$top=2"}},
		{name: "beta non-interactive", path: "/beta/auditLogs/signIns",
			query: url.Values{"$filter": {"signInEventTypes/any(t: t eq 'nonInteractiveUser')"}, "$top": {"1"}},
			want:  [][]string{{"n2"}, {"n1"}}},
		{name: "empty collection", path: "/v1.0/roleManagement/directory/roleAssignments", want: [][]string{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newClient(t, srv, nil)
			before := len(srv.Log())
			got, pages, err := collect(t, c, tt.path, tt.query)
			if err != nil {
				t.Fatal(err)
			}
			norm := func(g [][]string) [][]string {
				for i := range g {
					if g[i] == nil {
						g[i] = []string{}
					}
				}
				return g
			}
			if fmt.Sprint(norm(got)) != fmt.Sprint(tt.want) {
				t.Fatalf("pages %v, want %v", got, tt.want)
			}
			log := srv.Log()[before:]
			if len(log) != len(tt.want) {
				t.Fatalf("%d requests for %d pages", len(log), len(tt.want))
			}
			for _, s := range tt.sent {
				if !strings.Contains(log[0].RawQuery, s) {
					t.Errorf("first request's query %q lacks %q", log[0].RawQuery, s)
				}
			}
			// Each nextLink is requested exactly as Graph wrote it.
			for i, p := range pages[:len(pages)-1] {
				next := log[i+1]
				if got := srv.URL() + next.Path + "?" + next.RawQuery; got != p.NextLink {
					t.Errorf("page %d: requested %q, nextLink was %q", i+2, got, p.NextLink)
				}
				if pages[i+1].URL != p.NextLink {
					t.Errorf("page %d URL %q, want the nextLink", i+2, pages[i+1].URL)
				}
			}
			if last := pages[len(pages)-1]; last.NextLink != "" {
				t.Errorf("last page has nextLink %q", last.NextLink)
			}
		})
	}
}

func TestPagesValuesAreTheCallersToKeep(t *testing.T) {
	srv := graphtest.New(t)
	for i := range 6 {
		srv.Add(graphtest.DirectoryAudits, graphtest.DirectoryAudit(fmt.Sprintf("a%d", i), t0.Add(time.Duration(i)*time.Second), "Add member to role"))
	}
	c, _, _ := newClient(t, srv, nil)
	var kept []json.RawMessage
	err := c.Pages(context.Background(), auditsPath, url.Values{"$top": {"2"}}, func(p *graphapi.Page) error {
		kept = append(kept, p.Values...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Scribbling over one element touches no other.
	for i := range kept[0] {
		kept[0][i] = 'x'
	}
	if got := ids(t, kept[1:]); fmt.Sprint(got) != "[a4 a3 a2 a1 a0]" {
		t.Fatalf("kept elements %v", got)
	}
	// The elements are the documents, byte for byte as the fake holds them.
	var d map[string]any
	if err := json.Unmarshal(kept[1], &d); err != nil || d["activityDisplayName"] != "Add member to role" || d["loggedByService"] != "Self-service Group Management" {
		t.Fatalf("element: %s (%v)", kept[1], err)
	}
}

func TestPagesStopsOnCallbackError(t *testing.T) {
	srv := graphtest.New(t)
	for i := range 4 {
		srv.Add(graphtest.SignIns, graphtest.SignIn(fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Minute), "u@contoso.example"))
	}
	c, _, _ := newClient(t, srv, nil)
	stop := errors.New("enough")
	calls := 0
	err := c.Pages(context.Background(), signInsPath, url.Values{"$top": {"1"}}, func(*graphapi.Page) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 || srv.Requests(signInsPath) != 1 {
		t.Fatalf("err %v, %d calls, %d requests", err, calls, srv.Requests(signInsPath))
	}
}

func TestNextLinkToAnotherHostIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(srvURL, link string) string
	}{
		{"foreign host", func(u, l string) string { return strings.Replace(l, u, "https://graph.evil.example", 1) }},
		{"plain http", func(u, l string) string { return strings.Replace(l, "https://", "http://", 1) }},
		{"other port", func(u, l string) string { return strings.Replace(l, u, "https://127.0.0.1:1", 1) }},
		{"user info", func(u, l string) string { return strings.Replace(l, "https://", "https://x@", 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := graphtest.New(t)
			srv.Add(graphtest.SignIns, graphtest.SignIn("s1", t0, "u@contoso.example"), graphtest.SignIn("s2", t0.Add(time.Second), "u@contoso.example"))
			srv.TamperNextLinks(func(l string) string { return tt.tamper(srv.URL(), l) })
			c, _, _ := newClient(t, srv, nil)
			calls := 0
			err := c.Pages(context.Background(), signInsPath, url.Values{"$top": {"1"}}, func(*graphapi.Page) error { calls++; return nil })
			if err == nil || !strings.Contains(err.Error(), "refusing to follow") {
				t.Fatalf("err = %v", err)
			}
			if calls != 0 {
				t.Errorf("fn saw %d pages of a tampered answer", calls)
			}
			if n := len(srv.Log()); n != 1 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		fails      int
		maxAttempt int
		ok         bool
		requests   int
		check      func(t *testing.T, waits []time.Duration)
	}{
		{name: "429 Retry-After seconds", status: 429, retryAfter: "3", fails: 1, ok: true, requests: 2,
			check: func(t *testing.T, w []time.Duration) {
				if !slices.Equal(w, []time.Duration{3 * time.Second}) {
					t.Errorf("waits %v, want [3s]", w)
				}
			}},
		{name: "429 Retry-After date", status: 429, retryAfter: date, fails: 1, ok: true, requests: 2,
			check: func(t *testing.T, w []time.Duration) {
				if len(w) != 1 || w[0] < 25*time.Second || w[0] > 31*time.Second {
					t.Errorf("waits %v, want ~30s", w)
				}
			}},
		{name: "503 then success, back-off", status: 503, fails: 2, ok: true, requests: 3,
			check: func(t *testing.T, w []time.Duration) {
				if len(w) != 2 || w[0] > time.Second || w[1] > 2*time.Second {
					t.Errorf("waits %v, want full jitter under 1s then 2s", w)
				}
			}},
		{name: "504 Retry-After", status: 504, retryAfter: "2", fails: 1, ok: true, requests: 2,
			check: func(t *testing.T, w []time.Duration) {
				if !slices.Equal(w, []time.Duration{2 * time.Second}) {
					t.Errorf("waits %v", w)
				}
			}},
		{name: "500 is not retried", status: 500, fails: 1, requests: 1},
		{name: "400 is not retried", status: 400, fails: 1, requests: 1},
		{name: "exhausted", status: 503, fails: 10, maxAttempt: 3, requests: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := graphtest.New(t)
			srv.Add(graphtest.DirectoryAudits, graphtest.DirectoryAudit("a1", t0, "Update user"))
			c, _, sl := newClient(t, srv, func(cfg *graphapi.Config) { cfg.MaxAttempts = tt.maxAttempt })
			srv.FailNext(auditsPath, tt.status, tt.retryAfter, tt.fails)
			var page struct {
				Value []struct{ ID string } `json:"value"`
			}
			err := c.Get(context.Background(), auditsPath, nil, &page)
			if got := srv.Requests(auditsPath); got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
			if tt.check != nil {
				tt.check(t, sl.all())
			}
			if tt.ok {
				if err != nil || len(page.Value) != 1 || page.Value[0].ID != "a1" {
					t.Fatalf("err %v, page %+v", err, page)
				}
				st := c.Stats()
				if st.Retries != int64(tt.fails) || st.Requests != int64(tt.requests) {
					t.Errorf("stats %+v", st)
				}
				if tt.status == 429 && st.Throttled != 1 {
					t.Errorf("stats %+v: throttled not counted", st)
				}
				return
			}
			var ae *graphapi.APIError
			if !errors.As(err, &ae) || ae.Status != tt.status || ae.RequestID == "" || !strings.Contains(err.Error(), ae.RequestID) {
				t.Fatalf("err = %v, want an APIError %d with its request id", err, tt.status)
			}
			if ae.Path != auditsPath || ae.Method != "GET" || ae.Code == "" {
				t.Errorf("APIError %+v", ae)
			}
			if tt.name == "exhausted" && !strings.Contains(err.Error(), "gave up after 3 attempts") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestRetryAfterIsWaitedFor(t *testing.T) {
	srv := graphtest.New(t)
	c, err := graphapi.New(srv.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Get(context.Background(), "/v1.0/users", nil, nil); err != nil { // token, connection
		t.Fatal(err)
	}
	srv.FailNext("/v1.0/users", 429, "1", 1)
	start := time.Now()
	if err := c.Get(context.Background(), "/v1.0/users", nil, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Fatalf("took %s, want Retry-After's 1s", d)
	}
}

func TestRetryWaitEndsWithContext(t *testing.T) {
	srv := graphtest.New(t)
	c, err := graphapi.New(srv.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext("/v1.0/users", 503, "30", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Get(ctx, "/v1.0/users", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}

func TestExpiredTokenIsRefreshedOnce(t *testing.T) {
	srv := graphtest.New(t)
	srv.Add(graphtest.Users, graphtest.User("u1", "adm@contoso.example", t0))
	c, _, _ := newClient(t, srv, nil)
	ctx := context.Background()
	if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil { // the token is reused
		t.Fatal(err)
	}
	if n := len(srv.TokenRequests()); n != 1 {
		t.Fatalf("%d token requests for two calls", n)
	}
	srv.ExpireTokens()
	if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
		t.Fatal(err)
	}
	tr := srv.TokenRequests()
	if len(tr) != 2 || tr[1].Auth != "client_secret" || tr[1].Scope != srv.URL()+"/.default" {
		t.Fatalf("token requests %+v, want exactly one more", tr)
	}
	log := srv.Log()
	if len(log) != 4 || log[2].Status != 401 || log[3].Status != 200 {
		t.Fatalf("requests %v, want 200 200 401 200", statuses(log))
	}
	if a, b := bearer(log[2]), bearer(log[3]); a == b || a == "" {
		t.Error("the retry reused the refused token")
	}
	if st := c.Stats(); st.TokenRefreshes != 2 || st.Retries != 1 || st.ClientErrors != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSecond401IsAnError(t *testing.T) {
	srv := graphtest.New(t)
	srv.SetTokenLifetime(0) // every token is expired when it arrives
	c, _, _ := newClient(t, srv, nil)
	err := c.Get(context.Background(), "/v1.0/users", nil, nil)
	var ae *graphapi.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "InvalidAuthenticationToken" {
		t.Fatalf("err = %v", err)
	}
	if n := srv.Requests("/v1.0/users"); n != 2 {
		t.Errorf("%d requests, want the request and one retry", n)
	}
	if n := len(srv.TokenRequests()); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}

func TestClaimsChallengeGoesToTheTokenService(t *testing.T) {
	srv := graphtest.New(t)
	c, _, _ := newClient(t, srv, nil)
	ctx := context.Background()
	if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
		t.Fatal(err)
	}
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1774432800"}}}`
	srv.RevokeTokens(claims)
	if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
		t.Fatal(err)
	}
	tr := srv.TokenRequests()
	if len(tr) != 2 || !strings.Contains(tr[1].Claims, `"nbf"`) {
		t.Fatalf("token requests %+v: the claims challenge did not reach the token service", tr)
	}
}

func TestBrokenPageIsFetchedAgain(t *testing.T) {
	srv := graphtest.New(t)
	var want []string
	for i := range 6 {
		srv.Add(graphtest.DirectoryAudits, graphtest.DirectoryAudit(fmt.Sprintf("a%d", i), t0.Add(time.Duration(i)*time.Second), "Update user"))
		want = append([]string{fmt.Sprintf("a%d", i)}, want...)
	}
	srv.BreakPage(auditsPath, 2)
	c, _, _ := newClient(t, srv, nil)
	got, _, err := collect(t, c, auditsPath, url.Values{"$top": {"2"}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[[a5 a4] [a3 a2] [a1 a0]]" {
		t.Fatalf("pages %v: a partial or repeated page reached fn", got)
	}
	log := srv.Log()
	if len(log) != 4 || !log[1].Broken || log[2].RawQuery != log[1].RawQuery {
		t.Fatalf("requests %+v, want the broken page fetched again", log)
	}
	if st := c.Stats(); st.TransportErrors != 1 || st.Retries != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestForbiddenAndNotFound(t *testing.T) {
	srv := graphtest.New(t)
	srv.Deny("/v1.0/roleManagement/directory/roleEligibilitySchedules", "")
	c, _, _ := newClient(t, srv, nil)
	ctx := context.Background()

	err := c.Pages(ctx, "/v1.0/roleManagement/directory/roleEligibilitySchedules", nil, func(*graphapi.Page) error { return nil })
	var ae *graphapi.APIError
	if !graphapi.IsForbidden(err) || graphapi.IsNotFound(err) || !errors.As(err, &ae) || ae.Code != "Authorization_RequestDenied" ||
		ae.Message != "Insufficient privileges to complete the operation." {
		t.Fatalf("err = %v", err)
	}
	if n := srv.Requests("/v1.0/roleManagement/directory/roleEligibilitySchedules"); n != 1 {
		t.Errorf("a 403 was retried: %d requests", n)
	}
	err = c.Pages(ctx, "/v1.0/groups/0b5c5c5e-0000-4000-8000-000000000000/transitiveMembers", nil, func(*graphapi.Page) error { return nil })
	if !graphapi.IsNotFound(err) || graphapi.IsForbidden(err) {
		t.Fatalf("err = %v", err)
	}
	if graphapi.IsForbidden(errors.New("403")) || graphapi.IsNotFound(nil) {
		t.Error("not an APIError")
	}
}

func TestRequestHeaders(t *testing.T) {
	srv := graphtest.New(t)
	c, _, _ := newClient(t, srv, nil)
	ctx := context.Background()
	srv.FailNext("/v1.0/auditLogs/signIns", 503, "0", 1)
	if err := c.Get(ctx, "/v1.0/auditLogs/signIns", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
		t.Fatal(err)
	}
	log := srv.Log()
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, r := range log {
		h := r.Header
		if h.Get("Accept") != "application/json" || h.Get("User-Agent") != "privtrail/test" ||
			h.Get("Prefer") != "include-unknown-enum-members" || !uuid.MatchString(h.Get("client-request-id")) {
			t.Errorf("%s headers %v", r.Path, h)
		}
	}
	if len(log) != 3 || log[0].Header.Get("client-request-id") != log[1].Header.Get("client-request-id") ||
		log[1].Header.Get("client-request-id") == log[2].Header.Get("client-request-id") {
		t.Error("client-request-id should stay over the retries of one request and change between requests")
	}
}

func TestGet(t *testing.T) {
	srv := graphtest.New(t)
	srv.Add(graphtest.RoleAssignments,
		graphtest.RoleAssignment("ra1", "p1", "62e90394-69f5-4237-9190-012177145e10"),
		graphtest.RoleAssignment("ra2", "p2", "62e90394-69f5-4237-9190-012177145e10"))
	c, _, _ := newClient(t, srv, nil)
	ctx := context.Background()

	var page struct {
		Value []struct {
			ID, PrincipalID string
		} `json:"value"`
	}
	q := url.Values{"$filter": {"principalId eq 'p2'"}}
	if err := c.Get(ctx, "v1.0/roleManagement/directory/roleAssignments", q, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Value) != 1 || page.Value[0].ID != "ra2" {
		t.Fatalf("page %+v", page)
	}
	// An absolute URL on the endpoint is fine; anywhere else is not.
	if err := c.Get(ctx, srv.URL()+"/v1.0/roleManagement/directory/roleAssignments", nil, &page); err != nil || len(page.Value) != 2 {
		t.Fatalf("absolute URL: %v %+v", err, page)
	}
	for _, bad := range []string{"https://graph.microsoft.com/v1.0/users", "/users", "/v2.0/users"} {
		if err := c.Get(ctx, bad, nil, nil); err == nil {
			t.Errorf("Get(%q) worked", bad)
		}
	}
	// A Graph 400 (a filter the API does not take) comes back whole.
	err := c.Get(ctx, "/v1.0/roleManagement/directory/roleAssignments", url.Values{"$filter": {"startswith(id,'r')"}}, nil)
	var ae *graphapi.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "Invalid filter clause") {
		t.Fatalf("err = %v", err)
	}
}

func TestReportsRateLimit(t *testing.T) {
	srv := graphtest.New(t)
	for i := range 4 {
		srv.Add(graphtest.DirectoryAudits, graphtest.DirectoryAudit(fmt.Sprintf("a%d", i), t0.Add(time.Duration(i)*time.Second), "Update user"))
	}
	c, _, _ := newClient(t, srv, nil)
	const n, window = 3, 400 * time.Millisecond
	graphapi.SetReportsLimit(c, n, window)
	ctx := context.Background()
	if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil { // token and connection first
		t.Fatal(err)
	}
	before := len(srv.Log())

	// 3 streams share the Client: two page through the audits (nextLinks
	// included), one GETs a report.
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2 {
				var err error
				if g == 2 {
					err = c.Get(ctx, "/v1.0/reports/authenticationMethods/userRegistrationDetails", nil, nil)
				} else {
					err = c.Pages(ctx, auditsPath, url.Values{"$top": {"2"}}, func(*graphapi.Page) error { return nil })
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Paths outside the reports API are not held back meanwhile.
	start := time.Now()
	for range 10 {
		if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > window {
		t.Errorf("10 /users requests took %s: limited like reports", d)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var times []time.Time
	for _, r := range srv.Log()[before:] {
		if !strings.HasPrefix(r.Path, "/v1.0/users") {
			times = append(times, r.Time)
		}
	}
	if len(times) != 10 { // 2×2×2 audit pages + 2 reports
		t.Fatalf("%d reports requests", len(times))
	}
	// Never more than n in any window (less a little for the way from
	// the client to the server's clock).
	for i := n; i < len(times); i++ {
		if d := times[i].Sub(times[i-n]); d < window-50*time.Millisecond {
			t.Fatalf("requests %d and %d are %s apart: %d requests in less than %s", i-n, i, d, n+1, window)
		}
	}
}

func statuses(log []graphtest.Request) []int {
	var s []int
	for _, r := range log {
		s = append(s, r.Status)
	}
	return s
}

func bearer(r graphtest.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}
