package rolesync

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
)

// Built-in roles (definition id = template id).
const (
	globalAdmin   = "62e90394-69f5-4237-9190-012177145e10"
	privRoleAdmin = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	securityAdmin = "194ae4cb-b126-40b2-bd5b-6091b380977d"
	helpdeskAdmin = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
	reportsReader = "4a5d8f65-41da-4de4-8968-e035b65339cf" // not privileged
)

// Principals of the tenant.
const (
	alice = "a1111111-0000-4000-8000-000000000001" // Global Administrator, active, direct
	bob   = "b2222222-0000-4000-8000-000000000002" // Privileged Role Administrator, eligible
	carol = "c3333333-0000-4000-8000-000000000003" // Security Administrator: assignment + PIM instance
	dave  = "d4444444-0000-4000-8000-000000000004" // member of the admin group
	erin  = "e5555555-0000-4000-8000-000000000005" // Reports Reader only
	frank = "f6666666-0000-4000-8000-000000000006" // Helpdesk Administrator of an administrative unit
	gina  = "a7777777-0000-4000-8000-000000000007" // a role scoped to one application only
	group = "99999999-0000-4000-8000-0000000000aa" // role-assignable group: Global Administrator
	sp    = "5e5e5e5e-0000-4000-8000-0000000000bb" // service principal: Security Administrator
)

func upn(name string) string { return name + "@contoso.example" }

// tenant fills a fake Graph with the principals above.
func tenant(t *testing.T) *graphtest.Server {
	t.Helper()
	srv := graphtest.New(t)
	srv.Add(graphtest.RoleDefinitions,
		graphtest.RoleDefinition(globalAdmin, "Global Administrator"),
		graphtest.RoleDefinition(privRoleAdmin, "Privileged Role Administrator"),
		graphtest.RoleDefinition(securityAdmin, "Security Administrator"),
		graphtest.RoleDefinition(helpdeskAdmin, "Helpdesk Administrator"),
		graphtest.RoleDefinition(reportsReader, "Reports Reader"))
	au := graphtest.RoleAssignment("ra-frank", frank, helpdeskAdmin)
	au["directoryScopeId"] = "/administrativeUnits/0b1c2d3e-0000-4000-8000-000000000001"
	app := graphtest.RoleAssignment("ra-gina", gina, reportsReader)
	app["directoryScopeId"] = "/4b1c2d3e-0000-4000-8000-00000000app1"
	srv.Add(graphtest.RoleAssignments,
		graphtest.RoleAssignment("ra-alice", alice, globalAdmin),
		graphtest.RoleAssignment("ra-carol", carol, securityAdmin),
		graphtest.RoleAssignment("ra-erin", erin, reportsReader),
		graphtest.RoleAssignment("ra-group", group, globalAdmin),
		graphtest.RoleAssignment("ra-sp", sp, securityAdmin),
		au, app)
	srv.Add(graphtest.RoleEligibilitySchedules,
		graphtest.RoleEligibilitySchedule("es-bob", bob, privRoleAdmin))
	srv.Add(graphtest.RoleAssignmentScheduleInstances,
		graphtest.RoleAssignmentScheduleInstance("ai-carol", carol, securityAdmin), // the same as ra-carol
		graphtest.RoleAssignmentScheduleInstance("ai-alice", alice, globalAdmin))
	srv.Add(graphtest.GroupMembers(group),
		graphtest.UserMember(dave, upn("dave")),
		graphtest.GroupMember("88888888-0000-4000-8000-0000000000cc", "nested"))
	var users []any
	for id, name := range map[string]string{alice: "alice", bob: "bob", carol: "carol", dave: "dave", erin: "erin", frank: "frank", gina: "gina"} {
		users = append(users, graphtest.User(id, upn(name), time.Time{}))
	}
	srv.Add(graphtest.Users, users...)
	// Several pages of each collection.
	srv.SetPageSize(graphtest.Users, 2)
	srv.SetPageSize(graphtest.RoleAssignments, 3)
	return srv
}

