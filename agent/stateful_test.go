package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/monitor"
	fileoutput "github.com/privtrail/privtrail/outputs/file"
)

const bruteForcePipeline = `
name: brute
monitors:
  - id: signin.bad_password_threshold
    title: Repeated wrong passwords
    risk: high
    source: signin
    when: actor.privileged && signin.errorCode == 50126
    reason: [actor.upn]
    threshold: {count: 5, window: 10m}
`

// wrongPassword is a Graph sign-in: the privileged adm_alice (even n) or
// an ordinary user (odd n) types a wrong password, one every 3 seconds.
func wrongPassword(n int) []byte {
	user := "adm_alice"
	if n%2 == 1 {
		user = "carol"
	}
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * 3 * time.Second)
	return fmt.Appendf(nil, `{"id":"pw-%04d","createdDateTime":%q,"userId":"%s-id","userPrincipalName":"%s@contoso.example","status":{"errorCode":50126,"failureReason":"Error validating credentials due to invalid username or password."},"isInteractive":true,"clientAppUsed":"Browser","ipAddress":"203.0.113.9"}`,
		n, at.Format(time.RFC3339Nano), user, user)
}

// statefulHarness is a file harness whose pipeline runs the given monitors
// with their state in the store, and tags adm_alice as privileged.
func statefulHarness(t *testing.T, dataDir, src, pipeline string, batchSize int) *harness {
	t.Helper()
	h := newFileHarness(t, dataDir, src, batchSize)
	dir := t.TempDir()
	pf := filepath.Join(dir, "pipeline.yaml")
	rm := filepath.Join(dir, "rolemap.yaml")
	if err := os.WriteFile(pf, []byte(pipeline), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rm, []byte("users:\n  - {id: adm_alice-id, upn: adm_alice@contoso.example, roles: [{name: Global Administrator}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := monitor.LoadPipeline(pf)
	if err != nil {
		t.Fatal(err)
	}
	stage, err := privilege.New(privilege.Config{RoleMap: rm, ReloadInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stage.Close() })
	if h.engine, err = monitor.Compile(p.Monitors, stage.Roles(), nil); err != nil {
		t.Fatal(err)
	}
	h.stages = []Enricher{stage}
	return h
}

// alerts returns the IDs of the records in an output file that carry the
// monitor's hit, and how many lines the file has.
func alerts(t *testing.T, path, monitorID string) (ids []string, lines int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines++
		var rec struct {
			ID        string
			Privtrail struct {
				Monitors []struct{ ID string }
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		for _, m := range rec.Privtrail.Monitors {
			if m.ID == monitorID {
				ids = append(ids, rec.ID)
			}
		}
	}
	return ids, lines
}

// The agent is stopped in the middle of a brute-force burst, at each
// batch in turn, with the destination down; the restarted agent delivers
// the rest. Whatever the moment, the burst gives exactly one alert, on the
// fifth wrong password, and every record arrives once.
func TestRestartInTheMiddleOfABurstGivesOneAlert(t *testing.T) {
	const total = 60 // 30 wrong passwords for adm_alice over 3 minutes
	var src bytes.Buffer
	for i := range total {
		src.Write(wrongPassword(i))
		src.WriteByte('\n')
	}
	for _, acked := range []int{0, 1, 2, 3, 5} {
		t.Run(fmt.Sprintf("stopped after %d batches", acked), func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "signins.jsonl")
			if err := os.WriteFile(in, src.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			dataDir, out := filepath.Join(dir, "data"), filepath.Join(dir, "out.jsonl")

			ctx, cancel := context.WithCancel(context.Background())
			first := statefulHarness(t, dataDir, in, bruteForcePipeline, 4)
			fo, err := fileoutput.New(fileoutput.Config{Path: out})
			if err != nil {
				t.Fatal(err)
			}
			first.addOutput("out", &failAfter{inner: fo, n: acked})
			first.drain = 50 * time.Millisecond
			done := make(chan error, 1)
			go func() { done <- first.run(ctx) }()
			waitFor(t, func() bool {
				return first.stats.Committed.Load() == int64(acked) && first.stats.Decoded.Load() > int64(4*acked)
			})
			time.Sleep(20 * time.Millisecond)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			first.close()

			second := statefulHarness(t, dataDir, in, bruteForcePipeline, 4)
			fo2, err := fileoutput.New(fileoutput.Config{Path: out})
			if err != nil {
				t.Fatal(err)
			}
			second.addOutput("out", fo2)
			if err := second.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			second.close()

			ids, lines := alerts(t, out, "signin.bad_password_threshold")
			if len(ids) != 1 || ids[0] != "pw-0008" {
				t.Errorf("alerts on %v, want exactly one, on pw-0008 (adm_alice's fifth)", ids)
			}
			if lines != total {
				t.Errorf("%d records delivered, want %d", lines, total)
			}
		})
	}
}

// The same export replayed twice from empty state gives the same output,
// byte for byte, with workers racing each other.
func TestReplayIsDeterministic(t *testing.T) {
	var src bytes.Buffer
	for i := range 2000 {
		// Bursts of wrong passwords with pauses: several alerts.
		src.Write(wrongPassword(i + (i/40)*200))
		src.WriteByte('\n')
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "signins.jsonl")
	if err := os.WriteFile(in, src.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string) []byte {
		out := filepath.Join(dir, name+".jsonl")
		h := statefulHarness(t, filepath.Join(dir, name), in, bruteForcePipeline, 16)
		h.workers = 4
		fo, err := fileoutput.New(fileoutput.Config{Path: out})
		if err != nil {
			t.Fatal(err)
		}
		h.addOutput("out", fo)
		if err := h.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.close()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := run("first"), run("second")
	if n := strings.Count(string(a), "signin.bad_password_threshold"); n < 5 {
		t.Fatalf("%d alerts: the replay proves little", n)
	}
	if !bytes.Equal(a, b) {
		t.Error("two replays of the same export differ")
	}
}
