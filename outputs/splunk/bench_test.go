package splunk

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/synth"
)

// countingHEC accepts everything and counts events (one per line).
type countingHEC struct {
	events, wire, raw atomic.Int64
}

func (h *countingHEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.wire.Add(int64(len(body)))
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			w.WriteHeader(400)
			return
		}
		body, _ = io.ReadAll(zr)
	}
	h.raw.Add(int64(len(body)))
	h.events.Add(int64(bytes.Count(body, []byte{'\n'})))
	w.Write([]byte(`{"text":"Success","code":0}`))
}

// throughput sends recs through a full output (encode, disk buffer, HTTP)
// to a local HEC and returns the time until the last one arrived.
func throughput(tb testing.TB, recs []*entra.Record, js [][]byte, gz bool) (time.Duration, *countingHEC) {
	tb.Helper()
	hec := &countingHEC{}
	srv := httptest.NewServer(hec)
	defer srv.Close()
	cfg := Config{URL: srv.URL, Token: mustSecret(tb, testToken), AllowHTTP: true, Gzip: &gz, Index: "entra",
		Config: delivery.Config{FlushInterval: 5 * time.Millisecond}}
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
	for hec.events.Load() < int64(len(recs)) {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	out.Close(context.Background())
	return el, hec
}

// TestThroughput logs records/s to a local HEC (go test -run Throughput -v).
func TestThroughput(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a measurement; skipped with -short and -race")
	}
	recs, js := synth.Decoded(1, 50000)
	for _, gz := range []bool{true, false} {
		el, hec := throughput(t, recs, js, gz)
		t.Logf("gzip=%-5v %d records in %v: %.0f records/s, %.1f MB/s of events, %.1f MB on the wire (%.1fx)",
			gz, len(recs), el.Round(time.Millisecond), float64(len(recs))/el.Seconds(),
			float64(hec.raw.Load())/el.Seconds()/1e6, float64(hec.wire.Load())/1e6, float64(hec.raw.Load())/float64(hec.wire.Load()))
	}
}

func BenchmarkThroughput(b *testing.B) {
	recs, js := synth.Decoded(1, 20000)
	for _, gz := range []bool{true, false} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				el, _ := throughput(b, recs, js, gz)
				total += el
			}
			b.ReportMetric(float64(len(recs)*b.N)/total.Seconds(), "records/s")
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	recs, js := synth.Decoded(1, 1000)
	enc := NewEncoder(Config{Host: "agent-01", Index: "entra"})
	var dst []byte
	n := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % len(recs)
		dst, _ = enc.Encode(dst[:0], recs[k], js[k])
		n += len(dst)
	}
	b.SetBytes(int64(n / max(b.N, 1)))
}
