package graph

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/inputs"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/plugin"
)

// The permissions it reads with are tested by privtrail check's Graph
// probe (the top-level graph block), so the type has no check of its own.
func init() {
	inputs.Register(plugin.New("graph", func(name string, c *Config, env inputs.Env) (batch.Input, error) {
		var opts []Option
		if env.Graph != nil {
			opts = append(opts, WithClient(env.Graph))
		}
		return New(name, *c, env.Store, env.Log, env.Bad, opts...)
	}, nil))
}

// UseGraph takes the top-level graph block when the input has none.
func (c *Config) UseGraph(shared *graphapi.Config) bool { return graphapi.Share(&c.Graph, shared) }

// Collectors are the input's polls and de-duplication, for /metrics.
func (in *Input) Collectors(input string) []prometheus.Collector {
	labels := prometheus.Labels{"input": input}
	var out []prometheus.Collector
	for _, f := range []struct {
		name, help string
		v          func(Stats) int64
	}{
		{"privtrail_graph_polls_total", "Polls of a Graph log stream that read their whole window.", func(s Stats) int64 { return s.Polls }},
		{"privtrail_graph_polls_failed_total", "Polls stopped by an error (the next poll retries from the same cursor).", func(s Stats) int64 { return s.FailedPolls }},
		{"privtrail_graph_polls_forbidden_total", "Polls of a stream read by default (risk_detections, risky_users) that Graph refused for a missing permission.", func(s Stats) int64 { return s.ForbiddenPolls }},
		{"privtrail_graph_duplicates_total", "Records re-read in the overlap window and dropped as already sent.", func(s Stats) int64 { return s.Duplicates }},
	} {
		out = append(out, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: f.name, Help: f.help, ConstLabels: labels},
			func() float64 { return float64(f.v(in.Stats())) }))
	}
	return out
}
