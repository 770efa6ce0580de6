package graphtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

type answer struct {
	status int
	header http.Header
	body   struct {
		Context  string            `json:"@odata.context"`
		NextLink string            `json:"@odata.nextLink"`
		Value    []json.RawMessage `json:"value"`
		Error    struct {
			Code, Message string
			InnerError    map[string]string
		} `json:"error"`
	}
}

// get sends a GET with a valid token (or tok, when given) to pathOrURL.
func get(t *testing.T, srv *graphtest.Server, pathOrURL string, tok ...string) answer {
	t.Helper()
	u := pathOrURL
	if !strings.HasPrefix(u, "https://") {
		u = srv.URL() + pathOrURL
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	bearer := srv.IssueToken()
	if len(tok) > 0 {
		bearer = tok[0]
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: res.StatusCode, header: res.Header}
	if err := json.Unmarshal(b, &a.body); err != nil {
		t.Fatalf("%s: %q: %v", u, b, err)
	}
	return a
}

func ids(t *testing.T, a answer) []string {
	t.Helper()
	var out []string
	for _, v := range a.body.Value {
		var d struct{ ID string }
		if err := json.Unmarshal(v, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d.ID)
	}
	return out
}

func TestQueries(t *testing.T) {
	srv := graphtest.New(t)
	for i := range 4 {
		srv.Add(graphtest.SignIns, graphtest.SignIn(fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Hour), "u@contoso.example"))
		srv.Add(graphtest.DirectoryAudits, graphtest.DirectoryAudit(fmt.Sprintf("a%d", i), t0.Add(time.Duration(i)*time.Hour), "Add member to role"))
	}
	srv.Add(graphtest.SignIns, graphtest.NonInteractiveSignIn("n0", t0.Add(30*time.Minute), "u@contoso.example"))
	srv.Add(graphtest.RoleAssignments, graphtest.RoleAssignment("r0", "p0", "role"), graphtest.RoleAssignment("r1", "p1", "role"))
	srv.Add(graphtest.RoleEligibilitySchedules, graphtest.RoleEligibilitySchedule("e0", "p1", "role"))
	srv.Add(graphtest.GroupMembers("g1"), graphtest.UserMember("m0", "m0@contoso.example"), graphtest.GroupMember("m1", "Nested"))
	srv.Add(graphtest.UserRegistrationDetails, graphtest.UserRegistration("u0", "u0@contoso.example", true, "microsoftAuthenticatorPush"))
	srv.Add(graphtest.RoleDefinitions, graphtest.RoleDefinition("62e90394-69f5-4237-9190-012177145e10", "Global Administrator"))
	srv.Add(graphtest.RoleAssignmentScheduleInstances, graphtest.RoleAssignmentScheduleInstance("i0", "p0", "role"))
	// Risk detections and risky users: served as added, not by time.
	for _, i := range []int{1, 2, 0} {
		srv.Add(graphtest.RiskDetections, graphtest.RiskDetection(fmt.Sprintf("d%d", i), t0.Add(time.Duration(i)*time.Hour), "u@contoso.example"))
		srv.Add(graphtest.RiskyUsers, graphtest.RiskyUser(fmt.Sprintf("ru%d", i), t0.Add(time.Duration(i)*time.Hour), "u@contoso.example", "atRisk"))
	}

	h := func(n int) string { return t0.Add(time.Duration(n) * time.Hour).Format(time.RFC3339) }
	tests := []struct {
		path   string
		status int
		ids    string
		code   string
	}{
		{path: "/v1.0/auditLogs/signIns", ids: "[s3 s2 s1 s0]"},
		{path: "/v1.0/auditLogs/signIns?$filter=createdDateTime ge " + h(1) + " and createdDateTime lt " + h(3), ids: "[s2 s1]"},
		{path: "/v1.0/auditlogs/signins?$filter=(createdDateTime gt " + h(1) + ")", ids: "[s3 s2]"},
		{path: "/beta/auditLogs/signIns", ids: "[s3 s2 s1 s0]"},
		{path: "/beta/auditLogs/signIns?$filter=signInEventTypes/any(t: t eq 'nonInteractiveUser')", ids: "[n0]"},
		{path: "/beta/auditLogs/signIns?$filter=signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser') and createdDateTime lt " + h(1), ids: "[n0 s0]"},
		{path: "/beta/auditLogs/signIns?$filter=(signInEventTypes/any(t: t ne 'interactiveUser'))", ids: "[n0]"},
		{path: "/v1.0/auditLogs/signIns?$filter=signInEventTypes/any(t: t eq 'nonInteractiveUser')", status: 400, code: "BadRequest"},
		{path: "/v1.0/auditLogs/directoryAudits?$filter=activityDateTime ge " + h(2), ids: "[a3 a2]"},
		{path: "/v1.0/auditLogs/directoryAudits?$filter=createdDateTime ge " + h(2), status: 400, code: "BadRequest"},
		{path: "/v1.0/auditLogs/signIns?$filter=startswith(appDisplayName,'Graph')", status: 400, code: "BadRequest"},
		{path: "/v1.0/auditLogs/signIns?$filter=createdDateTime ge yesterday", status: 400, code: "BadRequest"},
		{path: "/v1.0/auditLogs/signIns?$top=1000", ids: "[s3 s2 s1 s0]"},
		{path: "/v1.0/auditLogs/signIns?$top=1001", status: 400, code: "Request_UnsupportedQuery"},
		{path: "/v1.0/auditLogs/signIns?$top=0", status: 400, code: "Request_UnsupportedQuery"},
		{path: "/v1.0/users?$top=1000", status: 400, code: "Request_UnsupportedQuery"},
		{path: "/v1.0/roleManagement/directory/roleAssignments?$filter=principalId eq 'p1'", ids: "[r1]"},
		{path: "/v1.0/roleManagement/directory/roleEligibilitySchedules?$filter=principalId eq 'p1'", ids: "[e0]"},
		{path: "/v1.0/roleManagement/directory/roleDefinitions?$filter=principalId eq 'p1'", status: 400, code: "BadRequest"},
		{path: "/v1.0/roleManagement/directory/roleDefinitions", ids: "[62e90394-69f5-4237-9190-012177145e10]"},
		{path: "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances", ids: "[i0]"},
		{path: "/v1.0/groups/g1/transitiveMembers", ids: "[m0 m1]"},
		{path: "/v1.0/groups/nope/transitiveMembers", status: 404, code: "Request_ResourceNotFound"},
		{path: "/v1.0/reports/authenticationMethods/userRegistrationDetails", ids: "[u0]"},
		{path: "/v1.0/devices", status: 400, code: "BadRequest"},
		{path: "/v1.0/auditLogs/signIns?$skiptoken=forged_1", status: 400, code: "BadRequest"},
		{path: "/v1.0/identityProtection/riskDetections", ids: "[d1 d2 d0]"},
		{path: "/v1.0/identityProtection/riskDetections?$filter=lastUpdatedDateTime ge " + h(1) + " and lastUpdatedDateTime lt " + h(3), ids: "[d1 d2]"},
		{path: "/v1.0/identityProtection/riskDetections?$filter=lastUpdatedDateTime lt " + h(1) + "&$top=500&$select=id", ids: "[d0]"},
		{path: "/v1.0/identityProtection/riskDetections?$filter=detectedDateTime ge " + h(1), status: 400, code: "BadRequest"},
		{path: "/v1.0/identityProtection/riskDetections?$top=501", status: 400, code: "Request_UnsupportedQuery"},
		{path: "/v1.0/identityProtection/riskDetections?$orderby=lastUpdatedDateTime", status: 400, code: "BadRequest"},
		{path: "/v1.0/identityProtection/riskyUsers?$filter=riskLastUpdatedDateTime ge " + h(1), ids: "[ru1 ru2]"},
		{path: "/v1.0/identityProtection/riskyUsers?$filter=lastUpdatedDateTime ge " + h(1), status: 400, code: "BadRequest"},
		{path: "/v1.0/identityProtection/riskyUsers?$skip=1", status: 400, code: "BadRequest"},
	}
	for _, tt := range tests {
		a := get(t, srv, escape(tt.path))
		want := tt.status
		if want == 0 {
			want = 200
		}
		if a.status != want {
			t.Errorf("%s: %d %+v, want %d", tt.path, a.status, a.body.Error, want)
			continue
		}
		if want != 200 {
			if a.body.Error.Code != tt.code || a.body.Error.InnerError["request-id"] != a.header.Get("request-id") || a.header.Get("request-id") == "" {
				t.Errorf("%s: error %+v, request-id %q, want code %s", tt.path, a.body.Error, a.header.Get("request-id"), tt.code)
			}
			continue
		}
		if got := fmt.Sprint(ids(t, a)); got != tt.ids {
			t.Errorf("%s: %s, want %s", tt.path, got, tt.ids)
		}
	}
}

