package graph

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/graphapi"
)

// The streams an input can read.
const (
	// StreamSignIns is GET /v1.0/auditLogs/signIns: interactive user
	// sign-ins (v1.0 returns no other kind).
	StreamSignIns = "signins"
	// StreamSignInsBeta is GET /beta/auditLogs/signIns filtered on
	// signInEventTypes: non-interactive user, service principal and
	// managed identity sign-ins, which only the beta endpoint returns.
	StreamSignInsBeta = "signins_beta"
	// StreamAudits is GET /v1.0/auditLogs/directoryAudits.
	StreamAudits = "audits"
	// StreamRiskDetections is GET /v1.0/identityProtection/riskDetections
	// (Entra ID Protection risk detections), read by lastUpdatedDateTime
	// so that a detection whose state changes (dismissed, remediated) is
	// read again.
	StreamRiskDetections = "risk_detections"
	// StreamRiskyUsers is GET /v1.0/identityProtection/riskyUsers: the
	// risk state of users, read by riskLastUpdatedDateTime, so each change
	// of a user's risk is read.
	StreamRiskyUsers = "risky_users"
)

// The sign-in event types of the beta endpoint's signInEventTypes.
const (
	EventInteractiveUser    = "interactiveUser"
	EventNonInteractiveUser = "nonInteractiveUser"
	EventServicePrincipal   = "servicePrincipal"
	EventManagedIdentity    = "managedIdentity"
)

const (
	// DefaultInterval is interval when it is left out.
	DefaultInterval = time.Minute
	// DefaultLag is lag when it is left out: Microsoft documents sign-in
	// and audit records as arriving typically 2–5 minutes late, sometimes
	// more.
	DefaultLag = 7 * time.Minute
	// DefaultOverlap is overlap when it is left out.
	DefaultOverlap = 15 * time.Minute
	// DefaultBackfill is backfill when it is left out.
	DefaultBackfill = 24 * time.Hour
	// DefaultWindow is window when it is left out.
	DefaultWindow = time.Hour
	// DefaultPageSize is page_size when it is left out: Graph's maximum
	// $top for sign-ins and directory audits. The risk streams ask for at
	// most riskMaxTop.
	DefaultPageSize = 1000
	// DefaultBatchSize is batch_size when it is left out.
	DefaultBatchSize = 1000
	// DefaultDedupIDs is dedup_ids when it is left out.
	DefaultDedupIDs = 100_000

	// MaxBackfill is how far back Graph has records at all: Entra keeps
	// sign-in and audit logs 30 days with a P1/P2 licence (7 without).
	MaxBackfill = 30 * 24 * time.Hour

	maxPageSize = 1000
	// riskMaxTop is the largest $top of riskDetections and riskyUsers
	// ("the maximum with $top is 500", riskdetection-list.md,
	// riskyuser-list.md).
	riskMaxTop  = 500
	maxBatch    = 100_000
	maxDedupIDs = 10_000_000
	maxLag      = 24 * time.Hour
	maxOverlap  = 24 * time.Hour
	minWindow   = time.Minute
	maxWindow   = 24 * time.Hour
)

// AllStreams are the streams an input can read.
var AllStreams = []string{StreamSignIns, StreamSignInsBeta, StreamAudits, StreamRiskDetections, StreamRiskyUsers}

// DefaultStreams are the streams read when streams is left out: all of
// them. The risk streams need permissions (IdentityRiskEvent.Read.All,
// IdentityRiskyUser.Read.All) that an app registration set up for an
// earlier privtrail lacks: read by default, a risk stream Graph refuses
// with 403 logs one warning naming the permission and is tried again at
// every poll, without disturbing the other streams (README.md, "Streams").
var DefaultStreams = []string{StreamSignIns, StreamSignInsBeta, StreamAudits, StreamRiskDetections, StreamRiskyUsers}

// riskStreams are the streams of Entra ID Protection.
var riskStreams = []string{StreamRiskDetections, StreamRiskyUsers}

// Config is the `graph:` block of an input.
type Config struct {
	// Graph is the app registration the logs are read with
	// (internal/graphapi/README.md).
	// It needs the application permission AuditLog.Read.All, for
	// sign-ins Directory.Read.All too, and IdentityRiskEvent.Read.All and
	// IdentityRiskyUser.Read.All for the risk streams. A caller that shares one
	// *graphapi.Client between features passes it with WithClient and may
	// leave Graph out.
	Graph *graphapi.Config `yaml:"graph"`
	// Streams are any of signins, signins_beta, audits, risk_detections
	// and risky_users (default: all five).
	Streams []string `yaml:"streams"`
	// EventTypes narrows signins_beta to these sign-in event types
	// (nonInteractiveUser, servicePrincipal, managedIdentity; and
	// interactiveUser when signins is not read). Default: every type but
	// interactiveUser.
	EventTypes []string `yaml:"event_types"`
	// Interval is the time between polls (default 1m).
	Interval time.Duration `yaml:"interval"`
	// Lag: a poll reads records up to now − lag, because Entra logs
	// arrive late (default 7m).
	Lag time.Duration `yaml:"lag"`
	// Overlap: a poll reads again this much before the cursor, for
	// records that arrived later than lag (default 15m).
	Overlap time.Duration `yaml:"overlap"`
	// Backfill: on a first start, read this far back (default 24h, at
	// most 30 days).
	Backfill time.Duration `yaml:"backfill"`
	// Window is the longest time range one query covers: a longer range
	// (a first start, a catch-up after an outage) is read as windows of
	// this length, oldest first, each checkpointed (default 1h).
	Window time.Duration `yaml:"window"`
	// PageSize is $top, the records per Graph page (default and maximum
	// 1000).
	PageSize int `yaml:"page_size"`
	// BatchSize is the records per emitted batch (default 1000).
	BatchSize int `yaml:"batch_size"`
	// DedupIDs bounds the de-duplication set of each stream: the IDs of
	// records already emitted whose time is inside the overlap (default
	// 100,000).
	DedupIDs int `yaml:"dedup_ids"`

	// defaulted is set by Validate when Streams was left out: the risk
	// streams are then read only if the app may (a 403 is a warning).
	defaulted bool
}

