package entra

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/privtrail/privtrail/internal/deadletter"
)

var fuzzSeeds = []string{
	`{"id":"1","createdDateTime":"2024-05-01T09:15:30.123456789-07:00","userPrincipalName":"a@contoso.com","status":{"errorCode":50126}}`,
	`{"time":"2024-01-01T00:00:00Z","category":"AuditLogs","Level":"4","callerIpAddress":"<null>","properties":{"targetResources":[{"Type":"User","modifiedProperties":[{"newValue":"\"x\""}]}]}}`,
	`{"time":"2024-05-06T07:08:09Z","category":"Administrative","operationName":"Microsoft.Authorization/elevateAccess/action","resultType":"Success","identity":{"claims":{"name":"a"}}}`,
	`{"time":"2024-03-05T09:12:44Z","operationName":"4673","category":"PrivilegeUse","properties":{"EventID":4673,"SubjectUserName":"u","SubjectDomainName":"D"}}`,
	`{"eventTimestamp":"2024-05-06T07:08:09.5Z","operationName":{"value":"x"},"category":{"value":"Administrative"}}`,
	`{"activityDateTime":"2024-01-01T00:00:00Z","privtrail":{"stream":"audit"},"privtr\u0061il":1}`,
	`{"time":"2024-01-01T00:00:00Z","category":"NetworkSecurityGroupEvent"}`,
	`{"time":"9/9/2022 9:59:27 AM","category":"RiskyUsers","properties":{"id":"u","riskLastUpdatedDateTime":"2022-09-09T9:59:27.958Z"}}`,
	`{"time":"2024-01-01T00:00:00Z","category":"MicrosoftGraphActivityLogs","properties":"{\"wids\":\" a, b,\",\"userId\":\"u\"}"}`,
	`{"riskEventType":"x","detectedDateTime":"2024-01-01T00:00:00Z","servicePrincipalId":"s"}`,
	`{"id":"d","recordType":"privilegedUser","scanDateTime":"2026-12-04T12:00:00Z","tenantId":"t","userId":"u","userPrincipalName":"a@b","accountEnabled":true,"lastSignInDateTime":null,"mfaRegistered":null,"roles":[{"name":"r","assignment":"active"}]}`,
	`{"scanDateTime":null,"RecordType":15,"createdDateTime":"2024-01-01T00:00:00Z"}`,
	`[1,2]`,
	`{"a":NaN}`,
	"{\"id\":\"1\",\"createdDateTime\":\"2026-03-02T08:00:00Z\",\"userPrincipalName\":\"\xff\xfe\xc3(\",\"userId\":\"u1\"}",
	"{\n \"time\":\"2024-01-01T00:00:00Z\",\"category\":\"AuditLogs\",\"privtrail\":\"\xed\xa0\x80\",\"k\xe2\x82\":\"Ren\xe9\"\n}",
}

func FuzzDecode(f *testing.F) {
	for _, doc := range loadSamples(f, localSamplesDir) {
		f.Add(doc.data)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	// Every category: the public records and the one-per-category file.
	for _, doc := range readRecords(f, "testdata/every_category.jsonl") {
		f.Add(doc)
	}
	for _, name := range []string{"elastic_RiskyUsers.jsonl", "elastic_UserRiskEvents.jsonl", "elastic_AzureADGraphActivityLogs.jsonl",
		"graphdocs_v1_riskdetection_list_response.json", "graphdocs_v1_riskyuser_list_response.json"} {
		for _, doc := range readRecords(f, "testdata/samples/categories/"+name) {
			f.Add(doc)
		}
	}
	for _, c := range decodeCases() {
		f.Add([]byte(c.doc))
	}
	// Directory documents: the testdata ones, the valid variants and the
	// invalid ones.
	for _, doc := range loadSamples(f, directoryDir) {
		f.Add(doc.data)
	}
	for _, c := range directoryDecodeCases() {
		f.Add([]byte(withMembers(f, c.set)))
	}
	for _, c := range directoryErrorCases() {
		f.Add([]byte(withMembers(f, c.set)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoder
		var rec Record
		err := d.Decode(data, &rec)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is a %T, not a *DecodeError", err, err)
			}
			if len(de.Reason) > deadletter.MaxReason {
				t.Fatalf("reason is %d bytes: %q", len(de.Reason), de.Reason)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Decode accepted invalid JSON %q", data)
		}
		out := rec.AppendJSON(nil)
		checkLine(t, data, out, !utf8.Valid(data))
		checkAsEncodingJSONReads(t, data, out)
		if n := countPrivtrail(t, out); n != 1 {
			t.Fatalf("output has %d privtrail keys: %q", n, out)
		}
		if rec.Stream == StreamDirectory {
			checkDirectoryRecord(t, &d, &rec, data, out)
		}
		// Decoding again with the same Decoder gives the same record.
		var again Record
		if err := d.Decode(data, &again); err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(rec)
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Fatalf("second decode differs:\n%s\n%s", a, b)
		}
	})
}

