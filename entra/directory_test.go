package entra

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const directoryDir = "testdata/directory"

// directoryWants are the expectations for every document of
// testdata/directory, like sampleWants for the Entra samples.
var directoryWants = map[string]func(t *testing.T, r *Record){
	"privileged_user_pretty.json#0": func(t *testing.T, r *Record) {
		eq(t, "ID", r.ID, "dirscan-20261204T120000Z-0b229528-7664-5327-845d-4a430aad7f23")
		eq(t, "TenantID", r.TenantID, "72f988bf-86f1-41af-91ab-2d7cd011db47")
		eq(t, "Time", r.Time, mustTime(t, "2026-12-04T12:00:00Z"))
		eq(t, "OperationName", r.OperationName, "privilegedUser")
		eq(t, "Actor", r.Actor, Principal{ID: "0b229528-7664-5327-845d-4a430aad7f23", UPN: "adm_farid@contoso.example",
			DisplayName: "Farid (admin)", Type: "user"})
		eq(t, "Directory", r.Directory, Directory{
			RecordType: "privilegedUser", ScanTime: mustTime(t, "2026-12-04T12:00:00Z"), UserType: "Member",
			AccountEnabled: true, Created: mustTime(t, "2024-01-10T09:00:00Z"),
			LastSignIn: mustTime(t, "2026-11-30T08:12:00Z"), LastSignInSource: "graph", DaysSinceSignIn: 4,
			MFARegistered: true, MFAKnown: true, Methods: []string{"microsoftAuthenticatorPush", "fido2"},
			Roles: []RoleHeld{{Name: "Exchange Administrator", TemplateID: "29232cdf-9323-42fd-ade2-1d097af3e4de", Assignment: "eligible"}},
		})
	},
	"scan_20261204.jsonl#0": func(t *testing.T, r *Record) {
		eq(t, "UPN", r.Actor.UPN, "adm_grace@contoso.example")
		// 2026-08-01T10:00:00.5Z to 2026-12-04T12:00:00Z: 125 days and 2 hours.
		eq(t, "LastSignIn", r.Directory.LastSignIn, mustTime(t, "2026-08-01T10:00:00.5Z"))
		eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, 125)
		eq(t, "LastSignInSource", r.Directory.LastSignInSource, "agent")
		eq(t, "MFA", [2]bool{r.Directory.MFARegistered, r.Directory.MFAKnown}, [2]bool{false, true})
		eq(t, "Methods", r.Directory.Methods == nil, true) // []
		eq(t, "Roles", r.Directory.Roles, []RoleHeld{
			{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active"},
			{Name: "Privileged Role Administrator", TemplateID: "e8611ab8-c189-46e8-94e1-60213ab1f814", Assignment: "eligible"},
		})
	},
	"scan_20261204.jsonl#1": func(t *testing.T, r *Record) {
		// Never signed in, MFA registration unknown, no display name.
		eq(t, "Actor", r.Actor, Principal{ID: "c3e8d1f4-6a2b-4f7c-8e5d-9b1a0c7f2d64", UPN: "bg-02@contoso.example", Type: "user"})
		eq(t, "Directory", r.Directory, Directory{
			RecordType: "privilegedUser", ScanTime: mustTime(t, "2026-12-04T12:00:00Z"), AccountEnabled: true,
			LastSignInSource: "graph", DaysSinceSignIn: -1,
			Roles: []RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active"}},
		})
	},
	"scan_20261204.jsonl#2": func(t *testing.T, r *Record) {
		eq(t, "UPN", r.Actor.UPN, "vendor.ops_fabrikam.example#EXT#@contoso.example")
		eq(t, "UserType", r.Directory.UserType, "Guest")
		eq(t, "AccountEnabled", r.Directory.AccountEnabled, false)
		eq(t, "Created", r.Directory.Created, mustTime(t, "2025-02-17T08:45:12.1234567Z"))
		eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, 1) // exactly 24 h
		eq(t, "Methods", r.Directory.Methods, []string{"softwareOneTimePasscode"})
	},
}