// Validate checks c and fills in the defaults of keys left at zero. Every
// error names its key; none contains a secret. It works on a copy and
// writes it back only when everything is valid, so a failed Validate
// leaves c as it was.
func (c *Config) Validate() error { return c.validateCopy(true) }

// Delivers says which record streams the configured endpoints give
// (inputs.StreamSource): an item of a shape the decoder does not know
// comes as stream other.
func (c *Config) Delivers() []entra.Stream {
	streams := c.Streams
	if len(streams) == 0 {
		streams = DefaultStreams
	}
	out := []entra.Stream{entra.StreamOther}
	for _, s := range streams {
		st := entra.StreamSignIn
		switch s {
		case StreamAudits:
			st = entra.StreamAudit
		case StreamRiskDetections, StreamRiskyUsers:
			st = entra.StreamRisk
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out
}

func (c *Config) validateCopy(needGraph bool) error {
	d := *c
	d.Streams = slices.Clone(c.Streams)
	d.EventTypes = slices.Clone(c.EventTypes)
	if c.Graph != nil {
		g := *c.Graph
		d.Graph = &g
	}
	if err := d.validate(needGraph); err != nil {
		return err
	}
	*c = d
	return nil
}

func (c *Config) validate(needGraph bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	errs = append(errs, graphapi.ValidateBlock(c.Graph, needGraph, "read the logs with")...)

	if len(c.Streams) == 0 {
		c.Streams = slices.Clone(DefaultStreams)
		c.defaulted = true
	}
	for i, s := range c.Streams {
		s = strings.ToLower(strings.TrimSpace(s))
		c.Streams[i] = s
		switch {
		case !slices.Contains(AllStreams, s):
			bad("streams[%d]: %q is not signins, signins_beta, audits, risk_detections or risky_users", i, s)
		case slices.Index(c.Streams, s) < i:
			bad("streams[%d]: %q is listed twice", i, s)
		}
	}
	if len(c.EventTypes) > 0 && !slices.Contains(c.Streams, StreamSignInsBeta) {
		bad("event_types: only used with the signins_beta stream, which is not in streams")
	}
	known := []string{EventNonInteractiveUser, EventServicePrincipal, EventManagedIdentity, EventInteractiveUser}
	for i, t := range c.EventTypes {
		j := slices.IndexFunc(known, func(k string) bool { return strings.EqualFold(k, strings.TrimSpace(t)) })
		switch {
		case j < 0:
			bad("event_types[%d]: %q is not nonInteractiveUser, servicePrincipal, managedIdentity or interactiveUser", i, t)
			continue
		case known[j] == EventInteractiveUser && slices.Contains(c.Streams, StreamSignIns):
			bad("event_types[%d]: interactiveUser sign-ins are read by the signins stream already; listing them here would read each twice", i)
		}
		c.EventTypes[i] = known[j]
		if slices.Index(c.EventTypes, known[j]) < i {
			bad("event_types[%d]: %q is listed twice", i, known[j])
		}
	}

	dur := func(key string, v *time.Duration, def, lo, hi time.Duration) {
		switch {
		case *v < 0:
			bad("%s: must be positive, got %s", key, *v)
		case *v == 0:
			*v = def
		case *v < lo:
			bad("%s: %s is below the minimum of %s", key, *v, lo)
		case *v > hi:
			bad("%s: %s is over the limit of %s", key, *v, hi)
		}
	}
	dur("interval", &c.Interval, DefaultInterval, time.Second, 24*time.Hour)
	dur("lag", &c.Lag, DefaultLag, time.Second, maxLag)
	dur("overlap", &c.Overlap, DefaultOverlap, time.Second, maxOverlap)
	dur("window", &c.Window, DefaultWindow, minWindow, maxWindow)
	if c.Backfill > MaxBackfill {
		bad("backfill: %s is over %s: Entra keeps sign-in and audit logs 30 days (7 without a P1/P2 licence), Graph has nothing older", c.Backfill, MaxBackfill)
	} else {
		dur("backfill", &c.Backfill, DefaultBackfill, time.Second, MaxBackfill)
	}

	num := func(key string, v *int, def, hi int) {
		switch {
		case *v < 0:
			bad("%s: must be positive, got %d", key, *v)
		case *v == 0:
			*v = def
		case *v > hi:
			bad("%s: %d is over the limit of %d", key, *v, hi)
		}
	}
	num("page_size", &c.PageSize, DefaultPageSize, maxPageSize)
	num("batch_size", &c.BatchSize, DefaultBatchSize, maxBatch)
	num("dedup_ids", &c.DedupIDs, DefaultDedupIDs, maxDedupIDs)
	return errors.Join(errs...)
}
