package changelog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/privtrail/privtrail/monitor"
)

const (
	// restorePartitionBytes lets one fetch bring a large part of a
	// partition: a restore reads whole partitions as fast as it can and
	// the default (1 MiB) would cost a round trip per MiB.
	restorePartitionBytes = 16 << 20
	// restoreFetchWait bounds a fetch that finds nothing new; it should
	// not happen (Restore reads only up to offsets that exist), but a
	// rebalance must not sit in the broker's default 5s wait if it does.
	restoreFetchWait = 100 * time.Millisecond
)

// RestoreStats says what a Restore did, for logs and metrics.
type RestoreStats struct {
	Partitions int           // changelog partitions of the shards asked for (empty ones included)
	Records    int           // changelog records read
	Entries    int           // entries handed to apply
	Took       time.Duration // the whole Restore, apply included
}

// Restore reads the changelog partitions of shards (shards of the source
// topic, "<topic>/<partition>") and calls apply once per shard, in the
// order given, with the newest entry per key of pipeline: sorted by
// Monitor then Key, tombstoned keys left out, nil if there is none. It
// reads each partition up to the end it had when Restore began; what is
// appended later is not waited for.
//
// It runs in a rebalance callback, so it shares nothing with the caller's
// clients: it lists offsets with the Log's producer client and reads with
// a consumer client of its own, without a group, closed before it returns.
func (l *Log) Restore(ctx context.Context, pipeline string, shards []string, apply func(shard string, entries []monitor.Change) error) (RestoreStats, error) {
	began := time.Now()
	var st RestoreStats
	done := func(err error) (RestoreStats, error) {
		st.Took = time.Since(began)
		return st, err
	}
	byPart := make(map[int32]string, len(shards))
	order := make([]string, 0, len(shards))
	partOf := make([]int32, 0, len(shards))
	for _, s := range shards {
		p, err := l.partition(s)
		if err != nil {
			return done(err)
		}
		if _, dup := byPart[p]; dup {
			continue
		}
		byPart[p] = s
		order = append(order, s)
		partOf = append(partOf, p)
	}
	st.Partitions = len(byPart)
	if err := ctx.Err(); err != nil {
		return done(err)
	}
	state := make(map[int32]map[string][]byte, len(byPart))
	if len(byPart) > 0 {
		parts := make([]int32, 0, len(byPart))
		for p := range byPart {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		starts, ends, err := l.offsets(ctx, parts)
		if err != nil {
			return done(err)
		}
		for _, p := range parts {
			if ends[p] <= starts[p] {
				delete(starts, p) // empty: nothing to read
			}
		}
		if len(starts) > 0 {
			st.Records, err = l.read(ctx, starts, ends, state)
			if err != nil {
				return done(err)
			}
		}
	}
	for i, shard := range order {
		if err := ctx.Err(); err != nil {
			return done(err)
		}
		entries := l.entries(shard, pipeline, state[partOf[i]])
		if err := apply(shard, entries); err != nil {
			return done(fmt.Errorf("changelog: restoring %s: %w", shard, err))
		}
		st.Entries += len(entries)
		delete(state, partOf[i]) // apply has it now: let it go before the next shard's
	}
	return done(nil)
}

// offsets lists the start and end offsets of the changelog's partitions.
func (l *Log) offsets(ctx context.Context, parts []int32) (starts, ends map[int32]int64, err error) {
	type result struct {
		offs map[int32]int64
		err  error
	}
	// Both lists at once: this is on the rebalance's critical path.
	earliest := make(chan result, 1)
	go func() {
		offs, err := l.listOffsets(ctx, parts, -2)
		earliest <- result{offs, err}
	}()
	ends, err = l.listOffsets(ctx, parts, -1)
	r := <-earliest
	if err != nil {
		return nil, nil, err
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	return r.offs, ends, nil
}

// listOffsets lists the offsets at ts of parts: -2 the log start, -1 the
// high watermark.
func (l *Log) listOffsets(ctx context.Context, parts []int32, ts int64) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = l.topic
	for _, p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = ts
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	which := map[int64]string{-2: "start", -1: "end"}[ts]
	resp, err := req.RequestWith(ctx, l.cl)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("changelog: listing %s offsets of %s: %w", which, l.topic, err)
	}
	out := make(map[int32]int64, len(parts))
	for _, rt := range resp.Topics {
		if rt.Topic != l.topic {
			continue
		}
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("changelog: listing %s offset of %s/%d: %w", which, l.topic, rp.Partition, err)
			}
			out[rp.Partition] = rp.Offset
		}
	}
	for _, p := range parts {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("changelog: listing %s offset of %s/%d: no answer", which, l.topic, p)
		}
	}
	return out, nil
}

