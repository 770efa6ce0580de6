package entra

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Real samples: the shared originals (the shared folder sits beside the
// repository: ../shared/samples from its root) and the package's own
// copies.
const (
	sharedSamplesDir = "../../shared/samples"
	localSamplesDir  = "testdata/samples"
)

// sampleDoc is one record of a sample file: the whole file, one element of
// a Graph page's "value", or one line of a .jsonl file.
type sampleDoc struct {
	name string // file#index
	data []byte
}

func loadSamples(tb testing.TB, dir string) []sampleDoc {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json*"))
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(files)
	var docs []sampleDoc
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		base := filepath.Base(file)
		for i, d := range splitSample(tb, base, data) {
			docs = append(docs, sampleDoc{name: fmt.Sprintf("%s#%d", base, i), data: d})
		}
	}
	if len(docs) == 0 {
		tb.Fatalf("no samples in %s", dir)
	}
	return docs
}

// splitSample splits a sample file into records with encoding/json.
func splitSample(tb testing.TB, name string, data []byte) [][]byte {
	tb.Helper()
	if strings.HasSuffix(name, ".jsonl") {
		var out [][]byte
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if !json.Valid(line) {
				tb.Fatalf("%s: line is not valid JSON", name)
			}
			out = append(out, line)
		}
		return out
	}
	var page struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &page); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	if page.Value == nil {
		return [][]byte{data}
	}
	out := make([][]byte, len(page.Value))
	for i, v := range page.Value {
		out[i] = v
	}
	return out
}

// sampleWant is what a sample must decode to. Zero fields are not checked
// unless noted; check holds the sample-specific assertions.
type sampleWant struct {
	stream    Stream
	shape     Shape
	category  string
	time      string // RFC 3339 with the exact nanoseconds, UTC
	op        string
	level     string
	actorType string
	upn       string
	actorID   string
	ip        *string // checked when set: "" is meaningful
	check     func(t *testing.T, r *Record)
}

func str(s string) *string { return &s }

