package deadletter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
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

func TestCutReason(t *testing.T) {
	long := strings.Repeat("cannot parse array value: ", 600) + "too big depth"
	tests := []struct {
		name, in string
	}{
		{"short", "invalid JSON: unexpected end"},
		{"at the bound", strings.Repeat("x", MaxReason)},
		{"one over", strings.Repeat("x", MaxReason+1)},
		{"long", long},
		// Multi-byte characters across both cut points.
		{"multi-byte", strings.Repeat("é", 100) + strings.Repeat("😀", 200) + strings.Repeat("€", 100)},
		{"multi-byte, shifted", "a" + strings.Repeat("😀", 300) + "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CutReason(tt.in)
			if len(tt.in) <= MaxReason {
				if got != tt.in {
					t.Fatalf("a reason within the bound was changed: %q", got)
				}
				return
			}
			if len(got) > MaxReason {
				t.Errorf("%d bytes, over %d", len(got), MaxReason)
			}
			if len(got) < MaxReason-2*(utf8.UTFMax-1) {
				t.Errorf("%d bytes: cut more than a split character needs", len(got))
			}
			if !utf8.ValidString(got) {
				t.Errorf("a UTF-8 sequence was split: %q", got)
			}
			head, tail, ok := strings.Cut(got, "…")
			if !ok || !strings.HasPrefix(tt.in, head) || !strings.HasSuffix(tt.in, tail) {
				t.Errorf("not the start and end of the reason: %q", got)
			}
		})
	}
	if got := CutReason(long); !strings.HasSuffix(got, "cannot parse array value: too big depth") {
		t.Errorf("the end says what went wrong: %q", got)
	}
}

// WriteOne writes one entry to a new dead-letter file and reads the line
// back. (Exported for reason_test.go.)
func WriteOne(t testing.TB, reason string, data []byte) Entry {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dead-letter.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write("decode", "f:1", reason, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	line, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(line, []byte("\n")) != 1 || len(line) > len(data)+600 {
		t.Fatalf("not one line of about the record's size: %d bytes for %d", len(line), len(data))
	}
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestWriteCutsTheReasonKeepsTheRecord(t *testing.T) {
	data := []byte(`{"a":1}`)
	reason := "encode: " + strings.Repeat("x", 10000) + " the end"
	e := WriteOne(t, reason, data)
	if e.Reason != CutReason(reason) || !strings.HasSuffix(e.Reason, " the end") || string(e.Record) != string(data) {
		t.Errorf("entry %+v", e)
	}
}

func TestDeeperThan(t *testing.T) {
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		doc  string
		max  int
		want bool
	}{
		{`{"a":[1,{"b":2}]}`, 3, false},
		{`{"a":[1,{"b":2}]}`, 2, true},
		{`{"a":"[[[[{{{{"}`, 1, false},
		{`{"a":"\"[[[\\"}`, 1, false},
		{`["\\",[[1]]]`, 2, true},
		{`1`, 0, false},
		{nested(maxRecordDepth), maxRecordDepth, false},
		{nested(maxRecordDepth + 1), maxRecordDepth, true},
		{nested(10000), maxRecordDepth, true},
	}
	for _, tt := range tests {
		if got := deeperThan([]byte(tt.doc), tt.max); got != tt.want {
			t.Errorf("deeperThan(%.40s, %d) = %v, want %v", tt.doc, tt.max, got, tt.want)
		}
	}
	// A record as deep as Decode accepts is written as JSON.
	if e := WriteOne(t, "r", []byte(nested(300))); string(e.Record) != nested(300) {
		t.Errorf("300-deep record: %+v", e)
	}
}
