package changelog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/privtrail/privtrail/internal/logbuf"
	"github.com/privtrail/privtrail/monitor"
)

const (
	srcTopic   = "privtrail-records"
	stateTopic = "privtrail-records-state"
	testUser   = "privtrail"
	testPass   = "ch4ngel0g-s3cr3t"
)

// env is a kfake cluster and how a processor connects to it.
type env struct {
	c    *kfake.Cluster
	conn []kgo.Opt
}

// newEnv starts a one-broker cluster holding the records topic with
// parts partitions, plus whatever more seeds.
func newEnv(tb testing.TB, parts int32, more ...kfake.Opt) *env {
	tb.Helper()
	opts := append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(parts, srcTopic)}, more...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return &env{c: c, conn: []kgo.Opt{
		kgo.SeedBrokers(c.ListenAddrs()...),
		// Reconnect within a test's patience.
		kgo.MetadataMinAge(50 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	}}
}

func (e *env) open(tb testing.TB, lb *logbuf.Buffer) *Log {
	tb.Helper()
	l, err := e.tryOpen(lb)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.Close)
	return l
}

func (e *env) tryOpen(lb *logbuf.Buffer) (*Log, error) {
	if lb == nil {
		lb = &logbuf.Buffer{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Open(ctx, Options{Topic: stateTopic, SourceTopic: srcTopic, Conn: e.conn, Log: slog.New(slog.NewTextHandler(lb, nil))})
}

// admin is a plain client for checking what Open made.
func (e *env) admin(tb testing.TB) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(e.conn...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

func (e *env) partitions(tb testing.TB, topic string) int {
	tb.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), e.admin(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		tb.Fatalf("metadata of %s: %v", topic, err)
	}
	return len(resp.Topics[0].Partitions)
}

func (e *env) cleanupPolicy(tb testing.TB, topic string) string {
	tb.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(context.Background(), e.admin(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		tb.Fatalf("describe configs of %s: %v", topic, err)
	}
	for _, c := range resp.Resources[0].Configs {
		if c.Name == "cleanup.policy" && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

func shard(p int) string { return fmt.Sprintf("%s/%d", srcTopic, p) }

func replicate(tb testing.TB, l *Log, changes ...monitor.Change) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Replicate(ctx, changes); err != nil {
		tb.Fatal(err)
	}
}

// restored is what a Restore handed to apply, per shard, in call order.
type restored struct {
	order   []string
	entries map[string][]monitor.Change
}

func restore(tb testing.TB, l *Log, pipeline string, shards ...string) (restored, RestoreStats) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := restored{entries: map[string][]monitor.Change{}}
	st, err := l.Restore(ctx, pipeline, shards, func(shard string, entries []monitor.Change) error {
		if _, dup := got.entries[shard]; dup {
			tb.Errorf("apply called twice for %s", shard)
		}
		got.order = append(got.order, shard)
		got.entries[shard] = entries
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got, st
}

func ch(p int, pipeline, mon, key, value string) monitor.Change {
	return monitor.Change{Shard: shard(p), Pipeline: pipeline, Monitor: mon, Key: key, Value: []byte(value)}
}

func tomb(p int, pipeline, mon, key string) monitor.Change {
	return monitor.Change{Shard: shard(p), Pipeline: pipeline, Monitor: mon, Key: key}
}

func TestKeyRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 300) // a two-byte length
	for _, tc := range []struct{ name, pipeline, monitor, key string }{
		{"plain", "signins", "signin.bad_password_threshold", "alice@contoso.example"},
		{"meta entry", "signins", "signin.first_country", ""},
		{"all empty", "", "", ""},
		{"NUL bytes", "p\x00", "\x00m", "a\x00b\x00"},
		{"slashes", "a/b", "privtrail-records/3", "/"},
		{"long", long, "m", long + "\x00"},
		{"utf-8", "pïpe", "mön", "ü@例え.jp"},
		{"invalid utf-8", "\xff", "\xfe\xfd", "\x80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := appendKey(nil, tc.pipeline, tc.monitor, tc.key)
			if len(k) != keyLen(tc.pipeline, tc.monitor, tc.key) {
				t.Errorf("keyLen %d, encoded %d bytes", keyLen(tc.pipeline, tc.monitor, tc.key), len(k))
			}
			if k[0] != keyVersion {
				t.Errorf("version byte %d", k[0])
			}
			p, m, key, err := decodeKey(k)
			if err != nil {
				t.Fatal(err)
			}
			if p != tc.pipeline || m != tc.monitor || key != tc.key {
				t.Errorf("decoded (%q, %q, %q)", p, m, key)
			}
		})
	}
}

// TestKeyUnambiguous: triples that a separator-based encoding would
// confuse get different keys.
func TestKeyUnambiguous(t *testing.T) {
	triples := [][3]string{
		{"ab", "c", ""}, {"a", "bc", ""}, {"a", "b", "c"}, {"", "abc", ""}, {"", "", "abc"},
		{"a\x00b", "", ""}, {"a", "\x00b", ""}, {"a", "", "\x00b"}, {"a/b", "c", ""}, {"a", "b/c", ""},
	}
	seen := map[string][3]string{}
	for _, tr := range triples {
		k := string(appendKey(nil, tr[0], tr[1], tr[2]))
		if prev, ok := seen[k]; ok {
			t.Errorf("%q and %q share key %q", prev, tr, k)
		}
		seen[k] = tr
	}
}

func TestDecodeKeyRejects(t *testing.T) {
	good := appendKey(nil, "p", "m", "k")
	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"nil", nil},
		{"version only", []byte{keyVersion}},
		{"other version", append([]byte{2}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(slices.Clone(good), 0)},
		{"length past the end", []byte{keyVersion, 5, 'a'}},
		{"non-minimal length", []byte{keyVersion, 0x81, 0x00, 'p', 0, 0}},
		{"overflowing length", []byte{keyVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"huge length", []byte{keyVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p, m, k, err := decodeKey(tc.key); err == nil {
				t.Errorf("decoded (%q, %q, %q)", p, m, k)
			}
		})
	}
}

func FuzzKey(f *testing.F) {
	f.Add(appendKey(nil, "p", "m", "k"), "p", "m", "k")
	f.Add(appendKey(nil, "", "", ""), "", "", "")
	f.Add([]byte{keyVersion, 0x80, 0x01}, "a\x00", "/", "")
	f.Add([]byte{}, "", "mon", "\xff")
	f.Fuzz(func(t *testing.T, raw []byte, pipeline, mon, key string) {
		// Anything decodes without panicking, and what decodes is
		// exactly what appendKey makes of it.
		if p, m, k, err := decodeKey(raw); err == nil {
			if again := appendKey(nil, p, m, k); !bytes.Equal(again, raw) {
				t.Fatalf("%x decodes to (%q, %q, %q), which encodes to %x", raw, p, m, k, again)
			}
		}
		enc := appendKey(nil, pipeline, mon, key)
		if len(enc) != keyLen(pipeline, mon, key) {
			t.Fatalf("keyLen %d, encoded %d", keyLen(pipeline, mon, key), len(enc))
		}
		p, m, k, err := decodeKey(enc)
		if err != nil || p != pipeline || m != mon || k != key {
			t.Fatalf("(%q, %q, %q) came back as (%q, %q, %q), %v", pipeline, mon, key, p, m, k, err)
		}
	})
}

func TestOpenCreatesCompactedTopic(t *testing.T) {
	e := newEnv(t, 6)
	lb := &logbuf.Buffer{}
	l := e.open(t, lb)
	if n := e.partitions(t, stateTopic); n != 6 {
		t.Errorf("changelog has %d partitions, want 6", n)
	}
	if p := e.cleanupPolicy(t, stateTopic); p != "compact" {
		t.Errorf("cleanup.policy %q", p)
	}
	if !strings.Contains(lb.String(), "created changelog topic") {
		t.Errorf("no info line about the creation:\n%s", lb)
	}
	l.Close()
	l.Close() // idempotent

	// A second processor finds it and says nothing.
	lb2 := &logbuf.Buffer{}
	e.open(t, lb2)
	if s := lb2.String(); s != "" {
		t.Errorf("opening an existing, compacted changelog logged:\n%s", s)
	}
}

func TestOpenFewerPartitions(t *testing.T) {
	e := newEnv(t, 6, kfake.SeedTopics(3, stateTopic))
	_, err := e.tryOpen(nil)
	if err == nil {
		t.Fatal("opened a changelog with 3 partitions for a source of 6")
	}
	for _, want := range []string{stateTopic, "3 partitions", "6", "partition N of the records must map to partition N of the changelog"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestOpenMoreChangelogPartitions(t *testing.T) {
	// More partitions than the source are harmless (the extra ones stay
	// empty), and what a growing source needs before it grows.
	e := newEnv(t, 3, kfake.SeedTopics(5, stateTopic))
	l := e.open(t, nil)
	replicate(t, l, ch(2, "p", "m", "k", "v"))
}

func TestOpenMissingSource(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := &env{c: c, conn: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}}
	_, err = e.tryOpen(nil)
	if err == nil || !strings.Contains(err.Error(), srcTopic) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("error %v, want one saying %s does not exist", err, srcTopic)
	}
	// And it did not create the changelog for a source it cannot see.
	if ti := c.TopicInfo(stateTopic); ti != nil {
		t.Errorf("created %s anyway", stateTopic)
	}
}

func TestOpenBadOptions(t *testing.T) {
	for _, o := range []Options{
		{SourceTopic: srcTopic},
		{Topic: stateTopic},
		{Topic: srcTopic, SourceTopic: srcTopic},
	} {
		if _, err := Open(context.Background(), o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

func TestOpenWarnsNotCompacted(t *testing.T) {
	e := newEnv(t, 2, kfake.SeedTopics(2, stateTopic)) // cleanup.policy=delete, the default
	lb := &logbuf.Buffer{}
	e.open(t, lb)
	if s := lb.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "not compacted") {
		t.Errorf("no warning about cleanup.policy:\n%s", s)
	}
}

func TestOpenWarnsWhenConfigsHidden(t *testing.T) {
	e := newEnv(t, 2, kfake.SeedTopics(2, stateTopic))
	e.c.ControlKey(int16(kmsg.DescribeConfigs), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.DescribeConfigsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
		for _, r := range req.Resources {
			rr := kmsg.NewDescribeConfigsResponseResource()
			rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
			rr.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil, true
	})
	lb := &logbuf.Buffer{}
	l := e.open(t, lb) // a warning, not a failure
	if s := lb.String(); !strings.Contains(s, "cannot check") {
		t.Errorf("no warning about the failed check:\n%s", s)
	}
	replicate(t, l, ch(1, "p", "m", "k", "v"))
}

func TestReplicateRestore(t *testing.T) {
	e := newEnv(t, 4) // partition 3 stays empty
	l := e.open(t, nil)
	meta := string([]byte{0x80, 0x01})
	replicate(t, l,
		ch(0, "signins", "mon.a", "alice", "a1"),
		ch(0, "signins", "mon.a", "", meta),
		ch(0, "audits", "mon.a", "alice", "other pipeline"),
		ch(1, "signins", "mon.b", "bob\x00/odd", "b1"),
		ch(1, "signins", "mon.b", "carol", "c1"),
		ch(2, "audits", "mon.c", "dave", "d1"),
	)
	replicate(t, l,
		ch(0, "signins", "mon.a", "alice", "a2"), // later wins
		tomb(1, "signins", "mon.b", "carol"),     // deleted
		monitor.Change{Shard: shard(0), Pipeline: "signins", Monitor: "mon.a", Key: "empty", Value: []byte{}},
		tomb(2, "signins", "mon.x", "never-written"), // a tombstone of nothing
	)
	replicate(t, l, ch(1, "signins", "mon.a", "zed", "z1"))
	replicate(t, l) // nothing to do

	signins := map[string][]monitor.Change{
		shard(0): {
			ch(0, "signins", "mon.a", "", meta),
			ch(0, "signins", "mon.a", "alice", "a2"),
			ch(0, "signins", "mon.a", "empty", ""),
		},
		shard(1): {
			ch(1, "signins", "mon.a", "zed", "z1"),
			ch(1, "signins", "mon.b", "bob\x00/odd", "b1"),
		},
		shard(2): nil,
		shard(3): nil,
	}
	audits := map[string][]monitor.Change{
		shard(0): {ch(0, "audits", "mon.a", "alice", "other pipeline")},
		shard(1): nil,
		shard(2): {ch(2, "audits", "mon.c", "dave", "d1")},
	}
	check := func(t *testing.T, l *Log, pipeline string, want map[string][]monitor.Change, shards ...string) {
		t.Helper()
		got, st := restore(t, l, pipeline, shards...)
		if !slices.Equal(got.order, shards) {
			t.Errorf("apply order %q, want %q", got.order, shards)
		}
		entries := 0
		for _, s := range shards {
			if !reflect.DeepEqual(got.entries[s], want[s]) {
				t.Errorf("%s %s:\n got %q\nwant %q", pipeline, s, got.entries[s], want[s])
			}
			entries += len(want[s])
		}
		if st.Entries != entries || st.Partitions != len(shards) || st.Took <= 0 {
			t.Errorf("stats %+v, want %d entries of %d partitions", st, entries, len(shards))
		}
	}
	all := []string{shard(0), shard(1), shard(2), shard(3)}
	t.Run("all", func(t *testing.T) { check(t, l, "signins", signins, all...) })
	t.Run("other pipeline", func(t *testing.T) { check(t, l, "audits", audits, shard(0), shard(1), shard(2)) })
	t.Run("subset", func(t *testing.T) { check(t, l, "signins", signins, shard(2), shard(0)) })
	t.Run("empty partition", func(t *testing.T) { check(t, l, "signins", signins, shard(3)) })
	t.Run("no shards", func(t *testing.T) { check(t, l, "signins", signins) })
	t.Run("empty value is not a tombstone", func(t *testing.T) {
		got, _ := restore(t, l, "signins", shard(0))
		if v := got.entries[shard(0)][2].Value; v == nil || len(v) != 0 {
			t.Errorf("empty value restored as %#v", v)
		}
	})
	t.Run("records", func(t *testing.T) {
		_, st := restore(t, l, "signins", all...)
		if st.Records != 11 {
			t.Errorf("read %d records, want the 11 written", st.Records)
		}
	})
	t.Run("another processor", func(t *testing.T) {
		other := e.open(t, nil) // its own clients, as another processor's
		check(t, other, "signins", signins, all...)
		check(t, other, "audits", audits, shard(0), shard(1), shard(2))
	})
	t.Run("duplicate shards", func(t *testing.T) {
		got, st := restore(t, l, "signins", shard(1), shard(1))
		if len(got.order) != 1 || st.Partitions != 1 {
			t.Errorf("apply order %q, stats %+v", got.order, st)
		}
	})
}

// TestRestoreMatchesModel writes random changes in many batches, with a
// compaction in between, and checks that every shard restores to what a
// map of the newest value per key holds.
func TestRestoreMatchesModel(t *testing.T) {
	e := newEnv(t, 3)
	l := e.open(t, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	type mkey struct{ shard, pipeline, monitor, key string }
	model := map[mkey][]byte{}
	for batch := range 40 {
		var changes []monitor.Change
		for range 1 + rng.IntN(60) {
			c := monitor.Change{
				Shard:    shard(rng.IntN(3)),
				Pipeline: []string{"a", "b"}[rng.IntN(2)],
				Monitor:  fmt.Sprintf("mon.%d", rng.IntN(4)),
				Key:      fmt.Sprintf("user%d", rng.IntN(30)),
			}
			if rng.IntN(4) > 0 {
				c.Value = fmt.Appendf(nil, "v%d", rng.Uint64())
			}
			changes = append(changes, c)
			k := mkey{c.Shard, c.Pipeline, c.Monitor, c.Key}
			if c.Value == nil {
				delete(model, k)
			} else {
				model[k] = c.Value
			}
		}
		replicate(t, l, changes...)
		if batch == 20 {
			e.c.Compact()
		}
	}
	e.c.Compact() // gaps in the offsets; the last batch stays
	for _, pipeline := range []string{"a", "b"} {
		got, _ := restore(t, l, pipeline, shard(0), shard(1), shard(2))
		for p := range 3 {
			var want []monitor.Change
			for k, v := range model {
				if k.shard == shard(p) && k.pipeline == pipeline {
					want = append(want, monitor.Change{Shard: k.shard, Pipeline: k.pipeline, Monitor: k.monitor, Key: k.key, Value: v})
				}
			}
			slices.SortFunc(want, func(a, b monitor.Change) int {
				if c := strings.Compare(a.Monitor, b.Monitor); c != 0 {
					return c
				}
				return strings.Compare(a.Key, b.Key)
			})
			if !reflect.DeepEqual(got.entries[shard(p)], want) {
				t.Errorf("pipeline %s shard %d: got %d entries, want %d", pipeline, p, len(got.entries[shard(p)]), len(want))
			}
		}
	}
}

func TestRestoreSkipsUndecodableKeys(t *testing.T) {
	e := newEnv(t, 2)
	lb := &logbuf.Buffer{}
	l := e.open(t, lb)
	replicate(t, l, ch(1, "p", "m", "k", "v"))
	// Records of a future version, and of no key at all.
	raw, err := kgo.NewClient(append(slices.Clone(e.conn), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, key := range [][]byte{{2, 0, 0, 0}, nil} {
		r := &kgo.Record{Topic: stateTopic, Partition: 1, Key: key, Value: []byte("x")}
		if err := raw.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got, st := restore(t, l, "p", shard(1))
	if want := []monitor.Change{ch(1, "p", "m", "k", "v")}; !reflect.DeepEqual(got.entries[shard(1)], want) {
		t.Errorf("got %q", got.entries[shard(1)])
	}
	if st.Records != 3 {
		t.Errorf("read %d records, want 3", st.Records)
	}
	if s := lb.String(); !strings.Contains(s, "skipped=2") {
		t.Errorf("no warning counting the 2 skipped keys:\n%s", s)
	}
}

func TestRestoreApplyError(t *testing.T) {
	e := newEnv(t, 2)
	l := e.open(t, nil)
	boom := errors.New("bbolt is full")
	calls := 0
	_, err := l.Restore(context.Background(), "p", []string{shard(0), shard(1)}, func(string, []monitor.Change) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), shard(0)) || calls != 1 {
		t.Errorf("error %v after %d calls, want the apply error naming %s after 1", err, calls, shard(0))
	}
}

func TestRestoreCancelled(t *testing.T) {
	e := newEnv(t, 2)
	l := e.open(t, nil)
	replicate(t, l, ch(0, "p", "m", "k", "v"), ch(1, "p", "m", "k", "v"))
	apply := func(string, []monitor.Change) error {
		t.Error("apply called after the context ended")
		return nil
	}

	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Restore(ctx, "p", []string{shard(0)}, apply); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})

	t.Run("while reading", func(t *testing.T) {
		// Fetches hang until the test ends, as they would on a broker
		// that stopped answering.
		release := make(chan struct{})
		var held atomic.Int32
		e.c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
			e.c.KeepControl()
			held.Add(1)
			e.c.SleepControl(func() { <-release })
			return nil, nil, false
		})
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err := l.Restore(ctx, "p", []string{shard(0), shard(1)}, apply)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want context.DeadlineExceeded", err)
		}
		if took := time.Since(began); took > 3*time.Second {
			t.Errorf("returned %v after the deadline", took)
		}
		if held.Load() == 0 {
			t.Error("no fetch was held: the test tested nothing")
		}
	})
}

func TestReplicateBadShard(t *testing.T) {
	e := newEnv(t, 3)
	l := e.open(t, nil)
	for _, bad := range []string{
		"", "nope", srcTopic + "/", srcTopic + "/x", srcTopic + "/-1", srcTopic + "/03", srcTopic + "/+1",
		srcTopic + "/3", srcTopic + "/99999999999", "other-topic/1", srcTopic + "/1/2",
	} {
		err := l.Replicate(context.Background(), []monitor.Change{ch(0, "p", "m", "ok", "v"), {Shard: bad, Pipeline: "p", Monitor: "m", Key: "k", Value: []byte("v")}})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("shard %q: error %v, want one naming the shard", bad, err)
		}
		if _, err := l.Restore(context.Background(), "p", []string{bad}, func(string, []monitor.Change) error { return nil }); err == nil {
			t.Errorf("restored shard %q", bad)
		}
	}
	// Nothing of a failed Replicate was written.
	if _, st := restore(t, l, "p", shard(0)); st.Records != 0 {
		t.Errorf("%d records written by failed Replicates", st.Records)
	}
}

func TestReplicateEmptyDoesNoIO(t *testing.T) {
	e := newEnv(t, 1)
	l := e.open(t, nil)
	var produced atomic.Int32
	e.c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.c.KeepControl()
		produced.Add(1)
		return nil, nil, false
	})
	if err := l.Replicate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Replicate(context.Background(), []monitor.Change{}); err != nil {
		t.Fatal(err)
	}
	if n := produced.Load(); n != 0 {
		t.Errorf("%d produce requests", n)
	}
}

