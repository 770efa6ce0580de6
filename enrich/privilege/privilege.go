// Package privilege tags the actor and the target users of each record
// with the roles they hold, whether any is privileged, and whether the
// account is an emergency access ("break-glass") account.
//
// The roles come from a role map snapshot (a file, later Microsoft Graph)
// and from the role changes of the directory audit stream (Observe): each
// principal touched by a change keeps a bounded history, so that a record
// is tagged with the roles held at its event time (history.go, audit.go).
package privilege

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/yamlfile"
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

// roleMapFile is the on-disk format (YAML or JSON: JSON is YAML). A state
// file written by Stage.Save is a role map file with the history fields
// filled; ParseMap reads users and emergency_access and ignores the rest.
type roleMapFile struct {
	Users           []userFile    `yaml:"users,omitempty" json:"users,omitempty"`
	EmergencyAccess []accountFile `yaml:"emergency_access,omitempty" json:"emergency_access,omitempty"`

	// Written by Stage.Save (state.go).
	SavedAt       string        `yaml:"saved_at,omitempty" json:"saved_at,omitempty"`
	SnapshotAt    string        `yaml:"snapshot_at,omitempty" json:"snapshot_at,omitempty"`
	RoleMapSHA256 string        `yaml:"role_map_sha256,omitempty" json:"role_map_sha256,omitempty"`
	NewestEvent   string        `yaml:"newest_event,omitempty" json:"newest_event,omitempty"`
	History       []historyFile `yaml:"history,omitempty" json:"history,omitempty"`
}

type userFile struct {
	ID          string     `yaml:"id,omitempty" json:"id,omitempty"`
	UPN         string     `yaml:"upn,omitempty" json:"upn,omitempty"`
	DisplayName string     `yaml:"display_name,omitempty" json:"display_name,omitempty"`
	Roles       []roleFile `yaml:"roles,omitempty" json:"roles,omitempty"`
}

type roleFile struct {
	Name       string `yaml:"name,omitempty" json:"name,omitempty"`
	TemplateID string `yaml:"template_id,omitempty" json:"template_id,omitempty"`
	Assignment string `yaml:"assignment,omitempty" json:"assignment,omitempty"`
	Via        string `yaml:"via,omitempty" json:"via,omitempty"`
}

type accountFile struct {
	ID  string `yaml:"id,omitempty" json:"id,omitempty"`
	UPN string `yaml:"upn,omitempty" json:"upn,omitempty"`
}

// Map is an immutable snapshot of the role map. Lookups are by object ID
// or UPN, both case-insensitive.
type Map struct {
	byKey   map[string]*Entry // lower-cased id and upn
	entries []*Entry          // each entry once, in file order
	// fromSource: read from a role map document (a file, Graph, a saved
	// state), not the placeholder of configured emergency accounts.
	fromSource bool
	// groupRoles are the roles each role-assignable group grants, by
	// lower-cased group id, from the roles given `via: group:<id>`.
	groupRoles map[string][]entra.RoleHeld
	users      int
	loadedAt   time.Time
	// src is the document's users and emergency_access, as Save writes
	// them back.
	src roleMapFile
}

// LoadedAt is when the snapshot was built, for the role-map age metric. It
// is also the time as of which the snapshot is the truth: audit changes of
// an earlier event time do not apply to later records (see README.md).
func (m *Map) LoadedAt() time.Time { return m.loadedAt }

// AsOf returns a copy of the snapshot that is the truth as of t instead of
// its load time, e.g. the time a Graph export was read.
func (m *Map) AsOf(t time.Time) *Map {
	c := *m
	c.loadedAt = t.UTC()
	return &c
}

// Entries returns the principals of the map, in the order of its file.
// The entries are shared: callers must not modify them.
func (m *Map) Entries() []*Entry { return m.entries }

// Len is the number of principals in the map.
func (m *Map) Len() int { return m.users }

// find returns the entry of a principal by object ID first, then by UPN.
// It case-folds, so it is for the writer side, not the lookup path.
func (m *Map) find(id, upn string) *Entry {
	if id != "" {
		if e := m.byKey[strings.ToLower(id)]; e != nil {
			return e
		}
	}
	if upn != "" {
		return m.byKey[strings.ToLower(upn)]
	}
	return nil
}

