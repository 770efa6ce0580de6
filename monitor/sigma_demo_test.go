package monitor

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/store"
)

const bruteForceID = "sigma.3b9df78d-5511-4eaf-b38b-3790ea90b6de"

// demoDocuments returns the Entra documents of testdata/demo in the order
// the file input reads the folder: JSON lines, Graph pages, arrays and
// {"records":[…]} files split into documents.
func demoDocuments(t testing.TB) [][]byte {
	t.Helper()
	names, err := filepath.Glob("../testdata/demo/*.json*")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var docs [][]byte
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if strings.HasSuffix(name, ".jsonl") {
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
					docs = append(docs, slices.Clone(line))
				}
			}
			continue
		}
		var page struct {
			Value   []json.RawMessage `json:"value"`
			Records []json.RawMessage `json:"records"`
		}
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) == nil {
			docs = append(docs, rawDocs(arr)...)
		} else if json.Unmarshal(b, &page) == nil {
			docs = append(docs, rawDocs(page.Value)...)
			docs = append(docs, rawDocs(page.Records)...)
		}
	}
	return docs
}

func rawDocs(in []json.RawMessage) [][]byte {
	out := make([][]byte, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// The example correlation (5 wrong passwords for one user within 10
// minutes) fires exactly once on the demo: on the brute force against
// adm_grace (7 wrong passwords in 7 minutes, Tuesday 09:05); adm_elena's
// 3 and william.wang's 2 mistyped passwords stay below it. SigmaHQ's
// rules are loaded alongside, as a pipeline would.
func TestSigmaDemo(t *testing.T) {
	recs := runSigmaDemo(t)
	sigmaHits := map[string]int{}
	var brute []string
	for _, r := range recs {
		for _, h := range r.Hits {
			if strings.HasPrefix(h.ID, "sigma.") {
				sigmaHits[h.ID]++
			}
			if h.ID == bruteForceID {
				brute = append(brute, r.Actor.UPN+" "+h.Reason)
				if h.Title == "" || h.Risk != "high" || !slices.Equal(h.Tags, []string{"attack.credential-access", "attack.t1110.001"}) {
					t.Errorf("hit lacks the rule's title, risk or tags: %+v", h)
				}
				if strings.Contains(h.Notes, "attack.") {
					t.Errorf("notes repeat the tags: %q", h.Notes)
				}
			}
		}
	}
	if len(brute) != 1 || !strings.HasPrefix(brute[0], "adm_grace@contoso.example ") {
		t.Errorf("brute-force correlation fired %d times, want once for adm_grace: %q", len(brute), brute)
	}
	t.Logf("brute force: %q; SigmaHQ hits on the demo: %v", brute, sigmaHits)
}

// runSigmaDemo runs the demo data through demo-sigma.yaml as the agent
// would (evaluate every record, then judge the stateful monitors in
// input order) and returns the decoded records with their hits.
func runSigmaDemo(t testing.TB) []*entra.Record {
	t.Helper()
	e, s := loadWithState(t, "../pipelines/sigma/examples/demo-sigma.yaml", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	ev := e.NewEvaluator()
	var dec entra.Decoder
	var recs []*entra.Record
	for _, doc := range demoDocuments(t) {
		rec := &entra.Record{}
		if dec.Decode(doc, rec) != nil {
			continue // the demo's two deliberately bad lines
		}
		ev.Eval(rec)
		recs = append(recs, rec)
	}
	if _, err := s.Apply(ev.TakeObservations()); err != nil {
		t.Fatal(err)
	}
	return recs
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// loadWithState compiles the pipeline file at path and opens its monitor
// state in a fresh store, with the host's clock at now.
func loadWithState(t testing.TB, path string, now time.Time) (*Engine, *State) {
	t.Helper()
	p, err := LoadPipeline(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(p.Monitors, nil, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := e.OpenState(st, "test", StateOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return e, s
}
