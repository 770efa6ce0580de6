package agent

import (
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/store"
)

// lastSeen is the agent's own record of each privileged user's last
// successful sign-in, by event time, from the sign-in logs it reads: what
// the directory scan reports when Graph's signInActivity is older or
// absent (review.unused_privileged_account). The sequencers feed it; it
// is written to the store every flush interval and at shutdown, so a crash
// loses at most that interval — and only makes a user look less recently
// seen than they were, never the reverse.
type lastSeen struct {
	mu    sync.Mutex
	seen  map[string]int64 // lower-cased object ID (else UPN) -> unix ms
	dirty map[string]bool
	st    *store.Store
}

const lastSeenBucket = "last-seen"

func openLastSeen(st *store.Store) (*lastSeen, error) {
	l := &lastSeen{seen: map[string]int64{}, dirty: map[string]bool{}, st: st}
	err := st.ForEach(lastSeenBucket, func(k, v []byte) error {
		if ms, n := binary.Varint(v); n > 0 {
			l.seen[string(k)] = ms
		}
		return nil
	})
	return l, err
}

func lastSeenKey(p *entra.Principal) string {
	if p.ID != "" {
		return strings.ToLower(p.ID)
	}
	return strings.ToLower(p.UPN)
}

// observe notes the successful sign-ins of privileged users among recs.
func (l *lastSeen) observe(recs []*entra.Record) {
	for _, r := range recs {
		if r.Stream != entra.StreamSignIn || !r.Actor.Privileged || r.SignIn.ErrorCode != 0 || r.Time.IsZero() {
			continue
		}
		k, ms := lastSeenKey(&r.Actor), r.Time.UnixMilli()
		l.mu.Lock()
		old, ok := l.seen[k]
		if !ok {
			// The record's own string would keep all of the record's
			// decoded strings in memory for as long as the key lives.
			k = strings.Clone(k)
		}
		if !ok || ms > old {
			l.seen[k] = ms
			l.dirty[k] = true
		}
		l.mu.Unlock()
	}
}

// get returns the last successful sign-in seen of the principal.
func (l *lastSeen) get(id, upn string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms, ok := l.seen[strings.ToLower(id)]
	if !ok && upn != "" {
		ms, ok = l.seen[strings.ToLower(upn)]
	}
	if !ok {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// flush stores what changed since the last flush.
func (l *lastSeen) flush() error {
	l.mu.Lock()
	changed := make(map[string]int64, len(l.dirty))
	for k := range l.dirty {
		changed[k] = l.seen[k]
	}
	clear(l.dirty)
	l.mu.Unlock()
	if len(changed) == 0 {
		return nil
	}
	err := l.st.Update(func(w *store.Writer) error {
		for k, ms := range changed {
			if err := w.Put(lastSeenBucket, []byte(k), binary.AppendVarint(nil, ms)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Written with the next flush.
		l.mu.Lock()
		for k := range changed {
			l.dirty[k] = true
		}
		l.mu.Unlock()
	}
	return err
}
