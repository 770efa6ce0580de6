package synth

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files of the bundled demo (testdata/demo).
const (
	DemoSignIns         = "signins.jsonl"            // diagnostic-settings sign-ins, JSON lines
	DemoGraphSignIns    = "graph-signins.json"       // a Graph signIns page
	DemoAudit           = "audit.json"               // a JSON array of Graph directoryAudits
	DemoDiagnosticAudit = "diagnostic-audit.json.gz" // {"records":[...]}: AuditLogs, Administrative, Domain Services
	DemoRoleMap         = "rolemap.yaml"
	DemoDirectory       = "directory-scan.jsonl" // the end-of-week directory scan (inputs/dirscan's records)
	DemoReadme          = "README.md"
)

// DemoFiles is the bundled demo: a working week of contoso.example in
// which every monitor of docs/monitor-triggers.md is hit by a crafted
// scenario, with near misses and ordinary background traffic around them.
type DemoFiles struct {
	Files     []File     // in the order WriteDemo writes them
	Scenarios []Scenario // the crafted records, in time order
	// Counts is the number of records per file and stream ("signin",
	// "audit", "activity", "aadds", "risk", "graphactivity", "other", and
	// "invalid" for the dead-letter examples).
	Counts map[string]map[string]int
}

// File is one generated file.
type File struct {
	Name string
	Data []byte
}

// Scenario is a group of crafted demo records and what they must do.
type Scenario struct {
	When  time.Time
	File  string
	Title string
	// A scenario fires each of Monitors on at least one of Records (and
	// may fire more, e.g. audit.privileged_change for any change an admin
	// makes). A NearMiss scenario fires none of Monitors on any of Records.
	NearMiss bool
	Monitors []string
	Records  []string // IDs of the records (sign-in id, directoryAudit id, eventDataId, correlationId)
	// Related are records of other files that a correlation pairs with
	// Records: whichever the agent reads second carries the hit.
	Related []string
}

// Stateful and directory monitors of ../shared/monitors.md (the shared
// folder beside the repository) that the demo also exercises (they are
// not in docs/monitor-triggers.md).
const (
	monBadPassword      = "signin.bad_password_threshold"
	monOffHours         = "signin.off_hours"
	monNewDevice        = "signin.new_device_or_location"
	monUnapproved       = "signin.unapproved_controls"
	monAccountCreated   = "audit.privileged_account_created"
	monNamingPolicy     = "directory.naming_policy"
	monUnusedPrivilege  = "review.unused_privileged_account"
	monNotPAW           = "signin.not_paw"
	monMFANotRegistered = "directory.mfa_not_registered"
	monElevationNotPAW  = "pim.elevation_not_paw"
)

type demoRecord struct {
	at     time.Time
	data   []byte
	stream string
}

type demo struct {
	g         *Generator
	t         *Tenant
	recs      map[string][]demoRecord
	scenarios []Scenario
}

// day returns the start of the week's day n (0 = Monday 2 March 2026).
func day(n int) time.Time { return Start.Add(time.Duration(n)*24*time.Hour - 7*time.Hour) }

// at is day n at hh:mm:ss UTC plus a sub-second part, so that records look
// like real ones.
func (d *demo) at(n, hh, mm, ss int) time.Time {
	return day(n).Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second +
		time.Duration(d.g.r.Int64N(1e7))*100)
}

func (d *demo) add(file, stream string, at time.Time, data []byte) {
	d.recs[file] = append(d.recs[file], demoRecord{at, data, stream})
}

func (d *demo) scenario(at time.Time, file, title string, nearMiss bool, monitors []string, ids ...string) {
	d.scenarios = append(d.scenarios, Scenario{When: at, File: file, Title: title, NearMiss: nearMiss, Monitors: monitors, Records: ids})
}

func hits(ids ...string) []string { return ids }

// --- sign-ins ---------------------------------------------------------

// signIn starts an interactive sign-in by upn with the user's usual
// circumstances: admins on their PAW through the Azure portal, everyone
// else on their laptop, Conditional Access applied, success.
func (d *demo) signIn(at time.Time, upn string) *signIn {
	g := d.g
	u := d.t.user(upn)
	s := &signIn{At: at, Kind: interactive, ID: g.guid(), Correlation: g.guid(), Request: g.guid(), ProcessingMs: 60 + g.r.IntN(200)}
	use := &memberApps[0]
	if u.Privileged() {
		use = &adminApps[0]
	}
	g.fillUserSignIn(s, g.userIndex(u), use, false)
	s.IP = g.ip4[g.userIndex(u)]
	s.AuthRequirement = "multiFactorAuthentication"
	switch {
	case u.Emergency:
		s.unregistered(uaEdgeWin)
		s.CAStatus, s.CA, s.Auth = "notApplied", caNone, authFIDO
	case u.Privileged():
		s.device(u.Devices[0])
		s.CAStatus, s.CA, s.Auth = "success", caAdminOK, authFIDO
	default:
		s.device(u.Devices[0])
		s.CAStatus, s.CA, s.Auth = "success", caMemberOK, authPwdPush
	}
	return s
}

func (s *signIn) device(dev Device) {
	s.Device, s.UserAgent, s.Browser, s.OS = dev, dev.UserAgent, dev.Browser, dev.OS
}

func (s *signIn) unregistered(a agent) {
	s.Device, s.UserAgent, s.Browser, s.OS = Device{}, a.ua, a.browser, a.os
}

func (s *signIn) from(l *Location, host int) {
	s.Loc, s.IP = l, ipv4(l, host)
}

func (s *signIn) fail(code int, ca string, results []string, auth []authStep) {
	s.Error, s.CAStatus, s.CA, s.Auth = code, ca, results, auth
	if code == 50126 || code == 50053 || code == 50057 {
		s.AuthRequirement = "singleFactorAuthentication"
	}
}

func (d *demo) emitSignIn(file string, s *signIn) string {
	d.add(file, "signin", s.At, d.t.appendSignIn(nil, s, file == DemoGraphSignIns))
	return string(s.ID.append(nil))
}

// --- audits -------------------------------------------------------------

// emitAudit writes the generator's scratch audit to file and returns its ID.
func (d *demo) emitAudit(file string) string {
	id := string(bytes.Trim(d.g.au.appendID(nil), `"`))
	at := d.g.au.At
	d.add(file, "audit", at, d.g.emitAudit(nil, file == DemoAudit))
	return id
}

func (d *demo) emitActivity(a *activity) string {
	d.add(DemoDiagnosticAudit, "activity", a.At, d.t.appendActivity(nil, a))
	return string(a.EventData.append(nil))
}

func (d *demo) emitAADDS(a *aadds) string {
	d.add(DemoDiagnosticAudit, "aadds", a.At, d.t.appendAADDS(nil, a, d.t.aaddsResourceID(), netbiosName(d.t.Domain)))
	return string(a.Correlation.append(nil))
}

// Demo builds the bundled demo dataset. It is deterministic.
func Demo() DemoFiles {
	g := New(20260306, DemoTenant())
	g.quiet = true
	d := &demo{g: g, t: &g.t, recs: map[string][]demoRecord{}}
	d.background()
	d.crafted()
	return d.files()
}