// Stage tags records. It is safe for concurrent use; the map it serves can
// be swapped while records flow (later by a live Graph source), and the
// role changes of the audit stream update it (Observe).
type Stage struct {
	cfg   Config
	log   *slog.Logger
	roles *RoleSet
	idx   atomic.Pointer[index]

	// Reloads of the role map file: counted for the metrics, never
	// blocking a lookup (the old snapshot serves until the new one is in).
	Reloads, ReloadFailures atomic.Int64
	// Role-change audit records: applied to the histories, ignored on
	// purpose (failed, a duplicate PIM writes through Core Directory, a
	// role given to a group), and malformed (no principal, no role, no
	// time). Counted per record.
	ChangesApplied, ChangesIgnored, ChangesMalformed atomic.Int64
	// SyncFailures counts journal writes that failed (the pipeline waits
	// and tries again).
	SyncFailures atomic.Int64

	// gen is the newest generation: Observe and every snapshot swap
	// take the next one.
	gen atomic.Uint64

	// mu serialises the writers (Observe, swaps, Save); the fields below
	// are theirs. Lookups never take it.
	mu        sync.Mutex
	byKey     map[string]*principal // lower-cased id and upn
	plist     []*principal
	seq       uint64    // application order of changes
	newest    time.Time // newest event time observed
	lastSweep uint64
	// fileSHA is the SHA-256 of the role map file last read, saved with
	// the state: a file unchanged since is not a new snapshot.
	fileSHA string

	// jr journals what Observe learns (nil without a state file).
	jr *journal

	seen, settling fileStamp
	stop, done     chan struct{}
	once           sync.Once
	closeErr       error
}

// index is what lookups read: the snapshot and the principals with a
// history, both keyed by lower-cased ID and UPN. A new index is published
// when the snapshot or the set of principals with a history changes.
//
// It has no cache in front: a lookup folds the key's case on the stack
// and reads two maps, about as fast as a cache hit and without the lock a
// shared cache takes, which workers on every core contended for.
type index struct {
	m    *Map
	hist map[string]*principal
}

type slot struct {
	e *Entry     // in the snapshot, or nil
	p *principal // with a history, or nil
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (a fileStamp) equal(b fileStamp) bool { return a.size == b.size && a.mod.Equal(b.mod) }

// New loads the role map named in cfg (and the saved state of
// cfg.StateFile, when there is one) and, with a role map file, starts
// watching it for changes. log may be nil.
func New(cfg Config, log ...*slog.Logger) (*Stage, error) {
	if err := cfg.validateHistory(); err != nil {
		return nil, err
	}
	roles, err := NewRoleSet(cfg.PrivilegedRoles, cfg.ExtraPrivilegedRoles)
	if err != nil {
		return nil, err
	}
	s := &Stage{cfg: cfg.withDefaults(), roles: roles, log: slog.Default(), byKey: map[string]*principal{}}
	if len(log) > 0 && log[0] != nil {
		s.log = log[0]
	}
	restored := false
	if cfg.StateFile != "" {
		s.jr = &journal{path: journalPath(cfg.StateFile), compactAt: journalCompactAt}
		switch err := s.restore(cfg.StateFile); {
		case err == nil:
			restored = true
			s.log.Info("privilege state restored", "file", cfg.StateFile, "principals", s.Map().Len(), "histories", len(s.plist))
		case errors.Is(err, fs.ErrNotExist):
		default:
			s.log.Warn("privilege state not read, starting without it", "file", cfg.StateFile, "err", err)
		}
	}
	if cfg.RoleMap == "" {
		if !restored {
			m, _ := ParseMap("", nil, roles, cfg.EmergencyAccess)
			s.install(m)
		}
		if s.jr != nil {
			s.replayJournal()
		}
		return s, nil
	}
	swapped, err := s.reload(true)
	if err != nil {
		if !restored {
			return nil, err
		}
		// The saved state serves until the file can be read again.
		s.ReloadFailures.Add(1)
		s.log.Warn("role map not read, tagging from the saved state", "file", cfg.RoleMap, "err", err)
	}
	// The journal's changes came after the snapshot in use was swapped
	// in (the state file names the role map file's digest, so an
	// unchanged file is not swapped in again).
	if s.jr != nil {
		s.replayJournal()
		if swapped {
			// A snapshot swapped in at start (the first one, or a file
			// changed while privtrail was down) is saved now with its
			// time: a crash would otherwise swap it in again as of the
			// next start, after the changes learnt until then, and hide
			// them from the records that follow.
			s.snapshotSaved()
		}
	}
	if cfg.ReloadInterval >= 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.watch()
	}
	return s, nil
}

