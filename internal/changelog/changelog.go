// Package changelog keeps a copy of the monitor state of a processor's
// shards in a compacted Kafka topic, as Kafka Streams does with its state
// stores, so that a partition of the records topic can move to another
// processor without losing what the monitors learnt from it.
//
// Design:
//
//   - Partition N of the records topic (shard "<topic>/N") is mirrored by
//     partition N of the changelog. A new owner of the shard reads exactly
//     one changelog partition, and the changelog is ordered per shard as
//     the state changes were, whatever the number of processors. So the
//     changelog must have at least as many partitions as the records
//     topic; Open refuses one with fewer.
//   - Every state entry is one record keyed by (pipeline, monitor, key)
//     (see appendKey for the encoding). Compaction keeps the newest record
//     per key, so the topic stays about the size of the state, not of its
//     history, and reading a partition from its start and keeping the
//     latest value per key rebuilds the state.
//   - A key that expires is written as a tombstone (null value); the
//     restore drops the key, and compaction eventually drops the
//     tombstone (after delete.retention.ms).
//   - Replicate returns only once Kafka acknowledged every record (acks=all,
//     idempotent producer). The monitor state replicates before the batch
//     that made the changes is checkpointed, so a checkpointed record's
//     effect on the state is always in the changelog: the next owner
//     either restores it or re-reads the record, never neither.
//   - Restore reads up to the end offsets it listed when it started and no
//     further: it runs inside a rebalance, and anything appended later
//     comes from a processor that no longer owns the shard, for records
//     whose offsets it can no longer commit, which the new owner reads
//     again anyway.
package changelog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/privtrail/privtrail/monitor"
)

const (
	clientID = "privtrail-changelog"
	// linger is short because every produce is a ProduceSync of a whole
	// batch of changes that the caller waits for: batching across calls
	// buys nothing, waiting only adds latency to every Apply.
	linger = time.Millisecond
	// closeTimeout bounds how long Close waits for records in flight: they
	// belong to Replicate calls whose callers are giving up anyway.
	closeTimeout = 5 * time.Second
)

// Options configure a Log.
type Options struct {
	Topic       string    // the changelog topic, e.g. "privtrail-records-state"
	SourceTopic string    // the records topic whose partitions it mirrors
	Conn        []kgo.Opt // connection only: seed brokers, SASL, TLS or a Dialer (the caller builds them)
	Log         *slog.Logger
}

// Log is a changelog topic: it replicates monitor state changes to it and
// restores shards from it. Safe for concurrent use.
type Log struct {
	topic  string
	source string
	// parts is the changelog's partition count at Open: a shard's
	// partition must be below it. Growing the topics needs a restart
	// (Open checks them again).
	parts int32
	conn  []kgo.Opt
	cl    *kgo.Client
	log   *slog.Logger

	closeOnce sync.Once
}

var _ monitor.Replica = (*Log)(nil)

// DeliveryTimeout bounds how long Replicate waits for Kafka.
const DeliveryTimeout = 30 * time.Second

