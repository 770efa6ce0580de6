package splunk

import (
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// With several requests in flight and indexer acknowledgement, the ackIds
// of all of them are asked about in one query; HEC acknowledging the
// others first delivers them, but the buffer keeps the held request's
// records (and those after it) until it is acknowledged too. The removal
// order itself is internal/delivery's TestWindowRemovesInOrder.
func TestIndexerAckWindowOutOfOrder(t *testing.T) {
	hec := newFakeHEC(t, testToken)
	var holdFirst atomic.Bool
	holdFirst.Store(true)
	hec.ack, hec.ackAfter = true, 1
	hec.neverAck = func(id int64) bool { return id == 0 && holdFirst.Load() }
	srv := httptest.NewServer(hec)
	defer srv.Close()
	h := newHarness(t, srv.URL, func(c *Config) {
		c.IndexerAck = true
		c.AckPollInterval = 5 * time.Millisecond
		c.MaxInFlight = 4
		c.BatchSize = 5
	})
	recs := testRecords(t, 0, 20)
	h.consume(t, recs, 20)
	st := h.out.Stats()
	waitFor(t, "the later requests acknowledged", func() bool { return st.Sent.Load() == 15 })
	// The held ackId is the first POST to reach HEC, which is usually,
	// not always, the first batch read: at least its records, and all
	// after them, stay in the buffer.
	if n, _ := h.out.Buffered(); n < 5 {
		t.Fatalf("%d records buffered while a request waits for its ack; want its 5 at least", n)
	}
	holdFirst.Store(false)
	waitFor(t, "every request acknowledged", func() bool { n, _ := h.out.Buffered(); return n == 0 && st.Sent.Load() == 20 })
	h.close(t)

	hec.mu.Lock()
	widest := hec.widest
	hec.mu.Unlock()
	if widest < 2 {
		t.Errorf("at most %d ackIds per query: the window's ackIds are not polled together", widest)
	}
	got := hec.ids()
	slices.Sort(got)
	want := recordIDs(recs)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("indexed %v", got)
	}
}