func TestDirectoryDocuments(t *testing.T) {
	docs := loadSamples(t, directoryDir)
	seen := map[string]bool{}
	for _, doc := range docs {
		seen[doc.name] = true
		t.Run(doc.name, func(t *testing.T) {
			check, ok := directoryWants[doc.name]
			if !ok {
				t.Fatalf("no expectations for %s: add an entry to directoryWants", doc.name)
			}
			var d Decoder
			rec := Record{Origin: doc.name}
			if err := d.Decode(doc.data, &rec); err != nil {
				t.Fatal(err)
			}
			eq(t, "Origin", rec.Origin, doc.name)
			eq(t, "Stream", rec.Stream, StreamDirectory)
			eq(t, "Shape", rec.Shape, ShapePrivtrail)
			eq(t, "LogCategory", rec.LogCategory, "DirectoryScan")
			eq(t, "Time = ScanTime", rec.Time, rec.Directory.ScanTime)
			eq(t, "Actor.Type", rec.Actor.Type, "user")
			eq(t, "CorrelationID", rec.CorrelationID, "")
			eq(t, "Level", rec.Level, "")
			eq(t, "Actor.IP", rec.Actor.IP, "")
			// Nothing of the other streams is filled in.
			eq(t, "SignIn", rec.SignIn, SignIn{})
			eq(t, "Audit", rec.Audit.Targets == nil && rec.Audit.Category == "", true)
			eq(t, "AADDS", rec.AADDS, AADDS{})
			check(t, &rec)

			// Enriched output: the document plus the privtrail object,
			// which decodes again to the same record.
			out := rec.AppendJSON(nil)
			checkEnriched(t, doc.data, out)
			var v struct {
				Privtrail struct {
					Stream    string `json:"stream"`
					Shape     string `json:"shape"`
					EventTime string `json:"event_time"`
					User      struct {
						ID  string `json:"id"`
						UPN string `json:"upn"`
					} `json:"user"`
					Directory *struct {
						DaysSinceSignIn *int `json:"days_since_sign_in"`
					} `json:"directory"`
				} `json:"privtrail"`
			}
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatal(err)
			}
			p := v.Privtrail
			eq(t, "privtrail.stream", p.Stream, "directory")
			eq(t, "privtrail.shape", p.Shape, "privtrail")
			eq(t, "privtrail.event_time", p.EventTime, rec.Time.Format(time.RFC3339Nano))
			eq(t, "privtrail.user", [2]string{p.User.ID, p.User.UPN}, [2]string{rec.Actor.ID, rec.Actor.UPN})
			if p.Directory == nil || p.Directory.DaysSinceSignIn == nil || *p.Directory.DaysSinceSignIn != rec.Directory.DaysSinceSignIn {
				t.Errorf("privtrail.directory = %+v, want days_since_sign_in %d", p.Directory, rec.Directory.DaysSinceSignIn)
			}
			var again Record
			if err := d.Decode(out, &again); err != nil {
				t.Fatalf("the enriched output does not decode: %v", err)
			}
			again.Raw = rec.Raw
			again.Origin = rec.Origin
			eq(t, "decoded again", again, rec)
		})
	}
	for name := range directoryWants {
		if !seen[name] {
			t.Errorf("expected document %s not found", name)
		}
	}
}

// directoryDoc is a valid directory document as a map, for tests that
// change one member.
func directoryDoc() map[string]any {
	return map[string]any{
		"id":                 "dirscan-1",
		"recordType":         "privilegedUser",
		"scanDateTime":       "2026-12-04T12:00:00Z",
		"tenantId":           "t-1",
		"userId":             "u-1",
		"userPrincipalName":  "adm_a@contoso.example",
		"userDisplayName":    "A (admin)",
		"userType":           "Member",
		"accountEnabled":     true,
		"createdDateTime":    "2024-01-10T09:00:00Z",
		"lastSignInDateTime": "2026-11-30T08:12:00Z",
		"lastSignInSource":   "graph",
		"mfaRegistered":      true,
		"methodsRegistered":  []any{"fido2"},
		"roles":              []any{map[string]any{"name": "Global Administrator", "templateId": "62e90394-69f5-4237-9190-012177145e10", "assignment": "active"}},
	}
}

const absent = "\x00absent" // a member value meaning: delete the member

