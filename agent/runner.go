package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/arena"
	"github.com/privtrail/privtrail/internal/deadletter"
	"github.com/privtrail/privtrail/internal/store"
	"github.com/privtrail/privtrail/monitor"
)

// observer is a context stage that also learns from the records it tags:
// the privilege stage applies the role changes of audit records (an
// activation, a removal) to its history. The runner calls Observe once per
// batch, in the order the inputs emitted them, before any record of the
// batch is tagged; EnrichAt then tags with what was known up to that batch,
// so however the workers interleave, a replay tags every record the same.
// Sync(gen) returns nil once what Observe learnt up to generation gen
// survives a crash; a batch goes to the outputs (and so may be
// checkpointed, never to be read again) only after it has.
type observer interface {
	Observe(recs []*entra.Record) (gen uint64)
	EnrichAt(rec *entra.Record, gen uint64)
	Sync(gen uint64) error
}

// Stats are the runner's counters.
type Stats struct {
	Read      atomic.Int64 // documents read by inputs
	Decoded   atomic.Int64 // documents decoded into records
	Bad       atomic.Int64 // documents that are not JSON or not Entra logs
	Committed atomic.Int64 // batches checkpointed
	streams   [maxStreams]atomic.Int64
	// categories counts records per log category.
	categories categoryCounts
}

// maxStreams bounds entra.Streams: a fixed array keeps Stats a plain
// zero-value struct with no allocation on the record path.
const maxStreams = 16

func init() {
	if len(entra.Streams) > maxStreams {
		panic("agent: raise maxStreams to len(entra.Streams)")
	}
}

// Stream returns how many records of s were decoded.
func (s *Stats) Stream(st entra.Stream) int64 {
	for i, x := range entra.Streams {
		if x == st {
			return s.streams[i].Load()
		}
	}
	return 0
}

func (s *Stats) countStream(st entra.Stream) {
	for i, x := range entra.Streams {
		if x == st {
			s.streams[i].Add(1)
			return
		}
	}
}

// itemDecoder is an input that decodes its own items: the Graph input,
// which knows the category of the endpoint an item came from and so
// forwards an item in a shape the decoder does not know instead of
// dead-lettering it. DecodeItem must be safe for concurrent use with
// distinct Decoders and Records.
type itemDecoder interface {
	DecodeItem(dec *entra.Decoder, it *batch.Item, rec *entra.Record) error
}

type job struct {
	b       *batch.Batch
	p       *pipelineRun
	decoder itemDecoder // nil: entra.Decoder.Decode
	tracker *batch.Tracker
	done    chan struct{}
	// obs are the records that passed a stateful monitor's filter, for
	// the sequencer to judge in input order.
	obs []monitor.Observation
	// prev is the job emitted before this one (by any input); observed
	// is closed once this job's records were shown to the observer.
	prev     *job
	observed chan struct{}
	// gen is the observer's generation for the batch (Observe's).
	gen uint64
}

type pipelineRun struct {
	name    string
	engine  *monitor.Engine
	state   *monitor.State // nil without stateful monitors
	outputs []*outputRun
	seq     chan *job
	inputs  sync.WaitGroup
	// halted: a batch's state could not be replicated, so neither it nor
	// any later batch may be checkpointed; the sequencer drops them (the
	// next owner of their partitions reads them again).
	halted bool
}

type outputRun struct {
	name  string
	out   batch.Output
	ch    chan *batch.Batch
	acked prometheus.Counter
}

type inputRun struct {
	name    string
	in      batch.Input
	p       *pipelineRun
	tracker *batch.Tracker
	read    prometheus.Counter
}

