package synth

import (
	"strconv"
	"time"
)

// guid is a random GUID kept as two words until it is written, so that
// building a record allocates nothing.
type guid struct{ hi, lo uint64 }

func (u guid) append(b []byte) []byte { return appendGUID(b, u.hi, u.lo) }

func (e *enc) guid(k string, u guid) {
	e.key(k)
	e.b = append(e.b, '"')
	e.b = u.append(e.b)
	e.b = append(e.b, '"')
}

type signInKind uint8

const (
	interactive signInKind = iota
	nonInteractive
	servicePrincipal
)

// signIn is one sign-in event, before it is written in either shape.
type signIn struct {
	At   time.Time
	Kind signInKind
	User *User             // nil for a service principal
	SP   *ServicePrincipal // set for a service principal
	App  appRef
	Res  appRef
	IP   string
	Loc  *Location

	Device    Device // the zero Device: an unregistered device
	UserAgent string
	Browser   string
	OS        string
	ClientApp string
	Protocol  string // authenticationProtocol: none (empty), ropc, deviceCode

	Error   int
	Details string // status.additionalDetails; the error's default when empty

	CAStatus string   // success, failure, notApplied
	CA       []string // result per Tenant.CAPolicies entry; nil lists none

	Auth            []authStep
	AuthRequirement string // singleFactorAuthentication | multiFactorAuthentication

	RiskState, RiskLevel, RiskAggregated, RiskDetail string
	RiskEvents                                       []string

	HomeTenant, ResourceTenant string
	CrossTenant                string // none, b2bCollaboration, …

	userIdx int // index of User in Tenant.Users, for its pre-encoded strings

	ID, Correlation, Request guid
	ProcessingMs             int
	CredentialKeyID          guid // service principals
}

// authStep is one entry of authenticationDetails.
type authStep struct {
	Method, Detail string
	OK             bool
	Result         string
	Requirement    string
}

var (
	stepPwdOK      = authStep{"Password", "Password in the cloud", true, "Correct password", "Primary authentication"}
	stepPwdBad     = authStep{"Password", "Password in the cloud", false, "Invalid username or password or Invalid on-premise username or password.", "Primary authentication"}
	stepPwdLocked  = authStep{"Password", "Password in the cloud", false, "Account is locked", "Primary authentication"}
	stepPush       = authStep{"Mobile app notification", "", true, "MFA successfully completed", "Multi-factor authentication"}
	stepTOTP       = authStep{"OATH verification code", "", true, "MFA successfully completed", "Multi-factor authentication"}
	stepFIDO       = authStep{"FIDO2 security key", "", true, "Correct FIDO2 security key", "Primary authentication"}
	stepWHfB       = authStep{"Windows Hello for Business", "", true, "Correct Windows Hello for Business credential", "Primary authentication"}
	stepPrev1      = authStep{"Previously satisfied", "", true, "First factor requirement satisfied by claim in the token", "Primary authentication"}
	stepPrev2      = authStep{"Previously satisfied", "", true, "MFA requirement satisfied by claim in the token", "Multi-factor authentication"}
	stepMFANeeded  = authStep{"", "", false, "MFA required in Azure AD", "Primary authentication"}
	stepMFADenied  = authStep{"Mobile app notification", "", false, "MFA denied; user declined the authentication", "Multi-factor authentication"}
	stepMFAFraud   = authStep{"Mobile app notification", "", false, "MFA denied; Fraud code entered", "Multi-factor authentication"}
	stepTAP        = authStep{"Temporary Access Pass", "", true, "Temporary Access Pass validated", "Primary authentication"}
	stepPwdExpired = authStep{"Password", "Password in the cloud", false, "User needs to change expired password", "Primary authentication"}

	authPwdPush  = []authStep{stepPwdOK, stepPush}
	authPwdTOTP  = []authStep{stepPwdOK, stepTOTP}
	authPrev     = []authStep{stepPrev1, stepPrev2}
	authFIDO     = []authStep{stepFIDO}
	authWHfB     = []authStep{stepWHfB}
	authPwdBad   = []authStep{stepPwdBad}
	authLocked   = []authStep{stepPwdLocked}
	authNeedMFA  = []authStep{stepPwdOK, stepMFANeeded}
	authDenied   = []authStep{stepPwdOK, stepMFADenied}
	authFraud    = []authStep{stepPwdOK, stepMFAFraud}
	authPwdOnly  = []authStep{stepPwdOK}
	authTAP      = []authStep{stepTAP}
	authExpired  = []authStep{stepPwdExpired}
	authNoSteps  = []authStep{}
	noRiskEvents = []string{}
)

