package entra

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzAppendDiagnosticJSON gives AppendDiagnosticJSON any document and any
// strings for the members it writes. Every result is one line of valid
// UTF-8 JSON with exactly one privtrail member, last. A decoded Graph
// record that is enveloped keeps the document as properties (as
// encoding/json reads it) and decodes back to a record of the same stream
// and category; a record that is not is written exactly as AppendJSON
// writes it.
func FuzzAppendDiagnosticJSON(f *testing.F) {
	for _, p := range realPairs() {
		doc := p.doc(f)
		var real []member
		dec := json.NewDecoder(bytes.NewReader(doc))
		if tok, _ := dec.Token(); tok == json.Delim('{') {
			for dec.More() {
				tok, _ := dec.Token()
				var raw json.RawMessage
				if dec.Decode(&raw) != nil {
					break
				}
				real = append(real, member{key: tok.(string), raw: raw})
			}
		}
		for _, m := range real {
			if m.key == "properties" {
				f.Add([]byte(m.raw), uint8(0), "t", "Zoë", "reason", "10.0.0.1", "DE")
			}
		}
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint8(1), "", "", "", "", "")
	}
	f.Add([]byte(`{"riskEventType":"x","activityDateTime":"2024-01-01T00:00:00Z","lastUpdatedDateTime":"2024-01-01T9:00:00Z","userId":"u"}`), uint8(2), "t\xff", "\xc3(", "a\nb", "<null>", "\u2028")
	f.Add([]byte("{\n\"riskLastUpdatedDateTime\":\"2022-09-09T9:59:27.958Z\",\"id\":\"u\",\"privtrail\":{},\"priv\\u0074rail\":1}"), uint8(3), "t", "ÄÖ", "", "", "")
	f.Add([]byte("{\"activityDateTime\":\"2024-01-01T00:00:00Z\",\"activityDisplayName\":\"Ren\xe9\"}"), uint8(4), "t", "x", "y", "z", "w")
	f.Add([]byte(`{"createdDateTime":"2024-01-01T00:00:00Z","tokenIssuerType":"ADFederationServices"}`), uint8(5), "t", "", "", "", "")
	f.Add([]byte(`{"a":NaN}`), uint8(6), "", "", "", "", "")
	f.Add([]byte(`[]`), uint8(7), "", "", "", "", "")
	f.Fuzz(func(t *testing.T, raw []byte, kind uint8, tenant, name, reason, ip, country string) {
		// The document decoded, with the tenant the graph input would set.
		var d Decoder
		var rec Record
		if d.Decode(raw, &rec) == nil {
			rec.TenantID = tenant
			out := rec.AppendDiagnosticJSON(nil)
			checkDiagnosticLine(t, raw, out)
			enveloped := rec.CanEnvelope()
			if !enveloped {
				if !bytes.Equal(out, rec.AppendJSON(nil)) {
					t.Fatalf("a record that is not enveloped is not written as read:\n%s", out)
				}
			} else {
				if !utf8.Valid(raw) || !utf8.ValidString(tenant) {
					checkReplaced(t, out, true)
				}
				props := memberOf(t, out, "properties")
				if props == nil {
					t.Fatalf("no properties: %s", out)
				}
				checkAsEncodingJSONReads(t, raw, props)
				var again Record
				if err := d.Decode(out, &again); err != nil {
					t.Fatalf("the envelope does not decode: %v\n in %q\nout %s", err, raw, out)
				}
				if again.Shape != ShapeDiagnostic || again.Stream != rec.Stream || again.LogCategory != rec.LogCategory {
					t.Fatalf("the envelope decodes as %s %s %s, the Graph record as %s %s %s", again.Shape, again.Stream, again.LogCategory,
						rec.Shape, rec.Stream, rec.LogCategory)
				}
			}
		}

		// A record built by hand: any Raw, any strings in the members the
		// envelope writes.
		kinds := []struct {
			stream   Stream
			category string
		}{
			{StreamSignIn, "SignInLogs"}, {StreamSignIn, "ServicePrincipalSignInLogs"}, {StreamAudit, "AuditLogs"},
			{StreamRisk, "UserRiskEvents"}, {StreamRisk, "RiskyUsers"}, {StreamRisk, "RiskyServicePrincipals"}, {StreamOther, "AuditLogs"},
		}
		k := kinds[int(kind)%len(kinds)]
		hand := Record{Raw: raw, Shape: ShapeGraph, Stream: k.stream, LogCategory: k.category, TenantID: tenant,
			Time: time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC), ID: name, CorrelationID: reason,
			Actor:  Principal{Type: "user", DisplayName: name, IP: ip},
			SignIn: SignIn{FailureReason: reason, IPAddress: ip, ErrorCode: int(kind) * 1000, Location: Location{Country: country}},
			Audit:  Audit{ResultReason: reason, ActivityDisplayName: name},
			Risk:   Risk{IPAddress: ip, Location: Location{Country: country}},
		}
		if kind&0x80 != 0 {
			hand.Shape = ShapeDiagnostic
		}
		out := hand.AppendDiagnosticJSON(nil)
		if k, _ := hand.envelopeKind(); k == envNone && !json.Valid(raw) {
			// Written by AppendJSON, whose Raw is expected to be what
			// Decode accepted (FuzzAppendJSONRaw covers it).
			if !utf8.Valid(out) || bytes.IndexByte(out, '\n') >= 0 {
				t.Fatalf("not one line of UTF-8: %q", out)
			}
			return
		}
		checkDiagnosticLine(t, raw, out)
		allValid := utf8.Valid(raw)
		for _, s := range []string{tenant, name, reason, ip, country} {
			allValid = allValid && utf8.ValidString(s)
		}
		if allValid {
			checkReplaced(t, out, false)
		}
		if !utf8.Valid(raw) {
			checkReplaced(t, out, true)
		}
		if memberOf(t, out, "properties") == nil {
			return // written as read
		}
		if !hand.CanEnvelope() {
			t.Fatalf("enveloped though CanEnvelope is false: %s", out)
		}
		want := func(s string) string { return string([]rune(s)) }
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		if tenant != "" && m["tenantId"] != want(tenant) {
			t.Fatalf("tenantId %q from %q", m["tenantId"], tenant)
		}
		if name != "" && k.stream == StreamAudit && m["operationName"] != want(name) {
			t.Fatalf("operationName %q from %q", m["operationName"], name)
		}
		if name != "" && k.stream == StreamRisk && m["identity"] != strings.ToLower(want(name)) {
			t.Fatalf("identity %q from %q", m["identity"], name)
		}
		if reason != "" && k.stream != StreamRisk && m["resultDescription"] != want(reason) {
			t.Fatalf("resultDescription %q from %q", m["resultDescription"], reason)
		}
		if ip != "" && k.category != "RiskyUsers" && m["callerIpAddress"] != want(ip) {
			t.Fatalf("callerIpAddress %q from %q", m["callerIpAddress"], ip)
		}
	})
}

