// Package outputbench measures each SIEM output against an in-process
// stand-in for its destination over the same records: the output without
// its disk buffer (the output's encoder over the records, timed, then its
// Sender on the encoded batches one after the other) and the whole output
// (runner batches through Consume, the fsynced disk buffer and the
// sender) until the peer has every record. The ratio of the two is what
// the disk buffer and the delivery machinery cost; the sender alone on
// pre-encoded batches and the encoder's time per record are reported
// beside it, so that what encoding costs is seen, not hidden.
// `privtrail bench -outputs` prints them, and the package's test checks
// on a small count that nothing is lost on the way.
package outputbench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/synth"
	"github.com/privtrail/privtrail/outputs/elastic"
	"github.com/privtrail/privtrail/outputs/kafka"
	"github.com/privtrail/privtrail/outputs/qradar"
	"github.com/privtrail/privtrail/outputs/splunk"
)

// What every kind is measured with.
const (
	// RunnerBatch is the runner's batch: what one Consume hands over.
	RunnerBatch = 1000
	// AckLatency is how long the HEC peer takes to index a request before
	// its ackId reads true, and AckPoll the output's polling interval.
	AckLatency = 20 * time.Millisecond
	AckPoll    = 10 * time.Millisecond
)

// Kinds are the measurable outputs and settings.
var Kinds = []string{"splunk", "splunk-gzip", "splunk-ack", "elastic", "kafka", "qradar"}

// Result is one kind's measurement.
type Result struct {
	Kind    string
	Records int
	// Peer is what stood in for the destination.
	Peer string
	// Settings are what the kind ran with (gzip, ack latency, batch
	// size, requests in flight, …), for the report.
	Settings string
	// Records per second: SenderAlone sends pre-encoded batches one
	// after the other; EncodeAndSend adds the time the output's encoder
	// took to encode them (the output without its disk buffer, what
	// EndToEnd is compared with); EndToEnd is the whole output.
	SenderAlone, EncodeAndSend, EndToEnd float64
	// Encoding is the encoder's time per record.
	Encoding time.Duration
	// Missing counts records the peer did not get end to end, Extra the
	// ones it got more often than they were sent (resends: delivery is at
	// least once).
	Missing, Extra int64
}

// Ratio is end to end over encoding and sending without the disk buffer:
// what the buffer and the delivery machinery cost.
func (r Result) Ratio() float64 {
	if r.EncodeAndSend == 0 {
		return 0
	}
	return r.EndToEnd / r.EncodeAndSend
}

// SenderRatio is end to end over the sender alone with pre-encoded
// batches: the encoder's cost included.
func (r Result) SenderRatio() float64 {
	if r.SenderAlone == 0 {
		return 0
	}
	return r.EndToEnd / r.SenderAlone
}

func (r Result) String() string {
	return fmt.Sprintf("%-12s %7d records  encode+send %8.0f/s  end to end %8.0f/s  (%.2f×)  sender alone %8.0f/s (%.2f×)  encoding %.1fµs/record  missing %d extra %d  [%s; %s]",
		r.Kind, r.Records, r.EncodeAndSend, r.EndToEnd, r.Ratio(), r.SenderAlone, r.SenderRatio(), float64(r.Encoding.Nanoseconds())/1000, r.Missing, r.Extra, r.Settings, r.Peer)
}

