package monitor

import (
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// BenchmarkEvalSignInSigma is BenchmarkEvalSignIn with every SigmaHQ
// Azure rule and the example correlation loaded on top of the shipped
// pipeline: the cost Sigma rules add to a sign-in.
func BenchmarkEvalSignInSigma(b *testing.B) {
	benchEvalSignIn(b, "../pipelines/sigma/examples/demo-sigma.yaml")
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
