package agent

// Long outages at full rate (issue 16): a destination down while the
// input has far more records than the output's disk buffer holds.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/buffer"
	"github.com/privtrail/privtrail/internal/delivery"
)

// outageRecord is a small Graph sign-in whose id is "o-<i>".
func outageRecord(w *bufio.Writer, i int) {
	fmt.Fprintf(w, `{"id":"o-%07d","createdDateTime":"2026-03-02T08:%02d:%02dZ","userId":"u%d-id","userPrincipalName":"u%d@contoso.example","status":{"errorCode":0},"isInteractive":true,"clientAppUsed":"Browser","ipAddress":"203.0.113.9"}`+"\n",
		i, i/60%60, i%60, i%500, i%500)
}

// outageHEC is a Splunk HEC that answers 503 (server busy) while down and
// otherwise keeps the id of every event, in arrival order.
type outageHEC struct {
	down     atomic.Bool
	refused  atomic.Int64 // requests answered 503
	mu       sync.Mutex
	ids      []int
	badEvent string
}

var eventID = []byte(`"id":"o-`)

func (h *outageHEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if h.down.Load() {
		h.refused.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"text":"Server is busy","code":9}`)
		return
	}
	// One event per line; its record's id is the first "id":"o-…" in it.
	var ids []int
	for line := range bytes.SplitSeq(bytes.TrimSpace(body), []byte("\n")) {
		k := bytes.Index(line, eventID)
		var id int
		if k >= 0 && len(line) >= k+len(eventID)+7 {
			id, err = strconv.Atoi(string(line[k+len(eventID) : k+len(eventID)+7]))
		}
		if k < 0 || err != nil {
			h.mu.Lock()
			h.badEvent = string(line)
			h.mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"text":"Invalid data format","code":6}`)
			return
		}
		ids = append(ids, id)
	}
	h.mu.Lock()
	h.ids = append(h.ids, ids...)
	h.mu.Unlock()
	io.WriteString(w, `{"text":"Success","code":0}`)
}

func (h *outageHEC) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}

