package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/privtrail/privtrail/internal/delivery"
)

// codecs are the compression settings by name. gzip runs at its fastest
// level: enriched JSON still shrinks about 6× and the producer stays far
// ahead of the pipeline.
var codecs = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression().WithLevel(1),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// Producer settings that are not configuration.
const (
	// linger: none. Records go out as soon as a connection is free;
	// those handed over while requests are in flight (up to five per
	// broker) make the next requests, so a window of requests batches by
	// itself, and the last records of a request never wait for a timer.
	linger = 0
	// recordRetries bounds the client's own retries of a record batch
	// (leader moves, a broker restarting): beyond them the attempt fails
	// and the delivery machinery retries it with its back-off, logging.
	recordRetries = 5
	// maxProduceRequestTimeout is how long a broker may wait for the
	// in-sync replicas before it answers (the produce request's timeout).
	maxProduceRequestTimeout = 10 * time.Second
)

// Client is the Kafka Sender: an idempotent franz-go producer with
// acks=all. Safe for concurrent use.
type Client struct {
	cl    *kgo.Client
	topic string
	log   *slog.Logger
	kl    *kgoLogger
	// waitWarn is how often a Send still waiting for Kafka says so.
	waitWarn time.Duration

	// Requests in flight together (Start): handed over one at a time, in
	// order, and their outcomes known in that order.
	order sync.Mutex
	// mu guards the fields below.
	mu sync.Mutex
	// unwritten holds the records not yet written in order, to be sent
	// again: those Kafka failed, and those it wrote ahead of one of them.
	// They are known by the first byte of their item (delivery hands the
	// same item over again until it is done), with their place in the
	// buffer's order and their partition (-1: none yet, the topic not
	// known). A later record of that partition that Kafka writes
	// meanwhile is ahead of them, and is sent again after them.
	unwritten map[*byte]unwritten
	tickets   uint64
	last      *started
}

type unwritten struct {
	pos  position
	part int32
}

// started is one request handed over by Start.
type started struct {
	ticket uint64 // handovers in order
	prev   *started
	known  chan struct{} // closed once its outcome is registered
}

// position is a record's place in the buffer's order: the handover that
// first took it, and its place there.
type position struct {
	ticket uint64
	index  int
}

func (a position) before(b position) bool {
	return a.ticket < b.ticket || a.ticket == b.ticket && a.index < b.index
}

// testOpts are appended to every client's options by the tests (shorter
// reconnect back-off); nil otherwise.
var testOpts []kgo.Opt

// NewClient builds the Sender for cfg; what names it in log lines. It does
// not connect: the first batch does, and a cluster that is down at start
// only makes records wait in the disk buffer.
func NewClient(cfg Config, what string, log *slog.Logger) (*Client, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("output", what)
	kl := &kgoLogger{log: log}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DefaultProduceTopic(cfg.Topic),
		// Every in-sync replica has the record before Kafka says so, and
		// the producer is idempotent (franz-go's default, stated here so
		// that nobody turns it off by accident): a batch the client sends
		// again after a lost answer is written once, in order.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(linger),
		kgo.RecordRetries(recordRetries),
		kgo.RecordDeliveryTimeout(cfg.Timeout),
		kgo.ProduceRequestTimeout(min(cfg.Timeout, maxProduceRequestTimeout)),
		// A broker that accepts the connection and never answers is
		// dropped after timeout, not franz-go's default 10 s.
		kgo.RequestTimeoutOverhead(min(cfg.Timeout, 10*time.Second)),
		kgo.ProducerBatchCompression(codecs[cfg.Compression]),
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxMessageBytes)),
		kgo.WithLogger(kl),
	}
	if cfg.TLS != nil {
		tc, err := cfg.TLS.Build(what, log)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := mechanism(cfg.SASL); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	cl, err := kgo.NewClient(append(opts, testOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Client{cl: cl, topic: cfg.Topic, log: log, kl: kl, waitWarn: 2 * cfg.Timeout}, nil
}

// mechanism is the SASL mechanism of s, nil without one. The password is
// read from the secret at each authentication and kept nowhere else.
func mechanism(s SASL) sasl.Mechanism {
	user, pass := s.Username, &s.Password
	switch s.Mechanism {
	case MechPlain:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			return plain.Auth{User: user, Pass: pass.Value()}, nil
		})
	case MechScramSHA256:
		return scram.Sha256(func(context.Context) (scram.Auth, error) {
			return scram.Auth{User: user, Pass: pass.Value()}, nil
		})
	case MechScramSHA512:
		return scram.Sha512(func(context.Context) (scram.Auth, error) {
			return scram.Auth{User: user, Pass: pass.Value()}, nil
		})
	}
	return nil
}

