package synth

import (
	"strconv"
	"strings"
	"time"
)

// DemoEventHub is the demo file of the diagnostic categories beyond
// sign-ins and audits: ID Protection (UserRiskEvents, RiskyUsers), AD FS
// sign-ins (ADFSSignInLogs), the Microsoft Graph activity log
// (MicrosoftGraphActivityLogs) and ProvisioningLogs, one
// diagnostic-settings record per line, as an Event Hubs capture or a
// storage export holds them. Each category's envelope members, property
// names and time formats are those of the public samples in
// entra/testdata/samples/categories.
const DemoEventHub = "eventhub-entra.jsonl"

// defaultUserRole is the ID every member's token lists in its wids claim
// (the default user role), after the user's active directory roles; Graph
// activity records copy the claim into wids.
const defaultUserRole = "b79fbf4d-3ef9-4689-8143-76b194e85509"

// usTime is the envelope time of ID Protection and AD FS records:
// "3/5/2026 6:18:44 AM", UTC.
func usTime(t time.Time) string { return t.UTC().Format("1/2/2006 3:04:05 PM") }

// riskTime is how ID Protection records write their times: milliseconds,
// and an hour without its leading zero ("2026-03-05T6:18:44.512Z").
func riskTime(t time.Time) string {
	t = t.UTC()
	return t.Format("2006-01-02T") + strconv.Itoa(t.Hour()) + t.Format(":04:05.000Z")
}

// trimmedTime is RFC 3339 with the fraction's trailing zeros dropped, as
// Graph activity's timeGenerated and provisioning's activityDateTime have
// it (the envelope's time keeps all seven digits).
func trimmedTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (e *enc) stamp(k string, t time.Time) { e.safe(k, appendTimeString(t)) }

func appendTimeString(t time.Time) string { return string(appendTime(nil, t, false)) }

// hex64 is a 64-hex-digit ID Protection detection ID.
func (g *Generator) hex64() string {
	var b []byte
	for i := 0; i < 4; i++ {
		b = strconv.AppendUint(b, g.r.Uint64()|1<<63, 16)
	}
	return string(b)
}

// tokenString is a 22-character token identifier (uniqueTokenIdentifier,
// signInActivityId).
func tokenString(id guid) string {
	b := appendTokenID(nil, id)
	return string(b[1 : len(b)-1])
}

func (g *Generator) guidString() string { return string(g.guid().append(nil)) }

// riskDetection is a UserRiskEvents record.
type riskDetection struct {
	User                        *User
	ID                          string // 64 hex digits; the envelope's correlationId too
	Request, Correlation        string // of the sign-in; "" for a detection linked to no sign-in
	EventType, Level, State     string
	Detail, Timing, Activity    string
	IP                          string
	Loc                         *Location
	UserAgent                   string
	Activity0, Detected, Update time.Time // activityDateTime, detectedDateTime, lastUpdatedDateTime
	Region                      string    // the envelope's location
}

