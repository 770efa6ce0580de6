package synth

import (
	"strconv"
	"time"
)

// audit is one directory audit event, before it is written in either shape.
type audit struct {
	At            time.Time
	Category      string // UserManagement, RoleManagement, …
	Activity      string // activityDisplayName
	Service       string // loggedByService
	OperationType string // Add, Update, Delete, Assign, Unassign, Other
	Result        string // success, failure
	ResultReason  string
	Actor         *User             // the initiating user, or nil
	ActorApp      *ServicePrincipal // the initiating application, or nil
	ActorIP       string
	Targets       []target
	Details       []kv
	ID            guid
	Correlation   guid
	// Seq makes the suffix of Core Directory style IDs ("Directory_<corr>_ABCDE_123").
	Seq uint64
}

type target struct {
	ID, DisplayName, Type, UPN string
	GroupType                  string
	Props                      []prop
}

// prop is a modified property. Old and New are the values' JSON text (Entra
// logs them as JSON-encoded strings: `"Global Administrator"`, `[true]`);
// an empty one is written as null.
type prop struct{ Name, Old, New string }

type kv struct{ Key, Value string }

func userTarget(u *User, props ...prop) target {
	return target{ID: u.ID, DisplayName: u.DisplayName, Type: "User", UPN: u.UPN, Props: props}
}

// idPrefix is how Entra prefixes directoryAudit IDs per service.
func idPrefix(service string) string {
	switch service {
	case "Core Directory":
		return "Directory"
	case "Self-service Password Management":
		return "SSPR"
	case "Authentication Methods":
		return "IAMUX"
	case "Invited Users":
		return "Invited Users"
	case "B2B":
		return "B2B"
	case "Device Registration Service":
		return "DRS"
	case "Conditional Access":
		return "IPCGraph"
	case "MFA":
		return "MFA"
	}
	return ""
}

func (a *audit) appendID(b []byte) []byte {
	b = append(b, '"')
	if p := idPrefix(a.Service); p != "" {
		b = append(b, p...)
		b = append(b, '_')
		b = a.Correlation.append(b)
		b = append(b, '_')
		x := a.Seq
		for i := 0; i < 5; i++ {
			b = append(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[x%36])
			x /= 36
		}
		b = append(b, '_')
		b = strconv.AppendUint(b, x%500000000, 10)
	} else {
		b = a.ID.append(b)
	}
	return append(b, '"')
}

// appendAudit writes a as a Graph directoryAudit resource or as a
// diagnostic-settings AuditLogs record.
func (t *Tenant) appendAudit(b []byte, a *audit, graph bool) []byte {
	e := enc{b: b}
	e.begin()
	if !graph {
		e.time("time", a.At, false)
		e.b = append(e.b, `,"resourceId":"/tenants/`...)
		e.b = append(e.b, t.ID...)
		e.b = append(e.b, `/providers/Microsoft.aadiam"`...)
		e.str("operationName", a.Activity)
		e.str("operationVersion", "1.0")
		e.str("category", "AuditLogs")
		e.str("tenantId", t.ID)
		e.str("resultSignature", "None")
		if a.Result != "success" && a.ResultReason != "" {
			e.str("resultDescription", a.ResultReason)
		}
		e.int("durationMs", 0)
		if a.ActorIP != "" {
			e.str("callerIpAddress", a.ActorIP)
		}
		e.guid("correlationId", a.Correlation)
		if a.ActorApp != nil {
			e.str("identity", a.ActorApp.DisplayName)
		}
		e.int("Level", 4)
		e.obj("properties")
	}
	e.key("id")
	e.b = a.appendID(e.b)
	e.str("category", a.Category)
	e.guid("correlationId", a.Correlation)
	e.str("result", a.Result)
	e.str("resultReason", a.ResultReason)
	e.str("activityDisplayName", a.Activity)
	e.time("activityDateTime", a.At, !graph)
	e.str("loggedByService", a.Service)
	e.str("operationType", a.OperationType)
	e.null("userAgent")
	e.obj("initiatedBy")
	if a.ActorApp != nil {
		e.obj("app")
		if a.ActorApp.AppObjectID == "" {
			e.str("appId", a.ActorApp.AppID)
		} else {
			e.null("appId")
		}
		e.str("displayName", a.ActorApp.DisplayName)
		e.str("servicePrincipalId", a.ActorApp.ID)
		e.null("servicePrincipalName")
		e.end()
		if graph {
			e.null("user")
		}
	} else if a.Actor != nil {
		if graph {
			e.null("app")
		}
		e.obj("user")
		e.str("id", a.Actor.ID)
		e.null("displayName")
		e.str("userPrincipalName", a.Actor.UPN)
		e.str("ipAddress", a.ActorIP)
		if graph {
			e.null("userType")
			e.null("homeTenantId")
			e.null("homeTenantName")
		} else {
			e.raw("roles", "[]")
		}
		e.end()
	}
	e.end()
	e.arr("targetResources")
	for i := range a.Targets {
		tg := &a.Targets[i]
		e.objItem()
		e.strNull("id", tg.ID)
		e.strNull("displayName", tg.DisplayName)
		e.str("type", tg.Type)
		if tg.UPN != "" {
			e.str("userPrincipalName", tg.UPN)
		} else if graph {
			e.null("userPrincipalName")
		}
		if graph {
			e.strNull("groupType", tg.GroupType)
		}
		e.arr("modifiedProperties")
		for _, p := range tg.Props {
			e.objItem()
			e.str("displayName", p.Name)
			e.strNull("oldValue", p.Old)
			e.strNull("newValue", p.New)
			e.end()
		}
		e.endArr()
		if !graph {
			e.raw("administrativeUnits", "[]")
		}
		e.end()
	}
	e.endArr()
	e.arr("additionalDetails")
	for _, d := range a.Details {
		e.objItem()
		e.str("key", d.Key)
		e.str("value", d.Value)
		e.end()
	}
	e.endArr()
	if !graph {
		e.end()
	}
	e.end()
	return e.b
}

