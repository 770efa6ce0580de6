// Command privtrail watches privileged accounts in Microsoft Entra ID: it
// reads sign-in and audit logs, tags privileged users, annotates every hit
// of the guide's monitors and forwards the records to a SIEM.
//
// With no arguments it runs the bundled demo.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	_ "time/tzdata" // a minimal container has no zoneinfo

	"github.com/privtrail/privtrail/agent"
)

const usage = `privtrail watches privileged accounts in Microsoft Entra ID.

Usage:
  privtrail                     run the bundled demo (same as: privtrail demo)
  privtrail run -c FILE         run the agent with a config file until stopped
  privtrail replay -c FILE PATH...
                                run exported logs (files, globs, folders)
                                through the config's pipelines and print a summary
  privtrail check -c FILE       validate a config, its role map and pipelines; test Graph, sources and destinations
  privtrail monitors -c FILE    list the monitors the config's pipelines run
  privtrail reset-state -c FILE delete the stateful monitors' stored state (the agent stopped);
                                checkpoints stay
  privtrail generate [-n N] [-seed S] -o FILE
                                write N synthetic Entra records (JSON lines)
  privtrail bench               one table: the pipeline against a bare JSON floor,
                                peak memory by input size, each SIEM output end to
                                end against its sender alone (run it from the source folder)
  privtrail health [URL]        exit 0 when the agent's /readyz answers 200
                                (the container's health check; default
                                http://127.0.0.1:9464/readyz)
  privtrail version             print the version

Run 'privtrail COMMAND -h' for a command's flags.

Exit status: 0 done, 1 error, 2 unknown command, 3 stopped with work left for
the next start (batches not acknowledged, an output not closed cleanly,
monitor state not stored; nothing is lost: the next start reads it again).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "demo"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "demo":
		err = runDemo(ctx, args, stdout, stderr)
	case "run":
		err = runAgent(ctx, args, stderr)
	case "replay":
		err = runReplay(ctx, args, stdout, stderr)
	case "check":
		err = runCheck(args, stdout, stderr)
	case "monitors":
		err = runMonitors(args, stdout, stderr)
	case "reset-state":
		err = runResetState(args, stdout, stderr)
	case "generate":
		err = runGenerate(args, stdout, stderr)
	case "bench":
		err = runBench(ctx, args, stdout, stderr)
	case "health":
		err = runHealth(args, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionLine())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "privtrail: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "privtrail:", err)
		if errors.Is(err, agent.ErrUnfinished) {
			return exitUnfinished
		}
		return 1
	}
	return 0
}

// Exit codes: 0 done (or stopped with nothing left over), 1 an error, 2
// an unknown command, exitUnfinished stopped with work left for the next
// start (batches unacknowledged, an output not closed, monitor state not
// stored): nothing is lost, the next start reads it again.
const exitUnfinished = 3

// version is the module version of the build ("v1.4.0"), or "dev" for a
// build from a checkout.
func version() string {
	bi, _ := debug.ReadBuildInfo()
	return moduleVersion(bi)
}

func moduleVersion(bi *debug.BuildInfo) string {
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// versionLine is what `privtrail version` prints: the version, the commit
// and its time (with "+modified" for a build from a changed checkout),
// and the Go that built it, from what the binary carries.
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "privtrail dev"
	}
	line := "privtrail " + moduleVersion(bi)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if settings["vcs.modified"] == "true" {
			rev += "+modified"
		}
		line += " commit " + rev
		if at := settings["vcs.time"]; at != "" {
			line += " (" + at + ")"
		}
	}
	return line + " " + bi.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// flags makes a command's flag set with the shared -c flag.
func flags(name, help string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := commandFlags(name, help, stderr)
	cfg := fs.String("c", "configs/privtrail.yaml", "config file")
	return fs, cfg
}

// commandFlags makes the flag set of a command that reads no config.
func commandFlags(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n", help)
		fs.PrintDefaults()
	}
	return fs
}

func newLogger(cfg *agent.Config, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch cfg.Log.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runAgent(ctx context.Context, args []string, stderr io.Writer) error {
	fs, cfgPath := flags("run", "privtrail run -c FILE: run the agent until SIGINT/SIGTERM (or until finite inputs are done).", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := agent.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	a := agent.New(cfg, log)
	a.Serve = true
	log.Info("privtrail starting", "version", version(), "config", *cfgPath, "data_dir", cfg.DataDir)
	err = a.Run(ctx)
	st := a.Stats()
	log.Info("privtrail stopped", "read", st.Read.Load(), "decoded", st.Decoded.Load(), "bad", st.Bad.Load())
	return err
}

// runHealth is the container health check: distroless images have no curl.
func runHealth(args []string, stdout, stderr io.Writer) error {
	fs := commandFlags("health", "privtrail health [URL]: exit 0 when the agent's /readyz answers 200 (default http://127.0.0.1:9464/readyz); the container's health check.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	url := "http://127.0.0.1:9464/readyz"
	if fs.NArg() > 0 {
		url = fs.Arg(0)
	}
	client := &http.Client{Timeout: 4 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprint(stdout, string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}