// escape encodes a readable path?query the way a client sends it.
func escape(pq string) string {
	p, q, ok := strings.Cut(pq, "?")
	if !ok {
		return p
	}
	var parts []string
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		parts = append(parts, k+"="+strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
	}
	return p + "?" + strings.Join(parts, "&")
}

func TestPagingSnapshotAndLateArrivals(t *testing.T) {
	srv := graphtest.New(t)
	for i := range 3 {
		srv.Add(graphtest.DirectoryAudits, graphtest.DirectoryAudit(fmt.Sprintf("a%d", i), t0.Add(time.Duration(i)*time.Minute), "Update user"))
	}
	first := get(t, srv, escape("/v1.0/auditLogs/directoryAudits?$top=2&$filter=activityDateTime ge "+t0.Format(time.RFC3339)))
	if got := fmt.Sprint(ids(t, first)); got != "[a2 a1]" || first.body.NextLink == "" {
		t.Fatalf("first page %s, nextLink %q", got, first.body.NextLink)
	}
	if first.body.Context != srv.URL()+"/v1.0/$metadata#auditLogs/directoryAudits" {
		t.Errorf("@odata.context %q", first.body.Context)
	}
	// The nextLink repeats the query and adds an opaque $skiptoken.
	nl, err := url.Parse(first.body.NextLink)
	if err != nil || nl.Query().Get("$top") != "2" || !strings.HasPrefix(nl.Query().Get("$filter"), "activityDateTime ge") || nl.Query().Get("$skiptoken") == "" {
		t.Fatalf("nextLink %q", first.body.NextLink)
	}
	// A late arrival, newer than everything: the running query does not
	// see it, a new one does.
	srv.Add(graphtest.DirectoryAudits, graphtest.DirectoryAudit("late", t0.Add(time.Hour), "Update user"))
	second := get(t, srv, first.body.NextLink)
	if got := fmt.Sprint(ids(t, second)); got != "[a0]" || second.body.NextLink != "" {
		t.Fatalf("second page %s, nextLink %q", got, second.body.NextLink)
	}
	again := get(t, srv, first.body.NextLink) // a nextLink may be fetched again
	if fmt.Sprint(ids(t, again)) != "[a0]" {
		t.Fatal("refetching a nextLink changed its page")
	}
	if got := fmt.Sprint(ids(t, get(t, srv, "/v1.0/auditLogs/directoryAudits?$top=2"))); got != "[late a2]" {
		t.Fatalf("new query %s", got)
	}
}

