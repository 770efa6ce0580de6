package store

import (
	"bytes"
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
