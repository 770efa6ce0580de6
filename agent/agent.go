package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/enrich/rolesync"
	"github.com/privtrail/privtrail/inputs"
	_ "github.com/privtrail/privtrail/inputs/all" // the input types
	"github.com/privtrail/privtrail/inputs/eventhubs"
	"github.com/privtrail/privtrail/internal/deadletter"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/store"
	"github.com/privtrail/privtrail/monitor"
	"github.com/privtrail/privtrail/outputs"
	_ "github.com/privtrail/privtrail/outputs/all" // the output types
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
	// stateHeld is set while a pipeline waits for its monitor state to be
	// stored (a full disk under data_dir): /readyz reports it.
	stateHeld atomic.Pointer[heldState]
}

// heldState is a pipeline waiting for its monitor state to be stored.
type heldState struct {
	pipeline string
	since    time.Time
	err      error
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
	for i, path := range cfg.Pipelines {
		p, err := monitor.LoadPipeline(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, cfg.errAt(fmt.Sprintf("$.pipelines[%d]", i), fmt.Sprintf("pipelines[%d]: %v%s", i, err, cfg.relativeHint(err)))
		}
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
// what was in flight has drained. Whatever it opened is closed when it
// returns, on every path. It returns ErrUnfinished when it stopped with
// work left for the next start.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeAll()
	cfg := a.cfg
	applyMemoryLimit(cfg.MemoryLimit, a.log)
	st, dead, err := a.openData()
	if err != nil {
		return err
	}
	srv, err := a.startOps()
	if err != nil {
		return err
	}
	if cfg.Graph != nil {
		if a.graph, err = graphapi.New(*cfg.Graph, a.log.With("component", "graph")); err != nil {
			return fmt.Errorf("graph: %w", err)
		}
		a.m.graphClient(a.graph)
	}
	if err := a.trackLastSeen(st); err != nil {
		return err
	}
	a.m.streams(&a.stats)
	stages, err := a.startContext(ctx)
	if err != nil {
		return err
	}
	topo, err := LoadTopology(cfg, stages.Roles, a.log)
	if err != nil {
		return err
	}
	r := &runner{log: a.log, workers: defaultWorkers(cfg.Workers), dead: dead, store: st, stats: &a.stats, m: a.m, lastSeen: a.lastSeen,
		held: &a.stateHeld}
	if cfg.role() != RoleCollector {
		// A collector publishes records as read: the processors enrich.
		r.setStages(stages.List)
	}
	if err := a.open(ctx, topo, r, st, dead); err != nil {
		return err
	}
	r.work = make(chan *job, 2*r.workers)
	a.inputs.Store(&r.inputs)
	if srv != nil {
		srv.outputs.Store(&r.outputs)
		srv.ready.Store(true)
	}
	if err := r.run(ctx, a.Drain); err != nil {
		return err
	}
	return r.unfinished()
}

// closeAll runs the closers of what Run opened, last first.
func (a *Agent) closeAll() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// onClose adds what Run must undo when it returns.
func (a *Agent) onClose(f func()) { a.closers = append(a.closers, f) }

// openData opens the store and the dead-letter file.
func (a *Agent) openData() (*store.Store, *deadletter.Writer, error) {
	used := store.DataDirUsed(a.cfg.DataDir)
	open := store.Open
	if a.cfg.scratch {
		open = store.OpenScratch
	}
	st, err := open(a.cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	a.onClose(func() { st.Close() })
	lost := st.Fresh() && used
	a.m.storeStartedEmpty(lost)
	if lost {
		a.log.Error("the data directory has been used, but its store was missing or empty: checkpoints and monitor state start from nothing, "+
			"so every input reads its sources again from the start and the destinations receive those records again",
			"store", filepath.Join(a.cfg.DataDir, store.FileName))
	}
	dead, err := deadletter.Open(a.cfg.DeadLetter)
	if err != nil {
		return nil, nil, fmt.Errorf("dead-letter file: %w", err)
	}
	if dead.Repaired > 0 {
		a.log.Warn("cut off a torn last entry of the dead-letter file left by a crash; its record is rejected again", "path", a.cfg.DeadLetter, "bytes", dead.Repaired)
	}
	a.onClose(func() { dead.Close() })
	return st, dead, nil
}

// startOps starts the http block's endpoints when the agent serves them.
func (a *Agent) startOps() (*ops, error) {
	listen := a.cfg.HTTP.Listen
	if !a.Serve || listen == "off" {
		return nil, nil
	}
	if listen == "" {
		listen = defaultListen
	}
	srv, err := a.serve(listen)
	if err != nil {
		return nil, err
	}
	a.onClose(srv.close)
	if a.Listening != nil {
		a.Listening(srv.Addr())
	}
	return srv, nil
}

// trackLastSeen loads the privileged users' last sign-ins and stores them
// every 30 s and when Run returns.
func (a *Agent) trackLastSeen(st *store.Store) error {
	var err error
	if a.lastSeen, err = openLastSeen(st); err != nil {
		return fmt.Errorf("last-seen state: %w", err)
	}
	stop, flushed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(flushed)
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := a.lastSeen.flush(); err != nil {
					a.log.Warn("last-seen state not stored, retrying", "err", err)
				}
			}
		}
	}()
	a.onClose(func() {
		close(stop)
		<-flushed
		if err := a.lastSeen.flush(); err != nil {
			a.log.Error("last-seen state not stored at shutdown", "err", err)
		}
	})
	return nil
}

