package agent

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/privtrail/privtrail/enrich/privilege"
)

// The stages `privtrail check` builds write nothing: a state file the
// config names, and its journal, belong to the agent, which may be
// running on them.
func TestCheckStagesLeaveTheStateFile(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "privilege-state.json")
	files := map[string]string{
		state:                          "users: []\n",
		state + ".journal":             `{"id":"x","changes":[{"at":"2026-03-02T12:00:00Z","change":"add","name":"Global Administrator","assignment":"active","via":"direct","record":"r1"}]}` + "\n",
		filepath.Join(dir, "map.yaml"): "users: []\n",
	}
	for p, data := range files {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &Config{DataDir: dir, Context: ContextConfig{
		Privilege: &privilege.Config{RoleMap: filepath.Join(dir, "map.yaml"), StateFile: state, ReloadInterval: -1},
	}}
	stages, err := BuildStages(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stages.Close()
	for p, want := range files {
		if got, err := os.ReadFile(p); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want it unchanged", filepath.Base(p), got, err)
		}
	}
}
