package file

import "errors"

// Config is an `outputs:` entry's `file:` block (or `stdout:`, where Path
// is not set).
type Config struct {
	// Path of the JSON-lines file the enriched records are appended to.
	Path string `yaml:"path"`
	// Sync makes every batch durable (fsync) before it is acknowledged, so
	// that an input never checkpoints a record the file could still lose.
	// Default true; turn off only for scratch output.
	Sync *bool `yaml:"sync"`
}

// Validate checks a `file:` block.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("path: is required (use the stdout output for standard output)")
	}
	return nil
}

func (c *Config) sync() bool { return c.Sync == nil || *c.Sync }
