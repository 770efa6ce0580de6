// Package inputs is the registry of privtrail's sources. Each folder below
// is one input type: its config, README, sample and tests, and a
// register.go that adds it here; inputs/all imports them all. The agent
// decodes an inputs[] entry, builds it and checks it through this registry
// alone.
package inputs

import (
	"log/slog"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/plugin"
	"github.com/privtrail/privtrail/internal/store"
)

// Env is what the agent gives every input it builds.
type Env struct {
	// Store keeps the input's checkpoints and cursors.
	Store *store.Store
	// Log is the agent's logger, with the input's name.
	Log *slog.Logger
	// Bad takes a document the input cannot even frame as a record (a
	// torn line, an oversized record): it goes to the dead-letter file
	// with its origin and the reason.
	Bad func(origin string, data []byte, reason string)
	// Graph is the agent's Graph client when the input reads Graph with
	// the top-level graph block (one rate limit, one token); nil
	// otherwise.
	Graph *graphapi.Client
	// Privilege is the privilege stage (the role map in use); nil without
	// context.privilege.
	Privilege *privilege.Stage
	// LastSeen is the newest successful sign-in the agent has seen of a
	// privileged user, by object ID or UPN.
	LastSeen func(id, upn string) time.Time
}

// GraphReader is an input config that reads through Microsoft Graph: one
// without a graph block of its own takes the top-level one and then
// shares the agent's client.
type GraphReader interface {
	UseGraph(shared *graphapi.Config) bool
}

// Requirer is an input config that needs a context stage ("privilege")
// configured.
type Requirer interface {
	Requires() []string
}

// StreamSource is an input config that reads only some streams of
// records (the Graph input: those of its endpoints; a directory scan:
// directory records). Inputs that forward whatever they are sent (files,
// Event Hubs) do not implement it: they may carry every stream.
type StreamSource interface {
	Delivers() []entra.Stream
}

// Factory is an input type.
type Factory = plugin.Factory[Env, batch.Input]

var registry = plugin.NewRegistry[Env, batch.Input]("input")

// Register adds an input type; its package calls it from init.
func Register(f Factory) { registry.Add(f) }

// Lookup returns the input type of that name, or nil.
func Lookup(typ string) *Factory { return registry.Lookup(typ) }

// Types returns the names of the input types, in order.
func Types() []string { return registry.Types() }

// Entry is one inputs[] element of the config: its name and the block of
// its one type.
type Entry struct {
	plugin.Entry
	// SharedGraph: the input reads Graph with the top-level graph block,
	// through the agent's client.
	SharedGraph bool
}

// UnmarshalYAML decodes the entry's type block into that type's config,
// as strictly as the rest of the file.
func (e *Entry) UnmarshalYAML(node ast.Node) error {
	pe, err := plugin.DecodeEntry(registry, node)
	e.Entry = pe
	return err
}

// NewEntry is an entry made in code (a replay, the bench): name and one
// type's config.
func NewEntry(name, typ string, cfg plugin.Config) Entry {
	return Entry{Entry: plugin.Entry{Name: name, Type: typ, Config: cfg}}
}
