package privilege

import (
	"slices"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

func TestDebugLag(t *testing.T) {
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
	for _, lag := range []int{1, 2, 4, 8, 12} {
		s := testStage(t, Config{HistoryLimit: 8})
		bs := batches()
		gens := make([]uint64, len(bs))
		bad := 0
		enrich := func(i int) {
			for _, r := range bs[i] {
				s.EnrichAt(r, gens[i])
			}
			if got := tags(bs[i]); !slices.Equal(got, want[i]) {
				if bad < 3 {
					t.Errorf("lag %d batch %d:\n got %q\nwant %q", lag, i, got, want[i])
				}
				bad++
			}
		}
		for i := range bs {
			gens[i] = s.Observe(bs[i])
			if i-lag >= 0 {
				enrich(i - lag)
			}
		}
		for i := max(len(bs)-lag, 0); i < len(bs); i++ {
			enrich(i)
		}
		t.Logf("lag %d: %d bad", lag, bad)
	}
}
