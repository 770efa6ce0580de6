package device

import "github.com/privtrail/privtrail/enrich"

func init() { enrich.RegisterStage("device", New) }

// ResolvePaths makes the files absolute.
func (c *Config) ResolvePaths(abs func(*string)) {
	abs(&c.Devices)
}
