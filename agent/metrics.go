package agent

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/enrich/rolesync"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/monitor"
)

// metrics are the agent's Prometheus series, on a registry of its own so
// that two agents in one process (tests) never share counters. Names follow
// Prometheus conventions: privtrail_<what>_<unit>, counters end in _total.
type metrics struct {
	reg *prometheus.Registry

	inputRecords *prometheus.CounterVec // by input
	bad          *prometheus.CounterVec // by input and stage
	committed    *prometheus.CounterVec // by input
	monitorHits  *prometheus.CounterVec // by monitor and risk
	outputAcked  *prometheus.CounterVec // by output

	stateRestores        *prometheus.CounterVec // by result: a processor restoring assigned partitions
	stateRestoredEntries prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	m.inputRecords = counter("privtrail_input_records_total", "Documents read by an input.", "input")
	m.bad = counter("privtrail_records_rejected_total", "Documents that are not JSON or not Entra logs, sent to the dead-letter file.", "input", "stage")
	m.committed = counter("privtrail_input_batches_committed_total", "Batches every output acknowledged and the input checkpointed.", "input")
	m.monitorHits = counter("privtrail_monitor_hits_total", "Monitor annotations, by monitor and risk.", "monitor", "risk")
	m.outputAcked = counter("privtrail_output_batches_acked_total", "Batches an output acknowledged (delivered, or durably buffered).", "output")
	m.stateRestores = counter("privtrail_cluster_state_restores_total", "Restores of assigned partitions' monitor state from the changelog (processor role), by result.", "result")
	m.stateRestoredEntries = prometheus.NewCounter(prometheus.CounterOpts{Name: "privtrail_cluster_state_restored_entries_total", Help: "Monitor state entries read back from the changelog for assigned partitions."})
	m.reg.MustRegister(m.stateRestoredEntries)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// streams exposes the runner's per-stream decode counters, which it keeps
// anyway: nothing on the record path touches Prometheus for them.
func (m *metrics) streams(st *Stats) {
	for _, s := range entra.Streams {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "privtrail_records_decoded_total", Help: "Records decoded, by stream.",
			ConstLabels: prometheus.Labels{"stream": string(s)},
		}, func() float64 { return float64(st.Stream(s)) }))
	}
	m.reg.MustRegister(categoryCollector{st})
}

// checkpointLag exposes, per input, how far behind now the event time of
// the newest record every output has acknowledged is (checkpointLag: a
// record dated in the future counts as acknowledged now).
func (m *metrics) checkpointLag(input string, lag *checkpointLag) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "privtrail_checkpoint_lag_seconds",
		Help:        "Now minus the event time of the newest record acknowledged by every output (an event time in the future counts as the moment it was acknowledged; never negative).",
		ConstLabels: prometheus.Labels{"input": input},
	}, lag.seconds))
}

// queueDepth exposes how many batches wait between a pipeline's inputs and
// its outputs.
func (m *metrics) queueDepth(pipeline string, depth func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "privtrail_pipeline_queue_batches",
		Help:        "Batches queued in a pipeline (decoding or waiting for outputs).",
		ConstLabels: prometheus.Labels{"pipeline": pipeline},
	}, func() float64 { return float64(depth()) }))
}

// deliveryOutput is what a buffering output exposes.
type deliveryOutput interface {
	Stats() *delivery.Stats
	Buffered() (int, int64)
	OldestBuffered() time.Duration
}

// output registers a buffering output's counters and buffer gauges, read
// from the output's own atomics at scrape time.
func (m *metrics) output(name string, o deliveryOutput) {
	l := prometheus.Labels{"output": name}
	st := o.Stats()
	for _, c := range []struct {
		name, help string
		v          *atomic.Int64
	}{
		{"privtrail_output_records_sent_total", "Records the destination accepted.", &st.Sent},
		{"privtrail_output_retries_total", "Requests retried after a transient failure.", &st.Retries},
		{"privtrail_output_throttled_total", "Requests or items the destination throttled (429, 503 busy, Retry-After).", &st.Throttled},
		{"privtrail_output_dead_letters_total", "Records the destination refused for good, written to the dead-letter file.", &st.DeadLettered},
	} {
		v := c.v
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help, ConstLabels: l},
			func() float64 { return float64(v.Load()) }))
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "privtrail_output_buffer_records", Help: "Records waiting in the output's disk buffer.", ConstLabels: l},
		func() float64 { n, _ := o.Buffered(); return float64(n) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "privtrail_output_buffer_bytes", Help: "Bytes waiting in the output's disk buffer.", ConstLabels: l},
		func() float64 { _, b := o.Buffered(); return float64(b) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "privtrail_output_oldest_buffered_seconds", Help: "How long the oldest record in the output's disk buffer has waited for the destination (0: empty). Alert when it passes what the SIEM's searches can wait.", ConstLabels: l},
		func() float64 { return o.OldestBuffered().Seconds() }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "privtrail_output_last_success_timestamp_seconds", Help: "When the destination last accepted a request (Unix time; 0: not since start).", ConstLabels: l},
		func() float64 { return float64(st.LastSuccess.Load()) / 1e9 }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "privtrail_output_consecutive_failures", Help: "Requests to the destination that failed in a row (0: the last one succeeded).", ConstLabels: l},
		func() float64 { return float64(st.ConsecutiveFailures.Load()) }))
}

// newestEventTime is the latest event time among a batch's records.
func newestEventTime(b *batch.Batch) int64 {
	var newest int64
	for _, r := range b.Records {
		if t := r.Time.UnixNano(); t > newest {
			newest = t
		}
	}
	return newest
}

