package monitor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/privtrail/privtrail/internal/store"
)

// Change is one entry a State wrote for a shard, as a Replica copies it
// and as State.Restore takes it back.
type Change struct {
	// Shard owns the entry: for a processor reading the cluster topic,
	// "<topic>/<partition>" of the records that made it.
	Shard    string
	Pipeline string
	// Monitor is the monitor's ID.
	Monitor string
	// Key is the monitor's key (by default the actor); "" is the
	// monitor's meta for the shard (when its learning began).
	Key string
	// Value is the encoded entry; nil: the key was deleted (expired).
	Value []byte
}

// Replica keeps a copy of what a State writes for its shards, so that
// another instance given a shard can restore it (package changelog keeps
// it in a compacted Kafka topic, as Kafka Streams does). Replicate returns
// once the changes are durable; a State calls it before Apply returns, so
// nothing a batch changed is missing from the copy by the time the batch
// can be checkpointed.
type Replica interface {
	Replicate(ctx context.Context, changes []Change) error
}

// ErrNotReplicated is returned by Apply when the State's changes are
// stored locally but its Replica did not take them: the batch must not be
// checkpointed, or a new owner of its shard would restore a state without
// it and never read its records again.
var ErrNotReplicated = errors.New("monitor state not replicated")

// shardKey is how a sharded record's key is stored: the shard first, so
// that a shard's keys are one range of the bucket, behind a NUL. Only a
// processor (a State with a Replica) has sharded keys and reads them back
// as such: there every key is sharded, and a shard (a topic name and a
// number) holds no NUL, so the first two NULs delimit it whatever the key.
func shardKey(shard, key string) string { return "\x00" + shard + "\x00" + key }

func shardPrefix(shard string) []byte { return []byte("\x00" + shard + "\x00") }

// splitShardKey returns the shard and the monitor's own key of a stored
// key; ok is false for a key of no shard.
func splitShardKey(k string) (shard, key string, ok bool) {
	if k == "" || k[0] != 0 {
		return "", k, false
	}
	return strings.Cut(k[1:], "\x00")
}

type shardMon struct {
	ms    *monState
	shard string
}

// SetReplica makes every Apply copy the changes of sharded keys to r
// before it returns; ctx bounds those calls (the agent's run). Records of
// a shard are judged only once Restore gave the State that shard. It
// deletes the sharded keys stored locally by an earlier run: a processor
// starts owning nothing, and a shard's state is the replica's, restored
// when the shard is assigned (the local copy may be stale: another
// processor may have owned the shard since).
func (s *State) SetReplica(ctx context.Context, r Replica) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replica, s.rctx = r, ctx
	return s.replace([]byte{0}, "", nil)
}

// Restore makes shard's state the entries given (what a Replica kept:
// the newest entry per key), replacing whatever was stored locally for
// it, and from then on judges the shard's records. It is called when a
// processor is given the shard, before any of its records is read.
// Entries of monitors the pipeline no longer has are skipped.
func (s *State) Restore(shard string, entries []Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.replace(shardPrefix(shard), shard, entries); err != nil {
		return fmt.Errorf("monitor state: restoring %s: %w", shard, err)
	}
	s.owned[shard] = true
	return nil
}

// Release stops judging shard's records and deletes its local state: the
// shard's next owner restores it from the Replica. Called when the shard
// is taken away, after its last batches were checkpointed.
func (s *State) Release(shard string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.owned, shard)
	if err := s.replace(shardPrefix(shard), shard, nil); err != nil {
		return fmt.Errorf("monitor state: releasing %s: %w", shard, err)
	}
	return nil
}

