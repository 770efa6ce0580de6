package graphapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

const (
	// DefaultTimeout is timeout when it is left out: one request, token
	// acquisition included.
	DefaultTimeout = 60 * time.Second
	// DefaultReportsRate is reports_rate when it is left out: Microsoft
	// documents "5 requests per 10 seconds" per app per tenant for the
	// identity and access reports (auditLogs, reports).
	DefaultReportsRate = 5
	// DefaultMaxAttempts is max_attempts when it is left out.
	DefaultMaxAttempts = 6

	maxMaxAttempts = 20
)

// The auth modes.
const (
	AuthClientSecret     = "client_secret"
	AuthCertificate      = "certificate"
	AuthManagedIdentity  = "managed_identity"
	AuthWorkloadIdentity = "workload_identity"
)

// clouds maps a cloud name to its authority host and Graph endpoint
// (national cloud deployments, as Microsoft lists them).
var clouds = map[string]struct{ authority, endpoint string }{
	"public":       {"https://login.microsoftonline.com", "https://graph.microsoft.com"},
	"usgovernment": {"https://login.microsoftonline.us", "https://graph.microsoft.us"},
	"china":        {"https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"},
}

// Config is the `graph:` block of the agent config: which tenant, how
// privtrail signs in, and how it talks to Microsoft Graph.
type Config struct {
	// TenantID is the directory (tenant) ID or a verified domain.
	// Required except for managed_identity (and workload_identity, where
	// AZURE_TENANT_ID may give it).
	TenantID string `yaml:"tenant_id"`
	// ClientID is the application (client) ID of the app registration.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the app's client secret, written ${ENV_VAR} or
	// file:/path.
	ClientSecret secret.Secret `yaml:"client_secret"`
	// Certificate is a PEM or PKCS#12 file holding the app's certificate
	// and its private key.
	Certificate string `yaml:"certificate"`
	// CertificatePassword decrypts a PKCS#12 Certificate.
	CertificatePassword secret.Secret `yaml:"certificate_password"`
	// Auth is client_secret, certificate, managed_identity or
	// workload_identity. Default: client_secret when client_secret is
	// set, certificate when certificate is set.
	Auth string `yaml:"auth"`
	// ManagedIdentityClientID picks a user-assigned managed identity;
	// empty means the system-assigned one.
	ManagedIdentityClientID string `yaml:"managed_identity_client_id"`
	// Cloud is public (default), usgovernment or china.
	Cloud string `yaml:"cloud"`
	// AuthorityHost overrides the cloud's sign-in host
	// (https://login.microsoftonline.com).
	AuthorityHost string `yaml:"authority_host"`
	// Endpoint overrides the cloud's Graph endpoint
	// (https://graph.microsoft.com).
	Endpoint string `yaml:"endpoint"`
	// TLS adjusts TLS to Entra and Graph (a private CA of a TLS-inspecting
	// proxy, say).
	TLS *tlsconfig.Config `yaml:"tls"`
	// Timeout bounds one request, its token included (default 60s).
	Timeout time.Duration `yaml:"timeout"`
	// ReportsRate is how many requests per 10 seconds go to the reports
	// API paths (/auditLogs/..., /reports/...), shared by everything
	// using one Client (default 5, Microsoft's documented limit).
	ReportsRate int `yaml:"reports_rate"`
	// MaxAttempts bounds the tries of one request on throttling,
	// unavailability and network errors (default 6).
	MaxAttempts int `yaml:"max_attempts"`
}

