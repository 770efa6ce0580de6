package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
	"github.com/privtrail/privtrail/internal/store"
)

// t0 is "now" at the start of every test; the fake clock moves from it.
var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
	// skew is Graph's clock minus the host's: the fake's Date header is
	// graph(), the input's clock now().
	skew time.Duration
	// elapsed is the time passed (add), which a step of the host's wall
	// clock does not change: the client's monotonic clock.
	elapsed time.Duration
}

// monotonic is the host's monotonic clock, which the client measures the
// time since Graph's latest answer with (graphapi.WithHostClock).
func (c *clock) monotonic() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return t0.Add(c.elapsed)
}

// graph is the fake Graph's clock.
func (c *clock) graph() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.Add(c.skew)
}

// setSkew sets Graph's clock minus the host's.
func (c *clock) setSkew(d time.Duration) {
	c.mu.Lock()
	c.skew = d
	c.mu.Unlock()
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.elapsed += d
	c.mu.Unlock()
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the log lines containing every one of parts.
func (s *syncBuffer) lines(parts ...string) []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		ok := l != ""
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// env is a fake Graph, a store and a clock shared by the runs of a test.
type env struct {
	t    *testing.T
	srv  *graphtest.Server
	dir  string
	st   *store.Store
	clk  *clock
	logs *syncBuffer
	log  *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, srv: graphtest.New(t), dir: t.TempDir(), clk: &clock{t: t0}, logs: &syncBuffer{}}
	e.srv.SetClock(e.clk.graph)
	e.log = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.open()
	t.Cleanup(func() {
		if e.st != nil {
			e.st.Close()
		}
	})
	return e
}

func (e *env) open() {
	e.t.Helper()
	st, err := store.Open(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
}

// reopen closes and reopens the store, as a restarted process does.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// graphConfig is the fake's config without the reports rate limit (tests
// that measure it set it back).
func (e *env) graphConfig() *graphapi.Config {
	c := e.srv.Config()
	c.ReportsRate = 1_000_000
	c.MaxAttempts = 4
	return &c
}

func (e *env) config(streams ...string) Config {
	return Config{Graph: e.graphConfig(), Streams: streams}
}

// cursor is the stored cursor of a stream.
func (e *env) cursor(stream string) time.Time {
	e.t.Helper()
	raw, err := e.st.Get(metaBucket, metaKey("aad", stream))
	if err != nil || raw == nil {
		e.t.Fatalf("no stored cursor for %s: %v", stream, err)
	}
	c, _, err := decodeMeta(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// storedIDs are the IDs in the stored de-duplication set of a stream.
func (e *env) storedIDs(stream string) []string {
	e.t.Helper()
	p, _, err := loadState(e.st, "aad", stream)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, x := range p.seen {
		ids = append(ids, x.id)
	}
	return ids
}

// add adds documents to a collection.
func (e *env) add(coll string, docs ...map[string]any) {
	for _, d := range docs {
		e.srv.Add(coll, d)
	}
}

// signIns adds n interactive sign-ins "<prefix>-<i>" evenly spread over
// [from, to) and returns their IDs.
func (e *env) signIns(prefix string, n int, from, to time.Time) []string {
	var ids []string
	var docs []any
	step := to.Sub(from) / time.Duration(n)
	for i := range n {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		ids = append(ids, id)
		docs = append(docs, graphtest.SignIn(id, from.Add(time.Duration(i)*step), "adm@contoso.example"))
	}
	e.srv.Add(graphtest.SignIns, docs...)
	return ids
}

// riskDetections adds n risk detections "<prefix>-<i>" last updated evenly
// over [from, to), in an order that is not by time (Graph documents none),
// and returns their IDs.
func (e *env) riskDetections(prefix string, n int, from, to time.Time) []string {
	ids := make([]string, n)
	docs := make([]any, n)
	step := to.Sub(from) / time.Duration(n)
	for k := range n {
		i := (k * 7919) % n // a permutation when n is not a multiple of 7919
		ids[i] = fmt.Sprintf("%s-%05d", prefix, i)
		docs[k] = graphtest.RiskDetection(ids[i], from.Add(time.Duration(i)*step), "adm@contoso.example")
	}
	e.srv.Add(graphtest.RiskDetections, docs...)
	return ids
}

// run is one Run of an input, with an emit that tracks batches like the
// runner (in order commits through batch.Tracker, one output) and a sleep
// that lets the test decide when the next poll starts.
type run struct {
	e        *env
	in       *Input
	tr       *batch.Tracker
	cancel   context.CancelFunc
	done     chan error
	idle     chan struct{}
	release  chan struct{}
	nstreams int

	hold   atomic.Bool // emitted batches are not acknowledged
	onEmit func(r *run, b *batch.Batch, n int)

	mu        sync.Mutex
	emitted   []string // IDs, in emission order
	committed []string
	batches   []*batch.Batch
	held      []*batch.Batch
	bad       []badElement
	sleeps    []time.Duration
}

type badElement struct {
	origin, reason string
	data           []byte
}

// start starts Run and waits for the first poll of every stream.
func (e *env) start(cfg Config, opts ...Option) *run {
	e.t.Helper()
	r := e.newRun(cfg, opts...)
	r.begin()
	r.waitPolls()
	return r
}

// newRun makes the input and its run; begin starts it (set hold and
// onEmit in between).
func (e *env) newRun(cfg Config, opts ...Option) *run {
	e.t.Helper()
	r := &run{e: e, done: make(chan error, 1), idle: make(chan struct{}), release: make(chan struct{})}
	// The client measures the time since Graph's latest Date header on
	// the test's monotonic clock (WithClient tests give their client the
	// option).
	opts = append([]Option{WithGraphOptions(graphapi.WithHostClock(e.clk.monotonic))}, opts...)
	in, err := New("aad", cfg, e.st, e.log, r.badFn, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	in.now = e.clk.now
	in.sleep = r.sleep
	in.pace.every = 0 // TestRiskPacing measures it
	r.in = in
	r.nstreams = len(in.streams)
	r.tr = batch.NewTracker(func(b *batch.Batch) {
		if err := b.Commit(); err != nil {
			e.t.Errorf("commit: %v", err)
			return
		}
		r.mu.Lock()
		for _, it := range b.Items {
			r.committed = append(r.committed, itemID(e.t, it))
		}
		r.mu.Unlock()
	})
	return r
}

// begin starts Run.
func (r *run) begin() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.in.Run(ctx, r.emit) }()
	r.e.t.Cleanup(cancel)
}

func (r *run) badFn(origin string, data []byte, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bad = append(r.bad, badElement{origin, reason, data})
}

func (r *run) emit(ctx context.Context, b *batch.Batch) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.mu.Lock()
	for _, it := range b.Items {
		r.emitted = append(r.emitted, itemID(r.e.t, it))
	}
	r.batches = append(r.batches, b)
	n := len(r.batches)
	r.mu.Unlock()
	r.tr.Track(b, 1)
	if r.onEmit != nil {
		r.onEmit(r, b, n)
	}
	if r.hold.Load() {
		r.mu.Lock()
		r.held = append(r.held, b)
		r.mu.Unlock()
		return nil
	}
	b.Ack()
	return nil
}

func (r *run) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.sleeps = append(r.sleeps, d)
	r.mu.Unlock()
	select {
	case r.idle <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitPolls waits until every stream has finished its poll.
func (r *run) waitPolls() {
	r.e.t.Helper()
	timeout := time.After(60 * time.Second)
	for range r.nstreams {
		select {
		case <-r.idle:
		case err := <-r.done:
			r.e.t.Fatalf("Run returned while polling: %v", err)
		case <-timeout:
			r.e.t.Fatal("a poll did not finish in 60s")
		}
	}
}

// next moves the clock by d, lets every stream poll once more and waits
// for the polls.
func (r *run) next(d time.Duration) {
	r.e.t.Helper()
	r.e.clk.add(d)
	for range r.nstreams {
		r.release <- struct{}{}
	}
	r.waitPolls()
}

// stop ends Run and returns its error.
func (r *run) stop() error {
	r.e.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		r.e.t.Fatal("Run did not return in 30s after cancel")
		return nil
	}
}

// ackHeld acknowledges the batches held so far.
func (r *run) ackHeld() {
	r.mu.Lock()
	held := r.held
	r.held = nil
	r.mu.Unlock()
	for _, b := range held {
		b.Ack()
	}
}

func (r *run) emittedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.emitted)
}

