// Package monitor runs the detections of pipeline files: each monitor is a
// filter expression (github.com/expr-lang/expr) over one stream's decoded
// record, compiled once at start, plus the annotation it adds on a hit.
//
// # Time
//
// Stateful monitors (State) judge records by their event time, never by
// when they arrive or the host's clock: a window counts, a correlation
// pairs and first_seen compares records by event time; learning begins at
// the monitor's first record. Expiry needs a "now": per monitor the
// newest event time seen (the sweep deletes keys untouched for their
// horizon plus StateOptions.Lateness before it), per key its newest event
// time (what a key keeps: a record later than Lateness behind it is judged
// without the records before it).
//
// The host's clock only bounds that "now". A record dated more than
// StateOptions.MaxSkew (default 1h) ahead of the host's clock — a source
// with a wrong clock, a forged or test record — is judged on its own time
// (a burst of them fires, a new value fires), but the monitor's newest
// event time ignores it and its key's newest time takes the host's clock +
// MaxSkew instead, with a warning (at most every 10 minutes per monitor):
// one record dated next year would otherwise expire every key at the next
// sweep and make every later record of its key look too old to count. If
// the monitor's newest event time is itself more than MaxSkew ahead of the
// host's clock (the clock went back), the bound is that time + MaxSkew, so
// a live stream moves it on, MaxSkew at a time; a jump of more than MaxSkew
// in event time then waits for the clock. Steps of the host's clock
// between two runs over one store expire nothing early (only event times
// move "now") and keep nothing forever. Replaying the same records from empty
// state with the host's clock after them gives the same annotations.
//
// A record dated far in the past (a replay) is judged in its own window:
// with the records of its own time a key still holds — for a key with
// nothing older than Lateness, those of the replay itself. It moves no
// "now", does not move the start of first_seen's learning back (only a
// record within Lateness of the newest does), and a value only it carries
// is forgotten before a record of today is judged (forget counts from the
// key's newest time), so a stale key not yet swept is not resurrected.
package monitor

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/privtrail/privtrail/entra"

	"github.com/privtrail/privtrail/internal/yamlfile"
	"github.com/privtrail/privtrail/monitor/sigma"
)

// Definition is one monitor as written in a pipeline file.
type Definition struct {
	ID    string `yaml:"id"`
	Title string `yaml:"title"`
	Risk  string `yaml:"risk"`
	// Source is the stream the monitor reads (signin, audit, risk, …);
	// a stateless monitor may read several, comma-separated
	// ("signin, risk"), and its hits name the stream of the record.
	Source string `yaml:"source"`
	// Enabled defaults to true; a later file can turn a monitor off.
	Enabled *bool `yaml:"enabled"`
	// When is the filter: an expr expression over the record that must
	// evaluate to a bool.
	When string `yaml:"when"`
	// RiskWhen, when set, computes the risk per hit (for monitors whose
	// risk depends on the error code, say); it must return high, medium or low.
	RiskWhen string `yaml:"risk_when"`
	// Reason lists the fields the annotation's reason names: each entry is
	// an expression, optionally labelled as "label=expression". An entry
	// that evaluates to nil, or fails, is left out.
	Reason []string `yaml:"reason"`
	Notes  string   `yaml:"notes"`
	// Params are the monitor's lists and thresholds, visible to its
	// expressions as params.<name>.
	Params     map[string]any `yaml:"params"`
	References []string       `yaml:"references"`
	// Tags label the monitor's hits (entra.Hit.Tags), e.g. MITRE ATT&CK
	// as Sigma writes it: attack.t1078.004, attack.initial-access. A Sigma
	// monitor starts with its rule's tags; a file that sets tags replaces
	// them.
	Tags []string `yaml:"tags"`

	// At most one stateful operator (see stateful.go).
	Threshold *Threshold `yaml:"threshold"`
	FirstSeen *FirstSeen `yaml:"first_seen"`
	Correlate *Correlate `yaml:"correlate"`

	// Native, when set, is the filter compiled to Go (a Sigma rule); see
	// native.go. Pipeline files cannot set it.
	Native *Native `yaml:"-"`

	file string // where it was (last) defined, for error messages
}

