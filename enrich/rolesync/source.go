package rolesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/internal/graphapi"
)

// DefaultInterval is how often a Source reads Graph by default.
const DefaultInterval = 15 * time.Minute

// Config is what a Source needs besides its client and stage.
type Config struct {
	// Interval between refreshes; default 15m.
	Interval time.Duration
	// File is where the last document read successfully is saved
	// (atomically, mode 0600), e.g. <data_dir>/rolemap-graph.json, so that
	// context.privilege.role_map can point at it for a restart without
	// Graph. Empty: not saved.
	File string
	// EmergencyAccess are the emergency access accounts (UPNs or object
	// IDs) added to each map read from Graph, as the stage adds
	// context.privilege.emergency_access to a role map file: pass the
	// same list, or a swap drops them.
	EmergencyAccess []string
}

// Source keeps a privilege.Stage's role map in step with Graph. Its
// counters are for the metrics.
type Source struct {
	cfg   Config
	c     *graphapi.Client
	stage *privilege.Stage
	log   *slog.Logger

	// Refreshes counts the maps read from Graph and swapped in.
	Refreshes atomic.Int64
	// Failures counts the refreshes that failed (the map in use stays).
	Failures atomic.Int64
	// SaveFailures counts documents that were swapped in but could not be
	// saved to File.
	SaveFailures atomic.Int64

	lastSuccess atomic.Int64 // unix nanoseconds of the last swap's read time; 0: none
	now         func() time.Time
}

// New returns a Source for stage, reading Graph with c; log may be nil.
func New(cfg Config, c *graphapi.Client, stage *privilege.Stage, log *slog.Logger) *Source {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if log == nil {
		log = slog.Default()
	}
	return &Source{cfg: cfg, c: c, stage: stage, log: log, now: time.Now}
}

// LastSuccess is when Graph was read for the map in use (the start of the
// last successful refresh); zero before the first.
func (s *Source) LastSuccess() time.Time {
	n := s.lastSuccess.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Run refreshes at once and then every Interval until ctx ends; call it in
// a goroutine of its own. Lookups never wait for it: the stage serves the
// map it has while Graph is read, and keeps it when a refresh fails.
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("role map not read from Graph, keeping the map in use",
				"err", err, "failures", s.Failures.Load(), "last_success", s.LastSuccess())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh reads Graph once, parses the document with the stage's role
// set, swaps it in as the truth as of the start of the read, and saves it
// to File. On an error the map in use stays and Failures counts it.
func (s *Source) Refresh(ctx context.Context) error {
	start := s.now()
	doc, err := Fetch(ctx, s.c)
	if err == nil {
		var m *privilege.Map
		if m, err = privilege.ParseMap("graph", doc, s.stage.Roles(), s.cfg.EmergencyAccess); err == nil {
			s.stage.Swap(m.AsOf(start))
			s.lastSuccess.Store(start.UnixNano())
			s.Refreshes.Add(1)
			s.log.Info("role map read from Graph", "principals", m.Len(), "took", s.now().Sub(start).Round(time.Millisecond))
			if s.cfg.File != "" {
				if serr := privilege.WriteFile(s.cfg.File, doc); serr != nil {
					s.SaveFailures.Add(1)
					s.log.Warn("role map from Graph not saved", "file", s.cfg.File, "err", serr)
				}
			}
			return nil
		}
		err = fmt.Errorf("rolesync: document from Graph: %w", err)
	}
	if !errors.Is(err, context.Canceled) {
		s.Failures.Add(1)
	}
	return err
}
