package qradar

import (
	"context"
	"log/slog"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/plugin"
	"github.com/privtrail/privtrail/outputs"
)

func init() {
	outputs.Register(plugin.New("qradar", func(name string, c *Config, env outputs.Env) (batch.Output, error) {
		return New(name, *c, env.Delivery())
	},
		func(ctx context.Context, c *Config, log *slog.Logger) (string, error) { return Check(ctx, *c, log) }))
}

// ResolvePaths makes the TLS files absolute.
func (c *Config) ResolvePaths(abs func(*string)) { c.TLS.ResolvePaths(abs) }