// WriteDemo writes the demo's files into dir.
func WriteDemo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range Demo().Files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// background is the week's ordinary traffic: staff and guests signing in,
// workloads authenticating, admins at work on their PAWs, routine audits.
func (d *demo) background() {
	g := d.g
	routine := []string{"adm_alice", "adm_bob", "adm_carol", "adm_dmitri", "adm_elena", "adm_farid", "adm_grace", "adm_hiro", "adm_ines", "adm_jamal"}
	for n := 0; n < 5; n++ {
		// Staff: interactive and non-interactive sign-ins, 06:30–18:30 UTC,
		// a few in the evening.
		for i := 0; i < 62; i++ {
			start, span := 6*60+30, 12*60
			if i%20 == 0 {
				start, span = 18*60+30, 3*60
			}
			at := d.at(n, 0, start+g.r.IntN(span), g.r.IntN(60))
			s := &signIn{At: at, ID: g.guid(), Correlation: g.guid(), Request: g.guid(), ProcessingMs: 40 + g.r.IntN(260)}
			var ui int
			if g.r.IntN(100) < 6 {
				ui = g.guests[g.r.IntN(len(g.guests))]
			} else {
				ui = g.members[g.r.IntN(len(g.members))]
			}
			if g.r.IntN(100) < 45 {
				s.Kind = nonInteractive
				g.fillUserSignIn(s, ui, &backgroundApps[g.r.IntN(len(backgroundApps)-1)], false)
				g.nonInteractiveOutcome(s, false)
			} else {
				s.Kind = interactive
				g.fillUserSignIn(s, ui, &memberApps[g.r.IntN(len(memberApps))], g.r.IntN(100) < 3)
				g.interactiveOutcome(s, false)
			}
			file := DemoSignIns
			if g.r.IntN(100) < 33 {
				file = DemoGraphSignIns
			}
			d.emitSignIn(file, s)
		}
		// Workloads.
		for i := 0; i < 5; i++ {
			s := &signIn{At: d.at(n, 0, g.r.IntN(24*60), g.r.IntN(60)), ID: g.guid(), Correlation: g.guid(), Request: g.guid(), ProcessingMs: 30 + g.r.IntN(120)}
			g.randomSPSignIn(s)
			file := DemoSignIns
			if i%3 == 0 {
				file = DemoGraphSignIns
			}
			d.emitSignIn(file, s)
		}
		// Admins at work: one sign-in a day on their PAW, within working
		// hours (08:00–16:30 UTC), Conditional Access applied.
		for _, login := range routine {
			s := d.signIn(d.at(n, 8, g.r.IntN(8*60+30), g.r.IntN(60)), login+"@"+d.t.Domain)
			switch g.r.IntN(3) {
			case 0:
				s.Res = resAAD // the Entra admin center
			case 1:
				s.App, s.Res = appGraphExpl, resGraph
			}
			file := DemoSignIns
			if g.r.IntN(3) == 0 {
				file = DemoGraphSignIns
			}
			d.emitSignIn(file, s)
		}
		// Routine directory changes.
		for i := 0; i < 17; i++ {
			g.randomAudit(nil, d.at(n, 7, g.r.IntN(10*60), g.r.IntN(60)))
			file := DemoAudit
			if g.r.IntN(2) == 0 {
				file = DemoDiagnosticAudit
			}
			d.emitAudit(file)
		}
		// Azure and Domain Services background.
		for i := 0; i < 2; i++ {
			var a activity
			for a.Operation == "" || a.Operation == "Microsoft.Authorization/elevateAccess/action" {
				g.randomActivity(&a, d.at(n, 8, g.r.IntN(9*60), g.r.IntN(60)))
			}
			d.emitActivity(&a)
		}
		for i := 0; i < 3; i++ {
			var a aadds
			g.randomAADDS(&a, d.at(n, 7, g.r.IntN(10*60), g.r.IntN(60)))
			if a.EventID == 4673 {
				logon(&a, "svc-backup", "5", "10.0.1.20")
			}
			d.emitAADDS(&a)
		}
	}
}

