package monitor

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"github.com/privtrail/privtrail/entra"
)

// ---- include and override ---------------------------------------------------

func ids(defs []Definition) []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.ID
	}
	return out
}

func engineIDs(e *Engine) []string {
	var out []string
	for _, m := range e.Monitors() {
		out = append(out, m.ID)
	}
	return out
}

func defByID(t *testing.T, defs []Definition, id string) Definition {
	t.Helper()
	for _, d := range defs {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("no monitor %s in %v", id, ids(defs))
	return Definition{}
}

func TestIncludeOverride(t *testing.T) {
	p, err := LoadPipeline("testdata/engine/override.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "override" {
		t.Errorf("Name = %q, want the file name without extension", p.Name)
	}
	// Included monitors keep their order; a new id is appended.
	if got, want := ids(p.Monitors), []string{"test.first", "test.second", "test.third", "custom.added"}; !slices.Equal(got, want) {
		t.Errorf("monitors %v, want %v", got, want)
	}

	first := defByID(t, p.Monitors, "test.first")
	if first.Risk != "low" {
		t.Errorf("risk = %q: the override did not apply", first.Risk)
	}
	if first.Title != "First" || first.Source != "signin" || first.Notes != "base notes" || !strings.HasPrefix(first.When, "In(actor.upn") ||
		!slices.Equal(first.Reason, []string{"actor.upn", "signin.errorCode"}) {
		t.Errorf("fields the override does not set must come from the base: %+v", first)
	}
	// Params merge key by key: users replaced, min_code and label kept, extra added.
	if got := first.Params["users"].([]any); len(got) != 2 || got[0] != "adm_bob@contoso.example" {
		t.Errorf("params.users = %v", got)
	}
	if first.Params["min_code"] == nil || first.Params["label"] != "base" || first.Params["extra"] != "added" {
		t.Errorf("params = %v: keys the override does not name must stay", first.Params)
	}
	if len(first.Params) != 4 {
		t.Errorf("params = %v, want 4 keys", first.Params)
	}
	if first.File() != "testdata/engine/override.yaml" {
		t.Errorf("File() = %q, want the file that last defined it", first.File())
	}
	if third := defByID(t, p.Monitors, "test.third"); third.File() != "testdata/engine/base.yaml" {
		t.Errorf("File() = %q, want the base file", third.File())
	}

	// The base file is not changed by being included.
	base, err := LoadPipeline("testdata/engine/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if b := defByID(t, base.Monitors, "test.first"); b.Risk != "high" || len(b.Params) != 3 {
		t.Errorf("base changed: %+v", b)
	}

	// enabled: false removes the monitor from the engine (but it stays
	// validated and listed in the pipeline).
	if second := defByID(t, p.Monitors, "test.second"); second.IsEnabled() || second.When != "actor.privileged" {
		t.Errorf("test.second: enabled=%v when=%q", second.IsEnabled(), second.When)
	}
	e, err := Compile(p.Monitors, testStage(t).Roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := engineIDs(e), []string{"test.first", "test.third", "custom.added"}; !slices.Equal(got, want) {
		t.Errorf("engine monitors %v, want %v", got, want)
	}

	// The merged params are what the expression sees: bob is now a user
	// of test.first, and its risk is the overridden one.
	rec := &entra.Record{Stream: entra.StreamAudit}
	rec.Actor = entra.Principal{UPN: bob.upn, Privileged: true}
	e.NewEvaluator().Eval(rec)
	if len(rec.Hits) != 0 {
		t.Errorf("disabled audit monitor hit: %v", rec.Hits)
	}
	rec = &entra.Record{Stream: entra.StreamSignIn, Actor: entra.Principal{UPN: bob.upn}, SignIn: entra.SignIn{ErrorCode: 50126, Status: "failure"}}
	e.NewEvaluator().Eval(rec)
	if h := findHit(rec, "test.first"); h == nil || h.Risk != "low" {
		t.Errorf("test.first: %+v", rec.Hits)
	}
}

func TestIncludeReenable(t *testing.T) {
	p, err := LoadPipeline("testdata/engine/reenable.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if second := defByID(t, p.Monitors, "test.second"); !second.IsEnabled() {
		t.Error("test.second is still disabled")
	}
	// Two levels of include: override.yaml's changes are kept.
	if first := defByID(t, p.Monitors, "test.first"); first.Risk != "low" || first.Params["extra"] != "added" {
		t.Errorf("test.first: %+v", first)
	}
}

func TestIncludeDiamondIsNotACycle(t *testing.T) {
	p, err := LoadPipeline("testdata/engine/diamond.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(p.Monitors), []string{"test.first", "test.second", "test.third", "custom.added"}; !slices.Equal(got, want) {
		t.Errorf("monitors %v, want %v", got, want)
	}
}

func TestIncludeErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	writeFile(t, missing, "include: [nowhere.yaml]\n")
	unknownKey := filepath.Join(dir, "unknown_key.yaml")
	writeFile(t, unknownKey, "monitors:\n  - id: test.x\n    titel: typo\n")

	for _, tc := range []struct {
		path string
		want []string
	}{
		{"testdata/engine/cycle_a.yaml", []string{"testdata/engine/cycle_a.yaml", "include cycle"}},
		{"testdata/engine/self.yaml", []string{"testdata/engine/self.yaml", "include cycle"}},
		{missing, []string{missing, "nowhere.yaml"}},
		{unknownKey, []string{unknownKey, "titel"}},
	} {
		_, err := LoadPipeline(tc.path)
		if err == nil {
			t.Errorf("%s: no error", tc.path)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %q", tc.path, err, w)
			}
		}
	}
}

