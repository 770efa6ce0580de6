package splunk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// samples is where entra keeps the public Entra records.
const samples = "../../entra/testdata"

// splunkPair is a real diagnostic record and what its Graph form cannot
// give (see entra/testdata/envelope/README.md).
type splunkPair struct {
	file      string
	line      int
	eventType string            // signInEventTypes added to the Graph form
	sorted    bool              // the source sorted the members by name
	derived   map[string]string // member -> what privtrail writes (JSON; "" absent)
}

// The real pairs: every public SignInLogs, NonInteractiveUserSignInLogs,
// ServicePrincipalSignInLogs, ManagedIdentitySignInLogs, AuditLogs,
// UserRiskEvents and RiskyUsers record in the repository.
func splunkPairs() []splunkPair {
	ps := []splunkPair{
		{file: "samples/entra_docs_eventhub_signin_record_example.json",
			derived: map[string]string{"callerIpAddress": `"<IP ADDRESS>"`, "correlationId": `"bbbb1111-cc22-3333-44dd-555555eeeeee"`}},
		{file: "samples/splunk_security_content_aad_eventhub_records.jsonl", line: 11, derived: map[string]string{"operationName": `"Add unverified domain"`}},
		{file: "samples/splunk_security_content_aad_eventhub_records.jsonl", line: 12, derived: map[string]string{"time": `"2023-10-24T20:01:11.9490387Z"`}},
		{file: "envelope/elastic_SignInLogs_sample.jsonl", line: 1},
		{file: "envelope/elastic_SignInLogs_sample.jsonl", line: 2},
		{file: "samples/categories/elastic_NonInteractiveUserSignInLogs.jsonl", line: 1, sorted: true},
		{file: "samples/categories/elastic_ServicePrincipalSignInLogs.jsonl", line: 1, eventType: "servicePrincipal", sorted: true},
		{file: "samples/categories/elastic_ManagedIdentitySignInLogs.jsonl", line: 1, eventType: "managedIdentity"},
		{file: "samples/categories/elastic_ManagedIdentitySignInLogs.jsonl", line: 2, eventType: "managedIdentity"},
		{file: "samples/categories/elastic_UserRiskEvents.jsonl", line: 1},
		{file: "samples/categories/elastic_UserRiskEvents.jsonl", line: 2},
		{file: "samples/categories/elastic_RiskyUsers.jsonl", line: 1, derived: map[string]string{"location": ""}},
		{file: "samples/categories/elastic_RiskyUsers.jsonl", line: 2, derived: map[string]string{"location": ""}},
	}
	for line := 1; line <= 16; line++ {
		if line != 11 && line != 12 {
			ps = append(ps, splunkPair{file: "samples/splunk_security_content_aad_eventhub_records.jsonl", line: line})
		}
	}
	return ps
}

type jsonMember struct {
	key string
	raw json.RawMessage
}

func jsonMembers(t *testing.T, doc []byte) []jsonMember {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", doc)
	}
	var ms []jsonMember
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, jsonMember{tok.(string), raw})
	}
	return ms
}

func jsonValue(t *testing.T, raw []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return v
}

