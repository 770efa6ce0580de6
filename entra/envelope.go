package entra

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Envelope says how a JSON output writes a record.
type Envelope string

const (
	// EnvelopeAsRead writes every record as it was read: the original
	// document plus the privtrail object (AppendJSON).
	EnvelopeAsRead Envelope = "as_read"
	// EnvelopeDiagnostic writes Graph-shaped sign-ins, directory audits,
	// user risk detections and risky users in the Azure Monitor
	// diagnostic-settings envelope, as Azure Monitor writes the same
	// record (AppendDiagnosticJSON); every other record as read.
	EnvelopeDiagnostic Envelope = "diagnostic"
)

// ParseEnvelope checks an output's `envelope:` value. "" is not accepted:
// outputs apply their own default first.
func ParseEnvelope(s string) (Envelope, error) {
	switch e := Envelope(s); e {
	case EnvelopeAsRead, EnvelopeDiagnostic:
		return e, nil
	}
	return "", fmt.Errorf("%q is not diagnostic or as_read", s)
}

// AppendJSONAs appends the record written with envelope e:
// AppendDiagnosticJSON for EnvelopeDiagnostic, AppendJSON otherwise.
func (r *Record) AppendJSONAs(dst []byte, e Envelope) []byte {
	if e == EnvelopeDiagnostic {
		return r.AppendDiagnosticJSON(dst)
	}
	return r.AppendJSON(dst)
}

// envKind is which diagnostic record a Graph-shaped record becomes.
type envKind uint8

const (
	envNone      envKind = iota
	envSignIn            // SignInLogs, NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs, ManagedIdentitySignInLogs
	envAudit             // AuditLogs
	envRiskEvent         // UserRiskEvents
	envRiskyUser         // RiskyUsers
)

// The categories a Graph-shaped record is enveloped under, in Azure's
// spelling.
var signInEnvelopeCategories = [...]string{"SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs", "ManagedIdentitySignInLogs"}

// envelopeKind says which diagnostic record r becomes, and its category.
// Only Graph-shaped records are enveloped, and only the kinds whose
// envelope was checked member by member against real diagnostic records
// (entra/testdata/envelope/README.md): sign-ins of the four categories
// above (not AD FS sign-ins, tokenIssuerType ADFederationServices, which
// Azure writes as ADFSSignInLogs with another envelope), directory audits,
// user risk detections and risky users. ServicePrincipalRiskEvents and
// RiskyServicePrincipals have no public diagnostic record to check an
// envelope against; they, and every other record, are written as read.
func (r *Record) envelopeKind() (envKind, string) {
	if r.Shape != ShapeGraph {
		return envNone, ""
	}
	switch r.Stream {
	case StreamSignIn:
		if eqFold(r.SignIn.TokenIssuerType, "ADFederationServices") {
			return envNone, ""
		}
		for _, c := range signInEnvelopeCategories {
			if eqFold(r.LogCategory, c) {
				return envSignIn, c
			}
		}
	case StreamAudit:
		if eqFold(r.LogCategory, "AuditLogs") {
			return envAudit, "AuditLogs"
		}
	case StreamRisk:
		switch {
		case eqFold(r.LogCategory, "UserRiskEvents"):
			return envRiskEvent, "UserRiskEvents"
		case eqFold(r.LogCategory, "RiskyUsers"):
			return envRiskyUser, "RiskyUsers"
		}
	}
	return envNone, ""
}

// CanEnvelope reports whether AppendDiagnosticJSON writes r in the
// diagnostic envelope (rather than as read): a Graph-shaped sign-in,
// directory audit, user risk detection or risky user (see envelopeKind)
// whose original document is a JSON object. Outputs use it to pick the
// sourcetype or the bytes that go with the envelope.
func (r *Record) CanEnvelope() bool {
	if k, _ := r.envelopeKind(); k == envNone {
		return false
	}
	raw := trimWS(r.Raw)
	return len(raw) >= 2 && raw[0] == '{' && raw[len(raw)-1] == '}'
}

// Time layouts of the envelope's time member, as Azure writes it: seven
// fractional digits and Z for sign-ins and audits; the US form, to the
// second, for UserRiskEvents and RiskyUsers (azureUSTime).
const envelopeTime = "2006-01-02T15:04:05.0000000Z"

