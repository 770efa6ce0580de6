// Package dirscan is the input that scans the directory state of the
// privileged accounts in Microsoft Entra ID through Microsoft Graph, every
// interval, and emits one `directory` document (entra.Directory) per
// privileged user, so that ordinary pipeline monitors judge them
// (directory.naming_policy, directory.mfa_not_registered,
// review.unused_privileged_account).
//
// A scan reads two paged listings — /v1.0/users with signInActivity, and
// /v1.0/reports/authenticationMethods/userRegistrationDetails — joins them
// on the user id for the principals Principals reports as privileged, and
// emits the documents once both listings were read whole: a scan that
// fails part-way emits nothing and is retried. The only state is the time
// of the last scan whose batches were all committed, stored under
// checkpoints/dirscan/<name> (WithStore), so that a restart does not scan
// again before the interval has elapsed, and scans again at once when the
// last scan was not delivered. See README.md.
package dirscan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
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

// Graph requests of a scan.
const (
	usersPath        = "/v1.0/users"
	usersSelect      = "id,userPrincipalName,displayName,userType,accountEnabled,createdDateTime,signInActivity"
	registrationPath = "/v1.0/reports/authenticationMethods/userRegistrationDetails"
)

// Store location of the last completed scan.
const (
	stateBucket = "checkpoints"
	statePrefix = "dirscan/"
)

const (
	// defaultBatchSize is the documents per emitted batch.
	defaultBatchSize = 1000
	// maxRetryDelay bounds the wait before a failed scan is tried again
	// (never more than the interval).
	maxRetryDelay = 15 * time.Minute
	// maxListed is how many principals a log line lists by id.
	maxListed = 20
)

// Principal is a privileged principal as the privilege stage knows it.
type Principal struct {
	ID          string // object id in Entra ID
	UPN         string
	DisplayName string
	Roles       []entra.RoleHeld
	// Emergency marks an emergency access account. It is not written in
	// the document (the privilege stage tags the record's actor); a scan
	// logs an emergency access account missing from the directory at
	// error level instead of warn.
	Emergency bool
	// LastSeen is the principal's last successful sign-in privtrail itself
	// saw in the sign-in logs it read (zero: none). The document carries
	// the newer of it and Graph's signInActivity, with its source, so a
	// tenant whose signInActivity lags still gets a fresh last sign-in.
	LastSeen time.Time
}

// Principals reports the privileged principals currently known. The
// agent adapts the privilege stage's role map to it. It is called once
// per scan, from the input's goroutine.
type Principals interface {
	Privileged() []Principal
}

// List is a fixed set of principals.
type List []Principal

// Privileged returns the list.
func (l List) Privileged() []Principal { return l }

// Option adjusts an Input.
type Option func(*options)

type options struct {
	client    *graphapi.Client
	graphOpts []graphapi.Option
	st        *store.Store
}

// WithClient makes the input read through c instead of a client of its
// own built from the graph block, which may then be left out.
func WithClient(c *graphapi.Client) Option { return func(o *options) { o.client = c } }

// WithGraphOptions passes options (graphapi.WithVersion, …) to the client the
// input builds from its graph block. Not used with WithClient.
func WithGraphOptions(opts ...graphapi.Option) Option {
	return func(o *options) { o.graphOpts = append(o.graphOpts, opts...) }
}

// WithStore keeps the time of the last committed scan in st (bucket
// checkpoints, key dirscan/<name>). Without it the input scans at every
// start.
func WithStore(st *store.Store) Option { return func(o *options) { o.st = st } }

// Input scans the directory. Run it once.
type Input struct {
	name       string
	cfg        Config
	log        *slog.Logger
	principals Principals
	client     *graphapi.Client
	st         *store.Store
	ran        atomic.Bool

	// now and sleep are the clock; tests replace them.
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	batchSize int

	forbiddenLogged bool // the registration report's 403 was logged

	mu        sync.Mutex
	committed time.Time // the last scan whose batches all committed

	stats counters
}