// runner moves batches. It is built by Agent from the config.
type runner struct {
	log     *slog.Logger
	workers int
	// stages run in order: privilege first, because the others (work
	// hours by group) and the monitors read what it adds.
	stages []batch.Enricher
	dead   *deadletter.Writer
	store  *store.Store
	stats  *Stats
	// held, when set, is told while a pipeline waits for its monitor
	// state to be stored (for /readyz).
	held *atomic.Pointer[heldState]
	m    *metrics

	inputs    []*inputRun
	pipelines []*pipelineRun
	outputs   []*outputRun
	work      chan *job
	// observer is the stage among stages that learns from records, or
	// nil; observerAt is its index in stages.
	observer   observer
	observerAt int
	// link orders jobs for the observer: emitters link a job to the last
	// one and queue it for the workers under it, so the workers take jobs
	// in link order and a worker waiting for its predecessor never waits
	// for a job no worker has taken.
	link    sync.Mutex
	lastJob *job
	// lastSeen keeps privileged users' last successful sign-ins (nil:
	// not kept).
	lastSeen *lastSeen

	badLog, stateLog rateLimit

	// stopping is closed when the agent is told to stop.
	stopping <-chan struct{}
	// undone is what the run left for the next start (batches not
	// acknowledged, an output not closed, state not stored): the agent
	// then exits with ErrUnfinished.
	undoneMu sync.Mutex
	undone   []string

	// stop ends the inputs with a cause: a pipeline that cannot go on.
	stop    context.CancelCauseFunc
	stopped func() bool // the run's own context ended (shutdown)
}

// run blocks until every input has finished (or ctx ended and the
// pipeline drained) and every batch read has been committed or abandoned.
// drain bounds how long outputs may take to flush after ctx ends.
func (r *runner) run(parent context.Context, drain time.Duration) error {
	ctx, stop := context.WithCancelCause(parent)
	defer stop(nil)
	r.stop, r.stopped = stop, func() bool { return parent.Err() != nil }
	r.stopping = parent.Done()
	outCtx, cancelOut := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelOut()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(drain, cancelOut)
		context.AfterFunc(outCtx, func() { t.Stop() })
	})
	defer stopDrain()

	var outputsDone sync.WaitGroup
	for _, o := range r.outputs {
		outputsDone.Add(1)
		go func() {
			defer outputsDone.Done()
			r.consume(outCtx, o)
		}()
	}
	var workersDone sync.WaitGroup
	for range r.workers {
		workersDone.Add(1)
		go func() {
			defer workersDone.Done()
			r.worker()
		}()
	}
	var seqDone sync.WaitGroup
	for _, p := range r.pipelines {
		seqDone.Add(1)
		go func() {
			defer seqDone.Done()
			r.sequence(p)
		}()
	}

	errs := make(chan error, len(r.inputs))
	for _, in := range r.inputs {
		go func() {
			defer in.p.inputs.Done()
			err := in.in.Run(ctx, r.emitter(in))
			if err != nil && !errors.Is(err, context.Canceled) {
				err = fmt.Errorf("input %s: %w", in.name, err)
				r.log.Error("input stopped", "input", in.name, "err", err)
			} else {
				err = nil
			}
			errs <- err
		}()
	}
	var inputErrs []error
	for range r.inputs {
		if err := <-errs; err != nil {
			inputErrs = append(inputErrs, err)
		}
	}
	// Inputs are done: let each stage finish what it holds, in order.
	for _, p := range r.pipelines {
		close(p.seq)
	}
	seqDone.Wait()
	close(r.work)
	workersDone.Wait()
	for _, o := range r.outputs {
		close(o.ch)
	}
	outputsDone.Wait()
	for _, in := range r.inputs {
		if n := in.tracker.Outstanding(); n > 0 {
			r.log.Warn("batches not acknowledged at shutdown; they will be read again on the next start", "input", in.name, "batches", n)
			r.leftUndone("input %s: %d batches not acknowledged", in.name, n)
		}
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		inputErrs = append(inputErrs, cause)
	}
	return errors.Join(inputErrs...)
}

