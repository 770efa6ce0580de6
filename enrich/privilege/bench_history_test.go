package privilege

import (
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// A principal with a history of 32 changes (activations), looked up at an
// event time by generation.
func BenchmarkEnrichAtWithHistory(b *testing.B) {
	s, err := New(Config{RoleMap: "testdata/rolemap.yaml", ReloadInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 40 {
		at := t0.Add(time.Duration(i) * time.Hour)
		s.Observe([]*entra.Record{activation(b, alice, at, at.Add(30*time.Minute))})
	}
	gen := s.Generation()
	rec := entra.Record{Time: t0.Add(30*time.Hour + 10*time.Minute), Actor: entra.Principal{ID: alice.id, UPN: alice.upn}}
	b.ReportAllocs()
	for b.Loop() {
		rec.Actor.Known = false
		s.EnrichAt(&rec, gen)
	}
	if got := summary(rec.Actor); got != aliceEligible+" "+gaActive {
		b.Fatal(got)
	}
}

// Observe of a batch of 1000 records, ten of them role changes.
func BenchmarkObserve(b *testing.B) {
	s, err := New(Config{RoleMap: "testdata/rolemap.yaml", ReloadInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	in := signIn(b, carol, t0)
	batch := make([]*entra.Record, 1000)
	for i := range batch {
		batch[i] = in
		if i%100 == 0 {
			batch[i] = activation(b, frank, t0.Add(time.Duration(i)*time.Minute), t0.Add(time.Duration(i)*time.Minute+time.Hour))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Observe(batch)
	}
}
