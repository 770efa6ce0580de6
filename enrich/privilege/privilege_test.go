package privilege

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/yamlfile"
)

func newStage(t *testing.T, cfg Config) *Stage {
	t.Helper()
	if cfg.RoleMap == "" {
		cfg.RoleMap = "testdata/rolemap.yaml"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestActorTagging(t *testing.T) {
	s := newStage(t, Config{})
	tests := []struct {
		name                  string
		id, upn               string
		known, priv, emerg    bool
		roleName, via, assign string
	}{
		{name: "eligible GA by id", id: "11111111-1111-1111-1111-111111111111", known: true, priv: true, roleName: "Global Administrator", via: "direct", assign: "eligible"},
		{name: "by UPN, any case", upn: "ADM_Alice@Contoso.Example", known: true, priv: true, roleName: "Global Administrator", via: "direct", assign: "eligible"},
		{name: "group-assigned role named from template", id: "22222222-2222-2222-2222-222222222222", known: true, priv: true, roleName: "Security Administrator", via: "group:99999999-9999-9999-9999-999999999999", assign: "active"},
		{name: "non-privileged role", upn: "carol@contoso.example", known: true, priv: false, roleName: "Reports Reader", via: "direct", assign: "active"},
		{name: "emergency account", upn: "breakglass1@contoso.example", known: true, priv: true, emerg: true},
		{name: "unknown user", upn: "dave@contoso.example"},
		{name: "unknown id, known upn", id: "00000000-0000-0000-0000-000000000000", upn: "adm_alice@contoso.example", known: true, priv: true, roleName: "Global Administrator", via: "direct", assign: "eligible"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // second pass is served from the cache
				rec := entra.Record{Stream: entra.StreamSignIn, Actor: entra.Principal{ID: tt.id, UPN: tt.upn}}
				s.Enrich(&rec)
				a := rec.Actor
				if a.Known != tt.known || a.Privileged != tt.priv || a.Emergency != tt.emerg {
					t.Fatalf("known/privileged/emergency = %v/%v/%v, want %v/%v/%v", a.Known, a.Privileged, a.Emergency, tt.known, tt.priv, tt.emerg)
				}
				if tt.roleName != "" {
					if len(a.Roles) != 1 || a.Roles[0].Name != tt.roleName || a.Roles[0].Via != tt.via || a.Roles[0].Assignment != tt.assign {
						t.Fatalf("roles = %+v", a.Roles)
					}
				}
			}
		})
	}
}

func TestTargetsTagged(t *testing.T) {
	s := newStage(t, Config{})
	rec := entra.Record{Stream: entra.StreamAudit, Actor: entra.Principal{UPN: "carol@contoso.example"}}
	rec.Audit.Targets = []entra.Target{
		{Principal: entra.Principal{ID: "44444444-4444-4444-4444-444444444444", Type: "User"}},
		{Principal: entra.Principal{ID: "11111111-1111-1111-1111-111111111111", Type: "Group"}},
		{Principal: entra.Principal{ID: "22222222-2222-2222-2222-222222222222", Type: "User"}},
	}
	s.Enrich(&rec)
	tg := rec.Audit.Targets
	if !tg[0].Emergency || !tg[0].Privileged || tg[0].UPN != "breakglass1@contoso.example" {
		t.Errorf("target 0 = %+v, want emergency with UPN filled", tg[0].Principal)
	}
	if tg[1].Known {
		t.Errorf("a group target must not be looked up as a user: %+v", tg[1].Principal)
	}
	if !tg[2].Privileged {
		t.Errorf("target 2 = %+v, want privileged", tg[2].Principal)
	}
	if rec.Actor.Privileged || !rec.Actor.Known {
		t.Errorf("actor = %+v", rec.Actor)
	}
}

func TestRoleListOverrides(t *testing.T) {
	// Reports Reader made privileged by name; GA no longer by replacing.
	s := newStage(t, Config{PrivilegedRoles: []string{"Security Administrator"}, ExtraPrivilegedRoles: []string{"reports reader"}})
	for upn, want := range map[string]bool{"adm_alice@contoso.example": false, "adm_bob@contoso.example": true, "carol@contoso.example": true, "breakglass1@contoso.example": true} {
		rec := entra.Record{Actor: entra.Principal{UPN: upn}}
		s.Enrich(&rec)
		if rec.Actor.Privileged != want {
			t.Errorf("%s privileged = %v, want %v", upn, rec.Actor.Privileged, want)
		}
	}
	if !s.Roles().Privileged("194AE4CB-B126-40B2-BD5B-6091B380977D") {
		t.Error("a role replaced by name must also match its template id")
	}
}

func TestShippedListCoversTheIssue(t *testing.T) {
	rs, err := NewRoleSet(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Global Administrator", "Privileged Role Administrator", "Privileged Authentication Administrator",
		"Security Administrator", "User Administrator", "Exchange Administrator", "SharePoint Administrator", "Application Administrator",
		"Cloud Application Administrator", "Conditional Access Administrator", "Authentication Administrator", "Helpdesk Administrator",
		"Hybrid Identity Administrator", "Intune Administrator"} {
		if !rs.Privileged(name) {
			t.Errorf("%s is not in the shipped privileged list", name)
		}
	}
	if rs.Privileged("Reports Reader") {
		t.Error("Reports Reader must not be privileged")
	}
}

