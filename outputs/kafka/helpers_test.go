package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/synth"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

const (
	testTopic    = "privtrail.entra"
	testUser     = "privtrail"
	testPassword = "k4fka-s3cr3t-pass"
	partitions   = 6
)

func TestMain(m *testing.M) {
	// Reconnect within a test's patience: franz-go otherwise waits up to
	// 5s between metadata queries and reconnects.
	testOpts = []kgo.Opt{
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
	}
	os.Exit(m.Run())
}

func mustSecret(t testing.TB, v string) secret.Secret {
	t.Helper()
	s, err := secret.Resolve(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testCA is a CA and a certificate for 127.0.0.1 it signed, made once per
// test binary.
var testCA = sync.OnceValue(func() (ca struct {
	pem    []byte
	server tls.Certificate
}) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "privtrail test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	skey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafka"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	sDER, err := x509.CreateCertificate(rand.Reader, stmpl, caCert, &skey.PublicKey, key)
	if err != nil {
		panic(err)
	}
	ca.pem = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	ca.server = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: skey}
	return ca
})

// caFile writes the test CA to a file for tls.ca_file.
func caFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, testCA().pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// cluster is a kfake cluster and how to reach it.
type cluster struct {
	*kfake.Cluster
	addrs []string
	tls   bool
	mech  string // "" or PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512
	opts  []kfake.Opt
}

// clusterSpec says how a test cluster is set up.
type clusterSpec struct {
	tls  bool
	mech string // SASL mechanism as kfake names it; "" for none
	more []kfake.Opt
}

// secureCluster is three brokers, six partitions, TLS and SASL PLAIN.
var secureCluster = clusterSpec{tls: true, mech: "PLAIN"}

func newCluster(t testing.TB, spec clusterSpec) *cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(partitions, testTopic)}
	if spec.tls {
		opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{testCA().server}, MinVersion: tls.VersionTLS12}))
	}
	if spec.mech != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(spec.mech, testUser, testPassword))
	}
	opts = append(opts, spec.more...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &cluster{Cluster: c, addrs: c.ListenAddrs(), tls: spec.tls, mech: spec.mech, opts: opts}
}

// restart starts the cluster again on the same ports (after Close), with
// the same options plus more (kfake.DataDir keeps what it stored).
func (c *cluster) restart(t testing.TB, more ...kfake.Opt) {
	t.Helper()
	var ports []int
	for _, a := range c.addrs {
		_, p, _ := net.SplitHostPort(a)
		n, _ := strconv.Atoi(p)
		ports = append(ports, n)
	}
	opts := append(append(append([]kfake.Opt(nil), c.opts...), more...), kfake.Ports(ports...))
	var err error
	for range 50 { // the ports may linger for a moment
		var nc *kfake.Cluster
		if nc, err = kfake.NewCluster(opts...); err == nil {
			c.Cluster = nc
			t.Cleanup(nc.Close)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
}

// config is an output config for the cluster, with test-friendly delivery
// settings.
func (c *cluster) config(t testing.TB) Config {
	t.Helper()
	cfg := Config{
		Brokers: c.addrs, Topic: testTopic, Timeout: 3 * time.Second,
		Config: delivery.Config{BatchSize: 50, FlushInterval: 5 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	}
	if c.tls {
		cfg.TLS = &tlsconfig.Config{CAFile: caFile(t)}
	}
	switch c.mech {
	case "PLAIN":
		cfg.SASL = SASL{Mechanism: MechPlain, Username: testUser, Password: mustSecret(t, testPassword)}
	case "SCRAM-SHA-256":
		cfg.SASL = SASL{Mechanism: MechScramSHA256, Username: testUser, Password: mustSecret(t, testPassword)}
	case "SCRAM-SHA-512":
		cfg.SASL = SASL{Mechanism: MechScramSHA512, Username: testUser, Password: mustSecret(t, testPassword)}
	}
	return cfg
}

// consumer reads the topic from the start, as a downstream consumer would.
func (c *cluster) consumer(t testing.TB) *kgo.Client {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(c.addrs...), kgo.ConsumeTopics(testTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}
	if c.tls {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(testCA().pem)
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: pool}))
	}
	if c.mech == "PLAIN" {
		opts = append(opts, kgo.SASL(plain.Auth{User: testUser, Pass: testPassword}.AsMechanism()))
	} else if c.mech != "" {
		t.Fatalf("consumer: mechanism %s not wired", c.mech)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// readAll consumes until want records arrived, then for a short while
// more, so that a duplicate would show.
func (c *cluster) readAll(t testing.TB, want int) []*kgo.Record {
	t.Helper()
	cl := c.consumer(t)
	var out []*kgo.Record
	deadline := time.Now().Add(15 * time.Second)
	extra := time.Time{}
	for {
		if len(out) >= want && extra.IsZero() {
			extra = time.Now().Add(300 * time.Millisecond)
		}
		if !extra.IsZero() && time.Now().After(extra) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %d records of %d", len(out), want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				t.Logf("fetch %s/%d: %v", topic, p, err)
			}
		})
		out = append(out, fs.Records()...)
	}
}

// harness is an output under test.
type harness struct {
	out  *delivery.Output
	dead *deadList
	logs *logBuffer
	cfg  Config
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	h := &harness{dead: &deadList{}, logs: &logBuffer{}, cfg: cfg}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: testLogLevel}))
	out, err := New("kafka", cfg, delivery.Deps{DataDir: t.TempDir(), DeadLetters: h.dead, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	h.out = out
	t.Cleanup(func() {
		if t.Failed() && testLogLevel == slog.LevelDebug {
			t.Logf("output log:\n%s", h.logs.String())
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		out.Close(ctx)
	})
	return h
}

// consume hands recs to the output in batches of size, as the runner
// does, and checks each is acknowledged as soon as it is buffered.
func (h *harness) consume(t testing.TB, recs []*entra.Record, js [][]byte, size int) {
	t.Helper()
	for i := 0; i < len(recs); i += size {
		j := min(i+size, len(recs))
		b := &batch.Batch{Input: "test", Records: recs[i:j], JSON: js[i:j]}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		acked, err := deliverytest.ConsumeAcked(ctx, h.out, b, uint64(i/size+1))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !acked {
			t.Fatal("a buffered batch must be acknowledged")
		}
	}
}

func (h *harness) close(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.out.Close(ctx)
}

// demoRecords are n synthetic records of the demo tenant with their
// enriched JSON (synth.Decoded); some are privileged.
func demoRecords(tb testing.TB, n int) ([]*entra.Record, [][]byte) {
	tb.Helper()
	recs, _ := synth.Decoded(7, n)
	js := make([][]byte, len(recs))
	for i, rec := range recs {
		rec.Actor.Privileged = len(rec.Actor.UPN)%3 == 0
		js[i] = rec.AppendJSON(nil)
	}
	return recs, js
}

func header(r *kgo.Record, name string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == name {
			return string(h.Value), true
		}
	}
	return "", false
}

var testLogLevel = func() slog.Level {
	if os.Getenv("KAFKA_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}()

type logBuffer = deliverytest.LogBuffer

type deadList = deliverytest.DeadLetters

var waitFor = deliverytest.WaitFor
