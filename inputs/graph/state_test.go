package graph

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/store"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, c := range []time.Time{t0, t0.Add(-7 * time.Minute), t0.Add(1234567 * time.Nanosecond), minTime, maxTime.Add(-time.Nanosecond)} {
		got, api, err := decodeMeta(encodeMeta(c, signInsPath))
		if err != nil || !got.Equal(c) || got.Location() != time.UTC || api != signInsPath {
			t.Errorf("%s: %s %q %v", c, got, api, err)
		}
	}
	if s := string(encodeMeta(t0, auditsPath)); s != `{"version":1,"cursor":"2026-03-02T12:00:00Z","api":"/v1.0/auditLogs/directoryAudits"}` {
		t.Errorf("encoded %s", s)
	}
	for _, tt := range []struct{ in, err string }{
		{`{"version":2,"cursor":"2026-03-02T12:00:00Z","api":""}`, "version 2"},
		{`{"version":1,"cursor":"yesterday","api":""}`, `cursor "yesterday"`},
		{`{"version":1,"cursor":"1999-12-31T23:59:59Z","api":""}`, "not between 2000 and 2200"},
		{`{"version":1,"cursor":"2200-01-01T00:00:00Z","api":""}`, "not between 2000 and 2200"},
		{`{"version":1,"cursor":"2026-03-02T12:00:00Z","api":"","seen":3}`, "unknown field"},
		{`{"version":1,"cursor":"2026-03-02T12:00:00Z","api":""} {}`, "data after"},
		{`[1]`, "not a graph input checkpoint"},
		{``, "not a graph input checkpoint"},
	} {
		if _, _, err := decodeMeta([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: %v, want %q", tt.in, err, tt.err)
		}
	}
}

// Keys sort as entries compare: by time (negative ones too), then ID.
func TestSeenKeyOrder(t *testing.T) {
	es := []entry{
		{math.MinInt64, "a"}, {-5, "b"}, {-5, "ba"}, {0, "a"}, {1, ""}, {1, "a"}, {t0.UnixNano(), "x"},
		{t0.UnixNano(), "y"}, {t0.UnixNano() + 1, "a"}, {math.MaxInt64, "z"},
	}
	for i := range es {
		if es[i].id == "" {
			continue
		}
		k := seenKey(es[i])
		back, err := parseSeenKey(k)
		if err != nil || back != es[i] {
			t.Errorf("%v: %v %v", es[i], back, err)
		}
		for j := range es {
			if es[j].id == "" {
				continue
			}
			if got, want := bytes.Compare(k, seenKey(es[j])), es[i].compare(es[j]); got != want {
				t.Errorf("%v vs %v: keys compare %d, entries %d", es[i], es[j], got, want)
			}
		}
		if bytes.Compare(timeKey(es[i].t), k) >= 0 || (i > 0 && es[i-1].t < es[i].t && bytes.Compare(seenKey(es[i-1]), timeKey(es[i].t)) >= 0) {
			t.Errorf("timeKey(%d) is not the smallest key of its time", es[i].t)
		}
	}
	for _, k := range [][]byte{nil, make([]byte, 8), make([]byte, 8+maxIDBytes+1)} {
		if _, err := parseSeenKey(k); err == nil {
			t.Errorf("key of %d bytes accepted", len(k))
		}
	}
}

// saveState writes what the next read needs and nothing else; loadState
// reads it back after the store is closed and opened again.
func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	at := func(m int, id string) entry { return entry{t0.Add(time.Duration(m) * time.Minute).UnixNano(), id} }
	overlap := 15 * time.Minute
	c0 := t0.Add(-time.Hour)
	if err := st.Put(metaBucket, metaKey("aad", "signins"), encodeMeta(c0, signInsPath)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name       string
		ids        []entry
		cursor     time.Time
		max        int
		wantCursor time.Time
		wantIDs    []string
	}{
		{"IDs of a window in progress; one older than cursor − overlap is left out",
			[]entry{at(-50, "b"), at(-40, "c"), at(-80, "old")}, c0, 10, c0, []string{"b", "c"}},
		{"the same IDs again, and one more", []entry{at(-50, "b"), at(-45, "d")}, c0, 10, c0, []string{"b", "d", "c"}},
		{"the window ends: IDs before the new cursor − overlap go",
			[]entry{at(-30, "e")}, t0.Add(-40 * time.Minute), 10, t0.Add(-40 * time.Minute), []string{"b", "d", "c", "e"}},
		{"further", []entry{at(-20, "f"), at(-10, "g")}, t0.Add(-25 * time.Minute), 10, t0.Add(-25 * time.Minute), []string{"c", "e", "f", "g"}},
		{"beyond the bound the oldest go", []entry{at(-9, "h"), at(-8, "i")}, t0.Add(-25 * time.Minute), 3, t0.Add(-25 * time.Minute), []string{"g", "h", "i"}},
		{"a cursor that does not move is not written", nil, t0.Add(-time.Hour), 3, t0.Add(-25 * time.Minute), []string{"g", "h", "i"}},
	}
	old, keys := c0, 0
	for _, s := range steps {
		cursor := old
		if s.cursor.After(old) {
			cursor = s.cursor
		}
		keys, err = saveState(st, "aad", "signins", signInsPath, s.ids, old, cursor, overlap, keys, s.max)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		old = cursor
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if st, err = store.Open(dir); err != nil {
			t.Fatal(err)
		}
		p, found, err := loadState(st, "aad", "signins")
		if err != nil || !found {
			t.Fatalf("%s: %v %v", s.name, found, err)
		}
		var ids []string
		for _, e := range p.seen {
			ids = append(ids, e.id)
		}
		if !p.cursor.Equal(s.wantCursor) || !slices.Equal(ids, s.wantIDs) || p.keys != len(s.wantIDs) || keys != p.keys || p.api != signInsPath {
			t.Errorf("%s: cursor %s, IDs %v (%d keys, saveState said %d); want %s, %v", s.name, p.cursor, ids, p.keys, keys, s.wantCursor, s.wantIDs)
		}
	}

	// Keys that do not parse are dropped on load.
	if err := st.Put(seenBucket("aad", "signins"), "short", nil); err != nil {
		t.Fatal(err)
	}
	if p, _, err := loadState(st, "aad", "signins"); err != nil || p.keys != 3 {
		t.Fatalf("with a broken key: %d keys, %v", p.keys, err)
	}
	if v, _ := st.Get(seenBucket("aad", "signins"), "short"); v != nil {
		t.Error("the broken key is still there")
	}
	// Another input or stream has its own state.
	if _, found, err := loadState(st, "aad", "audits"); found || err != nil {
		t.Errorf("audits: found %v, %v", found, err)
	}
}

