package elastic

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/privtrail/privtrail/entra"
)

// This file encodes the ID Protection, Graph activity and other streams
// the way the Azure integration's pipelines for identity_protection,
// graphactivitylogs, aadgraphactivitylogs, provisioning and platformlogs
// write them (packages/azure/data_stream/<dataset>/elasticsearch/
// ingest_pipeline/default.yml in elastic/integrations).

// ---- ECS event fields -------------------------------------------------------

// newStreamCategoryAndType are event.category and event.type of the
// streams of this file. The integration sets them for Graph activity
// only; the others are privtrail's, in the spirit of the other streams.
func (d *doc) newStreamCategoryAndType() (cat, typ []string) {
	rec := d.rec
	switch rec.Stream {
	case entra.StreamRisk:
		if rec.Risk.Kind == "detection" {
			// A detection of suspicious activity by ID Protection.
			return []string{"intrusion_detection"}, []string{"info"}
		}
		// The risk state of a user or service principal.
		if isUser(&rec.Actor) {
			return []string{"iam"}, []string{"user", "info"}
		}
		return []string{"iam"}, []string{"info"}
	case entra.StreamGraphActivity:
		method := strings.ToUpper(rec.GraphActivity.RequestMethod)
		code := rec.GraphActivity.ResponseStatusCode
		if d.kind == datasetAADGraphActivity {
			// aadgraphactivitylogs: iam and web; access plus what the
			// method does.
			switch method {
			case "POST", "PATCH", "PUT":
				return []string{"iam", "web"}, []string{"access", "change"}
			case "DELETE":
				return []string{"iam", "web"}, []string{"access", "deletion"}
			}
			return []string{"iam", "web"}, []string{"access", "info"}
		}
		// graphactivitylogs: api; the method's type, and denied for 401
		// and 403.
		switch method {
		case "POST":
			typ = []string{"creation"}
		case "PATCH", "PUT":
			typ = []string{"change"}
		case "DELETE":
			typ = []string{"deletion"}
		default:
			typ = []string{"access"}
		}
		if code == 401 || code == 403 {
			typ = append(typ, "denied")
		}
		return []string{"api"}, typ
	case entra.StreamOther:
		if d.kind == datasetProvisioning {
			// An identity created, changed or removed in another system.
			switch strings.ToLower(scalarText(member(d.properties(), "provisioningAction"))) {
			case "create":
				return []string{"iam"}, []string{"creation"}
			case "update", "disable":
				return []string{"iam"}, []string{"change"}
			case "delete", "stageddelete":
				return []string{"iam"}, []string{"deletion"}
			}
			return []string{"iam"}, []string{"info"}
		}
		// platformlogs: only the Read/Write/Delete/Action categories of
		// resource logs say what happened.
		switch strings.ToLower(d.rec.LogCategory) {
		case "write", "action":
			return nil, []string{"change"}
		case "read":
			return nil, []string{"access"}
		case "delete":
			return nil, []string{"deletion"}
		}
	}
	return nil, nil
}

// riskAction is event.action of an ID Protection record: the diagnostic
// record's operationName (User Risk Detection, Risky user, …), else, for
// a Graph resource, the name of its kind.
func (d *doc) riskAction() string {
	rec := d.rec
	if rec.OperationName != "" {
		return rec.OperationName
	}
	switch {
	case strings.EqualFold(rec.LogCategory, "UserRiskEvents"):
		return "User Risk Detection"
	case strings.EqualFold(rec.LogCategory, "ServicePrincipalRiskEvents"):
		return "Service Principal Risk Detection"
	case strings.EqualFold(rec.LogCategory, "RiskyServicePrincipals"):
		return "Risky service principal"
	case strings.EqualFold(rec.LogCategory, "RiskyUsers"):
		return "Risky user"
	}
	return ""
}

