// Package graph is the input that polls Microsoft Graph for Microsoft Entra
// ID sign-in logs (/v1.0/auditLogs/signIns, and the non-interactive, service
// principal and managed identity sign-ins of /beta/auditLogs/signIns),
// directory audit logs (/v1.0/auditLogs/directoryAudits) and Entra ID
// Protection's risk detections and risky users
// (/v1.0/identityProtection/riskDetections, /riskyUsers).
//
// Each stream keeps a cursor in the store: the event time up to which
// every record has been delivered to every output. A poll reads the time
// window [cursor − overlap, now − lag), now being Graph's clock (the Date
// header of its answers), not the host's — in windows of at most `window`,
// oldest first, when the range is long — following every page, and emits
// each record's JSON as Graph wrote it. Records already emitted that the
// overlap reads again are dropped with a bounded de-duplication set (keyed
// by id, and for the risk streams by id and update time, so that a later
// state of the same detection or user is emitted again). The cursor, and
// the keys the de-duplication set needs after a restart, are stored only
// in the Commit of the batches that carry them, so a restart neither loses
// a record nor repeats an acknowledged one. See README.md.
package graph

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/store"
)

// errorLogEvery is how often a stream that keeps failing the same way logs
// the error again at error level (in between: debug).
const errorLogEvery = 10 * time.Minute

// identityProtectionEvery spaces the input's requests to
// /identityProtection/: Graph allows 1 request per second per tenant for
// all apps there, and its 429s carry no Retry-After (throttling-limits.md,
// "Identity protection and conditional access service limits").
const identityProtectionEvery = time.Second

// Option adjusts an Input.
type Option func(*options)

type options struct {
	client    *graphapi.Client
	graphOpts []graphapi.Option
}

// WithClient makes the input read through c instead of a client of its
// own built from the graph block, which may then be left out. Features
// sharing one Client share its token and its reports rate limit.
func WithClient(c *graphapi.Client) Option {
	return func(o *options) { o.client = c }
}

// WithGraphOptions passes options (graphapi.WithVersion, …) to the client the
// input builds from its graph block. Not used with WithClient.
func WithGraphOptions(opts ...graphapi.Option) Option {
	return func(o *options) { o.graphOpts = append(o.graphOpts, opts...) }
}

// Input polls the configured streams. Run it once.
type Input struct {
	name    string
	cfg     Config
	st      *store.Store
	log     *slog.Logger
	bad     func(origin string, data []byte, reason string)
	client  *graphapi.Client
	streams []*stream
	ran     atomic.Bool

	// now and sleep are the host's clock; tests replace them. Window ends
	// follow Graph's clock (graphNow), not now.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	// pace spaces the requests of the streams on /identityProtection/.
	pace pacer
	// skewLogged is the difference between Graph's clock and the host's
	// (seconds) last logged.
	skewLogged atomic.Int64

	stats counters
}

type counters struct {
	polls, failed, forbidden, read, emitted, duplicates, bad, batches atomic.Int64
}

// Stats are an input's counters since New, for metrics.
type Stats struct {
	Polls       int64 // polls of a stream that read their whole range
	FailedPolls int64 // polls stopped by an error (retried at the next poll)
	// ForbiddenPolls are polls of a stream read by default (a risk stream
	// when streams is left out) that Graph refused with 403: the app
	// lacks the stream's permission. They are not FailedPolls.
	ForbiddenPolls int64
	Read           int64 // records Graph returned, re-reads of the overlap included
	Emitted        int64 // records emitted
	Duplicates     int64 // records dropped because the de-duplication set had their key
	Bad            int64 // elements that are not a JSON object (passed to bad)
	Batches        int64 // batches emitted
}

// Stats returns the counters.
func (in *Input) Stats() Stats {
	s := &in.stats
	return Stats{
		Polls: s.polls.Load(), FailedPolls: s.failed.Load(), ForbiddenPolls: s.forbidden.Load(), Read: s.read.Load(),
		Emitted: s.emitted.Load(), Duplicates: s.duplicates.Load(), Bad: s.bad.Load(), Batches: s.batches.Load(),
	}
}

// api is what a stream reads.
type api struct {
	path      string // URL path, e.g. /v1.0/auditLogs/signIns
	timeField string // the time the cursor follows, which $filter ranges over
	label     string // in origins: "graph:<label> id=…"
	perms     string // the application permissions it needs
	licence   string // the licence Graph asks of the tenant, for the 403 hint
	// category is the diagnostic-settings category of the endpoint's
	// records, for entra.Decoder.DecodeGraphItem ("" for beta sign-ins:
	// it depends on each record's event type).
	category string
	// versioned: the same id comes back with a later timeField when the
	// resource changes (a detection dismissed, a user's risk updated), and
	// each version is a record: the de-duplication key is id and time.
	versioned bool
	maxTop    int  // Graph's largest $top for the endpoint
	paced     bool // on /identityProtection/: 1 request per second per tenant
}

