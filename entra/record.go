// Package entra is the typed model of one Microsoft Entra log record, and
// its decoder for both wire shapes: Microsoft Graph (camelCase,
// createdDateTime / activityDateTime) and the Azure Monitor
// diagnostic-settings envelope (time, category, operationName, properties).
//
// The field names in `expr` tags are what monitor expressions in pipeline
// files see; they follow Graph's names so that a SIEM engineer can write
// `errorCode == 50126` or `clientAppUsed in params.legacy_clients`.
package entra

import "time"

// Stream is the kind of log a record belongs to.
type Stream string

const (
	StreamSignIn   Stream = "signin"   // sign-in logs, every sign-in event type
	StreamAudit    Stream = "audit"    // directory audit logs
	StreamActivity Stream = "activity" // Azure Activity log (Administrative)
	StreamAADDS    Stream = "aadds"    // Entra Domain Services security audit events
)

// Streams lists every stream privtrail decodes.
var Streams = []Stream{StreamSignIn, StreamAudit, StreamActivity, StreamAADDS}

// Shape is the wire shape a record arrived in.
type Shape string

const (
	ShapeGraph      Shape = "graph"      // Microsoft Graph resource
	ShapeDiagnostic Shape = "diagnostic" // Azure Monitor diagnostic-settings record
)

// Record is one decoded log record. It keeps the original document in Raw
// so that JSON outputs forward it unchanged.
type Record struct {
	Raw    []byte `expr:"-"`
	Origin string `expr:"-"` // where it was read, for errors and dead letters

	Stream Stream `expr:"stream"`
	Shape  Shape  `expr:"shape"`
	// LogCategory is the diagnostic-settings category (SignInLogs,
	// NonInteractiveUserSignInLogs, AuditLogs, Administrative, PrivilegeUse, …);
	// for Graph-shaped records it is derived from the stream and event type.
	LogCategory   string    `expr:"logCategory"`
	Time          time.Time `expr:"time"` // event time, UTC
	ID            string    `expr:"id"`
	CorrelationID string    `expr:"correlationId"`
	TenantID      string    `expr:"tenantId"`
	// OperationName is the diagnostic envelope's operationName, or the
	// activity's display name for Graph audit records.
	OperationName string `expr:"operationName"`
	// Level is the diagnostic envelope's Level (or level) as logged: "4"
	// whether Azure wrote it as a number or a string, or "Informational".
	Level string `expr:"level"`

	// Actor is who signed in (sign-ins) or who initiated the change
	// (audit, activity, aadds).
	Actor Principal `expr:"actor"`

	SignIn   SignIn   `expr:"signin"`
	Audit    Audit    `expr:"audit"`
	Activity Activity `expr:"activity"`
	AADDS    AADDS    `expr:"aadds"`

	// Context is what the enrichment stages add; it becomes the
	// "privtrail" object of JSON outputs.
	Context Context `expr:"ctx"`
	// Hits are the monitors this record matched, in catalog order.
	Hits []Hit `expr:"-"`
}

// Principal is a user, application or service principal that acts or is
// acted upon. The privilege stage fills the fields after Type.
type Principal struct {
	ID          string `expr:"id"`
	UPN         string `expr:"upn"` // user principal name, as logged
	DisplayName string `expr:"displayName"`
	IP          string `expr:"ip"`
	// Type is "user", "servicePrincipal", "app", "group", "role", "device",
	// or whatever Entra logged for a target resource.
	Type string `expr:"type"`

	Privileged bool `expr:"privileged"` // holds a privileged role, active or eligible
	// Emergency marks an emergency access ("break-glass") account.
	Emergency bool       `expr:"emergencyAccess"`
	Roles     []RoleHeld `expr:"roles"`
	// Known is true when the role map has an entry for this principal.
	Known bool `expr:"known"`
}

// RoleHeld is one role assignment of a principal.
type RoleHeld struct {
	Name       string `expr:"name" json:"name"`
	TemplateID string `expr:"templateId" json:"template_id"`
	Assignment string `expr:"assignment" json:"assignment"` // active | eligible
	Via        string `expr:"via" json:"via"`               // direct | group:<id>
	Privileged bool   `expr:"privileged" json:"privileged"`
}