// activity is one Azure Activity log (Administrative) event.
type activity struct {
	At          time.Time
	Operation   string // e.g. Microsoft.Authorization/elevateAccess/action
	ResourceID  string
	ResultType  string // Start, Success, Failure, Accept
	Caller      *User
	CallerApp   *ServicePrincipal
	IP          string
	Correlation guid
	EventData   guid
	Scope       string // authorization scope, empty for tenant-level actions
	Role        string // the caller's role that allowed it (authorization.evidence.role)
}

func (t *Tenant) appendActivity(b []byte, a *activity) []byte {
	e := enc{b: b}
	e.begin()
	e.str("RoleLocation", "West Europe")
	e.time("time", a.At, false)
	e.str("resourceId", a.ResourceID)
	e.str("operationName", a.Operation)
	e.str("category", "Administrative")
	e.str("resultType", a.ResultType)
	switch a.ResultType {
	case "Start":
		e.str("resultSignature", "Started.")
	case "Accept":
		e.str("resultSignature", "Accepted.Created")
	case "Failure":
		e.str("resultSignature", "Failed.Forbidden")
	default:
		e.str("resultSignature", "Succeeded.OK")
	}
	e.str("durationMs", "0")
	e.str("callerIpAddress", a.IP)
	e.guid("correlationId", a.Correlation)
	e.obj("identity")
	if a.Scope != "" {
		e.obj("authorization")
		e.str("scope", a.Scope)
		e.str("action", a.Operation)
		e.obj("evidence")
		e.str("role", a.Role)
		e.str("roleAssignmentScope", "/subscriptions/"+t.SubscriptionID)
		if a.CallerApp != nil {
			e.str("principalType", "ServicePrincipal")
		} else {
			e.str("principalType", "User")
		}
		e.end()
		e.end()
	}
	e.obj("claims")
	e.str("aud", "https://management.core.windows.net/")
	e.str("iss", "https://sts.windows.net/"+t.ID+"/")
	e.str("iat", strconv.FormatInt(a.At.Unix()-300, 10))
	e.str("nbf", strconv.FormatInt(a.At.Unix()-300, 10))
	e.str("exp", strconv.FormatInt(a.At.Unix()+4200, 10))
	e.str("http://schemas.microsoft.com/identity/claims/tenantid", t.ID)
	if a.CallerApp != nil {
		e.str("appid", a.CallerApp.AppID)
		e.str("http://schemas.microsoft.com/identity/claims/objectidentifier", a.CallerApp.ID)
		e.str("idtyp", "app")
	} else if a.Caller != nil {
		e.str("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", a.Caller.UPN)
		e.str("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", a.Caller.UPN)
		e.str("name", a.Caller.DisplayName)
		e.str("http://schemas.microsoft.com/identity/claims/objectidentifier", a.Caller.ID)
		e.str("appid", appPortal.ID)
		e.str("ipaddr", a.IP)
		e.str("http://schemas.microsoft.com/claims/authnmethodsreferences", "pwd,mfa")
	}
	e.end()
	e.end()
	e.str("level", "Information")
	e.str("location", "global")
	e.obj("properties")
	e.guid("eventDataId", a.EventData)
	e.str("eventCategory", "Administrative")
	e.str("entity", a.ResourceID)
	e.str("message", a.Operation)
	e.str("hierarchy", t.ID+"/"+t.SubscriptionID)
	if a.ResultType == "Success" {
		e.str("statusCode", "OK")
	}
	e.end()
	e.end()
	return e.b
}

// aadds is one Entra Domain Services security audit event.
type aadds struct {
	At          time.Time
	EventID     int
	Category    string // PrivilegeUse, AccountManagement, LogonLogoff, AccountLogon
	Description string
	Computer    string
	Subject     string // SubjectUserName
	SubjectSID  string
	Fields      []kv // event-specific fields, in order
	Correlation guid
	Failure     bool
}

func (t *Tenant) aaddsResourceID() string {
	return "/subscriptions/" + t.SubscriptionID + "/resourceGroups/rg-identity/providers/Microsoft.AAD/domainServices/" + t.Domain
}

func (t *Tenant) appendAADDS(b []byte, a *aadds, resourceID, netbios string) []byte {
	e := enc{b: b}
	e.begin()
	e.time("time", a.At, false)
	e.str("tenantId", t.ID)
	e.str("resourceId", resourceID)
	e.str("category", a.Category)
	e.key("operationName")
	e.b = append(e.b, '"')
	e.b = strconv.AppendInt(e.b, int64(a.EventID), 10)
	e.b = append(e.b, '"')
	if a.Failure {
		e.str("resultType", "Failure")
	} else {
		e.str("resultType", "Success")
	}
	e.str("resultDescription", a.Description)
	e.guid("correlationId", a.Correlation)
	e.str("level", "Informational")
	e.str("location", "westeurope")
	e.obj("properties")
	e.int("EventID", a.EventID)
	e.str("Channel", "Security")
	e.str("Computer", a.Computer)
	if a.Failure {
		e.str("Keywords", "Audit Failure")
	} else {
		e.str("Keywords", "Audit Success")
	}
	e.str("SubjectUserSid", a.SubjectSID)
	e.str("SubjectUserName", a.Subject)
	e.str("SubjectDomainName", netbios)
	for _, f := range a.Fields {
		e.str(f.Key, f.Value)
	}
	e.end()
	e.end()
	return e.b
}