// crafted adds the scenarios: each hits its monitors or is a near miss.
func (d *demo) crafted() {
	g, t := d.g, d.t
	dom := "@" + t.Domain
	u := func(login string) *User { return t.user(login + dom) }
	member := func(i int) *User { return &t.Users[g.members[i]] }

	// ---- Monday 2 March --------------------------------------------------
	s := d.signIn(d.at(0, 8, 5, 12), "adm_alice"+dom)
	d.scenario(s.At, DemoSignIns, "adm_alice signs in on her PAW (compliant, Conditional Access applied)", true,
		hits("signin.ca_not_applied", monNotPAW, "signin.identity_protection_risk", "signin.legacy_auth"), d.emitSignIn(DemoSignIns, s))
	d.scenario(s.At, DemoSignIns, "the same sign-in: Germany, the Berlin office range, Edge on Windows 10, inside her working hours", true,
		hits(monUnapproved, monOffHours), string(s.ID.append(nil)))

	at := d.at(0, 9, 12, 3)
	g.pimActivation(at, u("adm_alice"), role("Global Administrator"), "INC-4411: tenant-wide Defender onboarding", "requested")
	req := d.emitAudit(DemoAudit)
	d.scenario(at, DemoAudit, "adm_alice requests activation of Global Administrator", true, hits("pim.elevation"), req)
	at = d.at(0, 9, 14, 10)
	g.pimRecord(at, "Add member to role request approved (PIM activation)", u("adm_bob"), u("adm_alice"), role("Global Administrator"), "Approved: INC-4411")
	d.scenario(at, DemoAudit, "adm_bob approves adm_alice's Global Administrator activation", false, hits("pim.approval_decision"), d.emitAudit(DemoAudit))
	at = d.at(0, 9, 14, 31)
	g.pimActivation(at, u("adm_alice"), role("Global Administrator"), "INC-4411: tenant-wide Defender onboarding", "completed")
	d.scenario(at, DemoAudit, "adm_alice's Global Administrator activation completes (from her PAW)", false, hits("pim.elevation"), d.emitAudit(DemoAudit))
	at = at.Add(900 * time.Millisecond)
	g.coreRoleAdd(at, "Add member to role", u("adm_alice"), role("Global Administrator")).byApp(t.sp("MS-PIM"))
	d.scenario(at, DemoAudit, "Core Directory records the activation, initiated by the MS-PIM application", true,
		hits("pim.role_assigned_outside_pim"), d.emitAudit(DemoAudit))

	var act activity
	at = d.at(0, 9, 21, 44)
	g.elevateAccess(&act, at, u("adm_alice"), "Start")
	id1 := d.emitActivity(&act)
	act.At, act.ResultType, act.EventData = at.Add(1200*time.Millisecond), "Success", g.guid()
	d.scenario(at, DemoDiagnosticAudit, "adm_alice elevates access to manage all Azure subscriptions (Start, Success)", false,
		hits("azure.elevate_access"), id1, d.emitActivity(&act))
	act = activity{At: d.at(0, 9, 26, 2), Operation: "Microsoft.Authorization/roleAssignments/write", ResultType: "Success",
		ResourceID: t.armID("rg-payroll-prod", "Microsoft.Authorization/roleAssignments", nameGUID("ra/defender")), Caller: u("adm_alice"),
		IP: g.ip4[g.userIndex(u("adm_alice"))], Correlation: g.guid(), EventData: g.guid(), Scope: "/subscriptions/" + t.SubscriptionID, Role: "User Access Administrator"}
	d.scenario(act.At, DemoDiagnosticAudit, "adm_alice assigns an Azure RBAC role (not elevate access)", true, hits("azure.elevate_access"), d.emitActivity(&act))

	temp := &User{ID: nameGUID("user/temp.contractor" + dom), UPN: "temp.contractor" + dom, DisplayName: "Temp Contractor", UserType: "Member"}
	at = d.at(0, 10, 2, 51)
	g.newAudit(at, "UserManagement", "Add user", "Core Directory", "Add").by(g, u("adm_elena")).
		on(userTarget(temp, prop{"AccountEnabled", "", "[true]"}, prop{"DisplayName", "", list(temp.DisplayName)},
			prop{"UserPrincipalName", "", list(temp.UPN)}, prop{"UserType", "", list("Member")},
			prop{"Included Updated Properties", "", quoted("AccountEnabled, DisplayName, UserPrincipalName, UserType")})).
		with(kv{"UserType", "Member"}, portalUA)
	created := d.emitAudit(DemoAudit)
	at2 := d.at(0, 10, 24, 17)
	g.coreRoleAdd(at2, "Add member to role", temp, role("Global Administrator")).by(g, u("adm_alice")).with(portalUA)
	d.scenario(at, DemoAudit, "adm_elena creates temp.contractor; 21 minutes later adm_alice makes it Global Administrator (outside PIM)", false,
		hits(monAccountCreated, "audit.privileged_role_change", "pim.role_assigned_outside_pim", "audit.privileged_change"), created, d.emitAudit(DemoAudit))

	test := &User{ID: nameGUID("user/test.sync17" + dom), UPN: "test.sync17" + dom, DisplayName: "test sync 17", UserType: "Member"}
	at = d.at(0, 11, 40, 9)
	g.newAudit(at, "UserManagement", "Add user", "Core Directory", "Add").by(g, u("adm_elena")).
		on(userTarget(test, prop{"AccountEnabled", "", "[true]"}, prop{"DisplayName", "", list(test.DisplayName)},
			prop{"UserPrincipalName", "", list(test.UPN)}, prop{"Included Updated Properties", "", quoted("AccountEnabled, DisplayName, UserPrincipalName")})).
		with(kv{"UserType", "Member"}, portalUA)
	created = d.emitAudit(DemoDiagnosticAudit)
	deleted := *test
	deleted.UPN = strings.ReplaceAll(test.ID, "-", "") + test.UPN // how Entra renames a deleted user
	g.newAudit(d.at(0, 12, 15, 40), "UserManagement", "Delete user", "Core Directory", "Delete").by(g, u("adm_elena")).
		on(userTarget(&deleted, prop{"Included Updated Properties", "", quoted("")})).with(portalUA)
	d.scenario(at, DemoDiagnosticAudit, "adm_elena creates test.sync17 and deletes it 35 minutes later", false,
		hits(monAccountCreated, "audit.privileged_change"), created, d.emitAudit(DemoDiagnosticAudit))

	hire := &User{ID: nameGUID("user/olga.petrova" + dom), UPN: "olga.petrova" + dom, DisplayName: "Olga Petrova", UserType: "Member"}
	at = d.at(0, 13, 31, 5)
	g.newAudit(at, "UserManagement", "Add user", "Core Directory", "Add").byApp(t.sp("Contoso HR Sync")).
		on(userTarget(hire, prop{"AccountEnabled", "", "[true]"}, prop{"DisplayName", "", list(hire.DisplayName)},
			prop{"UserPrincipalName", "", list(hire.UPN)}, prop{"Included Updated Properties", "", quoted("AccountEnabled, DisplayName, UserPrincipalName")}))
	d.scenario(at, DemoAudit, "HR sync creates a new hire who gets no role and stays", true, hits(monAccountCreated), d.emitAudit(DemoAudit))

	caAdmins, caAll := &t.CAPolicies[0], &t.CAPolicies[1]
	at = d.at(0, 14, 5, 33)
	g.newAudit(at, "Policy", "Update conditional access policy", "Conditional Access", "Update").by(g, u("adm_hiro")).
		on(target{ID: caAdmins.ID, DisplayName: caAdmins.DisplayName, Type: "Policy", Props: []prop{{"ConditionalAccessPolicy",
			caPolicyJSON(caAdmins, "enabled", "", "2026-01-12T10:04:51.2201847+00:00"), caPolicyJSON(caAdmins, "disabled", "", "2026-03-02T14:05:33.0000000+00:00")}}})
	d.scenario(at, DemoAudit, "adm_hiro disables the admins' Conditional Access policy", false,
		hits("audit.security_posture_lowered", "audit.privileged_change"), d.emitAudit(DemoAudit))
	excluded := member(17)
	at = d.at(0, 15, 20, 8)
	g.newAudit(at, "Policy", "Update conditional access policy", "Conditional Access", "Update").by(g, u("adm_hiro")).
		on(target{ID: caAll.ID, DisplayName: caAll.DisplayName, Type: "Policy", Props: []prop{{"ConditionalAccessPolicy",
			caPolicyJSON(caAll, "enabled", "", "2026-01-12T10:06:02.9182251+00:00"), caPolicyJSON(caAll, "enabled", excluded.ID, "2026-03-02T15:20:08.0000000+00:00")}}})
	d.scenario(at, DemoAudit, "adm_hiro excludes "+excluded.UPN+" from the all-users MFA policy", false,
		hits("audit.security_posture_lowered", "audit.privileged_change"), d.emitAudit(DemoAudit))
	at = d.at(0, 16, 0, 41)
	g.newAudit(at, "Policy", "Add named location", "Conditional Access", "Add").by(g, u("adm_hiro")).
		on(target{ID: nameGUID("named-location/berlin-office"), DisplayName: "Berlin office", Type: "Policy", Props: []prop{{"NamedLocation", "",
			`{"@odata.type":"#microsoft.graph.ipNamedLocation","displayName":"Berlin office","isTrusted":true,"ipRanges":[{"cidrAddress":"87.123.40.0/24"}]}`}}})
	d.scenario(at, DemoAudit, "adm_hiro adds a named location (no policy weakened)", true, hits("audit.security_posture_lowered"), d.emitAudit(DemoAudit))

	// ---- Tuesday 3 March -------------------------------------------------
	s = d.signIn(d.at(1, 2, 13, 27), "breakglass1"+dom)
	s.from(&t.Locations[locBerlin], 2)
	d.scenario(s.At, DemoSignIns, "breakglass1 signs in at 02:13 UTC (excluded from Conditional Access by design)", false,
		hits("breakglass.signin", monOffHours), d.emitSignIn(DemoSignIns, s))
	d.scenario(s.At, DemoSignIns, "the same sign-in: Conditional Access notApplied for an emergency account", true, hits("signin.ca_not_applied"), string(s.ID.append(nil)))
	at = d.at(1, 2, 31, 50)
	g.newAudit(at, "UserManagement", "User registered security info", "Authentication Methods", "Add").by(g, u("breakglass1")).
		reason("User registered Fido2 Authentication Method").on(userTarget(u("breakglass1")))
	g.au.ActorIP = "87.123.40.2"
	d.scenario(at, DemoDiagnosticAudit, "breakglass1 registers a new FIDO2 key", false, hits("breakglass.auth_method_change"), d.emitAudit(DemoDiagnosticAudit))
	at = d.at(1, 8, 47, 19)
	g.newAudit(at, "UserManagement", "Reset password (by admin)", "Self-service Password Management", "Update").by(g, u("adm_alice")).
		reason("None").on(userTarget(u("breakglass1"))).with(kv{"OnPremisesAgent", "None"})
	d.scenario(at, DemoAudit, "adm_alice resets breakglass1's password after the night-time use", false,
		hits("breakglass.password_change", "audit.privileged_change"), d.emitAudit(DemoAudit))

	// Password guessing against adm_grace from a VPS: 7 × 50126 in 8 minutes, then locked.
	grace := u("adm_grace")
	var spray []string
	var first time.Time
	for i := 0; i < 8; i++ {
		s = d.signIn(d.at(1, 9, 5+i, 7*i%60), grace.UPN)
		if i == 0 {
			first = s.At
		}
		s.from(&t.Locations[locHosting], 77)
		s.App, s.Res, s.ClientApp, s.Protocol = appAADPS, resAAD, desktop, "ropc"
		s.unregistered(uaPython)
		if i < 7 {
			s.fail(50126, "notApplied", caNone, authPwdBad)
		} else {
			s.fail(50053, "notApplied", caNone, authLocked)
		}
		spray = append(spray, d.emitSignIn(DemoSignIns, s))
	}
	d.scenario(first, DemoSignIns, "7 wrong passwords for adm_grace within 7 minutes from a VPS (DigitalOcean, Frankfurt)", false,
		hits(monBadPassword, monUnapproved), spray[:7]...)
	d.scenario(first.Add(7*time.Minute), DemoSignIns, "adm_grace's account locks (50053)", false, hits("signin.lockout"), spray[7])

	var typo []string
	for i := 0; i < 4; i++ {
		s = d.signIn(d.at(1, 10, 30+i, 11+9*i), "adm_elena"+dom)
		if i < 3 {
			s.fail(50126, "notApplied", caNone, authPwdBad)
		}
		typo = append(typo, d.emitSignIn(DemoSignIns, s))
	}
	d.scenario(d.at(1, 10, 30, 0), DemoSignIns, "adm_elena mistypes her password 3 times, then signs in", true,
		hits(monBadPassword, "signin.lockout"), typo...)
	var typoMember []string
	m := member(3)
	for i := 0; i < 3; i++ {
		s = d.signIn(d.at(1, 10, 45+i, 2), m.UPN)
		if i < 2 {
			s.fail(50126, "notApplied", caNone, authPwdBad)
		}
		typoMember = append(typoMember, d.emitSignIn(DemoGraphSignIns, s))
	}
	d.scenario(d.at(1, 10, 45, 0), DemoGraphSignIns, m.UPN+" (no role) mistypes a password twice", true,
		hits(monBadPassword, "signin.lockout"), typoMember...)

	at = d.at(1, 11, 5, 40)
	g.pimActivation(at, u("adm_carol"), role("Privileged Authentication Administrator"), "CHG-2291: recover adm_grace's sign-in", "completed")
	d.scenario(at, DemoAudit, "adm_carol activates Privileged Authentication Administrator", false, hits("pim.elevation"), d.emitAudit(DemoAudit))
	at = d.at(1, 11, 15, 2)
	g.newAudit(at, "UserManagement", "Admin registered security info", "Authentication Methods", "Add").by(g, u("adm_carol")).
		reason("Admin registered temporary access pass method for user").on(userTarget(grace))
	d.scenario(at, DemoAudit, "adm_carol issues a Temporary Access Pass to adm_grace", false,
		hits("audit.tap_added", "audit.auth_method_change", "audit.privileged_change"), d.emitAudit(DemoAudit))
	newHire := member(42)
	at = d.at(1, 11, 20, 55)
	g.newAudit(at, "UserManagement", "Admin registered security info", "Authentication Methods", "Add").by(g, u("adm_ines")).
		reason("Admin registered temporary access pass method for user").on(userTarget(newHire))
	d.scenario(at, DemoAudit, "adm_ines issues a Temporary Access Pass to "+newHire.UPN+" (no role)", true,
		hits("audit.tap_added", "audit.auth_method_change"), d.emitAudit(DemoAudit))
	s = d.signIn(d.at(1, 11, 32, 18), grace.UPN)
	s.Auth = authTAP
	d.scenario(s.At, DemoSignIns, "adm_grace signs in with the pass on her PAW", true, hits("signin.ca_not_applied", monNotPAW), d.emitSignIn(DemoSignIns, s))

	s = d.signIn(d.at(1, 13, 40, 37), "adm_ines"+dom)
	s.unregistered(uaChromeMac)
	s.fail(53003, "failure", caAdminDevice, authPwdPush)
	d.scenario(s.At, DemoSignIns, "adm_ines is blocked by Conditional Access on her personal Mac (not compliant)", false,
		hits("signin.ca_failure"), d.emitSignIn(DemoSignIns, s))
	m = member(8)
	s = d.signIn(d.at(1, 13, 45, 12), m.UPN)
	s.from(&t.Locations[locBucharest], 40)
	s.device(m.Devices[len(m.Devices)-1])
	s.fail(53003, "failure", caCountryBlock, authPwdPush)
	d.scenario(s.At, DemoGraphSignIns, m.UPN+" (no role) is blocked by the country policy while travelling", true,
		hits("signin.ca_failure"), d.emitSignIn(DemoGraphSignIns, s))
	d.scenario(s.At, DemoGraphSignIns, "the same sign-in: Romania, outside the office ranges, but "+m.UPN+" holds no role", true,
		hits(monUnapproved), string(s.ID.append(nil)))

	jamal := u("adm_jamal")
	s = d.signIn(d.at(1, 15, 0, 4), jamal.UPN)
	s.device(jamal.Devices[1])
	s.fail(50074, "failure", caAdminMFAFail, authNeedMFA)
	d.scenario(s.At, DemoGraphSignIns, "adm_jamal is interrupted for MFA (50074)", false, hits("signin.mfa_interrupt"), d.emitSignIn(DemoGraphSignIns, s))
	s = d.signIn(d.at(1, 15, 1, 10), jamal.UPN)
	s.device(jamal.Devices[1])
	s.Auth = authPwdPush
	d.scenario(s.At, DemoGraphSignIns, "adm_jamal completes MFA on his everyday laptop (not a PAW)", false,
		hits(monNotPAW), d.emitSignIn(DemoGraphSignIns, s))
	s = d.signIn(d.at(1, 15, 30, 45), "adm_bob"+dom)
	s.fail(50140, "success", caAdminOK, authFIDO)
	id1 = d.emitSignIn(DemoSignIns, s)
	s = d.signIn(d.at(1, 15, 30, 52), "adm_bob"+dom)
	d.scenario(s.At, DemoSignIns, "adm_bob gets the 'keep me signed in' interrupt (50140), then signs in", true,
		hits("signin.mfa_interrupt", "signin.ca_not_applied"), id1, d.emitSignIn(DemoSignIns, s))
	m = member(11)
	s = d.signIn(d.at(1, 16, 10, 5), m.UPN)
	s.fail(50074, "failure", caMemberMFAFail, authNeedMFA)
	d.scenario(s.At, DemoSignIns, m.UPN+" (no role) is interrupted for MFA", true, hits("signin.mfa_interrupt"), d.emitSignIn(DemoSignIns, s))
	d.add(DemoSignIns, "invalid", d.at(1, 12, 0, 0), []byte(`{"message":"eventhub-forwarder heartbeat","host":"evh-fwd-01","partition":3,"ts":"2026-03-03T12:00:00Z"}`))

	// ---- Wednesday 4 March -----------------------------------------------
	carol := u("adm_carol")
	s = d.signIn(d.at(2, 7, 52, 16), carol.UPN)
	s.from(&t.Locations[locBucharest], 91)
	s.unregistered(uaChromeWin)
	s.App, s.Res = appOffice, resSharePoint
	s.fail(500121, "failure", caAdminMFAFail, authFraud)
	s.Details = "MFA denied; Fraud code entered"
	d.scenario(s.At, DemoSignIns, "adm_carol rejects an MFA prompt she did not start and reports fraud (Bucharest)", false,
		hits("signin.mfa_fraud", "signin.mfa_interrupt", monUnapproved), d.emitSignIn(DemoSignIns, s))
	at = s.At.Add(41 * time.Second)
	g.newAudit(at, "UserManagement", "Fraud reported - user is blocked for MFA", "MFA", "Update").by(g, carol).
		reason("Fraud reported by user via Microsoft Authenticator").on(userTarget(carol))
	d.scenario(at, DemoDiagnosticAudit, "MFA logs the fraud report; adm_carol is blocked for MFA", false,
		hits("audit.mfa_fraud_reported"), d.emitAudit(DemoDiagnosticAudit))
	m = member(23)
	s = d.signIn(d.at(2, 8, 30, 3), m.UPN)
	s.fail(500121, "failure", caMemberMFAFail, authDenied)
	d.scenario(s.At, DemoGraphSignIns, m.UPN+" (no role) declines an MFA prompt (no fraud reported)", true,
		hits("signin.mfa_fraud", "signin.mfa_interrupt"), d.emitSignIn(DemoGraphSignIns, s))

	s = d.signIn(d.at(2, 9, 40, 22), "adm_farid"+dom)
	s.App, s.Res, s.ClientApp, s.Protocol = appRef{resExchange.ID, resExchange.Name}, resExchange, "IMAP4", "ropc"
	s.unregistered(uaLegacy)
	s.fail(53003, "failure", caLegacyBlock, authPwdOnly)
	s.AuthRequirement = "singleFactorAuthentication"
	d.scenario(s.At, DemoGraphSignIns, "adm_farid's mail client tries IMAP4 (legacy authentication, blocked)", false,
		hits("signin.legacy_auth", "signin.ca_failure"), d.emitSignIn(DemoGraphSignIns, s))
	m = member(29)
	s = d.signIn(d.at(2, 9, 45, 30), m.UPN)
	s.App, s.Res, s.ClientApp, s.Protocol = appRef{resExchange.ID, resExchange.Name}, resExchange, "Exchange ActiveSync", "ropc"
	s.unregistered(uaActiveSync)
	s.fail(53003, "failure", caLegacyBlock, authPwdOnly)
	d.scenario(s.At, DemoGraphSignIns, m.UPN+" (no role) tries Exchange ActiveSync", true, hits("signin.legacy_auth"), d.emitSignIn(DemoGraphSignIns, s))

	bob := u("adm_bob")
	s = d.signIn(d.at(2, 10, 15, 48), bob.UPN)
	s.from(&t.Locations[locSaoPaulo], 66)
	s.unregistered(uaFirefoxLnx)
	s.Auth = authPwdPush
	s.RiskState, s.RiskLevel, s.RiskAggregated, s.RiskDetail = "atRisk", "medium", "medium", "none"
	s.RiskEvents = []string{"unfamiliarFeatures"}
	d.scenario(s.At, DemoGraphSignIns, "adm_bob signs in from São Paulo with Firefox on Linux: Identity Protection says medium risk", false,
		hits("signin.identity_protection_risk", monNewDevice, monUnapproved), d.emitSignIn(DemoGraphSignIns, s))
	m = member(31)
	s = d.signIn(d.at(2, 10, 20, 9), m.UPN)
	s.from(&t.Locations[locParis], 31)
	s.RiskState, s.RiskLevel, s.RiskAggregated, s.RiskDetail = "atRisk", "low", "low", "none"
	s.RiskEvents = []string{"unfamiliarFeatures"}
	d.scenario(s.At, DemoSignIns, m.UPN+" (no role) gets a low-risk sign-in", true, hits("signin.identity_protection_risk"), d.emitSignIn(DemoSignIns, s))
	at = d.at(2, 11, 25, 3)
	g.newAudit(at, "UserManagement", "Change password (self-service)", "Self-service Password Management", "Update").by(g, bob).
		reason("None").on(userTarget(bob))
	d.scenario(at, DemoAudit, "adm_bob changes his password", false, hits("audit.password_change", "audit.privileged_change"), d.emitAudit(DemoAudit))
	s = d.signIn(d.at(2, 11, 30, 40), bob.UPN)
	s.RiskState, s.RiskLevel, s.RiskAggregated, s.RiskDetail = "remediated", "none", "none", "userPerformedSecuredPasswordChange"
	d.scenario(s.At, DemoSignIns, "adm_bob signs in again: risk remediated by the password change", true,
		hits("signin.identity_protection_risk"), d.emitSignIn(DemoSignIns, s))

	s = d.signIn(d.at(2, 13, 0, 26), jamal.UPN)
	s.ResourceTenant, s.CrossTenant = t.PartnerTenantID, "b2bCollaboration"
	s.Res = resARM
	d.scenario(s.At, DemoSignIns, "adm_jamal signs in to Fabrikam's tenant with his contoso admin identity", false,
		hits("signin.cross_tenant_admin"), d.emitSignIn(DemoSignIns, s))
	m = member(37)
	s = d.signIn(d.at(2, 13, 5, 14), m.UPN)
	s.ResourceTenant, s.CrossTenant = t.PartnerTenantID, "b2bCollaboration"
	d.scenario(s.At, DemoGraphSignIns, m.UPN+" (no role) opens a Fabrikam SharePoint site", true, hits("signin.cross_tenant_admin"), d.emitSignIn(DemoGraphSignIns, s))

	marcus := u("marcus.webb")
	s = d.signIn(d.at(2, 14, 20, 7), marcus.UPN)
	s.device(marcus.Devices[1])
	s.App, s.Res, s.ClientApp, s.UserAgent, s.Browser = appOffice, resExchange, desktop, uaOutlookWin.ua, uaOutlookWin.browser
	s.CAStatus, s.CA, s.Auth, s.AuthRequirement = "notApplied", caNone, authPwdOnly, "singleFactorAuthentication"
	d.scenario(s.At, DemoSignIns, "marcus.webb (Exchange Administrator) signs in with no Conditional Access policy applied", false,
		hits("signin.ca_not_applied", monNotPAW), d.emitSignIn(DemoSignIns, s))

	farid := u("adm_farid")
	s = d.signIn(d.at(2, 14, 36, 51), farid.UPN)
	s.device(farid.Devices[1])
	faridSignIn := d.emitSignIn(DemoGraphSignIns, s)
	d.scenario(s.At, DemoGraphSignIns, "adm_farid signs in on his everyday laptop (compliant, not a PAW)", false,
		hits(monNotPAW), faridSignIn)
	d.scenario(s.At, DemoGraphSignIns, "the same sign-in: United Kingdom, the London office range, Chrome on Windows 10", true,
		hits(monUnapproved), string(s.ID.append(nil)))
	at = d.at(2, 14, 40, 13)
	g.pimActivation(at, farid, role("Exchange Administrator"), "CHG-2304: mailbox migration batch 3", "completed")
	g.au.ActorIP = s.IP
	d.scenario(at, DemoAudit, "4 minutes later adm_farid activates Exchange Administrator from that laptop", false,
		hits("pim.elevation", monElevationNotPAW), d.emitAudit(DemoAudit))
	d.scenarios[len(d.scenarios)-1].Related = []string{faridSignIn}

	lena := u("adm_lena")
	s = d.signIn(d.at(2, 15, 30, 0), lena.UPN)
	s.device(lena.Devices[1])
	s.fail(50057, "notApplied", caNone, authNoSteps)
	d.scenario(s.At, DemoSignIns, "someone tries the disabled account of adm_lena, who left in February", false,
		hits("signin.disabled_account"), d.emitSignIn(DemoSignIns, s))
	m = member(44)
	s = d.signIn(d.at(2, 15, 35, 41), m.UPN)
	s.fail(50057, "notApplied", caNone, authNoSteps)
	d.scenario(s.At, DemoGraphSignIns, m.UPN+" (no role) tries a disabled account", true, hits("signin.disabled_account"), d.emitSignIn(DemoGraphSignIns, s))
	m = member(45)
	s = d.signIn(d.at(2, 16, 10, 27), m.UPN)
	s.fail(50053, "notApplied", caNone, authLocked)
	d.scenario(s.At, DemoSignIns, m.UPN+" (no role) is locked out", true, hits("signin.lockout"), d.emitSignIn(DemoSignIns, s))
	// A record cut off mid-line, as a crashed exporter leaves it.
	s = d.signIn(d.at(2, 12, 0, 0), member(46).UPN)
	full := d.t.appendSignIn(nil, s, false)
	d.add(DemoSignIns, "invalid", s.At, full[:len(full)*3/5])

	// ---- Thursday 5 March ------------------------------------------------
	alice, ines := u("adm_alice"), u("adm_ines")
	at = d.at(3, 8, 20, 4)
	g.pimRecord(at, "Add eligible member to role in PIM requested (permanent)", alice, ines, role("Exchange Administrator"), "CHG-2310: cover for adm_farid")
	id1 = d.emitAudit(DemoDiagnosticAudit)
	d.scenario(at, DemoDiagnosticAudit, "adm_alice requests an eligible Exchange Administrator assignment for adm_ines", true,
		hits("pim.eligible_role_added"), id1)
	at = d.at(3, 8, 20, 6)
	g.pimRecord(at, "Add eligible member to role in PIM completed (permanent)", alice, ines, role("Exchange Administrator"), "CHG-2310: cover for adm_farid")
	id1 = d.emitAudit(DemoDiagnosticAudit)
	g.coreRoleAdd(at.Add(700*time.Millisecond), "Add eligible member to role", ines, role("Exchange Administrator")).byApp(t.sp("MS-PIM"))
	d.scenario(at, DemoDiagnosticAudit, "the eligible assignment completes (PIM, and Core Directory through MS-PIM)", false,
		hits("pim.eligible_role_added", "audit.privileged_role_change"), id1, d.emitAudit(DemoDiagnosticAudit))

	at = d.at(3, 9, 0, 37)
	g.pimRecord(at, "Update role setting in PIM", alice, alice, role("Global Administrator"), "MFA on activation disabled")
	g.au.Targets = append(g.au.Targets[:1], target{ID: nameGUID("pim-policy/ga"), DisplayName: "Directory_" + t.ID + "_" + nameGUID("pim-policy/ga"), Type: "Other",
		Props: []prop{{"EnablementRules", quoted("MultiFactorAuthentication,Justification"), quoted("Justification")}}})
	d.scenario(at, DemoAudit, "adm_alice removes 'require MFA on activation' from Global Administrator", false,
		hits("pim.settings_changed", "audit.privileged_change"), d.emitAudit(DemoAudit))
	at = d.at(3, 9, 10, 12)
	g.newAudit(at, "RoleManagement", "Disable PIM alert", "PIM", "Update").by(g, alice).
		on(target{ID: "RolesAssignedOutsidePimAlert", DisplayName: "Roles are being assigned outside of Privileged Identity Management", Type: "Other"})
	d.scenario(at, DemoAudit, "adm_alice disables the PIM alert 'Roles are being assigned outside of Privileged Identity Management'", false,
		hits("audit.pim_alert_disabled"), d.emitAudit(DemoAudit))
	at = d.at(3, 9, 12, 40)
	g.newAudit(at, "RoleManagement", "Disable PIM alert", "PIM", "Update").by(g, carol).failed("Insufficient privileges to complete the operation.").
		on(target{ID: "TooManyGlobalAdminsAssignedToTenantAlert", DisplayName: "There are too many global administrators", Type: "Other"})
	d.scenario(at, DemoAudit, "adm_carol tries to disable another PIM alert and fails", true, hits("audit.pim_alert_disabled"), d.emitAudit(DemoAudit))
	at = d.at(3, 9, 30, 1)
	g.pimRecord(at, "Add member to role outside of PIM (permanent)", alice, jamal, role("Privileged Authentication Administrator"), "")
	d.scenario(at, DemoAudit, "PIM reports a permanent Privileged Authentication Administrator assignment for adm_jamal made outside PIM", false,
		hits("pim.role_assigned_outside_pim"), d.emitAudit(DemoAudit))

	bg2 := u("breakglass2")
	at = d.at(3, 10, 0, 18)
	g.newAudit(at, "RoleManagement", "Remove member from role", "Core Directory", "Unassign").by(g, alice).
		on(userTarget(bg2, prop{"Role.ObjectID", quoted(roleObjectID(role("Global Administrator"))), ""},
			prop{"Role.DisplayName", quoted("Global Administrator"), ""}, prop{"Role.TemplateId", quoted(role("Global Administrator").TemplateID), ""}),
			target{ID: roleObjectID(role("Global Administrator")), Type: "Role"}).with(portalUA)
	id1 = d.emitAudit(DemoDiagnosticAudit)
	at2 = d.at(3, 10, 6, 55)
	g.coreRoleAdd(at2, "Add member to role", bg2, role("Global Administrator")).by(g, alice).with(portalUA)
	d.scenario(at, DemoDiagnosticAudit, "adm_alice removes Global Administrator from breakglass2 by mistake and adds it back", false,
		hits("breakglass.role_change", "pim.role_assigned_outside_pim", "audit.privileged_role_change"), id1, d.emitAudit(DemoDiagnosticAudit))
	reader := member(51)
	at = d.at(3, 10, 40, 29)
	g.coreRoleAdd(at, "Add member to role", reader, role("Reports Reader")).by(g, u("adm_elena")).with(portalUA)
	d.scenario(at, DemoAudit, "adm_elena gives "+reader.UPN+" Reports Reader (not a privileged role)", true,
		hits("audit.privileged_role_change", "pim.role_assigned_outside_pim"), d.emitAudit(DemoAudit))

	guest := t.user("lena.ortiz_fabrikam.example#EXT#" + dom)
	at = d.at(3, 11, 10, 2)
	g.newAudit(at, "UserManagement", "Update user", "Core Directory", "Update").by(g, u("adm_elena")).
		on(userTarget(guest, prop{"UserType", list("Guest"), list("Member")}, prop{"Included Updated Properties", "", quoted("UserType")},
			prop{"TargetId.UserType", "", quoted("Member")})).with(kv{"UserType", "Member"}, portalUA)
	d.scenario(at, DemoAudit, "adm_elena turns the guest lena.ortiz (Fabrikam) into a member", false,
		hits("audit.guest_to_member", "audit.privileged_change"), d.emitAudit(DemoAudit))
	guest2 := t.user("tomas.ruiz_fabrikam.example#EXT#" + dom)
	at = d.at(3, 11, 12, 45)
	g.newAudit(at, "UserManagement", "Update user", "Core Directory", "Update").byApp(t.sp("Contoso HR Sync")).
		on(userTarget(guest2, prop{"Department", list("Partners"), list("Partners - Logistics")}, prop{"Included Updated Properties", "", quoted("Department")},
			prop{"TargetId.UserType", "", quoted("Guest")})).with(kv{"UserType", "Guest"})
	d.scenario(at, DemoAudit, "HR sync updates a guest's department (user type unchanged)", true, hits("audit.guest_to_member"), d.emitAudit(DemoAudit))

	inviter := member(60)
	invite := func(at time.Time, by *User, who, email, file string) string {
		invited := &User{ID: nameGUID("user/" + who), UPN: who, DisplayName: strings.SplitN(email, "@", 2)[0]}
		g.newAudit(at, "UserManagement", "Invite external user", "Invited Users", "Add").by(g, by).on(userTarget(invited)).
			with(kv{"oid", by.ID}, kv{"tid", t.ID}, kv{"InvitationId", string(g.guid().append(nil))}, kv{"invitedUserEmailAddress", email})
		return d.emitAudit(file)
	}
	at = d.at(3, 13, 15, 37)
	d.scenario(at, DemoDiagnosticAudit, inviter.UPN+" (not an approved inviter) invites a gmail.example address", false,
		hits("audit.guest_invite_unapproved"), invite(at, inviter, "j.doe1987_gmail.example#EXT#"+dom, "j.doe1987@gmail.example", DemoDiagnosticAudit))
	at = d.at(3, 13, 20, 4)
	d.scenario(at, DemoAudit, "hr-onboarding (approved inviter) invites a contractor", true,
		hits("audit.guest_invite_unapproved"), invite(at, t.user("hr-onboarding"+dom), "r.singh_tailspin.example#EXT#"+dom, "r.singh@tailspin.example", DemoAudit))
	at = d.at(3, 13, 26, 50)
	d.scenario(at, DemoDiagnosticAudit, "adm_alice (approved inviter) invites a Fabrikam auditor", true,
		hits("audit.guest_invite_unapproved"), invite(at, alice, "k.meyer_fabrikam.example#EXT#"+dom, "k.meyer@fabrikam.example", DemoDiagnosticAudit))

	at = d.at(3, 14, 0, 9)
	g.newAudit(at, "UserManagement", "User registered security info", "Authentication Methods", "Add").by(g, ines).
		reason("User registered Microsoft Authenticator App with Notification and Code").on(userTarget(ines))
	d.scenario(at, DemoDiagnosticAudit, "adm_ines registers a new Authenticator app", false,
		hits("audit.auth_method_change", "audit.privileged_change"), d.emitAudit(DemoDiagnosticAudit))
	m = member(62)
	at = d.at(3, 14, 2, 31)
	g.newAudit(at, "UserManagement", "User registered security info", "Authentication Methods", "Add").by(g, m).
		reason("User registered Microsoft Authenticator App with Notification and Code").on(userTarget(m))
	d.scenario(at, DemoDiagnosticAudit, m.UPN+" (no role) registers an Authenticator app", true, hits("audit.auth_method_change"), d.emitAudit(DemoDiagnosticAudit))
	at = d.at(3, 15, 0, 44)
	g.newAudit(at, "UserManagement", "Reset password (by admin)", "Self-service Password Management", "Update").by(g, carol).
		reason("None").on(userTarget(u("adm_hiro"))).with(kv{"OnPremisesAgent", "None"})
	d.scenario(at, DemoAudit, "adm_carol resets adm_hiro's password", false, hits("audit.password_change", "audit.privileged_change"), d.emitAudit(DemoAudit))
	m = member(64)
	at = d.at(3, 15, 5, 13)
	g.newAudit(at, "UserManagement", "Reset password (self-service)", "Self-service Password Management", "Update").by(g, m).
		reason("Successfully completed reset.").on(userTarget(m)).with(kv{"OnPremisesAgent", "None"})
	d.scenario(at, DemoAudit, m.UPN+" (no role) resets their own password", true, hits("audit.password_change"), d.emitAudit(DemoAudit))

	dev := member(70)
	payroll := t.sp("Payroll API")
	at = d.at(3, 16, 30, 18)
	g.newAudit(at, "ApplicationManagement", "Update application – Certificates and secrets management ", "Core Directory", "Update").by(g, dev).
		on(target{ID: payroll.AppObjectID, DisplayName: payroll.DisplayName, Type: "Application", Props: []prop{
			{"KeyDescription", "[]", list("[KeyIdentifier=" + nameGUID("key/payroll-ci") + ",KeyType=Password,KeyUsage=Verify,DisplayName=ci-deploy]")},
			{"Included Updated Properties", "", quoted("KeyDescription")}}}).with(kv{"AppId", payroll.AppID}, portalUA)
	d.scenario(at, DemoAudit, dev.UPN+" (app owner, no role) adds a client secret to Payroll API", false,
		hits("audit.high_value_app_change"), d.emitAudit(DemoAudit))
	graphSP, wiki := t.sp("Microsoft Graph"), t.sp("Contoso Wiki Bot")
	at = d.at(3, 16, 33, 2)
	g.newAudit(at, "ApplicationManagement", "Add app role assignment to service principal", "Core Directory", "Assign").by(g, grace).
		on(target{ID: graphSP.ID, DisplayName: graphSP.DisplayName, Type: "ServicePrincipal", Props: []prop{
			{"AppRole.Id", "", quoted("810c84a8-4a9e-49e6-bf7d-12d183f40d01")}, {"AppRole.Value", "", quoted("Mail.Read")},
			{"AppRole.DisplayName", "", quoted("Read mail in all mailboxes")}, {"ServicePrincipal.ObjectID", "", quoted(wiki.ID)},
			{"ServicePrincipal.DisplayName", "", quoted(wiki.DisplayName)}}},
			target{ID: wiki.ID, DisplayName: wiki.DisplayName, Type: "ServicePrincipal"}).with(portalUA)
	d.scenario(at, DemoDiagnosticAudit, "adm_grace grants Contoso Wiki Bot the Microsoft Graph permission Mail.Read", false,
		hits("audit.high_value_app_change", "audit.privileged_change"), d.emitAudit(DemoDiagnosticAudit))
	at = d.at(3, 16, 35, 40)
	g.newAudit(at, "ApplicationManagement", "Update application", "Core Directory", "Update").by(g, dev).
		on(target{ID: wiki.AppObjectID, DisplayName: wiki.DisplayName, Type: "Application", Props: []prop{
			{"Homepage", list("https://wiki.contoso.example"), list("https://wiki.contoso.example/home")},
			{"Included Updated Properties", "", quoted("Homepage")}}}).with(kv{"AppId", wiki.AppID}, portalUA)
	d.scenario(at, DemoAudit, dev.UPN+" updates Contoso Wiki Bot's home page (not a high-value app)", true,
		hits("audit.high_value_app_change"), d.emitAudit(DemoAudit))

	// ---- Friday 6 March --------------------------------------------------
	dmitri := u("adm_dmitri")
	sam := samName(dmitri.UPN)
	var ev aadds
	ev = aadds{At: d.at(4, 8, 14, 2), Computer: aaddsDCs[0], Correlation: g.guid()}
	logon(&ev, sam, "10", "10.0.2.15")
	id1 = d.emitAADDS(&ev)
	ev = aadds{At: d.at(4, 8, 15, 30), Computer: aaddsDCs[0], Correlation: g.guid()}
	sensitivePrivilegeUse(&ev, sam)
	id2 := d.emitAADDS(&ev)
	d.scenario(ev.At, DemoDiagnosticAudit, "adm_dmitri's session on a Domain Services DC calls a privileged service (4673, SeTcbPrivilege)", false,
		hits("aadds.sensitive_privilege_use"), id2)
	ev = aadds{At: d.at(4, 8, 19, 51), Computer: aaddsDCs[0], Correlation: g.guid(), EventID: 4720, Category: "AccountManagement",
		Description: "A user account was created.", Subject: sam, SubjectSID: userSID(sam),
		Fields: []kv{{"TargetUserName", "svc-print"}, {"TargetDomainName", netbiosName(t.Domain)}, {"TargetSid", userSID("svc-print")}, {"SamAccountName", "svc-print"}}}
	d.scenario(ev.At.Add(-5*time.Minute), DemoDiagnosticAudit, "adm_dmitri's logon (4624) and a user created in Domain Services (4720)", true,
		hits("aadds.sensitive_privilege_use"), id1, d.emitAADDS(&ev))
	s = d.signIn(d.at(4, 21, 40, 33), dmitri.UPN)
	d.scenario(s.At, DemoSignIns, "adm_dmitri signs in on his PAW at 22:40 Munich time", false, hits(monOffHours), d.emitSignIn(DemoSignIns, s))

	d.contextScenarios()
	d.eventHubScenarios()

	d.directoryScan()
}

