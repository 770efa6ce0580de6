package sigma

import (
	"strconv"
	"strings"
	"sync"

	"github.com/privtrail/privtrail/entra"
)

// value is one value of a record's field as a rule sees it. Strings are
// never empty: an empty string is no value, so that `field: ”` and
// `field: null` both match a field Entra left empty or out (privtrail's
// typed record cannot tell them apart).
type value struct {
	s    string
	n    float64
	kind valueKind
}

type valueKind uint8

const (
	vString valueKind = iota
	vNumber
	vBool
)

// text is the value as a string pattern sees it: numbers in decimal,
// booleans as true/false.
func (v value) text() string {
	switch v.kind {
	case vNumber:
		return strconv.FormatFloat(v.n, 'f', -1, 64)
	case vBool:
		if v.n != 0 {
			return "true"
		}
		return "false"
	}
	return v.s
}

// getter appends each value of a field of r to d.vals; a field with no
// value appends none. Getters are called through Doc.collect.
type getter func(r *entra.Record, d *Doc)

// Field is one Sigma field name of a logsource and where privtrail's
// decoded record (entra.Record) holds it.
type Field struct {
	// Name is the Sigma field name; rules may spell it in any case.
	Name string
	// Aliases are other names rules use for it (Log Analytics and Graph
	// spellings, SigmaHQ's variants).
	Aliases []string
	// Record says which entra.Record field(s) it reads, for the table.
	Record string
	// Cost orders a selection's checks: 0 a typed field, 1 a list of
	// them, 2 a value built or parsed from the raw document.
	Cost int
	// inRaw is true when every value is a member of the raw document,
	// written there as it is read: member rawSlot of Doc.
	inRaw   bool
	rawSlot int
	get     getter
}

func str(f func(*entra.Record) string) getter {
	return func(r *entra.Record, d *Doc) {
		if s := f(r); s != "" {
			d.vals = append(d.vals, value{s: s})
		}
	}
}

func num(f func(*entra.Record) int) getter {
	return func(r *entra.Record, d *Doc) {
		d.vals = append(d.vals, value{n: float64(f(r)), kind: vNumber})
	}
}

func boolean(f func(*entra.Record) bool) getter {
	return func(r *entra.Record, d *Doc) {
		v := value{kind: vBool}
		if f(r) {
			v.n = 1
		}
		d.vals = append(d.vals, v)
	}
}

// strs yields each non-empty string f passes to add.
func strs(f func(r *entra.Record, add func(string))) getter {
	return func(r *entra.Record, d *Doc) { f(r, d.adder()) }
}

// anyOf yields the values of each getter in turn.
func anyOf(gs ...getter) getter {
	return func(r *entra.Record, d *Doc) {
		for _, g := range gs {
			g(r, d)
		}
	}
}

// rawField is a field read from the original document, which the typed
// record does not keep: properties.<name> in the diagnostic shape,
// <name> in Graph's (see Doc.rawValue). Selections test it last.
func rawField(f Field, name string) Field {
	slot := rawSlot(name)
	f.Cost, f.inRaw, f.rawSlot = 2, true, slot
	f.get = func(r *entra.Record, d *Doc) { d.rawValue(r, slot) }
	return f
}

// eachTarget adds a string of each audit target.
func eachTarget(pick func(t *entra.Target) string) getter {
	return func(r *entra.Record, d *Doc) {
		add := d.adder()
		for i := range r.Audit.Targets {
			add(pick(&r.Audit.Targets[i]))
		}
	}
}

// modifiedField adds a string of each modified property of the targets.
func modifiedField(pick func(p *entra.ModifiedProperty) string) getter {
	return func(r *entra.Record, d *Doc) {
		add := d.adder()
		for i := range r.Audit.Targets {
			for j := range r.Audit.Targets[i].ModifiedProperties {
				add(pick(&r.Audit.Targets[i].ModifiedProperties[j]))
			}
		}
	}
}