// aadGraphAction is event.action of an Azure AD Graph request as the
// integration derives it: the directory collection of the request URI,
// hyphenated, and a verb for the method: GET /v2/{tenant}/users is
// users-read, PATCH /v2/{tenant}/servicePrincipals/{id}
// service-principals-update, POST /{tenant}/$batch batch-execute. "" when
// the URI does not have that shape.
func aadGraphAction(method, uri string) string {
	if method == "" || uri == "" {
		return ""
	}
	path := uri
	if u, err := url.Parse(uri); err == nil {
		path = u.Path
	}
	parts := strings.Split(path, "/")
	if len(parts) < 3 {
		return ""
	}
	collection := parts[2]
	if len(parts) >= 4 && parts[1] == "v2" {
		collection = parts[3]
	}
	collection = strings.TrimPrefix(collection, "$")
	if collection == "" {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(collection); i++ {
		c := collection[i]
		if i > 0 && 'A' <= c && c <= 'Z' && !('A' <= collection[i-1] && collection[i-1] <= 'Z') {
			b.WriteByte('-')
		}
		b.WriteByte(lower(c))
	}
	switch m := strings.ToUpper(method); m {
	case "GET", "HEAD":
		b.WriteString("-read")
	case "POST":
		b.WriteString("-execute")
	case "PATCH", "PUT":
		b.WriteString("-update")
	case "DELETE":
		b.WriteString("-delete")
	default:
		b.WriteByte('-')
		b.WriteString(strings.ToLower(m))
	}
	return b.String()
}

// httpOutcome is event.outcome of a Graph request: success for 2xx,
// failure from 400 on; Azure AD Graph's pipeline also says unknown for
// 3xx.
func httpOutcome(code int, aad bool) string {
	switch {
	case code >= 200 && code < 300:
		return "success"
	case code >= 400:
		return "failure"
	case code >= 300 && aad:
		return "unknown"
	}
	return ""
}

// otherOutcome is event.outcome of a record of an unmodelled category, as
// the provisioning and platformlogs pipelines take it: resultType when it
// is Success or Failure; for platform logs also properties.result
// (success, failure, unknown) and the envelope's Status.
func (d *doc) otherOutcome() string {
	if o := successFailure(scalarText(member(d.root, "resultType"))); o != "" || d.kind == datasetProvisioning {
		return o
	}
	switch r := scalarText(member(d.properties(), "result")); r {
	case "success", "failure", "unknown":
		return r
	}
	switch s := scalarText(member(d.root, "Status")); s {
	case "success", "Succeeded":
		return "success"
	case "failure", "Failed":
		return "failure"
	case "unknown":
		return "unknown"
	}
	return ""
}

func successFailure(s string) string {
	switch {
	case strings.EqualFold(s, "success"):
		return "success"
	case strings.EqualFold(s, "failure"):
		return "failure"
	}
	return ""
}

// duration is event.duration in nanoseconds: the diagnostic record's
// durationMs (for Graph activity, else its properties' durationMs), as
// the pipelines of the integration's newer datasets convert it. Sign-in,
// audit, Activity and platform records carry none.
func (d *doc) duration() (int64, bool) {
	rec := d.rec
	switch {
	case rec.Stream == entra.StreamRisk, rec.Stream == entra.StreamGraphActivity, d.kind == datasetProvisioning:
	default:
		return 0, false
	}
	if d.rec.Shape != entra.ShapeDiagnostic {
		return 0, false
	}
	ms, ok := wholeNumber(member(d.root, "durationMs"))
	if !ok && rec.Stream == entra.StreamGraphActivity {
		ms, ok = wholeNumber(member(d.properties(), "durationMs"))
	}
	if !ok || ms < 0 || ms > 1<<40 {
		return 0, false
	}
	return ms * int64(time.Millisecond), true
}

// wholeNumber reads an integer logged as a number or a numeric string.
func wholeNumber(v *fastjson.Value) (int64, bool) {
	s := strings.TrimSpace(scalarText(v))
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// ---- Graph activity: http, url, client, service, token ------------------------

func graphService(kind string) string {
	if kind == datasetAADGraphActivity {
		return "Azure AD Graph"
	}
	return "Microsoft Graph"
}

// graphRegion is the Azure region that served a Graph request (the
// record's location), the integration's destination.geo.region_name and
// cloud.region.
func (d *doc) graphRegion() string {
	if r := scalarText(member(d.root, "location")); r != "" {
		return r
	}
	return scalarText(member(d.properties(), "location"))
}

// graphECS writes the ECS fields of a Graph request: client, service,
// token / session / device, destination, http and url.
func (d *doc) graphECS() {
	rec := d.rec
	if rec.Stream != entra.StreamGraphActivity {
		return
	}
	w, g := d.w, &rec.GraphActivity
	aad := d.kind == datasetAADGraphActivity

	userID := rec.Actor.ID
	if !isUser(&rec.Actor) {
		userID = g.ServicePrincipalID
	}
	w.begin("client")
	if addr, _ := d.ip(); addr.IsValid() {
		w.str("ip", addr.String())
	}
	w.begin("user")
	w.str("id", userID)
	w.end()
	w.end()
	w.begin("service")
	w.str("id", g.ServicePrincipalID)
	w.end()
	if aad {
		props := d.properties()
		w.begin("session")
		w.str("id", scalarText(member(props, "sessionId")))
		w.end()
		w.begin("device")
		w.str("id", scalarText(member(props, "deviceId")))
		w.end()
	} else {
		w.begin("token")
		w.str("id", g.SignInActivityID)
		w.end()
	}
	w.begin("destination")
	w.begin("geo")
	w.str("region_name", d.graphRegion())
	w.end()
	w.end()

	w.begin("http")
	w.begin("request")
	w.str("id", g.RequestID)
	w.str("method", g.RequestMethod)
	w.end()
	w.begin("response")
	if n, ok := wholeNumber(member(d.properties(), "responseSizeBytes")); ok && n >= 0 {
		w.int("bytes", n)
	}
	if g.ResponseStatusCode != 0 {
		w.int("status_code", int64(g.ResponseStatusCode))
	}
	w.end()
	w.end()
	writeURL(w, g.RequestURI)
}

// writeURL writes url.* of a request URI as the ingest uri_parts
// processor does (keep_original): original, and the parts it has.
func writeURL(w *jw, uri string) {
	if uri == "" {
		return
	}
	w.begin("url")
	w.str("original", uri)
	if u, err := url.Parse(uri); err == nil {
		w.str("scheme", u.Scheme)
		w.str("domain", u.Hostname())
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err == nil {
				w.int("port", int64(n))
			}
		}
		w.str("path", u.EscapedPath())
		w.str("query", u.RawQuery)
		w.str("fragment", u.Fragment)
	}
	w.end()
}

// ---- copying the envelope and the properties ------------------------------------

// envelopeSpec says how one dataset copies the diagnostic envelope.
type envelopeSpec struct {
	style  keyStyle
	skip   []string          // keys that become fields of their own, or are dropped (any case)
	rename map[string]string // logged key → field name, before style applies
}

// copyEnvelope copies the diagnostic envelope's keys by spec and adds the
// names it wrote to ks. A Graph resource has none.
func (d *doc) copyEnvelope(ks *seen, spec envelopeSpec) {
	if d.rec.Shape != entra.ShapeDiagnostic || d.root == nil {
		return
	}
	o, _ := d.root.Object()
	o.Visit(func(k []byte, v *fastjson.Value) {
		for _, s := range spec.skip {
			if eqFold(k, s) {
				return
			}
		}
		name, ok := spec.rename[string(k)]
		if !ok {
			name = fieldNameOf(k, spec.style)
		}
		if name == "" || !ks.add(name) {
			return
		}
		d.w.raw(name, func(b []byte) []byte { return appendValue(b, v, spec.style) })
	})
}

// commonSkip are the envelope keys every dataset moves to ECS or azure.*
// fields of their own.
var commonSkip = []string{"time", "properties", "resourceId", "tenantId", "correlationId", "callerIpAddress", "durationMs", "privtrail"}

// renames is how one object's keys are renamed: keys maps logged keys to
// field names, drop leaves keys out, sub applies to the value of a
// (renamed) key that is an object, or to the elements of one that is an
// array. Keys not in keys are copied as logged, values as logged.
type renames struct {
	keys map[string]string
	drop map[string]bool
	sub  map[string]*renames
	// dropNull leaves out members whose value is null.
	dropNull bool
	// dates are field names whose string values are rewritten as RFC
	// 3339 (UTC) when they parse as an Azure timestamp.
	dates map[string]bool
	// value, when set, writes a field itself and reports whether it did.
	value func(w *jw, name string, v *fastjson.Value) bool
}

// writeRenamed writes the members of object v by spec, into the object
// the writer is in.
func writeRenamed(w *jw, v *fastjson.Value, spec *renames) {
	o, err := v.Object()
	if err != nil {
		return
	}
	var ks seen
	o.Visit(func(k []byte, val *fastjson.Value) {
		if spec.drop[string(k)] || spec.dropNull && isNull(val) {
			return
		}
		n, ok := spec.keys[string(k)]
		if !ok {
			n = fieldNameOf(k, keepKeys)
		}
		if n == "" || !ks.add(n) {
			return
		}
		if spec.value != nil && spec.value(w, n, val) {
			return
		}
		if sub := spec.sub[n]; sub != nil {
			switch val.Type() {
			case fastjson.TypeObject:
				w.begin(n)
				writeRenamed(w, val, sub)
				w.end()
				return
			case fastjson.TypeArray:
				arr, _ := val.Array()
				w.beginArr(n)
				for _, e := range arr {
					if e.Type() == fastjson.TypeObject {
						w.begin("")
						writeRenamed(w, e, sub)
						w.end()
					} else {
						w.raw("", func(b []byte) []byte { return appendValue(b, e, keepKeys) })
					}
				}
				w.endArr()
				return
			}
		}
		if spec.dates[n] && val.Type() == fastjson.TypeString {
			b, _ := val.StringBytes()
			w.key(n)
			w.b = entra.AppendJSONString(w.b, isoTime(string(b)))
			return
		}
		w.raw(n, func(b []byte) []byte { return appendValue(b, val, keepKeys) })
	})
}

// isoTime rewrites an Azure timestamp (RFC 3339 with a one-digit hour
// too, or M/d/yyyy h:mm:ss AM) as RFC 3339 in UTC, which a date field
// takes; anything else is returned unchanged.
func isoTime(s string) string {
	for _, layout := range []string{time.RFC3339Nano, "1/2/2006 3:04:05 PM", "1/2/2006 3:04:05 PM -07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format(time.RFC3339Nano)
		}
	}
	return s
}

