package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayEveryCategory: one valid record of every diagnostic category
// Entra sends (and of a made-up one) replays with no dead letter, and
// every record reaches the output, its bytes unchanged plus the privtrail
// object.
func TestReplayEveryCategory(t *testing.T) {
	const input = "entra/testdata/every_category.jsonl"
	outPath := filepath.Join(t.TempDir(), "out.jsonl")
	var out bytes.Buffer
	if code := run([]string{"replay", "-c", "configs/demo.yaml", "-o", outPath, input}, &out, &out); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "bad records: 0") {
		t.Errorf("dead letters:\n%s", out.String())
	}
	in, err := os.ReadFile(input)
	if err != nil {
		t.Fatal(err)
	}
	inLines := strings.Split(strings.TrimSuffix(string(in), "\n"), "\n")
	got, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	var outLines []string
	sc := bufio.NewScanner(bytes.NewReader(got))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		outLines = append(outLines, sc.Text())
	}
	if len(outLines) != len(inLines) {
		t.Fatalf("%d records out, %d in", len(outLines), len(inLines))
	}
	for i, line := range outLines {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		var pt struct{ Stream, Category string }
		if err := json.Unmarshal(doc["privtrail"], &pt); err != nil || pt.Stream == "" || pt.Category == "" {
			t.Errorf("line %d: privtrail object %s", i+1, doc["privtrail"])
		}
		// The original bytes, then the privtrail object.
		orig := inLines[i]
		if !strings.HasPrefix(line, strings.TrimSuffix(orig, "}")) {
			t.Errorf("line %d does not start with the input record", i+1)
		}
		if !strings.Contains(out.String(), " "+pt.Category+" 1") {
			t.Errorf("summary does not count %s:\n%s", pt.Category, out.String())
		}
	}
}

// `privtrail monitors` names the streams a monitor reads that no input
// delivers: a Graph input without its risk streams runs the ID
// Protection monitor on sign-ins only, and the Graph activity monitor has
// no data at all.
func TestMonitorsNamesMissingStreams(t *testing.T) {
	dir := t.TempDir()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PT_TEST_SECRET", "x")
	cfg := `data_dir: data
graph:
  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
  client_id: 0b229528-7664-5327-845d-4a430aad7f23
  client_secret: ${PT_TEST_SECRET}
inputs:
  - name: entra
    graph: {streams: [signins, audits]}
outputs:
  - name: archive
    file: {path: out.jsonl}
context:
  privilege: {role_map: ` + filepath.Join(wd, "testdata/demo/rolemap.yaml") + `}
pipelines: [` + filepath.Join(wd, "pipelines/demo.yaml") + `]
`
	path := filepath.Join(dir, "privtrail.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run([]string{"monitors", "-c", path}, &out, &out); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	for _, want := range []string{
		"ok (signin only: no input of risk records; add the graph streams risk_detections and risky_users",
		"needs an input of graphactivity records; add MicrosoftGraphActivityLogs",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("monitors output lacks %q:\n%s", want, out.String())
		}
	}
}
