// Package eventhubs is the input that reads Microsoft Entra ID logs from an
// Azure Event Hubs namespace through its Kafka endpoint, or from any Kafka
// cluster, as a member of a consumer group.
//
// Each Kafka message is a diagnostic-settings envelope {"records":[...]}
// (or a single record, or an array); every log record becomes one
// batch.Item. Offsets are committed to the group only for Kafka messages
// whose records every output has acknowledged: a batch's Commit (which the
// runner calls in emission order) makes the offset after the last Kafka
// message the batch fully contains committable, and a committer goroutine
// sends it with the group's generation. Partitions move between members
// with the cooperative-sticky balancer; see README.md for what happens to
// records in flight when they do.
package eventhubs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/privtrail/privtrail/batch"
)

const (
	// commitTimeout bounds one offset commit request.
	commitTimeout = 10 * time.Second
	// assignWarnAfter is when a member that never got a partition says so.
	assignWarnAfter = 30 * time.Second
)

// errStopped is what Commit returns once Run has ended: the client that
// would commit is closed, so the batch's records are read again next start.
var errStopped = errors.New("eventhubs input stopped before the batch was acknowledged; its offsets are not committed and its records will be read again")

// Input reads one configured topic set as one consumer group member. Run
// it once.
type Input struct {
	name  string
	cfg   Config
	log   *slog.Logger
	bad   func(origin string, data []byte, reason string)
	seeds []string
	tls   *tls.Config // nil: plaintext
	mech  sasl.Mechanism
	isEH  bool // an Event Hubs connection string

	// Test hooks: dial replaces the TLS dialer (it gets the address the
	// input would dial), extra are appended to the client options.
	dial  func(ctx context.Context, network, host string) (net.Conn, error)
	extra []kgo.Opt
	hooks hooks

	// Partition ownership hooks (SetPartitionHooks): a processor of the
	// cluster topic keeps monitor state per partition.
	assignedHook func(ctx context.Context, shards []string) error
	revokedHook  func(shards []string)
	runCtx       context.Context
	fatal        atomic.Pointer[fatalErr] // ends Run with an error
	// restoreBackoff is the first wait between failed restores.
	restoreBackoff time.Duration

	polled atomic.Int64  // Kafka messages returned by polls
	wake   chan struct{} // wakes the committer
	limit  limiter       // of repeated log lines

	// commitMu is held across an ownership check and the commit request
	// that follows, and by the rebalance callbacks while they drop
	// partitions: no commit for a partition can start after it was
	// dropped. Taken before mu.
	commitMu sync.Mutex

	mu          sync.Mutex // guards what follows
	cl          *kgo.Client
	epochs      uint64          // assignment counter
	owned       map[tp]uint64   // partition → epoch of its current assignment
	inflight    []*pending      // emitted, not yet committed, in emission order
	committable map[tp]mark     // acknowledged, not yet sent to the group
	changed     chan struct{}   // closed (and replaced) when inflight shrinks
	stopped     bool            // Run ended: Commit is too late
	connFailing map[string]bool // broker address → its last connection attempt failed
}

type hooks struct {
	assigned  func(*kgo.Client, map[string][]int32)
	revoked   func(map[string][]int32)
	committed func(offsets map[string]map[int32]kgo.EpochOffset, err error)
}

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

// mark is a commit point: the offset after the last fully delivered Kafka
// message of a partition, read under assignment epoch.
type mark struct {
	epoch       uint64
	offset      int64
	leaderEpoch int32
}

type partMark struct {
	tp   tp
	mark mark
}

// pending is an emitted batch, as far as offsets go.
type pending struct {
	marks []partMark
	done  bool
}

