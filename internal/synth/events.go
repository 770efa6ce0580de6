package synth

import (
	"strconv"
	"time"
)

// Builders of audit events, shared by the random stream and the demo
// scenarios. They fill the generator's scratch audit; write it before
// building the next one.

func (g *Generator) newAudit(at time.Time, category, activity, service, op string) *audit {
	a := &g.au
	*a = audit{At: at, Category: category, Activity: activity, Service: service, OperationType: op, Result: "success",
		ID: g.guid(), Correlation: g.guid(), Seq: g.r.Uint64(), Targets: g.targets[:0], Details: g.details[:0]}
	return a
}

// emitAudit writes the scratch audit and keeps its slices for reuse.
func (g *Generator) emitAudit(dst []byte, graph bool) []byte {
	dst = g.t.appendAudit(dst, &g.au, graph)
	g.targets, g.details = g.au.Targets[:0], g.au.Details[:0]
	return dst
}

func (g *Generator) userIndex(u *User) int {
	for i := range g.t.Users {
		if &g.t.Users[i] == u {
			return i
		}
	}
	return 0
}

func (a *audit) by(g *Generator, u *User) *audit {
	a.Actor, a.ActorIP = u, g.ip4[g.userIndex(u)]
	return a
}

func (a *audit) byApp(sp *ServicePrincipal) *audit {
	a.ActorApp, a.Actor, a.ActorIP = sp, nil, ""
	return a
}

func (a *audit) on(t ...target) *audit { a.Targets = append(a.Targets, t...); return a }

func (a *audit) with(kvs ...kv) *audit { a.Details = append(a.Details, kvs...); return a }

func (a *audit) reason(r string) *audit { a.ResultReason = r; return a }

func (a *audit) failed(r string) *audit { a.Result, a.ResultReason = "failure", r; return a }

// quoted is a modified property value holding one JSON string.
func quoted(s string) string { return string(appendJSONString(nil, s)) }

// list is a modified property value holding a JSON array of one string.
func list(s string) string { return "[" + quoted(s) + "]" }

func roleObjectID(r Role) string { return nameGUID("role-object/" + r.TemplateID) }

// roleProps are the modified properties Core Directory logs on the user
// target of a role assignment.
func roleProps(r Role) []prop {
	ps := []prop{
		{"Role.ObjectID", "", quoted(roleObjectID(r))},
		{"Role.DisplayName", "", quoted(r.Name)},
		{"Role.TemplateId", "", quoted(r.TemplateID)},
	}
	switch r.Name {
	case "Global Administrator":
		ps = append(ps, prop{"Role.WellKnownObjectName", "", quoted("TenantAdmins")})
	case "Application Administrator":
		ps = append(ps, prop{"Role.WellKnownObjectName", "", quoted("ApplicationAdministrators")})
	}
	return ps
}

func roleTarget(r Role) target {
	return target{ID: r.TemplateID, DisplayName: r.Name, Type: "Role"}
}

// coreRoleAdd is Core Directory's record of a role assignment: "Add member
// to role" or "Add eligible member to role" (PIM writes the latter through
// the MS-PIM application).
func (g *Generator) coreRoleAdd(at time.Time, activity string, to *User, r Role) *audit {
	a := g.newAudit(at, "RoleManagement", activity, "Core Directory", "Assign")
	a.on(userTarget(to, roleProps(r)...), target{ID: roleObjectID(r), Type: "Role"})
	return a
}

// pimRecord is a PIM audit record about a role and a user.
func (g *Generator) pimRecord(at time.Time, activity string, actor, subject *User, r Role, justification string) *audit {
	a := g.newAudit(at, "RoleManagement", activity, "PIM", "Add")
	a.by(g, actor).reason(justification)
	a.on(roleTarget(r), target{ID: string(g.guid().append(nil)), Type: "Request"}, userTarget(subject),
		target{ID: g.t.ID, DisplayName: g.t.DisplayName, Type: "Other"})
	a.with(kv{"RoleDefinitionOriginId", r.TemplateID}, kv{"RoleDefinitionOriginType", "BuiltInRole"}, kv{"TemplateId", r.TemplateID},
		kv{"ipaddr", a.ActorIP}, kv{"oid", actor.ID}, kv{"tid", g.t.ID})
	return a
}