// reload reads the role map file when force is set or it changed and then
// stayed unchanged for one interval (a file rewritten in place is never
// read half-written); it reports whether a new map is in use. A file
// rewritten with the same content is not a new snapshot.
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
	sum := digest(data)
	s.mu.Lock()
	same := s.fileSHA == sum
	s.mu.Unlock()
	if same {
		return false, nil
	}
	m, err := ParseMap(s.cfg.RoleMap, data, s.roles, s.cfg.EmergencyAccess)
	if err != nil {
		return false, fmt.Errorf("role map: %w", err)
	}
	s.install(m)
	s.mu.Lock()
	s.fileSHA = sum
	s.mu.Unlock()
	return true, nil
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
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
				s.snapshotSaved()
			}
		}
	}
}

// Close stops watching the role map file and, with a state_file
// configured, saves the state to it.
func (s *Stage) Close() error {
	s.once.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
		if s.jr != nil {
			s.jr.mu.Lock()
			defer s.jr.mu.Unlock()
			s.closeErr = s.compactLocked()
			s.jr.close()
		}
	})
	return s.closeErr
}

// Roles is the set of roles that count as privileged.
func (s *Stage) Roles() *RoleSet { return s.roles }

// Map is the snapshot in use.
func (s *Stage) Map() *Map { return s.idx.Load().m }

// Swap replaces the role map, e.g. after a refresh from Graph. The new
// snapshot is the truth as of m.LoadedAt(): audit changes of an earlier
// event time no longer apply to records from then on, while records of an
// earlier event time are still tagged from the history kept before.
func (s *Stage) Swap(m *Map) {
	s.install(m)
	s.snapshotSaved()
}

// snapshotSaved writes the state file after a new snapshot was swapped in
// during the run (and empties the journal it now holds): a restart after
// a crash then starts from that snapshot, with the journal's later
// changes over it, instead of swapping the snapshot in again as of the
// restart, after them, where it would hide them.
func (s *Stage) snapshotSaved() {
	if s.jr == nil {
		return
	}
	if err := s.compactJournal(); err != nil {
		s.log.Warn("privilege state not written after the new role map; a restart after a crash would take the role map as of then", "file", s.cfg.StateFile, "err", err)
	}
}

// Generation is the newest generation (see Observe).
func (s *Stage) Generation() uint64 { return s.gen.Load() }

// Changes is the number of role-change audit records applied so far.
func (s *Stage) Changes() int64 { return s.ChangesApplied.Load() }

// Histories is the number of principals with a role history.
func (s *Stage) Histories() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.plist)
}

func (s *Stage) newIndex(m *Map) *index {
	hist := make(map[string]*principal, len(s.byKey))
	for k, p := range s.byKey {
		hist[k] = p
	}
	return &index{m: m, hist: hist}
}

// ParseMap parses a role map document.
func ParseMap(file string, data []byte, roles *RoleSet, extraEmergency []string) (*Map, error) {
	var f roleMapFile
	if len(data) > 0 {
		if err := yamlfile.Decode(file, data, &f); err != nil {
			return nil, err
		}
	}
	m, err := buildMap(f.Users, f.EmergencyAccess, roles, extraEmergency)
	if err != nil {
		return nil, err
	}
	m.loadedAt = time.Now().UTC()
	m.fromSource = len(data) > 0
	return m, nil
}

