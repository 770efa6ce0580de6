package elastic

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/synth"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var defaultNaming = Naming{Namespace: "privtrail"}

// decodeFile decodes testdata/records/<name>.json with entra.Decoder.
func decodeFile(t testing.TB, name string) *entra.Record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "records", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var dec entra.Decoder
	rec := &entra.Record{Origin: name}
	if category, ok := graphItems[name]; ok {
		err = dec.DecodeGraphItem(bytes.TrimSpace(data), category, graphPolled, rec)
	} else {
		err = dec.Decode(bytes.TrimSpace(data), rec)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rec
}

// graphItems are the records read as items of a Graph page of that
// category (entra.Decoder.DecodeGraphItem), at graphPolled.
var (
	graphItems  = map[string]string{"other_graph": "RiskyUsers"}
	graphPolled = time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC)
)

var globalAdmin = entra.RoleHeld{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10",
	Assignment: "eligible", Via: "direct", Privileged: true}

// goldenCases are records as the runner hands them to outputs: decoded,
// tagged by the privilege stage, with context and monitor hits.
// sigmaHit is the hit of the example Sigma correlation
// (pipelines/sigma/examples/signin_brute_force.yml) with more ATT&CK
// tags: a sub-technique, a technique, two tactics, a group.
var sigmaHit = entra.Hit{
	ID: "sigma.3b9df78d-5511-4eaf-b38b-3790ea90b6de", Title: "Brute force on one account - 5 wrong passwords within 10 minutes",
	Risk: "high", Source: "signin", Reason: "UserPrincipalName=adm_grace@contoso.example count=5",
	Tags: []string{"attack.credential-access", "attack.t1110.001", "attack.initial-access", "attack.t1078", "attack.g0016"},
}

