package entra

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readRecords returns the records of a sample file: one per line of a
// .jsonl file, the items of a Graph {"value":[…]} page, or the one object
// of a .json file.
func readRecords(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".jsonl") {
		var out [][]byte
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				out = append(out, bytes.Clone(sc.Bytes()))
			}
		}
		return out
	}
	var page struct{ Value []json.RawMessage }
	if err := json.Unmarshal(b, &page); err == nil && page.Value != nil {
		out := make([][]byte, len(page.Value))
		for i, v := range page.Value {
			out[i] = v
		}
		return out
	}
	return [][]byte{b}
}

// TestCategorySamples decodes the public records of every category in
// testdata/samples/categories (their sources are in its README).
func TestCategorySamples(t *testing.T) {
	type want struct {
		stream    Stream
		category  string
		actorType string
		actor     string // the actor's UPN, else its ID
		time      string // first record's event time, RFC 3339
	}
	tests := map[string]want{
		"elastic_NonInteractiveUserSignInLogs.jsonl": {StreamSignIn, "NonInteractiveUserSignInLogs", "user", "hello.world@company.de", "2021-07-30T11:20:59.7789167Z"},
		"elastic_ServicePrincipalSignInLogs.jsonl":   {StreamSignIn, "ServicePrincipalSignInLogs", "servicePrincipal", "22222222-4677-43b4-a1dc-ecb3230e9350", ""},
		"elastic_ManagedIdentitySignInLogs.jsonl":    {StreamSignIn, "ManagedIdentitySignInLogs", "servicePrincipal", "9d370547-cb61-4753-be23-68534909af90", ""},
		"elastic_ADFSSignInLogs.jsonl":               {StreamSignIn, "ADFSSignInLogs", "user", "april.oniel@turtles.com", "2025-12-12T14:56:31Z"},
		"elastic_ProvisioningLogs.jsonl":             {StreamOther, "ProvisioningLogs", "", "", "2022-08-23T13:36:50.3538931Z"},
		"elastic_RiskyUsers.jsonl":                   {StreamRisk, "RiskyUsers", "user", "joe.danger@mauriziobrancaoutlook.onmicrosoft.com", "2022-08-22T18:11:52.702Z"},
		"elastic_UserRiskEvents.jsonl":               {StreamRisk, "UserRiskEvents", "user", "joe.danger@mauriziobrancaoutlook.onmicrosoft.com", "2022-08-22T18:05:06.133Z"},
		"elastic_MicrosoftGraphActivityLogs.jsonl":   {StreamGraphActivity, "MicrosoftGraphActivityLogs", "servicePrincipal", "f2aq4c71-31e3-5066-92g3-4b3dfbav50f0", "2024-03-07T11:47:00.6442361Z"},
		"elastic_AzureADGraphActivityLogs.jsonl":     {StreamGraphActivity, "AzureADGraphActivityLogs", "user", "b37ec517-0a34-4266-b627-f7bb0d679d70", "2026-05-07T15:19:33.536886Z"},
		// Graph shapes: the category is derived.
		"graphdocs_v1_riskdetection_list_response.json":                 {StreamRisk, "UserRiskEvents", "user", "olack@adatum.com", ""},
		"graphdocs_beta_riskyusers_list_ex2_response.json":              {StreamRisk, "RiskyUsers", "user", "jon@contoso.com", ""},
		"graphdocs_v1_riskyserviceprincipal_list_response.json":         {StreamRisk, "RiskyServicePrincipals", "servicePrincipal", "9089a539-a539-9089-39a5-899039a58990", ""},
		"graphdocs_v1_serviceprincipalriskdetection_list_response.json": {StreamRisk, "ServicePrincipalRiskEvents", "servicePrincipal", "99b8d28b-11ae-4e84-9bef-0e767e286grg", ""},
	}
	files, err := filepath.Glob("testdata/samples/categories/*.json*")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, path := range files {
		name := filepath.Base(path)
		w, ok := tests[name]
		if !ok {
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			for i, doc := range readRecords(t, path) {
				var d Decoder
				var rec Record
				if err := d.Decode(doc, &rec); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if rec.Stream != w.stream || rec.LogCategory != w.category || rec.Time.IsZero() {
					t.Errorf("record %d: stream %s, category %s, time %v", i, rec.Stream, rec.LogCategory, rec.Time)
				}
				if i > 0 {
					continue
				}
				if got := firstOf(rec.Actor.UPN, rec.Actor.ID); rec.Actor.Type != w.actorType || got != w.actor {
					t.Errorf("actor %s %q, want %s %q", rec.Actor.Type, got, w.actorType, w.actor)
				}
				if w.time != "" && rec.Time.Format(time.RFC3339Nano) != w.time {
					t.Errorf("time %s, want %s", rec.Time.Format(time.RFC3339Nano), w.time)
				}
			}
		})
	}
	if seen != len(tests) {
		t.Errorf("%d of %d sample files found", seen, len(tests))
	}
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// TestRiskFields checks what a risk detection and a risky-user state
// carry, from the public samples.
func TestRiskFields(t *testing.T) {
	var d Decoder
	var rec Record
	doc := readRecords(t, "testdata/samples/categories/elastic_UserRiskEvents.jsonl")[1]
	if err := d.Decode(doc, &rec); err != nil {
		t.Fatal(err)
	}
	want := Risk{Kind: "detection", EventType: "passwordSpray", Level: "high", State: "atRisk", Detail: "none",
		Source: "IdentityProtection", DetectionTiming: "offline", Activity: "signin", IPAddress: "67.43.156.42"}
	got := rec.Risk
	got.RequestID, got.Location, got.Detected, got.AdditionalInfo = "", Location{}, time.Time{}, ""
	if got != want {
		t.Errorf("risk\n got %+v\nwant %+v", got, want)
	}
	if rec.Risk.Detected.IsZero() || rec.Risk.Detected.Before(rec.Time) {
		t.Errorf("offline detection: detected %v, activity %v", rec.Risk.Detected, rec.Time)
	}

	doc = readRecords(t, "testdata/samples/categories/elastic_RiskyUsers.jsonl")[1]
	if err := d.Decode(doc, &rec); err != nil {
		t.Fatal(err)
	}
	// "2022-09-09T9:59:27.958Z": a one-digit hour, as Entra wrote it.
	if rec.Risk.Kind != "state" || rec.Risk.Level != "high" || rec.Risk.State != "atRisk" ||
		rec.Time != time.Date(2022, 9, 9, 9, 59, 27, 958e6, time.UTC) || rec.Actor.ID != "e3b2b242-4ccb-4cf1-9b8b-004cf034a458" {
		t.Errorf("risky user: %+v time %v actor %+v", rec.Risk, rec.Time, rec.Actor)
	}
}