// targetStrings yields every string of the audit targets: IDs, names,
// UPNs, types and modified properties, which is what `TargetResources|contains`
// finds in Log Analytics' JSON text of the column.
func targetStrings(r *entra.Record, add func(string)) {
	for i := range r.Audit.Targets {
		t := &r.Audit.Targets[i]
		add(t.ID)
		add(t.DisplayName)
		add(t.UPN)
		add(t.Type)
		add(t.GroupType)
		for j := range t.ModifiedProperties {
			p := &t.ModifiedProperties[j]
			add(p.DisplayName)
			add(p.OldValue)
			add(p.NewValue)
		}
	}
}

func actorStrings(r *entra.Record, add func(string)) {
	add(r.Actor.UPN)
	add(r.Actor.ID)
	add(r.Actor.DisplayName)
	add(r.Audit.InitiatedByApp)
}

// providerOf is the resource provider namespace of an Azure operation
// (Microsoft.ADHybridHealthService of
// Microsoft.ADHybridHealthService/services/delete).
func providerOf(op string) string {
	if i := strings.IndexByte(op, '/'); i > 0 {
		return op[:i]
	}
	return ""
}

// activityMessage is the slot of the activity log's properties.message.
var activityMessage = rawSlot("message")

// Common fields of every logsource.
func commonFields() []Field {
	return []Field{
		{Name: "Id", Record: "ID", get: str(func(r *entra.Record) string { return r.ID })},
		{Name: "CorrelationId", Record: "CorrelationID", get: str(func(r *entra.Record) string { return r.CorrelationID })},
		{Name: "TenantId", Aliases: []string{"AADTenantId"}, Record: "TenantID", get: str(func(r *entra.Record) string { return r.TenantID })},
		{Name: "LogCategory", Aliases: []string{"Type"}, Record: "LogCategory (SignInLogs, AuditLogs, Administrative, …)", get: str(func(r *entra.Record) string { return r.LogCategory })},
	}
}

