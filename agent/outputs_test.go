package agent

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/privtrail/privtrail/internal/buffer"
)

// The demo through a Splunk output configured from YAML, into an HEC that
// checks the token: every decoded record arrives once, as an event with
// privtrail's indexed fields.
func TestDemoToSplunkFromConfig(t *testing.T) {
	var mu sync.Mutex
	var events []map[string]any
	hec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Splunk test-token" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"text":"Invalid token","code":4}`)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			body = zr
		}
		dec := json.NewDecoder(bufio.NewReader(body))
		mu.Lock()
		for {
			var ev map[string]any
			if err := dec.Decode(&ev); err == io.EOF {
				break
			} else if err != nil {
				mu.Unlock()
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"text":"Invalid data format","code":6}`)
				return
			}
			events = append(events, ev)
		}
		mu.Unlock()
		io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	defer hec.Close()

	dir := t.TempDir()
	t.Setenv("PRIVTRAIL_TEST_HEC_TOKEN", "test-token")
	demo, _ := filepath.Abs("../testdata/demo")
	pipeline, _ := filepath.Abs("../pipelines/demo.yaml")
	cfgText := `data_dir: data
inputs:
  - name: demo
    file: {paths: [` + demo + `]}
outputs:
  - name: splunk
    splunk:
      url: ` + hec.URL + `
      allow_http: true
      token: ${PRIVTRAIL_TEST_HEC_TOKEN}
      index: entra
      flush_interval: 10ms
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
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	decoded := int(a.Stats().Decoded.Load())
	if len(events) != decoded {
		t.Fatalf("HEC got %d events, %d records were decoded", len(events), decoded)
	}
	withHits := 0
	for _, ev := range events {
		if ev["index"] != "entra" || ev["event"] == nil {
			t.Fatalf("event without index or body: %v", ev)
		}
		st, _ := ev["sourcetype"].(string)
		if !strings.HasPrefix(st, "azure:") && st != "privtrail:directory" {
			t.Fatalf("sourcetype %q", st)
		}
		fields, _ := ev["fields"].(map[string]any)
		if fields["privtrail_monitor"] != nil {
			withHits++
		}
	}
	if withHits == 0 {
		t.Fatal("no event carries privtrail_monitor")
	}
	// The buffer is there, and empty after a clean run: reopened, it holds
	// nothing to send again.
	q, err := buffer.Open(filepath.Join(dir, "data", "buffers", "splunk"), 1<<30)
	if err != nil {
		t.Fatalf("no disk buffer for the output: %v", err)
	}
	defer q.Close()
	if n := q.Len(); n != 0 {
		t.Fatalf("the buffer holds %d records after a clean run", n)
	}
}