func TestBadRoleMaps(t *testing.T) {
	tests := map[string]string{
		"users:\n  - upn: a@b\n    roles:\n      - name: Global Administrator\n        assignment: permanent\n": "is not active or eligible",
		"users:\n  - upn: a@b\n    roles:\n      - name: Global Administrator\n        via: nested\n":           "is not direct or group:<id>",
		"users:\n  - display_name: nobody\n":  "id or upn is required",
		"users:\n  - upn: a@b\n    role: x\n": "unknown field",
	}
	for doc, want := range tests {
		path := filepath.Join(t.TempDir(), "rm.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := New(Config{RoleMap: path})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("role map %q: err = %v, want %q", doc, err, want)
		}
	}
}

func BenchmarkEnrichUnknownUser(b *testing.B) {
	s, err := New(Config{RoleMap: "testdata/rolemap.yaml"})
	if err != nil {
		b.Fatal(err)
	}
	rec := entra.Record{Actor: entra.Principal{ID: "5a5a5a5a-0000-0000-0000-000000000000", UPN: "User.Name@Contoso.Example"}}
	b.ReportAllocs()
	for b.Loop() {
		rec.Actor.Known = false
		s.Enrich(&rec)
	}
}

// A changed role map file is picked up without a restart; a broken one
// keeps the map in use and is counted.
func TestRoleMapReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolemap.yaml")
	write := func(doc string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour)
	write("emergency_access:\n  - upn: breakglass1@contoso.example\n", base)
	s, err := New(Config{RoleMap: path, ReloadInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	emergency := func(upn string) bool {
		rec := entra.Record{Actor: entra.Principal{UPN: upn}}
		s.Enrich(&rec)
		return rec.Actor.Emergency
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	if !emergency("breakglass1@contoso.example") || emergency("breakglass2@contoso.example") {
		t.Fatal("initial map not in use")
	}
	write("emergency_access:\n  - upn: breakglass2@contoso.example\n", base.Add(time.Minute))
	waitFor("the reload", func() bool { return emergency("breakglass2@contoso.example") })
	if emergency("breakglass1@contoso.example") {
		t.Error("a removed account is still cached as emergency access")
	}
	write("users:\n  - upn: x@y\n    roles:\n      - name: Global Administrator\n        assignment: forever\n", base.Add(2*time.Minute))
	waitFor("the failed reload", func() bool { return s.ReloadFailures.Load() > 0 })
	if !emergency("breakglass2@contoso.example") {
		t.Error("a broken file replaced the map in use")
	}
	if s.Reloads.Load() != 1 {
		t.Errorf("reloads = %d, want 1", s.Reloads.Load())
	}
}

// A privileged user of the role map, without a history: the cached path.
func BenchmarkEnrichKnownUser(b *testing.B) {
	s, err := New(Config{RoleMap: "testdata/rolemap.yaml"})
	if err != nil {
		b.Fatal(err)
	}
	rec := entra.Record{Actor: entra.Principal{ID: "11111111-1111-1111-1111-111111111111", UPN: "ADM_Alice@Contoso.Example"}}
	b.ReportAllocs()
	for b.Loop() {
		rec.Actor.Known = false
		s.Enrich(&rec)
	}
	if !rec.Actor.Privileged {
		b.Fatal("not tagged")
	}
}

// sample.yaml is what the README shows: it parses strictly and is valid.
func TestSampleConfig(t *testing.T) {
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Context struct {
			Privilege Config `yaml:"privilege"`
		} `yaml:"context"`
	}
	if err := yamlfile.Decode("sample.yaml", data, &doc); err != nil {
		t.Fatal(err)
	}
	c := doc.Context.Privilege
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ActivationLength != 8*time.Hour || c.HistoryLimit != 32 || c.HistoryRetention != 720*time.Hour || c.AuditUpdates == nil || !*c.AuditUpdates || c.StateFile == "" {
		t.Errorf("sample values: %+v", c)
	}
}

// Entries lists each principal once, merged entries included, in file
// order, for tools that walk the map (the directory scan).
func TestEntriesListsEachPrincipalOnce(t *testing.T) {
	m := newStage(t, Config{EmergencyAccess: []string{"adm_alice@contoso.example"}}).Map()
	ents := m.Entries()
	if len(ents) != m.Len() {
		t.Fatalf("%d entries, Len %d", len(ents), m.Len())
	}
	seen := map[*Entry]bool{}
	for _, e := range ents {
		if seen[e] {
			t.Errorf("%s listed twice", e.UPN)
		}
		seen[e] = true
		if strings.EqualFold(e.UPN, "adm_alice@contoso.example") && !e.Emergency {
			t.Error("adm_alice's entry lacks the emergency flag merged from emergency_access")
		}
	}
	if ents[0].ID != "11111111-1111-1111-1111-111111111111" {
		t.Errorf("first entry %s, want the file's first user", ents[0].ID)
	}
}
