package kafka

// Stuck peers (issue 16): a destination that accepts the connection and
// never answers is timed out, retried with back-off and reported; the disk
// buffer bounds what waits, then pushes back; shutdown does not wait for
// it beyond the drain time; and once it answers, the backlog arrives.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/delivery/deliverytest"
	"github.com/privtrail/privtrail/internal/delivery/stucktest"
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

// stuckBroker is the seed broker's address: it accepts connections and
// never reads them, until answer; from then on it passes every
// connection, those it held included (with the requests waiting in them),
// through to a kfake broker, whose topic tells what was delivered.
type stuckBroker struct {
	ln      net.Listener
	cluster *kfake.Cluster
	topic   string

	mu        sync.Mutex
	answering bool
	accepts   []time.Time
	held      []net.Conn
	conns     []net.Conn // every connection, for the clean-up
	consumer  *kgo.Client
	got       []int
}

func newStuckBroker(t testing.TB, topic string) *stuckBroker {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	p := &stuckBroker{ln: ln, cluster: c, topic: topic}
	t.Cleanup(p.close)
	go p.accept()
	return p
}

func (p *stuckBroker) addr() string { return p.ln.Addr().String() }

func (p *stuckBroker) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepts = append(p.accepts, time.Now())
		p.conns = append(p.conns, c)
		if p.answering {
			go p.pipe(c)
		} else {
			p.held = append(p.held, c)
		}
		p.mu.Unlock()
	}
}

// pipe passes c through to the kfake broker.
func (p *stuckBroker) pipe(c net.Conn) {
	b, err := net.Dial("tcp", p.cluster.ListenAddrs()[0])
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, b)
	p.mu.Unlock()
	go func() { io.Copy(b, c); b.Close() }()
	io.Copy(c, b)
	c.Close()
}

func (p *stuckBroker) Answer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answering = true
	for _, c := range p.held {
		go p.pipe(c)
	}
	p.held = nil
}

func (p *stuckBroker) Attempts() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.accepts...)
}

// received reads on in the topic (it is polled until everything came).
func (p *stuckBroker) Received() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.consumer == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.cluster.ListenAddrs()...), kgo.ConsumeTopics(p.topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
		if err != nil {
			panic(err)
		}
		p.consumer = cl
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	for _, r := range p.consumer.PollFetches(ctx).Records() {
		if m := stucktest.IDRe.FindSubmatch(r.Value); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			p.got = append(p.got, n)
		}
	}
	return append([]int(nil), p.got...)
}

func (p *stuckBroker) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	if p.consumer != nil {
		p.consumer.Close()
	}
	p.mu.Unlock()
	p.cluster.Close()
}

// A broker that accepts the connection and never answers a request:
// franz-go never learns the topic's partitions, so an attempt's records
// fail after timeout (the record delivery timeout) and the attempt is
// retried; and the rest of the scenario.
func TestStuckBroker(t *testing.T) {
	const timeout = time.Second // the least the config takes
	peer := newStuckBroker(t, testTopic)
	cfg := Config{Brokers: []string{peer.addr()}, Topic: testTopic, Timeout: timeout,
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
		Records:  stuckRecords,
		First:    cfg.BatchSize,
		Size:     5, // small, so that the buffer pushes back past the 90% Health reports
		Timeout:  timeout,
		MaxBytes: int64(cfg.Buffer.MaxBytes),
		Logged:   []string{`err="kafka: topic ` + regexp.QuoteMeta(testTopic) + `: [^"]*timed out`},
	})
}
