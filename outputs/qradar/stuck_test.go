package qradar

// Stuck peers (issue 16): a destination that accepts the connection and
// never answers is timed out, retried with back-off and reported; the disk
// buffer bounds what waits, then pushes back; shutdown does not wait for
// it beyond the drain time; and once it answers, the backlog arrives.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// stuckRecords are records stuck-<from>…, each with a user display name
// of 4 KiB, which every encoding carries.
func stuckRecords(t testing.TB, from, n int) ([]*entra.Record, [][]byte) {
	t.Helper()
	var d entra.Decoder
	doc := strings.Replace(stuckDoc, `"userDisplayName":"Alice Admin"`, `"userDisplayName":"Alice `+strings.Repeat("x", 4<<10)+`"`, 1)
	recs := make([]*entra.Record, 0, n)
	for i := from; i < from+n; i++ {
		rec := &entra.Record{Origin: "stuck:" + strconv.Itoa(i)}
		if err := d.Decode(fmt.Appendf(nil, doc, fmt.Sprintf("stuck-%06d", i)), rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// stuckSyslog accepts connections and never reads them (completing the
// TLS handshake first when handshake is set) until answer; from then on
// it reads every new connection and notes the record numbers it gets.
type stuckSyslog struct {
	ln        net.Listener
	serverTLS *tls.Config
	handshake bool

	mu        sync.Mutex
	answering bool
	accepts   []time.Time
	conns     []net.Conn // every connection, for the clean-up
	held      []net.Conn
	got       []int
}

func newStuckSyslog(t testing.TB, serverTLS *tls.Config, handshake bool) *stuckSyslog {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stuckSyslog{ln: ln, serverTLS: serverTLS, handshake: handshake}
	t.Cleanup(p.close)
	go p.accept()
	return p
}

func (p *stuckSyslog) addr() string { return p.ln.Addr().String() }

func (p *stuckSyslog) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepts = append(p.accepts, time.Now())
		p.conns = append(p.conns, c)
		answering := p.answering
		if !answering {
			p.held = append(p.held, c)
		}
		p.mu.Unlock()
		switch {
		case answering:
			go p.read(c)
		case p.serverTLS != nil && p.handshake:
			go func() {
				tc := tls.Server(c, p.serverTLS)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				_ = tc.Handshake()
				tc.SetDeadline(time.Time{})
				// ... and never read again.
			}()
		}
	}
}

func (p *stuckSyslog) read(c net.Conn) {
	if p.serverTLS != nil {
		c = tls.Server(c, p.serverTLS)
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m := stuckIDRe.FindSubmatch(sc.Bytes()); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			p.mu.Lock()
			p.got = append(p.got, n)
			p.mu.Unlock()
		}
	}
}

// answer makes the receiver read from now on. The connections it held are
// closed (what sits in their buffers is cut anywhere, as after a
// receiver's restart): the sender writes the batch again on a new one.
func (p *stuckSyslog) answer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answering = true
	for _, c := range p.held {
		c.Close()
	}
	p.held = nil
}

func (p *stuckSyslog) attempts() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.accepts...)
}

func (p *stuckSyslog) received() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.got...)
}

func (p *stuckSyslog) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// A receiver that accepts and never reads, over tcp and tls (the TLS
// handshake done, or never answered). Syslog over TCP has no answer: the
// sender notices only once the kernel buffers between the two are full
// and a write blocks, so every attempt's batch is bigger than they hold
// (about 4 MiB on loopback): 10 MiB of records of over 4 KiB.
func TestStuckReceiver(t *testing.T) {
	const timeout = time.Second // the least the config takes
	certs := newCerts(t)
	cert, err := tls.LoadX509KeyPair(certs.cert, certs.key)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	cases := []struct {
		name      string
		transport string
		handshake bool
		failure   string // what the log says failed
		why       string // and why
	}{
		{name: "tcp", transport: "tcp", failure: "write to ", why: "i/o timeout"},
		{name: "tls", transport: "tls", handshake: true, failure: "write to ", why: "i/o timeout"},
		{name: "tls handshake never answered", transport: "tls", failure: "connect to ", why: "deadline exceeded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ptls *tls.Config
			if tc.transport == "tls" {
				ptls = serverTLS
			}
			peer := newStuckSyslog(t, ptls, tc.handshake)
			cfg := Config{Address: peer.addr(), Transport: tc.transport, Format: "json", Envelope: "as_read", Hostname: "collector-01", Version: "1.4.0", Timeout: timeout,
				Config: delivery.Config{BatchBytes: 16 << 20, FlushInterval: 5 * time.Millisecond, MaxBackoff: 10 * time.Second,
					Buffer: delivery.BufferConfig{MaxBytes: 24 << 20}}}
			if tc.transport == "tls" {
				cfg.TLS = &tlsconfig.Config{CAFile: certs.ca}
			}
			// Every attempt sends 10 MiB.
			recs, _ := stuckRecords(t, 0, 1)
			item, err := NewEncoder(cfg).Encode(nil, recs[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg.BatchSize = 10<<20/len(item) + 1
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
				records:    stuckRecords,
				first:      cfg.BatchSize, // the batch every attempt sends
				size:       50,
				timeout:    timeout,
				maxBytes:   int64(cfg.Buffer.MaxBytes),
				reconnects: true,
				logged:     []string{regexp.QuoteMeta(tc.failure + peer.addr()), tc.why},
			})
		})
	}
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
