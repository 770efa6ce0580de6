package deadletter

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestEntriesAreJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl", "dead-letter.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write("decode", "a.jsonl:3", "not an Entra log record", []byte(`{"hello":"world"}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("input:exports", "a.jsonl:4", "invalid JSON", []byte("{\"trunc\n\x00\xff")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, e)
	}
	if len(got) != 2 || w.Count() != 2 {
		t.Fatalf("got %d entries (count %d), want 2", len(got), w.Count())
	}
	if string(got[0].Record) != `{"hello":"world"}` || got[0].Origin != "a.jsonl:3" || got[0].Stage != "decode" {
		t.Errorf("entry 0 = %+v", got[0])
	}
	if got[1].Record != nil || got[1].RawText == "" || got[1].Reason != "invalid JSON" {
		t.Errorf("entry 1 = %+v", got[1])
	}
}