// signInError is what Entra logs for an error code.
type signInError struct {
	reason, details string
}

func errorInfo(code int) signInError {
	switch code {
	case 0:
		return signInError{"Other.", ""}
	case 50126:
		return signInError{"Error validating credentials due to invalid username or password.", "The user didn't enter the right credentials. It's expected to see some number of these errors in your logs due to users making mistakes."}
	case 50053:
		return signInError{"The account is locked, you've tried to sign in too many times with an incorrect user ID or password.", "Account is locked because the user tried to sign in too many times with an incorrect user ID or password. The user is blocked due to repeated sign-in attempts."}
	case 50057:
		return signInError{"User account is disabled. The account has been disabled by an administrator.", "The account has been disabled by an administrator."}
	case 50055:
		return signInError{"The password is expired.", "The user's password is expired, and therefore their login or session was ended."}
	case 53003:
		return signInError{"Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.", "Access blocked by Conditional Access policy."}
	case 50074:
		return signInError{"Strong Authentication is required.", "MFA required in Azure AD"}
	case 50076:
		return signInError{"Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.", "MFA required in Azure AD"}
	case 500121:
		return signInError{"Authentication failed during strong authentication request.", "MFA denied; user declined the authentication"}
	case 50140:
		return signInError{"This error occurred due to 'Keep me signed in' interrupt when the user was signing-in.", ""}
	case 700082:
		return signInError{"The refresh token has expired due to inactivity. The token was issued on a date and was inactive for a certain amount of time.", ""}
	case 50173:
		return signInError{"The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.", ""}
	case 7000215:
		return signInError{"Invalid client secret is provided.", ""}
	case 7000222:
		return signInError{"The provided client secret keys are expired.", ""}
	}
	return signInError{"Other.", ""}
}

var categories = [...]string{"SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs"}
var eventTypes = [...]string{"interactiveUser", "nonInteractiveUser", "servicePrincipal"}

const (
	signInProcessingDetails = `[{"key":"Legacy TLS (TLS 1.0, 1.1, 3DES)","value":"False"},{"key":"Is CAE Token","value":"False"}]`
	caRequirement           = `[{"requirementProvider":"multiConditionalAccess","detail":"Conditional Access"}]`
)

