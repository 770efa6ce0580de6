package qradar

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/privtrail/privtrail/entra"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden and the QRadar mapping in qradar-mapping")

func TestGolden(t *testing.T) {
	variants := []struct {
		suffix string
		mod    func(*Config)
	}{
		{"leef.lf", nil},
		{"leef.octet", func(c *Config) { c.Framing = "octet-counting" }},
		{"json.lf", func(c *Config) { c.Format = "json" }},
		{"json.octet", func(c *Config) { c.Format = "json"; c.Framing = "octet-counting" }},
	}
	for _, gc := range goldenCases {
		for _, v := range variants {
			name := gc.name + "." + v.suffix
			t.Run(name, func(t *testing.T) {
				rec := gc.record(t)
				enc := NewEncoder(testConfig(v.mod))
				got := mustEncode(t, enc, rec, rec.AppendJSON(nil))
				checkGolden(t, name+".txt", got)
			})
		}
	}
	// The other delimiters and udp, on the sign-in with hits.
	for _, v := range []struct {
		suffix string
		mod    func(*Config)
	}{
		{"leef.caret.udp", func(c *Config) { c.Delimiter = "^"; c.Transport = "udp"; c.Facility = "authpriv" }},
		{"leef.pipe.lf", func(c *Config) { c.Delimiter = "|" }},
	} {
		name := "signin_hits." + v.suffix
		t.Run(name, func(t *testing.T) {
			rec := goldenCases[0].record(t)
			got := mustEncode(t, NewEncoder(testConfig(v.mod)), rec, nil)
			checkGolden(t, name+".txt", got)
		})
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (go test -update rewrites it)\n got: %q\nwant: %q", name, got, want)
	}
}

// The golden LEEF events parse back: header, PRI, attributes.
func TestGoldenParses(t *testing.T) {
	rec := goldenCases[0].record(t)
	enc := NewEncoder(testConfig(nil))
	msgs := unframe(t, mustEncode(t, enc, rec, nil), false)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	s := parseSyslog(t, msgs[0])
	if s.pri != "130" { // local0 (16) * 8 + critical (2)
		t.Errorf("PRI %s, want 130", s.pri)
	}
	// The sign-in's event time: its createdDateTime (2023-10-24T20:01:11.9490387Z),
	// not the envelope's later time of logging, to the millisecond.
	if s.version != "1" || s.timestamp != "2023-10-24T20:01:11.949Z" || s.host != "collector-01" || s.app != "privtrail" || s.procid != "-" || s.msgid != "signin" || s.sd != "-" {
		t.Errorf("header %+v", s)
	}
	ev := parseLEEF(t, s.msg)
	if ev.header != [5]string{"privtrail", "privtrail", "1.4.0", "breakglass.signin", "x09"} {
		t.Errorf("LEEF header %q", ev.header)
	}
	want := map[string]string{
		"devTime": "Oct 24 2023 20:01:11.949 GMT", "devTimeFormat": "MMM dd yyyy HH:mm:ss.SSS z",
		"cat": "signin", "logCategory": "SignInLogs", "sev": "8", "usrName": "user15@splunkresearch.onmicrosoft.com",
		"src": "1.2.3.4", "role": "Global Administrator, Security Administrator", "privileged": "true", "emergency": "true",
		"operation": "interactive", "result": "interrupted", "errorCode": "50076", "country": "US", "paw": "false",
		"workHoursInside": "false", "privtrailRisk": "high",
		"privtrailMonitors": "breakglass.signin,signin.mfa_interrupt,pim.elevation_not_paw",
		"privtrailReason":   "upn=user15@splunkresearch.onmicrosoft.com status=failure",
	}
	for k, v := range want {
		if ev.attrs[k] != v {
			t.Errorf("%s=%q, want %q", k, ev.attrs[k], v)
		}
	}
	if _, ok := ev.attrs["identSrc"]; ok {
		t.Error("identSrc on a failed sign-in")
	}
	// A successful sign-in carries identSrc and a stream:operation event ID.
	plain := goldenCases[1].record(t)
	ev = parseLEEF(t, parseSyslog(t, unframe(t, mustEncode(t, enc, plain, nil), false)[0]).msg)
	if ev.header[3] != "signin:interactive" || ev.attrs["identSrc"] != "131.107.159.37" || ev.attrs["sev"] != "1" || ev.attrs["privtrailRisk"] != "none" {
		t.Errorf("plain sign-in: %q %v", ev.header, ev.attrs)
	}
}

