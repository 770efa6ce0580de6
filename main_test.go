package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
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

	"github.com/privtrail/privtrail/agent"
	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
	"github.com/privtrail/privtrail/internal/synth"
	"github.com/privtrail/privtrail/monitor"
	"github.com/privtrail/privtrail/outputs"
	fileoutput "github.com/privtrail/privtrail/outputs/file"
)

// collect keeps the monitor IDs each record hit, by record id and by
// correlation id.
type collect struct {
	mu   sync.Mutex
	hits map[string][]string
	// seen holds "id@event time" of every record: records that share an
	// ID (the states of one risky user) are told apart by their time.
	seen map[string]bool
}

func (c *collect) Consume(_ context.Context, b *batch.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rec := range b.Records {
		var ids []string
		for _, h := range rec.Hits {
			ids = append(ids, h.ID)
		}
		for _, k := range []string{rec.ID, rec.CorrelationID} {
			if k != "" {
				c.hits[k] = append(c.hits[k], ids...)
				at := k + "@" + rec.Time.UTC().Format(time.RFC3339Nano)
				c.hits[at] = append(c.hits[at], ids...)
				c.seen[at] = true
			}
		}
	}
	b.Ack()
	return nil
}

func (c *collect) Close(context.Context) error { return nil }

// Every crafted scenario of the demo fires the monitors it was written for
// (those that run today), and no near miss fires its monitor.
func TestDemoScenarios(t *testing.T) {
	cfg, err := agent.LoadConfig("configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.DeadLetter = filepath.Join(dir, "dl.jsonl")
	cfg.Outputs = []outputs.Entry{{Name: "null", Type: "stdout", Config: &fileoutput.StdoutConfig{}}}
	a := agent.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.Stdout = io.Discard
	c := &collect{hits: map[string][]string{}, seen: map[string]bool{}}
	a.AddOutput("collect", c)
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	running := map[string]bool{}
	p, err := monitor.LoadPipeline("pipelines/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range p.Monitors {
		if d.IsEnabled() {
			running[d.ID] = true
		}
	}
	demo := synth.Demo()
	checked := map[string]bool{}
	for _, sc := range demo.Scenarios {
		var fired []string
		for _, id := range append(sc.Records, sc.Related...) {
			if at := id + "@" + sc.When.UTC().Format(time.RFC3339Nano); c.seen[at] {
				fired = append(fired, c.hits[at]...) // the record of that ID at the scenario's time
				continue
			}
			fired = append(fired, c.hits[id]...)
		}
		for _, m := range sc.Monitors {
			if !running[m] { // a stateful monitor of a later issue
				continue
			}
			checked[m] = true
			if got := slices.Contains(fired, m); got == sc.NearMiss {
				t.Errorf("%s (near miss %v): %s fired=%v; record hits %v", sc.Title, sc.NearMiss, m, got, fired)
			}
		}
	}
	for id := range running {
		if !checked[id] {
			t.Errorf("no demo scenario exercises %s", id)
		}
	}
	if got := a.Stats().Bad.Load(); got != 2 {
		t.Errorf("bad records = %d, want the demo's 2", got)
	}
}

func TestDemoCommandPrintsSummary(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"privtrail demo:", "privileged users seen:", "MONITOR", "breakglass.signin", "azure.elevate_access", "enriched.jsonl"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// With the demo's context and lists every monitor has its data; with the
// production template some say what they lack.
func TestMonitorsCommandReportsCoverage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"monitors", "-c", "configs/demo.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), "needs") {
		t.Errorf("the demo config lacks data for a monitor:\n%s", out.String())
	}
	for _, want := range []string{"threshold 5/10m", "first_seen", "correlate 2h", "guide coverage: 40 of 40 monitors", "exported scans only"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo monitors output lacks %q", want)
		}
	}
	out.Reset()
	if code := run([]string{"monitors", "-c", "configs/privtrail.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"signin.off_hours", "needs work hours", "needs device context", "needs approved lists"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("monitors output lacks %q", want)
		}
	}
}

func TestHealthCommand(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ready\n") }))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "output splunk: disk buffer 93% full\n")
	}))
	defer down.Close()
	var out, errb bytes.Buffer
	if code := run([]string{"health", ok.URL}, &out, &errb); code != 0 {
		t.Fatalf("ready agent: exit %d", code)
	}
	if code := run([]string{"health", down.URL}, &out, &errb); code != 1 || !strings.Contains(out.String(), "93% full") {
		t.Fatalf("unready agent: exit %d, %q", code, out.String())
	}
}

// check with a graph block probes every permission against Graph (here
// the fake) and names the one the app lacks.
func TestCheckProbesGraphPermissions(t *testing.T) {
	srv := graphtest.New(t)
	srv.Deny("/v1.0/reports/authenticationMethods/userRegistrationDetails", "")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "privtrail.yaml")
	abs, _ := filepath.Abs("pipelines/privileged-accounts.yaml")
	cfgYAML := fmt.Sprintf(`data_dir: %s
inputs: [{name: exports, file: {paths: [%s]}}]
outputs: [{name: out, stdout: {}}]
pipelines: [%s]
graph:
  tenant_id: %s
  client_id: %s
  client_secret: ${PRIVTRAIL_TEST_GRAPH_SECRET}
  authority_host: %s
  endpoint: %s
  tls: {ca_file: %s}
`, dir, dir, abs, srv.TenantID, srv.ClientID, srv.URL(), srv.URL(), srv.CAFile())
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PRIVTRAIL_TEST_GRAPH_SECRET", srv.ClientSecret)
	var out, errb bytes.Buffer
	code := run([]string{"check", "-c", cfgPath}, &out, &errb)
	if code == 0 {
		t.Fatalf("check passed with a permission missing:\n%s", out.String())
	}
	// The outputs are still checked after Graph failed.
	for _, want := range []string{"graph: ok", "AuditLog.Read.All", "MISSING  MFA registration", "1 of 10 checks failed", "output out (stdout):  ok      nothing to check"} {
		if !strings.Contains(out.String()+errb.String(), want) {
			t.Errorf("check output lacks %q:\n%s%s", want, out.String(), errb.String())
		}
	}
	if strings.Contains(out.String()+errb.String(), srv.ClientSecret) {
		t.Error("check printed the client secret")
	}
	out.Reset()
	if code := run([]string{"check", "-offline", "-c", cfgPath}, &out, &errb); code != 0 || strings.Contains(out.String(), "graph:") {
		t.Errorf("-offline: exit %d, output %s", code, out.String())
	}
}