// AppendDiagnosticJSON appends the record in the Azure Monitor
// diagnostic-settings envelope, as Azure Monitor writes the same record
// to an event hub or a storage account, with the privtrail object at the
// top level (last):
//
//	{"time":…,"resourceId":"/tenants/<tenantId>/providers/Microsoft.aadiam","operationName":…,
//	 "operationVersion":"1.0","category":…,"tenantId":…,"resultType":…,"resultSignature":"None",
//	 "resultDescription":…,"durationMs":0,"callerIpAddress":…,"correlationId":…,"identity":…,
//	 "Level":4,"location":…,"properties":{…the Graph record…},"privtrail":{…}}
//
// properties is the original Graph document, byte for byte (compacted when
// it spans several lines, without a top-level "privtrail" member it may
// carry, invalid UTF-8 replaced: as AppendJSON treats it). The members
// and the rule for each are in entra/testdata/envelope/README.md, with
// the real records each was checked against; a member is left out when
// the Graph record has nothing for it, as Azure leaves it out.
//
// Records of other kinds are written by AppendJSON, as read. A record of
// an enveloped kind whose Raw is not a valid JSON object (Decode never
// gives one) is written as AppendJSON writes a non-object:
// {"raw":"<Raw as a string>","privtrail":{…}}. For a record of an
// enveloped kind the result is one line of valid UTF-8 JSON whatever Raw
// holds; for the others AppendJSON's guarantees apply.
func (r *Record) AppendDiagnosticJSON(dst []byte) []byte {
	kind, category := r.envelopeKind()
	if kind == envNone {
		return r.AppendJSON(dst)
	}
	var e envWriter
	props, ok := graphObject(r.Raw, &e.w)
	if !ok {
		return r.appendWrapped(dst, props, &e.w)
	}
	e.dst = append(dst, '{')

	// time: for sign-ins and audits the event time (createdDateTime,
	// activityDateTime) with seven fractional digits and Z; for ID
	// Protection when the record last changed, in Azure's US form.
	switch kind {
	case envSignIn, envAudit:
		if !r.Time.IsZero() {
			e.key("time")
			e.dst = append(e.dst, '"')
			e.dst = r.Time.UTC().AppendFormat(e.dst, envelopeTime)
			e.dst = append(e.dst, '"')
		}
	case envRiskEvent:
		t := lastUpdated(props)
		if t.IsZero() {
			t = r.Time
		}
		e.usTime(t)
	case envRiskyUser:
		e.usTime(r.Time)
	}
	if r.TenantID != "" {
		provider := "/providers/Microsoft.aadiam"
		if kind == envRiskEvent || kind == envRiskyUser {
			provider = "/providers/microsoft.aadiam" // as ID Protection's records spell it
		}
		var buf [96]byte
		id := append(append(append(buf[:0], "/tenants/"...), r.TenantID...), provider...)
		e.key("resourceId")
		e.dst = AppendJSONStringNoting(e.dst, id, &e.w.replaced)
	}
	switch kind {
	case envSignIn:
		e.str("operationName", "Sign-in activity")
	case envAudit:
		e.str("operationName", orElse(r.Audit.ActivityDisplayName, r.OperationName))
	case envRiskEvent:
		e.str("operationName", "User Risk Detection")
	case envRiskyUser:
		e.str("operationName", "Risky user")
	}
	e.str("operationVersion", "1.0")
	e.str("category", category)
	e.str("tenantId", r.TenantID)
	if kind == envSignIn {
		e.key("resultType")
		e.dst = append(e.dst, '"')
		e.dst = strconv.AppendInt(e.dst, int64(r.SignIn.ErrorCode), 10)
		e.dst = append(e.dst, '"')
	}
	e.str("resultSignature", "None")
	switch kind {
	case envSignIn:
		e.str("resultDescription", r.SignIn.FailureReason)
	case envAudit:
		e.str("resultDescription", r.Audit.ResultReason)
	}
	e.key("durationMs")
	e.dst = append(e.dst, '0')
	switch kind {
	case envSignIn:
		e.str("callerIpAddress", r.SignIn.IPAddress)
	case envAudit:
		e.str("callerIpAddress", r.Actor.IP)
	case envRiskEvent:
		e.str("callerIpAddress", r.Risk.IPAddress)
	}
	switch kind {
	case envSignIn, envAudit:
		e.str("correlationId", r.CorrelationID)
	case envRiskEvent, envRiskyUser:
		e.str("correlationId", r.ID) // the detection's id; the risky user's object id
	}
	switch kind {
	case envSignIn:
		if r.Actor.Type == "user" {
			e.str("identity", r.Actor.DisplayName)
		}
	case envAudit:
		e.str("identity", r.Actor.DisplayName)
	case envRiskEvent, envRiskyUser:
		if r.Actor.Type == "user" {
			e.strLower("identity", r.Actor.DisplayName)
		}
	}
	e.key("Level")
	e.dst = append(e.dst, '4')
	switch kind {
	case envSignIn:
		e.str("location", r.SignIn.Location.Country)
	case envRiskEvent:
		e.strLower("location", r.Risk.Location.Country)
	}
	e.key("properties")
	e.dst = append(e.dst, props...)
	e.key("privtrail")
	e.dst = r.appendPrivtrail(e.dst, &e.w)
	return append(e.dst, '}')
}