// TestGraphActivityFields checks a Graph activity record and the legacy
// Azure AD Graph spelling of the same members.
func TestGraphActivityFields(t *testing.T) {
	var d Decoder
	var rec Record
	doc := readRecords(t, "testdata/samples/categories/elastic_MicrosoftGraphActivityLogs.jsonl")[1]
	if err := d.Decode(doc, &rec); err != nil {
		t.Fatal(err)
	}
	g := rec.GraphActivity
	if g.RequestMethod == "" || g.RequestURI == "" || g.ResponseStatusCode == 0 || g.RequestID == "" || rec.ID != g.RequestID ||
		rec.Actor.Type != "user" || rec.Actor.ID != g.UserID || rec.Actor.IP != "81.2.69.143" {
		t.Errorf("graph activity %+v actor %+v", g, rec.Actor)
	}
	doc = readRecords(t, "testdata/samples/categories/elastic_AzureADGraphActivityLogs.jsonl")[0]
	if err := d.Decode(doc, &rec); err != nil {
		t.Fatal(err)
	}
	g = rec.GraphActivity
	if g.RequestMethod != "GET" || g.ResponseStatusCode != 200 || g.RequestURI != "/v2/ab30785b-417f-42a4-b5dc-8f9051718acb/users" ||
		rec.Actor.IP != "81.2.69.143" || g.IsWrite() {
		t.Errorf("AAD graph activity %+v actor %+v", g, rec.Actor)
	}
	if got := (&GraphActivity{RequestMethod: "patch"}).IsWrite(); !got {
		t.Error("PATCH is a write")
	}
}

