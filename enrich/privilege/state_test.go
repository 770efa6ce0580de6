package privilege

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var breakglass = who{"44444444-4444-4444-4444-444444444444", "breakglass1@contoso.example"}

// stateScenario feeds s a bit of everything a history holds.
func stateScenario(t testing.TB, s *Stage) {
	t.Helper()
	s.Observe([]*entra.Record{
		coreAdd(t, carol, gaName, gaID, t0),
		activation(t, frank, t0, t0.Add(2*time.Hour)),
		record(t, "audit/group_add_member.json", alice, t0.Add(30*time.Minute)),
	})
	s.Observe([]*entra.Record{
		coreRemove(t, carol, gaName, gaID, t0.Add(time.Hour)),
		record(t, "audit/pim_eligible_timebound.json", frank, t0.Add(3*time.Hour), "role", exName, "template", exID, "until", ts(t0.Add(30*time.Hour))),
	})
	m, err := ParseMap("graph", []byte("users:\n  - id: "+carol.id+"\n    upn: "+carol.upn+"\n    roles: [{name: Exchange Administrator, assignment: eligible}]\n"+
		"emergency_access:\n  - {id: "+breakglass.id+", upn: "+breakglass.upn+"}\n"), s.Roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Swap(m.AsOf(t0.Add(4 * time.Hour)))
	s.Observe([]*entra.Record{activation(t, alice, t0.Add(5*time.Hour), t0.Add(6*time.Hour))})
}

// grid is how each principal is tagged over the scenario's day.
func grid(t testing.TB, s *Stage) []string {
	var out []string
	for _, u := range []who{alice, carol, frank, breakglass} {
		for d := -time.Hour; d <= 32*time.Hour; d += 20 * time.Minute {
			out = append(out, fmt.Sprintf("%s %s %s", u.upn, d, tagged(t, s, u, t0.Add(d), s.Generation())))
		}
	}
	return out
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rolemap, state := filepath.Join(dir, "rolemap.yaml"), filepath.Join(dir, "state", "privilege.yaml")
	copyFile(t, "testdata/rolemap.yaml", rolemap)
	if err := os.Mkdir(filepath.Dir(state), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := Config{RoleMap: rolemap, StateFile: state}
	s := testStage(t, cfg)
	stateScenario(t, s)
	before := grid(t, s)
	histories := map[string][]Interval{}
	for _, u := range []who{alice, carol, frank, breakglass} {
		histories[u.upn] = s.History(u.id, u.upn)
	}
	if err := s.Close(); err != nil { // saves to state_file
		t.Fatal(err)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v", fi, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(state), ".*tmp*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	check := func(name string, s2 *Stage) {
		t.Helper()
		if after := grid(t, s2); !slices.Equal(before, after) {
			for i := range before {
				if before[i] != after[i] {
					t.Errorf("%s: %s\n      was %s", name, after[i], before[i])
				}
			}
		}
		for upn, h := range histories {
			if got := s2.History("", upn); fmt.Sprint(got) != fmt.Sprint(h) {
				t.Errorf("%s: history of %s = %v, want %v", name, upn, got, h)
			}
		}
		if !s2.Map().LoadedAt().Equal(t0.Add(4 * time.Hour)) {
			t.Errorf("%s: snapshot time %s", name, s2.Map().LoadedAt())
		}
	}
	// A restart: the state is read back (the role map file changed
	// nothing since it was saved: the snapshot in use came from Graph).
	check("restart", testStage(t, Config{StateFile: state, RoleMap: rolemap}))

	// Graph (or the role map file) unreachable: the state alone.
	s3, err := New(Config{StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	check("state only", s3)

	// The role map file gone: the state serves, and the failure counts.
	if err := os.Remove(rolemap); err != nil {
		t.Fatal(err)
	}
	s4 := testStage(t, Config{StateFile: state, RoleMap: rolemap})
	check("role map file missing", s4)
	if s4.ReloadFailures.Load() != 1 {
		t.Errorf("reload failures = %d, want 1", s4.ReloadFailures.Load())
	}
	if _, err := New(Config{RoleMap: rolemap}); err == nil {
		t.Error("no role map file and no state: started anyway")
	}

	// The state file is a role map file.
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMap(state, data, s.Roles(), nil)
	if err != nil {
		t.Fatalf("ParseMap of the state file: %v", err)
	}
	if m.Len() != s.Map().Len() || !maps.Equal(m.PrivilegedKeys(), s.Map().PrivilegedKeys()) {
		t.Errorf("ParseMap of the state file: %v, want %v", m.PrivilegedKeys(), s.Map().PrivilegedKeys())
	}
}

// Restarted with a role map file that differs from the snapshot saved:
// the file is swapped in as of now, and the saved history still answers
// for earlier records.
func TestRestartWithChangedRoleMap(t *testing.T) {
	dir := t.TempDir()
	rolemap, state := filepath.Join(dir, "rolemap.yaml"), filepath.Join(dir, "state.yaml")
	copyFile(t, "testdata/rolemap.yaml", rolemap)
	cfg := Config{RoleMap: rolemap, StateFile: state}
	s := testStage(t, cfg)
	s.Observe([]*entra.Record{coreAdd(t, carol, gaName, gaID, t0), activation(t, frank, t0, t0.Add(time.Hour))})
	if err := s.Save(state); err != nil {
		t.Fatal(err)
	}
	// Same file: the snapshot time survives the restart.
	s2 := testStage(t, cfg)
	if !s2.Map().LoadedAt().Equal(s.Map().LoadedAt()) || s2.Generation() != 0 {
		t.Errorf("restart with the same role map: snapshot %s (was %s), generation %d", s2.Map().LoadedAt(), s.Map().LoadedAt(), s2.Generation())
	}
	if err := os.WriteFile(rolemap, []byte("emergency_access:\n  - {upn: breakglass1@contoso.example}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3 := testStage(t, cfg)
	if s3.Map().Len() != 1 || !s3.Map().LoadedAt().After(s.Map().LoadedAt()) {
		t.Fatalf("changed role map not in use: %d principals, loaded %s", s3.Map().Len(), s3.Map().LoadedAt())
	}
	for _, c := range []check{
		{carol, t0.Add(time.Minute), "privileged Reports Reader/active/direct " + gaActive},
		{frank, t0.Add(time.Minute), "privileged " + gaActive},
		{alice, t0.Add(time.Minute), aliceEligible},
		{alice, time.Now().Add(time.Hour), "unknown"},
		{carol, time.Now().Add(time.Hour), "unknown"},
	} {
		if got := tagged(t, s3, c.u, c.at, s3.Generation()); got != c.want {
			t.Errorf("%s at %s: %q, want %q", c.u.upn, c.at, got, c.want)
		}
	}
}

func TestBadStateFile(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range map[string]string{
		"not yaml":        "users: [",
		"unknown key":     "users: []\nhistroy: []\n",
		"bad time":        "snapshot_at: yesterday\nhistory:\n  - upn: a@b\n",
		"no snapshot_at":  "history:\n  - upn: a@b\n",
		"bad change":      "snapshot_at: 2026-03-02T09:00:00Z\nhistory:\n  - upn: a@b\n    changes:\n      - {at: 2026-03-02T09:00:00Z, change: grant, name: x}\n",
		"until before at": "snapshot_at: 2026-03-02T09:00:00Z\nhistory:\n  - upn: a@b\n    changes:\n      - {at: 2026-03-02T09:00:00Z, change: add, name: x, until: 2026-03-02T08:00:00Z}\n",
		"bad assignment":  "snapshot_at: 2026-03-02T09:00:00Z\nhistory:\n  - upn: a@b\n    roles: [{name: x, assignment: forever}]\n",
	} {
		t.Run(name, func(t *testing.T) {
			state := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
			if err := os.WriteFile(state, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, _, _, err := parseState(state, []byte(doc), mustRoles(t), nil); err == nil {
				t.Fatal("parsed")
			}
			// Not fatal for the stage: it starts from the role map.
			s := testStage(t, Config{StateFile: state})
			if s.Map().Len() != 4 || s.Histories() != 0 {
				t.Errorf("started with %d principals, %d histories", s.Map().Len(), s.Histories())
			}
		})
	}
}

func mustRoles(t testing.TB) *RoleSet {
	rs, err := NewRoleSet(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// What Save writes, as a golden file: the format README.md documents.
func TestStateGolden(t *testing.T) {
	s := testStage(t, Config{})
	loaded := s.Map().LoadedAt()
	stateScenario(t, s)
	path := filepath.Join(t.TempDir(), "state.json")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The times that depend on when the test runs.
	data = bytes.ReplaceAll(data, []byte(ts(loaded)), []byte("2026-12-01T00:00:00Z"))
	data = regexp.MustCompile(`(?m)^ "saved_at": .*$`).ReplaceAll(data, []byte(` "saved_at": "2026-12-01T00:00:01Z",`))
	const golden = "testdata/state.golden.json"
	if *update {
		if err := os.WriteFile(golden, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("Save wrote (want %s; -update rewrites it):\n%s", golden, data)
	}
	// And the golden file reads back, as does the same state as releases
	// before JSON wrote it (YAML, with a comment header).
	m, hist, _, _, err := parseState(golden, want, s.Roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const asYAML = "testdata/state-written-as-yaml.yaml"
	old, err := os.ReadFile(asYAML)
	if err != nil {
		t.Fatal(err)
	}
	m2, hist2, _, _, err := parseState(asYAML, old, s.Roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := historiesText(hist), historiesText(hist2); m.Len() != m2.Len() || a != b {
		t.Errorf("%s and %s read back differently: %d/%d principals, histories\n%s\n%s", golden, asYAML, m.Len(), m2.Len(), a, b)
	}
}

func historiesText(hist []*principal) string {
	var b strings.Builder
	for _, p := range hist {
		fmt.Fprintf(&b, "%s %s known=%v:", p.id, p.upn, p.base.known)
		for _, c := range p.changes {
			fmt.Fprintf(&b, " %s@%s %s %s until %s;", c.op, c.at.UTC().Format(time.RFC3339), c.role.Name, c.role.Assignment, c.until.UTC().Format(time.RFC3339))
		}
		b.WriteString("\n")
	}
	return b.String()
}