// Open checks the source topic, creates the changelog topic if it is
// missing (compacted, with the source's partition count) or checks it if
// it exists, and starts the producer.
func Open(ctx context.Context, o Options) (*Log, error) {
	switch {
	case o.Topic == "":
		return nil, errors.New("changelog: no topic")
	case o.SourceTopic == "":
		return nil, errors.New("changelog: no source topic")
	case o.Topic == o.SourceTopic:
		return nil, fmt.Errorf("changelog: topic %q is the source topic", o.Topic)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("changelog", o.Topic)
	// The connection options come first so that nothing in them can turn
	// off what the changelog relies on (manual partitions, acks=all).
	opts := append(slices.Clone(o.Conn),
		kgo.ClientID(clientID),
		kgo.DefaultProduceTopic(o.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(linger),
		// A broker outage holds Replicate (and with it the processor's
		// batches) this long, then fails it and the processor stops. It
		// stays below the group's rebalance timeout (60 s): a revoke
		// waiting on a stuck Replicate ends before the member would be
		// evicted, so the old owner's writes cannot trail the new
		// owner's by long. Transactions fenced by the group would close
		// that gap entirely; they cost a round trip per batch.
		kgo.RecordDeliveryTimeout(DeliveryTimeout),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("changelog: kafka client: %w", err)
	}
	l := &Log{topic: o.Topic, source: o.SourceTopic, conn: slices.Clone(o.Conn), cl: cl, log: log}
	if err := l.setup(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return l, nil
}

// setup makes sure the changelog topic exists with enough partitions.
func (l *Log) setup(ctx context.Context) error {
	want, have, err := l.partitionCounts(ctx)
	if err != nil {
		return err
	}
	if have < 0 {
		created, err := l.create(ctx, want)
		if err != nil {
			return err
		}
		if created {
			l.parts = want
			l.log.Info("created changelog topic", "partitions", want, "source", l.source, "cleanup.policy", "compact")
			return l.awaitTopic(ctx, want)
		}
		// Another processor created it meanwhile: check what it made.
		if _, have, err = l.partitionCounts(ctx); err != nil {
			return err
		}
		if have < 0 {
			return fmt.Errorf("changelog: topic %q exists but has no metadata yet", l.topic)
		}
	}
	if have < want {
		return fmt.Errorf("changelog: topic %q has %d partitions, fewer than the %d of %q: partition N of the records must map to partition N of the changelog; add partitions to %q",
			l.topic, have, want, l.source, l.topic)
	}
	l.parts = have
	l.checkCompacted(ctx)
	return nil
}

// partitionCounts returns the partition counts of the source and the
// changelog topic; changelog is -1 if it does not exist.
func (l *Log) partitionCounts(ctx context.Context) (source, changelog int32, err error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range []string{l.source, l.topic} {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, l.cl)
	if err != nil {
		return 0, 0, fmt.Errorf("changelog: metadata of %q and %q: %w", l.source, l.topic, err)
	}
	count := func(name string) (int32, error) {
		for _, t := range resp.Topics {
			if t.Topic == nil || *t.Topic != name {
				continue
			}
			if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
				if errors.Is(err, kerr.UnknownTopicOrPartition) {
					return -1, nil
				}
				return 0, fmt.Errorf("changelog: metadata of topic %q: %w", name, err)
			}
			return int32(len(t.Partitions)), nil
		}
		return -1, nil
	}
	if source, err = count(l.source); err != nil {
		return 0, 0, err
	}
	if source <= 0 {
		return 0, 0, fmt.Errorf("changelog: source topic %q does not exist", l.source)
	}
	if changelog, err = count(l.topic); err != nil {
		return 0, 0, err
	}
	return source, changelog, nil
}

// awaitTopic waits until metadata shows the new changelog topic with a
// leader for each partition. Kafka answers CreateTopics before every
// broker knows the topic, and the client caches the "unknown topic" it
// saw before creating it: the first Restore, which comes right after
// Open, would fail on either.
func (l *Log) awaitTopic(ctx context.Context, partitions int32) error {
	backoff := 10 * time.Millisecond
	for {
		req := kmsg.NewPtrMetadataRequest()
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(l.topic)
		req.Topics = append(req.Topics, t)
		resp, err := req.RequestWith(ctx, l.cl)
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 && int32(len(resp.Topics[0].Partitions)) >= partitions {
			ready := true
			for _, p := range resp.Topics[0].Partitions {
				ready = ready && p.ErrorCode == 0 && p.Leader >= 0
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("changelog: waiting for the new topic %q to be ready: %w", l.topic, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// create creates the changelog topic; created is false if it already
// existed (another processor was quicker).
func (l *Log) create(ctx context.Context, partitions int32) (created bool, err error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30_000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = l.topic
	t.NumPartitions = partitions
	t.ReplicationFactor = -1 // the broker's default.replication.factor
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "cleanup.policy", kmsg.StringPtr("compact")
	t.Configs = append(t.Configs, c)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, l.cl)
	if err != nil {
		return false, fmt.Errorf("changelog: creating topic %q: %w", l.topic, err)
	}
	if len(resp.Topics) != 1 {
		return false, fmt.Errorf("changelog: creating topic %q: %d topics in the response", l.topic, len(resp.Topics))
	}
	rt := resp.Topics[0]
	switch err := kerr.ErrorForCode(rt.ErrorCode); {
	case err == nil:
		return true, nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return false, nil
	default:
		if rt.ErrorMessage != nil && *rt.ErrorMessage != "" {
			return false, fmt.Errorf("changelog: creating topic %q: %w (%s)", l.topic, err, *rt.ErrorMessage)
		}
		return false, fmt.Errorf("changelog: creating topic %q: %w", l.topic, err)
	}
}

// checkCompacted warns if the existing changelog topic is not compacted:
// with cleanup.policy=delete, retention would drop entries that are still
// current, and a restore would silently lose them. It only warns, because
// many clusters deny DescribeConfigs to applications and the topic is the
// operators' to configure.
func (l *Log) checkCompacted(ctx context.Context) {
	policy, err := l.cleanupPolicy(ctx)
	switch {
	case err != nil:
		l.log.Warn("cannot check that the changelog topic is compacted", "err", err)
	case !compacted(policy):
		l.log.Warn("changelog topic is not compacted: retention will delete state that is still current and restores will lose it; set cleanup.policy=compact",
			"cleanup.policy", policy)
	}
}

// cleanupPolicy reads the changelog topic's cleanup.policy.
func (l *Log) cleanupPolicy(ctx context.Context) (string, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeTopic
	r.ResourceName = l.topic
	r.ConfigNames = []string{"cleanup.policy"}
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, l.cl)
	if err == nil && len(resp.Resources) == 1 {
		err = kerr.ErrorForCode(resp.Resources[0].ErrorCode)
	} else if err == nil {
		err = fmt.Errorf("%d resources in the response", len(resp.Resources))
	}
	if err != nil {
		return "", err
	}
	policy := ""
	for _, c := range resp.Resources[0].Configs {
		if c.Name == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	return policy, nil
}

func compacted(policy string) bool {
	for p := range strings.SplitSeq(policy, ",") {
		if strings.TrimSpace(p) == "compact" {
			return true
		}
	}
	return false
}

// Check tells what Open would find, without creating or writing
// anything (privtrail check): the source topic, and the changelog's
// partitions and cleanup policy, or that it is missing and would be
// created.
func Check(ctx context.Context, o Options) (string, error) {
	if o.Topic == "" || o.SourceTopic == "" {
		return "", errors.New("changelog: Topic and SourceTopic are required")
	}
	cl, err := kgo.NewClient(append(slices.Clone(o.Conn), kgo.ClientID(clientID), kgo.RequestRetries(3))...)
	if err != nil {
		return "", fmt.Errorf("changelog: kafka client: %w", err)
	}
	defer cl.Close()
	l := &Log{topic: o.Topic, source: o.SourceTopic, cl: cl}
	want, have, err := l.partitionCounts(ctx)
	switch {
	case err != nil:
		return "", err
	case have < 0:
		return fmt.Sprintf("state topic %s missing: the first processor creates it (%d partitions, cleanup.policy=compact; needs CREATE on it)", o.Topic, want), nil
	case have < want:
		return "", fmt.Errorf("state topic %s has %d partitions, fewer than the %d of %s: add partitions to it", o.Topic, have, want, o.SourceTopic)
	}
	policy, err := l.cleanupPolicy(ctx)
	switch {
	case err != nil:
		return fmt.Sprintf("state topic %s: %d partitions (cleanup.policy not readable: %v)", o.Topic, have, err), nil
	case !compacted(policy):
		return "", fmt.Errorf("state topic %s has cleanup.policy=%s: set compact, or retention deletes state that is still current", o.Topic, policy)
	}
	return fmt.Sprintf("state topic %s: %d partitions, compacted", o.Topic, have), nil
}

// partition returns the changelog partition of shard "<source>/<N>": N.
func (l *Log) partition(shard string) (int32, error) {
	i := strings.LastIndexByte(shard, '/')
	if i < 0 {
		return 0, fmt.Errorf("changelog: shard %q is not <topic>/<partition>", shard)
	}
	// Kafka topic names cannot hold "/", so the prefix is the topic. A
	// shard of another topic would mix its state into the source's.
	if shard[:i] != l.source {
		return 0, fmt.Errorf("changelog: shard %q is not of topic %q", shard, l.source)
	}
	// Only the canonical spelling: "t/03" and "t/3" would otherwise be
	// two shards sharing one changelog partition.
	p, err := strconv.ParseInt(shard[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != shard[i+1:] {
		return 0, fmt.Errorf("changelog: shard %q: bad partition number", shard)
	}
	if int32(p) >= l.parts {
		return 0, fmt.Errorf("changelog: shard %q: topic %q has only %d partitions (add partitions and restart)", shard, l.topic, l.parts)
	}
	return int32(p), nil
}

// Replicate writes changes to the changelog and returns once Kafka
// acknowledged all of them (monitor.Replica).
func (l *Log) Replicate(ctx context.Context, changes []monitor.Change) error {
	if len(changes) == 0 {
		return nil
	}
	// One allocation for the records and one for the keys, since this runs
	// for every batch of every processor.
	recs := make([]kgo.Record, len(changes))
	ptrs := make([]*kgo.Record, len(changes))
	size := 0
	for _, c := range changes {
		size += keyLen(c.Pipeline, c.Monitor, c.Key)
	}
	keys := make([]byte, 0, size)
	for i, c := range changes {
		p, err := l.partition(c.Shard)
		if err != nil {
			return err
		}
		from := len(keys)
		keys = appendKey(keys, c.Pipeline, c.Monitor, c.Key)
		// A nil Value stays nil: kgo writes it as Kafka's null value, the
		// tombstone compaction understands.
		recs[i] = kgo.Record{Partition: p, Key: keys[from:len(keys):len(keys)], Value: c.Value}
		ptrs[i] = &recs[i]
	}
	if err := l.cl.ProduceSync(ctx, ptrs...).FirstErr(); err != nil {
		return fmt.Errorf("changelog: replicating to %s: %w", l.topic, err)
	}
	return nil
}

// Close flushes what is being produced, for at most a few seconds, and
// closes the producer.
func (l *Log) Close() {
	l.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := l.cl.Flush(ctx); err != nil {
			l.log.Warn("closing with records not acknowledged", "err", err)
		}
		l.cl.Close()
	})
}
