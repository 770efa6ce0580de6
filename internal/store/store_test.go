package store

import (
	"bytes"
	"fmt"
	"testing"
)

func TestPutSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("checkpoints", "file:a.json", []byte("42")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get("checkpoints", "file:a.json")
	if err != nil || !bytes.Equal(got, []byte("42")) {
		t.Fatalf("Get = %q, %v; want 42", got, err)
	}
	if got, _ := s.Get("checkpoints", "missing"); got != nil {
		t.Fatalf("missing key = %q, want nil", got)
	}
	if got, _ := s.Get("nobucket", "x"); got != nil {
		t.Fatalf("missing bucket = %q, want nil", got)
	}
	if err := s.Delete("checkpoints", "file:a.json"); err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = s.ForEach("checkpoints", func(k, v []byte) error { n++; return nil })
	if n != 0 {
		t.Fatalf("after delete %d keys remain", n)
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir); err == nil || !bytes.Contains([]byte(err.Error()), []byte("another privtrail")) {
		t.Fatalf("second Open err = %v, want lock error", err)
	}
}

// One transaction puts many values encoded into a single reused buffer,
// as the monitor state does: each key must hold its own bytes, read back
// after a reopen (no cache in between), including values larger than the
// arena's first chunk.
func TestWriterPutCopiesEachValue(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	err = s.Update(func(w *Writer) error {
		var buf, key []byte
		for i := range 300 {
			key = fmt.Appendf(key[:0], "user-%03d", i)
			buf = buf[:0]
			for j := range 1 + i%7*300 {
				buf = fmt.Appendf(buf, "%d:%d;", i, j)
			}
			want[string(key)] = bytes.Clone(buf)
			if err := w.Put("state", key, buf); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	err = s.ForEach("state", func(k, v []byte) error {
		n++
		if !bytes.Equal(v, want[string(k)]) {
			t.Errorf("%s holds %d bytes %.40q…, want %d bytes %.40q…", k, len(v), v, len(want[string(k)]), want[string(k)])
		}
		return nil
	})
	if err != nil || n != len(want) {
		t.Fatalf("read back %d keys (%v), want %d", n, err, len(want))
	}
}
