package monitor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/synth"
)

// The pipelines of the hot-path mix: the shipped one the agent's
// BenchmarkHotPath runs, and the same with every SigmaHQ Azure rule of
// the snapshot loaded on top (116 compiled, 7 azure/pim skipped).
const (
	mixShipped = "../pipelines/privileged-accounts.yaml"
	mixSigma   = "testdata/sigma-hotpath.yaml"
	mixRecords = 20000
)

// hotMix is the record mix of agent/hotpath_bench_test.go — the same
// generator, seed and tenant (~80% sign-ins of generated users, ~18%
// audits, both wire shapes) — decoded once and tagged by the privilege
// stage with the tenant's role map, so that the benchmarks below time
// Eval alone.
var hotMix = sync.OnceValues(func() ([]*entra.Record, *privilege.Stage) {
	g := synth.New(1, synth.DemoTenant())
	dir, err := os.MkdirTemp("", "privtrail-sigma-mix-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "rolemap.yaml")
	if err := os.WriteFile(path, synth.DemoTenant().RoleMapYAML(), 0o600); err != nil {
		panic(err)
	}
	stage, err := privilege.New(privilege.Config{RoleMap: path})
	if err != nil {
		panic(err)
	}
	var dec entra.Decoder
	recs := make([]*entra.Record, mixRecords)
	for i := range recs {
		rec := &entra.Record{}
		if err := dec.Decode(g.Next(), rec); err != nil {
			panic(fmt.Sprintf("record %d: %v", i, err))
		}
		stage.Enrich(rec)
		recs[i] = rec
	}
	return recs, stage
})

func mixEngine(t testing.TB, path string) *Engine {
	t.Helper()
	_, stage := hotMix()
	p, err := LoadPipeline(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(p.Monitors, stage.Roles(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// BenchmarkEvalMix is Eval, decode-free, over the hot-path mix: one
// op is one record. "shipped" is the pipeline of agent's BenchmarkHotPath,
// "sigma" the same with the 116 SigmaHQ rules: the difference is what
// the rules add to each record of the pipeline.
func BenchmarkEvalMix(b *testing.B) {
	recs, _ := hotMix()
	for _, bc := range []struct{ name, path string }{{"shipped", mixShipped}, {"sigma", mixSigma}} {
		b.Run(bc.name, func(b *testing.B) {
			e := mixEngine(b, bc.path)
			ev := e.NewEvaluator()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				rec := recs[i%len(recs)]
				rec.Hits = rec.Hits[:0]
				ev.Eval(rec)
				if i%1000 == 999 {
					ev.TakeObservations()
				}
			}
		})
	}
}

// mixHits counts the records of the mix each Sigma monitor fires on.
func mixHits(t testing.TB) (map[string]int, map[entra.Stream]int) {
	recs, _ := hotMix()
	e := mixEngine(t, mixSigma)
	ev := e.NewEvaluator()
	hits := map[string]int{}
	streams := map[entra.Stream]int{}
	for _, rec := range recs {
		streams[rec.Stream]++
		rec.Hits = rec.Hits[:0]
		ev.Eval(rec)
		for _, h := range rec.Hits {
			if strings.HasPrefix(h.ID, "sigma.") {
				hits[h.ID+" "+monitorByID(e, h.ID).Title]++
			}
		}
		rec.Hits = rec.Hits[:0]
	}
	ev.TakeObservations()
	return hits, streams
}

// TestSigmaMixHits says (with -v) which SigmaHQ rules fire how often on
// the hot-path mix: what BenchmarkEvalMix/sigma pays for reasons.
func TestSigmaMixHits(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 20000 records")
	}
	hits, streams := mixHits(t)
	keys := make([]string, 0, len(hits))
	for k := range hits {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return hits[b] - hits[a] })
	t.Logf("mix of %d records: %v", mixRecords, streams)
	for _, k := range keys {
		t.Logf("%6d (%5.2f%%) %s", hits[k], 100*float64(hits[k])/mixRecords, k)
	}
}
