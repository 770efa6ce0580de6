package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/privtrail/privtrail/agent"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/inputs"
	"github.com/privtrail/privtrail/inputs/eventhubs"
	"github.com/privtrail/privtrail/internal/changelog"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/store"
	"github.com/privtrail/privtrail/monitor"
	"github.com/privtrail/privtrail/outputs"
	fileoutput "github.com/privtrail/privtrail/outputs/file"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := flags("demo", "privtrail demo: run the bundled demo (testdata/demo) and print what the monitors found.", stderr)
	fs.Lookup("c").DefValue = "configs/demo.yaml"
	_ = fs.Set("c", "configs/demo.yaml")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := agent.LoadConfig(*cfgPath)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%w (run the demo from the privtrail source folder: go run .)", err)
		}
		return err
	}
	tmp, err := os.MkdirTemp("", "privtrail-demo-")
	if err != nil {
		return err
	}
	cfg.DataDir = filepath.Join(tmp, "data")
	cfg.DeadLetter = filepath.Join(tmp, "dead-letter.jsonl")
	enriched := filepath.Join(tmp, "enriched.jsonl")
	cfg.Outputs = []outputs.Entry{{Name: "enriched", Type: "file", Config: &fileoutput.Config{Path: enriched}}}

	// The demo's two bad records are planted (its README says why): the
	// summary says so instead of two warnings on the terminal.
	status := terminalStatus(stderr)
	log := slog.New(slog.NewTextHandler(logTo(status, stderr), &slog.HandlerOptions{Level: slog.LevelError}))
	return replaySummary(ctx, cfg, log, status, stdout, "privtrail demo", ", planted in the demo data to show the dead-letter file", func() {
		fmt.Fprintf(stdout, "\nEnriched records (original document + \"privtrail\" object), one per line:\n  %s\n", enriched)
		fmt.Fprintf(stdout, "e.g.  grep -m1 breakglass.signin %s\n", enriched)
	})
}

// errReadNothing is a replay that read no record.
var errReadNothing = errors.New("read no record: the files are empty or none could be read (see the warnings above)")