type counters struct {
	scans, failed, emitted, missing, batches atomic.Int64
}

// Stats are an input's counters since New, for metrics.
type Stats struct {
	Scans       int64 // scans that read the directory whole
	FailedScans int64 // scans stopped by a Graph error (retried)
	Emitted     int64 // documents emitted
	Missing     int64 // privileged principals not found among Graph's users, summed over scans
	Batches     int64 // batches emitted
}

// Stats returns the counters.
func (in *Input) Stats() Stats {
	s := &in.stats
	return Stats{Scans: s.scans.Load(), FailedScans: s.failed.Load(), Emitted: s.emitted.Load(),
		Missing: s.missing.Load(), Batches: s.batches.Load()}
}

// New returns the directory scan input called name. principals says who
// is privileged at each scan; log should already name the input. cfg is
// validated and given its defaults; its graph block is required unless
// WithClient gives the client.
func New(name string, cfg Config, log *slog.Logger, principals Principals, opts ...Option) (*Input, error) {
	if name == "" {
		return nil, errors.New("dirscan input: name is required")
	}
	if strings.Contains(name, "/") {
		return nil, fmt.Errorf("dirscan input %q: name must not contain '/'", name)
	}
	if principals == nil {
		return nil, fmt.Errorf("dirscan input %q: the privileged principals are required (the privilege stage's role map)", name)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.validateCopy(o.client == nil); err != nil {
		return nil, fmt.Errorf("dirscan input %q: %w", name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client, err := graphapi.ClientFor(o.client, cfg.Graph, log, o.graphOpts...)
	if err != nil {
		return nil, fmt.Errorf("dirscan input %q: %w", name, err)
	}
	log.Info("scanning privileged accounts in Microsoft Graph", "input", name, "interval", cfg.Interval,
		"tenant", cfg.TenantID, "persisted", o.st != nil, "shared_client", o.client != nil)
	return &Input{name: name, cfg: cfg, log: log, principals: principals, client: client, st: o.st,
		now: time.Now, sleep: sleep, batchSize: defaultBatchSize}, nil
}

// Run scans at start (or when the interval since the last committed scan
// has elapsed) and then every interval, until ctx ends, and returns nil
// then. A scan that fails (Graph refuses the users listing, gives up
// after its retries) is logged and tried again after min(interval, 15m).
// Run returns an error only if the store cannot be read, or emit fails
// for another reason than ctx ending.
func (in *Input) Run(ctx context.Context, emit func(context.Context, *batch.Batch) error) error {
	if !in.ran.CompareAndSwap(false, true) {
		return fmt.Errorf("dirscan input %s: Run called twice", in.name)
	}
	last, err := in.load()
	if err != nil {
		return fmt.Errorf("dirscan input %s: reading its checkpoint: %w", in.name, err)
	}
	in.mu.Lock()
	in.committed = last
	in.mu.Unlock()
	if !last.IsZero() {
		in.log.Info("last completed scan", "input", in.name, "at", last, "next", last.Add(in.cfg.Interval))
	}
	failures := 0
	for {
		if !last.IsZero() {
			if wait := last.Add(in.cfg.Interval).Sub(in.now()); wait > 0 {
				if err := in.sleep(ctx, wait); err != nil {
					return nil
				}
			}
		}
		at, err := in.scan(ctx, emit)
		if ctx.Err() != nil {
			return nil
		}
		var ee *emitError
		if errors.As(err, &ee) {
			return fmt.Errorf("dirscan input %s: %w", in.name, ee.err)
		}
		if err == nil {
			in.stats.scans.Add(1)
			failures = 0
			last = at
			continue
		}
		in.stats.failed.Add(1)
		failures++
		delay := min(in.cfg.Interval, maxRetryDelay)
		in.log.Error("directory scan failed; trying again later", "input", in.name, "error", err,
			"failed_scans", failures, "retry_in", delay)
		if err := in.sleep(ctx, delay); err != nil {
			return nil
		}
		last = time.Time{} // scan as soon as the wait is over
	}
}

// LastScan is the time of the last scan whose batches were all committed
// (zero: none yet). Safe to call from any goroutine.
func (in *Input) LastScan() time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.committed
}

// emitError is emit's error, which ends Run, unlike Graph's errors.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

func (in *Input) stateKey() string { return statePrefix + in.name }

func (in *Input) load() (time.Time, error) {
	if in.st == nil {
		return time.Time{}, nil
	}
	raw, err := in.st.Get(stateBucket, in.stateKey())
	if err != nil || raw == nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, string(raw))
	if err != nil {
		in.log.Warn("the stored time of the last scan does not parse; scanning now", "input", in.name,
			"bucket", stateBucket, "key", in.stateKey(), "error", err)
		return time.Time{}, nil
	}
	return t, nil
}

// completed records that every batch of the scan at t was committed.
func (in *Input) completed(t time.Time) error {
	if in.st != nil {
		if err := in.st.Put(stateBucket, in.stateKey(), []byte(t.UTC().Format(time.RFC3339Nano))); err != nil {
			return fmt.Errorf("dirscan input %s: storing the time of the last scan: %w", in.name, err)
		}
	}
	in.mu.Lock()
	if t.After(in.committed) {
		in.committed = t
	}
	in.mu.Unlock()
	return nil
}

// scan reads the directory and emits the documents of the privileged
// principals. It returns the scan time.
func (in *Input) scan(ctx context.Context, emit func(context.Context, *batch.Batch) error) (time.Time, error) {
	at := in.now().UTC().Truncate(time.Second)
	wanted, order := in.privileged()
	users, err := in.readUsers(ctx, wanted)
	if err != nil {
		return at, err
	}
	regs, err := in.readRegistrations(ctx, users)
	if err != nil {
		return at, err
	}
	items, err := in.documentItems(at, order, wanted, users, regs)
	if err != nil {
		return at, err
	}
	in.log.Info("directory scan read", "input", in.name, "scan", at, "privileged", len(order),
		"documents", len(items), "mfa_known", regs != nil)

	if len(items) == 0 {
		return at, in.completed(at)
	}
	return at, in.emitScan(ctx, emit, at, items)
}

// privileged returns the privileged principals by lower-case object id,
// each once, and their ids in the order Principals gave them.
func (in *Input) privileged() (wanted map[string]*Principal, order []string) {
	wanted = map[string]*Principal{}
	for _, p := range in.principals.Privileged() {
		id := strings.ToLower(strings.TrimSpace(p.ID))
		if id == "" {
			continue
		}
		if _, dup := wanted[id]; dup {
			continue
		}
		wanted[id] = &p
		order = append(order, id)
	}
	return wanted, order
}

// readUsers lists the directory's users and keeps the wanted ones, by
// lower-case object id.
func (in *Input) readUsers(ctx context.Context, wanted map[string]*Principal) (map[string]*user, error) {
	if len(wanted) == 0 {
		return map[string]*user{}, nil
	}
	q := url.Values{"$select": {usersSelect}, "$top": {strconv.Itoa(in.cfg.UsersPageSize)}}
	users, err := readByID(ctx, in, usersPath, q, "user", parseUser,
		func(id string) bool { return wanted[id] != nil })
	if err != nil {
		if graphapi.IsForbidden(err) {
			return nil, fmt.Errorf("GET %s: %w (grant the application permissions User.Read.All and AuditLog.Read.All)", usersPath, err)
		}
		return nil, fmt.Errorf("GET %s: %w", usersPath, err)
	}
	return users, nil
}

// readRegistrations reads the MFA registrations of users, by lower-case
// object id. It returns nil, not an error, when the report is forbidden:
// the documents are still worth sending, without MFA registration.
func (in *Input) readRegistrations(ctx context.Context, users map[string]*user) (map[string]*registration, error) {
	if len(users) == 0 {
		return nil, nil
	}
	regs, err := readByID(ctx, in, registrationPath, nil, "registration", parseRegistration,
		func(id string) bool { return users[id] != nil })
	switch {
	case graphapi.IsForbidden(err):
		if !in.forbiddenLogged {
			in.forbiddenLogged = true
			in.log.Warn("the MFA registration report is forbidden: documents carry mfaRegistered null and directory.mfa_not_registered cannot fire; grant the application permission AuditLog.Read.All",
				"input", in.name, "request", "GET "+registrationPath, "error", err)
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("GET %s: %w", registrationPath, err)
	}
	if in.forbiddenLogged {
		in.forbiddenLogged = false
		in.log.Info("the MFA registration report is readable again", "input", in.name)
	}
	return regs, nil
}

// readByID pages through a Graph listing and keeps, by lower-case object
// id, the elements whose id keep accepts. An element that does not parse
// is logged, as a kind, and skipped: one odd entry must not stop a scan.
func readByID[T interface{ objectID() string }](ctx context.Context, in *Input, path string, q url.Values,
	kind string, parse func([]byte) (T, error), keep func(id string) bool) (map[string]T, error) {
	byID := map[string]T{}
	err := in.client.Pages(ctx, path, q, func(p *graphapi.Page) error {
		for _, raw := range p.Values {
			v, err := parse(raw)
			if err != nil {
				in.log.Warn("skipping a "+kind+" Graph returned", "input", in.name, "error", err)
				continue
			}
			if id := strings.ToLower(v.objectID()); keep(id) {
				byID[id] = v
			}
		}
		return nil
	})
	return byID, err
}

func (u *user) objectID() string         { return u.ID }
func (r *registration) objectID() string { return r.ID }

// documentItems builds the document of each wanted principal found among the
// users, in order, and reports the ones that were not found. regs nil
// means MFA registration is unknown.
func (in *Input) documentItems(at time.Time, order []string, wanted map[string]*Principal, users map[string]*user, regs map[string]*registration) ([]batch.Item, error) {
	var items []batch.Item
	var missing, missingEmergency []string
	for _, id := range order {
		p := wanted[id]
		u := users[id]
		if u == nil {
			if p.Emergency {
				missingEmergency = append(missingEmergency, p.ID+" "+p.UPN)
			} else {
				missing = append(missing, p.ID+" "+p.UPN)
			}
			continue
		}
		var r *registration
		if regs != nil {
			r = regs[id]
		}
		doc, err := document(at, in.cfg.TenantID, p, u, r)
		if err != nil {
			return nil, err
		}
		items = append(items, batch.Item{Data: doc, Origin: "dirscan:" + in.name + " userId=" + u.ID})
	}
	in.reportMissing(missing, missingEmergency)
	return items, nil
}

// reportMissing logs the privileged principals that are not users in the
// directory; an emergency access account missing is an error.
func (in *Input) reportMissing(missing, missingEmergency []string) {
	n := len(missing) + len(missingEmergency)
	if n == 0 {
		return
	}
	in.stats.missing.Add(int64(n))
	if len(missingEmergency) > 0 {
		in.log.Error("emergency access accounts of the role map are not users in the directory (deleted?); no document for them",
			"input", in.name, "principals", missingEmergency)
	}
	if len(missing) > 0 {
		in.log.Warn("privileged principals of the role map are not users in the directory (deleted, or service principals or groups); no document for them",
			"input", in.name, "count", len(missing), "principals", missing[:min(len(missing), maxListed)])
	}
}

// emitScan emits a scan's documents in batches; the last batch's Commit
// records the scan as completed.
func (in *Input) emitScan(ctx context.Context, emit func(context.Context, *batch.Batch) error, at time.Time, items []batch.Item) error {
	for start := 0; start < len(items); start += in.batchSize {
		end := min(start+in.batchSize, len(items))
		b := &batch.Batch{Input: in.name, Items: items[start:end:end], Commit: func() error { return nil }}
		if end == len(items) {
			b.Commit = func() error { return in.completed(at) }
		}
		if err := emit(ctx, b); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &emitError{err}
		}
		in.stats.batches.Add(1)
		in.stats.emitted.Add(int64(end - start))
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
