// Package agent is the privtrail daemon: its configuration, the runner
// that moves batches from inputs through decoding, enrichment and monitors
// to the outputs, and the lifecycle around it.
package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/privtrail/privtrail/enrich"
	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/inputs"
	fileinput "github.com/privtrail/privtrail/inputs/file"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/plugin"
	"github.com/privtrail/privtrail/internal/yamlfile"
	"github.com/privtrail/privtrail/monitor"
	"github.com/privtrail/privtrail/outputs"
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
	// MemoryLimit is the Go runtime's soft memory limit (e.g. 256MiB);
	// default DefaultMemoryLimit. GOMEMLIMIT in the environment wins.
	MemoryLimit delivery.Size `yaml:"memory_limit"`

	// Inputs and Outputs are entries of the types in the inputs and
	// outputs registries (inputs/all, outputs/all).
	Inputs  []inputs.Entry  `yaml:"inputs"`
	Outputs []outputs.Entry `yaml:"outputs"`
	Context ContextConfig   `yaml:"context"`
	// Pipelines are pipeline files (relative to this config file).
	Pipelines []string `yaml:"pipelines"`
	// Graph is the app registration privtrail reads Microsoft Graph with
	// (internal/graphapi/README.md): `privtrail check` tests its permissions.
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
	// scratch: the data directory is removed when the run ends
	// (ReplayDataDir), so nothing in it has to survive a crash.
	scratch bool
}

// StateConfig bounds the stateful monitors' state, per monitor.
type StateConfig struct {
	// CacheKeys stay decoded in memory; default 131072.
	CacheKeys int `yaml:"cache_keys"`
	// CacheMemory bounds what the decoded keys of a pipeline's stateful
	// monitors take together in memory; default 32MiB.
	CacheMemory delivery.Size `yaml:"cache_memory"`
	// MaxKeys are kept on disk; past it the least recently updated go
	// first. Default 1,000,000.
	MaxKeys int64 `yaml:"max_keys"`
	// Lateness is how late (event time, behind a key's newest record) a
	// record may arrive and still be judged with what came before it;
	// default 7d.
	Lateness monitor.Duration `yaml:"lateness"`
	// MaxSkew is how far ahead of the host's clock an event time may be
	// and still count as "now" for the state's expiry; default 1h
	// (monitor.StateOptions.MaxSkew).
	MaxSkew monitor.Duration `yaml:"max_skew"`
}

// LogConfig sets up log/slog.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error; default info
	Format string `yaml:"format"` // text or json; default text
}

// ContextConfig configures the enrichment stages: the privilege stage,
// the agent's own, and the stages of the enrich registry (enrich/all),
// each under its type's key.
type ContextConfig struct {
	Privilege *privilege.Config
	// Stages are the other configured stages, in the order they run.
	Stages []StageConfig
}

// StageConfig is one configured stage of the enrich registry.
type StageConfig struct {
	Type   string
	Config plugin.Config
}

// UnmarshalYAML decodes privilege: and each stage type's block, as
// strictly as the rest of the file.
func (c *ContextConfig) UnmarshalYAML(node ast.Node) error {
	pairs, ok := yamlfile.Pairs(node)
	if !ok {
		return yamlfile.NodeError(node, "context: is a mapping of context stages")
	}
	for _, kv := range pairs {
		key := kv.Key.String()
		if key == "privilege" {
			c.Privilege = &privilege.Config{}
			if err := yamlfile.DecodeNode(kv.Value, c.Privilege); err != nil {
				return err
			}
			continue
		}
		if c.Stage(key) != nil {
			return yamlfile.NodeError(kv.Key, fmt.Sprintf("context.%s: configured twice", key))
		}
		cfg, ok, err := enrich.Decode(key, kv.Value)
		if !ok {
			return yamlfile.NodeError(kv.Key, fmt.Sprintf("unknown field %q: not a context stage (privilege, %s)", key, strings.Join(enrich.Types(), ", ")))
		}
		if err != nil {
			return err
		}
		c.Stages = append(c.Stages, StageConfig{Type: key, Config: cfg})
	}
	order := enrich.Types()
	slices.SortFunc(c.Stages, func(a, b StageConfig) int { return slices.Index(order, a.Type) - slices.Index(order, b.Type) })
	return nil
}

