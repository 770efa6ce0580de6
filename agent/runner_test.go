package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	fileoutput "github.com/privtrail/privtrail/outputs/file"
)

func signIn(n int) []byte {
	return fmt.Appendf(nil, `{"id":"id-%d","createdDateTime":"2026-03-02T08:%02d:%02d.1234567Z","userId":"u-%d","userPrincipalName":"user%d@contoso.example","status":{"errorCode":0},"isInteractive":true,"clientAppUsed":"Browser","ipAddress":"203.0.113.%d"}`,
		n, (n/60)%60, n%60, n%7, n%7, n%250)
}

// sliceInput emits fixed batches and records the order of commits.
type sliceInput struct {
	batches [][]batch.Item
	mu      sync.Mutex
	commits []int
}

func (in *sliceInput) Run(ctx context.Context, emit func(context.Context, *batch.Batch) error) error {
	for i, items := range in.batches {
		b := &batch.Batch{Items: items, Commit: func() error {
			in.mu.Lock()
			in.commits = append(in.commits, i)
			in.mu.Unlock()
			return nil
		}}
		if err := emit(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func (in *sliceInput) committed() []int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.commits)
}

// holdOutput keeps every batch until release, then acknowledges them in
// reverse order: the worst case for in-order checkpoints.
type holdOutput struct {
	mu      sync.Mutex
	held    []*batch.Batch
	arrived chan struct{}
}

func (o *holdOutput) Consume(_ context.Context, b *batch.Batch) error {
	o.mu.Lock()
	o.held = append(o.held, b)
	o.mu.Unlock()
	o.arrived <- struct{}{}
	return nil
}

func (o *holdOutput) release(idx ...int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, i := range idx {
		o.held[i].Ack()
	}
}

func (o *holdOutput) Close(context.Context) error { return nil }

type recordingOutput struct {
	mu    sync.Mutex
	lines []string
}

func (o *recordingOutput) Consume(_ context.Context, b *batch.Batch) error {
	o.mu.Lock()
	for _, j := range b.JSON {
		o.lines = append(o.lines, string(j))
	}
	o.mu.Unlock()
	b.Ack()
	return nil
}

func (o *recordingOutput) Close(context.Context) error { return nil }

func TestCheckpointWaitsForEveryOutputInOrder(t *testing.T) {
	in := &sliceInput{}
	for i := range 5 {
		in.batches = append(in.batches, []batch.Item{{Data: signIn(i), Origin: fmt.Sprint("b", i)}})
	}
	fast := &recordingOutput{}
	slow := &holdOutput{arrived: make(chan struct{}, 5)}
	h := newHarness(t, "", in, fast, slow)
	done := make(chan error, 1)
	go func() { done <- h.run(context.Background()) }()
	for range 5 {
		<-slow.arrived
	}
	// The fast output has everything; the slow one nothing acknowledged.
	time.Sleep(20 * time.Millisecond)
	if c := in.committed(); len(c) != 0 {
		t.Fatalf("committed %v before the slow output acknowledged anything", c)
	}
	slow.release(4, 3, 1) // out of order, with a gap at 0 and 2
	time.Sleep(20 * time.Millisecond)
	if c := in.committed(); len(c) != 0 {
		t.Fatalf("committed %v while batch 0 is unacknowledged", c)
	}
	slow.release(0)
	waitFor(t, func() bool { return len(in.committed()) == 2 })
	if c := in.committed(); !slices.Equal(c, []int{0, 1}) {
		t.Fatalf("commits = %v, want [0 1] (batch 2 still held)", c)
	}
	slow.release(2)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := in.committed(); !slices.Equal(c, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("commits = %v, want 0..4 in order", c)
	}
	if len(fast.lines) != 5 {
		t.Fatalf("fast output got %d records, want 5", len(fast.lines))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOutputsReceiveBatchesInInputOrder(t *testing.T) {
	in := &sliceInput{}
	n := 0
	for range 200 {
		var items []batch.Item
		for range 7 {
			items = append(items, batch.Item{Data: signIn(n), Origin: fmt.Sprint(n)})
			n++
		}
		in.batches = append(in.batches, items)
	}
	out := &recordingOutput{}
	h := newHarness(t, "", in, out)
	h.workers = 4
	if err := h.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(out.lines) != n {
		t.Fatalf("got %d records, want %d", len(out.lines), n)
	}
	for i, line := range out.lines {
		if !strings.Contains(line, fmt.Sprintf(`"id":"id-%d"`, i)) {
			t.Fatalf("record %d out of order: %.60s", i, line)
		}
	}
}

func TestBadRecordsGoToDeadLetterAndPipelineContinues(t *testing.T) {
	in := &sliceInput{batches: [][]batch.Item{{
		{Data: signIn(1), Origin: "x.jsonl:1"},
		{Data: []byte(`{"truncated":`), Origin: "x.jsonl:2"},
		{Data: []byte(`{"hello":"world"}`), Origin: "x.jsonl:3"},
		{Data: signIn(4), Origin: "x.jsonl:4"},
	}}}
	out := &recordingOutput{}
	h := newHarness(t, "", in, out)
	if err := h.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(out.lines) != 2 || h.stats.Bad.Load() != 2 || h.stats.Decoded.Load() != 2 {
		t.Fatalf("out %d, bad %d, decoded %d; want 2, 2, 2", len(out.lines), h.stats.Bad.Load(), h.stats.Decoded.Load())
	}
	entries := readDeadLetters(t, h.dead.Path())
	if len(entries) != 2 {
		t.Fatalf("dead letters = %d, want 2", len(entries))
	}
	if entries[0]["origin"] != "x.jsonl:2" || !strings.Contains(entries[0]["reason"].(string), "invalid JSON") {
		t.Errorf("dead letter 0 = %v", entries[0])
	}
	if entries[1]["origin"] != "x.jsonl:3" || !strings.Contains(entries[1]["reason"].(string), "not an Entra log") {
		t.Errorf("dead letter 1 = %v", entries[1])
	}
	if c := in.committed(); len(c) != 1 {
		t.Errorf("the batch with bad records must still be committed: %v", c)
	}
}

func readDeadLetters(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("dead-letter line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// failAfter accepts n batches, then fails every call: a destination that
// went down.
type failAfter struct {
	inner batch.Output
	n     int
	calls int
}

func (o *failAfter) Consume(ctx context.Context, b *batch.Batch) error {
	if o.calls >= o.n {
		return errors.New("destination down")
	}
	o.calls++
	return o.inner.Consume(ctx, b)
}

func (o *failAfter) Close(ctx context.Context) error { return o.inner.Close(ctx) }

// A restart resumes after the last acknowledged batch: nothing skipped,
// and only what was not acknowledged is sent again.
func TestRestartResumesWithoutSkipping(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "signins.jsonl")
	var sb strings.Builder
	const total = 1000
	for i := range total {
		sb.Write(signIn(i))
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(src, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	outPath := filepath.Join(dir, "out.jsonl")

	// First run: the output takes 3 batches of 100, then the destination
	// is down; the agent is stopped.
	ctx, cancel := context.WithCancel(context.Background())
	first := newFileHarness(t, dataDir, src, 100)
	fo, err := fileoutput.New(fileoutput.Config{Path: outPath})
	if err != nil {
		t.Fatal(err)
	}
	first.addOutput("out", &failAfter{inner: fo, n: 3})
	first.drain = 100 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- first.run(ctx) }()
	waitFor(t, func() bool { return first.stats.Committed.Load() == 3 })
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	first.close()

	// Second run, destination back.
	second := newFileHarness(t, dataDir, src, 100)
	fo2, err := fileoutput.New(fileoutput.Config{Path: outPath})
	if err != nil {
		t.Fatal(err)
	}
	second.addOutput("out", fo2)
	if err := second.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	second.close()

	ids := map[string]int{}
	f, err := os.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		var m struct{ ID string }
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		ids[m.ID]++
		lines++
	}
	if len(ids) != total {
		t.Fatalf("%d distinct records delivered, want %d: a record was skipped", len(ids), total)
	}
	if lines != total {
		t.Fatalf("%d lines for %d records: acknowledged records were sent again", lines, total)
	}
}