func (t *Tenant) appendRiskDetection(b []byte, r *riskDetection) []byte {
	e := enc{b: b}
	e.begin()
	e.str("time", usTime(r.Update))
	e.safe("resourceId", "/tenants/"+t.ID+"/providers/microsoft.aadiam")
	e.more(`,"operationName":"User Risk Detection","operationVersion":"1.0","category":"UserRiskEvents"`)
	e.safe("tenantId", t.ID)
	e.more(`,"resultSignature":"None","durationMs":0`)
	e.safe("callerIpAddress", r.IP)
	e.safe("correlationId", r.ID)
	e.str("identity", strings.ToLower(r.User.DisplayName))
	e.more(`,"Level":4`)
	e.safe("location", r.Region)
	e.obj("properties")
	e.safe("id", r.ID)
	e.strNull("requestId", r.Request)
	e.strNull("correlationId", r.Correlation)
	riskType := r.EventType
	if r.EventType != "leakedCredentials" && r.EventType != "anonymizedIPAddress" && r.EventType != "unfamiliarFeatures" {
		riskType = "generic"
	}
	e.safe("riskType", riskType)
	e.safe("riskEventType", r.EventType)
	e.safe("riskState", r.State)
	e.safe("riskLevel", r.Level)
	e.safe("riskDetail", r.Detail)
	e.more(`,"source":"IdentityProtection"`)
	e.safe("detectionTimingType", r.Timing)
	e.safe("activity", r.Activity)
	e.strNull("ipAddress", r.IP)
	if r.Loc == nil {
		e.null("location")
	} else {
		l := r.Loc
		e.obj("location")
		e.str("city", l.City)
		e.str("state", l.State)
		e.str("countryOrRegion", l.Country)
		e.obj("geoCoordinates")
		e.int("altitude", 0)
		e.float("latitude", l.Lat)
		e.float("longitude", l.Lon)
		e.end()
		e.end()
	}
	e.safe("activityDateTime", riskTime(r.Activity0))
	e.safe("detectedDateTime", riskTime(r.Detected))
	e.safe("lastUpdatedDateTime", riskTime(r.Update))
	e.safe("userId", r.User.ID)
	e.str("userDisplayName", r.User.DisplayName)
	e.str("userPrincipalName", r.User.UPN)
	if r.UserAgent == "" {
		e.str("additionalInfo", "[]")
	} else {
		e.str("additionalInfo", `[{"Key":"userAgent","Value":`+string(appendJSONString(nil, r.UserAgent))+`}]`)
	}
	e.more(`,"tokenIssuerType":"AzureAD","resourceTenantId":null`)
	e.safe("homeTenantId", t.ID)
	e.more(`,"userType":"member","crossTenantAccessType":"none"`)
	e.end()
	e.end()
	return e.b
}

// riskyUser is a RiskyUsers record: a user's risk state when it changed.
type riskyUser struct {
	User                 *User
	At                   time.Time // riskLastUpdatedDateTime
	State, Detail, Level string
	Region               string
}

// appendRiskyUser writes a RiskyUsers record. Its id is the user's object
// ID, and so is the envelope's correlationId: two states of one user
// share both.
func (t *Tenant) appendRiskyUser(b []byte, r *riskyUser) []byte {
	e := enc{b: b}
	e.begin()
	e.str("time", usTime(r.At))
	e.safe("resourceId", "/tenants/"+t.ID+"/providers/microsoft.aadiam")
	e.more(`,"operationName":"Risky user","operationVersion":"1.0","category":"RiskyUsers"`)
	e.safe("tenantId", t.ID)
	e.more(`,"resultSignature":"None","durationMs":0`)
	e.safe("correlationId", r.User.ID)
	e.str("identity", strings.ToLower(r.User.DisplayName))
	e.more(`,"Level":4`)
	e.safe("location", r.Region)
	e.obj("properties")
	e.safe("id", r.User.ID)
	e.str("userDisplayName", r.User.DisplayName)
	e.str("userPrincipalName", r.User.UPN)
	e.safe("riskLastUpdatedDateTime", riskTime(r.At))
	e.safe("riskState", r.State)
	e.safe("riskDetail", r.Detail)
	e.safe("riskLevel", r.Level)
	e.more(`,"isGuest":false,"isDeleted":false,"isProcessing":false`)
	e.end()
	e.end()
	return e.b
}

// adfsSignIn is an ADFSSignInLogs record: a sign-in through the tenant's
// on-premises federation server, as Microsoft Entra Connect Health
// uploads it.
type adfsSignIn struct {
	At, Logged  time.Time // createdDateTime; the envelope's time
	User        *User
	IP          string
	ID          string
	Correlation string
	TokenID     string
	Server      string // the AD FS server that handled it
}

