package privilege

import (
	"strings"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// The role changes of the directory audit log, by lower-cased
// activityDisplayName. Sources for the activity names and where their
// principal and role are logged: the Core Directory record of
// ../shared/samples/splunk_security_content_aad_eventhub_records.jsonl
// (beside the repository; splunk/security_content), the PIM records of
// Microsoft Sentinel's PIM parser mapping (TheAlistairRoss/MicrosoftSentinel,
// Azure_PIM_Mappings_TargetResources.csv: principal in targetResources[2],
// or [3] for "PIM activation expired"; role in targetResources[0]), and
// panther-analysis' PIM rule test records (additionalDetails keys). See
// README.md.
var activities = map[string]activity{
	// Core Directory. The role is in the principal target's modified
	// properties Role.DisplayName / Role.TemplateId (newValue when added,
	// oldValue when removed).
	"add member to role":               {op: opAdd, assignment: "active", kind: kindCore},
	"remove member from role":          {op: opRemove, assignment: "active", kind: kindCore},
	"add eligible member to role":      {op: opAdd, assignment: "eligible", kind: kindCore},
	"remove eligible member from role": {op: opRemove, assignment: "eligible", kind: kindCore},

	// PIM. The role is the target of type Role (displayName) with the
	// template ID in additionalDetails TemplateId / RoleDefinitionOriginId.
	"add member to role in pim completed (permanent)":               {op: opAdd, assignment: "active", kind: kindPIM},
	"add member to role in pim completed (timebound)":               {op: opAdd, assignment: "active", kind: kindPIM},
	"add member to role outside of pim (permanent)":                 {op: opAdd, assignment: "active", kind: kindPIM},
	"remove member from role in pim completed":                      {op: opRemove, assignment: "active", kind: kindPIM},
	"remove member from role in pim completed (permanent)":          {op: opRemove, assignment: "active", kind: kindPIM},
	"remove member from role in pim completed (timebound)":          {op: opRemove, assignment: "active", kind: kindPIM},
	"remove permanent direct role assignment":                       {op: opRemove, assignment: "active", kind: kindPIM},
	"add eligible member to role in pim completed":                  {op: opAdd, assignment: "eligible", kind: kindPIM},
	"add eligible member to role in pim completed (permanent)":      {op: opAdd, assignment: "eligible", kind: kindPIM},
	"add eligible member to role in pim completed (timebound)":      {op: opAdd, assignment: "eligible", kind: kindPIM},
	"remove eligible member from role in pim completed":             {op: opRemove, assignment: "eligible", kind: kindPIM},
	"remove eligible member from role in pim completed (permanent)": {op: opRemove, assignment: "eligible", kind: kindPIM},
	"remove eligible member from role in pim completed (timebound)": {op: opRemove, assignment: "eligible", kind: kindPIM},
	"remove permanent eligible role assignment":                     {op: opRemove, assignment: "eligible", kind: kindPIM},
	"add member to role completed (pim activation)":                 {op: opAdd, assignment: "active", kind: kindActivation},
	"remove member from role (pim activation expired)":              {op: opRemove, assignment: "active", kind: kindPIM},
	"remove member from role completed (pim deactivate)":            {op: opRemove, assignment: "active", kind: kindPIM},

	// Membership of a role-assignable group (any category: Graph's own
	// example logs it under UserManagement). The group is the modified
	// property Group.ObjectID or the target of type Group.
	"add member to group":      {op: opAdd, kind: kindGroup},
	"remove member from group": {op: opRemove, kind: kindGroup},
}

type kind uint8

const (
	kindCore       kind = iota + 1 // Core Directory role assignment
	kindPIM                        // PIM assignment or removal
	kindActivation                 // PIM activation: active until its end
	kindGroup                      // group membership
)

type activity struct {
	op         op
	assignment string
	kind       kind
}

// pimApps are the applications PIM makes its Core Directory changes as:
// each PIM change is logged twice, by PIM (with the end time) and by Core
// Directory initiated by one of these; the PIM record is the one used.
var pimApps = []string{"MS-PIM", "MS-PIM-Fairfax", "MS-PIM-Mooncake"}

// endKeys name the end of a PIM activation or time-bound assignment, in
// additionalDetails or modifiedProperties. ExpirationTime is what PIM logs
// (with StartTime); the others are the schedule API's names.
var endKeys = []string{"ExpirationTime", "EndDateTime", "EndTime", "ExpirationDateTime"}

// wellKnownRoles maps Role.WellKnownObjectName values to template IDs, for
// a Core Directory record with neither the role's name nor its template.
var wellKnownRoles = map[string]string{
	"tenantadmins":              "62e90394-69f5-4237-9190-012177145e10", // Global Administrator
	"applicationadministrators": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", // Application Administrator
}

type verdict uint8

const (
	notRoleChange verdict = iota
	applied
	ignored
	malformed
)

// roleChange is what one audit record changes: the principal's roles.
type roleChange struct {
	id, upn string
	changes []change
	why     string // for ignored and malformed
}

// parseAudit reads the role change of an audit record. m gives the roles
// of role-assignable groups; activation is the length of an activation
// without an end time. It never keeps a reference into rec.
func parseAudit(rec *entra.Record, roles *RoleSet, m *Map, activation time.Duration) (roleChange, verdict) {
	au := &rec.Audit
	var buf [80]byte
	name := appendLower(buf[:0], au.ActivityDisplayName)
	act, ok := activities[string(name)]
	if !ok {
		return roleChange{}, notRoleChange
	}
	if act.kind == kindGroup {
		return parseGroup(rec, act, m)
	}
	if !strings.EqualFold(au.Category, "RoleManagement") {
		return roleChange{}, notRoleChange
	}
	if !strings.EqualFold(au.Result, "success") {
		return roleChange{why: "result " + au.Result}, ignored
	}
	if act.kind == kindCore {
		for _, app := range pimApps {
			if strings.EqualFold(au.InitiatedByApp, app) {
				return roleChange{why: "made by " + app + ": PIM's own record counts"}, ignored
			}
		}
	}
	subj := subject(au)
	if subj == nil {
		for i := range au.Targets {
			if strings.EqualFold(au.Targets[i].Type, "group") {
				return roleChange{why: "a role of a group"}, ignored
			}
		}
		return roleChange{why: "no user or service principal target"}, malformed
	}
	role, ok := roleOfAudit(au, roles)
	if !ok {
		return roleChange{why: "no role name or template id"}, malformed
	}
	if rec.Time.IsZero() {
		return roleChange{why: "no event time"}, malformed
	}
	role.Assignment, role.Via = act.assignment, "direct"
	c := change{op: act.op, at: rec.Time, role: role}
	if act.op == opAdd && act.kind != kindCore {
		if end, ok := endTime(au); ok && end.After(c.at) {
			c.until = end
		} else if act.kind == kindActivation {
			c.until = c.at.Add(activation)
		}
	}
	return roleChange{id: strings.Clone(subj.ID), upn: strings.Clone(subj.UPN), changes: []change{c}}, applied
}

func parseGroup(rec *entra.Record, act activity, m *Map) (roleChange, verdict) {
	au := &rec.Audit
	group := propValue(au, "Group.ObjectID")
	if group == "" {
		for i := range au.Targets {
			if strings.EqualFold(au.Targets[i].Type, "group") && au.Targets[i].ID != "" {
				group = au.Targets[i].ID
				break
			}
		}
	}
	granted := m.groupRoles[strings.ToLower(group)]
	if len(granted) == 0 {
		return roleChange{}, notRoleChange // not a group the map knows grants roles
	}
	if !strings.EqualFold(au.Result, "success") {
		return roleChange{why: "result " + au.Result}, ignored
	}
	subj := subject(au)
	if subj == nil {
		return roleChange{why: "no user or service principal target"}, malformed
	}
	if rec.Time.IsZero() {
		return roleChange{why: "no event time"}, malformed
	}
	rc := roleChange{id: strings.Clone(subj.ID), upn: strings.Clone(subj.UPN)}
	for _, r := range granted {
		rc.changes = append(rc.changes, change{op: act.op, at: rec.Time, role: r})
	}
	return rc, applied
}

// subject is the user or service principal a role change is about: the
// one carrying Role.* modified properties (Core Directory), else the first.
func subject(au *entra.Audit) *entra.Target {
	var first *entra.Target
	for i := range au.Targets {
		t := &au.Targets[i]
		if !strings.EqualFold(t.Type, "user") && !strings.EqualFold(t.Type, "servicePrincipal") || t.ID == "" && t.UPN == "" {
			continue
		}
		for _, p := range t.ModifiedProperties {
			if len(p.DisplayName) > 5 && strings.EqualFold(p.DisplayName[:5], "role.") {
				return t
			}
		}
		if first == nil {
			first = t
		}
	}
	return first
}

// roleOfAudit reads the role of a role change.
func roleOfAudit(au *entra.Audit, roles *RoleSet) (entra.RoleHeld, bool) {
	var r entra.RoleHeld
	r.TemplateID = firstOf(propValue(au, "Role.TemplateId"), detail(au, "TemplateId"), propValue(au, "TemplateId"),
		detail(au, "RoleDefinitionOriginId"), propValue(au, "RoleDefinitionOriginId"))
	r.Name = propValue(au, "Role.DisplayName")
	if r.Name == "" {
		for i := range au.Targets {
			if strings.EqualFold(au.Targets[i].Type, "role") && au.Targets[i].DisplayName != "" {
				r.Name = au.Targets[i].DisplayName
				break
			}
		}
	}
	if r.TemplateID == "" && r.Name == "" {
		r.TemplateID = wellKnownRoles[strings.ToLower(propValue(au, "Role.WellKnownObjectName"))]
	}
	if r.TemplateID == "" {
		r.TemplateID = roles.templateID(r.Name)
	}
	if r.TemplateID == "" && r.Name == "" {
		return r, false
	}
	r.Name, r.TemplateID = strings.Clone(r.Name), strings.Clone(r.TemplateID)
	return roles.held(r), true
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// propValue is the value of the first modified property named name
// (case-insensitive) among the targets: its new value, else its old one
// (a removal logs the role in oldValue). A one-element JSON array is
// unwrapped.
func propValue(au *entra.Audit, name string) string {
	for i := range au.Targets {
		for _, p := range au.Targets[i].ModifiedProperties {
			if !strings.EqualFold(p.DisplayName, name) {
				continue
			}
			v := p.NewValue
			if v == "" || v == "[]" {
				v = p.OldValue
			}
			return unwrap(v)
		}
	}
	return ""
}

func unwrap(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 4 && v[0] == '[' && v[len(v)-1] == ']' {
		in := strings.TrimSpace(v[1 : len(v)-1])
		if len(in) >= 2 && in[0] == '"' && in[len(in)-1] == '"' && !strings.ContainsAny(in[1:len(in)-1], `",`) {
			return in[1 : len(in)-1]
		}
	}
	return v
}

func detail(au *entra.Audit, key string) string {
	for _, kv := range au.AdditionalDetails {
		if strings.EqualFold(kv.Key, key) {
			return strings.TrimSpace(kv.Value)
		}
	}
	return ""
}

// endTime is the end an activation or time-bound assignment logs.
func endTime(au *entra.Audit) (time.Time, bool) {
	for _, k := range endKeys {
		for _, v := range []string{detail(au, k), propValue(au, k)} {
			if v == "" {
				continue
			}
			if t, ok := parseTimeText(v); ok {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999", // no zone: UTC
	"2006-01-02 15:04:05.999999999",
	"1/2/2006 3:04:05 PM", // US locale, as some exports write it
}

func parseTimeText(v string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// appendLower appends the ASCII lower case of s.
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// round is one generation's learning (an Observe, or the journal applied
// at start), under Stage.mu: the principals it touched and whether the
// index keys changed.
type round struct {
	s           *Stage
	g           uint64
	ix          *index
	touched     []*principal
	keysChanged bool
}

// begin locks the stage for the next generation's learning; end publishes
// it and unlocks.
func (s *Stage) begin() *round {
	s.mu.Lock()
	return &round{s: s, g: s.gen.Load() + 1, ix: s.idx.Load()}
}

// learn applies the changes one audit record made to the principal id or
// upn (created when it has no history yet), unless that record's changes
// are in its history already; it reports whether it applied them.
func (r *round) learn(id, upn string, changes []change) bool {
	s := r.s
	p, linked := s.principalFor(id, upn, r.ix.m, true)
	r.keysChanged = r.keysChanged || linked
	if len(changes) > 0 && p.applied(changes[0].src) {
		return false
	}
	for _, c := range changes {
		s.seq++
		c.seq = s.seq
		p.insert(c)
	}
	if !p.touched {
		p.touched = true
		r.touched = append(r.touched, p)
	}
	return true
}

// end compacts and publishes the touched histories as the round's
// generation (after a sweep of them all, when sweep is set and one is
// due), stores the index if its keys changed, and unlocks the stage.
func (r *round) end(sweep bool) uint64 {
	s := r.s
	defer s.mu.Unlock()
	cutoff := s.cutoff()
	for _, p := range r.touched {
		p.touched = false
		p.compact(s.cfg.HistoryLimit, cutoff)
		p.publish(r.g)
	}
	if sweep && r.g-s.lastSweep >= sweepEvery && s.sweep(r.g, r.ix.m) {
		r.keysChanged = true
	}
	if r.keysChanged {
		s.idx.Store(s.newIndex(r.ix.m))
	}
	s.gen.Store(r.g)
	return r.g
}

// Observe applies the role changes of a batch's audit records, in slice
// order, and returns the batch's generation: greater than every earlier
// one. The runner calls it once per batch, in the order the batches were
// read, before enriching them with EnrichAt(rec, gen); lookups of an
// earlier generation never see these changes. It must not be called
// concurrently with itself (it serialises, but the order is the caller's).
func (s *Stage) Observe(recs []*entra.Record) uint64 {
	r := s.begin()
	for _, rec := range recs {
		if rec == nil {
			continue
		}
		if rec.Time.After(s.newest) {
			s.newest = rec.Time
		}
		if !*s.cfg.AuditUpdates || rec.Stream != entra.StreamAudit {
			continue
		}
		rc, v := parseAudit(rec, s.roles, r.ix.m, s.cfg.ActivationLength)
		switch v {
		case notRoleChange:
			continue
		case ignored:
			s.ChangesIgnored.Add(1)
			s.log.Debug("role change ignored", "activity", rec.Audit.ActivityDisplayName, "id", rec.ID, "why", rc.why)
			continue
		case malformed:
			s.ChangesMalformed.Add(1)
			s.log.Debug("role change not understood", "activity", rec.Audit.ActivityDisplayName, "id", rec.ID, "why", rc.why)
			continue
		}
		src := strings.Clone(rec.ID)
		for i := range rc.changes {
			rc.changes[i].src = src
		}
		if !r.learn(rc.id, rc.upn, rc.changes) {
			s.ChangesIgnored.Add(1)
			s.log.Debug("role change ignored", "activity", rec.Audit.ActivityDisplayName, "id", rec.ID, "why", "applied before: the record was read again")
			continue
		}
		s.ChangesApplied.Add(1)
		if s.jr != nil {
			s.jr.add(rc.id, rc.upn, rc.changes, s.newest)
		}
	}
	return r.end(true)
}
