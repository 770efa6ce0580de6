package kafka

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/privtrail/privtrail/entra"
)

// checkDelivered checks what the topic holds against what was consumed:
// every record exactly once, its value the enriched JSON byte for byte,
// keyed by its user, one user's records on one partition in the order
// they were handed to the output, and the privtrail-* headers.
func checkDelivered(t *testing.T, got []*kgo.Record, recs []*entra.Record, js [][]byte, skip map[int]bool) {
	t.Helper()
	index := make(map[string]int, len(js))
	for i, j := range js {
		if _, dup := index[string(j)]; dup {
			t.Fatalf("test data: records %d and %d are the same", index[string(j)], i)
		}
		index[string(j)] = i
	}
	seen := make([]int, len(js))
	partOf := map[string]int32{}
	last := map[string]int{}
	parts := map[int32]bool{}
	for _, r := range got {
		i, ok := index[string(r.Value)]
		if !ok {
			t.Fatalf("partition %d offset %d: the value is no enriched record handed to the output: %.200s", r.Partition, r.Offset, r.Value)
		}
		seen[i]++
		rec := recs[i]
		key := string(r.Key)
		if want := UserKey(rec); key != want {
			t.Errorf("record %d: key %q, want %q", i, key, want)
		}
		if p, ok := partOf[key]; ok && p != r.Partition {
			t.Errorf("key %q on partitions %d and %d", key, p, r.Partition)
		}
		partOf[key] = r.Partition
		parts[r.Partition] = true
		if l, ok := last[key]; ok && l > i {
			t.Errorf("key %q: record %d after record %d", key, i, l)
		}
		last[key] = i
		if v, _ := header(r, HeaderStream); v != string(rec.Stream) {
			t.Errorf("record %d: %s %q, want %q", i, HeaderStream, v, rec.Stream)
		}
		if v, _ := header(r, HeaderPrivileged); v != fmt.Sprint(rec.Actor.Privileged) {
			t.Errorf("record %d: %s %q", i, HeaderPrivileged, v)
		}
		mon, ok := header(r, HeaderMonitors)
		if hit := len(rec.Hits) > 0; hit != ok || hit && mon != rec.Hits[0].ID {
			t.Errorf("record %d: %s %q (hits %v)", i, HeaderMonitors, mon, rec.Hits)
		}
	}
	for i, n := range seen {
		switch {
		case skip[i] && n != 0:
			t.Errorf("record %d should not be in the topic; it is there %d times", i, n)
		case !skip[i] && n != 1:
			t.Errorf("record %d is in the topic %d times, want once", i, n)
		}
	}
	if len(partOf) < partitions || len(parts) < 3 {
		t.Errorf("%d keys over %d partitions: the test data does not spread", len(partOf), len(parts))
	}
}

// The demo-like stream through a three-broker cluster with TLS and SASL
// PLAIN. The first produce requests are written but answered
// REQUEST_TIMED_OUT, so the producer sends them again: idempotence keeps
// every record single.
func TestDeliversEveryRecordOnceInOrder(t *testing.T) {
	c := newCluster(t, secureCluster)
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: 3})
	h := newHarness(t, c.config(t))
	recs, js := demoRecords(t, 600)
	h.consume(t, recs, js, 100)
	waitFor(t, "600 records acknowledged", func() bool { return h.out.Stats().Sent.Load() == 600 })
	h.close(t)

	if n := fault.Hits(); n != 3 {
		t.Errorf("the fault answered %d produce requests, want 3", n)
	}
	got := c.readAll(t, 600)
	if len(got) != 600 {
		t.Errorf("the topic holds %d records, want 600", len(got))
	}
	checkDelivered(t, got, recs, js, nil)
	if s := h.out.Stats(); s.DeadLettered.Load() != 0 || h.dead.Len() != 0 {
		t.Errorf("dead letters: %v", h.dead.Reasons())
	}
	if strings.Contains(h.logs.String(), testPassword) {
		t.Error("the password is in the log")
	}
}

// The same fault without idempotence duplicates records: the test above
// would see it.
func TestFaultDuplicatesWithoutIdempotence(t *testing.T) {
	c := newCluster(t, clusterSpec{})
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: 1})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic(testTopic), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := c.readAll(t, 1); len(got) != 2 {
		t.Fatalf("%d records without idempotence; the fault should have duplicated the one", len(got))
	}
}

