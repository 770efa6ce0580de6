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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/buffer"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
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
		if err := d.Decode(fmt.Appendf(nil, stuckDoc, fmt.Sprintf("stuck-%06d", i)), rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		js = append(js, rec.AppendJSON(nil))
	}
	return recs, js
}

// stuckHEC takes every request, reads it, and does not answer — until the
// client gives up, the test ends, or answer: then it answers like HEC,
// the requests waiting included, and notes the record numbers it indexed.
type stuckHEC struct {
	srv       *httptest.Server
	answering chan struct{}
	end       chan struct{}
	once      sync.Once

	mu       sync.Mutex
	arrivals []time.Time
	got      []int
}

func newStuckHEC(t testing.TB) *stuckHEC {
	p := &stuckHEC{answering: make(chan struct{}), end: make(chan struct{})}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)             // after the handlers returned:
	t.Cleanup(func() { close(p.end) }) // this runs first
	return p
}

func (p *stuckHEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.arrivals = append(p.arrivals, time.Now())
	p.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	select {
	case <-p.answering:
	case <-r.Context().Done(): // the client gave up
		return
	case <-p.end:
		return
	}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if body, err = io.ReadAll(zr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
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
			return
		}
		if m := stuckIDRe.FindSubmatch(ev); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			ids = append(ids, n)
		}
	}
	p.mu.Lock()
	p.got = append(p.got, ids...)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"text":"Success","code":0}`)
}

func (p *stuckHEC) answer() { p.once.Do(func() { close(p.answering) }) }

func (p *stuckHEC) attempts() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.arrivals...)
}

func (p *stuckHEC) received() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.got...)
}

// A HEC that takes the request and never answers: the request times out
// after timeout (http.Client.Timeout), and the rest of the scenario.
func TestStuckHEC(t *testing.T) {
	const timeout = 500 * time.Millisecond
	peer := newStuckHEC(t)
	token, err := secret.Resolve("11111111-2222-3333-4444-555555555555")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{URL: peer.srv.URL, AllowHTTP: true, Token: token, Timeout: timeout,
		Config: delivery.Config{BatchSize: 100, FlushInterval: 5 * time.Millisecond, MaxBackoff: 10 * time.Second, BatchBytes: 256 << 10,
			Buffer: delivery.BufferConfig{MaxBytes: 1 << 20}}}
	stuckScenario(t, stuckSetup{
		peer: peer,
		start: func(dir string, logs *deliverytest.LogBuffer, dead *deliverytest.DeadLetters) *delivery.Output {
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
		records: stuckRecords,
		first:   cfg.BatchSize,
		size:    5, // small, so that the buffer pushes back past the 90% Health reports

		timeout:    timeout,
		maxBytes:   int64(cfg.Buffer.MaxBytes),
		reconnects: true,
		logged:     []string{regexp.QuoteMeta("POST " + peer.srv.URL + "/services/collector/event"), `(Client\.Timeout exceeded|timeout awaiting response headers)`},
	})
}

// The stuck-peer scenario below is the same in the stuck_test.go of every
// SIEM output (splunk, elastic, qradar, kafka): keep them alike.

// stuckPeer is a destination that takes attempts and never answers them
// until answer.
type stuckPeer interface {
	attempts() []time.Time // when each attempt reached it
	answer()               // answer from now on
	received() []int       // record numbers delivered, in arrival order
}

// stuckSetup is one output against one stuck peer.
type stuckSetup struct {
	peer stuckPeer
	// start opens the output named "stuck" on dir (closed at the end of
	// the test).
	start   func(dir string, logs *deliverytest.LogBuffer, dead *deliverytest.DeadLetters) *delivery.Output
	records func(t testing.TB, from, n int) ([]*entra.Record, [][]byte)
	// first and size are the records of the first batch and of those after it.
	first, size int
	timeout     time.Duration
	maxBytes    int64
	// reconnects: every attempt reaches the peer anew (a request, a
	// connection); a Kafka client keeps waiting on the one it has.
	reconnects bool
	// logged are patterns the log of the failed attempts must match.
	logged []string
}

// stuckScenario runs the stuck-peer checks (issue 16):
//
//	(a) an attempt fails after the configured timeout;
//	(b) it is retried, with a growing back-off;
//	(c) the health counters say so, no success is counted, the log names
//	    the destination;
//	(d) the disk buffer fills to its bound, then Consume waits (the
//	    back-pressure) and nothing is dead-lettered;
//	(e) Close returns after the drain time while the peer still hangs, and
//	    every record is still in the buffer file;
//	(f) started again, with the peer answering from the attempt in flight
//	    on, the backlog arrives in order.
func stuckScenario(t *testing.T, s stuckSetup) {
	const (
		drain    = time.Second
		slack    = 2 * time.Second // a loaded 2-core machine
		failures = 3               // failed attempts to wait for
	)
	dir := t.TempDir()
	path := filepath.Join(dir, "buffers", "stuck.db")
	logs, dead := &deliverytest.LogBuffer{}, &deliverytest.DeadLetters{}
	out := s.start(dir, logs, dead)

	// (d) Fill the buffer to its bound.
	recs, js := s.records(t, 0, s.first)
	if acked, err := stuckConsume(context.Background(), out, recs, js); err != nil || !acked {
		t.Fatalf("first batch: acked %v, err %v", acked, err)
	}
	n, slow := s.first, 0
	for {
		recs, js := s.records(t, n, s.size)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		acked, err := stuckConsume(ctx, out, recs, js)
		cancel()
		if err != nil {
			if acked {
				t.Fatal("a batch the buffer did not take was acknowledged")
			}
			if out.Health() != nil {
				break // 90% full and pushing back
			}
			if slow++; slow == 20 {
				used, capacity := out.BufferUsage()
				t.Fatalf("the buffer pushes back with %d of %d bytes used, before Health reports it full", used, capacity)
			}
			continue // a slow disk: the batch was not appended, again
		}
		slow = 0
		n += s.size
		if n > 100000 {
			t.Fatal("the buffer never pushed back")
		}
	}
	// Full: the next batch waits for room until its context ends, and is
	// not acknowledged.
	recs, js = s.records(t, n, s.size)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	began := time.Now()
	acked, err := stuckConsume(ctx, out, recs, js)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || acked || time.Since(began) < 450*time.Millisecond {
		t.Fatalf("a full buffer returned %v after %v (acked %v); want it to wait for its context", err, time.Since(began), acked)
	}
	if got, _ := out.Buffered(); got != n {
		t.Fatalf("the buffer holds %d records, want the %d acknowledged", got, n)
	}
	if used, capacity := out.BufferUsage(); used > capacity {
		t.Errorf("buffer pages %d over their capacity %d", used, capacity)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() > s.maxBytes {
		t.Errorf("buffer file: %v, %v; bound %d", fi.Size(), err, s.maxBytes)
	}

	// (a), (b) Attempts time out and are retried, the back-off growing.
	st := out.Stats()
	deliverytest.WaitFor(t, fmt.Sprintf("%d failed attempts", failures), func() bool { return st.ConsecutiveFailures.Load() >= failures })
	at := s.peer.attempts()
	if len(at) == 0 || s.reconnects && len(at) < failures {
		t.Fatalf("the peer saw %d attempts for %d failures", len(at), failures)
	}
	d := time.Unix(0, st.FailingSince.Load()).Sub(at[0])
	t.Logf("%d records buffered; the first attempt failed %v after it reached the peer (timeout %v)", n, d, s.timeout)
	if d < s.timeout/2 || d > s.timeout+slack {
		t.Errorf("the first attempt failed %v after it reached the peer; timeout is %v", d, s.timeout)
	}
	fails := retryLog(t, logs.String())
	if len(fails) < failures {
		t.Fatalf("%d failures logged for %d:\n%s", len(fails), failures, logs.String())
	}
	for i, f := range fails[:failures] {
		if lo, hi := 50*time.Millisecond<<i, 100*time.Millisecond<<i; f.wait < lo || f.wait > hi {
			t.Errorf("back-off %d is %v, want %v…%v (exponential)", i+1, f.wait, lo, hi)
		}
		if i == 0 {
			continue
		}
		// The attempt began after the back-off and failed after the
		// timeout (the log's times are in milliseconds).
		if d := f.at.Sub(fails[i-1].at) - fails[i-1].wait; d < s.timeout*9/10-time.Millisecond {
			t.Errorf("attempt %d failed %v after it began; timeout is %v", i+1, d, s.timeout)
		}
	}
	// (c) Health: failing, no success, the destination named.
	if st.LastSuccess.Load() != 0 || st.Sent.Load() != 0 {
		t.Errorf("last success %d, sent %d while the peer never answered", st.LastSuccess.Load(), st.Sent.Load())
	}
	if st.Retries.Load() < failures {
		t.Errorf("retries %d", st.Retries.Load())
	}
	if err := out.Health(); err == nil || !strings.Contains(err.Error(), "full") {
		t.Errorf("health with a full buffer: %v", err)
	}
	if out.OldestBuffered() <= 0 {
		t.Error("the oldest buffered record has no age")
	}
	l := logs.String()
	for _, want := range append([]string{"destination failed, retrying", "output=stuck"}, s.logged...) {
		if !regexp.MustCompile(want).MatchString(l) {
			t.Errorf("the log of the failures does not match %q:\n%.2000s", want, l)
		}
	}
	// (d) Nothing dropped: a timeout is no refusal.
	if dead.Len() != 0 || st.DeadLettered.Load() != 0 {
		t.Errorf("dead letters for a stuck peer: %v", dead.Reasons())
	}

	// (e) Close returns after the drain time while the peer hangs.
	ctx, cancel = context.WithTimeout(context.Background(), drain)
	began = time.Now()
	out.Close(ctx)
	cancel()
	el := time.Since(began)
	t.Logf("Close took %v with drain %v", el, drain)
	if el < drain*9/10 || el > drain+slack {
		t.Errorf("Close took %v with drain %v", el, drain)
	}
	q, err := buffer.Open(path, s.maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	if q.Len() != n {
		t.Errorf("the buffer file holds %d records after Close, want %d", q.Len(), n)
	}
	q.Close()

	// (f) Started again, the output tries the peer, which answers from
	// the attempt in flight on: the backlog arrives in order.
	seen := len(s.peer.attempts())
	logs, dead = &deliverytest.LogBuffer{}, &deliverytest.DeadLetters{}
	out = s.start(dir, logs, dead)
	st = out.Stats()
	deliverytest.WaitFor(t, "an attempt after the restart", func() bool { return len(s.peer.attempts()) > seen })
	s.peer.answer()
	began = time.Now()
	deliverytest.WaitFor(t, "the backlog delivered", func() bool { k, _ := out.Buffered(); return k == 0 && st.Sent.Load() == int64(n) })
	deliverytest.WaitFor(t, "the backlog received", func() bool { return stuckInOrder(t, s.peer.received()) >= n })
	t.Logf("the backlog arrived %v after the peer began to answer", time.Since(began))
	if got := s.peer.received(); len(got) > n {
		t.Logf("%d records received for %d (a batch sent again: at least once)", len(got), n)
	}
	if st.ConsecutiveFailures.Load() != 0 || st.FailingSince.Load() != 0 || st.LastSuccess.Load() == 0 {
		t.Errorf("health after recovery: %d failures, failing since %d, last success %d",
			st.ConsecutiveFailures.Load(), st.FailingSince.Load(), st.LastSuccess.Load())
	}
	if dead.Len() != 0 {
		t.Errorf("dead letters: %v", dead.Reasons())
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := out.Close(ctx); err != nil {
		t.Error(err)
	}
}

// stuckDoc is a Graph sign-in; %s is its id.
const stuckDoc = `{"id":"%s","createdDateTime":"2024-03-13T19:15:41.6195833Z","userDisplayName":"Alice Admin","userPrincipalName":"adm_alice@contoso.example","userId":"26be570a-ae82-4189-b4e2-a37c6808512d","appId":"de8bc8b5-d9f9-48b1-a8ad-b748da725064","appDisplayName":"Graph explorer","ipAddress":"203.0.113.7","clientAppUsed":"IMAP4","correlationId":"d79f5bee-5860-4832-928f-3133e22ae912","conditionalAccessStatus":"notApplied","isInteractive":true,"status":{"errorCode":0},"location":{"city":"Redmond","state":"Washington","countryOrRegion":"US"}}`

var stuckIDRe = regexp.MustCompile(`stuck-(\d{6})`)

// stuckInOrder checks that record numbers arrived in order, from 0, and
// returns how many did. A number seen before may come again: a batch is
// written again after a cut connection (at least once).
func stuckInOrder(t testing.TB, got []int) int {
	t.Helper()
	next := 0
	for _, id := range got {
		switch {
		case id == next:
			next++
		case id > next:
			t.Fatalf("record %d arrived before record %d", id, next)
		}
	}
	return next
}

// stuckConsume hands one batch to out and reports whether it was
// acknowledged before ctx ended.
func stuckConsume(ctx context.Context, out *delivery.Output, recs []*entra.Record, js [][]byte) (bool, error) {
	b := &batch.Batch{Input: "stuck", Records: recs, JSON: js}
	acked := false
	b.Arm(1, 1, func(uint64) { acked = true })
	err := out.Consume(ctx, b)
	return acked, err
}

// stuckFailure is a failed attempt as the delivery log tells it: when,
// and the back-off announced.
type stuckFailure struct {
	at   time.Time
	wait time.Duration
}

// retryLog reads the failed attempts from the delivery log.
func retryLog(t testing.TB, log string) []stuckFailure {
	t.Helper()
	var out []stuckFailure
	for _, m := range regexp.MustCompile(`time=(\S+) .*destination failed, retrying.* retry_in=(\S+)`).FindAllStringSubmatch(log, -1) {
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("time=%s: %v", m[1], err)
		}
		d, err := time.ParseDuration(m[2])
		if err != nil {
			t.Fatalf("retry_in=%s: %v", m[2], err)
		}
		out = append(out, stuckFailure{at, d})
	}
	return out
}
