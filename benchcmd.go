package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/internal/bench"
	"github.com/privtrail/privtrail/internal/outputbench"
	"github.com/privtrail/privtrail/internal/synth"
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
	fs := commandFlags("bench", "privtrail bench: one table — the pipeline against the bare JSON floor on the shared data (../shared/perf) at two admin populations, peak memory at growing input sizes, and each SIEM output end to end against its sender alone. Run it from the source folder.", stderr)
	n := fs.Int("n", 200_000, "records of the pipeline-vs-floor rows")
	admins := fs.String("admins", "100,1000", "admin populations of the pipeline-vs-floor rows (users the audit records' role grants target, of 10,000)")
	sizes := fs.String("sizes", "100000,1000000", "input sizes of the memory rows (add 10000000 for the full check: a 20 GB file)")
	outputList := fs.String("outputs", strings.Join(outputbench.Kinds, ","), "SIEM outputs to measure end to end against their sender alone (none: skip)")
	outputRecords := fs.Int("output-records", 100_000, "records per output measurement")
	runs := fs.Int("runs", 1, "runs of each measurement; the table shows ranges")
	perf := fs.String("perf", filepath.Join("..", "shared", "perf"), "the shared performance harness (gen, floor); without it privtrail's own generator and baseline loop stand in")
	dir := fs.String("dir", filepath.Join(os.TempDir(), "privtrail-bench"), "work folder; generated records are kept there for the next run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	b, err := newBencher(ctx, *dir, *perf, stderr)
	if err != nil {
		return err
	}
	var rows []bench.Row
	for _, a := range splitInts(*admins) {
		for _, stored := range []bool{false, true} {
			row, err := b.pipelineVsFloor(ctx, *n, a, *runs, stored)
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
	}
	for _, size := range splitInts(*sizes) {
		row, err := b.memory(ctx, size, *runs)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if *outputList != "none" && *outputList != "" {
		for _, kind := range strings.Split(*outputList, ",") {
			rows = append(rows, b.output(ctx, strings.TrimSpace(kind), *outputRecords, *runs))
		}
	}
	bench.Print(stdout, rows)
	return nil
}

// bencher runs the measurements of `privtrail bench`: the pipeline as a
// separate process (`privtrail replay`, as a user runs it, so that its
// peak RSS is its own) over generated records.
type bencher struct {
	dir, exe string
	shared   *bench.Shared // nil: privtrail's own generator and baseline
	log      io.Writer
}

func newBencher(ctx context.Context, dir, perf string, log io.Writer) (*bencher, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"pipelines/privileged-accounts.yaml", "testdata/demo/demo-city.mmdb"} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("run bench from the privtrail source folder: %w", err)
		}
	}
	b := &bencher{dir: dir, exe: exe, log: log}
	shared, ok, err := bench.OpenShared(ctx, perf, dir)
	switch {
	case err != nil:
		return nil, err
	case ok:
		b.shared = shared
		if err := os.WriteFile(filepath.Join(dir, "rolemap.yaml"), bench.SharedRoleMap(), 0o644); err != nil {
			return nil, err
		}
	default:
		fmt.Fprintf(log, "bench: %s is not the shared perf harness: privtrail's own generator and baseline loop stand in for its gen and floor\n", perf)
		if err := os.WriteFile(filepath.Join(dir, "rolemap.yaml"), synth.DemoTenant().RoleMapYAML(), 0o644); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// data generates (once; kept in the work folder) n records with admins.
func (b *bencher) data(ctx context.Context, n, admins int) (string, error) {
	if b.shared == nil {
		path := filepath.Join(b.dir, fmt.Sprintf("synth-%d.jsonl", n))
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return path, nil
		}
		fmt.Fprintf(b.log, "bench: generating %d records\n", n)
		return path, writeGenerated(path, 1, n)
	}
	path := filepath.Join(b.dir, fmt.Sprintf("data-%d-%d.jsonl", n, admins))
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(b.log, "bench: generating %d records (%d admins) with %s\n", n, admins, b.shared.Gen)
	}
	return path, b.shared.Generate(ctx, path, n, admins)
}

// pipeline runs `privtrail replay` over data with every context stage
// (the demo's MMDBs, PAW list and work hours) and the shipped monitors,
// writing to the null device, from empty state: in a throwaway folder, or
// stored in a data folder (-data-dir).
func (b *bencher) pipeline(ctx context.Context, data string, stored bool) (bench.Run, error) {
	wd, err := os.Getwd()
	if err != nil {
		return bench.Run{}, err
	}
	state := filepath.Join(b.dir, "state")
	if err := os.RemoveAll(state); err != nil {
		return bench.Run{}, err
	}
	demo := func(f string) string { return filepath.Join(wd, "testdata", "demo", f) }
	cfg := filepath.Join(b.dir, "privtrail.yaml")
	doc := fmt.Sprintf(`data_dir: %q
inputs: [{name: bench, file: {paths: [%q]}}]
outputs: [{name: out, file: {path: %q}}]
context:
  privilege: {role_map: %q}
  geo: {city_db: %q, asn_db: %q}
  device: {devices: %q}
  work_hours: {schedules: %q}
pipelines: [%q]
`, state, data, os.DevNull, filepath.Join(b.dir, "rolemap.yaml"), demo("demo-city.mmdb"), demo("demo-asn.mmdb"),
		demo("devices.yaml"), demo("work-hours.yaml"), filepath.Join(wd, "pipelines", "privileged-accounts.yaml"))
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		return bench.Run{}, err
	}
	args := []string{"replay", "-c", cfg, "-o", os.DevNull}
	if stored {
		args = append(args, "-data-dir", state)
	}
	return bench.Process(ctx, "", "", b.exe, append(args, data)...)
}

