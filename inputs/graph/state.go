package graph

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/privtrail/privtrail/internal/store"
)

// The persisted state of a stream (see README.md, "Persisted state"):
//
//   - bucket "checkpoints", key "graph/<input>/<stream>": the cursor, as
//     JSON {"version":1,"cursor":"2026-03-01T11:53:00Z","api":"/v1.0/auditLogs/signIns"},
//     so that an operator can read it with a bbolt browser;
//   - bucket "graph-seen/<input>/<stream>": one key per committed record
//     whose time is at or after cursor − overlap: 8 bytes of its time (Unix
//     nanoseconds, big-endian, sign bit flipped so that keys sort by time)
//     followed by its de-duplication key (the record ID; "<id>@<time>" for
//     the risk streams; "sha256:<hex>" without a usable id); the value is
//     empty.
//
// Both change only in a batch's Commit (and when a window without new
// records ends with nothing in flight), in one transaction: the cursor
// never runs ahead of the IDs it relies on, and no ID of an unacknowledged
// batch is ever stored.
const (
	metaBucket     = "checkpoints"
	seenBucketName = "graph-seen/"
	stateVersion   = 1
	// maxIDBytes bounds a record ID: it becomes part of a store key
	// (bbolt allows 32 KiB). Entra IDs are GUIDs or a few dozen bytes.
	maxIDBytes = 512
	timeBytes  = 8
)

// Event times are kept as Unix nanoseconds, which int64 holds for the
// years 1678 to 2262; records and cursors outside these years are refused.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func sane(t time.Time) bool { return !t.Before(minTime) && t.Before(maxTime) }

func metaKey(input, stream string) string    { return "graph/" + input + "/" + stream }
func seenBucket(input, stream string) string { return seenBucketName + input + "/" + stream }

// meta is the JSON of the cursor key.
type meta struct {
	Version int    `json:"version"`
	Cursor  string `json:"cursor"`
	API     string `json:"api"`
}

func encodeMeta(cursor time.Time, api string) []byte {
	b, err := json.Marshal(meta{Version: stateVersion, Cursor: cursor.UTC().Format(time.RFC3339Nano), API: api})
	if err != nil {
		panic(err) // strings and an int cannot fail to encode
	}
	return b
}

// decodeMeta reads the cursor key. It accepts only what encodeMeta
// writes: version 1, a cursor in RFC 3339 between 2000 and 2200.
func decodeMeta(b []byte) (cursor time.Time, api string, err error) {
	var m meta
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return time.Time{}, "", fmt.Errorf("not a graph input checkpoint: %w", err)
	}
	if dec.More() {
		return time.Time{}, "", errors.New("not a graph input checkpoint: data after the object")
	}
	if m.Version != stateVersion {
		return time.Time{}, "", fmt.Errorf("checkpoint version %d (this privtrail reads version %d)", m.Version, stateVersion)
	}
	cursor, err = time.Parse(time.RFC3339Nano, m.Cursor)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("checkpoint cursor %q: %w", m.Cursor, err)
	}
	cursor = cursor.UTC()
	if !sane(cursor) {
		return time.Time{}, "", fmt.Errorf("checkpoint cursor %s is not between %d and %d", m.Cursor, minTime.Year(), maxTime.Year())
	}
	return cursor, m.API, nil
}

// seenKey is the store key of e: its time, sortable, then its ID.
func seenKey(e entry) []byte {
	k := make([]byte, timeBytes+len(e.id))
	binary.BigEndian.PutUint64(k, uint64(e.t)^(1<<63))
	copy(k[timeBytes:], e.id)
	return k
}

// timeKey is the smallest key of time t: every key of an entry at t or
// later sorts at or after it, every earlier one before it.
func timeKey(t int64) []byte { return seenKey(entry{t: t}) }

// parseSeenKey reads a key of the seen bucket.
func parseSeenKey(k []byte) (entry, error) {
	switch {
	case len(k) <= timeBytes:
		return entry{}, fmt.Errorf("seen key of %d bytes: no ID", len(k))
	case len(k) > timeBytes+maxIDBytes:
		return entry{}, fmt.Errorf("seen key of %d bytes: the ID is longer than %d bytes", len(k), maxIDBytes)
	}
	t := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	return entry{t: t, id: string(k[timeBytes:])}, nil
}