// The tenant's AD FS farm and the relying party the demo's sign-in is for
// (an application group: a native client and its web API).
const (
	adfsIssuer      = "sts.contoso.example"
	adfsNativeName  = "Contoso Intranet - Native application"
	adfsAPIName     = "Contoso Intranet - Web API"
	adfsAPIResource = "https://intranet.contoso.example"
)

func (t *Tenant) appendADFSSignIn(b []byte, s *adfsSignIn) []byte {
	created := s.At.UTC().Format("2006-01-02T15:04:05+00:00")
	e := enc{b: b}
	e.begin()
	e.safe("callerIpAddress", s.IP)
	e.more(`,"category":"ADFSSignInLogs"`)
	e.safe("correlationId", s.Correlation)
	e.more(`,"durationMs":"0"`)
	e.str("identity", s.User.DisplayName)
	e.more(`,"level":"4","operationName":"Sign-in activity","operationVersion":"1.0"`)
	e.obj("properties")
	e.more(`"agent":{"agentSubjectType":"notAgentic","agentType":"notAgentic"}`)
	e.str("alternateSignInName", s.User.UPN)
	e.str("appDisplayName", adfsNativeName)
	e.safe("appId", nameGUID("adfs/intranet-native"))
	e.more(`,"appOwnerTenantId":"","appServicePrincipalId":null,"appliedConditionalAccessPolicies":[],"authenticationContextClassReferences":[]`)
	e.more(`,"authenticationDetails":[{"RequestSequence":1,"StatusSequence":0,"authenticationMethod":"Password","authenticationMethodDetail":"Forms Authentication"`)
	e.safe("authenticationStepDateTime", created)
	e.more(`,"authenticationStepRequirement":"","succeeded":true}]`)
	e.more(`,"authenticationProcessingDetails":[{"key":"Server name","value":"` + s.Server + `"},{"key":"IP Addresses Involved in Auth Flow","value":"` + s.IP +
		`"},{"key":"Legacy TLS (TLS 1.0, 1.1, 3DES)","value":"False"},{"key":"Is Legacy Store Used","value":"False"},{"key":"Is CAE Token","value":"False"}]`)
	e.more(`,"authenticationProtocol":"none","authenticationRequirement":"","authenticationRequirementPolicies":[],"clientAppUsed":"Unknown","clientCredentialType":"none","conditionalAccessAudiences":[],"conditionalAccessStatus":"notApplied"`)
	e.safe("correlationId", s.Correlation)
	e.safe("createdDateTime", created)
	e.more(`,"crossTenantAccessType":"none","deviceDetail":{"browser":"","deviceId":"","operatingSystem":""},"flaggedForReview":false,"globalSecureAccessIpAddress":""`)
	e.safe("homeTenantId", t.ID)
	e.more(`,"homeTenantName":""`)
	e.safe("id", s.ID)
	e.more(`,"incomingTokenType":"none"`)
	e.safe("ipAddress", s.IP)
	e.more(`,"ipAddressFromResourceProvider":"","isInteractive":true,"isTenantRestricted":false,"isThroughGlobalSecureAccess":false`)
	e.more(`,"location":{"city":"","countryOrRegion":"","geoCoordinates":{"latitude":0,"longitude":0},"state":""}`)
	e.safe("originalRequestId", s.ID)
	e.more(`,"originalTransferMethod":"none","privateLinkDetails":{},"processingTimeInMilliseconds":0,"redirectUrl":""`)
	e.str("resourceDisplayName", adfsAPIName)
	e.safe("resourceId", adfsAPIResource)
	e.more(`,"resourceOwnerTenantId":"","resourceServicePrincipalId":""`)
	e.safe("resourceTenantId", t.ID)
	e.more(`,"riskDetail":"hidden","riskEventTypes":[],"riskEventTypes_v2":[],"riskLevelAggregated":"hidden","riskLevelDuringSignIn":"hidden","riskState":"none"`)
	e.more(`,"servicePrincipalCredentialKeyId":"","servicePrincipalCredentialThumbprint":"","servicePrincipalId":""`)
	e.str("servicePrincipalName", adfsNativeName)
	e.more(`,"sessionId":"","sessionLifetimePolicies":[],"signInEventTypes":["interactiveUser"]`)
	e.str("signInIdentifier", s.User.UPN)
	e.more(`,"signInTokenProtectionStatus":"none","sourceAppClientId":"","status":{"errorCode":0}`)
	e.safe("tenantId", t.ID)
	e.safe("tokenIssuerName", adfsIssuer)
	e.more(`,"tokenIssuerType":"ADFederationServices","tokenProtectionStatusDetails":{"signInSessionStatus":"none"}`)
	e.safe("uniqueTokenIdentifier", s.TokenID)
	e.more(`,"userAgent":""`)
	e.str("userDisplayName", s.User.DisplayName)
	e.safe("userId", s.User.ID)
	e.str("userPrincipalName", s.User.UPN)
	e.safe("userType", s.User.UserType)
	e.end()
	e.safe("resourceId", "/tenants/"+t.ID+"/providers/Microsoft.aadiam")
	e.more(`,"resultSignature":"SUCCESS","resultType":"0"`)
	e.safe("tenantId", t.ID)
	e.str("time", usTime(s.Logged))
	e.end()
	return e.b
}

