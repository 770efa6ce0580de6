package buffer

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// readAll reads every queued entry without removing it.
func readAll(t *testing.T, q *Queue) []Entry {
	t.Helper()
	if q.Len() == 0 {
		return nil
	}
	got, err := q.Read(context.Background(), q.Len(), 1<<30, 0)
	if err != nil {
		t.Fatal(err)
	}
	q.Rewind()
	return got
}

func datas(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, string(e.Data))
	}
	return out
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	firsts, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range firsts {
		out = append(out, segName(f))
	}
	return out
}

// Segments roll at an eighth of the bound, spent ones are deleted as
// entries are removed, and a drained queue leaves none behind.
func TestSegmentsRollAndGo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	q := open(t, dir, MinMaxBytes) // segments of 128KiB
	defer q.Close()
	ctx := context.Background()
	item := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 30<<10) }
	for i := range 12 { // 4 frames of 30KiB+16 per segment
		if err := q.Append(ctx, [][]byte{item(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := segFiles(t, dir); !slices.Equal(got, []string{segName(1), segName(5), segName(9)}) {
		t.Fatalf("segments %v, want three of four entries", got)
	}
	used, _ := q.Usage()
	if want := int64(3 * blocks(4*(frameHeader+30<<10))); used != want {
		t.Fatalf("used %d, want %d", used, want)
	}
	es, _ := q.Read(ctx, 6, 1<<30, 0)
	if err := q.Remove(es[5].Seq); err != nil { // entries 1–6: the first segment is spent
		t.Fatal(err)
	}
	if got := segFiles(t, dir); !slices.Equal(got, []string{segName(5), segName(9)}) {
		t.Fatalf("after removing 1–6: %v", got)
	}
	es, _ = q.Read(ctx, 100, 1<<30, 0)
	if len(es) != 6 || es[0].Seq != 7 || string(es[0].Data) != string(item(6)) {
		t.Fatalf("read %d entries from %d", len(es), es[0].Seq)
	}
	if err := q.Remove(es[5].Seq); err != nil {
		t.Fatal(err)
	}
	if got := segFiles(t, dir); len(got) != 0 || q.Len() != 0 {
		t.Fatalf("drained queue left %v (%d entries)", got, q.Len())
	}
	// Numbers go on after a drain (the acknowledgement says 12 were removed).
	if err := q.Append(ctx, items(0, 2)); err != nil {
		t.Fatal(err)
	}
	if es, _ := q.Read(ctx, 10, 1<<20, 0); len(es) != 2 || es[0].Seq != 13 {
		t.Fatalf("after the drain read %v", es)
	}
}

// What was removed is written down at once: after a crash of the process
// (the files left as they are, without Close) and after a clean stop,
// only what was not removed comes back.
func TestRemovedStayRemovedAfterReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	ctx := context.Background()
	q := open(t, dir, 8<<20)
	if err := q.Append(ctx, items(0, 10)); err != nil {
		t.Fatal(err)
	}
	es, _ := q.Read(ctx, 4, 1<<20, 0)
	if err := q.Remove(es[3].Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Read(ctx, 1, 1<<20, 0); err != nil { // read, not removed: it comes again
		t.Fatal(err)
	}
	crashed := q
	q = open(t, dir, 8<<20)
	if got := datas(readAll(t, q)); len(got) != 6 || got[0] != "record-004" {
		t.Fatalf("after a crash: %v", got)
	}
	es, _ = q.Read(ctx, 2, 1<<20, 0)
	if err := q.Remove(es[1].Seq); err != nil {
		t.Fatal(err)
	}
	crashed.closeFiles()
	crashed = q
	q = open(t, dir, 8<<20)
	if got := datas(readAll(t, q)); len(got) != 4 || got[0] != "record-006" {
		t.Fatalf("after a second crash: %v", got)
	}
	crashed.closeFiles()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = open(t, dir, 8<<20)
	defer q.Close()
	if got := datas(readAll(t, q)); len(got) != 4 || got[0] != "record-006" || got[3] != "record-009" {
		t.Fatalf("after a clean stop: %v", got)
	}
	if err := q.Append(ctx, items(10, 1)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, q); got[len(got)-1].Seq != 11 {
		t.Fatalf("appended after reopening as %d, want 11", got[len(got)-1].Seq)
	}
}

// An append cut by a crash leaves a torn frame at the end of the newest
// segment: Open cuts it off and keeps every whole entry before it.
func TestTornAppendIsCutAtOpen(t *testing.T) {
	for _, cut := range []int{1, frameHeader - 1, frameHeader, frameHeader + 5} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "q")
			q := open(t, dir, 8<<20)
			if err := q.Append(context.Background(), items(0, 3)); err != nil {
				t.Fatal(err)
			}
			q.Close()
			name := filepath.Join(dir, segName(1))
			whole, _ := os.ReadFile(name)
			torn := appendFrame(nil, 4, []byte("record-003"))[:cut]
			if err := os.WriteFile(name, append(whole, torn...), 0o600); err != nil {
				t.Fatal(err)
			}
			q = open(t, dir, 8<<20)
			defer q.Close()
			if got := datas(readAll(t, q)); !slices.Equal(got, []string{"record-000", "record-001", "record-002"}) {
				t.Fatalf("reopened with %v", got)
			}
			if fi, _ := os.Stat(name); fi.Size() != int64(len(whole)) {
				t.Fatalf("segment is %d bytes, want the torn frame cut (%d)", fi.Size(), len(whole))
			}
			if notes := q.Recovered(); len(notes) != 0 {
				t.Fatalf("a torn append is no damage: %v", notes)
			}
			if err := q.Append(context.Background(), items(3, 1)); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, q); len(got) != 4 || got[3].Seq != 4 || string(got[3].Data) != "record-003" {
				t.Fatalf("after the torn frame: %v", datas(got))
			}
		})
	}
}

