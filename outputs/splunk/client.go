package splunk

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/secret"
)

// HEC status codes (the "code" of a response body), from Splunk's
// "Troubleshoot HTTP Event Collector".
const (
	codeSuccess            = 0
	codeTokenDisabled      = 1  // 403
	codeTokenRequired      = 2  // 401
	codeInvalidAuth        = 3  // 401
	codeInvalidToken       = 4  // 403
	codeNoData             = 5  // 400
	codeInvalidDataFormat  = 6  // 400
	codeIncorrectIndex     = 7  // 400
	codeInternalError      = 8  // 500
	codeServerBusy         = 9  // 503
	codeChannelMissing     = 10 // 400
	codeInvalidChannel     = 11 // 400
	codeEventRequired      = 12 // 400
	codeEventBlank         = 13 // 400
	codeAckDisabled        = 14 // 400
	codeIndexedFieldsError = 15 // 400
)

// maxResponse bounds how much of a response body is read.
const maxResponse = 64 << 10

// Client is the HEC Sender: it POSTs a batch to /services/collector/event
// and, with indexer acknowledgement, polls /services/collector/ack until
// the batch is indexed. Safe for concurrent use.
type Client struct {
	eventURL, ackURL string
	// token is a pointer so that printing a Client (%+v) shows an
	// address, not the token; it is only read to set the header.
	token               *secret.Secret
	channel             string
	gzip, ack           bool
	ackTimeout, ackPoll time.Duration
	http                *http.Client
	log                 *slog.Logger
	warnNoAck           sync.Once

	// gzs are gzip writers for requests in flight at once (delivery's
	// max_in_flight): one shared writer would serialize them.
	gzs sync.Pool
	// acks polls the outstanding ackIds of every request in flight in
	// one /services/collector/ack request.
	acks ackWindow
}

// NewClient builds the Sender for cfg; what names it in log lines.
func NewClient(cfg Config, what string, log *slog.Logger) (*Client, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	base, _ := cfg.baseURL()
	tlsCfg, err := cfg.TLS.Build(what, log)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConns:          4,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
		// The body is gzipped by us when configured; do not let the
		// transport negotiate response compression.
		DisableCompression: true,
	}
	c := &Client{
		eventURL:   base + "/services/collector/event",
		ackURL:     base + "/services/collector/ack",
		token:      &cfg.Token,
		channel:    cfg.Channel,
		gzip:       cfg.gzip(),
		ack:        cfg.IndexerAck,
		ackTimeout: cfg.AckTimeout,
		ackPoll:    cfg.AckPollInterval,
		log:        log.With("output", what),
		http: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			// HEC does not redirect; a redirect means a wrong url (and
			// following it could hand the token to another host).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.gzs.New = func() any {
		w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		return w
	}
	c.acks.init(c)
	return c, nil
}

// Channel is the HEC channel the client sends on ("" without indexer
// acknowledgement).
func (c *Client) Channel() string {
	if !c.ack {
		return ""
	}
	return c.channel
}

// CloseIdleConnections closes the kept-alive connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// hecResponse is a HEC reply body.
type hecResponse struct {
	Text         string `json:"text"`
	Code         *int   `json:"code"`
	InvalidEvent *int   `json:"invalid-event-number"`
	AckID        *int64 `json:"ackId"`
}

// outcome is one POST's result before it is turned into a
// delivery.Result.
type outcome struct {
	delivery.Result
	tooLarge bool // 413: split the batch and try the halves
}

// Send delivers one batch. A 413 (request too large) splits it in halves,
// down to single events; a single event HEC still refuses as too large is
// rejected.
func (c *Client) Send(ctx context.Context, items [][]byte) delivery.Result {
	o := c.post(ctx, items)
	if !o.tooLarge {
		return o.Result
	}
	if len(items) == 1 {
		return delivery.Result{Rejected: []delivery.Rejection{{Index: 0, Reason: o.Err.Error()}}}
	}
	mid := len(items) / 2
	first := c.Send(ctx, items[:mid])
	if first.Err != nil {
		// Nothing of the batch was accepted yet: the batch fails as a
		// whole (permanent only if that is what the first half got).
		return first
	}
	second := c.Send(ctx, items[mid:])
	return merge(first, second, mid, len(items)-mid)
}