// TestEnvelopeRealPairs: a Graph-polled record sent to Splunk with the
// default envelope is indexed as azure:monitor:aad, and its event is, member
// for member and in Azure's order, the diagnostic record Azure Monitor
// wrote for it, plus the privtrail object. The Graph form is the real
// record's properties (which is the Graph resource); the members a Graph
// record cannot give are listed with the value privtrail writes.
func TestEnvelopeRealPairs(t *testing.T) {
	enc := NewEncoder(Config{Host: "agent-01", Index: "entra"})
	for _, p := range splunkPairs() {
		name := filepath.Base(p.file)
		if p.line > 0 {
			name += ":" + string(rune('0'+p.line/10)) + string(rune('0'+p.line%10))
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(samples, p.file))
			if err != nil {
				t.Fatal(err)
			}
			if p.line > 0 {
				data = bytes.Split(data, []byte("\n"))[p.line-1]
			}
			real := jsonMembers(t, data)
			var graph []byte
			var tenant string
			for _, m := range real {
				switch m.key {
				case "properties":
					graph = bytes.TrimSpace(m.raw)
					if p.eventType != "" {
						graph = append([]byte(`{"signInEventTypes":["`+p.eventType+`"],`), graph[1:]...)
					}
				case "tenantId":
					json.Unmarshal(m.raw, &tenant)
				}
			}
			var d entra.Decoder
			rec := &entra.Record{}
			if err := d.Decode(graph, rec); err != nil || rec.Shape != entra.ShapeGraph {
				t.Fatalf("the Graph form: %v %s", err, rec.Shape)
			}
			rec.TenantID = tenant // the tenant the graph input polls
			rec.Actor.Privileged = true
			rec.Hits = []entra.Hit{{ID: "m", Title: "t", Risk: "high", Source: "s", Reason: "r"}}

			item, err := enc.Encode(nil, rec, rec.AppendJSON(nil))
			if err != nil {
				t.Fatal(err)
			}
			env := checkEnvelope(t, item, nil)
			if env.Sourcetype != "azure:monitor:aad" {
				t.Errorf("sourcetype %s", env.Sourcetype)
			}
			got := jsonMembers(t, env.Event)
			if last := got[len(got)-1]; last.key != "privtrail" {
				t.Fatalf("the last member is %s", last.key)
			}
			got = got[:len(got)-1]

			var want []jsonMember
			for _, m := range real {
				if d, ok := p.derived[m.key]; ok {
					if d == "" {
						continue
					}
					m.raw = json.RawMessage(d)
				}
				if m.key == "properties" {
					var c bytes.Buffer
					if err := json.Compact(&c, graph); err != nil {
						t.Fatal(err)
					}
					m.raw = c.Bytes()
				}
				want = append(want, m)
			}
			if p.sorted {
				sort.Slice(got, func(i, j int) bool { return got[i].key < got[j].key })
			}
			keys := func(ms []jsonMember) string {
				var ks []string
				for _, m := range ms {
					ks = append(ks, m.key)
				}
				return strings.Join(ks, ",")
			}
			if keys(got) != keys(want) {
				t.Fatalf("members\n got %s\nwant %s", keys(got), keys(want))
			}
			for i := range got {
				if !reflect.DeepEqual(jsonValue(t, got[i].raw), jsonValue(t, want[i].raw)) {
					t.Errorf("%s: sent %s, Azure wrote %s", got[i].key, got[i].raw, want[i].raw)
				}
			}
		})
	}
}

// With envelope: as_read the same records keep today's add-on sourcetypes
// and their Graph bytes.
func TestEnvelopeAsReadSourcetypes(t *testing.T) {
	enc := NewEncoder(Config{Host: "agent-01", Index: "entra", Envelope: "as_read"})
	def := NewEncoder(Config{Host: "agent-01", Index: "entra"})
	if def.Envelope != entra.EnvelopeDiagnostic || enc.Envelope != entra.EnvelopeAsRead {
		t.Fatalf("envelopes %q %q", def.Envelope, enc.Envelope)
	}
	for name, want := range map[string]string{
		"signin_graph":                  "azure:aad:signin",
		"audit_graph":                   "azure:aad:audit",
		"risk_detection_graph":          "azure:aad:identity_protection:risk_detection",
		"risky_service_principal_graph": "azure:aad:identity_protection:risky_service_principal",
	} {
		rec := decodeFile(t, name)
		rec.TenantID = testTenant
		if got := enc.Sourcetype(rec); got != want {
			t.Errorf("%s as_read: %s, want %s", name, got, want)
		}
		diag := def.Sourcetype(rec)
		if rec.CanEnvelope() && diag != "azure:monitor:aad" || !rec.CanEnvelope() && diag != want {
			t.Errorf("%s diagnostic: %s", name, diag)
		}
		enriched := rec.AppendJSON(nil)
		checkEnvelope(t, mustEncodeWith(t, enc, rec, enriched), enriched)
	}
}

func mustEncodeWith(t *testing.T, enc *Encoder, rec *entra.Record, enriched []byte) []byte {
	t.Helper()
	out, err := enc.Encode(nil, rec, enriched)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
