package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProcessor measures a processor consuming the records topic of
// the in-process Kafka peer and forwarding to a file, with the shipped
// pipeline and its state replicated to the changelog: b.N records, keyed
// by user as a collector writes them, 1,000 users of whom 100 privileged
// (their wrong passwords feed the stateful monitors). Start-up (group
// join, changelog topic) is inside the timing, so use -benchtime of at
// least 100000x. The broker shares the machine's cores.
func BenchmarkProcessor(b *testing.B) {
	brokers := "{brokers}"
	for _, v := range []struct{ name, source string }{
		{"processor", `cluster:
  role: processor
  kafka:
    brokers: [` + brokers + `]
    topic: ` + clusterTopic + `
`},
		// The same records through an eventhubs input of one agent: no
		// partition state, no changelog.
		{"one agent", `inputs:
  - name: hub
    eventhubs:
      brokers: [` + brokers + `]
      topics: [` + clusterTopic + `]
`},
	} {
		b.Run(v.name, func(b *testing.B) { benchmarkConsumeForward(b, v.source) })
	}
}

func benchmarkConsumeForward(b *testing.B, source string) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(clusterPartitons, clusterTopic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	dir := b.TempDir()
	var roleMap strings.Builder
	roleMap.WriteString("users:\n")
	for u := range 100 {
		fmt.Fprintf(&roleMap, "  - {id: user_%d-id, upn: user_%d@contoso.example, roles: [{name: Global Administrator}]}\n", u, u)
	}
	if err := os.WriteFile(filepath.Join(dir, "rolemap.yaml"), []byte(roleMap.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(clusterTopic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*kgo.Record, 0, 10000)
	flush := func() {
		if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := range b.N {
		user := fmt.Sprintf("user_%d", i%1000)
		code := 0
		if i%7 == 0 {
			code = 50126
		}
		v := graphSignIn(fmt.Sprintf("r-%09d", i), user, time.Duration(i)*100*time.Millisecond, code)
		recs = append(recs, &kgo.Record{Key: []byte(user + "-id"), Value: v})
		if len(recs) == cap(recs) {
			flush()
		}
	}
	flush()
	prod.Close()

	pipeline, _ := filepath.Abs("../pipelines/privileged-accounts.yaml")
	cfgPath := filepath.Join(dir, "privtrail.yaml")
	text := `data_dir: data
` + strings.ReplaceAll(source, "{brokers}", strings.Join(c.ListenAddrs(), ",")) + `outputs:
  - name: out
    file: {path: out.jsonl}
context:
  privilege: {role_map: rolemap.yaml}
pipelines: [` + pipeline + `]
`
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	a := New(cfg, slog.New(slog.DiscardHandler))
	b.ResetTimer()
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	forwarded := func() bool {
		if a.Stats().Decoded.Load() < int64(b.N) {
			return false
		}
		for _, in := range *a.inputs.Load() {
			if in.tracker.Outstanding() > 0 {
				return false
			}
		}
		return true
	}
	for !forwarded() {
		select {
		case err := <-done:
			b.Fatalf("processor stopped: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	took := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	out, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	if n := bytes.Count(out, []byte("\n")); n != b.N {
		b.Fatalf("forwarded %d of %d records", n, b.N)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "records/s")
}