var goldenCases = []struct {
	name   string
	enrich func(*entra.Record)
}{
	{"signin_diagnostic", func(r *entra.Record) {
		r.Actor.Privileged, r.Actor.Emergency, r.Actor.Known = true, true, true
		r.Actor.Roles = []entra.RoleHeld{globalAdmin}
		// No region in the City database: source.geo.region_name is Entra's.
		r.Context.Geo = &entra.Geo{CountryISO: "NL", CountryName: "Netherlands", ContinentName: "Europe", City: "Amsterdam",
			Lat: 52.3759, Lon: 4.8975, ASN: 64496, ASOrg: "Example Transit B.V."}
		r.Context.Device = &entra.Device{PAW: false, Reason: "no device ID: not a registered PAW", Browser: "Edge 122.0.0", OS: "Windows10"}
		r.Context.WorkHours = &entra.WorkHours{Inside: false, LocalTime: "2026-03-03T00:14:05+01:00", Schedule: "emea-office"}
		r.Hits = []entra.Hit{
			{ID: "breakglass.signin", Title: "Emergency access account signed in", Risk: "high", Source: "signin",
				Reason: "upn=breakglass1@contoso.example", Notes: "Confirm with the account's owners; rotate its credentials."},
			{ID: "signin.off_hours", Title: "Privileged sign-in outside working hours", Risk: "medium", Source: "signin",
				Reason: `ctx.workHours.localTime=2026-03-03T00:14:05+01:00 "schedule"=emea-office`},
		}
	}},
	{"signin_graph", func(r *entra.Record) {
		r.Actor.Privileged, r.Actor.Known = true, true
		r.Actor.Roles = []entra.RoleHeld{globalAdmin}
		r.Hits = []entra.Hit{{ID: "signin.legacy_auth", Title: "Privileged account used legacy authentication", Risk: "high",
			Source: "signin", Reason: "upn=adm_alice@contoso.example clientAppUsed=Exchange ActiveSync"}}
	}},
	{"audit_diagnostic", func(r *entra.Record) {
		r.Actor.Known = true
		// The geo stage's answer for the initiator's ipAddress.
		r.Context.Geo = &entra.Geo{CountryISO: "DE", CountryName: "Germany", RegionName: "Hesse", ContinentName: "Europe",
			City: "Frankfurt am Main", Lat: 50.1109, Lon: 8.6821, ASN: 64511, ASOrg: "Example Hosting GmbH"}
		r.Audit.Targets[0].Privileged, r.Audit.Targets[0].Known = true, true
		r.Audit.Targets[0].Roles = []entra.RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10",
			Assignment: "active", Via: "direct", Privileged: true}}
		r.Hits = []entra.Hit{{ID: "pim.role_assigned_outside_pim", Title: "Privileged role assigned outside PIM", Risk: "high",
			Source: "audit", Reason: "Role.DisplayName=Global Administrator"}}
	}},
	{"signin_sigma_diagnostic", func(r *entra.Record) {
		// The demo's fifth wrong password of adm_grace, on which the
		// example Sigma correlation fires: ATT&CK tags become threat.*.
		r.Actor.Privileged, r.Actor.Known = true, true
		r.Actor.Roles = []entra.RoleHeld{globalAdmin}
		r.Hits = []entra.Hit{sigmaHit, {ID: "signin.legacy_auth", Title: "Privileged account used legacy authentication", Risk: "high",
			Source: "signin", Reason: "upn=adm_grace@contoso.example", Tags: []string{"team.identity"}}}
	}},
	{"audit_graph", nil},
	{"activity_diagnostic", func(r *entra.Record) {
		r.Actor.Privileged = true
		r.Hits = []entra.Hit{{ID: "azure.elevate_access", Title: "Global administrator elevated access to Azure resources",
			Risk: "high", Source: "activity", Reason: "operationName=MICROSOFT.AUTHORIZATION/ELEVATEACCESS/ACTION"}}
	}},
	{"aadds_diagnostic", nil},
	{"directory", func(r *entra.Record) {
		r.Actor.Privileged, r.Actor.Known = true, true
		r.Actor.Roles = []entra.RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10",
			Assignment: "active", Via: "direct", Privileged: true}}
		r.Hits = []entra.Hit{{ID: "review.unused_privileged_account", Title: "Privileged account not used", Risk: "medium",
			Source: "directory", Reason: "daysSinceSignIn=125 lastSignInSource=agent"}}
	}},
	{"directory_never_signed_in", nil},
	{"directory_pretty", nil},
	// Invalid UTF-8 in the user's name (a fault probe's bytes) and a
	// Latin-1 display name: U+FFFD, and privtrail.replaced_invalid_utf8.
	{"signin_invalid_utf8", func(r *entra.Record) {
		r.Actor.Privileged, r.Actor.Known = true, true
		r.Actor.Roles = []entra.RoleHeld{globalAdmin}
	}},
	// ADFS sign-ins are sign-ins.
	{"adfs_signin_diagnostic", nil},
	// ID Protection: risk detections and risk states, both shapes.
	{"risk_detection_diagnostic", func(r *entra.Record) {
		r.Actor.Privileged, r.Actor.Known = true, true
		r.Actor.Roles = []entra.RoleHeld{globalAdmin}
		r.Context.Geo = &entra.Geo{CountryISO: "DE", CountryName: "Germany", ContinentName: "Europe", ASN: 64512, ASOrg: "Example Anonymizer"}
		r.Hits = []entra.Hit{{ID: "risk.privileged_user", Title: "Risk detected for a privileged account", Risk: "high",
			Source: "risk", Reason: "riskEventType=anonymizedIPAddress riskLevel=high"}}
	}},
	{"risky_user_diagnostic", nil},
	{"risk_detection_graph", nil},
	{"risky_service_principal_graph", nil},
	// Graph activity: Microsoft Graph and Azure AD Graph.
	{"graphactivity_diagnostic", func(r *entra.Record) {
		r.Actor.Privileged, r.Actor.Known = true, true
		r.Actor.Roles = []entra.RoleHeld{{Name: "Privileged Role Administrator", TemplateID: "e8611ab8-c189-46e8-94e1-60213ab1f814",
			Assignment: "active", Via: "direct", Privileged: true}}
		r.Hits = []entra.Hit{{ID: "graph.role_assignment", Title: "Directory role assigned through Microsoft Graph", Risk: "medium",
			Source: "graphactivity", Reason: "POST /v1.0/roleManagement/directory/roleAssignments"}}
	}},
	{"aadgraph_diagnostic", nil},
	// Categories without a model: provisioning, anything else.
	{"provisioning_diagnostic", nil},
	{"other_diagnostic", nil},
	{"other_graph", nil},
}

func TestEncodeGolden(t *testing.T) {
	enc := NewEncoder(defaultNaming)
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			rec := decodeFile(t, c.name)
			if c.enrich != nil {
				c.enrich(rec)
			}
			got, err := enc.Encode(nil, rec, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkItem(t, got, "logs-"+defaultNaming.DatasetOf(rec.Stream, rec.LogCategory)+"-privtrail")
			path := filepath.Join("testdata", "golden", c.name+".ndjson")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update once)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoding differs from %s (go test -update rewrites it)\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
}