func (g *Generator) pimActivation(at time.Time, u *User, r Role, justification, stage string) *audit {
	a := g.pimRecord(at, "Add member to role "+stage+" (PIM activation)", u, u, r, justification)
	a.with(kv{"StartTime", string(appendTime(nil, at, false))}, kv{"ExpirationTime", string(appendTime(nil, at.Add(4*time.Hour), false))})
	if stage == "completed" {
		a.with(kv{"TicketNumber", ""}, kv{"TicketSystem", ""})
	}
	return a
}

// User-Agent detail of records initiated from the portal.
var portalUA = kv{"User-Agent", uaEdgeWin.ua}

// randomAudit fills g.au with a background directory audit.
func (g *Generator) randomAudit(_ *audit, at time.Time) {
	member := func() *User { return &g.t.Users[g.members[g.r.IntN(len(g.members))]] }
	admin := g.someAdmin
	hrSync := g.t.sp("Contoso HR Sync")
	group := func() *Group { return &g.t.Groups[1+g.r.IntN(len(g.t.Groups)-1)] }
	switch roll := g.r.IntN(1000); {
	case roll < 140:
		u, gr := member(), group()
		g.newAudit(at, "GroupManagement", "Add member to group", "Core Directory", "Assign").by(g, admin()).
			on(target{ID: gr.ID, DisplayName: gr.DisplayName, Type: "Group", Props: []prop{
				{"Group.ObjectID", "", quoted(gr.ID)}, {"Group.DisplayName", "", quoted(gr.DisplayName)}}},
				userTarget(u)).with(portalUA)
		if g.r.IntN(3) > 0 {
			g.au.byApp(hrSync)
			g.au.Details = g.au.Details[:0]
		}
	case roll < 270:
		u := member()
		g.newAudit(at, "UserManagement", "Update user", "Core Directory", "Update").byApp(hrSync).
			on(userTarget(u, prop{"Department", list("Sales"), list("Customer Success")}, prop{"JobTitle", list("Account Manager"), list("Customer Success Manager")},
				prop{"Included Updated Properties", "", quoted("Department, JobTitle")}, prop{"TargetId.UserType", "", quoted("Member")})).
			with(kv{"UserType", "Member"})
	case roll < 330:
		u := member()
		g.newAudit(at, "UserManagement", "Change user license", "Core Directory", "Update").byApp(hrSync).on(userTarget(u))
	case roll < 420:
		u := member()
		g.newAudit(at, "UserManagement", "User registered security info", "Authentication Methods", "Add").by(g, u).
			reason("User registered Microsoft Authenticator App with Notification and Code").on(userTarget(u))
	case roll < 470:
		u := member()
		g.newAudit(at, "UserManagement", "Reset password (self-service)", "Self-service Password Management", "Update").by(g, u).
			reason("Successfully completed reset.").on(userTarget(u)).with(kv{"OnPremisesAgent", "None"})
	case roll < 500:
		u := member()
		g.newAudit(at, "UserManagement", "Self-service password reset flow activity progress", "Self-service Password Management", "Update").by(g, u).
			reason("User successfully verified their identity using Mobile app notification").on(userTarget(u))
	case roll < 560:
		u := member()
		d := u.Devices[g.r.IntN(len(u.Devices))]
		g.newAudit(at, "Device", "Register device", "Device Registration Service", "Add").by(g, u).
			on(target{ID: d.ID, DisplayName: d.DisplayName, Type: "Device"}).
			with(kv{"Device Id", d.ID}, kv{"Device OS", d.OS}, kv{"Device Trust Type", d.TrustType})
	case roll < 600:
		u := member()
		d := u.Devices[0]
		g.newAudit(at, "Device", "Add registered owner to device", "Core Directory", "Assign").byApp(&deviceRegistrationSP).
			on(target{ID: d.ID, DisplayName: d.DisplayName, Type: "Device"}, userTarget(u))
	case roll < 640:
		u := member()
		d := u.Devices[0]
		g.newAudit(at, "Device", "Update device", "Core Directory", "Update").byApp(&deviceRegistrationSP).
			on(target{ID: d.ID, DisplayName: d.DisplayName, Type: "Device", Props: []prop{
				{"ApproximateLastLogonTimestamp", list("2026-02-27T08:12:44Z"), list("2026-03-02T07:58:03Z")},
				{"Included Updated Properties", "", quoted("ApproximateLastLogonTimestamp")}}})
	case roll < 670:
		u := member()
		g.newAudit(at, "ApplicationManagement", "Consent to application", "Core Directory", "Assign").by(g, u).
			on(target{ID: g.t.ServicePrincipals[5].ID, DisplayName: g.t.ServicePrincipals[5].DisplayName, Type: "ServicePrincipal", Props: []prop{
				{"ConsentContext.IsAdminConsent", "", quoted("False")}, {"ConsentContext.IsAppOnly", "", quoted("False")},
				{"ConsentAction.Permissions", "", quoted("[] => [[Scope: User.Read openid profile offline_access]]; ")}}})
	case roll < 685:
		hr := g.t.user("hr-onboarding@" + g.t.Domain)
		guest := &g.t.Users[g.guests[g.r.IntN(len(g.guests))]]
		g.newAudit(at, "UserManagement", "Invite external user", "Invited Users", "Add").by(g, hr).on(userTarget(guest)).
			with(kv{"invitedUserEmailAddress", guestEmail(guest.UPN)})
	case roll < 700:
		guest := &g.t.Users[g.guests[g.r.IntN(len(g.guests))]]
		g.newAudit(at, "UserManagement", "Redeem external user invite", "B2B", "Update").by(g, guest).on(userTarget(guest))
	case roll < 760:
		u := member()
		g.newAudit(at, "UserManagement", "Update StsRefreshTokenValidFrom Timestamp", "Core Directory", "Update").byApp(&substrateSP).
			on(userTarget(u, prop{"StsRefreshTokenValidFrom", list("2026-01-14T09:21:07Z"), list("2026-03-02T07:00:00Z")},
				prop{"Included Updated Properties", "", quoted("StsRefreshTokenValidFrom")}))
	case roll < 790:
		u := member()
		sp := &g.t.ServicePrincipals[0]
		g.newAudit(at, "ApplicationManagement", "Add app role assignment grant to user", "Core Directory", "Assign").byApp(hrSync).
			on(target{ID: sp.ID, DisplayName: sp.DisplayName, Type: "ServicePrincipal"}, userTarget(u))
	case roll < 830:
		gr := group()
		g.newAudit(at, "GroupManagement", "Update group", "Core Directory", "Update").by(g, member()).
			on(target{ID: gr.ID, DisplayName: gr.DisplayName, Type: "Group", Props: []prop{
				{"Description", list(""), list(gr.DisplayName + " team")}, {"Included Updated Properties", "", quoted("Description")}}})
	case roll < 870:
		g.newAudit(at, "GroupManagement", "GroupLifecyclePolicies_Get", "Self-service Group Management", "Update").by(g, member()).
			reason("OK").on(target{ID: "00000000-0000-0000-0000-000000000000", Type: "N/A"})
	case roll < 895:
		u := member()
		g.newAudit(at, "UserManagement", "User registered all required security info", "Authentication Methods", "Add").by(g, u).
			reason("User registered all required security info").on(userTarget(u))
	case roll < 910:
		u := member()
		g.newAudit(at, "UserManagement", "Disable account", "Core Directory", "Update").byApp(hrSync).
			on(userTarget(u, prop{"AccountEnabled", "[true]", "[false]"}, prop{"Included Updated Properties", "", quoted("AccountEnabled")}))
	case roll < 940:
		// An admin at work: a helpdesk password reset for a member.
		a := admin()
		u := member()
		g.newAudit(at, "UserManagement", "Reset password (by admin)", "Self-service Password Management", "Update").by(g, a).
			reason("None").on(userTarget(u)).with(kv{"OnPremisesAgent", "None"})
	case roll < 970:
		a := admin()
		for _, r := range a.Roles {
			if r.Assignment == "eligible" && !g.quiet {
				g.pimActivation(at, a, r.Role, "Routine maintenance", "completed")
				return
			}
		}
		u := member()
		g.newAudit(at, "UserManagement", "Update user", "Core Directory", "Update").by(g, a).
			on(userTarget(u, prop{"UsageLocation", list("GB"), list("DE")}, prop{"Included Updated Properties", "", quoted("UsageLocation")})).
			with(portalUA)
	case roll < 971 && !g.quiet:
		u := member()
		g.newAudit(at, "UserManagement", "Fraud reported - no action taken", "MFA", "Update").by(g, u).
			reason("Fraud reported by user").on(userTarget(u))
	default:
		gr := group()
		g.newAudit(at, "GroupManagement", "Add owner to group", "Core Directory", "Assign").by(g, admin()).
			on(target{ID: gr.ID, DisplayName: gr.DisplayName, Type: "Group"}, userTarget(member())).with(portalUA)
	}
}