// checkDiagnosticLine asserts what every line AppendDiagnosticJSON writes
// satisfies: valid UTF-8, valid JSON, one line, one privtrail member, the
// last.
func checkDiagnosticLine(t *testing.T, raw, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Fatalf("not valid UTF-8:\n in %q\nout %q", raw, out)
	}
	if !json.Valid(out) {
		t.Fatalf("not valid JSON:\n in %q\nout %q", raw, out)
	}
	if bytes.IndexByte(out, '\n') >= 0 || bytes.IndexByte(out, '\r') >= 0 {
		t.Fatalf("several lines: %q", out)
	}
	ms := topMembers(t, out)
	n := 0
	for _, m := range ms {
		if m.key == "privtrail" {
			n++
		}
	}
	if n != 1 || ms[len(ms)-1].key != "privtrail" {
		t.Fatalf("%d privtrail members, last %q: %q", n, ms[len(ms)-1].key, out)
	}
}

func checkReplaced(t *testing.T, out []byte, want bool) {
	t.Helper()
	var v struct {
		Privtrail struct {
			Replaced *bool `json:"replaced_invalid_utf8"`
		} `json:"privtrail"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if got := v.Privtrail.Replaced; (got != nil && *got) != want || (got != nil && !*got) {
		t.Fatalf("replaced_invalid_utf8 %v, want %v: %q", got, want, out)
	}
}

// memberOf returns the raw value of the top-level member key, or nil.
func memberOf(t *testing.T, doc []byte, key string) []byte {
	t.Helper()
	for _, m := range topMembers(t, doc) {
		if m.key == key {
			return m.raw
		}
	}
	return nil
}
