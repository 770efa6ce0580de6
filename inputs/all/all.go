// Package all registers every input type: the agent imports it, and a new
// input is a folder under inputs/ plus one line here.
package all

import (
	_ "github.com/privtrail/privtrail/inputs/dirscan"
	_ "github.com/privtrail/privtrail/inputs/eventhubs"
	_ "github.com/privtrail/privtrail/inputs/file"
	_ "github.com/privtrail/privtrail/inputs/graph"
)
