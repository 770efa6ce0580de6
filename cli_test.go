package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// What a new user types, and what privtrail must answer: exit code and
// the words that matter.
func TestFirstHourCommands(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want []string // in stdout or stderr
		not  []string
	}{
		{[]string{"version"}, 0, []string{"privtrail ", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}, nil},
		{[]string{"health", "-h"}, 0, []string{"privtrail health [URL]"}, []string{"unsupported protocol scheme"}},
		{[]string{"generate", "-h"}, 0, []string{"-seed"}, []string{"-c string", "config file"}},
		{[]string{"bench", "-h"}, 0, []string{"-admins", "-sizes", "-outputs"}, []string{"config file"}},
		{[]string{"replay", "-c", "configs/demo.yaml", filepath.Join(dir, "nope.json")}, 1, []string{"no such file"}, nil},
		{[]string{"replay", "-c", "configs/demo.yaml", filepath.Join(dir, "*.gz")}, 1, []string{"nothing matches"}, nil},
		{[]string{"replay", "-c", "configs/demo.yaml", empty}, 1, []string{"read no record", "the files are empty"}, nil},
		// The same export again with the same -data-dir: its checkpoints
		// say it was read, which is not the same as an empty file.
		{[]string{"replay", "-c", "configs/demo.yaml", "-data-dir", filepath.Join(dir, "data"), "-o", filepath.Join(dir, "out.jsonl"), "testdata/demo/audit.json"}, 0, []string{"records read"}, nil},
		{[]string{"replay", "-c", "configs/demo.yaml", "-data-dir", filepath.Join(dir, "data"), "-o", filepath.Join(dir, "out.jsonl"), "testdata/demo/audit.json"}, 1, []string{"read to their end before (replayed already?)"}, []string{"the files are empty"}},
		{[]string{"check", "-offline", "-c", "configs/demo.yaml"}, 0, []string{"monitors enabled: 42 (40 of the guide's 40, 2 more: signin.not_paw"}, nil},
		{[]string{"demo"}, 0, []string{"bad records: 2, planted in the demo data", "from monitors: 42 (40 of the guide's 40"}, []string{"level=WARN"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			code := run(tc.args, &out, &out)
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// A bench run prints its table twice in the same folder (the first run's
// checkpoints used to skip the whole file the second time), on the shared
// harness's records when it is there and on privtrail's own without it.
// The pipeline runs as a process of its own: the test binary, re-executed
// as privtrail (TestMain).
func TestBenchTable(t *testing.T) {
	t.Setenv(runPrivtrailEnv, "1")
	perfs := []string{filepath.Join(t.TempDir(), "no-harness")}
	if _, err := os.Stat("../shared/perf/floor"); err == nil {
		perfs = append(perfs, "../shared/perf")
	}
	for _, perf := range perfs {
		dir := t.TempDir()
		for i := range 2 {
			var out bytes.Buffer
			code := run([]string{"bench", "-n", "2000", "-admins", "100", "-sizes", "3000", "-outputs", "none", "-perf", perf, "-dir", dir}, &out, &out)
			if code != 0 {
				t.Fatalf("%s, run %d: exit %d\n%s", perf, i+1, code, out.String())
			}
			for _, want := range []string{"privtrail bench on ", "pipeline vs floor, 2,000 records, 100 admins", "pipeline vs floor, 2,000 records, 100 admins, state stored", "pipeline, 3,000 records (memory)", " MB"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("%s, run %d: no %q in\n%s", perf, i+1, want, out.String())
				}
			}
			if strings.Contains(out.String(), "pipeline vs floor, 2,000 records, 100 admins   —") {
				t.Errorf("%s, run %d: nothing measured\n%s", perf, i+1, out.String())
			}
		}
	}
}

// On a terminal a log line never lands on the progress line: it clears
// it, takes a line of its own, and the progress is drawn again below.
func TestStatusLineKeepsLogsApart(t *testing.T) {
	var term bytes.Buffer
	s := &statusLine{w: &term}
	s.set("12 records  6/s")
	if _, err := s.Write([]byte("time=… level=WARN msg=x\n")); err != nil {
		t.Fatal(err)
	}
	s.set("")
	want := "\r\033[K12 records  6/s" + "\r\033[K" + "time=… level=WARN msg=x\n" + "12 records  6/s" + "\r\033[K"
	if term.String() != want {
		t.Errorf("terminal got %q\nwant %q", term.String(), want)
	}
}

// A replay keeps what it learns in its own data directory: a state_file
// the config names belongs to the agent that runs on that config, whose
// journal the replay would append to and then empty. Without -data-dir
// nothing is left behind.
func TestReplayKeepsToItsDataDir(t *testing.T) {
	dir := t.TempDir()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	agentState := filepath.Join(dir, "agent", "privilege-state.json")
	cfg := filepath.Join(dir, "privtrail.yaml")
	yaml := "data_dir: " + filepath.Join(dir, "agent") + "\n" +
		"inputs: [{name: demo, file: {paths: [" + filepath.Join(wd, "testdata/demo") + "]}}]\n" +
		"outputs: [{name: out, file: {path: " + filepath.Join(dir, "agent-out.jsonl") + "}}]\n" +
		"context: {privilege: {role_map: " + filepath.Join(wd, "testdata/demo/rolemap.yaml") + ", state_file: " + agentState + "}}\n" +
		"pipelines: [" + filepath.Join(wd, "pipelines/demo.yaml") + "]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{tmp, filepath.Dir(agentState)} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TMPDIR", tmp)
	data := filepath.Join(dir, "replay-data")
	for _, args := range [][]string{
		{"replay", "-c", cfg, "-o", filepath.Join(dir, "out1.jsonl"), "testdata/demo/audit.json"},
		{"replay", "-c", cfg, "-data-dir", data, "-o", filepath.Join(dir, "out2.jsonl"), "testdata/demo/audit.json"},
	} {
		var out bytes.Buffer
		if code := run(args, &out, &out); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out.String())
		}
	}
	for _, p := range []string{agentState, agentState + ".journal"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the replay wrote the agent's %s", p)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the replay without -data-dir left %v", left)
	}
	if _, err := os.Stat(filepath.Join(data, "privilege-state.json")); err != nil {
		t.Errorf("the replay with -data-dir kept no privilege state there: %v", err)
	}
	one, _ := os.ReadFile(filepath.Join(dir, "out1.jsonl"))
	two, _ := os.ReadFile(filepath.Join(dir, "out2.jsonl"))
	if len(one) == 0 || !bytes.Equal(one, two) {
		t.Errorf("the two replays wrote different records (%d and %d bytes)", len(one), len(two))
	}
}