func (r *run) committedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.committed)
}

func (r *run) badElements() []badElement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bad)
}

// itemID is the id of an emitted record, read from its JSON, and checked
// against its origin. An element without a string id is named by its
// origin, "graph:<label> <from>..<to> #<n>".
func itemID(t testing.TB, it batch.Item) string {
	var d struct {
		ID any `json:"id"`
	}
	if err := json.Unmarshal(it.Data, &d); err != nil {
		t.Errorf("emitted item %s is not JSON: %v", it.Origin, err)
	}
	id, ok := d.ID.(string)
	if !ok || id == "" {
		if strings.Contains(it.Origin, " id=") || !strings.HasPrefix(it.Origin, "graph:") || !strings.Contains(it.Origin, " #") {
			t.Errorf("origin %q of an element without an id", it.Origin)
		}
		return it.Origin
	}
	if !strings.HasSuffix(it.Origin, " id="+id) || !strings.HasPrefix(it.Origin, "graph:") {
		t.Errorf("origin %q does not name id %s", it.Origin, id)
	}
	return id
}

// requests are the fake's requests to path, with their decoded queries.
type sent struct {
	graphtest.Request
	query url.Values
}

func (e *env) requests(path string) []sent {
	var out []sent
	for _, r := range e.srv.Log() {
		if strings.EqualFold(r.Path, path) {
			q, err := url.ParseQuery(r.RawQuery)
			if err != nil {
				e.t.Fatalf("query %q: %v", r.RawQuery, err)
			}
			out = append(out, sent{r, q})
		}
	}
	return out
}

// firstPages are the requests to path that started a query (no
// $skiptoken), which carry the window's $filter.
func (e *env) firstPages(path string) []sent {
	var out []sent
	for _, r := range e.requests(path) {
		if r.query.Get("$skiptoken") == "" {
			out = append(out, r)
		}
	}
	return out
}

// checkOnce fails unless got holds every ID of want exactly once and
// nothing else.
func checkOnce(t *testing.T, what string, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	var dup, missing, extra []string
	for _, id := range want {
		switch count[id] {
		case 0:
			missing = append(missing, id)
		case 1:
		default:
			dup = append(dup, id)
		}
		delete(count, id)
	}
	for id := range count {
		extra = append(extra, id)
	}
	if len(dup)+len(missing)+len(extra) > 0 {
		t.Errorf("%s: %d IDs for %d expected; %d duplicated %v, %d missing %v, %d unexpected %v", what, len(got), len(want),
			len(dup), head(dup), len(missing), head(missing), len(extra), head(extra))
	}
}

func head(s []string) []string {
	slices.Sort(s)
	if len(s) > 5 {
		return append(s[:5:5], "…")
	}
	return s
}

func filterOf(field string, from, to time.Time) string {
	return fmt.Sprintf("%s ge %s and %s lt %s", field, from.Format(time.RFC3339), field, to.Format(time.RFC3339))
}