// New returns the eventhubs input called name. bad receives the Kafka
// messages that are not JSON, with their origin and a reason (nil: they
// are emitted as items, and the runner's decoder dead-letters them); log
// should already name the input, as the agent does. cfg is validated and
// given its defaults; the caller's copy is not changed.
func New(name string, cfg Config, log *slog.Logger, bad func(origin string, data []byte, reason string)) (*Input, error) {
	if name == "" {
		return nil, errors.New("eventhubs input: name is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("eventhubs input %q: %w", name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Input{
		name: name, cfg: cfg, log: log, bad: bad,
		owned:       map[tp]uint64{},
		committable: map[tp]mark{},
		changed:     make(chan struct{}),
		wake:        make(chan struct{}, 1),

		restoreBackoff: time.Second,
	}
	var err error
	if cfg.ConnectionString.IsSet() {
		cs, _ := parseConnectionString(cfg.ConnectionString.Value()) // validated
		in.isEH = true
		in.seeds = []string{cs.Broker()}
		in.mech = plain.Auth{User: ConnectionStringUser, Pass: cfg.ConnectionString.Value()}.AsMechanism()
		if in.tls, err = cfg.TLS.Build("inputs.eventhubs", log); err != nil {
			return nil, fmt.Errorf("eventhubs input %q: %w", name, err)
		}
		if cs.KeyName == "RootManageSharedAccessKey" {
			log.Warn("the connection string uses RootManageSharedAccessKey, which can manage the whole namespace; privtrail only needs Listen: create a shared access policy with Listen only", "input", name)
		}
		log.Info("reading Event Hubs", "namespace", cs.Host, "broker", cs.Broker(), "event_hubs", cfg.Topics, "consumer_group", cfg.ConsumerGroup, "policy", cs.KeyName, "connection_string", cfg.ConnectionString)
		return in, nil
	}
	in.seeds = slices.Clone(cfg.Brokers)
	if cfg.TLS != nil {
		if in.tls, err = cfg.TLS.Build("inputs.eventhubs", log); err != nil {
			return nil, fmt.Errorf("eventhubs input %q: %w", name, err)
		}
	}
	switch cfg.SASL.Mechanism {
	case "plain":
		in.mech = plain.Auth{User: cfg.SASL.Username, Pass: cfg.SASL.Password.Value()}.AsMechanism()
	case "scram-sha-256":
		in.mech = scram.Auth{User: cfg.SASL.Username, Pass: cfg.SASL.Password.Value()}.AsSha256Mechanism()
	case "scram-sha-512":
		in.mech = scram.Auth{User: cfg.SASL.Username, Pass: cfg.SASL.Password.Value()}.AsSha512Mechanism()
	}
	if in.mech != nil && in.tls == nil {
		log.Warn("SASL without TLS: the credentials and every record cross the network in clear; add a tls block", "input", name, "sasl", cfg.SASL.Mechanism)
	}
	log.Info("reading Kafka", "brokers", cfg.Brokers, "topics", cfg.Topics, "consumer_group", cfg.ConsumerGroup, "tls", in.tls != nil, "sasl", cfg.SASL.Mechanism)
	return in, nil
}

// SetPartitionHooks makes the input tell which partitions it owns, and
// mark every item with its partition as batch.Item.Shard
// ("<topic>/<partition>"). assigned is called when partitions are given
// to this member, before any of their records is fetched, and retried
// with back-off (five tries in about 30 s); if it still fails, the
// partitions are not taken and Run ends with the error, so that the group
// gives them to a member that can restore them. Meanwhile the member
// polls nothing (rebalances are serialised with polls). revoked
// is called after partitions were taken away (or lost), once their last
// batches were committed or rebalance_wait passed. Call before Run.
func (in *Input) SetPartitionHooks(assigned func(ctx context.Context, shards []string) error, revoked func(shards []string)) {
	in.assignedHook, in.revokedHook = assigned, revoked
}

// Shard is the name SetPartitionHooks gives a partition.
func Shard(topic string, partition int32) string {
	return topic + "/" + strconv.Itoa(int(partition))
}

func shards(m map[string][]int32) []string {
	var out []string
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, Shard(t, p))
		}
	}
	slices.Sort(out)
	return out
}

