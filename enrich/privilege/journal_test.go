package privilege

import (
	"bytes"
	"fmt"
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
	atStart, err := os.ReadFile(cfg.StateFile) // the snapshot, saved at start
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(learnScenario(t, s)); err != nil {
		t.Fatal(err)
	}
	want := grid(t, s)
	if slices.Equal(want, unknown) {
		t.Fatal("the scenario changed no tag: the test proves nothing")
	}
	if now, _ := os.ReadFile(cfg.StateFile); !bytes.Equal(now, atStart) {
		t.Fatal("the state file was written again before any stop: the journal proves nothing")
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

// A role map reloaded during the run is in the state file at once: a
// crash after it restarts from that snapshot with the journal's later
// changes over it, instead of swapping the file in again as of the
// restart, after them, where it would hide them.
func TestReloadThenCrashKeepsTheJournal(t *testing.T) {
	cfg, _ := journalSetup(t)
	s := testStage(t, cfg)
	data, err := os.ReadFile(cfg.RoleMap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.RoleMap, append(data, "\n# edited\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.reload(true); !ok || err != nil {
		t.Fatalf("reload: %v %v", ok, err)
	}
	s.snapshotSaved() // what watch does after a reload
	at := time.Now().UTC()
	if err := s.Sync(s.Observe([]*entra.Record{coreAdd(t, dave, gaName, gaID, at)})); err != nil {
		t.Fatal(err)
	}
	want := tagged(t, s, dave, at.Add(time.Hour), s.Generation())
	if want != "privileged "+gaActive {
		t.Fatalf("dave before the crash: %s", want)
	}
	time.Sleep(10 * time.Millisecond) // the restart's "now" is later
	s2 := testStage(t, cfg)
	if got := tagged(t, s2, dave, at.Add(time.Hour), s2.Generation()); got != want {
		t.Errorf("dave after the crash: %s, want %s", got, want)
	}
}

// A record read again after its change was folded into what the
// principal held before (past history_limit) is still known as applied.
func TestRecordReadAgainAfterCompaction(t *testing.T) {
	cfg, _ := journalSetup(t)
	cfg.HistoryLimit = 1
	s := testStage(t, cfg)
	first := coreAdd(t, dave, gaName, gaID, t0)
	for _, rec := range []*entra.Record{first, coreRemove(t, dave, gaName, gaID, t0.Add(time.Hour)), coreAdd(t, dave, exName, exID, t0.Add(2*time.Hour))} {
		if err := s.Sync(s.Observe([]*entra.Record{rec})); err != nil {
			t.Fatal(err)
		}
	}
	want := tagged(t, s, dave, t0.Add(3*time.Hour), s.Generation())
	again := coreAdd(t, dave, gaName, gaID, t0)
	if again.ID != first.ID {
		t.Fatal("the test's record is not the same record")
	}
	if err := s.Sync(s.Observe([]*entra.Record{again})); err != nil {
		t.Fatal(err)
	}
	if got := tagged(t, s, dave, t0.Add(3*time.Hour), s.Generation()); got != want {
		t.Errorf("read again, a folded change changed the tag: %s, want %s", got, want)
	}
	// And after a restart, from the state file.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := testStage(t, cfg)
	if err := s2.Sync(s2.Observe([]*entra.Record{again})); err != nil {
		t.Fatal(err)
	}
	if got := tagged(t, s2, dave, t0.Add(3*time.Hour), s2.Generation()); got != want {
		t.Errorf("read again after a restart: %s, want %s", got, want)
	}
}

// A journal that cannot be read at start is not written over: Sync fails
// (the runner holds the pipeline) and a clean stop leaves it in place.
func TestUnreadableJournalIsKept(t *testing.T) {
	cfg, jpath := journalSetup(t)
	if err := os.Mkdir(jpath, 0o700); err != nil { // reading it fails
		t.Fatal(err)
	}
	s := testStage(t, cfg)
	if err := s.Sync(s.Observe([]*entra.Record{coreAdd(t, dave, gaName, gaID, t0)})); err == nil {
		t.Fatal("Sync wrote over a journal it could not read")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(jpath); err != nil || !fi.IsDir() {
		t.Errorf("the unreadable journal was replaced: %v %v", fi, err)
	}
}

// The role map swapped in at start is saved with its time at once, both
// the first one and one changed while privtrail was down: a crash later
// restarts from that snapshot, and the changes the journal kept still
// tag the records after the restart.
func TestSnapshotAtStartIsSaved(t *testing.T) {
	for _, changedWhileDown := range []bool{false, true} {
		t.Run(fmt.Sprintf("changed while down %v", changedWhileDown), func(t *testing.T) {
			cfg, _ := journalSetup(t)
			if changedWhileDown {
				if err := testStage(t, cfg).Close(); err != nil {
					t.Fatal(err)
				}
				data, err := os.ReadFile(cfg.RoleMap)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(cfg.RoleMap, append(data, "\n# edited\n"...), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s := testStage(t, cfg)
			at := time.Now().UTC()
			if err := s.Sync(s.Observe([]*entra.Record{coreAdd(t, dave, gaName, gaID, at)})); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // the restart's "now" is later
			s2 := testStage(t, cfg)           // after a crash: s never closed
			if got := tagged(t, s2, dave, at.Add(time.Hour), s2.Generation()); got != "privileged "+gaActive {
				t.Errorf("dave an hour after the change, after the crash: %s", got)
			}
		})
	}
}

// A stage that was closed writes nothing more: another one may own the
// files by then.
func TestClosedStageLeavesTheFiles(t *testing.T) {
	cfg, jpath := journalSetup(t)
	a := testStage(t, cfg)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := testStage(t, cfg)
	if err := b.Sync(b.Observe([]*entra.Record{coreAdd(t, dave, gaName, gaID, t0)})); err != nil {
		t.Fatal(err)
	}
	n := sizeOf(t, jpath)
	a.Swap(a.Map())
	if got := sizeOf(t, jpath); got != n {
		t.Errorf("a closed stage's swap cut the journal from %d to %d bytes", n, got)
	}
	if err := a.Sync(a.Generation() + 1); err == nil {
		t.Error("a closed stage's Sync succeeded")
	}
}