func apiOf(stream string) api {
	const audit, p1, p2 = "AuditLog.Read.All and Directory.Read.All", "Microsoft Entra ID P1 or P2", "Microsoft Entra ID P2"
	switch stream {
	case StreamSignInsBeta:
		return api{path: "/beta/auditLogs/signIns", timeField: "createdDateTime", label: "beta/signIns", perms: audit,
			licence: p1, maxTop: maxPageSize}
	case StreamAudits:
		// Graph's reference lists Directory.Read.All with AuditLog.Read.All
		// for directory audits too.
		return api{path: "/v1.0/auditLogs/directoryAudits", timeField: "activityDateTime", label: "directoryAudits", perms: audit,
			category: "AuditLogs", maxTop: maxPageSize}
	case StreamRiskDetections:
		// riskdetection-list.md: $filter and $select, $top at most 500,
		// no $orderby; "a Microsoft Entra ID P1 or P2 license".
		return api{path: "/v1.0/identityProtection/riskDetections", timeField: "lastUpdatedDateTime", label: "riskDetections",
			perms: "IdentityRiskEvent.Read.All", licence: p1,
			category: "UserRiskEvents", versioned: true, maxTop: riskMaxTop, paced: true}
	case StreamRiskyUsers:
		// riskyuser-list.md: $filter and $select, $top at most 500, no
		// $orderby; the riskyUser resource needs "a Microsoft Entra ID P2
		// license".
		return api{path: "/v1.0/identityProtection/riskyUsers", timeField: "riskLastUpdatedDateTime", label: "riskyUsers",
			perms: "IdentityRiskyUser.Read.All", licence: p2,
			category: "RiskyUsers", versioned: true, maxTop: riskMaxTop, paced: true}
	default:
		return api{path: "/v1.0/auditLogs/signIns", timeField: "createdDateTime", label: "signIns", perms: audit,
			licence: p1, category: "SignInLogs", maxTop: maxPageSize}
	}
}