// appendSignIn writes s as one compact JSON record: a Graph signIn
// resource (beta, as /auditLogs/signIns returns for every event type) or a
// diagnostic-settings record. Runs of members that never change are
// written as literals: this is the generator's hot path.
func (t *Tenant) appendSignIn(b []byte, s *signIn, graph bool) []byte {
	e := enc{b: b}
	info := errorInfo(s.Error)
	details := s.Details
	if details == "" {
		details = info.details
	}
	home := s.HomeTenant
	if home == "" {
		home = t.ID
	}
	res := s.ResourceTenant
	if res == "" {
		res = t.ID
	}
	var uq *userQuoted
	var userType string
	if s.User != nil {
		uq = t.quotedUser(s)
		userType = s.User.UserType
	}
	sp := s.Kind == servicePrincipal

	e.begin()
	if !graph {
		e.time("time", s.At, false)
		e.more(`,"resourceId":"/tenants/`)
		e.b = append(e.b, t.ID...)
		e.more(`/providers/Microsoft.aadiam","operationName":"Sign-in activity","operationVersion":"1.0","category":"`)
		e.b = append(e.b, categories[s.Kind]...)
		e.more(`","tenantId":"`)
		e.b = append(e.b, t.ID...)
		e.more(`","resultType":"`)
		e.b = strconv.AppendInt(e.b, int64(s.Error), 10)
		e.more(`","resultSignature":"None"`)
		if s.Error != 0 {
			e.str("resultDescription", info.reason)
		}
		e.more(`,"durationMs":0`)
		e.safe("callerIpAddress", s.IP)
		e.guid("correlationId", s.Correlation)
		if uq != nil {
			e.key("identity")
			e.b = append(e.b, uq.display...)
		} else if s.SP != nil {
			e.str("identity", s.SP.DisplayName)
		}
		e.more(`,"Level":4`)
		if s.Loc != nil {
			e.safe("location", s.Loc.Country)
		}
		e.obj("properties")
	}
	e.guid("id", s.ID)
	e.time("createdDateTime", s.At, !graph)
	if sp {
		if graph {
			e.more(`,"userDisplayName":null,"userPrincipalName":null,"userId":""`)
		}
	} else if uq != nil {
		e.more(`,"userDisplayName":`)
		e.b = append(e.b, uq.display...)
		e.more(`,"userPrincipalName":`)
		e.b = append(e.b, uq.upn...)
		e.more(`,"userId":"`)
		e.b = append(e.b, s.User.ID...)
		e.b = append(e.b, '"')
	}
	e.safe("appId", s.App.ID)
	e.str("appDisplayName", s.App.Name)
	e.safe("ipAddress", s.IP)
	if graph {
		e.more(`,"ipAddressFromResourceProvider":null`)
	} else {
		t.appendStatus(&e, s.Error, info.reason, details)
	}
	if !sp {
		e.safe("clientAppUsed", s.ClientApp)
		e.str("userAgent", s.UserAgent)
		if !graph {
			t.appendDevice(&e, s, graph)
		}
	}
	if !graph {
		t.appendLocation(&e, s.Loc, graph)
		if !sp {
			e.more(`,"mfaDetail":{}`)
		}
	}
	e.guid("correlationId", s.Correlation)
	e.safe("conditionalAccessStatus", s.CAStatus)
	if !graph {
		t.appendCA(&e, s, graph)
		e.more(`,"authenticationContextClassReferences":[]`)
	}
	e.guid("originalRequestId", s.Request)
	if s.Kind == interactive {
		e.more(`,"isInteractive":true,"tokenIssuerName":"","tokenIssuerType":"AzureAD"`)
	} else {
		e.more(`,"isInteractive":false,"tokenIssuerName":"","tokenIssuerType":"AzureAD"`)
	}
	switch {
	case !sp:
		e.more(`,"authenticationProcessingDetails":` + signInProcessingDetails + `,"networkLocationDetails":[],"clientCredentialType":"none"`)
	case s.Error == 7000215:
		e.more(`,"clientCredentialType":"certificate"`)
	default:
		e.more(`,"clientCredentialType":"clientSecret"`)
	}
	e.int("processingTimeInMilliseconds", s.ProcessingMs)
	if s.RiskState == "" && s.RiskLevel == "" && s.RiskAggregated == "" && s.RiskDetail == "" && len(s.RiskEvents) == 0 {
		e.more(`,"riskDetail":"none","riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none","riskEventTypes":[],"riskEventTypes_v2":[]`)
	} else {
		riskOr := func(v string) string {
			if v == "" {
				return "none"
			}
			return v
		}
		e.str("riskDetail", riskOr(s.RiskDetail))
		e.str("riskLevelAggregated", riskOr(s.RiskAggregated))
		e.str("riskLevelDuringSignIn", riskOr(s.RiskLevel))
		e.str("riskState", riskOr(s.RiskState))
		risks := s.RiskEvents
		if risks == nil {
			risks = noRiskEvents
		}
		e.strs("riskEventTypes", risks)
		e.strs("riskEventTypes_v2", risks)
	}
	e.str("resourceDisplayName", s.Res.Name)
	e.safe("resourceId", s.Res.ID)
	e.safe("resourceTenantId", res)
	e.safe("homeTenantId", home)
	if graph {
		if home == t.ID {
			e.str("homeTenantName", t.DisplayName)
		} else {
			e.more(`,"homeTenantName":""`)
		}
	} else {
		e.safe("tenantId", t.ID)
	}
	if !sp {
		t.appendAuthDetails(&e, s, graph)
		mfa := s.AuthRequirement == "multiFactorAuthentication"
		if !graph {
			if mfa {
				e.more(`,"authenticationRequirementPolicies":` + caRequirement + `,"sessionLifetimePolicies":[]`)
			} else {
				e.more(`,"authenticationRequirementPolicies":[],"sessionLifetimePolicies":[]`)
			}
		}
		e.safe("authenticationRequirement", s.AuthRequirement)
		if uq != nil {
			if !graph {
				e.more(`,"alternateSignInName":`)
				e.b = append(e.b, uq.upn...)
			}
			e.more(`,"signInIdentifier":`)
			e.b = append(e.b, uq.upn...)
		}
	}
	if graph {
		e.more(`,"signInEventTypes":["`)
		e.b = append(e.b, eventTypes[s.Kind]...)
		e.b = append(e.b, '"', ']')
	}
	if s.SP != nil {
		e.safe("servicePrincipalId", s.SP.ID)
		e.str("servicePrincipalName", s.SP.DisplayName)
		e.guid("servicePrincipalCredentialKeyId", s.CredentialKeyID)
		e.more(`,"servicePrincipalCredentialThumbprint":"","federatedCredentialId":""`)
	} else {
		e.more(`,"servicePrincipalId":""`)
		switch {
		case !graph:
			e.str("userType", userType)
		case userType == "Guest": // Graph beta spells user types in lower camel case
			e.more(`,"userType":"guest"`)
		default:
			e.more(`,"userType":"member"`)
		}
	}
	e.more(`,"flaggedForReview":false,"isTenantRestricted":false`)
	if s.Loc != nil {
		e.int("autonomousSystemNumber", s.Loc.ASN)
	}
	if s.CrossTenant == "" {
		e.more(`,"crossTenantAccessType":"none"`)
	} else {
		e.str("crossTenantAccessType", s.CrossTenant)
	}
	if !graph {
		e.more(`,"privateLinkDetails":{},"ssoExtensionVersion":""`)
	}
	e.key("uniqueTokenIdentifier")
	e.b = appendTokenID(e.b, s.ID)
	e.more(`,"incomingTokenType":"none"`)
	if s.Protocol == "" {
		e.more(`,"authenticationProtocol":"none"`)
	} else {
		e.str("authenticationProtocol", s.Protocol)
	}
	if !graph {
		e.safe("resourceServicePrincipalId", t.resourceSPID(s.Res))
		e.more(`,"rngcStatus":0,"signInTokenProtectionStatus":"none","originalTransferMethod":"none"`)
	}
	if graph {
		t.appendStatus(&e, s.Error, info.reason, details)
		if !sp {
			t.appendDevice(&e, s, graph)
		}
		t.appendLocation(&e, s.Loc, graph)
		t.appendCA(&e, s, graph)
	}
	if !graph {
		e.end()
	}
	e.end()
	return e.b
}

