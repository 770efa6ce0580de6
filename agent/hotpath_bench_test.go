package agent

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/enrich/device"
	"github.com/privtrail/privtrail/enrich/geo"
	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/enrich/workhours"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/bench"
	"github.com/privtrail/privtrail/internal/store"
	"github.com/privtrail/privtrail/internal/synth"
	"github.com/privtrail/privtrail/monitor"
)

// corpus is a fixed-seed sample of realistic records (~80% sign-ins,
// both wire shapes) and the role map of the same synthetic tenant.
var corpus = sync.OnceValues(func() ([][]byte, string) {
	g := synth.New(1, synth.DemoTenant())
	recs := make([][]byte, 20000)
	for i := range recs {
		recs[i] = append([]byte(nil), g.Next()...)
	}
	dir, err := os.MkdirTemp("", "privtrail-bench-")
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "rolemap.yaml")
	if err := os.WriteFile(path, synth.DemoTenant().RoleMapYAML(), 0o600); err != nil {
		panic(err)
	}
	return recs, path
})

func hotPathStages(b *testing.B) (*privilege.Stage, *monitor.Engine) {
	_, roleMap := corpus()
	stage, err := privilege.New(privilege.Config{RoleMap: roleMap})
	if err != nil {
		b.Fatal(err)
	}
	p, err := monitor.LoadPipeline("../pipelines/privileged-accounts.yaml")
	if err != nil {
		b.Fatal(err)
	}
	eng, err := monitor.Compile(p.Monitors, stage.Roles(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return stage, eng
}

func corpusBytes(recs [][]byte) int64 {
	n := 0
	for _, r := range recs {
		n += len(r)
	}
	return int64(n / len(recs))
}

// hotPath is the runner's per-record work, as one worker does it, and
// the sequencer's stateful monitors every hotPathBatch records.
type hotPath struct {
	stages []batch.Enricher
	ev     *monitor.Evaluator
	state  *monitor.State // nil: observations are dropped
	dec    entra.Decoder
	recs   [hotPathBatch]entra.Record
	n      int
	out    []byte
}

const hotPathBatch = 1000

func (h *hotPath) record(b *testing.B, data []byte) {
	rec := &h.recs[h.n]
	if err := h.dec.Decode(data, rec); err != nil {
		b.Fatal(err)
	}
	for _, st := range h.stages {
		st.Enrich(rec)
	}
	h.ev.Eval(rec)
	h.out = rec.AppendJSON(h.out[:0])
	if h.n++; h.n == hotPathBatch {
		h.n = 0
		obs := h.ev.TakeObservations()
		if h.state != nil {
			if _, err := h.state.Apply(obs); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// hotPathState opens the stateful monitors' state in a fresh store.
func hotPathState(b *testing.B, eng *monitor.Engine) *monitor.State {
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	s, err := eng.OpenState(st, "bench", monitor.StateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// runHotPath runs records through stages and the shipped monitors, on
// every CPU when parallel is set.
func runHotPath(b *testing.B, stages []batch.Enricher, parallel bool) {
	recs, _ := corpus()
	_, eng := hotPathStages(b)
	b.SetBytes(corpusBytes(recs))
	b.ReportAllocs()
	if parallel {
		// The stateful monitors' judgement runs on one goroutine per
		// pipeline (the sequencer), not on every CPU: here it is left out.
		b.RunParallel(func(pb *testing.PB) {
			h := &hotPath{stages: stages, ev: eng.NewEvaluator()}
			for i := 0; pb.Next(); i++ {
				h.record(b, recs[i%len(recs)])
			}
		})
		return
	}
	h := &hotPath{stages: stages, ev: eng.NewEvaluator(), state: hotPathState(b, eng)}
	for i := 0; b.Loop(); i++ {
		h.record(b, recs[i%len(recs)])
	}
}

// BenchmarkHotPath is one record through decode → privilege → monitors →
// encode, on one goroutine (the runner runs one such loop per CPU).
func BenchmarkHotPath(b *testing.B) {
	stage, _ := hotPathStages(b)
	runHotPath(b, []batch.Enricher{stage}, false)
}

// BenchmarkHotPathContext adds the geo, device and work-hours stages of
// the demo (its MMDBs, PAW list and schedules) to BenchmarkHotPath.
func BenchmarkHotPathContext(b *testing.B) {
	_, roleMap := corpus()
	cfg := &Config{Context: ContextConfig{
		Privilege: &privilege.Config{RoleMap: roleMap},
		Stages: []StageConfig{
			{"device", &device.Config{Devices: "../testdata/demo/devices.yaml"}},
			{"geo", &geo.Config{CityDB: "../testdata/demo/demo-city.mmdb", ASNDB: "../testdata/demo/demo-asn.mmdb"}},
			{"work_hours", &workhours.Config{Schedules: "../testdata/demo/work-hours.yaml"}},
		},
	}}
	stages, err := BuildStages(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer stages.Close()
	runHotPath(b, stages.List, false)
}

// BenchmarkHotPathParallel runs the hot path on every CPU, as the runner does.
func BenchmarkHotPathParallel(b *testing.B) {
	stage, _ := hotPathStages(b)
	runHotPath(b, []batch.Enricher{stage}, true)
}

// BenchmarkBaseline is the bare loop the pipeline must beat by 1.5×.
func BenchmarkBaseline(b *testing.B) {
	recs, roleMap := corpus()
	stage, err := privilege.New(privilege.Config{RoleMap: roleMap})
	if err != nil {
		b.Fatal(err)
	}
	users := stage.Map().PrivilegedKeys()
	var in bytes.Buffer
	for _, r := range recs {
		in.Write(r)
		in.WriteByte('\n')
	}
	data := in.Bytes()
	b.SetBytes(corpusBytes(recs))
	b.ReportAllocs()
	b.ResetTimer()
	done := 0
	for done < b.N {
		n, err := bench.Baseline(bytes.NewReader(data), discard{}, users)
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(done), "ns/record")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
