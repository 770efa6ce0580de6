package entra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// realPair is a real diagnostic-settings record, from which the Graph
// record of the same event is derived: its properties object, which IS the
// Graph resource in Azure's casing (Azure Monitor writes the Graph record
// as properties). No public source publishes the same event in both shapes
// (searched: elastic/integrations test logs, Microsoft's docs, Splunk's
// security_content, graph2otel), so this is the closest real pair there
// is. The test envelopes the Graph form and compares the result with the
// real record, member for member, in Azure's order.
type realPair struct {
	file string // under testdata
	line int    // 1-based line of a .jsonl file; 0 for a .json file
	// eventType, when set, is added to the derived Graph form as
	// signInEventTypes [eventType]: Graph's beta signIns, the endpoint that
	// returns service-principal and managed-identity sign-ins, always has
	// it, while these 2021–2022 diagnostic records predate it in
	// properties. Without it nothing in the record says which sign-in
	// type it is (Azure says it with the category).
	eventType string
	// sorted: the source sorted the members by name (Elastic's sanitised
	// captures), so their order is not Azure's and only the members and
	// their values are compared.
	sorted bool
	// derived are the members whose real value cannot come from the Graph
	// record, with why and the value privtrail writes instead (nil: left
	// out). The test checks that the real value does differ, so an
	// exception that no longer applies fails.
	derived map[string]derivedMember
}

type derivedMember struct {
	why  string
	ours any // the value privtrail writes, as encoding/json reads it (UseNumber); nil: absent
}

func realPairs() []realPair {
	pairs := []realPair{
		{file: "samples/entra_docs_eventhub_signin_record_example.json", derived: map[string]derivedMember{
			"callerIpAddress": {"Microsoft's docs record has a different placeholder in the envelope (<CALLER IP ADDRESS>) than in properties.ipAddress (<IP ADDRESS>)", "<IP ADDRESS>"},
			"correlationId":   {"the docs record's placeholder GUIDs differ between the envelope and properties.correlationId", "bbbb1111-cc22-3333-44dd-555555eeeeee"},
		}},
		{file: "samples/splunk_security_content_aad_eventhub_records.jsonl", line: 11, derived: map[string]derivedMember{
			"operationName": {"Splunk's example says \"Set domain authentication\" while its own properties.activityDisplayName is \"Add unverified domain\" (edited for a detection); in every other audit record operationName is the activityDisplayName", "Add unverified domain"},
		}},
		{file: "samples/splunk_security_content_aad_eventhub_records.jsonl", line: 12, derived: map[string]derivedMember{
			"time": {"Azure wrote this sign-in 12 minutes after it happened (time is when Azure logged it); a Graph record carries only createdDateTime, which the other sign-in records here have as time", "2023-10-24T20:01:11.9490387Z"},
		}},
		{file: "samples/categories/elastic_NonInteractiveUserSignInLogs.jsonl", line: 1, sorted: true},
		{file: "samples/categories/elastic_ServicePrincipalSignInLogs.jsonl", line: 1, eventType: "servicePrincipal", sorted: true},
		{file: "samples/categories/elastic_ManagedIdentitySignInLogs.jsonl", line: 1, eventType: "managedIdentity"},
		{file: "samples/categories/elastic_ManagedIdentitySignInLogs.jsonl", line: 2, eventType: "managedIdentity"},
		{file: "samples/categories/elastic_UserRiskEvents.jsonl", line: 1},
		{file: "samples/categories/elastic_UserRiskEvents.jsonl", line: 2},
		{file: "envelope/elastic_SignInLogs_sample.jsonl", line: 1},
		{file: "envelope/elastic_SignInLogs_sample.jsonl", line: 2},
	}
	for line := 1; line <= 2; line++ {
		pairs = append(pairs, realPair{file: "samples/categories/elastic_RiskyUsers.jsonl", line: line, derived: map[string]derivedMember{
			"location": {"a RiskyUsers record's location is an Azure region code (neu, weu), not the user's; a Graph riskyUser has nothing for it", nil},
		}})
	}
	// Every other line of Splunk's file: 15 audits, 1 sign-in.
	for line := 1; line <= 16; line++ {
		if line != 11 && line != 12 {
			pairs = append(pairs, realPair{file: "samples/splunk_security_content_aad_eventhub_records.jsonl", line: line})
		}
	}
	return pairs
}

