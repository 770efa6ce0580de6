package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
)

// throughput sends recs through a full output (encode, disk buffer,
// idempotent acks=all producer) to a three-broker kfake cluster that
// acknowledges without storing (so that the fake broker's storage is not
// what is measured) and returns the time until the last one was
// acknowledged.
func throughput(tb testing.TB, recs []*entra.Record, js [][]byte, compression string) time.Duration {
	tb.Helper()
	c := newCluster(tb, clusterSpec{more: []kfake.Opt{kfake.BlackholeProduce()}})
	cfg := c.config(tb)
	cfg.Compression = compression
	cfg.Config = delivery.Config{FlushInterval: 5 * time.Millisecond}
	out, err := New("bench", cfg, delivery.Deps{DataDir: tb.TempDir(), DeadLetters: &deadList{}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	const size = 500
	for i := 0; i < len(recs); i += size {
		j := min(i+size, len(recs))
		b := &batch.Batch{Records: recs[i:j], JSON: js[i:j]}
		b.Arm(uint64(i/size+1), 1, func(uint64) {})
		if err := out.Consume(context.Background(), b); err != nil {
			tb.Fatal(err)
		}
	}
	for out.Stats().Sent.Load() < int64(len(recs)) {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	out.Close(context.Background())
	c.Close()
	return el
}

var codecNames = []string{"gzip", "none", "snappy", "lz4", "zstd"}

// TestThroughput logs records/s to kfake per codec (go test -run
// Throughput -v ./outputs/kafka).
func TestThroughput(t *testing.T) {
	if testing.Short() || raceEnabled || !testing.Verbose() {
		t.Skip("a measurement: run with -v, without -short and -race")
	}
	recs, js := demoRecords(t, 50000)
	size := 0
	for _, j := range js {
		size += len(j)
	}
	for _, codec := range codecNames {
		el := throughput(t, recs, js, codec)
		t.Logf("compression=%-6s %d records (%.1f MB of JSON) in %v: %.0f records/s, %.1f MB/s",
			codec, len(recs), float64(size)/1e6, el.Round(time.Millisecond), float64(len(recs))/el.Seconds(), float64(size)/el.Seconds()/1e6)
	}
}

func BenchmarkThroughput(b *testing.B) {
	recs, js := demoRecords(b, 20000)
	for _, codec := range codecNames {
		b.Run("compression="+codec, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				total += throughput(b, recs, js, codec)
			}
			b.ReportMetric(float64(len(recs)*b.N)/total.Seconds(), "records/s")
		})
	}
}

// BenchmarkSend measures the producer alone: batches of 500 encoded
// records, without the disk buffer.
func BenchmarkSend(b *testing.B) {
	recs, js := demoRecords(b, 500)
	enc := &Encoder{Key: KeyUser, Headers: true}
	items := make([][]byte, len(recs))
	size := 0
	for i := range recs {
		items[i], _ = enc.Encode(nil, recs[i], js[i])
		size += len(js[i])
	}
	for _, codec := range []string{"gzip", "none"} {
		b.Run(fmt.Sprintf("compression=%s", codec), func(b *testing.B) {
			c := newCluster(b, clusterSpec{more: []kfake.Opt{kfake.BlackholeProduce()}})
			cfg := c.config(b)
			cfg.Compression = codec
			cl, err := NewClient(cfg, "bench", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			b.SetBytes(int64(size))
			for b.Loop() {
				if res := cl.Send(context.Background(), items); res.Err != nil || len(res.Retry)+len(res.Rejected) > 0 {
					b.Fatalf("%+v", res)
				}
			}
			b.ReportMetric(float64(len(items))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	recs, js := demoRecords(b, 1000)
	enc := &Encoder{Key: KeyUser, Headers: true}
	var dst []byte
	n := 0
	for i := 0; b.Loop(); i++ {
		k := i % len(recs)
		dst, _ = enc.Encode(dst[:0], recs[k], js[k])
		n += len(dst)
	}
	b.SetBytes(int64(n / max(b.N, 1)))
}
