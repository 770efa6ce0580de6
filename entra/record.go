// Package entra is the typed model of one Microsoft Entra log record, and
// its decoder for both wire shapes: Microsoft Graph (camelCase,
// createdDateTime / activityDateTime) and the Azure Monitor
// diagnostic-settings envelope (time, category, operationName, properties).
// It also decodes privtrail's own directory-scan documents (stream
// directory, shape privtrail): the state of one privileged account at
// the time of a scan; their format is described at [Directory].
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
	// StreamDirectory is the state of privileged accounts that privtrail's
	// own directory scans emit, one record per principal and scan.
	StreamDirectory Stream = "directory"
	// StreamRisk is Entra ID Protection: risk detections (UserRiskEvents,
	// ServicePrincipalRiskEvents, Graph riskDetections) and the risk state
	// of users and service principals (RiskyUsers, RiskyServicePrincipals,
	// Graph riskyUsers).
	StreamRisk Stream = "risk"
	// StreamGraphActivity is the Microsoft Graph (and legacy Azure AD
	// Graph) activity log: one record per API request made in the tenant.
	StreamGraphActivity Stream = "graphactivity"
	// StreamOther is a valid record of a category privtrail has no model
	// for (ProvisioningLogs, NetworkAccessTrafficLogs, a category Microsoft
	// adds later, …): it is forwarded unchanged with its category, event
	// time and, where the record names one, its actor tagged.
	StreamOther Stream = "other"
)

// Streams lists every stream privtrail decodes.
var Streams = []Stream{StreamSignIn, StreamAudit, StreamActivity, StreamAADDS, StreamDirectory,
	StreamRisk, StreamGraphActivity, StreamOther}

// Shape is the wire shape a record arrived in.
type Shape string

const (
	ShapeGraph      Shape = "graph"      // Microsoft Graph resource
	ShapeDiagnostic Shape = "diagnostic" // Azure Monitor diagnostic-settings record
	ShapePrivtrail  Shape = "privtrail"  // a document privtrail itself produced (directory scans)
)

