package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/enrich/rolesync"
	"github.com/privtrail/privtrail/inputs/dirscan"
	"github.com/privtrail/privtrail/inputs/eventhubs"
	fileinput "github.com/privtrail/privtrail/inputs/file"
	graphinput "github.com/privtrail/privtrail/inputs/graph"
	"github.com/privtrail/privtrail/internal/deadletter"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/store"
	"github.com/privtrail/privtrail/monitor"
	"github.com/privtrail/privtrail/outputs/elastic"
	fileoutput "github.com/privtrail/privtrail/outputs/file"
	"github.com/privtrail/privtrail/outputs/kafka"
	"github.com/privtrail/privtrail/outputs/qradar"
	"github.com/privtrail/privtrail/outputs/splunk"
)

// Agent is one privtrail process: it owns the store, the dead-letter file,
// the enrichment stages and the runner built from the config.
type Agent struct {
	cfg   *Config
	log   *slog.Logger
	stats Stats
	extra []namedOutput
	// Stdout is where the stdout output writes; os.Stdout unless replaced.
	Stdout io.Writer
	// Drain bounds how long outputs may flush after a stop signal.
	Drain time.Duration
	// Serve starts the http block's endpoints (metrics, health) during Run;
	// `privtrail run` sets it, one-shot commands (demo, replay) do not.
	Serve bool
	// Listening, when set, is told the endpoints' address once they listen.
	Listening func(addr string)

	m *metrics
	// privilege is the privilege stage of the run, nil without one.
	privilege *privilege.Stage
	// lastSeen is the run's record of privileged users' sign-ins.
	lastSeen *lastSeen
	// graph is the client of the top-level graph block, shared by the
	// Graph features that use it; nil without one.
	graph *graphapi.Client
	// inputs of the running pipeline, for Progress.
	inputs atomic.Pointer[[]*inputRun]
	// closers run when Run returns, last first.
	closers []func()
}

// progressReporter is an input that knows how far through its data it is
// (the file input, in bytes).
type progressReporter interface {
	Progress() (done, total int64)
}

// Progress sums the progress of the inputs that can tell it; total is 0
// when none can (a stream has no end).
func (a *Agent) Progress() (done, total int64) {
	p := a.inputs.Load()
	if p == nil {
		return 0, 0
	}
	for _, in := range *p {
		if pr, ok := in.in.(progressReporter); ok {
			d, t := pr.Progress()
			done += d
			total += t
		}
	}
	return done, total
}

type namedOutput struct {
	name string
	out  batch.Output
}

// New returns an agent for cfg. Nothing is opened until Run.
func New(cfg *Config, log *slog.Logger) *Agent {
	if log == nil {
		log = slog.Default()
	}
	return &Agent{cfg: cfg, log: log, Stdout: os.Stdout, Drain: 30 * time.Second, m: newMetrics()}
}

// AddOutput adds an output that every pipeline feeds, beside the
// configured ones (the demo's summary is one).
func (a *Agent) AddOutput(name string, o batch.Output) {
	a.extra = append(a.extra, namedOutput{name, o})
}

// Stats are the counters of the run.
func (a *Agent) Stats() *Stats { return &a.stats }

// DeadLetterPath is where rejected records go.
func (a *Agent) DeadLetterPath() string { return a.cfg.DeadLetter }

// LoadPipelines reads and compiles the config's pipeline files, so that
// `privtrail check` and `privtrail monitors` see what Run would.
func LoadPipelines(cfg *Config, roles monitor.RoleChecker, log *slog.Logger) ([]*monitor.Pipeline, []*monitor.Engine, error) {
	var ps []*monitor.Pipeline
	var es []*monitor.Engine
	for _, path := range cfg.Pipelines {
		p, err := monitor.LoadPipeline(path)
		if err != nil {
			return nil, nil, err
		}
		e, err := monitor.Compile(p.Monitors, roles, log)
		if err != nil {
			return nil, nil, err
		}
		ps = append(ps, p)
		es = append(es, e)
	}
	return ps, es, nil
}