// someAdmin picks the admin behind a routine change.
func (g *Generator) someAdmin() *User {
	if g.quiet { // the demo's background: the helpdesk admins at work
		return g.t.user([]string{"adm_elena@", "adm_jamal@"}[g.r.IntN(2)] + g.t.Domain)
	}
	return &g.t.Users[g.admins[g.r.IntN(len(g.admins))]]
}

// First-party service principals that act in audit logs.
var (
	deviceRegistrationSP = ServicePrincipal{ID: "b9c1d5a2-7e3f-4a8b-9c6d-0e1f2a3b4c5d", AppID: "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9", DisplayName: "Device Registration Service"}
	substrateSP          = ServicePrincipal{ID: "c3d4e5f6-8a9b-4c0d-9e1f-2a3b4c5d6e7f", AppID: "98db8bd6-0cc0-4e67-9de5-f187f1cd1b41", DisplayName: "Microsoft Substrate Management"}
)

// guestEmail turns "lena.ortiz_fabrikam.example#EXT#@…" back into the
// invited address.
func guestEmail(upn string) string {
	for i := 0; i < len(upn); i++ {
		if upn[i] == '#' {
			local := upn[:i]
			for j := len(local) - 1; j >= 0; j-- {
				if local[j] == '_' {
					return local[:j] + "@" + local[j+1:]
				}
			}
			return local
		}
	}
	return upn
}

