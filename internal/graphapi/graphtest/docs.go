package graphtest

import (
	"embed"
	"encoding/json"
	"fmt"
	"time"
)

// The helpers below return documents in the shapes of Graph's API
// reference: each starts from an example response of the documentation
// (testdata/, see its README for the origin of each) and changes only the
// fields it is given. The maps are fresh; change them further as a test
// needs before Add.

//go:embed testdata/*.json
var examples embed.FS

// example returns value[i] of a documented response, decoded afresh.
func example(file string, i int) map[string]any {
	b, err := examples.ReadFile("testdata/" + file)
	if err != nil {
		panic(err)
	}
	var page struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal(b, &page); err != nil || i >= len(page.Value) {
		panic(fmt.Sprintf("graphtest: testdata/%s: %v", file, err))
	}
	return page.Value[i]
}

// Time formats t as Graph writes times: UTC, ISO 8601.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// SignIn is an interactive user sign-in (v1.0 signin-list.md, example 1)
// of upn at created.
func SignIn(id string, created time.Time, upn string) map[string]any {
	d := example("signins_v1.json", 0)
	d["id"], d["createdDateTime"], d["userPrincipalName"] = id, Time(created), upn
	return d
}

// NonInteractiveSignIn is a non-interactive user sign-in as beta returns
// it, with signInEventTypes ["nonInteractiveUser"] (beta signin-list.md,
// example 3). v1.0 and beta without a signInEventTypes filter do not
// return it.
func NonInteractiveSignIn(id string, created time.Time, upn string) map[string]any {
	d := example("signins_beta_noninteractive_ex3.json", 0)
	d["id"], d["createdDateTime"], d["userPrincipalName"] = id, Time(created), upn
	return d
}

// DirectoryAudit is a directory audit (v1.0 directoryaudit-list.md,
// example 2) of activity at "at".
func DirectoryAudit(id string, at time.Time, activity string) map[string]any {
	d := example("directoryaudits_v1_ex2.json", 0)
	d["id"], d["activityDateTime"], d["activityDisplayName"] = id, Time(at), activity
	return d
}

// RoleAssignment is a unifiedRoleAssignment of roleDefinitionID (a role
// template id for built-in roles) to principalID at the tenant scope
// (rbacapplication-list-roleassignments.md, example 2).
func RoleAssignment(id, principalID, roleDefinitionID string) map[string]any {
	d := example("roleassignments_v1_ex2.json", 0)
	d["id"], d["principalId"], d["roleDefinitionId"] = id, principalID, roleDefinitionID
	return d
}

// RoleDefinition is a built-in unifiedRoleDefinition whose id and
// templateId are id (rbacapplication-list-roledefinitions.md, example 1).
func RoleDefinition(id, displayName string) map[string]any {
	d := example("roledefinitions_v1_ex1.json", 0)
	d["id"], d["templateId"], d["displayName"] = id, id, displayName
	d["description"] = "Members of " + displayName + "."
	return d
}

// RoleEligibilitySchedule is a PIM eligibility of principalID for
// roleDefinitionID at the tenant scope
// (rbacapplication-list-roleeligibilityschedules.md).
func RoleEligibilitySchedule(id, principalID, roleDefinitionID string) map[string]any {
	d := example("roleeligibilityschedules_v1.json", 0)
	d["id"], d["principalId"], d["roleDefinitionId"], d["createdUsing"] = id, principalID, roleDefinitionID, id
	return d
}

// RoleAssignmentScheduleInstance is an active, permanent ("Assigned")
// assignment instance (rbacapplication-list-roleassignmentscheduleinstances.md).
func RoleAssignmentScheduleInstance(id, principalID, roleDefinitionID string) map[string]any {
	d := example("roleassignmentscheduleinstances_v1.json", 0)
	d["id"], d["principalId"], d["roleDefinitionId"] = id, principalID, roleDefinitionID
	d["roleAssignmentOriginId"], d["roleAssignmentScheduleId"] = id, id
	return d
}

