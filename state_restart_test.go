package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/store"
)

// The stateful monitors of the shipped catalog: what the restart tests
// must see fire, so that they prove something.
var statefulMonitors = []string{
	"signin.lockout",
	"signin.bad_password_threshold",
	"signin.new_device_or_location",
	"audit.privileged_account_created",
	"pim.elevation_not_paw",
}

// restartBatch is the batch size of the restart tests: small, so a file
// of the demo's ~1,100 records has many batch boundaries.
const restartBatch = 40

// demoRecords returns the records of testdata/demo, one compact JSON
// document a line, in the order the file input reads the folder: the
// crafted scenarios fire every stateful monitor.
func demoRecords(t *testing.T) [][]byte {
	t.Helper()
	names, err := filepath.Glob("testdata/demo/*")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var recs [][]byte
	for _, name := range names {
		var b []byte
		switch {
		case strings.HasSuffix(name, ".json.gz"):
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err = io.ReadAll(zr)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(name, ".json"):
			if b, err = os.ReadFile(name); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(name, ".jsonl"):
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			// Lines as they are: the demo's deliberately bad records go
			// to the dead-letter file in every run alike.
			for line := range bytes.Lines(b) {
				if line = bytes.TrimSpace(line); len(line) > 0 {
					recs = append(recs, line)
				}
			}
			continue
		default:
			continue
		}
		var doc json.RawMessage
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		recs = append(recs, unwrap(doc)...)
	}
	return recs
}

// unwrap splits an array, a Graph page ({"value": [...]}) or an Event
// Hubs capture ({"records": [...]}) into its records.
func unwrap(doc json.RawMessage) [][]byte {
	var list []json.RawMessage
	if json.Unmarshal(doc, &list) != nil {
		var page struct{ Value, Records []json.RawMessage }
		if json.Unmarshal(doc, &page) != nil || page.Value == nil && page.Records == nil {
			var b bytes.Buffer
			_ = json.Compact(&b, doc)
			return [][]byte{b.Bytes()}
		}
		list = append(page.Value, page.Records...)
	}
	var out [][]byte
	for _, d := range list {
		out = append(out, unwrap(d)...)
	}
	return out
}

// restartRun is one privtrail run over in: a config with the demo's
// context and pipeline, its state in dataDir, a monitor cache far smaller
// than the keys (so entries are read back from the store), its output
// appended to out.
func restartConfig(t *testing.T, dir, dataDir, in, out string) string {
	t.Helper()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: warn}
http: {listen: "off"}
workers: 2
state: {cache_keys: 2}
inputs:
  - name: exports
    file: {paths: [%s], batch_size: %d}
outputs:
  - name: out
    file: {path: %s}
context:
  privilege: {role_map: %s}
  geo: {city_db: %s, asn_db: %s}
  device: {devices: %s}
  work_hours: {schedules: %s}