// Streams returns the streams of Source, each one of entra.Streams.
func (d *Definition) Streams() ([]entra.Stream, error) {
	var out []entra.Stream
	for _, part := range strings.Split(d.Source, ",") {
		st := entra.Stream(strings.TrimSpace(part))
		if !slicesContains(entra.Streams, st) {
			return nil, fmt.Errorf("source: %q is not one of %s", d.Source, streamNames())
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out, nil
}

// IsEnabled reports whether the monitor runs.
func (d *Definition) IsEnabled() bool { return d.Enabled == nil || *d.Enabled }

// File says which pipeline file defined the monitor.
func (d *Definition) File() string { return d.file }

// Pipeline is a pipeline file: which inputs flow to which outputs, and the
// monitors the records go through on the way.
type Pipeline struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Include names pipeline files (relative to this one) whose monitors
	// this file starts from; an entry here with the same id overrides the
	// fields it sets (params key by key), a new id adds a monitor.
	Include []string `yaml:"include"`
	// Sigma names Sigma rule files and folders (relative to this file)
	// whose rules become monitors sigma.<rule id>, after the included
	// files' monitors and before this file's, which may override them.
	Sigma []string `yaml:"sigma"`
	// Inputs and Outputs name entries of the agent config; empty means all.
	Inputs   []string     `yaml:"inputs"`
	Outputs  []string     `yaml:"outputs"`
	Monitors []Definition `yaml:"monitors"`

	File string `yaml:"-"`
	src  []byte
}

// ErrorAt is msg at the line of the node at path ("$.outputs[1]") in the
// pipeline file.
func (p *Pipeline) ErrorAt(path, msg string) error {
	return yamlfile.ErrorAt(p.File, p.src, path, msg)
}

var idPattern = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)

// LoadPipeline reads a pipeline file and its includes, merging monitors.
func LoadPipeline(path string) (*Pipeline, error) {
	return loadPipeline(path, nil)
}

func loadPipeline(path string, seen []string) (*Pipeline, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if slices.Contains(seen, abs) {
		return nil, fmt.Errorf("%s: include cycle", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p Pipeline
	if err := yamlfile.Decode(path, data, &p); err != nil {
		return nil, err
	}
	p.File, p.src = path, data
	// Within one file an id appears once; overriding is what a file that
	// includes another does, never two entries of the same file.
	ids := map[string]bool{}
	for i, d := range p.Monitors {
		if d.ID != "" && ids[d.ID] {
			return nil, fmt.Errorf("%s: monitors[%d]: monitor %q: duplicate id", path, i, d.ID)
		}
		ids[d.ID] = true
	}
	var merged []Definition
	for _, inc := range p.Include {
		if !filepath.IsAbs(inc) {
			inc = filepath.Join(filepath.Dir(path), inc)
		}
		base, err := loadPipeline(inc, append(seen, abs))
		if err != nil {
			return nil, fmt.Errorf("%s: include: %w", path, err)
		}
		merged = mergeDefinitions(merged, base.Monitors)
	}
	if len(p.Sigma) > 0 {
		set, err := sigma.Load(filepath.Dir(path), p.Sigma)
		if err != nil {
			return nil, fmt.Errorf("%s: sigma: %w", path, err)
		}
		merged = mergeDefinitions(merged, sigmaDefinitions(set))
	}
	for i := range p.Monitors {
		p.Monitors[i].file = path
	}
	p.Monitors = mergeDefinitions(merged, p.Monitors)
	if p.Name == "" {
		p.Name = trimExt(filepath.Base(path))
	}
	return &p, nil
}

func trimExt(s string) string { return s[:len(s)-len(filepath.Ext(s))] }

// mergeDefinitions overlays defs on base: same id overrides, new id appends.
func mergeDefinitions(base, defs []Definition) []Definition {
	out := slices.Clone(base)
	for _, d := range defs {
		i := slices.IndexFunc(out, func(b Definition) bool { return b.ID == d.ID })
		if i < 0 {
			out = append(out, d)
			continue
		}
		o := &out[i]
		o.file = d.file
		if d.Native != nil {
			o.Native = d.Native
		}
		setIf(&o.Title, d.Title)
		setIf(&o.Risk, d.Risk)
		setIf(&o.Source, d.Source)
		setIf(&o.When, d.When)
		setIf(&o.RiskWhen, d.RiskWhen)
		setIf(&o.Notes, d.Notes)
		if d.Enabled != nil {
			o.Enabled = d.Enabled
		}
		if d.Reason != nil {
			o.Reason = d.Reason
		}
		if d.References != nil {
			o.References = d.References
		}
		if d.Tags != nil {
			o.Tags = d.Tags
		}
		mergeStateful(o, &d)
		if len(d.Params) > 0 {
			p := make(map[string]any, len(o.Params)+len(d.Params))
			for k, v := range o.Params {
				p[k] = v
			}
			for k, v := range d.Params {
				p[k] = v
			}
			o.Params = p
		}
	}
	return out
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}