// envWriter writes the envelope's members; w notes invalid UTF-8 replaced
// in them, in the Graph document and in the privtrail object.
type envWriter struct {
	dst []byte
	w   ptWriter
	n   int
}

func (e *envWriter) key(k string) {
	if e.n > 0 {
		e.dst = append(e.dst, ',')
	}
	e.n++
	e.dst = append(e.dst, '"')
	e.dst = append(e.dst, k...)
	e.dst = append(e.dst, '"', ':')
}

// str writes a string member, left out when empty.
func (e *envWriter) str(k, v string) {
	if v == "" {
		return
	}
	e.key(k)
	e.dst = e.w.str(e.dst, v)
}

func (e *envWriter) usTime(t time.Time) {
	if t.IsZero() {
		return
	}
	e.key("time")
	e.dst = append(e.dst, '"')
	e.dst = t.UTC().AppendFormat(e.dst, azureUSTime)
	e.dst = append(e.dst, '"')
}

// strLower writes v lower-cased, as ID Protection's envelope has its
// identity and location: rune by rune with unicode.ToLower, as
// strings.ToLower does, each invalid UTF-8 byte becoming U+FFFD (noted).
// Left out when empty.
func (e *envWriter) strLower(k, v string) {
	if v == "" {
		return
	}
	if !utf8.ValidString(v) {
		e.w.replaced = true
	}
	var buf [128]byte
	b := buf[:0]
	for _, c := range v {
		b = utf8.AppendRune(b, unicode.ToLower(c))
	}
	e.key(k)
	e.dst = AppendJSONStringNoting(e.dst, b, &e.w.replaced)
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// graphObject returns the original document as properties: Raw trimmed,
// with invalid UTF-8 replaced (noted in w), compacted when it spans
// several lines, and without a top-level "privtrail" member — the rules
// of AppendJSON. When Raw is not a valid JSON object it reports false and
// returns Raw trimmed, with invalid UTF-8 replaced.
func graphObject(raw []byte, w *ptWriter) ([]byte, bool) {
	src := trimWS(raw)
	if !utf8.Valid(src) {
		src = appendValidUTF8(make([]byte, 0, len(src)+16), src)
		w.replaced = true
	}
	if len(src) < 2 || src[0] != '{' || src[len(src)-1] != '}' || !validJSON(src) {
		return src, false
	}
	if bytes.IndexByte(src, '\n') >= 0 || bytes.IndexByte(src, '\r') >= 0 {
		src = appendCompact(make([]byte, 0, len(src)), src)
	}
	if !mayHavePrivtrail(src) {
		return src, true
	}
	out := make([]byte, 0, len(src))
	out = append(out, '{')
	n := 0
	ok := scanMembers(src, func(key []byte, start, end int) {
		if isPrivtrailKey(key) {
			return
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, src[start:end]...)
		n++
	})
	if !ok {
		return src, false
	}
	return append(out, '}'), true
}

// lastUpdated is a risk detection's lastUpdatedDateTime (the decoder's
// key rules: the exact spelling wins over one that matches ignoring
// case), or the zero time.
func lastUpdated(obj []byte) time.Time {
	const name = "lastUpdatedDateTime"
	var exact, folded []byte
	scanMembers(obj, func(key []byte, start, end int) {
		switch {
		case exact == nil && string(key) == name:
			exact = obj[start:end]
		case folded == nil && eqFoldBytes(key, name):
			folded = obj[start:end]
		}
	})
	member := exact
	if member == nil {
		member = folded
	}
	if member == nil {
		return time.Time{}
	}
	// member is "key":value; the value starts after the first ':' that
	// follows the key string.
	v := member[skipString(member, 0):]
	v = trimWS(v)
	if len(v) == 0 || v[0] != ':' {
		return time.Time{}
	}
	var buf [64]byte
	s, ok := appendUnquote(buf[:0], trimWS(v[1:]))
	if !ok {
		return time.Time{}
	}
	t, _ := parseTime(s)
	return t
}