func buildMap(users []userFile, emergency []accountFile, roles *RoleSet, extraEmergency []string) (*Map, error) {
	m := &Map{byKey: make(map[string]*Entry, 2*len(users)), groupRoles: map[string][]entra.RoleHeld{}, fromSource: true}
	m.src.Users, m.src.EmergencyAccess = users, emergency
	add := func(e *Entry) bool {
		fresh := true
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
				fresh = false
				continue
			}
			m.byKey[strings.ToLower(k)] = e
		}
		if fresh {
			m.entries = append(m.entries, e)
		}
		return fresh
	}
	for i, u := range users {
		if u.ID == "" && u.UPN == "" {
			return nil, fmt.Errorf("users[%d]: id or upn is required", i)
		}
		e := &Entry{ID: u.ID, UPN: u.UPN, DisplayName: u.DisplayName}
		for j, r := range u.Roles {
			held, err := roleOf(r, roles)
			if err != nil {
				return nil, fmt.Errorf("users[%d].roles[%d]%w", i, j, err)
			}
			e.Roles = append(e.Roles, held)
			e.Privileged = e.Privileged || held.Privileged
			if g, ok := strings.CutPrefix(held.Via, "group:"); ok {
				m.addGroupRole(g, held)
			}
		}
		add(e)
		m.users++
	}
	for i, ea := range emergency {
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

// roleOf checks one role of the file format; the error continues a path.
func roleOf(r roleFile, roles *RoleSet) (entra.RoleHeld, error) {
	assignment := strings.ToLower(r.Assignment)
	switch assignment {
	case "":
		assignment = "active"
	case "active", "eligible":
	default:
		return entra.RoleHeld{}, fmt.Errorf(".assignment: %q is not active or eligible", r.Assignment)
	}
	via := r.Via
	if via == "" {
		via = "direct"
	}
	if via != "direct" && (!strings.HasPrefix(via, "group:") || len(via) == len("group:")) {
		return entra.RoleHeld{}, fmt.Errorf(".via: %q is not direct or group:<id>", r.Via)
	}
	if r.Name == "" && r.TemplateID == "" {
		return entra.RoleHeld{}, errors.New(": name or template_id is required")
	}
	return roles.held(entra.RoleHeld{Name: r.Name, TemplateID: r.TemplateID, Assignment: assignment, Via: via}), nil
}

func (m *Map) addGroupRole(group string, r entra.RoleHeld) {
	k := strings.ToLower(group)
	for _, have := range m.groupRoles[k] {
		if sameRole(&have, &r) {
			return
		}
	}
	m.groupRoles[k] = append(m.groupRoles[k], r)
}

// Lookup finds a principal of the snapshot in use by object ID first, then
// by UPN.
func (s *Stage) Lookup(id, upn string) *Entry {
	return s.idx.Load().slot(id, upn).e
}

func (ix *index) slot(id, upn string) slot {
	if id != "" {
		if sl := ix.lookupKey(id); sl.e != nil || sl.p != nil {
			return sl
		}
	}
	if upn != "" {
		return ix.lookupKey(upn)
	}
	return slot{}
}

func (ix *index) lookupKey(k string) slot {
	return slot{e: lookupFolded(ix.m.byKey, k), p: lookupFolded(ix.hist, k)}
}

// lookupFolded reads m (keyed by lower-cased strings) at k in any case.
// An ASCII key is folded into a stack buffer, which a map index with
// string(bytes) reads without allocating; others take strings.ToLower.
func lookupFolded[V any](m map[string]V, k string) V {
	var buf [128]byte
	if len(k) > len(buf) {
		return m[strings.ToLower(k)]
	}
	folded := false
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 0x80:
			return m[strings.ToLower(k)]
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
			folded = true
		}
		buf[i] = c
	}
	if !folded {
		return m[k]
	}
	return m[string(buf[:len(k)])]
}

// Enrich tags the actor and every target user of rec with what the stage
// knows now: EnrichAt with the newest generation.
func (s *Stage) Enrich(rec *entra.Record) { s.EnrichAt(rec, math.MaxUint64) }

// EnrichAt tags the actor and every target user of rec with the roles held
// at rec.Time (now for a record without a time), as known from the
// snapshot and the role changes of generation gen and earlier: the tags
// of a batch never depend on a change observed for a later batch. It is
// safe to call from any goroutine.
func (s *Stage) EnrichAt(rec *entra.Record, gen uint64) {
	ix := s.idx.Load()
	tagAt(ix, &rec.Actor, rec.Time, gen)
	for i := range rec.Audit.Targets {
		t := &rec.Audit.Targets[i].Principal
		if t.Type != "" && !strings.EqualFold(t.Type, "user") && !strings.EqualFold(t.Type, "servicePrincipal") {
			continue
		}
		tagAt(ix, t, rec.Time, gen)
	}
}

func tagAt(ix *index, p *entra.Principal, t time.Time, gen uint64) {
	sl := ix.slot(p.ID, p.UPN)
	switch {
	case sl.p == nil:
		tag(p, sl.e)
	default:
		if t.IsZero() {
			t = time.Now()
		}
		v := sl.p.version(gen)
		seg := v.at(t)
		if !seg.known {
			return
		}
		p.Known = true
		p.Privileged = seg.privileged
		p.Emergency = seg.emergency
		p.Roles = seg.roles
		if p.UPN == "" {
			p.UPN = v.upn
		}
		if p.ID == "" {
			p.ID = v.id
		}
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