// ConnOpts are the client options that reach the brokers (seeds, SASL,
// TLS), for another client of the same cluster (the state changelog).
func (in *Input) ConnOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(in.seeds...)}
	if in.mech != nil {
		opts = append(opts, kgo.SASL(in.mech))
	}
	switch {
	case in.dial != nil:
		opts = append(opts, kgo.Dialer(in.dial))
	case in.tls != nil:
		opts = append(opts, kgo.DialTLSConfig(in.tls))
	}
	return opts
}

func (in *Input) clientOpts() []kgo.Opt {
	reset := kgo.NewOffset().AtStart()
	if in.cfg.StartFrom == "latest" {
		reset = kgo.NewOffset().AtEnd()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(in.seeds...),
		kgo.ClientID("privtrail"),
		kgo.ConsumerGroup(in.cfg.ConsumerGroup),
		kgo.ConsumeTopics(in.cfg.Topics...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		// A poll holds rebalances off only until its records are tagged
		// with their assignment epoch (AllowRebalance follows at once).
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(in.onAssigned),
		kgo.OnPartitionsRevoked(in.onRevoked),
		kgo.OnPartitionsLost(in.onLost),
		kgo.ConsumeResetOffset(reset),
		// What the client may hold for the input while the outputs push
		// back: one fetch per broker (franz-go's default is 50 MiB).
		kgo.FetchMaxBytes(int32(in.cfg.FetchMaxBytes)),
		kgo.WithLogger(newKgoLogger(in.log)),
		kgo.WithHooks(connHook{in}),
	}
	if in.isEH {
		// Event Hubs closes connections idle for 240s and recommends
		// refreshing metadata every 180s.
		opts = append(opts, kgo.MetadataMaxAge(3*time.Minute))
	}
	if in.mech != nil {
		opts = append(opts, kgo.SASL(in.mech))
	}
	switch {
	case in.dial != nil:
		opts = append(opts, kgo.Dialer(in.dial))
	case in.tls != nil:
		opts = append(opts, kgo.DialTLSConfig(in.tls))
	}
	return append(opts, in.extra...)
}

// Run joins the consumer group and emits batches until ctx ends. It then
// waits (at most rebalance_wait) for the batches it emitted to be
// committed, commits what was acknowledged, leaves the group and returns
// nil. It returns an error only if the client cannot be created.
func (in *Input) Run(ctx context.Context, emit func(context.Context, *batch.Batch) error) error {
	in.mu.Lock()
	in.runCtx = ctx // before the client exists: onAssigned reads it
	in.mu.Unlock()
	cl, err := kgo.NewClient(in.clientOpts()...)
	if err != nil {
		return fmt.Errorf("eventhubs input %s: %w", in.name, err)
	}
	in.mu.Lock()
	in.cl = cl
	in.mu.Unlock()

	stop := make(chan struct{})
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		in.committer(stop)
	}()

	watchdog := time.AfterFunc(assignWarnAfter, func() {
		in.mu.Lock()
		ever := in.epochs
		in.mu.Unlock()
		if ever == 0 {
			in.log.Warn("no partition assigned yet", "input", in.name, "after", assignWarnAfter, "topics", in.cfg.Topics, "consumer_group", in.cfg.ConsumerGroup,
				"hint", "check that the topics (event hubs) exist and that the group has fewer members than partitions; connection errors are logged separately")
		}
	})
	err = in.consume(ctx, cl, emit)
	watchdog.Stop()

	// Shutdown: the runner keeps delivering what was emitted until we
	// return, so give the outputs a chance to acknowledge it.
	left := in.waitInflight(nil, in.cfg.RebalanceWait)
	in.mu.Lock()
	in.stopped = true
	in.mu.Unlock()
	close(stop)
	<-committerDone
	if cerr := in.flushCommits(); cerr != nil {
		in.log.Warn("final offset commit failed; acknowledged records will be read again on the next start", "input", in.name, "err", cerr)
	}
	if left > 0 {
		in.log.Info("batches not acknowledged at shutdown; their records will be read again", "input", in.name, "batches", left)
	}
	cl.Close() // leaves the group: its partitions move at once
	return err
}

