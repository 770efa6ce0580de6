package graphapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
	"github.com/privtrail/privtrail/internal/secret"
)

func TestAuthModes(t *testing.T) {
	tests := []struct {
		name string
		auth string // the Auth the fake records
		edit func(t *testing.T, srv *graphtest.Server, cfg *graphapi.Config)
	}{
		{name: "client secret", auth: "client_secret"},
		{name: "certificate", auth: "certificate", edit: func(t *testing.T, srv *graphtest.Server, cfg *graphapi.Config) {
			cfg.ClientSecret = secret.Secret{}
			cfg.Certificate = srv.ClientCertificate()
		}},
		{name: "workload identity", auth: "federated", edit: func(t *testing.T, srv *graphtest.Server, cfg *graphapi.Config) {
			cfg.ClientSecret = secret.Secret{}
			cfg.Auth = graphapi.AuthWorkloadIdentity
			t.Setenv("AZURE_FEDERATED_TOKEN_FILE", srv.FederatedToken())
		}},
		{name: "managed identity", auth: "managed_identity", edit: func(t *testing.T, srv *graphtest.Server, cfg *graphapi.Config) {
			cfg.ClientSecret = secret.Secret{}
			cfg.Auth = graphapi.AuthManagedIdentity
			cfg.TenantID, cfg.ClientID = "", ""
			srv.ManagedIdentity()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := graphtest.New(t)
			srv.Add(graphtest.Users, graphtest.User("u1", "adm@contoso.example", t0))
			c, _, _ := newClient(t, srv, func(cfg *graphapi.Config) {
				if tt.edit != nil {
					tt.edit(t, srv, cfg)
				}
			})
			ctx := context.Background()
			if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
				t.Fatal(err)
			}
			// A refused token is replaced by one from the token service
			// itself, whatever cache the credential keeps.
			srv.ExpireTokens()
			if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
				t.Fatal(err)
			}
			tr := srv.TokenRequests()
			if len(tr) != 2 {
				t.Fatalf("token requests %+v, want 2", tr)
			}
			for _, r := range tr {
				if r.Auth != tt.auth || r.Status != 200 || r.Scope != srv.URL()+"/.default" {
					t.Errorf("token request %+v, want auth %s", r, tt.auth)
				}
			}
		})
	}
}

func TestSecretsAndTokensStayOutOfErrorsAndLogs(t *testing.T) {
	srv := graphtest.New(t)
	srv.Add(graphtest.SignIns, graphtest.SignIn("s1", t0, "adm@contoso.example"), graphtest.SignIn("s2", t0.Add(time.Second), "adm@contoso.example"))

	// A wrong secret: Entra's refusal is reported, the secret is not.
	wrong := "wr0ng~" + strings.Repeat("Zq8", 12)
	bad, logs, _ := newClient(t, srv, func(cfg *graphapi.Config) {
		cfg.ClientSecret, _ = secret.Resolve(wrong)
	})
	err := bad.Get(context.Background(), "/v1.0/users", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("err = %v, want Entra's invalid client secret", err)
	}
	for _, s := range []string{wrong, srv.ClientSecret} {
		if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
			t.Fatalf("a secret shows in the error or the log:\n%v\n%s", err, logs)
		}
	}

	// A good client through pages, a 401 and a retry, logging everything.
	c, logs, _ := newClient(t, srv, nil)
	ctx := context.Background()
	if err := c.Pages(ctx, signInsPath, url.Values{"$top": {"1"}}, func(*graphapi.Page) error { return nil }); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	srv.FailNext("/v1.0/users", 503, "0", 1)
	if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
		t.Fatal(err)
	}
	srv.Deny("/v1.0/users", "")
	err = c.Get(ctx, "/v1.0/users", nil, nil)
	if !graphapi.IsForbidden(err) {
		t.Fatalf("err = %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "graph request") || !strings.Contains(out, "retrying") || !strings.Contains(out, "graph token acquired") {
		t.Fatalf("the log lacks the requests:\n%s", out)
	}
	toks := srv.Tokens()
	if len(toks) < 2 {
		t.Fatalf("%d tokens", len(toks))
	}
	for _, tok := range toks {
		if strings.Contains(out, tok.Value) || strings.Contains(err.Error(), tok.Value) {
			t.Fatalf("token %s… shows in the log or error", tok.Value[:24])
		}
	}
	if strings.Contains(out, srv.ClientSecret) {
		t.Fatal("the client secret shows in the log")
	}
}

