package entra

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/privtrail/privtrail/internal/deadletter"
)

func decodeOK(t *testing.T, doc string) *Record {
	t.Helper()
	var d Decoder
	var rec Record
	if err := d.Decode([]byte(doc), &rec); err != nil {
		t.Fatalf("Decode: %v\n%s", err, doc)
	}
	return &rec
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UTC()
}

type decodeCase struct {
	name  string
	doc   string
	check func(t *testing.T, r *Record)
}

// decodeCases are hand-written records for the paths and quirks the real
// samples do not cover. FuzzDecode uses them as seeds.
func decodeCases() []decodeCase {
	return []decodeCase{
		{
			name: "graph sign-in, 9 fractional digits and -07:00",
			doc: `{"id":"1","createdDateTime":"2024-05-01T09:15:30.123456789-07:00","userPrincipalName":"a@contoso.com",
				"userId":"u1","isInteractive":true,"status":{"errorCode":50126,"failureReason":"Invalid username or password."}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Time", r.Time.Format(time.RFC3339Nano), "2024-05-01T16:15:30.123456789Z")
				eq(t, "loc", r.Time.Location().String(), "UTC")
				eq(t, "Shape", r.Shape, ShapeGraph)
				eq(t, "ErrorCode", r.SignIn.ErrorCode, 50126)
				eq(t, "Status", r.SignIn.Status, "failure")
				eq(t, "FailureReason", r.SignIn.FailureReason, "Invalid username or password.")
			},
		},
		{
			name: "Level as string",
			doc:  `{"time":"2024-01-01T00:00:00Z","category":"AuditLogs","Level":"4","properties":{"activityDisplayName":"x"}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Level", r.Level, "4")
			},
		},
		{
			name: "Level as int",
			doc:  `{"time":"2024-01-01T00:00:00Z","category":"AuditLogs","Level":4,"properties":{}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Level", r.Level, "4")
			},
		},
		{
			name: "level lower-case",
			doc:  `{"time":"2024-01-01T00:00:00Z","category":"AuditLogs","level":"Informational","properties":{}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Level", r.Level, "Informational")
			},
		},
		{
			name: "callerIpAddress <null> on an audit",
			doc: `{"time":"2024-01-01T00:00:00.1234567Z","category":"AuditLogs","callerIpAddress":"<null>",
				"properties":{"initiatedBy":{"user":{"id":"u","userPrincipalName":"admin@contoso.com","ipAddress":null}}}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "IP", r.Actor.IP, "")
				eq(t, "UPN", r.Actor.UPN, "admin@contoso.com")
			},
		},
		{
			name: "callerIpAddress used when the sign-in has no ipAddress",
			doc:  `{"time":"2024-01-01T00:00:00Z","category":"SignInLogs","callerIpAddress":"198.51.100.4","properties":{"userPrincipalName":"a@b"}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "IP", r.Actor.IP, "198.51.100.4")
				eq(t, "IPAddress", r.SignIn.IPAddress, "198.51.100.4")
			},
		},
		{
			name: "resultType as error code when status.errorCode is absent",
			doc:  `{"time":"2024-01-01T00:00:00Z","category":"SignInLogs","resultType":"50126","resultDescription":"Invalid username or password.","properties":{"status":{}}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "ErrorCode", r.SignIn.ErrorCode, 50126)
				eq(t, "Status", r.SignIn.Status, "failure")
				eq(t, "FailureReason", r.SignIn.FailureReason, "Invalid username or password.")
			},
		},
		{
			name: "numbers given as strings",
			doc: `{"createdDateTime":"2024-01-01T00:00:00Z","isInteractive":"true","status":{"errorCode":"0"},
				"autonomousSystemNumber":"8075","location":{"geoCoordinates":{"latitude":"47.5","longitude":"-122.25"}},
				"deviceDetail":{"isCompliant":"True","isManaged":null}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Status", r.SignIn.Status, "success")
				eq(t, "IsInteractive", r.SignIn.IsInteractive, true)
				eq(t, "EventType", r.SignIn.EventType, "interactive")
				eq(t, "ASN", r.SignIn.ASN, 8075)
				eq(t, "Latitude", r.SignIn.Location.Latitude, 47.5)
				eq(t, "Longitude", r.SignIn.Location.Longitude, -122.25)
				eq(t, "IsCompliant", r.SignIn.Device.IsCompliant, true)
				eq(t, "IsManaged", r.SignIn.Device.IsManaged, false)
			},
		},
		{
			name: "graph v1 non-interactive from isInteractive",
			doc:  `{"createdDateTime":"2024-01-01T00:00:00Z","isInteractive":false,"userPrincipalName":"a@b"}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "EventType", r.SignIn.EventType, "nonInteractive")
				eq(t, "LogCategory", r.LogCategory, "NonInteractiveUserSignInLogs")
			},
		},
		{
			name: "graph beta signInEventTypes wins over isInteractive",
			doc:  `{"createdDateTime":"2024-01-01T00:00:00Z","isInteractive":true,"signInEventTypes":["nonInteractiveUser"]}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "EventType", r.SignIn.EventType, "nonInteractive")
				eq(t, "LogCategory", r.LogCategory, "NonInteractiveUserSignInLogs")
			},
		},
		{
			name: "graph beta service principal sign-in",
			doc: `{"createdDateTime":"2024-01-01T00:00:00Z","signInEventTypes":["servicePrincipal"],"appDisplayName":"Backup job",
				"servicePrincipalId":"sp-1","servicePrincipalName":null,"ipAddress":"203.0.113.9"}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "EventType", r.SignIn.EventType, "servicePrincipal")
				eq(t, "LogCategory", r.LogCategory, "ServicePrincipalSignInLogs")
				eq(t, "Actor", r.Actor, Principal{ID: "sp-1", DisplayName: "Backup job", IP: "203.0.113.9", Type: "servicePrincipal"})
			},
		},
		{
			name: "ServicePrincipalSignInLogs",
			doc: `{"time":"2024-03-04T05:06:07.0000001Z","category":"ServicePrincipalSignInLogs","operationName":"Sign-in activity",
				"resultType":"0","tenantId":"t1","Level":4,"properties":{"id":"s1","createdDateTime":"2024-03-04T05:06:06+00:00",
				"appId":"app-1","appDisplayName":"Automation","servicePrincipalId":"sp-9","servicePrincipalName":"automation-sp",
				"ipAddress":"20.1.2.3","status":{"errorCode":0},"resourceDisplayName":"Microsoft Graph","location":{"city":"Dublin","countryOrRegion":"IE"}}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Stream", r.Stream, StreamSignIn)
				eq(t, "LogCategory", r.LogCategory, "ServicePrincipalSignInLogs")
				eq(t, "EventType", r.SignIn.EventType, "servicePrincipal")
				// createdDateTime, when it happened; time is when it was logged.
				eq(t, "Time", r.Time, mustTime(t, "2024-03-04T05:06:06Z"))
				eq(t, "Actor", r.Actor, Principal{ID: "sp-9", DisplayName: "automation-sp", IP: "20.1.2.3", Type: "servicePrincipal"})
				eq(t, "ServicePrincipalName", r.SignIn.ServicePrincipalName, "automation-sp")
				eq(t, "Status", r.SignIn.Status, "success")
				eq(t, "TenantID", r.TenantID, "t1")
				eq(t, "Level", r.Level, "4")
				eq(t, "Country", r.SignIn.Location.Country, "IE")
			},
		},
		{
			name: "ManagedIdentitySignInLogs",
			doc: `{"time":"2024-03-04T05:06:07Z","category":"ManagedIdentitySignInLogs","properties":{"servicePrincipalId":"mi-1",
				"appDisplayName":"vm-web-01","status":{"errorCode":0}}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "EventType", r.SignIn.EventType, "managedIdentity")
				eq(t, "Actor", r.Actor, Principal{ID: "mi-1", DisplayName: "vm-web-01", Type: "servicePrincipal"})
			},
		},
		{
			name: "NonInteractiveUserSignInLogs",
			doc: `{"time":"2024-02-02T10:00:00.1234567Z","category":"NonInteractiveUserSignInLogs","resultType":"0","callerIpAddress":"<null>",
				"properties":{"userPrincipalName":"ADMIN@contoso.com","userId":"u-7","userDisplayName":"Admin","isInteractive":false,
				"status":{"errorCode":0},"riskEventTypes":[],"riskEventTypes_v2":["unfamiliarFeatures","anonymizedIPAddress"],
				"clientAppUsed":"Mobile Apps and Desktop clients","userAgent":"Mozilla/5.0"}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Stream", r.Stream, StreamSignIn)
				eq(t, "LogCategory", r.LogCategory, "NonInteractiveUserSignInLogs")
				eq(t, "EventType", r.SignIn.EventType, "nonInteractive")
				eq(t, "IsInteractive", r.SignIn.IsInteractive, false)
				eq(t, "Actor", r.Actor, Principal{ID: "u-7", UPN: "ADMIN@contoso.com", DisplayName: "Admin", Type: "user"})
				eq(t, "RiskEventTypes", r.SignIn.RiskEventTypes, []string{"unfamiliarFeatures", "anonymizedIPAddress"})
			},
		},
		{
			name: "riskEventTypes as a JSON string",
			doc:  `{"createdDateTime":"2024-01-01T00:00:00Z","riskEventTypes":"[\"leakedCredentials\"]"}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "RiskEventTypes", r.SignIn.RiskEventTypes, []string{"leakedCredentials"})
			},
		},
		{
			name: "Administrative elevateAccess",
			doc: `{"time":"2024-05-06T07:08:09.1234567Z","resourceId":"/PROVIDERS/MICROSOFT.AUTHORIZATION",
				"operationName":"MICROSOFT.AUTHORIZATION/ELEVATEACCESS/ACTION","category":"Administrative","resultType":"Success",
				"resultSignature":"Succeeded.OK","durationMs":"0","callerIpAddress":"203.0.113.7","correlationId":"c-1",
				"identity":{"authorization":{"scope":"/providers/Microsoft.Authorization","action":"Microsoft.Authorization/elevateAccess/action"},
				"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"ga@contoso.com","name":"Global Admin",
				"http://schemas.microsoft.com/identity/claims/objectidentifier":"oid-1","appid":"c44b4083-3bb0-49c1-b47d-974e53cbdf3c"}},
				"level":"Information","properties":{"statusCode":"OK","eventCategory":"Administrative","entity":"/providers/Microsoft.Authorization",
				"message":"Microsoft.Authorization/elevateAccess/action"},"tenantId":"t-1"}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Stream", r.Stream, StreamActivity)
				eq(t, "Shape", r.Shape, ShapeDiagnostic)
				eq(t, "LogCategory", r.LogCategory, "Administrative")
				eq(t, "OperationName", r.OperationName, "MICROSOFT.AUTHORIZATION/ELEVATEACCESS/ACTION")
				eq(t, "Activity", r.Activity, Activity{OperationName: "MICROSOFT.AUTHORIZATION/ELEVATEACCESS/ACTION", Category: "Administrative",
					Status: "Succeeded", ResultSignature: "Succeeded.OK", ResourceID: "/PROVIDERS/MICROSOFT.AUTHORIZATION", Level: "Information"})
				eq(t, "Actor", r.Actor, Principal{ID: "oid-1", UPN: "ga@contoso.com", DisplayName: "Global Admin", IP: "203.0.113.7", Type: "user"})
				eq(t, "Time", r.Time, mustTime(t, "2024-05-06T07:08:09.1234567Z"))
				eq(t, "CorrelationID", r.CorrelationID, "c-1")
				eq(t, "TenantID", r.TenantID, "t-1")
				eq(t, "Level", r.Level, "Information")
			},
		},
		{
			name: "Administrative with caller and Start",
			doc: `{"time":"2024-05-06T07:08:09Z","category":"Administrative","operationName":"Microsoft.Authorization/roleAssignments/write",
				"resultType":"Start","caller":"ops@contoso.com","callerIpAddress":"<null>","Level":"4"}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Status", r.Activity.Status, "Started")
				eq(t, "Actor", r.Actor, Principal{UPN: "ops@contoso.com", Type: "user"})
				eq(t, "Level", r.Activity.Level, "4")
			},
		},
		{
			name: "Azure Activity REST shape",
			doc: `{"eventTimestamp":"2024-05-06T07:08:09.5Z","caller":"ga@contoso.com","eventDataId":"e-1","correlationId":"c-2",
				"operationName":{"value":"Microsoft.Authorization/elevateAccess/action","localizedValue":"Assigns the caller to User Access Administrator role"},
				"category":{"value":"Administrative","localizedValue":"Administrative"},"status":{"value":"Succeeded","localizedValue":"Succeeded"},
				"level":"Informational","httpRequest":{"clientIpAddress":"198.51.100.1"},
				"claims":{"http://schemas.microsoft.com/identity/claims/objectidentifier":"oid-2"}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Stream", r.Stream, StreamActivity)
				eq(t, "Shape", r.Shape, ShapeGraph)
				eq(t, "LogCategory", r.LogCategory, "Administrative")
				eq(t, "ID", r.ID, "e-1")
				eq(t, "Activity", r.Activity, Activity{OperationName: "Microsoft.Authorization/elevateAccess/action",
					OperationLabel: "Assigns the caller to User Access Administrator role", Category: "Administrative", Status: "Succeeded",
					Level: "Informational"})
				eq(t, "Actor", r.Actor, Principal{ID: "oid-2", UPN: "ga@contoso.com", IP: "198.51.100.1", Type: "user"})
				eq(t, "Time", r.Time, mustTime(t, "2024-05-06T07:08:09.5Z"))
			},
		},
		{
			name: "AADDS 4673",
			doc: `{"time":"2024-03-05T09:12:44.1234567Z","tenantId":"t-3","operationName":"4673","category":"PrivilegeUse",
				"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.AAD/DOMAINSERVICES/AADDSCONTOSO.COM",
				"resultType":"","resultSignature":"","resultDescription":"A privileged service was called.","callerIpAddress":"",
				"Level":"4","properties":{"EventId":"4673","Computer":"DC01.aaddscontoso.com","SubjectUserName":"svc-backup",
				"SubjectDomainName":"AADDSCONTOSO","SubjectUserSid":"S-1-5-21-1-2-3-1104","PrivilegeList":"SeTcbPrivilege",
				"ServiceName":"-","ProcessName":"C:\\Windows\\System32\\lsass.exe"}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Stream", r.Stream, StreamAADDS)
				eq(t, "LogCategory", r.LogCategory, "PrivilegeUse")
				eq(t, "OperationName", r.OperationName, "4673")
				eq(t, "AADDS", r.AADDS, AADDS{EventID: 4673, Computer: "DC01.aaddscontoso.com", PrivilegeList: "SeTcbPrivilege",
					ServiceName: "-", ProcessName: `C:\Windows\System32\lsass.exe`, Domain: "AADDSCONTOSO.COM"})
				eq(t, "Actor", r.Actor, Principal{ID: "S-1-5-21-1-2-3-1104", UPN: "svc-backup@AADDSCONTOSO", DisplayName: "svc-backup", Type: "user"})
				eq(t, "Level", r.Level, "4")
			},
		},
		{
			name: "AADDS event id from operationName",
			doc:  `{"time":"2024-03-05T09:12:44Z","operationName":"4624","category":"LogonLogoff","properties":{"SubjectUserName":"-","TargetUserName":"jdoe@aaddscontoso.com","IpAddress":"10.1.0.4"}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "EventID", r.AADDS.EventID, 4624)
				eq(t, "Actor", r.Actor, Principal{UPN: "jdoe@aaddscontoso.com", DisplayName: "jdoe@aaddscontoso.com", IP: "10.1.0.4", Type: "user"})
			},
		},
		{
			name: "audit initiated by an app, Graph shape",
			doc: `{"activityDateTime":"2024-01-01T00:00:00Z","activityDisplayName":"Add member to role","category":"RoleManagement",
				"initiatedBy":{"user":null,"app":{"appId":"a-1","displayName":"MS-PIM","servicePrincipalId":null}},
				"targetResources":[{"id":"u-1","type":"User","userPrincipalName":"x@contoso.com","modifiedProperties":[]}]}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Actor", r.Actor, Principal{ID: "a-1", DisplayName: "MS-PIM", Type: "servicePrincipal"})
				eq(t, "InitiatedByApp", r.Audit.InitiatedByApp, "MS-PIM")
				eq(t, "OperationName", r.OperationName, "Add member to role")
				eq(t, "ModifiedProperties", r.Audit.Targets[0].ModifiedProperties == nil, true)
			},
		},
		{
			name: "key case varies, exact spelling wins",
			doc: `{"Time":"2024-01-01T00:00:00Z","Category":"auditlogs","Properties":{"ActivityDisplayName":"Update user",
				"TargetResources":[{"Type":"Group","type":"User","ID":"t-1","ModifiedProperties":[{"DisplayName":"x","NewValue":"\"y\""}]}]}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "LogCategory", r.LogCategory, "AuditLogs")
				eq(t, "ActivityDisplayName", r.Audit.ActivityDisplayName, "Update user")
				eq(t, "Type", r.Audit.Targets[0].Type, "User")
				eq(t, "ID", r.Audit.Targets[0].ID, "t-1")
				modified(t, r, "x", "y")
			},
		},
		{
			name: "null everywhere",
			doc: `{"time":"2024-01-01T00:00:00Z","category":"SignInLogs","Level":null,"callerIpAddress":null,"correlationId":null,
				"properties":{"id":null,"userPrincipalName":null,"status":null,"deviceDetail":null,"location":{"geoCoordinates":null},
				"authenticationDetails":null,"appliedConditionalAccessPolicies":[null],"riskEventTypes":null,"isInteractive":null}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Status", r.SignIn.Status, "success")
				eq(t, "Actor", r.Actor, Principal{Type: "user"})
				eq(t, "CA", r.SignIn.AppliedCAPolicies == nil, true)
				eq(t, "Level", r.Level, "")
			},
		},
		{
			name: "properties null",
			doc:  `{"time":"2024-01-01T00:00:00Z","category":"AuditLogs","operationName":"Delete user","properties":null}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "OperationName", r.OperationName, "Delete user")
				eq(t, "Targets", r.Audit.Targets == nil, true)
			},
		},
		{
			name: "time unparseable falls back to createdDateTime",
			doc:  `{"time":"not a time","category":"SignInLogs","properties":{"createdDateTime":"2024-01-01T01:00:00+01:00"}}`,
			check: func(t *testing.T, r *Record) {
				eq(t, "Time", r.Time, mustTime(t, "2024-01-01T00:00:00Z"))
			},
		},
	}
}

