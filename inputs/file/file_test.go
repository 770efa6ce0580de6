package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/store"
)

type badRecord struct{ origin, reason string }

// sink is a fake runner: it collects what the input emits and commits the
// first `commits` batches (all of them when commits < 0).
type sink struct {
	mu      sync.Mutex
	commits int
	batches []*batch.Batch
	bad     []badRecord
	arrived chan struct{}
	keep    bool // keep batches; the memory test drops them
	count   int
	onEmit  func(*batch.Batch)
}

func newSink(commits int) *sink {
	return &sink{commits: commits, keep: true, arrived: make(chan struct{}, 1)}
}

func (s *sink) emit(ctx context.Context, b *batch.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	n := s.count
	s.count++
	if s.keep {
		s.batches = append(s.batches, b)
	}
	onEmit := s.onEmit
	s.mu.Unlock()
	if onEmit != nil {
		onEmit(b)
	}
	if s.commits < 0 || n < s.commits {
		if err := b.Commit(); err != nil {
			return err
		}
	}
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (s *sink) reject(origin string, data []byte, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bad = append(s.bad, badRecord{origin, reason})
}

func (s *sink) items() []batch.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []batch.Item
	for _, b := range s.batches {
		out = append(out, b.Items...)
	}
	return out
}

func (s *sink) badRecords() []badRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]badRecord(nil), s.bad...)
}

