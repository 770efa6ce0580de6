package qradar

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// decodeFile decodes testdata/input/<name>.json (trimmed copies of the
// Entra samples in entra/testdata/samples).
func decodeFile(t testing.TB, name string) *entra.Record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "input", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var d entra.Decoder
	rec := &entra.Record{Origin: name}
	if err := d.Decode(bytes.TrimSpace(data), rec); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rec
}

// The golden records: what the privilege, context and monitor stages
// would have added.
var goldenCases = []struct {
	name   string
	record func(t testing.TB) *entra.Record
}{
	{"signin_hits", func(t testing.TB) *entra.Record {
		r := decodeFile(t, "signin_diagnostic_mfa_required")
		r.Actor.Known, r.Actor.Privileged, r.Actor.Emergency = true, true, true
		r.Actor.Roles = []entra.RoleHeld{
			{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active", Via: "direct", Privileged: true},
			{Name: "Security Administrator", TemplateID: "194ae4cb-b126-40b2-bd5b-6091b380977d", Assignment: "eligible", Via: "direct", Privileged: true},
		}
		r.Context.Geo = &entra.Geo{CountryISO: "US", City: "Rochester", Lat: 43.16, Lon: -77.61, ASN: 12271, ASOrg: "TWC-12271-NYC"}
		r.Context.Device = &entra.Device{ID: "", PAW: false, Reason: "no device id", OS: "Windows"}
		r.Context.WorkHours = &entra.WorkHours{Inside: false, LocalTime: "2023-10-24T16:01:11-04:00", Schedule: "us-east"}
		r.Hits = []entra.Hit{
			{ID: "breakglass.signin", Title: "Emergency access account sign-in", Risk: "high", Source: "signin", Reason: "upn=user15@splunkresearch.onmicrosoft.com status=failure"},
			{ID: "signin.mfa_interrupt", Title: "Privileged sign-in interrupted by strong authentication", Risk: "high", Source: "signin", Reason: "errorCode=50076"},
			{ID: "pim.elevation_not_paw", Title: "Privileged sign-in from a device that is not a PAW/SAW", Risk: "high", Source: "signin", Reason: "deviceId="},
		}
		return r
	}},
	{"signin_plain", func(t testing.TB) *entra.Record {
		return decodeFile(t, "signin_graph_success")
	}},
	{"audit_role", func(t testing.TB) *entra.Record {
		r := decodeFile(t, "audit_diagnostic_add_member_to_role")
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Actor.Roles = []entra.RoleHeld{{Name: "Privileged Role Administrator", TemplateID: "e8611ab8-c189-46e8-94e1-60213ab1f814", Assignment: "active", Via: "direct", Privileged: true}}
		r.Audit.Targets[0].Known = true
		r.Audit.Targets[0].Privileged = true
		r.Hits = []entra.Hit{
			{ID: "audit.privileged_role_change", Title: "Member added to a privileged role", Risk: "high", Source: "audit", Reason: `role="Privileged Role Administrator" target=User1@splunkresearch.com`},
			{ID: "audit.privileged_change", Title: "Change made by a privileged account", Risk: "medium", Source: "audit", Reason: "actor=strt_admin@splunkresearch.com"},
		}
		return r
	}},
	{"directory_hits", func(t testing.TB) *entra.Record {
		r := decodeFile(t, "directory_unused_no_mfa")
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Actor.Roles = []entra.RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "active", Via: "direct", Privileged: true}}
		r.Hits = []entra.Hit{
			{ID: "directory.mfa_not_registered", Title: "Privileged account without an MFA method", Risk: "high", Source: "directory", Reason: "upn=adm_grace@contoso.example"},
			{ID: "review.unused_privileged_account", Title: "Privileged account not used", Risk: "medium", Source: "directory", Reason: "daysSinceSignIn=125 lastSignInSource=agent"},
		}
		return r
	}},
	{"directory_plain", func(t testing.TB) *entra.Record {
		return decodeFile(t, "directory_never_signed_in")
	}},
}

