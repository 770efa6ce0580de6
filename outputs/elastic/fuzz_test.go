package elastic

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/privtrail/privtrail/entra"
)

// FuzzEncode: whatever the record holds, an item is one create action
// line and one document line, both valid JSON without duplicate keys.
func FuzzEncode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "records", "*.json"))
	for _, p := range files {
		raw, _ := os.ReadFile(p)
		f.Add(raw, "adm_alice@contoso.example", "Alice \"Admin\"", "high", int64(1772000000), uint8(0), 52.3, 4.9)
	}
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","category":"SignInLogs","properties":{"a.b":NaN,"":1,"x":01,"riskLevelDuringSignIn":"h","risk_level_during_sign_in":"l"}}`),
		"\x00\n\u2028\xff", "</script>", "HIGH", int64(0), uint8(1), math.NaN(), math.Inf(1))
	f.Add([]byte(`{"activityDateTime":"2026-01-01T00:00:00Z","targetResources":[{"modifiedProperties":[1,{"newValue":{"x":[]}}]},"s"]}`),
		"", "@", "", int64(-1), uint8(1), 91.0, -181.0)
	enc := NewEncoder(defaultNaming)
	var dec entra.Decoder
	f.Fuzz(func(t *testing.T, raw []byte, s1, s2, risk string, sec int64, kind uint8, lat, lon float64) {
		stream := entra.Streams[int(kind)%len(entra.Streams)]
		shape := entra.ShapeDiagnostic
		if kind&8 != 0 {
			shape = entra.ShapeGraph
		}
		hostile := &entra.Record{
			Raw: raw, Stream: stream, Shape: shape, Time: time.Unix(sec, 0), ID: s1, TenantID: s2,
			CorrelationID: s1, OperationName: s2, Level: s1, LogCategory: s2,
			Actor: entra.Principal{ID: s1, UPN: s2, DisplayName: s1, IP: s2, Type: "user", Privileged: true,
				Roles: []entra.RoleHeld{{Name: s1, TemplateID: s2, Assignment: risk, Via: s1}}},
			SignIn: entra.SignIn{UserAgent: s1, FailureReason: s2, AdditionalDetails: s1, Status: risk, IPAddress: s1, ASN: int(sec),
				Location: entra.Location{City: s1, State: s2, Country: risk, Latitude: lat, Longitude: lon}},
			Audit: entra.Audit{Result: risk, ResultReason: s1, OperationType: s2, Category: s1,
				Targets: []entra.Target{{Principal: entra.Principal{ID: s2, UPN: s1, Type: "User", Known: true}}}},
			Activity: entra.Activity{OperationName: s1, Status: s2, ResourceID: s1},
			AADDS:    entra.AADDS{EventID: int(sec), Computer: s1, Domain: s2},
			Risk:     entra.Risk{Kind: risk, EventType: s1, Level: s2, Location: entra.Location{City: s2, Country: s1, Latitude: lat, Longitude: lon}},
			GraphActivity: entra.GraphActivity{RequestMethod: s1, RequestURI: s2, ResponseStatusCode: int(sec % 1000), UserAgent: s1,
				ServicePrincipalID: s2, AppID: s1, RequestID: s2, SignInActivityID: s1},
			Context: entra.Context{
				Geo:       &entra.Geo{CountryISO: s1, City: s2, Lat: lat, Lon: lon, ASN: uint(kind), ASOrg: s1},
				Device:    &entra.Device{ID: s1, Reason: s2, Browser: risk, OS: s1},
				WorkHours: &entra.WorkHours{LocalTime: s1, Schedule: s2},
			},
			Hits: []entra.Hit{{ID: s1, Title: s2, Risk: risk, Source: s1, Reason: s2, Notes: s1}},
		}
		recs := []*entra.Record{hostile}
		decoded := &entra.Record{}
		if dec.Decode(raw, decoded) == nil {
			recs = append(recs, decoded)
		}
		for _, rec := range recs {
			out, err := enc.Encode([]byte("prefix"), rec, nil)
			if err != nil {
				if !rec.Time.IsZero() {
					t.Fatalf("Encode: %v", err)
				}
				continue
			}
			if string(out[:6]) != "prefix" {
				t.Fatal("dst was not appended to")
			}
			doc := checkItem(t, out[6:], defaultNaming.DataStream(rec.Stream, rec.LogCategory))
			// Invalid UTF-8 was replaced (checkItem) and the document says so.
			flagged := get(doc, "privtrail.replaced_invalid_utf8") == true
			switch {
			case !utf8.Valid(raw) && !flagged:
				t.Fatalf("invalid UTF-8 in the original, no privtrail.replaced_invalid_utf8: %s", out[6:])
			case utf8.Valid(raw) && utf8.ValidString(s1) && utf8.ValidString(s2) && utf8.ValidString(risk) &&
				get(doc, "privtrail.replaced_invalid_utf8") != nil:
				t.Fatalf("privtrail.replaced_invalid_utf8 without invalid UTF-8: %s", out[6:])
			}
		}
	})
}