// services maps each Sigma logsource service of product azure that
// privtrail reads to its stream and fields.
var services = map[string]*Service{
	"signinlogs": {Name: "signinlogs", Stream: entra.StreamSignIn, Fields: append(commonFields(), []Field{
		{Name: "ResultType", Aliases: []string{"status.errorCode"}, Record: "SignIn.ErrorCode (number)", get: num(func(r *entra.Record) int { return r.SignIn.ErrorCode })},
		{Name: "ResultDescription", Aliases: []string{"status.failureReason"}, Record: "SignIn.FailureReason", get: str(func(r *entra.Record) string { return r.SignIn.FailureReason })},
		{Name: "Status", Record: "SignIn.Status (success, failure, interrupted), SignIn.FailureReason, SignIn.AdditionalDetails: any of them, as Log Analytics' Status object holds all three", Cost: 1,
			get: anyOf(str(func(r *entra.Record) string { return r.SignIn.Status }), str(func(r *entra.Record) string { return r.SignIn.FailureReason }), str(func(r *entra.Record) string { return r.SignIn.AdditionalDetails }))},
		{Name: "AdditionalDetails", Aliases: []string{"status.additionalDetails"}, Record: "SignIn.AdditionalDetails", get: str(func(r *entra.Record) string { return r.SignIn.AdditionalDetails })},
		{Name: "UserPrincipalName", Aliases: []string{"Username"}, Record: "Actor.UPN", get: str(func(r *entra.Record) string { return r.Actor.UPN })},
		{Name: "UserId", Record: "Actor.ID", get: str(func(r *entra.Record) string { return r.Actor.ID })},
		{Name: "UserDisplayName", Record: "Actor.DisplayName", get: str(func(r *entra.Record) string { return r.Actor.DisplayName })},
		{Name: "UserType", Record: "SignIn.UserType", get: str(func(r *entra.Record) string { return r.SignIn.UserType })},
		{Name: "IPAddress", Aliases: []string{"CallerIpAddress"}, Record: "SignIn.IPAddress", get: str(func(r *entra.Record) string { return r.SignIn.IPAddress })},
		{Name: "AppDisplayName", Record: "SignIn.AppDisplayName", get: str(func(r *entra.Record) string { return r.SignIn.AppDisplayName })},
		{Name: "AppId", Record: "SignIn.AppID", get: str(func(r *entra.Record) string { return r.SignIn.AppID })},
		{Name: "ClientAppUsed", Aliases: []string{"ClientApp"}, Record: "SignIn.ClientAppUsed", get: str(func(r *entra.Record) string { return r.SignIn.ClientAppUsed })},
		{Name: "UserAgent", Record: "SignIn.UserAgent", get: str(func(r *entra.Record) string { return r.SignIn.UserAgent })},
		{Name: "IsInteractive", Record: "SignIn.IsInteractive (boolean)", get: boolean(func(r *entra.Record) bool { return r.SignIn.IsInteractive })},
		{Name: "ResourceDisplayName", Record: "SignIn.ResourceDisplayName", get: str(func(r *entra.Record) string { return r.SignIn.ResourceDisplayName })},
		{Name: "ResourceId", Aliases: []string{"ResourceIdentity"}, Record: "SignIn.ResourceID", get: str(func(r *entra.Record) string { return r.SignIn.ResourceID })},
		{Name: "ResourceTenantId", Record: "SignIn.ResourceTenantID", get: str(func(r *entra.Record) string { return r.SignIn.ResourceTenantID })},
		{Name: "HomeTenantId", Record: "SignIn.HomeTenantID", get: str(func(r *entra.Record) string { return r.SignIn.HomeTenantID })},
		{Name: "CrossTenantAccessType", Record: "SignIn.CrossTenantAccessType", get: str(func(r *entra.Record) string { return r.SignIn.CrossTenantAccessType })},
		{Name: "ConditionalAccessStatus", Record: "SignIn.ConditionalAccessStatus", get: str(func(r *entra.Record) string { return r.SignIn.ConditionalAccessStatus })},
		{Name: "AuthenticationRequirement", Record: "SignIn.AuthenticationRequirement", get: str(func(r *entra.Record) string { return r.SignIn.AuthenticationRequirement })},
		{Name: "ServicePrincipalId", Record: "SignIn.ServicePrincipalID", get: str(func(r *entra.Record) string { return r.SignIn.ServicePrincipalID })},
		{Name: "ServicePrincipalName", Record: "SignIn.ServicePrincipalName", get: str(func(r *entra.Record) string { return r.SignIn.ServicePrincipalName })},
		{Name: "TokenIssuerType", Record: "SignIn.TokenIssuerType", get: str(func(r *entra.Record) string { return r.SignIn.TokenIssuerType })},
		{Name: "RiskState", Record: "SignIn.RiskState", get: str(func(r *entra.Record) string { return r.SignIn.RiskState })},
		{Name: "RiskLevelDuringSignIn", Record: "SignIn.RiskLevelDuringSignIn", get: str(func(r *entra.Record) string { return r.SignIn.RiskLevelDuringSignIn })},
		{Name: "RiskLevelAggregated", Record: "SignIn.RiskLevelAggregated", get: str(func(r *entra.Record) string { return r.SignIn.RiskLevelAggregated })},
		{Name: "RiskDetail", Record: "SignIn.RiskDetail", get: str(func(r *entra.Record) string { return r.SignIn.RiskDetail })},
		{Name: "RiskEventTypes", Aliases: []string{"RiskEventTypes_V2"}, Record: "SignIn.RiskEventTypes (each)", Cost: 1, get: strs(func(r *entra.Record, add func(string)) {
			for _, s := range r.SignIn.RiskEventTypes {
				add(s)
			}
		})},
		{Name: "DeviceDetail.deviceId", Record: "SignIn.Device.DeviceID", get: str(func(r *entra.Record) string { return r.SignIn.Device.DeviceID })},
		{Name: "DeviceDetail.displayName", Record: "SignIn.Device.DisplayName", get: str(func(r *entra.Record) string { return r.SignIn.Device.DisplayName })},
		{Name: "DeviceDetail.operatingSystem", Record: "SignIn.Device.OperatingSystem", get: str(func(r *entra.Record) string { return r.SignIn.Device.OperatingSystem })},
		{Name: "DeviceDetail.browser", Record: "SignIn.Device.Browser", get: str(func(r *entra.Record) string { return r.SignIn.Device.Browser })},
		{Name: "DeviceDetail.isCompliant", Record: "SignIn.Device.IsCompliant (boolean)", get: boolean(func(r *entra.Record) bool { return r.SignIn.Device.IsCompliant })},
		{Name: "DeviceDetail.isManaged", Record: "SignIn.Device.IsManaged (boolean)", get: boolean(func(r *entra.Record) bool { return r.SignIn.Device.IsManaged })},
		{Name: "DeviceDetail.trustType", Record: "SignIn.Device.TrustType", get: str(func(r *entra.Record) string { return r.SignIn.Device.TrustType })},
		{Name: "LocationDetails.countryOrRegion", Aliases: []string{"Location"}, Record: "SignIn.Location.Country", get: str(func(r *entra.Record) string { return r.SignIn.Location.Country })},
		{Name: "LocationDetails.city", Record: "SignIn.Location.City", get: str(func(r *entra.Record) string { return r.SignIn.Location.City })},
		{Name: "LocationDetails.state", Record: "SignIn.Location.State", get: str(func(r *entra.Record) string { return r.SignIn.Location.State })},
		{Name: "AutonomousSystemNumber", Record: "SignIn.ASN (number)", get: num(func(r *entra.Record) int { return r.SignIn.ASN })},
		{Name: "AuthenticationDetails.authenticationMethod", Record: "SignIn.AuthenticationDetails[].Method (each)", Cost: 1, get: strs(func(r *entra.Record, add func(string)) {
			for i := range r.SignIn.AuthenticationDetails {
				add(r.SignIn.AuthenticationDetails[i].Method)
			}
		})},
		{Name: "ConditionalAccessPolicies.displayName", Record: "SignIn.AppliedCAPolicies[].DisplayName (each)", Cost: 1, get: strs(func(r *entra.Record, add func(string)) {
			for i := range r.SignIn.AppliedCAPolicies {
				add(r.SignIn.AppliedCAPolicies[i].DisplayName)
			}
		})},
		{Name: "EventType", Record: "SignIn.EventType (interactive, nonInteractive, servicePrincipal, managedIdentity)", get: str(func(r *entra.Record) string { return r.SignIn.EventType })},
		{Name: "OperationName", Record: "OperationName (the envelope's operationName, \"Sign-in activity\")", get: str(func(r *entra.Record) string { return r.OperationName })},
		{Name: "ActivityDetails", Record: "LogCategory (SignInLogs, NonInteractiveUserSignInLogs, …): the kind of sign-in log", get: str(func(r *entra.Record) string { return r.LogCategory })},
		rawField(Field{Name: "NetworkLocationDetails", Record: "raw: properties.networkLocationDetails (diagnostic) / networkLocationDetails (Graph), compact JSON"}, "networkLocationDetails"),
		rawField(Field{Name: "AuthenticationProtocol", Aliases: []string{"properties.message"}, Record: "raw: properties.authenticationProtocol (diagnostic) / authenticationProtocol (Graph beta): deviceCode, ropc, …"}, "authenticationProtocol"),
	}...)},
	"auditlogs": {Name: "auditlogs", Stream: entra.StreamAudit, Fields: append(commonFields(), []Field{
		{Name: "OperationName", Aliases: []string{"ActivityDisplayName", "ActivityType"}, Record: "Audit.ActivityDisplayName",
			get: str(func(r *entra.Record) string { return r.Audit.ActivityDisplayName })},
		{Name: "properties.message", Record: "Audit.ActivityDisplayName, and each modified property of the targets as its JSON text (\"displayName\":\"UserType\",\"oldValue\":…,\"newValue\":…)", Cost: 2,
			get: func(r *entra.Record, d *Doc) {
				add := d.adder()
				add(r.Audit.ActivityDisplayName)
				for _, p := range d.properties(r) {
					add(p)
				}
			}},
		{Name: "Category", Record: "Audit.Category", get: str(func(r *entra.Record) string { return r.Audit.Category })},
		{Name: "LoggedByService", Record: "Audit.LoggedByService", get: str(func(r *entra.Record) string { return r.Audit.LoggedByService })},
		{Name: "Result", Aliases: []string{"properties.result"}, Record: "Audit.Result (success, failure, …)", get: str(func(r *entra.Record) string { return r.Audit.Result })},
		{Name: "ResultReason", Aliases: []string{"ResultDescription", "failure_status_reason"}, Record: "Audit.ResultReason", get: str(func(r *entra.Record) string { return r.Audit.ResultReason })},
		{Name: "Status", Record: "Audit.Result or Audit.ResultReason: either (the guide's queries put the reason, e.g. \"Admin registered temporary access pass method for user\", under Status)", Cost: 1,
			get: anyOf(str(func(r *entra.Record) string { return r.Audit.Result }), str(func(r *entra.Record) string { return r.Audit.ResultReason }))},
		{Name: "OperationType", Aliases: []string{"AADOperationType"}, Record: "Audit.OperationType", get: str(func(r *entra.Record) string { return r.Audit.OperationType })},
		{Name: "InitiatedBy", Record: "Actor.UPN, Actor.ID, Actor.DisplayName, Audit.InitiatedByApp: any of them", Cost: 1, get: strs(actorStrings)},
		{Name: "InitiatedBy.user.userPrincipalName", Record: "Actor.UPN", get: str(func(r *entra.Record) string { return r.Actor.UPN })},
		{Name: "InitiatedBy.user.id", Record: "Actor.ID", get: str(func(r *entra.Record) string { return r.Actor.ID })},
		{Name: "InitiatedBy.user.ipAddress", Record: "Actor.IP", get: str(func(r *entra.Record) string { return r.Actor.IP })},
		{Name: "InitiatedBy.app.displayName", Record: "Audit.InitiatedByApp", get: str(func(r *entra.Record) string { return r.Audit.InitiatedByApp })},
		{Name: "TargetResources", Aliases: []string{"properties.targetResources"}, Record: "every string of Audit.Targets: id, displayName, userPrincipalName, type, groupType, modified properties' names and values", Cost: 1, get: strs(targetStrings)},
		{Name: "Target", Record: "Audit.Targets[]: userPrincipalName, displayName, id (each)", Cost: 1, get: strs(func(r *entra.Record, add func(string)) {
			for i := range r.Audit.Targets {
				t := &r.Audit.Targets[i]
				add(t.UPN)
				add(t.DisplayName)
				add(t.ID)
			}
		})},
		{Name: "TargetResources.type", Record: "Audit.Targets[].Type (each)", Cost: 1, get: eachTarget(func(t *entra.Target) string { return t.Type })},
		{Name: "TargetResources.id", Record: "Audit.Targets[].ID (each)", Cost: 1, get: eachTarget(func(t *entra.Target) string { return t.ID })},
		{Name: "TargetResources.displayName", Record: "Audit.Targets[].DisplayName (each)", Cost: 1, get: eachTarget(func(t *entra.Target) string { return t.DisplayName })},
		{Name: "TargetResources.userPrincipalName", Record: "Audit.Targets[].UPN (each)", Cost: 1, get: eachTarget(func(t *entra.Target) string { return t.UPN })},
		{Name: "TargetResources.ModifiedProperties", Record: "Audit.Targets[].ModifiedProperties[]: displayName, oldValue, newValue (each)", Cost: 1, get: strs(func(r *entra.Record, add func(string)) {
			for i := range r.Audit.Targets {
				for _, p := range r.Audit.Targets[i].ModifiedProperties {
					add(p.DisplayName)
					add(p.OldValue)
					add(p.NewValue)
				}
			}
		})},
		{Name: "TargetResources.ModifiedProperties.DisplayName", Record: "Audit.Targets[].ModifiedProperties[].DisplayName (each)", Cost: 1, get: modifiedField(func(p *entra.ModifiedProperty) string { return p.DisplayName })},
		{Name: "TargetResources.ModifiedProperties.OldValue", Record: "Audit.Targets[].ModifiedProperties[].OldValue (each)", Cost: 1, get: modifiedField(func(p *entra.ModifiedProperty) string { return p.OldValue })},
		{Name: "TargetResources.ModifiedProperties.NewValue", Record: "Audit.Targets[].ModifiedProperties[].NewValue (each)", Cost: 1, get: modifiedField(func(p *entra.ModifiedProperty) string { return p.NewValue })},
		{Name: "ConsentContext.IsAdminConsent", Record: "the new value of the targets' modified property ConsentContext.IsAdminConsent", Cost: 1, get: strs(func(r *entra.Record, add func(string)) {
			if v, ok := r.Modified("ConsentContext.IsAdminConsent"); ok {
				add(strings.Trim(v, `"`))
			}
		})},
		{Name: "additionalDetails.<key>", Record: "Audit.AdditionalDetails: the value of the entry whose key is <key> (any case), e.g. additionalDetails.additionalInfo", Cost: 1},
	}...)},
	"activitylogs": {Name: "activitylogs", Stream: entra.StreamActivity, Fields: append(commonFields(), []Field{
		{Name: "OperationNameValue", Aliases: []string{"OperationName"}, Record: "Activity.OperationName (e.g. Microsoft.Authorization/elevateAccess/action)", get: str(func(r *entra.Record) string { return r.Activity.OperationName })},
		{Name: "OperationLabel", Record: "Activity.OperationLabel (the localized operation name)", get: str(func(r *entra.Record) string { return r.Activity.OperationLabel })},
		{Name: "CategoryValue", Aliases: []string{"Category"}, Record: "Activity.Category (Administrative, Policy, …)", get: str(func(r *entra.Record) string { return r.Activity.Category })},
		{Name: "ResourceProviderValue", Aliases: []string{"ResourceProvider"}, Record: "the provider namespace of Activity.OperationName (Microsoft.ADHybridHealthService of Microsoft.ADHybridHealthService/services/delete)",
			get: str(func(r *entra.Record) string { return providerOf(r.Activity.OperationName) })},
		{Name: "ResourceId", Aliases: []string{"_ResourceId"}, Record: "Activity.ResourceID", get: str(func(r *entra.Record) string { return r.Activity.ResourceID })},
		{Name: "ActivityStatusValue", Aliases: []string{"ActivityStatus", "Status"}, Record: "Activity.Status (Started, Succeeded, Failed, …)", get: str(func(r *entra.Record) string { return r.Activity.Status })},
		{Name: "ResultSignature", Record: "Activity.ResultSignature", get: str(func(r *entra.Record) string { return r.Activity.ResultSignature })},
		{Name: "Level", Record: "Activity.Level", get: str(func(r *entra.Record) string { return r.Activity.Level })},
		{Name: "Caller", Record: "Actor.UPN, else Actor.ID", get: str(func(r *entra.Record) string {
			if r.Actor.UPN != "" {
				return r.Actor.UPN
			}
			return r.Actor.ID
		})},
		{Name: "CallerIpAddress", Record: "Actor.IP", get: str(func(r *entra.Record) string { return r.Actor.IP })},
		{Name: "properties.message", Record: "raw: properties.message, else Activity.OperationLabel", Cost: 2,
			get: func(r *entra.Record, d *Doc) {
				n := len(d.vals)
				d.rawValue(r, activityMessage)
				if len(d.vals) == n && r.Activity.OperationLabel != "" {
					d.vals = append(d.vals, value{s: r.Activity.OperationLabel})
				}
			}},
	}...)},
	"riskdetection": {Name: "riskdetection", Stream: entra.StreamRisk, Fields: append(commonFields(), []Field{
		{Name: "riskEventType", Record: "Risk.EventType (detections only)", get: str(func(r *entra.Record) string { return r.Risk.EventType })},
		{Name: "riskLevel", Record: "Risk.Level", get: str(func(r *entra.Record) string { return r.Risk.Level })},
		{Name: "riskState", Record: "Risk.State", get: str(func(r *entra.Record) string { return r.Risk.State })},
		{Name: "riskDetail", Record: "Risk.Detail", get: str(func(r *entra.Record) string { return r.Risk.Detail })},
		{Name: "source", Record: "Risk.Source", get: str(func(r *entra.Record) string { return r.Risk.Source })},
		{Name: "detectionTimingType", Record: "Risk.DetectionTiming", get: str(func(r *entra.Record) string { return r.Risk.DetectionTiming })},
		{Name: "activity", Record: "Risk.Activity", get: str(func(r *entra.Record) string { return r.Risk.Activity })},
		{Name: "ipAddress", Record: "Risk.IPAddress", get: str(func(r *entra.Record) string { return r.Risk.IPAddress })},
		{Name: "requestId", Record: "Risk.RequestID", get: str(func(r *entra.Record) string { return r.Risk.RequestID })},
		{Name: "additionalInfo", Record: "Risk.AdditionalInfo (JSON text)", get: str(func(r *entra.Record) string { return r.Risk.AdditionalInfo })},
		{Name: "userPrincipalName", Record: "Actor.UPN", get: str(func(r *entra.Record) string { return r.Actor.UPN })},
		{Name: "userId", Record: "Actor.ID", get: str(func(r *entra.Record) string { return r.Actor.ID })},
		{Name: "userDisplayName", Record: "Actor.DisplayName", get: str(func(r *entra.Record) string { return r.Actor.DisplayName })},
		{Name: "location.countryOrRegion", Record: "Risk.Location.Country", get: str(func(r *entra.Record) string { return r.Risk.Location.Country })},
	}...)},
}

