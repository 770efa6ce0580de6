package elastic

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

// Bulk requests go out concurrently (max_in_flight); one the cluster
// refuses as a whole (503) is sent again after back-off while the others
// are indexed, and every record ends up indexed once.
func TestConcurrentBulkOneFailsAndIsRetried(t *testing.T) {
	f := newFakeES(t)
	refused := 0
	f.script = []func(http.ResponseWriter) bool{nil, func(w http.ResponseWriter) bool {
		refused++
		writeErr(w, 503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master]")
		return true
	}}
	cfg := testConfig(f)
	cfg.MaxInFlight, cfg.BatchSize = 4, 2
	cfg.MaxBackoff = 100 * time.Millisecond
	o, dead, _ := newOutput(t, cfg)
	recs := testRecords(t)
	ids := idsOf(t, recs)
	consume(t, o, recs)
	waitUntil(t, "every record indexed", func() bool { order, _ := f.snapshot(); return len(order) == len(ids) })
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	order, _ := f.snapshot()
	slices.Sort(order)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(order, want) {
		t.Fatalf("indexed %v\nwant    %v", order, want)
	}
	if refused != 1 || dead.Len() != 0 || o.Stats().Retries.Load() != 1 {
		t.Fatalf("refused %d, dead letters %v, retries %d", refused, dead.Reasons(), o.Stats().Retries.Load())
	}
}
