package synth

import (
	"strconv"

	"github.com/privtrail/privtrail/entra"
)

// Decoded is n records of the demo tenant generated from seed (every
// stream and shape), decoded as an input does, each with its origin
// "synth:<n>" and every tenth with a monitor hit, and their enriched JSON
// as the runner encodes it once for every JSON output: what the outputs'
// benchmarks and tests feed an output. Documents the decoder refuses are
// skipped.
func Decoded(seed int64, n int) ([]*entra.Record, [][]byte) {
	g := New(seed, DemoTenant())
	var d entra.Decoder
	recs := make([]*entra.Record, 0, n)
	js := make([][]byte, 0, n)
	for len(recs) < n {
		rec := &entra.Record{Origin: "synth:" + strconv.Itoa(len(recs)+1)}
		if err := d.Decode(g.Next(), rec); err != nil {
			continue
		}
		if len(recs)%10 == 0 {
			rec.Hits = []entra.Hit{{ID: "signin.legacy_auth", Title: "Legacy authentication", Risk: "high", Source: "signin", Reason: "clientAppUsed=IMAP4"}}
		}
		recs = append(recs, rec)
		js = append(js, rec.AppendJSON(nil))
	}
	return recs, js
}