// The bound holds with 200,000 IDs added in random time order: the set
// keeps exactly the newest 100,000, in memory and in the store (the store
// half with 20,000 IDs under the race detector).
func TestSeenSet200k(t *testing.T) {
	t.Parallel()
	const n, bound = 200_000, 100_000
	r := rand.New(rand.NewPCG(1, 2))
	s := newSeenSet(bound)
	all := make([]entry, n)
	for i := range n {
		all[i] = entry{t0.UnixNano() + r.Int64N(int64(time.Hour)), fmt.Sprintf("id-%06d", i)}
		s.add(all[i].id, all[i].t)
		if s.len() > bound || len(s.h) != s.len() {
			t.Fatalf("%d IDs (heap %d) after %d adds", s.len(), len(s.h), i+1)
		}
	}
	slices.SortFunc(all, entry.compare)
	newest := all[n-bound:]
	for _, e := range newest {
		if !s.has(e.id) {
			t.Fatalf("%v, among the newest %d, was evicted", e, bound)
		}
	}
	if s.len() != bound {
		t.Fatalf("%d IDs", s.len())
	}
	cut := newest[bound/2].t
	s.evictBefore(cut)
	if o, _ := s.oldest(); o.t < cut || s.len() != len(s.h) {
		t.Errorf("evictBefore left %v", o)
	}
	for _, e := range newest {
		if s.has(e.id) != (e.t >= cut) {
			t.Fatalf("%v: kept %v with the cut at %d", e, s.has(e.id), cut)
		}
	}

	// In the store, with the same bound, in batches of 1000 as the input
	// writes them: windows oldest first, each read newest first. Under the
	// race detector (bbolt ~40× slower) the last 20,000 IDs with a bound
	// of 10,000.
	stored, storeBound := all, bound
	if raceEnabled {
		stored, storeBound = all[n-20_000:], 10_000
	}
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys := 0
	for i := 0; i < len(stored); i += 1000 {
		b := slices.Clone(stored[i : i+1000])
		slices.Reverse(b)
		if keys, err = saveState(st, "aad", "signins", signInsPath, b, t0, t0, time.Hour, keys, storeBound); err != nil {
			t.Fatal(err)
		}
		if keys > storeBound {
			t.Fatalf("%d keys stored", keys)
		}
	}
	p, _, err := loadState(st, "aad", "signins")
	if err != nil {
		t.Fatal(err)
	}
	if p.keys != storeBound || !slices.Equal(p.seen, stored[len(stored)-storeBound:]) {
		t.Errorf("stored %d IDs, not the newest %d of %d", len(p.seen), storeBound, len(stored))
	}
}

// FuzzDecodeState: the decoders of the stored state never panic, and
// what they accept encodes back to the same state.
func FuzzDecodeState(f *testing.F) {
	f.Add(encodeMeta(t0, signInsPath), seenKey(entry{t0.UnixNano(), "66ea54eb-6301-4ee5-be62-ff5a759b0100"}))
	f.Add([]byte(`{"version":1,"cursor":"2026-03-02T11:53:00.5+02:00","api":"\u00e9"}`), []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 'x'})
	f.Add([]byte(`{"version":1,"cursor":"2026-03-02T11:53:00,5Z","api":null}`), []byte("Directory_ce3dc82b_1W2U4"))
	f.Add([]byte(`{}`), []byte{})
	f.Fuzz(func(t *testing.T, meta, key []byte) {
		if c, api, err := decodeMeta(meta); err == nil {
			if !sane(c) {
				t.Fatalf("accepted cursor %s", c)
			}
			c2, api2, err := decodeMeta(encodeMeta(c, api))
			if err != nil || !c2.Equal(c) || api2 != api {
				t.Fatalf("%q: %s %q → %s %q %v", meta, c, api, c2, api2, err)
			}
		}
		if e, err := parseSeenKey(key); err == nil {
			if !bytes.Equal(seenKey(e), key) {
				t.Fatalf("%x → %v → %x", key, e, seenKey(e))
			}
		}
	})
}