// countingCredential hands out tokens the fake issued, with the expiry
// the test chooses, and counts the calls.
type countingCredential struct {
	srv     *graphtest.Server
	expires func() time.Time
	mu      sync.Mutex
	calls   int
	claims  []string
}

func (c *countingCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.claims = append(c.claims, o.Claims)
	return azcore.AccessToken{Token: c.srv.IssueToken(), ExpiresOn: c.expires()}, nil
}

func TestTokenIsReusedUntilFiveMinutesBeforeExpiry(t *testing.T) {
	srv := graphtest.New(t)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	cred := &countingCredential{srv: srv, expires: func() time.Time { return clock().Add(10 * time.Minute) }}

	c, err := graphapi.New(srv.Config(), nil, graphapi.WithCredential(cred), graphapi.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	graphapi.SetTokenClock(c, clock)
	ctx := context.Background()
	steps := []struct {
		advance time.Duration
		calls   int
	}{
		{0, 1},                            // first token, expires in 10m
		{4 * time.Minute, 1},              // 6m left: reused
		{59 * time.Second, 1},             // 5m01s left: reused
		{2 * time.Second, 2},              // 4m59s left: renewed
		{time.Minute, 2},                  // the new one is fresh
		{10*time.Minute + time.Second, 3}, // past the new one's expiry
	}
	for i, s := range steps {
		advance(s.advance)
		if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
			t.Fatal(err)
		}
		if cred.calls != s.calls {
			t.Fatalf("step %d: %d GetToken calls, want %d", i, cred.calls, s.calls)
		}
	}
	if st := c.Stats(); st.TokenRefreshes != 3 {
		t.Errorf("stats %+v", st)
	}

	// A 401 asks an injected credential once more, and the retry uses
	// what it gives.
	srv.ExpireTokens()
	if err := c.Get(ctx, "/v1.0/users", nil, nil); err != nil {
		t.Fatal(err)
	}
	if cred.calls != 4 {
		t.Fatalf("%d GetToken calls after a 401", cred.calls)
	}
}

type staticCredential struct{ tok string }

func (s staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: s.tok, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestCredentialGivingTheRefusedTokenAgain(t *testing.T) {
	srv := graphtest.New(t)
	tok := srv.IssueToken()
	cfg := srv.Config()
	c, err := graphapi.New(cfg, nil, graphapi.WithCredential(staticCredential{tok}), graphapi.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	err = c.Get(context.Background(), "/v1.0/users", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "same token again") || strings.Contains(err.Error(), tok) {
		t.Fatalf("err = %v", err)
	}
	if n := srv.Requests("/v1.0/users"); n != 1 {
		t.Errorf("%d requests: sent the refused token again", n)
	}
}

type failingCredential struct{}

func (failingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("no token today")
}

func TestTokenErrorStopsTheRequest(t *testing.T) {
	srv := graphtest.New(t)
	c, err := graphapi.New(srv.Config(), nil, graphapi.WithCredential(failingCredential{}), graphapi.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Get(context.Background(), "/v1.0/users", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "no token today") || !strings.Contains(err.Error(), srv.URL()+"/.default") {
		t.Fatalf("err = %v", err)
	}
	if n := len(srv.Log()); n != 0 {
		t.Errorf("%d requests without a token", n)
	}
}

func TestNewErrors(t *testing.T) {
	srv := graphtest.New(t)
	tests := []struct {
		edit func(*graphapi.Config)
		want string
	}{
		{func(c *graphapi.Config) { c.ClientSecret = secret.Secret{} }, "auth: set client_secret"},
		{func(c *graphapi.Config) { c.ClientSecret = secret.Secret{}; c.Certificate = "/nonexistent/app.pem" }, "certificate: open /nonexistent/app.pem"},
		{func(c *graphapi.Config) { c.TLS.CAFile = "/nonexistent/ca.pem" }, "tls.ca_file"},
	}
	for _, tt := range tests {
		cfg := srv.Config()
		tt.edit(&cfg)
		_, err := graphapi.New(cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
	}
	// A certificate file without a key.
	cfg := srv.Config()
	cfg.ClientSecret = secret.Secret{}
	cfg.Certificate = srv.CAFile()
	if _, err := graphapi.New(cfg, nil); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("certificate %s:", srv.CAFile())) {
		t.Errorf("err = %v", err)
	}
}