// startContext builds the context stages and, with a Graph role map,
// starts its refreshes.
func (a *Agent) startContext(ctx context.Context) (*Stages, error) {
	cfg := a.cfg
	stages, err := buildStages(cfg, a.log, true)
	if err != nil {
		return nil, err
	}
	a.onClose(func() { stages.Close() })
	a.privilege = stages.Privilege
	if stages.Privilege != nil {
		a.m.roleMap(stages.Privilege)
	}
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
		a.onClose(func() { stop(); <-done })
	}
	return stages, nil
}

// open builds the outputs, the pipelines with their monitor state and the
// inputs of topo into r. Outputs opened before a failure are closed; once
// Run hands them to the runner, it closes them after the drain.
func (a *Agent) open(ctx context.Context, topo *Topology, r *runner, st *store.Store, dead *deadletter.Writer) (err error) {
	cfg := a.cfg
	outs := map[string]*outputRun{}
	defer func() {
		if err != nil {
			for _, o := range r.outputs {
				o.out.Close(ctx)
			}
			r.outputs = nil
		}
	}()
	for _, oc := range cfg.Outputs {
		env := outputs.Env{DataDir: cfg.DataDir, DeadLetters: dead, Log: a.log.With("output", oc.Name), Stdout: a.Stdout}
		o, err := outputs.Lookup(oc.Type).Build(oc.Name, oc.Config, env)
		if err != nil {
			return fmt.Errorf("output %s: %w", oc.Name, err)
		}
		run := newOutputRun(oc.Name, o, a.m)
		outs[oc.Name] = run
		r.outputs = append(r.outputs, run)
	}
	var extra []*outputRun
	for _, e := range a.extra {
		run := newOutputRun(e.name, e.out, a.m)
		extra = append(extra, run)
		r.outputs = append(r.outputs, run)
	}
	for _, pp := range topo.Pipelines {
		p := pp.Pipeline
		pr := newPipelineRun(p.Name, pp.Engine, r.workers)
		if pr.state, err = pp.Engine.OpenState(st, p.Name, monitor.StateOptions{
			CacheKeys: cfg.State.CacheKeys, CacheBytes: int64(cfg.State.CacheMemory), MaxKeys: cfg.State.MaxKeys, Lateness: time.Duration(cfg.State.Lateness),
			MaxSkew: time.Duration(cfg.State.MaxSkew), Log: a.log}); err != nil {
			return err
		}
		a.m.monitorState(p.Name, pr.state)
		a.m.queueDepth(p.Name, func() int { return len(pr.seq) })
		for _, oc := range pp.Outputs {
			pr.outputs = append(pr.outputs, outs[oc.Name])
		}
		pr.outputs = append(pr.outputs, extra...)
		for _, ic := range pp.Inputs {
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
		r.pipelines = append(r.pipelines, pr)
		a.log.Info("pipeline ready", "pipeline", p.Name, "monitors", len(pp.Engine.Monitors()), "outputs", len(pp.Outputs))
	}
	return nil
}

func (a *Agent) newTracker(input string, stats *Stats) *batch.Tracker {
	committed := a.m.committed.WithLabelValues(input)
	lag := newCheckpointLag()
	a.m.checkpointLag(input, lag)
	return batch.NewTracker(func(b *batch.Batch) {
		lag.acked(b)
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

// metricsSource is an input with counters of its own for /metrics (the
// Graph input's polls); Collectors labels them with the input's name.
type metricsSource interface {
	Collectors(input string) []prometheus.Collector
}

func (a *Agent) newInput(ic inputs.Entry, st *store.Store, dead *deadletter.Writer) (batch.Input, error) {
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
	env := inputs.Env{Store: st, Log: a.log.With("input", ic.Name), Bad: bad, Privilege: a.privilege, LastSeen: a.lastSeen.get}
	if ic.SharedGraph {
		env.Graph = a.graph
	}
	in, err := inputs.Lookup(ic.Type).Build(ic.Name, ic.Config, env)
	if err != nil {
		return nil, err
	}
	if ms, ok := in.(metricsSource); ok {
		a.m.reg.MustRegister(ms.Collectors(ic.Name)...)
	}
	return in, nil
}