// SignIn holds the fields of a sign-in record (every sign-in event type).
type SignIn struct {
	// EventType is interactive, nonInteractive, servicePrincipal or
	// managedIdentity.
	EventType string `expr:"eventType"`
	// Status is success, failure or interrupted, as the Entra portal shows it.
	Status            string `expr:"status"`
	ErrorCode         int    `expr:"errorCode"`
	FailureReason     string `expr:"failureReason"`
	AdditionalDetails string `expr:"additionalDetails"`

	AppID                     string `expr:"appId"`
	AppDisplayName            string `expr:"appDisplayName"`
	ClientAppUsed             string `expr:"clientAppUsed"`
	IPAddress                 string `expr:"ipAddress"`
	UserAgent                 string `expr:"userAgent"`
	UserType                  string `expr:"userType"`
	IsInteractive             bool   `expr:"isInteractive"`
	ResourceDisplayName       string `expr:"resourceDisplayName"`
	ResourceID                string `expr:"resourceId"`
	ResourceTenantID          string `expr:"resourceTenantId"`
	HomeTenantID              string `expr:"homeTenantId"`
	CrossTenantAccessType     string `expr:"crossTenantAccessType"`
	ConditionalAccessStatus   string `expr:"conditionalAccessStatus"`
	AuthenticationRequirement string `expr:"authenticationRequirement"`
	ServicePrincipalID        string `expr:"servicePrincipalId"`
	ServicePrincipalName      string `expr:"servicePrincipalName"`

	RiskState             string   `expr:"riskState"`
	RiskLevelDuringSignIn string   `expr:"riskLevelDuringSignIn"`
	RiskLevelAggregated   string   `expr:"riskLevelAggregated"`
	RiskDetail            string   `expr:"riskDetail"`
	RiskEventTypes        []string `expr:"riskEventTypes"`

	Device   DeviceDetail `expr:"deviceDetail"`
	Location Location     `expr:"location"`
	// ASN is autonomousSystemNumber when Entra logged it.
	ASN int `expr:"autonomousSystemNumber"`

	AuthenticationDetails []AuthStep `expr:"authenticationDetails"`
	AppliedCAPolicies     []CAPolicy `expr:"appliedConditionalAccessPolicies"`
}

// DeviceDetail is the sign-in's deviceDetail.
type DeviceDetail struct {
	DeviceID        string `expr:"deviceId"`
	DisplayName     string `expr:"displayName"`
	OperatingSystem string `expr:"operatingSystem"`
	Browser         string `expr:"browser"`
	IsCompliant     bool   `expr:"isCompliant"`
	IsManaged       bool   `expr:"isManaged"`
	TrustType       string `expr:"trustType"`
}

// Location is the sign-in's location as Entra resolved it.
type Location struct {
	City      string  `expr:"city"`
	State     string  `expr:"state"`
	Country   string  `expr:"countryOrRegion"`
	Latitude  float64 `expr:"latitude"`
	Longitude float64 `expr:"longitude"`
}

// AuthStep is one entry of authenticationDetails.
type AuthStep struct {
	Method       string `expr:"authenticationMethod"`
	MethodDetail string `expr:"authenticationMethodDetail"`
	Succeeded    bool   `expr:"succeeded"`
	ResultDetail string `expr:"authenticationStepResultDetail"`
	Requirement  string `expr:"authenticationStepRequirement"`
}

// CAPolicy is one entry of appliedConditionalAccessPolicies.
type CAPolicy struct {
	ID          string `expr:"id"`
	DisplayName string `expr:"displayName"`
	Result      string `expr:"result"` // success, failure, notApplied, notEnabled, …
}

// Audit holds the fields of a directory audit record.
type Audit struct {
	Category            string `expr:"category"` // UserManagement, RoleManagement, …
	ActivityDisplayName string `expr:"activityDisplayName"`
	LoggedByService     string `expr:"loggedByService"` // Core Directory, PIM, …
	Result              string `expr:"result"`          // success, failure, timeout, unknownFutureValue
	ResultReason        string `expr:"resultReason"`
	OperationType       string `expr:"operationType"`
	// InitiatedByApp is set when an application, not a user, made the change.
	InitiatedByApp    string     `expr:"initiatedByApp"`
	Targets           []Target   `expr:"targets"`
	AdditionalDetails []KeyValue `expr:"additionalDetails"`
}

// Target is one entry of an audit record's targetResources.
type Target struct {
	Principal          `expr:"principal"`
	ModifiedProperties []ModifiedProperty `expr:"modifiedProperties"`
	GroupType          string             `expr:"groupType"`
}