func TestDecodeCases(t *testing.T) {
	for _, tt := range decodeCases() {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, decodeOK(t, tt.doc))
		})
	}
}

func TestDecodeModifiedValues(t *testing.T) {
	tests := []struct {
		raw  string // the JSON value of newValue
		want string
	}{
		{`"\"Privileged Role Administrator\""`, "Privileged Role Administrator"},
		{`"[true]"`, "[true]"},
		{`"[ 1, 2 ]"`, "[1,2]"},
		{`"{\"a\": [1, \"x y\"]}"`, `{"a":[1,"x y"]}`},
		{`"not json"`, "not json"},
		{`"[not json"`, "[not json"},
		{`"\"unterminated"`, `"unterminated`},
		{`"\"a\" \"b\""`, `"a" "b"`},
		{`"\"\\u00e9t\\u00e9 \\ud83d\\ude00\""`, "été 😀"},
		{`"42"`, "42"},
		{`"null"`, "null"},
		{`""`, ""},
		{`null`, ""},
		{`42`, "42"},
		{`true`, "true"},
		{`["a", {"b" : null}]`, `["a",{"b":null}]`},
		{`{"k":"v\n"}`, `{"k":"v\n"}`},
	}
	for _, tt := range tests {
		doc := `{"activityDateTime":"2024-01-01T00:00:00Z","targetResources":[{"modifiedProperties":[{"displayName":"p","newValue":` + tt.raw + `}]}]}`
		r := decodeOK(t, doc)
		got := r.Audit.Targets[0].ModifiedProperties[0].NewValue
		if got != tt.want {
			t.Errorf("newValue %s: got %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // exact reason, or prefix ending in "..."
	}{
		{"empty", ``, "invalid JSON: ..."},
		{"not JSON", `hello`, "invalid JSON: ..."},
		{"truncated", `{"time":"2024-01-01T00:00:00Z","category":"SignInLogs"`, "invalid JSON: ..."},
		{"NaN accepted by fastjson", `{"time":"2024-01-01T00:00:00Z","category":"SignInLogs","x":NaN}`, "invalid JSON: ..."},
		{"control char in string", "{\"time\":\"2024-01-01T00:00:00Z\",\"category\":\"Sign\tInLogs\"}", "invalid JSON: ..."},
		{"bad escape", `{"time":"2024-01-01T00:00:00Z","category":"\q"}`, "invalid JSON: ..."},
		{"leading zero", `{"time":"2024-01-01T00:00:00Z","category":"SignInLogs","n":01}`, "invalid JSON: ..."},
		{"trailing garbage", `{"time":"2024-01-01T00:00:00Z"} x`, "invalid JSON: ..."},
		{"array", `[{"time":"2024-01-01T00:00:00Z","category":"SignInLogs"}]`, "not a JSON object: array"},
		{"string", `"x"`, "not a JSON object: string"},
		{"not an Entra log", `{"hello":"world","id":1}`, "not an Entra log record: no createdDateTime/activityDateTime/time/category"},
		// A category without a model is a valid record (stream other);
		// one that cannot be a category name is not.
		{"empty category", `{"time":"2024-01-01T00:00:00Z","category":""}`, `invalid category ""`},
		{"category with spaces", `{"time":"2024-01-01T00:00:00Z","category":"Sign In Logs"}`, `invalid category "Sign In Logs"`},
		{"category as a number", `{"time":"2024-01-01T00:00:00Z","category":7}`, `invalid category "7"`},
		{"category as an object", `{"time":"2024-01-01T00:00:00Z","category":{"x":1}}`, `invalid category ""`},
		{"unmodelled category, no time", `{"category":"ProvisioningLogs","properties":{}}`, "missing event time"},
		{"no time", `{"category":"SignInLogs","properties":{}}`, "missing event time"},
		{"bad time", `{"time":"yesterday","category":"AuditLogs","properties":{}}`, `invalid event time "yesterday"`},
		{"impossible date", `{"createdDateTime":"2024-02-30T00:00:00Z"}`, `invalid event time "2024-02-30T00:00:00Z"`},
		{"time as a number", `{"activityDateTime":1700000000}`, `invalid event time "1700000000"`},
		{"time as an object", `{"activityDateTime":{}}`, `invalid event time "{}"`},
		// Long reasons are cut to their start and end (TestDecodeErrorsAreShort).
		{"10,000-deep array", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "invalid JSON: cannot parse JSON: cannot parse array..."},
		{"long category", `{"time":"2024-01-01T00:00:00Z","category":"` + strings.Repeat("x", 5000) + `"}`, `invalid category "xxx...`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			rec := Record{Origin: "o", Stream: StreamAudit}
			err := d.Decode([]byte(tt.doc), &rec)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error = %v (%T), want *DecodeError", err, err)
			}
			if p, ok := strings.CutSuffix(tt.want, "..."); ok {
				if !strings.HasPrefix(de.Reason, p) {
					t.Errorf("reason = %q, want prefix %q", de.Reason, p)
				}
			} else if de.Reason != tt.want {
				t.Errorf("reason = %q, want %q", de.Reason, tt.want)
			}
			if de.Error() != de.Reason {
				t.Errorf("Error() = %q", de.Error())
			}
			if len(de.Reason) > deadletter.MaxReason {
				t.Errorf("reason is %d bytes, over %d", len(de.Reason), deadletter.MaxReason)
			}
			// On error the record holds only Raw and Origin.
			if rec.Origin != "o" || string(rec.Raw) != tt.doc || rec.Stream != "" {
				t.Errorf("record after error: %+v", rec)
			}
		})
	}
}

