package graphapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// tokenMargin is how long before ExpiresOn a token stops being used: a
// request sent with a token about to expire can still arrive after it has.
const tokenMargin = 5 * time.Minute

// bypassClaims is the claims value of a forced refresh from a managed
// identity. MSAL skips its token cache whenever claims are given (that is
// how a claims challenge gets a new token), and the managed identity
// endpoints do not take claims, so an empty request is enough to be sure
// the rejected token is not handed back from the process-wide cache.
const bypassClaims = `{"access_token":{}}`

// credentialSource makes the credential of a Config. renew builds a new
// one with an empty token cache, for when Graph rejects a token the cache
// still holds; nil when that is not possible (an injected credential, a
// managed identity whose cache MSAL keeps process-wide).
type credentialSource struct {
	cred  azcore.TokenCredential
	renew func() (azcore.TokenCredential, error)
	mi    bool
}

// newCredential builds the azidentity credential of cfg (validated) over
// hc, so that the private CA of cfg.TLS, or a test server's, applies to
// the token requests too.
func newCredential(cfg Config, hc *http.Client) (credentialSource, error) {
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.AuthorityHost + "/"},
		Transport: hc,
		Telemetry: policy.TelemetryOptions{ApplicationID: "privtrail"},
	}
	noDiscovery := !knownAuthority(cfg.AuthorityHost)
	var build func() (azcore.TokenCredential, error)
	switch cfg.Auth {
	case AuthClientSecret:
		build = func() (azcore.TokenCredential, error) {
			return azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret.Value(),
				&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
		}
	case AuthCertificate:
		data, err := os.ReadFile(cfg.Certificate)
		if err != nil {
			return credentialSource{}, fmt.Errorf("certificate: %w", err)
		}
		var password []byte
		if cfg.CertificatePassword.IsSet() {
			password = []byte(cfg.CertificatePassword.Value())
		}
		certs, key, err := azidentity.ParseCertificates(data, password)
		if err != nil {
			return credentialSource{}, fmt.Errorf("certificate %s: %v", cfg.Certificate, err)
		}
		build = func() (azcore.TokenCredential, error) {
			return azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
		}
	case AuthWorkloadIdentity:
		// The token file, and the tenant and client when the config
		// leaves them out, come from the AZURE_* variables the workload
		// identity webhook sets.
		build = func() (azcore.TokenCredential, error) {
			return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
				ClientOptions: opts, TenantID: cfg.TenantID, ClientID: cfg.ClientID, DisableInstanceDiscovery: noDiscovery})
		}
	case AuthManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if cfg.ManagedIdentityClientID != "" {
			o.ID = azidentity.ClientID(cfg.ManagedIdentityClientID)
		}
		cred, err := azidentity.NewManagedIdentityCredential(o)
		if err != nil {
			return credentialSource{}, fmt.Errorf("managed identity: %w", err)
		}
		return credentialSource{cred: cred, mi: true}, nil
	default:
		return credentialSource{}, fmt.Errorf("auth: %q is not supported", cfg.Auth)
	}
	cred, err := build()
	if err != nil {
		return credentialSource{}, fmt.Errorf("%s credential: %w", cfg.Auth, err)
	}
	return credentialSource{cred: cred, renew: build}, nil
}

// tokenSource hands out the current Graph token, renewing it 5 minutes
// before it expires, and gets a new one when Graph rejects it.
type tokenSource struct {
	src   credentialSource
	scope string
	log   *slog.Logger
	stats *counters
	now   func() time.Time

	mu  sync.Mutex
	tok azcore.AccessToken
}

// token returns a token valid for at least tokenMargin.
func (ts *tokenSource) token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.valid() {
		return ts.tok.Token, nil
	}
	return ts.fetch(ctx, "", false)
}

// refresh replaces rejected, the token Graph answered 401 to, by a new one
// that comes from the token service, not from a cache. claims is the
// decoded claims challenge of the 401, if it carried one.
func (ts *tokenSource) refresh(ctx context.Context, rejected, claims string) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.tok.Token != rejected && ts.valid() {
		return ts.tok.Token, nil // another request already replaced it
	}
	ts.tok = azcore.AccessToken{}
	switch {
	case claims != "":
		// A claims challenge: MSAL skips its cache when given claims.
	case ts.src.renew != nil:
		cred, err := ts.src.renew()
		if err != nil {
			return "", fmt.Errorf("graph: renewing the credential: %w", err)
		}
		ts.src.cred = cred
	case ts.src.mi:
		claims = bypassClaims
	}
	tok, err := ts.fetch(ctx, claims, true)
	if err == nil && tok == rejected {
		return "", errors.New("graph: Graph rejected the token (401) and the credential gave the same token again")
	}
	return tok, err
}

func (ts *tokenSource) valid() bool {
	return ts.tok.Token != "" && ts.now().Before(ts.tok.ExpiresOn.Add(-tokenMargin))
}

// fetch asks the credential for a token; ts.mu is held. Its errors come
// from azidentity, which reports the token service's answer (AADSTS
// codes) but never the secret it sent.
func (ts *tokenSource) fetch(ctx context.Context, claims string, forced bool) (string, error) {
	tok, err := ts.src.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{ts.scope}, Claims: claims})
	if err != nil {
		return "", fmt.Errorf("graph: getting a token for %s: %w", ts.scope, err)
	}
	if tok.Token == "" {
		return "", fmt.Errorf("graph: getting a token for %s: the credential returned an empty token", ts.scope)
	}
	ts.stats.tokenRefreshes.Add(1)
	ts.tok = tok
	ts.log.Debug("graph token acquired", "scope", ts.scope, "expires_on", tok.ExpiresOn.UTC().Format(time.RFC3339), "forced", forced)
	return tok.Token, nil
}

// challengeClaims returns the decoded claims of a Bearer challenge with
// error="insufficient_claims" (continuous access evaluation), or "".
func challengeClaims(wwwAuthenticate string) string {
	params := map[string]string{}
	s := strings.TrimSpace(wwwAuthenticate)
	scheme, rest, _ := strings.Cut(s, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimLeft(strings.TrimSpace(rest), ",") {
		rest = strings.TrimSpace(rest)
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			end := strings.Index(v[1:], `"`)
			if end < 0 {
				break
			}
			params[k], rest = v[1:1+end], v[2+end:]
		} else {
			val, after, _ := strings.Cut(v, ",")
			params[k], rest = strings.TrimSpace(val), after
		}
	}
	if params["error"] != "insufficient_claims" || params["claims"] == "" {
		return ""
	}
	c := params["claims"]
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(c); err == nil {
			return string(b)
		}
	}
	return ""
}
