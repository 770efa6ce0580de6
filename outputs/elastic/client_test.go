package elastic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// testRecords are the shared Entra samples (diagnostic records) followed
// by the golden cases.
func testRecords(t testing.TB) []*entra.Record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "entra", "testdata", "samples", "splunk_security_content_aad_eventhub_records.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var dec entra.Decoder
	var recs []*entra.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		rec := &entra.Record{Origin: fmt.Sprintf("samples.jsonl:%d", n)}
		if err := dec.Decode(append([]byte(nil), sc.Bytes()...), rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	for _, c := range goldenCases {
		rec := decodeFile(t, c.name)
		if c.enrich != nil {
			c.enrich(rec)
		}
		recs = append(recs, rec)
	}
	return recs
}

// idsOf are the _ids the encoder gives recs.
func idsOf(t testing.TB, recs []*entra.Record) []string {
	enc := NewEncoder(defaultNaming)
	var ids []string
	for _, r := range recs {
		item, err := enc.Encode(nil, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, docID(item))
	}
	return ids
}

func docID(item []byte) string {
	var a map[string]map[string]string
	json.Unmarshal(item[:bytes.IndexByte(item, '\n')], &a)
	return a["create"]["_id"]
}

func mustSecret(t testing.TB, v string) secret.Secret {
	s, err := secret.Resolve(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testConfig(f *fakeES) Config {
	return Config{URLs: []string{f.srv.URL}, Config: delivery.Config{FlushInterval: 5 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}}
}

func newOutput(t testing.TB, cfg Config) (*delivery.Output, *deadList, *logBuf) {
	t.Helper()
	dead, logs := &deadList{}, &logBuf{}
	o, err := New("es", cfg, delivery.Deps{DataDir: t.TempDir(), DeadLetters: dead,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return o, dead, logs
}

func consume(t testing.TB, o *delivery.Output, recs []*entra.Record) {
	t.Helper()
	b := &batch.Batch{Records: recs}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	acked, err := deliverytest.ConsumeAcked(ctx, o, b, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !acked {
		t.Fatal("a buffered batch must be acknowledged")
	}
}

// Records go through delivery to a fake Elasticsearch that answers the
// first bulk with one item throttled (429) and one refused (400), then
// the whole request with 429 + Retry-After and 503, then normally.
func TestDeliveryThroughBulkAPI(t *testing.T) {
	f := newFakeES(t)
	var times []time.Time
	stamp := func(status int, retryAfter string) func(w http.ResponseWriter) bool {
		return func(w http.ResponseWriter) bool {
			times = append(times, time.Now())
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			typ := map[int]string{429: "es_rejected_execution_exception", 503: "cluster_block_exception"}[status]
			writeErr(w, status, typ, "test says no")
			return true
		}
	}
	f.script = []func(http.ResponseWriter) bool{nil, stamp(429, "1"), stamp(503, ""), nil}
	f.itemHook = func(k int, _ string, _ map[string]any) (int, string, string) {
		switch k {
		case 2:
			return 429, "es_rejected_execution_exception", "rejected execution of coordinating operation [coordinating_and_primary_bytes=0]"
		case 5:
			return 400, "mapper_parsing_exception", "failed to parse field [azure.auditlogs.properties.result] of type [keyword]"
		}
		return 0, "", ""
	}
	cfg := testConfig(f)
	cfg.MaxBackoff = 5 * time.Second // let Retry-After: 1 through
	o, dead, logs := newOutput(t, cfg)

	recs := testRecords(t)
	ids := idsOf(t, recs)
	consume(t, o, recs)
	want := slices.Concat(ids[:2], ids[3:5], ids[6:], ids[2:3])
	waitUntil(t, "every good record indexed", func() bool { order, _ := f.snapshot(); return len(order) == len(want) })

	// At-least-once: the first three records come again after a restart.
	consume(t, o, recs[:3])
	waitUntil(t, "the resent records answered", func() bool { return o.Stats().Sent.Load() == int64(len(want)+3) })
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	order, reqs := f.snapshot()
	if !slices.Equal(order, want) {
		t.Errorf("indexed %d records in order\n%v\nwant\n%v", len(order), order, want)
	}
	if dead.Len() != 1 || !strings.Contains(dead.Data()[0], ids[5]) ||
		dead.Reasons()[0] != "mapper_parsing_exception: failed to parse field [azure.auditlogs.properties.result] of type [keyword] (caused by illegal_argument_exception: cause of mapper_parsing_exception)" {
		t.Errorf("dead letters %q", dead.Reasons())
	}
	if len(times) != 2 || times[1].Sub(times[0]) < 900*time.Millisecond {
		t.Errorf("Retry-After: 1 not honoured: %v", times)
	}
	wantStart := []string{"GET /", "PUT /_component_template/privtrail@settings", "PUT /_component_template/privtrail@mappings",
		"PUT /_index_template/privtrail-azure-privtrail", "POST /_bulk"}
	if len(reqs) < len(wantStart) || !slices.Equal(reqs[:len(wantStart)], wantStart) {
		t.Errorf("requests %v, want them to start with %v", reqs, wantStart)
	}
	if n := strings.Count(strings.Join(reqs, "\n"), "_template"); n != 3 {
		t.Errorf("templates put %d times, want once each", n)
	}
	// The 400 is logged with its reason; nothing about retries of items is
	// an error.
	if !strings.Contains(logs.String(), "mapper_parsing_exception") {
		t.Errorf("the refusal is not logged:\n%s", logs)
	}
	st := o.Stats()
	if st.DeadLettered.Load() != 1 || st.Retries.Load() != 2 || st.Throttled.Load() < 2 {
		t.Errorf("stats: dead %d retries %d throttled %d", st.DeadLettered.Load(), st.Retries.Load(), st.Throttled.Load())
	}
	// What was indexed is the encoder's document plus event.ingested.
	f.mu.Lock()
	doc := f.docs[ids[0]]
	f.mu.Unlock()
	if !strings.HasPrefix(doc, `{"event.ingested":"`) || !strings.Contains(doc, `"@timestamp":"2024-02-08T21:49:53.7643129Z"`) {
		t.Errorf("indexed document %.200s", doc)
	}
}

func TestTemplatesInstalledAsShipped(t *testing.T) {
	f := newFakeES(t)
	cfg := testConfig(f)
	cfg.Namespace = "prod"
	o, _, _ := newOutput(t, cfg)
	consume(t, o, testRecords(t)[:1])
	waitUntil(t, "one record indexed", func() bool { order, _ := f.snapshot(); return len(order) == 1 })
	o.Close(context.Background())

	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range componentTemplates {
		want, _ := os.ReadFile(filepath.Join("templates", name+".json"))
		if got := f.templates["/_component_template/"+name]; got != string(want) {
			t.Errorf("component template %s differs from templates/%s.json", name, name)
		}
	}
	var it struct {
		Patterns   []string `json:"index_patterns"`
		Priority   int      `json:"priority"`
		ComposedOf []string `json:"composed_of"`
		DataStream any      `json:"data_stream"`
	}
	if err := json.Unmarshal([]byte(f.templates["/_index_template/privtrail-azure-prod"]), &it); err != nil {
		t.Fatal(err)
	}
	wantPatterns := []string{"logs-azure.signinlogs-prod", "logs-azure.auditlogs-prod", "logs-azure.activitylogs-prod", "logs-azure.aadds-prod",
		"logs-azure.directory-prod", "logs-azure.identity_protection-prod", "logs-azure.graphactivitylogs-prod",
		"logs-azure.aadgraphactivitylogs-prod", "logs-azure.provisioning-prod", "logs-azure.platformlogs-prod"}
	if !slices.Equal(it.Patterns, wantPatterns) || it.Priority <= 200 || it.DataStream == nil ||
		!slices.Equal(it.ComposedOf, componentTemplates) {
		t.Errorf("index template %+v", it)
	}
}

func TestTemplatesForbiddenStillDelivers(t *testing.T) {
	f := newFakeES(t)
	f.templateStatus = 403
	o, dead, logs := newOutput(t, testConfig(f))
	recs := testRecords(t)[:4]
	consume(t, o, recs)
	waitUntil(t, "records indexed", func() bool { order, _ := f.snapshot(); return len(order) == 4 })
	o.Close(context.Background())
	l := logs.String()
	for _, want := range []string{"level=WARN", "install them by hand", "outputs/elastic/templates/privtrail@mappings.json",
		"PUT /_index_template/privtrail-azure-privtrail", "logs-azure.signinlogs-privtrail"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	if dead.Len() != 0 {
		t.Errorf("dead letters: %v", dead.Reasons())
	}
	_, reqs := f.snapshot()
	if n := strings.Count(strings.Join(reqs, "\n"), "_template"); n != 1 {
		t.Errorf("after a 403 no further template is tried; got %d PUTs", n)
	}
}

func TestInstallTemplatesOff(t *testing.T) {
	f := newFakeES(t)
	cfg := testConfig(f)
	off := false
	cfg.InstallTemplates = &off
	o, _, _ := newOutput(t, cfg)
	consume(t, o, testRecords(t)[:2])
	waitUntil(t, "records indexed", func() bool { order, _ := f.snapshot(); return len(order) == 2 })
	o.Close(context.Background())
	_, reqs := f.snapshot()
	if strings.Contains(strings.Join(reqs, " "), "_template") {
		t.Errorf("install_templates: false, yet %v", reqs)
	}
}

func TestUnauthorizedIsDeadLetteredAndSecretsStayOut(t *testing.T) {
	f := newFakeES(t)
	f.auth = "ApiKey right-key"
	cfg := testConfig(f)
	cfg.APIKey = mustSecret(t, "wrong-key-0123456789")
	o, dead, logs := newOutput(t, cfg)
	consume(t, o, testRecords(t)[:3])
	waitUntil(t, "records dead-lettered", func() bool { return dead.Len() == 3 })
	o.Close(context.Background())
	if !strings.Contains(dead.Reasons()[0], "HTTP 401") || !strings.Contains(dead.Reasons()[0], "security_exception") {
		t.Errorf("reason %q", dead.Reasons()[0])
	}
	if strings.Contains(logs.String(), "wrong-key-0123456789") || strings.Contains(strings.Join(dead.Reasons(), " "), "wrong-key") {
		t.Error("the API key was logged")
	}
	if order, _ := f.snapshot(); len(order) != 0 {
		t.Errorf("indexed %d records with a bad key", len(order))
	}
}

func TestCredentials(t *testing.T) {
	for _, c := range []struct {
		name string
		auth string
		set  func(*Config)
	}{
		{"api key", "ApiKey " + base64.StdEncoding.EncodeToString([]byte("id:secret")),
			func(c *Config) { c.APIKey = mustSecret(t, base64.StdEncoding.EncodeToString([]byte("id:secret"))) }},
		{"basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("privtrail:pa55word")),
			func(c *Config) { c.Username, c.Password = "privtrail", mustSecret(t, "pa55word") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeES(t)
			f.auth = c.auth
			cfg := testConfig(f)
			c.set(&cfg)
			o, dead, logs := newOutput(t, cfg)
			consume(t, o, testRecords(t)[:2])
			waitUntil(t, "records indexed", func() bool { order, _ := f.snapshot(); return len(order) == 2 })
			o.Close(context.Background())
			if dead.Len() != 0 {
				t.Errorf("dead letters %v", dead.Reasons())
			}
			if strings.Contains(logs.String(), "pa55word") || strings.Contains(logs.String(), "secret") {
				t.Errorf("credentials in the log:\n%s", logs)
			}
			if !strings.Contains(logs.String(), "plain http") {
				t.Error("no warning about credentials over plain http")
			}
		})
	}
}

// newTestSender is the Sender alone, for its answers to whole requests.
func newTestSender(t testing.TB, cfg Config) *sender {
	t.Helper()
	cfg.Defaults()
	s, err := newSender("es", &cfg, delivery.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func encodedItems(t testing.TB, n int) [][]byte {
	var items [][]byte
	enc := NewEncoder(defaultNaming)
	for _, r := range testRecords(t)[:n] {
		it, err := enc.Encode(nil, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	return items
}

func TestSenderWholeRequestAnswers(t *testing.T) {
	respond := func(status int, header map[string]string, body string) func(w http.ResponseWriter) bool {
		return func(w http.ResponseWriter) bool {
			for k, v := range header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
			return true
		}
	}
	errBody := func(typ string) string {
		return `{"error":{"type":"` + typ + `","reason":"because"},"status":0}`
	}
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		name       string
		answer     func(http.ResponseWriter) bool
		permanent  bool
		retryAfter time.Duration // at least
		msg        string
		retry      []int
	}{
		{"429 with Retry-After seconds", respond(429, map[string]string{"Retry-After": "7"}, errBody("es_rejected_execution_exception")), false, 7 * time.Second, "HTTP 429: es_rejected_execution_exception: because", nil},
		{"503 with Retry-After date", respond(503, map[string]string{"Retry-After": date}, errBody("unavailable")), false, 28 * time.Second, "HTTP 503", nil},
		{"502 from a proxy, HTML", respond(502, nil, "<html>Bad Gateway</html>"), false, 0, "HTTP 502: <html>Bad Gateway</html>", nil},
		{"504", respond(504, nil, ""), false, 0, "HTTP 504", nil},
		{"401", respond(401, nil, errBody("security_exception")), true, 0, "HTTP 401: security_exception: because (check api_key", nil},
		{"403", respond(403, nil, errBody("security_exception")), true, 0, "HTTP 403", nil},
		{"413", respond(413, nil, ""), true, 0, "batch_bytes", nil},
		{"400 malformed request", respond(400, nil, errBody("illegal_argument_exception")), true, 0, "HTTP 400: illegal_argument_exception", nil},
		{"200 that is not JSON", respond(200, nil, "{"), false, 0, "unreadable response", nil},
		{"200 with missing items", respond(200, nil, `{"errors":true,"items":[{"create":{"status":201}}]}`), false, 0, "1 items for 3 sent", nil},
		{"200 with an item in 503", respond(200, nil, `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":503,"error":{"type":"unavailable_shards_exception","reason":"x"}}},{"create":{"status":409}}]}`), false, 0, "", []int{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeES(t)
			off := false
			cfg := testConfig(f)
			cfg.InstallTemplates = &off
			f.script = []func(http.ResponseWriter) bool{c.answer}
			res := newTestSender(t, cfg).Send(context.Background(), encodedItems(t, 3))
			if c.msg == "" {
				if res.Err != nil || !slices.Equal(res.Retry, c.retry) || len(res.Rejected) != 0 {
					t.Fatalf("got %+v", res)
				}
				return
			}
			if res.Err == nil || delivery.IsPermanent(res.Err) != c.permanent || !strings.Contains(res.Err.Error(), c.msg) {
				t.Fatalf("got %v (permanent %v), want %q permanent=%v", res.Err, delivery.IsPermanent(res.Err), c.msg, c.permanent)
			}
			if !c.permanent && res.RetryAfter < c.retryAfter {
				t.Errorf("RetryAfter %v, want at least %v", res.RetryAfter, c.retryAfter)
			}
		})
	}
}

func TestSenderNetworkErrorIsTransient(t *testing.T) {
	f := newFakeES(t)
	cfg := testConfig(f)
	f.srv.Close()
	res := newTestSender(t, cfg).Send(context.Background(), encodedItems(t, 1))
	if res.Err == nil || delivery.IsPermanent(res.Err) {
		t.Fatalf("a refused connection must be retried: %v", res.Err)
	}
}

func TestSenderRefusesWhatIsNotElasticsearch(t *testing.T) {
	f := newFakeES(t)
	f.noProduct = true
	res := newTestSender(t, testConfig(f)).Send(context.Background(), encodedItems(t, 1))
	if res.Err == nil || delivery.IsPermanent(res.Err) || !strings.Contains(res.Err.Error(), "not Elasticsearch") {
		t.Fatalf("got %v", res.Err)
	}
	if order, _ := f.snapshot(); len(order) != 0 {
		t.Error("indexed into something that is not Elasticsearch")
	}
}

func TestSenderCorruptItem(t *testing.T) {
	f := newFakeES(t)
	off := false
	cfg := testConfig(f)
	cfg.InstallTemplates = &off
	items := encodedItems(t, 2)
	items = append([][]byte{[]byte("garbage")}, items...)
	res := newTestSender(t, cfg).Send(context.Background(), items)
	if res.Err != nil || len(res.Rejected) != 1 || res.Rejected[0].Index != 0 {
		t.Fatalf("got %+v", res)
	}
	if order, _ := f.snapshot(); len(order) != 2 {
		t.Errorf("indexed %d, want the 2 good items", len(order))
	}
}

func TestTLSVerification(t *testing.T) {
	f := newFakeTLS(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(f)
	res := newTestSender(t, cfg).Send(context.Background(), encodedItems(t, 1))
	if res.Err == nil || delivery.IsPermanent(res.Err) || !strings.Contains(res.Err.Error(), "certificate") {
		t.Fatalf("an unknown CA must fail verification (and be retried): %v", res.Err)
	}
	cfg.TLS = &tlsconfig.Config{CAFile: caFile}
	res = newTestSender(t, cfg).Send(context.Background(), encodedItems(t, 1))
	if res.Err != nil {
		t.Fatalf("with tls.ca_file: %v", res.Err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Mon, 02 Mar 2026 10:00:30 GMT": 30 * time.Second,
		"Mon, 02 Mar 2026 09:00:00 GMT": 0,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q = %v, want %v", v, got, want)
		}
	}
}

// BenchmarkDeliveryThroughput drives records through delivery (encode,
// disk buffer, bulk requests) to the fake Elasticsearch on loopback.
func BenchmarkDeliveryThroughput(b *testing.B) {
	f := newFakeES(b)
	f.light = true
	cfg := testConfig(f)
	cfg.BatchSize = 1000
	recs := testRecords(b)
	const perBatch = 1000
	dead := &deadList{}
	o, err := New("bench", cfg, delivery.Deps{DataDir: b.TempDir(), DeadLetters: dead, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	// Distinct records (distinct _ids): vary the ID.
	mk := func(i int) *entra.Record {
		r := *recs[i%len(recs)]
		r.ID = fmt.Sprintf("bench-%d", i)
		return &r
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		batchRecs := make([]*entra.Record, perBatch)
		for j := range batchRecs {
			batchRecs[j] = mk(n)
			n++
		}
		bt := &batch.Batch{Records: batchRecs}
		bt.Arm(1, 1, func(uint64) {})
		if err := o.Consume(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
	}
	waitUntil(b, "all sent", func() bool { return o.Stats().Sent.Load() == int64(n) })
	elapsed := time.Since(start)
	o.Close(context.Background())
	if dead.Len() != 0 {
		b.Fatalf("dead letters: %v", dead.Reasons()[:1])
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}

type logBuf = deliverytest.LogBuffer

type deadList = deliverytest.DeadLetters

var waitUntil = deliverytest.WaitFor