// roleMap exposes the size and age of the role map in use.
func (m *metrics) roleMap(st *privilege.Stage) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "privtrail_role_map_principals", Help: "Principals in the role map in use.",
	}, func() float64 { return float64(st.Map().Len()) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "privtrail_role_map_age_seconds", Help: "Seconds since the role map in use was loaded.",
	}, func() float64 { return time.Since(st.Map().LoadedAt()).Seconds() }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "privtrail_role_map_reloads_total", Help: "Role map reloads after its file changed.",
	}, func() float64 { return float64(st.Reloads.Load()) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "privtrail_role_map_reload_failures_total", Help: "Role map reloads that failed; the previous map stays in use.",
	}, func() float64 { return float64(st.ReloadFailures.Load()) }))
	for _, c := range []struct {
		result string
		n      *atomic.Int64
	}{{"applied", &st.ChangesApplied}, {"ignored", &st.ChangesIgnored}, {"malformed", &st.ChangesMalformed}} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "privtrail_role_changes_total", Help: "Role-change audit records the role map learned from (applied), skipped on purpose (ignored) or could not read (malformed).",
			ConstLabels: prometheus.Labels{"result": c.result},
		}, func() float64 { return float64(c.n.Load()) }))
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "privtrail_role_histories", Help: "Principals whose roles changed since the role map was loaded (their history is kept).",
	}, func() float64 { return float64(st.Histories()) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "privtrail_role_journal_bytes", Help: "Size of the journal of role changes learnt since the privilege state file was last written (applied over it after a crash).",
	}, func() float64 { return float64(st.JournalBytes()) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "privtrail_role_journal_write_failures_total", Help: "Writes of the role-change journal that failed; the pipeline waits until one succeeds.",
	}, func() float64 { return float64(st.SyncFailures.Load()) }))
}

// monitorState exposes the stateful monitors' key counts, unreadable
// entries and failed state writes of one pipeline.
func (m *metrics) monitorState(pipeline string, s *monitor.State) {
	for id := range s.Keys() {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "privtrail_monitor_state_keys", Help: "Keys a stateful monitor remembers (users, IPs, ...).",
			ConstLabels: prometheus.Labels{"pipeline": pipeline, "monitor": id},
		}, func() float64 { return float64(s.Keys()[id]) }))
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "privtrail_monitor_state_unreadable_total", Help: "Stored state entries of a stateful monitor that could not be decoded and were started afresh (that key's memory is lost).",
			ConstLabels: prometheus.Labels{"pipeline": pipeline, "monitor": id},
		}, func() float64 { return float64(s.Unreadable()[id]) }))
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "privtrail_monitor_state_write_errors_total", Help: "Batches whose monitor state could not be stored (retried with the next batch).",
		ConstLabels: prometheus.Labels{"pipeline": pipeline},
	}, func() float64 { return float64(s.WriteErrors.Load()) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "privtrail_monitor_state_cache_bytes", Help: "Estimated memory of the stateful monitors' keys decoded in memory (bounded by state.cache_memory).",
		ConstLabels: prometheus.Labels{"pipeline": pipeline},
	}, func() float64 { return float64(s.CachedBytes.Load()) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "privtrail_monitor_state_unowned_total", Help: "Records left unjudged by the stateful monitors because their partition is not (or no longer) this processor's; its owner judges them.",
		ConstLabels: prometheus.Labels{"pipeline": pipeline},
	}, func() float64 { return float64(s.Unowned.Load()) }))
}

// graphClient exposes the shared Graph client's request counters: the
// rate of 429s and retries is what tells an operator the reports API
// limit is near.
func (m *metrics) graphClient(c *graphapi.Client) {
	for _, f := range []struct {
		name, help string
		v          func(graphapi.Stats) int64
	}{
		{"privtrail_graph_requests_total", "HTTP requests sent to Microsoft Graph, retries included.", func(s graphapi.Stats) int64 { return s.Requests }},
		{"privtrail_graph_retries_total", "Graph requests that repeated an earlier one (429, 5xx, 401, network error).", func(s graphapi.Stats) int64 { return s.Retries }},
		{"privtrail_graph_throttled_total", "Graph answers 429 Too Many Requests.", func(s graphapi.Stats) int64 { return s.Throttled }},
		{"privtrail_graph_token_refreshes_total", "Access tokens obtained for Graph.", func(s graphapi.Stats) int64 { return s.TokenRefreshes }},
		{"privtrail_graph_client_errors_total", "Graph answers 4xx (401 and 429 included).", func(s graphapi.Stats) int64 { return s.ClientErrors }},
		{"privtrail_graph_server_errors_total", "Graph answers 5xx.", func(s graphapi.Stats) int64 { return s.ServerErrors }},
		{"privtrail_graph_transport_errors_total", "Graph requests that failed in the network or broke off.", func(s graphapi.Stats) int64 { return s.TransportErrors }},
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: f.name, Help: f.help},
			func() float64 { return float64(f.v(c.Stats())) }))
	}
}

// storeStartedEmpty says whether the run started with its store missing
// or empty in a data directory that had been used: an alert on it catches
// a store lost to a disk failure or a mistaken clean-up.
func (m *metrics) storeStartedEmpty(lost bool) {
	v := 0.0
	if lost {
		v = 1
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "privtrail_store_started_empty", Help: "1 when this run found its store missing or empty in a data directory that had been used: every input reads its sources again.",
	}, func() float64 { return v }))
}

// roleSync exposes the Graph role map source's refreshes.
func (m *metrics) roleSync(src *rolesync.Source) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "privtrail_role_map_graph_refreshes_total", Help: "Role maps read from Microsoft Graph and put in use.",
	}, func() float64 { return float64(src.Refreshes.Load()) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "privtrail_role_map_graph_failures_total", Help: "Role map refreshes from Graph that failed; the last good map stays in use.",
	}, func() float64 { return float64(src.Failures.Load()) }))
}
