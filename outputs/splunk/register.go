package splunk

import "github.com/privtrail/privtrail/outputs"

func init() { outputs.RegisterDelivered("splunk", New, Check) }

// ResolvePaths makes the TLS files absolute.
func (c *Config) ResolvePaths(abs func(*string)) { c.TLS.ResolvePaths(abs) }
