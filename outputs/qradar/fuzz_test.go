package qradar

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/privtrail/privtrail/entra"
)

// hostileUPN tries every way out of its attribute and its message.
const hostileUPN = "eve@contoso.example\tusrName=admin@contoso.example|sev=10^cat=x\r\n<13>1 2026-01-01T00:00:00Z forged privtrail - signin - LEEF:2.0|privtrail|privtrail|1|forged|x09|usrName=root"

// fuzzRecord builds a sign-in or audit record from arbitrary strings.
func fuzzRecord(audit bool, upn, display, reason, op, raw string) *entra.Record {
	rec := &entra.Record{
		Raw:    []byte(raw),
		Stream: entra.StreamSignIn,
		Time:   time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		ID:     display,
		Actor:  entra.Principal{UPN: upn, DisplayName: display, IP: reason, Type: "user", Roles: []entra.RoleHeld{{Name: op}}},
		Hits:   []entra.Hit{{ID: op, Title: display, Risk: "high", Reason: reason, Tags: []string{"attack.t1078.004", "attack.initial-access"}}, {ID: upn, Risk: "low", Tags: []string{display, "attack.T1110"}}},
	}
	rec.SignIn.Status = "success"
	rec.SignIn.FailureReason = reason
	rec.SignIn.EventType = op
	rec.Context.Device = &entra.Device{ID: upn}
	if audit {
		rec.Stream = entra.StreamAudit
		rec.Hits = nil // the event ID comes from the operation
		rec.Audit.ActivityDisplayName = op
		rec.Audit.Targets = []entra.Target{{Principal: entra.Principal{Type: "User", UPN: upn, DisplayName: display}}}
	}
	return rec
}

// fuzzDirectory builds a directory record from the same strings: they land
// in the attributes only directory records have.
func fuzzDirectory(upn, display, reason, op, raw string) *entra.Record {
	rec := &entra.Record{
		Raw:    []byte(raw),
		Stream: entra.StreamDirectory,
		Time:   time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		ID:     display,
		Actor:  entra.Principal{ID: reason, UPN: upn, DisplayName: display, Type: "user"},
	}
	d := &rec.Directory
	d.RecordType, d.UserType, d.LastSignInSource = op, display, reason
	d.LastSignIn = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.DaysSinceSignIn = len(raw)
	d.MFAKnown, d.MFARegistered = len(upn)%2 == 0, len(op)%2 == 0
	d.Methods = []string{upn, reason}
	d.Roles = []entra.RoleHeld{{Name: op}, {Name: upn}}
	return rec
}

// fuzzNewStreams builds an ID Protection, a Graph activity and an other
// record from the same strings: they land in the attributes and event IDs
// of those streams (the category of the other record names its event).
func fuzzNewStreams(upn, display, reason, op, raw string) []*entra.Record {
	base := func(s entra.Stream) *entra.Record {
		return &entra.Record{Raw: []byte(raw), Stream: s, Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), ID: display,
			LogCategory: op, OperationName: reason, Actor: entra.Principal{ID: reason, UPN: upn, DisplayName: display, IP: reason, Type: "user"}}
	}
	risk := base(entra.StreamRisk)
	risk.Risk = entra.Risk{Kind: "detection", EventType: op, Level: upn, State: display, Detail: reason, Source: op, DetectionTiming: upn,
		Location: entra.Location{Country: display}}
	graph := base(entra.StreamGraphActivity)
	graph.GraphActivity = entra.GraphActivity{RequestMethod: op, RequestURI: reason, ResponseStatusCode: len(raw) + 1, AppID: upn, APIVersion: display}
	return []*entra.Record{risk, graph, base(entra.StreamOther)}
}

// benign replaces every non-empty string by "x": the same attributes must
// come out.
func benign(s string) string {
	if s == "" {
		return ""
	}
	return "x"
}

