package elastic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/valyala/fastjson"

	"github.com/privtrail/privtrail/internal/delivery"
)

// sender is the delivery.Sender for Elasticsearch: one Bulk API request
// per batch.
//
// It uses the plain Bulk API of the low-level client rather than
// esutil.BulkIndexer: the indexer has its own workers, batching, flush
// timer and retries, while delivery already batches from the disk buffer,
// retries with back-off and needs per-item results synchronously, in the
// order of the batch, to tell retry from dead-letter. One request per
// Send keeps that mapping exact. The client's own retries are off for the
// same reason.
type sender struct {
	es      *esapi.API
	tr      *http.Transport
	log     *slog.Logger
	name    string
	timeout time.Duration
	now     func() time.Time

	mu        sync.Mutex // held while preparing: the first Send of a run
	ready     bool       // GET / and templates done for this run
	templates []installable

	// Bodies and parsers are per request: with delivery's max_in_flight
	// several bulk requests are under way at once.
	bodies  sync.Pool // *bytes.Buffer
	parsers fastjson.ParserPool
}

// Close releases idle connections (delivery calls it, when it knows to,
// once the output has drained).
func (s *sender) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

// filterPath trims the bulk response to what Send reads.
var filterPath = []string{"errors", "items.*.status", "items.*.error.type", "items.*.error.reason",
	"items.*.error.caused_by.type", "items.*.error.caused_by.reason"}

// Send posts items as one bulk request and sorts out the answer item by
// item.
func (s *sender) Send(ctx context.Context, items [][]byte) delivery.Result {
	s.mu.Lock()
	if !s.ready {
		if err := s.prepare(ctx); err != nil {
			s.mu.Unlock()
			return delivery.Result{Err: err}
		}
		s.ready = true
	}
	s.mu.Unlock()
	body, _ := s.bodies.Get().(*bytes.Buffer)
	if body == nil {
		body = new(bytes.Buffer)
	}
	// The body goes back for reuse only after a 2xx answer, which
	// Elasticsearch gives once it has read all of it; after a failure the
	// transport may still hold it.
	reuse := false
	defer func() {
		if reuse {
			s.bodies.Put(body)
		}
	}()

	// event.ingested is when the record reached Elasticsearch: the send
	// time (of this attempt), as a dotted key, which Elasticsearch merges
	// into the event object. Elastic's rules use it as their timestamp
	// override, so replayed old records are still seen by them.
	body.Reset()
	ingested := s.now().UTC().AppendFormat(nil, time.RFC3339Nano)
	var reject []delivery.Rejection
	var sent []int // index in items of each item in the request
	for i, it := range items {
		nl := bytes.IndexByte(it, '\n')
		if nl < 0 || len(it) < nl+3 || it[nl+1] != '{' {
			reject = append(reject, delivery.Rejection{Index: i, Reason: "elastic: buffered item is not a bulk action and document"})
			continue
		}
		body.Write(it[:nl+1])
		body.WriteString(`{"event.ingested":"`)
		body.Write(ingested)
		body.WriteByte('"')
		if it[nl+2] != '}' {
			body.WriteByte(',')
		}
		body.Write(it[nl+2:])
		if it[len(it)-1] != '\n' {
			body.WriteByte('\n')
		}
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return delivery.Result{Rejected: reject}
	}

	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.es.Bulk(bytes.NewReader(body.Bytes()),
		s.es.Bulk.WithContext(rctx),
		s.es.Bulk.WithHeader(map[string]string{"Content-Type": "application/x-ndjson"}),
		s.es.Bulk.WithFilterPath(filterPath...))
	if err != nil {
		return delivery.Result{Err: fmt.Errorf("elasticsearch bulk: %w", err)}
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		return delivery.Result{Err: fmt.Errorf("elasticsearch bulk: reading the response: %w", err)}
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return delivery.Result{Err: requestError("bulk", res, answer), RetryAfter: retryAfter(res.Header, s.now())}
	}
	reuse = true
	out, err := s.items(answer, len(sent))
	if err != nil {
		// Nothing tells which items were indexed: send them all again
		// (the _ids make the ones that were a 409, accepted).
		return delivery.Result{Err: fmt.Errorf("elasticsearch bulk: %w", err)}
	}
	for k := range out.Retry {
		out.Retry[k] = sent[out.Retry[k]]
	}
	for k := range out.Rejected {
		out.Rejected[k].Index = sent[out.Rejected[k].Index]
	}
	out.Rejected = append(out.Rejected, reject...)
	if len(out.Rejected) > 0 {
		s.log.Warn("elasticsearch refused records; they go to the dead-letter file", "output", s.name,
			"records", len(out.Rejected), "first_reason", out.Rejected[0].Reason)
	}
	return out
}

