package agent

import (
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/batch"
)

// checkpointLag is privtrail_checkpoint_lag_seconds of one input: how far
// behind the host's clock the newest record every output has acknowledged
// is, by event time.
//
// Event times are the sources' clocks, not the host's: a record dated in
// the future (a source with a wrong clock, a forged or test record) would
// make the lag negative and hold it there until real time caught up with
// it — for a year, for a record dated next year. So an event time counts
// at most as the host's clock when its batch is acknowledged: the lag
// never goes negative, and the records that follow move it again as soon
// as they are newer than that moment. A newest time later than the host's
// clock (the clock went back since) is replaced by the next batch's.
type checkpointLag struct {
	now    func() time.Time
	newest atomic.Int64 // Unix ns; 0: nothing acknowledged yet
}

func newCheckpointLag() *checkpointLag { return &checkpointLag{now: time.Now} }

// acked notes the newest event time of a batch every output acknowledged.
func (l *checkpointLag) acked(b *batch.Batch) {
	t := newestEventTime(b)
	if t <= 0 {
		return
	}
	now := l.now().UnixNano()
	t = min(t, now)
	for {
		cur := l.newest.Load()
		if t <= cur && cur <= now {
			return
		}
		if l.newest.CompareAndSwap(cur, t) {
			return
		}
	}
}

// seconds is the gauge's value: the host's clock minus the newest
// acknowledged event time, never negative; 0 before any.
func (l *checkpointLag) seconds() float64 {
	ns := l.newest.Load()
	if ns == 0 {
		return 0
	}
	return max(0, time.Duration(l.now().UnixNano()-ns).Seconds())
}