// A file of 200,000 records (50,000 under the race detector) and a Splunk HEC that is down (503): the
// output's disk buffer fills up to buffer.max_bytes and no further, the
// file input stops reading, and the heap stays a small fraction of the
// input. When the HEC returns, every record arrives once, in order.
func TestLongOutageFillsTheBufferThenStopsTheInput(t *testing.T) {
	records := 200_000
	if raceDetector() {
		records = 50_000 // still nine times what the buffer and the queues take
	}
	const (
		maxBytes = 2 << 20
		// heapBound bounds the heap in use while the input waits. In
		// flight are at most ~16 batches of 500 records (the pipeline's
		// queue of workers+1 and the workers' 2×workers jobs, a batch per
		// worker, two in the output's channel and one it holds, the
		// input's own and the sequencer's), each about 3 KB a record
		// (the line, the decoded record, its encoding): ~25 MB, plus
		// the file input's 4 MiB line buffer and the Splunk output's
		// encode buffer. Twice that for the collector's headroom
		// (GOGC=100) stays under 64 MiB, while the input is 44 MB and
		// its encoded events about 200 MB: a pipeline that slurped them
		// would be far over. Measured: ~19 MiB live, ~36 MiB in use.
		heapBound = 64 << 20
	)
	dir := t.TempDir()
	in := filepath.Join(dir, "signins.jsonl")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range records {
		outageRecord(w, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(in)
	inputSize := fi.Size()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("name: p\nmonitors: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	hec := &outageHEC{}
	hec.down.Store(true)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	t.Setenv("PRIVTRAIL_TEST_HEC_TOKEN", "test-token")
	data := filepath.Join(dir, "data")
	cfg, err := ParseConfig(filepath.Join(dir, "privtrail.yaml"), []byte(fmt.Sprintf(`data_dir: %s
workers: 2
inputs:
  - {name: exports, file: {paths: [%s], batch_size: 500}}
outputs:
  - name: splunk
    splunk:
      url: %s
      allow_http: true
      token: ${PRIVTRAIL_TEST_HEC_TOKEN}
      gzip: false
      batch_size: 2000
      batch_bytes: 1MiB
      flush_interval: 10ms
      max_backoff: 100ms
      buffer: {max_bytes: %d}
pipelines: [p.yaml]
`, data, in, srv.URL, maxBytes)))
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.Drain = 5 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	fail := func(format string, args ...any) {
		t.Helper()
		cancel()
		<-done
		t.Fatalf(format, args...)
	}

	// The output, once the agent runs.
	type bufferedOutput interface {
		BufferUsage() (used, capacity int64)
		Buffered() (records int, bytes int64)
		Health() error
		Stats() *delivery.Stats
	}
	var out bufferedOutput
	for deadline := time.Now().Add(10 * time.Second); out == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			fail("the agent did not start")
		}
		if p := a.inputs.Load(); p != nil && len(*p) == 1 {
			out = (*p)[0].p.outputs[0].out.(bufferedOutput)
		}
	}
	bufDir := filepath.Join(data, "buffers", "splunk")
	bufSize := func() int64 {
		size, _ := buffer.FolderSize(bufDir)
		return size
	}

	// Wait for the input to stop: its read position still for a second,
	// with the output saying its buffer is full.
	var pos int64
	stillSince := time.Now()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			done, total := a.Progress()
			fail("the input never stopped: read %d of %d bytes, output health %v", done, total, out.Health())
		}
		if s := bufSize(); s > maxBytes {
			fail("buffer file %d bytes, over max_bytes %d", s, maxBytes)
		}
		if d, _ := a.Progress(); d != pos {
			pos, stillSince = d, time.Now()
			continue
		}
		if time.Since(stillSince) >= time.Second && out.Health() != nil {
			break
		}
	}

	// Blocked: for two seconds nothing moves and the heap stays bounded.
	read := a.Stats().Read.Load()
	var heapMax, sizeMax uint64
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		runtime.ReadMemStats(&ms)
		heapMax = max(heapMax, ms.HeapInuse)
		sizeMax = max(sizeMax, uint64(bufSize()))
		if d, _ := a.Progress(); d != pos {
			fail("the input read on while the buffer was full: %d bytes, then %d", pos, d)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	live := ms.HeapInuse
	used, capacity := out.BufferUsage()
	_, total := a.Progress()
	t.Logf("blocked: input read %d of %d bytes (%d records emitted of %d); buffer file %d bytes (max_bytes %d), pages in use %d of %d; heap in use at most %.1f MiB (%.1f MiB after a GC, %.1f MiB before the start); %d requests refused; health: %v",
		pos, total, read, records, sizeMax, maxBytes, used, capacity, float64(heapMax)/(1<<20), float64(live)/(1<<20), float64(heapBefore)/(1<<20), hec.refused.Load(), out.Health())
	if sizeMax > maxBytes {
		t.Errorf("buffer file %d bytes, over max_bytes %d", sizeMax, maxBytes)
	}
	// Full: the next batch of 500 records would not fit. An append's
	// estimate of its pages errs high, hence the half batch of slack.
	n, _ := out.Buffered()
	if perBatch := used / int64(max(n, 1)) * 500; n == 0 || used+perBatch*3/2 < capacity {
		t.Errorf("the input stopped with the buffer %d%% full (%d records, %d bytes of pages a batch)", used*100/capacity, n, perBatch)
	}
	// What the buffer holds (~1,500 records) and the queues (at most ~16
	// batches of 500), and the file read ahead by at most the input's
	// line buffer (4 MiB) and its 64 KiB reader.
	if maxRead := int64(10_000); read > maxRead || pos > maxRead*inputSize/int64(records)+4<<20+4096+64<<10 {
		t.Errorf("the input read %d of %d bytes (%d records) into a %d-byte buffer: it did not stop early", pos, inputSize, read, maxBytes)
	}
	if a.Stats().Read.Load() != read || hec.count() != 0 {
		t.Errorf("records moved while blocked: read %d, then %d; the HEC got %d", read, a.Stats().Read.Load(), hec.count())
	}
	if heapMax > heapBound {
		t.Errorf("heap in use reached %d bytes while blocked, over %d", heapMax, heapBound)
	}

	// The HEC returns: everything arrives, once, in order.
	hec.down.Store(false)
	began := time.Now()
	// The deadline is generous: 194,000 records pass through a 2 MiB
	// buffer, an fsync per few hundred, and beside the rest of the test
	// suite's disk writes an fsync can take a tenth of a second.
	for deadline := time.Now().Add(4 * time.Minute); hec.count() < records; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			// What the output was doing, for a failure seen only on a
			// loaded machine: its buffer, counters and goroutines.
			n, size := out.Buffered()
			used, capacity := out.BufferUsage()
			st := out.Stats()
			stacks := make([]byte, 1<<20)
			stacks = stacks[:runtime.Stack(stacks, true)]
			fail("after the HEC returned: %d of %d records arrived; buffer %d records, %d bytes, %d of %d used; sent %d, retries %d; health %v\n%s",
				hec.count(), records, n, size, used, capacity, st.Sent.Load(), st.Retries.Load(), out.Health(), stacks)
		}
	}
	t.Logf("the backlog drained in %s", time.Since(began).Round(time.Millisecond))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	hec.mu.Lock()
	defer hec.mu.Unlock()
	if hec.badEvent != "" {
		t.Fatalf("an event without an id: %s", hec.badEvent)
	}
	if len(hec.ids) != records {
		t.Fatalf("%d events arrived, want %d", len(hec.ids), records)
	}
	// Several requests are in flight (max_in_flight, default 4), so the
	// HEC may index them in another order (it orders by event time); each
	// record must arrive exactly once.
	ids := slices.Clone(hec.ids)
	slices.Sort(ids)
	for i, id := range ids {
		if id != i {
			t.Fatalf("record %d: lost or repeated (the %dth smallest ID of those that arrived is %d)", i, i+1, id)
		}
	}
	if st := out.Stats(); a.Stats().Bad.Load() != 0 || st.DeadLettered.Load() != 0 {
		t.Errorf("%d records rejected by the pipeline, %d dead-lettered by the output", a.Stats().Bad.Load(), st.DeadLettered.Load())
	}
}

// raceDetector tells whether the test binary was built with -race, which
// makes the pipeline several times slower.
func raceDetector() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
