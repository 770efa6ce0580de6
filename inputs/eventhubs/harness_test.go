package eventhubs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/logbuf"
)

const testTopic = "entra"

// env is a kfake cluster with one topic, a producer and an admin client.
type env struct {
	t      testing.TB
	c      *kfake.Cluster
	addrs  []string
	parts  int32
	copts  []kgo.Opt // SASL etc. for the producer and admin clients
	prod   *kgo.Client
	mu     sync.Mutex
	next   map[int32]int64 // next offset per partition
	msgLen map[string]int  // "p@o" → records in that message
}

func newEnv(t testing.TB, parts int32, copts []kgo.Opt, kopts ...kfake.Opt) *env {
	t.Helper()
	opts := append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(parts, testTopic), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}, kopts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := &env{t: t, c: c, addrs: c.ListenAddrs(), parts: parts, copts: copts, next: map[int32]int64{}, msgLen: map[string]int{}}
	e.prod = e.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	return e
}

func (e *env) client(opts ...kgo.Opt) *kgo.Client {
	e.t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(e.addrs...)}, e.copts...), opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.Close)
	return cl
}

// rec is one Entra-like log record with an id naming where it was produced.
func rec(id string) string {
	return fmt.Sprintf(`{"time":"2024-05-01T10:00:00Z","category":"SignInLogs","id":%q,"properties":{"userPrincipalName":"adm_alice@contoso.example"}}`, id)
}

// envelope produces the value of one Event Hubs message holding n records
// with ids "<tag>-<i>".
func envelope(tag string, n int) []byte {
	var b strings.Builder
	b.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(rec(fmt.Sprintf("%s-%d", tag, i)))
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// produceEnvelopes writes count messages of n records each to partition p
// and returns the ids of their records.
func (e *env) produceEnvelopes(p int32, count, n int) []string {
	e.t.Helper()
	var ids []string
	var values [][]byte
	for range count {
		e.mu.Lock()
		off := e.next[p] + int64(len(values))
		e.mu.Unlock()
		tag := fmt.Sprintf("p%d@%d", p, off)
		for i := range n {
			ids = append(ids, fmt.Sprintf("%s-%d", tag, i))
		}
		values = append(values, envelope(tag, n))
	}
	e.produce(p, n, values...)
	return ids
}

func (e *env) produce(p int32, n int, values ...[]byte) {
	e.t.Helper()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: testTopic, Partition: p, Value: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
	e.mu.Lock()
	for _, r := range recs {
		e.msgLen[fmt.Sprintf("%d@%d", p, r.Offset)] = n
		if r.Offset+1 > e.next[p] {
			e.next[p] = r.Offset + 1
		}
	}
	e.mu.Unlock()
}

func (e *env) ends() map[int32]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := map[int32]int64{}
	for p, o := range e.next {
		m[p] = o
	}
	return m
}

// committed asks the broker for the group's committed offsets (partitions
// without one are left out).
func (e *env) committed(admin *kgo.Client, group string) map[int32]int64 {
	e.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic = testTopic
	for p := range e.parts {
		rt.Partitions = append(rt.Partitions, p)
	}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	req.Group = group
	rt0 := kmsg.NewOffsetFetchRequestTopic()
	rt0.Topic = testTopic
	rt0.Partitions = rt.Partitions
	req.Topics = append(req.Topics, rt0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, admin)
	if err != nil {
		e.t.Fatalf("offset fetch: %v", err)
	}
	out := map[int32]int64{}
	add := func(p int32, off int64, code int16) {
		if code != 0 {
			e.t.Fatalf("offset fetch partition %d: error %d", p, code)
		}
		if off >= 0 {
			out[p] = off
		}
	}
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				add(p.Partition, p.Offset, p.ErrorCode)
			}
		}
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			add(p.Partition, p.Offset, p.ErrorCode)
		}
	}
	return out
}

// fastGroup makes group changes take milliseconds instead of seconds.
func fastGroup() []kgo.Opt {
	return []kgo.Opt{
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.SessionTimeout(3 * time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
	}
}

func (e *env) input(name, group string, logs *logbuf.Buffer, mod func(*Config)) *Input {
	e.t.Helper()
	cfg := Config{Brokers: e.addrs, Topics: []string{testTopic}, ConsumerGroup: group, BatchSize: 50, MaxWait: 100 * time.Millisecond, RebalanceWait: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	if logs == nil {
		logs = &logbuf.Buffer{}
	}
	in, err := New(name, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	in.extra = fastGroup()
	return in
}

// sink stands in for the runner: it keeps every batch and, when auto is
// set, commits them in emission order after delay.
type sink struct {
	mu      sync.Mutex
	batches []*batch.Batch
	items   []batch.Item
	acks    chan *batch.Batch
	errs    []error
	auto    bool
	delay   time.Duration
	done    chan struct{}
}

func newSink(t testing.TB, auto bool, delay time.Duration) *sink {
	s := &sink{auto: auto, delay: delay, acks: make(chan *batch.Batch, 100000), done: make(chan struct{})}
	if auto {
		go func() {
			defer close(s.done)
			for b := range s.acks {
				time.Sleep(s.delay)
				if err := b.Commit(); err != nil {
					s.mu.Lock()
					s.errs = append(s.errs, err)
					s.mu.Unlock()
				}
			}
		}()
		t.Cleanup(func() { close(s.acks); <-s.done })
	}
	return s
}

func (s *sink) emit(ctx context.Context, b *batch.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.batches = append(s.batches, b)
	s.items = append(s.items, b.Items...)
	s.mu.Unlock()
	if s.auto {
		s.acks <- b
	}
	return nil
}

func (s *sink) snapshot() ([]*batch.Batch, []batch.Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*batch.Batch(nil), s.batches...), append([]batch.Item(nil), s.items...)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// start runs in until the returned stop is called (or the test ends).
func start(t testing.TB, in *Input, emit func(context.Context, *batch.Batch) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, emit) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("Run did not return 30s after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// itemID returns the id field of an item's record.
func itemID(t testing.TB, it batch.Item) string {
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(it.Data, &r); err != nil {
		t.Fatalf("item %s: %v: %q", it.Origin, err, it.Data)
	}
	return r.ID
}

// parseOrigin splits "eventhubs:<topic>/<partition>@<offset>[#<i>]".
func parseOrigin(t testing.TB, origin string) (topic string, partition int32, offset int64, index int) {
	t.Helper()
	rest, ok := strings.CutPrefix(origin, "eventhubs:")
	topic, rest, ok2 := strings.Cut(rest, "/")
	ps, rest, ok3 := strings.Cut(rest, "@")
	os, is, hasIndex := strings.Cut(rest, "#")
	p, err1 := strconv.Atoi(ps)
	o, err2 := strconv.ParseInt(os, 10, 64)
	index = -1
	var err3 error
	if hasIndex {
		index, err3 = strconv.Atoi(is)
	}
	if !ok || !ok2 || !ok3 || err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("origin %q", origin)
	}
	return topic, int32(p), o, index
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