func (p realPair) name() string {
	if p.line == 0 {
		return filepath.Base(p.file)
	}
	return fmt.Sprintf("%s:%d", filepath.Base(p.file), p.line)
}

// doc returns the real diagnostic record.
func (p realPair) doc(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", p.file))
	if err != nil {
		tb.Fatal(err)
	}
	if p.line == 0 {
		return data
	}
	lines := bytes.Split(data, []byte("\n"))
	if p.line > len(lines) || len(bytes.TrimSpace(lines[p.line-1])) == 0 {
		tb.Fatalf("%s has no line %d", p.file, p.line)
	}
	return lines[p.line-1]
}

// graphForm derives the Graph record from the real record: its properties
// bytes, as they are in the file, plus signInEventTypes when set.
func (p realPair) graphForm(tb testing.TB, real []member) []byte {
	tb.Helper()
	for _, m := range real {
		if m.key != "properties" {
			continue
		}
		g := []byte(m.raw)
		if p.eventType != "" {
			g = append([]byte(`{"signInEventTypes":["`+p.eventType+`"],`), bytes.TrimPrefix(bytes.TrimSpace(g), []byte("{"))...)
		}
		return g
	}
	tb.Fatal("the real record has no properties")
	return nil
}

func memberValue(tb testing.TB, raw []byte) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("%v: %s", err, raw)
	}
	return v
}

func realString(real []member, key string) string {
	for _, m := range real {
		if m.key == key {
			var s string
			json.Unmarshal(m.raw, &s)
			return s
		}
	}
	return ""
}

