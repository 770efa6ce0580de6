package elastic

// Stuck peers (issue 16): a destination that accepts the connection and
// never answers is timed out, retried with back-off and reported; the disk
// buffer bounds what waits, then pushes back; shutdown does not wait for
// it beyond the drain time; and once it answers, the backlog arrives.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
	"github.com/privtrail/privtrail/internal/delivery/stucktest"
)

// stuckRecords are records stuck-<from>… (the encoder builds the document
// from the record; no enriched JSON).
func stuckRecords(t testing.TB, from, n int) ([]*entra.Record, [][]byte) {
	t.Helper()
	var d entra.Decoder
	recs := make([]*entra.Record, 0, n)
	for i := from; i < from+n; i++ {
		rec := &entra.Record{Origin: "stuck:" + strconv.Itoa(i)}
		if err := d.Decode(fmt.Appendf(nil, stucktest.Doc, fmt.Sprintf("stuck-%06d", i)), rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// answerES answers like Elasticsearch (GET /, POST /_bulk creating every
// document) and returns the record numbers it indexed: the stuck peer's
// reply once it answers.
func answerES(w http.ResponseWriter, r *http.Request, body []byte) []int {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		io.WriteString(w, `{"name":"es01","cluster_name":"stuck","version":{"number":"8.19.7"},"tagline":"You Know, for Search"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		var ids []int
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 16<<20)
		for doc := false; sc.Scan(); doc = !doc { // action, document, action, …
			if m := stucktest.IDRe.FindSubmatch(sc.Bytes()); doc && m != nil {
				n, _ := strconv.Atoi(string(m[1]))
				ids = append(ids, n)
			}
		}
		io.WriteString(w, `{"errors":false}`)
		return ids
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"type":"resource_not_found_exception","reason":"not in this test"},"status":404}`)
	}
	return nil
}

// An Elasticsearch that takes the request and never answers: each
// attempt's first request (GET /, before the first bulk request of a
// start) times out after timeout, and the rest of the scenario.
func TestStuckElasticsearch(t *testing.T) {
	const timeout = time.Second // the least the config takes
	peer := stucktest.NewHTTPPeer(t, answerES)
	off := false
	cfg := Config{URLs: []string{peer.URL}, Timeout: timeout, InstallTemplates: &off,
		Config: delivery.Config{MaxInFlight: 1, BatchSize: 100, FlushInterval: 5 * time.Millisecond, MaxBackoff: 10 * time.Second, BatchBytes: 256 << 10,
			Buffer: delivery.BufferConfig{MaxBytes: 1 << 20}}}
	stucktest.Run(t, stucktest.Setup{
		Peer: peer,
		Start: func(dir string, logs *deliverytest.LogBuffer, dead *deliverytest.DeadLetters) *delivery.Output {
			out, err := New("stuck", cfg, delivery.Deps{DataDir: dir, DeadLetters: dead, Log: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				out.Close(ctx)
			})
			return out
		},
		Records:    stuckRecords,
		First:      cfg.BatchSize,
		Size:       5, // small, so that the buffer pushes back past the 90% Health reports
		Timeout:    timeout,
		MaxBytes:   int64(cfg.Buffer.MaxBytes),
		Reconnects: true,
		Logged:     []string{`err="elasticsearch: [^"]*(deadline exceeded|timeout awaiting response headers)`},
	})
}
