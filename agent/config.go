// Package agent is the privtrail daemon: its configuration, the runner
// that moves batches from inputs through decoding, enrichment and monitors
// to the outputs, and the lifecycle around it.
package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/privtrail/privtrail/enrich/device"
	"github.com/privtrail/privtrail/enrich/geo"
	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/enrich/workhours"
	"github.com/privtrail/privtrail/inputs/dirscan"
	"github.com/privtrail/privtrail/inputs/eventhubs"
	fileinput "github.com/privtrail/privtrail/inputs/file"
	graphinput "github.com/privtrail/privtrail/inputs/graph"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/tlsconfig"
	"github.com/privtrail/privtrail/internal/yamlfile"
	"github.com/privtrail/privtrail/monitor"
	"github.com/privtrail/privtrail/outputs/elastic"
	fileoutput "github.com/privtrail/privtrail/outputs/file"
	"github.com/privtrail/privtrail/outputs/kafka"
	"github.com/privtrail/privtrail/outputs/qradar"
	"github.com/privtrail/privtrail/outputs/splunk"
)

// Config is configs/privtrail.yaml.
type Config struct {
	// DataDir holds checkpoints, state and the dead-letter file.
	DataDir string `yaml:"data_dir"`
	// DeadLetter is the dead-letter file; default <data_dir>/dead-letter.jsonl.
	DeadLetter string     `yaml:"dead_letter"`
	Log        LogConfig  `yaml:"log"`
	HTTP       HTTPConfig `yaml:"http"`
	// Workers decode, enrich and evaluate monitors in parallel; default:
	// one per CPU.
	Workers int `yaml:"workers"`

	Inputs  []InputConfig  `yaml:"inputs"`
	Outputs []OutputConfig `yaml:"outputs"`
	Context ContextConfig  `yaml:"context"`
	// Pipelines are pipeline files (relative to this config file).
	Pipelines []string `yaml:"pipelines"`
	// Graph is the app registration privtrail reads Microsoft Graph with
	// (graph/README.md): `privtrail check` tests its permissions.
	Graph *graphapi.Config `yaml:"graph"`
	// State bounds the stateful monitors' memory (in the store under
	// data_dir).
	State StateConfig `yaml:"state"`
	// Cluster splits privtrail into collectors and processors on Kafka
	// (README "Scaling out"); nil: one agent does everything.
	Cluster *ClusterConfig `yaml:"cluster"`

	file   string
	src    []byte
	replay bool // inputs replaced by Replay: pipelines' input lists do not apply
}

// StateConfig bounds the stateful monitors' state, per monitor.
type StateConfig struct {
	// CacheKeys stay decoded in memory; default 131072.
	CacheKeys int `yaml:"cache_keys"`
	// MaxKeys are kept on disk; past it the least recently updated go
	// first. Default 1,000,000.
	MaxKeys int64 `yaml:"max_keys"`
	// Lateness is how late (event time, behind a key's newest record) a
	// record may arrive and still be judged with what came before it;
	// default 7d.
	Lateness monitor.Duration `yaml:"lateness"`
}

// LogConfig sets up log/slog.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error; default info
	Format string `yaml:"format"` // text or json; default text
}

// InputConfig names an input and configures exactly one input type.
type InputConfig struct {
	Name      string            `yaml:"name"`
	File      *fileinput.Config `yaml:"file"`
	EventHubs *eventhubs.Config `yaml:"eventhubs"`
	// Graph polls Microsoft Graph's sign-in and audit logs; its own graph
	// block defaults to the top-level one.
	Graph *graphinput.Config `yaml:"graph"`
	// Dirscan scans the directory state of the role map's privileged
	// users through Graph (the directory monitors read its records).
	Dirscan *dirscan.Config `yaml:"dirscan"`

	// sharedGraph: the graph input uses the top-level graph block, so it
	// reads through the agent's one client (one rate limit, one token).
	sharedGraph bool
}

// OutputConfig names an output and configures exactly one output type.
type OutputConfig struct {
	Name    string             `yaml:"name"`
	File    *fileoutput.Config `yaml:"file"`
	Stdout  *struct{}          `yaml:"stdout"`
	Splunk  *splunk.Config     `yaml:"splunk"`
	Elastic *elastic.Config    `yaml:"elastic"`
	QRadar  *qradar.Config     `yaml:"qradar"`
	Kafka   *kafka.Config      `yaml:"kafka"`
}

