// Package stucktest is the stuck-peer scenario (a destination that accepts
// the connection and never answers) that the stuck_test.go of every SIEM
// output (splunk, elastic, qradar, kafka) runs against its own peer.
package stucktest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/buffer"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
)

// Peer is a destination that takes attempts and never answers them
// until answer.
type Peer interface {
	Attempts() []time.Time // when each attempt reached it
	Answer()               // answer from now on
	Received() []int       // record numbers delivered, in arrival order
}

// Setup is one output against one stuck peer.
type Setup struct {
	Peer Peer
	// start opens the output named "stuck" on dir (closed at the end of
	// the test).
	Start   func(dir string, logs *deliverytest.LogBuffer, dead *deliverytest.DeadLetters) *delivery.Output
	Records func(t testing.TB, from, n int) ([]*entra.Record, [][]byte)
	// first and size are the records of the first batch and of those after it.
	First, Size int
	Timeout     time.Duration
	MaxBytes    int64
	// reconnects: every attempt reaches the peer anew (a request, a
	// connection); a Kafka client keeps waiting on the one it has.
	Reconnects bool
	// logged are patterns the log of the failed attempts must match.
	Logged []string
}

// Run runs the stuck-peer checks (issue 16):
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
func Run(t *testing.T, s Setup) {
	const (
		drain    = time.Second
		slack    = 2 * time.Second // a loaded 2-core machine
		failures = 3               // failed attempts to wait for
	)
	dir := t.TempDir()
	path := filepath.Join(dir, "buffers", "stuck")
	logs, dead := &deliverytest.LogBuffer{}, &deliverytest.DeadLetters{}
	out := s.Start(dir, logs, dead)

	// (d) Fill the buffer to its bound.
	recs, js := s.Records(t, 0, s.First)
	if acked, err := stuckConsume(context.Background(), out, recs, js); err != nil || !acked {
		t.Fatalf("first batch: acked %v, err %v", acked, err)
	}
	n, slow := s.First, 0
	for {
		recs, js := s.Records(t, n, s.Size)
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
		n += s.Size
		if n > 100000 {
			t.Fatal("the buffer never pushed back")
		}
	}
	// Full: the next batch waits for room until its context ends, and is
	// not acknowledged.
	recs, js = s.Records(t, n, s.Size)
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
		t.Errorf("buffer segments take %d bytes, over their capacity %d", used, capacity)
	}
	if size, err := buffer.FolderSize(path); err != nil || size > s.MaxBytes {
		t.Errorf("buffer folder of %d bytes (%v); bound %d", size, err, s.MaxBytes)
	}

	// (a), (b) Attempts time out and are retried, the back-off growing.
	st := out.Stats()
	deliverytest.WaitFor(t, fmt.Sprintf("%d failed attempts", failures), func() bool { return st.ConsecutiveFailures.Load() >= failures })
	at := s.Peer.Attempts()
	if len(at) == 0 || s.Reconnects && len(at) < failures {
		t.Fatalf("the peer saw %d attempts for %d failures", len(at), failures)
	}
	d := time.Unix(0, st.FailingSince.Load()).Sub(at[0])
	t.Logf("%d records buffered; the first attempt failed %v after it reached the peer (timeout %v)", n, d, s.Timeout)
	if d < s.Timeout/2 || d > s.Timeout+slack {
		t.Errorf("the first attempt failed %v after it reached the peer; timeout is %v", d, s.Timeout)
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
		if d := f.at.Sub(fails[i-1].at) - fails[i-1].wait; d < s.Timeout*9/10-time.Millisecond {
			t.Errorf("attempt %d failed %v after it began; timeout is %v", i+1, d, s.Timeout)
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
	for _, want := range append([]string{"destination failed, retrying", "output=stuck"}, s.Logged...) {
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
	q, err := buffer.Open(path, s.MaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	if q.Len() != n {
		t.Errorf("the buffer file holds %d records after Close, want %d", q.Len(), n)
	}
	q.Close()

	// (f) Started again, the output tries the peer, which answers from
	// the attempt in flight on: the backlog arrives in order.
	seen := len(s.Peer.Attempts())
	logs, dead = &deliverytest.LogBuffer{}, &deliverytest.DeadLetters{}
	out = s.Start(dir, logs, dead)
	st = out.Stats()
	deliverytest.WaitFor(t, "an attempt after the restart", func() bool { return len(s.Peer.Attempts()) > seen })
	s.Peer.Answer()
	began = time.Now()
	deliverytest.WaitFor(t, "the backlog delivered", func() bool { k, _ := out.Buffered(); return k == 0 && st.Sent.Load() == int64(n) })
	deliverytest.WaitFor(t, "the backlog received", func() bool { return stuckInOrder(t, s.Peer.Received()) >= n })
	t.Logf("the backlog arrived %v after the peer began to answer", time.Since(began))
	if got := s.Peer.Received(); len(got) > n {
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

// Doc is a Graph sign-in; %s is its id.
const Doc = `{"id":"%s","createdDateTime":"2024-03-13T19:15:41.6195833Z","userDisplayName":"Alice Admin","userPrincipalName":"adm_alice@contoso.example","userId":"26be570a-ae82-4189-b4e2-a37c6808512d","appId":"de8bc8b5-d9f9-48b1-a8ad-b748da725064","appDisplayName":"Graph explorer","ipAddress":"203.0.113.7","clientAppUsed":"IMAP4","correlationId":"d79f5bee-5860-4832-928f-3133e22ae912","conditionalAccessStatus":"notApplied","isInteractive":true,"status":{"errorCode":0},"location":{"city":"Redmond","state":"Washington","countryOrRegion":"US"}}`

// IDRe finds the record number in what a peer received of a Doc.
var IDRe = regexp.MustCompile(`stuck-(\d{6})`)

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
	return deliverytest.ConsumeAcked(ctx, out, &batch.Batch{Input: "stuck", Records: recs, JSON: js}, 1)
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

// HTTPPeer is a Peer behind an httptest server: it takes every request,
// reads it and answers none — until Answer, the test's end, or the client
// giving up. From Answer on, the requests waiting included, answer writes
// the destination's reply to the request's body and returns the record
// numbers it delivered.
type HTTPPeer struct {
	URL       string
	answer    func(w http.ResponseWriter, r *http.Request, body []byte) []int
	answering chan struct{}
	end       chan struct{}
	once      sync.Once

	mu       sync.Mutex
	arrivals []time.Time
	got      []int
}

// NewHTTPPeer starts the peer; the test's end stops it.
func NewHTTPPeer(t testing.TB, answer func(w http.ResponseWriter, r *http.Request, body []byte) []int) *HTTPPeer {
	p := &HTTPPeer{answer: answer, answering: make(chan struct{}), end: make(chan struct{})}
	srv := httptest.NewServer(p)
	p.URL = srv.URL
	t.Cleanup(srv.Close)               // after the handlers returned:
	t.Cleanup(func() { close(p.end) }) // this runs first
	return p
}

func (p *HTTPPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	ids := p.answer(w, r, body)
	p.mu.Lock()
	p.got = append(p.got, ids...)
	p.mu.Unlock()
}

func (p *HTTPPeer) Answer() { p.once.Do(func() { close(p.answering) }) }

func (p *HTTPPeer) Attempts() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.arrivals...)
}

func (p *HTTPPeer) Received() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.got...)
}
