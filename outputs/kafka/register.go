package kafka

import "github.com/privtrail/privtrail/outputs"

func init() { outputs.RegisterDelivered("kafka", New, Check) }

// ResolvePaths makes the TLS files absolute.
func (c *Config) ResolvePaths(abs func(*string)) { c.TLS.ResolvePaths(abs) }
