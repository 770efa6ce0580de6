// Package privilege tags the actor and the target users of each record
// with the roles they hold, whether any is privileged, and whether the
// account is an emergency access ("break-glass") account.
package privilege

import (
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/yamlfile"
)

//go:embed privileged_roles.yaml
var shippedRoles []byte

// Role is a role definition of the privileged list.
type Role struct {
	Name       string `yaml:"name" json:"name"`
	TemplateID string `yaml:"template_id" json:"template_id"`
}

// Entry is what the role map knows of one principal.
type Entry struct {
	ID          string
	UPN         string
	DisplayName string
	Roles       []entra.RoleHeld
	Privileged  bool
	Emergency   bool
}

// roleMapFile is the on-disk format (YAML or JSON: JSON is YAML).
type roleMapFile struct {
	Users []struct {
		ID          string `yaml:"id"`
		UPN         string `yaml:"upn"`
		DisplayName string `yaml:"display_name"`
		Roles       []struct {
			Name       string `yaml:"name"`
			TemplateID string `yaml:"template_id"`
			Assignment string `yaml:"assignment"`
			Via        string `yaml:"via"`
		} `yaml:"roles"`
	} `yaml:"users"`
	EmergencyAccess []struct {
		ID  string `yaml:"id"`
		UPN string `yaml:"upn"`
	} `yaml:"emergency_access"`
}

// Map is an immutable snapshot of the role map. Lookups are by object ID
// or UPN, both case-insensitive.
type Map struct {
	byKey    map[string]*Entry // lower-cased id and upn
	users    int
	loadedAt time.Time
	// cache maps a principal key exactly as logged (any case) to its
	// entry, or to nil for principals the map does not know: the common
	// case of a non-privileged user then costs one cached lookup instead
	// of two case-folding allocations per record. Each snapshot has its
	// own, so a swap can never leave a stale answer cached.
	cache *lru.Cache[string, *Entry]
}

// LoadedAt is when the snapshot was built, for the role-map age metric.
func (m *Map) LoadedAt() time.Time { return m.loadedAt }

// Len is the number of principals in the map.
func (m *Map) Len() int { return m.users }

// Stage tags records. It is safe for concurrent use; the map it serves can
// be swapped while records flow (later by a live Graph source).
type Stage struct {
	cfg       Config
	log       *slog.Logger
	roles     *RoleSet
	m         atomic.Pointer[Map]
	cacheSize int

	// Reloads of the role map file: counted for the metrics, never
	// blocking a lookup (the old snapshot serves until the new one is in).
	Reloads, ReloadFailures atomic.Int64
	seen, settling          fileStamp
	stop, done              chan struct{}
	once                    sync.Once
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (a fileStamp) equal(b fileStamp) bool { return a.size == b.size && a.mod.Equal(b.mod) }

// New loads the role map named in cfg and, with a role map file, starts
// watching it for changes. log may be nil.
func New(cfg Config, log ...*slog.Logger) (*Stage, error) {
	roles, err := NewRoleSet(cfg.PrivilegedRoles, cfg.ExtraPrivilegedRoles)
	if err != nil {
		return nil, err
	}
	s := &Stage{cfg: cfg, roles: roles, cacheSize: cfg.CacheSize, log: slog.Default()}
	if len(log) > 0 && log[0] != nil {
		s.log = log[0]
	}
	if s.cacheSize == 0 {
		s.cacheSize = 65536
	}
	if cfg.RoleMap == "" {
		m, _ := ParseMap("", nil, roles, cfg.EmergencyAccess)
		return s, s.install(m)
	}
	if _, err := s.reload(true); err != nil {
		return nil, err
	}
	if cfg.ReloadInterval >= 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.watch()
	}
	return s, nil
}

func (s *Stage) install(m *Map) error {
	cache, err := lru.New[string, *Entry](s.cacheSize)
	if err != nil {
		return err
	}
	m.cache = cache
	s.m.Store(m)
	return nil
}

// reload reads the role map file when force is set or it changed and then
// stayed unchanged for one interval (a file rewritten in place is never
// read half-written); it reports whether a new map is in use.
func (s *Stage) reload(force bool) (bool, error) {
	fi, err := os.Stat(s.cfg.RoleMap)
	if err != nil {
		return false, fmt.Errorf("role map: %w", err)
	}
	st := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	if !force {
		if st.equal(s.seen) {
			return false, nil
		}
		if !st.equal(s.settling) || st.size == 0 {
			s.settling = st
			return false, nil
		}
	}
	s.seen = st
	data, err := os.ReadFile(s.cfg.RoleMap)
	if err != nil {
		return false, fmt.Errorf("role map: %w", err)
	}
	m, err := ParseMap(s.cfg.RoleMap, data, s.roles, s.cfg.EmergencyAccess)
	if err != nil {
		return false, fmt.Errorf("role map: %w", err)
	}
	return true, s.install(m)
}

func (s *Stage) watch() {
	defer close(s.done)
	every := s.cfg.ReloadInterval
	if every == 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			switch ok, err := s.reload(false); {
			case err != nil:
				s.ReloadFailures.Add(1)
				s.log.Warn("role map not reloaded, keeping the one in use", "file", s.cfg.RoleMap, "principals", s.Map().Len(), "err", err)
			case ok:
				s.Reloads.Add(1)
				s.log.Info("role map reloaded", "file", s.cfg.RoleMap, "principals", s.Map().Len())
			}
		}
	}
}