// UserMember is a user among a group's transitive members
// (group-list-transitivemembers.md, example 1), with its UPN added.
func UserMember(id, upn string) map[string]any {
	d := example("group_transitivemembers_v1_ex1.json", 0)
	d["id"], d["mail"], d["userPrincipalName"] = id, upn, upn
	return d
}

// GroupMember is a group among a group's transitive members
// (group-list-transitivemembers.md, example 3, with the @odata.type an
// uncast answer carries).
func GroupMember(id, displayName string) map[string]any {
	d := example("group_transitivemembers_v1_ex3_groups.json", 0)
	delete(d, "@odata.id")
	d["@odata.type"] = "#microsoft.graph.group"
	d["id"], d["displayName"], d["mailNickname"] = id, displayName, displayName
	d["mail"] = displayName + "@contoso.com"
	return d
}

// User is a user with signInActivity (user-list.md, example 11); a zero
// lastSignIn is written as Graph writes "never": 0001-01-01T00:00:00Z.
// The fake returns signInActivity only to a $select that names it.
func User(id, upn string, lastSignIn time.Time) map[string]any {
	d := example("users_signinactivity_v1_ex11.json", 0)
	d["id"], d["userPrincipalName"], d["displayName"] = id, upn, upn
	act := d["signInActivity"].(map[string]any)
	if lastSignIn.IsZero() {
		act["lastSignInDateTime"], act["lastSignInRequestId"] = "0001-01-01T00:00:00Z", ""
	} else {
		act["lastSignInDateTime"] = lastSignIn.UTC().Format(time.RFC3339)
	}
	return d
}

// UserRegistration is a user's authentication method registration
// (authenticationmethodsroot-list-userregistrationdetails.md); MFA counts
// as registered when methods is not empty.
func UserRegistration(id, upn string, isAdmin bool, methods ...string) map[string]any {
	d := example("userregistrationdetails_v1.json", 0)
	d["id"], d["userPrincipalName"], d["userDisplayName"], d["isAdmin"] = id, upn, upn, isAdmin
	m := make([]any, len(methods))
	for i, v := range methods {
		m[i] = v
	}
	d["methodsRegistered"] = m
	d["isMfaRegistered"], d["isMfaCapable"] = len(methods) > 0, len(methods) > 0
	return d
}

// RiskDetection is an Entra ID Protection risk detection of upn
// (riskdetection-list.md, v1.0): detected and last updated at
// lastUpdated, the risky sign-in a few minutes earlier, riskState
// atRisk. Set riskState, riskDetail and lastUpdatedDateTime (Time) and
// Add it again to change it, as a dismissal does.
func RiskDetection(id string, lastUpdated time.Time, upn string) map[string]any {
	d := example("riskdetections_v1.json", 0)
	d["id"], d["userPrincipalName"], d["userDisplayName"] = id, upn, upn
	d["requestId"] = id
	d["activityDateTime"] = Time(lastUpdated.Add(-2 * time.Minute))
	d["detectedDateTime"], d["lastUpdatedDateTime"] = Time(lastUpdated), Time(lastUpdated)
	d["riskState"], d["riskDetail"] = "atRisk", "none"
	return d
}

// RiskyUser is a user's Entra ID Protection risk state (riskyusers-list.md,
// example 1) whose risk last changed at updated: riskState state
// ("atRisk", "dismissed", "remediated", …), riskDetail "none" (or
// adminDismissedAllRiskForUser when dismissed, riskLevel then "none").
func RiskyUser(id string, updated time.Time, upn, state string) map[string]any {
	d := example("riskyusers_beta_ex1.json", 0)
	d["id"], d["userPrincipalName"], d["userDisplayName"] = id, upn, upn
	d["riskLastUpdatedDateTime"], d["riskState"] = Time(updated), state
	d["isProcessing"], d["isDeleted"] = false, false
	d["riskDetail"] = "none"
	if state == "dismissed" {
		d["riskDetail"], d["riskLevel"] = "adminDismissedAllRiskForUser", "none"
	}
	return d
}