// Directory records: MSGID and cat directory, the scan time, the account,
// the stream's own attributes, and roles from the scan when the role map
// gave none.
func TestDirectoryLEEF(t *testing.T) {
	enc := NewEncoder(testConfig(nil))
	parse := func(rec *entra.Record) (syslogMsg, leefEvent) {
		s := parseSyslog(t, unframe(t, mustEncode(t, enc, rec, nil), false)[0])
		return s, parseLEEF(t, s.msg)
	}
	rec := goldenCases[3].record(t) // directory_hits
	rec.Directory.Methods = []string{"fido2", "microsoftAuthenticator|Push"}
	s, ev := parse(rec)
	if s.msgid != "directory" || s.timestamp != "2026-12-04T12:00:00.000Z" || ev.header[3] != "directory.mfa_not_registered" {
		t.Errorf("header %+v %q", s, ev.header)
	}
	want := map[string]string{
		"devTime": "Dec 04 2026 12:00:00.000 GMT", "cat": "directory", "sev": "8", "usrName": "adm_grace@contoso.example",
		"userId": "5f1c7a2e-3b9d-4c61-9a7e-2d8f0b6c4e13", "role": "Global Administrator", "privileged": "true",
		"operation": "privilegedUser", "accountEnabled": "true", "userType": "Member", "lastSignIn": "1785578400500",
		"lastSignInSource": "agent", "daysSinceSignIn": "125", "mfaRegistered": "false",
		"mfaMethods": "fido2,microsoftAuthenticator|Push", "privtrailRisk": "high",
		"recordId": "dirscan-20261204T120000Z-5f1c7a2e-3b9d-4c61-9a7e-2d8f0b6c4e13",
	}
	for k, v := range want {
		if ev.attrs[k] != v {
			t.Errorf("%s=%q, want %q", k, ev.attrs[k], v)
		}
	}
	for _, k := range []string{"src", "identSrc", "result", "resource", "country", "deviceId"} {
		if _, ok := ev.attrs[k]; ok {
			t.Errorf("%s on a directory record", k)
		}
	}

	// Never signed in, MFA unknown, no role map entry: the scan's roles,
	// daysSinceSignIn -1, no lastSignIn, mfaRegistered unknown, and a
	// stream:operation event ID.
	_, ev = parse(goldenCases[4].record(t))
	if ev.header[3] != "directory:privilegedUser" || ev.attrs["role"] != "Global Administrator" || ev.attrs["daysSinceSignIn"] != "-1" ||
		ev.attrs["mfaRegistered"] != "unknown" || ev.attrs["privileged"] != "false" || ev.attrs["sev"] != "1" {
		t.Errorf("never signed in: %q %v", ev.header, ev.attrs)
	}
	for _, k := range []string{"lastSignIn", "userType", "mfaMethods"} {
		if _, ok := ev.attrs[k]; ok {
			t.Errorf("%s written though unknown: %v", k, ev.attrs)
		}
	}
}

