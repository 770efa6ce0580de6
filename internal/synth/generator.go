package synth

import (
	"bytes"
	"io"
	"math/rand/v2"
	"time"
)

// Start is the time of the first generated record: Monday 2 March 2026,
// 07:00 UTC.
var Start = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

// Generator writes an endless, deterministic stream of realistic Entra log
// records about one tenant: about 80% sign-ins, 18% directory audits, 1%
// Azure Activity and 1% Domain Services events. Sign-ins and audits
// alternate between the Microsoft Graph shape and the diagnostic-settings
// envelope. The same seed and tenant give byte-identical output.
//
// A Generator is not safe for concurrent use.
type Generator struct {
	t   Tenant
	r   *rand.Rand
	ns  int64 // time of the last record, Unix nanoseconds
	buf []byte
	n   [4]uint64 // records per stream so far: signin, audit, activity, aadds

	members, admins, guests, emergency []int // indexes into t.Users
	ip4, ip6                           []string
	spUsers                            []int // indexes into t.ServicePrincipals that sign in

	// quiet leaves PIM activations and fraud reports out of the random
	// audits (the demo crafts those).
	quiet bool

	si      signIn
	au      audit
	targets []target
	details []kv
}

// New returns a generator for tenant seeded with seed.
func New(seed int64, tenant Tenant) *Generator {
	tenant.frag = newFragments(&tenant)
	g := &Generator{
		t:  tenant,
		r:  rand.New(rand.NewPCG(uint64(seed), 0x5eed_e17a_0000_0001)),
		ns: Start.UnixNano(),
	}
	for i := range tenant.Users {
		u := &tenant.Users[i]
		loc := &tenant.Locations[u.Home%len(tenant.Locations)]
		g.ip4 = append(g.ip4, ipv4(loc, i))
		g.ip6 = append(g.ip6, ipv6(loc, i))
		switch {
		case u.Emergency:
			g.emergency = append(g.emergency, i)
		case u.Disabled:
		case u.Privileged():
			g.admins = append(g.admins, i)
		case u.UserType == "Guest":
			g.guests = append(g.guests, i)
		default:
			g.members = append(g.members, i)
		}
	}
	for i, sp := range tenant.ServicePrincipals {
		if sp.AppObjectID != "" {
			g.spUsers = append(g.spUsers, i)
		}
	}
	return g
}

// Next returns one record as compact JSON, without a trailing newline.
func (g *Generator) Next() []byte {
	g.buf = g.AppendNext(g.buf[:0])
	return bytes.Clone(g.buf)
}

// AppendNext appends one record to dst, like Next without the copy.
func (g *Generator) AppendNext(dst []byte) []byte {
	g.ns += 1e9 + g.r.Int64N(4e7)*100 // 1–5 s later, in 100 ns ticks
	at := time.Unix(0, g.ns).UTC()
	roll := g.r.IntN(100)
	switch {
	case roll < 80:
		graph := g.n[0]%2 == 0
		g.n[0]++
		g.randomSignIn(&g.si, at)
		return g.t.appendSignIn(dst, &g.si, graph)
	case roll < 98:
		graph := g.n[1]%2 == 0
		g.n[1]++
		g.randomAudit(&g.au, at)
		return g.t.appendAudit(dst, &g.au, graph)
	case roll < 99:
		g.n[2]++
		var a activity
		g.randomActivity(&a, at)
		return g.t.appendActivity(dst, &a)
	default:
		g.n[3]++
		var a aadds
		g.randomAADDS(&a, at)
		return g.t.appendAADDS(dst, &a, g.t.aaddsResourceID(), netbiosName(g.t.Domain))
	}
}