// Run runs until every input is finished, or until ctx is cancelled and
// what was in flight has drained.
func (a *Agent) Run(ctx context.Context) error {
	cfg := a.cfg
	st, err := store.Open(cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	dead, err := deadletter.Open(cfg.DeadLetter)
	if err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	defer dead.Close()
	defer func() {
		for i := len(a.closers) - 1; i >= 0; i-- {
			a.closers[i]()
		}
		a.closers = nil
	}()

	var srv *ops
	if listen := cfg.HTTP.Listen; a.Serve && listen != "off" {
		if listen == "" {
			listen = defaultListen
		}
		if srv, err = a.serve(listen); err != nil {
			return err
		}
		defer srv.close()
		if a.Listening != nil {
			a.Listening(srv.Addr())
		}
	}

	if cfg.Graph != nil {
		if a.graph, err = graphapi.New(*cfg.Graph, a.log.With("component", "graph")); err != nil {
			return fmt.Errorf("graph: %w", err)
		}
		a.m.graphClient(a.graph)
	}

	r := &runner{log: a.log, workers: defaultWorkers(cfg.Workers), dead: dead, store: st, stats: &a.stats, m: a.m}
	if a.lastSeen, err = openLastSeen(st); err != nil {
		return fmt.Errorf("last-seen state: %w", err)
	}
	r.lastSeen = a.lastSeen
	stopFlush := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopFlush:
				return
			case <-t.C:
				if err := a.lastSeen.flush(); err != nil {
					a.log.Warn("last-seen state not stored, retrying", "err", err)
				}
			}
		}
	}()
	defer func() {
		close(stopFlush)
		<-flushed
		if err := a.lastSeen.flush(); err != nil {
			a.log.Error("last-seen state not stored at shutdown", "err", err)
		}
	}()
	a.m.streams(&a.stats)
	stages, err := buildStages(cfg, a.log, true)
	if err != nil {
		return err
	}
	defer stages.Close()
	if cfg.role() != RoleCollector {
		// A collector publishes records as read: the processors enrich.
		r.setStages(stages.List)
	}
	a.privilege = stages.Privilege
	if pc := cfg.Context.Privilege; pc != nil && pc.Graph != nil && a.graph != nil {
		src := rolesync.New(rolesync.Config{
			Interval:        pc.Graph.Interval,
			File:            filepath.Join(cfg.DataDir, "rolemap-graph.json"),
			EmergencyAccess: pc.EmergencyAccess,
		}, a.graph, stages.Privilege, a.log.With("component", "rolesync"))
		a.m.roleSync(src)
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); src.Run(rctx) }()
		// Stopped before the stages close, which saves the privilege state.
		defer func() { stop(); <-done }()
	}
	if stages.Privilege != nil {
		a.m.roleMap(stages.Privilege)
	}
	pipes, engines, err := LoadPipelines(cfg, stages.Roles, a.log)
	if err != nil {
		return err
	}
	if cfg.role() == RoleCollector {
		e, err := monitor.Compile(nil, stages.Roles, a.log)
		if err != nil {
			return err
		}
		pipes, engines = []*monitor.Pipeline{{Name: RoleCollector}}, []*monitor.Engine{e}
	}

	outputs := map[string]*outputRun{}
	for _, oc := range cfg.Outputs {
		o, err := a.newOutput(oc, delivery.Deps{DataDir: cfg.DataDir, DeadLetters: dead, Log: a.log.With("output", oc.Name)})
		if err != nil {
			for _, done := range outputs {
				done.out.Close(ctx)
			}
			return fmt.Errorf("output %s: %w", oc.Name, err)
		}
		run := newOutputRun(oc.Name, o, a.m)
		outputs[oc.Name] = run
		r.outputs = append(r.outputs, run)
	}
	var extra []*outputRun
	for _, e := range a.extra {
		run := newOutputRun(e.name, e.out, a.m)
		extra = append(extra, run)
		r.outputs = append(r.outputs, run)
	}

	assigned := map[string]string{}
	for i, p := range pipes {
		pr := newPipelineRun(p.Name, engines[i], r.workers)
		if pr.state, err = engines[i].OpenState(st, p.Name, monitor.StateOptions{
			CacheKeys: cfg.State.CacheKeys, MaxKeys: cfg.State.MaxKeys, Lateness: time.Duration(cfg.State.Lateness), Log: a.log}); err != nil {
			return err
		}
		a.m.monitorState(p.Name, pr.state)
		a.m.queueDepth(p.Name, func() int { return len(pr.seq) })
		for _, oc := range cfg.Outputs {
			if len(p.Outputs) == 0 || slices.Contains(p.Outputs, oc.Name) {
				pr.outputs = append(pr.outputs, outputs[oc.Name])
			}
		}
		for _, name := range p.Outputs {
			if outputs[name] == nil {
				return fmt.Errorf("%s: outputs: %q is not an output of %s", p.File, name, cfg.file)
			}
		}
		pr.outputs = append(pr.outputs, extra...)
		for _, ic := range cfg.Inputs {
			if len(p.Inputs) > 0 && !cfg.replay && !slices.Contains(p.Inputs, ic.Name) {
				continue
			}
			if prev, ok := assigned[ic.Name]; ok {
				return fmt.Errorf("%s: input %q is already in pipeline %q: an input feeds one pipeline", p.File, ic.Name, prev)
			}
			assigned[ic.Name] = p.Name
			in, err := a.newInput(ic, st, dead)
			if err != nil {
				return fmt.Errorf("input %s: %w", ic.Name, err)
			}
			if eh, ok := in.(*eventhubs.Input); ok && cfg.role() == RoleProcessor {
				if err := a.shardState(ctx, eh, pr); err != nil {
					return err
				}
			}
			pr.inputs.Add(1)
			r.inputs = append(r.inputs, &inputRun{name: ic.Name, in: in, p: pr, tracker: a.newTracker(ic.Name, &a.stats),
				read: a.m.inputRecords.WithLabelValues(ic.Name)})
		}
		for _, name := range p.Inputs {
			if !cfg.replay && !slices.ContainsFunc(cfg.Inputs, func(ic InputConfig) bool { return ic.Name == name }) {
				return fmt.Errorf("%s: inputs: %q is not an input of %s", p.File, name, cfg.file)
			}
		}
		r.pipelines = append(r.pipelines, pr)
		a.log.Info("pipeline ready", "pipeline", p.Name, "monitors", len(engines[i].Monitors()), "outputs", len(pr.outputs))
	}
	for _, ic := range cfg.Inputs {
		if _, ok := assigned[ic.Name]; !ok {
			return fmt.Errorf("%s: input %q is in no pipeline", cfg.file, ic.Name)
		}
	}
	r.work = make(chan *job, 2*r.workers)
	a.inputs.Store(&r.inputs)
	if srv != nil {
		srv.outputs.Store(&r.outputs)
		srv.ready.Store(true)
	}
	return r.run(ctx, a.Drain)
}