func TestSeverity(t *testing.T) {
	enc := NewEncoder(testConfig(func(c *Config) { c.Facility = "auth" }))
	for _, tc := range []struct {
		risks    []string
		pri, sev string
		risk     string
	}{
		{nil, "38", "1", "none"},
		{[]string{"low"}, "37", "3", "low"},
		{[]string{"low", "medium"}, "36", "5", "medium"},
		{[]string{"medium", "HIGH", "low"}, "34", "8", "high"},
		{[]string{"bogus"}, "37", "3", "low"},
		{[]string{"critical"}, "33", "10", "critical"},
	} {
		rec := &entra.Record{Stream: entra.StreamAudit, Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)}
		for i, r := range tc.risks {
			rec.Hits = append(rec.Hits, entra.Hit{ID: "m" + string(rune('a'+i)), Risk: r})
		}
		s := parseSyslog(t, strings.TrimSuffix(string(mustEncode(t, enc, rec, nil)), "\n"))
		ev := parseLEEF(t, s.msg)
		if s.pri != tc.pri || ev.attrs["sev"] != tc.sev || ev.attrs["privtrailRisk"] != tc.risk {
			t.Errorf("%v: PRI %s sev %s risk %s, want %s %s %s", tc.risks, s.pri, ev.attrs["sev"], ev.attrs["privtrailRisk"], tc.pri, tc.sev, tc.risk)
		}
		if s.timestamp != "2026-01-02T03:04:05.000Z" {
			t.Errorf("timestamp %s", s.timestamp)
		}
	}
}

func TestNilValuesAndHeaderSanitising(t *testing.T) {
	enc := NewEncoder(testConfig(func(c *Config) {
		c.Hostname = "host name\twith ünïcode"
		c.AppName = strings.Repeat("a", 60)
		c.Vendor = "Ven|dor\n"
	}))
	out := string(mustEncode(t, enc, &entra.Record{}, nil))
	want := "<134>1 - host_name_with__n_code " + strings.Repeat("a", 48) + " - - - LEEF:2.0|Ven\uFFFDdor |privtrail|1.4.0|unknown|x09|sev=1\tprivileged=false\temergency=false\tprivtrailRisk=none\n"
	if out != want {
		t.Fatalf("got  %q\nwant %q", out, want)
	}
}

func TestSubstitutionRule(t *testing.T) {
	for _, tc := range []struct {
		delim   string
		in, out string
	}{
		{"\t", "a\tb", "a b"},
		{"\t", "a\r\nb", "a  b"},
		{"\t", "x\x00y\x7fz\u0085w\u2028v\u2029u", "x y z w v u"},
		{"\t", "k=v|w^\\\"'", "k=v|w^\\\"'"},
		{"\t", "bad\xffutf8\xc3", "bad\uFFFDutf8\uFFFD"},
		{"\t", "ünïcødé ✓ 管理者", "ünïcødé ✓ 管理者"},
		{"^", "a^b\tc|d", "a\uFFFDb c|d"},
		{"|", "a^b|c", "a^b\uFFFDc"},
	} {
		enc := NewEncoder(testConfig(func(c *Config) { c.Delimiter = tc.delim }))
		if got := string(enc.appendValue(nil, tc.in)); got != tc.out {
			t.Errorf("delimiter %q: %q -> %q, want %q", tc.delim, tc.in, got, tc.out)
		}
	}
	if got := string(appendLEEFHeader(nil, "a|b\tc\xff")); got != "a\uFFFDb c\uFFFD" {
		t.Errorf("header field: %q", got)
	}
}

func TestJSONMessage(t *testing.T) {
	enc := NewEncoder(testConfig(func(c *Config) { c.Format = "json" }))
	rec := goldenCases[0].record(t)
	enriched := rec.AppendJSON(nil)
	out := mustEncode(t, enc, rec, enriched)
	s := parseSyslog(t, strings.TrimSuffix(string(out), "\n"))
	if s.msg != string(enriched) {
		t.Fatalf("MSG is not the enriched record:\n%s", s.msg)
	}
	// Without the runner's JSON the encoder makes it.
	if again := mustEncode(t, enc, rec, nil); !bytes.Equal(again, out) {
		t.Fatal("encoding without enriched differs")
	}
	// Raw control bytes and invalid UTF-8 never reach the wire.
	dirty := []byte("{\"a\":\r\n\"x\xffy\"}")
	out = mustEncode(t, enc, rec, dirty)
	if got := parseSyslog(t, strings.TrimSuffix(string(out), "\n")).msg; got != "{\"a\":  \"x\uFFFDy\"}" {
		t.Fatalf("got %q", got)
	}
}