// TestEnvelopeRealPairs: a Graph record enveloped is, member for member and
// in the same order, the diagnostic record Azure Monitor wrote for it.
func TestEnvelopeRealPairs(t *testing.T) {
	categories := map[string]bool{}
	for _, p := range realPairs() {
		t.Run(p.name(), func(t *testing.T) {
			doc := p.doc(t)
			real := topMembers(t, doc)
			graph := p.graphForm(t, real)

			var d Decoder
			var rec Record
			if err := d.Decode(graph, &rec); err != nil {
				t.Fatalf("the Graph form does not decode: %v", err)
			}
			if rec.Shape != ShapeGraph {
				t.Fatalf("the Graph form decodes as %s", rec.Shape)
			}
			category := realString(real, "category")
			if rec.LogCategory != category {
				t.Fatalf("the Graph form decodes as %s, the real record is %s", rec.LogCategory, category)
			}
			categories[category] = true
			// The tenant: a Graph record carries none; the graph input
			// knows the tenant it polls.
			rec.TenantID = realString(real, "tenantId")
			if !rec.CanEnvelope() {
				t.Fatal("CanEnvelope is false")
			}
			out := rec.AppendDiagnosticJSON(nil)
			if !json.Valid(out) || bytes.IndexByte(out, '\n') >= 0 {
				t.Fatalf("not one line of JSON: %s", out)
			}
			got := topMembers(t, out)
			if last := got[len(got)-1]; last.key != "privtrail" {
				t.Fatalf("the last member is %q, not privtrail", last.key)
			}
			got = got[:len(got)-1]

			// properties: the Graph record, byte for byte (compacted when it
			// spans lines).
			var wantProps bytes.Buffer
			if err := json.Compact(&wantProps, graph); err != nil {
				t.Fatal(err)
			}
			if bytes.IndexByte(graph, '\n') < 0 {
				wantProps.Reset()
				wantProps.Write(bytes.TrimSpace(graph))
			}

			// The members Azure wrote, with the derived ones replaced by
			// what privtrail writes.
			type kv struct {
				key string
				val any
			}
			var want []kv
			used := map[string]bool{}
			for _, m := range real {
				if m.key == "properties" {
					want = append(want, kv{m.key, nil})
					continue
				}
				realVal := memberValue(t, m.raw)
				if dm, ok := p.derived[m.key]; ok {
					used[m.key] = true
					if reflect.DeepEqual(realVal, dm.ours) {
						t.Errorf("%s is listed as derived (%s) but privtrail's value equals Azure's", m.key, dm.why)
					}
					if dm.ours != nil {
						want = append(want, kv{m.key, dm.ours})
					}
					continue
				}
				want = append(want, kv{m.key, realVal})
			}
			for k := range p.derived {
				if !used[k] {
					t.Errorf("derived member %s is not in the real record", k)
				}
			}
			var gotKeys, wantKeys []string
			for _, m := range got {
				gotKeys = append(gotKeys, m.key)
			}
			for _, m := range want {
				wantKeys = append(wantKeys, m.key)
			}
			if p.sorted {
				if !sort.StringsAreSorted(wantKeys) {
					t.Fatalf("the real record's members are not sorted: %q", wantKeys)
				}
				sort.Slice(got, func(i, j int) bool { return got[i].key < got[j].key })
				gotKeys = gotKeys[:0]
				for _, m := range got {
					gotKeys = append(gotKeys, m.key)
				}
			}
			if !reflect.DeepEqual(gotKeys, wantKeys) {
				t.Fatalf("members\n got %q\nwant %q\n%s", gotKeys, wantKeys, out)
			}
			for i, m := range got {
				if m.key == "properties" {
					if !bytes.Equal(m.raw, wantProps.Bytes()) {
						t.Errorf("properties is not the Graph record:\n got %s\nwant %s", m.raw, wantProps.Bytes())
					}
					continue
				}
				if v := memberValue(t, m.raw); !reflect.DeepEqual(v, want[i].val) {
					t.Errorf("%s: privtrail writes %s, Azure wrote %#v", m.key, m.raw, want[i].val)
				}
			}

			// The envelope decodes to the record the Graph form decoded to.
			checkEnvelopeDecodes(t, &rec, out)
		})
	}
	for _, c := range []string{"SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs", "ManagedIdentitySignInLogs",
		"AuditLogs", "UserRiskEvents", "RiskyUsers"} {
		if !categories[c] {
			t.Errorf("no real pair of %s", c)
		}
	}
}

// checkEnvelopeDecodes asserts that out, rec's envelope, decodes to rec
// (as a diagnostic-shaped record).
func checkEnvelopeDecodes(t *testing.T, rec *Record, out []byte) {
	t.Helper()
	var d Decoder
	var again Record
	if err := d.Decode(out, &again); err != nil {
		t.Fatalf("the envelope does not decode: %v\n%s", err, out)
	}
	if again.Shape != ShapeDiagnostic {
		t.Errorf("the envelope decodes as %s", again.Shape)
	}
	// What the envelope says itself: its shape and operationName.
	again.Shape, again.OperationName, again.Raw = rec.Shape, rec.OperationName, rec.Raw
	// The envelope's Level; and the privtrail object privtrail's decoder drops.
	again.Level = rec.Level
	// The envelope has the time with seven fractional digits: a Graph time
	// with more is read back truncated to 100 ns.
	if d := rec.Time.Sub(again.Time); d >= 0 && d < 100*time.Nanosecond {
		again.Time = rec.Time
	}
	// The decoder takes a diagnostic record's correlationId from the
	// envelope, which for ID Protection records is the record's id (so it
	// reads Azure's own UserRiskEvents and RiskyUsers records the same way).
	if rec.Stream == StreamRisk && again.CorrelationID == rec.ID {
		again.CorrelationID = rec.CorrelationID
	}
	if diff := recordDiff(rec, &again); diff != "" {
		t.Errorf("the envelope decodes to another record: %s", diff)
	}
}

