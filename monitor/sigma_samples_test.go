package monitor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/monitor/sigma"
)

var update = flag.Bool("update", false, "rewrite the golden files of the Sigma tests")

// sigmaSampleSources are the real records the Sigma golden test runs:
// public samples nobody on this project wrote (their origins and licences
// are in each folder's README.md; ../shared/samples beside the checkout holds the same
// files), and the demo's JSON lines.
var sigmaSampleSources = []string{
	"../entra/testdata/samples/*.json",             // Graph v1.0/beta signIns and directoryAudits pages (microsoft-graph-docs-contrib), the Entra docs' diagnostic SignInLogs record
	"../entra/testdata/samples/*.jsonl",            // splunk/security_content's Event Hubs records (sign-in and audit)
	"../entra/testdata/samples/categories/*.json*", // Elastic's integration samples and Graph docs' risk and network-access pages
	"../testdata/demo/*.jsonl",                     // the demo's sign-ins, Event Hubs records and directory scans
}

const sigmaSamplesGolden = "testdata/sigma-samples.golden"

// sampleDocs splits a sample file into documents as the file input
// does: JSON lines, a Graph page ("value"), a diagnostic-settings batch
// ("records"), an array, or one object.
func sampleDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".jsonl") {
		var docs [][]byte
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				docs = append(docs, slices.Clone(line))
			}
		}
		return docs
	}
	var arr []json.RawMessage
	if json.Unmarshal(b, &arr) == nil {
		return rawDocs(arr)
	}
	var page struct {
		Value   []json.RawMessage `json:"value"`
		Records []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if docs := append(rawDocs(page.Value), rawDocs(page.Records)...); len(docs) > 0 {
		return docs
	}
	return [][]byte{b}
}

// sigmaEngine compiles every rule of the SigmaHQ snapshot, and nothing
// else, as a pipeline's sigma: list would.
func sigmaEngine(t testing.TB) *Engine {
	t.Helper()
	set, err := sigma.Load("../pipelines/sigma/sigmahq-azure", []string{"."})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(sigmaDefinitions(set), testStage(t).Roles(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// checkNativeReasons fails the test when a native monitor's Go reason
// differs from what its reason expressions write for rec.
func checkNativeReasons(t *testing.T, ev *Evaluator, rec *entra.Record) {
	t.Helper()
	e := ev.e
	ev.env.set(rec)
	defer ev.env.set(nil)
	for _, h := range rec.Hits {
		m := monitorByID(e, h.ID)
		if m == nil || m.nreason == nil {
			continue
		}
		if want := ev.reason(m.reason); h.Reason != want {
			t.Errorf("%s: %s: Go reason %q, expressions write %q", rec.Origin, h.ID, h.Reason, want)
		}
	}
}

// TestSigmaSamplesGolden runs the real records of sigmaSampleSources
// through every compiled rule of the SigmaHQ snapshot and compares which
// rules fire on which record, with their reasons, to
// testdata/sigma-samples.golden: a change in any rule's matching (or
// reason) on real data shows in review. -update rewrites the file.
func TestSigmaSamplesGolden(t *testing.T) {
	e := sigmaEngine(t)
	ev := e.NewEvaluator()
	var out bytes.Buffer
	out.WriteString("# Sigma hits of the SigmaHQ snapshot (pipelines/sigma/sigmahq-azure) on real records:\n" +
		"# <file>#<document index> <monitor> <title> | <reason>. Rewrite with\n" +
		"#   go test ./monitor -run TestSigmaSamplesGolden -update\n")
	total, hits := 0, 0
	for _, pattern := range sigmaSampleSources {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", pattern, err)
		}
		for _, file := range files {
			name := strings.TrimPrefix(filepath.ToSlash(file), "../")
			docs := sampleDocs(t, file)
			var lines []string
			decoded := 0
			var dec entra.Decoder
			for i, doc := range docs {
				rec := &entra.Record{}
				if dec.Decode(doc, rec) != nil {
					continue // the decoder's tests cover what it refuses
				}
				decoded++
				rec.Origin = fmt.Sprintf("%s#%d", name, i)
				testStage(t).Enrich(rec)
				ev.Eval(rec)
				ev.TakeObservations()
				checkNativeReasons(t, ev, rec)
				for _, h := range rec.Hits {
					lines = append(lines, fmt.Sprintf("%s %s %s | %s", rec.Origin, h.ID, h.Title, h.Reason))
				}
			}
			total += decoded
			hits += len(lines)
			fmt.Fprintf(&out, "\n## %s: %d documents, %d decoded, %d hits\n", name, len(docs), decoded, len(lines))
			for _, l := range lines {
				out.WriteString(l + "\n")
			}
		}
	}
	got := out.Bytes()
	if *update {
		if err := os.WriteFile(sigmaSamplesGolden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: %d records, %d hits", sigmaSamplesGolden, total, hits)
		return
	}
	want, err := os.ReadFile(sigmaSamplesGolden)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("Sigma hits on real records differ from %s at line %d:\n got: %s\nwant: %s\n(review, then go test ./monitor -run TestSigmaSamplesGolden -update)", sigmaSamplesGolden, i+1, g, w)
			}
		}
	}
}

// On the hot-path mix, every native reason is what its expressions
// write.
func TestSigmaMixReasons(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 20000 records")
	}
	recs, _ := hotMix()
	e := mixEngine(t, mixSigma)
	ev := e.NewEvaluator()
	for _, rec := range recs {
		rec.Hits = rec.Hits[:0]
		ev.Eval(rec)
		checkNativeReasons(t, ev, rec)
		rec.Hits = rec.Hits[:0]
	}
	ev.TakeObservations()
}
