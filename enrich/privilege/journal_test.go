package privilege

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// learnScenario is stateScenario's role changes without its snapshot swap
// (a snapshot comes back from its source after a restart; what the audit
// stream taught does not). It returns the last generation.
func learnScenario(t testing.TB, s *Stage) uint64 {
	t.Helper()
	s.Observe([]*entra.Record{
		coreAdd(t, carol, gaName, gaID, t0),
		activation(t, frank, t0, t0.Add(2*time.Hour)),
		record(t, "audit/group_add_member.json", alice, t0.Add(30*time.Minute)),
	})
	s.Observe([]*entra.Record{signIn(t, alice, t0.Add(40*time.Minute))})
	s.Observe([]*entra.Record{
		coreRemove(t, carol, gaName, gaID, t0.Add(time.Hour)),
		record(t, "audit/pim_eligible_timebound.json", frank, t0.Add(3*time.Hour), "role", exName, "template", exID, "until", ts(t0.Add(30*time.Hour))),
	})
	return s.Observe([]*entra.Record{activation(t, alice, t0.Add(5*time.Hour), t0.Add(6*time.Hour))})
}

// dave is not in the role map.
var dave = who{"88888888-8888-8888-8888-888888888888", "dave@contoso.example"}

func journalSetup(t *testing.T) (Config, string) {
	t.Helper()
	dir := t.TempDir()
	rolemap, state := filepath.Join(dir, "rolemap.yaml"), filepath.Join(dir, "privilege-state.json")
	copyFile(t, "testdata/rolemap.yaml", rolemap)
	return Config{RoleMap: rolemap, StateFile: state}, journalPath(state)
}

func sizeOf(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func sameGrid(t *testing.T, name string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: %s\n      was %s", name, got[i], want[i])
		}
	}
}

// What Observe learnt and Sync made durable survives a crash (no Close,
// no state file written); the records read again after it change nothing.
func TestJournalSurvivesACrash(t *testing.T) {
	cfg, jpath := journalSetup(t)
	s := testStage(t, cfg)
	unknown := grid(t, s)
	if err := s.Sync(learnScenario(t, s)); err != nil {
		t.Fatal(err)
	}
	want := grid(t, s)
	if slices.Equal(want, unknown) {
		t.Fatal("the scenario changed no tag: the test proves nothing")
	}
	if _, err := os.Stat(cfg.StateFile); !os.IsNotExist(err) {
		t.Fatalf("state file written before any stop: %v", err)
	}
	written := sizeOf(t, jpath)
	if written == 0 {
		t.Fatal("nothing journaled")
	}

	// Killed: the next start has the journal only.
	s2 := testStage(t, cfg)
	sameGrid(t, "after the crash", grid(t, s2), want)

	// The checkpoint was behind: the same records come again.
	if err := s2.Sync(learnScenario(t, s2)); err != nil {
		t.Fatal(err)
	}
	sameGrid(t, "records read again", grid(t, s2), want)
	if n := s2.ChangesApplied.Load(); n != 0 {
		t.Errorf("%d records read again applied a second time", n)
	}
	if got := sizeOf(t, jpath); got != written {
		t.Errorf("journal grew from %d to %d bytes with records it had", written, got)
	}

	// Learnt but not synced: a crash loses it (the runner holds the batch
	// until Sync returns, so it was never checkpointed and is read again).
	s2.Observe([]*entra.Record{coreAdd(t, dave, gaName, gaID, t0.Add(7*time.Hour))})
	s3 := testStage(t, cfg)
	if got := tagged(t, s3, dave, t0.Add(8*time.Hour), s3.Generation()); got == gaActive {
		t.Errorf("an unsynced change survived: %s", got)
	}

	// A clean stop writes the state file and empties the journal.
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sizeOf(t, jpath); got != 0 {
		t.Errorf("journal %d bytes after a clean stop", got)
	}
	sameGrid(t, "after a clean stop", grid(t, testStage(t, cfg)), want)
}

// A write a crash cut short leaves half a line: the whole lines before it
// are applied, and the next write replaces the half line.
func TestJournalTornTail(t *testing.T) {
	cfg, jpath := journalSetup(t)
	s := testStage(t, cfg)
	if err := s.Sync(learnScenario(t, s)); err != nil {
		t.Fatal(err)
	}
	want := grid(t, s)
	whole := sizeOf(t, jpath)
	f, err := os.OpenFile(jpath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"id":"` + dave.id + `","changes":[{"at":"20`); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	s2 := testStage(t, cfg)
	sameGrid(t, "torn tail", grid(t, s2), want)
	if err := s2.Sync(s2.Observe([]*entra.Record{coreAdd(t, dave, gaName, gaID, t0.Add(7*time.Hour))})); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(len(data)); n <= whole || data[whole] != '{' || data[n-1] != '\n' {
		t.Fatalf("journal after the torn tail: %q", data[whole:])
	}
	s3 := testStage(t, cfg)
	sameGrid(t, "after the next write", grid(t, s3), want)
	if got := tagged(t, s3, dave, t0.Add(8*time.Hour), s3.Generation()); got != "privileged "+gaActive {
		t.Errorf("dave after the restart: %s", got)
	}
}

// Past its bound the journal is folded into the state file: it does not
// grow with the run, and a crash after that loses nothing.
func TestJournalCompacts(t *testing.T) {
	cfg, jpath := journalSetup(t)
	s := testStage(t, cfg)
	s.jr.compactAt = 200
	if err := s.Sync(learnScenario(t, s)); err != nil {
		t.Fatal(err)
	}
	want := grid(t, s)
	if got := sizeOf(t, jpath); got != 0 {
		t.Errorf("journal %d bytes past a bound of 200", got)
	}
	if sizeOf(t, cfg.StateFile) == 0 {
		t.Fatal("no state file written")
	}
	sameGrid(t, "after a crash past the bound", grid(t, testStage(t, cfg)), want)
}