// Close stops watching the role map file.
func (s *Stage) Close() error {
	s.once.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
	})
	return nil
}

// Roles is the set of roles that count as privileged.
func (s *Stage) Roles() *RoleSet { return s.roles }

// Map is the snapshot in use.
func (s *Stage) Map() *Map { return s.m.Load() }

// Swap replaces the role map, e.g. after a refresh from Graph.
func (s *Stage) Swap(m *Map) {
	_ = s.install(m) // lru.New fails only for a size < 1, excluded by New
}

// ParseMap parses a role map document.
func ParseMap(file string, data []byte, roles *RoleSet, extraEmergency []string) (*Map, error) {
	var f roleMapFile
	if len(data) > 0 {
		if err := yamlfile.Decode(file, data, &f); err != nil {
			return nil, err
		}
	}
	m := &Map{byKey: make(map[string]*Entry, 2*len(f.Users)), loadedAt: time.Now()}
	add := func(e *Entry) {
		for _, k := range []string{e.ID, e.UPN} {
			if k == "" {
				continue
			}
			if old, ok := m.byKey[strings.ToLower(k)]; ok && old != e {
				// The same principal listed twice (e.g. in users and in
				// emergency_access): merge into the first entry.
				old.Emergency = old.Emergency || e.Emergency
				old.Roles = append(old.Roles, e.Roles...)
				old.Privileged = old.Privileged || e.Privileged
				continue
			}
			m.byKey[strings.ToLower(k)] = e
		}
	}
	for i, u := range f.Users {
		if u.ID == "" && u.UPN == "" {
			return nil, fmt.Errorf("users[%d]: id or upn is required", i)
		}
		e := &Entry{ID: u.ID, UPN: u.UPN, DisplayName: u.DisplayName}
		for j, r := range u.Roles {
			assignment := strings.ToLower(r.Assignment)
			switch assignment {
			case "":
				assignment = "active"
			case "active", "eligible":
			default:
				return nil, fmt.Errorf("users[%d].roles[%d].assignment: %q is not active or eligible", i, j, r.Assignment)
			}
			via := r.Via
			if via == "" {
				via = "direct"
			}
			if via != "direct" && !strings.HasPrefix(via, "group:") {
				return nil, fmt.Errorf("users[%d].roles[%d].via: %q is not direct or group:<id>", i, j, r.Via)
			}
			if r.Name == "" && r.TemplateID == "" {
				return nil, fmt.Errorf("users[%d].roles[%d]: name or template_id is required", i, j)
			}
			held := entra.RoleHeld{Name: r.Name, TemplateID: r.TemplateID, Assignment: assignment, Via: via}
			held.Privileged = roles.Privileged(r.TemplateID) || roles.Privileged(r.Name)
			if held.Name == "" {
				held.Name = roles.Name(r.TemplateID)
			}
			e.Roles = append(e.Roles, held)
			e.Privileged = e.Privileged || held.Privileged
		}
		add(e)
		m.users++
	}
	for i, ea := range f.EmergencyAccess {
		if ea.ID == "" && ea.UPN == "" {
			return nil, fmt.Errorf("emergency_access[%d]: id or upn is required", i)
		}
		before := len(m.byKey)
		add(&Entry{ID: ea.ID, UPN: ea.UPN, Emergency: true, Privileged: true})
		if len(m.byKey) > before {
			m.users++
		}
	}
	for _, k := range extraEmergency {
		e := &Entry{Emergency: true, Privileged: true}
		if strings.Contains(k, "@") {
			e.UPN = k
		} else {
			e.ID = k
		}
		before := len(m.byKey)
		add(e)
		if len(m.byKey) > before {
			m.users++
		}
	}
	return m, nil
}

// Lookup finds a principal by object ID first, then by UPN.
func (s *Stage) Lookup(id, upn string) *Entry {
	if id != "" {
		if e := s.lookupKey(id); e != nil {
			return e
		}
	}
	if upn != "" {
		return s.lookupKey(upn)
	}
	return nil
}

func (s *Stage) lookupKey(k string) *Entry {
	m := s.m.Load()
	if e, ok := m.cache.Get(k); ok {
		return e
	}
	e := m.byKey[strings.ToLower(k)]
	m.cache.Add(k, e)
	return e
}

// Enrich tags the actor and every target user of rec.
func (s *Stage) Enrich(rec *entra.Record) {
	tag(&rec.Actor, s.Lookup(rec.Actor.ID, rec.Actor.UPN))
	for i := range rec.Audit.Targets {
		t := &rec.Audit.Targets[i].Principal
		if t.Type != "" && !strings.EqualFold(t.Type, "user") && !strings.EqualFold(t.Type, "servicePrincipal") {
			continue
		}
		tag(t, s.Lookup(t.ID, t.UPN))
	}
}

func tag(p *entra.Principal, e *Entry) {
	if e == nil {
		return
	}
	p.Known = true
	p.Privileged = e.Privileged
	p.Emergency = e.Emergency
	p.Roles = e.Roles
	if p.UPN == "" {
		p.UPN = e.UPN
	}
	if p.ID == "" {
		p.ID = e.ID
	}
}

// PrivilegedKeys returns the lower-cased IDs and UPNs of every privileged
// principal, for tools that want a plain set.
func (m *Map) PrivilegedKeys() map[string]bool {
	out := map[string]bool{}
	for k, e := range m.byKey {
		if e.Privileged {
			out[k] = true
		}
	}
	return out
}
