package geo

import (
	"github.com/privtrail/privtrail/enrich"
	"github.com/privtrail/privtrail/internal/plugin"
)

func init() {
	enrich.Register(plugin.New("geo", func(_ string, c *Config, env enrich.Env) (enrich.Stage, error) { return New(*c, env.Log) }, nil))
}

// ResolvePaths makes the files absolute.
func (c *Config) ResolvePaths(abs func(*string)) {
	abs(&c.CityDB)
	abs(&c.ASNDB)
}