// ---- azure.identityprotection ----------------------------------------------------

// idProtectionProps are the integration's renames of ID Protection
// properties; other keys keep their logged names.
var idProtectionProps = &renames{
	keys: map[string]string{
		"isDeleted": "is_deleted", "isGuest": "is_guest", "isProcessing": "is_processing",
		"riskType": "risk_type", "riskEventType": "risk_event_type", "riskState": "risk_state",
		"riskLevel": "risk_level", "riskDetail": "risk_detail",
		"lastUpdatedDateTime": "last_updated_datetime", "riskLastUpdatedDateTime": "risk_last_updated_datetime",
		"userId": "user_id", "userDisplayName": "user_display_name", "userPrincipalName": "user_principal_name",
		"userType": "user_type", "activityDateTime": "activity_datetime", "detectedDateTime": "detected_datetime",
		"detectionTimingType": "detection_timing_type", "requestId": "request_id", "correlationId": "correlation_id",
		"tokenIssuerType": "token_issuer_type", "ipAddress": "ip_address",
	},
	// Undocumented, and removed by the integration; privtrail's own
	// object of a reprocessed record.
	drop: map[string]bool{"resourceTenantId": true, "homeTenantId": true, "crossTenantAccessType": true, "privtrail": true},
	dates: map[string]bool{"last_updated_datetime": true, "risk_last_updated_datetime": true,
		"activity_datetime": true, "detected_datetime": true},
	value: func(w *jw, name string, v *fastjson.Value) bool {
		switch name {
		case "user_id":
			// The integration drops a null userId.
			return isNull(v)
		case "additionalInfo":
			// Logged as JSON text; the integration parses it into
			// additional_info (mapped flattened, so only an object or an
			// array of objects), and keeps the text when it does not
			// parse.
			if v.Type() != fastjson.TypeString {
				return false
			}
			b, _ := v.StringBytes()
			var p fastjson.Parser
			parsed, err := p.ParseBytes(b)
			if err != nil || !objects(parsed) {
				return false
			}
			w.raw("additional_info", func(b []byte) []byte { return appendValue(b, parsed, keepKeys) })
			return true
		}
		return false
	},
}

