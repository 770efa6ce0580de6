package splunk

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

const testToken = "5f2d7c1e-hec-token-s3cr3t"

func mustSecret(t testing.TB, v string) secret.Secret {
	t.Helper()
	s, err := secret.Resolve(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var templateDoc = func() string {
	b, err := os.ReadFile(filepath.Join("testdata", "in", "signin_graph.json"))
	if err != nil {
		panic(err)
	}
	return string(bytes.TrimSpace(b))
}()

// testRecords returns n enriched sign-ins with ids rec-<from>…; every
// third hits a monitor.
func testRecords(tb testing.TB, from, n int) []*entra.Record {
	tb.Helper()
	var d entra.Decoder
	recs := make([]*entra.Record, 0, n)
	for i := from; i < from+n; i++ {
		doc := strings.Replace(templateDoc, "66ea54eb-6301-4ee5-be62-ff5a759b0100", fmt.Sprintf("rec-%04d", i), 1)
		rec := &entra.Record{Origin: fmt.Sprintf("test:%d", i)}
		if err := d.Decode([]byte(doc), rec); err != nil {
			tb.Fatal(err)
		}
		rec.Actor.Privileged = i%2 == 0
		if i%3 == 0 {
			rec.Hits = []entra.Hit{{ID: "signin.legacy_auth", Title: "Legacy auth", Risk: "high", Source: "signin", Reason: "clientAppUsed=IMAP4"}}
		}
		recs = append(recs, rec)
	}
	return recs
}

func recordIDs(recs []*entra.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

type harness struct {
	out  *delivery.Output
	dead *deadList
	logs *logBuffer
	cfg  Config
}

// newHarness starts the output against url with test-friendly delivery
// settings; mod adjusts the config.
func newHarness(t testing.TB, url string, mod func(*Config)) *harness {
	t.Helper()
	cfg := Config{
		URL: url, Token: mustSecret(t, testToken), Index: "entra", Host: "agent-01", AllowHTTP: true,
		AckPollInterval: 5 * time.Millisecond, AckTimeout: 2 * time.Second,
		// One request in flight: these tests check the order HEC indexes
		// in; the window has its own.
		Config: delivery.Config{MaxInFlight: 1, BatchSize: 10, FlushInterval: 5 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	}
	if mod != nil {
		mod(&cfg)
	}
	h := &harness{dead: &deadList{}, logs: &logBuffer{}, cfg: cfg}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	out, err := New("splunk", cfg, delivery.Deps{DataDir: t.TempDir(), DeadLetters: h.dead, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	h.out = out
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		out.Close(ctx)
	})
	return h
}

// consume hands recs to the output in batches of size, as the runner does,
// and checks each is acknowledged once buffered.
func (h *harness) consume(t testing.TB, recs []*entra.Record, size int) {
	t.Helper()
	for i := 0; i < len(recs); i += size {
		chunk := recs[i:min(i+size, len(recs))]
		b := &batch.Batch{Input: "test", Records: chunk}
		for _, r := range chunk {
			b.JSON = append(b.JSON, r.AppendJSON(nil))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		acked, err := deliverytest.ConsumeAcked(ctx, h.out, b, uint64(i/size+1))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !acked {
			t.Fatal("a buffered batch must be acknowledged")
		}
	}
}

func (h *harness) close(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.out.Close(ctx)
}

// noToken fails if the token shows up in s.
func noToken(t testing.TB, where, s string) {
	t.Helper()
	if strings.Contains(s, testToken) {
		t.Errorf("the token appears in %s: %s", where, s)
	}
}

func TestDeliversEveryRecordOnceInOrder(t *testing.T) {
	for _, gz := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			hec := newFakeHEC(t, testToken)
			srv := httptest.NewServer(hec)
			defer srv.Close()
			h := newHarness(t, srv.URL, func(c *Config) { c.Gzip = &gz })
			recs := testRecords(t, 0, 95)
			h.consume(t, recs, 7)
			waitFor(t, "95 events", func() bool { return len(hec.ids()) >= 95 })
			h.close(t)

			if got, want := hec.ids(), recordIDs(recs); !slices.Equal(got, want) {
				t.Fatalf("indexed %v\nwant    %v", got, want)
			}
			for i, ev := range hec.events() {
				// Graph sign-ins, in the diagnostic envelope by default.
				if ev.Sourcetype != "azure:monitor:aad" || ev.Index != "entra" || ev.Host != "agent-01" || ev.Source != "privtrail" {
					t.Fatalf("event %d metadata: %+v", i, ev)
				}
				if ev.Time.String() != "1710357341.619" {
					t.Fatalf("event %d time %s", i, ev.Time)
				}
				f := ev.Fields
				if f["privtrail_stream"] != "signin" || f["privtrail_user"] != "adm_alice@contoso.example" || f["privtrail_privileged"] != fmt.Sprint(i%2 == 0) {
					t.Fatalf("event %d fields %v", i, f)
				}
				if hit := i%3 == 0; hit != (f["privtrail_risk"] == "high") || hit != (f["privtrail_monitor"] != nil) {
					t.Fatalf("event %d monitor fields %v", i, f)
				}
				if _, ok := ev.Doc["privtrail"].(map[string]any); !ok {
					t.Fatalf("event %d lacks the privtrail object", i)
				}
			}
			for _, r := range hec.reqs() {
				if r.gzip != gz || r.channel != "" {
					t.Fatalf("request %+v: gzip must be %v and no channel without indexer ack", r, gz)
				}
				if r.events > 10 {
					t.Fatalf("request of %d events above batch_size 10", r.events)
				}
			}
			if s := h.out.Stats(); s.Sent.Load() != 95 || s.Retries.Load() != 0 || s.DeadLettered.Load() != 0 {
				t.Fatalf("stats sent %d retries %d dead %d", s.Sent.Load(), s.Retries.Load(), s.DeadLettered.Load())
			}
		})
	}
}

func TestPermanentRefusalsAreDeadLettered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(*fakeHEC, *Config)
		reason string
	}{
		{"wrong token", func(_ *fakeHEC, c *Config) { c.Token = mustSecret(t, "not-the-token") },
			`splunk HEC: 403 Forbidden: code 4 "Invalid token" (check the output's token)`},
		{"unknown index", func(_ *fakeHEC, c *Config) { c.Index = "no_such_index" },
			`splunk HEC: 400 Bad Request: code 7 "Incorrect index" invalid-event-number 0 (the index does not exist or the token may not write to it)`},
		{"token requires indexer ack", func(h *fakeHEC, _ *Config) { h.ack = true },
			`code 10 "Data channel is missing" (the token has indexer acknowledgement enabled: set indexer_ack: true)`},
		{"wrong path", func(_ *fakeHEC, c *Config) { c.URL += "/wrong" },
			`splunk HEC: 404 Not Found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hec := newFakeHEC(t, testToken)
			srv := httptest.NewServer(hec)
			defer srv.Close()
			h := newHarness(t, srv.URL, func(c *Config) { c.URL = srv.URL; tc.setup(hec, c) })
			recs := testRecords(t, 0, 5)
			h.consume(t, recs, 5)
			waitFor(t, "5 dead letters", func() bool { return h.dead.Len() == 5 })
			h.close(t)
			if n := len(hec.ids()); n != 0 {
				t.Fatalf("%d events indexed", n)
			}
			for i, r := range h.dead.Reasons() {
				if !strings.Contains(r, tc.reason) {
					t.Errorf("dead letter reason %q, want %q", r, tc.reason)
				}
				if !strings.Contains(h.dead.Data()[i], recs[i].ID) {
					t.Errorf("dead letter %d does not hold record %s: %s", i, recs[i].ID, h.dead.Data()[i])
				}
				noToken(t, "a dead letter", r+h.dead.Data()[i])
			}
			noToken(t, "the log", h.logs.String())
			hec.mu.Lock()
			defer hec.mu.Unlock()
			if hec.all != 1 {
				t.Errorf("%d requests; a permanent refusal must not be retried", hec.all)
			}
		})
	}
}

func TestThrottlingHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter)
	}{
		{"503 server busy", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			hecError(w, 503, 9, "Server is busy", -1)
		}},
		{"429", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			reply(w, 429, `Too Many Requests`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hec := newFakeHEC(t, testToken)
			srv := httptest.NewServer(hec)
			defer srv.Close()
			var times []time.Time
			var mu sync.Mutex
			stamp := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					times = append(times, time.Now())
					mu.Unlock()
					next.ServeHTTP(w, r)
				})
			}
			srv.Config.Handler = stamp(hec)
			hec.then(tc.answer)
			h := newHarness(t, srv.URL, func(c *Config) { c.MaxBackoff = 5 * time.Second })
			recs := testRecords(t, 0, 4)
			h.consume(t, recs, 4)
			waitFor(t, "4 events", func() bool { return len(hec.ids()) == 4 })
			h.close(t)
			if got := hec.ids(); !slices.Equal(got, recordIDs(recs)) {
				t.Fatalf("indexed %v", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(times) != 2 {
				t.Fatalf("%d requests, want the refused one and its retry", len(times))
			}
			if gap := times[1].Sub(times[0]); gap < time.Second || gap > 3*time.Second {
				t.Errorf("retried after %v; Retry-After said 1s", gap)
			}
			if s := h.out.Stats(); s.Throttled.Load() != 1 || s.Retries.Load() != 1 {
				t.Errorf("throttled %d retries %d, want 1 and 1", s.Throttled.Load(), s.Retries.Load())
			}
		})
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	hec := newFakeHEC(t, testToken)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	hec.then(func(w http.ResponseWriter) { hecError(w, 500, 8, "Internal server error", -1) })
	hec.then(func(w http.ResponseWriter) { reply(w, 502, "<html>Bad Gateway</html>") })
	hec.then(func(w http.ResponseWriter) { hecError(w, 503, 18, "HEC is unhealthy, queues are full", -1) })
	h := newHarness(t, srv.URL, nil)
	recs := testRecords(t, 0, 3)
	h.consume(t, recs, 3)
	waitFor(t, "3 events", func() bool { return len(hec.ids()) == 3 })
	h.close(t)
	if got := hec.ids(); !slices.Equal(got, recordIDs(recs)) {
		t.Fatalf("indexed %v", got)
	}
	if r := h.out.Stats().Retries.Load(); r != 3 {
		t.Errorf("%d retries, want 3", r)
	}
	if h.dead.Len() != 0 {
		t.Errorf("dead letters %v", h.dead.Reasons())
	}
}

// HEC names the first event it refuses; that one is dead-lettered, the
// others are sent again. The events before it were indexed by the first
// request and are indexed again: delivery is at least once.
func TestInvalidEventIsDeadLetteredTheRestResent(t *testing.T) {
	hec := newFakeHEC(t, testToken)
	hec.badMarker = "BAD-EVENT"
	srv := httptest.NewServer(hec)
	defer srv.Close()
	h := newHarness(t, srv.URL, nil)
	recs := testRecords(t, 0, 10)
	bad := testRecords(t, 4, 1)[0]
	bad.Raw = bytes.Replace(bad.Raw, []byte(`"rec-0004"`), []byte(`"rec-0004-BAD-EVENT"`), 1)
	bad.ID = "rec-0004-BAD-EVENT"
	recs[4] = bad
	h.consume(t, recs, 10)
	waitFor(t, "the rest and a dead letter", func() bool { return len(hec.ids()) >= 13 && h.dead.Len() == 1 })
	h.close(t)

	want := append(recordIDs(recs[:4]), recordIDs(recs[:4])...)
	want = append(want, recordIDs(recs[5:])...)
	if got := hec.ids(); !slices.Equal(got, want) {
		t.Fatalf("indexed %v\nwant    %v", got, want)
	}
	if r := h.dead.Reasons()[0]; !strings.Contains(r, `400 Bad Request: code 6 "Invalid data format" invalid-event-number 4`) {
		t.Errorf("dead letter reason %q", r)
	}
	if !strings.Contains(h.dead.Data()[0], "BAD-EVENT") {
		t.Errorf("the wrong record was dead-lettered: %s", h.dead.Data()[0])
	}
}

func TestIndexerAck(t *testing.T) {
	hec := newFakeHEC(t, testToken)
	hec.ack, hec.ackAfter = true, 3
	srv := httptest.NewServer(hec)
	defer srv.Close()
	h := newHarness(t, srv.URL, func(c *Config) { c.IndexerAck = true })
	recs := testRecords(t, 0, 25)
	h.consume(t, recs, 25)
	waitFor(t, "25 acknowledged", func() bool { return h.out.Stats().Sent.Load() == 25 })
	h.close(t)

	if got := hec.ids(); !slices.Equal(got, recordIDs(recs)) {
		t.Fatalf("indexed %v", got)
	}
	reqs := hec.reqs()
	channel := reqs[0].channel
	if !isGUID(channel) {
		t.Fatalf("channel %q is not a GUID", channel)
	}
	for _, r := range reqs {
		if r.channel != channel || r.status != 200 {
			t.Fatalf("request %+v: every request must use channel %s", r, channel)
		}
	}
	hec.mu.Lock()
	defer hec.mu.Unlock()
	if hec.polls != 3*len(reqs) {
		t.Errorf("%d ack queries for %d requests acknowledged on the third query", hec.polls, len(reqs))
	}
	for _, ch := range hec.pollChan {
		if ch != channel {
			t.Fatalf("ack query on channel %q, want %q", ch, channel)
		}
	}
}

// The acknowledgement of the first request never comes: after
// ack_timeout the batch is sent again, so its records are indexed twice.
func TestIndexerAckTimeoutResends(t *testing.T) {
	hec := newFakeHEC(t, testToken)
	hec.ack, hec.ackAfter = true, 1
	hec.neverAck = func(id int64) bool { return id == 0 }
	srv := httptest.NewServer(hec)
	defer srv.Close()
	h := newHarness(t, srv.URL, func(c *Config) {
		c.IndexerAck, c.AckTimeout, c.BatchSize = true, 80*time.Millisecond, 5
	})
	recs := testRecords(t, 0, 10)
	start := time.Now()
	h.consume(t, recs, 10)
	waitFor(t, "10 acknowledged", func() bool { return h.out.Stats().Sent.Load() == 10 })
	h.close(t)
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Errorf("resent after %v, before ack_timeout", el)
	}
	want := append(recordIDs(recs[:5]), recordIDs(recs)...)
	if got := hec.ids(); !slices.Equal(got, want) {
		t.Fatalf("indexed %v\nwant    %v", got, want)
	}
	if r := h.out.Stats().Retries.Load(); r != 1 {
		t.Errorf("%d retries, want 1", r)
	}
	if !strings.Contains(h.logs.String(), "no indexer acknowledgement for ackId 0") {
		t.Errorf("the resend is not logged:\n%s", h.logs.String())
	}
	if h.dead.Len() != 0 {
		t.Errorf("dead letters: %v", h.dead.Reasons())
	}
}

// indexer_ack on, but the token does not use it: HEC answers without an
// ackId; the batch counts as delivered and a warning says why.
func TestIndexerAckOnATokenWithoutAck(t *testing.T) {
	hec := newFakeHEC(t, testToken)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	h := newHarness(t, srv.URL, func(c *Config) { c.IndexerAck = true })
	recs := testRecords(t, 0, 12)
	h.consume(t, recs, 12)
	waitFor(t, "12 sent", func() bool { return h.out.Stats().Sent.Load() == 12 })
	h.close(t)
	if got := hec.ids(); !slices.Equal(got, recordIDs(recs)) {
		t.Fatalf("indexed %v", got)
	}
	if n := strings.Count(h.logs.String(), "returned no ackId"); n != 1 {
		t.Errorf("warning logged %d times, want once", n)
	}
}

// A request over HEC's max_content_length (413) is split until it fits; a
// single event too large on its own is dead-lettered.
func TestTooLargeRequestsAreSplit(t *testing.T) {
	hec := newFakeHEC(t, testToken)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	recs := testRecords(t, 0, 9)
	one, _ := NewEncoder(Config{Host: "agent-01", Index: "entra"}).Encode(nil, recs[0], nil)
	hec.maxContentLength = 3*len(one) + 100
	big := testRecords(t, 6, 1)[0]
	big.Raw = bytes.Replace(big.Raw, []byte(`"IMAP4"`), []byte(`"`+strings.Repeat("x", 4*len(one))+`"`), 1)
	recs[6] = big
	h := newHarness(t, srv.URL, nil)
	h.consume(t, recs, 9)
	waitFor(t, "8 events and a dead letter", func() bool { return len(hec.ids()) == 8 && h.dead.Len() == 1 })
	h.close(t)
	want := append(recordIDs(recs[:6]), recordIDs(recs[7:])...)
	if got := hec.ids(); !slices.Equal(got, want) {
		t.Fatalf("indexed %v\nwant    %v", got, want)
	}
	if r := h.dead.Reasons()[0]; !strings.Contains(r, "413 Request Entity Too Large") {
		t.Errorf("dead letter reason %q", r)
	}
	if h.out.Stats().Retries.Load() != 0 {
		t.Errorf("splitting is not a retry")
	}
}

func TestTLS(t *testing.T) {
	hec := newFakeHEC(t, testToken)
	srv := httptest.NewUnstartedServer(hec)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()

	// Without the CA: verification fails, the error is not permanent (the
	// records wait in the buffer while someone fixes the trust store).
	c, err := NewClient(Config{URL: srv.URL, Token: mustSecret(t, testToken)}, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	items := [][]byte{mustEncode(t, testEncoder(), testRecords(t, 0, 1)[0])}
	res := c.Send(context.Background(), items)
	if res.Err == nil || delivery.IsPermanent(res.Err) || !strings.Contains(res.Err.Error(), "certificate") {
		t.Fatalf("without the CA: %v; want a transient certificate error", res.Err)
	}
	noToken(t, "the error", res.Err.Error())

	// With tls.ca_file.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, srv.URL, func(c *Config) { c.AllowHTTP = false; c.TLS = &tlsconfig.Config{CAFile: caFile} })
	recs := testRecords(t, 0, 5)
	h.consume(t, recs, 5)
	waitFor(t, "5 events over TLS", func() bool { return len(hec.ids()) == 5 })
	h.close(t)
	if got := hec.ids(); !slices.Equal(got, recordIDs(recs)) {
		t.Fatalf("indexed %v", got)
	}
}

func TestNetworkErrorsAreTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := NewClient(Config{URL: url, Token: mustSecret(t, testToken), AllowHTTP: true, Timeout: time.Second}, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	res := c.Send(context.Background(), [][]byte{[]byte(`{"event":{}}` + "\n")})
	if res.Err == nil || delivery.IsPermanent(res.Err) {
		t.Fatalf("connection refused gave %v; want a transient error", res.Err)
	}
}

func TestTokenIsNeverPrinted(t *testing.T) {
	t.Setenv("PRIVTRAIL_TEST_HEC_TOKEN", testToken)
	cfg := Config{URL: "https://splunk.example:8088", Token: mustSecret(t, "${PRIVTRAIL_TEST_HEC_TOKEN}")}
	c, err := NewClient(cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), fmt.Sprintf("%v %+v %#v", c, c, c)} {
		noToken(t, "a printed value", s)
	}
}

type logBuffer = deliverytest.LogBuffer

type deadList = deliverytest.DeadLetters

var waitFor = deliverytest.WaitFor