// merge combines the results of two halves of a batch, the first of which
// went through (perhaps partly).
func merge(a, b delivery.Result, offset, nb int) delivery.Result {
	res := delivery.Result{Retry: a.Retry, Rejected: a.Rejected, RetryAfter: max(a.RetryAfter, b.RetryAfter)}
	switch {
	case b.Err != nil && delivery.IsPermanent(b.Err):
		for i := range nb {
			res.Rejected = append(res.Rejected, delivery.Rejection{Index: offset + i, Reason: b.Err.Error()})
		}
	case b.Err != nil:
		for i := range nb {
			res.Retry = append(res.Retry, offset+i)
		}
	default:
		for _, i := range b.Retry {
			res.Retry = append(res.Retry, offset+i)
		}
		for _, r := range b.Rejected {
			res.Rejected = append(res.Rejected, delivery.Rejection{Index: offset + r.Index, Reason: r.Reason})
		}
	}
	return res
}

// post sends items in one request and, with indexer acknowledgement,
// waits for it.
func (c *Client) post(ctx context.Context, items [][]byte) outcome {
	body, err := c.body(items)
	if err != nil {
		return outcome{Result: delivery.Result{Err: fmt.Errorf("splunk: compressing the batch: %w", err)}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.eventURL, bytes.NewReader(body))
	if err != nil {
		return outcome{Result: delivery.Result{Err: delivery.Permanent(fmt.Errorf("splunk: %v", err))}}
	}
	c.header(req)
	if c.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return outcome{Result: delivery.Result{Err: fmt.Errorf("splunk: POST %s: %w", c.eventURL, unwrapURLError(err))}}
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // keep the connection reusable
	resp.Body.Close()
	var hr hecResponse
	parsed := json.Unmarshal(raw, &hr) == nil
	if resp.StatusCode/100 == 2 && (!parsed || hr.Code == nil || *hr.Code == codeSuccess) {
		if !c.ack {
			return outcome{}
		}
		if !parsed || hr.AckID == nil {
			c.warnNoAck.Do(func() {
				c.log.Warn("splunk: indexer_ack is on but HEC returned no ackId: the token does not have indexer acknowledgement enabled, so batches count as delivered when HEC receives them")
			})
			return outcome{}
		}
		return outcome{Result: c.waitAck(ctx, *hr.AckID)}
	}
	return c.classify(resp, raw, hr, parsed, len(items))
}

// body is the batch, concatenated and gzipped when configured.
func (c *Client) body(items [][]byte) ([]byte, error) {
	n := 0
	for _, it := range items {
		n += len(it)
	}
	if !c.gzip {
		body := make([]byte, 0, n)
		for _, it := range items {
			body = append(body, it...)
		}
		return body, nil
	}
	var buf bytes.Buffer
	buf.Grow(n/6 + 512)
	gz := c.gzs.Get().(*gzip.Writer)
	defer c.gzs.Put(gz)
	gz.Reset(&buf)
	for _, it := range items {
		if _, err := gz.Write(it); err != nil {
			return nil, err
		}
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (c *Client) header(req *http.Request) {
	req.Header.Set("Authorization", "Splunk "+c.token.Value())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "privtrail")
	if c.ack {
		req.Header.Set("X-Splunk-Request-Channel", c.channel)
	}
}

// classify turns a refusal into a delivery result, per HEC's documented
// status codes: authentication, index and format errors are permanent (a
// resend gets the same answer), busy and server errors are retried.
func (c *Client) classify(resp *http.Response, raw []byte, hr hecResponse, parsed bool, n int) outcome {
	reason := describe(resp.StatusCode, raw, hr, parsed)
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	transient := func() outcome {
		return outcome{Result: delivery.Result{Err: errors.New(reason), RetryAfter: retryAfter}}
	}
	permanent := func(hint string) outcome {
		return outcome{Result: delivery.Result{Err: delivery.Permanent(errors.New(reason + hint))}}
	}
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		return outcome{Result: delivery.Result{Err: delivery.Permanent(errors.New(reason + " (event larger than HEC's max_content_length)"))}, tooLarge: true}
	}
	code := -1
	if parsed && hr.Code != nil {
		code = *hr.Code
	}
	switch code {
	case codeTokenDisabled, codeTokenRequired, codeInvalidAuth, codeInvalidToken:
		return permanent(" (check the output's token)")
	case codeIncorrectIndex:
		return permanent(" (the index does not exist or the token may not write to it)")
	case codeChannelMissing:
		return permanent(" (the token has indexer acknowledgement enabled: set indexer_ack: true)")
	case codeInvalidDataFormat, codeEventRequired, codeEventBlank, codeIndexedFieldsError:
		if hr.InvalidEvent != nil && *hr.InvalidEvent >= 0 && *hr.InvalidEvent < n {
			// HEC names the first event it refused: reject that one and
			// send every other one again. Events before it may have been
			// indexed already, so they may arrive twice (at least once).
			bad := *hr.InvalidEvent
			res := delivery.Result{Rejected: []delivery.Rejection{{Index: bad, Reason: reason}}}
			for i := range n {
				if i != bad {
					res.Retry = append(res.Retry, i)
				}
			}
			return outcome{Result: res}
		}
		return permanent("")
	case codeInternalError, codeServerBusy:
		return transient()
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests, s == http.StatusRequestTimeout, s >= 500:
		return transient()
	case s == http.StatusUnauthorized, s == http.StatusForbidden:
		return permanent(" (check the output's token)")
	case s == http.StatusNotFound:
		return permanent(" (is url the HEC address, e.g. https://splunk.example:8088?)")
	case s/100 == 3:
		return permanent(" (HEC does not redirect: check url)")
	case s/100 == 2:
		// 2xx with a non-zero code: not a documented answer; send again.
		return transient()
	}
	return permanent("")
}

// describe is the HEC reason for a refusal: the HTTP status, the HEC
// code and text. It never holds request headers (the token).
func describe(status int, raw []byte, hr hecResponse, parsed bool) string {
	s := "splunk HEC: " + strconv.Itoa(status) + " " + http.StatusText(status)
	switch {
	case parsed && hr.Code != nil:
		s += ": code " + strconv.Itoa(*hr.Code) + " " + strconv.Quote(hr.Text)
		if hr.InvalidEvent != nil {
			s += " invalid-event-number " + strconv.Itoa(*hr.InvalidEvent)
		}
	case parsed && hr.Text != "":
		s += ": " + strconv.Quote(hr.Text)
	case len(bytes.TrimSpace(raw)) > 0:
		r := bytes.TrimSpace(raw)
		if len(r) > 200 {
			r = r[:200]
		}
		s += ": " + strconv.Quote(string(r))
	}
	return s
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// waitAck waits until HEC reports the request with ackId id indexed, or
// ackTimeout passes: then the batch is sent again (delivery is at least
// once: if the acknowledgement was merely late, the batch is indexed
// twice). The ackIds of every request in flight are polled together, one
// /services/collector/ack request every ackPoll (see ackWindow).
func (c *Client) waitAck(ctx context.Context, id int64) delivery.Result {
	done := c.acks.add(id)
	t := time.NewTimer(c.ackTimeout)
	defer t.Stop()
	select {
	case <-done:
		return delivery.Result{}
	case <-ctx.Done():
		c.acks.forget(id)
		return delivery.Result{Err: fmt.Errorf("splunk: stopped while waiting for the indexer acknowledgement of ackId %d: %w", id, ctx.Err())}
	case <-t.C:
		c.acks.forget(id)
		msg := fmt.Sprintf("splunk: no indexer acknowledgement for ackId %d on channel %s within ack_timeout %s; sending the batch again (it may be indexed twice)", id, c.channel, c.ackTimeout)
		if err := c.acks.lastErr(); err != nil {
			msg += "; last query error: " + err.Error()
		}
		return delivery.Result{Err: errors.New(msg)}
	}
}

// ackWindow is the set of ackIds waiting for indexer acknowledgement on
// the client's channel, one per request in flight. A poller goroutine,
// running while the set is not empty, asks HEC about all of them in one
// request every ackPoll (the ack endpoint takes a list) and releases each
// one reported true, in whatever order HEC acknowledges them.
type ackWindow struct {
	c *Client

	mu      sync.Mutex
	waiting map[int64]chan struct{}
	polling bool
	err     error // of the last query, nil once one succeeds
}

func (w *ackWindow) init(c *Client) {
	w.c = c
	w.waiting = map[int64]chan struct{}{}
}

// add registers id and returns what is closed once HEC acknowledges it.
func (w *ackWindow) add(id int64) <-chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting[id] = ch
	if !w.polling {
		w.polling = true
		go w.poll()
	}
	return ch
}

// forget stops waiting for id (a timeout, or the output stopping).
func (w *ackWindow) forget(id int64) {
	w.mu.Lock()
	delete(w.waiting, id)
	w.mu.Unlock()
}

func (w *ackWindow) lastErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// poll queries the waiting ackIds every ackPoll until none is left.
func (w *ackWindow) poll() {
	t := time.NewTimer(w.c.ackPoll)
	defer t.Stop()
	ids := make([]int64, 0, 8)
	for {
		<-t.C
		w.mu.Lock()
		ids = ids[:0]
		for id := range w.waiting {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			w.polling = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		slices.Sort(ids)
		acked, err := w.c.pollAcks(context.Background(), ids)
		w.mu.Lock()
		w.err = err
		if err != nil {
			w.c.log.Debug("splunk: indexer acknowledgement query failed", "ack_ids", len(ids), "err", err)
		}
		for _, id := range acked {
			if ch, ok := w.waiting[id]; ok {
				close(ch)
				delete(w.waiting, id)
			}
		}
		w.mu.Unlock()
		t.Reset(w.c.ackPoll)
	}
}

// pollAcks asks HEC which of ids were indexed. The poller calls it
// without a waiter's ctx (the query serves every request in flight): the
// client's request timeout bounds it.
func (c *Client) pollAcks(ctx context.Context, ids []int64) ([]int64, error) {
	body := make([]byte, 0, 16+12*len(ids))
	body = append(body, `{"acks":[`...)
	for i, id := range ids {
		if i > 0 {
			body = append(body, ',')
		}
		body = strconv.AppendInt(body, id, 10)
	}
	body = append(body, "]}"...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ackURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	c.header(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var hr hecResponse
		parsed := json.Unmarshal(raw, &hr) == nil
		return nil, errors.New(describe(resp.StatusCode, raw, hr, parsed))
	}
	var ar struct {
		Acks map[string]bool `json:"acks"`
	}
	if err := json.Unmarshal(raw, &ar); err != nil {
		return nil, fmt.Errorf("splunk HEC: unreadable acknowledgement reply: %v", err)
	}
	var acked []int64
	for k, ok := range ar.Acks {
		if !ok {
			continue
		}
		if id, err := strconv.ParseInt(k, 10, 64); err == nil {
			acked = append(acked, id)
		}
	}
	return acked, nil
}

// unwrapURLError drops net/url's "Post \"<url>\":" prefix (the caller
// names the URL once).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
