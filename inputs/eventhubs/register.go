package eventhubs

import (
	"context"
	"log/slog"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/inputs"
	"github.com/privtrail/privtrail/internal/plugin"
)

func init() {
	inputs.Register(plugin.New("eventhubs", func(name string, c *Config, env inputs.Env) (batch.Input, error) {
		return New(name, *c, env.Log, env.Bad)
	}, func(ctx context.Context, c *Config, log *slog.Logger) (string, error) { return Check(ctx, *c, log) }))
}

// ResolvePaths makes the TLS files absolute.
func (c *Config) ResolvePaths(abs func(*string)) { c.TLS.ResolvePaths(abs) }