// consume is the poll loop. It polls only when it is not blocked in emit,
// so a slow pipeline stops the reading (the client buffers at most one
// fetch per broker).
func (in *Input) consume(ctx context.Context, cl *kgo.Client, emit func(context.Context, *batch.Batch) error) error {
	b := &builder{}
	var spans []span
	var epochs []partEpoch
	for ctx.Err() == nil {
		if f := in.fatal.Load(); f != nil {
			return f.err
		}
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if !b.first.IsZero() {
			pctx, cancel = context.WithDeadline(ctx, b.first.Add(in.cfg.MaxWait))
		}
		fetches := cl.PollRecords(pctx, max(in.cfg.BatchSize-len(b.items), 1))
		cancel()
		epochs = in.tag(fetches, epochs[:0])
		cl.AllowRebalance()
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			in.limitedLog("fetch:"+err.Error(), slog.LevelWarn, "fetch error; the client retries", "topic", topic, "partition", partition, "err", err)
		})
		for _, f := range fetches {
			for ti := range f.Topics {
				t := &f.Topics[ti]
				for pi := range t.Partitions {
					p := &t.Partitions[pi]
					if len(p.Records) == 0 {
						continue
					}
					epoch := epochOf(epochs, t.Topic, p.Partition)
					if epoch == 0 {
						continue // not ours (any more): the owner reads it
					}
					in.polled.Add(int64(len(p.Records)))
					for _, r := range p.Records {
						var err error
						if spans, err = in.add(ctx, emit, b, r, epoch, spans[:0]); err != nil {
							if ctx.Err() != nil {
								return nil
							}
							return err
						}
					}
				}
			}
		}
		if !b.first.IsZero() && (len(b.items) >= in.cfg.BatchSize || time.Since(b.first) >= in.cfg.MaxWait) {
			if err := in.flush(ctx, emit, b); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
	return nil
}

type partEpoch struct {
	tp    tp
	epoch uint64
}

// tag reads the assignment epoch of every partition in fetches. It runs
// before AllowRebalance, so no revoke or assignment can slip between the
// poll and the reading.
func (in *Input) tag(fetches kgo.Fetches, out []partEpoch) []partEpoch {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, f := range fetches {
		for _, t := range f.Topics {
			for _, p := range t.Partitions {
				if len(p.Records) > 0 {
					k := tp{t.Topic, p.Partition}
					out = append(out, partEpoch{k, in.owned[k]})
				}
			}
		}
	}
	return out
}

func epochOf(epochs []partEpoch, topic string, partition int32) uint64 {
	for _, e := range epochs {
		if e.tp.partition == partition && e.tp.topic == topic {
			return e.epoch
		}
	}
	return 0
}

// builder is the batch being filled.
type builder struct {
	items []batch.Item
	part  []int32 // per item, its index in parts
	parts []bpart
	first time.Time // when the first message arrived; zero: empty
	orig  []byte    // scratch for origins
}

// bpart is one partition of the batch being filled.
type bpart struct {
	tp    tp
	epoch uint64
	mark  mark
	full  bool // at least one message of it is wholly in the batch
}

func (b *builder) partIndex(k tp, epoch uint64) int32 {
	for i := range b.parts {
		if b.parts[i].tp == k && b.parts[i].epoch == epoch {
			return int32(i)
		}
	}
	b.parts = append(b.parts, bpart{tp: k, epoch: epoch})
	return int32(len(b.parts) - 1)
}

func (b *builder) reset() {
	*b = builder{orig: b.orig}
}