// persisted is what the store holds for one stream.
type persisted struct {
	cursor time.Time
	api    string
	seen   []entry // in key order: oldest first
	keys   int     // keys in the seen bucket
}

// loadState reads a stream's state. found is false on a first start (no
// cursor). Keys of the seen bucket that do not parse are deleted (they
// can only come from a damaged store; their records may be read again).
func loadState(st *store.Store, input, stream string) (p persisted, found bool, err error) {
	raw, err := st.Get(metaBucket, metaKey(input, stream))
	if err != nil {
		return p, false, err
	}
	if raw != nil {
		if p.cursor, p.api, err = decodeMeta(raw); err != nil {
			return p, false, fmt.Errorf("bucket %s, key %s: %w (delete the key, or rename the input, to start the stream over with a back-fill)",
				metaBucket, metaKey(input, stream), err)
		}
		found = true
	}
	var broken [][]byte
	err = st.ForEach(seenBucket(input, stream), func(k, _ []byte) error {
		e, err := parseSeenKey(k)
		if err != nil {
			broken = append(broken, bytes.Clone(k))
			return nil
		}
		p.seen = append(p.seen, e)
		return nil
	})
	if err != nil {
		return p, found, err
	}
	p.keys = len(p.seen)
	if len(broken) > 0 {
		err = st.Update(func(w *store.Writer) error {
			for _, k := range broken {
				if err := w.Delete(seenBucket(input, stream), k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return p, found, err
}

// errStop ends a Scan early.
var errStop = errors.New("stop")

// saveState writes, in one transaction: the IDs of ids at or after
// cursor − overlap; when cursor moved past old, the new cursor and the
// removal of every ID before cursor − overlap; and the removal of the
// oldest IDs beyond max. keys is the number of IDs stored before; the
// number after is returned.
func saveState(st *store.Store, input, stream, api string, ids []entry, old, cursor time.Time, overlap time.Duration, keys, max int) (int, error) {
	bucket := seenBucket(input, stream)
	floor := timeKey(cursor.Add(-overlap).UnixNano())
	after := keys
	err := st.Update(func(w *store.Writer) error {
		n := keys
		for _, e := range ids {
			k := seenKey(e)
			if bytes.Compare(k, floor) < 0 {
				continue // older than the next read reaches
			}
			exists := false
			if _, err := w.Scan(bucket, k, 1, func(got, _ []byte) error {
				exists = bytes.Equal(got, k)
				return nil
			}); err != nil {
				return err
			}
			if exists {
				continue
			}
			if err := w.Put(bucket, k, []byte{}); err != nil {
				return err
			}
			n++
		}
		if cursor.After(old) {
			if err := w.Put(metaBucket, []byte(metaKey(input, stream)), encodeMeta(cursor, api)); err != nil {
				return err
			}
			deleted, err := deleteFirst(w, bucket, n, func(k []byte) bool { return bytes.Compare(k, floor) < 0 })
			if err != nil {
				return err
			}
			n -= deleted
		}
		if n > max {
			deleted, err := deleteFirst(w, bucket, n-max, func([]byte) bool { return true })
			if err != nil {
				return err
			}
			n -= deleted
		}
		after = n
		return nil
	})
	if err != nil {
		return keys, err
	}
	return after, nil
}

// deleteFirst deletes up to limit keys from the start of bucket while
// cond holds, and returns how many it deleted.
func deleteFirst(w *store.Writer, bucket string, limit int, cond func(k []byte) bool) (int, error) {
	deleted := 0
	var from []byte
	for deleted < limit {
		next, err := w.Scan(bucket, from, min(limit-deleted, 1024), func(k, _ []byte) error {
			if !cond(k) {
				return errStop
			}
			deleted++
			return w.Delete(bucket, k)
		})
		if errors.Is(err, errStop) || (err == nil && next == nil) {
			break
		}
		if err != nil {
			return deleted, err
		}
		from = next
	}
	return deleted, nil
}