// Stage returns the config of the stage of that type, nil when it is not
// configured.
func (c *ContextConfig) Stage(typ string) plugin.Config {
	for _, s := range c.Stages {
		if s.Type == typ {
			return s.Config
		}
	}
	return nil
}

// has tells whether the stage of that type (privilege included) is
// configured.
func (c *ContextConfig) has(typ string) bool {
	if typ == "privilege" {
		return c.Privilege != nil
	}
	return c.Stage(typ) != nil
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

// relativeHint follows a "no such file" error about a path of the config
// that was written relative: such paths are read from the config file's
// folder, which is not where a user who copied the file may think.
func (c *Config) relativeHint(err error) string {
	if c.file == "" {
		return ""
	}
	dir, aerr := filepath.Abs(filepath.Dir(c.file))
	if aerr != nil || !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return " (paths written relative in " + filepath.Base(c.file) + " are read from its folder, " + dir + ")"
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
	resolve := func(cfg plugin.Config) {
		if r, ok := cfg.(plugin.PathResolver); ok {
			r.ResolvePaths(abs)
		}
	}
	for _, in := range c.Inputs {
		resolve(in.Config)
	}
	for _, out := range c.Outputs {
		resolve(out.Config)
	}
	for _, st := range c.Context.Stages {
		resolve(st.Config)
	}
	if c.Cluster != nil && c.Cluster.Kafka != nil {
		c.Cluster.Kafka.ResolvePaths(abs)
	}
	if p := c.Context.Privilege; p != nil {
		abs(&p.RoleMap)
	}
}

// badFunc records a config error at the YAML path ("$.inputs[0].file").
type badFunc func(path, format string, args ...any)

// validate checks the whole config and reports every error, each with its
// line.
func (c *Config) validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, c.errAt(path, fmt.Sprintf(format, args...)))
	}
	c.validateSettings(bad)
	c.applyCluster(bad)
	c.validateInputs(bad)
	c.validateOutputs(bad)
	c.validateContext(bad)
	if len(c.Pipelines) == 0 && c.role() != RoleCollector {
		bad("$", "pipelines: at least one pipeline file is required (e.g. pipelines/privileged-accounts.yaml)")
	}
	return errors.Join(errs...)
}

// minMemoryLimit is the least memory_limit accepted.
const minMemoryLimit = 64 << 20

