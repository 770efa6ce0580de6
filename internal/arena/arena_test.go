package arena

import (
	"bytes"
	"fmt"
	"testing"
)

func TestCopiesAreDistinctAndCapped(t *testing.T) {
	var a Arena
	var got [][]byte
	for i := range 6000 {
		got = append(got, a.Copy(fmt.Appendf(nil, "record %d %s", i, bytes.Repeat([]byte{'x'}, i%700))))
	}
	for i, b := range got {
		want := fmt.Appendf(nil, "record %d %s", i, bytes.Repeat([]byte{'x'}, i%700))
		if !bytes.Equal(b, want) {
			t.Fatalf("copy %d = %q", i, b)
		}
		if cap(b) != len(b) {
			t.Fatalf("copy %d: cap %d > len %d: an append to it would overwrite the next", i, cap(b), len(b))
		}
	}
	if len(a.held) < 2 {
		t.Fatalf("%d chunks held for ~2 MB of copies", len(a.held))
	}
}

func TestOutgrownReservation(t *testing.T) {
	var a Arena
	first := a.Copy([]byte("first"))
	// Reserve 10 bytes, append a whole chunk: the bytes land elsewhere,
	// whole, and the chunk keeps what it held.
	big := a.Append(10, func(dst []byte) []byte { return append(dst, bytes.Repeat([]byte{'b'}, ChunkSize+1)...) })
	if len(big) != ChunkSize+1 || big[0] != 'b' {
		t.Fatalf("outgrown append: len %d", len(big))
	}
	next := a.Copy([]byte("next"))
	if string(first) != "first" || string(next) != "next" {
		t.Fatalf("first %q next %q", first, next)
	}
	huge := a.Copy(bytes.Repeat([]byte{'h'}, 2*ChunkSize))
	if len(huge) != 2*ChunkSize || string(first) != "first" {
		t.Fatal("a record larger than a chunk")
	}
}

func TestReleaseReusesChunks(t *testing.T) {
	var a Arena
	a.Copy(make([]byte, 1000))
	c := a.held[0]
	a.Release()
	if len(a.held) != 0 || a.cur != nil {
		t.Fatal("Release left chunks held")
	}
	if len(*c) != 0 {
		t.Fatal("a released chunk keeps its length")
	}
	b := a.Copy([]byte("again"))
	if string(b) != "again" {
		t.Fatalf("after Release: %q", b)
	}
}

func BenchmarkCopy2K(b *testing.B) {
	line := bytes.Repeat([]byte{'x'}, 2048)
	var a Arena
	b.SetBytes(int64(len(line)))
	for i := 0; b.Loop(); i++ {
		a.Copy(line)
		if i%1000 == 999 {
			a.Release()
		}
	}
}
