package monitor

import (
	"encoding/json"
	"strings"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/monitor/sigma"
)

// RoleChecker says whether a role name or template ID is privileged; the
// privilege stage's role set is one.
type RoleChecker interface {
	Privileged(nameOrID string) bool
}

// Env is what a monitor expression sees: the record's fields at the top
// level (stream, actor, signin, audit, …), the monitor's params, and the
// helper methods below.
type Env struct {
	*entra.Record
	Params map[string]any `expr:"params"`

	// The record's large parts by pointer: expr reads a struct field
	// through reflection, and a field held by value (Record.SignIn is
	// ~600 bytes) would be copied to the heap on every access. These
	// shadow the embedded Record's fields of the same names.
	Actor     *entra.Principal `expr:"actor"`
	SignIn    *entra.SignIn    `expr:"signin"`
	Audit     *entra.Audit     `expr:"audit"`
	Directory *entra.Directory `expr:"directory"`
	Context   *entra.Context   `expr:"ctx"`

	roles RoleChecker
	// doc is the evaluator's Sigma document of the record (nil outside
	// an evaluator): SigmaKey and SigmaField read the raw record through
	// it, parsed once for all the fields a record is asked for.
	doc *sigma.Doc
}

func newEnv(rec *entra.Record) *Env {
	e := &Env{}
	e.set(rec)
	return e
}

// set points the environment at rec (nil: at nothing).
func (e *Env) set(rec *entra.Record) {
	e.Record = rec
	if rec == nil {
		e.Actor, e.SignIn, e.Audit, e.Directory, e.Context = nil, nil, nil, nil, nil
		return
	}
	e.Actor, e.SignIn, e.Audit, e.Directory, e.Context = &rec.Actor, &rec.SignIn, &rec.Audit, &rec.Directory, &rec.Context
}

// Modified returns the new value of the first modified property of the
// audit targets named name (case-insensitive), or "". Entra often logs a
// single value as a one-element JSON array (["Member"]); that is unwrapped
// so that expressions compare plain values.
func (e *Env) Modified(name string) string {
	v, _ := e.Record.Modified(name)
	return unwrapSingle(v)
}

func unwrapSingle(v string) string {
	if len(v) < 4 || v[0] != '[' || v[len(v)-1] != ']' {
		return v
	}
	var one []string
	if err := json.Unmarshal([]byte(v), &one); err != nil || len(one) != 1 {
		return v
	}
	return one[0]
}

// ModifiedOld returns the old value of the first modified property named name.
func (e *Env) ModifiedOld(name string) string {
	for i := range e.Audit.Targets {
		for _, p := range e.Audit.Targets[i].ModifiedProperties {
			if strings.EqualFold(p.DisplayName, name) {
				return unwrapSingle(p.OldValue)
			}
		}
	}
	return ""
}

// AnyModified reports whether a modified property's new value contains
// substr (case-insensitive).
func (e *Env) AnyModified(substr string) bool {
	for i := range e.Audit.Targets {
		for _, p := range e.Audit.Targets[i].ModifiedProperties {
			if containsFold(p.NewValue, substr) {
				return true
			}
		}
	}
	return false
}

// PrivilegedRole reports whether a role name or template ID is privileged.
func (e *Env) PrivilegedRole(nameOrID string) bool {
	return e.roles != nil && e.roles.Privileged(nameOrID)
}

// RoleChanged returns the role named by an audit record: the modified
// property Role.DisplayName, else Role.TemplateId, else the display name of
// a target of type Role.
func (e *Env) RoleChanged() string {
	if v := e.Modified("Role.DisplayName"); v != "" {
		return v
	}
	if v := e.Modified("Role.TemplateId"); v != "" {
		return v
	}
	for i := range e.Audit.Targets {
		if strings.EqualFold(e.Audit.Targets[i].Type, "role") && e.Audit.Targets[i].DisplayName != "" {
			return e.Audit.Targets[i].DisplayName
		}
	}
	return ""
}

