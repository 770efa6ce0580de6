// Package workhours says whether each event happened inside its user's
// working hours: it resolves the actor's schedule (by user, by the groups
// their roles are held through, or the default) and sets
// rec.Context.WorkHours with the event's local time in the schedule's
// time zone.
package workhours

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"strings"
	_ "time/tzdata" // time zones load wherever the stage runs, not only where zoneinfo is installed

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/directcache"
)

// LocalTimeLayout is the format of WorkHours.LocalTime: RFC 3339 with the
// zone's numeric offset, +00:00 rather than Z for UTC.
const LocalTimeLayout = "2006-01-02T15:04:05-07:00"

// userKey is a user as logged, any case.
type userKey struct{ id, upn string }

// resolution is a cached Resolve result. A schedule found through the
// user's groups (or the default, or none) depends on the roles the
// privilege stage attached; it is valid only for the same role slice
// (the privilege stage hands out one slice per role map entry, so a
// swapped role map shows as a different slice).
type resolution struct {
	s      *Schedule
	byUser bool
	roles  *entra.RoleHeld
	nroles int
}

// Stage sets rec.Context.WorkHours. It is safe for concurrent use.
type Stage struct {
	ss  *Schedules
	log *slog.Logger
	// cache is direct-mapped and lock-free (internal/directcache): every
	// worker reads it for every record.
	cache *directcache.Cache[userKey, resolution]
}

// New loads the schedules file named in cfg. A nil log means
// slog.Default().
func New(cfg Config, log *slog.Logger) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	data, err := os.ReadFile(cfg.Schedules)
	if err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	ss, err := Parse(cfg.Schedules, data)
	if err != nil {
		return nil, err
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	seed := maphash.MakeSeed()
	hash := func(k userKey) uint64 {
		if k.upn != "" {
			return maphash.String(seed, k.upn)
		}
		return maphash.String(seed, k.id)
	}
	s := &Stage{ss: ss, log: log.With("stage", "work_hours"), cache: directcache.New[userKey, resolution](2*size, hash)}
	if ss.def == nil && len(ss.named) == 0 {
		s.log.Warn("the schedules file has no default and no schedules: no record gets work-hours context", "file", cfg.Schedules)
	}
	return s, nil
}

// Schedules is the compiled schedules file.
func (s *Stage) Schedules() *Schedules { return s.ss }

// Close releases nothing; it is there for the stage life cycle.
func (s *Stage) Close() error { return nil }

// Schedule returns the schedule that applies to a user (nil for none),
// through the cache.
func (s *Stage) Schedule(p *entra.Principal) *Schedule {
	k := userKey{p.ID, p.UPN}
	c := s.cache
	var first *entra.RoleHeld
	if len(p.Roles) > 0 {
		first = &p.Roles[0]
	}
	if r, ok := c.Get(k); ok && (r.byUser || r.roles == first && r.nroles == len(p.Roles)) {
		return r.s
	}
	sc, byUser := s.ss.Resolve(p.ID, p.UPN, p.Roles)
	// The record's strings would keep all of its decoded strings alive
	// as long as the entry lives.
	k = userKey{strings.Clone(k.id), strings.Clone(k.upn)}
	c.Add(k, resolution{s: sc, byUser: byUser, roles: first, nroles: len(p.Roles)})
	return sc
}

// Enrich sets rec.Context.WorkHours when the actor is a user with a
// schedule and the record has an event time. It allocates the WorkHours
// and its LocalTime string.
func (s *Stage) Enrich(rec *entra.Record) {
	a := &rec.Actor
	// A directory record's time is when privtrail scanned, not when the
	// user did anything: working hours say nothing about it.
	if a.Type != "user" && !strings.EqualFold(a.Type, "user") || rec.Time.IsZero() || rec.Stream == entra.StreamDirectory {
		return
	}
	sc := s.Schedule(a)
	if sc == nil {
		return
	}
	lt := rec.Time.In(sc.loc)
	_, off := lt.Zone()
	var buf [32]byte
	b := lt.AppendFormat(buf[:0], LocalTimeLayout)
	rec.Context.WorkHours = &entra.WorkHours{
		Inside:    sc.inside(rec.Time.Unix() + int64(off)),
		LocalTime: string(b),
		Schedule:  sc.name,
	}
}