// graphCall is one MicrosoftGraphActivityLogs record: a request to
// Microsoft Graph with a user's delegated token.
type graphCall struct {
	At          time.Time
	User        *User
	App         appRef
	IP          string
	UserAgent   string
	Method, URI string
	Status      int
	Size        int
	Scopes      string
	Request     string // requestId = operationId = the envelope's correlationId
	Client      string // clientRequestId
	DurationMs  int
	TokenIssued time.Time
	SignInID    string // signInActivityId: the token's uniqueTokenIdentifier
}

// wids are the template IDs of the user's active directory roles and of
// the default user role, as a token's wids claim lists them.
func wids(u *User) string {
	var out []string
	for _, r := range u.Roles {
		if r.Assignment == "active" {
			out = append(out, r.Role.TemplateID)
		}
	}
	return strings.Join(append(out, defaultUserRole), " ")
}

func (t *Tenant) appendGraphCall(b []byte, c *graphCall) []byte {
	version := "v1.0"
	if strings.HasPrefix(c.URI, "https://graph.microsoft.com/beta/") {
		version = "beta"
	}
	e := enc{b: b}
	e.begin()
	e.more(`"Level":4`)
	e.safe("callerIpAddress", c.IP)
	e.more(`,"category":"MicrosoftGraphActivityLogs"`)
	e.safe("correlationId", c.Request)
	e.int("durationMs", c.DurationMs)
	e.more(`,"location":"West Europe","operationName":"Microsoft Graph Activity"`)
	e.safe("operationVersion", version)
	e.obj("properties")
	e.safe("apiVersion", version)
	e.safe("appId", c.App.ID)
	e.more(`,"atContent":"","clientAuthMethod":"0"`)
	e.safe("clientRequestId", c.Client)
	e.int("durationMs", c.DurationMs)
	e.safe("identityProvider", "https://sts.windows.net/"+t.ID+"/")
	e.safe("ipAddress", c.IP)
	e.more(`,"location":"West Europe"`)
	e.safe("operationId", c.Request)
	e.safe("requestId", c.Request)
	e.safe("requestMethod", c.Method)
	e.str("requestUri", c.URI)
	e.int("responseSizeBytes", c.Size)
	e.int("responseStatusCode", c.Status)
	e.more(`,"roles":null`)
	e.str("scopes", c.Scopes)
	e.more(`,"servicePrincipalId":null`)
	e.safe("signInActivityId", c.SignInID)
	e.safe("tenantId", t.ID)
	e.safe("timeGenerated", trimmedTime(c.At))
	e.safe("tokenIssuedAt", c.TokenIssued.UTC().Format(time.RFC3339))
	e.str("userAgent", c.UserAgent)
	e.safe("userId", c.User.ID)
	e.safe("wids", wids(c.User))
	e.end()
	e.safe("resourceId", "/TENANTS/"+strings.ToUpper(t.ID)+"/PROVIDERS/MICROSOFT.AADIAM")
	e.safe("resultSignature", strconv.Itoa(c.Status))
	e.safe("tenantId", t.ID)
	e.stamp("time", c.At)
	e.end()
	return e.b
}