// userQuoted holds a user's strings already written as JSON strings.
type userQuoted struct{ upn, display []byte }

func (t *Tenant) quotedUser(s *signIn) *userQuoted {
	if f := t.frag; f != nil && s.userIdx >= 0 && s.userIdx < len(f.users) && &t.Users[s.userIdx] == s.User {
		return &f.users[s.userIdx]
	}
	return &userQuoted{appendJSONString(nil, s.User.UPN), appendJSONString(nil, s.User.DisplayName)}
}

func (t *Tenant) appendStatus(e *enc, code int, reason, details string) {
	e.obj("status")
	e.int("errorCode", code)
	e.str("failureReason", reason)
	if details == "" {
		e.null("additionalDetails")
	} else {
		e.str("additionalDetails", details)
	}
	e.end()
}

func (t *Tenant) appendDevice(e *enc, s *signIn, graph bool) {
	d := &s.Device
	e.obj("deviceDetail")
	e.safe("deviceId", d.ID)
	if graph && d.DisplayName == "" {
		e.null("displayName")
	} else {
		e.str("displayName", d.DisplayName)
	}
	e.str("operatingSystem", s.OS)
	e.str("browser", s.Browser)
	if d.ID != "" {
		e.bool("isCompliant", d.Compliant)
		e.bool("isManaged", d.Managed)
		e.str("trustType", d.TrustType)
	} else if graph {
		e.null("isCompliant")
		e.null("isManaged")
		e.null("trustType")
	}
	e.end()
}

func (t *Tenant) appendLocation(e *enc, l *Location, graph bool) {
	e.key("location")
	if t.frag != nil && l != nil {
		g := 0
		if graph {
			g = 1
		}
		for i := range t.Locations {
			if &t.Locations[i] == l {
				e.b = append(e.b, t.frag.location[g][i]...)
				return
			}
		}
	}
	appendLocationValue(e, l, graph)
}

func appendLocationValue(e *enc, l *Location, graph bool) {
	e.b = append(e.b, '{')
	e.comma = false
	if l != nil {
		e.str("city", l.City)
		e.str("state", l.State)
		e.str("countryOrRegion", l.Country)
		e.obj("geoCoordinates")
		if graph {
			e.null("altitude")
		}
		e.float("latitude", l.Lat)
		e.float("longitude", l.Lon)
		e.end()
	}
	e.end()
}