// directoryScan is the directory scan of Friday evening (inputs/dirscan's
// records, as Graph's users and registration report would give them): one
// record per privileged user. Two of them break the rules.
func (d *demo) directoryScan() {
	t := d.t
	scan := day(4).Add(18 * time.Hour)
	ids := map[string]string{}
	for i := range t.Users {
		u := &t.Users[i]
		if !u.Privileged() {
			continue
		}
		login := u.UPN[:strings.IndexByte(u.UPN, '@')]
		id := "dirscan-" + scan.Format("20060102T150405Z") + "-" + u.ID
		ids[login] = id
		var e enc
		e.begin()
		e.str("id", id)
		e.str("recordType", "privilegedUser")
		e.str("scanDateTime", scan.Format(time.RFC3339))
		e.str("tenantId", t.ID)
		e.str("userId", u.ID)
		e.str("userPrincipalName", u.UPN)
		e.str("userDisplayName", u.DisplayName)
		e.str("userType", "Member")
		e.bool("accountEnabled", !u.Disabled)
		e.str("createdDateTime", "2024-09-16T08:00:00Z")
		if login == "adm_kofi" {
			e.null("lastSignInDateTime") // never signed in
		} else {
			e.str("lastSignInDateTime", day(4).Add(9*time.Hour).Format(time.RFC3339))
		}
		e.str("lastSignInSource", "graph")
		if login == "adm_lena" {
			e.bool("mfaRegistered", false)
			e.raw("methodsRegistered", "[]")
		} else {
			e.bool("mfaRegistered", true)
			e.raw("methodsRegistered", `["microsoftAuthenticatorPush","fido2"]`)
		}
		e.end()
		d.recs[DemoDirectory] = append(d.recs[DemoDirectory], demoRecord{at: scan, data: e.b, stream: "directory"})
	}
	d.scenario(scan, DemoDirectory, "marcus.webb holds Exchange Administrator without the adm_ prefix", false, hits(monNamingPolicy), ids["marcus.webb"])
	d.scenario(scan, DemoDirectory, "adm_kofi (Intune Administrator, eligible) has never signed in", false, hits(monUnusedPrivilege), ids["adm_kofi"])
	d.scenario(scan, DemoDirectory, "adm_lena has no multifactor method registered", false, hits(monMFANotRegistered), ids["adm_lena"])
	d.scenario(scan, DemoDirectory, "adm_alice: named adm_, signed in today, MFA registered", true,
		hits(monNamingPolicy, monUnusedPrivilege, monMFANotRegistered), ids["adm_alice"])
}