// provisioning is one ProvisioningLogs record: the provisioning service
// creating a user in a SaaS application (SCIM).
type provisioning struct {
	At                      time.Time
	User                    *User
	GivenName, Surname      string
	ID, Change, Cycle, Job  string
	SourceSystem, TargetSys string // Ids of the source and target systems
	TargetID                string // the user's ID in the target application
	DurationMs              int
}

// The SaaS application the tenant provisions users to.
const (
	provApp       = "Dropbox Business"
	provTarget    = "Dropbox"
	provJobPrefix = "DropboxSCIMOutDelta."
)

func (t *Tenant) appendProvisioning(b []byte, p *provisioning) []byte {
	spID, appID := nameGUID("sp/dropbox-business"), nameGUID("app/dropbox-business")
	u := p.User
	upn := string(appendJSONString(nil, u.UPN))
	e := enc{b: b}
	e.begin()
	e.stamp("time", p.At)
	e.safe("resourceId", "/tenants/"+t.ID+"/providers/Microsoft.aadiam")
	e.more(`,"operationName":"Provisioning activity","operationVersion":"1.0","category":"ProvisioningLogs"`)
	e.safe("tenantId", t.ID)
	e.more(`,"resultType":"Success"`)
	e.int("durationMs", p.DurationMs)
	e.safe("correlationId", p.Change)
	e.safe("identity", p.ID)
	e.more(`,"Level":4`)
	e.obj("properties")
	e.safe("id", p.ID)
	e.safe("activityDateTime", trimmedTime(p.At))
	e.safe("tenantId", t.ID)
	e.safe("jobId", p.Job)
	e.safe("cycleId", p.Cycle)
	e.safe("changeId", p.Change)
	e.more(`,"action":"Create","provisioningAction":"create"`)
	e.more(`,"servicePrincipal":{"Id":"` + spID + `","Name":"` + provApp + `"}`)
	e.more(`,"sourceSystem":{"details":{},"Id":"` + p.SourceSystem + `","Name":"Azure Active Directory"}`)
	e.more(`,"targetSystem":{"details":{"ApplicationId":"` + appID + `","ServicePrincipalId":"` + spID + `","ServicePrincipalDisplayName":"` + provApp +
		`"},"Id":"` + p.TargetSys + `","Name":"` + provTarget + `"}`)
	e.more(`,"initiatedBy":{"Type":"system","Id":"","Name":"Azure AD Provisioning Service"}`)
	e.obj("sourceIdentity")
	e.more(`"identityType":"User"`)
	e.obj("details")
	e.safe("id", u.ID)
	e.more(`,"odatatype":"User"`)
	e.str("DisplayName", u.DisplayName)
	e.raw("UserPrincipalName", upn)
	e.end()
	e.safe("Id", u.ID)
	e.str("Name", u.DisplayName)
	e.end()
	e.more(`,"targetIdentity":{"identityType":"urn:ietf:params:scim:schemas:core:2.0:User","details":{},"Id":"` + p.TargetID + `","Name":""}`)
	e.more(`,"provisioningStatusInfo":{"Status":"success","errorInformation":null},"statusInfo":{"Status":0}`)
	quotedUPN := "'" + u.UPN + "'"
	nick := u.UPN[:strings.IndexByte(u.UPN, '@')]
	e.arr("provisioningSteps")
	e.objItem()
	e.more(`"name":"EntryImportAdd","provisioningStepType":0,"status":0`)
	e.str("description", "Received User "+quotedUPN+" change of type (Add) from Azure Active Directory")
	e.obj("details")
	e.safe("objectId", u.ID)
	e.more(`,"accountEnabled":"True"`)
	e.str("displayName", u.DisplayName)
	e.str("givenName", p.GivenName)
	e.str("mailNickname", nick)
	e.str("surname", p.Surname)
	e.raw("userPrincipalName", upn)
	e.more(`,"IsSoftDeleted":"False","appRoleAssignments":"User"`)
	e.end()
	e.end()
	e.objItem()
	e.more(`"name":"EntrySynchronizationScoping","provisioningStepType":1,"status":0,"description":"Determine if User in scope by evaluating against each scoping filter",` +
		`"details":{"Active in the source system":"True","Assigned to the application":"True","User has the required role":"True","Scoping filter evaluation passed":"True","ScopeEvaluationResult":"{}"}`)
	e.end()
	e.objItem()
	e.more(`"name":"EntrySynchronizationAdd","provisioningStepType":2,"status":0`)
	e.str("description", "User "+quotedUPN+" will be created in "+provTarget+" (User is active and assigned in Azure Active Directory, but no matching User was found in "+provTarget+")")
	e.raw("details", "{}")
	e.end()
	e.objItem()
	e.more(`"name":"EntryExportAdd","provisioningStepType":5,"status":0`)
	e.str("description", "User "+quotedUPN+" was created in "+provTarget)
	e.obj("details")
	e.safe("externalId", u.ID)
	e.raw("userName", upn)
	e.str("namegivenName", p.GivenName)
	e.str("namefamilyName", p.Surname)
	e.more(`,"active":"True"`)
	e.raw("ReportableIdentifier", upn)
	e.end()
	e.end()
	e.endArr()
	e.arr("modifiedProperties")
	for _, kv := range [][2]string{{"externalId", u.ID}, {"userName", u.UPN}, {"name.givenName", p.GivenName}, {"name.familyName", p.Surname}, {"active", "True"}} {
		e.objItem()
		e.str("displayName", kv[0])
		e.null("oldValue")
		e.str("newValue", kv[1])
		e.end()
	}
	e.endArr()
	e.int("durationInMilliseconds", p.DurationMs)
	e.end()
	e.end()
	return e.b
}

