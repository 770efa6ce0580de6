package agent

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Diagnostic-settings records as Event Hubs delivers them ({"records":[…]}
// per message) through a real Kafka protocol peer, configured from YAML:
// every record reaches the output, and a restarted agent reads nothing
// again because the offsets were committed after the output acknowledged.
func TestEventHubsInputEndToEnd(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "entra"), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The demo's diagnostic sign-ins, ten per message.
	data, err := os.ReadFile("../testdata/demo/signins.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) > 0 && l[0] == '{' && l[len(l)-1] == '}' && bytes.Contains(l, []byte(`"category"`)) {
			lines = append(lines, append([]byte(nil), l...))
		}
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*kgo.Record
	for i := 0; i < len(lines); i += 10 {
		env := []byte(`{"records":[` + string(bytes.Join(lines[i:min(i+10, len(lines))], []byte(","))) + `]}`)
		msgs = append(msgs, &kgo.Record{Topic: "entra", Value: env})
	}
	if err := prod.ProduceSync(context.Background(), msgs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	dir := t.TempDir()
	demo, _ := filepath.Abs("../testdata/demo")
	pipeline, _ := filepath.Abs("../pipelines/demo.yaml")
	cfgText := `data_dir: data
inputs:
  - name: hub
    eventhubs:
      brokers: [` + strings.Join(c.ListenAddrs(), ",") + `]
      topics: [entra]
      consumer_group: privtrail
      max_wait: 50ms
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
	run := func(want int64) *Agent {
		cfg, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		deadline := time.Now().Add(20 * time.Second)
		for a.Stats().Decoded.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("decoded %d of %d", a.Stats().Decoded.Load(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // let late records show up, if any
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return a
	}
	first := run(int64(len(lines)))
	if got := first.Stats().Decoded.Load(); got != int64(len(lines)) {
		t.Fatalf("decoded %d, want %d", got, len(lines))
	}
	second := run(0)
	if got := second.Stats().Read.Load(); got != 0 {
		t.Fatalf("restart read %d records again: offsets were not committed", got)
	}
	out, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(out, []byte("\n")); n != len(lines) {
		t.Fatalf("output has %d lines, want %d", n, len(lines))
	}
}