// Run measures kind with records synthetic records (rounded up to whole
// runner batches); the disk buffers go under dir, which should be on the
// disk a deployment would use (not a tmpfs).
func Run(ctx context.Context, kind string, records int, dir string) (Result, error) {
	records = max(RunnerBatch, (records+RunnerBatch-1)/RunnerBatch*RunnerBatch)
	recs, js := synth.Decoded(1, records)
	k, err := setUp(kind, dir)
	if err != nil {
		return Result{}, err
	}
	defer k.close()
	res := Result{Kind: kind, Records: records, Peer: k.peer, Settings: k.settings}

	// Every record's key as the peer will see it, counted: the synthetic
	// stream may hold the same document twice.
	want := map[uint64]int32{}
	enc := k.enc
	// Encoded as the output does it: one buffer per batch, sized from the
	// records' JSON, items slices of it.
	encodeAll := func() ([][][]byte, error) {
		batches := make([][][]byte, 0, records/k.cfg.BatchSize+1)
		var buf []byte
		var ends []int
		for i, rec := range recs {
			if len(ends) == 0 {
				size := 0
				for _, j := range js[i:min(i+k.cfg.BatchSize, len(js))] {
					size += len(j) + 512
				}
				buf = make([]byte, 0, size)
			}
			var err error
			if buf, err = enc.Encode(buf, rec, js[i]); err != nil {
				return nil, fmt.Errorf("encode record %d: %w", i, err)
			}
			ends = append(ends, len(buf))
			if len(ends) == k.cfg.BatchSize || i == len(recs)-1 {
				items := make([][]byte, len(ends))
				from := 0
				for j, end := range ends {
					items[j] = buf[from:end:end]
					from = end
				}
				batches = append(batches, items)
				ends = ends[:0]
			}
		}
		return batches, nil
	}
	// Once untimed (the encoder's caches, the heap's first growth to hold
	// the encoded batches), then timed: the reference is encoding plus
	// sending, the output without its disk buffer. Each timed phase starts
	// from a collected heap: the harness holds every record (~1.5 GB for
	// 100,000, which an agent never does), and collecting what generating
	// them, or the phase before, left would land on whichever phase ran
	// into it (encoding read 3.9 to 21 µs a record between runs).
	if _, err := encodeAll(); err != nil {
		return res, err
	}
	runtime.GC()
	start := time.Now()
	batches, err := encodeAll()
	if err != nil {
		return res, err
	}
	encoding := time.Since(start)
	res.Encoding = encoding / time.Duration(records)
	for _, items := range batches {
		for _, item := range items {
			want[k.keyOf(item)]++
		}
	}

	// A few batches first, untimed: the first requests (connections,
	// templates, metadata) and the heap's growth after generating the
	// records are no part of either figure.
	if err := k.phase(ctx, "warmup"); err != nil {
		return res, err
	}
	for _, b := range batches[:min(len(batches), 4)] {
		if r := k.sender.Send(ctx, b); r.Err != nil {
			return res, fmt.Errorf("%s: warm-up: %v", kind, r.Err)
		}
	}
	runtime.GC()

	// Sender alone.
	if err := k.phase(ctx, "sender"); err != nil {
		return res, err
	}
	start = time.Now()
	for _, b := range batches {
		if r := k.sender.Send(ctx, b); r.Err != nil || len(r.Retry) > 0 || len(r.Rejected) > 0 {
			return res, fmt.Errorf("%s: sender alone: %+v", kind, r)
		}
	}
	if err := k.wait(ctx, int64(records), nil); err != nil {
		return res, fmt.Errorf("%s: sender alone: %w", kind, err)
	}
	sending := time.Since(start)
	res.SenderAlone = float64(records) / sending.Seconds()
	res.EncodeAndSend = float64(records) / (encoding + sending).Seconds()
	if c, ok := k.sender.(io.Closer); ok {
		c.Close()
	}

	// End to end.
	if err := k.phase(ctx, "output"); err != nil {
		return res, err
	}
	dead := &deadLetters{}
	out, err := k.output(delivery.Deps{DataDir: filepath.Join(dir, kind), DeadLetters: dead, Log: quiet})
	if err != nil {
		return res, err
	}
	acked := make(chan uint64, records/RunnerBatch)
	runtime.GC()
	start = time.Now()
	for i := 0; i < len(recs); i += RunnerBatch {
		j := min(i+RunnerBatch, len(recs))
		b := &batch.Batch{Input: "bench", Records: recs[i:j], JSON: js[i:j]}
		b.Arm(uint64(i/RunnerBatch+1), 1, func(seq uint64) { acked <- seq })
		for {
			err := out.Consume(ctx, b)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				out.Close(context.Background())
				return res, err
			}
			time.Sleep(100 * time.Millisecond) // as the runner does
		}
	}
	err = k.wait(ctx, int64(records), out)
	el := time.Since(start)
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cerr := out.Close(cctx)
	cancel()
	if err != nil {
		return res, fmt.Errorf("%s: end to end: %w", kind, err)
	}
	if cerr != nil {
		return res, fmt.Errorf("%s: close: %w", kind, cerr)
	}
	res.EndToEnd = float64(records) / el.Seconds()
	if n := len(acked); n != records/RunnerBatch {
		return res, fmt.Errorf("%s: %d of %d batches acknowledged", kind, n, records/RunnerBatch)
	}
	for want := uint64(1); len(acked) > 0; want++ {
		if seq := <-acked; seq != want {
			return res, fmt.Errorf("%s: batch %d acknowledged where %d was due", kind, seq, want)
		}
	}
	if n := dead.count(); n > 0 {
		return res, fmt.Errorf("%s: %d records dead-lettered", kind, n)
	}
	if err := k.settle(ctx); err != nil {
		return res, err
	}
	res.Missing, res.Extra = k.got.compare(want)
	return res, nil
}