func TestSCRAM(t *testing.T) {
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c := newCluster(t, clusterSpec{mech: mech})
			h := newHarness(t, c.config(t))
			recs, js := demoRecords(t, 40)
			h.consume(t, recs, js, 40)
			waitFor(t, "40 records acknowledged", func() bool { return h.out.Stats().Sent.Load() == 40 })
			h.close(t)
			if h.dead.Len() != 0 {
				t.Fatalf("dead letters: %v", h.dead.Reasons())
			}
		})
	}
}

// The cluster goes away: records wait in the disk buffer (Consume still
// acknowledges), the output retries, and when the cluster is back on the
// same ports every record arrives, once, in order.
func TestBrokerDownRecordsWaitInTheBuffer(t *testing.T) {
	spec := secureCluster
	spec.more = []kfake.Opt{kfake.DataDir(t.TempDir())}
	c := newCluster(t, spec)
	cfg := c.config(t)
	cfg.Timeout = time.Second
	h := newHarness(t, cfg)
	recs, js := demoRecords(t, 300)

	h.consume(t, recs[:100], js[:100], 50)
	waitFor(t, "the first 100 records", func() bool { return h.out.Stats().Sent.Load() == 100 })
	c.Close()

	start := time.Now()
	h.consume(t, recs[100:], js[100:], 50)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("buffering 200 records with the cluster down took %v", el)
	}
	// Depending on whether a request was on the wire when the cluster went,
	// the attempt fails (and is retried after back-off) or waits for the
	// brokers to answer; either is logged.
	waitFor(t, "the outage logged", func() bool {
		l := h.logs.String()
		return strings.Contains(l, "destination failed, retrying") || strings.Contains(l, "wait for a broker to answer")
	})
	if n, _ := h.out.Buffered(); n == 0 {
		t.Fatal("nothing waits in the buffer while the cluster is down")
	}
	if sent := h.out.Stats().Sent.Load(); sent != 100 {
		t.Fatalf("%d records counted as sent while the cluster was down", sent)
	}

	c.restart(t)
	waitFor(t, "all 300 records", func() bool { return h.out.Stats().Sent.Load() == 300 })
	h.close(t)
	if n, _ := h.out.Buffered(); n != 0 {
		t.Errorf("%d records still buffered", n)
	}
	got := c.readAll(t, 300)
	checkDelivered(t, got, recs, js, nil)
	if h.dead.Len() != 0 {
		t.Errorf("dead letters: %v", h.dead.Reasons())
	}
	if testLogLevel == slog.LevelDebug {
		t.Logf("output log:\n%s", h.logs.String())
	}
}

// privtrail starts while the cluster is down: the client never got
// metadata, attempts fail after timeout and are retried with back-off,
// and everything arrives once the cluster is up.
func TestClusterDownAtStart(t *testing.T) {
	c := newCluster(t, secureCluster)
	c.Close()
	cfg := c.config(t)
	cfg.Timeout = time.Second
	h := newHarness(t, cfg)
	recs, js := demoRecords(t, 120)
	h.consume(t, recs, js, 40)
	waitFor(t, "failed attempts", func() bool { return h.out.Stats().Retries.Load() >= 2 })
	if h.out.Stats().Sent.Load() != 0 || h.dead.Len() != 0 {
		t.Fatalf("sent %d, dead %v with the cluster down", h.out.Stats().Sent.Load(), h.dead.Reasons())
	}
	c.restart(t)
	waitFor(t, "all 120 records", func() bool { return h.out.Stats().Sent.Load() == 120 })
	h.close(t)
	checkDelivered(t, c.readAll(t, 120), recs, js, nil)
	if l := h.logs.String(); !strings.Contains(l, "destination failed, retrying") || !strings.Contains(l, "connection refused") {
		t.Errorf("the outage is not logged with its cause:\n%s", l)
	}
	if testLogLevel == slog.LevelDebug {
		t.Logf("output log:\n%s", h.logs.String())
	}
}

