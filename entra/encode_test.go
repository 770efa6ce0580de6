package entra

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// sampleByName returns the decoded sample record named file#index.
func sampleByName(tb testing.TB, name string) *Record {
	tb.Helper()
	for _, doc := range loadSamples(tb, localSamplesDir) {
		if doc.name == name {
			var d Decoder
			rec := &Record{}
			if err := d.Decode(doc.data, rec); err != nil {
				tb.Fatal(err)
			}
			return rec
		}
	}
	tb.Fatalf("sample %s not found", name)
	return nil
}

// enrichAuditRole fills the context the privilege and monitor stages
// would add to the "Add member to role" sample.
func enrichAuditRole(r *Record) {
	r.Actor.Known = true
	r.Actor.Privileged = true
	r.Actor.Roles = []RoleHeld{
		{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active", Via: "direct", Privileged: true},
		{Name: "Security Reader", TemplateID: "5d6b6bb7-de71-4623-b4af-96380a352509", Assignment: "eligible", Via: "group:7f9d1c2e-0000-4000-8000-000000000001"},
	}
	r.Audit.Targets[0].Known = true // User1: known, not privileged
	r.Audit.Targets[1].Known = true // the role itself: not a user, not listed
	r.Hits = []Hit{{
		ID: "pt-audit-001", Title: "Privileged role assigned", Risk: "high", Source: "entra-audit",
		Reason: `Role.DisplayName = "Privileged Role Administrator"`, Notes: "Check the PIM request.\nEscalate if none.",
	}}
}

// directoryByName returns the decoded directory document named file#index
// of testdata/directory.
func directoryByName(tb testing.TB, name string) *Record {
	tb.Helper()
	for _, doc := range loadSamples(tb, directoryDir) {
		if doc.name == name {
			var d Decoder
			rec := &Record{}
			if err := d.Decode(doc.data, rec); err != nil {
				tb.Fatal(err)
			}
			return rec
		}
	}
	tb.Fatalf("directory document %s not found", name)
	return nil
}

// enrichDirectory fills what the privilege and monitor stages would add
// to adm_grace's directory record (125 days without a sign-in, no MFA
// method registered).
func enrichDirectory(r *Record) {
	r.Actor.Known = true
	r.Actor.Privileged = true
	r.Actor.Roles = []RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active", Via: "direct", Privileged: true}}
	r.Hits = []Hit{
		{ID: "review.unused_privileged_account", Title: "Privileged account not used", Risk: "medium", Source: "directory",
			Reason: "daysSinceSignIn=125 lastSignInSource=agent"},
		{ID: "directory.mfa_not_registered", Title: "Privileged account without an MFA method", Risk: "high", Source: "directory",
			Reason: "upn=adm_grace@contoso.example"},
	}
}

func enrichSignIn(r *Record) {
	r.Actor.Known = true
	r.Actor.Privileged = true
	r.Actor.Emergency = true
	r.Actor.Roles = []RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active", Via: "direct", Privileged: true}}
	r.Context.Geo = &Geo{CountryISO: "US", City: "Bellevue", Lat: 47.6101, Lon: -122.2015, ASN: 8075, ASOrg: "MICROSOFT-CORP-MSN-AS-BLOCK"}
	r.Context.Device = &Device{ID: "8bfcb982-6856-4402-924c-ada2486321cc", PAW: false, Reason: "device not in PAW inventory", Browser: "Chrome 72.0.3626", OS: "Windows 10"}
	r.Context.WorkHours = &WorkHours{Inside: false, LocalTime: "2019-03-12T09:02:15-07:00", Schedule: "us-west business hours"}
	r.Hits = []Hit{
		{ID: "pt-signin-002", Title: "Emergency access account used", Risk: "critical", Source: "entra-signin", Reason: "emergencyAccess"},
		{ID: "pt-signin-007", Title: "Privileged sign-in outside work hours", Risk: "medium", Source: "entra-signin", Reason: "ctx.workHours.inside == false"},
	}
}

// sigmaHit is the hit of a Sigma rule with ATT&CK tags and one of
// another namespace.
var sigmaHit = Hit{
	ID: "sigma.3b9df78d-5511-4eaf-b38b-3790ea90b6de", Title: "Brute force on one account - 5 wrong passwords within 10 minutes",
	Risk: "high", Source: "signin", Reason: "UserPrincipalName=adm_grace@contoso.example count=5",
	Notes: "Five or more wrong passwords for one user within 10 minutes. | sigma: signin_brute_force.yml level high",
	Tags:  []string{"attack.credential-access", "attack.t1110.001", "attack.initial-access", "attack.t1078.004", "tlp.green"},
}

func TestAppendJSONGolden(t *testing.T) {
	reprocessed := func() *Record {
		r := sampleByName(t, "splunk_security_content_aad_eventhub_records.jsonl#1")
		enrichAuditRole(r)
		first := r.AppendJSON(nil)
		var d Decoder
		again := &Record{}
		if err := d.Decode(first, again); err != nil {
			t.Fatal(err)
		}
		again.Hits = []Hit{{ID: "pt-audit-001", Title: "Privileged role assigned", Risk: "high", Source: "entra-audit", Reason: "second pass"}}
		return again
	}
	tests := []struct {
		name string
		rec  func() *Record
	}{
		{"audit_add_member_to_role", func() *Record {
			r := sampleByName(t, "splunk_security_content_aad_eventhub_records.jsonl#1")
			enrichAuditRole(r)
			return r
		}},
		{"audit_app_initiator", func() *Record {
			return sampleByName(t, "splunk_security_content_aad_eventhub_records.jsonl#0")
		}},
		{"signin_eventhub_pretty", func() *Record {
			r := sampleByName(t, "entra_docs_eventhub_signin_record_example.json#0")
			enrichSignIn(r)
			return r
		}},
		{"signin_graph_v1", func() *Record {
			return sampleByName(t, "graph_v1_signin_list_response.json#0")
		}},
		{"signin_sigma_hit", func() *Record {
			// A Sigma monitor's hit: the rule's tags as written, after notes.
			r := sampleByName(t, "entra_docs_eventhub_signin_record_example.json#0")
			r.Hits = []Hit{sigmaHit}
			return r
		}},
		{"reprocessed_output", reprocessed},
		{"directory_unused_admin", func() *Record {
			r := directoryByName(t, "scan_20261204.jsonl#0")
			enrichDirectory(r)
			return r
		}},
		{"directory_pretty", func() *Record {
			return directoryByName(t, "privileged_user_pretty.json#0")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec()
			got := append(r.AppendJSON(nil), '\n')
			path := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("AppendJSON differs from %s (run with -update to accept):\n got %s\nwant %s", path, got, want)
			}
			checkEnriched(t, r.Raw, got[:len(got)-1])
		})
	}
}