// floor times the reference loop over data: the harness's floor program,
// or privtrail's own baseline loop in this process.
func (b *bencher) floor(ctx context.Context, data string) (time.Duration, error) {
	if b.shared != nil {
		r, err := bench.Process(ctx, data, "", b.shared.Floor)
		return r.Wall, err
	}
	stage, err := privilege.New(privilege.Config{RoleMap: filepath.Join(b.dir, "rolemap.yaml"), ReloadInterval: -1})
	if err != nil {
		return 0, err
	}
	defer stage.Close()
	f, err := os.Open(data)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	_, err = bench.Baseline(bufio.NewReaderSize(f, 1<<20), io.Discard, stage.Map().PrivilegedKeys())
	return time.Since(start), err
}

// pipelineVsFloor runs the pipeline as `../shared/perf/ratio` does (a
// replay into a throwaway folder, nothing synced) or, stored, with its
// state in a data folder, synced as `privtrail run` stores it.
func (b *bencher) pipelineVsFloor(ctx context.Context, n, admins, runs int, stored bool) (bench.Row, error) {
	// The targets: 1.5× the floor with 100 admins, 1.0× with 1,000.
	row := bench.Row{What: fmt.Sprintf("pipeline vs floor, %s records, %d admins", bench.Thousands(int64(n)), admins), Target: "≥ 1.5"}
	if admins >= 1000 {
		row.Target = "≥ 1.0"
	}
	if stored {
		row.What += ", state stored"
		row.Target = "—"
	}
	data, err := b.data(ctx, n, admins)
	if err != nil {
		return row, err
	}
	for range runs {
		fl, err := b.floor(ctx, data)
		if err != nil {
			return row, err
		}
		p, err := b.pipeline(ctx, data, stored)
		if err != nil {
			return row, err
		}
		row.Privtrail.Add(float64(n) / p.Wall.Seconds())
		row.Reference.Add(float64(n) / fl.Seconds())
		row.Ratio.Add(fl.Seconds() / p.Wall.Seconds())
		row.RSS.Add(float64(p.MaxRSS))
	}
	if b.shared == nil {
		row.Note = "privtrail's generator and baseline loop (no ../shared/perf)"
	} else {
		row.Note = "floor: ../shared/perf/floor, one core"
	}
	if stored {
		row.Note += "; replay -data-dir: monitor state and privilege journal synced as `run` stores them"
	}
	return row, nil
}

func (b *bencher) memory(ctx context.Context, n, runs int) (bench.Row, error) {
	row := bench.Row{What: fmt.Sprintf("pipeline, %s records (memory)", bench.Thousands(int64(n))), Target: "peak RSS ≤ 200 MB"}
	data, err := b.data(ctx, n, 100)
	if err != nil {
		return row, err
	}
	for range runs {
		p, err := b.pipeline(ctx, data, false)
		if err != nil {
			return row, err
		}
		row.Privtrail.Add(float64(n) / p.Wall.Seconds())
		row.RSS.Add(float64(p.MaxRSS))
	}
	return row, nil
}

func splitInts(s string) []int {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	return out
}

// output measures one SIEM output kind (internal/outputbench): its
// encoder and sender without the disk buffer, then the whole output
// through it, against the same in-process peer. The note gives the sender
// alone on pre-encoded batches and the encoder's cost per record.
func (b *bencher) output(ctx context.Context, kind string, records, runs int) bench.Row {
	row := bench.Row{What: "output " + kind + ": end to end vs encode+send", Target: "≥ 0.8"}
	var alone, senderRatio, encoding bench.Range
	for range runs {
		dir, err := os.MkdirTemp(b.dir, "output-")
		if err != nil {
			row.Unmeasured = err.Error()
			return row
		}
		res, err := outputbench.Run(ctx, kind, records, dir)
		os.RemoveAll(dir)
		if err != nil {
			row.Unmeasured = err.Error()
			return row
		}
		if res.Missing > 0 {
			row.Unmeasured = fmt.Sprintf("%d of %d records never reached the peer", res.Missing, res.Records)
			return row
		}
		row.Privtrail.Add(res.EndToEnd)
		row.Reference.Add(res.EncodeAndSend)
		row.Ratio.Add(res.Ratio())
		alone.Add(res.SenderAlone)
		senderRatio.Add(res.SenderRatio())
		encoding.Add(float64(res.Encoding.Nanoseconds()) / 1000)
		row.Note = fmt.Sprintf("sender alone (pre-encoded) %s rec/s, end to end %s× that; encoding %s µs/record; %s; %s",
			alone.Format(bench.Rate), senderRatio.Format(twoPlaces), encoding.Format(onePlace), res.Settings, res.Peer)
	}
	return row
}

func twoPlaces(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
func onePlace(v float64) string  { return strconv.FormatFloat(v, 'f', 1, 64) }