// identityProtection writes azure.identityprotection (the integration's
// name for the fields of its identity_protection dataset).
func (d *doc) identityProtection() {
	w, rec := d.w, d.rec
	w.begin("identityprotection")
	var ks seen
	d.copyEnvelope(&ks, envelopeSpec{
		style: keepKeys,
		// identity, Level and location are removed by the integration.
		skip:   append([]string{"identity", "level", "location"}, commonSkip...),
		rename: map[string]string{"operationName": "operation_name", "operationVersion": "operation_version", "resultSignature": "result_signature"},
	})
	if ks.add("category") {
		w.str("category", rec.LogCategory)
	}
	if ks.add("operation_name") {
		w.str("operation_name", d.riskAction())
	}
	if p := d.properties(); p != nil {
		w.begin("properties")
		writeRenamed(w, p, idProtectionProps)
		w.end()
	}
	w.end()
}

// objects reports whether v is an object, or an array of objects only.
func objects(v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeObject:
		return true
	case fastjson.TypeArray:
		a, _ := v.Array()
		for _, e := range a {
			if e.Type() != fastjson.TypeObject {
				return false
			}
		}
		return true
	}
	return false
}

// ---- azure.graphactivitylogs, azure.aadgraphactivitylogs --------------------------

// graphActivityLogs writes azure.graphactivitylogs or, for Azure AD Graph,
// azure.aadgraphactivitylogs: every key in snake case (the integration's
// keysToSnakeCase), without what moved to ECS fields, without null and
// empty values (the pipeline's final clean-up), and with roles, scopes
// and wids as arrays.
func (d *doc) graphActivityLogs() {
	w := d.w
	aad := d.kind == datasetAADGraphActivity
	name := "graphactivitylogs"
	if aad {
		name = "aadgraphactivitylogs"
	}
	w.begin(name)
	d.copyEnvelopeNonEmpty(envelopeSpec{
		style: snakeKeys,
		skip:  append([]string{"level", "location"}, commonSkip...),
	})
	if p := d.properties(); p != nil {
		w.begin("properties")
		d.graphProperties(p, aad)
		w.end()
	}
	w.end()
}