func TestUsersSignInActivity(t *testing.T) {
	srv := graphtest.New(t)
	for i := range 130 {
		srv.Add(graphtest.Users, graphtest.User(fmt.Sprintf("u%03d", i), fmt.Sprintf("u%d@contoso.example", i), t0))
	}
	plain := get(t, srv, "/v1.0/users?$top=999")
	if len(plain.body.Value) != 130 || strings.Contains(string(plain.body.Value[0]), "signInActivity") {
		t.Fatalf("%d users; signInActivity without $select: %s", len(plain.body.Value), plain.body.Value[0])
	}
	sel := get(t, srv, "/v1.0/users?$top=999&$select=userPrincipalName,signInActivity")
	if len(sel.body.Value) != 120 || sel.body.NextLink == "" {
		t.Fatalf("%d users with signInActivity on a page, want Graph's 120", len(sel.body.Value))
	}
	var u map[string]any
	if err := json.Unmarshal(sel.body.Value[0], &u); err != nil {
		t.Fatal(err)
	}
	act, _ := u["signInActivity"].(map[string]any)
	if len(u) != 3 || u["id"] != "u000" || act["lastSignInDateTime"] != "2026-01-05T08:00:00Z" {
		t.Fatalf("selected user %v", u)
	}
	if !strings.HasSuffix(sel.body.Context, "#users(userPrincipalName,signInActivity)") {
		t.Errorf("@odata.context %q", sel.body.Context)
	}
}