// Record is one decoded log record. It keeps the original document in Raw
// so that JSON outputs forward it unchanged.
type Record struct {
	Raw    []byte `expr:"-"`
	Origin string `expr:"-"` // where it was read, for errors and dead letters
	// Shard is the unit of ownership the record was read from when
	// several processors share the work ("<topic>/<partition>" of the
	// cluster topic): stateful monitors keep its state per shard so the
	// state can move with the partition. "" for a single agent.
	Shard string `expr:"-"`

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

	// Actor is who signed in (sign-ins), who initiated the change
	// (audit, activity, aadds), or the account a directory record
	// describes (directory).
	Actor Principal `expr:"actor"`

	SignIn        SignIn        `expr:"signin"`
	Audit         Audit         `expr:"audit"`
	Activity      Activity      `expr:"activity"`
	AADDS         AADDS         `expr:"aadds"`
	Directory     Directory     `expr:"directory"`
	Risk          Risk          `expr:"risk"`
	GraphActivity GraphActivity `expr:"graphActivity"`

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
	// TokenIssuerType is who issued the token: AzureAD, or
	// ADFederationServices for AD FS sign-ins.
	TokenIssuerType string `expr:"tokenIssuerType"`

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

// Risk holds the fields of an Entra ID Protection record: a risk
// detection, or the risk state of a user or service principal. Values are
// as Entra logs them (Graph's enumerations): riskLevel low, medium, high,
// hidden or none; riskState atRisk, confirmedCompromised, remediated,
// dismissed, confirmedSafe or none. The record's actor is the user or
// service principal at risk.
type Risk struct {
	// Kind is "detection" for one risk detection, "state" for a user's or
	// service principal's aggregated risk as of Record.Time.
	Kind string `expr:"kind"`
	// EventType is the detection type (leakedCredentials, anomalousToken,
	// unfamiliarFeatures, …); "" for a risk state.
	EventType string `expr:"riskEventType"`
	Level     string `expr:"riskLevel"`
	State     string `expr:"riskState"`
	Detail    string `expr:"riskDetail"` // e.g. userPassedMFADrivenByRiskBasedPolicy, adminDismissedAllRiskForUser
	// Source is what detected it: IdentityProtection,
	// MicrosoftCloudAppSecurity, ActiveDirectory, …
	Source string `expr:"source"`
	// DetectionTiming is realtime or offline (found after the sign-in,
	// which then carries no trace of it).
	DetectionTiming string    `expr:"detectionTimingType"`
	Activity        string    `expr:"activity"` // signin, user, servicePrincipal
	RequestID       string    `expr:"requestId"`
	IPAddress       string    `expr:"ipAddress"`
	Location        Location  `expr:"location"`
	Detected        time.Time `expr:"detectedDateTime"` // zero when not logged
	// AdditionalInfo is the detection's additionalInfo as logged (JSON
	// text).
	AdditionalInfo string `expr:"additionalInfo"`
}

// GraphActivity holds the fields of a Microsoft Graph activity record:
// one HTTP request to Graph (or to the legacy Azure AD Graph). The actor
// is the calling user when userId is set, else the calling service
// principal.
type GraphActivity struct {
	RequestMethod      string `expr:"requestMethod"` // GET, POST, PATCH, PUT, DELETE
	RequestURI         string `expr:"requestUri"`
	ResponseStatusCode int    `expr:"responseStatusCode"`
	APIVersion         string `expr:"apiVersion"`
	AppID              string `expr:"appId"`
	ServicePrincipalID string `expr:"servicePrincipalId"`
	UserID             string `expr:"userId"`
	IPAddress          string `expr:"ipAddress"`
	UserAgent          string `expr:"userAgent"`
	RequestID          string `expr:"requestId"`
	// Scopes are the delegated permissions of the token, Roles its
	// application permissions (space-separated as logged).
	Scopes string `expr:"scopes"`
	Roles  string `expr:"roles"`
	// Wids are the directory role template IDs in the token.
	Wids             []string `expr:"wids"`
	SignInActivityID string   `expr:"signInActivityId"`
	DurationMs       int      `expr:"durationMs"`
}

// IsWrite reports whether the request can change the tenant: POST, PUT,
// PATCH or DELETE.
func (g *GraphActivity) IsWrite() bool {
	switch m := g.RequestMethod; {
	case eqFold(m, "POST"), eqFold(m, "PUT"), eqFold(m, "PATCH"), eqFold(m, "DELETE"):
		return true
	}
	return false
}

// Directory holds the fields of a directory record: the state of one
// privileged principal as one of privtrail's directory scans saw it.
//
// # The directory document
//
// The Graph directory scan emits, once per scan, one JSON object per
// privileged principal (any number per file or Event Hubs message, like
// other records):
//
//	{
//	  "id": "dirscan-20261204T120000Z-0b229528-7664-5327-845d-4a430aad7f23",
//	  "recordType": "privilegedUser",
//	  "scanDateTime": "2026-12-04T12:00:00Z",
//	  "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
//	  "userId": "0b229528-7664-5327-845d-4a430aad7f23",
//	  "userPrincipalName": "adm_farid@contoso.example",
//	  "userDisplayName": "Farid (admin)",
//	  "userType": "Member",
//	  "accountEnabled": true,
//	  "createdDateTime": "2024-01-10T09:00:00Z",
//	  "lastSignInDateTime": "2026-11-30T08:12:00Z",
//	  "lastSignInSource": "graph",
//	  "mfaRegistered": true,
//	  "methodsRegistered": ["microsoftAuthenticatorPush", "fido2"],
//	  "roles": [{"name": "Exchange Administrator",
//	             "templateId": "29232cdf-9323-42fd-ade2-1d097af3e4de", "assignment": "eligible"}]
//	}
//
// The decoder recognises it by its top-level scanDateTime and recordType:
// a document with either one (recordType as a string) is decoded, and
// validated, as a directory record; no Entra log has them. The members:
//
//	member              JSON type                 required  record field
//	id                  string                    yes       Record.ID (one per scan and principal)
//	recordType          string                    yes       RecordType and Record.OperationName: "privilegedUser"
//	scanDateTime        RFC 3339 string           yes       ScanTime and Record.Time
//	tenantId            string                    yes       Record.TenantID
//	userId              string                    yes       Record.Actor.ID
//	userPrincipalName   string                    yes       Record.Actor.UPN
//	userDisplayName     string, null              no        Record.Actor.DisplayName
//	userType            string, null              no        UserType (Member, Guest)
//	accountEnabled      boolean                   yes       AccountEnabled
//	createdDateTime     RFC 3339 string, null     no        Created
//	lastSignInDateTime  RFC 3339 string, null     no        LastSignIn, DaysSinceSignIn; null: never signed in, or unknown
//	lastSignInSource    "graph", "agent", null    (1)       LastSignInSource
//	mfaRegistered       boolean, null             no        MFARegistered, MFAKnown; null: unknown (no registration report)
//	methodsRegistered   array of strings, null    no        Methods
//	roles               array of objects, null    no        Roles: {name, templateId, assignment}
//
// (1) required when lastSignInDateTime is set: "graph" when it is the
// user's signInActivity in Microsoft Graph, "agent" when it is the last
// sign-in privtrail itself saw (its own state). It may be given without a
// lastSignInDateTime (that source knows of no sign-in).
//
// In roles, name and assignment ("active" or "eligible") are required and
// templateId is optional. An absent member is the same as null. Required
// strings must not be empty; the enumerations (recordType,
// lastSignInSource, assignment) are matched ignoring case and kept in the
// spelling above. Every member must have its JSON type (a number is not a
// string, "true" is not a boolean), and the error (a *DecodeError) names
// the member:
//
//	directory record: userPrincipalName: missing
//	directory record: accountEnabled: want true or false, got string
//	directory record: roles[1].assignment: want active or eligible, got "permanent"
//
// Members not listed are ignored, a "privtrail" object added by
// privtrail's JSON outputs included, so that privtrail's output decodes
// again.
//
// The record's actor is the principal (Type "user"), Stream is
// StreamDirectory, Shape ShapePrivtrail and LogCategory "DirectoryScan".
// AppendJSON adds "directory":{"days_since_sign_in":N} to the privtrail
// object.
type Directory struct {
	RecordType string    `expr:"recordType"` // privilegedUser
	ScanTime   time.Time `expr:"scanDateTime"`
	UserType   string    `expr:"userType"` // Member, Guest
	// AccountEnabled is false for a disabled account.
	AccountEnabled bool      `expr:"accountEnabled"`
	Created        time.Time `expr:"createdDateTime"` // zero when not given
	// LastSignIn is the last sign-in known to LastSignInSource; zero when
	// the account never signed in or it is not known (Graph's
	// 0001-01-01T00:00:00Z for "never" reads as zero too).
	LastSignIn       time.Time `expr:"lastSignInDateTime"`
	LastSignInSource string    `expr:"lastSignInSource"` // graph | agent
	// DaysSinceSignIn is the number of whole days (24 h) from LastSignIn
	// to ScanTime; -1 when LastSignIn is unknown, 0 when it is later than
	// the scan.
	DaysSinceSignIn int `expr:"daysSinceSignIn"`
	// MFARegistered says whether the user registered a method usable for
	// multifactor authentication; it means something only when MFAKnown
	// (the scan had the registration report).
	MFARegistered bool     `expr:"mfaRegistered"`
	MFAKnown      bool     `expr:"mfaKnown"`
	Methods       []string `expr:"methodsRegistered"` // e.g. microsoftAuthenticatorPush, fido2
	// Roles are the directory roles the scan found, as Graph names them:
	// Name, TemplateID and Assignment (active | eligible); Via and
	// Privileged are not set (the privilege stage tags the actor).
	Roles []RoleHeld `expr:"roles"`
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
	CountryISO string `expr:"countryIso" json:"country_iso,omitempty"`
	// CountryName, RegionName (the first subdivision) and ContinentName
	// are the database's English names, "" where it has none.
	CountryName   string  `expr:"countryName" json:"country_name,omitempty"`
	RegionName    string  `expr:"regionName" json:"region_name,omitempty"`
	ContinentName string  `expr:"continentName" json:"continent_name,omitempty"`
	City          string  `expr:"city" json:"city,omitempty"`
	Lat           float64 `expr:"lat" json:"lat"`
	Lon           float64 `expr:"lon" json:"lon"`
	ASN           uint    `expr:"asn" json:"asn,omitempty"`
	ASOrg         string  `expr:"asOrg" json:"as_org,omitempty"`
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

// Hit is one monitor annotation. Title, Risk, Source, Notes and Tags come
// from the monitor definition; Reason names the fields that matched.
type Hit struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Risk   string `json:"risk"`
	Source string `json:"source"`
	Reason string `json:"reason"`
	Notes  string `json:"notes,omitempty"`
	// Tags are the monitor's tags as written: a Sigma rule's (ATT&CK
	// attack.t1078.004, attack.initial-access, …) or a pipeline file's
	// tags list. Hits of one monitor share the slice: never modify it.
	Tags []string `json:"tags,omitempty"`
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
