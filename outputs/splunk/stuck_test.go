package splunk

// Stuck peers (issue 16): a destination that accepts the connection and
// never answers is timed out, retried with back-off and reported; the disk
// buffer bounds what waits, then pushes back; shutdown does not wait for
// it beyond the drain time; and once it answers, the backlog arrives.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
	"github.com/privtrail/privtrail/internal/delivery/stucktest"
	"github.com/privtrail/privtrail/internal/secret"
)

// stuckRecords are records stuck-<from>… with their enriched JSON.
func stuckRecords(t testing.TB, from, n int) ([]*entra.Record, [][]byte) {
	t.Helper()
	var d entra.Decoder
	recs := make([]*entra.Record, 0, n)
	js := make([][]byte, 0, n)
	for i := from; i < from+n; i++ {
		rec := &entra.Record{Origin: "stuck:" + strconv.Itoa(i)}
		if err := d.Decode(fmt.Appendf(nil, stucktest.Doc, fmt.Sprintf("stuck-%06d", i)), rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		js = append(js, rec.AppendJSON(nil))
	}
	return recs, js
}

// answerHEC answers like HEC and returns the record numbers it indexed:
// the stuck peer's reply once it answers.
func answerHEC(w http.ResponseWriter, r *http.Request, body []byte) []int {
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil
		}
		if body, err = io.ReadAll(zr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil
		}
	}
	var ids []int
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		var ev json.RawMessage
		if err := dec.Decode(&ev); err == io.EOF {
			break
		} else if err != nil {
			http.Error(w, `{"text":"Invalid data format","code":6}`, http.StatusBadRequest)
			return nil
		}
		if m := stucktest.IDRe.FindSubmatch(ev); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			ids = append(ids, n)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"text":"Success","code":0}`)
	return ids
}

// A HEC that takes the request and never answers: the request times out
// after timeout (http.Client.Timeout), and the rest of the scenario.
func TestStuckHEC(t *testing.T) {
	const timeout = 500 * time.Millisecond
	peer := stucktest.NewHTTPPeer(t, answerHEC)
	token, err := secret.Resolve("11111111-2222-3333-4444-555555555555")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{URL: peer.URL, AllowHTTP: true, Token: token, Timeout: timeout,
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
		Records: stuckRecords,
		First:   cfg.BatchSize,
		Size:    5, // small, so that the buffer pushes back past the 90% Health reports

		Timeout:    timeout,
		MaxBytes:   int64(cfg.Buffer.MaxBytes),
		Reconnects: true,
		Logged:     []string{regexp.QuoteMeta("POST " + peer.URL + "/services/collector/event"), `(Client\.Timeout exceeded|timeout awaiting response headers)`},
	})
}
