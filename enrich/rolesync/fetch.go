// Package rolesync reads the role map of enrich/privilege live from
// Microsoft Graph: role definitions, active and PIM-eligible role
// assignments, PIM activations, and the members of role-assignable
// groups, as a role map document that privilege.ParseMap reads. A Source
// refreshes it in the background and swaps it into a privilege.Stage.
// See README.md.
package rolesync

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/privtrail/privtrail/internal/graphapi"
)

// The requests Fetch makes, under the client's endpoint.
const (
	pathRoleDefinitions   = "/v1.0/roleManagement/directory/roleDefinitions"
	pathRoleAssignments   = "/v1.0/roleManagement/directory/roleAssignments"
	pathRoleEligibilities = "/v1.0/roleManagement/directory/roleEligibilitySchedules"
	pathRoleInstances     = "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances"
	pathUsers             = "/v1.0/users"
)

func pathGroupMembers(id string) string {
	return "/v1.0/groups/" + url.PathEscape(id) + "/transitiveMembers"
}

// permission is the application permission a request needs, named in the
// error of a 403.
func permission(path string) string {
	switch {
	case path == pathRoleDefinitions, path == pathRoleAssignments:
		return "RoleManagement.Read.Directory"
	case path == pathRoleEligibilities:
		return "RoleEligibilitySchedule.Read.Directory"
	case path == pathRoleInstances:
		return "RoleAssignmentSchedule.Read.Directory"
	case path == pathUsers:
		return "User.Read.All"
	default:
		return "GroupMember.Read.All"
	}
}

// Document is the role map document Fetch writes: the users part of the
// privilege role map format (no emergency_access: Graph does not say
// which accounts are for emergencies; the stage's configured list adds
// them).
type Document struct {
	Users []User `json:"users"`
}