// Close flushes nothing (what was not acknowledged is still in the disk
// buffer) and closes the connections. delivery calls it when the output
// closes.
func (c *Client) Close() error {
	c.cl.Close()
	return nil
}

// Send produces the batch and waits until Kafka acknowledged every record
// (acks=all) or failed it (Start, then the wait it returns):
//
//   - acknowledged records are done;
//   - a record Kafka refuses for what it is (MESSAGE_TOO_LARGE,
//     INVALID_RECORD, CORRUPT_MESSAGE, INVALID_TIMESTAMP, …) is produced
//     again on its own, because franz-go fails every later record of the
//     partition with the same error to keep the partition gapless; refused
//     alone too, it is rejected (dead-lettered) with Kafka's error;
//   - anything else (brokers down, leaders moving, timeouts, missing
//     topic, authentication and authorization failures) is retried by
//     the delivery machinery after back-off: the records wait in the disk
//     buffer. When nothing of the batch went through, the batch fails as a
//     whole (Result.Err) so that the back-off and the warning apply to it.
//
// What is sent again keeps each key's order: see Start.
func (c *Client) Send(ctx context.Context, items [][]byte) delivery.Result {
	return c.Start(ctx, items)()
}

// Start hands items over to the producer, after everything handed over
// before, and returns the wait for their outcome (Send's). delivery calls
// it in buffer order with several requests in flight
// (delivery.OrderedSender): the producer keeps each partition's order
// over them. A record that fails is sent again later, so a record of the
// same partition that Kafka writes after it failed (handed over before
// the failure was known, or while it was not yet written again) would
// stay ahead of it: the wait lists such records to send again too, after
// it (written twice, the later copies in order).
func (c *Client) Start(ctx context.Context, items [][]byte) (wait func() delivery.Result) {
	var res delivery.Result
	recs := make([]*kgo.Record, 0, len(items))
	index := make([]int, 0, len(items)) // recs[j] is items[index[j]]
	for i, it := range items {
		m, err := DecodeItem(it)
		if err != nil {
			res.Rejected = append(res.Rejected, delivery.Rejection{Index: i, Reason: "kafka: unreadable buffered item: " + err.Error()})
			continue
		}
		recs = append(recs, c.record(m))
		index = append(index, i)
	}
	c.order.Lock()
	c.mu.Lock()
	c.tickets++
	st := &started{ticket: c.tickets, prev: c.last, known: make(chan struct{})}
	c.last = st
	c.mu.Unlock()
	outcome := c.produce(ctx, recs)
	c.order.Unlock()
	return func() delivery.Result {
		defer close(st.known)
		if st.prev != nil {
			// Known means this outcome and every earlier one are.
			<-st.prev.known
			st.prev = nil // a settled request holds none before it
		}
		errs, err := outcome()
		if err != nil {
			return delivery.Result{Err: err}
		}
		return c.outcome(ctx, st, res, items, recs, index, errs)
	}
}

