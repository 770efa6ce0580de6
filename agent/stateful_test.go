package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"

	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/monitor"
	fileoutput "github.com/privtrail/privtrail/outputs/file"
)

const bruteForcePipeline = `
name: brute
monitors:
  - id: signin.bad_password_threshold
    title: Repeated wrong passwords
    risk: high
    source: signin
    when: actor.privileged && signin.errorCode == 50126
    reason: [actor.upn]
    threshold: {count: 5, window: 10m}
`

// wrongPassword is a Graph sign-in: the privileged adm_alice (even n) or
// an ordinary user (odd n) types a wrong password, one every 3 seconds.
func wrongPassword(n int) []byte {
	user := "adm_alice"
	if n%2 == 1 {
		user = "carol"
	}
	return bytes.TrimSuffix(graphSignIn(fmt.Sprintf("pw-%04d", n), user, time.Duration(n)*3*time.Second, 50126), []byte("\n"))
}

// statefulHarness is a file harness whose pipeline runs the given monitors
// with their state in the store, and tags adm_alice as privileged.
func statefulHarness(t *testing.T, dataDir, src, pipeline string, batchSize int) *harness {
	t.Helper()
	h := newFileHarness(t, dataDir, src, batchSize)
	dir := t.TempDir()
	pf := filepath.Join(dir, "pipeline.yaml")
	rm := filepath.Join(dir, "rolemap.yaml")
	if err := os.WriteFile(pf, []byte(pipeline), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rm, []byte("users:\n  - {id: adm_alice-id, upn: adm_alice@contoso.example, roles: [{name: Global Administrator}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := monitor.LoadPipeline(pf)
	if err != nil {
		t.Fatal(err)
	}
	stage, err := privilege.New(privilege.Config{RoleMap: rm, ReloadInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stage.Close() })
	if h.engine, err = monitor.Compile(p.Monitors, stage.Roles(), nil); err != nil {
		t.Fatal(err)
	}
	h.stages = []batch.Enricher{stage}
	return h
}

// alerts returns the IDs of the records in an output file that carry the
// monitor's hit, and how many lines the file has. A test may read while
// the agent writes: like any tailing reader it reads complete lines only.
func alerts(t *testing.T, path, monitorID string) (ids []string, lines int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines++
		var rec struct {
			ID        string
			Privtrail struct {
				Monitors []struct{ ID string }
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		for _, m := range rec.Privtrail.Monitors {
			if m.ID == monitorID {
				ids = append(ids, rec.ID)
			}
		}
	}
	return ids, lines
}

// The agent is stopped in the middle of a brute-force burst, at each
// batch in turn, with the destination down; the restarted agent delivers
// the rest. Whatever the moment, the burst gives exactly one alert, on the
// fifth wrong password, and every record arrives once.
func TestRestartInTheMiddleOfABurstGivesOneAlert(t *testing.T) {
	const total = 60 // 30 wrong passwords for adm_alice over 3 minutes
	var src bytes.Buffer
	for i := range total {
		src.Write(wrongPassword(i))
		src.WriteByte('\n')
	}
	for _, acked := range []int{0, 1, 2, 3, 5} {
		t.Run(fmt.Sprintf("stopped after %d batches", acked), func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "signins.jsonl")
			if err := os.WriteFile(in, src.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			dataDir, out := filepath.Join(dir, "data"), filepath.Join(dir, "out.jsonl")

			ctx, cancel := context.WithCancel(context.Background())
			first := statefulHarness(t, dataDir, in, bruteForcePipeline, 4)
			fo, err := fileoutput.New(fileoutput.Config{Path: out})
			if err != nil {
				t.Fatal(err)
			}
			first.addOutput("out", &failAfter{inner: fo, n: acked})
			first.drain = 50 * time.Millisecond
			done := make(chan error, 1)
			go func() { done <- first.run(ctx) }()
			waitFor(t, func() bool {
				return first.stats.Committed.Load() == int64(acked) && first.stats.Decoded.Load() > int64(4*acked)
			})
			time.Sleep(20 * time.Millisecond)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			first.close()

			second := statefulHarness(t, dataDir, in, bruteForcePipeline, 4)
			fo2, err := fileoutput.New(fileoutput.Config{Path: out})
			if err != nil {
				t.Fatal(err)
			}
			second.addOutput("out", fo2)
			if err := second.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			second.close()

			ids, lines := alerts(t, out, "signin.bad_password_threshold")
			if len(ids) != 1 || ids[0] != "pw-0008" {
				t.Errorf("alerts on %v, want exactly one, on pw-0008 (adm_alice's fifth)", ids)
			}
			if lines != total {
				t.Errorf("%d records delivered, want %d", lines, total)
			}
		})
	}
}

// The same export replayed twice from empty state gives the same output,
// byte for byte, with workers racing each other.
func TestReplayIsDeterministic(t *testing.T) {
	var src bytes.Buffer
	for i := range 2000 {
		// Bursts of wrong passwords with pauses: several alerts.
		src.Write(wrongPassword(i + (i/40)*200))
		src.WriteByte('\n')
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "signins.jsonl")
	if err := os.WriteFile(in, src.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string) []byte {
		out := filepath.Join(dir, name+".jsonl")
		h := statefulHarness(t, filepath.Join(dir, name), in, bruteForcePipeline, 16)
		h.workers = 4
		fo, err := fileoutput.New(fileoutput.Config{Path: out})
		if err != nil {
			t.Fatal(err)
		}
		h.addOutput("out", fo)
		if err := h.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.close()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := run("first"), run("second")
	if n := strings.Count(string(a), "signin.bad_password_threshold"); n < 5 {
		t.Fatalf("%d alerts: the replay proves little", n)
	}
	if !bytes.Equal(a, b) {
		t.Error("two replays of the same export differ")
	}
}

// orderObserver records the order batches are observed in, and checks that
// every record is tagged with the generation of its own batch.
type orderObserver struct {
	mu    sync.Mutex
	order []string // origin of each batch's first record
	gen   uint64
	gens  map[string]uint64 // origin -> generation of its batch
	bad   atomic.Int64
	// synced is the newest generation Sync made durable; failSyncs is
	// how many Syncs fail before one succeeds.
	synced, failSyncs int
}

func (o *orderObserver) Sync(gen uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failSyncs > 0 {
		o.failSyncs--
		return errors.New("disk full")
	}
	o.synced = max(o.synced, int(gen))
	return nil
}

// syncedOutput counts the records that reached it before the observer had
// synced their batch's generation.
type syncedOutput struct {
	obs   *orderObserver
	early atomic.Int64
	got   atomic.Int64
}

func (o *syncedOutput) Consume(_ context.Context, b *batch.Batch) error {
	o.obs.mu.Lock()
	for _, rec := range b.Records {
		if int(o.obs.gens[rec.Origin]) > o.obs.synced {
			o.early.Add(1)
		}
	}
	o.obs.mu.Unlock()
	o.got.Add(int64(len(b.Records)))
	b.Ack()
	return nil
}

func (o *syncedOutput) Close(context.Context) error { return nil }

// No batch reaches an output before what the observer learnt from it is
// synced, and a Sync that fails holds the pipeline until one succeeds.
func TestBatchesWaitForTheObserverSync(t *testing.T) {
	for _, fails := range []int{0, 3} {
		t.Run(fmt.Sprintf("%d failures", fails), func(t *testing.T) {
			in := &sliceInput{}
			for b := range 30 {
				var items []batch.Item
				for i := range 5 {
					items = append(items, batch.Item{Data: signIn(b*5 + i), Origin: fmt.Sprintf("%03d-%d", b, i)})
				}
				in.batches = append(in.batches, items)
			}
			obs := &orderObserver{gens: map[string]uint64{}, failSyncs: fails}
			out := &syncedOutput{obs: obs}
			h := newHarness(t, "", in, out)
			h.workers = 4
			h.stages = []batch.Enricher{obs}
			if err := h.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := out.early.Load(); n > 0 {
				t.Errorf("%d records reached the output before their generation was synced", n)
			}
			if n := out.got.Load(); n != 150 {
				t.Errorf("%d records delivered, want 150", n)
			}
			if obs.failSyncs != 0 {
				t.Errorf("%d failing syncs never retried", obs.failSyncs)
			}
		})
	}
}

func (o *orderObserver) Observe(recs []*entra.Record) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gen++
	if len(recs) > 0 {
		o.order = append(o.order, recs[0].Origin)
	}
	for _, r := range recs {
		o.gens[r.Origin] = o.gen
	}
	// Workers race: make the slow path likely.
	time.Sleep(time.Duration(o.gen%3) * time.Millisecond)
	return o.gen
}

func (o *orderObserver) EnrichAt(rec *entra.Record, gen uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gens[rec.Origin] != gen {
		o.bad.Add(1)
	}
}

func (o *orderObserver) Enrich(rec *entra.Record) {}

// The observer sees batches in the order the inputs emitted them, each
// before its records are tagged, with four workers and two inputs racing.
func TestObserverSeesBatchesInEmitOrder(t *testing.T) {
	in := func(prefix string) *sliceInput {
		s := &sliceInput{}
		for b := range 40 {
			var items []batch.Item
			for i := range 5 {
				items = append(items, batch.Item{Data: signIn(b*5 + i), Origin: fmt.Sprintf("%s-%03d-%d", prefix, b, i)})
			}
			s.batches = append(s.batches, items)
		}
		return s
	}
	a, b := in("a"), in("b")
	h := newHarness(t, "", a, &recordingOutput{})
	h.inputs = append(h.inputs, b)
	h.workers = 4
	obs := &orderObserver{gens: map[string]uint64{}}
	h.stages = []batch.Enricher{obs}
	if err := h.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := obs.bad.Load(); n > 0 {
		t.Errorf("%d records tagged with another batch's generation", n)
	}
	if len(obs.order) != 80 {
		t.Fatalf("%d batches observed, want 80", len(obs.order))
	}
	for _, p := range []string{"a", "b"} {
		var got []string
		for _, o := range obs.order {
			if strings.HasPrefix(o, p) {
				got = append(got, o)
			}
		}
		if !slices.IsSorted(got) {
			t.Errorf("input %s observed out of order: %v", p, got)
		}
	}
}