// TestDecodeErrorsAreShort: a 10,000-deep array makes fastjson repeat
// "cannot parse array value: " for 14 KB; the reason (logged and
// dead-lettered by the runner) keeps the start and the end, which says
// what went wrong.
func TestDecodeErrorsAreShort(t *testing.T) {
	var d Decoder
	var rec Record
	err := d.Decode([]byte(strings.Repeat("[", 10000)+strings.Repeat("]", 10000)), &rec)
	if err == nil {
		t.Fatal("decoded")
	}
	r := err.Error()
	if len(r) > deadletter.MaxReason || !strings.HasPrefix(r, "invalid JSON: ") || !strings.Contains(r, "…") ||
		!strings.Contains(r, "too big depth for the nested JSON; it exceeds 300; unparsed tail: ") {
		t.Errorf("reason (%d bytes): %q", len(r), r)
	}
	err = d.Decode([]byte(`{"time":"2024-01-01T00:00:00Z","category":"`+strings.Repeat("é", 3000)+`"}`), &rec)
	if r := err.Error(); len(r) > deadletter.MaxReason || !strings.HasPrefix(r, `invalid category "é`) ||
		!strings.HasSuffix(r, `é"`) || !utf8.ValidString(r) {
		t.Errorf("reason (%d bytes): %q", len(r), r)
	}
}

