package qradar

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/tlsconfig"
)

func mustTLS(t testing.TB, c *tlsconfig.Config) *tls.Config {
	t.Helper()
	tc, err := c.Build("test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// lineServer is a Go syslog receiver (LF framing) for the tests that must
// run without rsyslogd: it can drop its connections and stop listening.
type lineServer struct {
	t     testing.TB
	addr  string
	tls   *tls.Config
	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	lines []string
	// closeAfter closes each connection after it delivered this many
	// lines (a receiver with an idle timeout, a load balancer).
	closeAfter int
}

func newLineServer(t testing.TB, tc *tls.Config, addr string) *lineServer {
	s := &lineServer{t: t, tls: tc, addr: addr}
	s.listen()
	t.Cleanup(s.shutdown)
	return s
}

func (s *lineServer) listen() {
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 100 { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.mu.Lock()
	s.ln, s.addr = ln, ln.Addr().String()
	s.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go s.read(c)
		}
	}()
}

func (s *lineServer) read(c net.Conn) {
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		s.mu.Lock()
		s.lines = append(s.lines, sc.Text())
		s.mu.Unlock()
		n++
		if s.closeAfter > 0 && n == s.closeAfter {
			c.Close()
			return
		}
	}
}

// shutdown stops listening and drops every connection.
func (s *lineServer) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *lineServer) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func (s *lineServer) waitFor(n int) []string {
	s.t.Helper()
	waitUntil(s.t, func() bool { return len(s.got()) >= n })
	time.Sleep(50 * time.Millisecond)
	return s.got()
}

// checkOnce checks every record's message arrived exactly once.
func checkOnce(t testing.TB, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("received %d messages for %d records", len(got), n)
	}
	seen := map[string]bool{}
	for _, line := range got {
		id := parseLEEF(t, parseSyslog(t, line).msg).attrs["recordId"]
		if seen[id] {
			t.Fatalf("%s received twice", id)
		}
		seen[id] = true
	}
}

func TestTLSVerification(t *testing.T) {
	c := newCerts(t)
	cert, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		t.Fatal(err)
	}
	srv := newLineServer(t, &tls.Config{Certificates: []tls.Certificate{cert}}, "")

	// Verification is on by default: the test CA is not trusted.
	cl := newClient(testConfig(func(cf *Config) { cf.Address = srv.addr; cf.Transport = "tls" }), mustTLS(t, nil), quietLog())
	defer cl.Close()
	if res := cl.Send(context.Background(), [][]byte{[]byte("<134>1 - - - - - - x\n")}); res.Err == nil || !strings.Contains(res.Err.Error(), "certificate") {
		t.Fatalf("an untrusted receiver was accepted: %v", res.Err)
	}

	// With ca_file it delivers; the name checked is the address's host.
	out, _ := startOutput(t, Config{Address: srv.addr, Transport: "tls", TLS: &tlsconfig.Config{CAFile: c.ca}}, &deadLetters{})
	recs := testRecords(t, 20)
	consume(t, out, recs, 8, false)
	checkOnce(t, srv.waitFor(20), 20)

	// A wrong server_name fails verification.
	cl2 := newClient(testConfig(func(cf *Config) { cf.Address = srv.addr; cf.Transport = "tls" }), mustTLS(t, &tlsconfig.Config{CAFile: c.ca, ServerName: "qradar.example"}), quietLog())
	defer cl2.Close()
	if res := cl2.Send(context.Background(), [][]byte{[]byte("x\n")}); res.Err == nil {
		t.Fatal("a certificate for another name was accepted")
	}
}

// The receiver closes idle connections (QRadar, a load balancer): the
// next batch goes out on a new connection, none is written into the
// closed one and lost.
func TestReceiverClosesConnection(t *testing.T) {
	srv := newLineServer(t, nil, "")
	srv.closeAfter = 10
	out, _ := startOutput(t, Config{Address: srv.addr}, &deadLetters{})
	recs := testRecords(t, 50)
	for i := 0; i < 50; i += 10 {
		consume(t, out, recs[i:i+10], 10, false)
		srv.waitFor(i + 10)
		time.Sleep(20 * time.Millisecond) // the close reaches the client
	}
	checkOnce(t, srv.got(), 50)
	if r := out.Stats().Retries.Load(); r != 0 {
		t.Errorf("%d retries: the closed connection was written to", r)
	}
}

// The receiver goes away and comes back on the same address (the Go
// twin of TestRsyslogKilledAndRestarted, for machines without rsyslogd).
func TestReceiverDownThenBack(t *testing.T) {
	srv := newLineServer(t, nil, "")
	out, _ := startOutput(t, Config{Address: srv.addr}, &deadLetters{})
	recs := testRecords(t, 60)
	consume(t, out, recs[:30], 10, false)
	srv.waitFor(30)
	srv.shutdown()
	time.Sleep(30 * time.Millisecond)
	consume(t, out, recs[30:], 10, false)
	waitUntil(t, func() bool { return out.Stats().Retries.Load() >= 2 })
	if n, _ := out.Buffered(); n == 0 {
		t.Fatal("nothing buffered while the receiver is down")
	}
	srv.listen()
	checkOnce(t, srv.waitFor(60), 60)
}

func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var mu sync.Mutex
	var got []string
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, string(buf[:n]))
			mu.Unlock()
		}
	}()
	dead := &deadLetters{}
	out, cl := startOutput(t, Config{Address: pc.LocalAddr().String(), Transport: "udp", MaxUDPBytes: 1000}, dead)
	recs := testRecords(t, 3) // the sign-in with hits is over 1000 bytes
	consume(t, out, recs, 3, false)
	waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
	mu.Lock()
	for _, d := range got {
		if strings.HasSuffix(d, "\n") {
			t.Errorf("datagram ends in LF: %q", d)
		}
		parseLEEF(t, parseSyslog(t, d).msg)
	}
	mu.Unlock()
	if d := dead.list(); len(d) != 1 || !strings.Contains(d[0], "max_udp_bytes (1000)") {
		t.Fatalf("dead letters: %q", d)
	}
	// The sender refuses an oversized item too (buffered under a larger
	// limit by an earlier run).
	res := cl.Send(context.Background(), [][]byte{[]byte("<134>1 - - - - - - small"), make([]byte, 1001)})
	if res.Err != nil || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 {
		t.Fatalf("result %+v", res)
	}
}

func TestSendHonoursContext(t *testing.T) {
	// A receiver that accepts but never reads: writes block once the
	// socket buffers are full; cancelling must end Send promptly.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(10 * time.Second)
		}
	}()
	cl := newClient(testConfig(func(c *Config) { c.Address = ln.Addr().String() }), nil, quietLog())
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	big := make([][]byte, 64)
	for i := range big {
		big[i] = make([]byte, 1<<20)
	}
	start := time.Now()
	res := cl.Send(ctx, big)
	if res.Err == nil {
		t.Fatal("64 MiB written to a receiver that reads nothing")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Send took %v after its context ended", d)
	}
}