// replaySummary runs cfg to the end with a Summary output and prints it.
// badNote follows the count of bad records (the demo's are planted).
func replaySummary(ctx context.Context, cfg *agent.Config, log *slog.Logger, status *statusLine, stdout io.Writer, title, badNote string, after func()) error {
	a := agent.New(cfg, log)
	sum := agent.NewSummary()
	a.AddOutput("summary", sum)
	start := time.Now()
	stopProgress := progress(status, a, start)
	err := a.Run(ctx)
	stopProgress()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	st := a.Stats()
	if st.Read.Load() == 0 {
		// A typo in a script's path must not pass as a replay of nothing.
		return errReadNothing
	}
	fmt.Fprintf(stdout, "%s: %d records read in %s (%.0f records/s)\n", title, st.Read.Load(), elapsed.Round(time.Millisecond), float64(st.Read.Load())/elapsed.Seconds())
	var parts []string
	for _, s := range entra.Streams {
		parts = append(parts, fmt.Sprintf("%s %d", s, st.Stream(s)))
	}
	fmt.Fprintf(stdout, "  decoded: %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(stdout, "  categories: %s\n", categoryLine(st.Categories()))
	if bad := st.Bad.Load(); bad > 0 {
		fmt.Fprintf(stdout, "  bad records: %d%s (reasons in %s)\n", bad, badNote, a.DeadLetterPath())
	} else {
		fmt.Fprintf(stdout, "  bad records: 0\n")
	}
	fmt.Fprintf(stdout, "  privileged users seen: %d\n", sum.PrivilegedUsers())
	hits := 0
	var fired []string
	for id, n := range sum.Hits() {
		hits += n
		fired = append(fired, id)
	}
	slices.Sort(fired)
	fmt.Fprintf(stdout, "  monitor hits: %d, from monitors: %s\n\n", hits, monitor.DescribeCount(fired))
	sum.WriteTable(stdout)
	if after != nil {
		after()
	}
	return nil
}

// categoryLine lists record counts per log category, most first.
func categoryLine(counts map[string]int64) string {
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %d", name, counts[name])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := flags("replay", "privtrail replay -c FILE [-o OUT] PATH...: run exported logs through the config's first pipeline\n(or -pipeline NAME) from empty state, then print a summary.", stderr)
	out := fs.String("o", "", "write enriched records here instead of the config's outputs (- for stdout)")
	dataDir := fs.String("data-dir", "", "keep checkpoints here (default: a fresh temporary folder, so the whole export is replayed)")
	pipeline := fs.String("pipeline", "", "pipeline to replay through (default: the first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("replay: name at least one file, glob or folder")
	}
	cfg, err := agent.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	for _, p := range fs.Args() {
		if m, _ := filepath.Glob(p); len(m) == 0 {
			if _, err := os.Stat(p); err != nil {
				if strings.ContainsAny(p, "*?[") {
					return fmt.Errorf("replay: nothing matches %s", p)
				}
				return fmt.Errorf("replay: %w", err)
			}
		}
	}
	if err := cfg.Replay(fs.Args(), *pipeline); err != nil {
		return err
	}
	// A data dir that holds checkpoints may have read these files before.
	usedBefore := false
	if *dataDir != "" {
		_, err := os.Stat(filepath.Join(*dataDir, store.FileName))
		usedBefore = err == nil
	}
	scratch := *dataDir == ""
	if scratch {
		tmp, err := os.MkdirTemp("", "privtrail-replay-")
		if err != nil {
			return err
		}
		*dataDir = tmp
		// Nothing in it is worth keeping but the dead letters.
		defer func() {
			if fi, err := os.Stat(filepath.Join(tmp, "dead-letter.jsonl")); err != nil || fi.Size() == 0 {
				os.RemoveAll(tmp)
			}
		}()
	}
	cfg.ReplayDataDir(*dataDir, scratch)
	switch *out {
	case "":
	case "-":
		cfg.Outputs = []outputs.Entry{{Name: "stdout", Type: "stdout", Config: &fileoutput.StdoutConfig{}}}
	default:
		cfg.Outputs = []outputs.Entry{{Name: "replay", Type: "file", Config: &fileoutput.Config{Path: *out}}}
	}
	summaryTo := stdout
	if *out == "-" {
		summaryTo = stderr
	}
	status := terminalStatus(stderr)
	err = replaySummary(ctx, cfg, newLogger(cfg, logTo(status, stderr)), status, summaryTo, "privtrail replay", "", nil)
	if errors.Is(err, errReadNothing) && usedBefore {
		return fmt.Errorf("read no record: the checkpoints in %s say these files were read to their end before (replayed already?); to replay them again, use a new -data-dir or none", *dataDir)
	}
	return err
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := flags("check", "privtrail check -c FILE: validate the config, load its role map and compile its pipelines; then, unless -offline,\n"+
		"test the app registration's credentials and each Graph permission (with a graph block), each eventhubs input\n"+
		"(connection, topics, consumer group lag) and each output (connection, credentials, index or topic), without\n"+
		"reading or sending a record. It exits non-zero when any of them fails.", stderr)
	offline := fs.Bool("offline", false, "do not contact Graph, the sources or the destinations")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := agent.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	stages, err := agent.BuildStages(cfg, log)
	if err != nil {
		return err
	}
	defer stages.Close()
	fmt.Fprintf(stdout, "context stages: %d loaded\n", len(stages.List))
	topo, err := agent.LoadTopology(cfg, stages.Roles, log)
	if err != nil {
		return err
	}
	var enabled []string
	for _, p := range topo.Pipelines {
		for _, m := range p.Engine.Monitors() {
			enabled = append(enabled, m.ID)
		}
	}
	checkState(cfg.DataDir, stdout)
	var failed []string
	if cfg.Graph != nil && !*offline {
		if err := checkGraph(cfg.Graph, log, stdout); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if err := checkEndpoints(endpoints(cfg, log, *offline), stdout); err != nil {
		failed = append(failed, err.Error())
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	fmt.Fprintf(stdout, "%s: OK (%d inputs, %d outputs, %d pipelines, monitors enabled: %s)\n", cfg.File(), len(cfg.Inputs), len(cfg.Outputs), len(topo.Pipelines), monitor.DescribeCount(enabled))
	return nil
}

// checkState reads the stateful monitors' stored entries, if the data
// directory has a store yet, and says how many of which monitor do not
// decode: the agent starts those keys afresh, so what they remembered
// (failure counts, first-seen values, pending correlations) is lost.
func checkState(dataDir string, stdout io.Writer) {
	var states []monitor.StoredState
	found, err := store.Inspect(dataDir, func(r *store.Reader) (err error) {
		states, err = monitor.InspectState(r)
		return err
	})
	switch {
	case !found && store.DataDirUsed(dataDir):
		fmt.Fprintf(stdout, "warning: store: %s has been used, but its store is missing or empty: the next start reads every input from the beginning and sends those records again\n", dataDir)
		return
	case !found:
		fmt.Fprintf(stdout, "monitor state: none yet in %s\n", dataDir)
		return
	case errors.Is(err, store.ErrInUse):
		fmt.Fprintf(stdout, "monitor state: not read, the store is in use by a running privtrail (see privtrail_monitor_state_unreadable_total)\n")
		return
	case err != nil:
		fmt.Fprintf(stdout, "warning: monitor state: %v\n", err)
		return
	}
	var entries, unreadable int64
	for _, s := range states {
		entries += s.Entries
		unreadable += s.Unreadable
		if s.Unreadable > 0 {
			fmt.Fprintf(stdout, "warning: monitor state: %d of %d entries of %s (pipeline %s) are unreadable; the agent starts them afresh\n",
				s.Unreadable, s.Entries, s.Monitor, s.Pipeline)
		}
	}
	fmt.Fprintf(stdout, "monitor state: %d entries of %d monitors, %d unreadable\n", entries, len(states), unreadable)
}

// runResetState deletes the stateful monitors' stored state, for a user
// who cannot trust it (see README "Changes that need action"). The store
// lock refuses it while an agent runs on the data directory.
func runResetState(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := flags("reset-state", "privtrail reset-state -c FILE: delete what the stateful monitors remember (thresholds' counts,\n"+
		"first-seen values, pending correlations) from the config's data directory; they start afresh, first_seen\n"+
		"learning again. Checkpoints, Graph cursors and buffers stay. Stop the agent first.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := agent.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "privtrail.db")); err != nil {
		return fmt.Errorf("no store in %s: %w", cfg.DataDir, err)
	}
	st, err := store.Open(cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	var deleted []monitor.StoredState
	if err := st.Update(func(w *store.Writer) (err error) {
		deleted, err = monitor.ResetState(w)
		return err
	}); err != nil {
		return err
	}
	var entries int64
	for _, s := range deleted {
		entries += s.Entries
		fmt.Fprintf(stdout, "deleted %d entries of %s (pipeline %s)\n", s.Entries, s.Monitor, s.Pipeline)
	}
	fmt.Fprintf(stdout, "monitor state reset: %d entries of %d monitors deleted from %s\n", entries, len(deleted), cfg.DataDir)
	return nil
}

// endpointTimeout bounds the check of one source or destination.
const endpointTimeout = 15 * time.Second

// endpoint is a source or destination privtrail check tests: label names
// it ("output es (elastic)"), check says what it verified or why it
// failed.
type endpoint struct {
	label string
	check func(ctx context.Context) (string, error)
}

// endpoints are what the input and output types of cfg can check (the
// graph and dirscan inputs read through Graph, which checkGraph tests),
// and a processor's state topic. Offline, only the checks that touch
// nothing beyond this host (folders, files).
func endpoints(cfg *agent.Config, log *slog.Logger, offline bool) []endpoint {
	var eps []endpoint
	add := func(label string, check func(ctx context.Context, log *slog.Logger) (string, error)) {
		l := log.With("check", label)
		eps = append(eps, endpoint{label, func(ctx context.Context) (string, error) { return check(ctx, l) }})
	}
	for _, in := range cfg.Inputs {
		f := inputs.Lookup(in.Type)
		if f.Checkable() && (f.Local || !offline) {
			add("input "+in.Name+" ("+in.Type+")", func(ctx context.Context, l *slog.Logger) (string, error) { return f.Check(ctx, in.Config, l) })
		}
	}
	if cl := cfg.Cluster; cl != nil && cl.Role == agent.RoleProcessor && !offline {
		if in, ok := cfg.Inputs[0].Config.(*eventhubs.Config); ok {
			add("cluster state ("+cl.StateTopic+")", func(ctx context.Context, l *slog.Logger) (string, error) {
				conn, err := eventhubs.New("check", *in, slog.New(slog.DiscardHandler), nil)
				if err != nil {
					return "", err
				}
				return changelog.Check(ctx, changelog.Options{Topic: cl.StateTopic, SourceTopic: cl.Kafka.Topic, Conn: conn.ConnOpts(), Log: l})
			})
		}
	}
	for _, o := range cfg.Outputs {
		f := outputs.Lookup(o.Type)
		if f.Local || !offline {
			add("output "+o.Name+" ("+o.Type+")", func(ctx context.Context, l *slog.Logger) (string, error) { return f.Check(ctx, o.Config, l) })
		}
	}
	return eps
}

// checkEndpoints runs every check at once, endpointTimeout each, and
// prints one aligned line per endpoint in config order:
//
//	output splunk-prod (splunk): ok      HEC healthy, token accepted
//	output es (elastic):         FAILED  credentials refused (401): check username/password
//
// It fails when any of them failed, after all were tried.
func checkEndpoints(eps []endpoint, stdout io.Writer) error {
	type result struct {
		what string
		err  error
	}
	results := make([]chan result, len(eps))
	width := 0
	for i, ep := range eps {
		width = max(width, len(ep.label)+1)
		results[i] = make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), endpointTimeout)
			defer cancel()
			what, err := ep.check(ctx)
			if err != nil && ctx.Err() != nil {
				err = fmt.Errorf("no answer within %s: %w", endpointTimeout, err)
			}
			results[i] <- result{what, err}
		}()
	}
	failed := 0
	for i, ep := range eps {
		r := <-results[i]
		status, msg := "ok", r.what
		if r.err != nil {
			failed++
			status, msg = "FAILED", strings.ReplaceAll(r.err.Error(), "\n", "; ")
		}
		fmt.Fprintf(stdout, "%-*s %-7s %s\n", width, ep.label+":", status, msg)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d sources and destinations failed the check", failed, len(eps))
	}
	return nil
}

// checkGraph probes every Graph permission privtrail uses and says, per
// feature, which application permission is missing.
func checkGraph(cfg *graphapi.Config, log *slog.Logger, stdout io.Writer) error {
	c, err := graphapi.New(*cfg, log, graphapi.WithVersion(version()))
	if err != nil {
		return fmt.Errorf("graph: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	failed := 0
	for _, r := range c.Check(ctx) {
		switch {
		case r.Err == nil:
			fmt.Fprintf(stdout, "graph: ok       %-58s %s\n", r.Feature, r.Permission.Permission)
		case r.Missing:
			failed++
			fmt.Fprintf(stdout, "graph: MISSING  %-58s grant the application permission %s (and admin consent)\n", r.Feature, r.Permission.Permission)
		default:
			failed++
			fmt.Fprintf(stdout, "graph: FAILED   %-58s %v\n", r.Feature, r.Err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("graph: %d of %d checks failed", failed, len(graphapi.Permissions))
	}
	return nil
}

func runMonitors(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := flags("monitors", "privtrail monitors -c FILE: list every monitor of the config's pipelines, whether it is on, and whether the context it needs is configured.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := agent.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tID\tRISK\tSOURCE\tON\tSTATE\tDATA\tTITLE\tFILE")
	running := map[string]bool{}
	for _, path := range cfg.Pipelines {
		p, err := monitor.LoadPipeline(path)
		if err != nil {
			return err
		}
		for _, d := range p.Monitors {
			on := "on"
			if !d.IsEnabled() {
				on = "off"
			}
			data := dataNeeded(cfg, &d)
			file := d.File()
			if n := d.Native; n != nil {
				// A Sigma rule: where the rule is, and why it cannot run
				// when privtrail does not read its log.
				file = n.RuleFile
				if n.Skipped != "" {
					on, data = "skipped", n.Skipped
				}
			}
			if on == "on" && strings.HasPrefix(data, "ok") {
				running[d.ID] = true
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, d.ID, d.Risk, d.Source, on, stateOf(&d), data, d.Title, file)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Coverage against the guide: which of its monitors run with all the
	// data they need.
	var missing []string
	for _, c := range monitor.Catalog {
		if !running[c.ID] {
			missing = append(missing, c.ID)
		}
	}
	fmt.Fprintf(stdout, "\nguide coverage: %d of %d monitors of the guide run with the data they need\n", len(monitor.Catalog)-len(missing), len(monitor.Catalog))
	if len(missing) > 0 {
		fmt.Fprintf(stdout, "not running or lacking data: %s\n", strings.Join(missing, ", "))
	}
	return nil
}

// stateOf says which stateful operator a monitor uses, and its bounds.
func stateOf(d *monitor.Definition) string {
	switch {
	case d.Threshold != nil:
		return fmt.Sprintf("threshold %d/%s", d.Threshold.Count, d.Threshold.Window)
	case d.FirstSeen != nil:
		return "first_seen"
	case d.Correlate != nil:
		return "correlate " + d.Correlate.Within.String()
	}
	return "-"
}

// dataNeeded says whether the context a monitor reads is configured, and
// whether its lists are set (a monitor with empty allow-lists never fires).
func dataNeeded(cfg *agent.Config, d *monitor.Definition) string {
	var missing []string
	exprs := []string{d.When, d.RiskWhen}
	if c := d.Correlate; c != nil {
		exprs = append(exprs, c.With.When)
	}
	reads := func(s string) bool {
		for _, e := range exprs {
			if strings.Contains(e, s) {
				return true
			}
		}
		return false
	}
	if cfg.Context.Privilege == nil && (reads("privileged") || reads("emergencyAccess")) {
		missing = append(missing, "role map")
	}
	if cfg.Context.Stage("device") == nil && reads("ctx.device") {
		missing = append(missing, "device context")
	}
	if cfg.Context.Stage("work_hours") == nil && reads("ctx.workHours") {
		missing = append(missing, "work hours")
	}
	if reads("UnapprovedControls") {
		set := false
		for _, k := range []string{"approved_countries", "approved_ranges", "approved_browsers", "approved_operating_systems"} {
			if l, _ := d.Params[k].([]any); len(l) > 0 {
				set = true
			}
		}
		if !set {
			missing = append(missing, "approved lists (params)")
		} else if cfg.Context.Stage("geo") == nil && d.Params["approved_countries"] != nil {
			return "ok (countries from Entra's location: no geoip)"
		}
	}
	for _, k := range []string{"approved_inviters", "high_value_apps"} {
		if l, ok := d.Params[k].([]any); ok && len(l) == 0 {
			missing = append(missing, k+" (params)")
		}
	}
	note := streamsMissing(cfg, d)
	if rest, ok := strings.CutPrefix(note, "needs "); ok {
		missing = append(missing, rest)
		note = ""
	}
	if d.Source == "directory" {
		// Directory records come from a dirscan input, or from exported
		// scans a file input reads.
		scan, files := false, false
		for _, in := range cfg.Inputs {
			scan = scan || in.Type == "dirscan"
			files = files || in.Type == "file"
		}
		switch {
		case !scan && !files:
			missing = append(missing, "a dirscan input")
		case !scan && len(missing) == 0:
			return "ok (exported scans only: no dirscan input)"
		}
	}
	switch {
	case len(missing) > 0:
		return "needs " + strings.Join(missing, ", ")
	case note != "":
		return note
	}
	return "ok"
}

// streamsMissing says which of the streams a monitor reads no input
// delivers: "" when every one can arrive, else an "ok (…)" note when
// some can (a monitor of sign-ins and risk records runs on sign-ins
// alone), else "needs …". Files and Event Hubs may carry any stream;
// the Graph input and directory scans say what they read.
func streamsMissing(cfg *agent.Config, d *monitor.Definition) string {
	streams, err := d.Streams()
	if err != nil {
		return ""
	}
	delivered := map[entra.Stream]bool{}
	anything := false
	for _, in := range cfg.Inputs {
		src, ok := in.Config.(inputs.StreamSource)
		if !ok {
			anything = true
			break
		}
		for _, s := range src.Delivers() {
			delivered[s] = true
		}
	}
	if anything {
		return ""
	}
	var have, lack []string
	for _, s := range streams {
		if delivered[s] {
			have = append(have, string(s))
		} else {
			lack = append(lack, string(s))
		}
	}
	switch {
	case len(lack) == 0 || streams[0] == entra.StreamDirectory:
		return "" // directory: the dirscan check below says more
	case len(have) == 0:
		return "needs an input of " + strings.Join(lack, ", ") + " records" + streamHint(lack)
	}
	return "ok (" + strings.Join(have, ", ") + " only: no input of " + strings.Join(lack, ", ") + " records" + streamHint(lack) + ")"
}

// streamHint says where records of the streams come from.
func streamHint(streams []string) string {
	for _, s := range streams {
		switch entra.Stream(s) {
		case entra.StreamRisk:
			return "; add the graph streams risk_detections and risky_users, or the ID Protection categories to the diagnostic setting"
		case entra.StreamGraphActivity:
			return "; add MicrosoftGraphActivityLogs to the diagnostic setting (Event Hubs or files)"
		}
	}
	return ""
}

// progress redraws one status line on a terminal every half second while a
// replay runs (records, rate, elapsed), and stays quiet when stderr is not a
// terminal, as well-behaved CLI tools do. The returned func clears it.
// statusLine is a terminal's stderr shared by the log and a progress line
// that redraws itself: a log line clears the progress line, is written on
// a line of its own, and the progress line is drawn again below it.
type statusLine struct {
	mu   sync.Mutex
	w    io.Writer
	line string
}

// terminalStatus returns a statusLine over stderr when stderr is a
// terminal, else nil (no progress line: logs go to stderr as they are).
func terminalStatus(stderr io.Writer) *statusLine {
	f, ok := stderr.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &statusLine{w: f}
}

// Write writes a log line above the progress line.
func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.line != "" {
		io.WriteString(s.w, "\r\033[K")
	}
	n, err := s.w.Write(p)
	if s.line != "" {
		io.WriteString(s.w, s.line)
	}
	return n, err
}

// set draws line as the progress line; "" clears it.
func (s *statusLine) set(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.line = line
	io.WriteString(s.w, "\r\033[K"+line)
}

// logTo is where a command that draws a progress line logs: through the
// status line on a terminal, else stderr.
func logTo(status *statusLine, stderr io.Writer) io.Writer {
	if status != nil {
		return status
	}
	return stderr
}

// progress redraws the status line every half second until the returned
// func is called; without a terminal (status nil) it does nothing.
func progress(status *statusLine, a *agent.Agent, start time.Time) func() {
	if status == nil {
		return func() {}
	}
	st := a.Stats()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				status.set("")
				return
			case <-t.C:
				n := st.Read.Load()
				el := time.Since(start)
				line := fmt.Sprintf("%d records  %.0f/s  %s  (bad %d)", n, float64(n)/el.Seconds(), el.Round(time.Second), st.Bad.Load())
				if done, total := a.Progress(); total > 0 && done > 0 {
					eta := time.Duration(float64(el) * float64(total-done) / float64(done))
					line += fmt.Sprintf("  %.0f%% of %s  ETA %s", 100*float64(done)/float64(total), mb(total), eta.Round(time.Second))
				}
				status.set(line)
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
