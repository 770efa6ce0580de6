// Package graphapi is privtrail's Microsoft Graph client: app-only sign-in
// through azidentity (client secret, certificate, managed identity,
// workload identity), JSON GETs and paged collections, with what Graph
// asks of its callers built in — Retry-After on 429/503/504, back-off with
// jitter, one token refresh on 401, nextLinks followed verbatim and only
// to Graph, and the reports API's rate limit shared by every caller of a
// Client. See README.md.
package graphapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

const (
	backoffBase = time.Second
	backoffCap  = 60 * time.Second
)

// Option adjusts a Client.
type Option func(*options)

type options struct {
	cred    azcore.TokenCredential
	hc      *http.Client
	version string
	now     func() time.Time
}

// WithCredential makes the Client get its tokens from cred instead of the
// credential the Config describes (tests of other packages, or a
// credential privtrail does not configure itself).
func WithCredential(cred azcore.TokenCredential) Option {
	return func(o *options) { o.cred = cred }
}

// WithHTTPClient sends every request, token requests included, through
// hc. The Config's tls block is then not used.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.hc = hc }
}

// WithVersion sets the version in the User-Agent (privtrail/<version>).
// Default: the module version of the binary, or "dev".
func WithVersion(v string) Option {
	return func(o *options) { o.version = v }
}

// WithHostClock sets the host clock against which the Client measures the
// time since Graph's latest answer (GraphNow); default time.Now, whose
// monotonic reading a step of the wall clock does not move. Tests of the
// packages above give their fake clock. It does not change how token
// expiry is judged.
func WithHostClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// Client talks to Microsoft Graph for one tenant. It is safe for
// concurrent use, and meant to be shared: the reports rate limit and the
// token are per Client.
type Client struct {
	cfg     Config
	log     *slog.Logger
	hc      *http.Client
	base    *url.URL
	ua      string
	tokens  *tokenSource
	reports *windowLimiter
	stats   counters

	// sleep waits between attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
	// now is the host clock GraphNow counts from (WithHostClock).
	now func() time.Time
	// graphClock is the Date header of Graph's latest answer and when it
	// arrived: GraphNow.
	graphClock atomic.Pointer[serverTime]
}

// serverTime is Graph's clock as one answer showed it.
type serverTime struct {
	date time.Time // the answer's Date header
	at   time.Time // the host's clock when it arrived
}

type counters struct {
	requests, retries, throttled, tokenRefreshes atomic.Int64
	status4xx, status5xx, transport              atomic.Int64
}

// Stats are a Client's counters since New, for metrics.
type Stats struct {
	Requests        int64 // HTTP requests sent to Graph, retries included
	Retries         int64 // requests that repeated an earlier one (after 429, 5xx, 401, a network error)
	Throttled       int64 // 429 answers
	TokenRefreshes  int64 // tokens obtained from the credential
	ClientErrors    int64 // 4xx answers, 401 and 429 included
	ServerErrors    int64 // 5xx answers
	TransportErrors int64 // network errors, timeouts, bodies that broke off
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		Requests: s.requests.Load(), Retries: s.retries.Load(), Throttled: s.throttled.Load(),
		TokenRefreshes: s.tokenRefreshes.Load(), ClientErrors: s.status4xx.Load(),
		ServerErrors: s.status5xx.Load(), TransportErrors: s.transport.Load(),
	}
}

// New validates cfg and builds its Client. No request is sent: a wrong
// secret shows on the first request.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "graph")
	hc := o.hc
	if hc == nil {
		tc, err := cfg.TLS.Build("graph", log)
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		hc = &http.Client{Transport: tr}
	}
	base, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	src := credentialSource{cred: o.cred}
	if o.cred == nil {
		if src, err = newCredential(cfg, hc); err != nil {
			return nil, err
		}
	}
	if o.version == "" {
		o.version = moduleVersion()
	}
	if o.now == nil {
		o.now = time.Now
	}
	c := &Client{
		cfg:     cfg,
		log:     log,
		hc:      hc,
		base:    base,
		ua:      "privtrail/" + o.version,
		reports: newWindowLimiter(cfg.ReportsRate, reportsWindow),
		sleep:   sleep,
		now:     o.now,
	}
	c.tokens = &tokenSource{src: src, scope: cfg.Scope(), log: log, stats: &c.stats, now: time.Now}
	return c, nil
}