// withMembers returns directoryDoc with members set (or deleted) as JSON.
func withMembers(tb testing.TB, set map[string]any) string {
	tb.Helper()
	doc := directoryDoc()
	for k, v := range set {
		if v == absent {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

type directoryCase struct {
	name  string
	set   map[string]any // members changed in directoryDoc (absent: deleted)
	check func(t *testing.T, r *Record)
}

// directoryDecodeCases are valid directory documents for the paths the
// testdata documents do not cover. FuzzDecode uses them as seeds.
func directoryDecodeCases() []directoryCase {
	return []directoryCase{
		{"all members", nil, func(t *testing.T, r *Record) {
			eq(t, "ID", r.ID, "dirscan-1")
			eq(t, "TenantID", r.TenantID, "t-1")
			eq(t, "Actor", r.Actor, Principal{ID: "u-1", UPN: "adm_a@contoso.example", DisplayName: "A (admin)", Type: "user"})
			eq(t, "Directory", r.Directory, Directory{RecordType: "privilegedUser", ScanTime: mustTime(t, "2026-12-04T12:00:00Z"),
				UserType: "Member", AccountEnabled: true, Created: mustTime(t, "2024-01-10T09:00:00Z"),
				LastSignIn: mustTime(t, "2026-11-30T08:12:00Z"), LastSignInSource: "graph", DaysSinceSignIn: 4,
				MFARegistered: true, MFAKnown: true, Methods: []string{"fido2"},
				Roles: []RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active"}}})
		}},
		{"lastSignInDateTime null: days -1", map[string]any{"lastSignInDateTime": nil}, func(t *testing.T, r *Record) {
			eq(t, "LastSignIn", r.Directory.LastSignIn.IsZero(), true)
			eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, -1)
			eq(t, "LastSignInSource", r.Directory.LastSignInSource, "graph")
		}},
		{"lastSignInDateTime and source absent", map[string]any{"lastSignInDateTime": absent, "lastSignInSource": absent}, func(t *testing.T, r *Record) {
			eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, -1)
			eq(t, "LastSignInSource", r.Directory.LastSignInSource, "")
		}},
		{"Graph's year 1 for never", map[string]any{"lastSignInDateTime": "0001-01-01T00:00:00Z"}, func(t *testing.T, r *Record) {
			eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, -1)
		}},
		{"mfaRegistered null: unknown", map[string]any{"mfaRegistered": nil}, func(t *testing.T, r *Record) {
			eq(t, "MFA", [2]bool{r.Directory.MFARegistered, r.Directory.MFAKnown}, [2]bool{false, false})
		}},
		{"mfaRegistered absent: unknown", map[string]any{"mfaRegistered": absent}, func(t *testing.T, r *Record) {
			eq(t, "MFAKnown", r.Directory.MFAKnown, false)
		}},
		{"mfaRegistered false: known", map[string]any{"mfaRegistered": false}, func(t *testing.T, r *Record) {
			eq(t, "MFA", [2]bool{r.Directory.MFARegistered, r.Directory.MFAKnown}, [2]bool{false, true})
		}},
		{"optional members absent", map[string]any{"userDisplayName": absent, "userType": absent, "createdDateTime": absent,
			"methodsRegistered": absent, "roles": absent}, func(t *testing.T, r *Record) {
			eq(t, "DisplayName", r.Actor.DisplayName, "")
			eq(t, "UserType", r.Directory.UserType, "")
			eq(t, "Created", r.Directory.Created.IsZero(), true)
			eq(t, "Methods", r.Directory.Methods == nil, true)
			eq(t, "Roles", r.Directory.Roles == nil, true)
		}},
		{"optional members null", map[string]any{"userDisplayName": nil, "userType": nil, "createdDateTime": nil,
			"methodsRegistered": nil, "roles": nil}, func(t *testing.T, r *Record) {
			eq(t, "Methods", r.Directory.Methods == nil, true)
			eq(t, "Roles", r.Directory.Roles == nil, true)
		}},
		{"empty arrays", map[string]any{"methodsRegistered": []any{}, "roles": []any{}}, func(t *testing.T, r *Record) {
			eq(t, "Methods", r.Directory.Methods == nil, true)
			eq(t, "Roles", r.Directory.Roles == nil, true)
		}},
		{"role without templateId", map[string]any{"roles": []any{map[string]any{"name": "Custom Admin", "assignment": "eligible"},
			map[string]any{"name": "Security Administrator", "templateId": nil, "assignment": "active"}}}, func(t *testing.T, r *Record) {
			eq(t, "Roles", r.Directory.Roles, []RoleHeld{{Name: "Custom Admin", Assignment: "eligible"}, {Name: "Security Administrator", Assignment: "active"}})
		}},
		{"enumerations ignore case", map[string]any{"recordType": "PrivilegedUser", "lastSignInSource": "AGENT",
			"roles": []any{map[string]any{"name": "x", "assignment": "Eligible"}}}, func(t *testing.T, r *Record) {
			eq(t, "RecordType", r.Directory.RecordType, "privilegedUser")
			eq(t, "OperationName", r.OperationName, "privilegedUser")
			eq(t, "LastSignInSource", r.Directory.LastSignInSource, "agent")
			eq(t, "Assignment", r.Directory.Roles[0].Assignment, "eligible")
		}},
		{"source without a last sign-in", map[string]any{"lastSignInDateTime": nil, "lastSignInSource": "agent"}, func(t *testing.T, r *Record) {
			eq(t, "LastSignInSource", r.Directory.LastSignInSource, "agent")
			eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, -1)
		}},
		{"time zones and fractions", map[string]any{"scanDateTime": "2026-12-04T13:00:00.5+01:00", "lastSignInDateTime": "2026-12-03T08:00:00.5-05:00"},
			func(t *testing.T, r *Record) {
				eq(t, "Time", r.Time, mustTime(t, "2026-12-04T12:00:00.5Z"))
				if r.Time.Location() != time.UTC {
					t.Errorf("Time in %v, want UTC", r.Time.Location())
				}
				eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, 0) // 23 h
			}},
		{"a day less a nanosecond", map[string]any{"scanDateTime": "2026-12-04T12:00:00Z", "lastSignInDateTime": "2026-12-03T12:00:00.000000001Z"},
			func(t *testing.T, r *Record) { eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, 0) }},
		{"exactly 90 days", map[string]any{"scanDateTime": "2026-12-04T12:00:00Z", "lastSignInDateTime": "2026-09-05T12:00:00Z"},
			func(t *testing.T, r *Record) { eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, 90) }},
		{"last sign-in after the scan", map[string]any{"lastSignInDateTime": "2026-12-04T12:30:00Z"},
			func(t *testing.T, r *Record) { eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, 0) }},
		{"centuries", map[string]any{"lastSignInDateTime": "1601-01-01T00:00:00Z", "scanDateTime": "2026-01-01T00:00:00Z"},
			func(t *testing.T, r *Record) { eq(t, "DaysSinceSignIn", r.Directory.DaysSinceSignIn, 155228) }},
		{"unknown members ignored", map[string]any{"onPremisesSyncEnabled": true, "signInActivity": map[string]any{"x": 1},
			"privtrail": map[string]any{"stream": "signin"}}, func(t *testing.T, r *Record) {
			eq(t, "Stream", r.Stream, StreamDirectory)
		}},
		{"Entra-looking members do not change the shape", map[string]any{"time": "2020-01-01T00:00:00Z", "category": "SignInLogs",
			"activityDateTime": "2020-01-01T00:00:00Z", "properties": map[string]any{}}, func(t *testing.T, r *Record) {
			eq(t, "Stream", r.Stream, StreamDirectory)
			eq(t, "Time", r.Time, mustTime(t, "2026-12-04T12:00:00Z"))
		}},
	}
}