// read consumes each partition p of starts from starts[p] until its
// record at ends[p]-1 was read, into state[p]: raw key → newest value. It
// returns how many records it read.
//
// It stops on the record at end-1 rather than on the consumer's position
// because kgo does not expose the position. That record always exists:
// the changelog is written by an idempotent, non-transactional producer
// (no control records at the end), and Kafka never cleans the active
// segment, which holds a partition's last record. If it were ever
// missing, ctx bounds the wait.
func (l *Log) read(ctx context.Context, starts, ends map[int32]int64, state map[int32]map[string][]byte) (int, error) {
	from := make(map[int32]kgo.Offset, len(starts))
	for p, o := range starts {
		from[p] = kgo.NewOffset().At(o)
	}
	cl, err := kgo.NewClient(append(slices.Clone(l.conn),
		kgo.ClientID(clientID+"-restore"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{l.topic: from}),
		kgo.FetchMaxPartitionBytes(restorePartitionBytes),
		kgo.FetchMaxWait(restoreFetchWait),
	)...)
	if err != nil {
		return 0, fmt.Errorf("changelog: restore client: %w", err)
	}
	defer cl.Close()
	remaining := make(map[int32]bool, len(from))
	for p := range from {
		remaining[p] = true
		// Sized for a compacted partition, one record per key; a long
		// uncompacted tail only makes it a guess on the high side.
		state[p] = make(map[string][]byte, min(ends[p]-starts[p], 1<<20))
	}
	n := 0
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, err
		}
		var ferr error
		fs.EachError(func(topic string, p int32, err error) {
			var loss *kgo.ErrDataLoss
			if errors.As(err, &loss) {
				// The log start moved past where we began (records
				// deleted meanwhile): what is left is still the
				// newest state there is.
				l.log.Warn("restore skipped deleted changelog records", "partition", p, "err", err)
				return
			}
			if ferr == nil {
				ferr = fmt.Errorf("changelog: reading %s/%d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return n, ferr
		}
		var finished []int32
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			p := fp.Partition
			if !remaining[p] {
				return
			}
			end, m := ends[p], state[p]
			for _, r := range fp.Records {
				if r.Offset >= end {
					break
				}
				n++
				if r.Value == nil {
					delete(m, string(r.Key))
				} else {
					// A copy, so that the fetch buffers can be freed
					// while the newest values alone stay.
					m[string(r.Key)] = bytes.Clone(r.Value)
				}
			}
			if k := len(fp.Records); k > 0 && fp.Records[k-1].Offset >= end-1 {
				delete(remaining, p)
				finished = append(finished, p)
			}
		})
		if len(finished) > 0 {
			// Stop fetching what was appended since: it is not waited for.
			cl.PauseFetchPartitions(map[string][]int32{l.topic: finished})
		}
	}
	return n, nil
}

// entries turns a partition's newest values into pipeline's entries for
// shard, sorted by Monitor then Key.
func (l *Log) entries(shard, pipeline string, m map[string][]byte) []monitor.Change {
	if len(m) == 0 {
		return nil
	}
	// Sorted, apply writes each monitor's keys in order (bbolt fills its
	// pages sequentially) and runs are comparable. Sorting items smaller
	// than a Change moves less memory.
	type item struct {
		monitor, key string
		value        []byte
	}
	items := make([]item, 0, len(m))
	bad := 0
	for k, v := range m {
		pl, mon, key, err := decodeKey(k)
		if err != nil {
			bad++
			continue
		}
		if pl == pipeline {
			items = append(items, item{mon, key, v})
		}
	}
	if bad > 0 {
		l.log.Warn("restore skipped changelog entries whose key it cannot decode (written by another version?)", "shard", shard, "skipped", bad)
	}
	if len(items) == 0 {
		return nil
	}
	slices.SortFunc(items, func(a, b item) int {
		// Most neighbours share their monitor: test equality (length
		// first) before ordering.
		if a.monitor != b.monitor {
			return strings.Compare(a.monitor, b.monitor)
		}
		return strings.Compare(a.key, b.key)
	})
	out := make([]monitor.Change, len(items))
	for i, it := range items {
		out[i] = monitor.Change{Shard: shard, Pipeline: pipeline, Monitor: it.monitor, Key: it.key, Value: it.value}
	}
	return out
}