// checkDirectoryRecord asserts what every decoded directory record
// satisfies, and that privtrail's output for it decodes to the same record.
func checkDirectoryRecord(t *testing.T, d *Decoder, rec *Record, data, out []byte) {
	t.Helper()
	dir := &rec.Directory
	switch {
	case rec.Shape != ShapePrivtrail || rec.LogCategory != LogCategoryDirectoryScan:
		t.Fatalf("shape %q category %q", rec.Shape, rec.LogCategory)
	case rec.ID == "" || rec.TenantID == "" || rec.Actor.ID == "" || rec.Actor.UPN == "" || rec.Actor.Type != "user":
		t.Fatalf("required fields empty: %+v", rec)
	case !rec.Time.Equal(dir.ScanTime) || rec.Time.IsZero() || rec.Time.Location() != time.UTC:
		t.Fatalf("time %v, scan time %v", rec.Time, dir.ScanTime)
	case dir.RecordType != RecordTypePrivilegedUser || rec.OperationName != dir.RecordType:
		t.Fatalf("record type %q", dir.RecordType)
	case (dir.DaysSinceSignIn == -1) != dir.LastSignIn.IsZero() || dir.DaysSinceSignIn < -1:
		t.Fatalf("last sign-in %v, days %d", dir.LastSignIn, dir.DaysSinceSignIn)
	case !dir.LastSignIn.IsZero() && dir.LastSignInSource == "":
		t.Fatal("last sign-in without a source")
	case dir.MFARegistered && !dir.MFAKnown:
		t.Fatal("MFA registered but not known")
	}
	for _, r := range dir.Roles {
		if r.Name == "" || (r.Assignment != "active" && r.Assignment != "eligible") {
			t.Fatalf("role %+v", r)
		}
	}
	var again Record
	if err := d.Decode(out, &again); err != nil {
		t.Fatalf("the output of a directory record does not decode: %v\n in %q\nout %q", err, data, out)
	}
	again.Raw = rec.Raw
	a, _ := json.Marshal(rec)
	b, _ := json.Marshal(&again)
	if !bytes.Equal(a, b) {
		t.Fatalf("output decodes to another record:\n%s\n%s", a, b)
	}
}

func countPrivtrail(t *testing.T, doc []byte) int {
	t.Helper()
	n := 0
	for _, m := range topMembers(t, doc) {
		if m.key == "privtrail" {
			n++
		}
	}
	return n
}

// FuzzAppendJSON puts arbitrary strings into the fields the encoder writes
// and checks that the output is valid JSON that gives them back (invalid
// UTF-8 bytes read back as U+FFFD).
func FuzzAppendJSON(f *testing.F) {
	docs := append(loadSamples(f, localSamplesDir), loadSamples(f, directoryDir)...)
	f.Add(uint8(0), "admin@contoso.com", "Admin", "reason \"quoted\"", "notes\nline 2", "Zürich", 47.37)
	f.Add(uint8(7), "", "\x00\x1f\u2028", "\xff\xfe", "</script>", "", math.Inf(1))
	f.Add(uint8(11), "a\\b", "😀", "\t", "\u2029", "\xed\xa0\x80", math.Copysign(0, -1))
	f.Fuzz(func(t *testing.T, which uint8, upn, name, reason, notes, city string, lat float64) {
		doc := docs[int(which)%len(docs)]
		var d Decoder
		var rec Record
		if err := d.Decode(doc.data, &rec); err != nil {
			t.Fatal(err)
		}
		rec.Actor.UPN = upn
		rec.Actor.DisplayName = name
		rec.Actor.Roles = []RoleHeld{{Name: name, TemplateID: upn, Assignment: reason, Via: notes}}
		rec.Context.Geo = &Geo{City: city, Lat: lat, Lon: lat}
		rec.Context.Device = &Device{ID: upn, Reason: reason, OS: notes}
		rec.Context.WorkHours = &WorkHours{LocalTime: city, Schedule: name}
		rec.Hits = []Hit{{ID: upn, Title: name, Risk: city, Source: notes, Reason: reason, Notes: notes, Tags: []string{name, reason}}}

		out := rec.AppendJSON(nil)
		valid := true
		for _, s := range []string{upn, name, reason, notes, city} {
			valid = valid && utf8.ValidString(s) // not of the concatenation: halves join
		}
		checkLine(t, doc.data, out, !valid)
		var v struct {
			Privtrail struct {
				User struct {
					UPN         string     `json:"upn"`
					DisplayName string     `json:"display_name"`
					Roles       []RoleHeld `json:"roles"`
				} `json:"user"`
				Geo struct {
					City string   `json:"city"`
					Lat  *float64 `json:"lat"`
				} `json:"geo"`
				Device    Device    `json:"device"`
				WorkHours WorkHours `json:"work_hours"`
				Monitors  []Hit     `json:"monitors"`
			} `json:"privtrail"`
		}
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatal(err)
		}
		p := v.Privtrail
		want := func(s string) string { return string([]rune(s)) }
		check := func(what, got, in string) {
			if got != want(in) {
				t.Errorf("%s: got %q, want %q", what, got, want(in))
			}
		}
		check("upn", p.User.UPN, upn)
		check("display_name", p.User.DisplayName, name)
		check("role name", p.User.Roles[0].Name, name)
		check("role via", p.User.Roles[0].Via, notes)
		check("geo city", p.Geo.City, city)
		check("device reason", p.Device.Reason, reason)
		check("device os", p.Device.OS, notes)
		check("local_time", p.WorkHours.LocalTime, city)
		check("reason", p.Monitors[0].Reason, reason)
		check("notes", p.Monitors[0].Notes, notes)
		check("title", p.Monitors[0].Title, name)
		switch {
		case math.IsNaN(lat) || math.IsInf(lat, 0):
			if p.Geo.Lat != nil {
				t.Errorf("lat %v encoded as %v", lat, *p.Geo.Lat)
			}
		case p.Geo.Lat == nil || *p.Geo.Lat != lat:
			t.Errorf("lat %v read back as %v", lat, p.Geo.Lat)
		}
	})
}