// copyEnvelopeNonEmpty is copyEnvelope without null and empty values.
func (d *doc) copyEnvelopeNonEmpty(spec envelopeSpec) {
	if d.rec.Shape != entra.ShapeDiagnostic || d.root == nil {
		return
	}
	o, _ := d.root.Object()
	var ks seen
	o.Visit(func(k []byte, v *fastjson.Value) {
		for _, s := range spec.skip {
			if eqFold(k, s) {
				return
			}
		}
		if emptyValue(v) {
			return
		}
		f := names[spec.style].of(k)
		if f.name == "" || !ks.add(f.name) {
			return
		}
		d.w.field(f, func(b []byte) []byte { return appendPruned(b, v, spec.style) })
	})
}

// graphMoved are the properties the Graph activity pipelines move to ECS
// fields (http, url, user_agent, user, source, destination, event) or to
// azure.tenant_id, in snake case.
var graphMoved = map[string]bool{
	"ip_address": true, "caller_ip_address": true, "duration_ms": true, "location": true, "tenant_id": true,
	"request_id": true, "request_method": true, "http_method": true, "request_uri": true,
	"response_size_bytes": true, "response_status_code": true, "http_status_code": true,
	"user_agent": true, "user_id": true, "privtrail": true,
}

func (d *doc) graphProperties(p *fastjson.Value, aad bool) {
	w := d.w
	o, _ := p.Object()
	var ks seen
	o.Visit(func(k []byte, v *fastjson.Value) {
		if emptyValue(v) || len(k) > 2 && k[0] == '_' && k[1] == '_' {
			// Empty values are dropped; so are Microsoft's internal
			// __UDI_RequiredFields_* of Azure AD Graph.
			return
		}
		n := fieldNameOf(k, snakeKeys)
		switch n {
		case "_billed_size", "_is_billable":
			n = n[1:]
		case "issued_at":
			if aad {
				n = "token_issued_at"
			}
		}
		if n == "" || graphMoved[n] || !ks.add(n) {
			return
		}
		switch n {
		case "roles", "wids", "scopes":
			if v.Type() == fastjson.TypeString {
				b, _ := v.StringBytes()
				sep := " "
				if aad && n != "scopes" {
					sep = "," // Azure AD Graph logs roles and wids comma-separated
				}
				w.strs(n, splitList(string(b), sep)...)
				return
			}
		case "client_auth_method":
			if i, ok := wholeNumber(v); ok {
				w.int(n, i)
				return
			}
		case "is_billable":
			if s := strings.ToLower(scalarText(v)); s == "true" || s == "false" {
				w.boolean(n, s == "true")
				return
			}
		case "time_generated", "token_issued_at":
			if v.Type() == fastjson.TypeString {
				b, _ := v.StringBytes()
				w.str(n, isoTime(string(b)))
				return
			}
		}
		w.raw(n, func(b []byte) []byte { return appendPruned(b, v, snakeKeys) })
	})
}

