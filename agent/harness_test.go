package agent

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	fileinput "github.com/privtrail/privtrail/inputs/file"
	"github.com/privtrail/privtrail/internal/deadletter"
	"github.com/privtrail/privtrail/internal/store"
	"github.com/privtrail/privtrail/monitor"
)

// harness builds a runner around given inputs and outputs, as Agent.Run
// does from a config: no monitors and no context stages unless set.
type harness struct {
	engine  *monitor.Engine
	stages  []batch.Enricher
	t       *testing.T
	st      *store.Store
	dead    *deadletter.Writer
	stats   *Stats
	workers int
	drain   time.Duration
	inputs  []batch.Input
	outputs []*outputRun
	// prepare, when set, adjusts the pipeline before the run.
	prepare func(p *pipelineRun)
}

func newHarness(t *testing.T, dataDir string, in batch.Input, outs ...batch.Output) *harness {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	st, err := store.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := deadletter.Open(filepath.Join(dataDir, "dead-letter.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, dead: dead, stats: &Stats{}, workers: 2, drain: time.Second}
	t.Cleanup(h.close)
	if in != nil {
		h.inputs = append(h.inputs, in)
	}
	for _, o := range outs {
		h.addOutput("out", o)
	}
	return h
}

func newFileHarness(t *testing.T, dataDir, path string, batchSize int) *harness {
	h := newHarness(t, dataDir, nil)
	in, err := fileinput.New("exports", fileinput.Config{Paths: []string{path}, BatchSize: batchSize}, h.st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.inputs = append(h.inputs, in)
	return h
}

func (h *harness) addOutput(name string, o batch.Output) {
	h.outputs = append(h.outputs, newOutputRun(name, o, newMetrics()))
}

func (h *harness) run(ctx context.Context) error {
	engine := h.engine
	if engine == nil {
		var err error
		if engine, err = monitor.Compile(nil, nil, nil); err != nil {
			h.t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ag := New(&Config{}, log)
	r := &runner{log: log, workers: h.workers, dead: h.dead, store: h.st, stats: h.stats, outputs: h.outputs, m: ag.m}
	r.setStages(h.stages)
	p := newPipelineRun("test", engine, h.workers)
	var err error
	if p.state, err = engine.OpenState(h.st, "test", monitor.StateOptions{}); err != nil {
		h.t.Fatal(err)
	}
	p.outputs = h.outputs
	if h.prepare != nil {
		h.prepare(p)
	}
	r.pipelines = []*pipelineRun{p}
	for i, in := range h.inputs {
		p.inputs.Add(1)
		name := "in" + string(rune('0'+i))
		r.inputs = append(r.inputs, &inputRun{name: name, in: in, p: p, tracker: ag.newTracker(name, h.stats),
			read: ag.m.inputRecords.WithLabelValues(name)})
	}
	r.work = make(chan *job, 2*h.workers)
	return r.run(ctx, h.drain)
}

func (h *harness) close() {
	if h.dead != nil {
		h.dead.Close()
		h.dead = nil
	}
	if h.st != nil {
		h.st.Close()
		h.st = nil
	}
}
