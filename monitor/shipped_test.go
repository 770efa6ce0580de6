package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/enrich/privilege"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/store"
)

// The shipped monitors, each with at least one record it must hit and one
// near miss: a record that differs from a hit only in the condition that
// matters. Every record is a JSON document in one of the two wire shapes
// (Graph or diagnostic settings), decoded by entra.Decoder and tagged by the
// privilege stage with testdata/rolemap.yaml, as in the pipeline.

const (
	shippedPipeline = "../pipelines/privileged-accounts.yaml"
	// paramsPipeline includes the shipped file and sets the lists that
	// the params-driven monitors need.
	paramsPipeline = "testdata/params.yaml"
	// optInPipeline includes the shipped file and turns on its opt-in
	// monitors.
	optInPipeline = "testdata/optin.yaml"
	roleMapFile   = "testdata/rolemap.yaml"
)

// Principals of testdata/rolemap.yaml, and two it does not know.
type who struct{ id, upn, name string }

var (
	alice = who{"11111111-1111-1111-1111-111111111111", "adm_alice@contoso.example", "Alice (admin)"} // eligible Global Administrator
	bob   = who{"22222222-2222-2222-2222-222222222222", "adm_bob@contoso.example", "Bob (admin)"}     // Security Administrator through a group
	carol = who{"33333333-3333-3333-3333-333333333333", "carol@contoso.example", "Carol"}             // Reports Reader: not privileged
	glass = who{"44444444-4444-4444-4444-444444444444", "breakglass1@contoso.example", "Emergency Access 1"}
	dave  = who{"55555555-5555-5555-5555-555555555555", "dave@contoso.example", "Dave"} // not in the role map
	hr    = who{"66666666-6666-6666-6666-666666666666", "HR-Onboarding@contoso.example", "HR Onboarding"}
	guest = who{"77777777-7777-7777-7777-777777777777", "lena.ortiz_fabrikam.example#EXT#@contoso.example", "Lena Ortiz"}
)

const (
	globalAdminID   = "62e90394-69f5-4237-9190-012177145e10"
	privRoleAdminID = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	reportsReaderID = "4a5d8f65-41da-4de4-8968-e035b65339cf"
	homeTenant      = "0b9f1a8e-5c2d-4e7f-9a1b-3c4d5e6f7a8b"
	otherTenant     = "8c7d6e5f-4a3b-4c2d-9e1f-0a9b8c7d6e5f"
)

// fields sets values in a base document by dotted path
// ("properties.status.errorCode", "targetResources.0.type"); absent{}
// deletes the key.
type fields map[string]any

type absent struct{}