// items reads a 2xx bulk response of n items.
func (s *sender) items(body []byte, n int) (delivery.Result, error) {
	p := s.parsers.Get()
	defer s.parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return delivery.Result{}, fmt.Errorf("unreadable response: %v", err)
	}
	if !v.GetBool("errors") {
		// Every item was created; items may have been trimmed away.
		return delivery.Result{}, nil
	}
	arr := v.GetArray("items")
	if len(arr) != n {
		return delivery.Result{}, fmt.Errorf("the response has %d items for %d sent", len(arr), n)
	}
	var res delivery.Result
	for i, it := range arr {
		o, err := it.Object()
		if err != nil || o.Len() != 1 {
			return delivery.Result{}, fmt.Errorf("item %d of the response is not {\"create\":{…}}", i)
		}
		var r *fastjson.Value
		o.Visit(func(_ []byte, v *fastjson.Value) { r = v })
		status := r.GetInt("status")
		switch {
		case status >= 200 && status <= 299:
		case status == http.StatusConflict:
			// version_conflict_engine_exception: a document with this _id
			// exists, i.e. this record was indexed before (a resend).
		case status == http.StatusTooManyRequests || status >= 500:
			// es_rejected_execution_exception, unavailable shards: send
			// this one again.
			res.Retry = append(res.Retry, i)
		default:
			res.Rejected = append(res.Rejected, delivery.Rejection{Index: i, Reason: itemReason(status, r.Get("error"))})
		}
	}
	return res, nil
}

// itemReason is "<type>: <reason>" of an item's error, with its cause.
func itemReason(status int, e *fastjson.Value) string {
	typ, reason := string(e.GetStringBytes("type")), string(e.GetStringBytes("reason"))
	if typ == "" && reason == "" {
		return "elasticsearch: item status " + strconv.Itoa(status)
	}
	msg := typ + ": " + reason
	if c := e.Get("caused_by"); c != nil {
		if ct, cr := string(c.GetStringBytes("type")), string(c.GetStringBytes("reason")); ct != "" || cr != "" {
			msg += " (caused by " + ct + ": " + cr + ")"
		}
	}
	return msg
}

// requestError classifies a whole request's non-2xx answer: 429 and 5xx
// (and 408) are worth retrying; 401, 403, 413 and other 4xx are not.
func requestError(what string, res *esapi.Response, body []byte) error {
	msg := fmt.Sprintf("elasticsearch %s: HTTP %d", what, res.StatusCode)
	if r := errorReason(body); r != "" {
		msg += ": " + r
	}
	switch code := res.StatusCode; {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return errors.New(msg)
	case code == http.StatusUnauthorized:
		return delivery.Permanent(errors.New(msg + " (check api_key or username/password)"))
	case code == http.StatusForbidden:
		return delivery.Permanent(errors.New(msg + " (the credentials may not write to the data streams: grant create_doc and auto_configure on logs-azure.*-<namespace>)"))
	case code == http.StatusRequestEntityTooLarge:
		return delivery.Permanent(errors.New(msg + " (lower batch_bytes below http.max_content_length)"))
	default:
		return delivery.Permanent(errors.New(msg))
	}
}

