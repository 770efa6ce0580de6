package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// A store that was missing or emptied is Fresh; one with data is not. A
// data directory with anything else in it has been used.
func TestFreshStoreAndUsedDataDir(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Fresh() || DataDirUsed(dir) {
		t.Errorf("new store: Fresh=%v DataDirUsed=%v, want true, false", s.Fresh(), DataDirUsed(dir))
	}
	if err := s.Put("checkpoints", "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir); err != nil || s.Fresh() {
		t.Fatalf("reopened store: Fresh=%v err=%v, want false", s != nil && s.Fresh(), err)
	}
	s.Close()
	// Emptied to 0 bytes, in a directory an agent has used.
	if err := os.Truncate(filepath.Join(dir, FileName), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dead-letter.jsonl"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if found, err := Inspect(dir, func(*Reader) error { return nil }); found || err != nil {
		t.Errorf("Inspect of an empty store: found=%v err=%v, want not found", found, err)
	}
	if s, err = Open(dir); err != nil || !s.Fresh() || !DataDirUsed(dir) {
		t.Fatalf("emptied store: Fresh=%v DataDirUsed=%v err=%v, want true, true", s != nil && s.Fresh(), DataDirUsed(dir), err)
	}
	s.Close()
}

// A store whose freelist page is damaged is an error naming the file,
// not a panic (bbolt panics on a freelist page of an unknown type).
func TestDamagedStoreIsAnErrorNamingTheFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := s.Put("checkpoints", fmt.Sprint(i), bytes.Repeat([]byte{'x'}, 500)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Both meta pages (0 and 1) name a freelist page: give each an
	// unknown page type. Meta: 16-byte page header, magic, version, page
	// size, flags, root bucket (16), then the freelist's page id.
	for meta := range 2 {
		head := make([]byte, 64)
		if _, err := f.ReadAt(head, int64(meta*os.Getpagesize())); err != nil {
			t.Fatal(err)
		}
		pageSize := int64(binary.LittleEndian.Uint32(head[24:]))
		freelist := int64(binary.LittleEndian.Uint64(head[48:]))
		if _, err := f.WriteAt([]byte{0xff, 0xff}, freelist*pageSize+8); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	_, err = Open(dir)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of a damaged store: %v, want ErrDamaged naming %s", err, path)
	}
}
