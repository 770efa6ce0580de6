package dirscan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// user is what a scan keeps of a Graph user.
type user struct {
	ID                string  `json:"id"`
	UserPrincipalName string  `json:"userPrincipalName"`
	DisplayName       *string `json:"displayName"`
	UserType          *string `json:"userType"`
	AccountEnabled    *bool   `json:"accountEnabled"`
	CreatedDateTime   *string `json:"createdDateTime"`
	SignInActivity    *struct {
		LastSignInDateTime           *string `json:"lastSignInDateTime"`
		LastSuccessfulSignInDateTime *string `json:"lastSuccessfulSignInDateTime"`
	} `json:"signInActivity"`
}

func parseUser(raw []byte) (*user, error) {
	var u user
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	if u.ID == "" {
		return nil, errors.New("users: a user without id")
	}
	return &u, nil
}

// registration is what a scan keeps of a userRegistrationDetails entry.
type registration struct {
	ID                string   `json:"id"`
	IsMfaRegistered   *bool    `json:"isMfaRegistered"`
	MethodsRegistered []string `json:"methodsRegistered"`
}

func parseRegistration(raw []byte) (*registration, error) {
	var r registration
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("userRegistrationDetails: %w", err)
	}
	if r.ID == "" {
		return nil, errors.New("userRegistrationDetails: an entry without id")
	}
	return &r, nil
}

// doc is the directory document (entra.Directory), members in its order.
type doc struct {
	ID                 string   `json:"id"`
	RecordType         string   `json:"recordType"`
	ScanDateTime       string   `json:"scanDateTime"`
	TenantID           string   `json:"tenantId"`
	UserID             string   `json:"userId"`
	UserPrincipalName  string   `json:"userPrincipalName"`
	UserDisplayName    *string  `json:"userDisplayName"`
	UserType           *string  `json:"userType"`
	AccountEnabled     bool     `json:"accountEnabled"`
	CreatedDateTime    *string  `json:"createdDateTime"`
	LastSignInDateTime *string  `json:"lastSignInDateTime"`
	LastSignInSource   *string  `json:"lastSignInSource"`
	MFARegistered      *bool    `json:"mfaRegistered"`
	MethodsRegistered  []string `json:"methodsRegistered"`
	Roles              []role   `json:"roles"`
}

type role struct {
	Name       string `json:"name"`
	TemplateID string `json:"templateId,omitempty"`
	Assignment string `json:"assignment"`
}

// scanID is the scan time in document ids: 20261204T120000Z.
const scanID = "20060102T150405Z"

// document builds the directory document of principal p, user u of the
// users listing and its registration r (nil: unknown) at scan time at.
func document(at time.Time, tenant string, p *Principal, u *user, r *registration) ([]byte, error) {
	d := doc{
		ID:                "dirscan-" + at.Format(scanID) + "-" + u.ID,
		RecordType:        entra.RecordTypePrivilegedUser,
		ScanDateTime:      at.Format(time.RFC3339Nano),
		TenantID:          tenant,
		UserID:            u.ID,
		UserPrincipalName: u.UserPrincipalName,
		UserDisplayName:   nonEmpty(u.DisplayName),
		UserType:          nonEmpty(u.UserType),
		CreatedDateTime:   graphTime(u.CreatedDateTime),
	}
	if d.UserPrincipalName == "" {
		d.UserPrincipalName = p.UPN // Graph always has one; the role map's otherwise
	}
	if d.UserPrincipalName == "" {
		return nil, fmt.Errorf("user %s has no userPrincipalName", u.ID)
	}
	if d.UserDisplayName == nil {
		d.UserDisplayName = nonEmpty(&p.DisplayName)
	}
	// accountEnabled is only returned when selected; a user without it is
	// enabled (Graph's default on creation).
	d.AccountEnabled = u.AccountEnabled == nil || *u.AccountEnabled
	if a := u.SignInActivity; a != nil {
		// The last successful sign-in; the last attempt (interactive,
		// successful or not) for tenants whose Graph does not report it.
		last := graphTime(a.LastSuccessfulSignInDateTime)
		if last == nil {
			last = graphTime(a.LastSignInDateTime)
		}
		d.LastSignInDateTime = last
		src := entra.SignInSourceGraph
		d.LastSignInSource = &src
	}
	if !p.LastSeen.IsZero() {
		var graphLast time.Time
		if d.LastSignInDateTime != nil {
			graphLast, _ = time.Parse(time.RFC3339Nano, *d.LastSignInDateTime)
		}
		if p.LastSeen.After(graphLast) {
			seen, src := p.LastSeen.UTC().Format(time.RFC3339Nano), entra.SignInSourceAgent
			d.LastSignInDateTime, d.LastSignInSource = &seen, &src
		}
	}
	if r != nil && r.IsMfaRegistered != nil {
		d.MFARegistered = r.IsMfaRegistered
		d.MethodsRegistered = []string{}
		for _, m := range r.MethodsRegistered {
			if m != "" {
				d.MethodsRegistered = append(d.MethodsRegistered, m)
			}
		}
	}
	for _, rh := range p.Roles {
		name := rh.Name
		if name == "" {
			name = rh.TemplateID
		}
		if name == "" {
			continue
		}
		// The role map says active or eligible; anything else is held.
		as := "active"
		if strings.EqualFold(rh.Assignment, "eligible") {
			as = "eligible"
		}
		d.Roles = append(d.Roles, role{Name: name, TemplateID: rh.TemplateID, Assignment: as})
	}
	return json.Marshal(&d)
}

func nonEmpty(s *string) *string {
	if s == nil || strings.TrimSpace(*s) == "" {
		return nil
	}
	return s
}

// graphTime turns a Graph date-time into the document's RFC 3339 UTC
// text; nil when absent, not a time, or Graph's 0001-01-01T00:00:00Z
// ("never").
func graphTime(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil || t.Year() <= 1 {
		return nil
	}
	out := t.UTC().Format(time.RFC3339Nano)
	return &out
}
