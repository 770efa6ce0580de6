package workhours

import "github.com/privtrail/privtrail/enrich"

func init() { enrich.RegisterStage("work_hours", New) }

// ResolvePaths makes the files absolute.
func (c *Config) ResolvePaths(abs func(*string)) {
	abs(&c.Schedules)
}