// contextScenarios exercise the context files: working hours
// (work-hours.yaml), PAWs (devices.yaml) and the approved sign-in controls
// (countries, the office ranges, browsers, operating systems). They come
// after every other crafted record, so that the random draws of those, and
// their IDs, stay as they were.
func (d *demo) contextScenarios() {
	g, t := d.g, d.t
	dom := "@" + t.Domain
	u := func(login string) *User { return t.user(login + dom) }
	id := func(s *signIn) string { return string(s.ID.append(nil)) }

	// Working hours. New York is on EST (UTC-5) until 8 March, Berlin on
	// CET (UTC+1).
	nora := u("adm_nora")
	s := d.signIn(d.at(2, 4, 0, 41), nora.UPN)
	d.scenario(s.At, DemoSignIns, "adm_nora (us-ops-night, 22:00–06:00 New York) signs in on her PAW at 23:00 on Tuesday, New York time", true,
		hits(monOffHours, monNotPAW, monUnapproved), d.emitSignIn(DemoSignIns, s))
	s = d.signIn(d.at(3, 10, 30, 12), nora.UPN)
	s.App, s.Res = appGraphExpl, resGraph
	d.scenario(s.At, DemoGraphSignIns, "adm_nora signs in at 05:30 on Thursday, New York time: the end of Wednesday's night shift", true,
		hits(monOffHours), d.emitSignIn(DemoGraphSignIns, s))
	s = d.signIn(d.at(3, 20, 10, 5), nora.UPN)
	d.scenario(s.At, DemoSignIns, "adm_nora signs in at 15:10 on Thursday, New York time, outside her night shift", false,
		hits(monOffHours), d.emitSignIn(DemoSignIns, s))
	s = d.signIn(d.at(2, 17, 45, 9), u("adm_carol").UPN)
	d.scenario(s.At, DemoSignIns, "adm_carol signs in at 17:45 in London, 18:45 Berlin time: inside emea-admins (07:00–19:00 Europe/Berlin)", true,
		hits(monOffHours), d.emitSignIn(DemoSignIns, s))
	s = d.signIn(d.at(3, 19, 32, 50), u("adm_jamal").UPN)
	d.scenario(s.At, DemoGraphSignIns, "adm_jamal (emea-admins through his group SG-Role-Tier1-Helpdesk) signs in at 20:32 Berlin time", false,
		hits(monOffHours), d.emitSignIn(DemoGraphSignIns, s))

	// Approved controls: one control off at a time.
	elena := u("adm_elena")
	s = d.signIn(d.at(3, 13, 20, 44), elena.UPN)
	s.device(elena.Devices[1])
	s.UserAgent, s.Browser = uaFirefoxWin.ua, uaFirefoxWin.browser
	d.scenario(s.At, DemoSignIns, "adm_elena signs in from the Berlin office with Firefox on her laptop (browser not approved, not a PAW)", false,
		hits(monUnapproved, monNotPAW), d.emitSignIn(DemoSignIns, s))
	s = d.signIn(d.at(2, 16, 40, 2), u("adm_hiro").UPN)
	s.from(&t.Locations[locHosting], 120)
	d.scenario(s.At, DemoGraphSignIns, "adm_hiro signs in on his PAW through a VPN on a VPS (DigitalOcean, Frankfurt): Germany, Edge on Windows, but outside the office ranges", false,
		hits(monUnapproved), d.emitSignIn(DemoGraphSignIns, s))
	d.scenario(s.At, DemoGraphSignIns, "the same sign-in is from adm_hiro's PAW", true, hits(monNotPAW), id(s))

	// Not privileged: neither the PAW rule nor the approved controls apply.
	m := &t.Users[g.members[53]]
	s = d.signIn(d.at(3, 9, 41, 3), m.UPN)
	s.from(&t.Locations[locParis], 53)
	d.scenario(s.At, DemoSignIns, m.UPN+" (no role) signs in from Paris on a laptop that is not a PAW", true,
		hits(monNotPAW, monUnapproved), d.emitSignIn(DemoSignIns, s))
}

