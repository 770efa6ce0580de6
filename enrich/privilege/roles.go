package privilege

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/privtrail/privtrail/entra"
)

// RoleSet is the set of roles that make their holder privileged, matched
// by template ID or by display name, case-insensitively.
type RoleSet struct {
	keys  map[string]bool
	names map[string]string // template id -> name
	ids   map[string]string // lower-cased name -> template id
}

// ShippedRoles returns the built-in privileged role list.
func ShippedRoles() []Role {
	var roles []Role
	if err := yaml.Unmarshal(shippedRoles, &roles); err != nil {
		panic("privileged_roles.yaml: " + err.Error()) // embedded at build time: a broken file is a build bug
	}
	return roles
}

// NewRoleSet builds the set: replace, when not empty, replaces the shipped
// list; extra adds to it.
func NewRoleSet(replace, extra []string) (*RoleSet, error) {
	s := &RoleSet{keys: map[string]bool{}, names: map[string]string{}, ids: map[string]string{}}
	shipped := ShippedRoles()
	for _, r := range shipped {
		s.names[strings.ToLower(r.TemplateID)] = r.Name
		s.ids[strings.ToLower(r.Name)] = r.TemplateID
	}
	if len(replace) == 0 {
		for _, r := range shipped {
			s.keys[strings.ToLower(r.TemplateID)] = true
			s.keys[strings.ToLower(r.Name)] = true
		}
	}
	for _, k := range append(append([]string(nil), replace...), extra...) {
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("privileged_roles: empty role name")
		}
		s.keys[strings.ToLower(k)] = true
		// A replaced list given by name should still match records that
		// only carry the template ID, and the reverse.
		for id, name := range s.names {
			if strings.EqualFold(name, k) {
				s.keys[id] = true
			} else if id == strings.ToLower(k) {
				s.keys[strings.ToLower(name)] = true
			}
		}
	}
	return s, nil
}

// Privileged reports whether a role name or template ID is privileged.
func (s *RoleSet) Privileged(nameOrID string) bool {
	if nameOrID == "" {
		return false
	}
	if s.keys[nameOrID] {
		return true
	}
	return s.keys[strings.ToLower(nameOrID)]
}

// Name returns the display name of a shipped role template ID.
func (s *RoleSet) Name(templateID string) string {
	return s.names[strings.ToLower(templateID)]
}

// templateID returns the template ID of a shipped role's display name.
func (s *RoleSet) templateID(name string) string {
	return s.ids[strings.ToLower(name)]
}

// held completes a role read from a role map or an audit record: the name
// of a shipped template ID, and whether it is privileged.
func (s *RoleSet) held(r entra.RoleHeld) entra.RoleHeld {
	if r.Name == "" {
		r.Name = s.Name(r.TemplateID)
	}
	r.Privileged = s.Privileged(r.TemplateID) || s.Privileged(r.Name)
	return r
}