func (c *Config) validateSettings(bad badFunc) {
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
	if c.State.CacheMemory < 0 {
		bad("$.state.cache_memory", "state.cache_memory: must not be negative, got %d", c.State.CacheMemory)
	}
	if c.State.CacheKeys < 0 {
		bad("$.state.cache_keys", "state.cache_keys: must not be negative, got %d", c.State.CacheKeys)
	}
	if c.State.MaxSkew < 0 {
		bad("$.state.max_skew", "state.max_skew: must not be negative")
	}
	if c.State.MaxKeys < 0 {
		bad("$.state.max_keys", "state.max_keys: must not be negative, got %d", c.State.MaxKeys)
	}
	if c.Workers < 0 {
		bad("$.workers", "workers: must not be negative")
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < minMemoryLimit {
		bad("$.memory_limit", "memory_limit: at least 64MiB (the agent's batches in flight alone need tens of MiB), got %d bytes", c.MemoryLimit)
	}
	if c.Graph != nil {
		if err := c.Graph.Validate(); err != nil {
			bad("$.graph", "graph.%v", err)
		}
	}
}

// validateInputs checks each input entry; a Graph input without a graph
// block of its own is given the top-level one here.
func (c *Config) validateInputs(bad badFunc) {
	if len(c.Inputs) == 0 {
		bad("$", "inputs: at least one input is required")
	}
	names := map[string]bool{}
	for i, in := range c.Inputs {
		p := fmt.Sprintf("$.inputs[%d]", i)
		if in.Name == "" {
			bad(p, "inputs[%d].name: is required", i)
		} else if names[in.Name] {
			bad(p+".name", "inputs[%d].name: %q is used twice", i, in.Name)
		}
		names[in.Name] = true
		switch {
		case len(in.Extra) > 0:
			bad(p, "inputs[%d]: configure one input type (%s), not several", i, strings.Join(inputs.Types(), ", "))
			continue
		case in.Type == "":
			bad(p, "inputs[%d]: configure one input type (%s)", i, strings.Join(inputs.Types(), ", "))
			continue
		}
		if g, ok := in.Config.(inputs.GraphReader); ok && g.UseGraph(c.Graph) {
			c.Inputs[i].SharedGraph = true
		}
		if r, ok := in.Config.(inputs.Requirer); ok {
			for _, need := range r.Requires() {
				if !c.Context.has(need) {
					bad(p+"."+in.Type, "inputs[%d].%s: needs context.%s", i, in.Type, need)
				}
			}
		}
		if err := in.Config.Validate(); err != nil {
			bad(p+"."+in.Type, "inputs[%d].%s.%v", i, in.Type, err)
		}
	}
}

func (c *Config) validateOutputs(bad badFunc) {
	if len(c.Outputs) == 0 {
		bad("$", "outputs: at least one output is required")
	}
	names := map[string]bool{}
	for i, out := range c.Outputs {
		p := fmt.Sprintf("$.outputs[%d]", i)
		if out.Name == "" {
			bad(p, "outputs[%d].name: is required", i)
		} else if names[out.Name] {
			bad(p+".name", "outputs[%d].name: %q is used twice", i, out.Name)
		}
		names[out.Name] = true
		if out.Type == "" || len(out.Extra) > 0 {
			bad(p, "outputs[%d]: configure exactly one output type (%s)", i, strings.Join(outputs.Types(), ", "))
			continue
		}
		if err := out.Config.Validate(); err != nil {
			bad(p+"."+out.Type, "outputs[%d].%s.%v", i, out.Type, err)
		}
	}
}

func (c *Config) validateContext(bad badFunc) {
	if pc := c.Context.Privilege; pc != nil {
		if err := pc.Validate(); err != nil {
			bad("$.context.privilege", "context.privilege.%v", err)
		}
		if pc.Graph != nil && c.Graph == nil {
			bad("$.context.privilege.graph", "context.privilege.graph: needs the top-level graph block (the app registration to read roles with)")
		}
	}
	for _, st := range c.Context.Stages {
		if err := st.Config.Validate(); err != nil {
			bad("$.context."+st.Type, "context.%s.%v", st.Type, err)
		}
	}
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
	c.Inputs = []inputs.Entry{inputs.NewEntry("replay", "file", &fileinput.Config{Paths: paths})}
	c.Pipelines = c.Pipelines[idx : idx+1]
	c.replay = true
	return nil
}

// ReplayDataDir gives a replay its own data directory: its checkpoints,
// monitor state, dead letters and privilege history go there, never to
// the files of an agent running on the same config (a state_file the
// config names included: the replay would append to that agent's journal
// and then empty it). scratch says no later start reads the directory
// (a replay's temporary one, removed at the end unless it kept dead
// letters): the store's commits are not synced and the privilege stage
// keeps what the audit stream teaches it in memory only — syncs that
// protect nothing took a tenth of a replay's time.
func (c *Config) ReplayDataDir(dir string, scratch bool) {
	c.DataDir = dir
	c.DeadLetter = filepath.Join(dir, "dead-letter.jsonl")
	c.scratch = scratch
	if c.Context.Privilege != nil {
		pc := *c.Context.Privilege
		pc.StateFile = "" // the agent puts it under the data directory
		c.Context.Privilege = &pc
	}
}