type member struct {
	key string
	raw json.RawMessage
}

// topMembers lists the members of a JSON object with encoding/json.
func topMembers(tb testing.TB, doc []byte) []member {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		tb.Fatalf("not an object: %v %v: %s", tok, err, doc)
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatal(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			tb.Fatal(err)
		}
		ms = append(ms, member{key: tok.(string), raw: raw})
	}
	return ms
}

// checkEnriched asserts that out is valid single-line JSON holding the
// original's members byte for byte (after compaction), minus any
// "privtrail" member, followed by exactly one "privtrail" member.
func checkEnriched(t *testing.T, orig, out []byte) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("output is not valid JSON: %s", out)
	}
	if bytes.IndexByte(out, '\n') >= 0 {
		t.Errorf("output spans several lines")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, orig); err != nil {
		t.Fatal(err)
	}
	var want []member
	for _, m := range topMembers(t, compact.Bytes()) {
		if m.key != "privtrail" {
			want = append(want, m)
		}
	}
	got := topMembers(t, out)
	if len(got) != len(want)+1 {
		t.Fatalf("output has %d members, want %d + privtrail", len(got), len(want))
	}
	for i, m := range want {
		if got[i].key != m.key || !bytes.Equal(got[i].raw, m.raw) {
			t.Errorf("member %d: got %q:%s, want %q:%s", i, got[i].key, got[i].raw, m.key, m.raw)
		}
	}
	if last := got[len(got)-1]; last.key != "privtrail" || !bytes.HasPrefix(last.raw, []byte("{")) {
		t.Errorf("last member is %q:%s, want the privtrail object", last.key, last.raw)
	}
	// The fast path keeps the original bytes as a prefix.
	if bytes.IndexByte(orig, '\n') < 0 && !bytes.Contains(orig, []byte("privtrail")) {
		o := bytes.TrimSpace(orig)
		if !bytes.HasPrefix(out, o[:len(o)-1]) {
			t.Error("output does not start with the original document")
		}
	}
}

