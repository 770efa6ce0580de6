package graphapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestWindowLimiter(t *testing.T) {
	const n, window = 2, 150 * time.Millisecond
	l := newWindowLimiter(n, window)
	ctx := context.Background()
	var mu sync.Mutex
	var starts []time.Time
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2 {
				if err := l.Wait(ctx); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				starts = append(starts, time.Now())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != 6 {
		t.Fatalf("%d starts", len(starts))
	}
	slices.SortFunc(starts, time.Time.Compare)
	for i := n; i < len(starts); i++ {
		if d := starts[i].Sub(starts[i-n]); d < window-5*time.Millisecond {
			t.Fatalf("starts %d and %d are %s apart, window %s", i-n, i, d, window)
		}
	}
	if total := starts[len(starts)-1].Sub(starts[0]); total > 3*window {
		t.Errorf("6 starts took %s: more waiting than the window needs", total)
	}

	// A waiting request gives up with its context.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	full := newWindowLimiter(1, time.Hour)
	_ = full.Wait(ctx)
	if err := full.Wait(cctx); err != context.DeadlineExceeded {
		t.Fatalf("err = %v", err)
	}
}

func TestChallengeClaims(t *testing.T) {
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1774432800"}}}`
	b64 := base64.StdEncoding.EncodeToString([]byte(claims))
	tests := []struct {
		header, want string
	}{
		{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="` + b64 + `"`, claims},
		{`Bearer claims="` + b64 + `", error="insufficient_claims"`, claims},
		{`Bearer error="insufficient_claims", claims="` + base64.RawURLEncoding.EncodeToString([]byte(claims)) + `"`, claims},
		{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`, ""},
		{`Bearer error="invalid_token", claims="` + b64 + `"`, ""},
		{`Basic realm="x"`, ""},
		{`Bearer error="insufficient_claims", claims="%%%"`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := challengeClaims(tt.header); got != tt.want {
			t.Errorf("challengeClaims(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-3", 0},
		{now.Add(42 * time.Second).Format(http.TimeFormat), 42 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.v != "" {
			h.Set("Retry-After", tt.v)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("Retry-After %q: %s, want %s", tt.v, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt, limit := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: time.Minute, 40: time.Minute} {
		var maxSeen time.Duration
		for range 200 {
			d := backoff(attempt)
			if d < 0 || d > limit {
				t.Fatalf("backoff(%d) = %s, over %s", attempt, d, limit)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < limit/4 {
			t.Errorf("backoff(%d) never above %s in 200 draws: no jitter over the range", attempt, maxSeen)
		}
	}
}

func TestEncodeQueryAndReportsPaths(t *testing.T) {
	q := url.Values{"$top": {"500"}, "$filter": {"createdDateTime ge 2026-01-01T00:00:00Z and userPrincipalName eq 'a+b@contoso.example'"}}
	want := "$filter=createdDateTime%20ge%202026-01-01T00%3A00%3A00Z%20and%20userPrincipalName%20eq%20%27a%2Bb%40contoso.example%27&$top=500"
	got := encodeQuery(q)
	if got != want {
		t.Fatalf("encodeQuery = %s", got)
	}
	if back, err := url.ParseQuery(got); err != nil || back.Get("$filter") != q.Get("$filter") {
		t.Fatalf("does not decode back: %v %v", back, err)
	}
	for path, want := range map[string]bool{
		"/v1.0/auditLogs/signIns":                                     true,
		"/beta/auditlogs/directoryaudits":                             true,
		"/v1.0/reports/authenticationMethods/userRegistrationDetails": true,
		"/v1.0/users": false,
		"/v1.0/roleManagement/directory/roleAssignments": false,
		"/v1.0/groups/auditLogs/x":                       false,
	} {
		if got := isReportsPath(path); got != want {
			t.Errorf("isReportsPath(%s) = %v", path, got)
		}
	}
}