// caPolicyJSON is a Conditional Access policy as the audit log's
// modifiedProperties hold it (compact JSON text).
func caPolicyJSON(p *CAPolicy, state, excludeUser, modified string) string {
	exclude := `[]`
	if excludeUser != "" {
		exclude = `["` + excludeUser + `"]`
	}
	include := `["All"]`
	roles := `[]`
	if strings.Contains(p.DisplayName, "Admins") {
		include, roles = `[]`, `["62e90394-69f5-4237-9190-012177145e10","e8611ab8-c189-46e8-94e1-60213ab1f814","194ae4cb-b126-40b2-bd5b-6091b380977d"]`
	}
	controls, _ := json.Marshal(p.GrantControls)
	return `{"id":"` + p.ID + `","displayName":` + string(appendJSONString(nil, p.DisplayName)) + `,"createdDateTime":"2025-11-03T09:12:40.1234567+00:00","modifiedDateTime":"` +
		modified + `","state":"` + state + `","conditions":{"clientAppTypes":["all"],"applications":{"includeApplications":["All"],"excludeApplications":[]},` +
		`"users":{"includeUsers":` + include + `,"excludeUsers":` + exclude + `,"includeGroups":[],"excludeGroups":[],"includeRoles":` + roles +
		`,"excludeRoles":[]}},"grantControls":{"operator":"AND","builtInControls":` + string(controls) + `}}`
}