// GraphNow is Graph's clock now, as the HTTP Date header of its latest
// answer (of any status) showed it: that Date plus the time the host's
// clock says has passed since the answer arrived. Features that follow
// Graph's clock rather than the host's — the log poller's window ends —
// read it; ok is false until an answer with a Date header has come.
//
// The Date header counts whole seconds and is written before the answer
// travels, so GraphNow is never ahead of Graph's clock and at most one
// second plus a round trip behind it. Only elapsed host time is added, on
// the monotonic clock in production: a step of the host's wall clock
// (NTP, a suspended VM) does not move it.
func (c *Client) GraphNow() (time.Time, bool) {
	st := c.graphClock.Load()
	if st == nil {
		return time.Time{}, false
	}
	return st.date.Add(max(c.now().Sub(st.at), 0)), true
}

// noteDate keeps the Date header of an answer of Graph for GraphNow.
func (c *Client) noteDate(h http.Header) {
	v := h.Get("Date")
	if v == "" {
		return
	}
	d, err := http.ParseTime(v)
	if err != nil || d.Year() < 2000 {
		return
	}
	c.graphClock.Store(&serverTime{date: d.UTC(), at: c.now()})
}

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Get sends a GET to pathOrURL — a path that starts with the API version
// ("/v1.0/organization"), or an absolute URL on the Graph endpoint —
// with query added, and decodes the JSON answer into into (nil: discard).
func (c *Client) Get(ctx context.Context, pathOrURL string, query url.Values, into any) error {
	u, err := c.resolve(pathOrURL, query)
	if err != nil {
		return err
	}
	body, err := c.fetch(ctx, u)
	if err != nil || into == nil {
		return err
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("graph: GET %s: decoding the answer: %w", u.Path, err)
	}
	return nil
}

// Page is one page of a Graph collection.
type Page struct {
	// URL is the URL the page was fetched from.
	URL string
	// Values are the elements of "value", each as its JSON text in a
	// slice of its own that the caller may keep.
	Values []json.RawMessage
	// NextLink is @odata.nextLink ("" on the last page); DeltaLink is
	// @odata.deltaLink, on the last page of a delta query.
	NextLink, DeltaLink string
}

