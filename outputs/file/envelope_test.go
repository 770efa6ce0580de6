package file

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// envelopeRecords are a Graph sign-in, audit and risk detection (the
// public samples entra keeps), which the diagnostic envelope wraps, a risky
// service principal, which it does not, and a diagnostic-shaped sign-in,
// written as read either way; with the tenant the graph input polls and a
// monitor hit.
func envelopeRecords(t *testing.T) *batch.Batch {
	t.Helper()
	const samples = "../../entra/testdata/samples/"
	b := &batch.Batch{}
	for _, s := range []struct {
		file string
		line int // -1: the whole file; else the element of a Graph page or the line of a .jsonl
	}{
		{"graph_v1_signin_list_response.json", 0},
		{"graph_v1_directoryaudit_list_response_ex1.json", 0},
		{"categories/graphdocs_v1_riskdetection_list_response.json", 0},
		{"categories/graphdocs_v1_riskyserviceprincipal_list_response.json", 0},
		{"categories/elastic_NonInteractiveUserSignInLogs.jsonl", 0},
	} {
		data, err := os.ReadFile(samples + s.file)
		if err != nil {
			t.Fatal(err)
		}
		var doc []byte
		if strings.HasSuffix(s.file, ".jsonl") {
			doc = bytes.Split(data, []byte("\n"))[s.line]
		} else {
			var page struct{ Value []json.RawMessage }
			if err := json.Unmarshal(data, &page); err != nil {
				t.Fatal(err)
			}
			doc = page.Value[s.line]
		}
		var d entra.Decoder
		rec := &entra.Record{}
		if err := d.Decode(doc, rec); err != nil {
			t.Fatalf("%s: %v", s.file, err)
		}
		if rec.Shape == entra.ShapeGraph {
			rec.TenantID = "0b5f5d3c-1111-4c2e-9c55-3c8b7a1c2d3e"
		}
		rec.Hits = []entra.Hit{{ID: "m.one", Title: "A monitor", Risk: "high", Source: string(rec.Stream), Reason: "r"}}
		b.Records = append(b.Records, rec)
		b.JSON = append(b.JSON, rec.AppendJSON(nil))
	}
	return b
}

// TestEnvelopeGolden writes the records with each envelope: as_read (the
// default) is the runner's enriched JSON, line for line; diagnostic writes
// the three Graph records in the Azure Monitor envelope and the others as
// read. testdata/golden/<envelope>.jsonl are the files.
func TestEnvelopeGolden(t *testing.T) {
	for _, envelope := range []string{"as_read", "diagnostic", ""} {
		name := envelope
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.jsonl")
			o, err := New(Config{Path: path, Envelope: envelope})
			if err != nil {
				t.Fatal(err)
			}
			b := envelopeRecords(t)
			if err := o.Consume(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if err := o.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
			if len(lines) != len(b.Records) {
				t.Fatalf("%d lines for %d records", len(lines), len(b.Records))
			}
			enveloped := 0
			for i, rec := range b.Records {
				want := string(b.JSON[i])
				if envelope == "diagnostic" && rec.CanEnvelope() {
					want = string(rec.AppendDiagnosticJSON(nil))
					enveloped++
				}
				if lines[i] != want {
					t.Errorf("line %d (%s %s):\n got %s\nwant %s", i, rec.Shape, rec.LogCategory, lines[i], want)
				}
			}
			if envelope == "diagnostic" && enveloped != 3 {
				t.Errorf("%d records enveloped, want the Graph sign-in, audit and risk detection", enveloped)
			}
			if envelope == "" {
				return // the default: as_read, compared with its golden below
			}
			golden := filepath.Join("testdata", "golden", envelope+".jsonl")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./outputs/file -run TestEnvelopeGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("differs from %s", golden)
			}
		})
	}
	// The default is as_read.
	if envelopeOf("") != entra.EnvelopeAsRead {
		t.Error("the default envelope is not as_read")
	}
}

// stdout takes the envelope too.
func TestStdoutEnvelope(t *testing.T) {
	for _, envelope := range []string{"", "as_read", "diagnostic"} {
		var buf bytes.Buffer
		c := StdoutConfig{Envelope: envelope}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		o := NewStdoutConfig(&buf, c)
		b := envelopeRecords(t)
		if err := o.Consume(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		first := strings.SplitN(buf.String(), "\n", 2)[0]
		if isEnvelope := strings.HasPrefix(first, `{"time":`); isEnvelope != (envelope == "diagnostic") {
			t.Errorf("envelope %q: first line %.80s", envelope, first)
		}
	}
}

func TestEnvelopeConfig(t *testing.T) {
	for _, tc := range []struct {
		envelope, err string
	}{
		{"", ""}, {"as_read", ""}, {"diagnostic", ""}, {"Diagnostic", `envelope: "Diagnostic" is not diagnostic or as_read`},
	} {
		c := Config{Path: "x", Envelope: tc.envelope}
		err := c.Validate()
		s := StdoutConfig{Envelope: tc.envelope}
		serr := s.Validate()
		for _, e := range []error{err, serr} {
			if (e == nil) != (tc.err == "") || e != nil && e.Error() != tc.err {
				t.Errorf("%q: %v, want %q", tc.envelope, e, tc.err)
			}
		}
	}
}

// sample.yaml parses strictly (unknown keys are errors, as in the agent),
// validates, and shows the defaults.
func TestSampleConfig(t *testing.T) {
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Outputs []struct {
			Name   string        `yaml:"name"`
			File   *Config       `yaml:"file"`
			Stdout *StdoutConfig `yaml:"stdout"`
		} `yaml:"outputs"`
	}
	if err := yaml.UnmarshalWithOptions(data, &sample, yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	if len(sample.Outputs) != 2 || sample.Outputs[0].File == nil || sample.Outputs[1].Stdout == nil {
		t.Fatalf("sample.yaml: %+v", sample)
	}
	f := sample.Outputs[0].File
	if err := f.Validate(); err != nil || !f.sync() || f.Envelope != DefaultEnvelope {
		t.Errorf("sample.yaml file: %+v %v", f, err)
	}
	if err := sample.Outputs[1].Stdout.Validate(); err != nil {
		t.Error(err)
	}
}