// checkItem asserts that item is one bulk create action line for index and
// one JSON document line, and returns the document.
func checkItem(t testing.TB, item []byte, index string) map[string]any {
	t.Helper()
	if !bytes.HasSuffix(item, []byte("\n")) || bytes.Count(item, []byte("\n")) != 2 {
		t.Fatalf("item is not two lines: %q", item)
	}
	if !utf8.Valid(item) {
		t.Fatalf("item is not valid UTF-8: %q", item)
	}
	lines := bytes.SplitN(item, []byte("\n"), 3)
	var action map[string]map[string]string
	if err := json.Unmarshal(lines[0], &action); err != nil {
		t.Fatalf("action line: %v: %s", err, lines[0])
	}
	if len(action) != 1 || action["create"]["_index"] != index || len(action["create"]["_id"]) != 22 {
		t.Fatalf("action line %s, want a create into %s with an _id", lines[0], index)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(lines[1]))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("document line: %v: %s", err, lines[1])
	}
	if dup := duplicateKey(lines[1]); dup != "" {
		t.Fatalf("document has the key %q twice (Elasticsearch rejects that): %s", dup, lines[1])
	}
	return doc
}

// duplicateKey returns a key that occurs twice in one object of the JSON
// document b, or "".
func duplicateKey(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	type scope struct {
		obj    bool
		keys   map[string]bool
		expect bool // next string token is a key
	}
	var stack []*scope
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *scope
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top != nil && top.obj {
					top.expect = true
				}
				stack = append(stack, &scope{obj: true, keys: map[string]bool{}, expect: true})
				continue
			case '[':
				if top != nil && top.obj {
					top.expect = true
				}
				stack = append(stack, &scope{})
				continue
			default:
				stack = stack[:len(stack)-1]
				continue
			}
		case string:
			if top != nil && top.obj && top.expect {
				if top.keys[v] {
					return v
				}
				top.keys[v] = true
				top.expect = false
				continue
			}
		}
		if top != nil && top.obj {
			top.expect = true
		}
	}
}