// replace deletes the stored keys starting with prefix (a shard's, or
// every shard's), stores entries as shard's in the same transaction, and
// forgets what memory held of the prefix. A monitor's meta entry moves its
// learning start back if it began earlier.
func (s *State) replace(prefix []byte, shard string, entries []Change) error {
	byID := make(map[string]*monState, len(s.order))
	metas := make(map[*monState]stateMeta, len(s.order))
	for _, ms := range s.order {
		byID[ms.m.ID] = ms
		metas[ms] = ms.meta
	}
	starts := map[*monState]int64{}
	err := s.st.Update(func(w *store.Writer) error {
		for _, ms := range s.order {
			n, err := deletePrefix(w, ms.bucket, prefix)
			if err != nil {
				return err
			}
			m := metas[ms]
			m.keys = max(m.keys-n, 0)
			metas[ms] = m
		}
		for _, e := range entries {
			ms := byID[e.Monitor]
			if ms == nil || e.Value == nil {
				continue
			}
			m := metas[ms]
			if e.Key == "" {
				if start, n := binary.Varint(e.Value); n > 0 && start != 0 {
					starts[ms] = start
					if m.start == 0 || start < m.start {
						m.start = start
					}
				}
			} else {
				if err := w.Put(ms.bucket, []byte(shardKey(shard, e.Key)), e.Value); err != nil {
					return err
				}
				m.keys++
			}
			metas[ms] = m
		}
		for _, ms := range s.order {
			if err := w.Put(metaBucket, []byte(ms.bucket), encodeMeta(metas[ms])); err != nil {
				return err
			}
		}
		return nil
	})
	s.forget(string(prefix))
	if err != nil {
		return err
	}
	for _, ms := range s.order {
		ms.meta = metas[ms]
		ms.keys.Store(ms.meta.keys)
		if st, ok := starts[ms]; ok {
			s.metaSent[shardMon{ms, shard}] = st
		}
	}
	return nil
}

// Owned returns the shards whose records the State judges, sorted.
func (s *State) Owned() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.owned))
	for sh := range s.owned {
		out = append(out, sh)
	}
	slices.Sort(out)
	return out
}

// forget drops what memory holds of the keys starting with prefix (a
// shard's, or every shard's): cached and dirty keys, and which meta was
// replicated.
func (s *State) forget(p string) {
	for _, ms := range s.order {
		for _, k := range ms.cache.Keys() {
			if strings.HasPrefix(k, p) {
				ms.cache.Remove(k)
			}
		}
	}
	for sm := range s.metaSent {
		if strings.HasPrefix(string(shardPrefix(sm.shard)), p) {
			delete(s.metaSent, sm)
		}
	}
	for k := range s.dirty {
		if strings.HasPrefix(k.key, p) {
			delete(s.dirty, k)
		}
	}
	for k := range s.deleted {
		if strings.HasPrefix(k.key, p) {
			delete(s.deleted, k)
		}
	}
}

var errStopScan = errors.New("end of prefix")

// deletePrefix deletes bucket's keys starting with prefix and returns
// how many there were.
func deletePrefix(w *store.Writer, bucket string, prefix []byte) (int64, error) {
	var n int64
	for from := prefix; from != nil; {
		next, err := w.Scan(bucket, from, 4096, func(k, _ []byte) error {
			if !bytes.HasPrefix(k, prefix) {
				return errStopScan
			}
			n++
			return w.Delete(bucket, k)
		})
		if errors.Is(err, errStopScan) {
			break
		}
		if err != nil {
			return n, err
		}
		from = next
	}
	return n, nil
}

// changeOf appends the replica's copy of a stored key (val nil: deleted),
// and the monitor's meta for the shard when the replica does not have it
// yet. Keys of shards the State does not own are not copied: their owner
// writes that part of the changelog.
func (s *State) changeOf(ms *monState, storeKey string, val []byte) {
	if s.replica == nil {
		return
	}
	shard, key, ok := splitShardKey(storeKey)
	if !ok || !s.owned[shard] {
		return
	}
	s.changes = append(s.changes, Change{Shard: shard, Pipeline: s.pipeline, Monitor: ms.m.ID, Key: key, Value: val})
	sm := shardMon{ms, shard}
	sent, ok := s.metaSent[sm]
	if pending, isPending := s.metaPending[sm]; isPending {
		sent, ok = pending, true
	}
	if !ok || sent != ms.meta.start {
		s.metaPending[sm] = ms.meta.start
		s.changes = append(s.changes, Change{Shard: shard, Pipeline: s.pipeline, Monitor: ms.m.ID, Value: binary.AppendVarint(nil, ms.meta.start)})
	}
}

// judges reports whether o's shard is the State's to judge: always for a
// single agent's records (no shard), for a processor's only the shards
// Restore gave it.
func (s *State) judges(o *Observation) bool {
	return o.Record.Shard == "" || s.owned[o.Record.Shard]
}