// eventHubScenarios write DemoEventHub: ID Protection, AD FS, Graph
// activity and provisioning records. They come after every other crafted
// record, so that the random draws of those, and their IDs, stay as they
// were.
func (d *demo) eventHubScenarios() {
	g, t := d.g, d.t
	dom := "@" + t.Domain
	u := func(login string) *User { return t.user(login + dom) }
	add := func(stream string, at time.Time, data []byte) { d.add(DemoEventHub, stream, at, data) }

	// ---- Monday: the new hire olga.petrova (created by HR sync at 13:31)
	// is provisioned to Dropbox Business by the next provisioning cycle.
	hire := &User{ID: nameGUID("user/olga.petrova" + dom), UPN: "olga.petrova" + dom, DisplayName: "Olga Petrova", UserType: "Member"}
	p := &provisioning{At: d.at(0, 14, 11, 37), User: hire, GivenName: "Olga", Surname: "Petrova",
		ID: g.guidString(), Change: g.guidString(), Cycle: g.guidString(),
		Job:          provJobPrefix + strings.ReplaceAll(t.ID, "-", "") + "." + nameGUID("provisioning-job/dropbox"),
		SourceSystem: g.guidString(), TargetSys: g.guidString(), TargetID: "dbmid:AAA" + tokenString(g.guid()) + tokenString(g.guid())[:9],
		DurationMs: 1200 + g.r.IntN(2500)}
	add("other", p.At, t.appendProvisioning(nil, p))
	d.scenario(p.At, DemoEventHub, "the provisioning service creates the new hire olga.petrova in Dropbox Business (ProvisioningLogs: forwarded as stream other; no monitor reads it)", true,
		nil, p.ID)

	// ---- Tuesday: breakglass1, minutes after its 02:13 sign-in, reads and
	// then changes the admins' Conditional Access policy through Graph
	// Explorer.
	bg := u("breakglass1")
	bgIP := ipv4(&t.Locations[locBerlin], 2) // the address of its sign-in
	issued := d.at(1, 2, 13, 27).Truncate(time.Second)
	token := tokenString(g.guid())
	policy := "https://graph.microsoft.com/v1.0/identity/conditionalAccess/policies/" + t.CAPolicies[0].ID
	caScopes := "openid profile User.Read email Policy.Read.All Policy.ReadWrite.ConditionalAccess Application.Read.All"
	call := func(at time.Time, who *User, ip, method, uri string, status, size int, scopes string, issued time.Time, token string) string {
		c := &graphCall{At: at, User: who, App: appGraphExpl, IP: ip, UserAgent: uaEdgeWin.ua, Method: method, URI: uri, Status: status, Size: size,
			Scopes: scopes, Request: g.guidString(), Client: g.guidString(), DurationMs: 90000 + g.r.IntN(400000), TokenIssued: issued, SignInID: token}
		add("graphactivity", at, t.appendGraphCall(nil, c))
		return c.Request
	}
	at := d.at(1, 2, 19, 4)
	d.scenario(at, DemoEventHub, "breakglass1 reads the admins' Conditional Access policy through Graph (GET): an emergency account, but not a write", true,
		hits("graphactivity.emergency_account_write"), call(at, bg, bgIP, "GET", policy, 200, 1843, caScopes, issued, token))
	at = d.at(1, 2, 21, 40)
	d.scenario(at, DemoEventHub, "breakglass1 changes the admins' Conditional Access policy through Graph (PATCH, 204)", false,
		hits("graphactivity.emergency_account_write"), call(at, bg, bgIP, "PATCH", policy, 204, 0, caScopes, issued, token))

	// ---- Wednesday: a staff member's sign-in through an anonymising VPN.
	m := &t.Users[g.members[75]]
	at = d.at(2, 18, 4, 51)
	hosting := &t.Locations[locHosting]
	vpn := &riskDetection{User: m, ID: g.hex64(), Request: g.guidString(), Correlation: g.guidString(), EventType: "anonymizedIPAddress",
		Level: "medium", State: "atRisk", Detail: "none", Timing: "realtime", Activity: "signin", IP: ipv4(hosting, 183), Loc: hosting,
		UserAgent: uaFirefoxWin.ua, Activity0: at, Detected: at, Update: at.Add(2*time.Minute + 9*time.Second + 771*time.Millisecond), Region: "de"}
	add("risk", vpn.Activity0, t.appendRiskDetection(nil, vpn))
	d.scenario(vpn.Activity0, DemoEventHub, m.UPN+" (no role) signs in through an anonymising VPN (UserRiskEvents anonymizedIPAddress, medium)", true,
		hits("signin.identity_protection_risk"), vpn.ID)

	// ---- Thursday: ID Protection finds adm_hiro's password in a leak
	// (an offline detection, with no sign-in to carry it) and marks him
	// at risk.
	hiro := u("adm_hiro")
	found := d.at(3, 5, 52, 10)
	det := &riskDetection{User: hiro, ID: g.hex64(), EventType: "leakedCredentials", Level: "high", State: "atRisk", Detail: "none",
		Timing: "offline", Activity: "user", Activity0: found, Detected: found.Add(26*time.Minute + 1184*time.Millisecond),
		Update: found.Add(26*time.Minute + 1184*time.Millisecond), Region: "weu"}
	add("risk", det.Activity0, t.appendRiskDetection(nil, det))
	d.scenario(det.Activity0, DemoEventHub, "ID Protection finds adm_hiro's credentials leaked (UserRiskEvents leakedCredentials, high, offline)", false,
		hits("signin.identity_protection_risk"), det.ID)
	// A risky-user state is timed to the millisecond (riskLastUpdatedDateTime),
	// so its scenario's When is the decoded event time: the two states of
	// adm_hiro share their IDs, and only the time tells them apart.
	ru := &riskyUser{User: hiro, At: det.Update.Add(17*time.Second + 341*time.Millisecond).Truncate(time.Millisecond), State: "atRisk", Detail: "none", Level: "high", Region: "weu"}
	add("risk", ru.At, t.appendRiskyUser(nil, ru))
	d.scenario(ru.At, DemoEventHub, "adm_hiro becomes a risky user (RiskyUsers: atRisk, high)", false,
		hits("signin.identity_protection_risk"), hiro.ID)

	// Thursday evening: the AD FS farm signs adm_dmitri in to the intranet
	// at 22:12 Munich time. Connect Health uploads the record minutes later.
	dmitri := u("adm_dmitri")
	at = d.at(3, 21, 12, 31).Truncate(time.Second)
	fs := &adfsSignIn{At: at, Logged: at.Add(7*time.Minute + 27*time.Second), User: dmitri, IP: g.ip4[g.userIndex(dmitri)],
		ID: g.guidString(), Correlation: g.guidString(), Server: "CON-ADFS02"}
	fs.TokenID = tokenString(g.guid())
	add("signin", at, t.appendADFSSignIn(nil, fs))
	d.scenario(at, DemoEventHub, "adm_dmitri signs in through AD FS (ADFSSignInLogs) at 22:12 Munich time, outside emea-admins' hours", false,
		hits(monOffHours), fs.ID)
	d.scenario(at, DemoEventHub, "the same AD FS sign-in: conditionalAccessStatus notApplied (Entra Conditional Access does not see on-premises federation)", false,
		hits("signin.ca_not_applied"), fs.ID)

	// ---- Friday: adm_bob dismisses adm_hiro's risk: the leaked password
	// was one adm_hiro had changed in January.
	ru = &riskyUser{User: hiro, At: d.at(4, 9, 36, 12).Truncate(time.Millisecond), State: "dismissed", Detail: "adminDismissedAllRiskForUser", Level: "none", Region: "weu"}
	add("risk", ru.At, t.appendRiskyUser(nil, ru))
	d.scenario(ru.At, DemoEventHub, "adm_bob dismisses adm_hiro's user risk (RiskyUsers: dismissed, riskLevel none)", true,
		hits("signin.identity_protection_risk"), hiro.ID)

	// ---- Friday: adm_elena checks the users she changed this week
	// through Graph Explorer: reads by an admin, tagged, no monitor fires.
	elena := u("adm_elena")
	ip := g.ip4[g.userIndex(elena)]
	issued = d.at(4, 10, 2, 55).Truncate(time.Second)
	token = tokenString(g.guid())
	userScopes := "openid profile User.Read email User.Read.All Directory.Read.All GroupMember.Read.All"
	reader := &t.Users[g.members[51]]
	var reads []string
	for i, uri := range []string{
		"https://graph.microsoft.com/v1.0/users?$select=displayName,userPrincipalName,userType,accountEnabled&$top=100",
		"https://graph.microsoft.com/v1.0/users/" + reader.ID + "/memberOf",
		"https://graph.microsoft.com/beta/users/" + reader.ID + "?$select=displayName,signInActivity",
	} {
		at = d.at(4, 10, 4+i, 7+13*i)
		reads = append(reads, call(at, elena, ip, "GET", uri, 200, []int{28411, 1502, 733}[i], userScopes, issued, token))
	}
	d.scenario(d.at(4, 10, 4, 0), DemoEventHub, "adm_elena reads users and a role membership through Graph (3 GETs): tagged privileged; not an emergency account, not a write", true,
		hits("graphactivity.emergency_account_write"), reads...)
}