func TestOctetCounting(t *testing.T) {
	enc := NewEncoder(testConfig(func(c *Config) { c.Framing = "octet-counting" }))
	var stream []byte
	var want []string
	for _, gc := range goldenCases {
		rec := gc.record(t)
		lf := mustEncode(t, NewEncoder(testConfig(nil)), rec, nil)
		want = append(want, strings.TrimSuffix(string(lf), "\n"))
		var err error
		stream, err = enc.Encode(stream, rec, nil) // appended to earlier messages
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := unframe(t, stream, true); !slices.Equal(got, want) {
		t.Fatalf("octet-counted stream\n got %q\nwant %q", got, want)
	}
}

func TestUDPSizeLimit(t *testing.T) {
	rec := goldenCases[0].record(t)
	enc := NewEncoder(testConfig(func(c *Config) { c.Transport = "udp"; c.MaxUDPBytes = 480 }))
	dst := []byte("previous")
	out, err := enc.Encode(dst, rec, nil)
	if err == nil || !strings.Contains(err.Error(), "max_udp_bytes (480)") {
		t.Fatalf("want a max_udp_bytes error, got %v", err)
	}
	if string(out) != "previous" {
		t.Fatalf("dst changed on error: %q", out)
	}
	enc = NewEncoder(testConfig(func(c *Config) { c.Transport = "udp" }))
	out = mustEncode(t, enc, rec, nil)
	if bytes.HasSuffix(out, []byte("\n")) || len(out) > 1472 {
		t.Fatalf("udp datagram: %d bytes, %q", len(out), out[len(out)-5:])
	}
}

func TestEncodeAllocs(t *testing.T) {
	rec := goldenCases[0].record(t)
	enc := NewEncoder(testConfig(func(c *Config) { c.Framing = "octet-counting" }))
	buf := make([]byte, 0, 64<<10)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = enc.Encode(buf[:0], rec, nil)
	})
	if allocs > 1 { // TargetUsers allocates for audits; a sign-in allocates nothing
		t.Errorf("%v allocations per encode", allocs)
	}
	if !utf8.Valid(buf) {
		t.Error("invalid UTF-8")
	}
}

func BenchmarkEncodeLEEF(b *testing.B) {
	rec := goldenCases[0].record(b)
	enc := NewEncoder(testConfig(nil))
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = enc.Encode(buf[:0], rec, nil)
	}
	b.SetBytes(int64(len(buf)))
}