// with returns a copy of f with more applied on top.
func with(f fields, more ...fields) fields {
	out := make(fields, len(f))
	for k, v := range f {
		out[k] = v
	}
	for _, m := range more {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// shippedCase is one record and what a monitor must make of it.
type shippedCase struct {
	name string
	id   string // the monitor under test
	// pipeline is the file to load; "" is the shipped one.
	pipeline string
	base     string // testdata/records/<base>
	set      fields
	// device is set on rec.Context.Device before Eval (the device stage
	// runs later in the pipeline than the privilege stage).
	device *entra.Device
	// geo and workHours likewise stand for the geo and work-hours stages.
	geo       *entra.Geo
	workHours *entra.WorkHours
	hit       bool
	risk      string   // for a hit: the expected risk; "" means the monitor's
	reason    []string // for a hit: substrings of the reason
	// before are records the stateful monitors see first, in order: the
	// failures before the one that reaches a threshold, the account
	// creation before the role assignment.
	before []shippedCase
}

// stamp gives a case's record its own ID and event time (offset from the
// base record's), in the wire shape of base.
func stamp(base, id string, at time.Duration) fields {
	t := time.Date(2024, 4, 2, 8, 0, 0, 0, time.UTC).Add(at).Format(time.RFC3339Nano)
	switch base {
	case "signin_graph.json":
		return fields{"id": id, "createdDateTime": t}
	case "signin_diagnostic.json":
		return fields{"properties.id": id, "time": t, "properties.createdDateTime": t}
	case "audit_graph.json":
		return fields{"id": id, "activityDateTime": t}
	case "audit_diagnostic.json":
		return fields{"properties.id": id, "time": t, "properties.activityDateTime": t}
	case "risk_diagnostic.json":
		return fields{"properties.id": id, "time": t, "properties.activityDateTime": t, "properties.detectedDateTime": t}
	case "riskyuser_diagnostic.json":
		return fields{"time": t, "properties.riskLastUpdatedDateTime": t}
	case "risk_graph.json":
		return fields{"id": id, "activityDateTime": t, "detectedDateTime": t}
	case "graphactivity_diagnostic.json":
		return fields{"properties.requestId": id, "time": t, "properties.timeGenerated": t}
	}
	panic("stamp: unknown base " + base)
}

// ---- document builders ------------------------------------------------------

func (w who) signInGraph() fields {
	return fields{"userId": w.id, "userPrincipalName": w.upn, "userDisplayName": w.name}
}

func (w who) signInDiag() fields {
	return fields{"properties.userId": w.id, "properties.userPrincipalName": w.upn,
		"properties.userDisplayName": w.name, "identity": w.name}
}

// by is an audit record's initiatedBy.
func (w who) by() map[string]any {
	return map[string]any{"user": map[string]any{"id": w.id, "displayName": nil, "userPrincipalName": w.upn,
		"ipAddress": "198.51.100.23", "roles": []any{}}}
}

// target is an audit target of type User.
func (w who) target(props ...any) map[string]any {
	return map[string]any{"id": w.id, "displayName": w.name, "type": "User", "userPrincipalName": w.upn,
		"modifiedProperties": append([]any{}, props...), "administrativeUnits": []any{}}
}

func target(typ, id, name string, props ...any) map[string]any {
	return map[string]any{"id": id, "displayName": name, "type": typ,
		"modifiedProperties": append([]any{}, props...), "administrativeUnits": []any{}}
}

// prop is a modified property; old and new are the logged JSON text ("" is null).
func prop(name, old, new string) map[string]any {
	p := map[string]any{"displayName": name, "oldValue": nil, "newValue": nil}
	if old != "" {
		p["oldValue"] = old
	}
	if new != "" {
		p["newValue"] = new
	}
	return p
}

// q is s as a JSON string, the way Entra logs a scalar modified property.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// roleProps are the modified properties of a role assignment's user target.
func roleProps(name, templateID string) []any {
	return []any{
		prop("Role.ObjectID", "", q("38bf5baf-7ec7-4bc2-8920-6d4044da12c2")),
		prop("Role.DisplayName", "", q(name)),
		prop("Role.TemplateId", "", q(templateID)),
		prop("Role.WellKnownObjectName", "", q(strings.ReplaceAll(name, " ", ""))),
	}
}

func roleTarget(name string) map[string]any {
	return target("Role", "38bf5baf-7ec7-4bc2-8920-6d4044da12c2", name)
}

func statusGraph(code int, reason, details string) fields {
	st := map[string]any{"errorCode": code, "failureReason": nil, "additionalDetails": nil}
	if reason != "" {
		st["failureReason"] = reason
	}
	if details != "" {
		st["additionalDetails"] = details
	}
	return fields{"status": st}
}

func statusDiag(code int, reason, details string) fields {
	st := map[string]any{"errorCode": code}
	if reason != "" {
		st["failureReason"] = reason
	}
	if details != "" {
		st["additionalDetails"] = details
	}
	f := fields{"resultType": strconv.Itoa(code), "properties.status": st, "resultDescription": absent{}}
	if reason != "" {
		f["resultDescription"] = reason
	}
	return f
}

func authStep(method, detail string, ok bool, result, requirement string) map[string]any {
	return map[string]any{"authenticationStepDateTime": "2024-04-02T08:15:31Z", "authenticationMethod": method,
		"authenticationMethodDetail": detail, "succeeded": ok, "authenticationStepResultDetail": result,
		"authenticationStepRequirement": requirement}
}

func auditGraph(activity, category, service string, by who, targets ...any) fields {
	return fields{"activityDisplayName": activity, "category": category, "loggedByService": service,
		"initiatedBy": by.by(), "targetResources": targets, "result": "success", "resultReason": "",
		"additionalDetails": []any{}}
}

func auditDiag(activity, category, service string, by who, targets ...any) fields {
	return fields{"operationName": activity, "properties.activityDisplayName": activity,
		"properties.category": category, "properties.loggedByService": service,
		"properties.initiatedBy": by.by(), "properties.targetResources": targets,
		"properties.result": "success", "properties.resultReason": "", "callerIpAddress": "198.51.100.23"}
}

// caPolicy is a Conditional Access policy as the audit log carries it in
// a ConditionalAccessPolicy modified property: the whole policy, with
// empty exclusion lists when nobody is excluded.
func caPolicy(state string, excludeUsers, excludeGroups []string) string {
	ex, _ := json.Marshal(append([]string{}, excludeUsers...))
	exg, _ := json.Marshal(append([]string{}, excludeGroups...))
	return `{"id":"d63bcb96-c7de-4aaf-845d-49f3df67551c","displayName":"CA001: Require MFA for admins",` +
		`"createdDateTime":"2023-12-28T20:10:49.423328+00:00","modifiedDateTime":"2024-04-02T08:15:31.0298892+00:00",` +
		`"state":"` + state + `","conditions":{"applications":{"includeApplications":["All"],"excludeApplications":[],` +
		`"includeUserActions":[],"includeAuthenticationContextClassReferences":[],"applicationFilter":null},` +
		`"users":{"includeUsers":[],"excludeUsers":` + string(ex) + `,"includeGroups":[],"excludeGroups":` + string(exg) + `,` +
		`"includeRoles":["` + globalAdminID + `"],"excludeRoles":[]},"locations":{"includeLocations":["All"],"excludeLocations":[]},` +
		`"userRiskLevels":[],"signInRiskLevels":[],"clientAppTypes":["all"],"servicePrincipalRiskLevels":[]},` +
		`"grantControls":{"operator":"OR","builtInControls":["mfa"],"customAuthenticationFactors":[],"termsOfUse":[]}}`
}

// ---- the table --------------------------------------------------------------

func shippedCases() []shippedCase {
	var cs []shippedCase
	add := func(c ...shippedCase) { cs = append(cs, c...) }

	// Sign-ins.
	const (
		sg  = "signin_graph.json"
		sd  = "signin_diagnostic.json"
		ag  = "audit_graph.json"
		ad  = "audit_diagnostic.json"
		dir = "directory.json" // a directory scan's record of adm_alice
	)
	success := statusDiag(0, "", "")

	glassFail := with(glass.signInDiag(), statusDiag(50126, "Error validating credentials due to invalid username or password.", ""))
	add(
		shippedCase{name: "emergency account, wrong password", id: "breakglass.signin", base: sd, set: glassFail, hit: true,
			reason: []string{"upn=breakglass1@contoso.example", "status=failure", "errorCode=50126", `appDisplayName="Azure Active Directory PowerShell"`, "ipAddress=1.2.3.4"}},
		shippedCase{name: "emergency account, success (Graph)", id: "breakglass.signin", base: sg, set: glass.signInGraph(), hit: true,
			reason: []string{"upn=breakglass1@contoso.example", "status=success", "errorCode=0"}},
		shippedCase{name: "privileged, not emergency", id: "breakglass.signin", base: sd, set: with(glassFail, alice.signInDiag())},
	)

	caFail := with(alice.signInDiag(), statusDiag(53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.", ""),
		fields{"properties.conditionalAccessStatus": "failure"})
	add(
		shippedCase{name: "blocked by CA", id: "signin.ca_failure", base: sd, set: caFail, hit: true,
			reason: []string{"upn=adm_alice@contoso.example", "errorCode=53003", `failureReason="Access has been blocked by Conditional Access policies.`}},
		shippedCase{name: "wrong password (50126)", id: "signin.ca_failure", base: sd,
			set: with(caFail, statusDiag(50126, "Error validating credentials due to invalid username or password.", ""))},
		shippedCase{name: "not privileged", id: "signin.ca_failure", base: sd, set: with(caFail, carol.signInDiag())},
	)

	mfa := with(bob.signInGraph(), statusGraph(50074, "Strong Authentication is required.", ""))
	add(
		shippedCase{name: "50074 (admin through a group)", id: "signin.mfa_interrupt", base: sg, set: mfa, hit: true, risk: "medium",
			reason: []string{"upn=adm_bob@contoso.example", "errorCode=50074"}},
		shippedCase{name: "500121", id: "signin.mfa_interrupt", base: sg, hit: true, risk: "high",
			set:    with(mfa, statusGraph(500121, "Authentication failed during strong authentication request.", "MFA denied; user did not respond to mobile app notification")),
			reason: []string{"errorCode=500121"}},
		shippedCase{name: "not privileged", id: "signin.mfa_interrupt", base: sg, set: with(mfa, carol.signInGraph())},
		shippedCase{name: "50076", id: "signin.mfa_interrupt", base: sg,
			set: with(mfa, statusGraph(50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.", ""))},
	)

	lock := with(alice.signInDiag(), statusDiag(50053, "Account is locked because user tried to sign in too many times with an incorrect user ID or password.", ""))
	add(
		shippedCase{name: "locked", id: "signin.lockout", base: sd, set: lock, hit: true, reason: []string{"upn=adm_alice@contoso.example", "errorCode=50053"}},
		shippedCase{name: "not privileged", id: "signin.lockout", base: sd, set: with(lock, carol.signInDiag())},
		shippedCase{name: "wrong password", id: "signin.lockout", base: sd,
			set: with(lock, statusDiag(50126, "Error validating credentials due to invalid username or password.", ""))},
		shippedCase{name: "locked again within the hour", id: "signin.lockout", base: sd, set: with(lock, stamp(sd, "lock-2", 50*time.Minute)),
			before: []shippedCase{{base: sd, set: with(lock, stamp(sd, "lock-1", 0))}}},
		shippedCase{name: "locked again after the hour", id: "signin.lockout", base: sd, set: with(lock, stamp(sd, "lock-2", 61*time.Minute)), hit: true,
			before: []shippedCase{{base: sd, set: with(lock, stamp(sd, "lock-1", 0))}}},
	)

	wrong := with(alice.signInDiag(), statusDiag(50126, "Error validating credentials due to invalid username or password.", ""))
	failures := func(who fields, n int, every time.Duration) []shippedCase {
		var out []shippedCase
		for i := range n {
			out = append(out, shippedCase{base: sd, set: with(wrong, who, stamp(sd, fmt.Sprint("pw-", i), time.Duration(i)*every))})
		}
		return out
	}
	add(
		shippedCase{name: "fifth wrong password in 4 minutes", id: "signin.bad_password_threshold", base: sd, set: with(wrong, stamp(sd, "pw-last", 4*time.Minute)), hit: true,
			before: failures(nil, 4, time.Minute), reason: []string{"upn=adm_alice@contoso.example", "count=5 threshold=5 window=10m"}},
		shippedCase{name: "fourth wrong password", id: "signin.bad_password_threshold", base: sd, set: with(wrong, stamp(sd, "pw-last", 3*time.Minute)),
			before: failures(nil, 3, time.Minute)},
		shippedCase{name: "five over 12 minutes", id: "signin.bad_password_threshold", base: sd, set: with(wrong, stamp(sd, "pw-last", 12*time.Minute)),
			before: failures(nil, 4, 3*time.Minute)},
		shippedCase{name: "five for a user with no role", id: "signin.bad_password_threshold", base: sd, set: with(wrong, carol.signInDiag(), stamp(sd, "pw-last", 4*time.Minute)),
			before: failures(carol.signInDiag(), 4, time.Minute)},
	)

	disabled := with(bob.signInGraph(), statusGraph(50057, "User account is disabled.", ""))
	add(
		shippedCase{name: "disabled admin", id: "signin.disabled_account", base: sg, set: disabled, hit: true, risk: "low",
			reason: []string{"upn=adm_bob@contoso.example", "errorCode=50057"}},
		shippedCase{name: "not privileged", id: "signin.disabled_account", base: sg, set: with(disabled, carol.signInGraph())},
	)

	fraudSteps := with(carol.signInGraph(), statusGraph(500121, "Authentication failed during strong authentication request.", ""), fields{
		"authenticationDetails": []any{
			authStep("Password", "Password in the cloud", true, "Correct password", "Primary authentication"),
			authStep("Mobile app notification", "", false, "MFA denied; Fraud code entered", "Multi-factor authentication"),
		}})
	fraudDetails := with(carol.signInDiag(), statusDiag(500121, "Authentication failed during strong authentication request.", "MFA denied; user declined and reported fraud"))
	add(
		shippedCase{name: "fraud code in the auth steps (any user)", id: "signin.mfa_fraud", base: sg, set: fraudSteps, hit: true,
			reason: []string{"upn=carol@contoso.example", "errorCode=500121", "privileged=false"}},
		shippedCase{name: "MFA denied without fraud", id: "signin.mfa_fraud", base: sg,
			set: with(fraudSteps, fields{"authenticationDetails.1.authenticationStepResultDetail": "MFA denied; user declined the authentication"})},
		shippedCase{name: "fraud in additionalDetails", id: "signin.mfa_fraud", base: sd, set: fraudDetails, hit: true,
			reason: []string{"errorCode=500121"}},
		shippedCase{name: "500121 declined, no fraud", id: "signin.mfa_fraud", base: sd,
			set: with(fraudDetails, statusDiag(500121, "Authentication failed during strong authentication request.", "MFA denied; user declined the authentication"))},
	)

	riskLevel := with(alice.signInGraph(), fields{"riskState": "remediated", "riskDetail": "userPassedMFADrivenByRiskBasedPolicy",
		"riskLevelDuringSignIn": "medium", "riskLevelAggregated": "medium", "riskEventTypes": []any{"unfamiliarFeatures", "anonymizedIPAddress"}})
	riskState := with(bob.signInDiag(), success, fields{"properties.riskState": "atRisk", "properties.riskLevelDuringSignIn": "hidden",
		"properties.riskEventTypes_v2": []any{"passwordSpray"}})
	add(
		shippedCase{name: "risk level medium", id: "signin.identity_protection_risk", base: sg, set: riskLevel, hit: true,
			reason: []string{"riskLevelDuringSignIn=medium", "riskState=remediated", "riskEventTypes=unfamiliarFeatures,anonymizedIPAddress"}},
		shippedCase{name: "risk level none", id: "signin.identity_protection_risk", base: sg, set: with(riskLevel, fields{"riskLevelDuringSignIn": "none"})},
		shippedCase{name: "at risk", id: "signin.identity_protection_risk", base: sd, set: riskState, hit: true,
			reason: []string{"upn=adm_bob@contoso.example", "riskState=atRisk", "riskEventTypes=passwordSpray"}},
		shippedCase{name: "at risk, not privileged", id: "signin.identity_protection_risk", base: sd, set: with(riskState, carol.signInDiag())},
	)

	// ID Protection's own records: detections (offline ones too) and
	// risky-user states, diagnostic and Graph shapes.
	const (
		rd = "risk_diagnostic.json"
		ru = "riskyuser_diagnostic.json"
		rg = "risk_graph.json"
	)
	leaked := fields{"properties.userId": alice.id, "properties.userPrincipalName": alice.upn, "properties.userDisplayName": alice.name,
		"properties.riskEventType": "leakedCredentials", "properties.riskType": "leakedCredentials", "properties.riskLevel": "high",
		"properties.riskState": "atRisk", "properties.detectionTimingType": "offline", "properties.activity": "user"}
	riskyUser := func(w who, state, level string) fields {
		return fields{"properties.id": w.id, "properties.userPrincipalName": w.upn, "properties.userDisplayName": w.name,
			"properties.riskState": state, "properties.riskLevel": level}
	}
	add(
		shippedCase{name: "leaked credentials of an admin (offline detection)", id: "signin.identity_protection_risk", base: rd, set: leaked, hit: true,
			reason: []string{"upn=adm_alice@contoso.example", "riskEventType=leakedCredentials", "riskLevel=high", "riskState=atRisk",
				"detection=detection", "source=IdentityProtection", "timing=offline"}},
		shippedCase{name: "leaked credentials of a normal user", id: "signin.identity_protection_risk", base: rd,
			set: with(leaked, fields{"properties.userId": carol.id, "properties.userPrincipalName": carol.upn})},
		shippedCase{name: "detection dismissed", id: "signin.identity_protection_risk", base: rd, set: with(leaked, fields{"properties.riskState": "dismissed"})},
		shippedCase{name: "detection remediated", id: "signin.identity_protection_risk", base: rd, set: with(leaked, fields{"properties.riskState": "remediated"})},
		shippedCase{name: "detection of an emergency account", id: "signin.identity_protection_risk", base: rd,
			set: with(leaked, fields{"properties.userId": glass.id, "properties.userPrincipalName": glass.upn, "properties.riskLevel": "medium"}), hit: true,
			reason: []string{"upn=breakglass1@contoso.example", "riskLevel=medium"}},
		shippedCase{name: "risky admin (state atRisk)", id: "signin.identity_protection_risk", base: ru, set: riskyUser(bob, "atRisk", "medium"), hit: true,
			reason: []string{"upn=adm_bob@contoso.example", "riskLevel=medium", "riskState=atRisk", "detection=state"}},
		shippedCase{name: "admin confirmed compromised", id: "signin.identity_protection_risk", base: ru, set: riskyUser(alice, "confirmedCompromised", "high"), hit: true,
			reason: []string{"riskState=confirmedCompromised"}},
		shippedCase{name: "admin's risk dismissed", id: "signin.identity_protection_risk", base: ru, set: riskyUser(alice, "dismissed", "none")},
		shippedCase{name: "admin's risk remediated", id: "signin.identity_protection_risk", base: ru, set: riskyUser(alice, "remediated", "none")},
		shippedCase{name: "risky normal user", id: "signin.identity_protection_risk", base: ru, set: riskyUser(carol, "atRisk", "high")},
		shippedCase{name: "Graph detection of an admin, at risk", id: "signin.identity_protection_risk", base: rg,
			set: fields{"userId": bob.id, "userPrincipalName": bob.upn, "riskState": "atRisk"}, hit: true,
			reason: []string{"riskEventType=unfamiliarFeatures", "riskLevel=medium", "source=activeDirectory", "timing=realtime", "ip=123.456.7.89"}},
		shippedCase{name: "Graph detection of an admin, remediated", id: "signin.identity_protection_risk", base: rg,
			set: fields{"userId": bob.id, "userPrincipalName": bob.upn}},
	)

	// The opt-in Graph activity monitor (testdata/optin.yaml turns it on).
	const ga = "graphactivity_diagnostic.json"
	write := fields{"properties.userId": glass.id, "properties.requestMethod": "PATCH",
		"properties.requestUri": "https://graph.microsoft.com/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"}
	add(
		shippedCase{name: "emergency account PATCHes a policy", id: "graphactivity.emergency_account_write", pipeline: optInPipeline, base: ga, set: write, hit: true,
			reason: []string{"id=" + glass.id, "requestMethod=PATCH", "requestUri=https://graph.microsoft.com/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"}},
		shippedCase{name: "emergency account reads", id: "graphactivity.emergency_account_write", pipeline: optInPipeline, base: ga,
			set: with(write, fields{"properties.requestMethod": "GET"})},
		shippedCase{name: "admin (not emergency) writes", id: "graphactivity.emergency_account_write", pipeline: optInPipeline, base: ga,
			set: with(write, fields{"properties.userId": alice.id})},
	)

	legacy := with(alice.signInDiag(), success, fields{"properties.clientAppUsed": "IMAP4", "properties.appDisplayName": "Office 365 Exchange Online"})
	add(
		shippedCase{name: "IMAP4", id: "signin.legacy_auth", base: sd, set: legacy, hit: true,
			reason: []string{"clientAppUsed=IMAP4", `appDisplayName="Office 365 Exchange Online"`}},
		shippedCase{name: "Exchange ActiveSync (Graph)", id: "signin.legacy_auth", base: sg, hit: true,
			set: with(bob.signInGraph(), fields{"clientAppUsed": "Exchange ActiveSync"}), reason: []string{`clientAppUsed="Exchange ActiveSync"`}},
		shippedCase{name: "modern client", id: "signin.legacy_auth", base: sd, set: with(legacy, fields{"properties.clientAppUsed": "Mobile Apps and Desktop clients"})},
		shippedCase{name: "legacy, not privileged", id: "signin.legacy_auth", base: sd, set: with(legacy, carol.signInDiag())},
	)

	cross := with(alice.signInGraph(), fields{"homeTenantId": homeTenant, "resourceTenantId": otherTenant, "crossTenantAccessType": "b2bCollaboration"})
	add(
		shippedCase{name: "other tenant", id: "signin.cross_tenant_admin", base: sg, set: cross, hit: true, risk: "medium",
			reason: []string{"homeTenantId=" + homeTenant, "resourceTenantId=" + otherTenant}},
		shippedCase{name: "same tenant (other case)", id: "signin.cross_tenant_admin", base: sg,
			set: with(cross, fields{"resourceTenantId": strings.ToUpper(homeTenant), "crossTenantAccessType": "none"})},
		shippedCase{name: "other tenant, failure", id: "signin.cross_tenant_admin", base: sg,
			set: with(cross, statusGraph(50126, "Error validating credentials due to invalid username or password.", ""))},
	)

	noCA := with(alice.signInDiag(), success, fields{"properties.conditionalAccessStatus": "notApplied"})
	add(
		shippedCase{name: "no CA policy applied", id: "signin.ca_not_applied", base: sd, set: noCA, hit: true,
			reason: []string{"upn=adm_alice@contoso.example", "conditionalAccessStatus=notApplied"}},
		shippedCase{name: "emergency account", id: "signin.ca_not_applied", base: sd, set: with(noCA, glass.signInDiag())},
		shippedCase{name: "CA applied", id: "signin.ca_not_applied", base: sd, set: with(noCA, fields{"properties.conditionalAccessStatus": "success"})},
	)

	paw := alice.signInGraph()
	laptop := &entra.Device{ID: "8bfcb982-6856-4402-924c-ada2486321cc", PAW: false, Reason: "not in the PAW device group", Managed: true}
	pawDevice := &entra.Device{ID: "8bfcb982-6856-4402-924c-ada2486321cc", PAW: true, Managed: true, Compliant: true}
	add(
		shippedCase{name: "not a PAW", id: "signin.not_paw", base: sg, set: paw, hit: true, device: laptop,
			reason: []string{"upn=adm_alice@contoso.example", "device=8bfcb982-6856-4402-924c-ada2486321cc", `reason="not in the PAW device group"`}},
		shippedCase{name: "PAW", id: "signin.not_paw", base: sg, set: paw, device: pawDevice},
		shippedCase{name: "no device context", id: "signin.not_paw", base: sg, set: paw},
	)
	activation := with(auditGraph("Add member to role completed (PIM activation)", "RoleManagement", "PIM", alice,
		roleTarget("Global Administrator"), alice.target()), stamp(ag, "activation", 4*time.Minute))
	laptopSignIn := func(d *entra.Device, who fields, at time.Duration) shippedCase {
		return shippedCase{base: sg, set: with(who, stamp(sg, "signin", at)), device: d}
	}
	add(
		shippedCase{name: "activation 4 minutes after a laptop sign-in", id: "pim.elevation_not_paw", base: ag, set: activation, hit: true,
			before: []shippedCase{laptopSignIn(laptop, paw, 0)},
			reason: []string{`role="Global Administrator"`, "user=adm_alice@contoso.example", "signin_id=signin", "gap=4m0s", "device=8bfcb982-6856-4402-924c-ada2486321cc"}},
		shippedCase{name: "activation after a PAW sign-in", id: "pim.elevation_not_paw", base: ag, set: activation,
			before: []shippedCase{laptopSignIn(pawDevice, paw, 0)}},
		shippedCase{name: "activation after another user's laptop sign-in", id: "pim.elevation_not_paw", base: ag, set: activation,
			before: []shippedCase{laptopSignIn(laptop, bob.signInGraph(), 0)}},
		shippedCase{name: "activation three hours after a laptop sign-in", id: "pim.elevation_not_paw", base: ag, set: with(activation, stamp(ag, "activation", 3*time.Hour)),
			before: []shippedCase{laptopSignIn(laptop, paw, 0)}},
	)
	// The user created, then the role: targets name the new user by ID.
	created := with(auditGraph("Add user", "UserManagement", "Core Directory", bob, dave.target()), stamp(ag, "created", 0))
	makeGA := with(auditDiag("Add member to role", "RoleManagement", "Core Directory", alice,
		dave.target(roleProps("Global Administrator", globalAdminID)...), roleTarget("")), stamp(ad, "made-ga", 21*time.Minute))
	makeRR := with(makeGA, fields{"properties.targetResources.0.modifiedProperties": roleProps("Reports Reader", reportsReaderID)})
	deleted := with(auditGraph("Delete user", "UserManagement", "Core Directory", bob, dave.target()), stamp(ag, "deleted", 35*time.Minute))
	first := []shippedCase{{base: ag, set: created}}
	add(
		shippedCase{name: "created, made Global Administrator 21 minutes later", id: "audit.privileged_account_created", base: ad, set: makeGA, hit: true, before: first,
			reason: []string{`role="Global Administrator"`, "target=dave@contoso.example", "created_id=created", "gap=21m0s"}},
		shippedCase{name: "created, deleted 35 minutes later", id: "audit.privileged_account_created", base: ag, set: deleted, hit: true, before: first,
			reason: []string{`activityDisplayName="Delete user"`, "created_id=created"}},
		shippedCase{name: "created, made Reports Reader", id: "audit.privileged_account_created", base: ad, set: makeRR, before: first},
		shippedCase{name: "created, made Global Administrator 2 hours later", id: "audit.privileged_account_created", base: ad,
			set: with(makeGA, stamp(ad, "made-ga", 2*time.Hour)), before: first},
		shippedCase{name: "an existing user made Global Administrator", id: "audit.privileged_account_created", base: ad, set: makeGA},
	)
	// Directory scans: adm_alice, scanned 2024-04-02, last sign-in 3 days before.
	add(
		shippedCase{name: "privileged UPN without the adm_ prefix", id: "directory.naming_policy", base: dir, set: fields{"userId": glass.id, "userPrincipalName": glass.upn},
			hit: true, reason: []string{"upn=breakglass1@contoso.example", "pattern=(?i)^adm_"}},
		shippedCase{name: "no adm_ prefix, no role", id: "directory.naming_policy", base: dir, set: with(carol.signInGraph())},
		shippedCase{name: "ADM_ prefix in upper case", id: "directory.naming_policy", base: dir, set: fields{"userPrincipalName": "ADM_alice@contoso.example"}},
		shippedCase{name: "no MFA method registered", id: "directory.mfa_not_registered", base: dir,
			set: fields{"mfaRegistered": false, "methodsRegistered": []any{}}, hit: true, reason: []string{"upn=adm_alice@contoso.example"}},
		shippedCase{name: "registered", id: "directory.mfa_not_registered", base: dir},
		shippedCase{name: "registration unknown (report not readable)", id: "directory.mfa_not_registered", base: dir,
			set: fields{"mfaRegistered": nil, "methodsRegistered": nil}},
		shippedCase{name: "no sign-in for 30 days", id: "review.unused_privileged_account", base: dir,
			set: fields{"lastSignInDateTime": "2024-03-03T12:00:00Z"}, hit: true, reason: []string{"days=30"}},
		shippedCase{name: "signed in 29 days ago", id: "review.unused_privileged_account", base: dir,
			set: fields{"lastSignInDateTime": "2024-03-04T12:00:00Z"}},
		shippedCase{name: "never signed in, created a year ago", id: "review.unused_privileged_account", base: dir,
			set: fields{"lastSignInDateTime": nil}, hit: true},
		shippedCase{name: "never signed in, created last week", id: "review.unused_privileged_account", base: dir,
			set: fields{"lastSignInDateTime": nil, "createdDateTime": "2024-03-26T09:00:00Z"}},
		shippedCase{name: "an old sign-in of a user with no role", id: "review.unused_privileged_account", base: dir,
			set: with(carol.signInGraph(), fields{"lastSignInDateTime": "2024-01-03T12:00:00Z"})},
	)
	home := with(alice.signInGraph(), fields{"deviceDetail.deviceId": "dev-1", "location.countryOrRegion": "DE", "location.city": "Berlin"})
	add(
		shippedCase{name: "a new device after the learning week", id: "signin.new_device_or_location", base: sg,
			set: with(home, fields{"deviceDetail.deviceId": "dev-2"}, stamp(sg, "new", 10*24*time.Hour)), hit: true,
			before: []shippedCase{{base: sg, set: with(home, stamp(sg, "old", 0))}},
			reason: []string{"upn=adm_alice@contoso.example", "new_device=dev-2"}},
		shippedCase{name: "a new country after the learning week", id: "signin.new_device_or_location", base: sg,
			set: with(home, fields{"location.countryOrRegion": "BR", "location.city": "Sao Paulo"}, stamp(sg, "new", 10*24*time.Hour)), hit: true,
			before: []shippedCase{{base: sg, set: with(home, stamp(sg, "old", 0))}},
			reason: []string{`new_location="BR/Sao Paulo"`}},
		shippedCase{name: "the usual device and place", id: "signin.new_device_or_location", base: sg,
			set: with(home, stamp(sg, "new", 10*24*time.Hour)), before: []shippedCase{{base: sg, set: with(home, stamp(sg, "old", 0))}}},
		shippedCase{name: "a new device during the learning week", id: "signin.new_device_or_location", base: sg,
			set:    with(home, fields{"deviceDetail.deviceId": "dev-2"}, stamp(sg, "new", 24*time.Hour)),
			before: []shippedCase{{base: sg, set: with(home, stamp(sg, "old", 0))}}},
		shippedCase{name: "a new device of a user with no role", id: "signin.new_device_or_location", base: sg,
			set:    with(home, carol.signInGraph(), fields{"deviceDetail.deviceId": "dev-2"}, stamp(sg, "new", 10*24*time.Hour)),
			before: []shippedCase{{base: sg, set: with(home, carol.signInGraph(), stamp(sg, "old", 0))}}},
	)

	// Approved controls (lists in testdata/params.yaml: DE/US, 203.0.113.0/24
	// and 2001:db8::/32, Edge/Chrome, Windows 10/11 and macOS).
	approved := with(alice.signInGraph(), fields{"ipAddress": "203.0.113.7",
		"location.countryOrRegion": "DE", "deviceDetail.browser": "Edge 122.0.0", "deviceDetail.operatingSystem": "Windows 11"})
	add(
		shippedCase{name: "everything approved", id: "signin.unapproved_controls", pipeline: paramsPipeline, base: sg, set: approved},
		shippedCase{name: "approved, IPv6 office range", id: "signin.unapproved_controls", pipeline: paramsPipeline, base: sg,
			set: with(approved, fields{"ipAddress": "2001:db8:10::5"})},
		shippedCase{name: "country from GeoIP wins over Entra's", id: "signin.unapproved_controls", pipeline: paramsPipeline, base: sg, set: approved, hit: true,
			geo: &entra.Geo{CountryISO: "BR", City: "São Paulo"}, reason: []string{"unapproved=\"country=BR\""}},
		shippedCase{name: "unapproved range, browser and OS", id: "signin.unapproved_controls", pipeline: paramsPipeline, base: sg, hit: true,
			set:    with(approved, fields{"ipAddress": "198.51.100.20", "deviceDetail.browser": "Firefox 123.0", "deviceDetail.operatingSystem": "Linux"}),
			reason: []string{"ip=198.51.100.20", `browser=\"Firefox 123.0\"`, "operatingSystem=Linux"}},
		shippedCase{name: "browser prefix is a word, not a substring", id: "signin.unapproved_controls", pipeline: paramsPipeline, base: sg, hit: true,
			set: with(approved, fields{"deviceDetail.browser": "Edgeless 1.0"}), reason: []string{"browser="}},
		shippedCase{name: "unapproved, not privileged", id: "signin.unapproved_controls", pipeline: paramsPipeline, base: sg,
			set: with(approved, carol.signInGraph(), fields{"ipAddress": "198.51.100.20"})},
		shippedCase{name: "no lists set: never fires", id: "signin.unapproved_controls", base: sg,
			set: with(approved, fields{"ipAddress": "198.51.100.20"})},
	)

	// Working hours (the work-hours stage's result stands in a case).
	night := &entra.WorkHours{Inside: false, LocalTime: "2026-03-02T23:14:00+01:00", Schedule: "emea-admins"}
	day := &entra.WorkHours{Inside: true, LocalTime: "2026-03-02T10:14:00+01:00", Schedule: "emea-admins"}
	add(
		shippedCase{name: "admin at 23:14 local", id: "signin.off_hours", base: sg, set: alice.signInGraph(), workHours: night, hit: true,
			reason: []string{"local_time=2026-03-02T23:14:00+01:00", "schedule=emea-admins"}},
		shippedCase{name: "admin inside hours", id: "signin.off_hours", base: sg, set: alice.signInGraph(), workHours: day},
		shippedCase{name: "admin outside hours, failed", id: "signin.off_hours", base: sd,
			set: with(alice.signInDiag(), statusDiag(50126, "Invalid username or password.", "")), workHours: night},
		shippedCase{name: "non-admin outside hours", id: "signin.off_hours", base: sg, set: carol.signInGraph(), workHours: night},
		shippedCase{name: "no schedule for the user", id: "signin.off_hours", base: sg, set: alice.signInGraph()},
	)

	// Directory audit.

	resetGlass := auditDiag("Reset password (by admin)", "UserManagement", "Self-service Password Management", alice, glass.target())
	add(
		shippedCase{name: "admin resets emergency account", id: "breakglass.password_change", base: ad, set: resetGlass, hit: true,
			reason: []string{"target=breakglass1@contoso.example", "by=adm_alice@contoso.example", "result=success"}},
		shippedCase{name: "self-service change (Graph)", id: "breakglass.password_change", base: ag, hit: true,
			set: auditGraph("Change password (self-service)", "UserManagement", "Self-service Password Management", glass, glass.target())},
		shippedCase{name: "target not emergency", id: "breakglass.password_change", base: ad, set: with(resetGlass, fields{"properties.targetResources": []any{carol.target()}})},
	)

	glassRole := auditDiag("Remove member from role", "RoleManagement", "Core Directory", alice, glass.target(roleProps("Global Administrator", globalAdminID)...), roleTarget("Global Administrator"))
	add(
		shippedCase{name: "emergency account loses a role", id: "breakglass.role_change", base: ad, set: glassRole, hit: true,
			reason: []string{`role="Global Administrator"`, "target=breakglass1@contoso.example", "by=adm_alice@contoso.example"}},
		shippedCase{name: "target not emergency", id: "breakglass.role_change", base: ad,
			set: with(glassRole, fields{"properties.targetResources.0": dave.target(roleProps("Global Administrator", globalAdminID)...)})},
	)

	strongAuth := auditGraph("Update user", "UserManagement", "Core Directory", alice, glass.target(
		prop("StrongAuthenticationMethod", `[{"MethodType":6,"Default":true}]`, `[{"MethodType":6,"Default":true},{"MethodType":7,"Default":false}]`),
		prop("Included Updated Properties", "", q("StrongAuthenticationMethod"))))
	add(
		shippedCase{name: "Update user StrongAuthenticationMethod", id: "breakglass.auth_method_change", base: ag, set: strongAuth, hit: true,
			reason: []string{`activityDisplayName="Update user"`, "target=breakglass1@contoso.example"}},
		shippedCase{name: "Update user, other property", id: "breakglass.auth_method_change", base: ag, set: with(strongAuth, fields{
			"targetResources.0.modifiedProperties": []any{prop("Department", `["IT"]`, `["Security"]`), prop("Included Updated Properties", "", q("Department"))}})},
		shippedCase{name: "emergency account registers security info", id: "breakglass.auth_method_change", base: ad, hit: true,
			set: with(auditDiag("User registered security info", "UserManagement", "Authentication Methods", glass, glass.target()),
				fields{"properties.resultReason": "User registered Fido2 Authentication Method"}),
			reason: []string{`resultReason="User registered Fido2 Authentication Method"`}},
	)

	add(
		shippedCase{name: "suspicious activity reported", id: "audit.mfa_fraud_reported", base: ad,
			set: auditDiag("Suspicious activity reported", "UserManagement", "MFA", carol, carol.target())},
		shippedCase{name: "fraud reported, blocked", id: "audit.mfa_fraud_reported", base: ad, hit: true,
			set:    auditDiag("Fraud reported - user is blocked for MFA", "UserManagement", "MFA", carol, carol.target()),
			reason: []string{`activityDisplayName="Fraud reported - user is blocked for MFA"`, "user=carol@contoso.example"}},
		shippedCase{name: "fraud reported, no action (Graph)", id: "audit.mfa_fraud_reported", base: ag, hit: true,
			set: auditGraph("Fraud reported - no action taken", "UserManagement", "MFA", bob, bob.target())},
	)

	resetAdmin := auditGraph("Reset password (by admin)", "UserManagement", "Self-service Password Management", dave, alice.target())
	add(
		shippedCase{name: "helpdesk resets an admin", id: "audit.password_change", base: ag, set: resetAdmin, hit: true,
			reason: []string{"target=adm_alice@contoso.example", "by=dave@contoso.example"}},
		shippedCase{name: "reset of a normal user", id: "audit.password_change", base: ag, set: with(resetAdmin, fields{"targetResources": []any{carol.target()}})},
		shippedCase{name: "reset of an emergency account (breakglass.*)", id: "audit.password_change", base: ag, set: with(resetAdmin, fields{"targetResources": []any{glass.target()}})},
		shippedCase{name: "self-service change by an admin", id: "audit.password_change", base: ad, hit: true,
			set:    with(auditDiag("Change password (self-service)", "UserManagement", "Self-service Password Management", bob, bob.target()), fields{"properties.result": "failure"}),
			reason: []string{"by=adm_bob@contoso.example", "result=failure"}},
	)

	pimAlert := with(auditGraph("Disable PIM alert", "RoleManagement", "PIM", alice,
		target("Other", "RolesAssignedOutsidePimAlert", "Roles are being assigned outside of Privileged Identity Management")),
		fields{"resultReason": "Alert disabled by administrator"})
	add(
		shippedCase{name: "alert disabled", id: "audit.pim_alert_disabled", base: ag, set: pimAlert, hit: true,
			reason: []string{`activityDisplayName="Disable PIM alert"`, "by=adm_alice@contoso.example"}},
		shippedCase{name: "failed", id: "audit.pim_alert_disabled", base: ag, set: with(pimAlert, fields{"result": "failure"})},
	)

	toMember := auditDiag("Update user", "UserManagement", "Core Directory", carol, guest.target(
		prop("UserType", q("Guest"), q("Member")), prop("Included Updated Properties", "", q("UserType"))))
	add(
		shippedCase{name: "Guest to Member", id: "audit.guest_to_member", base: ad, set: toMember, hit: true,
			reason: []string{"old=Guest", "new=Member", "by=carol@contoso.example", "user=" + guest.upn}},
		shippedCase{name: "Member to Guest", id: "audit.guest_to_member", base: ad,
			set: with(toMember, fields{"properties.targetResources.0.modifiedProperties.0": prop("UserType", q("Member"), q("Guest"))})},
		shippedCase{name: "Guest to Member, array values as Entra logs them", id: "audit.guest_to_member", base: ad, hit: true,
			set:    with(toMember, fields{"properties.targetResources.0.modifiedProperties.0": prop("UserType", `["Guest"]`, `["Member"]`)}),
			reason: []string{"old=Guest", "new=Member"}},
		shippedCase{name: "Member to Guest, array values", id: "audit.guest_to_member", base: ad,
			set: with(toMember, fields{"properties.targetResources.0.modifiedProperties.0": prop("UserType", `["Member"]`, `["Guest"]`)})},
	)

	invite := auditDiag("Invite external user", "UserManagement", "Invited Users", carol, guest.target())
	add(
		shippedCase{name: "invited by a non-approved user", id: "audit.guest_invite_unapproved", pipeline: paramsPipeline, base: ad, set: invite, hit: true,
			reason: []string{"inviter=carol@contoso.example", "invited=" + guest.upn}},
		shippedCase{name: "invited by an approved inviter (other case)", id: "audit.guest_invite_unapproved", pipeline: paramsPipeline, base: ad,
			set: with(invite, fields{"properties.initiatedBy": hr.by()})},
		shippedCase{name: "no approved inviters configured", id: "audit.guest_invite_unapproved", base: ad, hit: true,
			set: with(invite, fields{"properties.initiatedBy": hr.by()}), reason: []string{"inviter=HR-Onboarding@contoso.example"}},
	)

	groupChange := auditGraph("Update group", "GroupManagement", "Core Directory", bob,
		target("Group", "ef7e527d-6c92-4234-8c6d-cf6fdfb57f95", "Tier0 Admins", prop("Description", `["Tier 0"]`, `["Tier 0 admins"]`)))
	add(
		shippedCase{name: "admin changes a group", id: "audit.privileged_change", base: ag, set: groupChange, hit: true,
			reason: []string{"upn=adm_bob@contoso.example", `activityDisplayName="Update group"`, "category=GroupManagement", "result=success"}},
		shippedCase{name: "failed change by an admin", id: "audit.privileged_change", base: ag, set: with(groupChange, fields{"result": "failure"}), hit: true,
			reason: []string{"result=failure"}},
		shippedCase{name: "change by a normal user", id: "audit.privileged_change", base: ag, set: with(groupChange, fields{"initiatedBy": carol.by()})},
	)

	disableMFA := auditDiag("Disable Strong Authentication", "UserManagement", "Core Directory", dave, carol.target(
		prop("StrongAuthenticationRequirement", `[{"RelyingParty":"*","State":1,"RememberDevicesNotIssuedBefore":"2024-04-02T08:15:26+00:00"}]`, "[]"),
		prop("Included Updated Properties", "", q("StrongAuthenticationRequirement"))))
	caPolicyTarget := func(old, new string) fields {
		return auditGraph("Update conditional access policy", "Policy", "Conditional Access", bob,
			target("Policy", "d63bcb96-c7de-4aaf-845d-49f3df67551c", "CA001: Require MFA for admins", prop("ConditionalAccessPolicy", old, new)))
	}
	authzPolicy := auditDiag("Update authorization policy", "AuthorizationPolicy", "Core Directory", dave,
		target("Other", "24484114-1daa-4700-aaf7-44ee5cbe5678", "Authorization Policy",
			prop("AuthorizationPolicy", `[{"allowInvitesFrom":"adminsAndGuestInviters","allowedToSignUpEmailBasedSubscriptions":false}]`,
				`[{"allowInvitesFrom":"everyone","allowedToSignUpEmailBasedSubscriptions":false}]`)))
	add(
		shippedCase{name: "MFA disabled for a user", id: "audit.security_posture_lowered", base: ad, set: disableMFA, hit: true,
			reason: []string{`activityDisplayName="Disable Strong Authentication"`, "by=dave@contoso.example"}},
		shippedCase{name: "MFA enabled for a user", id: "audit.security_posture_lowered", base: ad,
			set: with(disableMFA, fields{"operationName": "Enable Strong Authentication", "properties.activityDisplayName": "Enable Strong Authentication"})},
		shippedCase{name: "CA policy excludes a user", id: "audit.security_posture_lowered", base: ag, hit: true,
			set:    caPolicyTarget(caPolicy("enabled", nil, nil), caPolicy("enabled", []string{alice.id}, nil)),
			reason: []string{`change="excludeUsers added ` + alice.id + `"`, `target="CA001: Require MFA for admins"`, "by=adm_bob@contoso.example"}},
		shippedCase{name: "CA policy excludes a second group", id: "audit.security_posture_lowered", base: ag, hit: true,
			set: caPolicyTarget(caPolicy("enabled", nil, []string{"b33d90f6-6155-4df1-8c23-1f81a25b7235"}),
				caPolicy("enabled", nil, []string{"b33d90f6-6155-4df1-8c23-1f81a25b7235", "99999999-9999-9999-9999-999999999999"})),
			reason: []string{`change="excludeGroups added 99999999-9999-9999-9999-999999999999"`}},
		shippedCase{name: "CA policy disabled", id: "audit.security_posture_lowered", base: ag, hit: true,
			set: caPolicyTarget(caPolicy("enabled", nil, nil), caPolicy("disabled", nil, nil)), reason: []string{`change="state disabled"`}},
		// A real CA policy update always carries "excludeUsers":[...] and
		// "excludeGroups":[...]; only a new exclusion lowers security.
		shippedCase{name: "CA policy enforced, nobody excluded", id: "audit.security_posture_lowered", base: ag,
			set: caPolicyTarget(caPolicy("enabledForReportingButNotEnforced", nil, nil), caPolicy("enabled", nil, nil))},
		shippedCase{name: "CA policy with an existing exclusion edited", id: "audit.security_posture_lowered", base: ag,
			set: caPolicyTarget(caPolicy("enabled", []string{glass.id}, nil), strings.Replace(caPolicy("enabled", []string{glass.id}, nil), `"builtInControls":["mfa"]`, `"builtInControls":["mfa","compliantDevice"]`, 1))},
		shippedCase{name: "disabled CA policy edited", id: "audit.security_posture_lowered", base: ag,
			set: caPolicyTarget(caPolicy("disabled", nil, nil), strings.Replace(caPolicy("disabled", nil, nil), "CA001: Require MFA for admins", "CA001: Require MFA for all admins", 1))},
		shippedCase{name: "CA policy exclusion removed", id: "audit.security_posture_lowered", base: ag,
			set: caPolicyTarget(caPolicy("enabled", []string{glass.id, dave.id}, nil), caPolicy("enabled", []string{glass.id}, nil))},
		shippedCase{name: "guest invites opened to everyone", id: "audit.security_posture_lowered", base: ad, set: authzPolicy, hit: true,
			reason: []string{`target="Authorization Policy"`}},
		shippedCase{name: "guest invites limited to inviters", id: "audit.security_posture_lowered", base: ad, set: with(authzPolicy, fields{
			"properties.targetResources.0.modifiedProperties.0.newValue": `[{"allowInvitesFrom":"adminsAndGuestInviters","allowedToSignUpEmailBasedSubscriptions":false}]`})},
	)

	appChange := auditDiag("Update application", "ApplicationManagement", "Core Directory", carol,
		target("Application", "75924835-d844-4947-96ba-18074e997386", "Payroll API",
			prop("RequiredResourceAccess", `[{"ResourceAppId":"00000003-0000-0000-c000-000000000000","RequiredAppPermissions":[],"EncodingVersion":1}]`,
				`[{"ResourceAppId":"00000003-0000-0000-c000-000000000000","RequiredAppPermissions":[{"EntitlementId":"810c84a8-4a9e-49e6-bf7d-12d183f40d01","DirectAccessGrant":true,"ImpersonationAccessGrants":[]}],"EncodingVersion":1}]`)))
	add(
		shippedCase{name: "high-value app by name", id: "audit.high_value_app_change", pipeline: paramsPipeline, base: ad, set: appChange, hit: true,
			reason: []string{`app="Payroll API"`, "by=carol@contoso.example"}},
		shippedCase{name: "other app", id: "audit.high_value_app_change", pipeline: paramsPipeline, base: ad,
			set: with(appChange, fields{"properties.targetResources.0.displayName": "MaliciousApp"})},
		shippedCase{name: "high-value service principal by id (Graph)", id: "audit.high_value_app_change", pipeline: paramsPipeline, base: ag, hit: true,
			set: auditGraph("Add service principal credentials", "ApplicationManagement", "Core Directory", dave,
				target("ServicePrincipal", "9f1c2b3a-4d5e-4f60-8a7b-0c1d2e3f4a5b", "payroll-sync")),
			reason: []string{"app=payroll-sync"}},
		shippedCase{name: "no high-value apps configured", id: "audit.high_value_app_change", base: ad, set: appChange},
	)

	selfReg := with(auditDiag("User registered security info", "UserManagement", "Authentication Methods", alice, alice.target()),
		fields{"properties.resultReason": "User registered App Password"})
	adminReg := with(auditGraph("Admin registered security info", "UserManagement", "Authentication Methods", dave, bob.target()),
		fields{"resultReason": "Admin registered phone method for user"})
	add(
		shippedCase{name: "admin registers own method", id: "audit.auth_method_change", base: ad, set: selfReg, hit: true,
			reason: []string{"target=adm_alice@contoso.example", `resultReason="User registered App Password"`}},
		shippedCase{name: "normal user registers own method", id: "audit.auth_method_change", base: ad,
			set: with(selfReg, fields{"properties.initiatedBy": carol.by(), "properties.targetResources": []any{carol.target()}})},
		shippedCase{name: "method registered for an admin", id: "audit.auth_method_change", base: ag, set: adminReg, hit: true,
			reason: []string{"target=adm_bob@contoso.example", "by=dave@contoso.example"}},
		shippedCase{name: "method registered for an emergency account (breakglass.*)", id: "audit.auth_method_change", base: ag,
			set: with(adminReg, fields{"targetResources": []any{glass.target()}})},
	)

	tap := with(adminReg, fields{"resultReason": "Admin registered temporary access pass method for user"})
	add(
		shippedCase{name: "TAP for an admin", id: "audit.tap_added", base: ag, set: tap, hit: true,
			reason: []string{"target=adm_bob@contoso.example", "by=dave@contoso.example", `resultReason="Admin registered temporary access pass method for user"`}},
		shippedCase{name: "phone method for an admin", id: "audit.tap_added", base: ag, set: adminReg},
		shippedCase{name: "TAP for a normal user", id: "audit.tap_added", base: ag, set: with(tap, fields{"targetResources": []any{carol.target()}})},
	)

	addGA := auditDiag("Add member to role", "RoleManagement", "Core Directory", alice,
		dave.target(roleProps("Global Administrator", globalAdminID)...), roleTarget(""))
	addRR := with(addGA, fields{"properties.targetResources.0.modifiedProperties": roleProps("Reports Reader", reportsReaderID)})
	// PIM logs each activation as a Core Directory "Add member to role"
	// made by its own application.
	addByPIM := with(addGA, fields{"properties.initiatedBy": map[string]any{"app": map[string]any{"appId": nil,
		"displayName": "MS-PIM", "servicePrincipalId": "a2b3c4d5-e6f7-4a8b-9c0d-1e2f3a4b5c6d", "servicePrincipalName": nil}}})
	add(
		shippedCase{name: "Global Administrator added", id: "audit.privileged_role_change", base: ad, set: addGA, hit: true,
			reason: []string{`role="Global Administrator"`, "target=dave@contoso.example", "by=adm_alice@contoso.example"}},
		shippedCase{name: "Reports Reader added", id: "audit.privileged_role_change", base: ad, set: addRR},
		shippedCase{name: "Global Administrator added by PIM itself (an activation)", id: "audit.privileged_role_change", base: ad, set: addByPIM},
		shippedCase{name: "eligible, role by template ID only (Graph)", id: "audit.privileged_role_change", base: ag, hit: true,
			set: auditGraph("Add eligible member to role", "RoleManagement", "Core Directory", alice,
				carol.target(prop("Role.TemplateId", "", q(privRoleAdminID)))),
			reason: []string{"role=" + privRoleAdminID, "target=carol@contoso.example"}},
		shippedCase{name: "Global Administrator added outside PIM", id: "pim.role_assigned_outside_pim", base: ad, set: addGA, hit: true,
			reason: []string{`role="Global Administrator"`}},
		shippedCase{name: "Reports Reader added outside PIM", id: "pim.role_assigned_outside_pim", base: ad, set: addRR},
		shippedCase{name: "Global Administrator added by PIM itself", id: "pim.role_assigned_outside_pim", base: ad, set: addByPIM},
		shippedCase{name: "PIM: permanent assignment outside PIM (Graph)", id: "pim.role_assigned_outside_pim", base: ag, hit: true,
			set: auditGraph("Add member to role outside of PIM (permanent)", "RoleManagement", "PIM", alice,
				roleTarget("Global Administrator"), dave.target())},
	)

	pim := func(activity string) fields {
		return with(auditGraph(activity, "RoleManagement", "PIM", alice, roleTarget("Global Administrator"), dave.target()),
			fields{"resultReason": "Ticket CHG0042: quarterly access review"})
	}
	add(
		shippedCase{name: "eligible assignment completed", id: "pim.eligible_role_added", base: ag, set: pim("Add eligible member to role in PIM completed (permanent)"), hit: true,
			reason: []string{`role="Global Administrator"`, "target=dave@contoso.example", "by=adm_alice@contoso.example"}},
		shippedCase{name: "eligible assignment requested", id: "pim.eligible_role_added", base: ag, set: pim("Add eligible member to role in PIM requested (permanent)")},
		shippedCase{name: "activation completed", id: "pim.elevation", base: ag, set: pim("Add member to role completed (PIM activation)"), hit: true, risk: "medium",
			reason: []string{`role="Global Administrator"`, "user=adm_alice@contoso.example", `resultReason="Ticket CHG0042: quarterly access review"`}},
		shippedCase{name: "activation requested", id: "pim.elevation", base: ag, set: pim("Add member to role requested (PIM activation)")},
		shippedCase{name: "request approved", id: "pim.approval_decision", base: ag, set: pim("Add member to role request approved (PIM activation)"), hit: true, risk: "low",
			reason: []string{"by=adm_alice@contoso.example", "target=dave@contoso.example"}},
		shippedCase{name: "request denied", id: "pim.approval_decision", base: ag, set: pim("Add member to role request denied (PIM activation)"), hit: true},
		shippedCase{name: "approval requested", id: "pim.approval_decision", base: ag, set: pim("Add member to role approval requested (PIM activation)")},
		shippedCase{name: "role setting updated", id: "pim.settings_changed", base: ag, set: pim("Update role setting in PIM"), hit: true,
			reason: []string{`role="Global Administrator"`, "by=adm_alice@contoso.example"}},
		shippedCase{name: "alert setting updated", id: "pim.settings_changed", base: ag, set: pim("Update alert setting in PIM")},
	)
	// A privileged role granted under PIM's own activity names is a new
	// member too (the guide: "eligible or permanent member added").
	for _, activity := range []string{
		"Add member to role in PIM completed (permanent)",
		"Add member to role in PIM completed (timebound)",
		"Add member to role outside of PIM (permanent)",
		"Add eligible member to role in PIM completed (permanent)",
		"Add eligible member to role in PIM completed (timebound)",
	} {
		add(shippedCase{name: "PIM: " + activity, id: "audit.privileged_role_change", base: ag, set: pim(activity), hit: true,
			reason: []string{`role="Global Administrator"`, "target=dave@contoso.example", "by=adm_alice@contoso.example"}})
	}
	add(
		shippedCase{name: "PIM: Reports Reader granted", id: "audit.privileged_role_change", base: ag,
			set: with(pim("Add member to role in PIM completed (permanent)"), fields{"targetResources.0.displayName": "Reports Reader"})},
		shippedCase{name: "PIM: grant only requested", id: "audit.privileged_role_change", base: ag, set: pim("Add member to role in PIM requested (permanent)")},
		shippedCase{name: "PIM: activation is not a new member", id: "audit.privileged_role_change", base: ag, set: pim("Add member to role completed (PIM activation)")},
	)

	// Domain Services and Azure Activity.
	add(
		shippedCase{name: "4673", id: "aadds.sensitive_privilege_use", base: "aadds_diagnostic.json", hit: true,
			reason: []string{"eventId=4673", "upn=svc-backup@AADDSCONTOSO", "privilegeList=SeTcbPrivilege", `processName=C:\Windows\System32\lsass.exe`, "computer=DC01.aaddscontoso.com"}},
		shippedCase{name: "4624", id: "aadds.sensitive_privilege_use", base: "aadds_diagnostic.json",
			set: fields{"operationName": "4624", "category": "LogonLogoff", "properties.EventId": "4624"}},
	)

	add(
		shippedCase{name: "elevate access (diagnostic, upper case)", id: "azure.elevate_access", base: "activity_diagnostic.json", hit: true,
			reason: []string{"operationName=MICROSOFT.AUTHORIZATION/ELEVATEACCESS/ACTION", "status=Succeeded", "caller=adm_alice@contoso.example", "ip=203.0.113.7"}},
		shippedCase{name: "elevate access failed", id: "azure.elevate_access", base: "activity_diagnostic.json", hit: true,
			set: fields{"resultType": "Failure", "resultSignature": "Failed.Forbidden"}, reason: []string{"status=Failed"}},
		shippedCase{name: "elevate access (REST)", id: "azure.elevate_access", base: "activity_rest.json", hit: true,
			reason: []string{"operationName=Microsoft.Authorization/elevateAccess/action", "caller=adm_bob@contoso.example", "ip=198.51.100.1"}},
		shippedCase{name: "role assignment write", id: "azure.elevate_access", base: "activity_diagnostic.json",
			set: fields{"operationName": "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", "properties.message": "Microsoft.Authorization/roleAssignments/write"}},
	)
	return cs
}

// ---- harness ----------------------------------------------------------------

var (
	stageOnce sync.Once
	stage     *privilege.Stage
	stageErr  error
)

func testStage(t testing.TB) *privilege.Stage {
	t.Helper()
	stageOnce.Do(func() { stage, stageErr = privilege.New(privilege.Config{RoleMap: roleMapFile}) })
	if stageErr != nil {
		t.Fatal(stageErr)
	}
	return stage
}

// loadEngine loads and compiles a pipeline file with the privilege
// stage's role set.
func loadEngine(t testing.TB, path string) *Engine {
	t.Helper()
	p, err := LoadPipeline(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(p.Monitors, testStage(t).Roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func monitorByID(e *Engine, id string) *Monitor {
	for _, m := range e.Monitors() {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// buildDoc applies set to a base document.
func buildDoc(t testing.TB, base string, set fields) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "records", base))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", base, err)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a path before the paths under it
	for _, k := range keys {
		if err := setPath(doc, strings.Split(k, "."), set[k]); err != nil {
			t.Fatalf("%s: set %s: %v", base, k, err)
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func setPath(doc any, path []string, v any) error {
	if _, del := v.(absent); !del {
		// Copy v so that cases sharing a value do not share its maps.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
	}
	cur := doc
	for i, seg := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if _, del := v.(absent); del {
					delete(c, seg)
				} else {
					c[seg] = v
				}
				return nil
			}
			next, ok := c[seg]
			if !ok || next == nil {
				next = map[string]any{}
				c[seg] = next
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= len(c) {
				return fmt.Errorf("no element %s", seg)
			}
			if last {
				c[n] = v
				return nil
			}
			cur = c[n]
		default:
			return fmt.Errorf("%s is not an object or array", seg)
		}
	}
	return nil
}

// evalCase decodes, tags and evaluates the case's record with e, after
// the records of c.before, with the stateful monitors' state in a store of
// its own.
func evalCase(t testing.TB, e *Engine, c *shippedCase) *entra.Record {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	state, err := e.OpenState(st, "test", StateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := e.NewEvaluator()
	var rec *entra.Record
	for _, b := range append(slices.Clone(c.before), *c) {
		rec = decodeCase(t, &b)
		ev.Eval(rec)
		if _, err := state.Apply(ev.TakeObservations()); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

func decodeCase(t testing.TB, c *shippedCase) *entra.Record {
	t.Helper()
	data := buildDoc(t, c.base, c.set)
	var dec entra.Decoder
	rec := &entra.Record{Origin: c.name}
	if err := dec.Decode(data, rec); err != nil {
		t.Fatalf("decode: %v\n%s", err, data)
	}
	testStage(t).Enrich(rec)
	if c.device != nil {
		rec.Context.Device = c.device
	}
	rec.Context.Geo = c.geo
	rec.Context.WorkHours = c.workHours
	return rec
}

func findHit(rec *entra.Record, id string) *entra.Hit {
	for i := range rec.Hits {
		if rec.Hits[i].ID == id {
			return &rec.Hits[i]
		}
	}
	return nil
}

// checkCase returns what is wrong with rec for c, or "".
func checkCase(m *Monitor, c *shippedCase, rec *entra.Record) string {
	if streams, _ := m.Streams(); !slices.Contains(streams, rec.Stream) {
		return "record is on stream " + string(rec.Stream) + ", the monitor reads " + m.Source + ": the near miss proves nothing"
	}
	h := findHit(rec, c.id)
	if !c.hit {
		if h != nil {
			return "near miss hit: reason " + h.Reason
		}
		return ""
	}
	if h == nil {
		return "no hit; hits: " + hitIDs(rec)
	}
	var problems []string
	risk := c.risk
	if risk == "" {
		risk = m.Risk
	}
	if h.Risk != risk {
		problems = append(problems, "risk "+h.Risk+", want "+risk)
	}
	if h.Title != m.Title || h.Source != string(rec.Stream) || h.Notes != m.Notes {
		problems = append(problems, "hit does not carry the monitor's title, source and notes")
	}
	if h.Reason == "" {
		problems = append(problems, "empty reason")
	}
	for _, s := range c.reason {
		if !strings.Contains(h.Reason, s) {
			problems = append(problems, "reason "+strconv.Quote(h.Reason)+" lacks "+strconv.Quote(s))
		}
	}
	return strings.Join(problems, "; ")
}

func hitIDs(rec *entra.Record) string {
	ids := make([]string, len(rec.Hits))
	for i, h := range rec.Hits {
		ids[i] = h.ID
	}
	return "[" + strings.Join(ids, " ") + "]"
}

func caseName(c *shippedCase) string {
	kind := "miss"
	if c.hit {
		kind = "hit"
	}
	return c.id + "/" + kind + "/" + c.name
}

// ---- tests ------------------------------------------------------------------

func TestShippedMonitors(t *testing.T) {
	engines := map[string]*Engine{}
	for _, path := range []string{shippedPipeline, paramsPipeline, optInPipeline} {
		engines[path] = loadEngine(t, path)
	}
	for _, c := range shippedCases() {
		t.Run(caseName(&c), func(t *testing.T) {
			path := c.pipeline
			if path == "" {
				path = shippedPipeline
			}
			e := engines[path]
			if e == nil {
				t.Fatalf("unknown pipeline %s", path)
			}
			m := monitorByID(e, c.id)
			if m == nil {
				t.Fatalf("monitor %s is not in %s", c.id, c.pipeline)
			}
			rec := evalCase(t, e, &c)
			if problem := checkCase(m, &c, rec); problem != "" {
				t.Error(problem)
			}
		})
	}
	// Realistic records must not make any monitor fail to evaluate.
	for path, e := range engines {
		for _, m := range e.Monitors() {
			if n := m.Errors(); n > 0 {
				t.Errorf("%s: monitor %s could not evaluate %d records", path, m.ID, n)
			}
		}
	}
}

// TestShippedCoverage fails when a shipped monitor has no hit case or no
// near-miss case, or the table names a monitor the shipped file does not
// have.
func TestShippedCoverage(t *testing.T) {
	p, err := LoadPipeline(shippedPipeline)
	if err != nil {
		t.Fatal(err)
	}
	hits, misses := map[string]int{}, map[string]int{}
	for _, c := range shippedCases() {
		if c.hit {
			hits[c.id]++
		} else {
			misses[c.id]++
		}
	}
	var shipped []string
	for _, d := range p.Monitors {
		shipped = append(shipped, d.ID)
		if hits[d.ID] == 0 {
			t.Errorf("monitor %s has no hit case", d.ID)
		}
		if misses[d.ID] == 0 {
			t.Errorf("monitor %s has no near-miss case", d.ID)
		}
	}
	for id := range hits {
		if !slices.Contains(shipped, id) {
			t.Errorf("cases for %s, which %s does not have", id, shippedPipeline)
		}
	}
	for id := range misses {
		if !slices.Contains(shipped, id) && hits[id] == 0 {
			t.Errorf("cases for %s, which %s does not have", id, shippedPipeline)
		}
	}
	if len(shipped) == 0 {
		t.Fatal("no monitors loaded")
	}
}

// TestParamsPipelineOverridesOnlyParams checks the include of the test
// pipeline: same monitors in the same order, and only the params it sets
// differ from the shipped file.
func TestParamsPipelineOverridesOnlyParams(t *testing.T) {
	shipped, err := LoadPipeline(shippedPipeline)
	if err != nil {
		t.Fatal(err)
	}
	tuned, err := LoadPipeline(paramsPipeline)
	if err != nil {
		t.Fatal(err)
	}
	if len(tuned.Monitors) != len(shipped.Monitors) {
		t.Fatalf("%d monitors, shipped has %d", len(tuned.Monitors), len(shipped.Monitors))
	}
	for i := range shipped.Monitors {
		s, p := shipped.Monitors[i], tuned.Monitors[i]
		if s.ID != p.ID || s.When != p.When || s.Title != p.Title || s.Risk != p.Risk || s.Source != p.Source ||
			!slices.Equal(s.Reason, p.Reason) || s.Notes != p.Notes || s.IsEnabled() != p.IsEnabled() {
			t.Errorf("monitor %d (%s) changed beyond params", i, s.ID)
		}
		switch s.ID {
		case "audit.guest_invite_unapproved":
			if got := p.Params["approved_inviters"]; len(got.([]any)) != 2 {
				t.Errorf("approved_inviters = %v", got)
			}
			if p.File() != paramsPipeline {
				t.Errorf("File() = %q, want the overriding file", p.File())
			}
		case "audit.high_value_app_change":
			if got := p.Params["high_value_apps"]; len(got.([]any)) != 2 {
				t.Errorf("high_value_apps = %v", got)
			}
		case "signin.unapproved_controls":
			if got := p.Params["approved_ranges"]; len(got.([]any)) != 2 {
				t.Errorf("approved_ranges = %v", got)
			}
		default:
			if p.File() != s.File() {
				t.Errorf("%s: File() = %q, want %q", s.ID, p.File(), s.File())
			}
		}
	}
}

// ---- benchmark --------------------------------------------------------------

// BenchmarkEvalSignIn runs the whole shipped pipeline over one decoded and
// tagged sign-in: a typical non-privileged one, and a privileged one that
// hits a few monitors.
func BenchmarkEvalSignIn(b *testing.B) { benchEvalSignIn(b, shippedPipeline) }

// benchEvalSignIn evaluates a typical and an admin's sign-in with the
// monitors of pipeline.
func benchEvalSignIn(b *testing.B, pipeline string) {
	e := loadEngine(b, pipeline)
	for _, bc := range []struct {
		name string
		c    shippedCase
	}{
		{"nonprivileged", shippedCase{name: "typical", base: "signin_graph.json",
			set: with(carol.signInGraph(), fields{"conditionalAccessStatus": "success"})}},
		{"privileged", shippedCase{name: "admin", base: "signin_diagnostic.json",
			set:    with(alice.signInDiag(), statusDiag(50074, "Strong Authentication is required.", "")),
			device: &entra.Device{ID: "8bfcb982-6856-4402-924c-ada2486321cc"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var dec entra.Decoder
			rec := &entra.Record{}
			if err := dec.Decode(buildDoc(b, bc.c.base, bc.c.set), rec); err != nil {
				b.Fatal(err)
			}
			testStage(b).Enrich(rec)
			rec.Context.Device = bc.c.device
			ev := e.NewEvaluator()
			ev.Eval(rec)
			b.Logf("%d hits: %s", len(rec.Hits), hitIDs(rec))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec.Hits = rec.Hits[:0]
				ev.Eval(rec)
				ev.TakeObservations()
			}
		})
	}
}