func get(doc map[string]any, path string) any {
	var cur any = doc
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// The fields Elastic's prebuilt Entra ID rules read, in the documents of
// the golden cases.
func TestEncodeFieldsRulesRead(t *testing.T) {
	enc := NewEncoder(defaultNaming)
	encode := func(name string, enrich func(*entra.Record)) map[string]any {
		rec := decodeFile(t, name)
		if enrich != nil {
			enrich(rec)
		}
		item, err := enc.Encode(nil, rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		return checkItem(t, item, "logs-"+defaultNaming.DatasetOf(rec.Stream, rec.LogCategory)+"-privtrail")
	}
	for _, c := range goldenCases {
		if c.name == "signin_diagnostic" {
			doc := encode(c.name, c.enrich)
			for path, want := range map[string]any{
				"@timestamp":                         "2026-03-02T23:14:05.1234567Z",
				"event.dataset":                      "azure.signinlogs",
				"event.kind":                         "alert",
				"event.outcome":                      "success",
				"event.action":                       "Sign-in activity",
				"event.severity":                     json.Number("3"),
				"source.ip":                          "203.0.113.45",
				"source.as.number":                   json.Number("64496"),
				"user.name":                          "breakglass1",
				"user.domain":                        "contoso.example",
				"cloud.account.id":                   "72f988bf-86f1-41af-91ab-2d7cd011db47",
				"azure.signinlogs.category":          "SignInLogs",
				"azure.signinlogs.identity":          "Break Glass 1",
				"azure.signinlogs.result_type":       "0",
				"azure.signinlogs.properties.app_id": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
				"azure.signinlogs.properties.user_principal_name":            "breakglass1@contoso.example",
				"azure.signinlogs.properties.risk_level_during_signin":       "none",
				"azure.signinlogs.properties.authentication_requirement":     "singleFactorAuthentication",
				"azure.signinlogs.properties.authentication_protocol":        "none",
				"azure.signinlogs.properties.created_at":                     "2026-03-02T23:14:05.1234567+00:00",
				"azure.signinlogs.properties.processing_time_ms":             json.Number("238"),
				"azure.signinlogs.properties.status.error_code":              json.Number("0"),
				"azure.signinlogs.properties.device_detail.operating_system": "Windows10",
				"privtrail.user.emergency_access":                            true,
				"privtrail.work_hours.inside":                                false,
			} {
				if got := get(doc, path); got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			for _, gone := range []string{"azure.signinlogs.properties.ip_address", "azure.signinlogs.properties.location",
				"azure.signinlogs.properties.user_agent", "azure.signinlogs.time", "azure.signinlogs.properties.status.additional_details"} {
				if get(doc, gone) != nil {
					t.Errorf("%s is set; the integration moves it to an ECS field", gone)
				}
			}
		}
	}
	// Azure AD Global Administrator Role Assigned (prebuilt rule):
	// event.dataset:azure.auditlogs and azure.auditlogs.properties.category:RoleManagement and
	// azure.auditlogs.operation_name:"Add member to role" and
	// azure.auditlogs.properties.target_resources.0.modified_properties.1.new_value:"\"Global Administrator\""
	doc := encode("audit_diagnostic", nil)
	for path, want := range map[string]any{
		"event.dataset":                       "azure.auditlogs",
		"azure.auditlogs.properties.category": "RoleManagement",
		"azure.auditlogs.operation_name":      "Add member to role",
		"azure.auditlogs.properties.target_resources.0.modified_properties.1.new_value": `"Global Administrator"`,
		"azure.auditlogs.properties.target_resources.0.user_principal_name":             "bob@contoso.example",
		"azure.auditlogs.properties.initiated_by.user.userPrincipalName":                "mallory@contoso.example",
		"user.target.email": "bob@contoso.example",
		"user.email":        "mallory@contoso.example",
		"source.ip":         "198.51.100.20",
	} {
		if got := get(doc, path); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	if get(doc, "azure.auditlogs.properties.target_resources.0.modified_properties.1.old_value") != nil {
		t.Error("a null oldValue must be left out, as the integration does")
	}
}

func TestEncodeNamingAndEscaping(t *testing.T) {
	rec := decodeFile(t, "signin_graph")
	rec.Actor.DisplayName = "Eve \"</script>\"\n\u2028\x01"
	rec.Hits = []entra.Hit{{ID: "x", Title: "t\\", Risk: "HIGH", Reason: "a\tb"}}
	item, err := NewEncoder(Naming{Dataset: "privtrail.entra", Namespace: "prod"}).Encode(nil, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := checkItem(t, item, "logs-privtrail.entra-prod")
	if got := get(doc, "privtrail.user.display_name"); got != "Eve \"</script>\"\n\u2028\x01" {
		t.Errorf("display name came back as %q", got)
	}
	if get(doc, "data_stream.dataset") != "privtrail.entra" || get(doc, "event.dataset") != "privtrail.entra" ||
		get(doc, "data_stream.namespace") != "prod" {
		t.Errorf("data_stream %v, event.dataset %v", get(doc, "data_stream"), get(doc, "event.dataset"))
	}
	if get(doc, "event.risk_score") != json.Number("73") {
		t.Errorf("risk_score %v for HIGH", get(doc, "event.risk_score"))
	}
	if bytes.Contains(item, []byte("\u2028")) {
		t.Error("U+2028 must be escaped")
	}
}

func TestEncodeSameRecordSameID(t *testing.T) {
	enc := NewEncoder(defaultNaming)
	a, _ := enc.Encode(nil, decodeFile(t, "audit_diagnostic"), nil)
	b, _ := enc.Encode(nil, decodeFile(t, "audit_diagnostic"), nil)
	c, _ := enc.Encode(nil, decodeFile(t, "audit_graph"), nil)
	line := func(x []byte) string { return string(x[:bytes.IndexByte(x, '\n')]) }
	if line(a) != line(b) {
		t.Errorf("the same record got two _ids: %s, %s", line(a), line(b))
	}
	if line(a) == line(c) {
		t.Error("two records share an _id")
	}
	noID := &entra.Record{Raw: []byte(`{"x":1}`), Stream: entra.StreamAADDS, Time: decodeFile(t, "aadds_diagnostic").Time}
	d, _ := enc.Encode(nil, noID, nil)
	noID.Raw = []byte(`{"x":2}`)
	e, _ := enc.Encode(nil, noID, nil)
	if line(d) == line(e) {
		t.Error("records without an ID must be told apart by their content")
	}
}

func TestEncodeRejectsRecordWithoutTime(t *testing.T) {
	dst := []byte("kept")
	out, err := NewEncoder(defaultNaming).Encode(dst, &entra.Record{Stream: entra.StreamSignIn}, nil)
	if err == nil || string(out) != "kept" {
		t.Fatalf("got %q, %v; want an error and dst unchanged", out, err)
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"riskLevelDuringSignIn":        "risk_level_during_sign_in",
		"riskLevelDuringsignIn":        "risk_level_duringsign_in",
		"IPAddress":                    "ipaddress",
		"ipAddress":                    "ip_address",
		"riskEventTypes_v2":            "risk_event_types_v2",
		"deviceIDType":                 "device_idtype",
		"processingTimeInMilliseconds": "processing_time_in_milliseconds",
		"v2Name":                       "v2name",
		"":                             "",
	} {
		if got := string(snakeCase(nil, []byte(in))); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJSONNumber(t *testing.T) {
	for in, want := range map[string]bool{"0": true, "-1.5e+3": true, "12": true, "01": false, "NaN": false, "1.": false, "+1": false, "-": false, "1e": false, "": false} {
		if jsonNumber([]byte(in)) != want {
			t.Errorf("jsonNumber(%q) != %v", in, want)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	enc := NewEncoder(defaultNaming)
	var recs []*entra.Record
	for _, c := range goldenCases {
		r := decodeFile(b, c.name)
		if c.enrich != nil {
			c.enrich(r)
		}
		recs = append(recs, r)
	}
	var buf []byte
	// Steady state: the user agents are parsed (and uap-core's regexes
	// compiled) once, before the timer starts.
	for _, r := range recs {
		buf, _ = enc.Encode(buf[:0], r, nil)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var err error
		buf, err = enc.Encode(buf[:0], recs[i%len(recs)], nil)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// A directory record is the state of an account: event.kind state (alert
// once it hit a monitor), iam/info, no outcome, @timestamp the scan time,
// the account as user.*, and azure.directory.* with what is known only.
func TestEncodeDirectory(t *testing.T) {
	enc := NewEncoder(defaultNaming)
	rec := decodeFile(t, "directory_pretty")
	out, err := enc.Encode(nil, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := checkItem(t, out, "logs-azure.directory-privtrail")
	ev := doc["event"].(map[string]any)
	if ev["kind"] != "state" || ev["dataset"] != "azure.directory" || ev["action"] != "privilegedUser" || ev["outcome"] != nil {
		t.Errorf("event %v", ev)
	}
	if c, ty := ev["category"].([]any), ev["type"].([]any); len(c) != 1 || c[0] != "iam" || len(ty) != 1 || ty[0] != "info" {
		t.Errorf("category %v type %v", c, ty)
	}
	if doc["@timestamp"] != "2026-12-04T12:00:00Z" {
		t.Errorf("@timestamp %v", doc["@timestamp"])
	}
	u := doc["user"].(map[string]any)
	if u["id"] != "0b229528-7664-5327-845d-4a430aad7f23" || u["name"] != "adm_farid" || u["domain"] != "contoso.example" ||
		u["email"] != "adm_farid@contoso.example" || u["full_name"] != "Farid (admin)" || mustMarshal(u["roles"]) != `["Exchange Administrator"]` {
		t.Errorf("user %v", u)
	}
	dir := doc["azure"].(map[string]any)["directory"].(map[string]any)
	want := `{"account_enabled":true,"created_date_time":"2024-01-10T09:00:00Z","days_since_sign_in":4,` +
		`"last_sign_in_date_time":"2026-11-30T08:12:00Z","last_sign_in_source":"graph","methods_registered":["microsoftAuthenticatorPush","fido2"],` +
		`"mfa_known":true,"mfa_registered":true,"record_type":"privilegedUser",` +
		`"roles":[{"assignment":"eligible","name":"Exchange Administrator","template_id":"29232cdf-9323-42fd-ade2-1d097af3e4de"}],"user_type":"Member"}`
	if got := mustMarshal(dir); got != want {
		t.Errorf("azure.directory\n got %s\nwant %s", got, want)
	}

	// Unknown last sign-in and MFA registration: -1, mfa_known false, and
	// neither last_sign_in_date_time nor mfa_registered.
	rec = decodeFile(t, "directory_never_signed_in")
	out, _ = enc.Encode(nil, rec, nil)
	dir = checkItem(t, out, "logs-azure.directory-privtrail")["azure"].(map[string]any)["directory"].(map[string]any)
	if mustMarshal(dir["days_since_sign_in"]) != "-1" || dir["mfa_known"] != false {
		t.Errorf("azure.directory %v", dir)
	}
	for _, k := range []string{"mfa_registered", "last_sign_in_date_time", "created_date_time", "methods_registered", "user_type"} {
		if _, ok := dir[k]; ok {
			t.Errorf("azure.directory.%s written though unknown: %v", k, dir)
		}
	}

	// With a monitor hit it is an alert, like any record.
	rec.Hits = []entra.Hit{{ID: "directory.mfa_not_registered", Risk: "high"}}
	out, _ = enc.Encode(nil, rec, nil)
	if k := checkItem(t, out, "logs-azure.directory-privtrail")["event"].(map[string]any)["kind"]; k != "alert" {
		t.Errorf("event.kind %v with a hit", k)
	}
	// The other streams are unchanged: event.
	rec = decodeFile(t, "audit_graph")
	out, _ = enc.Encode(nil, rec, nil)
	if k := checkItem(t, out, "logs-azure.auditlogs-privtrail")["event"].(map[string]any)["kind"]; k != "event" {
		t.Errorf("audit event.kind %v", k)
	}
}

// TestSourceGeoFallback: source.geo is the geo stage's answer, completed
// from Entra's location of the sign-in where the two agree on the country.
func TestSourceGeoFallback(t *testing.T) {
	entraAms := &entra.Location{City: "Amsterdam", State: "Noord-Holland", Country: "NL", Latitude: 52.3676, Longitude: 4.9041}
	full := &entra.Geo{CountryISO: "NL", CountryName: "Netherlands", ContinentName: "Europe", RegionName: "North Holland",
		City: "Amsterdam", Lat: 52.3759, Lon: 4.8975, ASN: 64496}
	fromGeo := place{countryISO: "NL", countryName: "Netherlands", continentName: "Europe", regionName: "North Holland",
		cityName: "Amsterdam", lat: 52.3759, lon: 4.8975}
	for _, tc := range []struct {
		name string
		g    *entra.Geo
		l    *entra.Location
		want place
	}{
		{"no geo: Entra's location", nil, entraAms,
			place{countryISO: "NL", regionName: "Noord-Holland", cityName: "Amsterdam", lat: 52.3676, lon: 4.9041}},
		{"no geo, not a sign-in", nil, nil, place{}},
		{"no geo, Entra knows nothing", nil, &entra.Location{}, place{}},
		{"geo complete: Entra's fields unused", full, entraAms, fromGeo},
		{"geo complete, not a sign-in", full, nil, fromGeo},
		{"geo without region: Entra's region", &entra.Geo{CountryISO: "NL", CountryName: "Netherlands", ContinentName: "Europe",
			City: "Amsterdam", Lat: 52.3759, Lon: 4.8975}, entraAms,
			place{countryISO: "NL", countryName: "Netherlands", continentName: "Europe", regionName: "Noord-Holland",
				cityName: "Amsterdam", lat: 52.3759, lon: 4.8975}},
		{"country database: Entra's region, city and coordinates", &entra.Geo{CountryISO: "nl", CountryName: "Netherlands", ContinentName: "Europe"},
			entraAms, place{countryISO: "nl", countryName: "Netherlands", continentName: "Europe", regionName: "Noord-Holland",
				cityName: "Amsterdam", lat: 52.3676, lon: 4.9041}},
		{"ASN-only answer: Entra's place", &entra.Geo{ASN: 64496, ASOrg: "Example Transit B.V."}, entraAms,
			place{countryISO: "NL", regionName: "Noord-Holland", cityName: "Amsterdam", lat: 52.3676, lon: 4.9041}},
		{"another country: nothing of Entra's", &entra.Geo{CountryISO: "BE", CountryName: "Belgium", ContinentName: "Europe"}, entraAms,
			place{countryISO: "BE", countryName: "Belgium", continentName: "Europe"}},
		{"Entra without a country fills in", &entra.Geo{CountryISO: "NL", CountryName: "Netherlands"}, &entra.Location{State: "Noord-Holland"},
			place{countryISO: "NL", countryName: "Netherlands", regionName: "Noord-Holland"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sourceGeo(tc.g, tc.l); got != tc.want {
				t.Errorf("sourceGeo = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// The ID Protection, Graph activity and other streams: each goes to the
// integration's data stream for its category, with the ECS fields and
// azure.<dataset>.* names its pipeline writes.
func TestEncodeNewStreams(t *testing.T) {
	enc := NewEncoder(defaultNaming)
	encode := func(name string) map[string]any {
		t.Helper()
		rec := decodeFile(t, name)
		item, err := enc.Encode(nil, rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		return checkItem(t, item, "logs-"+defaultNaming.DatasetOf(rec.Stream, rec.LogCategory)+"-privtrail")
	}
	for _, tc := range []struct {
		name  string
		index string
		want  map[string]any
		gone  []string
	}{
		{"adfs_signin_diagnostic", "logs-azure.signinlogs-privtrail", map[string]any{
			"event.dataset": "azure.signinlogs", "azure.signinlogs.category": "ADFSSignInLogs",
			"azure.signinlogs.properties.token_issuer_type": "ADFederationServices", "user.email": "april.oniel@turtles.com",
		}, nil},
		{"risk_detection_diagnostic", "logs-azure.identity_protection-privtrail", map[string]any{
			"event.dataset": "azure.identity_protection", "event.action": "User Risk Detection", "event.kind": "event",
			"azure.identityprotection.category":                       "UserRiskEvents",
			"azure.identityprotection.operation_name":                 "User Risk Detection",
			"azure.identityprotection.properties.risk_event_type":     "anonymizedIPAddress",
			"azure.identityprotection.properties.risk_level":          "high",
			"azure.identityprotection.properties.risk_state":          "atRisk",
			"azure.identityprotection.properties.activity":            "signin",
			"azure.identityprotection.properties.user_principal_name": "adm_alice@contoso.example",
			"azure.identityprotection.properties.detected_datetime":   "2026-03-02T23:19:58.133Z",
			"user.id": "26be570a-ae82-4189-b4e2-a37c6808512d", "user.email": "adm_alice@contoso.example", "user.name": "adm_alice",
			"user.full_name": "Alice (admin)", "source.ip": "67.43.156.42", "source.geo.city_name": "Dresden",
			"azure.correlation_id": "c0f8e2d4b6a8c0e2f4a6b8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0",
		}, []string{"azure.identityprotection.properties.home_tenant_id", "azure.identityprotection.properties.homeTenantId",
			"azure.identityprotection.identity", "azure.identityprotection.properties.additionalInfo", "event.outcome"}},
		{"risky_user_diagnostic", "logs-azure.identity_protection-privtrail", map[string]any{
			"event.action": "Risky user", "azure.identityprotection.properties.risk_level": "high",
			"azure.identityprotection.properties.is_deleted": false, "user.id": "26be570a-ae82-4189-b4e2-a37c6808512d",
		}, nil},
		{"risky_service_principal_graph", "logs-azure.identity_protection-privtrail", map[string]any{
			"event.action": "Risky service principal", "azure.identityprotection.category": "RiskyServicePrincipals",
			"azure.identityprotection.properties.risk_level": "high", "privtrail.user.type": "servicePrincipal",
		}, []string{"user.id"}},
		{"graphactivity_diagnostic", "logs-azure.graphactivitylogs-privtrail", map[string]any{
			"event.dataset": "azure.graphactivitylogs", "event.action": "Microsoft Graph Activity", "event.outcome": "success",
			"http.request.method": "POST", "http.response.status_code": json.Number("201"),
			"url.original": "https://graph.microsoft.com/v1.0/roleManagement/directory/roleAssignments",
			"url.domain":   "graph.microsoft.com", "url.path": "/v1.0/roleManagement/directory/roleAssignments",
			"user.id": "2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f", "source.ip": "198.51.100.20",
			"event.duration": json.Number("412000000"), "cloud.service.name": "Microsoft Graph",
			"azure.graphactivitylogs.properties.app_id":             "14d82eec-204b-4c2f-b7e8-296a70dab67e",
			"azure.graphactivitylogs.properties.client_auth_method": json.Number("0"),
			"azure.graphactivitylogs.operation_version":             "v1.0",
		}, []string{"azure.graphactivitylogs.properties.request_uri", "azure.graphactivitylogs.properties.request_method",
			"azure.graphactivitylogs.properties.user_id", "azure.graphactivitylogs.properties.roles",
			"azure.graphactivitylogs.properties.service_principal_id", "azure.graphactivitylogs.time", "azure.graphactivitylogs.level"}},
		{"aadgraph_diagnostic", "logs-azure.aadgraphactivitylogs-privtrail", map[string]any{
			"event.dataset": "azure.aadgraphactivitylogs", "event.action": "tenant-details-read", "event.outcome": "failure",
			"http.request.method": "GET", "http.response.status_code": json.Number("403"), "user_agent.original": "AADInternals",
			"session.id": "004d8baa-891d-139e-633f-6c194e566b78", "cloud.service.name": "Azure AD Graph",
			"azure.aadgraphactivitylogs.properties.token_issued_at": "2026-03-02T16:11:19Z",
			"azure.aadgraphactivitylogs.properties.app_id":          "1b730954-1685-4b74-9bfd-dac224a7b894",
		}, []string{"azure.aadgraphactivitylogs.properties.__udi_required_fields_event_time",
			"azure.aadgraphactivitylogs.properties.http_method", "azure.aadgraphactivitylogs.properties.wids"}},
		{"provisioning_diagnostic", "logs-azure.provisioning-privtrail", map[string]any{
			"event.dataset": "azure.provisioning", "event.action": "Provisioning activity",
			"azure.provisioning.result_type":                                            "Skipped",
			"azure.provisioning.properties.provisioning_action":                         "create",
			"azure.provisioning.properties.provisioning_status_info.status":             "skipped",
			"azure.provisioning.properties.source_identity.details.user_principal_name": "ellie@mauriziobrancaoutlook.onmicrosoft.com",
			"azure.provisioning.properties.target_system.name":                          "Dropbox",
			"azure.provisioning.properties.duration_ms":                                 json.Number("828"),
		}, []string{"azure.provisioning.properties.statusInfo", "event.outcome",
			"azure.provisioning.properties.provisioning_status_info.error_information"}},
		{"other_diagnostic", "logs-azure.platformlogs-privtrail", map[string]any{
			"event.dataset": "azure.platformlogs", "azure.platformlogs.category": "NetworkAccessTrafficLogs",
			"azure.platformlogs.operation_name": "Traffic log", "user.email": "adm_bob@contoso.example",
			"azure.platformlogs.properties.destinationFQDN": "contoso.sharepoint.com",
		}, []string{"event.category"}},
		{"other_graph", "logs-azure.platformlogs-privtrail", map[string]any{
			"azure.platformlogs.category": "RiskyUsers", "@timestamp": "2026-03-03T08:00:00Z",
			"azure.platformlogs.properties.userPrincipalName": "jon@contoso.example",
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := encode(tc.name)
			if ds := get(doc, "data_stream.dataset"); "logs-"+ds.(string)+"-privtrail" != tc.index {
				t.Errorf("data stream %v, want %s", ds, tc.index)
			}
			for path, want := range tc.want {
				if got := get(doc, path); got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			for _, path := range tc.gone {
				if got := get(doc, path); got != nil {
					t.Errorf("%s = %#v, want it left out", path, got)
				}
			}
		})
	}

	// With one dataset for everything the field names stay the
	// integration's.
	rec := decodeFile(t, "graphactivity_diagnostic")
	item, err := NewEncoder(Naming{Dataset: "privtrail.entra", Namespace: "prod"}).Encode(nil, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := checkItem(t, item, "logs-privtrail.entra-prod")
	if get(doc, "azure.graphactivitylogs.properties.app_id") == nil || get(doc, "event.dataset") != "privtrail.entra" {
		t.Errorf("fixed dataset: %v %v", get(doc, "azure"), get(doc, "event.dataset"))
	}
}

func TestAADGraphAction(t *testing.T) {
	for _, tc := range []struct{ method, uri, want string }{
		{"GET", "/v2/72f988bf-86f1-41af-91ab-2d7cd011db47/users", "users-read"},
		{"GET", "/v2/myorganization/directoryRoles", "directory-roles-read"},
		{"PATCH", "/v2/72f988bf/applications/1234", "applications-update"},
		{"POST", "/72f988bf/$batch", "batch-execute"},
		{"DELETE", "https://graph.windows.net/myorganization/servicePrincipals/x?api-version=1.6", "service-principals-delete"},
		{"MERGE", "/v2/t/users", "users-merge"},
		{"GET", "/", ""},
		{"", "/v2/t/users", ""},
	} {
		if got := aadGraphAction(tc.method, tc.uri); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.uri, got, tc.want)
		}
	}
	for _, tc := range []struct {
		code int
		aad  bool
		want string
	}{{200, false, "success"}, {204, true, "success"}, {302, false, ""}, {302, true, "unknown"}, {404, false, "failure"}, {0, true, ""}} {
		if got := httpOutcome(tc.code, tc.aad); got != tc.want {
			t.Errorf("httpOutcome(%d, %v) = %q, want %q", tc.code, tc.aad, got, tc.want)
		}
	}
	if got := isoTime("5/7/2026 1:50:39 PM"); got != "2026-05-07T13:50:39Z" {
		t.Errorf("isoTime: %s", got)
	}
	if got := isoTime("2022-09-09T8:48:50.361Z"); got != "2022-09-09T08:48:50.361Z" {
		t.Errorf("isoTime: %s", got)
	}
	if got := isoTime("2021-10-26T16:28:17.8202975Z)"); got != "2021-10-26T16:28:17.8202975Z)" {
		t.Errorf("isoTime must leave what it cannot read: %s", got)
	}
}

// BenchmarkEncodeCorpus encodes the synthetic tenant's stream that the
// agent's hot-path benchmark reads (~80% sign-ins, both wire shapes,
// about a dozen distinct user agents), after one pass to warm up.
func BenchmarkEncodeCorpus(b *testing.B) {
	g := synth.New(1, synth.DemoTenant())
	recs := make([]*entra.Record, 2000)
	for i := range recs {
		var dec entra.Decoder
		recs[i] = &entra.Record{}
		if err := dec.Decode(append([]byte(nil), g.Next()...), recs[i]); err != nil {
			b.Fatal(err)
		}
	}
	enc := NewEncoder(defaultNaming)
	var buf []byte
	for _, r := range recs {
		buf, _ = enc.Encode(buf[:0], r, nil)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var err error
		if buf, err = enc.Encode(buf[:0], recs[i%len(recs)], nil); err != nil {
			b.Fatal(err)
		}
	}
}

// Interned field names are the names fieldName makes, and the interning
// stops at its bound: a source inventing keys costs a rename per key, not
// memory without end.
func TestFieldNamesInternedWithinBound(t *testing.T) {
	for i := range maxNames + 100 {
		for _, style := range []keyStyle{keepKeys, snakeKeys} {
			k := []byte(fmt.Sprintf("inventedKey%dIPAddress.x", i))
			if got, want := fieldNameOf(k, style), string(fieldName(nil, k, style)); got != want {
				t.Fatalf("%s: %q, want %q", k, got, want)
			}
		}
	}
	for style := range names {
		m := names[style].m.Load()
		if m == nil {
			t.Errorf("style %d: nothing interned", style)
		} else if len(*m) > maxNames {
			t.Errorf("style %d: %d names interned, bound %d", style, len(*m), maxNames)
		}
	}
}