func FuzzEncode(f *testing.F) {
	f.Add(false, hostileUPN, "Eve | Ops", "upn=eve status=failure\tsev=1", "interactive", `{"a":1}`)
	f.Add(true, "a=b", "\xff\xfe", "\u2028\u0085", "Add member|to role\n", "not json\r\n")
	f.Add(false, "", "", "", "", "")
	f.Add(true, "x^y|z\\", "\"quoted\"", "k=v=w", "^", "{\"x\":\"\r\n\"}")
	f.Fuzz(func(t *testing.T, audit bool, upn, display, reason, op, raw string) {
		rec := fuzzRecord(audit, upn, display, reason, op, raw)
		twin := fuzzRecord(audit, benign(upn), benign(display), benign(reason), benign(op), raw)
		// A directory record with the same strings, and its benign twin.
		dir := fuzzDirectory(upn, display, reason, op, raw)
		dirTwin := fuzzDirectory(benign(upn), benign(display), benign(reason), benign(op), raw)
		for _, delim := range []string{"\t", "^", "|"} {
			for _, framing := range []string{"lf", "octet-counting"} {
				enc := NewEncoder(testConfig(func(c *Config) { c.Delimiter = delim; c.Framing = framing }))
				ev := parseLEEF(t, checkOneMessage(t, enc, dir, framing).msg)
				want := parseLEEF(t, checkOneMessage(t, enc, dirTwin, framing).msg)
				if !slices.Equal(ev.keys, want.keys) {
					t.Fatalf("directory, delimiter %q: keys %q, want %q", delim, ev.keys, want.keys)
				}
				if reason != "" && ev.attrs["lastSignInSource"] != string(enc.appendValue(nil, reason)) {
					t.Fatalf("lastSignInSource %q from %q", ev.attrs["lastSignInSource"], reason)
				}
			}
		}
		// The new streams, and their benign twins.
		news := fuzzNewStreams(upn, display, reason, op, raw)
		newTwins := fuzzNewStreams(benign(upn), benign(display), benign(reason), benign(op), raw)
		for _, delim := range []string{"\t", "^", "|"} {
			enc := NewEncoder(testConfig(func(c *Config) { c.Delimiter = delim }))
			for i, rec := range news {
				ev := parseLEEF(t, checkOneMessage(t, enc, rec, "lf").msg)
				want := parseLEEF(t, checkOneMessage(t, enc, newTwins[i], "lf").msg)
				if !slices.Equal(ev.keys, want.keys) {
					t.Fatalf("%s, delimiter %q: keys %q, want %q", rec.Stream, delim, ev.keys, want.keys)
				}
				if op != "" && rec.Stream == entra.StreamOther && ev.header[3] != "other:"+string(appendLEEFHeader(nil, op)) {
					t.Fatalf("event id %q from category %q", ev.header[3], op)
				}
			}
		}
		for _, delim := range []string{"\t", "^", "|"} {
			for _, framing := range []string{"lf", "octet-counting"} {
				cfg := testConfig(func(c *Config) { c.Delimiter = delim; c.Framing = framing })
				enc := NewEncoder(cfg)
				out := checkOneMessage(t, enc, rec, framing)
				ev := parseLEEF(t, out.msg)
				// The header has exactly five fields and the delimiter.
				want := parseLEEF(t, checkOneMessage(t, enc, twin, framing).msg)
				if !slices.Equal(ev.keys, want.keys) {
					t.Fatalf("delimiter %q: keys %q, want %q\n%q", delim, ev.keys, want.keys, out.msg)
				}
				if upn != "" && ev.attrs["usrName"] != string(enc.appendValue(nil, upn)) {
					t.Fatalf("usrName %q from %q", ev.attrs["usrName"], upn)
				}
				if reason != "" && ev.attrs["privtrailReason"] != string(enc.appendValue(nil, reason)) && !audit {
					t.Fatalf("privtrailReason %q from %q", ev.attrs["privtrailReason"], reason)
				}
				if want := strings.Join(entra.AttackOf(rec.Hits).IDs, ","); ev.attrs["privtrailMitreAttackId"] != want {
					t.Fatalf("privtrailMitreAttackId %q, want %q", ev.attrs["privtrailMitreAttackId"], want)
				}
				if !audit && op != "" && ev.header[3] != string(appendLEEFHeader(nil, op)) {
					t.Fatalf("event id %q from %q", ev.header[3], op)
				}
			}
		}
		// JSON: one message, no control byte, valid UTF-8.
		for _, framing := range []string{"lf", "octet-counting"} {
			enc := NewEncoder(testConfig(func(c *Config) { c.Format = "json"; c.Framing = framing }))
			out := checkOneMessage(t, enc, rec, framing)
			for i := 0; i < len(out.msg); i++ {
				if out.msg[i] < 0x20 {
					t.Fatalf("control byte %#x in JSON MSG %q", out.msg[i], out.msg)
				}
			}
		}
	})
}

// checkOneMessage encodes rec and checks that the bytes are exactly one
// framed syslog message with no CR or LF inside, in valid UTF-8.
func checkOneMessage(t *testing.T, enc *Encoder, rec *entra.Record, framing string) syslogMsg {
	t.Helper()
	out := mustEncode(t, enc, rec, nil)
	msgs := unframe(t, out, framing == "octet-counting")
	if len(msgs) != 1 {
		t.Fatalf("%d messages in %q", len(msgs), out)
	}
	m := msgs[0]
	if strings.ContainsAny(m, "\r\n\x00") {
		t.Fatalf("CR, LF or NUL inside the message: %q", m)
	}
	if framing == "lf" && bytes.Count(out, []byte("\n")) != 1 {
		t.Fatalf("LF framing: not exactly one LF: %q", out)
	}
	if !utf8.ValidString(m) {
		t.Fatalf("invalid UTF-8: %q", m)
	}
	return parseSyslog(t, m)
}
