package monitor

import (
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// BenchmarkEvalSignInSigma is BenchmarkEvalSignIn with every SigmaHQ
// Azure rule and the example correlation loaded on top of the shipped
// pipeline: the cost Sigma rules add to a sign-in.
func BenchmarkEvalSignInSigma(b *testing.B) {
	e := loadEngine(b, "../pipelines/sigma/examples/demo-sigma.yaml")
	for _, bc := range []struct {
		name string
		c    shippedCase
	}{
		{"nonprivileged", shippedCase{name: "typical", base: "signin_graph.json",
			set: with(carol.signInGraph(), fields{"conditionalAccessStatus": "success"})}},
		{"privileged", shippedCase{name: "admin", base: "signin_diagnostic.json",
			set:    with(alice.signInDiag(), statusDiag(50074, "Strong Authentication is required.", "")),
			device: &entra.Device{ID: "8bfcb982-6856-4402-924c-ada2486321cc"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var dec entra.Decoder
			rec := &entra.Record{}
			if err := dec.Decode(buildDoc(b, bc.c.base, bc.c.set), rec); err != nil {
				b.Fatal(err)
			}
			testStage(b).Enrich(rec)
			rec.Context.Device = bc.c.device
			ev := e.NewEvaluator()
			ev.Eval(rec)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec.Hits = rec.Hits[:0]
				ev.Eval(rec)
				ev.TakeObservations()
			}
		})
	}
}

// A native monitor's matcher is its whole filter: one that matches
// nothing fires on nothing (Compile must keep it as the guard).
func TestNativeMatcherGuards(t *testing.T) {
	off := func(*entra.Record) bool { return false }
	d := Definition{ID: "sigma.x-1", Title: "t", Risk: "low", Source: "signin", When: "true", Native: &Native{Match: off}}
	e, err := Compile([]Definition{d}, nil, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	rec := &entra.Record{Stream: entra.StreamSignIn}
	e.NewEvaluator().Eval(rec)
	if len(rec.Hits) != 0 {
		t.Fatalf("a native monitor that matches nothing fired: %+v", rec.Hits)
	}
}