// Damage inside an older segment (a flipped bit): the entries before it
// are kept, the rest of that segment is set aside in a .damaged file and
// reported, the segments after it are read on.
func TestDamagedSegmentIsSetAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	q := open(t, dir, MinMaxBytes)
	item := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 30<<10) }
	for i := range 8 {
		if err := q.Append(context.Background(), [][]byte{item(i)}); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	name := filepath.Join(dir, segName(1))
	data, _ := os.ReadFile(name)
	data[2*(frameHeader+30<<10)+frameHeader+100] ^= 0x40 // inside entry 3
	os.WriteFile(name, data, 0o600)

	q = open(t, dir, MinMaxBytes)
	defer q.Close()
	got := readAll(t, q)
	var seqs []uint64
	for _, e := range got {
		seqs = append(seqs, e.Seq)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 5, 6, 7, 8}) {
		t.Fatalf("kept entries %v, want 1, 2 and the next segment's 5–8", seqs)
	}
	if notes := q.Recovered(); len(notes) != 2 {
		t.Fatalf("notes %q, want the damaged segment and the missing entries", notes)
	}
	if aside, err := os.ReadFile(name + ".damaged"); err != nil || len(aside) != 2*(frameHeader+30<<10) {
		t.Fatalf("set aside %d bytes (%v)", len(aside), err)
	}
	// Removing steps over the gap.
	if err := q.Remove(6); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, q); len(got) != 2 || got[0].Seq != 7 {
		t.Fatalf("after Remove(6): %v", got)
	}
}

// putLegacy writes an entry the way the bbolt buffer did: one key for a
// short entry, chunks keyed seq ‖ index for a long one.
func putLegacy(b *bolt.Bucket, seq uint64, item []byte, chunk int) error {
	key := binary.BigEndian.AppendUint64(nil, seq)
	if len(item) <= chunk {
		return b.Put(key, item)
	}
	for i := uint32(0); len(item) > 0; i++ {
		n := min(len(item), chunk)
		if err := b.Put(binary.BigEndian.AppendUint32(slices.Clone(key), i), item[:n]); err != nil {
			return err
		}
		item = item[n:]
	}
	return nil
}

// A buffer an earlier version left (the bbolt file <name>.db) is moved
// into the folder at open, entries in order with their numbers, chunked
// ones joined; the old file is gone and numbering goes on after it.
func TestOpenMovesALegacyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "splunk")
	db, err := bolt.Open(dir+".db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	err = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket(legacyBucket)
		for seq := uint64(41); seq <= 60; seq++ { // 1–40 were removed
			v := bytes.Repeat([]byte{byte(seq)}, int(seq)*97)
			want = append(want, v)
			if err := putLegacy(b, seq, v, 992); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir+migrateSuffix, 0o700) // a migration a crash cut short
	os.WriteFile(filepath.Join(dir+migrateSuffix, segName(41)), []byte("half"), 0o600)

	q := open(t, dir, 8<<20)
	got := readAll(t, q)
	if len(got) != len(want) {
		t.Fatalf("moved %d entries, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.Seq != uint64(41+i) || !bytes.Equal(e.Data, want[i]) {
			t.Fatalf("entry %d is seq %d, %d bytes", i, e.Seq, len(e.Data))
		}
	}
	for _, gone := range []string{dir + ".db", dir + migrateSuffix} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Fatalf("%s still there (%v)", filepath.Base(gone), err)
		}
	}
	if err := q.Append(context.Background(), items(0, 1)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, q); got[len(got)-1].Seq != 61 {
		t.Fatalf("appended as %d, want 61", got[len(got)-1].Seq)
	}
	q.Close()
	// A leftover old file beside a moved folder (a crash after the
	// rename) is deleted, not moved again.
	os.WriteFile(dir+".db", []byte("leftover"), 0o600)
	q = open(t, dir, 8<<20)
	defer q.Close()
	if q.Len() != 21 {
		t.Fatalf("reopened with %d entries, want 21", q.Len())
	}
	if _, err := os.Stat(dir + ".db"); !os.IsNotExist(err) {
		t.Fatal("leftover old file kept")
	}
}

// Whatever bytes a segment file holds, Open does not fail or panic, and
// reads back only whole, valid entries in order.
func FuzzOpenSegment(f *testing.F) {
	var seed []byte
	for i := range 3 {
		seed = appendFrame(seed, uint64(7+i), []byte(fmt.Sprintf("record-%d", i)))
	}
	f.Add(seed, uint64(0))
	f.Add(seed[:len(seed)-3], uint64(7))
	f.Add(append(slices.Clone(seed), 0xff, 0xff, 0xff, 0x7f), uint64(100))
	f.Fuzz(func(t *testing.T, data []byte, acked uint64) {
		dir := filepath.Join(t.TempDir(), "q")
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, segName(7)), data, 0o600)
		os.WriteFile(filepath.Join(dir, ackName), ackRecord(acked%16), 0o600)
		q, err := Open(dir, MinMaxBytes)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		prev := uint64(0)
		for _, e := range readAll(t, q) {
			if e.Seq <= prev || e.Seq <= acked%16 {
				t.Fatalf("entry %d after %d (acked %d)", e.Seq, prev, acked%16)
			}
			prev = e.Seq
		}
		if err := q.Append(context.Background(), items(0, 2)); err != nil {
			t.Fatal(err)
		}
	})
}
