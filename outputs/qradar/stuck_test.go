package qradar

// Stuck peers (issue 16): a destination that accepts the connection and
// never answers is timed out, retried with back-off and reported; the disk
// buffer bounds what waits, then pushes back; shutdown does not wait for
// it beyond the drain time; and once it answers, the backlog arrives.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
	"github.com/privtrail/privtrail/internal/delivery/stucktest"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// stuckRecords are records stuck-<from>…, each with a user display name
// of 4 KiB, which every encoding carries.
func stuckRecords(t testing.TB, from, n int) ([]*entra.Record, [][]byte) {
	t.Helper()
	var d entra.Decoder
	doc := strings.Replace(stucktest.Doc, `"userDisplayName":"Alice Admin"`, `"userDisplayName":"Alice `+strings.Repeat("x", 4<<10)+`"`, 1)
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
		if m := stucktest.IDRe.FindSubmatch(sc.Bytes()); m != nil {
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
func (p *stuckSyslog) Answer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answering = true
	for _, c := range p.held {
		c.Close()
	}
	p.held = nil
}

func (p *stuckSyslog) Attempts() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.accepts...)
}

func (p *stuckSyslog) Received() []int {
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
				Config: delivery.Config{MaxInFlight: 1, BatchBytes: 16 << 20, FlushInterval: 5 * time.Millisecond, MaxBackoff: 10 * time.Second,
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
				First:      cfg.BatchSize, // the batch every attempt sends
				Size:       50,
				Timeout:    timeout,
				MaxBytes:   int64(cfg.Buffer.MaxBytes),
				Reconnects: true,
				Logged:     []string{regexp.QuoteMeta(tc.failure + peer.addr()), tc.why},
			})
		})
	}
}