// A file that lists the same id twice has a copy-paste mistake: it must
// not silently keep a merge of the two.
func TestDuplicateIDInOneFile(t *testing.T) {
	p, err := LoadPipeline("testdata/engine/duplicate.yaml")
	if err == nil {
		_, err = Compile(p.Monitors, nil, nil)
	}
	if err == nil {
		t.Fatalf("a duplicate id within one file was accepted (%d monitors)", len(p.Monitors))
	}
	for _, w := range []string{"testdata/engine/duplicate.yaml", `"test.dup"`, "duplicate"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
}

// ---- compile errors ---------------------------------------------------------

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

const goodMonitor = `
  - id: test.good
    title: Good
    risk: high
    source: signin
    when: actor.privileged
`

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		monitor string // YAML of one list entry
		id      string // the id the error must name ("" for none)
		want    string
	}{
		{"bad risk", "id: test.bad\n    title: T\n    risk: critical\n    source: signin\n    when: 'true'", "test.bad", `risk: "critical" is not high, medium or low`},
		{"missing risk", "id: test.bad\n    title: T\n    source: signin\n    when: 'true'", "test.bad", `risk: ""`},
		{"unknown source", "id: test.bad\n    title: T\n    risk: high\n    source: signins\n    when: 'true'", "test.bad", `source: "signins"`},
		{"when not bool", "id: test.bad\n    title: T\n    risk: high\n    source: signin\n    when: actor.upn", "test.bad", "when:"},
		{"when unknown field", "id: test.bad\n    title: T\n    risk: high\n    source: signin\n    when: signin.nope == 1", "test.bad", "nope"},
		{"when unknown function", "id: test.bad\n    title: T\n    risk: high\n    source: signin\n    when: Nope(actor.upn)", "test.bad", "Nope"},
		{"when syntax", "id: test.bad\n    title: T\n    risk: high\n    source: signin\n    when: actor.upn ==", "test.bad", "when:"},
		{"when missing", "id: test.bad\n    title: T\n    risk: high\n    source: signin", "test.bad", "when is required"},
		{"title missing", "id: test.bad\n    risk: high\n    source: signin\n    when: 'true'", "test.bad", "title is required"},
		{"reason unknown field", "id: test.bad\n    title: T\n    risk: high\n    source: signin\n    when: 'true'\n    reason: [actor.upn, signin.nope]", "test.bad", `reason "signin.nope"`},
		{"labelled reason unknown field", "id: test.bad\n    title: T\n    risk: high\n    source: signin\n    when: 'true'\n    reason: ['x=audit.nope']", "test.bad", `reason "x=audit.nope"`},
		{"risk_when not string", "id: test.bad\n    title: T\n    risk: high\n    source: signin\n    when: 'true'\n    risk_when: signin.errorCode", "test.bad", "risk_when:"},
		{"disabled but broken", "id: test.bad\n    title: T\n    risk: high\n    source: signin\n    enabled: false\n    when: signin.nope", "test.bad", "nope"},
		{"id upper case", "id: Signin.Legacy\n    title: T\n    risk: high\n    source: signin\n    when: 'true'", "Signin.Legacy", "id must be dotted lower-case words"},
		{"id without dot", "id: legacy_auth\n    title: T\n    risk: high\n    source: signin\n    when: 'true'", "legacy_auth", "id must be dotted lower-case words"},
		{"id empty segment", "id: signin..legacy\n    title: T\n    risk: high\n    source: signin\n    when: 'true'", "signin..legacy", "id must be dotted lower-case words"},
		{"id with dash", "id: signin.legacy-auth\n    title: T\n    risk: high\n    source: signin\n    when: 'true'", "signin.legacy-auth", "id must be dotted lower-case words"},
		{"id missing", "title: T\n    risk: high\n    source: signin\n    when: 'true'", "", "id is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pipeline.yaml")
			writeFile(t, path, "monitors:"+goodMonitor+"  - "+tc.monitor+"\n")
			p, err := LoadPipeline(path)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			e, err := Compile(p.Monitors, testStage(t).Roles(), nil)
			if err == nil {
				t.Fatalf("no error; engine has %v", engineIDs(e))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") {
				t.Errorf("error %q does not start with the file", msg)
			}
			if tc.id != "" && !strings.Contains(msg, `monitor "`+tc.id+`"`) {
				t.Errorf("error %q does not name monitor %q", msg, tc.id)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
		})
	}
}