pipelines: [%s]
`, dataDir, in, restartBatch, out, abs("testdata/demo/rolemap.yaml"), abs("testdata/demo/demo-city.mmdb"),
		abs("testdata/demo/demo-asn.mmdb"), abs("testdata/demo/devices.yaml"), abs("testdata/demo/work-hours.yaml"),
		abs("pipelines/demo.yaml"))
	f, err := os.CreateTemp(dir, "config-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(cfg); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func writeLines(t *testing.T, path string, recs [][]byte) {
	t.Helper()
	var b bytes.Buffer
	for _, r := range recs {
		b.Write(r)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func runInProcess(t *testing.T, cfg string) {
	t.Helper()
	var stderr bytes.Buffer
	// The demo's two bad records are logged as warnings; anything about
	// the monitor state (an entry that did not decode) is a failure.
	if code := run([]string{"run", "-c", cfg}, io.Discard, &stderr); code != 0 || strings.Contains(stderr.String(), "monitor state") {
		t.Fatalf("privtrail run exit %d:\n%s", code, stderr.String())
	}
}

// judged is what privtrail said of an output line's record: the record's
// identity and its whole privtrail object as written (the principals'
// privilege as learnt from the audit stream, the context, the monitors'
// hits and reasons).
type judged struct {
	id, privtrail string
}

// outputOf reads the judged records of output files in order. A line
// without its newline (a write torn by kill -9) is left out: its batch was
// not acknowledged, so the next run sends it again.
func outputOf(t *testing.T, paths ...string) []judged {
	t.Helper()
	var out []judged
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if i := bytes.LastIndexByte(b, '\n'); i+1 < len(b) {
			b = b[:i+1]
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			pt, ok := rec["privtrail"]
			if !ok {
				t.Fatalf("%s: a record without privtrail", p)
			}
			// The record as read is its identity: records without an ID
			// (Azure Activity's Started and Succeeded) share everything
			// else but their contents.
			delete(rec, "privtrail")
			id, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, judged{id: string(id), privtrail: string(pt)})
		}
	}
	return out
}

// storedState is every stateful monitor's stored entry and meta, read
// from the store file itself (no cache in between).
func storedState(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	found, err := store.Inspect(dataDir, func(r *store.Reader) error {
		for _, bucket := range append(r.Buckets("monitor-state/"), "monitor-meta") {
			if err := r.ForEach(bucket, func(k, v []byte) error {
				out[bucket+"\x00"+string(k)] = string(v)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !found {
		t.Fatalf("read the store of %s: found=%v %v", dataDir, found, err)
	}
	return out
}

// firing checks that the reference run fired every stateful monitor, and
// that its records can be told apart.
func firing(t *testing.T, ref []judged) {
	t.Helper()
	seen := map[string]bool{}
	for _, j := range ref {
		if seen[j.id] {
			t.Fatalf("two records alike: %.200s", j.id)
		}
		seen[j.id] = true
	}
	for _, m := range statefulMonitors {
		n := 0
		for _, j := range ref {
			n += strings.Count(j.privtrail, `"`+m+`"`)
		}
		if n == 0 {
			t.Fatalf("the reference run never fires %s: the test proves nothing for it", m)
		}
	}
}

func sameJudgement(t *testing.T, what string, got, want []judged) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records out, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: record %d (%.200s) judged\n%s\nwant\n%s", what, i, want[i].id, got[i].privtrail, want[i].privtrail)
		}
	}
}

func sameState(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok || g != want[k] {
			t.Fatalf("%s: stored %q = %q, want %q (%d entries, want %d)", what, k, g, want[k], len(got), len(want))
		}
	}
	t.Fatalf("%s: %d stored entries, want %d", what, len(got), len(want))
}

// A replay split in two runs, at every batch boundary in turn, gives
// exactly the hits and reasons, and exactly the stored state, of one
// uninterrupted run: with a cache of two keys per monitor, every key the
// second run needs comes from what the first one stored.
func TestSplitReplayMatchesOneRun(t *testing.T) {
	recs := demoRecords(t)
	dir := t.TempDir()
	all := filepath.Join(dir, "all.jsonl")
	writeLines(t, all, recs)
	refData, refOut := filepath.Join(dir, "ref"), filepath.Join(dir, "ref.jsonl")
	runInProcess(t, restartConfig(t, dir, refData, all, refOut))
	ref, refState := outputOf(t, refOut), storedState(t, refData)
	firing(t, ref)

	for cut := restartBatch; cut < len(recs); cut += restartBatch {
		sub := filepath.Join(dir, fmt.Sprint(cut))
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		a, b := filepath.Join(sub, "a.jsonl"), filepath.Join(sub, "b.jsonl")
		writeLines(t, a, recs[:cut])
		writeLines(t, b, recs[cut:])
		data, outA, outB := filepath.Join(sub, "data"), filepath.Join(sub, "a-out.jsonl"), filepath.Join(sub, "b-out.jsonl")
		runInProcess(t, restartConfig(t, sub, data, a, outA))
		runInProcess(t, restartConfig(t, sub, data, b, outB))
		what := fmt.Sprintf("split after %d of %d records", cut, len(recs))
		sameJudgement(t, what, outputOf(t, outA, outB), ref)
		sameState(t, what, storedState(t, data), refState)
	}
}

// The environment variable that makes the test binary run privtrail
// itself: the kill -9 test needs a process of its own to kill.
const runPrivtrailEnv = "PRIVTRAIL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runPrivtrailEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// The agent is killed with SIGKILL at random moments until one run gets
// to the end of the file. Every record is delivered at least once, a
// record delivered again carries the same hits and reasons as the first
// time, and the judgement and the stored state are exactly those of one
// uninterrupted run.
func TestKilledRunsMatchOneRun(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a privtrail process several times")
	}
	recs := demoRecords(t)
	dir := t.TempDir()
	all := filepath.Join(dir, "all.jsonl")
	writeLines(t, all, recs)
	refData, refOut := filepath.Join(dir, "ref"), filepath.Join(dir, "ref.jsonl")
	runInProcess(t, restartConfig(t, dir, refData, all, refOut))
	ref, refState := outputOf(t, refOut), storedState(t, refData)
	firing(t, ref)

	data := filepath.Join(dir, "killed")
	rng := rand.New(rand.NewPCG(18, 9))
	var outs []string
	kills := 0
	for attempt := 0; ; attempt++ {
		if attempt == 40 {
			t.Fatalf("no run finished in %d attempts", attempt)
		}
		// One output file per attempt: a line torn by the kill stays in its
		// own file, where outputOf drops it.
		out := filepath.Join(dir, fmt.Sprintf("out-%02d.jsonl", attempt))
		outs = append(outs, out)
		cmd := exec.Command(os.Args[0], "run", "-c", restartConfig(t, dir, data, all, out))
		cmd.Env = append(os.Environ(), runPrivtrailEnv+"=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill the first attempts once their output has grown by a random
		// amount, so that kills land mid-file and not only at start-up.
		var err error
		if attempt < 8 {
			want := int64(rng.IntN(len(recs))) * 600
			deadline := time.After(20 * time.Second)
		wait:
			for {
				select {
				case err = <-done:
					break wait
				case <-deadline:
					t.Fatalf("attempt %d: no progress in 20 s:\n%s", attempt, stderr.String())
				case <-time.After(time.Duration(rng.IntN(3000)) * time.Microsecond):
					if fi, _ := os.Stat(out); fi != nil && fi.Size() >= want {
						_ = cmd.Process.Signal(syscall.SIGKILL)
						err = <-done
						kills++
						break wait
					}
				}
			}
		} else {
			err = <-done
		}
		if err == nil {
			break
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("attempt %d: %v\n%s", attempt, err, stderr.String())
		}
	}
	if kills < 3 {
		t.Fatalf("only %d kills landed before the end of the file", kills)
	}
	got := outputOf(t, outs...)
	// At least once: keep each record's first delivery, and check that a
	// delivery again was judged the same.
	first := map[string]string{}
	var once []judged
	resent := 0
	for _, j := range got {
		if m, ok := first[j.id]; ok {
			resent++
			if m != j.privtrail {
				t.Fatalf("record %.200s delivered again judged\n%s\nfirst\n%s", j.id, j.privtrail, m)
			}
			continue
		}
		first[j.id] = j.privtrail
		once = append(once, j)
	}
	t.Logf("%d kills, %d records delivered again", kills, resent)
	sameJudgement(t, "killed runs", once, ref)
	sameState(t, "killed runs", storedState(t, data), refState)
}

// privtrail check reads the stored monitor state and names the monitor
// whose entries do not decode; reset-state deletes the state and keeps the
// checkpoints.
func TestCheckReportsUnreadableState(t *testing.T) {
	dir := t.TempDir()
	all := filepath.Join(dir, "all.jsonl")
	writeLines(t, all, demoRecords(t))
	data := filepath.Join(dir, "data")
	cfg := restartConfig(t, dir, data, all, filepath.Join(dir, "out.jsonl"))
	check := func() string {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"check", "-offline", "-c", cfg}, &stdout, &stderr); code != 0 {
			t.Fatalf("check exit %d: %s%s", code, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	if out := check(); !strings.Contains(out, "monitor state: none yet in "+data) {
		t.Errorf("before the first run, check says:\n%s", out)
	}
	runInProcess(t, cfg)
	entries := len(storedState(t, data)) - len(statefulMonitors) // less the meta entries
	if out := check(); !strings.Contains(out, fmt.Sprintf("monitor state: %d entries of %d monitors, 0 unreadable", entries, len(statefulMonitors))) {
		t.Errorf("after a run, check says:\n%s", out)
	}

	st, err := store.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	var key []byte
	bucket := "monitor-state/demo/signin.bad_password_threshold"
	_ = st.ForEach(bucket, func(k, _ []byte) error {
		key = bytes.Clone(k)
		return errors.New("first")
	})
	if key == nil {
		t.Fatal("no entry of signin.bad_password_threshold to damage")
	}
	if err := st.Put(bucket, string(key), []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	out := check() // the agent's lock is refused while the store is open
	if !strings.Contains(out, "in use by a running privtrail") {
		t.Errorf("with the store held, check says:\n%s", out)
	}
	st.Close()
	out = check()
	n := 0
	for _, k := range slices.Collect(maps.Keys(storedState(t, data))) {
		if strings.HasPrefix(k, bucket+"\x00") {
			n++
		}
	}
	if want := fmt.Sprintf("warning: monitor state: 1 of %d entries of signin.bad_password_threshold (pipeline demo) are unreadable", n); !strings.Contains(out, want) {
		t.Errorf("check says:\n%s\nwant a line %q", out, want)
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"reset-state", "-c", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("reset-state exit %d: %s", code, stderr.String())
	}
	if want := fmt.Sprintf("monitor state reset: %d entries of %d monitors deleted", entries, len(statefulMonitors)); !strings.Contains(stdout.String(), want) {
		t.Errorf("reset-state says:\n%s\nwant %q", stdout.String(), want)
	}
	if out := check(); !strings.Contains(out, "monitor state: 0 entries of 0 monitors, 0 unreadable") {
		t.Errorf("after reset-state, check says:\n%s", out)
	}
	// The checkpoint stayed: a run reads nothing again.
	before, _ := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	runInProcess(t, cfg)
	if after, _ := os.ReadFile(filepath.Join(dir, "out.jsonl")); len(after) != len(before) {
		t.Errorf("after reset-state a run wrote %d bytes again: the checkpoints were lost", len(after)-len(before))
	}
}

// check tells an operator, before the next start, that a used data
// directory lost its store.
func TestCheckSaysTheStoreIsLost(t *testing.T) {
	dir := t.TempDir()
	all := filepath.Join(dir, "all.jsonl")
	writeLines(t, all, demoRecords(t)[:50])
	data := filepath.Join(dir, "data")
	cfg := restartConfig(t, dir, data, all, filepath.Join(dir, "out.jsonl"))
	runInProcess(t, cfg)
	if err := os.Remove(filepath.Join(data, store.FileName)); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "-offline", "-c", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("check exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "warning: store: "+data+" has been used, but its store is missing or empty") {
		t.Errorf("check says:\n%s", stdout.String())
	}
}
