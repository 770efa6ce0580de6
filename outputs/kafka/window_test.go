package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkLastCopies checks a topic written at least once: every record is
// there, and for each key the last copies of its records are in the order
// they were handed to the output (what a consumer that keeps the latest
// copy sees, and what an earlier copy written ahead of a failed record
// is followed by). It returns how many copies were written twice.
func checkLastCopies(t *testing.T, got []*kgo.Record, js [][]byte, skip map[int]bool) int {
	t.Helper()
	index := make(map[string]int, len(js))
	for i, j := range js {
		index[string(j)] = i
	}
	byPart := map[int32][]*kgo.Record{}
	for _, r := range got {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	seen := make([]int, len(js))
	again := 0
	for p, rs := range byPart {
		// The last copy of each record in this partition, in offset order.
		lastAt := map[int]int{}
		for k, r := range rs {
			i, ok := index[string(r.Value)]
			if !ok {
				t.Fatalf("partition %d offset %d: not a record handed to the output", p, r.Offset)
			}
			if _, dup := lastAt[i]; dup {
				again++
			}
			lastAt[i] = k
			seen[i]++
		}
		last := map[string]int{}
		for k, r := range rs {
			i := index[string(r.Value)]
			if lastAt[i] != k {
				continue
			}
			key := string(r.Key)
			if l, ok := last[key]; ok && l > i {
				t.Errorf("key %q, partition %d: the last copy of record %d is after record %d's", key, p, l, i)
			}
			last[key] = i
		}
	}
	for i, n := range seen {
		switch {
		case n == 0 && !skip[i]:
			t.Errorf("record %d is not in the topic", i)
		case n > 0 && skip[i]:
			t.Errorf("record %d is in the topic and dead-lettered", i)
		}
	}
	return again
}

// Several requests in flight (max_in_flight 4, requests of 25 records)
// while partitions fail: a refusal (INVALID_RECORD, which franz-go does
// not retry) on one partition, a passing failure that outlasts franz-go's
// own retries on another. Every record arrives or, refused again when
// produced alone, is dead-lettered, and each key's records keep their
// order: those sent again land after everything handed over before them,
// and a later record Kafka wrote ahead of a failed one is written again
// after it.
func TestWindowKeepsEachKeysOrderThroughFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault kfake.Fault
	}{
		{"refused", kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Partitions: []int32{2}, Err: kerr.InvalidRecord, Count: 4}},
		{"not enough replicas", kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Partitions: []int32{4}, Err: kerr.NotEnoughReplicas, Count: 2 * (recordRetries + 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, clusterSpec{})
			cfg := c.config(t)
			cfg.MaxInFlight, cfg.BatchSize = 4, 25
			h := newHarness(t, cfg)
			fault := c.Fault(tc.fault)
			recs, js := demoRecords(t, 600)
			h.consume(t, recs, js, 100)
			s := h.out.Stats()
			waitFor(t, "600 records acknowledged or dead-lettered", func() bool { return s.Sent.Load()+s.DeadLettered.Load() == 600 })
			h.close(t)
			if fault.Hits() == 0 {
				t.Fatal("the fault never hit: the test proves nothing")
			}
			dead := map[int]bool{}
			for _, d := range h.dead.Data() {
				m, err := DecodeItem([]byte(d))
				if err != nil {
					t.Fatalf("dead letter: %v", err)
				}
				for i := range js {
					if string(js[i]) == string(m.Value) {
						dead[i] = true
					}
				}
			}
			if len(dead) != h.dead.Len() {
				t.Fatalf("dead letters that are no record: %v", h.dead.Reasons())
			}
			got := c.readAll(t, 600-len(dead))
			again := checkLastCopies(t, got, js, dead)
			t.Logf("%d fault hits, %d records in the topic, %d written again, %d dead-lettered, %d retries", fault.Hits(), len(got), again, len(dead), s.Retries.Load())
		})
	}
}

// The client's own view of order: a record Kafka acknowledged while an
// earlier record of its partition was not yet written in order (it
// failed, or was itself written ahead of one that failed) is sent again;
// once every earlier one is written, it is not.
func TestOvertakingRecordsAreSentAgain(t *testing.T) {
	c := &Client{}
	x, e, d, r := []byte("x"), []byte("e"), []byte("d"), []byte("r")
	c.fail(3, &x[0], position{1, 0})
	if c.written(3, &e[0], position{2, 0}) {
		t.Error("a record after a failed one of its partition counts as in order")
	}
	if !c.written(5, &d[0], position{2, 1}) {
		t.Error("a record of another partition is held back")
	}
	if c.written(3, &r[0], position{4, 0}) {
		t.Error("a later record counts as in order")
	}
	if !c.written(3, &x[0], position{1, 0}) {
		t.Error("the failed record, written again, is out of order")
	}
	// e, written ahead of x, is not written again yet: r, after it, is
	// still out of order even though x is done.
	if c.written(3, &r[0], position{4, 0}) {
		t.Error("r counts as in order while e, before it, waits to be written again")
	}
	if !c.written(3, &e[0], position{2, 0}) || !c.written(3, &r[0], position{4, 0}) {
		t.Error("written again in order, e and r are out of order")
	}
	if len(c.unwritten) != 0 {
		t.Errorf("left: %v", c.unwritten)
	}
	// A record without a partition (the topic was not known) holds back
	// every partition until it is written, or dropped.
	c.fail(-1, &x[0], position{5, 0})
	if c.written(5, &d[0], position{6, 0}) {
		t.Error("a record after one without a partition counts as in order")
	}
	c.dropped(&x[0])
	if !c.written(5, &d[0], position{6, 0}) {
		t.Error("a dropped record still holds the others back")
	}
}