// TestInvalidUTF8SameRuleLEEFAndJSON: a fault probe's record whose user
// name holds bytes that are not UTF-8 comes out the same in both formats:
// each invalid byte is U+FFFD, and the JSON says it replaced some. The
// JSON message is the enriched record the runner hands every JSON output,
// unchanged.
func TestInvalidUTF8SameRuleLEEFAndJSON(t *testing.T) {
	const probeUPN = "\xff\xfe\xc3(@contoso.example"
	const want = "\uFFFD\uFFFD\uFFFD(@contoso.example"
	doc := `{"id":"1","createdDateTime":"2026-03-02T08:00:00Z","userPrincipalName":"` + probeUPN +
		`","userDisplayName":"Ren` + "\xe9" + `","userId":"u1","status":{"errorCode":0}}`
	var dec entra.Decoder
	rec := &entra.Record{}
	if err := dec.Decode([]byte(doc), rec); err != nil {
		t.Fatal(err)
	}
	rec.Hits = []entra.Hit{{ID: "signin.test", Risk: "high", Reason: "upn=" + rec.Actor.UPN}}

	leef := parseLEEF(t, checkOneMessage(t, NewEncoder(testConfig(nil)), rec, "lf").msg)
	if got := leef.attrs["usrName"]; got != want {
		t.Errorf("LEEF usrName %q, want %q", got, want)
	}
	if got := leef.attrs["privtrailReason"]; got != "upn="+want {
		t.Errorf("LEEF privtrailReason %q, want %q", got, "upn="+want)
	}

	enriched := rec.AppendJSON(nil)
	for _, envelope := range []string{"as_read", "diagnostic"} {
		// as_read: the enriched record the runner hands every JSON output,
		// unchanged; diagnostic (the default): the Graph sign-in in the
		// Azure Monitor envelope, the same bytes as properties.
		wantMsg := string(enriched)
		if envelope == "diagnostic" {
			wantMsg = string(rec.AppendDiagnosticJSON(nil))
		}
		for _, in := range [][]byte{enriched, nil} {
			enc := NewEncoder(testConfig(func(c *Config) { c.Format = "json"; c.Envelope = envelope }))
			out := mustEncode(t, enc, rec, in)
			msg := parseSyslog(t, unframe(t, out, false)[0]).msg
			if msg != wantMsg {
				t.Errorf("%s: JSON message is not the record as written:\n got %q\nwant %q", envelope, msg, wantMsg)
			}
			type graph struct {
				UPN  string `json:"userPrincipalName"`
				Name string `json:"userDisplayName"`
			}
			var v struct {
				graph
				Properties *graph `json:"properties"`
				Identity   string `json:"identity"`
				Privtrail  struct {
					User     struct{ UPN string }
					Monitors []struct{ Reason string }
					Replaced bool `json:"replaced_invalid_utf8"`
				}
			}
			if !utf8.ValidString(msg) {
				t.Fatalf("JSON message is not valid UTF-8: %q", msg)
			}
			if err := json.Unmarshal([]byte(msg), &v); err != nil {
				t.Fatal(err)
			}
			g := v.graph
			if envelope == "diagnostic" {
				if v.Properties == nil || v.Identity != "Ren\uFFFD" {
					t.Fatalf("not the envelope: %q", msg)
				}
				g = *v.Properties
			}
			p := v.Privtrail
			if g.UPN != want || p.User.UPN != want || g.Name != "Ren\uFFFD" || p.Monitors[0].Reason != "upn="+want || !p.Replaced {
				t.Errorf("%s JSON: %+v", envelope, v)
			}
			if !strings.Contains(msg, `"userPrincipalName":"`+want+`"`) {
				t.Errorf("the original's bytes are not U+FFFD in place: %q", msg)
			}
		}
	}
}

// newStreamCases are records of the ID Protection, Graph activity and
// other streams, as the stages would hand them over.
var newStreamCases = []struct {
	name   string
	record func(t testing.TB) *entra.Record
}{
	{"risk_detection_hits", func(t testing.TB) *entra.Record {
		r := decodeFile(t, "risk_detection_diagnostic")
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Actor.Roles = []entra.RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "eligible", Via: "direct", Privileged: true}}
		r.Hits = []entra.Hit{{ID: "risk.privileged_user", Title: "Risk detected for a privileged account", Risk: "high", Source: "risk", Reason: "riskEventType=anonymizedIPAddress riskLevel=high"}}
		return r
	}},
	{"risky_user_plain", func(t testing.TB) *entra.Record { return decodeFile(t, "risky_user_diagnostic") }},
	{"risky_service_principal_plain", func(t testing.TB) *entra.Record { return decodeFile(t, "risky_service_principal_graph") }},
	{"graphactivity_plain", func(t testing.TB) *entra.Record { return decodeFile(t, "graphactivity_diagnostic") }},
	{"aadgraph_plain", func(t testing.TB) *entra.Record { return decodeFile(t, "aadgraph_diagnostic") }},
	{"provisioning_plain", func(t testing.TB) *entra.Record { return decodeFile(t, "provisioning_diagnostic") }},
	{"other_plain", func(t testing.TB) *entra.Record { return decodeFile(t, "other_diagnostic") }},
}