// Per-sample expectations. Every sample record must have an entry, so a
// new sample cannot go untested.
var sampleWants = map[string]sampleWant{
	"entra_docs_eventhub_signin_record_example.json#0": {
		stream: StreamSignIn, shape: ShapeDiagnostic, category: "SignInLogs",
		time: "2019-03-12T16:02:15.5522137Z", op: "Sign-in activity", level: "4",
		actorType: "user", upn: "<USER PRINCIPAL NAME>", actorID: "<USER ID>",
		ip: str("<IP ADDRESS>"), // placeholders stay as logged
		check: func(t *testing.T, r *Record) {
			s := &r.SignIn
			eq(t, "EventType", s.EventType, "interactive")
			eq(t, "ErrorCode", s.ErrorCode, 50140)
			eq(t, "Status", s.Status, "interrupted") // KMSI interrupt
			eq(t, "FailureReason", s.FailureReason, "This error occurred due to 'Keep me signed in' interrupt when the user was signing-in.")
			eq(t, "IsInteractive", s.IsInteractive, true)
			eq(t, "TenantID", r.TenantID, "<TENANT ID>")
			// The envelope's correlationId wins over the properties' one.
			eq(t, "CorrelationID", r.CorrelationID, "aaaa0000-bb11-2222-33cc-444444dddddd")
			eq(t, "ID", r.ID, "0231f922-93fa-4005-bb11-b344eca03c01")
			eq(t, "Actor.DisplayName", r.Actor.DisplayName, "Timothy Perkins")
			eq(t, "AppID", s.AppID, "<APPLICATION ID>")
			eq(t, "AppDisplayName", s.AppDisplayName, "Azure Portal")
			eq(t, "ClientAppUsed", s.ClientAppUsed, "Browser")
			eq(t, "UserAgent", s.UserAgent, "<USER AGENT>")
			eq(t, "UserType", s.UserType, "Member")
			eq(t, "IPAddress", s.IPAddress, "<IP ADDRESS>")
			eq(t, "ResourceDisplayName", s.ResourceDisplayName, "Office 365 SharePoint Online")
			eq(t, "ResourceID", s.ResourceID, "00000003-0000-0ff1-ce00-000000000000")
			eq(t, "ResourceTenantID", s.ResourceTenantID, "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1")
			eq(t, "HomeTenantID", s.HomeTenantID, "<USER HOME TENANT ID>")
			eq(t, "CrossTenantAccessType", s.CrossTenantAccessType, "none")
			eq(t, "ConditionalAccessStatus", s.ConditionalAccessStatus, "notApplied")
			eq(t, "AuthenticationRequirement", s.AuthenticationRequirement, "multiFactorAuthentication")
			eq(t, "ServicePrincipalID", s.ServicePrincipalID, "")
			eq(t, "RiskLevelDuringSignIn", s.RiskLevelDuringSignIn, "none")
			eq(t, "RiskEventTypes", len(s.RiskEventTypes), 0)
			eq(t, "ASN", s.ASN, 8000)
			eq(t, "Device", s.Device, DeviceDetail{DeviceID: "8bfcb982-6856-4402-924c-ada2486321cc", OperatingSystem: "Windows 10", Browser: "Chrome 72.0.3626"})
			eq(t, "Location", s.Location, Location{City: "Bellevue", State: "Washington", Country: "US", Latitude: 45, Longitude: 122})
			eq(t, "CA policies", len(s.AppliedCAPolicies), 5)
			eq(t, "CA[0]", s.AppliedCAPolicies[0], CAPolicy{ID: "ae11ffaa-9879-44e0-972c-7538fd5c4d1a", DisplayName: "HR app access policy", Result: "notApplied"})
			eq(t, "CA[4]", s.AppliedCAPolicies[4], CAPolicy{ID: "52924e0f-798b-4afd-8c42-49055c7d6395", DisplayName: "Device compliant", Result: "notEnabled"})
			eq(t, "auth steps", len(s.AuthenticationDetails), 2)
			eq(t, "auth[1]", s.AuthenticationDetails[1], AuthStep{Method: "Previously satisfied", Succeeded: true,
				ResultDetail: "MFA requirement satisfied by claim in the token", Requirement: "Multi-factor authentication"})
		},
	},
	"graph_beta_signin_list_example2_response.json#0": {
		stream: StreamSignIn, shape: ShapeGraph, category: "SignInLogs",
		time: "2018-11-06T18:48:33.8527147Z", actorType: "user",
		upn: "jdoe@contoso.com", actorID: "d7cc485d-2c1b-422c-98fd-5ce52859a4a3", ip: str("207.254.19.10"),
		check: func(t *testing.T, r *Record) {
			s := &r.SignIn
			eq(t, "EventType", s.EventType, "interactive")
			eq(t, "ErrorCode", s.ErrorCode, 0) // "status":{}
			eq(t, "Status", s.Status, "success")
			eq(t, "OperationName", r.OperationName, "")
			eq(t, "Level", r.Level, "")
			eq(t, "Actor.DisplayName", r.Actor.DisplayName, "Jon Doe")
			eq(t, "CorrelationID", r.CorrelationID, "65dd87ce-2183-419e-81a9-d6e20379bcc2")
			// The key is spelled "riskLevelDuringsignIn" in this sample.
			eq(t, "RiskLevelDuringSignIn", s.RiskLevelDuringSignIn, "none")
			eq(t, "RiskState", s.RiskState, "none")
			eq(t, "ConditionalAccessStatus", s.ConditionalAccessStatus, "applied")
			eq(t, "AuthenticationRequirement", s.AuthenticationRequirement, "singleFactorAuthentication")
			eq(t, "ResourceDisplayName", s.ResourceDisplayName, "windows azure service management api")
			// deviceId, displayName, isCompliant, isManaged, trustType are null.
			eq(t, "Device", s.Device, DeviceDetail{OperatingSystem: "Windows 7", Browser: "Chrome 63.0.3239"})
			eq(t, "Location", s.Location, Location{City: "Lithia Springs", State: "Georgia", Country: "US",
				Latitude: 33.7930908203125, Longitude: -84.445358276367188})
			eq(t, "auth", s.AuthenticationDetails, []AuthStep{{Method: "Password", MethodDetail: "Cloud password", Succeeded: true,
				ResultDetail: "methodSucceeded", Requirement: "Primary authentication"}})
			eq(t, "CA", s.AppliedCAPolicies, []CAPolicy{
				{ID: "6551c58c-e5da-4036-a6ea-c2c3fad264f1", DisplayName: "MFA policy", Result: "notApplied"},
				{ID: "b645a140-20fe-4ce0-a724-18ab201e9026", DisplayName: "PipelineTest4", Result: "notEnabled"},
			})
		},
	},
	"graph_v1_signin_list_response.json#0": {
		stream: StreamSignIn, shape: ShapeGraph, category: "SignInLogs",
		time: "2020-03-13T19:15:41.6195833Z", actorType: "user",
		upn: "testaccount1@contoso.com", actorID: "26be570a-ae82-4189-b4e2-a37c6808512d", ip: str("131.107.159.37"),
		check: func(t *testing.T, r *Record) {
			s := &r.SignIn
			eq(t, "ID", r.ID, "66ea54eb-6301-4ee5-be62-ff5a759b0100")
			eq(t, "Status", s.Status, "success")
			eq(t, "FailureReason", s.FailureReason, "") // null
			eq(t, "AppDisplayName", s.AppDisplayName, "Graph explorer")
			eq(t, "Actor.DisplayName", r.Actor.DisplayName, "Test Contoso")
			eq(t, "Device", s.Device, DeviceDetail{OperatingSystem: "Windows 10", Browser: "Edge 80.0.361"})
			eq(t, "Latitude", s.Location.Latitude, 47.68050003051758)
			eq(t, "Longitude", s.Location.Longitude, -122.12094116210938)
			eq(t, "CA", len(s.AppliedCAPolicies), 2)
			eq(t, "auth", len(s.AuthenticationDetails), 0)
		},
	},
	"graph_v1_directoryaudit_list_response_ex1.json#0": {
		stream: StreamAudit, shape: ShapeGraph, category: "AuditLogs",
		time: "2018-01-09T21:20:02.7215374Z", op: "Add member to group", actorType: "user",
		upn: "bob@wingtiptoysonline.com", actorID: "728309ae-1a37-4937-9afe-e35d964db09b", ip: str("127.0.0.1"),
		check: func(t *testing.T, r *Record) {
			a := &r.Audit
			eq(t, "ID", r.ID, "id")
			eq(t, "Category", a.Category, "UserManagement")
			eq(t, "ActivityDisplayName", a.ActivityDisplayName, "Add member to group")
			eq(t, "Result", a.Result, "success")
			eq(t, "ResultReason", a.ResultReason, "Successfully added member to group")
			eq(t, "LoggedByService", a.LoggedByService, "Core Directory")
			eq(t, "InitiatedByApp", a.InitiatedByApp, "") // "app": null
			eq(t, "Actor.DisplayName", r.Actor.DisplayName, "Audry Oliver")
			// The sample capitalises "Type".
			eq(t, "Targets", a.Targets, []Target{
				{
					Principal: Principal{ID: "ef7e527d-6c92-4234-8c6d-cf6fdfb57f95", DisplayName: "Example.com", Type: "Group"},
					// newValue is not JSON-encoded here: kept as is.
					ModifiedProperties: []ModifiedProperty{{DisplayName: "Action Client Name", NewValue: "DirectorySync"}},
					GroupType:          "unifiedGroups",
				},
				{Principal: Principal{ID: "1f0e98f5-3161-4c6b-9b50-d488572f2bb7", UPN: "bob@contoso.com", Type: "User"}},
			})
			eq(t, "TargetUsers", len(r.TargetUsers()), 1)
			eq(t, "AdditionalDetails", a.AdditionalDetails, []KeyValue{{Key: "Additional Detail Name", Value: "Additional Detail Value"}})
		},
	},
	"graph_v1_directoryaudit_list_response_ex2.json#0": {
		stream: StreamAudit, shape: ShapeGraph, category: "AuditLogs",
		time: "2024-12-27T10:01:19.5796748Z", op: "GroupLifecyclePolicies_Get", actorType: "user",
		upn: "", actorID: "00000000-0000-0000-0000-000000000000", ip: str("10.0.0.0"),
		check: func(t *testing.T, r *Record) {
			a := &r.Audit
			eq(t, "ID", r.ID, "SSGM_b662f17a-4e4d-4e1c-9248-cdec180024b2_MCDC4_88453290")
			eq(t, "Category", a.Category, "GroupManagement")
			eq(t, "OperationType", a.OperationType, "Update")
			eq(t, "LoggedByService", a.LoggedByService, "Self-service Group Management")
			eq(t, "Targets", a.Targets, []Target{{Principal: Principal{ID: "00000000-0000-0000-0000-000000000000", Type: "N/A"}}})
			eq(t, "AdditionalDetails", len(a.AdditionalDetails), 0)
		},
	},

	// splunk/security_content: diagnostic-settings records, one per line.
	"splunk_security_content_aad_eventhub_records.jsonl#0": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2024-02-08T21:49:53.7643129Z", op: "Add app role assignment to service principal",
		actorType: "servicePrincipal", actorID: "fc8c8125-bc0c-499d-8344-e53c6e3caa81", upn: "", ip: str(""),
		check: func(t *testing.T, r *Record) {
			a := &r.Audit
			eq(t, "InitiatedByApp", a.InitiatedByApp, "LegacyTestOAuthApp")
			eq(t, "Actor.DisplayName", r.Actor.DisplayName, "LegacyTestOAuthApp")
			eq(t, "Category", a.Category, "ApplicationManagement")
			eq(t, "OperationType", a.OperationType, "Assign")
			eq(t, "ResultReason", a.ResultReason, "")
			eq(t, "targets", len(a.Targets), 2)
			eq(t, "target type", a.Targets[0].Type, "ServicePrincipal")
			eq(t, "target name", a.Targets[0].DisplayName, "Office 365 Exchange Online")
			modified(t, r, "AppRole.Value", "full_access_as_app")
			modified(t, r, "AppRole.DisplayName", "Use Exchange Web Services with full access to all mailboxes")
			eq(t, "oldValue null", a.Targets[0].ModifiedProperties[0].OldValue, "")
			eq(t, "TargetUsers", len(r.TargetUsers()), 0)
			eq(t, "AdditionalDetails[1]", a.AdditionalDetails[1], KeyValue{Key: "AppId", Value: "00000002-0000-0ff1-ce00-000000000000"})
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#1": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-04-28T16:39:51.9312625Z", op: "Add member to role", actorType: "user",
		upn: "strt_admin@splunkresearch.com", actorID: "3bd47e42-37c9-442f-a2b4-f04de61ef0ce", ip: str("52.177.250.168"),
		check: func(t *testing.T, r *Record) {
			a := &r.Audit
			eq(t, "TenantID", r.TenantID, "fc69e276-e9e8-4af9-9002-1e410d77244e")
			eq(t, "CorrelationID", r.CorrelationID, "b425f2d7-2245-4952-b599-61dff8054f2b")
			eq(t, "ID", r.ID, "Directory_b425f2d7-2245-4952-b599-61dff8054f2b_FLAW0_72812697")
			eq(t, "Category", a.Category, "RoleManagement")
			eq(t, "Result", a.Result, "success")
			eq(t, "InitiatedByApp", a.InitiatedByApp, "")
			eq(t, "targets", len(a.Targets), 2)
			eq(t, "target[0]", a.Targets[0].Principal, Principal{ID: "0d664d57-a3ee-4049-8642-280a5c7243ef", UPN: "User1@splunkresearch.com", Type: "User"})
			eq(t, "target[1]", a.Targets[1].Principal, Principal{ID: "38bf5baf-7ec7-4bc2-8920-6d4044da12c2", Type: "Role"})
			// "\"Privileged Role Administrator\"" is unquoted.
			modified(t, r, "Role.DisplayName", "Privileged Role Administrator")
			modified(t, r, "Role.TemplateId", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3")
			eq(t, "AdditionalDetails", len(a.AdditionalDetails), 0)
			eq(t, "TargetUsers", r.TargetUsers()[0].UPN, "User1@splunkresearch.com")
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#2": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-06-20T15:54:13.2420879Z", op: "Add owner to application", actorType: "user",
		upn: "globaladmin@splunkresearch.com", ip: str("20.190.135.43"),
		check: func(t *testing.T, r *Record) {
			eq(t, "target UPN", r.Audit.Targets[0].UPN, "Abigail.Clark@splunkresearch.com")
			eq(t, "target[1] type", r.Audit.Targets[1].Type, "Application")
			modified(t, r, "Application.DisplayName", "CloudForge")
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#3": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2024-02-07T22:31:14.4970418Z", op: "Add service principal", actorType: "user",
		upn: "Herman@phantomengineering.onmicrosoft.com", ip: str(""), // "ipAddress":"" and no callerIpAddress
		check: func(t *testing.T, r *Record) {
			mp := r.Audit.Targets[0].ModifiedProperties
			eq(t, "AccountEnabled", mp[0], ModifiedProperty{DisplayName: "AccountEnabled", OldValue: "[]", NewValue: "[true]"})
			eq(t, "DisplayName", mp[2].NewValue, `["Malicious11"]`)
			modified(t, r, "Credential", `[{"CredentialType":2,"KeyStoreId":"291154f0-a9f5-45bb-87be-9c8ee5b6d62c","KeyGroupId":"291154f0-a9f5-45bb-87be-9c8ee5b6d62c"}]`)
			modified(t, r, "Included Updated Properties", "AccountEnabled, AppPrincipalId, DisplayName, ServicePrincipalName, Credential")
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#4": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-07-26T13:45:54.1582053Z", op: "Add unverified domain", actorType: "user",
		upn: "tommyr@splunkresearch.com", ip: str("2601:646:a000:200:6419:f55c:946d:17d1"),
		check: func(t *testing.T, r *Record) {
			// "id": null and no type at all.
			eq(t, "target", r.Audit.Targets[0].Principal, Principal{DisplayName: "newdomain.com"})
			eq(t, "Name", r.Audit.Targets[0].ModifiedProperties[0], ModifiedProperty{DisplayName: "Name", OldValue: `[""]`, NewValue: `["newdomain.com"]`})
			eq(t, "Category", r.Audit.Category, "DirectoryManagement")
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#5": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-10-27T16:14:14.9747033Z", op: "Consent to application", actorType: "user",
		upn: "user15@splunkresearch.onmicrosoft.com", ip: str("13.85.188.242"),
		check: func(t *testing.T, r *Record) {
			eq(t, "Result", r.Audit.Result, "failure")
			eq(t, "ResultReason", r.Audit.ResultReason, "Microsoft.Online.Security.UserConsentBlockedForRiskyAppsException")
			modified(t, r, "ConsentAction.Reason", "Risky application detected")
			modified(t, r, "ConsentContext.IsAdminConsent", "False")
			v, _ := r.Modified("ConsentAction.Permissions")
			if !strings.HasPrefix(v, "[] => [[Id: AAAAAAAAAAAAAAAAAAAAALSZcc5Sj_NGtUtP2B3pYeI2veRXIpdKSpcpcgPY4Aty, ClientId:") ||
				!strings.HasSuffix(v, "LastModifiedDateTime ]]; ") {
				t.Errorf("ConsentAction.Permissions = %q", v)
			}
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#6": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-07-11T00:01:35.0251899Z", op: "Disable Strong Authentication", actorType: "user",
		upn: "oops@splunkresearch.com", ip: str(""),
		check: func(t *testing.T, r *Record) {
			mp := r.Audit.Targets[0].ModifiedProperties[0]
			eq(t, "old", mp.OldValue, `[{"RelyingParty":"*","State":1,"RememberDevicesNotIssuedBefore":"2023-07-11T00:01:26+00:00"}]`)
			eq(t, "new", mp.NewValue, "[]")
			eq(t, "target", r.Audit.Targets[0].UPN, "Abigail.Clark@splunkresearch.com")
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#7": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-07-24T14:28:15.2223487Z", op: "Enable account", actorType: "user",
		upn: "tommyr@splunkresearch.com", ip: str("2601:646:a000:200:b0ee:600c:de8a:c7d5"),
		check: func(t *testing.T, r *Record) {
			eq(t, "AccountEnabled", r.Audit.Targets[0].ModifiedProperties[0], ModifiedProperty{DisplayName: "AccountEnabled", OldValue: "[false]", NewValue: "[true]"})
			eq(t, "target", r.Audit.Targets[0].UPN, "testuser@splunkresearch.com")
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#8": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-07-13T00:29:59.5100003Z", op: "Invite external user", actorType: "user",
		upn: "oopsr@splunkresearch.com", ip: str("40.126.4.40"),
		check: func(t *testing.T, r *Record) {
			eq(t, "LoggedByService", r.Audit.LoggedByService, "Invited Users")
			eq(t, "ResultReason", r.Audit.ResultReason, "") // null
			eq(t, "target", r.Audit.Targets[0].Principal, Principal{ID: "f416526a-17ee-4129-8ca9-f5ee55f69f34", DisplayName: "oops",
				UPN: "oops360_gmail.com#EXT#@strtadminsplunkresearch.onmicrosoft.com", Type: "User"})
			eq(t, "details", len(r.Audit.AdditionalDetails), 6)
			eq(t, "details[5]", r.Audit.AdditionalDetails[5], KeyValue{Key: "invitedUserEmailAddress", Value: "oops360@gmail.com"})
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#9": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-07-24T14:28:55.0648789Z", op: "Reset password (by admin)", actorType: "user",
		upn: "tommyr@splunkresearch.com", ip: str("40.81.4.144"),
		check: func(t *testing.T, r *Record) {
			eq(t, "LoggedByService", r.Audit.LoggedByService, "Self-service Password Management")
			eq(t, "ResultReason", r.Audit.ResultReason, "None")
			eq(t, "target", r.Audit.Targets[0].Principal, Principal{ID: "83a3158c-1d08-4686-b5f9-72fb34cb606e", DisplayName: "test",
				UPN: "testuser@splunkresearch.com", Type: "User"})
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#10": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-07-26T13:44:59.0372448Z", op: "Set domain authentication", actorType: "user",
		upn: "tommyr@splunkresearch.com",
		check: func(t *testing.T, r *Record) {
			// The envelope's operationName and the activity's name differ
			// in this record; OperationName keeps the envelope's.
			eq(t, "ActivityDisplayName", r.Audit.ActivityDisplayName, "Add unverified domain")
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#11": {
		stream: StreamSignIn, shape: ShapeDiagnostic, category: "SignInLogs", level: "4",
		// properties.createdDateTime, when the sign-in happened; the
		// envelope's time (2023-10-24T20:13:31.4449614Z) is when Azure
		// logged it, 12 minutes later.
		time: "2023-10-24T20:01:11.9490387Z", op: "Sign-in activity", actorType: "user",
		upn: "user15@splunkresearch.onmicrosoft.com", actorID: "57e4bd36-9722-4a4a-9729-7203d8e00b72", ip: str("1.2.3.4"),
		check: func(t *testing.T, r *Record) {
			s := &r.SignIn
			eq(t, "EventType", s.EventType, "interactive")
			eq(t, "ErrorCode", s.ErrorCode, 50076)
			eq(t, "Status", s.Status, "interrupted")
			eq(t, "AdditionalDetails", s.AdditionalDetails, "MFA required in Azure AD")
			eq(t, "ClientAppUsed", s.ClientAppUsed, "Mobile Apps and Desktop clients")
			eq(t, "AppDisplayName", s.AppDisplayName, "Azure Active Directory PowerShell")
			eq(t, "ASN", s.ASN, 12271)
			eq(t, "ResourceTenantID", s.ResourceTenantID, "887c9144-28b8-431b-885b-764fdeefcf62")
			eq(t, "Location", s.Location, Location{City: "Rochester", State: "New York", Country: "US", Latitude: 20.756160123483983, Longitude: -73.99697875976562})
			eq(t, "Device", s.Device, DeviceDetail{OperatingSystem: "Windows"})
			eq(t, "CA", len(s.AppliedCAPolicies), 0)
			eq(t, "auth", s.AuthenticationDetails, []AuthStep{
				{Method: "Password", MethodDetail: "Password in the cloud", Succeeded: true, ResultDetail: "Correct password", Requirement: "Primary authentication"},
				{ResultDetail: "MFA required in Azure AD", Requirement: "Primary authentication"},
			})
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#12": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2024-01-29T21:31:03.0102031Z", op: "Update application", actorType: "user",
		upn: "user30@splunkresearch.onmicrosoft.com", ip: str(""),
		check: func(t *testing.T, r *Record) {
			modified(t, r, "Included Updated Properties", "RequiredResourceAccess")
			v, _ := r.Modified("RequiredResourceAccess")
			if !json.Valid([]byte(v)) || !strings.Contains(v, `"ResourceAppId":"00000002-0000-0ff1-ce00-000000000000"`) {
				t.Errorf("RequiredResourceAccess = %q", v)
			}
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#13": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-10-26T19:22:20.2814027Z", op: "Update authorization policy", actorType: "user",
		upn: "attacker@splunkresearch.onmicrosoft.com", ip: str("1.2.3.4"),
		check: func(t *testing.T, r *Record) {
			eq(t, "Category", r.Audit.Category, "AuthorizationPolicy")
			eq(t, "target type", r.Audit.Targets[0].Type, "Other")
			modified(t, r, "AllowUserConsentForRiskyApps", "[true]")
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#14": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-07-24T14:28:15.2233481Z", op: "Update user", actorType: "user",
		upn: "tommyr@splunkresearch.com",
		check: func(t *testing.T, r *Record) {
			modified(t, r, "TargetId.UserType", "Member")
			eq(t, "details", r.Audit.AdditionalDetails, []KeyValue{{Key: "UserType", Value: "Member"}})
		},
	},
	"splunk_security_content_aad_eventhub_records.jsonl#15": {
		stream: StreamAudit, shape: ShapeDiagnostic, category: "AuditLogs", level: "4",
		time: "2023-01-30T21:11:30.8690619Z", op: "User registered security info", actorType: "user",
		upn: "User30@splunkresearch.com", actorID: "40b61050-e814-4ae5-8ffe-66b6f0c53998", ip: str("72.1.2.43"),
		check: func(t *testing.T, r *Record) {
			eq(t, "LoggedByService", r.Audit.LoggedByService, "Authentication Methods")
			eq(t, "ResultReason", r.Audit.ResultReason, "User registered App Password")
			eq(t, "OperationType", r.Audit.OperationType, "Add")
		},
	},
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func modified(t *testing.T, r *Record, name, want string) {
	t.Helper()
	got, ok := r.Modified(name)
	if !ok {
		t.Errorf("modified property %q missing", name)
		return
	}
	if got != want {
		t.Errorf("modified property %q = %q, want %q", name, got, want)
	}
}

func checkSample(t *testing.T, doc sampleDoc) {
	w, ok := sampleWants[doc.name]
	if !ok {
		t.Fatalf("no expectations for sample %s: add an entry to sampleWants", doc.name)
	}
	var d Decoder
	rec := Record{Origin: doc.name}
	if err := d.Decode(doc.data, &rec); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !bytes.Equal(rec.Raw, doc.data) {
		t.Error("Raw is not the input")
	}
	eq(t, "Origin", rec.Origin, doc.name)
	eq(t, "Stream", rec.Stream, w.stream)
	eq(t, "Shape", rec.Shape, w.shape)
	eq(t, "LogCategory", rec.LogCategory, w.category)
	wantTime, err := time.Parse(time.RFC3339Nano, w.time)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Time.Equal(wantTime) || rec.Time.Location() != time.UTC || rec.Time.Format(time.RFC3339Nano) != w.time {
		t.Errorf("Time = %s (%v), want %s", rec.Time.Format(time.RFC3339Nano), rec.Time.Location(), w.time)
	}
	if w.op != "" {
		eq(t, "OperationName", rec.OperationName, w.op)
	}
	eq(t, "Level", rec.Level, w.level)
	eq(t, "Actor.Type", rec.Actor.Type, w.actorType)
	eq(t, "Actor.UPN", rec.Actor.UPN, w.upn)
	if w.actorID != "" {
		eq(t, "Actor.ID", rec.Actor.ID, w.actorID)
	}
	if w.ip != nil {
		eq(t, "Actor.IP", rec.Actor.IP, *w.ip)
	}
	if w.check != nil {
		w.check(t, &rec)
	}

	// Every decoded sample encodes to valid JSON with one privtrail key.
	out := rec.AppendJSON(nil)
	if !json.Valid(out) {
		t.Fatalf("AppendJSON output is not valid JSON: %s", out)
	}
	if bytes.IndexByte(out, '\n') >= 0 {
		t.Error("AppendJSON output spans several lines")
	}
}

func TestSamples(t *testing.T) {
	docs := loadSamples(t, localSamplesDir)
	seen := map[string]bool{}
	for _, doc := range docs {
		seen[doc.name] = true
		t.Run(doc.name, func(t *testing.T) { checkSample(t, doc) })
	}
	for name := range sampleWants {
		if !seen[name] {
			t.Errorf("expected sample %s not found", name)
		}
	}
}

// TestSharedSamples runs the same checks on the shared originals, so the
// tests notice when the shared samples change.
func TestSharedSamples(t *testing.T) {
	if _, err := os.Stat(sharedSamplesDir); errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s not present", sharedSamplesDir)
	}
	for _, doc := range loadSamples(t, sharedSamplesDir) {
		t.Run(doc.name, func(t *testing.T) { checkSample(t, doc) })
	}
}

// TestSharedSamplesMatchCopies checks that testdata/samples holds exact
// copies of the shared samples.
func TestSharedSamplesMatchCopies(t *testing.T) {
	shared, err := filepath.Glob(filepath.Join(sharedSamplesDir, "*.json*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(shared) == 0 {
		t.Skipf("%s not present", sharedSamplesDir)
	}
	for _, file := range shared {
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(localSamplesDir, filepath.Base(file)))
		if err != nil {
			t.Errorf("copy missing: %v", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", filepath.Join(localSamplesDir, filepath.Base(file)), file)
		}
	}
}