// recordID is the Graph id, or the diagnostic envelope's properties.id.
func recordID(t testing.TB, data []byte) string {
	t.Helper()
	var r struct {
		ID         string `json:"id"`
		Properties struct {
			ID string `json:"id"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("item is not a JSON object: %v: %.200s", err, data)
	}
	if r.ID == "" {
		return r.Properties.ID
	}
	return r.ID
}

func ids(t testing.TB, items []batch.Item) []string {
	t.Helper()
	out := []string{}
	for _, it := range items {
		out = append(out, recordID(t, it.Data))
	}
	return out
}

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// run reads cfg once, to the end, into a new sink.
func run(t testing.TB, st *store.Store, cfg Config, commits int) *sink {
	t.Helper()
	s := newSink(commits)
	in, err := New("test", cfg, st, nil, s.reject)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.Run(ctx, s.emit); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run did not finish")
	}
	return s
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func td(name string) string { return filepath.Join("testdata", name) }

func TestFormats(t *testing.T) {
	tests := []struct {
		name    string
		paths   []string
		exclude []string
		want    []string
		origins map[int]string // item index → origin
		bad     []string       // origins reported bad
		badWhy  string         // substring of every bad reason
	}{
		{name: "json lines", paths: []string{td("signins.jsonl")}, want: seq("l", 1, 5),
			origins: map[int]string{0: td("signins.jsonl:1"), 1: td("signins.jsonl:2"), 2: td("signins.jsonl:4"), 4: td("signins.jsonl:6")}},
		{name: "gzip json lines", paths: []string{td("signins.jsonl.gz")}, want: seq("l", 1, 5),
			origins: map[int]string{4: td("signins.jsonl.gz:6")}},
		{name: "array", paths: []string{td("array.json")}, want: seq("a", 1, 3),
			origins: map[int]string{0: td("array.json:record 1"), 2: td("array.json:record 3")}},
		{name: "pretty array", paths: []string{td("array_pretty.json")}, want: seq("ap", 1, 3),
			origins: map[int]string{1: td("array_pretty.json:record 2")}},
		{name: "array with byte-order mark", paths: []string{td("bom_array.json")}, want: seq("bom", 1, 2)},
		{name: "pretty graph page", paths: []string{td("page.json")}, want: seq("p", 1, 3),
			origins: map[int]string{2: td("page.json:record 3")}},
		{name: "gzip graph page", paths: []string{td("page.json.gz")}, want: seq("p", 1, 3)},
		{name: "gzip detected by content", paths: []string{td("export.bin")}, want: seq("x", 1, 2)},
		{name: "one-line graph page", paths: []string{td("page_compact.json")}, want: seq("pc", 1, 2),
			origins: map[int]string{1: td("page_compact.json:1 record 2")}},
		{name: "pretty records envelope", paths: []string{td("envelope.json")}, want: seq("e", 1, 4)},
		{name: "event hubs lines", paths: []string{td("eventhubs.jsonl")}, want: []string{"h11", "h12", "h13", "h21", "h22", "h23"},
			origins: map[int]string{5: td("eventhubs.jsonl:2 record 3")}},
		{name: "single document", paths: []string{td("single.json")}, want: []string{"s1"},
			origins: map[int]string{0: td("single.json:record 1")}},
		{name: "concatenated documents", paths: []string{td("concat.json")}, want: []string{"c1", "c2"}},
		{name: "glob", paths: []string{td("signins.json*")}, want: append(seq("l", 1, 5), seq("l", 1, 5)...)},
		{name: "glob with exclude", paths: []string{td("dir/*.json")}, exclude: []string{"skip*"}, want: []string{"d1", "d2"}},
		{name: "directory", paths: []string{td("dir")}, exclude: []string{"skip.*"}, want: seq("d", 1, 4)},
		{name: "same file twice is read once", paths: []string{td("array.json"), td("array.js*")}, want: seq("a", 1, 3)},
		{name: "bad lines", paths: []string{td("bad_line.jsonl")}, want: []string{"b1", "b2", "b5"},
			origins: map[int]string{2: td("bad_line.jsonl:5")},
			bad:     []string{td("bad_line.jsonl:3"), td("bad_line.jsonl:4")}, badWhy: "not valid JSON"},
		{name: "storage blob envelope, a record a line", paths: []string{td("storage_blob.json")}, want: seq("sb", 1, 3)},
		{name: "storage blob envelope with one record", paths: []string{td("storage_blob_one.json")}, want: []string{"sb1"}},
		{name: "broken first line", paths: []string{td("bad_first_line.jsonl")}, want: []string{"k1", "k2"},
			bad: []string{td("bad_first_line.jsonl:1")}, badWhy: "not valid JSON"},
		{name: "json lines with byte-order mark", paths: []string{td("bom_lines.jsonl")}, want: []string{"m1", "m2"},
			origins: map[int]string{0: td("bom_lines.jsonl:1")}},
		{name: "literal name that looks like a glob", paths: []string{td("export[1].json")}, want: []string{"q1"}},
		{name: "broken array", paths: []string{td("broken_array.json"), td("array.json")}, want: append(seq("br", 1, 2), seq("a", 1, 3)...),
			bad: []string{td("broken_array.json:record 3")}, badWhy: "byte offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := run(t, nil, Config{Paths: tt.paths, Exclude: tt.exclude, BatchSize: 2}, -1)
			items := s.items()
			if got := ids(t, items); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("records = %v, want %v", got, tt.want)
			}
			for i, want := range tt.origins {
				if i >= len(items) || items[i].Origin != want {
					t.Errorf("origin of record %d = %q, want %q", i, items[min(i, len(items)-1)].Origin, want)
				}
			}
			for _, it := range items {
				if !json.Valid(it.Data) || bytes.ContainsAny(it.Data, "\r\n") {
					t.Errorf("%s: item is not one line of valid JSON: %q", it.Origin, it.Data)
				}
			}
			var badOrigins []string
			for _, b := range s.badRecords() {
				badOrigins = append(badOrigins, b.origin)
				if !strings.Contains(b.reason, tt.badWhy) {
					t.Errorf("bad reason %q does not mention %q", b.reason, tt.badWhy)
				}
			}
			if !reflect.DeepEqual(badOrigins, tt.bad) {
				t.Errorf("bad records = %v, want %v", badOrigins, tt.bad)
			}
			for _, b := range s.batches {
				if len(b.Items) > 2 || b.Input != "test" {
					t.Errorf("batch of %d items from %q, want at most 2 from test", len(b.Items), b.Input)
				}
			}
		})
	}
}

// TestPrettyRecordsKeepTheirContent checks that compacting a pretty record
// changes whitespace only.
func TestPrettyRecordsKeepTheirContent(t *testing.T) {
	src, err := os.ReadFile(td("array_pretty.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []json.RawMessage
	if err := json.Unmarshal(src, &want); err != nil {
		t.Fatal(err)
	}
	items := run(t, nil, Config{Paths: []string{td("array_pretty.json")}}, -1).items()
	if len(items) != len(want) {
		t.Fatalf("%d records, want %d", len(items), len(want))
	}
	for i := range want {
		var compact bytes.Buffer
		_ = json.Compact(&compact, want[i])
		if !bytes.Equal(items[i].Data, compact.Bytes()) {
			t.Errorf("record %d:\n got %s\nwant %s", i+1, items[i].Data, compact.Bytes())
		}
	}
}

func TestItemsOwnTheirBytes(t *testing.T) {
	items := run(t, nil, Config{Paths: []string{td("signins.jsonl"), td("array_pretty.json")}, BatchSize: 1}, -1).items()
	for i, a := range items {
		for j, b := range items {
			if i != j && cap(a.Data) > 0 && cap(b.Data) > 0 && &a.Data[:cap(a.Data)][cap(a.Data)-1] == &b.Data[:cap(b.Data)][cap(b.Data)-1] {
				t.Fatalf("items %d and %d share memory", i, j)
			}
		}
	}
	if got := ids(t, items); !reflect.DeepEqual(got, append(seq("l", 1, 5), seq("ap", 1, 3)...)) {
		t.Fatalf("records = %v", got)
	}
}

func TestOversizeRecordsAreReportedAndSkipped(t *testing.T) {
	dir := t.TempDir()
	big := `{"id":"big","pad":"` + strings.Repeat("x", 300) + `"}`
	lines := filepath.Join(dir, "lines.jsonl")
	writeFile(t, lines, `{"id":"o1"}`+"\n"+big+"\n"+`{"id":"o2"}`+"\n")
	array := filepath.Join(dir, "array.json")
	writeFile(t, array, "[\n  {\"id\": \"o3\"},\n  "+big+",\n  {\"id\": \"o4\"}\n]\n")
	s := run(t, nil, Config{Paths: []string{lines, array}, MaxRecordBytes: 200}, -1)
	if got, want := ids(t, s.items()), seq("o", 1, 4); !reflect.DeepEqual(got, want) {
		t.Errorf("records = %v, want %v", got, want)
	}
	want := []string{lines + ":2", array + ":record 2"}
	var got []string
	for _, b := range s.badRecords() {
		got = append(got, b.origin)
		if !strings.Contains(b.reason, "max_record_bytes") {
			t.Errorf("reason %q", b.reason)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bad = %v, want %v", got, want)
	}
}

func TestUnreadableFilesAreReportedOnce(t *testing.T) {
	dir := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(strings.Repeat(`{"id":"t1"}`+"\n", 3000)))
	_ = zw.Close()
	files := map[string][]byte{
		"binary.json":    {0x00, 0x01, 0x02, 'x', '\n', 0x00, 0xff},
		"utf16.json":     {0xff, 0xfe, '[', 0, ']', 0},
		"truncated.gz":   gz.Bytes()[:gz.Len()*2/3],
		"corrupt.gz":     append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, bytes.Repeat([]byte{0xff}, 64)...),
		"badheader":      {0x1f, 0x8b, 0x99, 0, 0, 0, 0, 0, 0, 0xff, 1, 2},
		"shortgzip":      {0x1f, 0x8b, 0x08},
		"unterminated":   []byte("[{\"id\":\"u1\"}, {\"id\":"),
		"empty.json":     {},
		"whitespace.log": []byte("\n  \n\t\n"),
	}
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), string(data))
	}
	s := run(t, nil, Config{Paths: []string{filepath.Join(dir, "*")}}, -1)
	got := map[string]string{}
	for _, b := range s.badRecords() {
		base, _, _ := strings.Cut(filepath.Base(b.origin), ":")
		if _, dup := got[base]; dup {
			t.Errorf("%s reported twice", base)
		}
		got[base] = b.reason
	}
	for name, want := range map[string]string{
		"binary.json":  "binary",
		"utf16.json":   "UTF-16",
		"corrupt.gz":   "decompress",
		"badheader":    "decompress",
		"shortgzip":    "truncated",
		"unterminated": "unexpected end",
	} {
		if !strings.Contains(got[name], want) {
			t.Errorf("%s: reason %q, want it to mention %q", name, got[name], want)
		}
		delete(got, name)
	}
	for name, reason := range got {
		if name != "truncated.gz" || !strings.Contains(reason, "truncated") {
			t.Errorf("unexpected bad report %s: %s", name, reason)
		}
	}
	n := 0
	for _, it := range s.items() {
		switch recordID(t, it.Data) {
		case "t1":
			n++
		case "u1":
		default:
			t.Errorf("unexpected record %s", it.Data)
		}
	}
	if n == 0 || n >= 3000 {
		t.Errorf("truncated gzip gave %d records, want those before the cut", n)
	}
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t testing.TB, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.String()
}

// resumeFormats render records as each format; n records each.
var resumeFormats = []struct {
	name   string
	file   string
	render func(ids []string) string
}{
	{"json lines", "r.jsonl", func(ids []string) string {
		var b strings.Builder
		for i, id := range ids {
			if i == 3 {
				b.WriteString("\n") // a blank line
			}
			fmt.Fprintf(&b, "{\"id\":%q}\n", id)
		}
		return b.String()
	}},
	{"gzip json lines", "r.jsonl.gz", func(ids []string) string {
		var b strings.Builder
		for _, id := range ids {
			fmt.Fprintf(&b, "{\"id\":%q}\n", id)
		}
		return gzipped(b.String())
	}},
	{"envelope lines", "r.ndjson", func(ids []string) string {
		// Three records a line, batches of two: batches end inside lines.
		var b strings.Builder
		for i := 0; i < len(ids); i += 3 {
			var recs []string
			for _, id := range ids[i:min(i+3, len(ids))] {
				recs = append(recs, fmt.Sprintf("{\"id\":%q}", id))
			}
			fmt.Fprintf(&b, "{\"records\":[%s]}\n", strings.Join(recs, ","))
		}
		return b.String()
	}},
	{"pretty array", "r.json", func(ids []string) string {
		var recs []map[string]string
		for _, id := range ids {
			recs = append(recs, map[string]string{"id": id})
		}
		out, _ := json.MarshalIndent(recs, "", "  ")
		return string(out)
	}},
	{"gzip graph page", "r.json.gz", func(ids []string) string {
		var recs []map[string]string
		for _, id := range ids {
			recs = append(recs, map[string]string{"id": id})
		}
		out, _ := json.MarshalIndent(map[string]any{"@odata.context": "x", "value": recs}, "", "  ")
		return gzipped(string(out))
	}},
}

func TestResumeAfterPartialCommit(t *testing.T) {
	for _, f := range resumeFormats {
		t.Run(f.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openStore(t, filepath.Join(dir, "data"))
			path := filepath.Join(dir, f.file)
			all := seq("r", 1, 10)
			writeFile(t, path, f.render(all))
			cfg := Config{Paths: []string{path}, BatchSize: 2}

			first := run(t, st, cfg, 2)
			if got := ids(t, first.items()); !reflect.DeepEqual(got, all) || len(first.batches) != 5 {
				t.Fatalf("first run: %d batches %v", len(first.batches), got)
			}
			// Restarted: everything after the two committed batches again.
			second := run(t, st, cfg, -1)
			if got := ids(t, second.items()); !reflect.DeepEqual(got, all[4:]) {
				t.Fatalf("after restart = %v, want %v", got, all[4:])
			}
			// Complete and unchanged: skipped.
			if third := run(t, st, cfg, -1); len(third.items()) != 0 {
				t.Fatalf("completed file read again: %v", ids(t, third.items()))
			}
			// Replaced by other content: read again from the start.
			other := seq("n", 1, 3)
			writeFile(t, path, f.render(other))
			if got := ids(t, run(t, st, cfg, -1).items()); !reflect.DeepEqual(got, other) {
				t.Fatalf("replaced file = %v, want %v", got, other)
			}
		})
	}
}

func TestResumeWithNothingCommitted(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	path := filepath.Join(dir, "a.jsonl")
	writeFile(t, path, resumeFormats[0].render(seq("r", 1, 5)))
	cfg := Config{Paths: []string{path}, BatchSize: 2}
	run(t, st, cfg, 0)
	if got := ids(t, run(t, st, cfg, -1).items()); !reflect.DeepEqual(got, seq("r", 1, 5)) {
		t.Fatalf("got %v", got)
	}
}

func TestCheckpointKeyAndGrowthAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "data"))
	path := filepath.Join(dir, "grow.jsonl")
	writeFile(t, path, `{"id":"g1"}`+"\n")
	cfg := Config{Paths: []string{path}}
	run(t, st, cfg, -1)
	raw, err := st.Get("checkpoints", "file/test/"+path)
	if err != nil || raw == nil {
		t.Fatalf("no checkpoint under file/test/%s: %v", path, err)
	}
	var cp checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		t.Fatal(err)
	}
	if !cp.Complete || cp.Records != 1 || cp.Offset != 12 || cp.Format != formatLines || cp.FingerprintLen != 12 {
		t.Fatalf("checkpoint = %+v", cp)
	}
	// A small file that grows keeps its identity and is read from where it
	// stopped, even though its first KiB changed.
	appendFile(t, path, `{"id":"g2"}`+"\n"+`{"id":"g3"}`+"\n")
	if got := ids(t, run(t, st, cfg, -1).items()); !reflect.DeepEqual(got, []string{"g2", "g3"}) {
		t.Fatalf("after growth = %v", got)
	}
	// Truncated and rewritten shorter: from the start.
	writeFile(t, path, `{"id":"g1"}`+"\n")
	if got := ids(t, run(t, st, cfg, -1).items()); !reflect.DeepEqual(got, []string{"g1"}) {
		t.Fatalf("after truncation = %v", got)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "data"))
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(logs, "a.jsonl")
	writeFile(t, a, `{"id":"w1"}`+"\n"+`{"id":"w2"}`+"\n")

	s := newSink(-1)
	in, err := New("test", Config{Paths: []string{logs}, Watch: 10 * time.Millisecond}, st, nil, s.reject)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, s.emit) }()

	waitFor := func(want []string) {
		t.Helper()
		deadline := time.After(3 * time.Second)
		for {
			if got := ids(t, s.items()); reflect.DeepEqual(got, want) {
				return
			} else if len(got) > len(want) {
				t.Fatalf("records = %v, want %v", got, want)
			}
			select {
			case <-s.arrived:
			case <-time.After(20 * time.Millisecond):
			case <-deadline:
				t.Fatalf("records = %v, want %v", ids(t, s.items()), want)
			}
		}
	}
	waitFor([]string{"w1", "w2"})
	// Appended lines, the last one still being written.
	appendFile(t, a, `{"id":"w3"}`+"\n"+`{"id":"w4",`)
	waitFor([]string{"w1", "w2", "w3"})
	time.Sleep(50 * time.Millisecond)
	appendFile(t, a, `"x":1}`+"\n")
	waitFor([]string{"w1", "w2", "w3", "w4"})
	// A new file, written in two steps.
	b := filepath.Join(logs, "b.json")
	writeFile(t, b, "[\n  {\"id\": \"w5\"},\n  {\"id\": \"w6\"")
	time.Sleep(50 * time.Millisecond)
	appendFile(t, b, "}\n]\n")
	waitFor([]string{"w1", "w2", "w3", "w4", "w5", "w6"})
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := ids(t, s.items()); len(got) != 6 {
		t.Fatalf("records = %v", got)
	}
	if bad := s.badRecords(); len(bad) != 0 {
		t.Fatalf("half-written records reported bad: %v", bad)
	}
	// Everything was committed: a restart reads nothing.
	if got := run(t, st, Config{Paths: []string{logs}}, -1).items(); len(got) != 0 {
		t.Fatalf("restart re-read %v", ids(t, got))
	}
}

func TestEmitErrors(t *testing.T) {
	cfg := Config{Paths: []string{td("signins.jsonl")}, BatchSize: 1}
	in, err := New("test", cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("pipeline closed")
	calls := 0
	err = in.Run(context.Background(), func(context.Context, *batch.Batch) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("Run = %v after %d emits, want the emit error after 1", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err = in.Run(ctx, func(ctx context.Context, _ *batch.Batch) error { calls++; cancel(); return ctx.Err() })
	if err != nil || calls != 1 {
		t.Fatalf("Run = %v after %d emits, want nil after 1 once cancelled", err, calls)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "paths: at least one path is required"},
		{Config{Paths: []string{" "}}, "paths[0]: empty path"},
		{Config{Paths: []string{"logs/[a-"}}, "paths[0]: \"logs/[a-\" is not a valid glob"},
		{Config{Paths: []string{"x"}, Exclude: []string{"a/b"}}, "exclude[0]"},
		{Config{Paths: []string{"x"}, Exclude: []string{"[z"}}, "exclude[0]: \"[z\" is not a valid glob"},
		{Config{Paths: []string{"x"}, BatchSize: -1}, "batch_size: must be positive"},
		{Config{Paths: []string{"x"}, Watch: -time.Second}, "watch: must be 0"},
		{Config{Paths: []string{"x"}, MaxRecordBytes: -1}, "max_record_bytes: must be positive"},
		{Config{Paths: []string{"x"}, MaxRecordBytes: 2 << 30}, "max_record_bytes: 2147483648 is over the limit"},
		{Config{Paths: []string{"x"}}, ""},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.cfg, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: error %v, want %q", tt.cfg, err, tt.want)
		}
	}
	cfg := Config{Paths: []string{"x"}}
	_ = cfg.Validate()
	if cfg.BatchSize != DefaultBatchSize || cfg.MaxRecordBytes != DefaultMaxRecordBytes {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if _, err := New("", cfg, nil, nil, nil); err == nil {
		t.Error("New accepted an empty name")
	}
}

// TestLargeFileBoundedMemory streams 200k records per format and checks
// the heap never holds more than a few batches.
func TestLargeFileBoundedMemory(t *testing.T) {
	const n = 200_000
	dir := t.TempDir()
	formats := map[string]func(*bytes.Buffer, int, bool){
		"large.jsonl": func(b *bytes.Buffer, i int, _ bool) {
			fmt.Fprintf(b, `{"id":"r%d","createdDateTime":"2024-05-01T10:00:00Z","userPrincipalName":"u%d@contoso.com"}`+"\n", i, i%97)
		},
		"large.json": func(b *bytes.Buffer, i int, last bool) {
			if i == 0 {
				b.WriteString("{\n  \"@odata.context\": \"x\",\n  \"value\": [\n")
			}
			fmt.Fprintf(b, "    {\n      \"id\": \"r%d\",\n      \"createdDateTime\": \"2024-05-01T10:00:00Z\",\n      \"userPrincipalName\": \"u%d@contoso.com\"\n    }", i, i%97)
			if last {
				b.WriteString("\n  ]\n}\n")
			} else {
				b.WriteString(",\n")
			}
		},
	}
	for name, write := range formats {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			for i := range n {
				write(&b, i, i == n-1)
			}
			path := filepath.Join(dir, name)
			writeFile(t, path, b.String())
			size := b.Len()
			b = bytes.Buffer{}

			runtime.GC()
			var peak uint64
			s := newSink(-1)
			s.keep = false
			count := 0
			s.onEmit = func(bt *batch.Batch) {
				if count%(n/1000/10) == 0 {
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
				}
				count += len(bt.Items)
			}
			in, err := New("big", Config{Paths: []string{path}}, nil, nil, s.reject)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := in.Run(context.Background(), s.emit); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			if count != n {
				t.Fatalf("%d records, want %d", count, n)
			}
			t.Logf("%d records, %d MiB in %v (%.0f records/s), peak heap in use %d MiB",
				n, size>>20, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), peak>>20)
			if peak > 64<<20 {
				t.Fatalf("peak heap in use %d MiB, want under 64 MiB", peak>>20)
			}
		})
	}
}

func benchmarkFile(b *testing.B, name string, n int, write func(*bytes.Buffer, int, bool)) {
	var buf bytes.Buffer
	for i := range n {
		write(&buf, i, i == n-1)
	}
	path := filepath.Join(b.TempDir(), name)
	writeFile(b, path, buf.String())
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for range b.N {
		in, _ := New("bench", Config{Paths: []string{path}}, nil, nil, nil)
		if err := in.Run(context.Background(), func(context.Context, *batch.Batch) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// A realistic sign-in record is about 1.5 KiB.
var benchRecord = func() string {
	m := map[string]any{
		"id": "66ea54eb-6301-4ee5-be62-ff5a759b8100", "createdDateTime": "2024-05-01T10:00:00Z",
		"userDisplayName": "Alice Admin", "userPrincipalName": "alice@contoso.com",
		"userId": "d7cc485d-2c1b-422c-98fd-5ce52859a4a3", "appId": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
		"appDisplayName": "Azure Portal", "ipAddress": "203.0.113.7", "clientAppUsed": "Browser",
		"correlationId": "d79f5bee-5860-4832-928f-3133e22ae912", "conditionalAccessStatus": "success",
		"isInteractive": true, "riskDetail": "none", "riskLevelAggregated": "none",
		"status":       map[string]any{"errorCode": 0, "failureReason": "Other.", "additionalDetails": nil},
		"deviceDetail": map[string]any{"deviceId": "", "displayName": "", "operatingSystem": "Windows 10", "browser": "Edge 124.0.0", "isCompliant": false, "isManaged": false, "trustType": ""},
		"location":     map[string]any{"city": "Zurich", "state": "Zurich", "countryOrRegion": "CH", "geoCoordinates": map[string]any{"altitude": nil, "latitude": 47.37, "longitude": 8.54}},
		"appliedConditionalAccessPolicies": []any{
			map[string]any{"id": "6b9f1a2e-1111-4a4b-9c1d-000000000001", "displayName": "Require MFA for admins", "enforcedGrantControls": []string{"Mfa"}, "enforcedSessionControls": []string{}, "result": "success"},
			map[string]any{"id": "6b9f1a2e-1111-4a4b-9c1d-000000000002", "displayName": "Block legacy authentication", "enforcedGrantControls": []string{"Block"}, "enforcedSessionControls": []string{}, "result": "notApplied"},
		},
	}
	out, _ := json.Marshal(m)
	return string(out)
}()

func BenchmarkJSONLines(b *testing.B) {
	benchmarkFile(b, "bench.jsonl", 20000, func(buf *bytes.Buffer, _ int, _ bool) {
		buf.WriteString(benchRecord)
		buf.WriteByte('\n')
	})
}

func BenchmarkPrettyArray(b *testing.B) {
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, []byte(benchRecord), "  ", "  ")
	benchmarkFile(b, "bench.json", 20000, func(buf *bytes.Buffer, i int, last bool) {
		if i == 0 {
			buf.WriteString("[\n  ")
		}
		buf.Write(pretty.Bytes())
		if last {
			buf.WriteString("\n]\n")
		} else {
			buf.WriteString(",\n  ")
		}
	})
}

func FuzzFraming(f *testing.F) {
	for _, name := range []string{"signins.jsonl", "bad_line.jsonl", "array_pretty.json", "page.json", "envelope.json",
		"eventhubs.jsonl", "single.json", "concat.json", "broken_array.json", "bom_array.json", "page_compact.json"} {
		data, err := os.ReadFile(td(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, false, uint8(0))
		f.Add(data[:len(data)/2], true, uint8(40))
	}
	f.Add([]byte(`{"value":[1,"a",{"b":[]}],"records":[null]}`), false, uint8(8))
	f.Add([]byte("[[[[[[[[[[[["), false, uint8(0))
	f.Add([]byte(`{"a":"\u12`), false, uint8(0))
	f.Add([]byte("{\"a\":1}\n{\"b\":-0.5e+3}\n[1,2]\n\"s\"\ntrue\n"), false, uint8(3))

	// One file, rewritten per input: each fuzz worker is its own process
	// and runs inputs one at a time, and a directory per input costs more
	// than the framing under test.
	path := filepath.Join(f.TempDir(), "fuzz")
	f.Fuzz(func(t *testing.T, data []byte, compress bool, limit uint8) {
		if compress {
			data = []byte(gzipped(string(data)))
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := Config{Paths: []string{path}, BatchSize: 3, MaxRecordBytes: int(limit)*16 + 16}
		in, err := New("fuzz", cfg, nil, nil, func(origin string, data []byte, reason string) {
			if !strings.HasPrefix(origin, path) || reason == "" {
				t.Errorf("bad report %q: %q", origin, reason)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- in.Run(ctx, func(_ context.Context, b *batch.Batch) error {
				for _, it := range b.Items {
					if !json.Valid(it.Data) {
						t.Errorf("%s: emitted invalid JSON %q", it.Origin, it.Data)
					}
					if len(it.Data) > cfg.MaxRecordBytes {
						t.Errorf("%s: %d bytes over the %d limit", it.Origin, len(it.Data), cfg.MaxRecordBytes)
					}
				}
				return b.Commit()
			})
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run hangs")
		}
	})
}

// TestCommitsOrderTail checks that an end-of-pass checkpoint with no batch
// of its own waits for the batches emitted before it.
func TestCommitsOrderTail(t *testing.T) {
	st := openStore(t, t.TempDir())
	in, err := New("test", Config{Paths: []string{"x"}}, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &commits{in: in, abs: "/x"}
	stored := func() int64 {
		cp, err := in.load("/x")
		if err != nil || cp == nil {
			return -1
		}
		return cp.Records
	}
	at := func(n int64) checkpoint { return checkpoint{position: position{Records: n}} }
	commit1, commit2 := c.track(at(1)), c.track(at(2))
	if err := c.finish(at(3)); err != nil || stored() != -1 {
		t.Fatalf("tail written before its batches: %v %d", err, stored())
	}
	commit4 := c.track(at(4))
	_ = commit1()
	if stored() != 1 {
		t.Fatalf("after commit 1: %d", stored())
	}
	_ = commit2()
	if stored() != 3 {
		t.Fatalf("after commit 2: %d, want the tail 3", stored())
	}
	_ = commit4()
	if stored() != 4 || c.outstanding() {
		t.Fatalf("after commit 4: %d", stored())
	}
	if err := c.finish(at(5)); err != nil || stored() != 5 {
		t.Fatalf("tail with nothing outstanding: %v %d", err, stored())
	}
}

// Progress counts bytes of the files as stored: partway while a file is
// read, all of them at the end, gzip included.
func TestProgress(t *testing.T) {
	dir := t.TempDir()
	var lines strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&lines, `{"id":"p%d","pad":"%s"}`+"\n", i, strings.Repeat("x", 100))
	}
	plain := filepath.Join(dir, "a.jsonl")
	writeFile(t, plain, lines.String())
	zipped := filepath.Join(dir, "b.json.gz")
	writeFile(t, zipped, gzipped(lines.String()))
	var total int64
	for _, p := range []string{plain, zipped} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	in, err := New("exports", Config{Paths: []string{dir}, BatchSize: 500}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var partway []int64
	emit := func(_ context.Context, b *batch.Batch) error {
		done, tot := in.Progress()
		if tot != total {
			t.Errorf("total = %d, want %d", tot, total)
		}
		partway = append(partway, done)
		return nil
	}
	if err := in.Run(context.Background(), emit); err != nil {
		t.Fatal(err)
	}
	if done, tot := in.Progress(); done != total || tot != total {
		t.Fatalf("at the end Progress = %d/%d, want %d/%d", done, tot, total, total)
	}
	if len(partway) < 4 || partway[0] <= 0 || partway[0] >= total || !slices.IsSorted(partway) {
		t.Fatalf("progress along the way: %v (total %d)", partway, total)
	}
}