func TestGoldenNewStreams(t *testing.T) {
	for _, gc := range newStreamCases {
		for _, v := range []struct {
			suffix string
			mod    func(*Config)
		}{
			{"leef.lf", nil},
			{"json.lf", func(c *Config) { c.Format = "json" }},
		} {
			name := gc.name + "." + v.suffix
			t.Run(name, func(t *testing.T) {
				rec := gc.record(t)
				got := mustEncode(t, NewEncoder(testConfig(v.mod)), rec, rec.AppendJSON(nil))
				checkGolden(t, name+".txt", got)
			})
		}
	}
}

// Each new stream has its MSGID and cat, and an EventID per kind of
// record: the detection type or the risk state's subject, the Graph
// request's method, the category of a record without a model.
func TestNewStreamsLEEF(t *testing.T) {
	enc := NewEncoder(testConfig(nil))
	for _, tc := range []struct {
		name, msgid, eventID string
		attrs                map[string]string
		absent               []string
	}{
		{"risk_detection_hits", "risk", "risk.privileged_user", map[string]string{
			"cat": "risk", "logCategory": "UserRiskEvents", "sev": "8", "usrName": "adm_alice@contoso.example", "src": "67.43.156.42",
			"userId": "26be570a-ae82-4189-b4e2-a37c6808512d", "privileged": "true", "role": "Global Administrator",
			"operation": "anonymizedIPAddress", "riskEventType": "anonymizedIPAddress", "riskLevel": "high", "riskState": "atRisk",
			"riskDetail": "none", "riskSource": "IdentityProtection", "detectionTiming": "realtime", "country": "DE",
			"privtrailMonitors": "risk.privileged_user",
		}, []string{"identSrc", "result"}},
		{"risky_user_plain", "risk", "risk:RiskyUser", map[string]string{
			"cat": "risk", "logCategory": "RiskyUsers", "sev": "1", "operation": "RiskyUser", "riskLevel": "high", "riskState": "atRisk",
			"usrName": "adm_alice@contoso.example", "privtrailRisk": "none",
		}, []string{"riskEventType"}},
		{"risky_service_principal_plain", "risk", "risk:RiskyServicePrincipal", map[string]string{
			"logCategory": "RiskyServicePrincipals", "usrName": "Contoso App", "userId": "9089a539-a539-9089-39a5-899039a58990",
			"operation": "RiskyServicePrincipal", "riskLevel": "high",
		}, nil},
		{"graphactivity_plain", "graphactivity", "graphactivity:POST", map[string]string{
			"cat": "graphactivity", "logCategory": "MicrosoftGraphActivityLogs", "operation": "POST", "src": "198.51.100.20",
			"userId": "2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f", "url": "https://graph.microsoft.com/v1.0/roleManagement/directory/roleAssignments",
			"httpStatus": "201", "appId": "14d82eec-204b-4c2f-b7e8-296a70dab67e", "apiVersion": "v1.0",
			"recordId": "3f1d2c4b-5a69-4e78-8d9c-0b1a2f3e4d5c",
		}, []string{"usrName", "identSrc"}},
		{"aadgraph_plain", "graphactivity", "graphactivity:GET", map[string]string{
			"logCategory": "AzureADGraphActivityLogs", "httpStatus": "403", "url": "/v2/72f988bf-86f1-41af-91ab-2d7cd011db47/tenantDetails",
		}, nil},
		{"provisioning_plain", "other", "other:ProvisioningLogs", map[string]string{
			"cat": "other", "logCategory": "ProvisioningLogs", "operation": "Provisioning activity",
			"recordId": "d6cbb0bd-c3ec-6455-bd3e-4282141ce369",
		}, nil},
		{"other_plain", "other", "other:NetworkAccessTrafficLogs", map[string]string{
			"cat": "other", "logCategory": "NetworkAccessTrafficLogs", "operation": "Traffic log", "usrName": "adm_bob@contoso.example",
			"src": "198.51.100.20",
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec *entra.Record
			for _, c := range newStreamCases {
				if c.name == tc.name {
					rec = c.record(t)
				}
			}
			s := parseSyslog(t, unframe(t, mustEncode(t, enc, rec, nil), false)[0])
			ev := parseLEEF(t, s.msg)
			if s.msgid != tc.msgid || ev.header[3] != tc.eventID {
				t.Errorf("MSGID %s EventID %s, want %s %s", s.msgid, ev.header[3], tc.msgid, tc.eventID)
			}
			for k, v := range tc.attrs {
				if ev.attrs[k] != v {
					t.Errorf("%s=%q, want %q", k, ev.attrs[k], v)
				}
			}
			for _, k := range tc.absent {
				if v, ok := ev.attrs[k]; ok {
					t.Errorf("%s=%q is set", k, v)
				}
			}
		})
	}
}

