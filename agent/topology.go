package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/privtrail/privtrail/inputs"
	"github.com/privtrail/privtrail/monitor"
	"github.com/privtrail/privtrail/outputs"
)

// Topology is what a config makes of its parts: which inputs feed each
// pipeline and which outputs each pipeline feeds. Plan builds it from the
// config and the compiled pipelines without opening anything, so `check`
// reports every error `run` would meet before it opens a store or a
// connection.
type Topology struct {
	Pipelines []PipelinePlan
}

// PipelinePlan is one pipeline of a Topology.
type PipelinePlan struct {
	Pipeline *monitor.Pipeline
	Engine   *monitor.Engine
	// Inputs feed only this pipeline; Outputs may be fed by several.
	Inputs  []inputs.Entry
	Outputs []outputs.Entry
}

// Plan resolves each pipeline's inputs: and outputs: lists (empty: all)
// against cfg's entries. An input feeds exactly one pipeline. Every
// reference error is reported, each with the file and line that names
// it.
func Plan(cfg *Config, pipes []*monitor.Pipeline, engines []*monitor.Engine) (*Topology, error) {
	var errs []error
	t := &Topology{}
	feeds := map[string]string{} // input -> pipeline
	for i, p := range pipes {
		pp := PipelinePlan{Pipeline: p, Engine: engines[i]}
		if !cfg.replay {
			for j, name := range p.Inputs {
				if !slices.ContainsFunc(cfg.Inputs, func(in inputs.Entry) bool { return in.Name == name }) {
					errs = append(errs, p.ErrorAt(fmt.Sprintf("$.inputs[%d]", j), fmt.Sprintf("inputs: %q is not an input of %s", name, cfg.file)))
				}
			}
		}
		for j, name := range p.Outputs {
			if !slices.ContainsFunc(cfg.Outputs, func(o outputs.Entry) bool { return o.Name == name }) {
				errs = append(errs, p.ErrorAt(fmt.Sprintf("$.outputs[%d]", j), fmt.Sprintf("outputs: %q is not an output of %s", name, cfg.file)))
			}
		}
		for _, o := range cfg.Outputs {
			if len(p.Outputs) == 0 || slices.Contains(p.Outputs, o.Name) {
				pp.Outputs = append(pp.Outputs, o)
			}
		}
		for _, in := range cfg.Inputs {
			if len(p.Inputs) > 0 && !cfg.replay && !slices.Contains(p.Inputs, in.Name) {
				continue
			}
			if prev, ok := feeds[in.Name]; ok {
				at := "$"
				if j := slices.Index(p.Inputs, in.Name); j >= 0 {
					at = fmt.Sprintf("$.inputs[%d]", j)
				}
				errs = append(errs, p.ErrorAt(at, fmt.Sprintf("input %q is already in pipeline %q: an input feeds one pipeline", in.Name, prev)))
				continue
			}
			feeds[in.Name] = p.Name
			pp.Inputs = append(pp.Inputs, in)
		}
		t.Pipelines = append(t.Pipelines, pp)
	}
	for i, in := range cfg.Inputs {
		if _, ok := feeds[in.Name]; !ok {
			errs = append(errs, cfg.errAt(fmt.Sprintf("$.inputs[%d]", i), fmt.Sprintf("input %q is in no pipeline", in.Name)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// LoadTopology compiles cfg's pipelines against the role set of the
// privilege stage (nil: none) and plans the topology: what `run`,
// `replay` and `check` all start from. A collector runs no monitors: its
// one pipeline publishes every record to the cluster topic.
func LoadTopology(cfg *Config, roles monitor.RoleChecker, log *slog.Logger) (*Topology, error) {
	pipes, engines, err := LoadPipelines(cfg, roles, log)
	if err != nil {
		return nil, err
	}
	if cfg.role() == RoleCollector {
		e, err := monitor.Compile(nil, roles, log)
		if err != nil {
			return nil, err
		}
		pipes, engines = []*monitor.Pipeline{{Name: RoleCollector}}, []*monitor.Engine{e}
	}
	return Plan(cfg, pipes, engines)
}