// types returns the output types configured in one entry, with their
// configs (nil for stdout, which has none).
func (o *OutputConfig) types() map[string]interface{ Validate() error } {
	t := map[string]interface{ Validate() error }{}
	if o.File != nil {
		t["file"] = o.File
	}
	if o.Stdout != nil {
		t["stdout"] = nil
	}
	if o.Splunk != nil {
		t["splunk"] = o.Splunk
	}
	if o.Elastic != nil {
		t["elastic"] = o.Elastic
	}
	if o.QRadar != nil {
		t["qradar"] = o.QRadar
	}
	if o.Kafka != nil {
		t["kafka"] = o.Kafka
	}
	return t
}

// ContextConfig configures the enrichment stages.
type ContextConfig struct {
	Privilege *privilege.Config `yaml:"privilege"`
	Geo       *geo.Config       `yaml:"geo"`
	Device    *device.Config    `yaml:"device"`
	WorkHours *workhours.Config `yaml:"work_hours"`
}

// LoadConfig reads and validates a config file. Errors name the file, the
// line and the key.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig parses config data read from path (used for messages and to
// resolve relative paths).
func ParseConfig(path string, data []byte) (*Config, error) {
	var c Config
	if err := yamlfile.Decode(path, data, &c); err != nil {
		return nil, err
	}
	c.file, c.src = path, data
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	c.resolvePaths(dir)
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// File is the path the config was read from.
func (c *Config) File() string { return c.file }

// resolvePaths makes the paths of the config relative to its own folder,
// as a user reading the file expects.
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && *p != "-" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	abs(&c.DataDir)
	if c.DeadLetter == "" {
		c.DeadLetter = filepath.Join(c.DataDir, "dead-letter.jsonl")
	}
	abs(&c.DeadLetter)
	for i := range c.Pipelines {
		abs(&c.Pipelines[i])
	}
	tls := func(t *tlsconfig.Config) {
		if t != nil {
			abs(&t.CAFile)
			abs(&t.CertFile)
			abs(&t.KeyFile)
		}
	}
	for _, in := range c.Inputs {
		if in.File != nil {
			for j := range in.File.Paths {
				abs(&in.File.Paths[j])
			}
		}
		if in.EventHubs != nil {
			tls(in.EventHubs.TLS)
		}
	}
	for _, out := range c.Outputs {
		if out.File != nil {
			abs(&out.File.Path)
		}
		if out.Splunk != nil {
			tls(out.Splunk.TLS)
		}
		if out.Elastic != nil {
			tls(out.Elastic.TLS)
		}
		if out.QRadar != nil {
			tls(out.QRadar.TLS)
		}
		if out.Kafka != nil {
			tls(out.Kafka.TLS)
		}
	}
	if c.Cluster != nil && c.Cluster.Kafka != nil {
		tls(c.Cluster.Kafka.TLS)
	}
	if p := c.Context.Privilege; p != nil {
		abs(&p.RoleMap)
	}
	if g := c.Context.Geo; g != nil {
		abs(&g.CityDB)
		abs(&g.ASNDB)
	}
	if d := c.Context.Device; d != nil {
		abs(&d.Devices)
	}
	if w := c.Context.WorkHours; w != nil {
		abs(&w.Schedules)
	}
}