// TestIBMTimeFormats: the syslog TIMESTAMP and devTime are in the formats
// IBM's LEEF guide documents. "LEEF event components": "The timestamp must
// be in the format: yyyy-MM-ddTHH:mm:ss.SSSZ. [...] The 'Z' can be a
// literal Z or it can be a timezone value in the following format:
// -04:00". "Custom event date format": "Use the devTimeformat to format
// the devTime event attribute", with the suggested pattern
// "devTimeFormat=MMM dd yyyy HH:mm:ss.SSS z" giving "Jun 06 2015
// 02:07:36.300 GMT".
func TestIBMTimeFormats(t *testing.T) {
	timestamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	devTime := regexp.MustCompile(`^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d\d \d{4} \d\d:\d\d:\d\d\.\d{3} GMT$`)
	// IBM's own example, in the layout privtrail writes it.
	if got := time.Date(2015, 6, 6, 2, 7, 36, 300e6, time.UTC).Format(devTimeLayout); got != "Jun 06 2015 02:07:36.300 GMT" {
		t.Errorf("IBM's example: %s", got)
	}
	if got := time.Date(2019, 1, 18, 11, 7, 53, 520e6, time.UTC).Format(syslogTime); got != "2019-01-18T11:07:53.520Z" {
		t.Errorf("IBM's RFC 5424 example: %s", got)
	}
	for _, tc := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC),               // truncated, not rounded into the next second
		time.Date(2024, 2, 29, 23, 59, 59, 0, time.FixedZone("x", -4*3600)), // written in UTC
		time.Date(2023, 10, 24, 20, 1, 11, 949038700, time.UTC),
	} {
		for _, format := range []string{"leef", "json"} {
			enc := NewEncoder(testConfig(func(c *Config) { c.Format = format }))
			rec := &entra.Record{Stream: entra.StreamAudit, Time: tc, Raw: []byte(`{}`)}
			s := parseSyslog(t, strings.TrimSuffix(string(mustEncode(t, enc, rec, nil)), "\n"))
			if !timestamp.MatchString(s.timestamp) {
				t.Errorf("%s: TIMESTAMP %q is not yyyy-MM-ddTHH:mm:ss.SSSZ", format, s.timestamp)
			}
			if got, err := time.Parse("2006-01-02T15:04:05.000Z07:00", s.timestamp); err != nil || !got.Equal(tc.Truncate(time.Millisecond)) {
				t.Errorf("%s: TIMESTAMP %q reads as %v, want %v", format, s.timestamp, got, tc.Truncate(time.Millisecond))
			}
			if format != "leef" {
				continue
			}
			ev := parseLEEF(t, s.msg)
			if ev.attrs["devTimeFormat"] != "MMM dd yyyy HH:mm:ss.SSS z" || !devTime.MatchString(ev.attrs["devTime"]) {
				t.Errorf("devTime %q devTimeFormat %q", ev.attrs["devTime"], ev.attrs["devTimeFormat"])
			}
			if got, err := time.Parse("Jan 02 2006 15:04:05.000 MST", ev.attrs["devTime"]); err != nil || !got.Equal(tc.Truncate(time.Millisecond)) {
				t.Errorf("devTime %q reads as %v (%v), want %v", ev.attrs["devTime"], got, err, tc.Truncate(time.Millisecond))
			}
			if ev.keys[0] != "devTime" || ev.keys[1] != "devTimeFormat" {
				t.Errorf("keys %q", ev.keys)
			}
		}
	}
	// No event time: no devTime, no devTimeFormat, TIMESTAMP "-".
	s := parseSyslog(t, strings.TrimSuffix(string(mustEncode(t, NewEncoder(testConfig(nil)), &entra.Record{Stream: entra.StreamAudit}, nil)), "\n"))
	if ev := parseLEEF(t, s.msg); s.timestamp != "-" || ev.attrs["devTime"] != "" || ev.attrs["devTimeFormat"] != "" {
		t.Errorf("no time: %q %v", s.timestamp, ev.attrs)
	}
}