// add splits one Kafka message into items, emitting the batch whenever it
// is full (a message may straddle two batches), and records the message's
// offset in the batch that holds its last item.
func (in *Input) add(ctx context.Context, emit func(context.Context, *batch.Batch) error, b *builder, r *kgo.Record, epoch uint64, spans []span) ([]span, error) {
	k := tp{r.Topic, r.Partition}
	if b.first.IsZero() {
		b.first = time.Now()
	}
	b.orig = append(b.orig[:0], "eventhubs:"...)
	b.orig = append(b.orig, r.Topic...)
	b.orig = append(b.orig, '/')
	b.orig = strconv.AppendInt(b.orig, int64(r.Partition), 10)
	b.orig = append(b.orig, '@')
	b.orig = strconv.AppendInt(b.orig, r.Offset, 10)
	prefix := len(b.orig)

	spans, envelope, err := splitValue(r.Value, spans)
	if err != nil {
		reason := "not JSON: " + err.Error()
		if errors.Is(err, errEmpty) {
			reason = "empty message"
		}
		if in.bad != nil {
			in.bad(string(b.orig), bytes.Clone(r.Value), reason)
		} else {
			spans = append(spans, span{0, len(r.Value)})
		}
	}
	// One copy per message, of the span from its first record to its
	// last: the client's fetch buffer is not kept alive by the items, and
	// each item is capped so an append cannot spill into its neighbour.
	var buf []byte
	if len(spans) > 0 {
		buf = append([]byte(nil), r.Value[spans[0].start:spans[len(spans)-1].end]...)
	}
	var shard string
	if in.assignedHook != nil {
		shard = Shard(r.Topic, r.Partition)
	}
	for i, s := range spans {
		start, end := s.start-spans[0].start, s.end-spans[0].start
		origin := b.orig[:prefix]
		if envelope {
			origin = append(origin, '#')
			origin = strconv.AppendInt(origin, int64(i), 10)
		}
		b.orig = origin
		pi := b.partIndex(k, epoch)
		b.items = append(b.items, batch.Item{Data: buf[start:end:end], Origin: string(origin), Shard: shard})
		b.part = append(b.part, pi)
		if len(b.items) >= in.cfg.BatchSize && i < len(spans)-1 {
			// Full in the middle of the message: this batch does not
			// contain the message wholly, so it does not commit it.
			if err := in.flush(ctx, emit, b); err != nil {
				return spans, err
			}
			b.first = time.Now()
		}
	}
	pi := b.partIndex(k, epoch)
	b.parts[pi].mark = mark{epoch: epoch, offset: r.Offset + 1, leaderEpoch: r.LeaderEpoch}
	b.parts[pi].full = true
	if len(b.items) >= in.cfg.BatchSize {
		if err := in.flush(ctx, emit, b); err != nil {
			return spans, err
		}
	}
	return spans, nil
}

// flush emits the batch being filled, leaving out the items of partitions
// revoked since they were polled (their next owner reads them).
func (in *Input) flush(ctx context.Context, emit func(context.Context, *batch.Batch) error, b *builder) error {
	defer b.reset()
	if b.first.IsZero() {
		return nil
	}
	in.mu.Lock()
	var stale []bool
	var marks []partMark
	for i, p := range b.parts {
		if in.owned[p.tp] != p.epoch {
			if stale == nil {
				stale = make([]bool, len(b.parts))
			}
			stale[i] = true
			continue
		}
		if p.full {
			marks = append(marks, partMark{p.tp, p.mark})
		}
	}
	items := b.items
	if stale != nil {
		kept := items[:0:0]
		for i, it := range items {
			if !stale[b.part[i]] {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		// Only messages without records (bad ones, empty envelopes):
		// nothing to acknowledge, only an order to keep. They commit
		// with the last batch in flight, or now if there is none.
		if len(in.inflight) == 0 {
			for _, m := range marks {
				in.markLocked(m)
			}
			in.wakeCommitter()
		} else {
			last := in.inflight[len(in.inflight)-1]
			last.marks = append(last.marks, marks...)
		}
		in.mu.Unlock()
		return nil
	}
	p := &pending{marks: marks}
	in.inflight = append(in.inflight, p)
	in.mu.Unlock()

	bt := &batch.Batch{Items: items, Commit: func() error { return in.commit(p) }}
	if err := emit(ctx, bt); err != nil {
		// Not accepted: it will never be committed.
		in.mu.Lock()
		if i := slices.Index(in.inflight, p); i >= 0 {
			in.inflight = slices.Delete(in.inflight, i, i+1)
		}
		in.signalLocked()
		in.mu.Unlock()
		return err
	}
	return nil
}

// commit is a batch's Commit. The runner calls it in emission order once
// every output acknowledged the batch and every earlier one. It makes the
// batch's offsets committable (for partitions still owned under the same
// assignment) and wakes the committer; it never waits for the network.
func (in *Input) commit(p *pending) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return errStopped
	}
	p.done = true
	n := 0
	for n < len(in.inflight) && in.inflight[n].done {
		for _, m := range in.inflight[n].marks {
			in.markLocked(m)
		}
		n++
	}
	if n > 0 {
		copy(in.inflight, in.inflight[n:])
		clear(in.inflight[len(in.inflight)-n:])
		in.inflight = in.inflight[:len(in.inflight)-n]
		in.signalLocked()
		in.wakeCommitter()
	}
	return nil
}

