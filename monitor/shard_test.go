package monitor

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// memReplica is a compacted changelog in memory: the newest change per
// shard, pipeline, monitor and key; a nil value deletes.
type memReplica struct {
	log  []Change
	fail error
}

func (m *memReplica) Replicate(_ context.Context, ch []Change) error {
	if m.fail != nil {
		return m.fail
	}
	m.log = append(m.log, slices.Clone(ch)...)
	return nil
}

func (m *memReplica) entries(shard string) []Change {
	type k struct{ p, m, key string }
	latest := map[k]Change{}
	var order []k
	for _, c := range m.log {
		if c.Shard != shard {
			continue
		}
		kk := k{c.Pipeline, c.Monitor, c.Key}
		if _, ok := latest[kk]; !ok {
			order = append(order, kk)
		}
		latest[kk] = c
	}
	var out []Change
	for _, kk := range order {
		if c := latest[kk]; c.Value != nil {
			out = append(out, c)
		}
	}
	return out
}

func sharded(shard string, recs []*entra.Record) []*entra.Record {
	for _, r := range recs {
		r.Shard = shard
	}
	return recs
}

// A burst split between two processors by a rebalance fires once, on the
// fifth failure, on whichever processor reads it.
func TestShardMovesWithItsState(t *testing.T) {
	rep := &memReplica{}
	a, b := newRig(t, badPasswords), newRig(t, badPasswords)
	a.replica(rep)
	b.replica(rep)
	recs := sharded("records/3", burst("f", "alice", 0, 30*time.Second, 8))

	if err := a.s.Restore("records/3", nil); err != nil {
		t.Fatal(err)
	}
	if got := a.each(recs[:3]...); len(got) != 0 {
		t.Fatalf("three failures fired %v", got)
	}
	if err := a.s.Release("records/3"); err != nil {
		t.Fatal(err)
	}
	if k := a.s.Keys()["test.bad_password"]; k != 0 {
		t.Errorf("released shard left %d keys on the old owner", k)
	}
	if err := b.s.Restore("records/3", rep.entries("records/3")); err != nil {
		t.Fatal(err)
	}
	if k := b.s.Keys()["test.bad_password"]; k != 1 {
		t.Errorf("new owner holds %d keys, want 1", k)
	}
	// The new owner re-reads the third failure (not checkpointed by the
	// old one) and goes on.
	got := b.each(recs[2:]...)
	if !slices.Equal(got, []string{"f004"}) {
		t.Fatalf("hits after the move = %v, want [f004]", got)
	}
}

// Without the shard, records are not judged: the owner judges them.
func TestUnownedShardIsNotJudged(t *testing.T) {
	r := newRig(t, badPasswords)
	r.replica(&memReplica{})
	if got := r.each(sharded("records/1", burst("f", "bob", 0, time.Second, 6))...); len(got) != 0 {
		t.Fatalf("unowned shard fired %v", got)
	}
	if n := r.s.Unowned.Load(); n != 6 {
		t.Errorf("Unowned = %d, want 6", n)
	}
	if k := r.s.Keys()["test.bad_password"]; k != 0 {
		t.Errorf("unowned shard stored %d keys", k)
	}
	// Unsharded records (a single agent) are judged as always, and
	// the unowned ones were not counted as keys.
	if got := r.each(burst("g", "bob", 0, time.Second, 5)...); !slices.Equal(got, []string{"g004"}) {
		t.Fatalf("unsharded hits = %v", got)
	}
	if k := r.s.Keys()["test.bad_password"]; k != 1 {
		t.Errorf("keys = %d, want 1 (bob's, unsharded)", k)
	}
}

// Shards keep their keys apart: the same user in two shards (a key that
// is not the partitioning key) counts per shard, and releasing one leaves
// the other.
func TestShardsKeepKeysApart(t *testing.T) {
	rep := &memReplica{}
	r := newRig(t, badPasswords)
	r.replica(rep)
	for _, sh := range []string{"records/0", "records/1"} {
		if err := r.s.Restore(sh, nil); err != nil {
			t.Fatal(err)
		}
	}
	r.each(sharded("records/0", burst("a", "carol", 0, time.Second, 3))...)
	r.each(sharded("records/1", burst("b", "carol", 0, time.Second, 3))...)
	if k := r.s.Keys()["test.bad_password"]; k != 2 {
		t.Fatalf("keys = %d, want one per shard", k)
	}
	if err := r.s.Release("records/0"); err != nil {
		t.Fatal(err)
	}
	if got := r.s.Owned(); !slices.Equal(got, []string{"records/1"}) {
		t.Fatalf("owned = %v", got)
	}
	if got := r.each(sharded("records/1", burst("c", "carol", 3*time.Second, time.Second, 2))...); !slices.Equal(got, []string{"c001"}) {
		t.Fatalf("hits = %v, want the fifth failure of shard 1", got)
	}
	for _, c := range rep.log {
		if c.Pipeline != "test" || c.Monitor != "test.bad_password" {
			t.Fatalf("change %+v names the wrong pipeline or monitor", c)
		}
	}
}