// Compile's own duplicate check, for definitions that come from two
// pipelines put together by a caller.
func TestCompileDuplicateID(t *testing.T) {
	p, err := LoadPipeline("testdata/engine/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadPipeline("testdata/engine/override.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defs := append(slices.Clone(p.Monitors), defByID(t, other.Monitors, "test.first"))
	_, err = Compile(defs, nil, nil)
	if err == nil {
		t.Fatal("no error")
	}
	if want := `testdata/engine/override.yaml: monitor "test.first": duplicate id`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestCompileShippedAndIDsValid(t *testing.T) {
	p, err := LoadPipeline(shippedPipeline)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(p.Monitors, testStage(t).Roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every monitor is on but the opt-in ones, which read data many
	// tenants do not export and are not of the guide's catalog.
	optIn := map[string]bool{"graphactivity.emergency_account_write": true}
	var off []string
	for _, d := range p.Monitors {
		if !d.IsEnabled() {
			off = append(off, d.ID)
		}
		if optIn[d.ID] && (d.IsEnabled() || InGuide(d.ID)) {
			t.Errorf("%s: opt-in, and not of the guide", d.ID)
		}
	}
	if len(off) != len(optIn) || len(e.Monitors()) != len(p.Monitors)-len(optIn) {
		t.Errorf("shipped monitors off: %v, want only the opt-in ones", off)
	}
	for _, m := range e.Monitors() {
		if m.Notes == "" || len(m.Reason) == 0 {
			t.Errorf("%s: the annotation needs notes and a reason", m.ID)
		}
	}
}

// ---- reasons ----------------------------------------------------------------

func TestSplitReason(t *testing.T) {
	for _, tc := range []struct{ in, label, src string }{
		{"role=RoleChanged()", "role", "RoleChanged()"},
		{" by = actor.upn ", "by", "actor.upn "},
		{"signin.errorCode", "errorCode", "signin.errorCode"},
		{"ctx.device.id", "id", "ctx.device.id"},
		{"stream", "stream", "stream"},
		{"  actor.upn  ", "upn", "actor.upn"},
		{"lower(actor.upn)", "lower(actor.upn)", "lower(actor.upn)"},
		{"signin.errorCode == 50126", "signin.errorCode == 50126", "signin.errorCode == 50126"},
		{`riskEventTypes=join(signin.riskEventTypes, ",")`, "riskEventTypes", `join(signin.riskEventTypes, ",")`},
		{`old=ModifiedOld("UserType")`, "old", `ModifiedOld("UserType")`},
	} {
		label, src := splitReason(tc.in)
		if label != tc.label || src != tc.src {
			t.Errorf("splitReason(%q) = %q, %q; want %q, %q", tc.in, label, src, tc.label, tc.src)
		}
	}
}

func compileOne(t testing.TB, d Definition) *Engine {
	t.Helper()
	d.file = "test.yaml"
	e, err := Compile([]Definition{d}, testStage(t).Roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestReasonFormatting(t *testing.T) {
	e := compileOne(t, Definition{ID: "test.reason", Title: "Reason", Risk: "high", Source: "signin", When: "true", Reason: []string{
		"actor.upn",                        // plain path: labelled upn
		"signin.failureReason",             // spaces: quoted
		"signin.errorCode",                 // int
		"signin.isInteractive",             // bool
		"signin.userType",                  // empty string: quoted
		"none=nil",                         // nil: left out
		"lat=signin.location.latitude",     // float
		"at=time",                          // time: RFC 3339
		"signin.additionalDetails",         // quotes and '=' are quoted
		"types=signin.riskEventTypes",      // other values: quoted fmt.Sprint
		"n=len(signin.riskEventTypes) + 1", // an expression with a label
		"device=ctx.device.id",             // an error (nil device): left out
		"upper(actor.displayName)",         // unlabelled expression: labelled by its text
	}})
	rec := &entra.Record{Stream: entra.StreamSignIn, Time: time.Date(2024, 4, 2, 8, 15, 31, 0, time.UTC)}
	rec.Actor = entra.Principal{UPN: "adm_alice@contoso.example", DisplayName: "Alice"}
	rec.SignIn = entra.SignIn{ErrorCode: 50126, FailureReason: "Invalid username or password.", IsInteractive: true,
		AdditionalDetails: `say "no" = fraud`, RiskEventTypes: []string{"unfamiliarFeatures", "anonymizedIPAddress"},
		Location: entra.Location{Latitude: 47.5}}
	e.NewEvaluator().Eval(rec)
	if len(rec.Hits) != 1 {
		t.Fatalf("hits %v", rec.Hits)
	}
	want := `upn=adm_alice@contoso.example failureReason="Invalid username or password." errorCode=50126 isInteractive=true ` +
		`userType="" lat=47.5 at=2024-04-02T08:15:31Z additionalDetails="say \"no\" = fraud" ` +
		`types="[unfamiliarFeatures anonymizedIPAddress]" n=3 upper(actor.displayName)=ALICE`
	if got := rec.Hits[0].Reason; got != want {
		t.Errorf("reason\n got %s\nwant %s", got, want)
	}
	// A reason that cannot be evaluated is not a runtime error of the monitor.
	if n := e.Monitors()[0].Errors(); n != 0 {
		t.Errorf("Errors() = %d", n)
	}
}

// The evaluator reuses its reason buffer: earlier hits must keep their text.
func TestReasonNotOverwritten(t *testing.T) {
	e := compileOne(t, Definition{ID: "test.reason", Title: "Reason", Risk: "high", Source: "signin", When: "true", Reason: []string{"actor.upn"}})
	ev := e.NewEvaluator()
	a := &entra.Record{Stream: entra.StreamSignIn, Actor: entra.Principal{UPN: "first@contoso.example"}}
	b := &entra.Record{Stream: entra.StreamSignIn, Actor: entra.Principal{UPN: "second@contoso.example"}}
	ev.Eval(a)
	ev.Eval(b)
	if a.Hits[0].Reason != "upn=first@contoso.example" || b.Hits[0].Reason != "upn=second@contoso.example" {
		t.Errorf("reasons %q, %q", a.Hits[0].Reason, b.Hits[0].Reason)
	}
}

// ---- evaluation -------------------------------------------------------------

func TestRuntimeErrorCounted(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	defs := []Definition{
		{ID: "test.index", Title: "Index", Risk: "high", Source: "signin", When: `params.list[5] == "x"`,
			Params: map[string]any{"list": []any{"a"}}, file: "test.yaml"},
		{ID: "test.convert", Title: "Convert", Risk: "high", Source: "signin", When: `int(actor.upn) > 0`, file: "test.yaml"},
		{ID: "test.nilptr", Title: "Nil pointer", Risk: "high", Source: "signin", When: `ctx.device.paw`, file: "test.yaml"},
		{ID: "test.after", Title: "After", Risk: "low", Source: "signin", When: "true", file: "test.yaml"},
	}
	e, err := Compile(defs, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ev := e.NewEvaluator()
	for i := 0; i < 3; i++ {
		rec := &entra.Record{Stream: entra.StreamSignIn, Origin: "test:1", Actor: entra.Principal{UPN: "adm_alice@contoso.example"}}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Eval panicked: %v", r)
				}
			}()
			ev.Eval(rec)
		}()
		if got := hitIDs(rec); got != "[test.after]" {
			t.Errorf("hits %s: the monitors after a failing one must still run", got)
		}
	}
	for _, m := range e.Monitors()[:3] {
		if m.Errors() != 3 {
			t.Errorf("%s: Errors() = %d, want 3", m.ID, m.Errors())
		}
	}
	if n := e.Monitors()[3].Errors(); n != 0 {
		t.Errorf("test.after: Errors() = %d", n)
	}
	// One log line per monitor, not one per record.
	for _, id := range []string{"test.index", "test.convert", "test.nilptr"} {
		if n := strings.Count(logs.String(), "monitor="+id+" "); n != 1 {
			t.Errorf("%s logged %d times:\n%s", id, n, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "origin=test:1") {
		t.Errorf("log does not name the record's origin:\n%s", logs.String())
	}
}

func TestRiskWhen(t *testing.T) {
	e := compileOne(t, Definition{ID: "test.risk", Title: "Risk", Risk: "high", Source: "signin", When: "true",
		RiskWhen: `signin.errorCode == 1 ? "low" : signin.errorCode == 2 ? "critical" : signin.errorCode == 3 ? params.nope[0] : "medium"`})
	ev := e.NewEvaluator()
	for code, want := range map[int]string{0: "medium", 1: "low", 2: "high" /* not a risk: the monitor's */, 3: "high" /* error: the monitor's */} {
		rec := &entra.Record{Stream: entra.StreamSignIn, SignIn: entra.SignIn{ErrorCode: code}}
		ev.Eval(rec)
		if len(rec.Hits) != 1 || rec.Hits[0].Risk != want {
			t.Errorf("errorCode %d: hits %+v, want risk %s", code, rec.Hits, want)
		}
	}
}

func TestEvalOnlyTheRecordsStream(t *testing.T) {
	var defs []Definition
	for _, s := range entra.Streams {
		defs = append(defs, Definition{ID: "test." + string(s), Title: string(s), Risk: "low", Source: string(s), When: "true", file: "test.yaml"})
	}
	e, err := Compile(defs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := e.NewEvaluator()
	for _, s := range entra.Streams {
		rec := &entra.Record{Stream: s}
		ev.Eval(rec)
		if got := hitIDs(rec); got != "[test."+string(s)+"]" {
			t.Errorf("stream %s: hits %s", s, got)
		}
	}
	// A record of no known stream meets no monitor.
	rec := &entra.Record{Stream: "unheard-of"}
	ev.Eval(rec)
	if len(rec.Hits) != 0 {
		t.Errorf("hits %v", rec.Hits)
	}
}

// Hits come in the order of the pipeline file, and Eval appends to the
// hits already on the record.
func TestHitsInFileOrder(t *testing.T) {
	e := loadEngine(t, shippedPipeline)
	rec := &entra.Record{Stream: entra.StreamSignIn, Hits: []entra.Hit{{ID: "earlier.stage"}}}
	rec.Actor = entra.Principal{UPN: glass.upn, Privileged: true, Emergency: true}
	rec.SignIn = entra.SignIn{ErrorCode: 53003, Status: "failure", ClientAppUsed: "IMAP4"}
	e.NewEvaluator().Eval(rec)
	if got, want := hitIDs(rec), "[earlier.stage breakglass.signin signin.ca_failure signin.legacy_auth]"; got != want {
		t.Errorf("hits %s, want %s", got, want)
	}
}

// ---- Env helpers ------------------------------------------------------------

// when compiles src as the filter of a monitor of rec's stream and reports
// whether it hits rec: the helpers are tested as expressions see them.
func when(t *testing.T, rec *entra.Record, src string) bool {
	t.Helper()
	e, err := Compile([]Definition{{ID: "test.helper", Title: "Helper", Risk: "low", Source: string(rec.Stream), When: src, file: "test.yaml"}},
		testStage(t).Roles(), nil)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	rec.Hits = nil
	e.NewEvaluator().Eval(rec)
	if n := e.Monitors()[0].Errors(); n != 0 {
		t.Fatalf("%s: runtime error", src)
	}
	return len(rec.Hits) == 1
}

func TestEnvHelpers(t *testing.T) {
	rec := &entra.Record{Stream: entra.StreamAudit}
	rec.Actor = entra.Principal{UPN: "ADM_Alice@Contoso.example"}
	rec.Audit.ResultReason = "MFA denied; Fraud code entered"
	rec.Audit.Targets = []entra.Target{
		{Principal: entra.Principal{Type: "User", UPN: "a@contoso.example"},
			ModifiedProperties: []entra.ModifiedProperty{{DisplayName: "Role.TemplateId", NewValue: globalAdminID},
				{DisplayName: "UserType", OldValue: "Guest", NewValue: "Member"}}},
		{Principal: entra.Principal{Type: "user", ID: "id-b"}},
		{Principal: entra.Principal{Type: "Role", DisplayName: "Directory Readers"}},
		{Principal: entra.Principal{Type: "Application", DisplayName: "Payroll API"}},
	}
	for src, want := range map[string]bool{
		`TargetUPNs() == "a@contoso.example,id-b"`:            true,
		`TargetNames() == "Directory Readers,Payroll API"`:    true,
		`RoleChanged() == "` + globalAdminID + `"`:            true, // Role.TemplateId before a Role target
		`PrivilegedRoleChanged()`:                             true,
		`PrivilegedRole("global administrator")`:              true,
		`PrivilegedRole("Reports Reader")`:                    false,
		`PrivilegedRole("")`:                                  false,
		`In(actor.upn, ["x", "adm_alice@contoso.example"])`:   true,
		`In(actor.upn, [1, "b"])`:                             false,
		`In("", [])`:                                          false,
		`Contains(audit.resultReason, "fraud")`:               true,
		`Contains("ab", "abc")`:                               false,
		`Contains("x", "")`:                                   true,
		`Modified("usertype") == "Member"`:                    true,
		`ModifiedOld("UserType") == "Guest"`:                  true,
		`Modified("nope") == "" && ModifiedOld("nope") == ""`: true,
		`AnyModified("62E90394")`:                             true,
		`AnyModified("zzz")`:                                  false,
	} {
		if got := when(t, rec, src); got != want {
			t.Errorf("%s = %v, want %v", src, got, want)
		}
	}
	// Without a role set (no privilege stage) no role is privileged.
	e, err := Compile([]Definition{{ID: "test.roles", Title: "Roles", Risk: "low", Source: "audit", When: `PrivilegedRole("Global Administrator")`, file: "t.yaml"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.Hits = nil
	e.NewEvaluator().Eval(rec)
	if len(rec.Hits) != 0 {
		t.Error("PrivilegedRole without a role set must be false")
	}
}

// The engine may check a filter's leading "actor.privileged &&" (or
// emergencyAccess) in Go before running the VM: that must never change
// what hits.
func TestGuardMatchesVM(t *testing.T) {
	filters := []string{
		"actor.privileged",
		"actor.privileged && signin.errorCode == 50126",
		"actor.privileged and signin.errorCode == 50126",
		"actor.privileged && signin.errorCode == 50126 && signin.status == \"failure\"",
		"(actor.privileged && signin.errorCode == 50126) && true",
		"actor.emergencyAccess && true",
		"actor.privileged || signin.errorCode == 50126",
		"(actor.privileged || actor.emergencyAccess) && signin.errorCode == 50126",
		"!actor.privileged && signin.errorCode == 50126",
		"actor.privileged == false && signin.errorCode == 50126",
		"signin.errorCode == 50126 && actor.privileged",
		"actor?.privileged && signin.errorCode == 50126",
	}
	var defs []Definition
	for i, f := range filters {
		defs = append(defs, Definition{ID: "test.g" + string(rune('a'+i)), Title: f, Risk: "low", Source: "signin", When: f, file: "test.yaml"})
	}
	guarded, err := Compile(defs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Compile(defs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range plain.Monitors() {
		m.guard = nil
	}
	for _, p := range []entra.Principal{{}, {Privileged: true}, {Privileged: true, Emergency: true}} {
		for _, code := range []int{0, 50126} {
			status := "success"
			if code != 0 {
				status = "failure"
			}
			a := &entra.Record{Stream: entra.StreamSignIn, Actor: p, SignIn: entra.SignIn{ErrorCode: code, Status: status}}
			b := &entra.Record{Stream: entra.StreamSignIn, Actor: p, SignIn: entra.SignIn{ErrorCode: code, Status: status}}
			guarded.NewEvaluator().Eval(a)
			plain.NewEvaluator().Eval(b)
			if hitIDs(a) != hitIDs(b) {
				t.Errorf("actor %+v, errorCode %d: with guards %s, without %s", p, code, hitIDs(a), hitIDs(b))
			}
		}
	}
}

// The guard lets a monitor of privileged accounts skip the VM for every
// other record; it must never skip a record the filter would match, and
// an exact one must say what the VM says.
func TestPrefilter(t *testing.T) {
	admin := &entra.Record{Actor: entra.Principal{Privileged: true, UPN: "adm_x@contoso.com"}, SignIn: entra.SignIn{ErrorCode: 50053}}
	glass := &entra.Record{Actor: entra.Principal{Emergency: true}}
	nobody := &entra.Record{}
	reset := &entra.Record{Audit: entra.Audit{ActivityDisplayName: "Reset user password", LoggedByService: "Core Directory"}}
	pim := &entra.Record{Audit: entra.Audit{ActivityDisplayName: "Add member to role completed (PIM activation)", LoggedByService: "PIM"}}
	fraud := &entra.Record{Audit: entra.Audit{ActivityDisplayName: "Fraud reported - user is blocked for MFA"}}
	denied := &entra.Record{SignIn: entra.SignIn{Status: "failure", ErrorCode: 500121, RiskEventTypes: []string{"unfamiliarFeatures", "anonymizedIPAddress"}, AuthenticationDetails: []entra.AuthStep{
		{ResultDetail: "MFA successfully completed"}, {ResultDetail: "MFA denied; Fraud Code entered"}}}}
	roleOfGlass := &entra.Record{Audit: entra.Audit{Category: "RoleManagement", Targets: []entra.Target{
		{Principal: entra.Principal{Type: "User", ID: "u1"}}, {Principal: entra.Principal{Type: "User", ID: "u2", Emergency: true}}}}}
	app := &entra.Record{Audit: entra.Audit{Category: "ApplicationManagement", Targets: []entra.Target{
		{Principal: entra.Principal{Type: "ServicePrincipal", ID: "sp-1", DisplayName: "Contoso HR"}}}}}
	all := []*entra.Record{admin, glass, nobody, reset, pim, fraud, denied, roleOfGlass, app}
	params := map[string]any{
		"activities": []any{"Reset user password", "Change user password"},
		"mixed":      []any{"Reset user password", 3},
		"apps":       []any{"contoso hr", "Payroll"},
		"none":       []any{},
	}
	tests := []struct {
		when            string
		filtered, exact bool
		admit           []*entra.Record // what the prefilter lets through
	}{
		{`actor.privileged && signin.errorCode == 50053`, true, true, []*entra.Record{admin}},
		{`actor.privileged && signin.errorCode in [50053, 50126]`, true, true, []*entra.Record{admin}},
		{`actor.privileged && !actor.emergencyAccess && signin.errorCode != 0`, true, true, []*entra.Record{admin}},
		{`actor.emergencyAccess`, true, true, []*entra.Record{glass}},
		{`true`, true, true, all},
		{`(actor.privileged || actor.emergencyAccess) && string(stream) == "risk"`, true, false, []*entra.Record{admin, glass}},
		{`(actor.privileged or actor.emergencyAccess) and true`, true, true, []*entra.Record{admin, glass}},
		{`signin.errorCode == 50053 && actor.privileged`, true, true, []*entra.Record{admin}},
		{`audit.activityDisplayName in ["Reset user password", "Delete user"]`, true, true, []*entra.Record{reset}},
		{`audit.loggedByService == "PIM" && audit.activityDisplayName == "Add member to role completed (PIM activation)"`, true, true, []*entra.Record{pim}},
		{`"PIM" == audit.loggedByService`, true, true, []*entra.Record{pim}},
		{`audit.activityDisplayName startsWith "Fraud reported"`, true, true, []*entra.Record{fraud}},
		{`audit.activityDisplayName == "Reset user password" || audit.loggedByService == "PIM"`, true, true, []*entra.Record{reset, pim}},
		{`audit.activityDisplayName != "Reset user password"`, true, true, []*entra.Record{admin, glass, nobody, pim, fraud, denied, roleOfGlass, app}},
		{`!(audit.loggedByService == "PIM")`, true, true, []*entra.Record{admin, glass, nobody, reset, fraud, denied, roleOfGlass, app}},
		// any() over a slice field, the element's fields (an embedded
		// struct's promoted), Contains and In: exact in Go.
		{`audit.activityDisplayName in params.activities && any(audit.targets, .privileged)`, true, true, nil},
		{`audit.category == "RoleManagement" && any(audit.targets, .emergencyAccess)`, true, true, []*entra.Record{roleOfGlass}},
		{`any(audit.targets, .principal.id == "u2")`, true, true, []*entra.Record{roleOfGlass}},
		{`signin.status != "success" && any(signin.authenticationDetails, Contains(.authenticationStepResultDetail, "fraud"))`, true, true, []*entra.Record{denied}},
		{`signin.errorCode == 500121 && !any(signin.authenticationDetails, .authenticationStepResultDetail startsWith "MFA s")`, true, true, nil},
		{`any(audit.targets, .type in ["Application", "ServicePrincipal"] && (In(.displayName, params.apps) || In(.id, params.none)))`, true, true, []*entra.Record{app}},
		{`any(audit.targets, In(.displayName, params.none))`, true, true, nil},
		// A list of strings: # is the element itself.
		{`any(signin.riskEventTypes, # == "unfamiliarFeatures")`, true, true, []*entra.Record{denied}},
		{`any(signin.riskEventTypes, # in ["leakedCredentials", "anonymizedIPAddress"])`, true, true, []*entra.Record{denied}},
		{`any(signin.riskEventTypes, # startsWith "unfam" && Contains(#, "FEATURES") && In(#, ["UNFAMILIARfeatures"]))`, true, true, []*entra.Record{denied}},
		{`any(signin.riskEventTypes, # == "leakedCredentials")`, true, true, nil},
		{`(actor.privileged || Contains(actor.upn, "ADM_")) && actor.upn != ""`, true, true, []*entra.Record{admin}},
		{`actor.privileged || Contains(actor.upn, "x")`, true, true, []*entra.Record{admin}},
		{`!(actor.privileged && Contains(actor.upn, "x"))`, true, true, []*entra.Record{glass, nobody, reset, pim, fraud, denied, roleOfGlass, app}},
		{`In(audit.activityDisplayName, params.activities)`, true, true, []*entra.Record{reset}},
		// Inexact: the VM decides what the prefilter lets through.
		{`audit.category == "RoleManagement" && any(audit.targets, .privileged && actor.privileged)`, true, false, []*entra.Record{roleOfGlass}},
		{`signin.status != "success" && any(signin.authenticationDetails, lower(.authenticationStepResultDetail) == "x")`, true, false,
			[]*entra.Record{admin, glass, nobody, reset, pim, fraud, denied, roleOfGlass, app}},
		// No prefilter: the VM alone decides.
		{`actor.privileged || Contains(actor.upn, actor.displayName)`, false, false, nil},
		{`audit.activityDisplayName in params.mixed`, false, false, nil},
		{`audit.activityDisplayName in params.missing`, false, false, nil},
		{`In(audit.activityDisplayName, params.missing)`, false, false, nil},
		{`In(audit.activityDisplayName, params.mixed)`, false, false, nil}, // a lookup: not inlined
		{`lower(audit.activityDisplayName) == "reset user password"`, false, false, nil},
		{`ctx.device.paw == true`, false, false, nil},
		{`any(audit.targets, TargetUser() != "")`, false, false, nil},
	}
	for _, tt := range tests {
		prog, err := compile(tt.when, expr.AsBool(), inlineParams(params))
		if err != nil {
			t.Fatalf("%s: %v", tt.when, err)
		}
		pf := prefilterOf(prog)
		if (pf.f != nil) != tt.filtered || pf.exact != tt.exact {
			t.Errorf("%s: prefiltered %v exact %v, want %v %v", tt.when, pf.f != nil, pf.exact, tt.filtered, tt.exact)
			continue
		}
		if pf.f == nil {
			continue
		}
		env := newEnv(nil)
		for i, r := range all {
			if want := slices.Contains(tt.admit, r); pf.f(r) != want {
				t.Errorf("%s: prefilter(record %d) = %v, want %v", tt.when, i, pf.f(r), want)
			}
			if !pf.exact {
				continue
			}
			env.set(r)
			out, err := expr.Run(prog, env)
			if err != nil {
				t.Fatalf("%s: %v", tt.when, err)
			}
			if out != pf.f(r) {
				t.Errorf("%s: record %d: the VM says %v, the exact prefilter %v", tt.when, i, out, pf.f(r))
			}
		}
	}
}

// Every exact prefilter of the shipped monitors (with the lists the
// params pipeline sets, and the opt-in ones) answers what its expression
// answers, over the hot-path mix and variants of it that reach the forms
// the mix rarely does (emergency access targets, fraud in an MFA step,
// high-value apps).
func TestExactPrefiltersAgreeWithTheVM(t *testing.T) {
	recs, _ := hotMix()
	var variants []*entra.Record
	for i, r := range recs[:4000] {
		v := *r
		v.Audit.Targets = slices.Clone(r.Audit.Targets)
		for k := range v.Audit.Targets {
			v.Audit.Targets[k].Emergency = i%2 == 0
			v.Audit.Targets[k].DisplayName = "Contoso HR"
			v.Audit.Targets[k].Type = []string{"Application", "ServicePrincipal", "User"}[i%3]
		}
		v.SignIn.AuthenticationDetails = append(slices.Clone(r.SignIn.AuthenticationDetails), entra.AuthStep{ResultDetail: "MFA denied; fraud code entered"})
		v.SignIn.AdditionalDetails = "MFA denied; user reported FRAUD"
		v.Actor.Emergency = i%5 == 0
		variants = append(variants, &v)
	}
	records := append(slices.Clone(recs), variants...)
	exact := 0
	for _, path := range []string{shippedPipeline, paramsPipeline, optInPipeline} {
		e := mixEngine(t, path)
		env := newEnv(nil)
		for _, m := range e.Monitors() {
			filters := []*filter{&m.filter}
			for _, s := range m.sides {
				filters = append(filters, &s.filter)
			}
			for k, f := range filters {
				if !f.exact || f.native != nil {
					continue
				}
				exact++
				disagree := 0
				for _, r := range records {
					env.set(r)
					env.Params = m.Params
					out, err := expr.Run(f.when, env)
					if err != nil {
						t.Fatalf("%s filter %d: %v", m.ID, k, err)
					}
					if out != f.guard(r) && disagree < 3 {
						disagree++
						t.Errorf("%s (%s) filter %d: the VM says %v, the exact prefilter %v", m.ID, path, k, out, f.guard(r))
					}
				}
			}
		}
	}
	t.Logf("%d exact filters", exact)
	if exact < 20 {
		t.Errorf("only %d exact filters: the forms the shipped monitors use are not compiled to Go", exact)
	}
}

// A monitor's params are written into its expressions as literals: they
// act as before (lists with in and In, numbers, a pattern behind matches,
// reasons), and the compiled filter fetches nothing from params at run
// time. A param the monitor does not set stays a lookup (nil).
func TestParamsAreInlined(t *testing.T) {
	params := map[string]any{
		"clients": []any{"Exchange ActiveSync", "IMAP4"},
		"apps":    []any{"Azure Portal"},
		"code":    50126,
		"pattern": `^adm_`,
	}
	e := compileOne(t, Definition{ID: "test.params", Title: "Params", Risk: "high", Source: "signin", Params: params,
		When: `(signin.clientAppUsed in params.clients || In(signin.appDisplayName, params.apps)) && signin.errorCode == params.code &&
			actor.upn matches params.pattern && params.unset == nil`,
		Reason: []string{"pattern=params.pattern", "signin.clientAppUsed"}})
	ev := e.NewEvaluator()
	for _, tc := range []struct {
		name        string
		client, app string
		code        int
		upn         string
		want        bool
	}{
		{"listed client", "IMAP4", "Office", 50126, "adm_a@contoso.com", true},
		{"listed app, any case", "Browser", "azure portal", 50126, "adm_a@contoso.com", true},
		{"neither listed", "Browser", "Office", 50126, "adm_a@contoso.com", false},
		{"other code", "IMAP4", "Office", 0, "adm_a@contoso.com", false},
		{"pattern not matched", "IMAP4", "Office", 50126, "bob@contoso.com", false},
	} {
		rec := &entra.Record{Stream: entra.StreamSignIn, SignIn: entra.SignIn{ClientAppUsed: tc.client, AppDisplayName: tc.app, ErrorCode: tc.code}}
		rec.Actor.UPN = tc.upn
		ev.Eval(rec)
		if got := len(rec.Hits) == 1; got != tc.want {
			t.Errorf("%s: hits %+v, want a hit %v", tc.name, rec.Hits, tc.want)
		}
		if tc.want && len(rec.Hits) == 1 && !strings.Contains(rec.Hits[0].Reason, "pattern=^adm_") {
			t.Errorf("%s: reason %q", tc.name, rec.Hits[0].Reason)
		}
	}
	m := e.Monitors()[0]
	dis := m.when.Disassemble()
	if strings.Contains(dis, "clients") || strings.Contains(dis, "pattern") || !strings.Contains(dis, "OpMatchesConst") || !strings.Contains(dis, "unset") {
		t.Errorf("params still fetched at run time (or the unset one inlined):\n%s", dis)
	}
}

// Every Env method an expression may call is routed to its function (no
// reflection per call), with the same results.
func TestEnvMethodsAreFunctions(t *testing.T) {
	if len(envFunctions) != len(envMethods) {
		t.Fatalf("%d routed, %d functions", len(envMethods), len(envFunctions))
	}
	// Env's own methods, not those the embedded record brings.
	typ, recType := reflect.TypeFor[*Env](), reflect.TypeFor[*entra.Record]()
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if _, promoted := recType.MethodByName(name); !promoted && !envMethods[name] {
			t.Errorf("Env.%s is not routed to a function", name)
		}
	}
	e := compileOne(t, Definition{ID: "test.envfuncs", Title: "Env functions", Risk: "high", Source: "audit",
		When:   `Modified("UserType") == "Member" && ModifiedOld("UserType") == "Guest" && any(audit.targets, TargetUser() != "")`,
		Reason: []string{"user=TargetUser()"}})
	m := e.Monitors()[0]
	if dis := m.when.Disassemble(); strings.Contains(dis, "OpMethod") || !strings.Contains(dis, "Modified"+envFuncSuffix) {
		t.Fatalf("methods still called by reflection:\n%s", dis)
	}
	rec := &entra.Record{Stream: entra.StreamAudit, Audit: entra.Audit{Targets: []entra.Target{{
		Principal:          entra.Principal{Type: "User", UPN: "guest@contoso.com"},
		ModifiedProperties: []entra.ModifiedProperty{{DisplayName: "UserType", OldValue: `["Guest"]`, NewValue: `["Member"]`}},
	}}}}
	ev := e.NewEvaluator()
	ev.Eval(rec)
	if len(rec.Hits) != 1 || !strings.Contains(rec.Hits[0].Reason, "guest@contoso.com") {
		t.Fatalf("hits %+v", rec.Hits)
	}
	miss := &entra.Record{Stream: entra.StreamAudit, Audit: entra.Audit{Targets: []entra.Target{{
		Principal:          entra.Principal{Type: "User", UPN: "guest@contoso.com"},
		ModifiedProperties: []entra.ModifiedProperty{{DisplayName: "UserType", OldValue: `["Member"]`, NewValue: `["Member"]`}},
	}}}}
	ev.Eval(miss)
	if len(miss.Hits) != 0 {
		t.Fatalf("near miss hit: %+v", miss.Hits)
	}
}
