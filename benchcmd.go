package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/privtrail/privtrail/agent"
	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/inputs"
	fileinput "github.com/privtrail/privtrail/inputs/file"
	"github.com/privtrail/privtrail/internal/bench"
	"github.com/privtrail/privtrail/internal/synth"
	"github.com/privtrail/privtrail/outputs"
	fileoutput "github.com/privtrail/privtrail/outputs/file"
)

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := commandFlags("generate", "privtrail generate [-n N] [-seed S] -o FILE: write N synthetic Entra records (both wire shapes, ~80% sign-ins) as JSON lines, and the matching role map beside them.", stderr)
	n := fs.Int("n", 1_000_000, "records to write")
	seed := fs.Int64("seed", 1, "random seed (same seed, same bytes)")
	out := fs.String("o", "", "output file (- for stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return fmt.Errorf("generate: -o is required")
	}
	if *out == "-" {
		return synth.New(*seed, synth.DemoTenant()).WriteJSONLines(stdout, *n)
	}
	if err := writeGenerated(*out, *seed, *n); err != nil {
		return err
	}
	roleMap := filepath.Join(filepath.Dir(*out), "rolemap.yaml")
	if err := os.WriteFile(roleMap, synth.DemoTenant().RoleMapYAML(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d records to %s and the role map to %s\n", *n, *out, roleMap)
	return nil
}

func writeGenerated(path string, seed int64, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := synth.New(seed, synth.DemoTenant()).WriteJSONLines(f, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := commandFlags("bench", "privtrail bench [-n N]: generate N records, then time the baseline loop and the full pipeline (file input → decode → privilege → monitors → encode → file output) over them.", stderr)
	n := fs.Int("n", 1_000_000, "records to generate")
	dir := fs.String("dir", "", "work folder (default: a temporary one, removed afterwards)")
	keep := fs.Bool("keep", false, "keep the work folder")
	workers := fs.Int("workers", 0, "pipeline workers (0: one per CPU)")
	withBaseline := fs.Bool("baseline", true, "also time the baseline loop")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the pipeline run here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "privtrail-bench-")
		if err != nil {
			return err
		}
		*dir = tmp
		if !*keep {
			defer os.RemoveAll(tmp)
		}
	}
	// A second run in the same folder starts from empty state too: the
	// first run's checkpoints would skip the whole file.
	if err := os.RemoveAll(filepath.Join(*dir, "data")); err != nil {
		return err
	}
	input := filepath.Join(*dir, "records.jsonl")
	roleMap := filepath.Join(*dir, "rolemap.yaml")
	start := time.Now()
	if err := writeGenerated(input, 1, *n); err != nil {
		return err
	}
	if err := os.WriteFile(roleMap, synth.DemoTenant().RoleMapYAML(), 0o644); err != nil {
		return err
	}
	fi, _ := os.Stat(input)
	fmt.Fprintf(stdout, "generated %d records (%.0f MB) in %s\n", *n, float64(fi.Size())/1e6, time.Since(start).Round(time.Millisecond))

	var baseRate float64
	var err error
	if *withBaseline {
		if baseRate, err = timeBaseline(input, roleMap, fi.Size(), stdout); err != nil {
			return err
		}
	}

	cfg, err := benchConfig(*dir, input, roleMap, *workers)
	if err != nil {
		return err
	}
	return timePipeline(ctx, cfg, *cpuProfile, fi.Size(), baseRate, stdout, stderr)
}

// benchConfig is the full pipeline, as `privtrail run` builds it, over
// the generated records.
func benchConfig(dir, input, roleMap string, workers int) (*agent.Config, error) {
	pipelineFile, err := filepath.Abs("pipelines/privileged-accounts.yaml")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(pipelineFile); err != nil {
		return nil, fmt.Errorf("run bench from the privtrail source folder: %w", err)
	}
	return &agent.Config{
		DataDir:    filepath.Join(dir, "data"),
		DeadLetter: filepath.Join(dir, "dead-letter.jsonl"),
		Workers:    workers,
		Inputs:     []inputs.Entry{inputs.NewEntry("bench", "file", &fileinput.Config{Paths: []string{input}, BatchSize: 1000})},
		// The output is the null device so that a 10^7-record run needs
		// no disk for it; the encoding is done all the same.
		Outputs:   []outputs.Entry{{Name: "null", Type: "file", Config: &fileoutput.Config{Path: os.DevNull, Sync: new(bool)}}},
		Context:   agent.ContextConfig{Privilege: &privilege.Config{RoleMap: roleMap}},
		Pipelines: []string{pipelineFile},
	}, nil
}

// timePipeline runs cfg to the end and prints its rate, its ratio to the
// baseline (when timed) and the peak RSS of the run.
func timePipeline(ctx context.Context, cfg *agent.Config, cpuProfile string, size int64, baseRate float64, stdout, stderr io.Writer) error {
	a := agent.New(cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	runtime.GC()
	_ = bench.ResetPeakRSS()
	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pf.Close()
	}
	start := time.Now()
	err := a.Run(ctx)
	full := time.Since(start)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	done := a.Stats().Decoded.Load()
	rate := float64(done) / full.Seconds()
	fmt.Fprintf(stdout, "pipeline  %9.0f records/s  %6.1f MB/s  (%d records in %s, %d CPUs)\n", rate, float64(size)/1e6/full.Seconds(), done, full.Round(time.Millisecond), runtime.GOMAXPROCS(0))
	if baseRate > 0 {
		fmt.Fprintf(stdout, "ratio     %.2f× the baseline (target ≥ 1.5×)\n", rate/baseRate)
	}
	if peak := bench.PeakRSS(); peak > 0 {
		fmt.Fprintf(stdout, "peak RSS  %.0f MB during the pipeline run\n", float64(peak)/1e6)
	}
	return nil
}

// timeBaseline runs bench.Baseline over the input: one core,
// encoding/json, a map lookup, an append.
func timeBaseline(input, roleMap string, size int64, stdout io.Writer) (float64, error) {
	stage, err := privilege.New(privilege.Config{RoleMap: roleMap})
	if err != nil {
		return 0, err
	}
	users := stage.Map().PrivilegedKeys()
	f, err := os.Open(input)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	got, err := bench.Baseline(bufio.NewReaderSize(f, 1<<20), io.Discard, users)
	f.Close()
	if err != nil {
		return 0, err
	}
	base := time.Since(start)
	baseRate := float64(got) / base.Seconds()
	fmt.Fprintf(stdout, "baseline  %9.0f records/s  %6.1f MB/s  (%d records in %s, 1 goroutine)\n", baseRate, float64(size)/1e6/base.Seconds(), got, base.Round(time.Millisecond))
	return baseRate, nil
}