// New returns the graph input called name. st keeps its cursors and
// de-duplication sets; bad receives the elements of a page that are not
// a JSON object — every object is a record, whatever its shape (see
// DecodeItem) — with their origin and a reason (nil: they are emitted as
// items, and the runner's decoder dead-letters them); log should already
// name the input, as the agent
// does. cfg is validated and given its defaults; its graph block is
// required unless WithClient gives the client.
func New(name string, cfg Config, st *store.Store, log *slog.Logger, bad func(origin string, data []byte, reason string), opts ...Option) (*Input, error) {
	if name == "" {
		return nil, errors.New("graph input: name is required")
	}
	if strings.Contains(name, "/") {
		// The name is part of the store keys "graph/<name>/<stream>".
		return nil, fmt.Errorf("graph input %q: name must not contain '/'", name)
	}
	if st == nil {
		return nil, fmt.Errorf("graph input %q: a store is required (it keeps the cursors)", name)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.validateCopy(o.client == nil); err != nil {
		return nil, fmt.Errorf("graph input %q: %w", name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client, err := graphapi.ClientFor(o.client, cfg.Graph, log, o.graphOpts...)
	if err != nil {
		return nil, fmt.Errorf("graph input %q: %w", name, err)
	}
	in := &Input{name: name, cfg: cfg, st: st, log: log, bad: bad, client: client, now: time.Now, sleep: sleep,
		pace: pacer{every: identityProtectionEvery}}
	for _, s := range cfg.Streams {
		in.streams = append(in.streams, &stream{in: in, name: s, api: apiOf(s), seen: newSeenSet(cfg.DedupIDs),
			optional: cfg.defaulted && slices.Contains(riskStreams, s)})
	}
	log.Info("reading Microsoft Graph audit logs", "input", name, "streams", cfg.Streams, "interval", cfg.Interval,
		"lag", cfg.Lag, "overlap", cfg.Overlap, "backfill", cfg.Backfill, "shared_client", o.client != nil)
	return in, nil
}

// DecodeItem decodes an item this input emitted, the way the runner
// should decode the items of a graph input: with
// entra.Decoder.DecodeGraphItem and the log category of the endpoint the
// item was read from (named by its Origin), so that an element in a shape
// the decoder does not know — a property Graph renamed, a new kind of
// record — is forwarded as a record of stream "other" of that category
// rather than dead-lettered. Only an item that is not a JSON object is an
// error. Safe for concurrent use (each caller passes its own Decoder).
func (in *Input) DecodeItem(dec *entra.Decoder, it *batch.Item, rec *entra.Record) error {
	rec.Origin = it.Origin
	err := dec.Decode(it.Data, rec)
	if err == nil {
		return nil
	}
	s := in.streamOf(it.Origin)
	if s == nil {
		return err
	}
	cat := s.api.category
	if cat == "" {
		cat = in.signInCategory(it.Data)
	}
	now := in.now()
	if g, ok := in.client.GraphNow(); ok {
		now = g // a record without a time gets Graph's, as its neighbours do
	}
	return dec.DecodeGraphItem(it.Data, cat, now, rec)
}

// streamOf is the stream whose origins start "graph:<label> ".
func (in *Input) streamOf(origin string) *stream {
	rest, ok := strings.CutPrefix(origin, "graph:")
	if !ok {
		return nil
	}
	label, _, _ := strings.Cut(rest, " ")
	for _, s := range in.streams {
		if s.api.label == label {
			return s
		}
	}
	return nil
}

// signInCategory is the diagnostic category of a beta sign-in the decoder
// does not know: by its signInEventTypes, else the one type event_types
// reads, else NonInteractiveUserSignInLogs (the beta stream's default
// reads every type but interactive sign-ins).
func (in *Input) signInCategory(data []byte) string {
	var d struct {
		Types []string `json:"signInEventTypes"`
	}
	_ = json.Unmarshal(data, &d) // a member of another type leaves Types empty
	types := d.Types
	if len(types) == 0 && len(in.cfg.EventTypes) == 1 {
		types = in.cfg.EventTypes
	}
	for _, t := range types {
		switch t {
		case EventInteractiveUser:
			return "SignInLogs"
		case EventNonInteractiveUser:
			return "NonInteractiveUserSignInLogs"
		case EventServicePrincipal:
			return "ServicePrincipalSignInLogs"
		case EventManagedIdentity:
			return "ManagedIdentitySignInLogs"
		}
	}
	return "NonInteractiveUserSignInLogs"
}

// Progress reports how far the streams' reading has come, in seconds of
// event time, since Run started: done is the time read, total the time
// up to now − lag at the latest poll. During a back-fill or a catch-up
// done/total is the fraction read; afterwards both grow with every poll.
// Safe to call from any goroutine.
func (in *Input) Progress() (done, total int64) {
	for _, s := range in.streams {
		start := s.progStart.Load()
		if start == 0 {
			continue
		}
		done += s.progDone.Load() - start
		total += s.progTarget.Load() - start
	}
	return done, total
}

// Run polls every stream, each in its own goroutine, every interval until
// ctx ends, and returns nil then. A poll that fails (a page Graph refuses
// for good, a missing permission) is logged and retried at the next
// poll from the same position: it never ends Run. Run returns an error
// only if the store cannot be read, or emit fails for another reason
// than ctx ending.
func (in *Input) Run(ctx context.Context, emit func(context.Context, *batch.Batch) error) error {
	if !in.ran.CompareAndSwap(false, true) {
		return fmt.Errorf("graph input %s: Run called twice", in.name)
	}
	for _, s := range in.streams {
		if err := s.load(); err != nil {
			return fmt.Errorf("graph input %s: stream %s: reading its checkpoint: %w", in.name, s.name, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(in.streams))
	var wg sync.WaitGroup
	for i, s := range in.streams {
		wg.Go(func() {
			if err := s.run(ctx, emit); err != nil {
				errs[i] = fmt.Errorf("graph input %s: stream %s: %w", in.name, s.name, err)
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stream is one API read by an input.
type stream struct {
	in   *Input
	name string
	api  api
	// optional: a risk stream read because streams was left out. A 403
	// is then a warning, once per outage, not an error.
	optional bool

	// The reading side, used by the stream's goroutine only.
	readPos   time.Time // everything before it has been emitted (not necessarily committed)
	seen      *seenSet  // keys of records emitted at or after readPos − overlap
	failures  int       // consecutive failed polls
	lastErr   string    // kind of the last error logged
	lastErrAt time.Time
	probed    bool // a request was sent only to learn Graph's clock
	// fresh: a first start, whose back-fill began at the host's
	// now − backfill before Graph's clock was known.
	fresh bool

	// Progress, in Unix seconds of event time.
	progStart, progDone, progTarget atomic.Int64

	// The commit side: Commit callbacks (on the runner's goroutine) and
	// the reading side meet here.
	mu       sync.Mutex
	cursor   time.Time  // as stored: every record before it is committed
	keys     int        // IDs in the stored de-duplication set
	inflight []*pending // batches emitted, not committed, oldest first
}

// pending is an emitted batch, as far as the state goes.
type pending struct {
	ids     []entry   // its records
	advance time.Time // when not zero: the cursor moves here once it commits
}

// builder is the batch being filled.
type builder struct {
	items []batch.Item
	ids   []entry
	// advance is the end of the latest window read whole whose last
	// records are in this batch.
	advance time.Time
}

// emitError is emit's error, which ends Run, unlike Graph's errors.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

// load reads the stream's state, or on a first start stores the cursor
// now − backfill.
func (s *stream) load() error {
	in := s.in
	p, found, err := loadState(in.st, in.name, s.name)
	if err != nil {
		return err
	}
	now := in.now().UTC()
	if g, ok := in.client.GraphNow(); ok { // a client shared with features that already asked Graph
		now = g.UTC()
	}
	cursor := p.cursor
	if !found {
		s.fresh = true
		cursor = now.Add(-in.cfg.Backfill).Truncate(time.Second)
		if err := in.st.Put(metaBucket, metaKey(in.name, s.name), encodeMeta(cursor, s.api.path)); err != nil {
			return err
		}
		in.log.Info("first start of the stream: back-filling", "input", in.name, "stream", s.name, "api", s.api.path,
			"from", cursor.Add(-in.cfg.Overlap), "backfill", in.cfg.Backfill)
	} else {
		in.log.Info("resuming the stream", "input", in.name, "stream", s.name, "api", s.api.path,
			"cursor", cursor, "dedup_ids", len(p.seen))
		if oldest := now.Add(-MaxBackfill).Truncate(time.Second); cursor.Before(oldest) {
			in.log.Warn("the cursor is older than Entra keeps logs (30 days): records between the two are gone, reading from 30 days ago",
				"input", in.name, "stream", s.name, "cursor", cursor, "from", oldest)
			cursor = oldest
		}
	}
	s.readPos, s.cursor, s.keys = cursor, cursor, p.keys
	floor := cursor.Add(-in.cfg.Overlap).UnixNano()
	for _, e := range p.seen {
		if e.t >= floor {
			s.seen.add(e.id, e.t)
		}
	}
	return nil
}

// run polls until ctx ends. Only an emit error ends it early.
func (s *stream) run(ctx context.Context, emit func(context.Context, *batch.Batch) error) error {
	in := s.in
	for {
		started := in.now()
		err := s.poll(ctx, emit)
		if ctx.Err() != nil {
			return nil
		}
		var ee *emitError
		if errors.As(err, &ee) {
			return ee.err
		}
		if err != nil {
			if s.optional && graphapi.IsForbidden(err) {
				in.stats.forbidden.Add(1)
			} else {
				in.stats.failed.Add(1)
			}
			s.report(err)
		} else {
			in.stats.polls.Add(1)
			if s.failures > 0 {
				in.log.Info("the stream reads again", "input", in.name, "stream", s.name, "failed_polls", s.failures)
			}
			s.failures, s.lastErr = 0, ""
		}
		if err := in.sleep(ctx, in.cfg.Interval-in.now().Sub(started)); err != nil {
			return nil
		}
	}
}

// poll reads [readPos − overlap, now − lag), now being Graph's clock, in
// windows of at most cfg.Window, oldest first, and emits what it has not
// emitted before. No window end — no cursor — passes Graph's now − lag as
// the answers read so far tell it; a cursor later than Graph's now is
// moved back (rewind).
func (s *stream) poll(ctx context.Context, emit func(context.Context, *batch.Batch) error) error {
	in := s.in
	cfg := &in.cfg
	now, err := s.graphNow(ctx)
	if err != nil {
		return err
	}
	until := now.Add(-cfg.Lag).Truncate(time.Second)
	rewound := false
	if s.readPos.After(now) {
		// A cursor later than Graph's clock: stored while the host's
		// clock was ahead (by an older privtrail, or before Graph's clock
		// was known). Waiting for it could take hours; read from
		// Graph's now − lag − overlap instead.
		if err := s.rewind(until, now); err != nil {
			return err
		}
		rewound = true
	}
	if s.progStart.Load() == 0 {
		s.progStart.Store(s.readPos.Unix())
		s.progDone.Store(s.readPos.Unix())
		s.progTarget.Store(s.readPos.Unix())
	}
	if !until.After(s.readPos) && !rewound {
		return nil // lag grew, or Graph's clock went back: nothing new yet
	}
	s.progTarget.Store(until.Unix())
	windows := int((until.Sub(s.readPos) + cfg.Window - 1) / cfg.Window)
	if windows > 1 {
		in.log.Info("catching up", "input", in.name, "stream", s.name, "from", s.readPos, "to", until, "windows", windows)
	}
	started, lastLog, firstPos := time.Now(), time.Now(), s.readPos
	var st pollStats
	b := &builder{}
	pos, first := s.readPos, true
	for pos.Before(until) || first && rewound {
		from, to := pos, pos.Add(cfg.Window)
		if first {
			from = pos.Add(-cfg.Overlap)
		}
		if to.After(until) {
			to = until
		}
		if err := s.readWindow(ctx, emit, b, from, to, &st); err != nil {
			// What was read stays emitted (the next poll drops it as
			// already seen); the window's end is not reached.
			if ferr := s.flush(ctx, emit, b); ferr != nil {
				return ferr
			}
			return err
		}
		if lim, ok := in.graphUntil(); ok && lim.Before(until) {
			// Graph's clock, from the Date of the answers just read, is
			// behind the one the poll started with (the host's, before
			// any answer had a Date): a window end past Graph's now − lag
			// would pass records Graph has not written yet. Stop there.
			until = lim
			s.progTarget.Store(until.Unix())
			if to.After(until) {
				to = until
			}
		}
		if first && s.fresh {
			s.fresh = false
			if base, ok := s.backfillStart(pos); ok {
				// Read from there instead; what this window emitted stays
				// in the de-duplication set until the reading reaches it.
				if err := s.moveBack(base); err != nil {
					if ferr := s.flush(ctx, emit, b); ferr != nil {
						return ferr
					}
					return err
				}
				pos, firstPos, rewound = base, base, false
				windows = int((until.Sub(pos) + cfg.Window - 1) / cfg.Window)
				s.progTarget.Store(until.Unix())
				continue
			}
		}
		first = false
		if !to.After(pos) {
			break // the cursor is already at or past Graph's now − lag
		}
		s.readPos = to
		s.seen.evictBefore(to.Add(-cfg.Overlap).UnixNano())
		if len(b.items) > 0 {
			b.advance = to
		} else {
			s.advanceTo(to)
		}
		s.progDone.Store(to.Unix())
		pos = to
		if windows > 1 && (time.Since(lastLog) >= 15*time.Second || !pos.Before(until)) {
			// A daemon's progress display is its log: one line every 15 s
			// while a back-fill or a catch-up runs, with an estimate.
			lastLog = time.Now()
			doneFrac := float64(to.Sub(firstPos)) / float64(until.Sub(firstPos))
			eta := time.Duration(float64(time.Since(started)) * (1 - doneFrac) / max(doneFrac, 1e-9))
			in.log.Info("catching up: progress", "input", in.name, "stream", s.name, "read_to", to,
				"percent", int(100*doneFrac), "records", st.emitted, "eta", eta.Round(time.Second))
		}
	}
	if err := s.flush(ctx, emit, b); err != nil {
		return err
	}
	took := time.Since(started)
	in.log.Debug("poll done", "input", in.name, "stream", s.name, "to", until, "read", st.read, "emitted", st.emitted,
		"duplicates", st.dups, "bad", st.bad, "pages", st.pages, "took", took.Round(time.Millisecond))
	if windows == 1 && took > cfg.Interval {
		in.log.Warn("a poll took longer than interval: Graph's reports rate limit does not keep up with re-reading the overlap this often; raise interval or lower overlap",
			"input", in.name, "stream", s.name, "took", took.Round(time.Second), "interval", cfg.Interval, "read", st.read)
	}
	return nil
}

type pollStats struct {
	read, emitted, dups, bad, pages int
}

// graphNow is Graph's clock now (graphapi.Client.GraphNow: the Date
// header of its latest answer plus the time elapsed since). Until an
// answer has carried a Date it is the host's clock, and the first window
// is cut back once its answers tell Graph's (poll); if by the host's
// clock there is nothing to read — the host's clock may be behind
// Graph's, or the cursor in the future — one request of one record
// learns Graph's clock first.
func (s *stream) graphNow(ctx context.Context) (time.Time, error) {
	in := s.in
	if t, ok := in.client.GraphNow(); ok {
		in.noteSkew(t)
		return t.UTC(), nil
	}
	host := in.now().UTC()
	if s.probed || host.Add(-in.cfg.Lag).Truncate(time.Second).After(s.readPos) {
		return host, nil
	}
	if s.api.paced {
		if err := in.pace.wait(ctx); err != nil {
			return host, err
		}
	}
	q := url.Values{"$filter": {s.filter(s.readPos.Add(-in.cfg.Overlap), s.readPos)}, "$top": {"1"}}
	if err := in.client.Get(ctx, s.api.path, q, nil); err != nil {
		return host, err
	}
	s.probed = true
	if t, ok := in.client.GraphNow(); ok {
		in.noteSkew(t)
		return t.UTC(), nil
	}
	return host, nil // Graph's answers carry no Date (a proxy removed it)
}

// graphUntil is Graph's now − lag, whole seconds; ok is false while no
// answer has told Graph's clock.
func (in *Input) graphUntil() (time.Time, bool) {
	t, ok := in.client.GraphNow()
	return t.UTC().Add(-in.cfg.Lag).Truncate(time.Second), ok
}

// noteSkew logs the difference between Graph's clock (graphNow) and the
// host's when it reaches a minute, and again each time it changes by a
// minute: polls follow Graph's clock, but a host clock that far off
// misleads the rest (logs, metrics, the monitors' bound on event times).
func (in *Input) noteSkew(graphNow time.Time) {
	skew := graphNow.Sub(in.now()).Round(time.Second)
	last := time.Duration(in.skewLogged.Load()) * time.Second
	if (skew-last).Abs() < time.Minute || !in.skewLogged.CompareAndSwap(int64(last/time.Second), int64(skew/time.Second)) {
		return
	}
	if skew.Abs() < time.Minute {
		in.log.Info("the host's clock is in step with Graph's again", "input", in.name, "graph_minus_host", skew)
		return
	}
	in.log.Warn("the host's clock is off Graph's (the Date header of its answers): polls follow Graph's clock; fix the host's time (NTP)",
		"input", in.name, "graph_minus_host", skew, "graph_now", graphNow.UTC())
}

// rewind moves a cursor later than Graph's clock now back to c (Graph's
// now − lag), so that the poll reads from c − overlap.
func (s *stream) rewind(c, graphNow time.Time) error {
	in := s.in
	in.log.Warn("the cursor is later than Graph's clock: it was stored while the host's clock was ahead of Graph's. "+
		"Records Graph wrote afterwards with earlier times may never have been read: reading again from Graph's now − lag − overlap "+
		"(records from there to the cursor that were already delivered may be delivered again; late records older than that are lost)",
		"input", in.name, "stream", s.name, "cursor", s.readPos, "graph_now", graphNow, "host_now", in.now().UTC(),
		"from", c.Add(-in.cfg.Overlap))
	return s.moveBack(c)
}

// backfillStart checks where a first start's back-fill began (pos, the
// host's now − backfill) against Graph's clock, once the first window's
// answers told it: if later than Graph's now − backfill by more than the
// overlap (the host's clock was ahead of Graph's), it logs and returns
// Graph's now − backfill, where the back-fill should begin.
func (s *stream) backfillStart(pos time.Time) (time.Time, bool) {
	in := s.in
	g, ok := in.client.GraphNow()
	if !ok {
		return time.Time{}, false
	}
	base := g.UTC().Add(-in.cfg.Backfill).Truncate(time.Second)
	if !base.Before(pos.Add(-in.cfg.Overlap)) {
		return time.Time{}, false
	}
	in.log.Warn("first start: the back-fill began at the host's now − backfill, but the host's clock is ahead of Graph's: "+
		"back-filling from Graph's now − backfill instead",
		"input", in.name, "stream", s.name, "from", base.Add(-in.cfg.Overlap), "host_start", pos, "graph_now", g.UTC())
	return base, true
}

// moveBack moves the cursor back to c, in memory and in the store.
// Batches in flight no longer move the stored cursor past c.
func (s *stream) moveBack(c time.Time) error {
	in := s.in
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := in.st.Put(metaBucket, metaKey(in.name, s.name), encodeMeta(c, s.api.path)); err != nil {
		return fmt.Errorf("moving the cursor back: %w", err)
	}
	for _, p := range s.inflight {
		if p.advance.After(c) {
			p.advance = c
		}
	}
	s.readPos, s.cursor = c, c
	s.progDone.Store(c.Unix())
	return nil
}

// filter is the $filter of the window [from, to).
func (s *stream) filter(from, to time.Time) string {
	f := fmt.Sprintf("%s ge %s and %s lt %s", s.api.timeField, formatTime(from), s.api.timeField, formatTime(to))
	if s.name == StreamSignInsBeta {
		f += " and " + eventTypesClause(s.in.cfg.EventTypes)
	}
	return f
}

// eventTypesClause selects the sign-in event types of the beta endpoint:
// every type but interactiveUser, or those listed.
func eventTypesClause(types []string) string {
	if len(types) == 0 {
		return "signInEventTypes/any(t: t ne '" + EventInteractiveUser + "')"
	}
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = "t eq '" + t + "'"
	}
	return "signInEventTypes/any(t: " + strings.Join(parts, " or ") + ")"
}

// formatTime writes a time as Graph's $filter takes it: UTC, RFC 3339,
// no quotes.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// readWindow reads every page of [from, to) into b, emitting b whenever it
// is full.
func (s *stream) readWindow(ctx context.Context, emit func(context.Context, *batch.Batch) error, b *builder, from, to time.Time, st *pollStats) error {
	in := s.in
	q := url.Values{
		"$filter": {s.filter(from, to)},
		"$top":    {strconv.Itoa(min(in.cfg.PageSize, s.api.maxTop))},
	}
	if s.api.paced {
		if err := in.pace.wait(ctx); err != nil {
			return err
		}
	}
	index := 0
	return in.client.Pages(ctx, s.api.path, q, func(p *graphapi.Page) error {
		st.pages++
		in.stats.read.Add(int64(len(p.Values)))
		for _, v := range p.Values {
			index++
			st.read++
			e, reason := parseElement(v, &s.api, to)
			origin := "graph:" + s.api.label + " id=" + e.id
			if e.id == "" {
				origin = fmt.Sprintf("graph:%s %s..%s #%d", s.api.label, formatTime(from), formatTime(to), index)
			}
			if reason != "" {
				st.bad++
				if in.bad != nil {
					in.stats.bad.Add(1)
					in.bad(origin, v, reason)
					continue
				}
				b.items = append(b.items, batch.Item{Data: v, Origin: origin})
			} else {
				if s.seen.has(e.key) {
					st.dups++
					in.stats.duplicates.Add(1)
					continue
				}
				s.seen.add(e.key, e.t)
				b.items = append(b.items, batch.Item{Data: v, Origin: origin})
				b.ids = append(b.ids, entry{t: e.t, id: e.key})
				st.emitted++
			}
			if len(b.items) >= in.cfg.BatchSize {
				if err := s.flush(ctx, emit, b); err != nil {
					return err
				}
			}
		}
		if s.api.paced && p.NextLink != "" {
			// The next page's request follows as soon as this returns.
			return in.pace.wait(ctx)
		}
		return nil
	})
}

// fields is what the input reads of an element: its id and the times the
// cursors follow. Raw, so that a member of an unexpected type is ignored
// rather than failing the element.
type fields struct {
	ID              json.RawMessage `json:"id"`
	Created         json.RawMessage `json:"createdDateTime"`
	Activity        json.RawMessage `json:"activityDateTime"`
	LastUpdated     json.RawMessage `json:"lastUpdatedDateTime"`
	RiskLastUpdated json.RawMessage `json:"riskLastUpdatedDateTime"`
}

func (f *fields) time(name string) json.RawMessage {
	switch name {
	case "activityDateTime":
		return f.Activity
	case "lastUpdatedDateTime":
		return f.LastUpdated
	case "riskLastUpdatedDateTime":
		return f.RiskLastUpdated
	}
	return f.Created
}

// element is an element of a page as the de-duplication set sees it.
type element struct {
	id  string // its id, "" when it has none usable (not a string, empty, over maxIDBytes)
	key string // its de-duplication key
	t   int64  // its time (Unix ns), or just before the window's end when it has none
}

// parseElement reads an element of a page of a: reason is set only when it
// is not a JSON object, the one thing that is not a record. Every object
// is a record, whatever its shape — the runner decodes an unknown shape
// as a record of stream other (Input.DecodeItem). Its key is its id; for a
// versioned API its id and time ("<id>@<time>"), so that each new state
// of the same detection or user is emitted once; without a usable id (or
// time, for a versioned API) the SHA-256 of its bytes. Without a
// parseable time it is placed just before windowEnd: it was in the
// window, and stays in the de-duplication set as long as any later read
// may return it.
func parseElement(v []byte, a *api, windowEnd time.Time) (e element, reason string) {
	trimmed := bytes.TrimLeft(v, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return e, "not a JSON object"
	}
	var f fields
	if err := json.Unmarshal(v, &f); err != nil {
		return e, "not JSON: " + err.Error()
	}
	if id, ok := jsonString(f.ID); ok && id != "" && len(id) <= maxIDBytes {
		e.id = id
	}
	ts, _ := jsonString(f.time(a.timeField))
	tm, err := time.Parse(time.RFC3339Nano, ts)
	timed := err == nil && sane(tm)
	if timed {
		e.t = tm.UnixNano()
	} else {
		e.t = windowEnd.Add(-time.Nanosecond).UnixNano()
	}
	switch {
	case e.id != "" && !a.versioned:
		e.key = e.id
	case e.id != "" && timed:
		e.key = e.id + "@" + formatTime(tm)
	}
	if e.key == "" || len(e.key) > maxIDBytes {
		sum := sha256.Sum256(v)
		e.key = "sha256:" + hex.EncodeToString(sum[:])
	}
	return e, ""
}

// jsonString is the value of a JSON string; ok is false for anything else.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		// Valid JSON (json.Unmarshal checked it): no escape, no unquoting.
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// flush emits the batch being filled; with nothing in it, it passes on
// the window end it carries.
func (s *stream) flush(ctx context.Context, emit func(context.Context, *batch.Batch) error, b *builder) error {
	if len(b.items) == 0 {
		if !b.advance.IsZero() {
			s.advanceTo(b.advance)
		}
		*b = builder{}
		return nil
	}
	p := &pending{ids: b.ids, advance: b.advance}
	items := b.items
	*b = builder{}
	s.mu.Lock()
	s.inflight = append(s.inflight, p)
	s.mu.Unlock()
	bt := &batch.Batch{Items: items, Commit: func() error { return s.commit(p) }}
	if err := emit(ctx, bt); err != nil {
		// Never committed: the cursor stays before its records.
		return &emitError{err}
	}
	s.in.stats.emitted.Add(int64(len(items)))
	s.in.stats.batches.Add(1)
	return nil
}

// advanceTo moves the cursor to end, the end of a window whose records
// have all been emitted: with the latest batch in flight (it commits after
// every earlier one), or at once when none is.
func (s *stream) advanceTo(end time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.inflight); n > 0 {
		if last := s.inflight[n-1]; end.After(last.advance) {
			last.advance = end
		}
		return
	}
	if err := s.saveLocked(nil, end); err != nil {
		s.in.log.Error("checkpoint write failed; the window is read again after a restart", "input", s.in.name, "stream", s.name, "err", err)
	}
}

// commit is a batch's Commit. The runner calls it in emission order once
// every output acknowledged the batch and every earlier one.
func (s *stream) commit(p *pending) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.inflight, p); i >= 0 {
		s.inflight = slices.Delete(s.inflight, i, i+1)
	}
	if err := s.saveLocked(p.ids, p.advance); err != nil {
		return fmt.Errorf("graph input %s: stream %s: %w", s.in.name, s.name, err)
	}
	return nil
}

// saveLocked stores ids and, when it is later than the cursor, advance as
// the new cursor. s.mu is held.
func (s *stream) saveLocked(ids []entry, advance time.Time) error {
	cursor := s.cursor
	if advance.After(cursor) {
		cursor = advance
	}
	if len(ids) == 0 && cursor.Equal(s.cursor) {
		return nil
	}
	cfg := &s.in.cfg
	keys, err := saveState(s.in.st, s.in.name, s.name, s.api.path, ids, s.cursor, cursor, cfg.Overlap, s.keys, cfg.DedupIDs)
	if err != nil {
		return err
	}
	s.keys, s.cursor = keys, cursor
	return nil
}

// report logs a failed poll: at error level the first time and when the
// kind of error changes, then every errorLogEvery. A 403 on an optional
// stream is one warning per outage (until the stream reads again).
func (s *stream) report(err error) {
	in := s.in
	s.failures++
	kind, args := explain(err, s.api)
	now := time.Now()
	if s.optional && graphapi.IsForbidden(err) {
		level := slog.LevelWarn
		if kind == s.lastErr {
			level = slog.LevelDebug
		} else {
			s.lastErr, s.lastErrAt = kind, now
		}
		attrs := append([]any{"input", in.name, "stream", s.name, "api", s.api.path, "failed_polls", s.failures}, args...)
		attrs = append(attrs, "to_stop_trying", "list the streams to read in streams:, without "+s.name, "err", err)
		in.log.Log(context.Background(), level,
			"graph refuses a stream read by default: the app lacks its permission; the other streams go on, and this one is tried again at every poll from its cursor",
			attrs...)
		return
	}
	level := slog.LevelError
	if kind == s.lastErr && now.Sub(s.lastErrAt) < errorLogEvery {
		level = slog.LevelDebug
	} else {
		s.lastErr, s.lastErrAt = kind, now
	}
	attrs := append([]any{"input", in.name, "stream", s.name, "api", s.api.path,
		"from", s.readPos.Add(-in.cfg.Overlap), "failed_polls", s.failures}, args...)
	attrs = append(attrs, "err", err)
	in.log.Log(context.Background(), level, "graph poll failed; the next poll starts again from the same cursor", attrs...)
}

// explain classifies a poll's error for the log: a kind (to tell a new
// error from a repeated one) and attributes for the operator.
func explain(err error, a api) (kind string, args []any) {
	var ae *graphapi.APIError
	if !errors.As(err, &ae) {
		return "other", []any{"hint", "the client already retried what may be retried (429, 503, 504, network errors)"}
	}
	kind = strconv.Itoa(ae.Status) + " " + ae.Code
	switch {
	case ae.Status == http.StatusForbidden && ae.Code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant":
		return kind, []any{"hint", "Graph serves " + a.path + " only to tenants with a " + a.licence + " licence"}
	case ae.Status == http.StatusForbidden:
		licence := ""
		if a.licence != "" {
			licence = "; the tenant needs a " + a.licence + " licence"
		}
		return kind, []any{"missing_permission", a.perms,
			"hint", "grant the app registration the application permission " + a.perms +
				" (Microsoft Graph, Application, with admin consent" + licence + "); the stream resumes at the next poll"}
	case ae.Status == http.StatusUnauthorized:
		return kind, []any{"hint", "Graph refused the app's token even after a new one: check tenant_id, client_id and the secret or certificate"}
	case ae.Status == http.StatusBadRequest:
		return kind, []any{"hint", "Graph refused the query"}
	}
	return kind, nil
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pacer spaces requests: each wait returns at least every after the
// previous one did, whichever stream waits. Safe for concurrent use.
type pacer struct {
	every time.Duration
	mu    sync.Mutex
	next  time.Time
}

// wait blocks until the next request may be sent, or ctx ends.
func (p *pacer) wait(ctx context.Context) error {
	if p.every <= 0 {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(p.every)
	p.mu.Unlock()
	return sleep(ctx, time.Until(at))
}
