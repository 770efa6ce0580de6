package file

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/inputs"
	"github.com/privtrail/privtrail/internal/plugin"
)

func init() {
	f := plugin.New("file", func(name string, c *Config, env inputs.Env) (batch.Input, error) {
		return New(name, *c, env.Store, env.Log, env.Bad)
	}, Check)
	f.Local = true
	inputs.Register(f)
}

// ResolvePaths makes the paths absolute.
func (c *Config) ResolvePaths(abs func(*string)) {
	for i := range c.Paths {
		abs(&c.Paths[i])
	}
}

// Check says how many files the input would read now, and which paths
// match nothing (privtrail check). Nothing matching is no failure: a
// watched folder may fill later.
func Check(_ context.Context, c *Config, log *slog.Logger) (string, error) {
	in := &Input{cfg: *c, log: log, warned: map[string]bool{}}
	files := map[string]bool{} // each file once, as the input reads it
	var empty []string
	for _, p := range c.Paths {
		in.cfg.Paths = []string{p}
		found := in.expand()
		if len(found) == 0 {
			empty = append(empty, p)
		}
		for _, t := range found {
			files[t.abs] = true
		}
	}
	what := fmt.Sprintf("%d files to read", len(files))
	if len(files) == 1 {
		what = "1 file to read"
	}
	if len(empty) > 0 {
		what += "; nothing to read at " + strings.Join(empty, ", ") + " yet"
	}
	return what, nil
}
