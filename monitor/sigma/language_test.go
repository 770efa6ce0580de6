package sigma

import (
	"strings"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// rule wraps a detection in a rule of service svc.
func rule(svc, detection string) string {
	return "title: t\nid: 00000000-0000-0000-0000-000000000001\nlogsource: {product: azure, service: " + svc + "}\ndetection:\n" + detection
}

func compileOne(t *testing.T, src string) *Rule {
	t.Helper()
	rs, err := CompileFile("rule.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

func signIn(mod func(r *entra.Record)) *entra.Record {
	r := &entra.Record{Stream: entra.StreamSignIn, Shape: entra.ShapeGraph, Raw: []byte(`{"authenticationProtocol":"deviceCode","networkLocationDetails":[]}`)}
	r.Actor.UPN = "adm_alice@contoso.example"
	r.SignIn.ErrorCode = 50126
	r.SignIn.Status = "failure"
	r.SignIn.FailureReason = "Invalid username or password or Invalid on-premise username or password."
	r.SignIn.UserAgent = `Mozilla/5.0 (Windows NT 10.0) azurehound/2.1`
	r.SignIn.IPAddress = "203.0.113.7"
	r.SignIn.AppDisplayName = "Azure Portal"
	r.SignIn.Device.IsCompliant = false
	r.SignIn.ASN = 14061
	if mod != nil {
		mod(r)
	}
	return r
}

// The language, one feature a row: each detection must match the record
// (want true) or not.
func TestLanguage(t *testing.T) {
	for _, c := range []struct {
		name, det string
		rec       *entra.Record
		want      bool
	}{
		{"number equals", "  s: {ResultType: 50126}\n  condition: s", signIn(nil), true},
		{"number differs", "  s: {ResultType: 50053}\n  condition: s", signIn(nil), false},
		{"number as string", "  s: {ResultType: '50126'}\n  condition: s", signIn(nil), true},
		{"case-insensitive", "  s: {AppDisplayName: 'azure PORTAL'}\n  condition: s", signIn(nil), true},
		{"cased", "  s: {AppDisplayName|cased: 'azure PORTAL'}\n  condition: s", signIn(nil), false},
		{"field name in any case", "  s: {appdisplayname: 'Azure Portal'}\n  condition: s", signIn(nil), true},
		{"list is or", "  s: {ResultType: [1, 50126]}\n  condition: s", signIn(nil), true},
		{"contains", "  s: {UserAgent|contains: AZUREHOUND}\n  condition: s", signIn(nil), true},
		{"startswith", "  s: {UserAgent|startswith: mozilla}\n  condition: s", signIn(nil), true},
		{"endswith", "  s: {UserAgent|endswith: '/2.1'}\n  condition: s", signIn(nil), true},
		{"endswith misses", "  s: {UserAgent|endswith: '/2.2'}\n  condition: s", signIn(nil), false},
		{"contains all", "  s: {UserAgent|contains|all: [windows, azurehound]}\n  condition: s", signIn(nil), true},
		{"contains all misses one", "  s: {UserAgent|contains|all: [windows, linux]}\n  condition: s", signIn(nil), false},
		{"wildcard star", "  s: {UserAgent: 'mozilla*hound*'}\n  condition: s", signIn(nil), true},
		{"wildcard question", "  s: {AppDisplayName: 'Azure P?rtal'}\n  condition: s", signIn(nil), true},
		{"escaped star is literal", `  s: {AppDisplayName: 'Azure \*'}` + "\n  condition: s", signIn(nil), false},
		{"escaped star matches star", `  s: {AppDisplayName: 'A\*'}` + "\n  condition: s", signIn(func(r *entra.Record) { r.SignIn.AppDisplayName = "a*" }), true},
		{"re", "  s: {UserAgent|re: 'azureh[a-z]+/\\d'}\n  condition: s", signIn(nil), true},
		{"re is cased", "  s: {UserAgent|re: 'AZUREHOUND'}\n  condition: s", signIn(nil), false},
		{"re i", "  s: {UserAgent|re|i: 'AZUREHOUND'}\n  condition: s", signIn(nil), true},
		{"cidr", "  s: {IPAddress|cidr: 203.0.113.0/24}\n  condition: s", signIn(nil), true},
		{"cidr misses", "  s: {IPAddress|cidr: 198.51.100.0/24}\n  condition: s", signIn(nil), false},
		{"exists", "  s: {UserAgent|exists: true}\n  condition: s", signIn(nil), true},
		{"not exists", "  s: {ClientAppUsed|exists: false}\n  condition: s", signIn(nil), true},
		{"null", "  s: {ClientAppUsed: null}\n  condition: s", signIn(nil), true},
		{"null misses a value", "  s: {UserAgent: null}\n  condition: s", signIn(nil), false},
		{"empty string", "  s: {DeviceDetail.trustType: ''}\n  condition: s", signIn(nil), true},
		{"bool as string", "  s: {DeviceDetail.isCompliant: 'false'}\n  condition: s", signIn(nil), true},
		{"bool", "  s: {DeviceDetail.isCompliant: true}\n  condition: s", signIn(nil), false},
		{"gt", "  s: {AutonomousSystemNumber|gt: 14000}\n  condition: s", signIn(nil), true},
		{"lte", "  s: {AutonomousSystemNumber|lte: 14000}\n  condition: s", signIn(nil), false},
		{"neq", "  s: {ResultType|neq: 0}\n  condition: s", signIn(nil), true},
		{"fieldref", "  s: {UserPrincipalName|fieldref: UserDisplayName}\n  condition: s", signIn(func(r *entra.Record) { r.Actor.DisplayName = "ADM_alice@contoso.example" }), true},
		{"fieldref misses", "  s: {UserPrincipalName|fieldref: UserDisplayName}\n  condition: s", signIn(nil), false},
		{"windash", "  s: {UserAgent|windash|contains: ' -x'}\n  condition: s", signIn(func(r *entra.Record) { r.SignIn.UserAgent = "tool /x" }), true},
		{"base64", "  s: {UserAgent|base64|contains: 'hello'}\n  condition: s", signIn(func(r *entra.Record) { r.SignIn.UserAgent = "x aGVsbG8= y" }), true},
		{"base64offset", "  s: {UserAgent|base64offset|contains: 'hello'}\n  condition: s", signIn(func(r *entra.Record) { r.SignIn.UserAgent = "eGhlbGxv" }), true},
		{"utf16le base64", "  s: {UserAgent|wide|base64: 'cmd'}\n  condition: s", signIn(func(r *entra.Record) { r.SignIn.UserAgent = "YwBtAGQA" }), true},
		{"raw field", "  s: {NetworkLocationDetails: '[]'}\n  condition: s", signIn(nil), true},
		{"raw field as protocol", "  s: {properties.message: devicecode}\n  condition: s", signIn(nil), true},
		{"keywords", "  keywords: [AUTHENTICATIONPROTOCOL]\n  condition: keywords", signIn(nil), true},
		{"keywords miss", "  keywords: ['nothing here']\n  condition: keywords", signIn(nil), false},
		{"list of maps is or", "  s:\n    - {ResultType: 1}\n    - {ResultType: 50126}\n  condition: s", signIn(nil), true},
		{"and not", "  a: {ResultType: 50126}\n  b: {UserAgent|contains: hound}\n  condition: a and not b", signIn(nil), false},
		{"or, parentheses", "  a: {ResultType: 1}\n  b: {UserAgent|contains: hound}\n  c: {IPAddress: x}\n  condition: (a or b) and not c", signIn(nil), true},
		{"not binds tighter than and", "  a: {ResultType: 1}\n  b: {UserAgent|contains: hound}\n  condition: not a and b", signIn(nil), true},
		{"1 of wildcard", "  sel_a: {ResultType: 1}\n  sel_b: {ResultType: 50126}\n  condition: 1 of sel_*", signIn(nil), true},
		{"all of wildcard", "  sel_a: {ResultType: 1}\n  sel_b: {ResultType: 50126}\n  condition: all of sel_*", signIn(nil), false},
		{"all of them", "  a: {ResultType: 50126}\n  b: {UserAgent|contains: hound}\n  condition: all of them", signIn(nil), true},
		{"them skips underscore", "  a: {ResultType: 50126}\n  _b: {ResultType: 1}\n  condition: all of them or _b", signIn(nil), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := compileOne(t, rule("signinlogs", c.det))
			if got := r.Match(c.rec); got != c.want {
				t.Errorf("match = %v, want %v", got, c.want)
			}
		})
	}
}

// What privtrail cannot run is an error with the file, line and rule,
// never a rule that silently matches something else.
func TestErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"unmapped field", rule("signinlogs", "  s: {NoSuchField: 1}\n  condition: s"), `rule.yml:5:7: rule 00000000-0000-0000-0000-000000000001: field "NoSuchField" is not mapped for logsource azure/signinlogs`},
		{"unknown modifier", rule("signinlogs", "  s: {UserAgent|sortof: 1}\n  condition: s"), `unknown modifier "sortof"`},
		{"expand", rule("signinlogs", "  s: {UserAgent|expand: '%x%'}\n  condition: s"), `modifier "expand" is not supported`},
		{"undefined selection", rule("signinlogs", "  s: {ResultType: 1}\n  condition: s and t"), `no selection named "t"`},
		{"unused selection", rule("signinlogs", "  s: {ResultType: 1}\n  t: {ResultType: 2}\n  condition: s"), `selection "t" is not used`},
		{"aggregation", rule("signinlogs", "  s: {ResultType: 1}\n  condition: s | count() > 5"), `write a correlation rule`},
		{"all with one value", rule("signinlogs", "  s: {UserAgent|contains|all: [x]}\n  condition: s"), `at least two values`},
		{"bad regexp", rule("signinlogs", "  s: {UserAgent|re: '('}\n  condition: s"), `re: error parsing regexp`},
		{"gt with string", rule("signinlogs", "  s: {ResultType|gt: x}\n  condition: s"), `gt compares with a number`},
		{"bad level", "title: t\nid: a\nlevel: severe\nlogsource: {product: azure, service: signinlogs}\ndetection: {s: {ResultType: 1}, condition: s}", `level "severe"`},
		{"no id", "title: t\nlogsource: {product: azure, service: signinlogs}\ndetection: {s: {ResultType: 1}, condition: s}", `id is required`},
		{"correlation lt", corr("event_count", "    condition: {lt: 5}\n"), `condition lt cannot be expressed`},
		{"correlation range", corr("event_count", "    condition: {gt: 1, gte: 5}\n"), `exactly one of gte, gt`},
		{"value_sum", corr("value_sum", "    condition: {field: x, gt: 5}\n"), `value_sum cannot be expressed`},
		{"temporal of three", strings.Replace(corr("temporal", ""), "rules: [base]", "rules: [base, b2, b3]", 1), `of 3 rules cannot be expressed`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := CompileFile("rule.yml", []byte(c.src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func corr(typ, cond string) string {
	return "title: c\nid: c1\ncorrelation:\n    type: " + typ + "\n    rules: [base]\n    group-by: [UserPrincipalName]\n    timespan: 10m\n" + cond
}

// FuzzCompileFile feeds rule files to the compiler: it must return rules
// or an error, never panic, and a compiled matcher must run on a record.
func FuzzCompileFile(f *testing.F) {
	f.Add([]byte(rule("signinlogs", "  s: {ResultType: 50126, UserAgent|contains|all: [a, b]}\n  condition: s")))
	f.Add([]byte(rule("auditlogs", "  s: {TargetResources.ModifiedProperties.NewValue|re|i: 'x.*'}\n  f: {Category: null}\n  condition: 1 of s* and not f")))
	f.Add([]byte(rule("activitylogs", "  keywords: ['Microsoft.*/write']\n  condition: keywords")))
	f.Add([]byte(corr("value_count", "    condition: {field: IPAddress, gte: 3}\n")))
	rec := signIn(nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := CompileFile("fuzz.yml", data)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Match != nil {
				r.Match(rec)
			}
		}
	})
}