// The topic does not exist (and the output does not create it): records
// wait, the log says to create it, and once it exists they arrive.
func TestMissingTopicWaits(t *testing.T) {
	c := newCluster(t, clusterSpec{})
	cfg := c.config(t)
	cfg.Topic = "privtrail.missing"
	cfg.Timeout = time.Second
	h := newHarness(t, cfg)
	recs, js := demoRecords(t, 20)
	h.consume(t, recs, js, 20)
	// The retry is counted before its warning is written: wait for the
	// warning itself.
	waitFor(t, "a failed attempt logged with why", func() bool {
		l := h.logs.String()
		return h.out.Stats().Retries.Load() >= 1 && strings.Contains(l, "UNKNOWN_TOPIC_OR_PARTITION") && strings.Contains(l, "create the topic")
	})
	if h.dead.Len() != 0 {
		t.Fatalf("dead letters: %v", h.dead.Reasons())
	}

	admin, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = cfg.Topic, 3, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), admin)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %v %+v", err, resp)
	}
	waitFor(t, "20 records", func() bool { return h.out.Stats().Sent.Load() == 20 })
}

// A record larger than the topic's max.message.bytes: Kafka refuses the
// batch it is in, the output produces that batch's records one by one,
// the large one is dead-lettered with Kafka's error, every other record
// arrives in order.
func TestTooLargeRecordIsDeadLettered(t *testing.T) {
	c := newCluster(t, clusterSpec{more: []kfake.Opt{kfake.BrokerConfigs(map[string]string{"message.max.bytes": "65536"})}})
	cfg := c.config(t)
	cfg.Compression = "none"
	h := newHarness(t, cfg)
	recs, js := demoRecords(t, 60)
	big := 17
	pad := make([]byte, 96<<10)
	rand.Read(pad)
	recs[big].Raw = []byte(strings.Replace(string(recs[big].Raw), `{`, `{"padding":"`+base64.StdEncoding.EncodeToString(pad)+`",`, 1))
	js[big] = recs[big].AppendJSON(nil)
	h.consume(t, recs, js, 60)
	waitFor(t, "59 records and a dead letter", func() bool { return h.out.Stats().Sent.Load() == 59 && h.dead.Len() == 1 })
	h.close(t)
	if r := h.dead.Reasons()[0]; !strings.Contains(r, "MESSAGE_TOO_LARGE") || !strings.Contains(r, testTopic) {
		t.Errorf("dead letter reason %q", r)
	}
	if !strings.Contains(h.dead.Data()[0], "padding") {
		t.Errorf("the wrong record was dead-lettered: %.200s", h.dead.Data()[0])
	}
	got := c.readAll(t, 59)
	checkDelivered(t, got, recs, js, map[int]bool{big: true})
	if r := h.out.Stats().Retries.Load(); r != 0 {
		t.Errorf("%d retries: a refused record is not a transient failure", r)
	}
}

