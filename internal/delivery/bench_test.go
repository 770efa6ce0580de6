package delivery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
)

type acceptAll struct{}

func (acceptAll) Send(context.Context, [][]byte) Result { return Result{} }

// BenchmarkConsume pushes pipeline batches of 100 records of 1–4 KB through
// an output whose destination takes everything: encode, buffer (fsynced),
// read, send, remove. b.N batches, all delivered.
func BenchmarkConsume(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	batches := make([][]*entra.Record, 16)
	var size int64
	for i := range batches {
		for j := range 100 {
			raw := fmt.Sprintf(`{"id":"%d-%d","pad":"%s"}`, i, j, strings.Repeat("x", 1024+rng.IntN(3<<10)))
			batches[i] = append(batches[i], &entra.Record{Raw: []byte(raw), Origin: fmt.Sprintf("x.jsonl:%d", j+1)})
			size += int64(len(raw))
		}
	}
	b.SetBytes(size / int64(len(batches)))
	o, err := New("bench", Config{FlushInterval: time.Millisecond}, Deps{DataDir: b.TempDir(), DeadLetters: &deadList{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, rawEncoder{}, acceptAll{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		bt := &batch.Batch{Records: batches[i%len(batches)]}
		bt.Arm(1, 1, func(uint64) {})
		if err := o.Consume(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
	}
	for o.Stats().Sent.Load() < int64(b.N*100) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o.Close(ctx)
}