// checkLine asserts what every line AppendJSON writes satisfies: valid
// UTF-8, valid JSON, one line, and "replaced_invalid_utf8":true in the
// privtrail object exactly when replaced.
func checkLine(t *testing.T, raw, out []byte, replaced bool) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Fatalf("AppendJSON output is not valid UTF-8:\n in %q\nout %q", raw, out)
	}
	if !json.Valid(out) {
		t.Fatalf("AppendJSON output is not valid JSON:\n in %q\nout %q", raw, out)
	}
	if bytes.IndexByte(out, '\n') >= 0 {
		t.Fatalf("AppendJSON output spans several lines: %q", out)
	}
	var v struct {
		Privtrail struct {
			Replaced *bool `json:"replaced_invalid_utf8"`
		} `json:"privtrail"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if got := v.Privtrail.Replaced; (got != nil) != replaced || (got != nil && !*got) {
		t.Fatalf("replaced_invalid_utf8 %v, want %v:\n in %q\nout %q", got, replaced, raw, out)
	}
}

// FuzzAppendJSONRaw gives AppendJSON any bytes as the original document,
// decoded or not, and a monitor reason: the line is valid UTF-8 and says
// whether it replaced invalid bytes; when the original is a JSON object
// (as encoding/json sees it, which does not check UTF-8) the line is valid
// JSON and reads, minus the privtrail object, as encoding/json reads the
// original.
func FuzzAppendJSONRaw(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "")
	}
	f.Add([]byte("{\"a\":\"\xff\xfe\xc3(\"}"), "upn=\xff")
	f.Add([]byte("{\"\xc0\xaf\":[\"\xed\xa0\x80\",{\"privtrail\":\"\xe2\x82\"}],\"privtrail\":1}"), "")
	f.Add([]byte("{\r\n\"a\":\"Ren\xe9\"\r\n}"), "ok")
	f.Add([]byte("\xff not json {"), "\xf4\x90\x80\x80")
	f.Add([]byte("  {\"a\":\"\xf0\x9f\x98\"}\t"), "\U0001F600")
	f.Fuzz(func(t *testing.T, raw []byte, reason string) {
		rec := Record{Raw: raw, Stream: StreamAudit, Hits: []Hit{{ID: "m", Reason: reason}}}
		out := rec.AppendJSON(nil)
		if !utf8.Valid(out) {
			t.Fatalf("not valid UTF-8:\n in %q\nout %q", raw, out)
		}
		if bytes.IndexByte(out, '\n') >= 0 {
			t.Fatalf("several lines: %q", out)
		}
		if !json.Valid(raw) {
			return // Raw is expected to be what Decode accepted.
		}
		checkLine(t, raw, out, !utf8.Valid(raw) || !utf8.ValidString(reason))
		if doc := trimWS(raw); len(doc) > 0 && doc[0] == '{' {
			checkAsEncodingJSONReads(t, raw, out)
		}
	})
}