// ModifiedProperty is one changed property of a target. Entra logs the old
// and new values as JSON-encoded strings; the decoder unquotes a JSON string
// value ("\"Global Administrator\"" becomes Global Administrator) and keeps
// other JSON (arrays, objects) as their compact text.
type ModifiedProperty struct {
	DisplayName string `expr:"displayName"`
	OldValue    string `expr:"oldValue"`
	NewValue    string `expr:"newValue"`
}

// KeyValue is an entry of additionalDetails.
type KeyValue struct {
	Key   string `expr:"key"`
	Value string `expr:"value"`
}

// Activity holds the fields of an Azure Activity log record.
type Activity struct {
	OperationName   string `expr:"operationName"`   // e.g. Microsoft.Authorization/elevateAccess/action
	OperationLabel  string `expr:"operationLabel"`  // localized name when logged
	Category        string `expr:"category"`        // Administrative, …
	Status          string `expr:"status"`          // Started, Succeeded, Failed, …
	ResultSignature string `expr:"resultSignature"` // e.g. Succeeded.OK
	ResourceID      string `expr:"resourceId"`
	Level           string `expr:"level"`
}

// AADDS holds the fields of an Entra Domain Services security audit event.
type AADDS struct {
	EventID       int    `expr:"eventId"`
	Computer      string `expr:"computer"`
	PrivilegeList string `expr:"privilegeList"`
	ServiceName   string `expr:"serviceName"`
	ProcessName   string `expr:"processName"`
	Domain        string `expr:"domain"`
}

// Context is what enrichment adds to a record; it is encoded as the
// "privtrail" object. Stages that are not configured leave their part nil.
type Context struct {
	Geo       *Geo       `expr:"geo"`
	Device    *Device    `expr:"device"`
	WorkHours *WorkHours `expr:"workHours"`
}

// Geo is the GeoIP result for the sign-in's IP address.
type Geo struct {
	CountryISO string  `expr:"countryIso" json:"country_iso,omitempty"`
	City       string  `expr:"city" json:"city,omitempty"`
	Lat        float64 `expr:"lat" json:"lat"`
	Lon        float64 `expr:"lon" json:"lon"`
	ASN        uint    `expr:"asn" json:"asn,omitempty"`
	ASOrg      string  `expr:"asOrg" json:"as_org,omitempty"`
}

// Device is the PAW/SAW status of the device a sign-in came from.
type Device struct {
	ID        string `expr:"id" json:"id"`
	PAW       bool   `expr:"paw" json:"paw"`
	Reason    string `expr:"reason" json:"reason,omitempty"`
	Compliant bool   `expr:"compliant" json:"compliant"`
	Managed   bool   `expr:"managed" json:"managed"`
	TrustType string `expr:"trustType" json:"trust_type,omitempty"`
	Browser   string `expr:"browser" json:"browser,omitempty"`
	OS        string `expr:"os" json:"os,omitempty"`
}

// WorkHours says whether the event happened inside the user's schedule.
type WorkHours struct {
	Inside    bool   `expr:"inside" json:"inside"`
	LocalTime string `expr:"localTime" json:"local_time"`
	Schedule  string `expr:"schedule" json:"schedule"`
}

// Hit is one monitor annotation. Title, Risk, Source and Notes come from
// the monitor definition; Reason names the fields that matched.
type Hit struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Risk   string `json:"risk"`
	Source string `json:"source"`
	Reason string `json:"reason"`
	Notes  string `json:"notes,omitempty"`
}

// User returns the principal whose privileges a record is about: the
// actor. It exists so outputs key records the same way (Kafka partition,
// Splunk host) without knowing streams.
func (r *Record) User() *Principal { return &r.Actor }

// TargetUsers returns the audit targets of type User.
func (r *Record) TargetUsers() []*Principal {
	var out []*Principal
	for i := range r.Audit.Targets {
		if eqFold(r.Audit.Targets[i].Type, "user") {
			out = append(out, &r.Audit.Targets[i].Principal)
		}
	}
	return out
}

// Modified returns the new value of the first modified property named
// name among the audit targets, and whether one was found.
func (r *Record) Modified(name string) (string, bool) {
	for i := range r.Audit.Targets {
		for _, p := range r.Audit.Targets[i].ModifiedProperties {
			if eqFold(p.DisplayName, name) {
				return p.NewValue, true
			}
		}
	}
	return "", false
}

func eqFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
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
