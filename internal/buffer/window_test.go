package buffer

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// As delivery uses it: a reader reading ahead while up to four requests
// are in flight and removed in order, an appender filling a 2 MiB buffer
// with batches of any size. Every read must find the frames where the
// queue says they are. (A segment spent while it was the newest, popped
// after the appender had started the next one, once moved the oldest
// entry's position back to that segment's start: reads then failed as
// corrupt and the sending stopped.)
func TestConcurrentWindowReadsEveryFrame(t *testing.T) {
	for iter := 0; iter < 8; iter++ {
		q := open(t, filepath.Join(t.TempDir(), "q"), 2<<20)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var wg sync.WaitGroup
		type flight struct {
			last uint64
			done chan struct{}
		}
		window := make(chan flight, 4)
		slots := make(chan struct{}, 4)
		errc := make(chan error, 1)
		wg.Go(func() {
			defer close(window)
			for {
				es, err := q.Read(ctx, 2000, 1<<20, 2*time.Millisecond)
				if err != nil {
					if ctx.Err() == nil {
						errc <- err
					}
					return
				}
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				f := flight{last: es[len(es)-1].Seq, done: make(chan struct{})}
				window <- f
				go func() { time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond); close(f.done) }()
			}
		})
		wg.Go(func() {
			for f := range window {
				<-f.done
				if err := q.Remove(f.last); err != nil {
					errc <- err
				}
				<-slots
			}
		})
		n := 0
		for ctx.Err() == nil {
			k := 1 + rand.IntN(500)
			items := make([][]byte, k)
			for i := range items {
				items[i] = make([]byte, 200+rand.IntN(1800))
			}
			if err := q.Append(ctx, items); err != nil {
				break
			}
			n += k
		}
		wg.Wait()
		cancel()
		select {
		case err := <-errc:
			t.Fatalf("iter %d after %d appended: %v (len %d)", iter, n, err, q.Len())
		default:
		}
		q.Close()
	}
}
