package splunk

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// decodeFile decodes testdata/in/<name>.json.
func decodeFile(tb testing.TB, name string) *entra.Record {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "in", name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	var d entra.Decoder
	rec := &entra.Record{Origin: name}
	if category, ok := graphItems[name]; ok {
		err = d.DecodeGraphItem(bytes.TrimSpace(data), category, graphPolled, rec)
	} else {
		err = d.Decode(bytes.TrimSpace(data), rec)
	}
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return rec
}

// graphItems are the inputs read as items of a Graph page of that
// category (entra.Decoder.DecodeGraphItem), at graphPolled.
var (
	graphItems  = map[string]string{"other_graph": "RiskyUsers"}
	graphPolled = time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC)
)

func testEncoder() *Encoder {
	return NewEncoder(Config{Host: "agent-01", Index: "entra"})
}

// goldenCases are the records of the golden files, enriched the way the
// privilege and monitor stages would.
var goldenCases = []struct {
	name   string
	enrich func(*entra.Record)
}{
	{"signin_graph", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Actor.Roles = []entra.RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "eligible", Via: "direct", Privileged: true}}
		r.Hits = []entra.Hit{{ID: "signin.legacy_auth", Title: "Legacy authentication by a privileged account", Risk: "high", Source: "signin", Reason: "upn=adm_alice@contoso.example clientAppUsed=IMAP4"}}
	}},
	{"signin_diagnostic", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged, r.Actor.Emergency = true, true, true
		r.Hits = []entra.Hit{
			{ID: "signin.off_hours", Title: "Privileged sign-in outside work hours", Risk: "medium", Source: "signin", Reason: "local=03:02"},
			{ID: "signin.emergency_access", Title: "Emergency access account signed in", Risk: "high", Source: "signin", Reason: "upn=bg-01@contoso.example \"quoted\"\n", Notes: "Call the owner.\tNow."},
			{ID: "site.low", Title: "low one", Risk: "low", Source: "signin", Reason: "x"},
		}
	}},
	{"audit_graph", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Audit.Targets[0].Known = true
		r.Hits = []entra.Hit{{ID: "audit.role_assigned_outside_pim", Title: "Privileged role assigned outside PIM", Risk: "high", Source: "audit", Reason: `role="Global Administrator" target=bob@contoso.example`}}
	}},
	{"directory", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Actor.Roles = []entra.RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active", Via: "direct", Privileged: true}}
		r.Hits = []entra.Hit{{ID: "review.unused_privileged_account", Title: "Privileged account not used", Risk: "medium", Source: "directory", Reason: "daysSinceSignIn=125 lastSignInSource=agent"}}
	}},
	{"directory_never_signed_in", nil},
	// The ID Protection, Graph activity and other streams.
	{"risk_detection_diagnostic", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Actor.Roles = []entra.RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "eligible", Via: "direct", Privileged: true}}
		r.Hits = []entra.Hit{{ID: "risk.privileged_user", Title: "Risk detected for a privileged account", Risk: "high", Source: "risk", Reason: "riskEventType=anonymizedIPAddress riskLevel=high"}}
	}},
	{"risk_detection_graph", nil},
	{"risky_service_principal_graph", nil},
	{"graphactivity_diagnostic", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Hits = []entra.Hit{{ID: "graph.role_assignment", Title: "Directory role assigned through Microsoft Graph", Risk: "medium", Source: "graphactivity", Reason: "POST /v1.0/roleManagement/directory/roleAssignments"}}
	}},
	{"aadgraph_diagnostic", nil},
	{"provisioning_diagnostic", nil},
	{"other_graph", nil},
	// A Sigma monitor's hit with ATT&CK tags (the example correlation on
	// the demo's fifth wrong password of adm_grace), and on a Graph
	// sign-in, whose diagnostic envelope carries the privtrail object too.
	{"signin_sigma_diagnostic", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Hits = []entra.Hit{sigmaHit, {ID: "signin.legacy_auth", Title: "Legacy authentication by a privileged account", Risk: "high", Source: "signin", Reason: "x", Tags: []string{"attack.t1078.004"}}}
	}},
	{"signin_sigma_graph", func(r *entra.Record) {
		r.Hits = []entra.Hit{sigmaHit}
	}},
}