func (in *Input) markLocked(m partMark) {
	if in.owned[m.tp] != m.mark.epoch {
		return // revoked or lost since: the new owner commits it
	}
	if cur, ok := in.committable[m.tp]; !ok || m.mark.offset > cur.offset {
		in.committable[m.tp] = m.mark
	}
}

func (in *Input) signalLocked() {
	close(in.changed)
	in.changed = make(chan struct{})
}

func (in *Input) wakeCommitter() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// committer sends committable offsets until stop is closed, retrying
// failed commits with back-off.
func (in *Input) committer(stop <-chan struct{}) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	backoff := 250 * time.Millisecond
	for {
		select {
		case <-stop:
			retry.Stop()
			return
		case <-in.wake:
		case <-retry.C:
		}
		if err := in.flushCommits(); err != nil {
			in.limitedLog("commit:"+err.Error(), slog.LevelWarn, "offset commit failed; retrying", "retry_in", backoff, "err", err)
			retry.Reset(backoff)
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 250 * time.Millisecond
	}
}

// flushCommits commits every committable offset of a partition still
// owned.
func (in *Input) flushCommits() error {
	in.commitMu.Lock()
	defer in.commitMu.Unlock()
	in.mu.Lock()
	snap := map[tp]mark{}
	for k, m := range in.committable {
		if in.owned[k] != m.epoch {
			delete(in.committable, k)
			continue
		}
		snap[k] = m
	}
	cl := in.cl
	in.mu.Unlock()
	return in.send(cl, snap)
}

// send commits snap with the group's current generation (a stale
// generation is refused by the broker) and forgets what was committed.
// The caller holds commitMu.
func (in *Input) send(cl *kgo.Client, snap map[tp]mark) error {
	if len(snap) == 0 || cl == nil {
		return nil
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for k, m := range snap {
		ps := offsets[k.topic]
		if ps == nil {
			ps = map[int32]kgo.EpochOffset{}
			offsets[k.topic] = ps
		}
		ps[k.partition] = kgo.EpochOffset{Epoch: m.leaderEpoch, Offset: m.offset}
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	var rerr error
	failed := map[tp]error{}
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			rerr = err
			return
		}
		names := map[[16]byte]string{}
		for _, t := range req.Topics {
			names[t.TopicID] = t.Topic
		}
		for _, t := range resp.Topics {
			topic := t.Topic
			if topic == "" {
				topic = names[t.TopicID]
			}
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
					failed[tp{topic, p.Partition}] = e
					rerr = e
				}
			}
		}
	})
	in.mu.Lock()
	for k, m := range snap {
		if rerr != nil && (len(failed) == 0 || failed[k] != nil) {
			continue // kept for the next attempt (if still owned then)
		}
		if cur, ok := in.committable[k]; ok && cur == m {
			delete(in.committable, k)
		}
	}
	in.mu.Unlock()
	if in.hooks.committed != nil {
		in.hooks.committed(offsets, rerr)
	}
	return rerr
}

// waitInflight waits until no emitted batch holds an offset of a partition
// in set (nil: of any partition) that is still owned, or until d passed.
// It returns how many such batches are left.
func (in *Input) waitInflight(set map[tp]bool, d time.Duration) int {
	timer := time.NewTimer(d)
	defer timer.Stop()
	in.mu.Lock()
	for {
		n := 0
		for _, p := range in.inflight {
			if set == nil {
				n++
				continue
			}
			for _, m := range p.marks {
				if set[m.tp] && in.owned[m.tp] == m.mark.epoch {
					n++
					break
				}
			}
		}
		ch := in.changed
		in.mu.Unlock()
		if n == 0 {
			return 0
		}
		select {
		case <-ch:
		case <-timer.C:
			return n
		}
		in.mu.Lock()
	}
}