// kind is one output wired to its peer.
type kind struct {
	peer, settings string
	cfg            delivery.Config // as the output runs it (defaults applied)
	enc            delivery.Encoder
	sender         delivery.Sender
	// keyOf is the key the peer tallies for an encoded item.
	keyOf func(item []byte) uint64
	got   *tally
	// output builds the whole output.
	output func(delivery.Deps) (*delivery.Output, error)
	// phase prepares the peer for the sender alone or the output
	// (a fresh count, a fresh topic).
	phase func(ctx context.Context, name string) error
	// received is what the peer has, as far as completion goes; settle
	// brings got up to date before the comparison.
	received func() int64
	settle   func(ctx context.Context) error
	close    func()
}

var quiet = slog.New(slog.DiscardHandler)

const benchToken = "outputbench-hec-token"

func setUp(name, dir string) (*kind, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k := &kind{}
	noop := func(context.Context) error { return nil }
	resetPhase := func(context.Context, string) error { k.got.reset(); return nil }
	switch name {
	case "splunk", "splunk-gzip", "splunk-ack":
		gz, ack := name != "splunk", name == "splunk-ack"
		p, err := newHECPeer(benchToken, ack, AckLatency)
		if err != nil {
			return nil, err
		}
		tok, _ := secret.Resolve(benchToken)
		cfg := splunk.Config{URL: p.url, AllowHTTP: true, Token: tok, Gzip: &gz, IndexerAck: ack, Index: "entra", Host: "agent-01"}
		if ack {
			cfg.AckPollInterval = AckPoll
		}
		cfg.Defaults()
		c, err := splunk.NewClient(cfg, "output:bench", quiet)
		if err != nil {
			p.close()
			return nil, err
		}
		k.peer = "HEC endpoint (in process)"
		k.settings = fmt.Sprintf("gzip=%v indexer_ack=%v", gz, ack)
		if ack {
			k.settings += fmt.Sprintf(" ack_latency=%s ack_poll_interval=%s", AckLatency, AckPoll)
		}
		k.cfg, k.enc, k.sender, k.got = cfg.Config, splunk.NewEncoder(cfg), c, p.got
		k.keyOf = func(item []byte) uint64 { return key(trimLF(item)) }
		k.output = func(d delivery.Deps) (*delivery.Output, error) { return splunk.New("bench", cfg, d) }
		k.phase, k.received, k.settle = resetPhase, p.got.received, noop
		k.close = func() { c.CloseIdleConnections(); p.close() }
	case "elastic":
		p, err := newESPeer()
		if err != nil {
			return nil, err
		}
		cfg := elastic.Config{URLs: []string{p.url}}
		cfg.Defaults()
		s, err := elastic.NewSender("bench", cfg, delivery.Deps{Log: quiet})
		if err != nil {
			p.close()
			return nil, err
		}
		k.peer = "Elasticsearch _bulk endpoint (in process)"
		k.settings = "create actions, per-item results"
		k.cfg, k.enc, k.sender, k.got = cfg.Config, elastic.NewEncoder(elastic.Naming{Dataset: cfg.Dataset, Namespace: cfg.Namespace}), s, p.got
		k.keyOf = func(item []byte) uint64 { return key(field(item, "_id")) }
		k.output = func(d delivery.Deps) (*delivery.Output, error) { return elastic.New("bench", cfg, d) }
		// The _ids seen are forgotten too: the output sends the same
		// records again, which an index that kept them would refuse (409).
		k.phase = func(context.Context, string) error {
			p.got.reset()
			p.mu.Lock()
			clear(p.ids)
			p.mu.Unlock()
			return nil
		}
		k.received, k.settle, k.close = p.got.received, noop, p.close
	case "kafka":
		if err := k.kafka(); err != nil {
			return nil, err
		}
	case "qradar":
		p, err := newSyslogPeer(dir)
		if err != nil {
			return nil, err
		}
		cfg := qradar.Config{Address: p.addr, Hostname: "agent-01", Version: "bench"}
		cfg.Defaults()
		s, err := qradar.NewSender("bench", cfg, delivery.Deps{Log: quiet})
		if err != nil {
			p.close()
			return nil, err
		}
		k.peer = p.what
		k.settings = fmt.Sprintf("format=%s transport=%s framing=%s", cfg.Format, cfg.Transport, cfg.Framing)
		k.cfg, k.enc, k.sender, k.got = cfg.Config, qradar.NewEncoder(cfg), s, p.got
		k.keyOf = func(item []byte) uint64 { return key(trimLF(item)) }
		k.output = func(d delivery.Deps) (*delivery.Output, error) { return qradar.New("bench", cfg, d) }
		k.phase, k.received, k.settle, k.close = resetPhase, p.got.received, noop, p.close
	default:
		return nil, fmt.Errorf("outputbench: unknown kind %q (one of %v)", name, Kinds)
	}
	k.settings += fmt.Sprintf(" batch_size=%d max_in_flight=%d runner_batch=%d", k.cfg.BatchSize, k.cfg.MaxInFlight, RunnerBatch)
	return k, nil
}