// sigmaHit is the hit of the example Sigma correlation
// (pipelines/sigma/examples/signin_brute_force.yml) with more tags.
var sigmaHit = entra.Hit{
	ID: "sigma.3b9df78d-5511-4eaf-b38b-3790ea90b6de", Title: "Brute force on one account - 5 wrong passwords within 10 minutes",
	Risk: "high", Source: "signin", Reason: "UserPrincipalName=adm_grace@contoso.example count=5",
	Tags: []string{"attack.credential-access", "attack.t1110.001", "attack.T1078.004", "tlp.green"},
}

// testTenant is the tenant the graph input polls, for Graph records
// written in the diagnostic envelope.
const testTenant = "0b5f5d3c-1111-4c2e-9c55-3c8b7a1c2d3e"

// TestEncodeGolden encodes every golden record with both envelopes. With
// as_read the event is the enriched record verbatim
// (testdata/<name>.golden.json); with diagnostic a Graph sign-in, audit or
// risk detection is its diagnostic envelope
// (testdata/<name>.diagnostic.golden.json) and every other record is
// encoded exactly as with as_read.
func TestEncodeGolden(t *testing.T) {
	for _, envelope := range []string{"as_read", "diagnostic"} {
		enc := NewEncoder(Config{Host: "agent-01", Index: "entra", Envelope: envelope})
		asRead := NewEncoder(Config{Host: "agent-01", Index: "entra", Envelope: "as_read"})
		for _, tc := range goldenCases {
			t.Run(envelope+"/"+tc.name, func(t *testing.T) {
				rec := decodeFile(t, tc.name)
				if tc.enrich != nil {
					tc.enrich(rec)
				}
				if rec.Shape == entra.ShapeGraph {
					rec.TenantID = testTenant
				}
				enriched := rec.AppendJSON(nil)
				got, err := enc.Encode(nil, rec, enriched)
				if err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", tc.name+".golden.json")
				wantEvent := enriched
				if envelope == "diagnostic" {
					if !rec.CanEnvelope() {
						if want, _ := asRead.Encode(nil, rec, enriched); !bytes.Equal(got, want) {
							t.Fatalf("a record without a diagnostic envelope is not encoded as read:\n%s\n%s", got, want)
						}
						return
					}
					wantEvent = rec.AppendDiagnosticJSON(nil)
					golden = filepath.Join("testdata", tc.name+".diagnostic.golden.json")
				}
				env := checkEnvelope(t, got, wantEvent)
				if envelope == "diagnostic" && env.Sourcetype != SourcetypeDiagnostic {
					t.Errorf("sourcetype %s, want %s", env.Sourcetype, SourcetypeDiagnostic)
				}
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./outputs/splunk -run TestEncodeGolden -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("envelope differs from %s:\ngot  %s\nwant %s", golden, got, want)
				}
				// Without the runner's JSON the encoder produces the same bytes.
				again, _ := enc.Encode(nil, rec, nil)
				if !bytes.Equal(again, got) {
					t.Errorf("encoding without the enriched JSON differs:\n%s\n%s", again, got)
				}
			})
		}
	}
}

// envelope is what a HEC event looks like to a test.
type envelope struct {
	Time       *json.Number    `json:"time"`
	Host       string          `json:"host"`
	Source     string          `json:"source"`
	Sourcetype string          `json:"sourcetype"`
	Index      string          `json:"index"`
	Event      json.RawMessage `json:"event"`
	Fields     map[string]any  `json:"fields"`
}

// checkEnvelope parses one encoded item: a single JSON object and a
// newline, whose event is enriched byte for byte and whose fields are
// strings or arrays of strings.
func checkEnvelope(t testing.TB, item, enriched []byte) envelope {
	t.Helper()
	if len(item) == 0 || item[len(item)-1] != '\n' || bytes.IndexByte(item[:len(item)-1], '\n') >= 0 {
		t.Fatalf("an item must be one line ending in a newline: %q", item)
	}
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.UseNumber()
	var env envelope
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("item is not JSON: %v\n%s", err, item)
	}
	if dec.More() {
		t.Fatalf("more than one value in an item: %s", item)
	}
	if enriched != nil && !bytes.Equal(env.Event, bytes.TrimSpace(enriched)) {
		t.Fatalf("event is not the enriched record verbatim:\n%s\n%s", env.Event, enriched)
	}
	for k, v := range env.Fields {
		switch v := v.(type) {
		case string:
		case []any:
			for _, e := range v {
				if _, ok := e.(string); !ok {
					t.Fatalf("field %s holds a non-string %v", k, e)
				}
			}
		default:
			t.Fatalf("field %s is %T: HEC accepts strings and arrays of strings", k, v)
		}
	}
	return env
}