func toSet(m map[string][]int32) map[tp]bool {
	set := map[tp]bool{}
	for t, ps := range m {
		for _, p := range ps {
			set[tp{t, p}] = true
		}
	}
	return set
}

func (in *Input) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	if in.assignedHook != nil && len(assigned) > 0 && !in.restore(shards(assigned)) {
		// Not marked owned: nothing of these partitions is emitted or
		// committed; the input is stopping (see restore).
		return
	}
	in.mu.Lock()
	for k := range toSet(assigned) {
		in.epochs++
		in.owned[k] = in.epochs
	}
	in.mu.Unlock()
	if len(assigned) > 0 {
		in.log.Info("partitions assigned", "input", in.name, "partitions", assigned)
	}
	if in.hooks.assigned != nil {
		in.hooks.assigned(cl, assigned)
	}
}

// onRevoked runs when the group takes partitions away (cooperative: only
// those that move) and when the client leaves the group. Until it returns,
// no other member owns them, so it waits (at most rebalance_wait) for the
// batches already emitted from them to be acknowledged, commits their
// offsets, and then drops the partitions: a later Commit of one of those
// batches commits nothing for them, because by then another member may
// be reading them.
func (in *Input) onRevoked(_ context.Context, cl *kgo.Client, revoked map[string][]int32) {
	set := toSet(revoked)
	if len(set) == 0 {
		return
	}
	in.mu.Lock()
	stopped := in.stopped
	in.mu.Unlock()
	left := 0
	if !stopped {
		left = in.waitInflight(set, in.cfg.RebalanceWait)
	}
	in.commitMu.Lock()
	in.mu.Lock()
	snap := map[tp]mark{}
	for k := range set {
		if m, ok := in.committable[k]; ok && in.owned[k] == m.epoch {
			snap[k] = m
		}
		delete(in.owned, k)
		delete(in.committable, k)
	}
	in.mu.Unlock()
	err := in.send(cl, snap)
	in.commitMu.Unlock()
	switch {
	case err != nil:
		in.log.Warn("partitions revoked; the final offset commit failed, so their next owner re-reads acknowledged records", "input", in.name, "partitions", revoked, "err", err)
	case left > 0:
		in.log.Warn("partitions revoked before all their batches were acknowledged; their next owner reads those records again", "input", in.name, "partitions", revoked, "unacknowledged_batches", left, "waited", in.cfg.RebalanceWait)
	default:
		in.log.Info("partitions revoked", "input", in.name, "partitions", revoked)
	}
	if in.revokedHook != nil {
		in.revokedHook(shards(revoked))
	}
	if in.hooks.revoked != nil {
		in.hooks.revoked(revoked)
	}
}

// restoreAttempts bounds the tries of the assigned hook: 1+2+4+8+16 s of
// back-off stays within the group's rebalance timeout (60 s).
const restoreAttempts = 5