// Validate checks c and fills in the defaults of keys left at zero. Every
// error names its key; none contains a secret. It works on a copy and
// writes it back only when everything is valid, so a failed Validate
// leaves c as it was.
func (c *Config) Validate() error {
	d := *c
	if c.TLS != nil {
		t := *c.TLS
		d.TLS = &t
	}
	if err := d.validate(); err != nil {
		return err
	}
	*c = d
	return nil
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	c.Auth = strings.ToLower(strings.TrimSpace(c.Auth))
	switch c.Auth {
	case "":
		switch {
		case c.ClientSecret.IsSet() && c.Certificate != "":
			bad("client_secret and certificate: give one, or name the one to use in auth")
		case c.ClientSecret.IsSet():
			c.Auth = AuthClientSecret
		case c.Certificate != "":
			c.Auth = AuthCertificate
		default:
			bad("auth: set client_secret (with tenant_id and client_id), certificate, or auth: managed_identity or workload_identity")
		}
	case AuthClientSecret:
		if !c.ClientSecret.IsSet() {
			bad("client_secret: required with auth: client_secret")
		}
	case AuthCertificate:
		if c.Certificate == "" {
			bad("certificate: required with auth: certificate (a PEM or PKCS#12 file with the private key)")
		}
	case AuthManagedIdentity, AuthWorkloadIdentity:
		if c.ClientSecret.IsSet() {
			bad("client_secret: not used with auth: %s", c.Auth)
		}
		if c.Certificate != "" {
			bad("certificate: not used with auth: %s", c.Auth)
		}
	default:
		bad("auth: %q is not client_secret, certificate, managed_identity or workload_identity", c.Auth)
	}
	if c.CertificatePassword.IsSet() && c.Certificate == "" {
		bad("certificate_password: only used with certificate")
	}
	if c.ManagedIdentityClientID != "" && c.Auth != AuthManagedIdentity {
		bad("managed_identity_client_id: only used with auth: managed_identity")
	}
	if c.Auth == AuthClientSecret || c.Auth == AuthCertificate {
		if c.TenantID == "" {
			bad("tenant_id: required with auth: %s", c.Auth)
		}
		if c.ClientID == "" {
			bad("client_id: required with auth: %s", c.Auth)
		}
	}
	if c.TenantID != "" && !validTenantID(c.TenantID) {
		bad("tenant_id: %q is not a tenant ID or domain (letters, digits, '-' and '.')", c.TenantID)
	}

	c.Cloud = strings.ToLower(strings.TrimSpace(c.Cloud))
	if c.Cloud == "" {
		c.Cloud = "public"
	}
	cl, ok := clouds[c.Cloud]
	if !ok {
		bad("cloud: %q is not public, usgovernment or china", c.Cloud)
	}
	if c.AuthorityHost == "" {
		c.AuthorityHost = cl.authority
	} else if u, err := baseURL(c.AuthorityHost, false); err != nil {
		bad("authority_host: %v", err)
	} else {
		c.AuthorityHost = u
	}
	if c.Endpoint == "" {
		c.Endpoint = cl.endpoint
	} else if u, err := baseURL(c.Endpoint, true); err != nil {
		bad("endpoint: %v", err)
	} else {
		c.Endpoint = u
	}

	if c.TLS != nil {
		if err := c.TLS.Validate(); err != nil {
			bad("tls.%v", err)
		}
	}
	switch {
	case c.Timeout < 0:
		bad("timeout: must be positive, got %s", c.Timeout)
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	}
	switch {
	case c.ReportsRate < 0:
		bad("reports_rate: must be positive, got %d", c.ReportsRate)
	case c.ReportsRate == 0:
		c.ReportsRate = DefaultReportsRate
	}
	switch {
	case c.MaxAttempts < 0:
		bad("max_attempts: must be positive, got %d", c.MaxAttempts)
	case c.MaxAttempts == 0:
		c.MaxAttempts = DefaultMaxAttempts
	case c.MaxAttempts > maxMaxAttempts:
		bad("max_attempts: %d is over the limit of %d", c.MaxAttempts, maxMaxAttempts)
	}
	return errors.Join(errs...)
}

// Scope is the OAuth scope of an app-only Graph token: the endpoint's
// application permissions.
func (c *Config) Scope() string { return c.Endpoint + "/.default" }

// baseURL checks an authority host or Graph endpoint and returns it as
// scheme://host[:port]. Plain http is refused except on a loopback
// address, and only for the Graph endpoint: azidentity itself refuses an
// authority without https.
func baseURL(s string, allowLoopbackHTTP bool) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an https:// URL", s)
	}
	switch {
	case u.User != nil:
		return "", fmt.Errorf("%q: no user info in the URL", s)
	case u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "":
		return "", fmt.Errorf("%q: give scheme and host only, no path or query", s)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !allowLoopbackHTTP || !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("%q: https is required (plain http only to a loopback address, for tests)", s)
		}
	default:
		return "", fmt.Errorf("%q is not an https:// URL", s)
	}
	return strings.ToLower(u.Scheme) + "://" + u.Host, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validTenantID is azidentity's rule, checked here so that the error
// names the key.
func validTenantID(t string) bool {
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return t != ""
}

// knownAuthority reports whether host is one of the clouds' sign-in
// hosts, which MSAL trusts without instance discovery. Any other host
// (a private cloud, a test server) needs instance discovery off, or MSAL
// asks login.microsoftonline.com about it.
func knownAuthority(host string) bool {
	for _, cl := range clouds {
		if strings.EqualFold(cl.authority, host) {
			return true
		}
	}
	return false
}

// ValidateBlock validates cfg as the `graph:` block of a feature's own
// config (an input's), each error naming its key in full
// ("graph.client_id: …"). A nil cfg is an error when required, saying what
// the app registration is for.
func ValidateBlock(cfg *Config, required bool, purpose string) []error {
	if cfg == nil {
		if required {
			return []error{fmt.Errorf("graph: required: the app registration to %s (tenant_id, client_id, client_secret or certificate, or a managed identity; see internal/graphapi/README.md)", purpose)}
		}
		return nil
	}
	err := cfg.Validate()
	if err == nil {
		return nil
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		out = append(out, fmt.Errorf("graph.%w", e))
	}
	return out
}

// ClientFor returns shared when a feature was given the agent's client,
// else a new Client of the feature's own block.
func ClientFor(shared *Client, cfg *Config, log *slog.Logger, opts ...Option) (*Client, error) {
	if shared != nil {
		return shared, nil
	}
	c, err := New(*cfg, log, opts...)
	if err != nil {
		return nil, fmt.Errorf("graph.%w", err)
	}
	return c, nil
}

// Share gives a feature that has no graph block of its own (*own is nil)
// a copy of the top-level one, and reports whether it did: the feature
// then reads through the agent's client (one token, one rate limit).
func Share(own **Config, shared *Config) bool {
	if *own != nil || shared == nil {
		return false
	}
	g := *shared
	*own = &g
	return true
}