// recordDiff lists the fields (as encoding/json marshals them) in which a
// and b differ.
func recordDiff(a, b *Record) string {
	var ma, mb map[string]any
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	json.Unmarshal(ja, &ma)
	json.Unmarshal(jb, &mb)
	var diffs []string
	for k := range ma {
		if !reflect.DeepEqual(ma[k], mb[k]) {
			x, _ := json.Marshal(ma[k])
			y, _ := json.Marshal(mb[k])
			diffs = append(diffs, fmt.Sprintf("%s: %s vs %s", k, x, y))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

// The records that are written as read: every diagnostic-shaped record,
// directory records, and the Graph records without an envelope checked
// against a real one.
func TestEnvelopeAsRead(t *testing.T) {
	var docs [][]byte
	for _, doc := range loadSamples(t, localSamplesDir) {
		docs = append(docs, doc.data)
	}
	for _, name := range []string{"graphdocs_v1_riskyserviceprincipal_list_response.json", "graphdocs_v1_serviceprincipalriskdetection_list_response.json",
		"elastic_ProvisioningLogs.jsonl", "elastic_MicrosoftGraphActivityLogs.jsonl", "elastic_ADFSSignInLogs.jsonl", "elastic_RiskyUsers.jsonl"} {
		docs = append(docs, readRecords(t, "testdata/samples/categories/"+name)...)
	}
	docs = append(docs, readRecords(t, "testdata/every_category.jsonl")...)
	for _, doc := range loadSamples(t, directoryDir) {
		docs = append(docs, doc.data)
	}
	// An AD FS sign-in read from Graph beta: Azure writes it as
	// ADFSSignInLogs, with another envelope.
	docs = append(docs, []byte(`{"id":"a","createdDateTime":"2025-12-12T14:56:31Z","userPrincipalName":"a@b","tokenIssuerType":"ADFederationServices","isInteractive":true,"status":{"errorCode":0}}`))
	n := 0
	for i, doc := range docs {
		var d Decoder
		var rec Record
		if err := d.Decode(doc, &rec); err != nil {
			continue
		}
		rec.TenantID = "t"
		enveloped := rec.Shape == ShapeGraph && (rec.Stream == StreamSignIn && rec.SignIn.TokenIssuerType != "ADFederationServices" ||
			rec.Stream == StreamAudit || rec.LogCategory == "UserRiskEvents" || rec.LogCategory == "RiskyUsers")
		if rec.CanEnvelope() != enveloped {
			t.Errorf("doc %d (%s %s %s): CanEnvelope %v", i, rec.Shape, rec.Stream, rec.LogCategory, rec.CanEnvelope())
		}
		if enveloped {
			continue
		}
		n++
		if got, want := rec.AppendDiagnosticJSON(nil), rec.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("doc %d (%s %s %s) is not written as read:\n%s", i, rec.Shape, rec.Stream, rec.LogCategory, got)
		}
		if got := rec.AppendJSONAs(nil, EnvelopeAsRead); !bytes.Equal(got, rec.AppendJSON(nil)) {
			t.Errorf("doc %d: as_read differs from AppendJSON", i)
		}
	}
	if n < 20 {
		t.Fatalf("only %d records written as read", n)
	}
	// A record whose Raw is not a JSON object is written as AppendJSON
	// writes one; one whose Raw only looks like an object is wrapped the
	// same way, so the line is valid JSON.
	for _, raw := range []string{``, `[1]`, `"x"`} {
		rec := Record{Raw: []byte(raw), Shape: ShapeGraph, Stream: StreamAudit, LogCategory: "AuditLogs", Time: time.Unix(1, 0)}
		if got, want := rec.AppendDiagnosticJSON(nil), rec.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("raw %q: %s, want %s", raw, got, want)
		}
	}
	for _, raw := range []string{`{"a":}`, `{"a":1} x`, `{"a":NaN}`, "{\"a\":\"\x01\"}"} {
		rec := Record{Raw: []byte(raw), Shape: ShapeGraph, Stream: StreamAudit, LogCategory: "AuditLogs", Time: time.Unix(1, 0)}
		out := rec.AppendDiagnosticJSON(nil)
		var v struct {
			Raw       string          `json:"raw"`
			Privtrail json.RawMessage `json:"privtrail"`
		}
		if err := json.Unmarshal(out, &v); err != nil || v.Raw != raw || v.Privtrail == nil {
			t.Errorf("raw %q: %s (%v)", raw, out, err)
		}
	}
}

// Every Graph sample of an enveloped kind: the envelope is valid JSON,
// keeps the Graph record as properties, and decodes back to the record.
func TestEnvelopeGraphSamples(t *testing.T) {
	var docs []sampleDoc
	docs = append(docs, loadSamples(t, localSamplesDir)...)
	for _, name := range []string{"graphdocs_v1_riskdetection_list_response.json", "graphdocs_beta_riskyusers_list_ex2_response.json", "graphdocs_v1_riskyuser_list_response.json"} {
		for i, d := range readRecords(t, "testdata/samples/categories/"+name) {
			docs = append(docs, sampleDoc{name: fmt.Sprintf("%s#%d", name, i), data: d})
		}
	}
	kinds := map[string]int{}
	for _, doc := range docs {
		var d Decoder
		var rec Record
		if err := d.Decode(doc.data, &rec); err != nil || !rec.CanEnvelope() {
			continue
		}
		t.Run(doc.name, func(t *testing.T) {
			kinds[rec.LogCategory]++
			rec.TenantID = "0b5f5d3c-1111-4c2e-9c55-3c8b7a1c2d3e"
			out := rec.AppendDiagnosticJSON(nil)
			checkLine(t, doc.data, out, false)
			members := topMembers(t, out)
			var props json.RawMessage
			for _, m := range members {
				if m.key == "properties" {
					props = m.raw
				}
			}
			checkAsEncodingJSONReads(t, doc.data, props)
			if countPrivtrail(t, out) != 1 || members[len(members)-1].key != "privtrail" {
				t.Fatalf("privtrail is not the one last member: %s", out)
			}
			checkEnvelopeDecodes(t, &rec, out)
		})
	}
	if kinds["SignInLogs"] == 0 || kinds["AuditLogs"] == 0 || kinds["UserRiskEvents"] == 0 || kinds["RiskyUsers"] == 0 {
		t.Errorf("kinds enveloped: %v", kinds)
	}
}

// envelopeGoldens are the Graph records of the golden files: a sign-in,
// an audit, a risk detection and a risky user, enriched as the pipeline
// would.
var envelopeGoldens = []struct {
	name, file string
	item       int
	enrich     func(*Record)
}{
	{"signin_graph", "testdata/samples/graph_v1_signin_list_response.json", 0, func(r *Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Actor.Roles = []RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active", Via: "direct", Privileged: true}}
		r.Hits = []Hit{{ID: "signin.legacy_auth", Title: "Legacy authentication by a privileged account", Risk: "high", Source: "signin", Reason: "clientAppUsed=Browser"}}
	}},
	{"audit_graph", "testdata/samples/graph_v1_directoryaudit_list_response_ex1.json", 0, func(r *Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Hits = []Hit{{ID: "audit.privileged_change", Title: "Change made by a privileged account", Risk: "medium", Source: "audit", Reason: "actor=bob@wingtiptoysonline.com"}}
	}},
	{"risk_detection_graph", "testdata/samples/categories/graphdocs_v1_riskdetection_list_response.json", 0, func(r *Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Hits = []Hit{{ID: "risk.privileged_user", Title: "Risk detected for a privileged account", Risk: "high", Source: "risk", Reason: "riskEventType=unfamiliarFeatures"}}
	}},
	{"risky_user_graph", "testdata/samples/categories/graphdocs_beta_riskyusers_list_ex2_response.json", 0, nil},
}

func TestEnvelopeGolden(t *testing.T) {
	for _, g := range envelopeGoldens {
		t.Run(g.name, func(t *testing.T) {
			docs := readRecords(t, g.file)
			var d Decoder
			var rec Record
			if err := d.Decode(docs[g.item], &rec); err != nil {
				t.Fatal(err)
			}
			rec.TenantID = "0b5f5d3c-1111-4c2e-9c55-3c8b7a1c2d3e"
			if g.enrich != nil {
				g.enrich(&rec)
			}
			got := append(rec.AppendDiagnosticJSON(nil), '\n')
			if as := rec.AppendJSONAs(nil, EnvelopeDiagnostic); !bytes.Equal(as, got[:len(got)-1]) {
				t.Error("AppendJSONAs(diagnostic) differs from AppendDiagnosticJSON")
			}
			path := filepath.Join("testdata", "envelope", "golden", g.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./entra -run TestEnvelopeGolden -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("differs from %s:\n got %s\nwant %s", path, got, want)
			}
		})
	}
}

// The members whose rules are not exercised by a real pair: an empty
// tenant, a failed Graph sign-in's failureReason, a Graph sign-in with 9
// fractional digits, a risk detection without lastUpdatedDateTime.
func TestEnvelopeRules(t *testing.T) {
	env := func(doc, tenant string) map[string]any {
		t.Helper()
		var d Decoder
		var rec Record
		if err := d.Decode([]byte(doc), &rec); err != nil {
			t.Fatal(err)
		}
		rec.TenantID = tenant
		out := rec.AppendDiagnosticJSON(nil)
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return m
	}
	// No tenant: neither tenantId nor resourceId.
	m := env(`{"id":"1","createdDateTime":"2024-05-01T09:15:30.123456789-07:00","userPrincipalName":"a@b","userDisplayName":"A","status":{"errorCode":50126,"failureReason":"Invalid username or password."},"location":{"countryOrRegion":""}}`, "")
	for _, k := range []string{"tenantId", "resourceId", "location", "callerIpAddress", "correlationId"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s written without a value: %v", k, m)
		}
	}
	if m["time"] != "2024-05-01T16:15:30.1234567Z" || m["resultType"] != "50126" || m["resultDescription"] != "Invalid username or password." ||
		m["identity"] != "A" || m["category"] != "NonInteractiveUserSignInLogs" || m["Level"] != 4.0 || m["durationMs"] != 0.0 {
		t.Errorf("sign-in envelope %v", m)
	}
	// A detection without lastUpdatedDateTime: its event time.
	m = env(`{"id":"d","riskEventType":"x","activityDateTime":"2024-02-03T16:05:06.5Z","userId":"u","userDisplayName":"Zoë ÄBC","location":{"countryOrRegion":"FR"}}`, "t")
	if m["time"] != "2/3/2024 4:05:06 PM" || m["identity"] != "zoë äbc" || m["location"] != "fr" || m["resourceId"] != "/tenants/t/providers/microsoft.aadiam" {
		t.Errorf("risk envelope %v", m)
	}
	// lastUpdatedDateTime with another case, and with the exact spelling.
	m = env(`{"id":"d","riskEventType":"x","activityDateTime":"2024-02-03T16:05:06Z","LastUpdatedDateTime":"2024-02-04T01:02:03Z","userId":"u"}`, "t")
	if m["time"] != "2/4/2024 1:02:03 AM" {
		t.Errorf("time %v", m["time"])
	}
	m = env(`{"id":"d","riskEventType":"x","activityDateTime":"2024-02-03T16:05:06Z","LastUpdatedDateTime":"2024-02-04T01:02:03Z","lastUpdatedDateTime":"2024-02-05T11:02:03Z","userId":"u"}`, "t")
	if m["time"] != "2/5/2024 11:02:03 AM" {
		t.Errorf("time %v", m["time"])
	}
	// A pretty-printed Graph record with a privtrail member (privtrail's
	// own as-read output read back): properties is compact, without it.
	m = env("{\n  \"activityDateTime\": \"2024-01-01T00:00:00Z\",\n  \"activityDisplayName\": \"Add member to role\",\n  \"privtrail\": {\"stream\":\"audit\"}\n}", "t")
	if p, _ := m["properties"].(map[string]any); len(p) != 2 || p["privtrail"] != nil || m["operationName"] != "Add member to role" {
		t.Errorf("properties %v", m)
	}
	if _, ok := m["privtrail"].(map[string]any); !ok {
		t.Errorf("no privtrail object: %v", m)
	}
}