func TestDirectoryDecode(t *testing.T) {
	for _, tt := range directoryDecodeCases() {
		t.Run(tt.name, func(t *testing.T) {
			doc := withMembers(t, tt.set)
			r := decodeOK(t, doc)
			eq(t, "Stream", r.Stream, StreamDirectory)
			eq(t, "Shape", r.Shape, ShapePrivtrail)
			tt.check(t, r)
		})
	}
}

type directoryErrorCase struct {
	set  map[string]any // members changed in directoryDoc (absent: deleted)
	want string         // the reason after "directory record: "
}

// directoryErrorCases are invalid directory documents and their errors.
// FuzzDecode uses them as seeds.
func directoryErrorCases() []directoryErrorCase {
	role := func(kv ...any) []any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return []any{m}
	}
	return []directoryErrorCase{
		// Required members: absent, null, empty.
		{map[string]any{"id": absent}, "id: missing"},
		{map[string]any{"id": nil}, "id: missing"},
		{map[string]any{"id": ""}, "id: empty"},
		{map[string]any{"recordType": nil, "scanDateTime": "2026-12-04T12:00:00Z"}, "recordType: missing"},
		{map[string]any{"recordType": absent}, "recordType: missing"},
		{map[string]any{"scanDateTime": absent}, "scanDateTime: missing"},
		{map[string]any{"scanDateTime": nil}, "scanDateTime: missing"},
		{map[string]any{"tenantId": absent}, "tenantId: missing"},
		{map[string]any{"tenantId": ""}, "tenantId: empty"},
		{map[string]any{"userId": absent}, "userId: missing"},
		{map[string]any{"userPrincipalName": absent}, "userPrincipalName: missing"},
		{map[string]any{"userPrincipalName": ""}, "userPrincipalName: empty"},
		{map[string]any{"accountEnabled": absent}, "accountEnabled: missing"},
		{map[string]any{"accountEnabled": nil}, "accountEnabled: missing"},
		{map[string]any{"lastSignInSource": absent}, "lastSignInSource: missing"},
		{map[string]any{"lastSignInSource": nil}, "lastSignInSource: missing"},
		// Wrong types.
		{map[string]any{"id": 42}, "id: want a string, got number"},
		{map[string]any{"recordType": true}, "recordType: want a string, got boolean"},
		{map[string]any{"tenantId": []any{"t"}}, "tenantId: want a string, got array"},
		{map[string]any{"userId": map[string]any{}}, "userId: want a string, got object"},
		{map[string]any{"userDisplayName": 1}, "userDisplayName: want a string, got number"},
		{map[string]any{"userType": false}, "userType: want a string, got boolean"},
		{map[string]any{"accountEnabled": "true"}, "accountEnabled: want true or false, got string"},
		{map[string]any{"accountEnabled": 1}, "accountEnabled: want true or false, got number"},
		{map[string]any{"mfaRegistered": "yes"}, "mfaRegistered: want true or false, got string"},
		{map[string]any{"mfaRegistered": 0}, "mfaRegistered: want true or false, got number"},
		{map[string]any{"scanDateTime": 1764849600}, "scanDateTime: want a string, got number"},
		{map[string]any{"lastSignInDateTime": 1764849600}, "lastSignInDateTime: want a string, got number"},
		{map[string]any{"methodsRegistered": "fido2"}, "methodsRegistered: want an array, got string"},
		{map[string]any{"methodsRegistered": []any{"fido2", 3}}, "methodsRegistered[1]: want a string, got number"},
		{map[string]any{"methodsRegistered": []any{nil}}, "methodsRegistered[0]: want a string, got null"},
		{map[string]any{"methodsRegistered": []any{""}}, "methodsRegistered[0]: empty"},
		{map[string]any{"roles": map[string]any{"name": "x"}}, "roles: want an array, got object"},
		{map[string]any{"roles": []any{"Global Administrator"}}, "roles[0]: want an object, got string"},
		{map[string]any{"roles": role("assignment", "active")}, "roles[0].name: missing"},
		{map[string]any{"roles": role("name", 7, "assignment", "active")}, "roles[0].name: want a string, got number"},
		{map[string]any{"roles": role("name", "x", "templateId", 7, "assignment", "active")}, "roles[0].templateId: want a string, got number"},
		{map[string]any{"roles": role("name", "x")}, "roles[0].assignment: missing"},
		{map[string]any{"roles": role("name", "x", "assignment", "permanent")}, `roles[0].assignment: want active or eligible, got "permanent"`},
		{map[string]any{"roles": append(role("name", "x", "assignment", "active"), nil)}, "roles[1]: want an object, got null"},
		// Invalid values.
		{map[string]any{"recordType": "privilegedGroup"}, `recordType: want privilegedUser, got "privilegedGroup"`},
		{map[string]any{"scanDateTime": "yesterday"}, `scanDateTime: invalid time "yesterday"`},
		{map[string]any{"scanDateTime": ""}, "scanDateTime: empty"},
		{map[string]any{"createdDateTime": "2024-02-30T00:00:00Z"}, `createdDateTime: invalid time "2024-02-30T00:00:00Z"`},
		{map[string]any{"createdDateTime": ""}, `createdDateTime: invalid time ""`},
		{map[string]any{"lastSignInDateTime": "2026-11-30"}, `lastSignInDateTime: invalid time "2026-11-30"`},
		{map[string]any{"lastSignInSource": "portal"}, `lastSignInSource: want graph or agent, got "portal"`},
		{map[string]any{"lastSignInDateTime": nil, "lastSignInSource": 1}, "lastSignInSource: want a string, got number"},
		// The first problem, in the order of the format's table, is reported.
		{map[string]any{"userId": absent, "accountEnabled": "no", "tenantId": 1}, "tenantId: want a string, got number"},
	}
}

