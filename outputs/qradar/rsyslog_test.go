package qradar

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
	"github.com/privtrail/privtrail/internal/rsyslogd"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// A real rsyslogd stands in for QRadar: it listens on loopback and writes
// every message it receives, raw, one per line, plus the RFC 5424 header
// fields as it parsed them. CI installs rsyslog (.ci/run).

func rsyslogdPath(t testing.TB) string {
	p := rsyslogd.Path()
	if p == "" {
		t.Skip("rsyslogd is not installed (/usr/sbin/rsyslogd): install rsyslog (apt-get install -y rsyslog rsyslog-gnutls) to run the real-receiver tests; CI does")
	}
	return p
}

// gtlsAvailable reports whether rsyslog's GnuTLS stream driver is installed.
func gtlsAvailable() bool {
	for _, pattern := range []string{"/usr/lib/*/rsyslog/lmnsd_gtls.so", "/usr/lib/rsyslog/lmnsd_gtls.so", "/usr/lib64/rsyslog/lmnsd_gtls.so"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return true
		}
	}
	return false
}

type rsyslog struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	tls     *certs
	proc    *rsyslogd.Process
	stopped bool
	seen    int   // messages counted so far
	offset  int64 // bytes of raw.log counted
}

// startRsyslog starts rsyslogd on a free loopback port (or port, when not
// 0), with TLS when c is set.
func startRsyslog(t testing.TB, c *certs) *rsyslog {
	t.Helper()
	r := &rsyslog{t: t, bin: rsyslogdPath(t), dir: t.TempDir(), tls: c}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *rsyslog) rawPath() string    { return filepath.Join(r.dir, "raw.log") }
func (r *rsyslog) fieldsPath() string { return filepath.Join(r.dir, "fields.log") }
func (r *rsyslog) addr() string       { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

func (r *rsyslog) start() {
	t := r.t
	t.Helper()
	portFile := rsyslogd.PortFile(r.dir)
	global := fmt.Sprintf(`workDirectory=%q maxMessageSize="256k" parser.escapeControlCharactersOnReceive="off"`, r.dir)
	module := `module(load="imtcp")`
	if r.tls != nil {
		global += fmt.Sprintf(` defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q`,
			r.tls.ca, r.tls.cert, r.tls.key)
		module = `module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")`
	}
	conf := fmt.Sprintf(`global(%s)
%s
template(name="raw" type="string" string="%%rawmsg%%\n")
template(name="fields" type="string" string="%%protocol-version%% %%pri%% %%timereported:::date-rfc3339%% %%hostname%% %%app-name%% %%procid%% %%msgid%% %%structured-data%%\n")
ruleset(name="received") {
  action(type="omfile" file=%q template="raw")
  action(type="omfile" file=%q template="fields")
}
input(type="imtcp" port="%d" listenPortFileName=%q ruleset="received")
`, global, module, r.rawPath(), r.fieldsPath(), r.port, portFile)
	proc, err := rsyslogd.Start(r.bin, r.dir, conf, r.port)
	if err != nil {
		t.Fatal(err)
	}
	r.proc, r.port, r.stopped = proc, proc.Port, false
}

// stop ends rsyslogd gracefully (it writes what it received first).
func (r *rsyslog) stop() { r.signal(syscall.SIGTERM) }

// kill ends rsyslogd at once, as a crash would.
func (r *rsyslog) kill() { r.signal(syscall.SIGKILL) }

func (r *rsyslog) signal(sig syscall.Signal) {
	if r.stopped || r.proc == nil {
		return
	}
	r.stopped = true
	r.proc.Signal(sig)
}

// received returns the raw messages rsyslogd wrote so far.
func (r *rsyslog) received() []string {
	b, err := os.ReadFile(r.rawPath())
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	return lines[:len(lines)-1]
}

// count counts the messages in raw.log, reading only what is new.
func (r *rsyslog) count() int {
	f, err := os.Open(r.rawPath())
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.ReadAt(buf, r.offset)
		r.seen += bytes.Count(buf[:n], []byte("\n"))
		r.offset += int64(n)
		if err != nil {
			return r.seen
		}
	}
}