func TestEncodeFields(t *testing.T) {
	rec := decodeFile(t, "signin_diagnostic")
	goldenCases[1].enrich(rec)
	env := checkEnvelope(t, mustEncode(t, testEncoder(), rec), nil)
	want := map[string]any{
		"privtrail_stream":           "signin",
		"privtrail_privileged":       "true",
		"privtrail_emergency_access": "true",
		"privtrail_user":             "bg-01@contoso.example",
		"privtrail_monitor":          []any{"signin.off_hours", "signin.emergency_access", "site.low"},
		"privtrail_risk":             "high",
	}
	if !reflect.DeepEqual(env.Fields, want) {
		t.Errorf("fields %v\nwant   %v", env.Fields, want)
	}
	if env.Time.String() != "1552406535.552" {
		t.Errorf("time %s, want 1552406535.552", env.Time)
	}

	// No hits, not privileged, no UPN: the user is the object id.
	rec = decodeFile(t, "signin_graph")
	rec.Actor.UPN = ""
	env = checkEnvelope(t, mustEncode(t, testEncoder(), rec), nil)
	want = map[string]any{"privtrail_stream": "signin", "privtrail_privileged": "false", "privtrail_user": "26be570a-ae82-4189-b4e2-a37c6808512d"}
	if !reflect.DeepEqual(env.Fields, want) {
		t.Errorf("fields %v\nwant   %v", env.Fields, want)
	}
}