func TestDirectoryErrors(t *testing.T) {
	for _, tt := range directoryErrorCases() {
		doc := withMembers(t, tt.set)
		t.Run(tt.want, func(t *testing.T) {
			var d Decoder
			rec := Record{Origin: "scan.jsonl:3"}
			err := d.Decode([]byte(doc), &rec)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error = %v (%T), want *DecodeError\n%s", err, err, doc)
			}
			if want := "directory record: " + tt.want; de.Reason != want {
				t.Errorf("reason = %q, want %q\n%s", de.Reason, want, doc)
			}
			if rec.Origin != "scan.jsonl:3" || string(rec.Raw) != doc || rec.Stream != "" || rec.Directory.Roles != nil {
				t.Errorf("record after error: %+v", rec)
			}
		})
	}
}

// TestShapeRecognition: every Entra sample and hand-written case still
// decodes to the stream it did before directory records existed, a
// directory document is never read as one of them (it has
// createdDateTime, which alone would make a Graph sign-in), and what
// decides is scanDateTime / recordType.
func TestShapeRecognition(t *testing.T) {
	for _, doc := range loadSamples(t, localSamplesDir) {
		want := sampleWants[doc.name].stream
		var d Decoder
		var r Record
		if err := d.Decode(doc.data, &r); err != nil {
			t.Fatalf("%s: %v", doc.name, err)
		}
		if r.Stream != want || r.Stream == StreamDirectory || r.Shape == ShapePrivtrail {
			t.Errorf("%s: stream %s shape %s, want stream %s", doc.name, r.Stream, r.Shape, want)
		}
		// Microsoft 365's numeric RecordType does not make a directory record.
		m := withTopMember(t, doc.data, "RecordType", 15)
		if err := d.Decode(m, &r); err != nil || r.Stream != want {
			t.Errorf("%s with RecordType 15: stream %s, %v; want %s", doc.name, r.Stream, err, want)
		}
		// A string recordType or any scanDateTime does: validation then
		// names what is missing.
		for _, add := range []struct {
			key  string
			val  any
			want string
		}{
			{"recordType", "privilegedUser", "directory record: "},
			{"scanDateTime", nil, "directory record: "},
		} {
			err := d.Decode(withTopMember(t, doc.data, add.key, add.val), &r)
			if err == nil || !strings.HasPrefix(err.Error(), add.want) {
				t.Errorf("%s with %s: %v, want a directory record error", doc.name, add.key, err)
			}
		}
	}
	wantStream := map[string]Stream{
		"graph sign-in, 9 fractional digits and -07:00": StreamSignIn,
		"Level as string":                    StreamAudit,
		"Level as int":                       StreamAudit,
		"level lower-case":                   StreamAudit,
		"callerIpAddress <null> on an audit": StreamAudit,
		"callerIpAddress used when the sign-in has no ipAddress":   StreamSignIn,
		"resultType as error code when status.errorCode is absent": StreamSignIn,
		"numbers given as strings":                                 StreamSignIn,
		"graph v1 non-interactive from isInteractive":              StreamSignIn,
		"graph beta signInEventTypes wins over isInteractive":      StreamSignIn,
		"graph beta service principal sign-in":                     StreamSignIn,
		"ServicePrincipalSignInLogs":                               StreamSignIn,
		"ManagedIdentitySignInLogs":                                StreamSignIn,
		"NonInteractiveUserSignInLogs":                             StreamSignIn,
		"riskEventTypes as a JSON string":                          StreamSignIn,
		"Administrative elevateAccess":                             StreamActivity,
		"Administrative with caller and Start":                     StreamActivity,
		"Azure Activity REST shape":                                StreamActivity,
		"AADDS 4673":                                               StreamAADDS,
		"AADDS event id from operationName":                        StreamAADDS,
		"audit initiated by an app, Graph shape":                   StreamAudit,
		"key case varies, exact spelling wins":                     StreamAudit,
		"null everywhere":                                          StreamSignIn,
		"properties null":                                          StreamAudit,
		"time unparseable falls back to createdDateTime":           StreamSignIn,
	}
	for _, c := range decodeCases() {
		want, ok := wantStream[c.name]
		if !ok {
			t.Errorf("decode case %q: add its stream to wantStream", c.name)
			continue
		}
		r := decodeOK(t, c.doc)
		if r.Stream != want || r.Shape == ShapePrivtrail {
			t.Errorf("%s: stream %s, want %s", c.name, r.Stream, wantStream[c.name])
		}
	}
	for _, doc := range loadSamples(t, directoryDir) {
		r := decodeOK(t, string(doc.data))
		if r.Stream != StreamDirectory {
			t.Errorf("%s: stream %s", doc.name, r.Stream)
		}
	}
	// Neither key: the old error.
	var d Decoder
	var r Record
	err := d.Decode([]byte(`{"CreationTime":"2026-01-01T00:00:00","RecordType":15,"Operation":"UserLoggedIn"}`), &r)
	if err == nil || err.Error() != "not an Entra log record: no createdDateTime/activityDateTime/time/category" {
		t.Errorf("Microsoft 365 record: %v", err)
	}
}