func TestTokensAndFaults(t *testing.T) {
	srv := graphtest.New(t)
	path := "/v1.0/users"
	for _, tok := range []string{"", "not-a-token"} {
		a := get(t, srv, path, tok)
		if a.status != 401 || a.body.Error.Code != "InvalidAuthenticationToken" ||
			!strings.Contains(a.header.Get("WWW-Authenticate"), `client_id="00000003-0000-0000-c000-000000000000"`) {
			t.Errorf("token %q: %d %+v %q", tok, a.status, a.body.Error, a.header.Get("WWW-Authenticate"))
		}
	}
	tok := srv.IssueToken()
	srv.ExpireTokens()
	if a := get(t, srv, path, tok); a.status != 401 || a.body.Error.Message != "Access token has expired or is not yet valid." {
		t.Errorf("expired token: %d %+v", a.status, a.body.Error)
	}
	if a := get(t, srv, path); a.status != 200 {
		t.Errorf("token issued after ExpireTokens: %d", a.status)
	}

	srv.FailNext(path, 429, "7", 2)
	for i := range 2 {
		if a := get(t, srv, path); a.status != 429 || a.header.Get("Retry-After") != "7" {
			t.Errorf("failure %d: %d %q", i, a.status, a.header.Get("Retry-After"))
		}
	}
	if a := get(t, srv, path); a.status != 200 {
		t.Errorf("after FailNext: %d", a.status)
	}
	srv.Deny(path, "")
	if a := get(t, srv, path); a.status != 403 || a.body.Error.Code != "Authorization_RequestDenied" {
		t.Errorf("denied: %d %+v", a.status, a.body.Error)
	}
	srv.Allow(path)
	if a := get(t, srv, path); a.status != 200 {
		t.Errorf("allowed: %d", a.status)
	}
	// 9 requests to /v1.0/users answered, and their statuses are logged.
	if n := srv.Requests("/v1.0/USERS"); n != 9 {
		t.Errorf("Requests = %d", n)
	}
	log := srv.Log()
	if log[0].Status != 401 || log[len(log)-1].Status != 200 {
		t.Errorf("log statuses %d … %d", log[0].Status, log[len(log)-1].Status)
	}
}