func (t *Tenant) appendCA(e *enc, s *signIn, graph bool) {
	e.arr("appliedConditionalAccessPolicies")
	for i, result := range s.CA {
		if i >= len(t.CAPolicies) {
			break
		}
		e.item()
		if t.frag != nil {
			e.b = append(e.b, t.frag.caPolicy[i]...)
		} else {
			e.b = appendCAPolicy(e.b, &t.CAPolicies[i])
		}
		e.safe("result", result)
		if !graph {
			switch result {
			case "success", "failure", "reportOnlySuccess", "reportOnlyFailure":
				e.more(`,"conditionsSatisfied":3,"conditionsNotSatisfied":0`)
			case "notApplied", "reportOnlyNotApplied":
				e.more(`,"conditionsSatisfied":1,"conditionsNotSatisfied":2`)
			default:
				e.more(`,"conditionsSatisfied":0,"conditionsNotSatisfied":0`)
			}
		}
		e.end()
	}
	e.endArr()
}

// appendCAPolicy writes the opening of a CA policy entry, up to its result.
func appendCAPolicy(b []byte, p *CAPolicy) []byte {
	e := enc{b: b}
	e.begin()
	e.str("id", p.ID)
	e.str("displayName", p.DisplayName)
	e.strs("enforcedGrantControls", p.GrantControls)
	e.raw("enforcedSessionControls", "[]")
	return e.b
}

// fragments are JSON pieces that are the same in every record of a tenant.
type fragments struct {
	users    []userQuoted // per Tenant.Users entry
	caPolicy [][]byte
	location [2][][]byte // [graph] per Tenant.Locations entry: the value of "location"
}

func newFragments(t *Tenant) *fragments {
	f := &fragments{}
	for i := range t.Users {
		u := &t.Users[i]
		f.users = append(f.users, userQuoted{appendJSONString(nil, u.UPN), appendJSONString(nil, u.DisplayName)})
	}
	for i := range t.CAPolicies {
		f.caPolicy = append(f.caPolicy, appendCAPolicy(nil, &t.CAPolicies[i]))
	}
	for graph := 0; graph < 2; graph++ {
		for i := range t.Locations {
			e := enc{}
			appendLocationValue(&e, &t.Locations[i], graph == 1)
			f.location[graph] = append(f.location[graph], e.b)
		}
	}
	return f
}

func (t *Tenant) appendAuthDetails(e *enc, s *signIn, graph bool) {
	e.arr("authenticationDetails")
	for i, st := range s.Auth {
		e.objItem()
		e.time("authenticationStepDateTime", s.At, !graph)
		if st.Method != "" {
			e.str("authenticationMethod", st.Method)
		}
		if st.Detail != "" {
			e.str("authenticationMethodDetail", st.Detail)
		}
		e.bool("succeeded", st.OK)
		e.str("authenticationStepResultDetail", st.Result)
		e.str("authenticationStepRequirement", st.Requirement)
		if !graph {
			e.int("StatusSequence", 0)
			e.int("RequestSequence", i)
		}
		e.end()
	}
	e.endArr()
}

// resourceSPID is the object ID of the resource's service principal in the
// tenant (stable per resource).
func (t *Tenant) resourceSPID(res appRef) string {
	for i := range t.ServicePrincipals {
		if t.ServicePrincipals[i].AppID == res.ID {
			return t.ServicePrincipals[i].ID
		}
	}
	switch res.ID {
	case resExchange.ID:
		return "8429eb5c-faeb-4ade-8eac-acc003790769"
	case resSharePoint.ID:
		return "5b2a4e1d-0c7f-4e86-9f3a-1d2c3b4a5e6f"
	case resARM.ID:
		return "2f8a1c3e-4b5d-4f6e-8a7b-9c0d1e2f3a4b"
	case resAAD.ID:
		return "56ad242f-e13b-47fc-8de8-19e3bf6f6575"
	case resTeams.ID:
		return "7e9d0c1b-2a3f-4e5d-8c6b-0a9f8e7d6c5b"
	case resIntune.ID:
		return "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
	}
	return ""
}

// appendTokenID writes a 22-character base64url token identifier derived
// from the sign-in ID.
func appendTokenID(b []byte, id guid) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b = append(b, '"')
	x := id.hi ^ id.lo<<1
	y := id.lo ^ id.hi>>3
	for i := 0; i < 11; i++ {
		b = append(b, alphabet[x&63])
		x = x>>6 | y<<58
		y >>= 6
	}
	for i := 0; i < 11; i++ {
		b = append(b, alphabet[(id.lo>>(i*5))&63])
	}
	return append(b, '"')
}