func TestReplicateContextCancelled(t *testing.T) {
	e := newEnv(t, 1)
	l := e.open(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := l.Replicate(ctx, []monitor.Change{ch(0, "p", "m", "k", "v")})
	if err == nil || !strings.Contains(err.Error(), stateTopic) {
		t.Errorf("error %v, want a failure naming %s", err, stateTopic)
	}
}

func TestSASLPlain(t *testing.T) {
	e := newEnv(t, 2, kfake.EnableSASL(), kfake.Superuser("PLAIN", testUser, testPass))
	base := e.conn
	e.conn = append(slices.Clone(base), kgo.SASL(plain.Auth{User: testUser, Pass: testPass}.AsMechanism()))
	l := e.open(t, nil)
	if n := e.partitions(t, stateTopic); n != 2 {
		t.Errorf("changelog has %d partitions", n)
	}
	replicate(t, l, ch(1, "p", "m", "k", "v"), ch(0, "p", "m", "j", "w"))
	got, _ := restore(t, l, "p", shard(0), shard(1))
	if len(got.entries[shard(0)]) != 1 || len(got.entries[shard(1)]) != 1 {
		t.Errorf("restored %q", got.entries)
	}

	t.Run("wrong password", func(t *testing.T) {
		wrong := "not-" + testPass
		e := &env{c: e.c, conn: append(slices.Clone(base),
			kgo.SASL(plain.Auth{User: testUser, Pass: wrong}.AsMechanism()),
			kgo.RequestRetries(1))}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := Open(ctx, Options{Topic: stateTopic, SourceTopic: srcTopic, Conn: e.conn})
		if err == nil {
			t.Fatal("opened with a wrong password")
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), testPass) {
			t.Errorf("error carries the password: %v", err)
		}
	})
}