// Keys that expire are deleted from the replica too, or the compacted
// topic would grow for ever.
func TestExpiredShardKeysAreTombstoned(t *testing.T) {
	rep := &memReplica{}
	r := newRig(t, badPasswords, StateOptions{Lateness: time.Minute})
	r.replica(rep)
	if err := r.s.Restore("records/0", nil); err != nil {
		t.Fatal(err)
	}
	r.each(sharded("records/0", burst("old", "dave", 0, time.Second, 1))...)
	// A day later another user's record moves the watermark past dave's
	// retention; the sweep deletes dave.
	r.each(sharded("records/0", burst("new", "erin", 24*time.Hour, time.Second, 1))...)
	var tomb bool
	for _, c := range rep.log {
		if c.Key == "dave" && c.Value == nil {
			tomb = true
		}
	}
	if !tomb {
		t.Fatalf("no tombstone for the expired key; changes: %d", len(rep.log))
	}
	if got := rep.entries("records/0"); len(got) != 2 || got[0].Key != "" || got[1].Key != "erin" {
		t.Fatalf("replica holds %+v, want the meta entry and erin", got)
	}
}

// first_seen's learning period is not restarted by a move: the new owner
// restores when learning began.
func TestLearningStartMovesWithShard(t *testing.T) {
	const newCountry = `
id: test.new_country
title: new country
risk: medium
source: signin
when: actor.privileged
reason: [actor.upn]
first_seen: {values: ["country=signin.location.countryOrRegion"], learning: 1d}
`
	rep := &memReplica{}
	a, b := newRig(t, newCountry), newRig(t, newCountry)
	a.replica(rep)
	b.replica(rep)
	at := func(id, country string, d time.Duration) *entra.Record {
		r := failure(id, "frank", d)
		r.SignIn.Location.Country = country
		r.Shard = "records/2"
		return r
	}
	if err := a.s.Restore("records/2", nil); err != nil {
		t.Fatal(err)
	}
	a.each(at("r1", "NL", 0), at("r2", "NL", 36*time.Hour))
	if err := b.s.Restore("records/2", rep.entries("records/2")); err != nil {
		t.Fatal(err)
	}
	if got := b.each(at("r3", "BR", 37*time.Hour)); !slices.Equal(got, []string{"r3"}) {
		t.Fatalf("new owner hits = %v: learning restarted instead of moving", got)
	}
}

// A replica that refuses the changes makes Apply say so: the batch must
// not be checkpointed.
func TestReplicaFailureIsReported(t *testing.T) {
	rep := &memReplica{fail: errors.New("broker gone")}
	r := newRig(t, badPasswords)
	r.replica(rep)
	if err := r.s.Restore("records/0", nil); err != nil {
		t.Fatal(err)
	}
	rec := sharded("records/0", burst("f", "gina", 0, time.Second, 1))
	r.ev.Eval(rec[0])
	_, err := r.s.Apply(r.ev.TakeObservations())
	if !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("Apply = %v, want ErrNotReplicated", err)
	}
}

func (r *stateRig) replica(rep Replica) {
	r.t.Helper()
	if err := r.s.SetReplica(context.Background(), rep); err != nil {
		r.t.Fatal(err)
	}
}

// A processor that crashed keeps its old shards' keys on disk. Started
// again, it owns nothing until assigned: the stale keys are dropped, never
// judged, and never written to the changelog (the shard's current owner
// writes that part).
func TestRestartedProcessorDropsStaleShards(t *testing.T) {
	rep := &memReplica{}
	r := newRig(t, badPasswords, StateOptions{Lateness: time.Minute})
	r.replica(rep)
	if err := r.s.Restore("records/0", nil); err != nil {
		t.Fatal(err)
	}
	r.each(sharded("records/0", burst("old", "dave", 0, time.Second, 3))...)
	r.restart() // a crash: no Release
	r.replica(rep)
	if k := r.s.Keys()["test.bad_password"]; k != 0 {
		t.Fatalf("restarted processor holds %d keys before any assignment", k)
	}
	before := len(rep.log)
	if err := r.s.Restore("records/1", nil); err != nil {
		t.Fatal(err)
	}
	// A day later on another shard: dave's old key would have expired.
	r.each(sharded("records/1", burst("new", "erin", 24*time.Hour, time.Second, 1))...)
	for _, c := range rep.log[before:] {
		if c.Shard != "records/1" {
			t.Errorf("wrote %+v for a shard it does not own", c)
		}
	}
}

// A change the replica did not take is sent again in full, with the
// monitor's meta, once it works again.
func TestMetaResentAfterReplicaFailure(t *testing.T) {
	rep := &memReplica{fail: errors.New("broker gone")}
	r := newRig(t, badPasswords)
	r.replica(rep)
	if err := r.s.Restore("records/0", nil); err != nil {
		t.Fatal(err)
	}
	rec := sharded("records/0", burst("f", "gina", 0, time.Second, 2))
	r.ev.Eval(rec[0])
	if _, err := r.s.Apply(r.ev.TakeObservations()); !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("Apply = %v", err)
	}
	rep.fail = nil
	r.each(rec[1])
	if !slices.ContainsFunc(rep.log, func(c Change) bool { return c.Key == "" && c.Value != nil }) {
		t.Fatalf("meta entry never replicated: %+v", rep.log)
	}
}

// A single agent's keys are never read as shard keys, whatever bytes the
// key has (a user agent or UPN an attacker controls can hold NULs).
func TestKeysWithNULsAreNotShards(t *testing.T) {
	r := newRig(t, badPasswords)
	recs := burst("f", "\x00records/0\x00x", 0, time.Second, 5)
	if got := r.each(recs...); !slices.Equal(got, []string{"f004"}) {
		t.Fatalf("hits = %v, want the fifth failure", got)
	}
	if n := r.s.Unowned.Load(); n != 0 {
		t.Fatalf("Unowned = %d", n)
	}
}
