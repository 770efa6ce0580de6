package privilege

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

func TestDebugParallelLag(t *testing.T) {
	users := []who{frank, carol, alice}
	batches := func() [][]*entra.Record {
		var out [][]*entra.Record
		for i := range 300 {
			at := t0.Add(time.Duration(i) * 7 * time.Minute)
			u := users[i%len(users)]
			var b []*entra.Record
			switch i % 4 {
			case 0:
				b = append(b, activation(t, u, at, at.Add(20*time.Minute)))
			case 1:
				b = append(b, record(t, "audit/pim_deactivate.json", u, at.Add(-3*time.Minute)))
			case 2:
				b = append(b, coreAdd(t, u, exName, exID, at.Add(-10*time.Minute)))
			case 3:
				b = append(b, coreRemove(t, u, exName, exID, at))
			}
			for _, w := range users {
				for _, d := range []time.Duration{-15 * time.Minute, -time.Minute, time.Minute, 10 * time.Minute} {
					b = append(b, signIn(t, w, at.Add(d)))
				}
			}
			out = append(out, b)
		}
		return out
	}
	tags := func(b []*entra.Record) []string {
		var out []string
		for _, r := range b {
			out = append(out, summary(r.Actor))
			for _, tg := range r.Audit.Targets {
				out = append(out, summary(tg.Principal))
			}
		}
		return out
	}

	serial := testStage(t, Config{HistoryLimit: 8})
	var want [][]string
	for _, b := range batches() {
		gen := serial.Observe(b)
		for _, r := range b {
			serial.EnrichAt(r, gen)
		}
		want = append(want, tags(b))
	}

	parallel := testStage(t, Config{HistoryLimit: 8})
	type job struct {
		i   int
		b   []*entra.Record
		gen uint64
	}
	jobs := make(chan job, 8) // batches in flight between Observe and the workers
	got := make([][]string, len(want))
	var wg sync.WaitGroup
	var maxLag atomic.Uint64
	var gensSeen []uint64
	batchLag := make([]uint64, 300)
	defer func() { t.Logf("max lag %d", maxLag.Load()) }()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				// Enrich the batch back to front, yielding, to interleave.
				for k := len(j.b) - 1; k >= 0; k-- {
					l0 := parallel.Generation() - j.gen
					parallel.EnrichAt(j.b[k], j.gen)
					l1 := parallel.Generation() - j.gen
					if l1 > maxLag.Load() {
						maxLag.Store(l1)
					}
					if l1 > batchLag[j.i] {
						batchLag[j.i] = l1
					}
					_ = l0
					runtime.Gosched()
				}
				got[j.i] = tags(j.b)
			}
		}()
	}
	for i, b := range batches() {
		g := parallel.Observe(b)
		gensSeen = append(gensSeen, g)
		jobs <- job{i: i, b: b, gen: g}
	}
	close(jobs)
	wg.Wait()
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			for k := range want[i] {
				if got[i][k] != want[i][k] {
					t.Errorf("batch %d elem %d (gen %d lag %d): got %q want %q", i, k, gensSeen[i], batchLag[i], got[i][k], want[i][k])
				}
			}
		}
	}
}