// A record larger than max_message_bytes never leaves the client.
func TestTooLargeForTheClient(t *testing.T) {
	c := newCluster(t, clusterSpec{})
	cfg := c.config(t)
	cfg.MaxMessageBytes = 8 << 10
	cl, err := NewClient(cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	enc := NewEncoder(cfg)
	recs, js := demoRecords(t, 3)
	js[1] = append(js[1][:len(js[1])-1:len(js[1])-1], []byte(`,"pad":"`+strings.Repeat("x", 16<<10)+`"}`)...)
	var items [][]byte
	for i := range recs {
		it, _ := enc.Encode(nil, recs[i], js[i])
		items = append(items, it)
	}
	res := cl.Send(context.Background(), items)
	if res.Err != nil || len(res.Retry) != 0 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 ||
		!strings.Contains(res.Rejected[0].Reason, "MESSAGE_TOO_LARGE") {
		t.Fatalf("result %+v", res)
	}
	if got := c.readAll(t, 2); len(got) != 2 {
		t.Fatalf("%d records in the topic", len(got))
	}
}

// Authentication and authorization failures are transient: the records
// wait in the disk buffer for the credentials or ACLs to be fixed, and
// nothing is dead-lettered.
func TestAuthFailuresWait(t *testing.T) {
	t.Run("wrong password", func(t *testing.T) {
		c := newCluster(t, secureCluster)
		cfg := c.config(t)
		cfg.SASL.Password = mustSecret(t, "not-the-password")
		cfg.Timeout = time.Second
		h := newHarness(t, cfg)
		recs, js := demoRecords(t, 10)
		h.consume(t, recs, js, 10)
		waitFor(t, "two failed attempts", func() bool { return h.out.Stats().Retries.Load() >= 2 })
		if h.dead.Len() != 0 || h.out.Stats().Sent.Load() != 0 {
			t.Fatalf("dead %v sent %d", h.dead.Reasons(), h.out.Stats().Sent.Load())
		}
		if n, _ := h.out.Buffered(); n != 10 {
			t.Errorf("%d records buffered, want 10", n)
		}
		// kfake drops the connection (EOF) where Kafka answers
		// SASL_AUTHENTICATION_FAILED first; TestDescribe covers the hint.
		logs := h.logs.String()
		if !strings.Contains(logs, "destination failed, retrying") {
			t.Errorf("the failure is not logged:\n%s", logs)
		}
		if strings.Contains(logs, "not-the-password") {
			t.Error("the password is in the log")
		}
	})
	t.Run("no write ACL", func(t *testing.T) {
		c := newCluster(t, clusterSpec{mech: "SCRAM-SHA-256", more: []kfake.Opt{
			kfake.EnableACLs(),
			kfake.User("SCRAM-SHA-256", "reader", "reader-pass", kfake.ACL{
				Resource: kmsg.ACLResourceTypeTopic, Name: testTopic, Pattern: kmsg.ACLResourcePatternTypeLiteral,
				Operation: kmsg.ACLOperationDescribe, Allow: true,
			}),
		}})
		cfg := c.config(t)
		cfg.SASL.Username, cfg.SASL.Password = "reader", mustSecret(t, "reader-pass")
		h := newHarness(t, cfg)
		recs, js := demoRecords(t, 10)
		h.consume(t, recs, js, 10)
		waitFor(t, "two failed attempts", func() bool { return h.out.Stats().Retries.Load() >= 2 })
		if h.dead.Len() != 0 || h.out.Stats().Sent.Load() != 0 {
			t.Fatalf("dead %v sent %d", h.dead.Reasons(), h.out.Stats().Sent.Load())
		}
		if logs := h.logs.String(); !strings.Contains(logs, "AUTHORIZATION_FAILED") {
			t.Errorf("the log does not say why:\n%s", logs)
		}
	})
}

// Without the CA the connection fails verification: transient, the
// records wait (the fix is a CA file, not a resend).
func TestTLSVerification(t *testing.T) {
	c := newCluster(t, clusterSpec{tls: true})
	cfg := c.config(t)
	cfg.TLS.CAFile = ""
	cfg.Timeout = time.Second
	cl, err := NewClient(cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs, js := demoRecords(t, 2)
	enc := NewEncoder(cfg)
	var items [][]byte
	for i := range recs {
		it, _ := enc.Encode(nil, recs[i], js[i])
		items = append(items, it)
	}
	res := cl.Send(context.Background(), items)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "certificate") || len(res.Rejected) != 0 {
		t.Fatalf("without the CA: %+v; want a transient certificate error", res)
	}
}

func TestKeyNone(t *testing.T) {
	c := newCluster(t, clusterSpec{})
	cfg := c.config(t)
	cfg.Key = KeyNone
	off := false
	cfg.Headers = &off
	h := newHarness(t, cfg)
	recs, js := demoRecords(t, 30)
	h.consume(t, recs, js, 30)
	waitFor(t, "30 records", func() bool { return h.out.Stats().Sent.Load() == 30 })
	h.close(t)
	got := c.readAll(t, 30)
	if len(got) != 30 {
		t.Fatalf("%d records", len(got))
	}
	var values []string
	for _, r := range got {
		if r.Key != nil || len(r.Headers) != 0 {
			t.Fatalf("key %q headers %v, want none", r.Key, r.Headers)
		}
		values = append(values, string(r.Value))
	}
	for _, j := range js {
		if !slices.Contains(values, string(j)) {
			t.Fatalf("missing %.100s", j)
		}
	}
}