func (a *Agent) newTracker(input string, stats *Stats) *batch.Tracker {
	committed := a.m.committed.WithLabelValues(input)
	var newest atomic.Int64
	a.m.checkpointLag(input, &newest)
	return batch.NewTracker(func(b *batch.Batch) {
		if t := newestEventTime(b); t > newest.Load() {
			newest.Store(t)
		}
		if b.Commit == nil {
			return
		}
		if err := b.Commit(); err != nil {
			// Not a loss: the batch is delivered; it will be re-sent after
			// a restart because its checkpoint did not move.
			a.log.Error("checkpoint write failed", "input", input, "err", err)
			return
		}
		stats.Committed.Add(1)
		committed.Inc()
	})
}

func (a *Agent) newInput(ic InputConfig, st *store.Store, dead *deadletter.Writer) (batch.Input, error) {
	rejected := a.m.bad.WithLabelValues(ic.Name, "framing")
	// bad takes what an input cannot even frame as a record.
	bad := func(origin string, data []byte, reason string) {
		a.stats.Bad.Add(1)
		rejected.Inc()
		if err := dead.Write("input:"+ic.Name, origin, reason, data); err != nil {
			a.log.Error("dead-letter write failed", "origin", origin, "err", err)
		}
		a.log.Warn("unreadable record sent to the dead-letter file", "input", ic.Name, "origin", origin, "reason", reason)
	}
	log := a.log.With("input", ic.Name)
	switch {
	case ic.File != nil:
		return fileinput.New(ic.Name, *ic.File, st, log, bad)
	case ic.EventHubs != nil:
		return eventhubs.New(ic.Name, *ic.EventHubs, log, bad)
	case ic.Graph != nil:
		var opts []graphinput.Option
		if ic.sharedGraph && a.graph != nil {
			opts = append(opts, graphinput.WithClient(a.graph))
		}
		in, err := graphinput.New(ic.Name, *ic.Graph, st, log, bad, opts...)
		if err == nil {
			a.m.graphInput(ic.Name, in)
		}
		return in, err
	case ic.Dirscan != nil:
		if a.privilege == nil {
			return nil, fmt.Errorf("dirscan needs context.privilege")
		}
		opts := []dirscan.Option{dirscan.WithStore(st)}
		if ic.sharedGraph && a.graph != nil {
			opts = append(opts, dirscan.WithClient(a.graph))
		}
		return dirscan.New(ic.Name, *ic.Dirscan, log, roleMapPrincipals{a.privilege, a.lastSeen}, opts...)
	}
	return nil, fmt.Errorf("no input type configured")
}

func (a *Agent) newOutput(oc OutputConfig, deps delivery.Deps) (batch.Output, error) {
	switch {
	case oc.File != nil:
		return fileoutput.New(*oc.File)
	case oc.Stdout != nil:
		return fileoutput.NewStdout(a.Stdout), nil
	case oc.Splunk != nil:
		return splunk.New(oc.Name, *oc.Splunk, deps)
	case oc.Elastic != nil:
		return elastic.New(oc.Name, *oc.Elastic, deps)
	case oc.QRadar != nil:
		return qradar.New(oc.Name, *oc.QRadar, deps)
	case oc.Kafka != nil:
		return kafka.New(oc.Name, *oc.Kafka, deps)
	}
	return nil, fmt.Errorf("no output type configured")
}

// roleMapPrincipals gives the directory scan the privileged principals of
// the role map in use (file, Graph or saved state), read at each scan.
type roleMapPrincipals struct {
	st   *privilege.Stage
	seen *lastSeen
}

func (r roleMapPrincipals) Privileged() []dirscan.Principal {
	var out []dirscan.Principal
	for _, e := range r.st.Map().Entries() {
		if e.Privileged {
			out = append(out, dirscan.Principal{ID: e.ID, UPN: e.UPN, DisplayName: e.DisplayName, Roles: e.Roles,
				Emergency: e.Emergency, LastSeen: r.seen.get(e.ID, e.UPN)})
		}
	}
	return out
}
