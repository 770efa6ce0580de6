package file

import (
	"context"
	"log/slog"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/plugin"
	"github.com/privtrail/privtrail/outputs"
)

func init() {
	f := plugin.New("file", func(_ string, c *Config, env outputs.Env) (batch.Output, error) {
		o, err := New(*c)
		if err == nil && o.Repaired > 0 && env.Log != nil {
			env.Log.Warn("cut off a torn last line left by a crash; its batch was not acknowledged and is written again", "path", c.Path, "bytes", o.Repaired)
		}
		return o, err
	},
		func(ctx context.Context, c *Config, log *slog.Logger) (string, error) { return Check(ctx, *c, log) })
	f.Local = true
	outputs.Register(f)
	outputs.Register(plugin.New[StdoutConfig]("stdout", func(_ string, c *StdoutConfig, env outputs.Env) (batch.Output, error) {
		return NewStdoutConfig(env.Stdout, *c), nil
	}, nil))
}

// ResolvePaths makes Path absolute.
func (c *Config) ResolvePaths(abs func(*string)) { abs(&c.Path) }

// StdoutConfig is the stdout output's block. Its one key, envelope, is
// the file output's (default as_read).
type StdoutConfig struct {
	Envelope string `yaml:"envelope"`
}

// Validate accepts the empty block and the envelopes.
func (c *StdoutConfig) Validate() error { return validateEnvelope(c.Envelope) }
