package entra

import (
	"strconv"

	"github.com/valyala/fastjson"

	"github.com/privtrail/privtrail/internal/deadletter"
)

// DecodeError is the error Decode returns for a document it cannot turn
// into a Record. Reason is a short human-readable message: at most
// deadletter.MaxReason bytes, its start and end when the parser said more
// (the document is where the detail is).
type DecodeError struct {
	Reason string
}

func (e *DecodeError) Error() string { return e.Reason }

func decodeError(reason string) error {
	return &DecodeError{Reason: deadletter.CutReason(reason)}
}

// Decoder decodes raw documents into Records. Not safe for concurrent use:
// one per goroutine (it reuses a fastjson.Parser).
//
// Decoded strings are copied out of the parser: all the strings of one
// record share a single allocation.
type Decoder struct {
	p fastjson.Parser
	// p2 parses JSON nested inside string values (riskEventTypes logged
	// as "[\"…\"]").
	p2 fastjson.Parser
	// p3 parses a diagnostic record's properties when a category logs
	// them as JSON text rather than an object.
	p3 fastjson.Parser

	// buf collects the bytes of every string of the record being decoded;
	// fix says which field gets which part of it. finish converts buf to
	// one string and assigns the fields. Slices of the Record are allocated
	// with their final capacity before their elements' strings are queued,
	// so the pointers in fix stay valid.
	buf []byte
	fix []strFix
	// scratch holds the text of numbers read as strings. It is append-only
	// during one Decode so that slices returned from it stay valid.
	scratch []byte
}

type strFix struct {
	p        *string
	off, end int
}

// maxKeepBuf bounds the buffers a Decoder keeps between records.
const maxKeepBuf = 1 << 20

// Decode resets *rec and fills it from data, a JSON object in either wire
// shape. rec.Raw is set to data without copying: the caller owns data and
// must not modify it while rec is in use. rec.Origin is kept. On error
// rec holds only Raw and Origin, and the error is a *DecodeError.
func (d *Decoder) Decode(data []byte, rec *Record) error {
	origin := rec.Origin
	*rec = Record{Raw: data, Origin: origin}
	err := d.decode(data, rec)
	if err != nil {
		d.reset()
		*rec = Record{Raw: data, Origin: origin}
		return err
	}
	d.finish()
	return nil
}

func (d *Decoder) reset() {
	clear(d.fix)
	d.fix = d.fix[:0]
	d.buf = d.buf[:0]
	d.scratch = d.scratch[:0]
	if cap(d.buf) > maxKeepBuf {
		d.buf = nil
	}
	if cap(d.scratch) > maxKeepBuf {
		d.scratch = nil
	}
	if cap(d.fix) > maxKeepBuf/16 {
		d.fix = nil
	}
}

// finish assigns every queued string from one allocation.
func (d *Decoder) finish() {
	if len(d.fix) > 0 {
		s := string(d.buf)
		for _, f := range d.fix {
			*f.p = s[f.off:f.end]
		}
	}
	d.reset()
}

// put copies b into the string arena and returns its span.
func (d *Decoder) put(b []byte) (off, end int) {
	off = len(d.buf)
	d.buf = append(d.buf, b...)
	return off, len(d.buf)
}

// assign queues *p = arena[off:end].
func (d *Decoder) assign(p *string, off, end int) {
	if end > off {
		d.fix = append(d.fix, strFix{p: p, off: off, end: end})
	}
}

// setBytes queues *p = string(b).
func (d *Decoder) setBytes(p *string, b []byte) {
	if len(b) == 0 {
		return
	}
	off, end := d.put(b)
	d.fix = append(d.fix, strFix{p: p, off: off, end: end})
}

// setStr queues *p = the scalar text of v (see bytes).
func (d *Decoder) setStr(p *string, v *fastjson.Value) {
	d.setBytes(p, d.bytes(v))
}

var (
	trueBytes  = []byte("true")
	falseBytes = []byte("false")
)

// bytes returns the text of a scalar: a string's unescaped content, a
// number's literal, "true" or "false". It returns nil for null, absent,
// objects and arrays. The result is valid until the end of the Decode
// call and must not be modified.
func (d *Decoder) bytes(v *fastjson.Value) []byte {
	if v == nil {
		return nil
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return b
	case fastjson.TypeNumber:
		off := len(d.scratch)
		d.scratch = v.MarshalTo(d.scratch)
		return d.scratch[off:len(d.scratch):len(d.scratch)]
	case fastjson.TypeTrue:
		return trueBytes
	case fastjson.TypeFalse:
		return falseBytes
	}
	return nil
}

// has reports whether v has non-empty scalar text.
func (d *Decoder) has(v *fastjson.Value) bool { return len(d.bytes(v)) > 0 }

// present reports whether v exists and is not null.
func present(v *fastjson.Value) bool {
	return v != nil && v.Type() != fastjson.TypeNull
}

// ---- key tables -------------------------------------------------------------

// keyTable maps the keys of one kind of JSON object to field slots. Lookup
// is by exact key first, then case-insensitive (ASCII), among the names of
// the key's length.
type keyTable struct {
	names []string
	byLen [][]uint8
}

func newKeyTable(names []string) *keyTable {
	if len(names) > 64 {
		panic("entra: key table too large")
	}
	maxLen := 0
	for _, n := range names {
		if n == "" {
			panic("entra: key table has a hole")
		}
		maxLen = max(maxLen, len(n))
	}
	t := &keyTable{names: names, byLen: make([][]uint8, maxLen+1)}
	for i, n := range names {
		t.byLen[len(n)] = append(t.byLen[len(n)], uint8(i))
	}
	return t
}

func (t *keyTable) lookup(k []byte) (idx int, exact bool) {
	if len(k) >= len(t.byLen) {
		return -1, false
	}
	cands := t.byLen[len(k)]
	for _, i := range cands {
		if string(k) == t.names[i] {
			return int(i), true
		}
	}
	for _, i := range cands {
		if eqFoldBytes(k, t.names[i]) {
			return int(i), false
		}
	}
	return -1, false
}

// collect stores in out[i] the value of v's member named t.names[i]. A key
// with the exact spelling wins over one that matches only ignoring case;
// among equals the first wins. It reports whether v is an object.
func collect(v *fastjson.Value, t *keyTable, out []*fastjson.Value) bool {
	if v == nil || v.Type() != fastjson.TypeObject {
		return false
	}
	o, _ := v.Object()
	var folded uint64
	o.Visit(func(k []byte, val *fastjson.Value) {
		i, exact := t.lookup(k)
		if i < 0 {
			return
		}
		bit := uint64(1) << uint(i)
		switch {
		case out[i] == nil:
			out[i] = val
			if !exact {
				folded |= bit
			}
		case exact && folded&bit != 0:
			out[i] = val
			folded &^= bit
		}
	})
	return true
}

