package workhours

import (
	"errors"
	"fmt"
)

// DefaultCacheSize bounds the per-user resolution cache when cache_size is
// not set.
const DefaultCacheSize = 65536

// Config is the `context.work_hours` block of configs/privtrail.yaml.
type Config struct {
	// Schedules is the YAML (or JSON) file of working-hours schedules and
	// who they apply to (see README.md for the format).
	Schedules string `yaml:"schedules"`
	// CacheSize bounds the cache of user → schedule resolutions
	// (entries); default 65536.
	CacheSize int `yaml:"cache_size"`
}

// Validate checks the values that do not need the file system.
func (c *Config) Validate() error {
	if c.Schedules == "" {
		return errors.New("schedules: a schedules file is required")
	}
	if c.CacheSize < 0 {
		return fmt.Errorf("cache_size: must not be negative, got %d", c.CacheSize)
	}
	return nil
}