// envelopeCases are Graph-shaped records (with the tenant the graph input
// polls) for format json's envelope: a sign-in, an audit and a risk
// detection, which the diagnostic envelope wraps, and a risky service
// principal, which it does not.
var envelopeCases = []struct {
	name, input string
}{
	{"signin_graph", "signin_graph_success"},
	{"audit_graph", "audit_graph"},
	{"risk_detection_graph", "risk_detection_graph"},
	{"risky_service_principal_graph", "risky_service_principal_graph"},
}

const testTenant = "0b5f5d3c-1111-4c2e-9c55-3c8b7a1c2d3e"

// TestGoldenEnvelope: format json with envelope diagnostic (the default)
// sends a Graph sign-in, audit or risk detection in the Azure Monitor
// diagnostic-settings envelope, the JSON the Microsoft Entra ID DSM
// parses; with as_read, the Graph document. LEEF is the same either way.
func TestGoldenEnvelope(t *testing.T) {
	for _, gc := range envelopeCases {
		for _, envelope := range []string{"diagnostic", "as_read"} {
			name := gc.name + ".json." + envelope + ".lf"
			t.Run(name, func(t *testing.T) {
				rec := decodeFile(t, gc.input)
				rec.TenantID = testTenant
				rec.Actor.Privileged = true
				rec.Hits = []entra.Hit{{ID: "m.one", Title: "A monitor", Risk: "medium", Source: string(rec.Stream), Reason: "r"}}
				enc := NewEncoder(testConfig(func(c *Config) { c.Format = "json"; c.Envelope = envelope }))
				enriched := rec.AppendJSON(nil)
				got := mustEncode(t, enc, rec, enriched)
				checkGolden(t, name+".txt", got)
				msg := parseSyslog(t, strings.TrimSuffix(string(got), "\n")).msg
				want := string(enriched)
				if envelope == "diagnostic" && rec.CanEnvelope() {
					want = string(rec.AppendDiagnosticJSON(nil))
					var v struct {
						Category   string          `json:"category"`
						Properties json.RawMessage `json:"properties"`
						Privtrail  json.RawMessage `json:"privtrail"`
					}
					if err := json.Unmarshal([]byte(msg), &v); err != nil || v.Category != rec.LogCategory || v.Properties == nil || v.Privtrail == nil {
						t.Errorf("not the diagnostic envelope: %v %s", err, msg)
					}
				}
				if msg != want {
					t.Errorf("MSG\n got %s\nwant %s", msg, want)
				}
				// LEEF ignores the envelope.
				leef := func(e string) []byte {
					return mustEncode(t, NewEncoder(testConfig(func(c *Config) { c.Envelope = e })), rec, enriched)
				}
				if !bytes.Equal(leef(envelope), leef("as_read")) {
					t.Error("LEEF depends on the envelope")
				}
			})
		}
	}
	if c := testConfig(nil); c.Envelope != "diagnostic" {
		t.Errorf("default envelope %q", c.Envelope)
	}
}