func TestAppendJSONAllSamples(t *testing.T) {
	for _, doc := range loadSamples(t, localSamplesDir) {
		t.Run(doc.name, func(t *testing.T) {
			var d Decoder
			var r Record
			if err := d.Decode(doc.data, &r); err != nil {
				t.Fatal(err)
			}
			out := r.AppendJSON([]byte("prefix"))
			if !bytes.HasPrefix(out, []byte("prefix")) {
				t.Fatal("AppendJSON did not append")
			}
			checkEnriched(t, doc.data, out[len("prefix"):])

			// The privtrail object says what the record is.
			var v struct {
				Privtrail struct {
					Stream    string `json:"stream"`
					Shape     string `json:"shape"`
					EventTime string `json:"event_time"`
					User      struct {
						UPN        string `json:"upn"`
						Privileged *bool  `json:"privileged"`
					} `json:"user"`
				} `json:"privtrail"`
			}
			if err := json.Unmarshal(out[len("prefix"):], &v); err != nil {
				t.Fatal(err)
			}
			eq(t, "stream", v.Privtrail.Stream, string(r.Stream))
			eq(t, "shape", v.Privtrail.Shape, string(r.Shape))
			eq(t, "event_time", v.Privtrail.EventTime, sampleWants[doc.name].time)
			eq(t, "upn", v.Privtrail.User.UPN, r.Actor.UPN)
			if v.Privtrail.User.Privileged == nil || *v.Privtrail.User.Privileged {
				t.Errorf("user.privileged = %v, want false", v.Privtrail.User.Privileged)
			}
		})
	}
}

