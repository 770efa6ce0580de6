package agent

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/monitor"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Scrape /metrics after the demo has gone through, and check the figures
// against what the run did.
func TestMetricsAndHealthAfterAKnownRun(t *testing.T) {
	dir := t.TempDir()
	demo, _ := filepath.Abs("../testdata/demo")
	pipeline, _ := filepath.Abs("../pipelines/demo.yaml")
	cfgText := `data_dir: data
http: {listen: "127.0.0.1:0"}
inputs:
  - name: demo
    file: {paths: [` + demo + `], watch: 50ms}
outputs:
  - name: archive
    file: {path: out.jsonl}
context:
  privilege: {role_map: ` + demo + `/rolemap.yaml}
pipelines: [` + pipeline + `]
`
	path := filepath.Join(dir, "privtrail.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.Serve = true
	addr := make(chan string, 1)
	a.Listening = func(s string) { addr <- s }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	base := "http://" + <-addr

	// The demo's files: 6 data files, all committed.
	deadline := time.Now().Add(10 * time.Second)
	for a.Stats().Committed.Load() < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("run did not settle: %+v", a.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz = %d %q", code, body)
	}
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	st := a.Stats()
	want := []string{
		"privtrail_input_records_total{input=\"demo\"} " + itoa(st.Read.Load()),
		"privtrail_records_decoded_total{stream=\"signin\"} " + itoa(st.Stream("signin")),
		"privtrail_records_decoded_total{stream=\"audit\"} " + itoa(st.Stream("audit")),
		"privtrail_records_by_category_total{category=\"SignInLogs\"} " + itoa(st.Categories()["SignInLogs"]),
		"privtrail_records_by_category_total{category=\"AuditLogs\"} " + itoa(st.Categories()["AuditLogs"]),
		"privtrail_records_by_category_total{category=\"Administrative\"} " + itoa(st.Categories()["Administrative"]),
		"privtrail_records_rejected_total{input=\"demo\",stage=\"framing\"} 1",
		"privtrail_records_rejected_total{input=\"demo\",stage=\"decode\"} 1",
		"privtrail_monitor_hits_total{monitor=\"breakglass.signin\",risk=\"high\"} 1",
		"privtrail_monitor_hits_total{monitor=\"signin.mfa_interrupt\",risk=\"medium\"}",
		"privtrail_monitor_hits_total{monitor=\"signin.bad_password_threshold\",risk=\"high\"} 1",
		"privtrail_monitor_state_keys{monitor=\"signin.bad_password_threshold\",pipeline=\"demo\"} 2\n",
		// one key per privileged user with a successful sign-in (13 of
		// the 16 privileged users seen), per user with 50126 failures (2)
		"privtrail_monitor_state_keys{monitor=\"signin.new_device_or_location\",pipeline=\"demo\"} 13\n",
		"privtrail_monitor_state_write_errors_total{pipeline=\"demo\"} 0",
		"privtrail_input_batches_committed_total{input=\"demo\"} " + itoa(st.Committed.Load()),
		"privtrail_output_batches_acked_total{output=\"archive\"}",
		"privtrail_checkpoint_lag_seconds{input=\"demo\"}",
		"privtrail_pipeline_queue_batches{pipeline=\"demo\"} 0",
		"process_resident_memory_bytes",
		"privtrail_role_map_principals 17",
		"privtrail_role_map_age_seconds",
		"privtrail_role_journal_write_failures_total 0",
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	// The keys the demo's stateful monitors hold, decoded: some, and
	// within the default bound.
	if m := regexp.MustCompile(`privtrail_monitor_state_cache_bytes\{pipeline="demo"\} (\d+)\n`).FindStringSubmatch(body); m == nil {
		t.Errorf("/metrics lacks privtrail_monitor_state_cache_bytes")
	} else if n, _ := strconv.ParseInt(m[1], 10, 64); n == 0 || n > monitor.DefaultCacheBytes {
		t.Errorf("privtrail_monitor_state_cache_bytes %d, want above 0 and at most %d", n, monitor.DefaultCacheBytes)
	}
	// The demo's role grants are journaled: the metric is the file's size.
	journal := filepath.Join(dir, "data", "privilege-state.json.journal")
	if fi, err := os.Stat(journal); err != nil || fi.Size() == 0 {
		t.Errorf("journal after the demo's role grants: %v %v", fi, err)
	} else if w := "privtrail_role_journal_bytes " + itoa(fi.Size()) + "\n"; !strings.Contains(body, w) {
		t.Errorf("/metrics lacks %q", w)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// failingOutput is a buffering output whose destination has been down.
type failingOutput struct {
	st  delivery.Stats
	age time.Duration
}

func (f *failingOutput) Stats() *delivery.Stats        { return &f.st }
func (f *failingOutput) Buffered() (int, int64)        { return 0, 0 }
func (f *failingOutput) OldestBuffered() time.Duration { return f.age }

// /readyz names a failing destination, since when and how far behind it
// is, while it stays ready (the buffer takes the records).
func TestReadyzNamesAFailingDestination(t *testing.T) {
	f := &failingOutput{age: 5*time.Minute + 10*time.Second}
	if got := failingFor("splunk", f); got != "" {
		t.Errorf("a healthy destination: %q", got)
	}
	f.st.LastSuccess.Store(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
	f.st.FailingSince.Store(time.Now().Add(-5 * time.Minute).UnixNano())
	f.st.ConsecutiveFailures.Store(14)
	want := "output splunk: destination failing for 5m0s (14 requests in a row; last success 2026-12-06T12:00:00Z; oldest buffered record 5m10s old)"
	if got := failingFor("splunk", f); got != want {
		t.Errorf("failingFor = %q\nwant %q", got, want)
	}
}
