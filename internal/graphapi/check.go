package graphapi

import (
	"context"
	"errors"
	"net/url"
)

// Permission is one Microsoft Graph application permission privtrail uses:
// what for, the least-privileged permission the Graph reference documents
// for it, and a request that needs exactly that permission.
type Permission struct {
	Feature    string // what privtrail does with it
	Permission string // least-privileged application permission (Graph reference)
	Path       string // probed with $top=1
	Query      url.Values
}

// Permissions are those of the Graph features, in the order `privtrail
// check` probes them. The reports endpoints count against the reports
// rate limit (5 requests per 10 s); there are three of them here. The two
// /identityProtection/ probes are subject to Graph's 1 request per second
// per tenant there: a 429 is retried with back-off like any other.
var Permissions = []Permission{
	{"sign-in logs (inputs.graph signins)", "AuditLog.Read.All", "/v1.0/auditLogs/signIns", nil},
	{"directory audit logs (inputs.graph audits)", "AuditLog.Read.All", "/v1.0/auditLogs/directoryAudits", nil},
	{"risk detections (inputs.graph risk_detections)", "IdentityRiskEvent.Read.All", "/v1.0/identityProtection/riskDetections", nil},
	{"risky users (inputs.graph risky_users)", "IdentityRiskyUser.Read.All", "/v1.0/identityProtection/riskyUsers", nil},
	{"active role assignments (live role map)", "RoleManagement.Read.Directory", "/v1.0/roleManagement/directory/roleAssignments", nil},
	{"role definitions (live role map)", "RoleManagement.Read.Directory", "/v1.0/roleManagement/directory/roleDefinitions", nil},
	{"PIM eligible assignments (live role map)", "RoleEligibilitySchedule.Read.Directory", "/v1.0/roleManagement/directory/roleEligibilitySchedules", nil},
	{"PIM active assignments (live role map)", "RoleAssignmentSchedule.Read.Directory", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances", nil},
	{"users' last sign-in (review.unused_privileged_account)", "User.Read.All + AuditLog.Read.All", "/v1.0/users", url.Values{"$select": {"id,userPrincipalName,signInActivity"}}},
	{"MFA registration (directory.mfa_not_registered)", "AuditLog.Read.All", "/v1.0/reports/authenticationMethods/userRegistrationDetails", nil},
}

// CheckResult is the outcome of probing one Permission: Err is nil when
// the request succeeded, and Missing says a 403 means the permission (or
// its admin consent) is absent.
type CheckResult struct {
	Permission
	Err     error
	Missing bool
}

// Check probes every Permission with a one-item request, so that an
// administrator learns at install time, not at 3 a.m., which permission
// the app registration lacks. A failure to get a token at all fails every
// probe with the same error.
func (c *Client) Check(ctx context.Context) []CheckResult {
	out := make([]CheckResult, 0, len(Permissions))
	for _, p := range Permissions {
		q := url.Values{"$top": {"1"}}
		for k, v := range p.Query {
			q[k] = v
		}
		var page struct{}
		err := c.Get(ctx, p.Path, q, &page)
		r := CheckResult{Permission: p, Err: err, Missing: IsForbidden(err)}
		out = append(out, r)
		if err != nil && errors.Is(err, ctx.Err()) {
			break
		}
	}
	return out
}