// BenchmarkReplicate replicates batches of 100 changes spread over six
// partitions, as one Apply of a busy processor would.
func BenchmarkReplicate(b *testing.B) {
	e := newEnv(b, 6)
	l := e.open(b, nil)
	batch := make([]monitor.Change, 100)
	value := bytes.Repeat([]byte{'v'}, 48)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		for j := range batch {
			batch[j] = monitor.Change{Shard: shard(i % 6), Pipeline: "signins", Monitor: "signin.bad_password_threshold", Key: fmt.Sprintf("user%06d@contoso.example", i%50_000), Value: value}
			i++
		}
		if err := l.Replicate(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "changes/s")
}

// BenchmarkRestore restores one partition of 100,000 entries.
func BenchmarkRestore(b *testing.B) {
	const entries = 100_000
	e := newEnv(b, 1)
	l := e.open(b, nil)
	value := bytes.Repeat([]byte{'v'}, 48)
	batch := make([]monitor.Change, 0, 1000)
	for i := range entries {
		batch = append(batch, monitor.Change{Shard: shard(0), Pipeline: "signins", Monitor: fmt.Sprintf("mon.%d", i%8), Key: fmt.Sprintf("user%06d@contoso.example", i), Value: value})
		if len(batch) == cap(batch) {
			replicate(b, l, batch...)
			batch = batch[:0]
		}
	}
	b.ReportAllocs()
	var st RestoreStats
	for b.Loop() {
		var err error
		st, err = l.Restore(context.Background(), "signins", []string{shard(0)}, func(_ string, es []monitor.Change) error {
			if len(es) != entries {
				return fmt.Errorf("%d entries", len(es))
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*entries)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(st.Took.Milliseconds()), "ms/restore")
}

// The broker goes away while a processor replicates: Replicate waits
// (the batch is held, nothing is checkpointed) and completes once the
// broker is back, and a restore then finds the changes.
func TestReplicateWaitsForTheBrokerToComeBack(t *testing.T) {
	dataDir := t.TempDir()
	e := newEnv(t, 2, kfake.DataDir(dataDir))
	l := e.open(t, nil)
	replicate(t, l, ch(0, "p", "m", "alice", "before"))

	_, port, _ := net.SplitHostPort(e.c.ListenAddrs()[0])
	n, _ := strconv.Atoi(port)
	e.c.Close()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- l.Replicate(ctx, []monitor.Change{ch(1, "p", "m", "bob", "during")})
	}()
	select {
	case err := <-done:
		t.Fatalf("Replicate returned %v while the broker was down", err)
	case <-time.After(500 * time.Millisecond):
	}
	var back *kfake.Cluster
	var err error
	for range 50 { // the port may linger for a moment
		if back, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dataDir), kfake.Ports(n)); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if err := <-done; err != nil {
		t.Fatalf("Replicate after the broker came back: %v", err)
	}
	got, _ := restore(t, l, "p", shard(0), shard(1))
	if len(got.entries[shard(0)]) != 1 || string(got.entries[shard(0)][0].Value) != "before" ||
		len(got.entries[shard(1)]) != 1 || string(got.entries[shard(1)][0].Value) != "during" {
		t.Fatalf("restored %+v", got.entries)
	}
}