// Service is a Sigma logsource (product azure, service Name) privtrail reads.
type Service struct {
	Name   string
	Stream entra.Stream
	Fields []Field
	index  map[string]*Field
}

// unread are the services of product azure privtrail does not read, and why.
var unread = map[string]string{
	"pim": "logsource azure/pim: PIM alerts (Graph roleManagementAlerts alert incidents) are not a log privtrail reads; " +
		"PIM's own actions are audit records (service auditlogs)",
}

func init() {
	for _, s := range services {
		s.index = map[string]*Field{}
		for i := range s.Fields {
			f := &s.Fields[i]
			for _, n := range append([]string{f.Name}, f.Aliases...) {
				if _, dup := s.index[strings.ToLower(n)]; dup {
					panic("sigma: duplicate field " + n + " in " + s.Name)
				}
				s.index[strings.ToLower(n)] = f
			}
		}
	}
}

// field finds a Sigma field name of the service, in any case.
func (s *Service) field(name string) *Field {
	if f := s.index[strings.ToLower(name)]; f != nil && f.get != nil {
		return f
	}
	if s.Name == "auditlogs" {
		if k, ok := cutPrefixFold(name, "additionalDetails."); ok && k != "" {
			return &Field{Name: name, Cost: 1, Record: "Audit.AdditionalDetails[key=" + k + "]", get: strs(func(r *entra.Record, add func(string)) {
				for _, kv := range r.Audit.AdditionalDetails {
					if strings.EqualFold(kv.Key, k) {
						add(kv.Value)
					}
				}
			})}
		}
	}
	return nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

type fieldKey struct{ service, field string }

var (
	fieldMu    sync.RWMutex
	fieldCache = map[fieldKey]*Field{}
)

// lookup resolves a field of a service once: reasons and keys ask for
// the same few fields on every hit.
func lookup(service, field string) *Field {
	k := fieldKey{service, field}
	fieldMu.RLock()
	f, ok := fieldCache[k]
	fieldMu.RUnlock()
	if ok {
		return f
	}
	if s := services[service]; s != nil {
		f = s.field(field)
	}
	fieldMu.Lock()
	fieldCache[k] = f
	fieldMu.Unlock()
	return f
}

// FieldValue returns the values of a Sigma field of a service in r,
// joined by ", " (for reasons and group-by keys), and whether it names a
// field of the service.
func FieldValue(service, field string, r *entra.Record) (string, bool) {
	var d Doc // its own: the strings returned may be views of its buffers
	return FieldValueIn(&d, service, field, r)
}

// FieldValueIn is FieldValue reading r through d, the caller's document
// of r (Reset between records): the raw record is parsed once for every
// field asked of it. The string may be a view of d's buffers, valid until
// d reads another record.
func FieldValueIn(d *Doc, service, field string, r *entra.Record) (string, bool) {
	f := lookup(service, field)
	if f == nil {
		return "", false
	}
	vals, start := d.collect(f.get, r)
	defer func() { d.vals = d.vals[:start] }()
	switch len(vals) {
	case 0:
		return "", true
	case 1:
		return vals[0].text(), true
	}
	var b []byte
	for i, v := range vals {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendText(b, v)
	}
	return string(b), true
}

// Appender returns a function that appends the value of a Sigma field of
// a service in r to a hit's reason, written as the monitor package writes
// a reason's string (FieldValue's text, quoted with strconv.Quote when it
// holds a space, =, " or a tab or line break — as several values joined
// by ", " always do), or nothing when the field has no value; nil when
// the service has no such field. It allocates nothing once dst and d
// have grown.
func Appender(service, field string) func(dst []byte, r *entra.Record, d *Doc) []byte {
	f := lookup(service, field)
	if f == nil {
		return nil
	}
	get := f.get
	return func(dst []byte, r *entra.Record, d *Doc) []byte {
		vals, start := d.collect(get, r)
		switch len(vals) {
		case 0:
		case 1:
			if v := vals[0]; v.kind == vString && strings.ContainsAny(v.s, " =\"\t\r\n") {
				dst = strconv.AppendQuote(dst, v.s)
			} else {
				dst = appendText(dst, v)
			}
		default:
			// Quoting the joined text is quoting each value: escapes are
			// per character, and ", " is written as it is.
			dst = append(dst, '"')
			for i, v := range vals {
				if i > 0 {
					dst = append(dst, ", "...)
				}
				if v.kind != vString {
					dst = appendText(dst, v)
					continue
				}
				n := len(dst)
				dst = strconv.AppendQuote(dst, v.s)
				copy(dst[n:], dst[n+1:len(dst)-1])
				dst = dst[:len(dst)-2]
			}
			dst = append(dst, '"')
		}
		d.vals = d.vals[:start]
		return dst
	}
}

// appendText appends v.text().
func appendText(b []byte, v value) []byte {
	switch v.kind {
	case vNumber:
		return strconv.AppendFloat(b, v.n, 'f', -1, 64)
	case vBool:
		return strconv.AppendBool(b, v.n != 0)
	}
	return append(b, v.s...)
}