// TestEveryCategory: one valid record of every diagnostic category Entra
// sends, and one of a made-up category, all decode (testdata/
// every_category.jsonl: public records where one exists, the rest written
// after Microsoft's schemas).
func TestEveryCategory(t *testing.T) {
	want := map[string]Stream{
		"SignInLogs": StreamSignIn, "NonInteractiveUserSignInLogs": StreamSignIn, "ServicePrincipalSignInLogs": StreamSignIn,
		"ManagedIdentitySignInLogs": StreamSignIn, "MicrosoftServicePrincipalSignInLogs": StreamSignIn, "ADFSSignInLogs": StreamSignIn,
		"AuditLogs": StreamAudit, "ProvisioningLogs": StreamOther,
		"RiskyUsers": StreamRisk, "UserRiskEvents": StreamRisk, "RiskyServicePrincipals": StreamRisk, "ServicePrincipalRiskEvents": StreamRisk,
		"MicrosoftGraphActivityLogs": StreamGraphActivity, "AzureADGraphActivityLogs": StreamGraphActivity,
		"NetworkAccessTrafficLogs": StreamOther, "NetworkAccessAlerts": StreamOther, "RemoteNetworkHealthLogs": StreamOther,
		"EnrichedOffice365AuditLogs": StreamOther, "B2CRequestLogs": StreamOther, "ContosoFutureLogs": StreamOther,
	}
	docs := readRecords(t, "testdata/every_category.jsonl")
	if len(docs) != len(want) {
		t.Fatalf("%d records, want %d", len(docs), len(want))
	}
	var d Decoder
	for _, doc := range docs {
		var rec Record
		if err := d.Decode(doc, &rec); err != nil {
			t.Errorf("%.80s: %v", doc, err)
			continue
		}
		if s, ok := want[rec.LogCategory]; !ok || s != rec.Stream || rec.Time.IsZero() {
			t.Errorf("category %q: stream %s (want %s), time %v", rec.LogCategory, rec.Stream, s, rec.Time)
		}
		delete(want, rec.LogCategory)
	}
	if len(want) > 0 {
		t.Errorf("categories not seen: %v", want)
	}
}

