package file

import (
	"context"
	"log/slog"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/plugin"
	"github.com/privtrail/privtrail/outputs"
)

func init() {
	f := plugin.New("file", func(_ string, c *Config, _ outputs.Env) (batch.Output, error) { return New(*c) },
		func(ctx context.Context, c *Config, log *slog.Logger) (string, error) { return Check(ctx, *c, log) })
	f.Local = true
	outputs.Register(f)
	outputs.Register(plugin.New[StdoutConfig]("stdout", func(_ string, _ *StdoutConfig, env outputs.Env) (batch.Output, error) {
		return NewStdout(env.Stdout), nil
	}, nil))
}

// ResolvePaths makes Path absolute.
func (c *Config) ResolvePaths(abs func(*string)) { abs(&c.Path) }

// StdoutConfig is the stdout output's block: it has no keys.
type StdoutConfig struct{}

// Validate accepts the empty block.
func (*StdoutConfig) Validate() error { return nil }
