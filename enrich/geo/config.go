package geo

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of the optional keys.
const (
	DefaultCacheSize      = 65536
	DefaultReloadInterval = time.Minute
)

// Config is the `context.geo` block of configs/privtrail.yaml.
type Config struct {
	// CityDB is a MaxMind DB of the City (or Country) shape: GeoLite2-City,
	// GeoIP2-City, or any .mmdb with the same fields.
	CityDB string `yaml:"city_db"`
	// ASNDB is a MaxMind DB of the ASN shape: GeoLite2-ASN, GeoIP2-ISP.
	ASNDB string `yaml:"asn_db"`
	// Optional turns a missing or unreadable database at start-up into a
	// warning: records then get no geo until a reload finds the file.
	Optional bool `yaml:"optional"`
	// CacheSize bounds the per-IP result cache (entries); default 65536.
	CacheSize int `yaml:"cache_size"`
	// ReloadInterval is how often the files' modification time and size
	// are checked for a new database; default 1m.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Validate checks the values that do not need the file system.
func (c *Config) Validate() error {
	if c.CityDB == "" && c.ASNDB == "" {
		return errors.New("city_db: a City database is required (or asn_db, or both)")
	}
	if c.CacheSize < 0 {
		return fmt.Errorf("cache_size: must not be negative, got %d", c.CacheSize)
	}
	if c.ReloadInterval < 0 {
		return fmt.Errorf("reload_interval: must not be negative, got %s", c.ReloadInterval)
	}
	if c.ReloadInterval > 0 && c.ReloadInterval < 100*time.Millisecond {
		return fmt.Errorf("reload_interval: %s is too short (at least 100ms; default 1m)", c.ReloadInterval)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = DefaultReloadInterval
	}
	return c
}