// outcome sorts a request's results, in the order requests were handed
// over (st's): acknowledged, refused (isolated, then dead-lettered), or to
// send again — those that failed, and those Kafka wrote ahead of an
// earlier record of their partition not yet written in order (c.unwritten).
func (c *Client) outcome(ctx context.Context, st *started, res delivery.Result, items [][]byte, recs []*kgo.Record, index []int, errs []error) delivery.Result {
	var (
		isolate []int // positions in recs, in order
		retry   []int // positions in recs
		firstTE error // the first transient error
		okCount int
	)
	pos := make([]position, len(recs))
	c.mu.Lock()
	for j, err := range errs {
		p, id := recs[j].Partition, &items[index[j]][0]
		pos[j] = position{st.ticket, j}
		if u, ok := c.unwritten[id]; ok {
			pos[j] = u.pos // sent again: where it was first handed over
		}
		switch {
		case err == nil && c.written(p, id, pos[j]):
			okCount++
		case err == nil:
			retry = append(retry, j)
			firstTE = cmp.Or(firstTE, errOvertook)
		case refusesRecord(err):
			c.fail(p, id, pos[j])
			isolate = append(isolate, j)
		default:
			c.fail(p, id, pos[j])
			retry = append(retry, j)
			firstTE = cmp.Or(firstTE, err)
		}
	}
	c.mu.Unlock()
	if len(isolate) > 0 {
		// Produced again one at a time, in order, so that a refusal names
		// its record — only while nothing was handed over after them (a
		// later request's records of the partition would be ahead), and
		// nothing is until they are done.
		c.order.Lock()
		defer c.order.Unlock()
		c.mu.Lock()
		alone := c.last == st
		c.mu.Unlock()
		if len(retry) > 0 || !alone {
			// Some partitions failed for a passing reason, or later records
			// are on their way: the suspects wait for the next attempt too,
			// so that none overtakes an earlier record of its partition.
			retry = append(retry, isolate...)
			firstTE = cmp.Or(firstTE, errs[isolate[0]])
			isolate = nil
		}
	}
	for k, j := range isolate {
		p, id := recs[j].Partition, &items[index[j]][0]
		err := c.produceOne(ctx, recs[j])
		if err == nil {
			c.mu.Lock()
			inOrder := c.written(p, id, pos[j])
			c.mu.Unlock()
			if inOrder {
				okCount++
				continue
			}
			// An earlier request's records of the partition still wait for
			// their next attempt: this one and the rest go after them.
			retry = append(retry, isolate[k:]...)
			firstTE = errOvertook
			break
		}
		if refusesRecord(err) {
			c.mu.Lock()
			c.dropped(id) // never written: the rest need not wait for it
			c.mu.Unlock()
			res.Rejected = append(res.Rejected, delivery.Rejection{Index: index[j], Reason: c.reason(err)})
			continue
		}
		if ctx.Err() != nil {
			return delivery.Result{Err: ctx.Err()}
		}
		// This one and the rest wait for the next attempt, in order.
		retry = append(retry, isolate[k:]...)
		firstTE = err
		break
	}
	if len(retry) == 0 {
		return res
	}
	slices.Sort(retry)
	if okCount == 0 && len(res.Rejected) == 0 {
		return delivery.Result{Err: fmt.Errorf("%s (%d records)", c.describe(firstTE), len(retry))}
	}
	c.log.Warn("kafka: part of a batch was not acknowledged; sending it again after back-off",
		"topic", c.topic, "acknowledged", okCount, "retry", len(retry), "rejected", len(res.Rejected), "err", c.describe(firstTE))
	for _, j := range retry {
		res.Retry = append(res.Retry, index[j])
	}
	return res
}

// errOvertook is why a record Kafka acknowledged is sent again.
var errOvertook = errors.New("written ahead of an earlier record of its partition that failed; sent again after it")

// fail notes that the record id, at pos, failed on partition p. A
// record not yet given a partition (a topic not known yet) holds back
// every partition. c.mu is held.
func (c *Client) fail(p int32, id *byte, pos position) {
	if c.unwritten == nil {
		c.unwritten = map[*byte]unwritten{}
	}
	c.unwritten[id] = unwritten{pos: pos, part: max(p, -1)}
}

// written notes that Kafka wrote the record id, at pos, on partition p,
// and reports whether that kept p's order. If a record before it is not
// yet written in order, it did not: id is to be sent again after it.
// c.mu is held.
func (c *Client) written(p int32, id *byte, pos position) bool {
	delete(c.unwritten, id)
	for _, u := range c.unwritten {
		if (u.part == p || u.part < 0 || p < 0) && u.pos.before(pos) {
			c.unwritten[id] = unwritten{pos: pos, part: max(p, -1)}
			return false
		}
	}
	return true
}

// dropped notes that the record id will never be written (refused for
// good). c.mu is held.
func (c *Client) dropped(id *byte) {
	delete(c.unwritten, id)
}

// record makes the Kafka record of a decoded item.
func (c *Client) record(m Message) *kgo.Record {
	r := &kgo.Record{Topic: c.topic, Key: m.Key, Value: m.Value}
	if len(m.Headers) > 0 {
		r.Headers = make([]kgo.RecordHeader, len(m.Headers))
		for i, h := range m.Headers {
			r.Headers[i] = kgo.RecordHeader{Key: h.Name, Value: h.Value}
		}
	}
	return r
}

