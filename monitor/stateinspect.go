package monitor

import (
	"strings"

	"github.com/privtrail/privtrail/internal/store"
)

// StoredState is what the store holds for one stateful monitor of one
// pipeline, as privtrail check reports it.
type StoredState struct {
	Pipeline, Monitor string
	// Entries is the number of keys stored; Unreadable of them do not
	// decode, and the agent will start those keys afresh.
	Entries, Unreadable int64
}

// InspectState reads every stateful monitor's stored entries and says how
// many do not decode, without changing anything.
func InspectState(r *store.Reader) ([]StoredState, error) {
	var out []StoredState
	for _, bucket := range r.Buckets(stateBucketPrefix) {
		name := strings.TrimPrefix(bucket, stateBucketPrefix)
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			continue
		}
		ss := StoredState{Pipeline: name[:i], Monitor: name[i+1:]}
		var ks keyState
		err := r.ForEach(bucket, func(_, v []byte) error {
			ss.Entries++
			if ks.decode(v) != nil {
				ss.Unreadable++
			}
			return nil
		})
		if err != nil {
			return out, err
		}
		out = append(out, ss)
	}
	return out, nil
}

// ResetState deletes every stateful monitor's stored state, of every
// pipeline, and returns what it deleted: the monitors start afresh, with
// first_seen learning again from their next record. Checkpoints and
// everything else in the store stay.
func ResetState(w *store.Writer) ([]StoredState, error) {
	deleted, err := InspectState(w.Reader())
	if err != nil {
		return nil, err
	}
	for _, s := range deleted {
		bucket := stateBucketPrefix + s.Pipeline + "/" + s.Monitor
		if err := w.DeleteBucket(bucket); err != nil {
			return nil, err
		}
		if err := w.Delete(metaBucket, []byte(bucket)); err != nil {
			return nil, err
		}
	}
	return deleted, nil
}
