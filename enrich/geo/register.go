package geo

import "github.com/privtrail/privtrail/enrich"

func init() { enrich.RegisterStage("geo", New) }

// ResolvePaths makes the files absolute.
func (c *Config) ResolvePaths(abs func(*string)) {
	abs(&c.CityDB)
	abs(&c.ASNDB)
}