func TestParseEnvelope(t *testing.T) {
	for _, s := range []string{"diagnostic", "as_read"} {
		if e, err := ParseEnvelope(s); err != nil || string(e) != s {
			t.Errorf("%q: %v %v", s, e, err)
		}
	}
	for _, s := range []string{"", "Diagnostic", "graph", "as-read"} {
		if _, err := ParseEnvelope(s); err == nil || !strings.Contains(err.Error(), "diagnostic or as_read") {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// Invalid UTF-8 in the Graph record or in a string the envelope writes
// is replaced and noted, as AppendJSON does.
func TestEnvelopeInvalidUTF8(t *testing.T) {
	doc := []byte("{\"id\":\"1\",\"createdDateTime\":\"2026-03-02T08:00:00Z\",\"userPrincipalName\":\"\xff\xfe\",\"userDisplayName\":\"Ren\xe9\",\"userId\":\"u1\"}")
	var d Decoder
	var rec Record
	if err := d.Decode(doc, &rec); err != nil {
		t.Fatal(err)
	}
	out := rec.AppendDiagnosticJSON(nil)
	checkLine(t, doc, out, true)
	if !utf8.Valid(out) || !bytes.Contains(out, []byte(`"identity":"Ren\ufffd"`)) {
		t.Errorf("%s", out)
	}
	// Only the risk identity is invalid: it is still noted.
	rec = Record{Raw: []byte(`{"id":"d"}`), Shape: ShapeGraph, Stream: StreamRisk, LogCategory: "RiskyUsers", Time: time.Unix(1, 0),
		Actor: Principal{Type: "user", ID: "u"}}
	rec.Actor.DisplayName = "A\xffB"
	out = rec.AppendDiagnosticJSON(nil)
	checkLine(t, rec.Raw, out, true)
}

func BenchmarkAppendDiagnosticJSON(b *testing.B) {
	data, err := os.ReadFile("testdata/samples/graph_v1_signin_list_response.json")
	if err != nil {
		b.Fatal(err)
	}
	var page struct{ Value []json.RawMessage }
	if err := json.Unmarshal(data, &page); err != nil {
		b.Fatal(err)
	}
	// Graph returns compact JSON.
	var compact bytes.Buffer
	if err := json.Compact(&compact, page.Value[0]); err != nil {
		b.Fatal(err)
	}
	var d Decoder
	var rec Record
	if err := d.Decode(compact.Bytes(), &rec); err != nil {
		b.Fatal(err)
	}
	rec.TenantID = "t"
	buf := rec.AppendDiagnosticJSON(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		buf = rec.AppendDiagnosticJSON(buf[:0])
	}
}

// A compact Graph record (what Graph returns) is enveloped without
// allocating, as AppendJSON writes it.
func TestAppendDiagnosticJSONAllocs(t *testing.T) {
	for _, g := range envelopeGoldens {
		var compact bytes.Buffer
		if err := json.Compact(&compact, readRecords(t, g.file)[g.item]); err != nil {
			t.Fatal(err)
		}
		var d Decoder
		var rec Record
		if err := d.Decode(compact.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		rec.TenantID = "0b5f5d3c-1111-4c2e-9c55-3c8b7a1c2d3e"
		if g.enrich != nil {
			g.enrich(&rec)
		}
		buf := rec.AppendDiagnosticJSON(nil)
		if n := testing.AllocsPerRun(100, func() { buf = rec.AppendDiagnosticJSON(buf[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations", g.name, n)
		}
	}
}