// User is one principal of the document: a user (id, upn, display name)
// or a service principal (id only).
type User struct {
	ID          string `json:"id"`
	UPN         string `json:"upn,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Roles       []Role `json:"roles"`
}

// Role is one role held, as the role map format writes it.
type Role struct {
	Name       string `json:"name,omitempty"`
	TemplateID string `json:"template_id,omitempty"`
	Assignment string `json:"assignment"` // active | eligible
	Via        string `json:"via"`        // direct | group:<id>
}

// roleDef is what a role definition gives the map.
type roleDef struct{ name, templateID string }

// grant is one role given to one principal (a user, a group or a service
// principal), as the role management API lists it.
type grant struct {
	principal, roleDef, assignment string
}

// userInfo is a user of /users or a member of a group.
type userInfo struct{ upn, displayName string }

// Fetch reads the role assignments of the tenant from Graph and returns
// them as a role map document (JSON, the format of enrich/privilege):
//
//   - roleDefinitions give each role its name and template ID;
//   - roleAssignments and roleAssignmentScheduleInstances (PIM
//     activations included) are the active assignments, de-duplicated;
//     roleEligibilitySchedules the eligible ones;
//   - assignments at the tenant scope ("/") and at an administrative unit
//     ("/administrativeUnits/…") count as held (the format has no scope);
//     assignments scoped to one object, e.g. an application, are left out;
//   - a principal that is a user (in /users) gets the role "direct"; one
//     that is a group (GET /groups/{id}/transitiveMembers answers) gives
//     it to each of its user and service principal members, "via:
//     group:<id>"; any other (a 404 for the group, so a service
//     principal) keeps it by its object ID.
//
// A 403 is an error naming the missing application permission. The
// document is sorted (users by id, roles by name, assignment, via), so
// equal directories give equal bytes.
func Fetch(ctx context.Context, c *graphapi.Client) ([]byte, error) {
	d, err := fetchDocument(ctx, c)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(d, "", "  ")
}

func fetchDocument(ctx context.Context, c *graphapi.Client) (*Document, error) {
	defs, err := fetchRoleDefinitions(ctx, c)
	if err != nil {
		return nil, err
	}
	grants, err := fetchGrants(ctx, c)
	if err != nil {
		return nil, err
	}
	users, err := fetchUsers(ctx, c)
	if err != nil {
		return nil, err
	}
	members, err := fetchGroups(ctx, c, grants, users)
	if err != nil {
		return nil, err
	}
	h := holders{users: users, byID: map[string]*User{}, seen: map[string]bool{}}
	for _, g := range grants {
		r := roleOf(g, defs)
		ids, isGroup := members[g.principal]
		if !isGroup {
			h.give(g.principal, r)
			continue
		}
		r.Via = "group:" + g.principal
		for _, m := range ids {
			h.give(m, r)
		}
	}
	return h.document(), nil
}

// fetchRoleDefinitions reads the name and template ID of each role
// definition, by lower-case id.
func fetchRoleDefinitions(ctx context.Context, c *graphapi.Client) (map[string]roleDef, error) {
	defs := map[string]roleDef{}
	err := each(ctx, c, pathRoleDefinitions, nil, func(raw []byte) error {
		var v struct{ ID, DisplayName, TemplateID string }
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if v.ID != "" {
			defs[strings.ToLower(v.ID)] = roleDef{name: v.DisplayName, templateID: v.TemplateID}
		}
		return nil
	})
	return defs, err
}

// fetchGrants reads the active and eligible role assignments that count
// as held, each once, in the order Graph lists them.
func fetchGrants(ctx context.Context, c *graphapi.Client) ([]grant, error) {
	var grants []grant
	seen := map[grant]bool{}
	for _, src := range []struct{ path, assignment string }{
		{pathRoleAssignments, "active"},
		{pathRoleInstances, "active"},
		{pathRoleEligibilities, "eligible"},
	} {
		err := each(ctx, c, src.path, nil, func(raw []byte) error {
			var v struct{ PrincipalID, RoleDefinitionID, DirectoryScopeID string }
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			if v.PrincipalID == "" || v.RoleDefinitionID == "" || !tenantWide(v.DirectoryScopeID) {
				return nil
			}
			g := grant{principal: strings.ToLower(v.PrincipalID), roleDef: strings.ToLower(v.RoleDefinitionID), assignment: src.assignment}
			if !seen[g] {
				seen[g] = true
				grants = append(grants, g)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return grants, nil
}

// fetchUsers reads the UPN and display name of every user, by lower-case
// id.
func fetchUsers(ctx context.Context, c *graphapi.Client) (map[string]userInfo, error) {
	users := map[string]userInfo{}
	err := each(ctx, c, pathUsers, url.Values{"$select": {"id,userPrincipalName,displayName"}, "$top": {"999"}}, func(raw []byte) error {
		var v struct{ ID, UserPrincipalName, DisplayName string }
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if v.ID != "" {
			users[strings.ToLower(v.ID)] = userInfo{upn: v.UserPrincipalName, displayName: v.DisplayName}
		}
		return nil
	})
	return users, err
}

// fetchGroups lists the members of each granted principal that is not a
// user, by group id; a principal that is not a group either (a service
// principal) is absent. The members' UPNs are added to users.
func fetchGroups(ctx context.Context, c *graphapi.Client, grants []grant, users map[string]userInfo) (map[string][]string, error) {
	members := map[string][]string{}
	for _, g := range grants {
		if _, ok := users[g.principal]; ok {
			continue
		}
		if _, done := members[g.principal]; done {
			continue
		}
		ids, isGroup, err := groupMembers(ctx, c, g.principal, users)
		if err != nil {
			return nil, err
		}
		if isGroup {
			members[g.principal] = ids
		}
	}
	return members, nil
}

// roleOf is the role a grant gives, named after its definition.
func roleOf(g grant, defs map[string]roleDef) Role {
	r := Role{Assignment: g.assignment, Via: "direct"}
	if def, ok := defs[g.roleDef]; ok {
		r.Name, r.TemplateID = def.name, def.templateID
	} else {
		// Not listed (yet): built-in role definition ids are their
		// template ids, which the privileged list knows.
		r.TemplateID = g.roleDef
	}
	return r
}

// holders gathers the document's users and the roles each holds, each
// role once.
type holders struct {
	users map[string]userInfo // where a user's UPN and display name come from
	byID  map[string]*User
	seen  map[string]bool // user id and role
}

func (h *holders) give(id string, r Role) {
	u := h.byID[id]
	if u == nil {
		u = &User{ID: id}
		if info, ok := h.users[id]; ok {
			u.UPN, u.DisplayName = info.upn, info.displayName
		}
		h.byID[id] = u
	}
	k := id + "\x00" + strings.ToLower(r.TemplateID) + "\x00" + r.Name + "\x00" + r.Assignment + "\x00" + r.Via
	if !h.seen[k] {
		h.seen[k] = true
		u.Roles = append(u.Roles, r)
	}
}

// document sorts the users by id and each one's roles, so that equal
// directories give equal bytes.
func (h *holders) document() *Document {
	d := &Document{Users: make([]User, 0, len(h.byID))}
	for _, u := range h.byID {
		slices.SortFunc(u.Roles, func(a, b Role) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.TemplateID, b.TemplateID),
				cmp.Compare(a.Assignment, b.Assignment), cmp.Compare(a.Via, b.Via))
		})
		d.Users = append(d.Users, *u)
	}
	slices.SortFunc(d.Users, func(a, b User) int { return cmp.Compare(a.ID, b.ID) })
	return d
}

// groupMembers lists the user and service principal members of a group,
// recording the users' UPNs it learns in users. isGroup is false when
// Graph answers 404: the principal is not a group.
func groupMembers(ctx context.Context, c *graphapi.Client, id string, users map[string]userInfo) (ids []string, isGroup bool, err error) {
	path := pathGroupMembers(id)
	err = each(ctx, c, path, url.Values{"$top": {"999"}}, func(raw []byte) error {
		var v struct {
			Type              string `json:"@odata.type"`
			ID                string `json:"id"`
			UserPrincipalName string `json:"userPrincipalName"`
			DisplayName       string `json:"displayName"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if v.ID == "" {
			return nil
		}
		mid := strings.ToLower(v.ID)
		switch strings.ToLower(v.Type) {
		case "#microsoft.graph.user":
			if _, ok := users[mid]; !ok && v.UserPrincipalName != "" {
				users[mid] = userInfo{upn: v.UserPrincipalName, displayName: v.DisplayName}
			}
		case "#microsoft.graph.serviceprincipal":
		case "":
			if v.UserPrincipalName == "" {
				return nil
			}
			if _, ok := users[mid]; !ok {
				users[mid] = userInfo{upn: v.UserPrincipalName, displayName: v.DisplayName}
			}
		default: // nested groups (their members are listed too), devices, contacts
			return nil
		}
		ids = append(ids, mid)
		return nil
	})
	if graphapi.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return ids, true, nil
}

// tenantWide reports whether an assignment's directory scope counts as
// holding the role: the tenant ("/", or no scope given) or an
// administrative unit.
func tenantWide(scope string) bool {
	return scope == "" || scope == "/" || strings.HasPrefix(strings.ToLower(scope), "/administrativeunits/")
}

// each pages through a collection, handing fn each element; a 403 names
// the permission the request needs.
func each(ctx context.Context, c *graphapi.Client, path string, q url.Values, fn func(raw []byte) error) error {
	err := c.Pages(ctx, path, q, func(p *graphapi.Page) error {
		for _, v := range p.Values {
			if err := fn(v); err != nil {
				return fmt.Errorf("rolesync: %s: %w", path, err)
			}
		}
		return nil
	})
	if graphapi.IsForbidden(err) {
		return fmt.Errorf("rolesync: %s: grant the application permission %s: %w", path, permission(path), err)
	}
	return err
}
