// Package plugin is the registry behind privtrail's inputs, outputs and
// context stages: each kind keeps one Registry, each type of that kind
// (the file input, the splunk output, the geo stage) adds its Factory from
// its own package, and the agent decodes, builds and checks whatever the
// registry holds. A new type is its folder and one import line in the
// kind's `all` package.
package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/goccy/go-yaml/ast"

	"github.com/privtrail/privtrail/internal/yamlfile"
)

// Config is a type's block in the config file (the `splunk:` of an
// outputs[] entry).
type Config interface {
	// Validate checks the block and fills in the defaults of keys left
	// at zero.
	Validate() error
}

// PathResolver is a Config that names files (certificates, databases,
// folders): the agent gives it abs, which makes a path written relative
// to the config file's folder absolute, before Validate.
type PathResolver interface {
	ResolvePaths(abs func(*string))
}

// Factory is one type of a kind: its name, its config, how to build it
// and how `privtrail check` tests it. Env is what the agent hands every
// type of the kind when it builds one; T is what a build returns.
type Factory[Env, T any] struct {
	// Type is the key of the type's block ("splunk").
	Type string
	// Local tells that Check touches nothing beyond this host (a folder,
	// a file): `privtrail check -offline` runs it too.
	Local bool

	newConfig func() Config
	build     func(name string, cfg Config, env Env) (T, error)
	check     func(ctx context.Context, cfg Config, log *slog.Logger) (string, error)
}

// New makes the Factory of a type whose config is C, with build and check
// (nil: nothing to check) taking *C.
func New[C any, P interface {
	*C
	Config
}, Env, T any](typ string, build func(name string, cfg *C, env Env) (T, error), check func(ctx context.Context, cfg *C, log *slog.Logger) (string, error)) Factory[Env, T] {
	f := Factory[Env, T]{
		Type:      typ,
		newConfig: func() Config { return P(new(C)) },
		build:     func(name string, cfg Config, env Env) (T, error) { return build(name, cfg.(P), env) },
	}
	if check != nil {
		f.check = func(ctx context.Context, cfg Config, log *slog.Logger) (string, error) {
			return check(ctx, cfg.(P), log)
		}
	}
	return f
}

// NewConfig returns an empty config of the type to decode a block into.
func (f *Factory[Env, T]) NewConfig() Config { return f.newConfig() }

// Build builds the type from its validated config. It may open files and
// connections; whatever it opened, the caller closes.
func (f *Factory[Env, T]) Build(name string, cfg Config, env Env) (T, error) {
	t, err := f.build(name, cfg, env)
	if err != nil {
		// Not an interface holding the constructor's nil pointer.
		var none T
		return none, err
	}
	return t, nil
}

// Checkable tells whether the type has something for `privtrail check` to
// test.
func (f *Factory[Env, T]) Checkable() bool { return f.check != nil }

// Check tests what cfg points at (a destination, a source) without
// sending or reading a record, and says what it verified.
func (f *Factory[Env, T]) Check(ctx context.Context, cfg Config, log *slog.Logger) (string, error) {
	if f.check == nil {
		return "nothing to check", nil
	}
	return f.check(ctx, cfg, log)
}

// Registry holds the types of one kind. Types are added from init
// functions and read afterwards; it is safe for concurrent use.
type Registry[Env, T any] struct {
	kind  string
	mu    sync.RWMutex
	types map[string]*Factory[Env, T]
}

// NewRegistry returns an empty registry for the kind ("output").
func NewRegistry[Env, T any](kind string) *Registry[Env, T] {
	return &Registry[Env, T]{kind: kind, types: map[string]*Factory[Env, T]{}}
}

// Add registers f. Two types of one name are a programming error: Add
// panics.
func (r *Registry[Env, T]) Add(f Factory[Env, T]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.Type == "" || f.newConfig == nil || f.build == nil {
		panic(fmt.Sprintf("plugin: %s type %q is incomplete: make it with plugin.New", r.kind, f.Type))
	}
	if r.types[f.Type] != nil {
		panic(fmt.Sprintf("plugin: %s type %q registered twice", r.kind, f.Type))
	}
	r.types[f.Type] = &f
}

// Lookup returns the type of that name, or nil.
func (r *Registry[Env, T]) Lookup(typ string) *Factory[Env, T] {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.types[typ]
}

// Types returns the registered type names in order.
func (r *Registry[Env, T]) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Kind is what the registry holds ("output").
func (r *Registry[Env, T]) Kind() string { return r.kind }

// Decode decodes a type's block (node, from the config file) into a new
// config of typ, as strictly as the rest of the file: unknown keys are
// errors naming their line. A block left empty (`stdout:`) is an empty
// config.
func (r *Registry[Env, T]) Decode(typ string, node ast.Node) (Config, error) {
	f := r.Lookup(typ)
	if f == nil {
		return nil, fmt.Errorf("plugin: no %s type %q", r.kind, typ)
	}
	cfg := f.NewConfig()
	if _, null := node.(*ast.NullNode); null || node == nil {
		return cfg, nil
	}
	return cfg, yamlfile.DecodeNode(node, cfg)
}

// Entry is one element of inputs[] or outputs[]: a name and the block of
// exactly one type.
type Entry struct {
	Name string
	// Type is the type whose block the entry holds; "" when it has none.
	Type   string
	Config Config
	// Extra are the keys of further type blocks: an entry with any is
	// invalid, which the kind's validation says with the entry's line.
	Extra []string
}

// DecodeEntry reads an entry of r's kind from its node.
func DecodeEntry[Env, T any](r *Registry[Env, T], node ast.Node) (Entry, error) {
	var e Entry
	pairs, ok := yamlfile.Pairs(node)
	if _, null := node.(*ast.NullNode); !ok || null {
		return e, yamlfile.NodeError(node, fmt.Sprintf("an %s is a mapping: name and one %s type (%s)", r.kind, r.kind, listTypes(r)))
	}
	for _, kv := range pairs {
		key := kv.Key.String()
		switch {
		case key == "name":
			if err := yamlfile.DecodeNode(kv.Value, &e.Name); err != nil {
				return e, err
			}
		case r.Lookup(key) != nil:
			if e.Type != "" {
				e.Extra = append(e.Extra, key)
				continue
			}
			cfg, err := r.Decode(key, kv.Value)
			if err != nil {
				return e, err
			}
			e.Type, e.Config = key, cfg
		default:
			return e, yamlfile.NodeError(kv.Key, fmt.Sprintf("unknown field %q: not a name or an %s type (%s)", key, r.kind, listTypes(r)))
		}
	}
	return e, nil
}

func listTypes[Env, T any](r *Registry[Env, T]) string {
	var s string
	for i, t := range r.Types() {
		if i > 0 {
			s += ", "
		}
		s += t
	}
	return s
}