// TestOtherActor: a record of a category without a model is tagged by
// the principal it names, wherever it names one.
func TestOtherActor(t *testing.T) {
	tests := []struct {
		name, props, top string
		want             Principal
	}{
		{"user id and UPN", `{"userId":"u1","userPrincipalName":"adm@contoso.example","userDisplayName":"Adm"}`, ``,
			Principal{ID: "u1", UPN: "adm@contoso.example", DisplayName: "Adm", Type: "user"}},
		{"Office 365 userId is a UPN", `{"userId":"adm@contoso.example","sourceIp":"10.0.0.1"}`, ``,
			Principal{UPN: "adm@contoso.example", IP: "10.0.0.1", Type: "user"}},
		{"service principal", `{"servicePrincipalId":"sp1","servicePrincipalName":"Sync"}`, ``,
			Principal{ID: "sp1", DisplayName: "Sync", Type: "servicePrincipal"}},
		{"identity with @", `{}`, `,"identity":"adm@contoso.example","callerIpAddress":"192.0.2.1"`,
			Principal{UPN: "adm@contoso.example", IP: "192.0.2.1", Type: "user"}},
		{"identity as a name", `{}`, `,"identity":"Payroll Sync"`, Principal{DisplayName: "Payroll Sync"}},
		{"properties as JSON text", `"{\"userId\":\"u2\"}"`, ``, Principal{ID: "u2", Type: "user"}},
		{"nobody", `{"jobId":"j1"}`, ``, Principal{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"time":"2026-12-04T09:15:00Z","category":"SomethingNew","operationName":"op"` + tt.top + `,"properties":` + tt.props + `}`
			var d Decoder
			var rec Record
			if err := d.Decode([]byte(doc), &rec); err != nil {
				t.Fatal(err)
			}
			rec.Actor.Roles = nil
			if rec.Stream != StreamOther || rec.LogCategory != "SomethingNew" || rec.OperationName != "op" {
				t.Errorf("stream %s category %s op %s", rec.Stream, rec.LogCategory, rec.OperationName)
			}
			if a := rec.Actor; a.ID != tt.want.ID || a.UPN != tt.want.UPN || a.DisplayName != tt.want.DisplayName ||
				a.IP != tt.want.IP || a.Type != tt.want.Type {
				t.Errorf("actor %+v, want %+v", a, tt.want)
			}
		})
	}
}

// TestDecodeGraphItem: a Graph page item privtrail has no shape for is
// forwarded as stream other of the endpoint's category, not dropped.
func TestDecodeGraphItem(t *testing.T) {
	polled := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name, doc string
		stream    Stream
		category  string
		time      time.Time
		err       bool
	}{
		{"known shape", `{"id":"1","createdDateTime":"2026-12-04T09:00:00Z","userId":"u1","isInteractive":true}`, StreamSignIn, "SignInLogs", time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC), false},
		{"placeholder values", `{"id":"String","riskLastUpdatedDateTime":"String (timestamp)","userPrincipalName":"String"}`, StreamOther, "RiskyUsers", polled, false},
		{"no time at all", `{"id":"x","userPrincipalName":"adm@contoso.example"}`, StreamOther, "RiskyUsers", polled, false},
		{"not JSON", `{"id":`, "", "", time.Time{}, true},
		{"not an object", `[1,2]`, "", "", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			rec := Record{Origin: "graph"}
			err := d.DecodeGraphItem([]byte(tt.doc), "RiskyUsers", polled, &rec)
			var de *DecodeError
			if tt.err {
				if !errors.As(err, &de) {
					t.Fatalf("error %v, want a *DecodeError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.Stream != tt.stream || rec.LogCategory != tt.category || !rec.Time.Equal(tt.time) || rec.Origin != "graph" || string(rec.Raw) != tt.doc {
				t.Errorf("stream %s category %s time %v origin %s", rec.Stream, rec.LogCategory, rec.Time, rec.Origin)
			}
		})
	}
}

func TestAzureTimeForms(t *testing.T) {
	tests := map[string]time.Time{
		"9/9/2022 9:59:27 AM":      time.Date(2022, 9, 9, 9, 59, 27, 0, time.UTC),
		"12/12/2025 3:03:58 PM":    time.Date(2025, 12, 12, 15, 3, 58, 0, time.UTC),
		"2022-09-09T9:59:27.958Z":  time.Date(2022, 9, 9, 9, 59, 27, 958e6, time.UTC),
		"2022-09-09T09:59:27.958Z": time.Date(2022, 9, 9, 9, 59, 27, 958e6, time.UTC),
	}
	for in, want := range tests {
		if got, ok := parseTime([]byte(in)); !ok || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"13/1/2022 1:00:00 PM", "2022-09-09T9:5:27Z", "2022-09-09T29:59:27Z"} {
		if got, ok := parseTime([]byte(bad)); ok {
			t.Errorf("parseTime(%q) = %v", bad, got)
		}
	}
}