// kafka wires the Kafka output to a three-broker kfake cluster that keeps
// what it is sent; the records are read back from the topic afterwards to
// count them (acks=all already said the cluster has them).
func (k *kind) kafka() error {
	const partitions = 6
	cl, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(partitions, "bench-warmup", "bench-sender", "bench-output"))
	if err != nil {
		return err
	}
	brokers := cl.ListenAddrs()
	cfg := kafka.Config{Brokers: brokers, Topic: "bench-sender"}
	cfg.Defaults()
	k.peer = "kfake (3 brokers, 6 partitions, in process)"
	k.settings = fmt.Sprintf("compression=%s acks=all idempotent", cfg.Compression)
	k.cfg, k.enc, k.got = cfg.Config, kafka.NewEncoder(cfg), newTally()
	k.keyOf = func(item []byte) uint64 {
		m, err := kafka.DecodeItem(item)
		if err != nil {
			return 0
		}
		return key(m.Value)
	}
	var out *delivery.Output
	topic := ""
	k.phase = func(_ context.Context, name string) error {
		topic = "bench-" + name
		cfg.Topic = topic
		if name == "warmup" {
			c, err := kafka.NewClient(cfg, "output:bench", quiet)
			if err != nil {
				return err
			}
			k.sender = c
		}
		return nil
	}
	k.output = func(d delivery.Deps) (*delivery.Output, error) {
		o, err := kafka.New("bench", cfg, d)
		out = o
		return o, err
	}
	// Completion is Kafka's acknowledgement: Send returning for the sender
	// alone, the output's count of accepted records end to end.
	k.received = func() int64 {
		if out != nil {
			return out.Stats().Sent.Load()
		}
		return 1 << 62
	}
	k.settle = func(ctx context.Context) error {
		return readTopic(ctx, brokers, topic, k.got)
	}
	k.close = func() { cl.Close() }
	return nil
}

// readTopic tallies every record value of topic.
func readTopic(ctx context.Context, brokers []string, topic string, t *tally) error {
	t.reset()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	// Read until the topic yields nothing new for a moment.
	for quietFor := 0; quietFor < 3; {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) { t.add(key(r.Value)); n++ })
		if n == 0 {
			quietFor++
		} else {
			quietFor = 0
		}
	}
	return nil
}

// wait waits until the peer has n records (and, end to end, the output
// counts them sent), failing once nothing moved for stall.
func (k *kind) wait(ctx context.Context, n int64, out *delivery.Output) error {
	const stall = 30 * time.Second
	last, moved := int64(-1), time.Now()
	for {
		got := k.received()
		sent := n
		if out != nil {
			sent = out.Stats().Sent.Load()
		}
		if got >= n && sent >= n {
			return nil
		}
		if p := got + sent; p != last {
			last, moved = p, time.Now()
		} else if time.Since(moved) > stall {
			return fmt.Errorf("stalled: the peer has %d of %d records, the output sent %d", got, n, sent)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func trimLF(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b[:len(b)-1]
	}
	return b
}

type deadLetters struct{ n atomic.Int64 }

func (d *deadLetters) Write(_, _, _ string, _ []byte) error { d.n.Add(1); return nil }
func (d *deadLetters) count() int64                         { return d.n.Load() }
