package monitor

import (
	"fmt"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// BenchmarkStateDistinctUsers is the stateful monitors' cost per record
// when every record passes their filters and 100,000 distinct users
// rotate through a cache of 65,536 keys: a record is evaluated (filter,
// key, values, reason) and judged (cache or store read, update, write in
// the batch's one transaction), batches of 1,000 as the runner makes them.
// With the default cache every key is read from the store (the worst
// case: users in a cycle longer than the cache); with a cache that holds
// them all, only writes reach it.
func BenchmarkStateDistinctUsers(b *testing.B) {
	for _, spec := range []struct {
		name, yaml string
		cache      int
	}{
		{"first_seen/cache=64k", newDevice, 64 << 10},
		{"first_seen/cache=128k", newDevice, 128 << 10},
		{"threshold/cache=64k", badPasswords, 64 << 10},
		{"threshold/cache=128k", badPasswords, 128 << 10},
	} {
		b.Run(spec.name, func(b *testing.B) {
			r := newRig(b, spec.yaml, StateOptions{CacheKeys: spec.cache})
			const users = 100_000
			all := make([]*entra.Record, 4*users)
			for i := range all {
				all[i] = signin(fmt.Sprint("r", i), fmt.Sprint("user-", i%users), fmt.Sprint("dev", i/users), "DE", time.Duration(i)*time.Millisecond)
				all[i].SignIn.ErrorCode = 50126
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				recs := all[i%len(all):][:1000]
				for _, rec := range recs {
					rec.Hits = rec.Hits[:0]
					r.ev.Eval(rec)
				}
				if _, err := r.s.Apply(r.ev.TakeObservations()); err != nil {
					b.Fatal(err)
				}
				i += len(recs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/record")
		})
	}
}
