// Package all registers every output type: the agent imports it, and a
// new output is a folder under outputs/ plus one line here.
package all

import (
	_ "github.com/privtrail/privtrail/outputs/elastic"
	_ "github.com/privtrail/privtrail/outputs/file"
	_ "github.com/privtrail/privtrail/outputs/kafka"
	_ "github.com/privtrail/privtrail/outputs/qradar"
	_ "github.com/privtrail/privtrail/outputs/splunk"
)