func TestAppendJSONShapes(t *testing.T) {
	rec := func(raw string) *Record { return &Record{Raw: []byte(raw), Stream: StreamAudit} }
	const pt = `"privtrail":{"stream":"audit"}`
	tests := []struct {
		name, raw, want string
	}{
		{"empty object", `{}`, `{` + pt + `}`},
		{"empty object with spaces", "  { }\t", `{ ` + pt + `}`},
		{"space before brace", `{"a":1 }`, `{"a":1 ,` + pt + `}`},
		{"surrounding whitespace", " {\"a\":1}\n", `{"a":1,` + pt + `}`},
		{"pretty printed", "{\n  \"a\": [1, 2],\n  \"b\": \"x y\"\n}\n", `{"a":[1,2],"b":"x y",` + pt + `}`},
		{"CRLF", "{\r\n\"a\":1\r\n}", `{"a":1,` + pt + `}`},
		{"existing privtrail", `{"a":1,"privtrail":{"old":true},"b":2}`, `{"a":1,"b":2,` + pt + `}`},
		{"only privtrail", `{"privtrail":1}`, `{` + pt + `}`},
		{"privtrail twice", `{"privtrail":1,"a":"privtrail","privtrail":[2]}`, `{"a":"privtrail",` + pt + `}`},
		{"escaped privtrail key", `{"privtr\u0061il":{},"x":1}`, `{"x":1,` + pt + `}`},
		{"nested privtrail kept", `{"a":{"privtrail":1}}`, `{"a":{"privtrail":1},` + pt + `}`},
		{"privtrail as a value only", `{"privtrail_x":"privtrail"}`, `{"privtrail_x":"privtrail",` + pt + `}`},
		{"escaped other key", `{"\u0061":1}`, `{"\u0061":1,` + pt + `}`},
		{"pretty printed with privtrail", "{\n \"privtrail\": {\"stream\": \"signin\"},\n \"a\": 1\n}", `{"a":1,` + pt + `}`},
		{"not an object", `[1,2]`, `{"raw":"[1,2]",` + pt + `}`},
		{"not JSON, multi-line", "{\n\"a\":}", `{"raw":"{\n\"a\":}",` + pt + `}`},
		{"empty raw", ``, `{` + pt + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(rec(tt.raw).AppendJSON(nil))
			if got != tt.want {
				t.Errorf("AppendJSON(%q)\n got %s\nwant %s", tt.raw, got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

func TestAppendJSONOneLine(t *testing.T) {
	// A pretty-printed Graph page element is compacted.
	r := sampleByName(t, "graph_v1_directoryaudit_list_response_ex1.json#0")
	if bytes.IndexByte(r.Raw, '\n') < 0 {
		t.Fatal("sample element expected to be multi-line")
	}
	out := r.AppendJSON(nil)
	if bytes.IndexByte(out, '\n') >= 0 || !json.Valid(out) {
		t.Fatalf("output: %s", out)
	}
}

func TestAppendJSONNonFinite(t *testing.T) {
	r := &Record{Raw: []byte(`{"a":1}`), Context: Context{Geo: &Geo{Lat: math.NaN(), Lon: math.Inf(-1)}}}
	got := string(r.AppendJSON(nil))
	if want := `{"a":1,"privtrail":{"geo":{"lat":null,"lon":null}}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// privtrail.geo is the Geo as encoding/json writes it (its json tags).
func TestAppendJSONGeoNames(t *testing.T) {
	for _, g := range []Geo{
		{CountryISO: "DE", CountryName: "Germany", RegionName: "Land Berlin", ContinentName: "Europe", City: "Berlin",
			Lat: 52.52, Lon: 13.405, ASN: 3320, ASOrg: "Deutsche Telekom AG"},
		{CountryISO: "CH", CountryName: "Switzerland", ContinentName: "Europe"},
		{RegionName: "Noord-Holland \"quoted\""},
	} {
		r := &Record{Raw: []byte(`{}`), Context: Context{Geo: &g}}
		want, _ := json.Marshal(map[string]map[string]Geo{"privtrail": {"geo": g}})
		if got := r.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

func TestAppendJSONTargets(t *testing.T) {
	r := &Record{Raw: []byte(`{}`)}
	r.Audit.Targets = []Target{
		{Principal: Principal{ID: "1", UPN: "known@x", Type: "User", Known: true}},
		{Principal: Principal{ID: "2", UPN: "unknown@x", Type: "User"}},
		{Principal: Principal{ID: "3", UPN: "priv@x", Type: "user", Privileged: true}},
		{Principal: Principal{ID: "4", DisplayName: "Global Administrator", Type: "Role", Known: true, Privileged: true}},
	}
	got := string(r.AppendJSON(nil))
	want := `{"privtrail":{"targets":[{"id":"1","upn":"known@x","privileged":false,"emergency_access":false},` +
		`{"id":"3","upn":"priv@x","privileged":true,"emergency_access":false}]}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestAppendJSONAllocs(t *testing.T) {
	r := sampleByName(t, "splunk_security_content_aad_eventhub_records.jsonl#1")
	enrichAuditRole(r)
	buf := make([]byte, 0, 16<<10)
	if n := testing.AllocsPerRun(100, func() { buf = r.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON allocates %v times per call", n)
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain ascii", `"plain ascii"`},
		{`quote " backslash \ slash /`, `"quote \" backslash \\ slash /"`},
		{"nl\ncr\rtab\t", `"nl\ncr\rtab\t"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"\b\f", `"\u0008\u000c"`},
		{"héllo wörld 😀", `"héllo wörld 😀"`},
		{"bad \xff utf8 \xc3", `"bad \ufffd utf8 \ufffd"`},
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`}, // a UTF-16 surrogate encoded in UTF-8
		{"line\u2028sep\u2029", `"line\u2028sep\u2029"`},
		{"<script>&", `"<script>&"`},
	}
	for _, tt := range tests {
		got := string(AppendJSONString(nil, tt.in))
		if got != tt.want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if gotB := string(AppendJSONString(nil, []byte(tt.in))); gotB != got {
			t.Errorf("AppendJSONString([]byte %q) = %s, want %s", tt.in, gotB, got)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("%s: %v", got, err)
		} else if back != string([]rune(tt.in)) {
			t.Errorf("round trip of %q gave %q", tt.in, back)
		}
	}
}

// plainASCII stops at the first byte that JSON does not take as it is,
// for every byte value at every position of a string longer than a word
// (a special byte's borrow must not hide a later one, nor mark an earlier).
func TestPlainASCII(t *testing.T) {
	for _, n := range []int{7, 8, 17} {
		for pos := range n {
			for c := range 256 {
				for _, d := range []byte{0x00, 0x1f, ' ', '"', '#', '\\', 0x7f, 0x80, 0xc3, 0xff} {
					b := []byte("abcdefghijklmnopq")[:n]
					b[pos] = byte(c)
					if pos+1 < n {
						b[pos+1] = d
					}
					want := 0
					for want < n && b[want] >= 0x20 && b[want] < 0x80 && b[want] != '"' && b[want] != '\\' {
						want++
					}
					if got := plainASCII(b); got != want {
						t.Fatalf("%q: %d, want %d", b, got, want)
					}
					if got := plainASCII(string(b)); got != want {
						t.Fatalf("string %q: %d, want %d", b, got, want)
					}
				}
			}
		}
	}
}

// Whatever the bytes, AppendJSONString writes one valid JSON string that
// reads back as the input with invalid UTF-8 replaced.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain ascii and then some", "quote \" in a long string", "\x00\x01 ctl", "héllo wörld 😀 and more", "bad \xff utf8 \xc3", "line\u2028sep\u2029 tail"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: %s: %v", s, got, err)
		}
		if want := string([]rune(s)); back != want {
			t.Fatalf("%q: read back %q, want %q", s, back, want)
		}
		if b := AppendJSONString(nil, []byte(s)); string(b) != string(got) {
			t.Fatalf("%q: []byte gives %s, string %s", s, b, got)
		}
	})
}

// BenchmarkAppendJSONString appends the strings of a sign-in: GUIDs, a
// user agent, a URL, names with non-ASCII letters.
func BenchmarkAppendJSONString(b *testing.B) {
	strs := []string{"6b1f1c2e-7a3d-4f5e-9c8b-0a1b2c3d4e5f", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
		"https://login.microsoftonline.com/common/oauth2/v2.0/authorize", "Müller, Jürgen", "adm_alice@contoso.example", "Success", "a \"quoted\" word"}
	n := 0
	for _, s := range strs {
		n += len(s)
	}
	b.SetBytes(int64(n))
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = buf[:0]
		for _, s := range strs {
			buf = AppendJSONString(buf, s)
		}
	}
}

// probeUPN is the user name of a fault probe's record: two bytes that are
// never UTF-8 and a lead byte cut short by "(".
const probeUPN = "\xff\xfe\xc3("

// TestAppendJSONInvalidUTF8: every invalid byte becomes U+FFFD, in the
// original document (copied as U+FFFD itself) and in the privtrail object
// (escaped, as AppendJSONString writes it), and the object says so. The
// result reads, minus the privtrail object, as encoding/json reads the
// original.
func TestAppendJSONInvalidUTF8(t *testing.T) {
	const fffd = "\uFFFD"
	const flag = `,"replaced_invalid_utf8":true}`
	probe := `{"id":"1","createdDateTime":"2026-03-02T08:00:00Z","userPrincipalName":"` + probeUPN + `","userId":"u1"}`
	decoded := func(doc string) func(t *testing.T) *Record {
		return func(t *testing.T) *Record {
			var d Decoder
			rec := &Record{}
			if err := d.Decode([]byte(doc), rec); err != nil {
				t.Fatal(err)
			}
			return rec
		}
	}
	raw := func(doc string) func(*testing.T) *Record {
		return func(*testing.T) *Record { return &Record{Raw: []byte(doc), Stream: StreamAudit} }
	}
	const pt = `"privtrail":{"stream":"audit"`
	tests := []struct {
		name string
		rec  func(*testing.T) *Record
		want string
	}{
		{"fault probe, decoded", decoded(probe),
			`{"id":"1","createdDateTime":"2026-03-02T08:00:00Z","userPrincipalName":"` + fffd + fffd + fffd + `(","userId":"u1",` +
				`"privtrail":{"stream":"signin","shape":"graph","category":"NonInteractiveUserSignInLogs","event_time":"2026-03-02T08:00:00Z",` +
				`"user":{"id":"u1","upn":"\ufffd\ufffd\ufffd(","privileged":false,"emergency_access":false}` + flag + `}`},
		{"surrogate encoded in UTF-8", raw("{\"a\":\"\xed\xa0\x80\"}"), `{"a":"` + fffd + fffd + fffd + `",` + pt + flag + `}`},
		{"overlong slash", raw("{\"a\":\"\xc0\xaf\"}"), `{"a":"` + fffd + fffd + `",` + pt + flag + `}`},
		{"cut at the end of a string", raw("{\"a\":\"x\xe2\x82\"}"), `{"a":"x` + fffd + fffd + `",` + pt + flag + `}`},
		{"in a key", raw("{\"k\xff\":1}"), `{"k` + fffd + `":1,` + pt + flag + `}`},
		{"Latin-1", raw("{\"a\":\"Ren\xe9\"}"), `{"a":"Ren` + fffd + `",` + pt + flag + `}`},
		{"pretty printed", raw("{\n  \"a\": \"\xff\"\n}"), `{"a":"` + fffd + `",` + pt + flag + `}`},
		{"with a privtrail member", raw("{\"privtrail\":{\"x\":\"\xff\"},\"a\":\"\xfe\"}"), `{"a":"` + fffd + `",` + pt + flag + `}`},
		{"not an object", raw("[\"\xff\"]"), `{"raw":"[\"` + fffd + `\"]",` + pt + flag + `}`},
		{"valid non-ASCII is kept", raw(`{"a":"héllo 😀 ` + fffd + `"}`), `{"a":"héllo 😀 ` + fffd + `",` + pt + `}}`},
		{"only in a privtrail string", func(*testing.T) *Record {
			return &Record{Raw: []byte(`{"a":1}`), Stream: StreamAudit, Hits: []Hit{{ID: "m", Reason: "upn=" + probeUPN}}}
		}, `{"a":1,` + pt + `,"monitors":[{"id":"m","title":"","risk":"","source":"","reason":"upn=\ufffd\ufffd\ufffd("}]` + flag + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec(t)
			got := r.AppendJSON([]byte("prefix"))
			if string(got[:6]) != "prefix" {
				t.Fatal("AppendJSON did not append")
			}
			got = got[6:]
			if string(got) != tt.want {
				t.Errorf("AppendJSON(%q)\n got %s\nwant %s", r.Raw, got, tt.want)
			}
			if !utf8.Valid(got) || !json.Valid(got) {
				t.Fatalf("not valid UTF-8 JSON: %q", got)
			}
			checkAsEncodingJSONReads(t, r.Raw, got)
		})
	}
}

// checkAsEncodingJSONReads asserts that out, the enriched JSON of raw,
// minus its privtrail member reads as encoding/json reads raw (which
// decodes each invalid byte as U+FFFD) minus any privtrail member, when
// raw is a JSON object.
func checkAsEncodingJSONReads(t *testing.T, raw, out []byte) {
	t.Helper()
	var want, got map[string]any
	if json.Unmarshal(raw, &want) != nil {
		return
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	delete(want, "privtrail")
	delete(got, "privtrail")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("output reads as\n%#v\nencoding/json reads the original as\n%#v", got, want)
	}
}