// Azure resources of the demo subscription.
func (t *Tenant) armID(rg, provider, name string) string {
	return "/subscriptions/" + t.SubscriptionID + "/resourceGroups/" + rg + "/providers/" + provider + "/" + name
}

func (g *Generator) randomActivity(a *activity, at time.Time) {
	*a = activity{At: at, Correlation: g.guid(), EventData: g.guid(), Scope: "/subscriptions/" + g.t.SubscriptionID, Role: "Contributor"}
	results := []string{"Start", "Success", "Success", "Accept"}
	a.ResultType = results[g.r.IntN(len(results))]
	if g.r.IntN(2) == 0 {
		a.CallerApp = g.t.sp("Terraform Deployment")
		a.IP = "20.61.12.40"
	} else {
		u := g.someAdmin()
		a.Caller, a.IP = u, g.ip4[g.userIndex(u)]
	}
	switch roll := g.r.IntN(100); {
	case roll < 30:
		a.Operation = "Microsoft.Compute/virtualMachines/write"
		a.ResourceID = g.t.armID("rg-payroll-prod", "Microsoft.Compute/virtualMachines", "vm-pay-0"+strconv.Itoa(1+g.r.IntN(3)))
	case roll < 55:
		a.Operation = "Microsoft.Resources/deployments/write"
		a.ResourceID = g.t.armID("rg-web-prod", "Microsoft.Resources/deployments", "web-release-"+strconv.Itoa(100+g.r.IntN(900)))
	case roll < 70:
		a.Operation = "Microsoft.Storage/storageAccounts/listKeys/action"
		a.ResourceID = g.t.armID("rg-data", "Microsoft.Storage/storageAccounts", "stcontosodata01")
	case roll < 85:
		a.Operation = "Microsoft.Network/networkSecurityGroups/securityRules/write"
		a.ResourceID = g.t.armID("rg-network", "Microsoft.Network/networkSecurityGroups", "nsg-web/securityRules/allow-https")
	case roll < 99:
		a.Operation = "Microsoft.Authorization/roleAssignments/write"
		a.ResourceID = g.t.armID("rg-web-prod", "Microsoft.Authorization/roleAssignments", nameGUID("ra/"+strconv.Itoa(g.r.IntN(50))))
		a.Role = "Owner"
	default:
		g.elevateAccess(a, at, &g.t.Users[g.admins[0]], a.ResultType)
	}
}

// elevateAccess is "Assigns the caller to user access admin": a Global
// Administrator takes User Access Administrator at root scope.
func (g *Generator) elevateAccess(a *activity, at time.Time, u *User, result string) {
	*a = activity{At: at, Operation: "Microsoft.Authorization/elevateAccess/action", ResourceID: "/providers/Microsoft.Authorization",
		ResultType: result, Caller: u, IP: g.ip4[g.userIndex(u)], Correlation: a.Correlation, EventData: g.guid()}
	if a.Correlation == (guid{}) {
		a.Correlation = g.guid()
	}
}

// Domain controllers of the managed domain.
var aaddsDCs = []string{"DC-WK8R2D01.contoso.example", "DC-LNB3XQF2.contoso.example"}

