package splunk

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// Config is an `outputs:` entry's `splunk:` block.
type Config struct {
	// URL is the HEC base address, e.g. https://splunk.example:8088. A
	// path ending in /services/collector or /services/collector/event is
	// accepted and trimmed; any other path is kept as a prefix (a reverse
	// proxy). https is required unless AllowHTTP is set.
	URL string `yaml:"url"`
	// Token is the HEC token, written ${ENV_VAR} or file:/path.
	Token secret.Secret `yaml:"token"`
	// Index is the Splunk index; empty uses the token's default index.
	Index string `yaml:"index"`
	// Host is the event's host field; default the agent's hostname.
	Host string `yaml:"host"`
	// Source is the event's source field; default "privtrail".
	Source string `yaml:"source"`
	// Sourcetypes chooses the sourcetype per kind of record.
	Sourcetypes Sourcetypes `yaml:"sourcetypes"`
	// Envelope is how Graph-shaped records are written: "diagnostic"
	// (default) writes sign-ins, directory audits, user risk detections
	// and risky users in the Azure Monitor diagnostic-settings envelope,
	// as Azure Monitor writes the same record, with the Diagnostic
	// sourcetype (azure:monitor:aad), so content written for it applies
	// whatever the input; "as_read" writes every record as it was read,
	// with the add-on's Graph sourcetypes. Records read in the diagnostic
	// shape and the other streams are written as read either way.
	Envelope string `yaml:"envelope"`
	// Gzip compresses request bodies; default true.
	Gzip *bool `yaml:"gzip"`
	// IndexerAck waits for HEC indexer acknowledgement of every batch
	// before it counts as delivered (the token must have it enabled).
	IndexerAck bool `yaml:"indexer_ack"`
	// AckTimeout is how long to wait for an acknowledgement before the
	// batch is sent again; default 5m.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// AckPollInterval is the time between acknowledgement queries;
	// default 1s.
	AckPollInterval time.Duration `yaml:"ack_poll_interval"`
	// Channel is the HEC channel (a GUID) used with indexer
	// acknowledgement; default a random GUID per start.
	Channel string `yaml:"channel"`
	// Timeout bounds one HTTP request; default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// AllowHTTP permits an http:// URL (the token then travels in clear).
	AllowHTTP bool              `yaml:"allow_http"`
	TLS       *tlsconfig.Config `yaml:"tls"`

	delivery.Config `yaml:",inline"`
}

// Sourcetypes are the sourcetypes events are indexed with, by stream and
// wire shape.
type Sourcetypes struct {
	// SignIn is for Graph-shaped sign-ins (signIns API, portal exports);
	// default azure:aad:signin, the Splunk Add-on for Microsoft Azure's.
	SignIn string `yaml:"signin"`
	// Audit is for Graph-shaped directory audits; default azure:aad:audit.
	Audit string `yaml:"audit"`
	// Diagnostic is for records in the diagnostic-settings envelope
	// (Event Hubs, storage, and Graph records privtrail writes in it with
	// envelope: diagnostic); default azure:monitor:aad, what Splunk's
	// security content searches.
	Diagnostic string `yaml:"diagnostic"`
	// Activity is for Azure Activity log records, either shape; default
	// azure:monitor:activity.
	Activity string `yaml:"activity"`
	// AADDS is for Entra Domain Services security events; default
	// azure:monitor:aad (they come from diagnostic settings of a
	// Microsoft.AAD resource).
	AADDS string `yaml:"aadds"`
	// Directory is for the privileged-account state records of
	// privtrail's directory scans; default privtrail:directory (no add-on
	// defines a sourcetype for them: they are privtrail's own documents).
	Directory string `yaml:"directory"`
	// RiskDetection is for Graph-shaped Entra ID Protection risk
	// detections (riskDetections, servicePrincipalRiskDetections); default
	// azure:aad:identity_protection:risk_detection, the Splunk Add-on for
	// Microsoft Azure's for the same documents.
	RiskDetection string `yaml:"risk_detection"`
	// RiskyUser is for Graph-shaped riskyUsers; default
	// azure:aad:identity_protection:risky_user, the add-on's.
	RiskyUser string `yaml:"risky_user"`
	// RiskyServicePrincipal is for Graph-shaped riskyServicePrincipals;
	// default azure:aad:identity_protection:risky_service_principal (the
	// add-on does not collect them; named after its two).
	RiskyServicePrincipal string `yaml:"risky_service_principal"`
	// Other is for Graph-shaped records of a category privtrail has no
	// model for and no Graph sourcetype above covers; default
	// azure:aad:other. Diagnostic-settings records of any category are
	// Diagnostic's.
	Other string `yaml:"other"`
}