func testConfig(mod func(*Config)) Config {
	cfg := Config{Address: "127.0.0.1:514", Hostname: "collector-01", Version: "1.4.0"}
	if mod != nil {
		mod(&cfg)
	}
	cfg.Defaults()
	return cfg
}

// leefEvent is a parsed LEEF 2.0 event.
type leefEvent struct {
	header [5]string // vendor, product, version, event id, delimiter field
	keys   []string
	attrs  map[string]string
}

// syslogMsg is a parsed RFC 5424 message.
type syslogMsg struct {
	pri, version, timestamp, host, app, procid, msgid, sd, msg string
}

// parseSyslog splits one unframed RFC 5424 message (structured data "-").
func parseSyslog(t testing.TB, m string) syslogMsg {
	t.Helper()
	if !strings.HasPrefix(m, "<") {
		t.Fatalf("no PRI: %q", m)
	}
	end := strings.IndexByte(m, '>')
	if end < 2 || end > 4 {
		t.Fatalf("bad PRI: %q", m)
	}
	var s syslogMsg
	s.pri = m[1:end]
	parts := strings.SplitN(m[end+1:], " ", 8)
	if len(parts) != 8 {
		t.Fatalf("want 7 header fields and MSG, got %d: %q", len(parts), m)
	}
	s.version, s.timestamp, s.host, s.app, s.procid, s.msgid, s.sd, s.msg = parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6], parts[7]
	for _, f := range parts[1:7] {
		if f == "" {
			t.Fatalf("empty header field in %q", m)
		}
		for i := 0; i < len(f); i++ {
			if f[i] < '!' || f[i] > '~' {
				t.Fatalf("header field %q is not PRINTUSASCII", f)
			}
		}
	}
	return s
}

// parseLEEF parses a LEEF 2.0 event the way a strict parser does: five
// '|'-terminated header fields after "LEEF:2.0|", then the delimiter
// field, then attributes split at the delimiter and at each one's first
// '='.
func parseLEEF(t testing.TB, msg string) leefEvent {
	t.Helper()
	rest, ok := strings.CutPrefix(msg, "LEEF:2.0|")
	if !ok {
		t.Fatalf("no LEEF:2.0 header: %q", msg)
	}
	var ev leefEvent
	for i := range ev.header {
		j := strings.IndexByte(rest, '|')
		if j < 0 {
			t.Fatalf("header field %d not terminated: %q", i, msg)
		}
		ev.header[i], rest = rest[:j], rest[j+1:]
	}
	var delim string
	switch d := ev.header[4]; d {
	case "x09":
		delim = "\t"
	case "x7C":
		delim = "|"
	case "^":
		delim = "^"
	default:
		t.Fatalf("unexpected delimiter field %q", d)
	}
	ev.attrs = map[string]string{}
	for _, kv := range strings.Split(rest, delim) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("attribute without '=': %q in %q", kv, msg)
		}
		if _, dup := ev.attrs[k]; dup {
			t.Fatalf("attribute %s twice in %q", k, msg)
		}
		ev.keys = append(ev.keys, k)
		ev.attrs[k] = v
	}
	return ev
}

// unframe splits a stream of framed messages.
func unframe(t testing.TB, data []byte, octet bool) []string {
	t.Helper()
	var out []string
	for len(data) > 0 {
		if !octet {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				t.Fatalf("unterminated message: %q", data)
			}
			out = append(out, string(data[:i]))
			data = data[i+1:]
			continue
		}
		sp := bytes.IndexByte(data, ' ')
		if sp < 1 {
			t.Fatalf("no MSG-LEN: %q", data)
		}
		n, err := strconv.Atoi(string(data[:sp]))
		if err != nil || n < 1 || sp+1+n > len(data) {
			t.Fatalf("bad MSG-LEN %q (%d bytes left)", data[:sp], len(data)-sp-1)
		}
		out = append(out, string(data[sp+1:sp+1+n]))
		data = data[sp+1+n:]
	}
	return out
}

func mustEncode(t testing.TB, e *Encoder, rec *entra.Record, enriched []byte) []byte {
	t.Helper()
	out, err := e.Encode(nil, rec, enriched)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
