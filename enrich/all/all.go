// Package all registers every context stage type besides privilege (the
// agent's own): the agent imports it, and a new stage is a folder under
// enrich/ plus one line here.
package all

import (
	_ "github.com/privtrail/privtrail/enrich/device"
	_ "github.com/privtrail/privtrail/enrich/geo"
	_ "github.com/privtrail/privtrail/enrich/workhours"
)