// splitList splits a logged list on sep, without empty elements.
func splitList(s, sep string) []string {
	var out []string
	for _, e := range strings.Split(s, sep) {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// emptyValue reports whether v is null, "", or a container holding only
// such values, which the Graph activity pipelines drop.
func emptyValue(v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeNull:
		return true
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return len(b) == 0
	case fastjson.TypeObject:
		o, _ := v.Object()
		empty := true
		o.Visit(func(_ []byte, x *fastjson.Value) { empty = empty && emptyValue(x) })
		return empty
	case fastjson.TypeArray:
		a, _ := v.Array()
		for _, x := range a {
			if !emptyValue(x) {
				return false
			}
		}
		return true
	}
	return false
}

// appendPruned is appendValue without null and empty members or
// elements.
func appendPruned(dst []byte, v *fastjson.Value, style keyStyle) []byte {
	return appendJSON(dst, v, style, true)
}

// ---- azure.provisioning ----------------------------------------------------------

var (
	// provisioningIdentity is sourceIdentity / targetIdentity.
	provisioningIdentity = &renames{
		keys: map[string]string{"Id": "id", "Name": "name", "identityType": "identity_type"},
		sub: map[string]*renames{"details": {keys: map[string]string{
			"DisplayName": "display_name", "UserPrincipalName": "user_principal_name"}}},
	}
	// provisioningSystem is sourceSystem / targetSystem. The integration
	// spells ServicePrincipalDisplayName dervice_principal_display_name;
	// so does privtrail, so that searches on it find both.
	provisioningSystem = &renames{
		keys: map[string]string{"Id": "id", "Name": "name"},
		sub: map[string]*renames{"details": {keys: map[string]string{"ApplicationId": "application_id",
			"ServicePrincipalDisplayName": "dervice_principal_display_name", "ServicePrincipalId": "service_principal_id"}}},
	}
	idNameType = &renames{keys: map[string]string{"Id": "id", "Name": "name", "Type": "type"}}

	// provisioningProps are the integration's renames of ProvisioningLogs
	// properties; other keys keep their logged names.
	provisioningProps = &renames{
		keys: map[string]string{
			"tenantId": "tenant_id", "activityDateTime": "activity_datetime", "changeId": "change_id", "cycleId": "cycle_id",
			"durationInMilliseconds": "duration_ms", "initiatedBy": "initiated_by", "jobId": "job_id",
			"modifiedProperties": "modified_properties", "provisioningAction": "provisioning_action",
			"provisioningStatusInfo": "provisioning_status_info", "servicePrincipal": "service_principal",
			"sourceIdentity": "source_identity", "targetIdentity": "target_identity",
			"sourceSystem": "source_system", "targetSystem": "target_system", "provisioningSteps": "provisioning_steps",
		},
		// statusInfo repeats provisioningStatusInfo; the integration
		// removes it.
		drop:  map[string]bool{"statusInfo": true, "privtrail": true},
		dates: map[string]bool{"activity_datetime": true},
		sub: map[string]*renames{
			"initiated_by":      idNameType,
			"service_principal": idNameType,
			"source_identity":   provisioningIdentity,
			"target_identity":   provisioningIdentity,
			"source_system":     provisioningSystem,
			"target_system":     provisioningSystem,
			"provisioning_status_info": {
				keys:     map[string]string{"Status": "status", "errorInformation": "error_information"},
				dropNull: true,
				sub: map[string]*renames{"error_information": {keys: map[string]string{
					"additionalDetails": "additional_details", "errorCategory": "error_category",
					"errorCode": "error_code", "recommendedAction": "recommended_action"}}},
			},
			"provisioning_steps": {keys: map[string]string{"provisioningStepType": "provisioning_step_type"}},
		},
	}
)

// categoryAndOperation writes the category and operation_name the
// envelope did not (a Graph resource has neither).
func (d *doc) categoryAndOperation(ks *seen) {
	if ks.add("category") {
		d.w.str("category", d.rec.LogCategory)
	}
	if ks.add("operation_name") {
		d.w.str("operation_name", d.rec.OperationName)
	}
}

// provisioningLogs writes azure.provisioning.
func (d *doc) provisioningLogs() {
	w := d.w
	w.begin("provisioning")
	var ks seen
	d.copyEnvelope(&ks, envelopeSpec{
		style: keepKeys,
		skip:  commonSkip,
		rename: map[string]string{"operationName": "operation_name", "operationVersion": "operation_version",
			"resultType": "result_type", "resultSignature": "result_signature", "Level": "level"},
	})
	d.categoryAndOperation(&ks)
	if p := d.properties(); p != nil {
		w.begin("properties")
		writeRenamed(w, p, provisioningProps)
		w.end()
	}
	w.end()
}

// ---- azure.platformlogs ----------------------------------------------------------

// platformLogs writes azure.platformlogs: the envelope with the
// platformlogs pipeline's renames, other keys as logged, and the
// properties as logged (mapped flattened). A Graph resource of an
// unmodelled category is its properties whole.
func (d *doc) platformLogs() {
	w := d.w
	w.begin("platformlogs")
	var ks seen
	d.copyEnvelope(&ks, envelopeSpec{
		style: keepKeys,
		// level becomes log.level, location geo.name.
		skip: []string{"time", "properties", "resourceId", "correlationId", "callerIpAddress", "durationMs",
			"level", "location", "privtrail"},
		rename: map[string]string{"operationName": "operation_name", "resultType": "result_type",
			"resultSignature": "result_signature", "resultDescription": "result_description", "Status": "status"},
	})
	d.categoryAndOperation(&ks)
	if p := d.properties(); p != nil {
		w.begin("properties")
		writeRenamed(w, p, &renames{drop: map[string]bool{"privtrail": true}})
		w.end()
	}
	w.end()
}