// restore runs the assigned hook until it succeeds, a few times with
// back-off. Fetching of the partitions waits for it (the client starts
// fetching them only when onAssigned returns) while the member keeps
// heartbeating. If it keeps failing, or the input stops meanwhile, it
// returns false and the partitions are not taken: a failure also stops
// the input with the error, so that the partitions go to a member that
// can restore them instead of stalling here.
func (in *Input) restore(sh []string) bool {
	in.mu.Lock()
	ctx := in.runCtx
	in.mu.Unlock()
	backoff := in.restoreBackoff
	for attempt := 1; ; attempt++ {
		err := in.assignedHook(ctx, sh)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if attempt == restoreAttempts {
			in.fatal.CompareAndSwap(nil, &fatalErr{fmt.Errorf("restoring the state of partitions %v failed %d times: %w", sh, attempt, err)})
			return false
		}
		in.log.Error("restoring the state of assigned partitions failed; their records are not read until it succeeds", "input", in.name, "partitions", sh, "err", err, "attempt", attempt, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

type fatalErr struct{ err error }

// onLost runs when the membership is gone (session expired, fenced): the
// partitions may already be someone else's, and a commit would be refused
// anyway, so they are dropped at once.
func (in *Input) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	set := toSet(lost)
	if len(set) == 0 {
		return
	}
	in.commitMu.Lock()
	in.mu.Lock()
	for k := range set {
		delete(in.owned, k)
		delete(in.committable, k)
	}
	in.mu.Unlock()
	in.commitMu.Unlock()
	in.log.Warn("partitions lost (group session expired or member fenced); records emitted from them and not yet committed will be read again", "input", in.name, "partitions", lost)
	if in.revokedHook != nil {
		in.revokedHook(shards(lost))
	}
	if in.hooks.revoked != nil {
		in.hooks.revoked(lost)
	}
}

// connHook reports failed connection attempts (unreachable namespace,
// refused credentials) at warning level, which the client itself logs
// only at debug level once SASL is configured, and their end.
type connHook struct{ in *Input }

func (h connHook) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	in := h.in
	addr := net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	in.mu.Lock()
	if in.connFailing == nil {
		in.connFailing = map[string]bool{}
	}
	was := in.connFailing[addr]
	in.connFailing[addr] = err != nil
	in.mu.Unlock()
	if err == nil {
		if was {
			in.log.Info("connected to the broker again", "input", in.name, "broker", addr)
		}
		return
	}
	hint := "the client retries; check the address, the network path (port 9093 for Event Hubs) and the credentials"
	if in.isEH {
		hint = "the client retries; check the namespace name, that it is Standard tier or higher (Basic has no Kafka endpoint), that port 9093 is open, and the connection string's key and policy (Listen)"
	}
	in.limitedLog("connect:"+addr, slog.LevelWarn, "cannot connect to the broker", "broker", addr, "err", err, "hint", hint)
}

// limitedLog logs one line per key per minute.
func (in *Input) limitedLog(key string, level slog.Level, msg string, args ...any) {
	if n, ok := in.limit.allow(key, time.Minute); ok {
		if n > 0 {
			args = append(args, "suppressed", n)
		}
		in.log.Log(context.Background(), level, msg, append([]any{"input", in.name}, args...)...)
	}
}

// limiter lets one log line per key through per interval and counts the
// others.
type limiter struct {
	mu   sync.Mutex
	last map[string]time.Time
	skip map[string]int
}

func (l *limiter) allow(key string, every time.Duration) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil || len(l.last) > 1000 {
		l.last, l.skip = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	if last, seen := l.last[key]; seen && now.Sub(last) < every {
		l.skip[key]++
		return 0, false
	}
	l.last[key] = now
	n := l.skip[key]
	delete(l.skip, key)
	return n, true
}

// kgoLogger passes the client's warnings and errors to slog (each message
// at most every 30s: an outage makes the client retry many times a
// second), and its info lines (connections, group sessions) at debug
// level.
type kgoLogger struct {
	log   *slog.Logger
	level kgo.LogLevel
	limit *limiter
}

func newKgoLogger(log *slog.Logger) kgoLogger {
	l := kgoLogger{log: log, level: kgo.LogLevelWarn, limit: &limiter{}}
	if log.Enabled(context.Background(), slog.LevelDebug) {
		l.level = kgo.LogLevelInfo
	}
	return l
}

func (l kgoLogger) Level() kgo.LogLevel { return l.level }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	sl := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		sl = slog.LevelError
	case kgo.LogLevelWarn:
		sl = slog.LevelWarn
	}
	if sl >= slog.LevelWarn {
		n, ok := l.limit.allow(msg, 30*time.Second)
		if !ok {
			return
		}
		if n > 0 {
			keyvals = append(keyvals, "suppressed", n)
		}
	}
	l.log.Log(context.Background(), sl, "kafka client: "+msg, keyvals...)
}