// A directory record: its own sourcetype, the scan time as the event
// time, the account as the user, and the days since its last sign-in in
// the event's privtrail object.
func TestEncodeDirectory(t *testing.T) {
	rec := decodeFile(t, "directory")
	goldenCases[3].enrich(rec)
	env := checkEnvelope(t, mustEncode(t, testEncoder(), rec), nil)
	if env.Sourcetype != "privtrail:directory" || env.Time.String() != "1796385600.000" {
		t.Errorf("sourcetype %s time %s", env.Sourcetype, env.Time)
	}
	want := map[string]any{
		"privtrail_stream":     "directory",
		"privtrail_privileged": "true",
		"privtrail_user":       "adm_grace@contoso.example",
		"privtrail_monitor":    []any{"review.unused_privileged_account"},
		"privtrail_risk":       "medium",
	}
	if !reflect.DeepEqual(env.Fields, want) {
		t.Errorf("fields %v\nwant   %v", env.Fields, want)
	}
	var ev struct {
		UPN       string `json:"userPrincipalName"`
		Privtrail struct {
			Stream    string `json:"stream"`
			Directory struct {
				Days *int `json:"days_since_sign_in"`
			} `json:"directory"`
		} `json:"privtrail"`
	}
	if err := json.Unmarshal(env.Event, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.UPN != "adm_grace@contoso.example" || ev.Privtrail.Stream != "directory" || ev.Privtrail.Directory.Days == nil || *ev.Privtrail.Directory.Days != 125 {
		t.Errorf("event %s", env.Event)
	}
	// Never signed in: -1.
	rec = decodeFile(t, "directory_never_signed_in")
	env = checkEnvelope(t, mustEncode(t, testEncoder(), rec), nil)
	if !bytes.Contains(env.Event, []byte(`"directory":{"days_since_sign_in":-1}`)) {
		t.Errorf("event %s", env.Event)
	}
}

func mustEncode(t testing.TB, enc *Encoder, rec *entra.Record) []byte {
	t.Helper()
	out, err := enc.Encode(nil, rec, rec.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRiskIsTheHighest(t *testing.T) {
	for _, tc := range []struct {
		risks []string
		want  string
	}{
		{[]string{"low"}, "low"},
		{[]string{"low", "high", "medium"}, "high"},
		{[]string{"medium", "low"}, "medium"},
		{[]string{"high", "critical"}, "critical"},
		{[]string{"weird", "low"}, "low"},
		{[]string{"weird"}, "weird"},
	} {
		rec := &entra.Record{Raw: []byte(`{}`), Stream: entra.StreamAudit}
		for i, r := range tc.risks {
			rec.Hits = append(rec.Hits, entra.Hit{ID: string(rune('a' + i)), Risk: r})
		}
		env := checkEnvelope(t, mustEncode(t, testEncoder(), rec), nil)
		if got := env.Fields["privtrail_risk"]; got != tc.want {
			t.Errorf("risks %v: privtrail_risk %v, want %s", tc.risks, got, tc.want)
		}
	}
}

func TestSourcetypes(t *testing.T) {
	def := NewEncoder(Config{})
	custom := NewEncoder(Config{Sourcetypes: Sourcetypes{SignIn: "s", Audit: "a", Diagnostic: "d", Activity: "act", AADDS: "ds", Directory: "dir",
		RiskDetection: "rd", RiskyUser: "ru", RiskyServicePrincipal: "rsp", Other: "o"}})
	for _, tc := range []struct {
		stream     entra.Stream
		shape      entra.Shape
		category   string
		def, given string
	}{
		{entra.StreamSignIn, entra.ShapeGraph, "", "azure:aad:signin", "s"},
		{entra.StreamAudit, entra.ShapeGraph, "", "azure:aad:audit", "a"},
		{entra.StreamSignIn, entra.ShapeDiagnostic, "", "azure:monitor:aad", "d"},
		{entra.StreamAudit, entra.ShapeDiagnostic, "", "azure:monitor:aad", "d"},
		{entra.StreamActivity, entra.ShapeDiagnostic, "", "azure:monitor:activity", "act"},
		{entra.StreamActivity, entra.ShapeGraph, "", "azure:monitor:activity", "act"},
		{entra.StreamAADDS, entra.ShapeDiagnostic, "", "azure:monitor:aad", "ds"},
		{entra.StreamDirectory, entra.ShapePrivtrail, "", "privtrail:directory", "dir"},
		{entra.StreamDirectory, entra.ShapeGraph, "", "privtrail:directory", "dir"}, // the stream wins
		{"", "", "", "azure:monitor:aad", "d"},
		// Every diagnostic-settings category, modelled or not: azure:monitor:aad.
		{entra.StreamSignIn, entra.ShapeDiagnostic, "ADFSSignInLogs", "azure:monitor:aad", "d"},
		{entra.StreamSignIn, entra.ShapeDiagnostic, "MicrosoftServicePrincipalSignInLogs", "azure:monitor:aad", "d"},
		{entra.StreamRisk, entra.ShapeDiagnostic, "UserRiskEvents", "azure:monitor:aad", "d"},
		{entra.StreamRisk, entra.ShapeDiagnostic, "RiskyServicePrincipals", "azure:monitor:aad", "d"},
		{entra.StreamGraphActivity, entra.ShapeDiagnostic, "MicrosoftGraphActivityLogs", "azure:monitor:aad", "d"},
		{entra.StreamGraphActivity, entra.ShapeDiagnostic, "AzureADGraphActivityLogs", "azure:monitor:aad", "d"},
		{entra.StreamOther, entra.ShapeDiagnostic, "ProvisioningLogs", "azure:monitor:aad", "d"},
		{entra.StreamOther, entra.ShapeDiagnostic, "NetworkAccessTrafficLogs", "azure:monitor:aad", "d"},
		{entra.StreamOther, entra.ShapeDiagnostic, "RiskyUsers", "azure:monitor:aad", "d"},
		// Graph-shaped ID Protection records: the add-on's sourcetypes.
		{entra.StreamRisk, entra.ShapeGraph, "UserRiskEvents", "azure:aad:identity_protection:risk_detection", "rd"},
		{entra.StreamRisk, entra.ShapeGraph, "ServicePrincipalRiskEvents", "azure:aad:identity_protection:risk_detection", "rd"},
		{entra.StreamRisk, entra.ShapeGraph, "RiskyUsers", "azure:aad:identity_protection:risky_user", "ru"},
		{entra.StreamRisk, entra.ShapeGraph, "riskyusers", "azure:aad:identity_protection:risky_user", "ru"},
		{entra.StreamRisk, entra.ShapeGraph, "RiskyServicePrincipals", "azure:aad:identity_protection:risky_service_principal", "rsp"},
		{entra.StreamRisk, entra.ShapeGraph, "", "azure:aad:identity_protection:risky_user", "ru"},
		// Graph items privtrail could not model: the sourcetype of their endpoint's category.
		{entra.StreamOther, entra.ShapeGraph, "RiskyUsers", "azure:aad:identity_protection:risky_user", "ru"},
		{entra.StreamOther, entra.ShapeGraph, "UserRiskEvents", "azure:aad:identity_protection:risk_detection", "rd"},
		{entra.StreamOther, entra.ShapeGraph, "NonInteractiveUserSignInLogs", "azure:aad:signin", "s"},
		{entra.StreamOther, entra.ShapeGraph, "AuditLogs", "azure:aad:audit", "a"},
		{entra.StreamOther, entra.ShapeGraph, "NetworkAccessTrafficLogs", "azure:aad:other", "o"},
		{entra.StreamOther, entra.ShapeGraph, "", "azure:aad:other", "o"},
	} {
		rec := &entra.Record{Stream: tc.stream, Shape: tc.shape, LogCategory: tc.category}
		if got := def.Sourcetype(rec); got != tc.def {
			t.Errorf("%s/%s/%s: default sourcetype %q, want %q", tc.stream, tc.shape, tc.category, got, tc.def)
		}
		if got := custom.Sourcetype(rec); got != tc.given {
			t.Errorf("%s/%s/%s: configured sourcetype %q, want %q", tc.stream, tc.shape, tc.category, got, tc.given)
		}
	}
	// Without a category, a Graph risk record says what it is itself.
	for _, tc := range []struct {
		rec  entra.Record
		want string
	}{
		{entra.Record{Stream: entra.StreamRisk, Shape: entra.ShapeGraph, Risk: entra.Risk{Kind: "detection"}}, "azure:aad:identity_protection:risk_detection"},
		{entra.Record{Stream: entra.StreamRisk, Shape: entra.ShapeGraph, Risk: entra.Risk{Kind: "state"}, Actor: entra.Principal{Type: "servicePrincipal"}},
			"azure:aad:identity_protection:risky_service_principal"},
		{entra.Record{Stream: entra.StreamRisk, Shape: entra.ShapeGraph, Risk: entra.Risk{Kind: "state"}, Actor: entra.Principal{Type: "user"}},
			"azure:aad:identity_protection:risky_user"},
	} {
		if got := def.Sourcetype(&tc.rec); got != tc.want {
			t.Errorf("%+v: sourcetype %q, want %q", tc.rec.Risk, got, tc.want)
		}
	}
}

func TestEncodeTimeAndOptionalKeys(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2024, 3, 13, 19, 15, 41, 619583300, time.UTC), `{"time":1710357341.619,`},
		{time.Date(2024, 3, 13, 19, 15, 41, 0, time.UTC), `{"time":1710357341.000,`},
		{time.Date(2024, 3, 13, 19, 15, 41, 5_000_000, time.FixedZone("x", 3600)), `{"time":1710353741.005,`},
		{time.Unix(0, -500_000_000), `{"time":-0.500,`},
		{time.Time{}, `{"host":"h",`}, // no time: HEC uses the time it received the event
	} {
		rec := &entra.Record{Raw: []byte(`{"a":1}`), Time: tc.t}
		out := mustEncode(t, NewEncoder(Config{Host: "h"}), rec)
		if !bytes.HasPrefix(out, []byte(tc.want)) {
			t.Errorf("%v: %s, want prefix %s", tc.t, out, tc.want)
		}
	}
	// No index configured: the token's default index applies.
	out := mustEncode(t, &Encoder{Source: "privtrail", Sourcetypes: Sourcetypes{Diagnostic: "d"}}, &entra.Record{Raw: []byte(`{}`)})
	if bytes.Contains(out, []byte(`"index"`)) || bytes.Contains(out, []byte(`"host"`)) {
		t.Errorf("empty index/host must be left out: %s", out)
	}
}

func TestEncodeRefusesANonObject(t *testing.T) {
	enc := testEncoder()
	dst := []byte("previous")
	out, err := enc.Encode(dst, &entra.Record{Raw: []byte(`{}`)}, []byte(`[1,2]`))
	if err == nil || string(out) != "previous" {
		t.Fatalf("got %q, %v; want an error and dst unchanged", out, err)
	}
}

func TestEncodeEscapesConfiguredStrings(t *testing.T) {
	enc := NewEncoder(Config{Host: "h\"\n\\", Source: "s\u2028", Index: "i\x00", Sourcetypes: Sourcetypes{Diagnostic: `st"`}})
	out := mustEncode(t, enc, &entra.Record{Raw: []byte(`{}`)})
	env := checkEnvelope(t, out, nil)
	if env.Host != "h\"\n\\" || env.Source != "s\u2028" || env.Index != "i\x00" || env.Sourcetype != `st"` {
		t.Errorf("round trip: %+v", env)
	}
	if strings.Contains(string(out), "\u2028") {
		t.Errorf("U+2028 must be escaped: %q", out)
	}
}
