package privilege

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/privtrail/privtrail/internal/linefile"
	"github.com/privtrail/privtrail/internal/yamlfile"
)

// The state file is a role map file (users, emergency_access: the
// snapshot in use, exactly as its source listed them) plus the history of
// every principal that has one. ParseMap reads it as a role map.

// historyFile is one principal's history: what it held before the first
// change kept, and the changes.
type historyFile struct {
	ID        string       `yaml:"id,omitempty" json:"id,omitempty"`
	UPN       string       `yaml:"upn,omitempty" json:"upn,omitempty"`
	Known     bool         `yaml:"known,omitempty" json:"known,omitempty"`
	Emergency bool         `yaml:"emergency,omitempty" json:"emergency,omitempty"`
	Roles     []heldFile   `yaml:"roles,omitempty" json:"roles,omitempty"`
	Changes   []changeFile `yaml:"changes,omitempty" json:"changes,omitempty"`
	// FoldedRecords are the audit records of the newest changes folded
	// into roles: read again, they are not applied twice.
	FoldedRecords []string `yaml:"folded_records,omitempty" json:"folded_records,omitempty"`
}

type heldFile struct {
	Name       string `yaml:"name,omitempty" json:"name,omitempty"`
	TemplateID string `yaml:"template_id,omitempty" json:"template_id,omitempty"`
	Assignment string `yaml:"assignment,omitempty" json:"assignment,omitempty"`
	Via        string `yaml:"via,omitempty" json:"via,omitempty"`
	Until      string `yaml:"until,omitempty" json:"until,omitempty"`
}

type changeFile struct {
	At     string `yaml:"at" json:"at"`
	Change string `yaml:"change" json:"change"` // add | remove | snapshot
	// add, remove
	Name       string `yaml:"name,omitempty" json:"name,omitempty"`
	TemplateID string `yaml:"template_id,omitempty" json:"template_id,omitempty"`
	Assignment string `yaml:"assignment,omitempty" json:"assignment,omitempty"`
	Via        string `yaml:"via,omitempty" json:"via,omitempty"`
	Until      string `yaml:"until,omitempty" json:"until,omitempty"`
	// snapshot
	Known     bool       `yaml:"known,omitempty" json:"known,omitempty"`
	Emergency bool       `yaml:"emergency,omitempty" json:"emergency,omitempty"`
	Roles     []heldFile `yaml:"roles,omitempty" json:"roles,omitempty"`
	// Record is the ID of the audit record the change was read from: the
	// same record read again (after a restart, from an input that
	// delivers at least once) is not applied twice.
	Record string `yaml:"record,omitempty" json:"record,omitempty"`
}

// fileOf is c as the state file and the journal write it.
func fileOf(c *change) changeFile {
	cf := changeFile{At: timeText(c.at), Change: c.op.String(), Record: c.src}
	if c.op == opReset {
		cf.Known, cf.Emergency, cf.Roles = c.snap.known, c.snap.emergency, heldFiles(c.snap.roles)
	} else {
		cf.Name, cf.TemplateID, cf.Assignment, cf.Via = c.role.Name, c.role.TemplateID, c.role.Assignment, c.role.Via
		cf.Until = timeText(c.until)
	}
	return cf
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func heldFiles(hs []held) []heldFile {
	var out []heldFile
	for _, h := range hs {
		out = append(out, heldFile{Name: h.role.Name, TemplateID: h.role.TemplateID, Assignment: h.role.Assignment,
			Via: h.role.Via, Until: timeText(h.until)})
	}
	return out
}

// Save writes the role map in use and the role histories to path,
// atomically (a temporary file renamed over it): a crash leaves the old
// file or the new one, never half of one.
func (s *Stage) Save(path string) error {
	s.mu.Lock()
	ix := s.idx.Load()
	doc := roleMapFile{
		Users:           ix.m.src.Users,
		EmergencyAccess: ix.m.src.EmergencyAccess,
		SavedAt:         timeText(time.Now()),
		SnapshotAt:      timeText(ix.m.loadedAt),
		RoleMapSHA256:   s.fileSHA,
		NewestEvent:     timeText(s.newest),
	}
	for _, p := range s.plist {
		h := historyFile{ID: p.id, UPN: p.upn, Known: p.base.known, Emergency: p.base.emergency, Roles: heldFiles(p.base.roles),
			FoldedRecords: slices.Clone(p.folded)}
		for i := range p.changes {
			h.Changes = append(h.Changes, fileOf(&p.changes[i]))
		}
		doc.History = append(doc.History, h)
	}
	s.mu.Unlock()
	slices.SortStableFunc(doc.History, func(a, b historyFile) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.ID), strings.ToLower(b.ID)), cmp.Compare(strings.ToLower(a.UPN), strings.ToLower(b.UPN)))
	})
	// JSON, which the YAML reader of restore reads too: it is written at
	// every stop, and go-yaml took a tenth of a replay's CPU to write a
	// thousand histories; encoding/json takes a fiftieth of that.
	data, err := json.MarshalIndent(&doc, "", " ")
	if err != nil {
		return fmt.Errorf("privilege state: %w", err)
	}
	if err := WriteFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("privilege state: %w", err)
	}
	return nil
}

// WriteFile replaces path with a role map or state document: a temporary
// file in the same directory, synced, mode 0600, renamed over it, so a
// reader (a reload, a restart after a crash) never sees half a document.
func WriteFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(f.Name(), 0o600); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced; a file system
	// that cannot sync a directory still has the new file in place.
	_ = linefile.SyncDir(dir)
	return nil
}