func client(t *testing.T, srv *graphtest.Server) *graphapi.Client {
	t.Helper()
	cfg := srv.Config()
	cfg.MaxAttempts = 1
	c, err := graphapi.New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newStage(t *testing.T) *privilege.Stage {
	t.Helper()
	st, err := privilege.New(privilege.Config{ReloadInterval: -1}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestFetch(t *testing.T) {
	srv := tenant(t)
	doc, err := Fetch(context.Background(), client(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	var d Document
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	got := map[string]User{}
	for _, u := range d.Users {
		got[u.ID] = u
	}
	viaGroup := "group:" + group
	for _, tc := range []struct {
		name  string
		id    string
		upn   string
		roles []Role // nil: not in the document
	}{
		{"direct active", alice, upn("alice"), []Role{{"Global Administrator", globalAdmin, "active", "direct"}}},
		{"eligible", bob, upn("bob"), []Role{{"Privileged Role Administrator", privRoleAdmin, "eligible", "direct"}}},
		{"PIM instance de-duplicated", carol, upn("carol"), []Role{{"Security Administrator", securityAdmin, "active", "direct"}}},
		{"group member", dave, upn("dave"), []Role{{"Global Administrator", globalAdmin, "active", viaGroup}}},
		{"non-privileged role", erin, upn("erin"), []Role{{"Reports Reader", reportsReader, "active", "direct"}}},
		{"administrative unit scope", frank, upn("frank"), []Role{{"Helpdesk Administrator", helpdeskAdmin, "active", "direct"}}},
		{"application scope left out", gina, "", nil},
		{"service principal by id", sp, "", []Role{{"Security Administrator", securityAdmin, "active", "direct"}}},
		{"the group itself is not a principal", group, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, ok := got[tc.id]
			if tc.roles == nil {
				if ok {
					t.Fatalf("%s in the document: %+v", tc.id, u)
				}
				return
			}
			if !ok {
				t.Fatalf("%s not in the document:\n%s", tc.id, doc)
			}
			if u.UPN != tc.upn || !reflect.DeepEqual(u.Roles, tc.roles) {
				t.Errorf("got %+v, want upn %q roles %+v", u, tc.upn, tc.roles)
			}
		})
	}
	if len(d.Users) != 7 {
		t.Errorf("%d principals, want 7:\n%s", len(d.Users), doc)
	}
	// One probe per principal that is not a user: the group and the
	// service principal (a 404).
	for _, id := range []string{group, sp} {
		if n := srv.Requests("/v1.0/groups/" + id + "/transitiveMembers"); n != 1 {
			t.Errorf("transitiveMembers of %s read %d times", id, n)
		}
	}
	if n := srv.Requests("/v1.0/groups/" + alice + "/transitiveMembers"); n != 0 {
		t.Errorf("a user was probed as a group %d times", n)
	}
	again, err := Fetch(context.Background(), client(t, srv))
	if err != nil || !bytes.Equal(again, doc) {
		t.Errorf("a second read differs (%v):\n%s\n%s", err, doc, again)
	}
}

func TestFetchForbidden(t *testing.T) {
	for _, tc := range []struct{ path, permission string }{
		{"/v1.0/" + graphtest.RoleEligibilitySchedules, "RoleEligibilitySchedule.Read.Directory"},
		{"/v1.0/" + graphtest.RoleAssignmentScheduleInstances, "RoleAssignmentSchedule.Read.Directory"},
		{"/v1.0/" + graphtest.RoleAssignments, "RoleManagement.Read.Directory"},
		{"/v1.0/" + graphtest.Users, "User.Read.All"},
		{"/v1.0/groups/" + group + "/transitiveMembers", "GroupMember.Read.All"},
	} {
		t.Run(tc.permission, func(t *testing.T) {
			srv := tenant(t)
			srv.Deny(tc.path, "")
			_, err := Fetch(context.Background(), client(t, srv))
			if err == nil || !graphapi.IsForbidden(err) || !strings.Contains(err.Error(), tc.permission) {
				t.Fatalf("err = %v, want a 403 naming %s", err, tc.permission)
			}
		})
	}
}

func TestSourceRefresh(t *testing.T) {
	srv := tenant(t)
	st := newStage(t)
	file := filepath.Join(t.TempDir(), "rolemap-graph.json")
	src := New(Config{File: file, EmergencyAccess: []string{"breakglass@contoso.example"}}, client(t, srv), st, quiet())
	before := time.Now()
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if src.Refreshes.Load() != 1 || src.Failures.Load() != 0 || src.LastSuccess().Before(before.Add(-time.Second)) {
		t.Fatalf("refreshes %d failures %d last %v", src.Refreshes.Load(), src.Failures.Load(), src.LastSuccess())
	}
	if got, want := st.Map().LoadedAt(), src.LastSuccess(); !got.Equal(want) {
		t.Errorf("snapshot time %v, want the read time %v", got, want)
	}

	signIn := func(id, u string) *entra.Record {
		rec := &entra.Record{Time: time.Now().UTC(), Actor: entra.Principal{ID: id, UPN: u}}
		st.Enrich(rec)
		return rec
	}
	for _, tc := range []struct {
		name              string
		id, upn           string
		known, privileged bool
	}{
		{"direct by upn", "", upn("alice"), true, true},
		{"eligible by id", bob, "", true, true},
		{"group member", "", upn("dave"), true, true},
		{"non-privileged role", erin, upn("erin"), true, false},
		{"service principal", sp, "", true, true},
		{"emergency access", "", "breakglass@contoso.example", true, true},
		{"nobody", "", "nobody@contoso.example", false, false},
	} {
		rec := signIn(tc.id, tc.upn)
		if rec.Actor.Known != tc.known || rec.Actor.Privileged != tc.privileged {
			t.Errorf("%s: known %v privileged %v, want %v %v", tc.name, rec.Actor.Known, rec.Actor.Privileged, tc.known, tc.privileged)
		}
	}

	// The saved document round-trips: it parses to the same map, and a
	// stage started from it alone tags as before.
	saved, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	m, err := privilege.ParseMap(file, saved, st.Roles(), []string{"breakglass@contoso.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.PrivilegedKeys(), st.Map().PrivilegedKeys()) || m.Len() != st.Map().Len() {
		t.Errorf("saved map differs: %v vs %v", m.PrivilegedKeys(), st.Map().PrivilegedKeys())
	}
	restarted, err := privilege.New(privilege.Config{RoleMap: file, ReloadInterval: -1}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close()
	if e := restarted.Lookup("", upn("dave")); e == nil || !e.Privileged || e.Roles[0].Via != "group:"+group {
		t.Errorf("restart from the saved file: dave = %+v", e)
	}

	// A failed refresh keeps the map in use and the saved file, and counts.
	srv.Deny("/v1.0/"+graphtest.RoleEligibilitySchedules, "")
	inUse := st.Map()
	err = src.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "RoleEligibilitySchedule.Read.Directory") {
		t.Fatalf("err = %v", err)
	}
	if src.Failures.Load() != 1 || src.Refreshes.Load() != 1 || st.Map() != inUse {
		t.Errorf("after a failure: failures %d refreshes %d, map replaced %v", src.Failures.Load(), src.Refreshes.Load(), st.Map() != inUse)
	}
	if rec := signIn("", upn("alice")); !rec.Actor.Privileged {
		t.Error("alice no longer privileged after a failed refresh")
	}
	if now, _ := os.ReadFile(file); !bytes.Equal(now, saved) {
		t.Error("the saved file changed after a failed refresh")
	}

	// Once granted, the next refresh brings in what changed since: a new
	// Global Administrator.
	srv.Allow("/v1.0/" + graphtest.RoleEligibilitySchedules)
	srv.Add(graphtest.RoleAssignments, graphtest.RoleAssignment("ra-gina-ga", gina, globalAdmin))
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec := signIn(gina, ""); src.Refreshes.Load() != 2 || !rec.Actor.Privileged {
		t.Errorf("refreshes %d, gina privileged %v", src.Refreshes.Load(), rec.Actor.Privileged)
	}
}

func TestRun(t *testing.T) {
	srv := tenant(t)
	srv.Deny("/v1.0/"+graphtest.RoleDefinitions, "") // the first refresh fails
	st := newStage(t)
	src := New(Config{Interval: 20 * time.Millisecond}, client(t, srv), st, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); src.Run(ctx) }()
	waitFor(t, func() bool { return src.Failures.Load() >= 1 })
	if st.Lookup("", upn("alice")) != nil {
		t.Fatal("a map was swapped in after a failure")
	}
	srv.Allow("/v1.0/" + graphtest.RoleDefinitions)
	waitFor(t, func() bool { return src.Refreshes.Load() >= 2 })
	if e := st.Lookup("", upn("alice")); e == nil || !e.Privileged {
		t.Errorf("alice = %+v", e)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestDefaults(t *testing.T) {
	src := New(Config{}, nil, nil, nil)
	if src.cfg.Interval != DefaultInterval || !src.LastSuccess().IsZero() {
		t.Errorf("interval %v last %v", src.cfg.Interval, src.LastSuccess())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSampleParses(t *testing.T) {
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	roles, err := privilege.NewRoleSet(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := privilege.ParseMap("sample.yaml", data, roles, nil)
	if err != nil {
		t.Fatal(err)
	}
	priv := m.PrivilegedKeys()
	if m.Len() != 4 || !priv["dave@contoso.com"] || priv["erin@contoso.com"] {
		t.Errorf("principals %d, privileged %v", m.Len(), priv)
	}
}