// files renders the collected records into the demo files.
func (d *demo) files() DemoFiles {
	out := DemoFiles{Counts: map[string]map[string]int{}}
	sorted := func(name string) []demoRecord {
		recs := d.recs[name]
		slices.SortStableFunc(recs, func(a, b demoRecord) int { return a.at.Compare(b.at) })
		counts := map[string]int{}
		for _, r := range recs {
			counts[r.stream]++
		}
		out.Counts[name] = counts
		return recs
	}
	var b bytes.Buffer
	for _, r := range sorted(DemoSignIns) {
		b.Write(r.data)
		b.WriteByte('\n')
	}
	out.Files = append(out.Files, File{DemoSignIns, bytes.Clone(b.Bytes())})

	out.Files = append(out.Files, File{DemoGraphSignIns, graphPage("https://graph.microsoft.com/beta/$metadata#auditLogs/signIns", sorted(DemoGraphSignIns))})

	b.Reset()
	b.WriteString("[")
	for i, r := range sorted(DemoAudit) {
		if i > 0 {
			b.WriteString(",")
		}
		b.Write(r.data)
	}
	b.WriteString("]")
	out.Files = append(out.Files, File{DemoAudit, indent(b.Bytes())})

	b.Reset()
	b.WriteString("{\"records\":[\n")
	for i, r := range sorted(DemoDiagnosticAudit) {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.Write(r.data)
	}
	b.WriteString("\n]}\n")
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	zw.Name = "diagnostic-audit.json" // header fields fixed: no ModTime, so the bytes never change
	zw.Write(b.Bytes())
	zw.Close()
	out.Files = append(out.Files, File{DemoDiagnosticAudit, z.Bytes()})

	b.Reset()
	for _, r := range sorted(DemoEventHub) {
		b.Write(r.data)
		b.WriteByte('\n')
	}
	out.Files = append(out.Files, File{DemoEventHub, bytes.Clone(b.Bytes())})

	b.Reset()
	for _, r := range sorted(DemoDirectory) {
		b.Write(r.data)
		b.WriteByte('\n')
	}
	out.Files = append(out.Files, File{DemoDirectory, b.Bytes()})

	out.Files = append(out.Files, File{DemoRoleMap, d.t.RoleMapYAML()})
	out.Files = append(out.Files, File{DemoDevices, d.t.DevicesYAML()}, File{DemoWorkHours, d.t.WorkHoursYAML()})
	city, asn, err := d.t.GeoMMDB()
	if err != nil {
		panic(fmt.Sprintf("synth: demo GeoIP databases: %v", err)) // a bug in the tenant's locations
	}
	out.Files = append(out.Files, File{DemoCityMMDB, city}, File{DemoASNMMDB, asn})
	slices.SortStableFunc(d.scenarios, func(a, b Scenario) int { return a.When.Compare(b.When) })
	out.Scenarios = d.scenarios
	out.Files = append(out.Files, File{DemoReadme, demoReadme(d.t, out)})
	return out
}

func graphPage(context string, recs []demoRecord) []byte {
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":`)
	b.Write(appendJSONString(nil, context))
	b.WriteString(`,"value":[`)
	for i, r := range recs {
		if i > 0 {
			b.WriteString(",")
		}
		b.Write(r.data)
	}
	b.WriteString("]}")
	return indent(b.Bytes())
}

func indent(compact []byte) []byte {
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		panic(fmt.Sprintf("synth: demo file is not JSON: %v", err)) // a bug in an encoder
	}
	out.WriteByte('\n')
	return out.Bytes()
}