// setStages sets the context stages, in order, and finds the observer
// among them.
func (r *runner) setStages(list []batch.Enricher) {
	r.stages, r.observer = list, nil
	for k, st := range list {
		if o, ok := st.(observer); ok {
			r.observer, r.observerAt = o, k
			return
		}
	}
}

func (r *runner) emitter(in *inputRun) func(context.Context, *batch.Batch) error {
	return func(ctx context.Context, b *batch.Batch) error {
		b.Input = in.name
		r.stats.Read.Add(int64(len(b.Items)))
		in.read.Add(float64(len(b.Items)))
		j := &job{b: b, p: in.p, tracker: in.tracker, done: make(chan struct{})}
		j.decoder, _ = in.in.(itemDecoder)
		select {
		case in.p.seq <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
		// Workers drain r.work until every sequencer has finished, so
		// this send cannot block forever; the bounded seq channel above
		// is where back-pressure reaches the input.
		r.link.Lock()
		j.prev, r.lastJob = r.lastJob, j
		j.observed = make(chan struct{})
		r.work <- j
		r.link.Unlock()
		return nil
	}
}

// sequence hands a pipeline's batches to its outputs in the order the
// inputs emitted them, whatever order the workers finish in. The batches
// that are ready when one is are judged with it and their monitor state
// stored in one transaction (a group commit: one sync for several
// batches, not one each, which kept the workers waiting for the
// sequencer); none goes on before that.
func (r *runner) sequence(p *pipelineRun) {
	var next *job // taken from p.seq but not ready: the next group's first
	for {
		j := next
		if j == nil {
			var ok bool
			if j, ok = <-p.seq; !ok {
				return
			}
		}
		<-j.done
		if groupHook != nil {
			groupHook()
		}
		group := []*job{j}
		next = nil
		open := true
	ready:
		for len(group) < maxGroup {
			select {
			case n, ok := <-p.seq:
				if !ok {
					open = false
					break ready
				}
				select {
				case <-n.done:
					group = append(group, n)
				default:
					next = n
					break ready
				}
			default:
				break ready
			}
		}
		r.forwardGroup(p, group)
		if !open {
			return
		}
	}
}

// groupHook, when set (by a test), runs when the sequencer has a batch
// ready, before it looks for more to group with it.
var groupHook func()

// maxGroup is the most batches (each up to a thousand records) one state
// transaction covers.
const maxGroup = 8

// forwardGroup judges a group of batches in order, stores their state
// and what the observer learnt from them, and hands them to the outputs.
func (r *runner) forwardGroup(p *pipelineRun, group []*job) {
	if p.halted {
		return // never tracked, so never checkpointed
	}
	var learnt chan error
	gen := group[len(group)-1].gen // the newest: generations grow in input order
	if r.observer != nil {
		// Its sync runs beside the state's, so the group waits for the
		// slower of the two, not for both one after the other.
		learnt = make(chan error, 1)
		go func() { learnt <- r.observer.Sync(gen) }()
	}
	var err error
	if p.state != nil {
		var n int
		n, err = r.judge(p, group)
		group = group[:n]
	}
	if learnt != nil {
		retry := func() error { return r.observer.Sync(gen) }
		if lerr := r.holdUntil(p, "privilege history", <-learnt, retry); lerr != nil {
			group, err = nil, cmp.Or(err, lerr)
		}
	}
	for _, j := range group {
		if r.lastSeen != nil {
			r.lastSeen.observe(j.b.Records)
		}
		j.tracker.Track(j.b, len(p.outputs))
		for _, o := range p.outputs {
			o.ch <- j.b
		}
	}
	if err != nil {
		p.halted = true
		if r.stopped() {
			r.log.Info("stopping: batches in flight stay unacknowledged and are read again (by the next owner of their partitions, in a cluster)", "pipeline", p.name, "err", err)
		} else {
			r.log.Error("monitor state could not be copied to the changelog; the pipeline stops so that nothing is checkpointed past it (restart the processor)", "pipeline", p.name, "err", err)
			r.stop(fmt.Errorf("pipeline %s: %w", p.name, err))
		}
	}
}

// judge runs the stateful monitors over the group's observations, batch
// after batch in input order (what makes a replay give the same alerts
// however the workers interleave), stores the state they changed, and
// re-encodes the few records that got a hit. It returns how many of the
// group's batches may go on: all of them, or, when the state's changes
// did not reach the changelog (a processor, whose Judge stores and copies
// each batch) those before the one that failed, or none when the state
// could not be stored before the agent stopped.
func (r *runner) judge(p *pipelineRun, group []*job) (int, error) {
	hits := make([][]monitor.Fired, len(group))
	for k, j := range group {
		if len(j.obs) == 0 {
			continue
		}
		h, err := p.state.Judge(j.obs)
		if notReplicated(err) {
			r.refresh(hits[:k], group[:k])
			return k, err
		}
		if err := r.holdUntilStored(p, err); err != nil {
			return 0, err
		}
		hits[k] = h
	}
	err := p.state.Flush()
	if notReplicated(err) {
		return 0, err
	}
	if err := r.holdUntilStored(p, err); err != nil {
		return 0, err
	}
	r.refresh(hits, group)
	return len(group), nil
}

// refresh counts the hits the state added to each batch's records and
// re-encodes those records.
func (r *runner) refresh(hits [][]monitor.Fired, group []*job) {
	for k, hit := range hits {
		var recs []*entra.Record
		for _, f := range hit {
			h := f.Record.Hits[f.Hit]
			r.m.monitorHits.WithLabelValues(h.ID, h.Risk).Inc()
			if !slices.Contains(recs, f.Record) {
				recs = append(recs, f.Record)
			}
		}
		b := group[k].b
		for _, rec := range recs {
			if i := slices.Index(b.Records, rec); i >= 0 {
				b.JSON[i] = rec.AppendJSON(nil)
			}
		}
	}
}

// holdUntilStored retries storing the pipeline's monitor state until it
// succeeds (a full disk freed, an I/O error gone), holding the batch and
// so every later one: a batch forwarded, then checkpointed, with its
// state unstored would lose that state to a restart for good. It gives up
// only when the agent stops, and then the batch is not forwarded.
func (r *runner) holdUntilStored(p *pipelineRun, err error) error {
	return r.holdUntil(p, "monitor state", err, p.state.Flush)
}

// holdUntil retries store, which failed with err, until it succeeds or
// the agent stops, logging what is not stored (rate-limited) and telling
// /readyz that the pipeline is held.
func (r *runner) holdUntil(p *pipelineRun, what string, err error, store func() error) error {
	if err == nil {
		return nil
	}
	since := time.Now()
	if r.held != nil {
		defer r.held.Store(nil)
		r.held.Store(&heldState{pipeline: p.name, since: since, err: err})
	}
	backoff := 100 * time.Millisecond
	for err != nil {
		if r.stateLog.allow() {
			r.log.Error(what+" not stored; the pipeline waits until it is", "pipeline", p.name, "err", err, "retry_in", backoff, "suppressed", r.stateLog.takeSuppressed())
		}
		select {
		case <-r.stopping:
			r.leftUndone("pipeline %s: %s not stored: %v", p.name, what, err)
			return fmt.Errorf("%s not stored: %w", what, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
		if err = store(); err != nil && r.held != nil {
			r.held.Store(&heldState{pipeline: p.name, since: since, err: err})
		}
	}
	r.log.Info(what+" stored again; the pipeline goes on", "pipeline", p.name, "held_for", time.Since(since).Round(time.Millisecond))
	return nil
}

// leftUndone records work the run leaves for the next start.
func (r *runner) leftUndone(format string, args ...any) {
	r.undoneMu.Lock()
	defer r.undoneMu.Unlock()
	r.undone = append(r.undone, fmt.Sprintf(format, args...))
}

// unfinished is what the run left for the next start, or nil.
func (r *runner) unfinished() error {
	r.undoneMu.Lock()
	defer r.undoneMu.Unlock()
	if len(r.undone) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnfinished, strings.Join(r.undone, "; "))
}

// ErrUnfinished is what Run returns when it stopped with work left for
// the next start: batches not acknowledged (they are read again), an
// output that could not close cleanly, monitor state not stored. Nothing
// is lost, but `privtrail run` exits with code 3 so that a supervisor can
// tell.
var ErrUnfinished = errors.New("stopped with work left for the next start")

func (r *runner) consume(ctx context.Context, o *outputRun) {
	backoff := 100 * time.Millisecond
	for b := range o.ch {
		for {
			err := o.out.Consume(ctx, b)
			if err == nil {
				backoff = 100 * time.Millisecond
				o.acked.Inc()
				break
			}
			if ctx.Err() != nil {
				r.log.Error("output gave up at shutdown; the batch stays unacknowledged and is read again on the next start", "output", o.name, "err", err)
				r.leftUndone("output %s: %v", o.name, err)
				break
			}
			r.log.Warn("output failed, retrying", "output", o.name, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}
	// ctx ends Drain after a stop signal: a buffering output sends what it
	// holds until then, and keeps the rest on disk for the next start.
	if err := o.out.Close(ctx); err != nil {
		r.log.Error("output close", "output", o.name, "err", err)
		r.leftUndone("output %s: close: %v", o.name, err)
	}
}

// worker decodes, enriches, evaluates and encodes whole batches; several
// run in parallel.
func (r *runner) worker() {
	w := &workerState{evals: map[*pipelineRun]*monitor.Evaluator{}, hits: map[[2]string]prometheus.Counter{}, categories: categoryCache{}}
	for j := range r.work {
		ev := w.evals[j.p]
		if ev == nil {
			ev = j.p.engine.NewEvaluator()
			w.evals[j.p] = ev
		}
		r.process(j, w, ev)
		j.obs = ev.TakeObservations()
		close(j.done)
	}
}

// workerState is what one worker reuses from batch to batch.
type workerState struct {
	dec   entra.Decoder
	evals map[*pipelineRun]*monitor.Evaluator
	// hits caches the counter of each monitor and risk: a labelled
	// lookup per hit would cost more than the hit.
	hits map[[2]string]prometheus.Counter
	// categories caches the per-category counters.
	categories categoryCache
}

func (w *workerState) countHits(m *metrics, rec *entra.Record) {
	for i := range rec.Hits {
		k := [2]string{rec.Hits[i].ID, rec.Hits[i].Risk}
		c := w.hits[k]
		if c == nil {
			c = m.monitorHits.WithLabelValues(k[0], k[1])
			w.hits[k] = c
		}
		c.Inc()
	}
}

func (r *runner) process(j *job, w *workerState, ev *monitor.Evaluator) {
	b := j.b
	recs := takeRecords(len(b.Items))
	b.OnRelease(func() { giveRecords(recs) })
	b.Records = make([]*entra.Record, 0, len(b.Items))
	for i := range b.Items {
		it := &b.Items[i]
		rec := &recs[i]
		var err error
		if j.decoder != nil {
			err = j.decoder.DecodeItem(&w.dec, it, rec)
		} else {
			err = w.dec.Decode(it.Data, rec)
		}
		if err != nil {
			r.rejectDecode(b.Input, it, err)
			continue
		}
		rec.Origin, rec.Shard = it.Origin, it.Shard
		r.stats.Decoded.Add(1)
		r.stats.countStream(rec.Stream)
		w.categories.count(r.stats, rec.LogCategory)
		b.Records = append(b.Records, rec)
	}
	var gen uint64
	if r.observer != nil {
		if j.prev != nil {
			<-j.prev.observed
		}
		gen = r.observer.Observe(b.Records)
		j.gen = gen
	}
	// The job is done with the observer: the next one may go on (the
	// predecessor pointer is dropped so a long run does not keep a chain
	// of finished jobs alive).
	if j.observed != nil {
		close(j.observed)
	}
	j.prev = nil
	for _, rec := range b.Records {
		for k, st := range r.stages {
			if k == r.observerAt && r.observer != nil {
				r.observer.EnrichAt(rec, gen)
			} else {
				st.Enrich(rec)
			}
		}
		ev.Eval(rec)
		w.countHits(r.m, rec)
	}
	a := new(arena.Arena)
	b.JSON = encodeBatch(a, b.Records)
	b.OnRelease(a.Release)
}

// encodeBatch encodes recs into the arena's pooled chunks rather than one
// allocation per record (see internal/arena).
func encodeBatch(a *arena.Arena, recs []*entra.Record) [][]byte {
	out := make([][]byte, len(recs))
	for i, rec := range recs {
		out[i] = a.Append(len(rec.Raw)+maxOverhead, rec.AppendJSON)
	}
	return out
}

// maxOverhead is what encoding adds to a record's original bytes at most
// but for rare records (the privtrail object of a privileged user with
// roles, context and hits): room reserved so that a record's JSON rarely
// spills out of its chunk.
const maxOverhead = 2048

// recordSlabs are the Records of released batches, cleared, for the next
// ones: a batch's thousand Records are 2 MB that the garbage collector
// would otherwise scan and free again and again.
var recordSlabs sync.Pool

func takeRecords(n int) []entra.Record {
	if p, ok := recordSlabs.Get().(*[]entra.Record); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]entra.Record, n)
}

// giveRecords clears recs (so the pool keeps no record's strings alive)
// and pools them.
func giveRecords(recs []entra.Record) {
	clear(recs)
	recordSlabs.Put(&recs)
}

func (r *runner) rejectDecode(input string, it *batch.Item, err error) {
	r.stats.Bad.Add(1)
	r.m.bad.WithLabelValues(input, "decode").Inc()
	if werr := r.dead.Write("decode", it.Origin, err.Error(), it.Data); werr != nil {
		r.log.Error("dead-letter write failed", "origin", it.Origin, "err", werr)
	}
	if r.badLog.allow() {
		r.log.Warn("bad record sent to the dead-letter file", "input", input, "origin", it.Origin, "reason", err.Error(), "dead_letter", r.dead.Path(), "suppressed", r.badLog.takeSuppressed())
	}
}

// rateLimit lets one log line through per interval and counts the rest,
// so a flood of bad records cannot flood the log.
type rateLimit struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
	burst      int
}

func (l *rateLimit) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.last) >= time.Second {
		l.last, l.burst = now, 0
	}
	if l.burst < 10 {
		l.burst++
		return true
	}
	l.suppressed++
	return false
}

func (l *rateLimit) takeSuppressed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.suppressed
	l.suppressed = 0
	return n
}

func defaultWorkers(n int) int {
	if n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// Queue lengths bound what is in flight: a pipeline holds at most
// workers batches between its inputs and its outputs, and each output
// one more. With 1,000-record batches (about 7.5 MB each with their
// lines, records and JSON) that is tens of MB whatever the input's size;
// deeper queues bought no throughput and cost 7.5 MB of heap a batch.
func newPipelineRun(name string, engine *monitor.Engine, workers int) *pipelineRun {
	return &pipelineRun{name: name, engine: engine, seq: make(chan *job, workers)}
}

func newOutputRun(name string, out batch.Output, m *metrics) *outputRun {
	if d, ok := out.(deliveryOutput); ok {
		m.output(name, d)
	}
	return &outputRun{name: name, out: out, ch: make(chan *batch.Batch, 1), acked: m.outputAcked.WithLabelValues(name)}
}