// waitFor waits until n messages arrived (and a moment more, to see any
// extra one).
func (r *rsyslog) waitFor(n int) []string {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if got := r.count(); got >= n {
			time.Sleep(100 * time.Millisecond)
			return r.received()
		} else if time.Now().After(deadline) {
			r.t.Fatalf("rsyslogd received %d of %d messages\n%s", got, n, r.proc.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type deadLetters struct {
	mu      sync.Mutex
	reasons []string
}

func (d *deadLetters) Write(_, _, reason string, _ []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons = append(d.reasons, reason)
	return nil
}

func (d *deadLetters) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.reasons...)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startOutput runs the output the agent would, with short timers.
func startOutput(t testing.TB, cfg Config, dead *deadLetters) (*delivery.Output, *client) {
	t.Helper()
	if cfg.Hostname == "" {
		cfg.Hostname = "collector-01"
	}
	cfg.Version = "1.4.0"
	cfg.FlushInterval = 5 * time.Millisecond
	cfg.MaxBackoff = 200 * time.Millisecond
	cfg.Timeout = 5 * time.Second
	out, cl, err := newOutput("qradar", cfg, delivery.Deps{DataDir: t.TempDir(), DeadLetters: dead, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out.Close(ctx)
		cl.Close()
	})
	return out, cl
}

// testRecords returns n records cycling through the golden cases, each
// with its own record ID; every seventh carries the hostile user name.
func testRecords(t testing.TB, n int) []*entra.Record {
	recs := make([]*entra.Record, n)
	for i := range recs {
		r := goldenCases[i%len(goldenCases)].record(t)
		r.ID = fmt.Sprintf("rec-%05d", i)
		if i%7 == 3 {
			r.Actor.UPN = hostileUPN
			r.Actor.DisplayName = "Eve \"=\" | \r\n<13>1 forged"
			if len(r.Hits) > 0 {
				r.Hits[0].Reason = "upn=" + hostileUPN
			}
		}
		recs[i] = r
	}
	return recs
}

var seq uint64

// consume hands the records to the output in batches, as the runner does,
// and checks each batch is acknowledged.
func consume(t testing.TB, out *delivery.Output, recs []*entra.Record, size int, withJSON bool) {
	t.Helper()
	for i := 0; i < len(recs); i += size {
		b := &batch.Batch{Input: "test", Records: recs[i:min(i+size, len(recs))]}
		if withJSON {
			for _, r := range b.Records {
				b.JSON = append(b.JSON, r.AppendJSON(nil))
			}
		}
		seq++
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		acked, err := deliverytest.ConsumeAcked(ctx, out, b, seq)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !acked {
			t.Fatal("batch not acknowledged once buffered")
		}
	}
}

// checkReceived checks that rsyslogd got every record exactly once, each
// message byte for byte as encoded, with its RFC 5424 header parsed.
func checkReceived(t testing.TB, r *rsyslog, cfg Config, recs []*entra.Record) {
	t.Helper()
	got := r.waitFor(len(recs))
	if len(got) != len(recs) {
		t.Fatalf("received %d messages for %d records", len(got), len(recs))
	}
	cfg.Hostname, cfg.Version = "collector-01", "1.4.0"
	cfg.Defaults()
	cfg.Framing, cfg.Transport = "octet-counting", "tcp" // unframed message = what rsyslog's rawmsg holds
	enc := NewEncoder(cfg)
	// Messages can repeat (JSON mode: the same document in several
	// records), so match them as a multiset.
	want := map[string][]int{}
	for i, rec := range recs {
		m := string(mustEncode(t, enc, rec, nil))
		m = m[strings.IndexByte(m, ' ')+1:]
		want[m] = append(want[m], i)
	}
	for _, line := range got {
		idx := want[line]
		if len(idx) == 0 {
			t.Fatalf("received a message privtrail did not send, or one twice: %q", line)
		}
		i := idx[0]
		want[line] = idx[1:]
		s := parseSyslog(t, line)
		if cfg.Format == "leef" {
			ev := parseLEEF(t, s.msg)
			twin := *recs[i]
			twin.Actor.UPN, twin.Actor.DisplayName = "x", "x"
			twinEv := parseLEEF(t, parseSyslog(t, strings.TrimSuffix(string(mustEncode(t, NewEncoder(testConfig(nil)), &twin, nil)), "\n")).msg)
			if strings.Join(ev.keys, ",") != strings.Join(twinEv.keys, ",") {
				t.Fatalf("record %d: attributes %q, want %q", i, ev.keys, twinEv.keys)
			}
			if ev.attrs["recordId"] != recs[i].ID || ev.attrs["usrName"] != string(enc.appendValue(nil, recs[i].Actor.UPN)) {
				t.Fatalf("record %d: %v", i, ev.attrs)
			}
		}
	}
	// rsyslog parsed every header as RFC 5424.
	fields, err := os.ReadFile(r.fieldsPath())
	if err != nil {
		t.Fatal(err)
	}
	// The MSGID is the record's stream.
	streams := map[string]bool{}
	for _, rec := range recs {
		streams[string(rec.Stream)] = true
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(fields), "\n"), "\n") {
		f := strings.Fields(l)
		if len(f) != 8 || f[0] != "1" || f[3] != "collector-01" || f[4] != "privtrail" || f[5] != "-" || !streams[f[6]] || f[7] != "-" {
			t.Fatalf("rsyslog parsed the header as %q", l)
		}
	}
}

func TestRsyslogLEEF(t *testing.T) {
	for _, framing := range []string{"lf", "octet-counting"} {
		t.Run(framing, func(t *testing.T) {
			r := startRsyslog(t, nil)
			cfg := Config{Address: r.addr(), Framing: framing}
			dead := &deadLetters{}
			out, _ := startOutput(t, cfg, dead)
			recs := testRecords(t, 210)
			consume(t, out, recs, 50, false)
			checkReceived(t, r, cfg, recs)
			if d := dead.list(); len(d) > 0 {
				t.Fatalf("dead letters: %v", d)
			}
			// The hostile user name forged nothing: no line starts where it
			// tried to start one, and its attribute is intact.
			for _, line := range r.received() {
				if strings.HasPrefix(line, "<13>") || strings.Contains(line, "\tusrName=admin") {
					t.Fatalf("forged: %q", line)
				}
			}
		})
	}
}

func TestRsyslogJSON(t *testing.T) {
	r := startRsyslog(t, nil)
	cfg := Config{Address: r.addr(), Format: "json"}
	out, _ := startOutput(t, cfg, &deadLetters{})
	recs := testRecords(t, 30)
	consume(t, out, recs, 10, true)
	checkReceived(t, r, cfg, recs)
}

func TestRsyslogTLS(t *testing.T) {
	c := newCerts(t)
	if !gtlsAvailable() {
		t.Skip("rsyslog's gtls driver (rsyslog-gnutls) is not installed; TLS is tested against a Go listener in TestTLSVerification")
	}
	for _, framing := range []string{"lf", "octet-counting"} {
		t.Run(framing, func(t *testing.T) {
			r := startRsyslog(t, c)
			cfg := Config{Address: r.addr(), Transport: "tls", Framing: framing, TLS: &tlsconfig.Config{CAFile: c.ca}}
			out, _ := startOutput(t, cfg, &deadLetters{})
			recs := testRecords(t, 40)
			consume(t, out, recs, 15, false)
			checkReceived(t, r, cfg, recs)

			// Verification is on: without the CA the receiver is refused.
			cl := newClient(testConfig(func(cf *Config) { cf.Address = r.addr(); cf.Transport = "tls" }), mustTLS(t, nil), quietLog())
			defer cl.Close()
			if res := cl.Send(context.Background(), [][]byte{[]byte("<134>1 - - - - - - x\n")}); res.Err == nil || !strings.Contains(res.Err.Error(), "certificate") {
				t.Fatalf("an untrusted receiver was accepted: %v", res.Err)
			}
		})
	}
}

// The receiver dies between batches; what the agent produces meanwhile
// waits in the disk buffer and arrives, once, after it comes back.
func TestRsyslogKilledAndRestarted(t *testing.T) {
	r := startRsyslog(t, nil)
	cfg := Config{Address: r.addr()}
	out, _ := startOutput(t, cfg, &deadLetters{})
	recs := testRecords(t, 200)
	consume(t, out, recs[:100], 25, false)
	r.waitFor(100)

	r.kill()
	time.Sleep(50 * time.Millisecond) // the FIN reaches the client
	consume(t, out, recs[100:], 25, false)
	waitUntil(t, func() bool { return out.Stats().Retries.Load() >= 2 })
	if n, _ := out.Buffered(); n == 0 {
		t.Fatal("nothing buffered while the receiver is down")
	}
	if got := len(r.received()); got != 100 {
		t.Fatalf("%d messages while the receiver was down", got)
	}

	r.start() // same port, same files
	checkReceived(t, r, cfg, recs)
	waitUntil(t, func() bool { n, _ := out.Buffered(); return n == 0 })
}

func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkRsyslog measures records/s from Consume to rsyslogd's file.
func BenchmarkRsyslog(b *testing.B) {
	for _, framing := range []string{"lf", "octet-counting"} {
		b.Run(framing, func(b *testing.B) {
			r := startRsyslog(b, nil)
			cfg := Config{Address: r.addr(), Framing: framing}
			cfg.BatchSize = 1000
			out, _ := startOutput(b, cfg, &deadLetters{})
			pool := testRecords(b, 1000)
			b.ResetTimer()
			start := time.Now()
			for sent := 0; sent < b.N; sent += len(pool) {
				consume(b, out, pool[:min(len(pool), b.N-sent)], 1000, false)
			}
			for r.count() < b.N {
				time.Sleep(5 * time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkRsyslogSender measures the sender alone (no disk buffer):
// encoded messages written in batches of 1000 to rsyslogd.
func BenchmarkRsyslogSender(b *testing.B) {
	r := startRsyslog(b, nil)
	cfg := testConfig(func(c *Config) { c.Address = r.addr() })
	cl := newClient(cfg, nil, quietLog())
	defer cl.Close()
	enc := NewEncoder(cfg)
	var items [][]byte
	for _, rec := range testRecords(b, 1000) {
		items = append(items, mustEncode(b, enc, rec, nil))
	}
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; sent += len(items) {
		if res := cl.Send(context.Background(), items[:min(len(items), b.N-sent)]); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	for r.count() < b.N {
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

type certs struct{ ca, cert, key string }

// newCerts writes a CA and a server certificate for 127.0.0.1/localhost.
func newCerts(t testing.TB) *certs {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "privtrail test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	c := &certs{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	for path, block := range map[string]*pem.Block{
		c.ca: {Type: "CERTIFICATE", Bytes: caDER}, c.cert: {Type: "CERTIFICATE", Bytes: der}, c.key: {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}