func (c *Config) validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, c.errAt(path, fmt.Sprintf(format, args...)))
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		bad("$.log.level", "log.level: %q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		bad("$.log.format", "log.format: %q is not text or json", c.Log.Format)
	}
	if c.State.CacheKeys < 0 {
		bad("$.state.cache_keys", "state.cache_keys: must not be negative, got %d", c.State.CacheKeys)
	}
	if c.State.MaxKeys < 0 {
		bad("$.state.max_keys", "state.max_keys: must not be negative, got %d", c.State.MaxKeys)
	}
	if c.Workers < 0 {
		bad("$.workers", "workers: must not be negative")
	}
	c.applyCluster(bad)
	if len(c.Inputs) == 0 {
		bad("$", "inputs: at least one input is required")
	}
	if len(c.Outputs) == 0 {
		bad("$", "outputs: at least one output is required")
	}
	names := map[string]bool{}
	for i, in := range c.Inputs {
		p := fmt.Sprintf("$.inputs[%d]", i)
		if in.Name == "" {
			bad(p, "inputs[%d].name: is required", i)
		} else if names["in:"+in.Name] {
			bad(p+".name", "inputs[%d].name: %q is used twice", i, in.Name)
		}
		names["in:"+in.Name] = true
		types := 0
		for _, set := range []bool{in.File != nil, in.EventHubs != nil, in.Graph != nil, in.Dirscan != nil} {
			if set {
				types++
			}
		}
		switch {
		case types > 1:
			bad(p, "inputs[%d]: configure one input type (file, eventhubs, graph or dirscan), not several", i)
		case in.File != nil:
			if err := in.File.Validate(); err != nil {
				bad(p+".file", "inputs[%d].file.%v", i, err)
			}
		case in.EventHubs != nil:
			if err := in.EventHubs.Validate(); err != nil {
				bad(p+".eventhubs", "inputs[%d].eventhubs.%v", i, err)
			}
		case in.Graph != nil:
			if in.Graph.Graph == nil && c.Graph != nil {
				g := *c.Graph
				in.Graph.Graph = &g
				c.Inputs[i].sharedGraph = true
			}
			if err := in.Graph.Validate(); err != nil {
				bad(p+".graph", "inputs[%d].graph.%v", i, err)
			}
		case in.Dirscan != nil:
			if in.Dirscan.Graph == nil && c.Graph != nil {
				g := *c.Graph
				in.Dirscan.Graph = &g
				c.Inputs[i].sharedGraph = true
			}
			if c.Context.Privilege == nil {
				bad(p+".dirscan", "inputs[%d].dirscan: needs context.privilege: it scans the role map's privileged users", i)
			}
			if err := in.Dirscan.Validate(); err != nil {
				bad(p+".dirscan", "inputs[%d].dirscan.%v", i, err)
			}
		default:
			bad(p, "inputs[%d]: configure one input type (file, eventhubs, graph, dirscan)", i)
		}
	}
	for i, out := range c.Outputs {
		p := fmt.Sprintf("$.outputs[%d]", i)
		if out.Name == "" {
			bad(p, "outputs[%d].name: is required", i)
		} else if names["out:"+out.Name] {
			bad(p+".name", "outputs[%d].name: %q is used twice", i, out.Name)
		}
		names["out:"+out.Name] = true
		types := out.types()
		if len(types) != 1 {
			bad(p, "outputs[%d]: configure exactly one output type (file, stdout, splunk, elastic, qradar, kafka)", i)
		}
		for key, tc := range types {
			if tc == nil {
				continue
			}
			if err := tc.Validate(); err != nil {
				bad(p+"."+key, "outputs[%d].%s.%v", i, key, err)
			}
		}
	}
	for _, st := range []struct {
		key string
		cfg interface{ Validate() error }
	}{
		{"privilege", c.Context.Privilege},
		{"geo", c.Context.Geo},
		{"device", c.Context.Device},
		{"work_hours", c.Context.WorkHours},
	} {
		if v := reflect.ValueOf(st.cfg); v.IsNil() {
			continue
		}
		if err := st.cfg.Validate(); err != nil {
			bad("$.context."+st.key, "context.%s.%v", st.key, err)
		}
	}
	if c.Graph != nil {
		if err := c.Graph.Validate(); err != nil {
			bad("$.graph", "graph.%v", err)
		}
	}
	if p := c.Context.Privilege; p != nil && p.Graph != nil && c.Graph == nil {
		bad("$.context.privilege.graph", "context.privilege.graph: needs the top-level graph block (the app registration to read roles with)")
	}
	if len(c.Pipelines) == 0 && c.role() != RoleCollector {
		bad("$", "pipelines: at least one pipeline file is required (e.g. pipelines/privileged-accounts.yaml)")
	}
	return errors.Join(errs...)
}

// errAt names file, line and column of the YAML node at path.
func (c *Config) errAt(path, msg string) error {
	return yamlfile.ErrorAt(c.file, c.src, path, msg)
}

// Replay replaces the configured inputs with one file input reading
// paths, feeding the named pipeline (the first when name is empty).
func (c *Config) Replay(paths []string, pipeline string) error {
	idx := 0
	if pipeline != "" {
		idx = -1
		for i, path := range c.Pipelines {
			p, err := monitor.LoadPipeline(path)
			if err != nil {
				return err
			}
			if p.Name == pipeline {
				idx = i
			}
		}
		if idx < 0 {
			return fmt.Errorf("no pipeline named %q in %s", pipeline, c.file)
		}
	}
	c.Inputs = []InputConfig{{Name: "replay", File: &fileinput.Config{Paths: paths}}}
	c.Pipelines = c.Pipelines[idx : idx+1]
	c.replay = true
	return nil
}
