// Package outputs is the registry of privtrail's destinations. Each
// folder below is one output type: its config, README, sample and tests,
// and a register.go that adds it here; outputs/all imports them all.
// The agent decodes an outputs[] entry, builds it and checks it through
// this registry alone.
package outputs

import (
	"context"
	"io"
	"log/slog"

	"github.com/goccy/go-yaml/ast"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/plugin"
)

// Env is what the agent gives every output it builds.
type Env struct {
	// DataDir is the agent's data directory: disk buffers go under
	// buffers/.
	DataDir string
	// DeadLetters takes the records a destination refused for good.
	DeadLetters delivery.DeadLetters
	// Log is the agent's logger, with the output's name.
	Log *slog.Logger
	// Stdout is the agent's standard output.
	Stdout io.Writer
}

// Delivery is what the buffered SIEM outputs need of Env.
func (e Env) Delivery() delivery.Deps {
	return delivery.Deps{DataDir: e.DataDir, DeadLetters: e.DeadLetters, Log: e.Log}
}

// Factory is an output type.
type Factory = plugin.Factory[Env, batch.Output]

var registry = plugin.NewRegistry[Env, batch.Output]("output")

// Register adds an output type; its package calls it from init.
func Register(f Factory) { registry.Add(f) }

// Lookup returns the output type of that name, or nil.
func Lookup(typ string) *Factory { return registry.Lookup(typ) }

// Types returns the names of the output types, in order.
func Types() []string { return registry.Types() }

// Entry is one outputs[] element of the config: its name and the block of
// its one type.
type Entry plugin.Entry

// UnmarshalYAML decodes the entry's type block into that type's config,
// as strictly as the rest of the file.
func (e *Entry) UnmarshalYAML(node ast.Node) error {
	pe, err := plugin.DecodeEntry(registry, node)
	*e = Entry(pe)
	return err
}

// RegisterDelivered registers a SIEM output type built on
// internal/delivery, whose New and Check take its config by value.
func RegisterDelivered[C any, P interface {
	*C
	plugin.Config
}](typ string, build func(name string, cfg C, deps delivery.Deps) (*delivery.Output, error), check func(ctx context.Context, cfg C, log *slog.Logger) (string, error)) {
	Register(plugin.New[C, P](typ, func(name string, c *C, env Env) (batch.Output, error) { return build(name, *c, env.Delivery()) }, func(ctx context.Context, c *C, log *slog.Logger) (string, error) { return check(ctx, *c, log) }))
}