// PrivilegedRoleChanged reports whether the role an audit record names is
// privileged, by display name or template ID.
func (e *Env) PrivilegedRoleChanged() bool {
	return e.PrivilegedRole(e.Modified("Role.DisplayName")) || e.PrivilegedRole(e.Modified("Role.TemplateId")) ||
		e.PrivilegedRole(e.RoleChanged())
}

// TargetUPNs joins the UPNs (or IDs) of the target users, for reasons.
func (e *Env) TargetUPNs() string {
	var b strings.Builder
	for i := range e.Audit.Targets {
		t := &e.Audit.Targets[i]
		if !strings.EqualFold(t.Type, "user") {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if t.UPN != "" {
			b.WriteString(t.UPN)
		} else {
			b.WriteString(t.ID)
		}
	}
	return b.String()
}

// TargetUser returns the object ID of the first audit target of type
// User (else its UPN), or "": what correlations of user-management events
// group by (the user created, then made admin).
func (e *Env) TargetUser() string {
	for _, t := range e.Record.TargetUsers() {
		if t.ID != "" {
			return t.ID
		}
		if t.UPN != "" {
			return t.UPN
		}
	}
	return ""
}

func containsFold(s, substr string) bool {
	if len(substr) > len(s) {
		return false
	}
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return true
		}
	}
	return false
}

// TargetNames joins the display names of the targets that are not users
// (applications, policies, roles, groups), for reasons.
func (e *Env) TargetNames() string {
	var b strings.Builder
	for i := range e.Audit.Targets {
		t := &e.Audit.Targets[i]
		if strings.EqualFold(t.Type, "user") || t.DisplayName == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.DisplayName)
	}
	return b.String()
}

// PolicyLoosened compares the old and new value of each modified property
// of a policy update and says how the new one is weaker: an account, group
// or role newly excluded, or the policy switched off ("" when neither).
// Comparing both sides matters: every Conditional Access policy carries an
// excludeUsers list, usually empty, so its mere presence says nothing.
func (e *Env) PolicyLoosened() string {
	for i := range e.Audit.Targets {
		for _, p := range e.Audit.Targets[i].ModifiedProperties {
			if why := loosened(p.OldValue, p.NewValue); why != "" {
				return why
			}
		}
	}
	return ""
}

var exclusionKeys = []string{"excludeUsers", "excludeGroups", "excludeRoles", "excludeGuestsOrExternalUsers"}

func loosened(oldValue, newValue string) string {
	if !strings.Contains(newValue, "exclude") && !strings.Contains(newValue, "state") {
		return ""
	}
	var before, after any
	if json.Unmarshal([]byte(newValue), &after) != nil {
		return ""
	}
	_ = json.Unmarshal([]byte(oldValue), &before) // absent or not JSON: nothing was excluded before
	for _, k := range exclusionKeys {
		had := map[string]bool{}
		for _, v := range collect(before, k) {
			had[v] = true
		}
		for _, v := range collect(after, k) {
			if !had[v] {
				return k + " added " + v
			}
		}
	}
	if strings.EqualFold(topState(after), "disabled") && !strings.EqualFold(topState(before), "disabled") {
		return "state disabled"
	}
	return ""
}

// collect returns the string values found under key anywhere in v (a
// string, or the strings of an array).
func collect(v any, key string) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if strings.EqualFold(k, key) {
					switch y := val.(type) {
					case string:
						out = append(out, y)
					case []any:
						for _, s := range y {
							if str, ok := s.(string); ok {
								out = append(out, str)
							}
						}
					}
					continue
				}
				walk(val)
			}
		case []any:
			for _, val := range x {
				walk(val)
			}
		}
	}
	walk(v)
	return out
}

// topState is the policy's own top-level "state" (a nested condition may
// have one too; only the policy's says whether it is on).
func topState(v any) string {
	m, _ := v.(map[string]any)
	for k, val := range m {
		if strings.EqualFold(k, "state") {
			s, _ := val.(string)
			return s
		}
	}
	return ""
}
