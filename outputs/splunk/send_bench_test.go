package splunk

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/privtrail/privtrail/internal/synth"
)

// BenchmarkSend measures the HEC client alone: batches of 500 encoded
// events to a local HEC, without the disk buffer.
func BenchmarkSend(b *testing.B) {
	recs, js := synth.Decoded(1, 500)
	enc := NewEncoder(Config{Host: "agent-01", Index: "entra"})
	items := make([][]byte, len(recs))
	size := 0
	for i := range recs {
		items[i], _ = enc.Encode(nil, recs[i], js[i])
		size += len(items[i])
	}
	for _, gz := range []bool{true, false} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			hec := &countingHEC{}
			srv := httptest.NewServer(hec)
			defer srv.Close()
			c, err := NewClient(Config{URL: srv.URL, Token: mustSecret(b, testToken), AllowHTTP: true, Gzip: &gz}, "bench", nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				if res := c.Send(context.Background(), items); res.Err != nil {
					b.Fatal(res.Err)
				}
			}
			b.ReportMetric(float64(len(items))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
