package buffer

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
)

// BenchmarkAppendDrain appends batches of records (a pipeline batch each,
// fsynced) while a reader takes and removes them, as an output's sender
// does: b.N batches go through. The records are those of
// TestFileStaysWithinMaxBytes.
func BenchmarkAppendDrain(b *testing.B) {
	for _, bc := range []struct {
		name  string
		bound int64 // 64MiB and more: 16KiB pages; less: 4KiB
		batch int
		gen   func(rng *rand.Rand, seq int) []byte
	}{
		{"json-1-4KB", 64 << 20, 100, jsonRecord},
		{"small-60-200B", 64 << 20, 500, smallRecord},
		{"json-1-4KB-8MiB", 8 << 20, 100, jsonRecord},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			batches := make([][][]byte, 16)
			var bytes int64
			for i := range batches {
				for j := range bc.batch {
					it := bc.gen(rng, i*bc.batch+j)
					batches[i] = append(batches[i], it)
					bytes += int64(len(it))
				}
			}
			b.SetBytes(bytes / int64(len(batches)))
			q, err := Open(filepath.Join(b.TempDir(), "bench"), bc.bound)
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			ctx := context.Background()
			var wg sync.WaitGroup
			total := b.N * bc.batch
			wg.Go(func() {
				for got := 0; got < total; {
					es, err := q.Read(ctx, 500, 4<<20, 0)
					if err != nil {
						b.Error(err)
						return
					}
					got += len(es)
					if err := q.Remove(es[len(es)-1].Seq); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ResetTimer()
			for i := range b.N {
				if err := q.Append(ctx, batches[i%len(batches)]); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		})
	}
}
