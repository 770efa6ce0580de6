// Package enrich is the registry of privtrail's context stages. The
// privilege stage (enrich/privilege) is the agent's own: every monitor
// reads the roles it tags, so it always runs first and has its own key.
// Every other stage (geo, device, work hours) is a folder below with a
// register.go that adds it here; enrich/all imports them all. A stage is
// configured by its key under context: and runs after privilege, in the
// order of its type name.
package enrich

import (
	"log/slog"

	"github.com/goccy/go-yaml/ast"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/plugin"
)

// Stage is a context stage as the agent holds it: it enriches records and
// is closed (its background reloads stopped) when the run ends.
type Stage interface {
	batch.Enricher
	Close() error
}

// Env is what the agent gives every stage it builds.
type Env struct {
	// Log is the agent's logger.
	Log *slog.Logger
}

// Factory is a context stage type.
type Factory = plugin.Factory[Env, Stage]

var registry = plugin.NewRegistry[Env, Stage]("context stage")

// Register adds a stage type; its package calls it from init.
func Register(f Factory) { registry.Add(f) }

// Lookup returns the stage type of that name, or nil.
func Lookup(typ string) *Factory { return registry.Lookup(typ) }

// Types returns the names of the stage types, in the order stages run.
func Types() []string { return registry.Types() }

// Decode decodes the block of stage type typ; ok is false when no stage
// has that name.
func Decode(typ string, node ast.Node) (cfg plugin.Config, ok bool, err error) {
	if registry.Lookup(typ) == nil {
		return nil, false, nil
	}
	cfg, err = registry.Decode(typ, node)
	return cfg, true, err
}

// RegisterStage registers a stage type whose New takes its config by value
// and the agent's logger.
func RegisterStage[C any, P interface {
	*C
	plugin.Config
}, S Stage](typ string, build func(cfg C, log *slog.Logger) (S, error)) {
	Register(plugin.New[C, P](typ, func(_ string, c *C, env Env) (Stage, error) { return build(*c, env.Log) }, nil))
}