func eqFoldBytes(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Top level: the diagnostic envelope, plus the keys that identify the
// Graph shapes, the Azure Activity REST shape and directory documents.
const (
	tTime = iota
	tCategory
	tOperationName
	tResultType
	tResultSignature
	tResultDescription
	tCallerIP
	tCorrelationID
	tIdentity
	tLevel
	tTenantID
	tResourceID
	tProperties
	tCaller
	tCreatedDateTime
	tActivityDateTime
	tEventTimestamp
	tStatus
	tClaims
	tHTTPRequest
	tEventDataID
	tScanDateTime
	tRecordType
	tRiskEventType
	tDetectedDateTime
	tRiskLastUpdated
	nTop
)

var topKeys = newKeyTable([]string{
	tTime:              "time",
	tCategory:          "category",
	tOperationName:     "operationName",
	tResultType:        "resultType",
	tResultSignature:   "resultSignature",
	tResultDescription: "resultDescription",
	tCallerIP:          "callerIpAddress",
	tCorrelationID:     "correlationId",
	tIdentity:          "identity",
	tLevel:             "level",
	tTenantID:          "tenantId",
	tResourceID:        "resourceId",
	tProperties:        "properties",
	tCaller:            "caller",
	tCreatedDateTime:   "createdDateTime",
	tActivityDateTime:  "activityDateTime",
	tEventTimestamp:    "eventTimestamp",
	tStatus:            "status",
	tClaims:            "claims",
	tHTTPRequest:       "httpRequest",
	tEventDataID:       "eventDataId",
	tScanDateTime:      "scanDateTime",
	tRecordType:        "recordType",
	tRiskEventType:     "riskEventType",
	tDetectedDateTime:  "detectedDateTime",
	tRiskLastUpdated:   "riskLastUpdatedDateTime",
})

// Sign-in resource (Graph signIn, diagnostic properties).
const (
	sID = iota
	sCreatedDateTime
	sUserDisplayName
	sUserPrincipalName
	sUserID
	sAppID
	sAppDisplayName
	sIPAddress
	sStatus
	sClientAppUsed
	sUserAgent
	sDeviceDetail
	sLocation
	sCorrelationID
	sConditionalAccessStatus
	sAppliedCAPolicies
	sIsInteractive
	sRiskDetail
	sRiskLevelAggregated
	sRiskLevelDuringSignIn
	sRiskState
	sRiskEventTypes
	sRiskEventTypesV2
	sResourceDisplayName
	sResourceID
	sResourceTenantID
	sHomeTenantID
	sCrossTenantAccessType
	sAuthenticationDetails
	sAuthenticationRequirement
	sServicePrincipalID
	sServicePrincipalName
	sUserType
	sASN
	sSignInEventTypes
	sTenantID
	sTokenIssuerType
	nSignIn
)

var signInKeys = newKeyTable([]string{
	sID:                        "id",
	sCreatedDateTime:           "createdDateTime",
	sUserDisplayName:           "userDisplayName",
	sUserPrincipalName:         "userPrincipalName",
	sUserID:                    "userId",
	sAppID:                     "appId",
	sAppDisplayName:            "appDisplayName",
	sIPAddress:                 "ipAddress",
	sStatus:                    "status",
	sClientAppUsed:             "clientAppUsed",
	sUserAgent:                 "userAgent",
	sDeviceDetail:              "deviceDetail",
	sLocation:                  "location",
	sCorrelationID:             "correlationId",
	sConditionalAccessStatus:   "conditionalAccessStatus",
	sAppliedCAPolicies:         "appliedConditionalAccessPolicies",
	sIsInteractive:             "isInteractive",
	sRiskDetail:                "riskDetail",
	sRiskLevelAggregated:       "riskLevelAggregated",
	sRiskLevelDuringSignIn:     "riskLevelDuringSignIn",
	sRiskState:                 "riskState",
	sRiskEventTypes:            "riskEventTypes",
	sRiskEventTypesV2:          "riskEventTypes_v2",
	sResourceDisplayName:       "resourceDisplayName",
	sResourceID:                "resourceId",
	sResourceTenantID:          "resourceTenantId",
	sHomeTenantID:              "homeTenantId",
	sCrossTenantAccessType:     "crossTenantAccessType",
	sAuthenticationDetails:     "authenticationDetails",
	sAuthenticationRequirement: "authenticationRequirement",
	sServicePrincipalID:        "servicePrincipalId",
	sServicePrincipalName:      "servicePrincipalName",
	sUserType:                  "userType",
	sASN:                       "autonomousSystemNumber",
	sSignInEventTypes:          "signInEventTypes",
	sTenantID:                  "tenantId",
	sTokenIssuerType:           "tokenIssuerType",
})

const (
	stErrorCode = iota
	stFailureReason
	stAdditionalDetails
	nStatus
)

var statusKeys = newKeyTable([]string{
	stErrorCode:         "errorCode",
	stFailureReason:     "failureReason",
	stAdditionalDetails: "additionalDetails",
})

const (
	dvDeviceID = iota
	dvDisplayName
	dvOperatingSystem
	dvBrowser
	dvIsCompliant
	dvIsManaged
	dvTrustType
	nDevice
)

var deviceKeys = newKeyTable([]string{
	dvDeviceID:        "deviceId",
	dvDisplayName:     "displayName",
	dvOperatingSystem: "operatingSystem",
	dvBrowser:         "browser",
	dvIsCompliant:     "isCompliant",
	dvIsManaged:       "isManaged",
	dvTrustType:       "trustType",
})

const (
	lcCity = iota
	lcState
	lcCountry
	lcGeo
	lcLatitude
	lcLongitude
	nLocation
)

// locationKeys serves both location and its geoCoordinates.
var locationKeys = newKeyTable([]string{
	lcCity:      "city",
	lcState:     "state",
	lcCountry:   "countryOrRegion",
	lcGeo:       "geoCoordinates",
	lcLatitude:  "latitude",
	lcLongitude: "longitude",
})

const (
	asMethod = iota
	asMethodDetail
	asSucceeded
	asResultDetail
	asRequirement
	nAuthStep
)

var authStepKeys = newKeyTable([]string{
	asMethod:       "authenticationMethod",
	asMethodDetail: "authenticationMethodDetail",
	asSucceeded:    "succeeded",
	asResultDetail: "authenticationStepResultDetail",
	asRequirement:  "authenticationStepRequirement",
})

// Generic small objects: CA policies, initiators, key/value pairs,
// modified properties and {value, localizedValue} pairs share one table.
const (
	gID = iota
	gDisplayName
	gResult
	gUserPrincipalName
	gIPAddress
	gAppID
	gServicePrincipalID
	gServicePrincipalName
	gKey
	gValue
	gOldValue
	gNewValue
	gLocalizedValue
	gType
	gGroupType
	gModifiedProperties
	gUser
	gApp
	gStatus
	gClientIPAddress
	nGeneric
)

var genericKeys = newKeyTable([]string{
	gID:                   "id",
	gDisplayName:          "displayName",
	gResult:               "result",
	gUserPrincipalName:    "userPrincipalName",
	gIPAddress:            "ipAddress",
	gAppID:                "appId",
	gServicePrincipalID:   "servicePrincipalId",
	gServicePrincipalName: "servicePrincipalName",
	gKey:                  "key",
	gValue:                "value",
	gOldValue:             "oldValue",
	gNewValue:             "newValue",
	gLocalizedValue:       "localizedValue",
	gType:                 "type",
	gGroupType:            "groupType",
	gModifiedProperties:   "modifiedProperties",
	gUser:                 "user",
	gApp:                  "app",
	gStatus:               "status",
	gClientIPAddress:      "clientIpAddress",
})

// Directory audit resource (Graph directoryAudit, diagnostic properties).
const (
	aID = iota
	aCategory
	aCorrelationID
	aResult
	aResultReason
	aActivityDisplayName
	aActivityDateTime
	aLoggedByService
	aOperationType
	aInitiatedBy
	aTargetResources
	aAdditionalDetails
	aTenantID
	nAudit
)

var auditKeys = newKeyTable([]string{
	aID:                  "id",
	aCategory:            "category",
	aCorrelationID:       "correlationId",
	aResult:              "result",
	aResultReason:        "resultReason",
	aActivityDisplayName: "activityDisplayName",
	aActivityDateTime:    "activityDateTime",
	aLoggedByService:     "loggedByService",
	aOperationType:       "operationType",
	aInitiatedBy:         "initiatedBy",
	aTargetResources:     "targetResources",
	aAdditionalDetails:   "additionalDetails",
	aTenantID:            "tenantId",
})

// Token claims of an Azure Activity record (identity.claims, or claims in
// the REST shape).
const (
	clUPN = iota
	clNameURI
	clName
	clObjectID
	clUPNShort
	clOID
	clAppID
	clIDType
	nClaims
)

var claimKeys = newKeyTable([]string{
	clUPN:      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
	clNameURI:  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
	clName:     "name",
	clObjectID: "http://schemas.microsoft.com/identity/claims/objectidentifier",
	clUPNShort: "upn",
	clOID:      "oid",
	clAppID:    "appid",
	clIDType:   "idtyp",
})

var identityKeys = newKeyTable([]string{"claims"})

// Entra Domain Services security events (properties).
const (
	dsEventID = iota
	dsComputer
	dsPrivilegeList
	dsServiceName
	dsProcessName
	dsSubjectUserName
	dsSubjectDomainName
	dsSubjectUserSid
	dsTargetUserName
	dsTargetDomainName
	dsIPAddress
	dsDomain
	nAADDS
)

var aaddsKeys = newKeyTable([]string{
	dsEventID:           "EventID",
	dsComputer:          "Computer",
	dsPrivilegeList:     "PrivilegeList",
	dsServiceName:       "ServiceName",
	dsProcessName:       "ProcessName",
	dsSubjectUserName:   "SubjectUserName",
	dsSubjectDomainName: "SubjectDomainName",
	dsSubjectUserSid:    "SubjectUserSid",
	dsTargetUserName:    "TargetUserName",
	dsTargetDomainName:  "TargetDomainName",
	dsIPAddress:         "IpAddress",
	dsDomain:            "Domain",
})

// ---- categories -------------------------------------------------------------

type categoryInfo struct {
	name   string // canonical spelling
	stream Stream
	// eventType is the sign-in event type of a sign-in category; "" for
	// ADFSSignInLogs, whose records say it in isInteractive.
	eventType string
}

// categories are the diagnostic-settings categories privtrail has a model
// for. Any other category is a valid record of StreamOther.
var categories = []categoryInfo{
	{"SignInLogs", StreamSignIn, "interactive"},
	{"NonInteractiveUserSignInLogs", StreamSignIn, "nonInteractive"},
	{"ServicePrincipalSignInLogs", StreamSignIn, "servicePrincipal"},
	{"ManagedIdentitySignInLogs", StreamSignIn, "managedIdentity"},
	// Sign-ins of Microsoft's own first-party service principals.
	{"MicrosoftServicePrincipalSignInLogs", StreamSignIn, "servicePrincipal"},
	{"ADFSSignInLogs", StreamSignIn, ""},
	{"AuditLogs", StreamAudit, ""},
	{"UserRiskEvents", StreamRisk, ""},
	{"ServicePrincipalRiskEvents", StreamRisk, ""},
	{"RiskyUsers", StreamRisk, ""},
	{"RiskyServicePrincipals", StreamRisk, ""},
	{"MicrosoftGraphActivityLogs", StreamGraphActivity, ""},
	{"AzureADGraphActivityLogs", StreamGraphActivity, ""},
	{"Administrative", StreamActivity, ""},
	{"AccountManagement", StreamAADDS, ""},
	{"AccountLogon", StreamAADDS, ""},
	{"DirectoryServiceAccess", StreamAADDS, ""},
	{"LogonLogoff", StreamAADDS, ""},
	{"ObjectAccess", StreamAADDS, ""},
	{"PolicyChange", StreamAADDS, ""},
	{"PrivilegeUse", StreamAADDS, ""},
	{"DetailTracking", StreamAADDS, ""},
	{"SystemSecurity", StreamAADDS, ""},
}

func lookupCategory(b []byte) *categoryInfo {
	for i := range categories {
		if eqFoldBytes(b, categories[i].name) {
			return &categories[i]
		}
	}
	return nil
}

// interruptedCodes are the sign-in error codes the Entra portal reports as
// "Interrupted" rather than "Failure": the user was asked for something
// (MFA, KMSI, password change, device registration, …) and the flow
// continues in another request. 50058 (session information not sufficient)
// is deliberately not in the set: it is logged as a failure.
var interruptedCodes = map[int]struct{}{
	50072:  {}, // user must enroll for MFA
	50074:  {}, // strong authentication required
	50076:  {}, // MFA required (location / configuration)
	50079:  {}, // user must register for MFA
	50097:  {}, // device authentication required
	50125:  {}, // sign-in interrupted by password reset / registration
	50140:  {}, // "Keep me signed in" interrupt
	50199:  {}, // user confirmation required (CmsiInterrupt)
	500121: {}, // strong authentication request not completed
	81010:  {}, // Seamless SSO: ticket expired or invalid
	81012:  {}, // Seamless SSO: user mismatch
	81014:  {}, // Seamless SSO: ticket too old
}

// signInStatus maps an error code to the status the Entra portal shows.
func signInStatus(code int) string {
	if code == 0 {
		return "success"
	}
	if _, ok := interruptedCodes[code]; ok {
		return "interrupted"
	}
	return "failure"
}

// ---- decoding ---------------------------------------------------------------

func (d *Decoder) decode(data []byte, rec *Record) error {
	v, err := d.p.ParseBytes(data)
	if err != nil {
		return decodeError("invalid JSON: " + err.Error())
	}
	// fastjson's parser is lenient (raw control characters and unknown
	// escapes in strings, NaN, 01, …). Raw is forwarded unchanged to JSON
	// outputs, so it must be strict JSON.
	if !validJSON(data) {
		reason := "not strict JSON"
		if err := fastjson.ValidateBytes(data); err != nil {
			reason = err.Error()
		}
		return decodeError("invalid JSON: " + reason)
	}
	if t := v.Type(); t != fastjson.TypeObject {
		return decodeError("not a JSON object: " + t.String())
	}

	var top [nTop]*fastjson.Value
	collect(v, topKeys, top[:])

	switch {
	case isDirectory(&top):
		return d.decodeDirectory(rec, v)
	case present(top[tTime]):
		return d.decodeDiagnostic(rec, &top)
	case present(top[tRiskEventType]) || present(top[tDetectedDateTime]) || present(top[tRiskLastUpdated]):
		// Graph riskDetection (it has an activityDateTime too) or riskyUser.
		rec.Shape = ShapeGraph
		return d.decodeRisk(rec, v, nil, nil)
	case present(top[tCreatedDateTime]):
		rec.Shape = ShapeGraph
		return d.decodeSignIn(rec, v, nil, "")
	case present(top[tActivityDateTime]):
		rec.Shape = ShapeGraph
		return d.decodeAudit(rec, v, nil)
	case present(top[tEventTimestamp]):
		rec.Shape = ShapeGraph
		return d.decodeActivity(rec, &top, true)
	case present(top[tCategory]):
		return d.decodeDiagnostic(rec, &top)
	}
	return decodeError("not an Entra log record: no createdDateTime/activityDateTime/time/category")
}

// envelope is what the diagnostic envelope contributes to the stream
// decoders.
type envelope struct {
	top *[nTop]*fastjson.Value
}

func (d *Decoder) decodeDiagnostic(rec *Record, top *[nTop]*fastjson.Value) error {
	catBytes := d.bytes(top[tCategory])
	if present(top[tCategory]) && catBytes == nil {
		// {"value": "Administrative"} as in the Activity REST shape.
		var g [nGeneric]*fastjson.Value
		if collect(top[tCategory], genericKeys, g[:]) {
			catBytes = d.bytes(g[gValue])
		}
	}
	cat := lookupCategory(catBytes)
	if cat == nil {
		if !validCategory(catBytes) {
			return decodeError("invalid category " + strconv.Quote(string(catBytes)))
		}
		rec.Shape = ShapeDiagnostic
		d.setBytes(&rec.LogCategory, catBytes)
		return d.decodeOther(rec, top)
	}
	rec.Shape = ShapeDiagnostic
	rec.Stream = cat.stream
	rec.LogCategory = cat.name

	d.setStr(&rec.CorrelationID, top[tCorrelationID])
	d.setStr(&rec.TenantID, top[tTenantID])
	d.setStr(&rec.Level, top[tLevel])

	env := &envelope{top: top}
	props := d.propertiesOf(top[tProperties])
	switch cat.stream {
	case StreamSignIn:
		return d.decodeSignIn(rec, props, env, cat.eventType)
	case StreamAudit:
		return d.decodeAudit(rec, props, env)
	case StreamActivity:
		return d.decodeActivity(rec, top, false)
	case StreamRisk:
		return d.decodeRisk(rec, props, env, cat)
	case StreamGraphActivity:
		return d.decodeGraphActivity(rec, props, env)
	default:
		return d.decodeAADDS(rec, top)
	}
}

// maxCategory bounds the length of a category privtrail has no model for.
const maxCategory = 128

// validCategory reports whether b can be the category of a diagnostic
// record: a name that starts with a letter and has only letters, digits,
// '_', '-' or '.', as every Azure log category does. Anything else is not a log record (a document
// that happens to have a "category" member) and is dead-lettered.
func validCategory(b []byte) bool {
	if len(b) == 0 || len(b) > maxCategory || !('a' <= b[0]|0x20 && b[0]|0x20 <= 'z') {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// propertiesOf returns a diagnostic record's properties object; some
// categories log it as JSON text, which is parsed.
func (d *Decoder) propertiesOf(v *fastjson.Value) *fastjson.Value {
	if v == nil || v.Type() != fastjson.TypeString {
		return v
	}
	b, _ := v.StringBytes()
	if t := trimWS(b); len(t) > 0 && t[0] == '{' {
		if nv, err := d.p3.ParseBytes(t); err == nil {
			return nv
		}
	}
	return v
}

// eventTime parses the first present candidate that is a valid timestamp.
func (d *Decoder) eventTime(rec *Record, cands ...*fastjson.Value) error {
	var bad []byte
	for _, c := range cands {
		if !present(c) {
			continue
		}
		b := d.bytes(c)
		if t, ok := parseTime(b); ok {
			rec.Time = t
			return nil
		}
		if bad == nil {
			bad = b
			if bad == nil {
				bad = []byte(c.String())
			}
		}
	}
	if bad != nil {
		return decodeError("invalid event time " + strconv.Quote(string(bad)))
	}
	return decodeError("missing event time")
}

// cleanIP drops the placeholder Azure logs for an absent address.
func cleanIP(b []byte) []byte {
	if string(b) == "<null>" || string(b) == "null" {
		return nil
	}
	return b
}

func (d *Decoder) decodeSignIn(rec *Record, obj *fastjson.Value, env *envelope, eventType string) error {
	rec.Stream = StreamSignIn
	var f [nSignIn]*fastjson.Value
	collect(obj, signInKeys, f[:])
	s := &rec.SignIn

	// Time: createdDateTime, when the sign-in happened; the envelope's
	// time is when Azure logged it, seconds to many minutes later (an AD
	// FS sign-in's upload), and only stands in for a missing one.
	var err error
	if env != nil {
		err = d.eventTime(rec, f[sCreatedDateTime], env.top[tTime])
	} else {
		err = d.eventTime(rec, f[sCreatedDateTime])
	}
	if err != nil {
		return err
	}

	s.IsInteractive = toBool(f[sIsInteractive])
	if eventType == "" && env != nil {
		// ADFSSignInLogs: interactive unless the record says otherwise.
		eventType = "interactive"
		if present(f[sIsInteractive]) && !s.IsInteractive {
			eventType = "nonInteractive"
		}
	}
	if eventType == "" {
		eventType = d.graphEventType(f[sSignInEventTypes], s)
	}
	if eventType != "" {
		s.EventType = eventType
	}
	if rec.LogCategory == "" {
		rec.LogCategory = signInCategory(s.EventType)
	}

	d.setStr(&rec.ID, f[sID])
	if env == nil || !d.has(env.top[tCorrelationID]) {
		d.setStr(&rec.CorrelationID, f[sCorrelationID])
	}
	if env == nil || !d.has(env.top[tTenantID]) {
		d.setStr(&rec.TenantID, f[sTenantID])
	}
	if env != nil {
		d.setStr(&rec.OperationName, env.top[tOperationName])
	}

	// Status.
	var st [nStatus]*fastjson.Value
	collect(f[sStatus], statusKeys, st[:])
	code, ok := toInt(d, st[stErrorCode])
	if !ok && env != nil {
		code, _ = toInt(d, env.top[tResultType])
	}
	s.ErrorCode = code
	s.Status = signInStatus(code)
	if present(st[stFailureReason]) {
		d.setStr(&s.FailureReason, st[stFailureReason])
	} else if env != nil && code != 0 {
		d.setStr(&s.FailureReason, env.top[tResultDescription])
	}
	d.setStr(&s.AdditionalDetails, st[stAdditionalDetails])

	d.setStr(&s.AppID, f[sAppID])
	d.setStr(&s.AppDisplayName, f[sAppDisplayName])
	d.setStr(&s.ClientAppUsed, f[sClientAppUsed])
	d.setStr(&s.UserAgent, f[sUserAgent])
	d.setStr(&s.UserType, f[sUserType])
	d.setStr(&s.ResourceDisplayName, f[sResourceDisplayName])
	d.setStr(&s.ResourceID, f[sResourceID])
	d.setStr(&s.ResourceTenantID, f[sResourceTenantID])
	d.setStr(&s.HomeTenantID, f[sHomeTenantID])
	d.setStr(&s.CrossTenantAccessType, f[sCrossTenantAccessType])
	d.setStr(&s.ConditionalAccessStatus, f[sConditionalAccessStatus])
	d.setStr(&s.AuthenticationRequirement, f[sAuthenticationRequirement])
	d.setStr(&s.TokenIssuerType, f[sTokenIssuerType])
	d.setStr(&s.RiskState, f[sRiskState])
	d.setStr(&s.RiskLevelDuringSignIn, f[sRiskLevelDuringSignIn])
	d.setStr(&s.RiskLevelAggregated, f[sRiskLevelAggregated])
	d.setStr(&s.RiskDetail, f[sRiskDetail])
	s.ASN, _ = toInt(d, f[sASN])

	s.RiskEventTypes = d.stringList(f[sRiskEventTypes])
	if len(s.RiskEventTypes) == 0 {
		s.RiskEventTypes = d.stringList(f[sRiskEventTypesV2])
	}

	// IP address: the sign-in's, else the envelope's caller address.
	ip := cleanIP(d.bytes(f[sIPAddress]))
	if len(ip) == 0 && env != nil {
		ip = cleanIP(d.bytes(env.top[tCallerIP]))
	}
	ipOff, ipEnd := d.put(ip)
	d.assign(&s.IPAddress, ipOff, ipEnd)

	// Actor.
	spID := d.bytes(f[sServicePrincipalID])
	spOff, spEnd := d.put(spID)
	d.assign(&s.ServicePrincipalID, spOff, spEnd)
	spName := d.bytes(f[sServicePrincipalName])
	spnOff, spnEnd := d.put(spName)
	d.assign(&s.ServicePrincipalName, spnOff, spnEnd)
	a := &rec.Actor
	d.assign(&a.IP, ipOff, ipEnd)
	if s.EventType == "servicePrincipal" || s.EventType == "managedIdentity" {
		a.Type = "servicePrincipal"
		d.assign(&a.ID, spOff, spEnd)
		if len(spName) > 0 {
			d.assign(&a.DisplayName, spnOff, spnEnd)
		} else {
			d.setStr(&a.DisplayName, f[sAppDisplayName])
		}
	} else {
		a.Type = "user"
		d.setStr(&a.ID, f[sUserID])
		d.setStr(&a.UPN, f[sUserPrincipalName])
		d.setStr(&a.DisplayName, f[sUserDisplayName])
	}

	// Device.
	var dv [nDevice]*fastjson.Value
	if collect(f[sDeviceDetail], deviceKeys, dv[:]) {
		dd := &s.Device
		d.setStr(&dd.DeviceID, dv[dvDeviceID])
		d.setStr(&dd.DisplayName, dv[dvDisplayName])
		d.setStr(&dd.OperatingSystem, dv[dvOperatingSystem])
		d.setStr(&dd.Browser, dv[dvBrowser])
		d.setStr(&dd.TrustType, dv[dvTrustType])
		dd.IsCompliant = toBool(dv[dvIsCompliant])
		dd.IsManaged = toBool(dv[dvIsManaged])
	}

	d.location(&s.Location, f[sLocation])

	// Authentication steps.
	if arr := array(f[sAuthenticationDetails]); len(arr) > 0 {
		steps := make([]AuthStep, 0, len(arr))
		for _, e := range arr {
			var as [nAuthStep]*fastjson.Value
			if !collect(e, authStepKeys, as[:]) {
				continue
			}
			steps = append(steps, AuthStep{Succeeded: toBool(as[asSucceeded])})
			st := &steps[len(steps)-1]
			d.setStr(&st.Method, as[asMethod])
			d.setStr(&st.MethodDetail, as[asMethodDetail])
			d.setStr(&st.ResultDetail, as[asResultDetail])
			d.setStr(&st.Requirement, as[asRequirement])
		}
		s.AuthenticationDetails = nilIfEmpty(steps)
	}

	// Conditional Access policies.
	if arr := array(f[sAppliedCAPolicies]); len(arr) > 0 {
		pols := make([]CAPolicy, 0, len(arr))
		for _, e := range arr {
			var g [nGeneric]*fastjson.Value
			if !collect(e, genericKeys, g[:]) {
				continue
			}
			pols = append(pols, CAPolicy{})
			p := &pols[len(pols)-1]
			d.setStr(&p.ID, g[gID])
			d.setStr(&p.DisplayName, g[gDisplayName])
			d.setStr(&p.Result, g[gResult])
		}
		s.AppliedCAPolicies = nilIfEmpty(pols)
	}
	return nil
}

// location decodes a sign-in's or risk detection's location.
func (d *Decoder) location(l *Location, v *fastjson.Value) {
	var lc [nLocation]*fastjson.Value
	if !collect(v, locationKeys, lc[:]) {
		return
	}
	d.setStr(&l.City, lc[lcCity])
	d.setStr(&l.State, lc[lcState])
	d.setStr(&l.Country, lc[lcCountry])
	var geo [nLocation]*fastjson.Value
	if collect(lc[lcGeo], locationKeys, geo[:]) {
		l.Latitude = toFloat(d, geo[lcLatitude])
		l.Longitude = toFloat(d, geo[lcLongitude])
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// graphEventType derives a Graph sign-in's event type from the beta
// signInEventTypes array, else from isInteractive.
func (d *Decoder) graphEventType(v *fastjson.Value, s *SignIn) string {
	var first *fastjson.Value
	if v != nil {
		switch v.Type() {
		case fastjson.TypeArray:
			if a, _ := v.Array(); len(a) > 0 {
				first = a[0]
			}
		case fastjson.TypeString:
			first = v
		}
	}
	if b := d.bytes(first); len(b) > 0 {
		switch {
		case eqFoldBytes(b, "interactiveUser"), eqFoldBytes(b, "interactive"):
			return "interactive"
		case eqFoldBytes(b, "nonInteractiveUser"), eqFoldBytes(b, "nonInteractive"):
			return "nonInteractive"
		case eqFoldBytes(b, "servicePrincipal"):
			return "servicePrincipal"
		case eqFoldBytes(b, "managedIdentity"):
			return "managedIdentity"
		}
		d.setBytes(&s.EventType, b) // unknown future value: keep as logged
		return ""
	}
	if s.IsInteractive {
		return "interactive"
	}
	return "nonInteractive"
}

func signInCategory(eventType string) string {
	switch eventType {
	case "nonInteractive":
		return "NonInteractiveUserSignInLogs"
	case "servicePrincipal":
		return "ServicePrincipalSignInLogs"
	case "managedIdentity":
		return "ManagedIdentitySignInLogs"
	}
	return "SignInLogs"
}

func array(v *fastjson.Value) []*fastjson.Value {
	if v == nil || v.Type() != fastjson.TypeArray {
		return nil
	}
	a, _ := v.Array()
	return a
}

// stringList reads an array of strings. A string holding a JSON array is
// parsed; any other non-empty string is one element.
func (d *Decoder) stringList(v *fastjson.Value) []string {
	if !present(v) {
		return nil
	}
	arr := array(v)
	if arr == nil {
		b := d.bytes(v)
		if len(b) == 0 || string(b) == "[]" {
			return nil
		}
		if b[0] == '[' {
			if nv, err := d.p2.ParseBytes(b); err == nil {
				arr = array(nv)
			}
		}
		if arr == nil {
			out := make([]string, 1)
			d.setBytes(&out[0], b)
			return out
		}
	}
	n := 0
	for _, e := range arr {
		if len(d.bytes(e)) > 0 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	i := 0
	for _, e := range arr {
		if b := d.bytes(e); len(b) > 0 {
			d.setBytes(&out[i], b)
			i++
		}
	}
	return out
}

func (d *Decoder) decodeAudit(rec *Record, obj *fastjson.Value, env *envelope) error {
	rec.Stream = StreamAudit
	if rec.LogCategory == "" {
		rec.LogCategory = "AuditLogs"
	}
	var f [nAudit]*fastjson.Value
	collect(obj, auditKeys, f[:])
	au := &rec.Audit

	var err error
	if env != nil {
		err = d.eventTime(rec, env.top[tTime], f[aActivityDateTime])
	} else {
		err = d.eventTime(rec, f[aActivityDateTime])
	}
	if err != nil {
		return err
	}

	d.setStr(&rec.ID, f[aID])
	if env == nil || !d.has(env.top[tCorrelationID]) {
		d.setStr(&rec.CorrelationID, f[aCorrelationID])
	}
	if env == nil || !d.has(env.top[tTenantID]) {
		d.setStr(&rec.TenantID, f[aTenantID])
	}
	actName := d.bytes(f[aActivityDisplayName])
	actOff, actEnd := d.put(actName)
	d.assign(&au.ActivityDisplayName, actOff, actEnd)
	if env != nil && len(d.bytes(env.top[tOperationName])) > 0 {
		d.setStr(&rec.OperationName, env.top[tOperationName])
	} else {
		d.assign(&rec.OperationName, actOff, actEnd)
	}
	d.setStr(&au.Category, f[aCategory])
	d.setStr(&au.LoggedByService, f[aLoggedByService])
	d.setStr(&au.OperationType, f[aOperationType])
	if present(f[aResult]) || env == nil {
		d.setStr(&au.Result, f[aResult])
	} else {
		d.setStr(&au.Result, env.top[tResultType])
	}
	if len(d.bytes(f[aResultReason])) > 0 || env == nil {
		d.setStr(&au.ResultReason, f[aResultReason])
	} else {
		d.setStr(&au.ResultReason, env.top[tResultDescription])
	}

	// Initiator: a user, else an application.
	var callerIP []byte
	if env != nil {
		callerIP = cleanIP(d.bytes(env.top[tCallerIP]))
	}
	var ib [nGeneric]*fastjson.Value
	collect(f[aInitiatedBy], genericKeys, ib[:])
	var u, app [nGeneric]*fastjson.Value
	hasUser := collect(ib[gUser], genericKeys, u[:])
	hasApp := collect(ib[gApp], genericKeys, app[:])
	userNamed := hasUser && (len(d.bytes(u[gID])) > 0 || len(d.bytes(u[gUserPrincipalName])) > 0 ||
		len(d.bytes(u[gDisplayName])) > 0)
	a := &rec.Actor
	switch {
	case hasApp && !userNamed:
		a.Type = "servicePrincipal"
		if id := d.bytes(app[gServicePrincipalID]); len(id) > 0 {
			d.setBytes(&a.ID, id)
		} else {
			d.setStr(&a.ID, app[gAppID])
		}
		name := d.bytes(app[gDisplayName])
		if len(name) == 0 {
			name = d.bytes(app[gServicePrincipalName])
		}
		off, end := d.put(name)
		d.assign(&a.DisplayName, off, end)
		d.assign(&au.InitiatedByApp, off, end)
		ip := cleanIP(d.bytes(app[gIPAddress]))
		if len(ip) == 0 {
			ip = callerIP
		}
		d.setBytes(&a.IP, ip)
	case hasUser:
		a.Type = "user"
		d.setStr(&a.ID, u[gID])
		d.setStr(&a.UPN, u[gUserPrincipalName])
		d.setStr(&a.DisplayName, u[gDisplayName])
		ip := cleanIP(d.bytes(u[gIPAddress]))
		if len(ip) == 0 {
			ip = callerIP
		}
		d.setBytes(&a.IP, ip)
	default:
		d.setBytes(&a.IP, callerIP)
	}

	// Targets.
	if arr := array(f[aTargetResources]); len(arr) > 0 {
		targets := make([]Target, 0, len(arr))
		for _, e := range arr {
			var g [nGeneric]*fastjson.Value
			if !collect(e, genericKeys, g[:]) {
				continue
			}
			targets = append(targets, Target{})
			t := &targets[len(targets)-1]
			d.setStr(&t.ID, g[gID])
			d.setStr(&t.DisplayName, g[gDisplayName])
			d.setStr(&t.UPN, g[gUserPrincipalName])
			d.setStr(&t.Type, g[gType])
			d.setStr(&t.GroupType, g[gGroupType])
			t.ModifiedProperties = d.modifiedProperties(g[gModifiedProperties])
		}
		au.Targets = nilIfEmpty(targets)
	}

	// Additional details.
	if arr := array(f[aAdditionalDetails]); len(arr) > 0 {
		kvs := make([]KeyValue, 0, len(arr))
		for _, e := range arr {
			var g [nGeneric]*fastjson.Value
			if !collect(e, genericKeys, g[:]) {
				continue
			}
			kvs = append(kvs, KeyValue{})
			kv := &kvs[len(kvs)-1]
			d.setStr(&kv.Key, g[gKey])
			d.setValueText(&kv.Value, g[gValue])
		}
		au.AdditionalDetails = nilIfEmpty(kvs)
	}
	return nil
}

func (d *Decoder) modifiedProperties(v *fastjson.Value) []ModifiedProperty {
	arr := array(v)
	if len(arr) == 0 {
		return nil
	}
	out := make([]ModifiedProperty, 0, len(arr))
	for _, e := range arr {
		var g [nGeneric]*fastjson.Value
		if !collect(e, genericKeys, g[:]) {
			continue
		}
		out = append(out, ModifiedProperty{})
		p := &out[len(out)-1]
		d.setStr(&p.DisplayName, g[gDisplayName])
		d.setModified(&p.OldValue, g[gOldValue])
		d.setModified(&p.NewValue, g[gNewValue])
	}
	return nilIfEmpty(out)
}

// setValueText queues *p = the text of v: scalars as bytes does, objects
// and arrays as compact JSON.
func (d *Decoder) setValueText(p *string, v *fastjson.Value) {
	if v == nil {
		return
	}
	switch v.Type() {
	case fastjson.TypeObject, fastjson.TypeArray:
		off := len(d.buf)
		d.buf = appendValue(d.buf, v)
		d.assign(p, off, len(d.buf))
	default:
		d.setStr(p, v)
	}
}

// setModified queues a modified property's old or new value. Entra logs
// them as JSON text inside a JSON string: a JSON string is unquoted, other
// JSON is kept as compact text, anything else as is; null is "".
func (d *Decoder) setModified(p *string, v *fastjson.Value) {
	if v == nil || v.Type() != fastjson.TypeString {
		d.setValueText(p, v)
		return
	}
	b, _ := v.StringBytes()
	t := trimWS(b)
	if len(t) == 0 {
		d.setBytes(p, b)
		return
	}
	off := len(d.buf)
	switch c := t[0]; {
	case c == '"':
		if out, ok := appendUnquote(d.buf, t); ok {
			d.buf = out
			d.assign(p, off, len(d.buf))
			return
		}
	case c == '[' || c == '{' || c == '-' || ('0' <= c && c <= '9') || c == 't' || c == 'f' || c == 'n':
		if validJSON(t) {
			d.buf = appendCompact(d.buf, t)
			d.assign(p, off, len(d.buf))
			return
		}
	}
	d.setBytes(p, b)
}

func (d *Decoder) decodeActivity(rec *Record, top *[nTop]*fastjson.Value, rest bool) error {
	rec.Stream = StreamActivity
	act := &rec.Activity
	if rest {
		rec.Shape = ShapeGraph
		if err := d.eventTime(rec, top[tEventTimestamp]); err != nil {
			return err
		}
		d.setStr(&rec.CorrelationID, top[tCorrelationID])
		d.setStr(&rec.TenantID, top[tTenantID])
		d.setStr(&rec.Level, top[tLevel])
		d.setStr(&rec.ID, top[tEventDataID])
	} else if err := d.eventTime(rec, top[tTime]); err != nil {
		return err
	}

	// operationName, category and status: strings, or {value, localizedValue}.
	opOff, opEnd := d.put(d.valueOf(top[tOperationName], func(g *[nGeneric]*fastjson.Value) {
		d.setStr(&act.OperationLabel, g[gLocalizedValue])
	}))
	d.assign(&act.OperationName, opOff, opEnd)
	d.assign(&rec.OperationName, opOff, opEnd)

	cat := d.valueOf(top[tCategory], nil)
	if c := lookupCategory(cat); c != nil {
		act.Category = c.name
	} else {
		d.setBytes(&act.Category, cat)
	}
	if rec.LogCategory == "" {
		if act.Category != "" {
			rec.LogCategory = act.Category
		} else {
			d.setBytes(&rec.LogCategory, cat)
		}
	}

	var pf [nGeneric]*fastjson.Value
	collect(top[tProperties], genericKeys, pf[:])
	if rec.ID == "" && top[tProperties] != nil {
		// Diagnostic-settings Activity records carry the event's ID in
		// properties.
		d.setStr(&rec.ID, top[tProperties].Get("eventDataId"))
	}
	status := d.bytes(top[tResultType])
	if len(status) == 0 {
		status = d.bytes(pf[gStatus])
	}
	if len(status) == 0 {
		status = d.valueOf(top[tStatus], nil)
	}
	sig := d.bytes(top[tResultSignature])
	if len(status) == 0 && len(sig) > 0 {
		status = sig
		if i := indexByte(sig, '.'); i >= 0 {
			status = sig[:i]
		}
	}
	if s := activityStatus(status); s != "" {
		act.Status = s
	} else {
		d.setBytes(&act.Status, status)
	}
	d.setBytes(&act.ResultSignature, sig)
	d.setStr(&act.ResourceID, top[tResourceID])
	d.setStr(&act.Level, top[tLevel])

	// Actor: the caller, completed from the token claims.
	a := &rec.Actor
	var claims [nClaims]*fastjson.Value
	if !collect(top[tClaims], claimKeys, claims[:]) {
		var idf [1]*fastjson.Value
		if collect(top[tIdentity], identityKeys, idf[:]) {
			collect(idf[0], claimKeys, claims[:])
		}
	}
	caller := d.bytes(top[tCaller])
	var upn, id []byte
	if indexByte(caller, '@') >= 0 {
		upn = caller
	} else {
		id = caller
	}
	if len(upn) == 0 {
		upn = firstNonEmpty(d.bytes(claims[clUPN]), d.bytes(claims[clUPNShort]), d.bytes(claims[clNameURI]))
	}
	name := d.bytes(claims[clName])
	if len(upn) == 0 && indexByte(name, '@') >= 0 {
		upn = name
	}
	if len(id) == 0 {
		id = firstNonEmpty(d.bytes(claims[clObjectID]), d.bytes(claims[clOID]))
	}
	d.setBytes(&a.UPN, upn)
	d.setBytes(&a.ID, id)
	d.setBytes(&a.DisplayName, name)
	ip := cleanIP(d.bytes(top[tCallerIP]))
	if len(ip) == 0 {
		var hr [nGeneric]*fastjson.Value
		if collect(top[tHTTPRequest], genericKeys, hr[:]) {
			ip = cleanIP(d.bytes(hr[gClientIPAddress]))
		}
	}
	d.setBytes(&a.IP, ip)
	switch {
	case len(upn) > 0:
		a.Type = "user"
	case eqFoldBytes(d.bytes(claims[clIDType]), "app") || len(d.bytes(claims[clAppID])) > 0 && len(name) == 0:
		a.Type = "servicePrincipal"
	case len(id) > 0 || len(name) > 0:
		a.Type = "user"
	}
	return nil
}

// activityStatus normalises the Activity log's two vocabularies
// (diagnostic Start/Success/Failure, REST Started/Succeeded/Failed) to the
// REST one.
func activityStatus(b []byte) string {
	switch {
	case eqFoldBytes(b, "Start"), eqFoldBytes(b, "Started"):
		return "Started"
	case eqFoldBytes(b, "Success"), eqFoldBytes(b, "Succeeded"):
		return "Succeeded"
	case eqFoldBytes(b, "Failure"), eqFoldBytes(b, "Failed"):
		return "Failed"
	case eqFoldBytes(b, "Accept"), eqFoldBytes(b, "Accepted"):
		return "Accepted"
	}
	return ""
}

// valueOf returns the text of a scalar, or of the "value" member of a
// {value, localizedValue} object, calling withObj for the latter.
func (d *Decoder) valueOf(v *fastjson.Value, withObj func(*[nGeneric]*fastjson.Value)) []byte {
	if v == nil {
		return nil
	}
	if v.Type() != fastjson.TypeObject {
		return d.bytes(v)
	}
	var g [nGeneric]*fastjson.Value
	collect(v, genericKeys, g[:])
	if withObj != nil {
		withObj(&g)
	}
	return d.bytes(g[gValue])
}

func firstNonEmpty(bs ...[]byte) []byte {
	for _, b := range bs {
		if len(b) > 0 {
			return b
		}
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func (d *Decoder) decodeAADDS(rec *Record, top *[nTop]*fastjson.Value) error {
	rec.Stream = StreamAADDS
	if err := d.eventTime(rec, top[tTime]); err != nil {
		return err
	}
	var f [nAADDS]*fastjson.Value
	collect(top[tProperties], aaddsKeys, f[:])
	ds := &rec.AADDS

	d.setStr(&rec.OperationName, top[tOperationName])
	id, ok := toInt(d, f[dsEventID])
	if !ok {
		id, _ = toInt(d, top[tOperationName])
	}
	ds.EventID = id
	d.setStr(&ds.Computer, f[dsComputer])
	d.setStr(&ds.PrivilegeList, f[dsPrivilegeList])
	d.setStr(&ds.ServiceName, f[dsServiceName])
	d.setStr(&ds.ProcessName, f[dsProcessName])

	user := dash(d.bytes(f[dsSubjectUserName]))
	domain := dash(d.bytes(f[dsSubjectDomainName]))
	sid := dash(d.bytes(f[dsSubjectUserSid]))
	if len(user) == 0 {
		user = dash(d.bytes(f[dsTargetUserName]))
		domain = dash(d.bytes(f[dsTargetDomainName]))
		sid = nil
	}

	// The managed domain: properties.Domain, else the resource name of
	// …/DOMAINSERVICES/<domain>, else the subject's domain.
	dom := d.bytes(f[dsDomain])
	if len(dom) == 0 {
		dom = domainFromResourceID(d.bytes(top[tResourceID]))
	}
	if len(dom) == 0 {
		dom = domain
	}
	d.setBytes(&ds.Domain, dom)

	a := &rec.Actor
	if len(user) > 0 {
		a.Type = "user"
		nOff, nEnd := d.put(user)
		d.assign(&a.DisplayName, nOff, nEnd)
		if indexByte(user, '@') >= 0 || len(domain) == 0 {
			d.assign(&a.UPN, nOff, nEnd)
		} else {
			off := len(d.buf)
			d.buf = append(d.buf, user...)
			d.buf = append(d.buf, '@')
			d.buf = append(d.buf, domain...)
			d.assign(&a.UPN, off, len(d.buf))
		}
		d.setBytes(&a.ID, sid)
	}
	ip := cleanIP(dash(d.bytes(f[dsIPAddress])))
	if len(ip) == 0 {
		ip = cleanIP(d.bytes(top[tCallerIP]))
	}
	d.setBytes(&a.IP, ip)
	return nil
}

// dash maps Windows' "-" placeholder to empty.
func dash(b []byte) []byte {
	if len(b) == 1 && b[0] == '-' {
		return nil
	}
	return b
}

func domainFromResourceID(b []byte) []byte {
	const seg = "/domainservices/"
	for i := 0; i+len(seg) <= len(b); i++ {
		if eqFoldBytes(b[i:i+len(seg)], seg) {
			rest := b[i+len(seg):]
			if j := indexByte(rest, '/'); j >= 0 {
				rest = rest[:j]
			}
			return rest
		}
	}
	return nil
}

// ---- scalar conversions -----------------------------------------------------

// toInt reads an integer given as a JSON number or a string.
func toInt(d *Decoder, v *fastjson.Value) (int, bool) {
	if v == nil {
		return 0, false
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		if n, err := v.Int(); err == nil {
			return n, true
		}
		if f, err := v.Float64(); err == nil && f >= -1<<53 && f <= 1<<53 {
			return int(f), true
		}
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return atoi(trimWS(b))
	}
	return 0, false
}

func atoi(b []byte) (int, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// toFloat reads a number given as a JSON number or a string.
func toFloat(d *Decoder, v *fastjson.Value) float64 {
	if v == nil {
		return 0
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		f, _ := v.Float64()
		return f
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if f, err := strconv.ParseFloat(string(trimWS(b)), 64); err == nil {
			return f
		}
	}
	return 0
}

// toBool reads a boolean given as true/false or a string; null is false.
func toBool(v *fastjson.Value) bool {
	if v == nil {
		return false
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return eqFoldBytes(trimWS(b), "true") || string(trimWS(b)) == "1"
	case fastjson.TypeNumber:
		f, _ := v.Float64()
		return f != 0
	}
	return false
}

func trimWS(b []byte) []byte {
	for len(b) > 0 && isWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