// errorReason extracts "<type>: <reason>" from an Elasticsearch error body.
func errorReason(body []byte) string {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		s := strings.TrimSpace(string(body))
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		return s
	}
	e := v.Get("error")
	if e == nil {
		return ""
	}
	if e.Type() == fastjson.TypeString {
		return string(e.GetStringBytes())
	}
	return itemReason(0, e)
}

// retryAfter reads Retry-After (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// prepare runs once per start, before the first bulk request: it asks the
// cluster who it is (the client's product check, and the version for the
// log) and puts privtrail's templates, so that the data streams are
// created from them and not from the integration's. Only failures worth
// retrying are returned; the rest is logged and the bulk request goes
// ahead (and tells, for bad credentials).
func (s *sender) prepare(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.es.Info(s.es.Info.WithContext(rctx))
	if err != nil {
		return fmt.Errorf("elasticsearch: %w", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode <= 299:
		var p fastjson.Parser
		if v, err := p.ParseBytes(body); err == nil {
			ver := string(v.GetStringBytes("version", "number"))
			s.log.Info("connected to Elasticsearch", "output", s.name, "cluster", string(v.GetStringBytes("cluster_name")), "version", ver)
			if major, _, _ := strings.Cut(ver, "."); atoi(major) >= 0 && atoi(major) < 8 {
				s.log.Warn("Elasticsearch older than 8.0: data streams and templates may not work as documented", "output", s.name, "version", ver)
			}
		}
	case retryable(res.StatusCode):
		return requestError("GET /", res, body)
	default:
		// A write-only API key may not read cluster info (403); the bulk
		// request will tell about bad credentials.
		s.log.Debug("elasticsearch: GET / refused", "output", s.name, "status", res.StatusCode)
	}
	for _, t := range s.templates {
		if err := s.putTemplate(ctx, t); err != nil {
			var skip errSkipTemplates
			if errors.As(err, &skip) {
				return nil
			}
			return err
		}
	}
	if len(s.templates) > 0 {
		s.log.Info("elasticsearch: templates installed", "output", s.name, "index_template", s.templates[len(s.templates)-1].Name)
	}
	return nil
}

// errSkipTemplates ends template installation without failing delivery.
type errSkipTemplates struct{ error }

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func retryable(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
}

func (s *sender) putTemplate(ctx context.Context, t installable) error {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var (
		res *esapi.Response
		err error
	)
	if t.Kind == "component" {
		res, err = s.es.Cluster.PutComponentTemplate(t.Name, bytes.NewReader(t.Body), s.es.Cluster.PutComponentTemplate.WithContext(rctx))
	} else {
		res, err = s.es.Indices.PutIndexTemplate(t.Name, bytes.NewReader(t.Body), s.es.Indices.PutIndexTemplate.WithContext(rctx))
	}
	if err != nil {
		return fmt.Errorf("elasticsearch: PUT %s: %w", t.Path(), err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	switch code := res.StatusCode; {
	case code >= 200 && code <= 299:
		return nil
	case retryable(code):
		return requestError("PUT "+t.Path(), res, body)
	case code == http.StatusForbidden:
		s.log.Warn("elasticsearch: not allowed to install privtrail's index templates (manage_index_templates); install them by hand, or records go to data streams made from other templates",
			"output", s.name, "how", byHandHint(s.templates), "reason", errorReason(body))
	default:
		s.log.Error("elasticsearch: installing privtrail's index templates failed; records go to data streams made from other templates until they are installed",
			"output", s.name, "status", code, "template", t.Path(), "reason", errorReason(body), "how", byHandHint(s.templates))
	}
	return errSkipTemplates{fmt.Errorf("PUT %s: HTTP %d", t.Path(), res.StatusCode)}
}