// Pages GETs the collection at path with query and calls fn with every
// page, following @odata.nextLink verbatim until a page has none. A page
// reaches fn whole or not at all: a body that breaks off is fetched again.
// An error of fn stops the paging and is returned as is. A nextLink that
// does not point to the configured Graph endpoint (same scheme and host)
// is an error, and its page is not handed to fn: following it would send
// the token elsewhere.
func (c *Client) Pages(ctx context.Context, path string, query url.Values, fn func(p *Page) error) error {
	u, err := c.resolve(path, query)
	if err != nil {
		return err
	}
	cur := u.String()
	for {
		body, err := c.fetch(ctx, u)
		if err != nil {
			return err
		}
		var doc struct {
			Value     *[]json.RawMessage `json:"value"`
			NextLink  string             `json:"@odata.nextLink"`
			DeltaLink string             `json:"@odata.deltaLink"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return fmt.Errorf("graph: GET %s: decoding the page: %w", u.Path, err)
		}
		if doc.Value == nil {
			return fmt.Errorf("graph: GET %s: the answer has no \"value\": not a collection", u.Path)
		}
		var next *url.URL
		if doc.NextLink != "" {
			if next, err = c.checkLink(doc.NextLink); err != nil {
				return err
			}
			if doc.NextLink == cur {
				return fmt.Errorf("graph: GET %s: the nextLink is the page's own URL", u.Path)
			}
		}
		if err := fn(&Page{URL: cur, Values: *doc.Value, NextLink: doc.NextLink, DeltaLink: doc.DeltaLink}); err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		u, cur = next, doc.NextLink
	}
}

// resolve turns a path and query, or an absolute URL, into the URL to GET.
func (c *Client) resolve(pathOrURL string, query url.Values) (*url.URL, error) {
	var u *url.URL
	if strings.Contains(pathOrURL, "://") {
		var err error
		if u, err = c.checkLink(pathOrURL); err != nil {
			return nil, err
		}
	} else {
		p := "/" + strings.TrimPrefix(pathOrURL, "/")
		var err error
		if u, err = url.Parse(c.cfg.Endpoint + p); err != nil {
			return nil, fmt.Errorf("graph: path %q: %w", pathOrURL, err)
		}
		if err := checkVersion(u.Path); err != nil {
			return nil, err
		}
	}
	if len(query) > 0 {
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += encodeQuery(query)
	}
	return u, nil
}

// checkLink parses an absolute URL and accepts it only on the Graph
// endpoint: same scheme (so https stays https) and same host and port.
func (c *Client) checkLink(link string) (*url.URL, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("graph: link %q is not a URL: %v", link, err)
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) || u.User != nil {
		return nil, fmt.Errorf("graph: refusing to follow %s://%s%s: it is not the Graph endpoint %s, and the request would carry the token there",
			u.Scheme, u.Host, u.Path, c.cfg.Endpoint)
	}
	if err := checkVersion(u.Path); err != nil {
		return nil, err
	}
	return u, nil
}

func checkVersion(path string) error {
	v, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if v != "v1.0" && v != "beta" {
		return fmt.Errorf("graph: path %q does not start with /v1.0/ or /beta/", path)
	}
	return nil
}

// isReportsPath reports whether path is on the identity and access
// reports API, which Microsoft limits to 5 requests per 10 seconds.
func isReportsPath(path string) bool {
	p := strings.ToLower(path)
	for _, v := range []string{"/v1.0/", "/beta/"} {
		if rest, ok := strings.CutPrefix(p, v); ok {
			return strings.HasPrefix(rest, "auditlogs/") || strings.HasPrefix(rest, "reports/")
		}
	}
	return false
}

// encodeQuery is url.Values.Encode with the spellings Graph documents:
// "$filter", not "%24filter", and %20 for a space, not '+'.
func encodeQuery(v url.Values) string {
	esc := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(url.QueryEscape(s), "+", "%20"), "%24", "$")
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(v)) {
		for _, val := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(esc(k))
			b.WriteByte('=')
			b.WriteString(esc(val))
		}
	}
	return b.String()
}

// outcome is what one attempt of a request came to.
type outcome struct {
	body       []byte
	err        error
	retryable  bool
	retryAfter time.Duration
	// unauthorized: Graph answered 401 to token; claims is the decoded
	// claims challenge, if any.
	unauthorized  bool
	token, claims string
}

// fetch GETs u, retrying what Graph says may be retried, and returns the
// body of the 2xx answer, which is complete JSON.
func (c *Client) fetch(ctx context.Context, u *url.URL) ([]byte, error) {
	reports := isReportsPath(u.Path)
	crid := newRequestID()
	refreshed := false
	fresh := "" // the token a refresh got, for the request that follows it
	for attempt, sent := 1, 0; ; {
		if sent > 0 {
			c.stats.retries.Add(1)
		}
		sent++
		out := c.once(ctx, u, crid, reports, attempt, fresh)
		fresh = ""
		switch {
		case out.err == nil:
			return out.body, nil
		case out.unauthorized && !refreshed:
			// A token the cache thought valid was refused (revoked, or
			// the clock is off): get a new one and try once more, outside
			// the attempt budget.
			refreshed = true
			c.log.Info("graph refused the token, getting a new one", "path", u.Path, "client_request_id", crid)
			tok, err := c.tokens.refresh(ctx, out.token, out.claims)
			if err != nil {
				return nil, err
			}
			fresh = tok
			continue
		case !out.retryable:
			return nil, out.err
		case attempt >= c.cfg.MaxAttempts:
			return nil, fmt.Errorf("%w; gave up after %d attempts", out.err, attempt)
		}
		wait := out.retryAfter
		if wait <= 0 {
			wait = backoff(attempt)
		}
		c.log.Warn("graph request failed, retrying", "path", u.Path, "attempt", attempt, "wait", wait,
			"retry_after", out.retryAfter > 0, "err", out.err, "client_request_id", crid)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("graph: GET %s: %w (while waiting to retry after: %v)", u.Path, err, out.err)
		}
		attempt++
	}
}

// once sends one request, with tok or else the current token.
func (c *Client) once(ctx context.Context, u *url.URL, crid string, reports bool, attempt int, tok string) outcome {
	if reports {
		if err := c.reports.Wait(ctx); err != nil {
			return outcome{err: fmt.Errorf("graph: GET %s: %w", u.Path, err)}
		}
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if tok == "" {
		var err error
		if tok, err = c.tokens.token(rctx); err != nil {
			return outcome{err: err}
		}
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return outcome{err: fmt.Errorf("graph: GET %s: %w", u.Path, err)}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("client-request-id", crid)
	// Reports return enum members added after v1.0 was frozen (say a new
	// sign-in event type) instead of "unknownFutureValue"; elsewhere the
	// header is ignored.
	req.Header.Set("Prefer", "include-unknown-enum-members")

	start := time.Now()
	c.stats.requests.Add(1)
	res, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, u, fmt.Errorf("graph: GET %s: %w", u.Path, unwrapURLError(err)))
	}
	c.noteDate(res.Header)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	rid := res.Header.Get("request-id")
	c.log.Debug("graph request", "method", req.Method, "path", u.Path, "status", res.StatusCode, "bytes", len(body),
		"duration", time.Since(start).Round(time.Millisecond), "attempt", attempt, "request_id", rid, "client_request_id", crid)
	if err != nil {
		return c.transportError(ctx, u, fmt.Errorf("graph: GET %s: the answer broke off after %d bytes (request-id %s): %w", u.Path, len(body), rid, err))
	}

	switch s := res.StatusCode; {
	case s >= 200 && s < 300:
		if s == http.StatusNoContent && len(body) == 0 {
			return outcome{}
		}
		if !json.Valid(body) {
			return c.transportError(ctx, u, fmt.Errorf("graph: GET %s: the answer is not complete JSON (%d bytes, request-id %s)", u.Path, len(body), rid))
		}
		return outcome{body: body}
	case s == http.StatusUnauthorized:
		c.stats.status4xx.Add(1)
		return outcome{err: apiError(res, body), unauthorized: true, token: tok,
			claims: challengeClaims(res.Header.Get("WWW-Authenticate"))}
	case s == http.StatusTooManyRequests:
		c.stats.status4xx.Add(1)
		c.stats.throttled.Add(1)
		return outcome{err: apiError(res, body), retryable: true, retryAfter: retryAfter(res.Header, time.Now())}
	case s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout:
		c.stats.status5xx.Add(1)
		return outcome{err: apiError(res, body), retryable: true, retryAfter: retryAfter(res.Header, time.Now())}
	case s >= 500:
		c.stats.status5xx.Add(1)
	case s >= 400:
		c.stats.status4xx.Add(1)
	}
	return outcome{err: apiError(res, body)}
}

// transportError is a failed exchange: retryable, unless the caller's
// context ended (a per-request timeout is retried).
func (c *Client) transportError(ctx context.Context, u *url.URL, err error) outcome {
	if ctx.Err() != nil {
		return outcome{err: fmt.Errorf("graph: GET %s: %w", u.Path, ctx.Err())}
	}
	c.stats.transport.Add(1)
	return outcome{err: err, retryable: true}
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the
// whole URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryAfter reads Retry-After: seconds or an HTTP date. 0: absent or
// unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(n, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is "full jitter": uniform in [0, min(cap, base·2^(attempt-1))],
// so that clients throttled together do not come back together.
func backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt < 7 {
		d = min(backoffCap, backoffBase<<(attempt-1))
	}
	return time.Duration(mrand.Int64N(int64(d) + 1))
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

// newRequestID makes a client-request-id (a random UUID).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