// withTopMember returns the JSON object doc with one more top-level member.
func withTopMember(tb testing.TB, doc []byte, key string, val any) []byte {
	tb.Helper()
	doc = bytes.TrimSpace(doc)
	k, _ := json.Marshal(key)
	v, err := json.Marshal(val)
	if err != nil {
		tb.Fatal(err)
	}
	out := append([]byte("{"), k...)
	out = append(out, ':')
	out = append(out, v...)
	out = append(out, ',')
	return append(out, doc[1:]...)
}

func TestStreams(t *testing.T) {
	want := []Stream{StreamSignIn, StreamAudit, StreamActivity, StreamAADDS, StreamDirectory,
		StreamRisk, StreamGraphActivity, StreamOther}
	if len(Streams) != len(want) {
		t.Fatalf("Streams = %v, want %v", Streams, want)
	}
	// Appended: the older streams keep their positions (per-stream
	// counters are indexed by them).
	for i, s := range want {
		if Streams[i] != s {
			t.Errorf("Streams[%d] = %s, want %s", i, Streams[i], s)
		}
	}
}

// TestDirectoryDecoderReuse: directory records decoded between Entra
// records with one Decoder equal those of a fresh one.
func TestDirectoryDecoderReuse(t *testing.T) {
	docs := append(loadSamples(t, directoryDir), loadSamples(t, localSamplesDir)...)
	var d Decoder
	recs := make([]Record, len(docs))
	for i, doc := range docs {
		if err := d.Decode(doc.data, &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i, doc := range docs {
		var fresh Decoder
		var want Record
		if err := fresh.Decode(doc.data, &want); err != nil {
			t.Fatal(err)
		}
		eq(t, doc.name, recs[i], want)
	}
}

func TestDirectoryAppendJSONAllocs(t *testing.T) {
	var r Record
	var d Decoder
	if err := d.Decode(loadSamples(t, directoryDir)[1].data, &r); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 16<<10)
	if n := testing.AllocsPerRun(100, func() { buf = r.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON allocates %v times per call", n)
	}
}

func TestDaysSince(t *testing.T) {
	scan := mustTime(t, "2026-12-04T12:00:00Z")
	for _, tc := range []struct {
		last string
		want int
	}{
		{"2026-12-04T12:00:00Z", 0},
		{"2026-12-03T12:00:00Z", 1},
		{"2026-12-03T12:00:00.000000001Z", 0},
		{"2026-12-03T11:59:59.999999999Z", 1},
		{"2026-12-02T12:00:01Z", 1},
		{"2025-12-04T12:00:00Z", 365},
		{"2026-12-05T00:00:00Z", 0},
	} {
		if got := daysSince(mustTime(t, tc.last), scan); got != tc.want {
			t.Errorf("daysSince(%s, %s) = %d, want %d", tc.last, scan.Format(time.RFC3339), got, tc.want)
		}
	}
	if got := daysSince(time.Time{}, scan); got != -1 {
		t.Errorf("unknown: %d", got)
	}
}

func BenchmarkDecodeDirectory(b *testing.B) {
	data := loadSamples(b, directoryDir)[1].data
	var d Decoder
	var rec Record
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := d.Decode(data, &rec); err != nil {
			b.Fatal(err)
		}
	}
}
