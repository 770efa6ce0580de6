package synth

import (
	"crypto/sha1"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Tenant is the fictional directory the generator writes logs about: its
// users and their roles, devices, applications and the places they sign in
// from. DemoTenant returns the one the bundled demo uses.
type Tenant struct {
	ID          string // tenant ID (GUID)
	Domain      string // primary domain, the suffix of every UPN
	DisplayName string

	Users  []User
	Groups []Group
	// ServicePrincipals are the workload identities that sign in and act
	// in audit logs (sync jobs, automation, the Payroll API itself).
	ServicePrincipals []ServicePrincipal
	// HighValueApps are the display names of the applications a change to
	// which is worth an alert (params.high_value_apps of the pipeline).
	HighValueApps []string
	// ApprovedInviters are the UPNs allowed to invite external users
	// (params.approved_inviters of the pipeline).
	ApprovedInviters []string
	Locations        []Location
	// Offices are the indexes in Locations of the tenant's offices: their
	// CIDRs are the approved ranges of signin.unapproved_controls.
	Offices []int
	// ApprovedCountries (ISO codes), ApprovedBrowsers and ApprovedOS
	// (prefixes of deviceDetail.browser and .operatingSystem) are the other
	// approved lists of signin.unapproved_controls.
	ApprovedCountries, ApprovedBrowsers, ApprovedOS []string
	// WorkHours are the admins' working hours (the work-hours stage's
	// schedules).
	WorkHours  WorkHours
	CAPolicies []CAPolicy
	// PartnerTenantID is a second tenant (fabrikam.example): the home of
	// the guests, and where one admin signs in across tenants.
	PartnerTenantID string
	// SubscriptionID is the Azure subscription of Activity log and Domain
	// Services records.
	SubscriptionID string

	frag *fragments // pre-encoded JSON of the tenant's fixed objects, set by New
}

// User is a member or guest account.
type User struct {
	ID          string
	UPN         string
	DisplayName string
	UserType    string // Member or Guest
	// Emergency marks an emergency access ("break-glass") account.
	Emergency bool
	Roles     []RoleAssignment
	// Disabled accounts fail to sign in with 50057.
	Disabled bool
	// Home is the index in Tenant.Locations where the user usually is.
	Home    int
	Devices []Device
	// ipHost makes the user's addresses stable: the last octet (IPv4) or
	// interface ID (IPv6) inside the home location's prefixes.
	ipHost int
}

// Privileged reports whether the user holds a privileged role (active or
// eligible) or is an emergency access account.
func (u *User) Privileged() bool {
	if u.Emergency {
		return true
	}
	for _, r := range u.Roles {
		if r.Role.Privileged {
			return true
		}
	}
	return false
}

// RoleAssignment is one role a user holds.
type RoleAssignment struct {
	Role       Role
	Assignment string // active | eligible
	Via        string // direct | group:<group object id>
}

// Role is a built-in Microsoft Entra role.
type Role struct {
	Name       string
	TemplateID string
	// Privileged is Microsoft's "privileged" label (as in
	// enrich/privilege/privileged_roles.yaml).
	Privileged bool
}

// BuiltinRoles are the Entra roles the demo tenant uses, with their real
// template IDs. The last two are not privileged.
var BuiltinRoles = []Role{
	{"Global Administrator", "62e90394-69f5-4237-9190-012177145e10", true},
	{"Privileged Role Administrator", "e8611ab8-c189-46e8-94e1-60213ab1f814", true},
	{"Privileged Authentication Administrator", "7be44c8a-adaf-4e2a-84d6-ab2649e08a13", true},
	{"Security Administrator", "194ae4cb-b126-40b2-bd5b-6091b380977d", true},
	{"User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1", true},
	{"Exchange Administrator", "29232cdf-9323-42fd-ade2-1d097af3e4de", true},
	{"SharePoint Administrator", "f28a1f50-f6e7-4571-818b-6a12f2af6b6c", true},
	{"Application Administrator", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", true},
	{"Cloud Application Administrator", "158c047a-c907-4556-b7ef-446551a6b5f7", true},
	{"Conditional Access Administrator", "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", true},
	{"Authentication Administrator", "c4e39bd9-1100-46d3-8c65-fb160da0071f", true},
	{"Helpdesk Administrator", "729827e3-9c14-49f7-bb1b-9608f156bbb8", true},
	{"Hybrid Identity Administrator", "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2", true},
	{"Intune Administrator", "3a2c62db-5318-420d-8d74-23affee5d9d5", true},
	{"Reports Reader", "4a5d8f65-41da-4de4-8968-e035b65339cf", false},
	{"Message Center Reader", "790c1fb9-7f7d-4f88-86a1-ef1f95c05c1b", false},
}

func role(name string) Role {
	for _, r := range BuiltinRoles {
		if r.Name == name {
			return r
		}
	}
	panic("synth: unknown role " + name)
}

// Group is a group of the directory; a role-assignable group passes its
// roles on to its members.
type Group struct {
	ID             string
	DisplayName    string
	RoleAssignable bool
}

// Device is a device a user signs in from.
type Device struct {
	ID          string // Entra device ID; empty for unregistered devices
	DisplayName string
	OS          string // as Entra logs it: Windows10, MacOs, Ios, Android, Linux
	Browser     string
	UserAgent   string
	TrustType   string // Azure AD joined, Hybrid Azure AD joined, Azure AD registered, or empty
	Compliant   bool
	Managed     bool
	// PAW marks a privileged access workstation (the device stage's PAW list).
	PAW bool
}

// ServicePrincipal is an application's identity in the tenant.
type ServicePrincipal struct {
	ID          string // service principal object ID
	AppID       string
	DisplayName string
	// AppObjectID is the application object (app registration) ID, for
	// apps registered in this tenant.
	AppObjectID string
}

// Location is where Entra places a sign-in, with the address ranges the
// generator draws IPs from (so a demo GeoIP database can be built from it).
type Location struct {
	City, State, Country string // Country is ISO 3166 alpha-2, as Entra logs it
	Lat, Lon             float64
	ASN                  int
	ASOrg                string
	IPv4Prefix           string // three octets and a dot: "87.123.40."
	IPv6Prefix           string // three hextets and a colon, or empty
}

// OfficeCIDRs returns the networks of the tenant's offices.
func (t *Tenant) OfficeCIDRs() []string {
	var out []string
	for _, i := range t.Offices {
		out = append(out, t.Locations[i].CIDRs()...)
	}
	return out
}

// CIDRs returns the networks of the location's addresses.
func (l Location) CIDRs() []string {
	out := []string{l.IPv4Prefix + "0/24"}
	if l.IPv6Prefix != "" {
		out = append(out, l.IPv6Prefix+":/48")
	}
	return out
}

// CAPolicy is a Conditional Access policy of the tenant.
type CAPolicy struct {
	ID            string
	DisplayName   string
	GrantControls []string
}

// appRef is an application (client or resource) as sign-in logs name it.
type appRef struct {
	ID   string // application (client) ID
	Name string
}

// First-party applications and resources, with their real app IDs.
var (
	appOffice       = appRef{"d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office"}
	appTeams        = appRef{"1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams"}
	appOfficeHome   = appRef{"4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome"}
	appOWA          = appRef{"9199bf20-a13f-4107-85dc-02114787ef48", "One Outlook Web"}
	appOutlookMob   = appRef{"27922004-5251-4030-b22d-91ecd9a37ea4", "Outlook Mobile"}
	appMySignins    = appRef{"19db86c3-b2b9-44cc-b339-36da233a3be2", "My Signins"}
	appPortal       = appRef{"c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal"}
	appAzPowerShell = appRef{"1950a258-227b-4e31-a9cf-717495945fc2", "Microsoft Azure PowerShell"}
	appAzCLI        = appRef{"04b07795-8ddb-461a-bbee-02f9e1bf7b46", "Microsoft Azure CLI"}
	appGraphExpl    = appRef{"de8bc8b5-d9f9-48b1-a8ad-b748da725064", "Graph Explorer"}
	appExoPS        = appRef{"fb78d390-0c51-40cd-8e17-fdbfab77341b", "Microsoft Exchange REST API Based Powershell"}
	appAADPS        = appRef{"1b730954-1685-4b74-9bfd-dac224a7b894", "Azure Active Directory PowerShell"}
	appBroker       = appRef{"29d9ed98-a469-4536-ade2-f981bc1d605e", "Microsoft Authentication Broker"}
	appOneDrive     = appRef{"ab9b8c07-8f02-4f72-87fa-80105867a763", "OneDrive SyncEngine"}
	appCompanyPort  = appRef{"9ba1a5c7-f17a-4de9-a1f1-6178c8d51223", "Microsoft Intune Company Portal"}
	appPayrollWeb   = appRef{"5b1c7d3e-2f4a-4c8e-9d6b-0a1e2f3c4d5e", "Payroll Web"}

	resGraph      = appRef{"00000003-0000-0000-c000-000000000000", "Microsoft Graph"}
	resExchange   = appRef{"00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online"}
	resSharePoint = appRef{"00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online"}
	resARM        = appRef{"797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API"}
	resAAD        = appRef{"00000002-0000-0000-c000-000000000000", "Windows Azure Active Directory"}
	resTeams      = appRef{"cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "Microsoft Teams Services"}
	resIntune     = appRef{"0000000a-0000-0000-c000-000000000000", "Microsoft Intune"}
	resPayroll    = appRef{"8d2e4f60-1a3b-4c5d-8e7f-9a0b1c2d3e4f", "Payroll API"}
)

// Indexes of DemoTenant().Locations used by scenarios.
const (
	locBerlin = iota
	locMunich
	locLondon
	locManchester
	locRedmond
	locNewYork
	locParis
	locAmsterdam
	locZurich
	locKrakow
	locToronto
	locBengaluru
	locAzureWestEurope // Microsoft datacenter: service principals
	locSaoPaulo        // unusual: a risky sign-in
	locBucharest       // unusual: an attacker's residential proxy
	locHosting         // a VPS provider: password spray
	numHomeLocations   = locAzureWestEurope
)

var demoLocations = []Location{
	{"Berlin", "Berlin", "DE", 52.52, 13.405, 3320, "Deutsche Telekom AG", "87.123.40.", "2003:e8:2f10:"},
	{"Munich", "Bavaria", "DE", 48.1351, 11.582, 3209, "Vodafone GmbH", "188.192.14.", "2a02:8070:a1c0:"},
	{"London", "England", "GB", 51.5072, -0.1276, 2856, "British Telecommunications PLC", "86.140.21.", "2a00:23c7:8b04:"},
	{"Manchester", "England", "GB", 53.4808, -2.2426, 5089, "Virgin Media Limited", "82.14.73.", "2a02:c7c:5e28:"},
	{"Redmond", "Washington", "US", 47.674, -122.1215, 7922, "Comcast Cable Communications, LLC", "73.53.118.", "2601:602:9b00:"},
	{"New York", "New York", "US", 40.7128, -74.006, 701, "Verizon Business", "72.229.28.", "2600:4040:2c1a:"},
	{"Paris", "Ile-de-France", "FR", 48.8566, 2.3522, 3215, "Orange S.A.", "90.3.112.", "2a01:cb00:8a1:"},
	{"Amsterdam", "Noord-Holland", "NL", 52.3676, 4.9041, 1136, "KPN B.V.", "77.161.90.", "2a02:a440:3e2:"},
	{"Zürich", "Zurich", "CH", 47.3769, 8.5417, 3303, "Swisscom (Schweiz) AG", "85.1.66.", "2a02:1210:2c7e:"},
	{"Kraków", "Malopolskie", "PL", 50.0647, 19.945, 5617, "Orange Polska Spolka Akcyjna", "83.24.141.", ""},
	{"Toronto", "Ontario", "CA", 43.6532, -79.3832, 812, "Rogers Communications Canada Inc.", "99.226.45.", ""},
	{"Bengaluru", "Karnataka", "IN", 12.9716, 77.5946, 24560, "Bharti Airtel Ltd.", "122.171.22.", ""},
	{"Amsterdam", "Noord-Holland", "NL", 52.3676, 4.9041, 8075, "Microsoft Corporation", "20.61.12.", ""},
	{"São Paulo", "Sao Paulo", "BR", -23.5505, -46.6333, 28573, "Claro NXT Telecomunicacoes Ltda", "177.92.40.", ""},
	{"Bucharest", "Bucuresti", "RO", 44.4268, 26.1025, 8708, "RCS & RDS SA", "86.124.190.", ""},
	{"Frankfurt am Main", "Hesse", "DE", 50.1109, 8.6821, 14061, "DigitalOcean, LLC", "164.92.178.", ""},
}

// User agents and the browser/OS Entra derives from them.
type agent struct{ ua, browser, os string }

var (
	uaEdgeWin     = agent{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0", "Edge 122.0.0", "Windows10"}
	uaChromeWin   = agent{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", "Chrome 122.0.0", "Windows10"}
	uaChromeMac   = agent{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", "Chrome 122.0.0", "MacOs"}
	uaSafariIOS   = agent{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Mobile/15E148 Safari/604.1", "Mobile Safari 17.3", "Ios"}
	uaChromeDroid = agent{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.64 Mobile Safari/537.36", "Chrome Mobile 122.0.6261", "Android"}
	uaFirefoxWin  = agent{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0", "Firefox 123.0", "Windows10"}
	uaFirefoxLnx  = agent{"Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0", "Firefox 123.0", "Linux"}
	uaOutlookWin  = agent{"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)", "Rich Client 16.0.17328", "Windows10"}
	uaTeamsWin    = agent{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0 Teams/24033.811.2738.2546", "Edge 120.0.0", "Windows10"}
	uaOutlookIOS  = agent{"Outlook-iOS/2.0", "Rich Client 4.2409.0", "Ios"}
	uaPowerShell  = agent{"Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.22621.2428", "Rich Client 5.1.22621", "Windows10"}
	uaLegacy      = agent{"BAV2ROPC", "", ""}
	uaActiveSync  = agent{"Apple-iPhone15C2/2103.244", "", "Ios"}
	uaPython      = agent{"python-requests/2.31.0", "", ""}
)

// name-based GUIDs keep every object ID of the demo tenant stable.
func nameGUID(name string) string {
	sum := sha1.Sum([]byte("privtrail-synth/" + name))
	sum[6] = sum[6]&0x0f | 0x50 // version 5
	sum[8] = sum[8]&0x3f | 0x80 // RFC 4122 variant
	var b [36]byte
	appendGUIDBytes(b[:0], sum[:16])
	return string(b[:])
}

// DemoTenant is the fictional tenant "contoso.example": about 200 users,
// among them 14 privileged admins (13 named adm_*, one who breaks the
// naming pattern; one on a New York night shift), two emergency access
// accounts, guests, service
// principals and two high-value applications ("Payroll API" and
// "Microsoft Graph").
func DemoTenant() Tenant {
	t := Tenant{
		ID:               "3f0c8a52-6d1e-4b7a-9c25-8e4f1d2a7b96",
		Domain:           "contoso.example",
		DisplayName:      "Contoso",
		PartnerTenantID:  "b8e4c1d2-7a3f-4e96-8c05-d1f2a3b4c5e6",
		SubscriptionID:   "6c2a9e71-4d8b-4f3a-b5c6-7e8f9a0b1c2d",
		HighValueApps:    []string{resPayroll.Name, resGraph.Name},
		ApprovedInviters: []string{"adm_alice@contoso.example", "hr-onboarding@contoso.example"},
		Locations:        demoLocations,
		Offices:          []int{locBerlin, locMunich, locLondon, locManchester, locRedmond, locNewYork},
		// The admins' approved sign-in controls (signin.unapproved_controls).
		ApprovedCountries: []string{"DE", "US", "GB"},
		ApprovedBrowsers:  []string{"Edge", "Chrome"},
		ApprovedOS:        []string{"Windows 10", "Windows 11", "macOS"},
	}
	t.CAPolicies = []CAPolicy{
		{nameGUID("ca/admins"), "CA001: Admins - require MFA and compliant device", []string{"Mfa", "RequireCompliantDevice"}},
		{nameGUID("ca/all-mfa"), "CA002: All users - require MFA", []string{"Mfa"}},
		{nameGUID("ca/legacy"), "CA003: Block legacy authentication", []string{"Block"}},
		{nameGUID("ca/countries"), "CA004: Block countries not allowed", []string{"Block"}},
	}
	helpdesk := Group{nameGUID("group/tier1-helpdesk"), "SG-Role-Tier1-Helpdesk", true}
	t.Groups = []Group{
		helpdesk,
		{nameGUID("group/all-staff"), "All Staff", false},
		{nameGUID("group/finance"), "Finance", false},
		{nameGUID("group/engineering"), "Engineering", false},
	}
	t.ServicePrincipals = []ServicePrincipal{
		{nameGUID("sp/payroll-api"), resPayroll.ID, resPayroll.Name, nameGUID("app/payroll-api")},
		{nameGUID("sp/hr-sync"), "2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5f7a", "Contoso HR Sync", nameGUID("app/hr-sync")},
		{nameGUID("sp/backup"), "6e8a0c2d-4f6b-4d8e-a0c2-e4f6a8b0c2d4", "Contoso Backup Agent", nameGUID("app/backup")},
		{nameGUID("sp/terraform"), "a1c3e5f7-9b1d-4f3a-8c5e-7a9b1c3d5e7f", "Terraform Deployment", nameGUID("app/terraform")},
		{nameGUID("sp/monitoring"), "d4f6a8c0-2e4a-4c6e-b8d0-f2a4c6e8a0b2", "Monitoring Collector", nameGUID("app/monitoring")},
		{nameGUID("sp/wiki-bot"), "f0a2c4e6-8b0d-4f2a-9c4e-6a8c0e2a4c6e", "Contoso Wiki Bot", nameGUID("app/wiki-bot")},
		{nameGUID("sp/ms-pim"), "01fc33a7-78ba-4d2f-a4b7-768e336e890e", "MS-PIM", ""},
		{nameGUID("sp/graph"), resGraph.ID, resGraph.Name, ""},
	}

	admin := func(login, display string, home int, roles ...RoleAssignment) User {
		u := User{UPN: login + "@" + t.Domain, DisplayName: display, UserType: "Member", Roles: roles, Home: home}
		u.ID = nameGUID("user/" + u.UPN)
		short := strings.ToUpper(strings.TrimPrefix(strings.SplitN(login, ".", 2)[0], "adm_"))
		if len(short) > 6 {
			short = short[:6]
		}
		u.Devices = []Device{
			{nameGUID("device/paw/" + login), "PAW-" + short + "01", "Windows10", uaEdgeWin.browser, uaEdgeWin.ua, "Azure AD joined", true, true, true},
			{nameGUID("device/laptop/" + login), "LT-" + short, "Windows10", uaChromeWin.browser, uaChromeWin.ua, "Hybrid Azure AD joined", true, true, false},
		}
		return u
	}
	active := func(name string) RoleAssignment { return RoleAssignment{role(name), "active", "direct"} }
	eligible := func(name string) RoleAssignment { return RoleAssignment{role(name), "eligible", "direct"} }
	viaGroup := func(name string, g Group) RoleAssignment {
		return RoleAssignment{role(name), "active", "group:" + g.ID}
	}

	t.Users = append(t.Users,
		admin("adm_alice", "Alice Nguyen (admin)", locBerlin, eligible("Global Administrator"), active("Privileged Role Administrator")),
		admin("adm_bob", "Bob Fischer (admin)", locBerlin, active("Security Administrator")),
		admin("adm_carol", "Carol Osei (admin)", locLondon, eligible("Privileged Authentication Administrator")),
		admin("adm_dmitri", "Dmitri Volkov (admin)", locMunich, active("Hybrid Identity Administrator")),
		admin("adm_elena", "Elena Rossi (admin)", locBerlin, active("User Administrator")),
		admin("adm_farid", "Farid Haddad (admin)", locLondon, eligible("Exchange Administrator")),
		admin("adm_grace", "Grace Kim (admin)", locLondon, eligible("Application Administrator"), eligible("Cloud Application Administrator")),
		admin("adm_hiro", "Hiro Tanaka (admin)", locBerlin, active("Conditional Access Administrator")),
		admin("adm_ines", "Inês Carvalho (admin)", locMunich, eligible("Authentication Administrator")),
		admin("adm_jamal", "Jamal Wright (admin)", locLondon, viaGroup("Helpdesk Administrator", helpdesk)),
		admin("adm_kofi", "Kofi Mensah (admin)", locLondon, eligible("Intune Administrator")),
		admin("adm_lena", "Lena Berg (admin)", locBerlin, eligible("SharePoint Administrator")),
		// Breaks the ADM_ naming pattern: an old mail admin nobody moved
		// to a dedicated admin account.
		admin("marcus.webb", "Marcus Webb", locManchester, active("Exchange Administrator")),
	)
	t.user("adm_lena@contoso.example").Disabled = true // left in February; role not yet removed
	for _, bg := range []string{"breakglass1", "breakglass2"} {
		u := User{UPN: bg + "@" + t.Domain, DisplayName: "Emergency Access " + bg[len(bg)-1:], UserType: "Member", Emergency: true, Home: locBerlin,
			Roles: []RoleAssignment{active("Global Administrator")}}
		u.ID = nameGUID("user/" + u.UPN)
		t.Users = append(t.Users, u)
	}
	// Known to the role map, but no privileged role.
	reports := User{UPN: "priya.shah@contoso.example", DisplayName: "Priya Shah", UserType: "Member", Home: locLondon,
		Roles: []RoleAssignment{active("Reports Reader"), active("Message Center Reader")}}
	hr := User{UPN: "hr-onboarding@contoso.example", DisplayName: "HR Onboarding", UserType: "Member", Home: locBerlin}
	for _, u := range []User{reports, hr} {
		u.ID = nameGUID("user/" + u.UPN)
		u.Devices = memberDevices(u.UPN, 0)
		t.Users = append(t.Users, u)
	}

	// Ordinary staff, drawn once from a fixed seed.
	r := rand.New(rand.NewPCG(20260302, 1))
	seen := map[string]bool{}
	for _, u := range t.Users {
		seen[u.UPN] = true
	}
	homes := []int{locBerlin, locBerlin, locBerlin, locMunich, locMunich, locLondon, locLondon, locManchester,
		locRedmond, locNewYork, locParis, locAmsterdam, locZurich, locKrakow, locToronto, locBengaluru}
	for len(t.Users) < 194 {
		fi, li := r.IntN(len(firstNames)), r.IntN(len(lastNames))
		display := firstNames[fi][0] + " " + lastNames[li][0]
		upn := firstNames[fi][1] + "." + lastNames[li][1] + "@" + t.Domain
		if seen[upn] {
			continue
		}
		seen[upn] = true
		u := User{ID: nameGUID("user/" + upn), UPN: upn, DisplayName: display, UserType: "Member", Home: homes[r.IntN(len(homes))]}
		u.Devices = memberDevices(upn, r.IntN(4))
		t.Users = append(t.Users, u)
	}
	for _, g := range [][3]string{
		{"Lena Ortiz", "lena.ortiz", "fabrikam.example"},
		{"Tomás Ruiz", "tomas.ruiz", "fabrikam.example"},
		{"Aiko Sato", "aiko.sato", "northwind.example"},
		{"Ben Carter", "ben.carter", "tailspin.example"},
		{"Noor Aziz", "noor.aziz", "fabrikam.example"},
		{"Sven Larsen", "sven.larsen", "northwind.example"},
	} {
		upn := g[1] + "_" + g[2] + "#EXT#@" + t.Domain
		u := User{ID: nameGUID("user/" + upn), UPN: upn, DisplayName: g[0] + " (" + strings.TrimSuffix(g[2], ".example") + ")",
			UserType: "Guest", Home: []int{locParis, locNewYork, locToronto}[len(t.Users)%3]}
		u.Devices = []Device{{"", "", "Windows10", uaChromeWin.browser, uaChromeWin.ua, "", false, false, false}}
		t.Users = append(t.Users, u)
	}
	// The night-shift admin in New York, added last so that the users
	// above (and the demo records about them) keep their indexes.
	t.Users = append(t.Users, admin("adm_nora", "Nora Castillo (admin)", locNewYork, active("Helpdesk Administrator")))
	for i := range t.Users {
		t.Users[i].ipHost = 10 + i
	}
	t.WorkHours = demoWorkHours(&t, helpdesk)
	return t
}

// memberDevices gives a staff member a laptop and a phone (kind picks the
// platform mix).
func memberDevices(upn string, kind int) []Device {
	local := strings.ToUpper(strings.ReplaceAll(strings.SplitN(upn, "@", 2)[0], ".", ""))
	if len(local) > 8 {
		local = local[:8]
	}
	laptop := Device{nameGUID("device/laptop/" + upn), "LT-" + local, "Windows10", uaEdgeWin.browser, uaEdgeWin.ua, "Azure AD joined", true, true, false}
	phone := Device{nameGUID("device/phone/" + upn), "iPhone", "Ios", uaSafariIOS.browser, uaSafariIOS.ua, "Azure AD registered", true, true, false}
	switch kind {
	case 1:
		laptop.OS, laptop.Browser, laptop.UserAgent, laptop.DisplayName = "MacOs", uaChromeMac.browser, uaChromeMac.ua, "MB-"+local
		laptop.TrustType = "Azure AD registered"
	case 2:
		phone = Device{nameGUID("device/phone/" + upn), "Pixel 8", "Android", uaChromeDroid.browser, uaChromeDroid.ua, "Azure AD registered", false, false, false}
	case 3:
		laptop.TrustType = "Hybrid Azure AD joined"
	}
	return []Device{laptop, phone}
}

// user finds a user by UPN; it panics on an unknown UPN (a bug in a
// scenario, never a run-time condition).
func (t *Tenant) user(upn string) *User {
	for i := range t.Users {
		if t.Users[i].UPN == upn {
			return &t.Users[i]
		}
	}
	panic("synth: no user " + upn)
}

func (t *Tenant) sp(name string) *ServicePrincipal {
	for i := range t.ServicePrincipals {
		if t.ServicePrincipals[i].DisplayName == name {
			return &t.ServicePrincipals[i]
		}
	}
	panic("synth: no service principal " + name)
}

// RoleMapYAML renders the role map file the privilege stage reads: every
// user that holds a role, and the emergency access accounts.
func (t Tenant) RoleMapYAML() []byte {
	var b []byte
	b = append(b, "# Role map of "+t.Domain+" (generated by package synth; do not edit).\n"...)
	b = append(b, "# users with their Entra role assignments\nusers:\n"...)
	for _, u := range t.Users {
		if len(u.Roles) == 0 {
			continue
		}
		b = append(b, "  - id: "...)
		b = append(b, u.ID...)
		b = append(b, "\n    upn: "...)
		b = appendYAMLString(b, u.UPN)
		b = append(b, "\n    display_name: "...)
		b = appendYAMLString(b, u.DisplayName)
		b = append(b, "\n    roles:\n"...)
		for _, r := range u.Roles {
			b = append(b, "      - name: "...)
			b = appendYAMLString(b, r.Role.Name)
			b = append(b, "\n        template_id: "...)
			b = append(b, r.Role.TemplateID...)
			b = append(b, "\n        assignment: "...)
			b = append(b, r.Assignment...)
			b = append(b, "\n        via: "...)
			b = append(b, r.Via...)
			b = append(b, '\n')
		}
	}
	b = append(b, "# emergency access (\"break-glass\") accounts\nemergency_access:\n"...)
	for _, u := range t.Users {
		if u.Emergency {
			b = append(b, "  - id: "...)
			b = append(b, u.ID...)
			b = append(b, "\n    upn: "...)
			b = appendYAMLString(b, u.UPN)
			b = append(b, '\n')
		}
	}
	return b
}

// appendYAMLString writes s plain when it is made of characters YAML
// reads back unchanged, and double-quoted (JSON escapes are valid YAML)
// otherwise.
func appendYAMLString(b []byte, s string) []byte {
	plain := s != "" && s[0] != '@' && s[0] != '-' && s[0] != ' ' && s[len(s)-1] != ' '
	for i := 0; plain && i < len(s); i++ {
		c := s[i]
		plain = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(" ._@()-", c) >= 0
	}
	if plain {
		return append(b, s...)
	}
	return appendJSONString(b, s)
}

// Staff names: display form and the ASCII form used in UPNs.
var firstNames = [][2]string{
	{"Anna", "anna"}, {"Ben", "ben"}, {"Clara", "clara"}, {"David", "david"}, {"Emma", "emma"},
	{"Felix", "felix"}, {"Greta", "greta"}, {"Hannah", "hannah"}, {"Isaac", "isaac"}, {"Jonas", "jonas"},
	{"Katja", "katja"}, {"Liam", "liam"}, {"Maja", "maja"}, {"Noah", "noah"}, {"Olivia", "olivia"},
	{"Paul", "paul"}, {"Rosa", "rosa"}, {"Samuel", "samuel"}, {"Tara", "tara"}, {"Umar", "umar"},
	{"Vera", "vera"}, {"William", "william"}, {"Yusuf", "yusuf"}, {"Zoë", "zoe"}, {"Jürgen", "juergen"},
	{"Siobhán", "siobhan"}, {"Łukasz", "lukasz"}, {"Chloé", "chloe"}, {"Mei", "mei"}, {"Arjun", "arjun"},
	{"Fatima", "fatima"}, {"Kwame", "kwame"}, {"Sofia", "sofia"}, {"Mateo", "mateo"}, {"Nina", "nina"},
}

var lastNames = [][2]string{
	{"Müller", "mueller"}, {"Schmidt", "schmidt"}, {"Schneider", "schneider"}, {"Becker", "becker"}, {"Wagner", "wagner"},
	{"Smith", "smith"}, {"Jones", "jones"}, {"Taylor", "taylor"}, {"Brown", "brown"}, {"Williams", "williams"},
	{"O'Brien", "obrien"}, {"Dubois", "dubois"}, {"Martin", "martin"}, {"de Vries", "devries"}, {"Jansen", "jansen"},
	{"Kowalski", "kowalski"}, {"Nowak", "nowak"}, {"García", "garcia"}, {"López", "lopez"}, {"Rossi", "rossi"},
	{"Patel", "patel"}, {"Sharma", "sharma"}, {"Chen", "chen"}, {"Wang", "wang"}, {"Okafor", "okafor"},
	{"Johansson", "johansson"}, {"Novák", "novak"}, {"Kraus", "kraus"}, {"Lambert", "lambert"}, {"Hughes", "hughes"},
}

// ipv4 returns the user's address at location l (host picks the last octet).
func ipv4(l *Location, host int) string {
	return l.IPv4Prefix + strconv.Itoa(2+host%250)
}

func ipv6(l *Location, host int) string {
	if l.IPv6Prefix == "" {
		return ipv4(l, host)
	}
	return l.IPv6Prefix + strconv.FormatInt(int64(0x100+host), 16) + ":" + strconv.FormatInt(int64(0x1000+host*7), 16) + ":" + strconv.FormatInt(int64(0x2a00+host*13), 16) +
		":" + strconv.FormatInt(int64(0x3b00+host*17), 16) + ":" + strconv.FormatInt(int64(0x4c00+host*19), 16)
}
