package eventhubs

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/synth"
)

// BenchmarkConsumeToEmit measures the input alone: kfake → poll → split
// envelopes → copy → emit, with every batch committed as soon as it is
// emitted (the committer's requests included). Each iteration reads the
// whole topic once with a new consumer group; records/s is taken from the
// first emitted batch to the last, so the group join is left out.
//
//	go test -run XXX -bench ConsumeToEmit ./inputs/eventhubs/
func BenchmarkConsumeToEmit(b *testing.B) {
	const (
		parts   = 4
		msgs    = 2000 // Event Hubs messages
		perMsg  = 25   // records per {"records":[...]} envelope
		records = msgs * perMsg
	)
	e := newEnv(b, parts, nil)
	gen := synth.New(1, synth.DemoTenant())
	var bytesTotal int64
	for p := range int32(parts) {
		var values [][]byte
		for range msgs / parts {
			v := []byte(`{"records":[`)
			for i := range perMsg {
				if i > 0 {
					v = append(v, ',')
				}
				v = gen.AppendNext(v)
			}
			v = append(v, "]}"...)
			bytesTotal += int64(len(v))
			values = append(values, v)
		}
		for len(values) > 0 {
			n := min(len(values), 100)
			e.produce(p, perMsg, values[:n]...)
			values = values[n:]
		}
	}
	b.ResetTimer()
	var steady time.Duration
	for i := range b.N {
		var n atomic.Int64
		var first, last atomic.Int64
		done := make(chan struct{})
		emit := func(_ context.Context, bt *batch.Batch) error {
			now := time.Now().UnixNano()
			first.CompareAndSwap(0, now)
			if n.Add(int64(len(bt.Items))) == records {
				last.Store(now)
				close(done)
			}
			return bt.Commit()
		}
		in, err := New("bench", Config{Brokers: e.addrs, Topics: []string{testTopic}, ConsumerGroup: fmt.Sprintf("bench-%d", i)}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		in.extra = []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)}
		stop := start(b, in, emit)
		select {
		case <-done:
		case <-time.After(time.Minute):
			b.Fatalf("read %d of %d records", n.Load(), records)
		}
		b.StopTimer()
		if err := stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		steady += time.Duration(last.Load() - first.Load())
	}
	b.ReportMetric(float64(records*b.N)/steady.Seconds(), "records/s")
	b.ReportMetric(float64(bytesTotal*int64(b.N))/steady.Seconds()/1e6, "MB/s")
}

// BenchmarkSplit measures envelope splitting (validation included) alone.
func BenchmarkSplit(b *testing.B) {
	gen := synth.New(1, synth.DemoTenant())
	v := []byte(`{"records":[`)
	for i := range 50 {
		if i > 0 {
			v = append(v, ',')
		}
		v = gen.AppendNext(v)
	}
	v = append(v, "]}"...)
	b.SetBytes(int64(len(v)))
	var spans []span
	for b.Loop() {
		spans, _, _ = splitValue(v, spans[:0])
	}
	b.ReportMetric(float64(50*b.N)/b.Elapsed().Seconds(), "records/s")
}