// produce hands recs to the client, in order, and returns the wait for
// every outcome, or for ctx (the output stopping). errs[j] is the outcome
// of recs[j].
func (c *Client) produce(ctx context.Context, recs []*kgo.Record) func() (errs []error, err error) {
	if len(recs) == 0 {
		return func() ([]error, error) { return nil, nil }
	}
	errs := make([]error, len(recs))
	var left atomic.Int64
	left.Store(int64(len(recs)))
	done := make(chan struct{})
	for j, r := range recs {
		c.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			errs[j] = err
			if left.Add(-1) == 0 {
				close(done)
			}
		})
	}
	start := time.Now()
	return func() ([]error, error) {
		tick := time.NewTicker(c.waitWarn)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return errs, nil
			case <-ctx.Done():
				// Records already in flight are not abandoned by franz-go
				// until Kafka answers (idempotence); they stay in the disk
				// buffer and are sent again after the next start, so at most
				// duplicated.
				return nil, ctx.Err()
			case <-tick.C:
				// Records still pending after twice the timeout were on the
				// wire when a connection broke: Kafka may have written them,
				// so the idempotent producer does not give up on them (which
				// would let the next attempt duplicate them) but sends them
				// again, with the same sequence numbers, once a broker
				// answers. Meanwhile, say so.
				c.log.Warn("kafka: records sent before a connection broke wait for a broker to answer; they stay in the disk buffer and will be written once, in order",
					"topic", c.topic, "records", len(recs), "waiting", time.Since(start).Round(time.Second), "last_err", c.kl.lastErr())
			}
		}
	}
}

// produceOne produces one record again. Its partition is recomputed from
// the key; its timestamp is reset to now.
func (c *Client) produceOne(ctx context.Context, r *kgo.Record) error {
	again := &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers}
	errs, err := c.produce(ctx, []*kgo.Record{again})()
	if err != nil {
		return err
	}
	return errs[0]
}

// refusesRecord reports whether Kafka refused a record for what it is: it
// would refuse it again, whoever sends it. Everything else is a state of
// the cluster, the network or the configuration that can change while the
// record waits.
func refusesRecord(err error) bool {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.CorruptMessage, kerr.InvalidTimestamp:
		return true
	}
	return false
}

// reason is the dead-letter reason of a refused record: Kafka's error
// name and text.
func (c *Client) reason(err error) string {
	s := "kafka: topic " + c.topic + ": " + err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) && (ke == kerr.MessageTooLarge || ke == kerr.RecordListTooLarge) {
		s += " (larger than the topic's max.message.bytes or the output's max_message_bytes)"
	}
	return s
}

// describe is a transient failure as logged, with a hint for the ones an
// operator has to fix.
func (c *Client) describe(err error) string {
	s := "kafka: topic " + c.topic + ": " + err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.SaslAuthenticationFailed, kerr.IllegalSaslState, kerr.UnsupportedSaslMechanism:
			s += " (check sasl.mechanism, sasl.username and sasl.password; records wait in the buffer)"
		case kerr.TopicAuthorizationFailed:
			s += " (the principal needs WRITE and DESCRIBE on the topic; records wait in the buffer)"
		case kerr.ClusterAuthorizationFailed:
			s += " (the principal needs IDEMPOTENT_WRITE on the cluster, required before Kafka 3.0; records wait in the buffer)"
		case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID:
			s += " (create the topic: the output does not; records wait in the buffer)"
		case kerr.UnsupportedCompressionType:
			s += " (the broker does not accept this compression: set compression: gzip; records wait in the buffer)"
		}
	}
	return s
}

// kgoLogger sends franz-go's log lines to the agent's log at debug level
// (the delivery machinery already logs every failed attempt once), and
// keeps the last error franz-go reported, for the waiting warning.
type kgoLogger struct {
	log  *slog.Logger
	last atomic.Pointer[string]
}

func (l *kgoLogger) Level() kgo.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (l *kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level <= kgo.LogLevelWarn {
		for i := 0; i+1 < len(keyvals); i += 2 {
			if k, _ := keyvals[i].(string); k == "err" && keyvals[i+1] != nil {
				s := fmt.Sprint(keyvals[i+1])
				l.last.Store(&s)
			}
		}
	}
	l.log.Log(context.Background(), slog.LevelDebug, "kafka client: "+strings.TrimSpace(msg), keyvals...)
}

func (l *kgoLogger) lastErr() string {
	if p := l.last.Load(); p != nil {
		return *p
	}
	return ""
}