// WriteJSONLines writes n records to w, one per line. It writes in chunks
// of about 1 MiB.
func (g *Generator) WriteJSONLines(w io.Writer, n int) error {
	const chunk = 1 << 20
	buf := make([]byte, 0, chunk+64<<10)
	for i := 0; i < n; i++ {
		buf = g.AppendNext(buf)
		buf = append(buf, '\n')
		if len(buf) >= chunk {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

func (g *Generator) guid() guid { return guid{g.r.Uint64(), g.r.Uint64()} }

func (g *Generator) chance(perTenThousand int) bool { return g.r.IntN(10000) < perTenThousand }

// Conditional Access results per policy (in Tenant.CAPolicies order) for
// the usual situations.
var (
	caMemberOK      = []string{"notApplied", "success", "notApplied", "notApplied"}
	caMemberMFAFail = []string{"notApplied", "failure", "notApplied", "notApplied"}
	caAdminOK       = []string{"success", "success", "notApplied", "notApplied"}
	caAdminMFAFail  = []string{"failure", "failure", "notApplied", "notApplied"}
	caCountryBlock  = []string{"notApplied", "success", "notApplied", "failure"}
	caLegacyBlock   = []string{"notApplied", "notApplied", "failure", "notApplied"}
	caNone          = []string{"notApplied", "notApplied", "notApplied", "notApplied"}
	// An admin on a device that is not compliant: CA001's device control fails.
	caAdminDevice = []string{"failure", "success", "notApplied", "notApplied"}
)

// appUse is a client application used against a resource.
type appUse struct {
	app, res  appRef
	client    string // clientAppUsed
	ua        agent  // the zero agent: the device's browser
	mobileUA  agent  // on a phone, when the app has a mobile client
	noPhone   bool   // desktop or admin tooling only
	protocol  string
	adminOnly bool
}

const desktop = "Mobile Apps and Desktop clients"

var (
	uaOneDrive = agent{"Microsoft SkyDriveSync 24.020.0128.0003 ship; Windows NT 10.0 (19045)", "Rich Client 24.20.128", "Windows10"}

	memberApps = []appUse{
		{app: appOffice, res: resSharePoint, client: "Browser"},
		{app: appOfficeHome, res: resSharePoint, client: "Browser"},
		{app: appOWA, res: resExchange, client: "Browser"},
		{app: appTeams, res: resTeams, client: desktop, ua: uaTeamsWin, mobileUA: agent{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 TeamsMobile-iOS", "Rich Client 6.2.0", "Ios"}},
		{app: appOffice, res: resExchange, client: desktop, ua: uaOutlookWin, mobileUA: uaOutlookIOS},
		{app: appOutlookMob, res: resExchange, client: desktop, ua: uaOutlookIOS, mobileUA: uaOutlookIOS},
		{app: appMySignins, res: resGraph, client: "Browser"},
		{app: appPayrollWeb, res: resPayroll, client: "Browser"},
		{app: appCompanyPort, res: resIntune, client: desktop, ua: uaEdgeWin, mobileUA: agent{"CompanyPortal/5.0.6010.0 (iOS 17.3.1)", "Rich Client 5.0.6010", "Ios"}},
	}
	adminApps = []appUse{
		{app: appPortal, res: resARM, client: "Browser", noPhone: true},
		{app: appPortal, res: resAAD, client: "Browser", noPhone: true},
		{app: appAzPowerShell, res: resARM, client: desktop, ua: uaPowerShell, noPhone: true},
		{app: appGraphExpl, res: resGraph, client: "Browser", noPhone: true},
		{app: appExoPS, res: resExchange, client: desktop, ua: uaPowerShell, noPhone: true},
		{app: appAzCLI, res: resARM, client: desktop, ua: agent{"python/3.11.8 (Windows-10-10.0.22631-SP0) AZURECLI/2.58.0 (MSI)", "", "Windows10"}, noPhone: true},
		{app: appOffice, res: resSharePoint, client: "Browser"},
	}
	backgroundApps = []appUse{
		{app: appBroker, res: resGraph, client: desktop, ua: uaEdgeWin},
		{app: appOneDrive, res: resSharePoint, client: desktop, ua: uaOneDrive, noPhone: true},
		{app: appTeams, res: resTeams, client: desktop, ua: uaTeamsWin},
		{app: appOffice, res: resExchange, client: desktop, ua: uaOutlookWin, mobileUA: uaOutlookIOS},
		{app: appOfficeHome, res: resSharePoint, client: "Browser"},
		{app: appPortal, res: resARM, client: "Browser", adminOnly: true, noPhone: true},
	}
	riskUnfamiliar = []string{"unfamiliarFeatures"}
	legacyClients  = []string{"Exchange ActiveSync", "Authenticated SMTP", "IMAP4", "Other clients", "POP3", "Exchange Web Services"}
)

// resource each service principal calls.
func spResource(name string) appRef {
	switch name {
	case "Terraform Deployment":
		return resARM
	case "Contoso Backup Agent":
		return resExchange
	case "Contoso HR Sync":
		return resAAD
	}
	return resGraph
}

// fillUserSignIn sets who, where and from what device a user signs in.
func (g *Generator) fillUserSignIn(s *signIn, ui int, use *appUse, travel bool) {
	u := &g.t.Users[ui]
	s.User, s.SP, s.userIdx = u, nil, ui
	s.App, s.Res, s.ClientApp, s.Protocol = use.app, use.res, use.client, use.protocol
	loc := &g.t.Locations[u.Home%len(g.t.Locations)]
	s.IP = g.ip4[ui]
	if travel {
		li := g.r.IntN(numHomeLocations)
		loc = &g.t.Locations[li]
		s.IP = ipv4(loc, ui)
	} else if g.r.IntN(5) == 0 {
		s.IP = g.ip6[ui]
	}
	s.Loc = loc
	s.Device = Device{}
	if len(u.Devices) > 0 {
		d := 0
		if u.Privileged() {
			if g.r.IntN(100) < 12 && len(u.Devices) > 1 {
				d = 1 // admin on their everyday laptop
			}
		} else if !use.noPhone && len(u.Devices) > 1 && g.r.IntN(100) < 28 {
			d = 1
		}
		if u.Privileged() || g.r.IntN(100) < 92 {
			s.Device = u.Devices[d]
		} else {
			s.Device = Device{OS: u.Devices[d].OS, Browser: u.Devices[d].Browser, UserAgent: u.Devices[d].UserAgent}
		}
	}
	ag := agent{s.Device.UserAgent, s.Device.Browser, s.Device.OS}
	if s.Device.OS == "Ios" || s.Device.OS == "Android" {
		if use.mobileUA.ua != "" {
			ag = use.mobileUA
		}
	} else if use.ua.ua != "" {
		ag = use.ua
	}
	s.UserAgent, s.Browser, s.OS = ag.ua, ag.browser, ag.os
	if s.OS == "" {
		s.OS = s.Device.OS
	}
	s.HomeTenant, s.ResourceTenant, s.CrossTenant = "", "", ""
	if u.UserType == "Guest" {
		s.HomeTenant, s.CrossTenant = g.t.PartnerTenantID, "b2bCollaboration"
	}
}

func (g *Generator) randomSignIn(s *signIn, at time.Time) {
	s.At = at
	s.ID, s.Correlation, s.Request = g.guid(), g.guid(), g.guid()
	s.ProcessingMs = 40 + g.r.IntN(260)
	s.Details = ""
	s.RiskState, s.RiskLevel, s.RiskAggregated, s.RiskDetail, s.RiskEvents = "", "", "", "", nil

	kind := g.r.IntN(100)
	if kind < 10 && len(g.spUsers) > 0 {
		g.randomSPSignIn(s)
		return
	}
	var ui int
	roll := g.r.IntN(100000)
	switch {
	case roll < 2 && len(g.emergency) > 0:
		ui = g.emergency[g.r.IntN(len(g.emergency))]
	case roll < 6000 && len(g.admins) > 0:
		ui = g.admins[g.r.IntN(len(g.admins))]
	case roll < 8000 && len(g.guests) > 0:
		ui = g.guests[g.r.IntN(len(g.guests))]
	default:
		ui = g.members[g.r.IntN(len(g.members))]
	}
	u := &g.t.Users[ui]
	admin := u.Privileged() && !u.Emergency
	travel := g.r.IntN(100) < 5 && !u.Emergency
	if kind < 55 {
		s.Kind = nonInteractive
		use := &backgroundApps[g.r.IntN(len(backgroundApps))]
		if use.adminOnly && !admin {
			use = &backgroundApps[0]
		}
		g.fillUserSignIn(s, ui, use, travel)
		g.nonInteractiveOutcome(s, admin)
	} else {
		s.Kind = interactive
		var use *appUse
		if admin && g.r.IntN(100) < 70 {
			use = &adminApps[g.r.IntN(len(adminApps))]
		} else {
			use = &memberApps[g.r.IntN(len(memberApps))]
		}
		g.fillUserSignIn(s, ui, use, travel)
		if (!admin && g.chance(30)) || (admin && g.chance(3)) {
			s.ClientApp, s.Protocol = legacyClients[g.r.IntN(len(legacyClients))], "ropc"
			s.UserAgent, s.Browser, s.OS = uaLegacy.ua, "", ""
			s.Device = Device{}
			if s.ClientApp == "Exchange ActiveSync" {
				s.UserAgent, s.OS = uaActiveSync.ua, uaActiveSync.os
			}
			s.App, s.Res = appRef{"00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online"}, resExchange
		}
		g.interactiveOutcome(s, admin)
	}
	if u.Emergency {
		// Excluded from Conditional Access by design; signs in with a key.
		s.Error, s.CAStatus, s.CA, s.Auth = 0, "notApplied", caNone, authFIDO
	}
	if s.Kind == interactive && s.Error == 0 && !admin && g.chance(25) {
		s.RiskState, s.RiskLevel, s.RiskAggregated, s.RiskDetail = "atRisk", "low", "low", "none"
		s.RiskEvents = riskUnfamiliar
	}
	if s.Error == 0 && g.chance(40) && u.UserType == "Member" && !u.Emergency {
		s.ResourceTenant, s.CrossTenant = g.t.PartnerTenantID, "b2bCollaboration"
	}
}

func (g *Generator) interactiveOutcome(s *signIn, admin bool) {
	legacy := s.Protocol == "ropc"
	s.AuthRequirement = "multiFactorAuthentication"
	okCA := caMemberOK
	if admin {
		okCA = caAdminOK
	}
	roll := g.r.IntN(10000)
	if admin {
		roll = g.r.IntN(40000) // admins fail a quarter as often
	}
	switch {
	case legacy:
		s.Error, s.CAStatus, s.CA, s.Auth = 53003, "failure", caLegacyBlock, authPwdOnly
		s.AuthRequirement = "singleFactorAuthentication"
		if roll < 1500 {
			s.Error, s.CAStatus, s.CA, s.Auth = 50126, "notApplied", caNone, authPwdBad
		}
	case roll < 300:
		s.Error, s.CAStatus, s.CA, s.Auth = 50126, "notApplied", caNone, authPwdBad
		s.AuthRequirement = "singleFactorAuthentication"
	case roll < 600:
		s.Error, s.CAStatus, s.Auth = 50074, "failure", authNeedMFA
		s.CA = caMemberMFAFail
		if admin {
			s.CA = caAdminMFAFail
		}
	case roll < 750:
		s.Error, s.CAStatus, s.CA, s.Auth = 50076, "failure", caMemberMFAFail, authNeedMFA
	case roll < 950:
		s.Error, s.CAStatus, s.CA, s.Auth = 50140, "success", okCA, authPwdPush
	case roll < 1000:
		s.Error, s.CAStatus, s.Auth = 53003, "failure", authPwdPush
		s.CA = caCountryBlock
		if admin {
			s.CA = caAdminDevice
		}
	case roll < 1030:
		s.Error, s.CAStatus, s.CA, s.Auth = 500121, "failure", caMemberMFAFail, authDenied
		if admin {
			s.CA = caAdminMFAFail
		}
	case roll < 1050:
		s.Error, s.CAStatus, s.CA, s.Auth = 50053, "notApplied", caNone, authLocked
		s.AuthRequirement = "singleFactorAuthentication"
	case roll < 1060:
		s.Error, s.CAStatus, s.CA, s.Auth = 50057, "notApplied", caNone, authNoSteps
		s.AuthRequirement = "singleFactorAuthentication"
	case roll < 1080:
		s.Error, s.CAStatus, s.CA, s.Auth = 50055, "notApplied", caNone, authExpired
		s.AuthRequirement = "singleFactorAuthentication"
	default:
		s.Error, s.CAStatus, s.CA = 0, "success", okCA
		switch r := g.r.IntN(20); {
		case admin && r < 10:
			s.Auth = authFIDO
		case r < 9:
			s.Auth = authPwdPush
		case r < 11:
			s.Auth = authPwdTOTP
		case r < 14 && s.OS == "Windows10" && s.Device.ID != "":
			s.Auth = authWHfB
		default:
			s.Auth = authPrev
		}
	}
}

func (g *Generator) nonInteractiveOutcome(s *signIn, admin bool) {
	s.AuthRequirement = "multiFactorAuthentication"
	s.Auth = authPrev
	s.CAStatus, s.CA = "success", caMemberOK
	if admin {
		s.CA = caAdminOK
	}
	switch roll := g.r.IntN(10000); {
	case roll < 100:
		s.Error, s.CAStatus, s.CA, s.Auth = 700082, "notApplied", caNone, authNoSteps
	case roll < 130:
		s.Error, s.CAStatus, s.CA, s.Auth = 50173, "notApplied", caNone, authNoSteps
	case roll < 150 && !admin:
		s.Error, s.CAStatus, s.CA = 53003, "failure", caCountryBlock
	default:
		s.Error = 0
	}
}

func (g *Generator) randomSPSignIn(s *signIn) {
	sp := &g.t.ServicePrincipals[g.spUsers[g.r.IntN(len(g.spUsers))]]
	s.Kind = servicePrincipal
	s.User, s.SP = nil, sp
	s.App, s.Res = appRef{sp.AppID, sp.DisplayName}, spResource(sp.DisplayName)
	if sp.DisplayName == "Payroll API" {
		s.Res = resGraph
	}
	loc := &g.t.Locations[locAzureWestEurope%len(g.t.Locations)]
	s.Loc, s.IP = loc, ipv4(loc, int(sp.AppID[0]))
	s.Device, s.UserAgent, s.Browser, s.OS, s.ClientApp, s.Protocol = Device{}, "", "", "", "", ""
	s.CAStatus, s.CA, s.Auth, s.AuthRequirement = "notApplied", nil, nil, ""
	s.HomeTenant, s.ResourceTenant, s.CrossTenant = "", "", ""
	s.CredentialKeyID = guid{uint64(sp.AppID[1]) << 40, uint64(sp.AppID[2])<<32 | 0x5ec7}
	switch roll := g.r.IntN(10000); {
	case roll < 60:
		s.Error = 7000215
	case roll < 100:
		s.Error = 7000222
	default:
		s.Error = 0
	}
}

func netbiosName(domain string) string {
	for i := 0; i < len(domain); i++ {
		if domain[i] == '.' {
			domain = domain[:i]
			break
		}
	}
	b := []byte(domain)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