// restore installs the snapshot and the histories saved in path, as
// generation 0.
func (s *Stage) restore(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	m, principals, newest, sum, err := parseState(path, data, s.roles, s.cfg.EmergencyAccess)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.newest, s.fileSHA = newest, sum
	for _, p := range principals {
		for i := range p.changes {
			s.seq++
			p.changes[i].seq = s.seq
		}
		s.link(p, p.id, p.upn)
		if len(p.keys) == 0 {
			continue // listed twice: the first one wins
		}
		if e := m.find(p.id, p.upn); e != nil {
			s.link(p, e.ID, e.UPN)
		}
		p.compact(s.cfg.HistoryLimit, s.cutoff())
		p.publish(0)
		s.plist = append(s.plist, p)
	}
	s.idx.Store(s.newIndex(m))
	return nil
}

// parseState reads a state file: its snapshot (as of snapshot_at), its
// histories, the newest event time seen and the digest of the role map
// file last read.
func parseState(file string, data []byte, roles *RoleSet, extraEmergency []string) (*Map, []*principal, time.Time, string, error) {
	var f roleMapFile
	if err := yamlfile.Decode(file, data, &f); err != nil {
		return nil, nil, time.Time{}, "", err
	}
	m, err := buildMap(f.Users, f.EmergencyAccess, roles, extraEmergency)
	if err != nil {
		return nil, nil, time.Time{}, "", fmt.Errorf("%s: %w", file, err)
	}
	bad := func(format string, a ...any) (*Map, []*principal, time.Time, string, error) {
		return nil, nil, time.Time{}, "", fmt.Errorf("%s: "+format, append([]any{file}, a...)...)
	}
	var ok bool
	switch {
	case f.SnapshotAt != "":
		if m.loadedAt, ok = parseTimeText(f.SnapshotAt); !ok {
			return bad("snapshot_at: %q is not an RFC 3339 time", f.SnapshotAt)
		}
	case len(f.History) > 0:
		return bad("snapshot_at is required with a history")
	default: // a plain role map
		m.loadedAt = time.Now().UTC()
	}
	var newest time.Time
	if f.NewestEvent != "" {
		if newest, ok = parseTimeText(f.NewestEvent); !ok {
			return bad("newest_event: %q is not an RFC 3339 time", f.NewestEvent)
		}
	}
	var ps []*principal
	for i, h := range f.History {
		if h.ID == "" && h.UPN == "" {
			return bad("history[%d]: id or upn is required", i)
		}
		p := &principal{id: h.ID, upn: h.UPN, base: state{known: h.Known, emergency: h.Emergency},
			folded: h.FoldedRecords[max(0, len(h.FoldedRecords)-keepFolded):]}
		if p.base.roles, err = heldOf(fmt.Sprintf("history[%d].roles", i), h.Roles, roles); err != nil {
			return bad("%v", err)
		}
		for j, cf := range h.Changes {
			c, err := changeOf(fmt.Sprintf("history[%d].changes[%d]", i, j), &cf, roles)
			if err != nil {
				return bad("%v", err)
			}
			p.changes = append(p.changes, c)
		}
		slices.SortStableFunc(p.changes, func(a, b change) int { return a.at.Compare(b.at) })
		ps = append(ps, p)
	}
	return m, ps, newest, f.RoleMapSHA256, nil
}

// heldOf reads the roles a state file says are held; path names them in
// errors.
func heldOf(path string, hs []heldFile, roles *RoleSet) ([]held, error) {
	var out []held
	for j, h := range hs {
		r, err := roleOf(roleFile{Name: h.Name, TemplateID: h.TemplateID, Assignment: h.Assignment, Via: h.Via}, roles)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]%w", path, j, err)
		}
		x := held{role: r}
		if h.Until != "" {
			var ok bool
			if x.until, ok = parseTimeText(h.Until); !ok {
				return nil, fmt.Errorf("%s[%d].until: %q is not an RFC 3339 time", path, j, h.Until)
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// changeOf reads one change of a history (the state file's or the
// journal's); path names it in errors.
func changeOf(path string, cf *changeFile, roles *RoleSet) (change, error) {
	c := change{src: cf.Record}
	var ok bool
	if c.at, ok = parseTimeText(cf.At); !ok || c.at.IsZero() {
		return c, fmt.Errorf("%s.at: %q is not an RFC 3339 time", path, cf.At)
	}
	var err error
	switch cf.Change {
	case "add", "remove":
		c.op = opAdd
		if cf.Change == "remove" {
			c.op = opRemove
		}
		if c.role, err = roleOf(roleFile{Name: cf.Name, TemplateID: cf.TemplateID, Assignment: cf.Assignment, Via: cf.Via}, roles); err != nil {
			return c, fmt.Errorf("%s%w", path, err)
		}
		if cf.Until != "" {
			if c.until, ok = parseTimeText(cf.Until); !ok || !c.until.After(c.at) {
				return c, fmt.Errorf("%s.until: %q is not an RFC 3339 time after at", path, cf.Until)
			}
		}
	case "snapshot":
		c.op = opReset
		c.snap = state{known: cf.Known, emergency: cf.Emergency}
		if c.snap.roles, err = heldOf(path+".roles", cf.Roles, roles); err != nil {
			return c, err
		}
	default:
		return c, fmt.Errorf("%s.change: %q is not add, remove or snapshot", path, cf.Change)
	}
	return c, nil
}
