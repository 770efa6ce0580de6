package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/logbuf"
	"github.com/privtrail/privtrail/internal/tmpfs"
)

const failuresPipeline = `
name: full
monitors:
  - id: test.failures
    title: Three wrong passwords
    risk: high
    source: signin
    when: signin.errorCode == 50126
    reason: [actor.upn]
    threshold: {count: 3, window: 10m}
`

// outputIDs are the record IDs of an output file, in order, and the IDs of
// those that carry the monitor's hit.
func outputIDs(t *testing.T, path string) (ids, hits []string) {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id := sc.Text()[len(`{"id":"`):]
		id = id[:strings.IndexByte(id, '"')]
		ids = append(ids, id)
		if strings.Contains(sc.Text(), `"test.failures"`) {
			hits = append(hits, id)
		}
	}
	return ids, hits
}

// The data directory fills up while records flow. The pipeline must not
// forward a batch whose monitor state could not be stored (a checkpoint
// past it would lose that state to a restart for good): it holds, and a
// stop while it holds says that work was left for the next start. Once
// space returns, the next run delivers everything, and every user's third
// wrong password fires exactly once: no state was lost.
func TestFullDataDirHoldsThePipelineUntilStateIsStored(t *testing.T) {
	disk := tmpfs.Mount(t, 2<<20)
	dir := t.TempDir()
	const users, each = 600, 3
	var first, rest bytes.Buffer
	n := 0
	for u := range users {
		for range each {
			line := graphSignIn(fmt.Sprintf("f-%05d", n), fmt.Sprintf("u%04d", u), time.Duration(n)*time.Second, 50126)
			if u < 100 {
				first.Write(line)
			} else {
				rest.Write(line)
			}
			n++
		}
	}
	for name, data := range map[string][]byte{"first.jsonl": first.Bytes(), "rest.jsonl": rest.Bytes(), "full.yaml": []byte(failuresPipeline)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out.jsonl")
	config := func(input string) *Config {
		t.Helper()
		cfg, err := ParseConfig(filepath.Join(dir, "privtrail.yaml"), []byte(fmt.Sprintf(`data_dir: %s
inputs:
  - {name: exports, file: {paths: [%s], batch_size: 100}}
outputs:
  - {name: out, file: {path: %s}}
pipelines: [full.yaml]
`, disk.Dir, input, out)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	run := func(ctx context.Context, input string, log *logbuf.Buffer) error {
		return New(config(input), slog.New(slog.NewTextHandler(log, nil))).Run(ctx)
	}

	var log logbuf.Buffer
	if err := run(context.Background(), "first.jsonl", &log); err != nil {
		t.Fatalf("first run: %v\n%s", err, log.String())
	}
	disk.Fill()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	held := New(config("rest.jsonl"), slog.New(slog.NewTextHandler(&log, nil)))
	go func() { done <- held.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(log.String(), "monitor state not stored; the pipeline waits until it is") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the full disk never held the pipeline:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// /readyz says so, with the pipeline and the reason.
	rec := httptest.NewRecorder()
	(&ops{a: held}).readyz(rec, httptest.NewRequest("GET", "/readyz", nil))
	if body := rec.Body.String(); rec.Code != 503 || !strings.Contains(body, "pipeline full: monitor state not stored for") ||
		!strings.Contains(body, "free space under data_dir") {
		t.Errorf("/readyz while the state cannot be stored: %d %s", rec.Code, body)
	}
	delivered, _ := outputIDs(t, out)
	time.Sleep(500 * time.Millisecond)
	if later, _ := outputIDs(t, out); len(later) != len(delivered) {
		t.Errorf("records went on to the output while the state could not be stored: %d, then %d", len(delivered), len(later))
	}
	if len(delivered) >= users*each {
		t.Fatalf("all %d records were delivered before the disk filled: the test proves nothing", len(delivered))
	}
	cancel()
	if err := <-done; !errors.Is(err, ErrUnfinished) || !strings.Contains(err.Error(), "monitor state not stored") {
		t.Errorf("a stop while holding returned %v, want ErrUnfinished naming the state", err)
	}

	disk.Free()
	if err := run(context.Background(), "rest.jsonl", &log); err != nil {
		t.Fatalf("after space returned: %v", err)
	}
	ids, hits := outputIDs(t, out)
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	if len(seen) != users*each {
		t.Errorf("%d distinct records delivered, want %d", len(seen), users*each)
	}
	fired := map[string]int{}
	for _, id := range hits {
		fired[id]++
	}
	if len(fired) != users {
		t.Errorf("%d records fired, want %d: one per user, on the third wrong password", len(fired), users)
	}
	for id := range fired {
		var k int
		fmt.Sscanf(id, "f-%05d", &k)
		if k%each != each-1 {
			t.Errorf("%s fired: not a user's third wrong password", id)
		}
	}
}

// A store emptied (or deleted) in a data directory the agent has used
// means every input reads its sources again: the run says so at error
// level and in a metric, instead of re-sending everything without a word.
func TestLostStoreIsSaidLoudly(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, graphSignIn("s-1", "alice", 0, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("name: p\nmonitors: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	cfg, err := ParseConfig(filepath.Join(dir, "privtrail.yaml"), []byte(fmt.Sprintf(
		"data_dir: %s\ninputs:\n  - {name: in, file: {paths: [%s]}}\noutputs:\n  - {name: out, file: {path: %s}}\npipelines: [p.yaml]\n",
		data, in, filepath.Join(dir, "out.jsonl"))))
	if err != nil {
		t.Fatal(err)
	}
	runOnce := func() (string, *Agent) {
		var log logbuf.Buffer
		a := New(cfg, slog.New(slog.NewTextHandler(&log, nil)))
		if err := a.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return log.String(), a
	}
	gauge := func(a *Agent) float64 {
		mfs, err := a.m.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "privtrail_store_started_empty" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no privtrail_store_started_empty metric")
		return 0
	}
	const said = "its store was missing or empty"
	if log, a := runOnce(); strings.Contains(log, said) || gauge(a) != 0 {
		t.Errorf("a first start in a new data directory is no loss:\n%s", log)
	}
	if err := os.Truncate(filepath.Join(data, "privtrail.db"), 0); err != nil {
		t.Fatal(err)
	}
	if log, a := runOnce(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, said) || gauge(a) != 1 {
		t.Errorf("a start with the store emptied went unsaid:\n%s", log)
	}
}