func (g *Generator) randomAADDS(a *aadds, at time.Time) {
	*a = aadds{At: at, Computer: aaddsDCs[g.r.IntN(len(aaddsDCs))], Correlation: g.guid()}
	u := &g.t.Users[g.members[g.r.IntN(len(g.members))]]
	sam := samName(u.UPN)
	switch roll := g.r.IntN(100); {
	case roll < 45:
		logon(a, sam, "3", "10.0.1."+strconv.Itoa(10+g.r.IntN(200)))
	case roll < 60:
		a.EventID, a.Category, a.Description = 4634, "LogonLogoff", "An account was logged off."
		a.Subject, a.SubjectSID = sam, userSID(sam)
		a.Fields = []kv{{"TargetUserName", sam}, {"LogonType", "3"}}
	case roll < 75:
		a.EventID, a.Category, a.Description = 4776, "AccountLogon", "The computer attempted to validate the credentials for an account."
		a.Subject, a.SubjectSID = "MSV1_0", "S-1-5-18"
		a.Fields = []kv{{"TargetUserName", sam}, {"Workstation", "WS-" + strconv.Itoa(100+g.r.IntN(50))}, {"Status", "0x0"}}
	case roll < 85:
		a.EventID, a.Category, a.Description, a.Failure = 4625, "LogonLogoff", "An account failed to log on.", true
		a.Subject, a.SubjectSID = "-", "S-1-0-0"
		a.Fields = []kv{{"TargetUserName", sam}, {"LogonType", "3"}, {"Status", "0xc000006d"}, {"SubStatus", "0xc000006a"}, {"IpAddress", "10.0.1.77"}}
	case roll < 92:
		a.EventID, a.Category, a.Description = 4738, "AccountManagement", "A user account was changed."
		a.Subject, a.SubjectSID = "AAD DC Service Account", "S-1-5-21-3623811015-3361044348-30300820-1104"
		a.Fields = []kv{{"TargetUserName", sam}, {"TargetDomainName", netbiosName(g.t.Domain)}}
	case roll < 97:
		a.EventID, a.Category, a.Description = 4674, "PrivilegeUse", "An operation was attempted on a privileged object."
		a.Subject, a.SubjectSID = "svc-backup", userSID("svc-backup")
		a.Fields = []kv{{"ObjectServer", "Security"}, {"ObjectType", "File"}, {"PrivilegeList", "SeBackupPrivilege"},
			{"ProcessName", `C:\Program Files\Contoso\Backup\agent.exe`}}
	default:
		sensitivePrivilegeUse(a, samName(g.someAdmin().UPN))
	}
}

// logon fills a 4624 "An account was successfully logged on".
func logon(a *aadds, sam, logonType, ip string) {
	a.EventID, a.Category, a.Description = 4624, "LogonLogoff", "An account was successfully logged on."
	a.Subject, a.SubjectSID = "-", "S-1-0-0"
	a.Fields = []kv{{"TargetUserName", sam}, {"TargetUserSid", userSID(sam)}, {"LogonType", logonType}, {"LogonProcessName", "Kerberos"},
		{"AuthenticationPackageName", "Kerberos"}, {"IpAddress", ip}, {"ProcessName", "-"}}
}

// sensitivePrivilegeUse fills a 4673 "A privileged service was called".
func sensitivePrivilegeUse(a *aadds, sam string) {
	a.EventID, a.Category, a.Description = 4673, "PrivilegeUse", "A privileged service was called."
	a.Subject, a.SubjectSID = sam, userSID(sam)
	a.Fields = []kv{{"SubjectLogonId", "0x3a1f27c"}, {"ObjectServer", "NT Local Security Authority / Authentication Service"},
		{"ServiceName", "LsaRegisterLogonProcess()"}, {"PrivilegeList", "SeTcbPrivilege"}, {"ProcessId", "0x1c4c"},
		{"ProcessName", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`}}
}

// samName is the pre-Windows 2000 logon name Domain Services derives from a UPN.
func samName(upn string) string {
	for i := 0; i < len(upn); i++ {
		if upn[i] == '@' {
			upn = upn[:i]
			break
		}
	}
	if len(upn) > 20 {
		upn = upn[:20]
	}
	return upn
}

func userSID(sam string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(sam); i++ {
		h = (h ^ uint32(sam[i])) * 16777619
	}
	return "S-1-5-21-3623811015-3361044348-30300820-" + strconv.Itoa(1200+int(h%8000))
}