func TestBreakPage(t *testing.T) {
	srv := graphtest.New(t)
	srv.Add(graphtest.SignIns, graphtest.SignIn("s0", t0, "u@contoso.example"))
	srv.BreakPage("/v1.0/auditLogs/signIns", 1)
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/v1.0/auditLogs/signIns", nil)
	req.Header.Set("Authorization", "Bearer "+srv.IssueToken())
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil || len(b) == 0 || json.Valid(b) {
		t.Fatalf("read %d bytes, err %v: want half a page and a broken connection", len(b), err)
	}
	if a := get(t, srv, "/v1.0/auditLogs/signIns"); a.status != 200 || len(a.body.Value) != 1 {
		t.Fatal("the page after the broken one")
	}
	if log := srv.Log(); !log[0].Broken || log[1].Broken {
		t.Errorf("log %+v", log)
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	srv := graphtest.New(t)
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.ClientID},
		"client_secret": {srv.ClientSecret}, "scope": {srv.URL() + "/.default"}}
	tests := []struct {
		tenant string
		edit   func(url.Values)
		status int
		aadsts string
	}{
		{srv.TenantID, func(url.Values) {}, 200, ""},
		{"other-tenant", func(url.Values) {}, 400, "AADSTS90002"},
		{srv.TenantID, func(v url.Values) { v.Set("client_id", "someone-else") }, 400, "AADSTS700016"},
		{srv.TenantID, func(v url.Values) { v.Set("client_secret", "wrong") }, 401, "AADSTS7000215"},
		{srv.TenantID, func(v url.Values) { v.Del("client_secret") }, 401, "AADSTS7000216"},
		{srv.TenantID, func(v url.Values) { v.Set("scope", "https://vault.azure.net/.default") }, 400, "AADSTS500011"},
		{srv.TenantID, func(v url.Values) { v.Set("grant_type", "password") }, 400, "AADSTS70003"},
		{srv.TenantID, func(v url.Values) {
			v.Del("client_secret")
			v.Set("client_assertion", "a.b.c")
			v.Set("client_assertion_type", "wrong")
		}, 400, "AADSTS50027"},
		{srv.TenantID, func(v url.Values) {
			v.Del("client_secret")
			v.Set("client_assertion", "a.b.c")
			v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		}, 401, "AADSTS700027"},
	}
	for i, tt := range tests {
		v := url.Values{}
		for k, vs := range good {
			v[k] = append([]string(nil), vs...)
		}
		tt.edit(v)
		res, err := srv.Client().PostForm(srv.URL()+"/"+tt.tenant+"/oauth2/v2.0/token", v)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			AccessToken      string `json:"access_token"`
			ExpiresIn        int    `json:"expires_in"`
			ErrorDescription string `json:"error_description"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != tt.status || !strings.HasPrefix(body.ErrorDescription, tt.aadsts) {
			t.Errorf("case %d: %d %q, want %d %s", i, res.StatusCode, body.ErrorDescription, tt.status, tt.aadsts)
		}
		if tt.status == 200 && (body.AccessToken == "" || body.ExpiresIn < 3500) {
			t.Errorf("token answer %+v", body)
		}
		if strings.Contains(body.ErrorDescription, srv.ClientSecret) {
			t.Error("the secret is in the error")
		}
	}
	if tr := srv.TokenRequests(); len(tr) != len(tests) || tr[0].Scope != srv.URL()+"/.default" || tr[0].Status != 200 {
		t.Errorf("token log %+v", tr)
	}
	res, err := srv.Client().Get(srv.URL() + "/" + srv.TenantID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var oidc map[string]any
	_ = json.NewDecoder(res.Body).Decode(&oidc)
	res.Body.Close()
	if oidc["token_endpoint"] != srv.URL()+"/"+srv.TenantID+"/oauth2/v2.0/token" || oidc["issuer"] != srv.URL()+"/"+srv.TenantID+"/v2.0" {
		t.Errorf("openid-configuration %v", oidc)
	}
}

// Risk detections and risky users page 20 at a time by default, and an
// update of a resource (same id, later time, new state) replaces it: a
// running query keeps paging through what its first page saw, a new one
// finds the resource at its new time only.
func TestRiskResources(t *testing.T) {
	srv := graphtest.New(t)
	for i := range 45 {
		srv.Add(graphtest.RiskyUsers, graphtest.RiskyUser(fmt.Sprintf("u%02d", i), t0.Add(time.Duration(i)*time.Minute), "u@contoso.example", "atRisk"))
	}
	first := get(t, srv, "/v1.0/identityProtection/riskyUsers")
	if len(first.body.Value) != 20 || first.body.NextLink == "" || first.body.Context != srv.URL()+"/v1.0/$metadata#identityProtection/riskyUsers" {
		t.Fatalf("first page: %d users, nextLink %q, context %q", len(first.body.Value), first.body.NextLink, first.body.Context)
	}
	dismissed := graphtest.RiskyUser("u44", t0.Add(2*time.Hour), "u@contoso.example", "dismissed")
	srv.Add(graphtest.RiskyUsers, dismissed)
	var all []string
	for a := first; ; {
		all = append(all, ids(t, a)...)
		if a.body.NextLink == "" {
			break
		}
		a = get(t, srv, a.body.NextLink)
	}
	if len(all) != 45 || all[44] != "u44" {
		t.Fatalf("paged %d users (last %v), want the 45 of the first page's snapshot", len(all), all[len(all)-1:])
	}
	filter := func(from, to time.Time) string {
		return escape("/v1.0/identityProtection/riskyUsers?$filter=riskLastUpdatedDateTime ge " + from.Format(time.RFC3339) +
			" and riskLastUpdatedDateTime lt " + to.Format(time.RFC3339))
	}
	if got := ids(t, get(t, srv, filter(t0.Add(44*time.Minute), t0.Add(45*time.Minute)))); len(got) != 0 {
		t.Errorf("the old state of u44 is still served: %v", got)
	}
	now := get(t, srv, filter(t0.Add(2*time.Hour), t0.Add(3*time.Hour)))
	var u map[string]any
	if len(now.body.Value) != 1 || json.Unmarshal(now.body.Value[0], &u) != nil || u["id"] != "u44" || u["riskState"] != "dismissed" ||
		u["riskDetail"] != "adminDismissedAllRiskForUser" {
		t.Errorf("u44 after the dismissal: %s", now.body.Value)
	}
	if n := len(ids(t, get(t, srv, "/v1.0/identityProtection/riskyUsers?$top=500"))); n != 45 {
		t.Errorf("%d risky users after an update, want 45", n)
	}
}

// SetClock sets the Date header of Graph's answers, errors included, in
// whole seconds; without it net/http writes the host's.
func TestSetClock(t *testing.T) {
	srv := graphtest.New(t)
	if d, err := http.ParseTime(get(t, srv, "/v1.0/users").header.Get("Date")); err != nil || time.Since(d).Abs() > 5*time.Second {
		t.Errorf("default Date %v (%v): not the host's clock", d, err)
	}
	graph := t0.Add(-time.Hour + 400*time.Millisecond)
	srv.SetClock(func() time.Time { return graph })
	for _, path := range []string{"/v1.0/users", "/v1.0/nothing"} {
		a := get(t, srv, path)
		if got := a.header.Get("Date"); got != "Mon, 05 Jan 2026 07:00:00 GMT" {
			t.Errorf("%s (%d): Date %q", path, a.status, got)
		}
	}
}