// Check says what a processor will find, and creates or writes nothing.
func TestCheck(t *testing.T) {
	e := newEnv(t, 3)
	check := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return Check(ctx, Options{Topic: stateTopic, SourceTopic: srcTopic, Conn: e.conn})
	}
	got, err := check()
	if err != nil || !strings.Contains(got, "missing: the first processor creates it (3 partitions") {
		t.Fatalf("missing topic: %q, %v", got, err)
	}
	if again, _ := check(); again != got {
		t.Fatalf("Check created the topic: %q", again)
	}
	e.open(t, nil)
	if got, err = check(); err != nil || got != "state topic "+stateTopic+": 3 partitions, compacted" {
		t.Fatalf("after Open: %q, %v", got, err)
	}
	if _, err := Check(context.Background(), Options{Topic: stateTopic, SourceTopic: "nope", Conn: e.conn}); err == nil || !strings.Contains(err.Error(), `source topic "nope" does not exist`) {
		t.Fatalf("missing source: %v", err)
	}
	deleting := newEnv(t, 3, kfake.SeedTopics(3, stateTopic)) // cleanup.policy=delete
	if _, err := Check(context.Background(), Options{Topic: stateTopic, SourceTopic: srcTopic, Conn: deleting.conn}); err == nil || !strings.Contains(err.Error(), "cleanup.policy=delete: set compact") {
		t.Fatalf("delete policy: %v", err)
	}
	few := newEnv(t, 3, kfake.SeedTopics(2, stateTopic))
	if _, err := Check(context.Background(), Options{Topic: stateTopic, SourceTopic: srcTopic, Conn: few.conn}); err == nil || !strings.Contains(err.Error(), "has 2 partitions, fewer than the 3") {
		t.Fatalf("fewer partitions: %v", err)
	}
}