// TestDecoderReuse checks that a record's strings do not alias the
// parser's buffers: decoding another document must not change them.
func TestDecoderReuse(t *testing.T) {
	docs := loadSamples(t, localSamplesDir)
	var d Decoder
	recs := make([]Record, len(docs))
	for i, doc := range docs {
		if err := d.Decode(doc.data, &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i, doc := range docs {
		var fresh Decoder
		var want Record
		if err := fresh.Decode(doc.data, &want); err != nil {
			t.Fatal(err)
		}
		eq(t, doc.name, recs[i], want)
	}

	// Decode resets the record it is given.
	r := recs[0]
	if err := d.Decode(docs[len(docs)-1].data, &r); err != nil {
		t.Fatal(err)
	}
	eq(t, "reset", r, recs[len(docs)-1])
}

func TestParseTime(t *testing.T) {
	valid := []struct{ in, want string }{
		{"2019-03-12T16:02:15.5522137Z", "2019-03-12T16:02:15.5522137Z"},
		{"2019-03-12T16:02:15.5522137+00:00", "2019-03-12T16:02:15.5522137Z"},
		{"2024-05-01T09:15:30.123456789-07:00", "2024-05-01T16:15:30.123456789Z"},
		{"2024-05-01T23:15:30.1+05:30", "2024-05-01T17:45:30.1Z"},
		{"2024-12-31T23:59:59Z", "2024-12-31T23:59:59Z"},
		{"2024-02-29T00:00:00z", "2024-02-29T00:00:00Z"},
		{"2024-01-01T00:00:00-00:30", "2024-01-01T00:30:00Z"},
		{"2024-01-01 00:00:00.5Z", "2024-01-01T00:00:00.5Z"},
		{"2024-01-01T00:00:00.1234567", "2024-01-01T00:00:00.1234567Z"}, // no zone: UTC
		{"2024-01-01T00:00:00.1234567891234Z", "2024-01-01T00:00:00.123456789Z"},
		{"2024-01-01T00:00:00+14:00", "2023-12-31T10:00:00Z"},
	}
	for _, tt := range valid {
		got, ok := parseTime([]byte(tt.in))
		if !ok || got.Format(time.RFC3339Nano) != tt.want || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; want %s", tt.in, got, ok, tt.want)
		}
		// Agree with time.Parse wherever it accepts the input.
		if std, err := time.Parse(time.RFC3339Nano, tt.in); err == nil && !std.Equal(got) {
			t.Errorf("parseTime(%q) = %v, time.Parse = %v", tt.in, got, std)
		}
	}
	invalid := []string{
		"", "2024", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z",
		"2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T00:00:61Z", "2024-01-01T00:00:00.Z",
		"2024-01-01T00:00:00+0700", "2024-01-01T00:00:00+07", "2024-01-01X00:00:00Z",
		"2024-01-01T00:00:00ZZ", "2024-0a-01T00:00:00Z", "yesterday",
	}
	for _, in := range invalid {
		if got, ok := parseTime([]byte(in)); ok {
			t.Errorf("parseTime(%q) = %v, want failure", in, got)
		}
	}
}
