package splunk

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/privtrail/privtrail/entra"
)

// FuzzEncode feeds arbitrary user names, monitor reasons and documents
// through the encoder: the body is always a sequence of JSON objects, one
// per record, each event is the enriched record verbatim and parses to
// the same value, and the indexed fields hold only strings.
func FuzzEncode(f *testing.F) {
	f.Add("adm_alice@contoso.example", "upn=adm_alice clientAppUsed=IMAP4", `{"category":"SignInLogs"}`)
	f.Add("a\"b\\c\n\u2028\x00", "r\"}\n{\"event\":1}", "not json at all")
	f.Add("\xff\xfe", "\xed\xa0\x80", `{"time":"2024-01-01T00:00:00Z","category":"AuditLogs","properties":{"activityDisplayName":"x\u0000"}}`)
	f.Add("", "", "")
	f.Add("x", "y", `[1,2,3]`)
	f.Add("}", "{", "{}")
	f.Add("adm_grace@contoso.example", "daysSinceSignIn=125", `{"id":"d","recordType":"privilegedUser","scanDateTime":"2026-12-04T12:00:00Z","tenantId":"t","userId":"u","userPrincipalName":"a@b","accountEnabled":true}`)
	f.Fuzz(func(t *testing.T, upn, reason, raw string) {
		var recs []*entra.Record
		var d entra.Decoder

		// A Graph sign-in carrying the strings.
		doc, err := json.Marshal(map[string]any{
			"id": "1", "createdDateTime": "2024-03-13T19:15:41.6195833Z",
			"userPrincipalName": upn, "userDisplayName": reason, "userId": raw,
			"appDisplayName": raw, "status": map[string]any{"errorCode": 0, "failureReason": reason},
		})
		if err != nil {
			t.Fatal(err)
		}
		rec := &entra.Record{}
		if err := d.Decode(doc, rec); err != nil {
			t.Fatalf("decode %s: %v", doc, err)
		}
		recs = append(recs, rec)
		// raw as a document, when it is an Entra record.
		rec2 := &entra.Record{}
		if d.Decode([]byte(raw), rec2) == nil {
			recs = append(recs, rec2)
		}
		// raw as bytes that are no JSON object: the enriched record wraps it.
		if t := bytes.TrimSpace([]byte(raw)); len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
			recs = append(recs, &entra.Record{Raw: []byte(raw), Stream: entra.Stream(raw)})
		}
		for _, r := range recs {
			r.Actor.Privileged = len(upn)%2 == 0
			r.Hits = []entra.Hit{{ID: upn, Title: reason, Risk: raw, Source: "signin", Reason: reason, Notes: raw}, {ID: reason, Risk: "high"}}
		}

		for _, envelope := range []string{"diagnostic", "as_read"} {
			checkFuzzBody(t, recs, envelope, upn, reason, raw)
		}
	})
}

// checkFuzzBody encodes recs with the envelope and checks the body: one
// event per record, valid UTF-8, each event the record as the envelope
// writes it (the enriched record, or its diagnostic envelope), fields that
// HEC accepts.
func checkFuzzBody(t *testing.T, recs []*entra.Record, envelope, upn, reason, raw string) {
	t.Helper()
	{
		enc := NewEncoder(Config{Host: upn, Source: reason, Index: raw, Sourcetypes: Sourcetypes{SignIn: raw, Diagnostic: upn}, Envelope: envelope})
		var body []byte
		var enriched [][]byte
		var err error
		for _, r := range recs {
			e := r.AppendJSON(nil)
			if envelope == "diagnostic" && r.CanEnvelope() {
				enriched = append(enriched, r.AppendDiagnosticJSON(nil))
			} else {
				enriched = append(enriched, e)
			}
			body, err = enc.Encode(body, r, e)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
		}

		if !utf8.Valid(body) {
			t.Fatalf("body is not valid UTF-8: %q", body)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		for i := 0; ; i++ {
			var env struct {
				Event  json.RawMessage `json:"event"`
				Host   string          `json:"host"`
				Fields map[string]any  `json:"fields"`
			}
			err := dec.Decode(&env)
			if err == io.EOF {
				if i != len(recs) {
					t.Fatalf("%d events for %d records:\n%s", i, len(recs), body)
				}
				break
			}
			if err != nil {
				t.Fatalf("event %d: %v\n%s", i, err, body)
			}
			if i >= len(recs) {
				t.Fatalf("more events than records:\n%s", body)
			}
			if !bytes.Equal(env.Event, enriched[i]) {
				t.Fatalf("%s: event %d is not the record as written:\n%s\n%s", envelope, i, env.Event, enriched[i])
			}
			var a, b any
			if err := json.Unmarshal(env.Event, &a); err != nil {
				t.Fatalf("event %d does not parse: %v", i, err)
			}
			if err := json.Unmarshal(enriched[i], &b); err != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("event %d does not round-trip", i)
			}
			if utf8.ValidString(upn) && upn != "" && env.Host != upn {
				t.Fatalf("host %q, want %q", env.Host, upn)
			}
			for k, v := range env.Fields {
				switch v := v.(type) {
				case string:
				case []any:
					for _, e := range v {
						if _, ok := e.(string); !ok {
							t.Fatalf("field %s holds %T", k, e)
						}
					}
				default:
					t.Fatalf("field %s is %T", k, v)
				}
			}
			if ids, _ := env.Fields["privtrail_monitor"].([]any); len(ids) != 2 {
				t.Fatalf("privtrail_monitor %v, want two ids", env.Fields["privtrail_monitor"])
			}
		}
	}
}