// Default values.
const (
	DefaultSource          = "privtrail"
	DefaultAckTimeout      = 5 * time.Minute
	DefaultAckPollInterval = time.Second
	DefaultTimeout         = 30 * time.Second
	// DefaultEnvelope: Splunk's content for Entra ID (ESCU's
	// azure_monitor_aad macro) searches sourcetype azure:monitor:aad and
	// the diagnostic record's fields.
	DefaultEnvelope = string(entra.EnvelopeDiagnostic)

	SourcetypeSignIn     = "azure:aad:signin"
	SourcetypeAudit      = "azure:aad:audit"
	SourcetypeDiagnostic = "azure:monitor:aad"
	SourcetypeActivity   = "azure:monitor:activity"
	SourcetypeAADDS      = "azure:monitor:aad"
	SourcetypeDirectory  = "privtrail:directory"

	SourcetypeRiskDetection         = "azure:aad:identity_protection:risk_detection"
	SourcetypeRiskyUser             = "azure:aad:identity_protection:risky_user"
	SourcetypeRiskyServicePrincipal = "azure:aad:identity_protection:risky_service_principal"
	SourcetypeOther                 = "azure:aad:other"
)

// Defaults fills in what was not set. Host is the agent's hostname, Channel
// a fresh random GUID.
func (c *Config) Defaults() {
	if c.Source == "" {
		c.Source = DefaultSource
	}
	if c.Envelope == "" {
		c.Envelope = DefaultEnvelope
	}
	if c.Host == "" {
		if h, err := os.Hostname(); err == nil {
			c.Host = h
		}
	}
	st := &c.Sourcetypes
	for _, d := range []struct {
		p *string
		v string
	}{{&st.SignIn, SourcetypeSignIn}, {&st.Audit, SourcetypeAudit}, {&st.Diagnostic, SourcetypeDiagnostic}, {&st.Activity, SourcetypeActivity}, {&st.AADDS, SourcetypeAADDS},
		{&st.Directory, SourcetypeDirectory}, {&st.RiskDetection, SourcetypeRiskDetection}, {&st.RiskyUser, SourcetypeRiskyUser},
		{&st.RiskyServicePrincipal, SourcetypeRiskyServicePrincipal}, {&st.Other, SourcetypeOther}} {
		if *d.p == "" {
			*d.p = d.v
		}
	}
	if c.Gzip == nil {
		on := true
		c.Gzip = &on
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.AckPollInterval == 0 {
		c.AckPollInterval = DefaultAckPollInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Channel == "" && c.IndexerAck {
		c.Channel = newGUID()
	}
	c.Config.Defaults()
}

// Validate checks the block; errors start with the key they are about.
// It works on a copy with defaults applied, so it may be called first.
func (c Config) Validate() error {
	c.Defaults()
	if c.URL == "" {
		return errors.New("url: is required (e.g. https://splunk.example:8088)")
	}
	if _, err := c.baseURL(); err != nil {
		return err
	}
	if !c.Token.IsSet() {
		return errors.New("token: is required (${ENV_VAR} or file:/path/to/token)")
	}
	if strings.ContainsAny(c.Token.Value(), "\r\n") {
		return errors.New("token: contains a line break")
	}
	if _, err := entra.ParseEnvelope(c.Envelope); err != nil {
		return fmt.Errorf("envelope: %w", err)
	}
	if c.Channel != "" && !isGUID(c.Channel) {
		return fmt.Errorf("channel: %q is not a GUID (HEC requires one, e.g. 0f6e1f2a-8c4b-4d5e-9f10-2a3b4c5d6e7f)", c.Channel)
	}
	if c.AckTimeout < 0 {
		return errors.New("ack_timeout: must not be negative")
	}
	if c.AckPollInterval < 0 {
		return errors.New("ack_poll_interval: must not be negative")
	}
	if c.AckTimeout < c.AckPollInterval {
		return fmt.Errorf("ack_timeout: must be at least ack_poll_interval (%s)", c.AckPollInterval)
	}
	if c.Timeout < 0 {
		return errors.New("timeout: must not be negative")
	}
	if c.TLS != nil {
		if err := c.TLS.Validate(); err != nil {
			return fmt.Errorf("tls.%w", err)
		}
	}
	return c.Config.Validate()
}

// baseURL checks URL and returns it without a trailing slash or the HEC
// endpoint path.
func (c *Config) baseURL() (string, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "", fmt.Errorf("url: %q is not a URL", c.URL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && c.AllowHTTP:
		if c.TLS != nil {
			return "", errors.New("tls: is set but url is http://")
		}
	case u.Scheme == "http":
		return "", fmt.Errorf("url: %s sends the token in clear; use https:// (or set allow_http: true for a lab)", c.URL)
	default:
		return "", fmt.Errorf("url: %q: the scheme must be https", c.URL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("url: %q has no host", c.URL)
	}
	if u.User != nil {
		return "", errors.New("url: must not contain credentials (use token:)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("url: %q must not have a query or fragment", c.URL)
	}
	p := strings.TrimRight(u.Path, "/")
	for _, suffix := range []string{"/services/collector/event/1.0", "/services/collector/event", "/services/collector"} {
		if strings.HasSuffix(p, suffix) {
			p = strings.TrimSuffix(p, suffix)
			break
		}
	}
	u.Path, u.RawPath = p, ""
	return u.String(), nil
}

func (c *Config) gzip() bool { return c.Gzip == nil || *c.Gzip }

// newGUID returns a random (version 4) GUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
