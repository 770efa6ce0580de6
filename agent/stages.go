package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/enrich"
	_ "github.com/privtrail/privtrail/enrich/all" // the context stages
	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/monitor"
)

// Stages are the configured context stages, in the order records go
// through them, and what closes them.
type Stages struct {
	List  []batch.Enricher
	Roles monitor.RoleChecker // the privileged role set, nil without a role map
	// Privilege is the privilege stage, nil without a role map.
	Privilege *privilege.Stage
	close     []func() error
}

// Close stops the stages' background reloads.
func (s *Stages) Close() error {
	var errs []error
	for _, c := range s.close {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// BuildStages builds the context stages of cfg. Privilege comes first: the
// work-hours stage resolves group schedules from the roles it attaches, and
// the monitors read all of them; the enrich registry's stages follow, in
// the order of their type names.
func BuildStages(cfg *Config, log *slog.Logger) (*Stages, error) {
	return buildStages(cfg, log, false)
}

// buildStages builds them; persist (the running agent, not `privtrail
// check`) keeps the privilege stage's state (under the data directory
// unless the config names a state_file); without it the stage writes
// nothing.
func buildStages(cfg *Config, log *slog.Logger, persist bool) (*Stages, error) {
	s := &Stages{}
	fail := func(key string, err error) (*Stages, error) {
		s.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, cfg.errAt("$.context."+key, fmt.Sprintf("context.%s: %v%s", key, err, cfg.relativeHint(err)))
		}
		return nil, fmt.Errorf("%s: context.%s: %w", cfg.file, key, err)
	}
	c := cfg.Context
	if c.Privilege != nil {
		pc := *c.Privilege
		switch {
		case !persist:
			// `privtrail check` reads the role map only: a state file
			// (even one the config names) and its journal belong to the
			// agent, which may be running on them.
			pc.StateFile = ""
		case cfg.scratch:
			// A replay's throwaway data directory: what a state file
			// keeps would be deleted with it.
			pc.StateFile = ""
		case pc.StateFile == "" && cfg.DataDir != "":
			// What the audit stream taught the role map survives a
			// restart (and a Graph outage, once the map comes from Graph).
			pc.StateFile = filepath.Join(cfg.DataDir, "privilege-state.json")
		}
		st, err := privilege.New(pc, log)
		if err != nil {
			return fail("privilege", err)
		}
		s.List, s.close = append(s.List, st), append(s.close, st.Close)
		s.Roles = st.Roles()
		s.Privilege = st
		log.Info("role map loaded", "principals", st.Map().Len())
	} else {
		log.Warn("no context.privilege configured: no user is privileged, and most monitors cannot fire")
	}
	for _, sc := range c.Stages {
		st, err := enrich.Lookup(sc.Type).Build(sc.Type, sc.Config, enrich.Env{Log: log})
		if err != nil {
			return fail(sc.Type, err)
		}
		s.List, s.close = append(s.List, st), append(s.close, st.Close)
	}
	return s, nil
}
