package splunk

// The conformance suite (issue 15): Splunk's Enterprise Security Content
// Update (ESCU) detections for Entra ID (splunk/security_content,
// detections/cloud/azure_ad_*.yml and the other searches of the
// azure_monitor_aad macro) and the Dashboard Studio dashboard, over the
// HEC events this package's Encoder sends.
//
// Each entry of confDetections names a detection, quotes its search as it
// is in the file, and states the conditions the search puts on one event
// (derived by hand from the SPL: this is no SPL engine). Fields are the
// names Splunk's JSON extraction gives the event (properties.status.errorCode,
// properties.authenticationDetails{}.succeeded: arrays are {}); values
// compare as the search command compares them (case-insensitively, * a
// wildcard), and a field a stats … by clause groups on must be there, or
// the event gives no result row. The macro azure_monitor_aad is
// sourcetype=azure:monitor:aad. A record from testdata/conformance is
// decoded by entra.Decoder, enriched as privtrail's stages would
// (confEnrich), encoded by the Encoder, and the event must satisfy every
// condition; the same record with one edit (a near miss) must not. Records
// of a category Microsoft Graph also serves are checked a second time in
// their Graph form, with the default envelope: diagnostic.
//
// Fields of the Splunk Add-on for Microsoft Cloud Services (user, src_ip,
// user_agent, src_user, action, …: its aliases and evals for
// azure:monitor:aad, which are not public) are named in each entry's ta,
// not evaluated. Entries with a skip reason need many events (or an add-on
// field in their filter): their per-event filter is checked, but they do
// not count as applying.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/conformance"
)

// confContentCommit is the splunk/security_content commit the searches
// were copied from.
const confContentCommit = "b13b314aed0e1778335a55620474e7d27289a20a"

// confEntraDetectionsFound is how many detections of that commit search
// the azure_monitor_aad macro (detections/cloud/azure_ad_*.yml and
// azure_active_directory_high_risk_sign_in.yml); every one is in
// confDetections.
const confEntraDetectionsFound = 44

// ---- conditions ---------------------------------------------------------------

// confCond is one condition of a search on an event.
type confCond struct {
	op    string // "eq", "ne", "exists", "at", "pair", "not", "or", "and", "pred"
	field string
	val   string // a search value: case-insensitive, * a wildcard
	idx   int    // at: mvindex
	key   string // pair: mvfind's regular expression
	other string // pair: the field mvindex reads
	sub   []confCond
	desc  string
	pred  func(ev map[string]any) bool
}

// sEq: field=value (any value of a multivalue field).
func sEq(f, v string) confCond { return confCond{op: "eq", field: f, val: v} }

// sNe: field!=value: the field is there and no value matches.
func sNe(f, v string) confCond { return confCond{op: "ne", field: f, val: v} }

// sExists: field=*, or a field a stats … by groups on.
func sExists(f string) confCond { return confCond{op: "exists", field: f} }

// sAt: mvindex(field, i) matches v.
func sAt(f string, i int, v string) confCond { return confCond{op: "at", field: f, idx: i, val: v} }

// sPair: mvindex(other, mvfind(field, key)) matches v — the searches'
// way of reading the modified property named key.
func sPair(field, key, other, v string) confCond {
	return confCond{op: "pair", field: field, key: key, other: other, val: v}
}

func sNot(c confCond) confCond     { return confCond{op: "not", sub: []confCond{c}} }
func sOr(cs ...confCond) confCond  { return confCond{op: "or", sub: cs} }
func sAnd(cs ...confCond) confCond { return confCond{op: "and", sub: cs} }

// sPred: what the others cannot say (spath of a value, rex, a lookup),
// with what it checks.
func sPred(desc string, p func(ev map[string]any) bool) confCond {
	return confCond{op: "pred", desc: desc, pred: p}
}

func (c confCond) String() string {
	switch c.op {
	case "eq":
		return c.field + "=" + strconv.Quote(c.val)
	case "ne":
		return c.field + "!=" + strconv.Quote(c.val)
	case "exists":
		return c.field + "=*"
	case "at":
		return fmt.Sprintf("mvindex(%s, %d)=%q", c.field, c.idx, c.val)
	case "pair":
		return fmt.Sprintf("mvindex(%s, mvfind(%s, %q))=%q", c.other, c.field, c.key, c.val)
	case "not":
		return "NOT (" + c.sub[0].String() + ")"
	case "or", "and":
		var parts []string
		for _, s := range c.sub {
			parts = append(parts, s.String())
		}
		return "(" + strings.Join(parts, " "+strings.ToUpper(c.op)+" ") + ")"
	}
	return c.desc
}

// confList is the (multi)value of a field as Splunk's JSON extraction
// names it: a.b for objects, a{}.b through arrays. Nulls are not values.
func confList(v any, field string) []string {
	var out []string
	var walk func(v any, segs []string)
	walk = func(v any, segs []string) {
		if len(segs) == 0 {
			switch v := v.(type) {
			case string:
				out = append(out, v)
			case json.Number:
				out = append(out, v.String())
			case bool:
				out = append(out, strconv.FormatBool(v))
			}
			return
		}
		seg, arr := strings.CutSuffix(segs[0], "{}")
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		x := m[seg]
		if !arr {
			walk(x, segs[1:])
			return
		}
		a, _ := x.([]any)
		for _, e := range a {
			walk(e, segs[1:])
		}
	}
	walk(v, strings.Split(field, "."))
	return out
}

// confMatch compares as the search command does: case-insensitive, * a
// wildcard.
func confMatch(pattern, s string) bool {
	re := "(?is)^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(s)
}

func (c confCond) eval(ev map[string]any) bool {
	switch c.op {
	case "eq", "ne", "exists":
		vals := confList(ev, c.field)
		some := false
		for _, v := range vals {
			some = some || confMatch(c.val, v)
		}
		switch c.op {
		case "eq":
			return some
		case "ne":
			return len(vals) > 0 && !some
		}
		return len(vals) > 0
	case "at":
		vals := confList(ev, c.field)
		return c.idx < len(vals) && confMatch(c.val, vals[c.idx])
	case "pair":
		keys := confList(ev, c.field)
		re := regexp.MustCompile(c.key)
		for i, k := range keys {
			if re.MatchString(k) {
				vals := confList(ev, c.other)
				return i < len(vals) && confMatch(c.val, vals[i])
			}
		}
		return false
	case "not":
		return !c.sub[0].eval(ev)
	case "or":
		for _, s := range c.sub {
			if s.eval(ev) {
				return true
			}
		}
		return false
	case "and":
		for _, s := range c.sub {
			if !s.eval(ev) {
				return false
			}
		}
		return true
	case "pred":
		return c.pred(ev)
	}
	panic("unknown condition " + c.op)
}

// confAt is mvindex(field, i), "" when there is none.
func confAt(ev map[string]any, field string, i int) string {
	vals := confList(ev, field)
	if i < len(vals) {
		return vals[i]
	}
	return ""
}

// confPairValue is mvindex(other, mvfind(field, key)).
func confPairValue(ev map[string]any, field, key, other string) string {
	re := regexp.MustCompile(key)
	for i, k := range confList(ev, field) {
		if re.MatchString(k) {
			return confAt(ev, other, i)
		}
	}
	return ""
}

// confSpath is spath input=<text>: the JSON text's values at a path in
// Splunk's notation ({}.ResourceAppId for the members of a top-level
// array).
func confSpath(text, path string) []string {
	var v any
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return nil
	}
	if a, ok := v.([]any); ok && strings.HasPrefix(path, "{}.") {
		var out []string
		for _, e := range a {
			out = append(out, confList(e, strings.TrimPrefix(path, "{}."))...)
		}
		return out
	}
	return confList(v, path)
}

// confRex is rex's first capture of re in s, "" without a match.
func confRex(s, re string) string {
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if len(m) < 2 {
		return ""
	}
	return m[1]
}

// ---- records ------------------------------------------------------------------

// confRecord decodes testdata/conformance/<name>.json (with edit, if any),
// in its diagnostic form or, with graph, its Graph form.
func confRecord(t testing.TB, name string, edit *conformance.Edit, graph bool) (*entra.Record, bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "conformance", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.TrimSpace(raw)
	if edit != nil {
		raw = edit.Apply(t, raw)
	}
	var dec entra.Decoder
	rec := &entra.Record{Origin: name}
	if !graph {
		if err := dec.Decode(raw, rec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return rec, true
	}
	g, category, tenant, ok := conformance.GraphForm(t, raw)
	if !ok {
		return nil, false
	}
	if err := dec.Decode(g, rec); err != nil {
		*rec = entra.Record{Origin: name}
		if err := dec.DecodeGraphItem(g, category, time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC), rec); err != nil {
			t.Fatalf("%s (Graph form): %v", name, err)
		}
	}
	if rec.Shape != entra.ShapeGraph || rec.LogCategory != category {
		t.Fatalf("%s: the Graph form decodes as %s %s, the record is %s", name, rec.Shape, rec.LogCategory, category)
	}
	rec.TenantID = tenant
	return rec, true
}

var confGlobalAdmin = entra.RoleHeld{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10",
	Assignment: "eligible", Via: "direct", Privileged: true}

// confHits are the monitors of docs/monitor-triggers.md these records hit
// when their actor is privileged, as the monitor stage would annotate them
// (written here, not evaluated: the monitor catalog is tested in monitor/).
var confHits = map[string][]entra.Hit{
	"si_mfa_oath_500121":    {{ID: "signin.mfa_interrupt", Title: "Privileged sign-in failed at MFA", Risk: "high", Source: "signin", Reason: "errorCode=500121"}},
	"si_mfa_denied_500121":  {{ID: "signin.mfa_interrupt", Title: "Privileged sign-in failed at MFA", Risk: "high", Source: "signin", Reason: "errorCode=500121"}},
	"si_high_risk":          {{ID: "signin.identity_protection_risk", Title: "Risk on a privileged sign-in", Risk: "high", Source: "signin", Reason: "riskState=atRisk riskLevelDuringSignIn=high"}},
	"elastic_userriskevent": {{ID: "signin.identity_protection_risk", Title: "Risk on a privileged sign-in", Risk: "high", Source: "risk", Reason: "riskState=atRisk riskLevel=high"}},
	"audit_pim_activation":  {{ID: "pim.elevation", Title: "PIM role activation", Risk: "medium", Source: "audit", Reason: "role=Global Administrator"}},
	"audit_pim_eligible_global_admin": {{ID: "pim.eligible_role_added", Title: "Eligible privileged role added in PIM", Risk: "medium", Source: "audit", Reason: "role=Global Administrator"},
		{ID: "audit.privileged_role_change", Title: "Privileged role assignment changed", Risk: "high", Source: "audit", Reason: "role=Global Administrator"}},
	"audit_add_member_to_role_global_admin": {{ID: "pim.role_assigned_outside_pim", Title: "Privileged role assigned outside PIM", Risk: "high", Source: "audit", Reason: "Role.DisplayName=Global Administrator"},
		{ID: "audit.privileged_role_change", Title: "Privileged role assignment changed", Risk: "high", Source: "audit", Reason: "role=Global Administrator"}},
	"escu_07_disable_strong_authentication": {{ID: "audit.security_posture_lowered", Title: "Security posture lowered", Risk: "high", Source: "audit", Reason: "Disable Strong Authentication"}},
}

// confEnrich does what privtrail's stages do before an output sees a
// record: the privilege stage marks the user actor (and user targets) as
// known privileged accounts; for sign-ins the geo stage answers from
// Entra's own location and ASN, the device stage finds no PAW, and the
// work-hours stage places the sign-in against an office schedule; the
// monitor stage adds confHits.
func confEnrich(name string, rec *entra.Record) {
	if rec.Actor.UPN != "" || strings.EqualFold(rec.Actor.Type, "user") {
		rec.Actor.Known, rec.Actor.Privileged = true, true
		rec.Actor.Roles = []entra.RoleHeld{confGlobalAdmin}
	}
	for i := range rec.Audit.Targets {
		if strings.EqualFold(rec.Audit.Targets[i].Type, "user") {
			rec.Audit.Targets[i].Known = true
		}
	}
	if rec.Stream == entra.StreamSignIn {
		s := &rec.SignIn
		l := s.Location
		rec.Context.Geo = &entra.Geo{CountryISO: l.Country, City: l.City, RegionName: l.State, Lat: l.Latitude, Lon: l.Longitude, ASN: uint(max(s.ASN, 0))}
		rec.Context.Device = &entra.Device{ID: s.Device.DeviceID, PAW: false, Reason: "not a registered PAW", Compliant: s.Device.IsCompliant,
			Managed: s.Device.IsManaged, TrustType: s.Device.TrustType, Browser: s.Device.Browser, OS: s.Device.OperatingSystem}
		h := rec.Time.Hour()
		rec.Context.WorkHours = &entra.WorkHours{Inside: h >= 8 && h < 18, LocalTime: rec.Time.Format(time.RFC3339), Schedule: "office-utc"}
	}
	rec.Hits = append([]entra.Hit(nil), confHits[name]...)
}

// confHEC is one HEC event as the output sends it.
type confHEC struct {
	Sourcetype string         `json:"sourcetype"`
	Event      map[string]any `json:"event"`
	Fields     map[string]any `json:"fields"`
}

// confEncode decodes, enriches and encodes one record with the given
// envelope setting.
func confEncode(t testing.TB, record string, edit *conformance.Edit, graph bool, envelope string) (confHEC, bool) {
	t.Helper()
	rec, ok := confRecord(t, record, edit, graph)
	if !ok {
		return confHEC{}, false
	}
	confEnrich(record, rec)
	enc := NewEncoder(Config{Index: "entra", Envelope: envelope})
	out, err := enc.Encode(nil, rec, rec.AppendJSON(nil))
	if err != nil {
		t.Fatalf("%s: %v", record, err)
	}
	var h confHEC
	d := json.NewDecoder(bytes.NewReader(out))
	d.UseNumber()
	if err := d.Decode(&h); err != nil {
		t.Fatalf("%s: %v", record, err)
	}
	return h, true
}

// ---- the detections -----------------------------------------------------------

type confDetection struct {
	name   string // the detection's name
	path   string // its file in splunk/security_content
	search string // its search, as in the file
	conds  []confCond
	// by are the stats … by fields the event has to have, as JSON paths
	// (the searches rename properties.* as *).
	by []string
	// ta are the fields of the Splunk Add-on for Microsoft Cloud Services
	// the search also reads (not evaluated).
	ta     []string
	record string // testdata/conformance/<record>.json
	// miss breaks one condition (an edit of the input record).
	miss *conformance.Edit
	// skip says why one event cannot fire the detection by design; conds
	// are then its per-event filter (still checked), and it does not count.
	skip string
}

const (
	newValues    = "properties.targetResources{}.modifiedProperties{}.newValue"
	oldValues    = "properties.targetResources{}.modifiedProperties{}.oldValue"
	modNames     = "properties.targetResources{}.modifiedProperties{}.displayName"
	initiatorUPN = "properties.initiatedBy.user.userPrincipalName"
)

// confPrivilegedRoles are the azureadrole patterns of ESCU's lookup
// privileged_azure_ad_roles (lookups/privileged_azure_ad_roles20240807.csv,
// WILDCARD match, case-insensitive), all isprvilegedadrole TRUE.
var confPrivilegedRoles = []string{
	"*Application Administrator*", "*Application Developer*", "*Authentication Administrator*",
	"*Authentication Extensibility Administrator*", "*Authentication Policy Administrator*",
	"*Azure AD Joined Device Local Administrator*", "*Azure DevOps Administrator*", "*Azure Information Protection Administrator*",
	"*B2C IEF Keyset Administrator*", "*Cloud Application Administrator*", "*Cloud Device Administrator*", "*Compliance Administrator*",
	"*Conditional Access Administrator*", "*Directory Synchronization Accounts*", "*Directory Writers*", "*Domain Name Administrator*",
	"*Exchange Administrator*", "*External Identity Provider Administrator*", "*Global Administrator*", "*Global Reader*",
	"*Groups Administrator*", "*Helpdesk Administrator*", "*Hybrid Identity Administrator*", "*Intune Administrator*",
	"*License Administrator*", "*Network Administrator*", "*Partner Tier1 Support*", "*Partner Tier2 Support*",
	"*Password Administrator*", "*Privileged Authentication Administrator*", "*Privileged Role Administrator*",
	"*Security Administrator*", "*Security Operator*", "*Security Reader*", "*SharePoint Administrator*", "*Teams Administrator*",
	"*User Administrator*", "*Windows 365 Administrator*",
}

// sPrivilegedRole: mvindex(newValue, 1), the role's display name, is in
// the privileged roles lookup.
var sPrivilegedRole = sPred("lookup privileged_azure_ad_roles azureadrole AS mvindex(targetResources{}.modifiedProperties{}.newValue, 1): isprvilegedadrole=True",
	func(ev map[string]any) bool {
		role := confAt(ev, newValues, 1)
		for _, p := range confPrivilegedRoles {
			if confMatch(p, role) {
				return true
			}
		}
		return false
	})

// sPermissions: spath input=mvindex(newValue, 0) has one of the entitlements
// (and, with resource, that resource app).
func sPermissions(resource string, entitlements ...string) confCond {
	desc := fmt.Sprintf(`spath input=mvindex(newValue, 0): {}.RequiredAppPermissions{}.EntitlementId in %v`, entitlements)
	if resource != "" {
		desc += ` and {}.ResourceAppId="` + resource + `"`
	}
	return sPred(desc, func(ev map[string]any) bool {
		v := confAt(ev, newValues, 0)
		if resource != "" {
			found := false
			for _, r := range confSpath(v, "{}.ResourceAppId") {
				found = found || confMatch(resource, r)
			}
			if !found {
				return false
			}
		}
		for _, e := range confSpath(v, "{}.RequiredAppPermissions{}.EntitlementId") {
			for _, w := range entitlements {
				if confMatch(w, e) {
					return true
				}
			}
		}
		return false
	})
}

// sScope: rex "Scope: (?<Scope>[^,]+)" finds a Scope in the consent's
// ConsentAction.Permissions (the searches group by it).
var sScope = sPred(`rex field=permissions "Scope: (?<Scope>[^,]+)" gives a Scope (permissions: the ConsentAction.Permissions new value)`,
	func(ev map[string]any) bool {
		return confRex(confPairValue(ev, modNames, "ConsentAction.Permissions", newValues), `Scope: ([^,]+)`) != ""
	})

var confDetections = []confDetection{
	{
		name: "Azure Active Directory High Risk Sign-in", path: "detections/cloud/azure_active_directory_high_risk_sign_in.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=UserRiskEvents properties.riskLevel=high | rename properties.* as * | stats count min(_time) as firstTime max(_time) as lastTime values(user) as user by src_ip, activity, riskLevel, riskEventType, additionalInfo | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_active_directory_high_risk_sign_in_filter` + "`" + ``,
		conds:  []confCond{sEq("category", "UserRiskEvents"), sEq("properties.riskLevel", "high")},
		by:     []string{"properties.activity", "properties.riskLevel", "properties.riskEventType", "properties.additionalInfo"},
		ta:     []string{"src_ip"},
		record: "elastic_userriskevent",
		miss:   conformance.Set("properties.riskLevel", "medium"),
	},
	{
		name: "Azure AD Application Administrator Role Assigned", path: "detections/cloud/azure_ad_application_administrator_role_assigned.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  "operationName"="Add member to role"  "properties.targetResources{}.modifiedProperties{}.newValue"="\"Application Administrator\"" | rename properties.* as * | rename initiatedBy.user.userPrincipalName as initiatedBy | stats count min(_time) as firstTime max(_time) as lastTime by user initiatedBy, result, operationName | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_application_administrator_role_assigned_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Add member to role"), sEq(newValues, `"Application Administrator"`)},
		by:     []string{initiatorUPN, "properties.result", "operationName"},
		ta:     []string{"user"},
		record: "audit_add_member_to_role_app_admin",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.1.newValue", `"Privileged Role Administrator"`),
	},
	{
		name: "Azure AD Authentication Failed During MFA Challenge", path: "detections/cloud/azure_ad_authentication_failed_during_mfa_challenge.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=SignInLogs properties.status.errorCode=500121 | rename properties.* as * | stats count min(_time) as firstTime max(_time) as lastTime by user, src_ip, status.additionalDetails, appDisplayName, user_agent | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_authentication_failed_during_mfa_challenge_filter` + "`" + ``,
		conds:  []confCond{sEq("category", "SignInLogs"), sEq("properties.status.errorCode", "500121")},
		by:     []string{"properties.status.additionalDetails", "properties.appDisplayName"},
		ta:     []string{"user", "src_ip", "user_agent"},
		record: "si_mfa_oath_500121",
		miss:   conformance.Set("properties.status.errorCode", 50126),
	},
	{
		name: "Azure AD Block User Consent For Risky Apps Disabled", path: "detections/cloud/azure_ad_block_user_consent_for_risky_apps_disabled.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Update authorization policy" | rename properties.* as *  | eval index_number = if(mvfind('targetResources{}.modifiedProperties{}.displayName', "AllowUserConsentForRiskyApps") >= 0, mvfind('targetResources{}.modifiedProperties{}.displayName', "AllowUserConsentForRiskyApps"), -1) | search index_number >= 0  | eval AllowUserConsentForRiskyApps = mvindex('targetResources{}.modifiedProperties{}.newValue',index_number) | search AllowUserConsentForRiskyApps = "[true]" | stats count min(_time) as firstTime max(_time) as lastTime by user, src_ip, operationName, AllowUserConsentForRiskyApps | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_block_user_consent_for_risky_apps_disabled_filter` + "`" + ``,
		conds: []confCond{sEq("operationName", "Update authorization policy"),
			sPair(modNames, "AllowUserConsentForRiskyApps", newValues, "[true]")},
		by:     []string{"operationName"},
		ta:     []string{"user", "src_ip"},
		record: "escu_14_update_authorization_policy",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.0.newValue", "[false]"),
	},
	{
		name: "Azure AD Device Code Authentication", path: "detections/cloud/azure_ad_device_code_authentication.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=SignInLogs "properties.authenticationProtocol"=deviceCode | rename properties.* as * | stats count min(_time) as firstTime max(_time) as lastTime by user src_ip, appDisplayName, userAgent | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_device_code_authentication_filter` + "`" + ``,
		conds:  []confCond{sEq("category", "SignInLogs"), sEq("properties.authenticationProtocol", "deviceCode")},
		by:     []string{"properties.appDisplayName", "properties.userAgent"},
		ta:     []string{"user", "src_ip"},
		record: "si_device_code_azure_cli",
		miss:   conformance.Set("properties.authenticationProtocol", "none"),
	},
	{
		name: "Azure AD External Guest User Invited", path: "detections/cloud/azure_ad_external_guest_user_invited.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Invite external user" | rename properties.*  as * | rename initiatedBy.user.userPrincipalName as initiatedBy | rename targetResources{}.type as type | stats count min(_time) as firstTime max(_time) as lastTime values(user) as user by type, initiatedBy, result, operationName | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_external_guest_user_invited_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Invite external user")},
		by:     []string{"properties.targetResources{}.type", initiatorUPN, "properties.result", "operationName"},
		record: "escu_09_invite_external_user",
		miss:   conformance.Set("operationName", "Redeem external user invite"),
	},
	{
		name: "Azure AD FullAccessAsApp Permission Assigned", path: "detections/cloud/azure_ad_fullaccessasapp_permission_assigned.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=AuditLogs operationName="Update application"  | eval newvalue = mvindex('properties.targetResources{}.modifiedProperties{}.newValue',0) | spath input=newvalue  | search "{}.ResourceAppId"="00000002-0000-0ff1-ce00-000000000000"  "{}.RequiredAppPermissions{}.EntitlementId"="dc890d15-9560-4a4c-9b7f-a736ec74ec40" | eval Permissions = '{}.RequiredAppPermissions{}.EntitlementId' | stats count earliest(_time) as firstTime latest(_time) as lastTime values(Permissions) by user, object, user_agent, operationName | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_fullaccessasapp_permission_assigned_filter` + "`" + ``,
		conds: []confCond{sEq("category", "AuditLogs"), sEq("operationName", "Update application"),
			sPermissions("00000002-0000-0ff1-ce00-000000000000", "dc890d15-9560-4a4c-9b7f-a736ec74ec40")},
		by:     []string{"operationName"},
		ta:     []string{"user", "object", "user_agent"},
		record: "escu_13_update_application",
		miss: conformance.Set("properties.targetResources.0.modifiedProperties.0.newValue",
			`[{"ResourceAppId":"00000003-0000-0000-c000-000000000000","RequiredAppPermissions":[{"EntitlementId":"570282fd-fa5c-430d-a7fd-fc8dc98a9dca","DirectAccessGrant":false,"ImpersonationAccessGrants":[20]}],"EncodingVersion":1}]`),
	},
	{
		name: "Azure AD Global Administrator Role Assigned", path: "detections/cloud/azure_ad_global_administrator_role_assigned.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  operationName="Add member to role"  properties.targetResources{}.modifiedProperties{}.newValue="\"Global Administrator\"" | rename properties.* as * | rename initiatedBy.user.userPrincipalName as initiatedBy | stats count min(_time) as firstTime max(_time) as lastTime values(user) as user by initiatedBy, result, operationName | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_global_administrator_role_assigned_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Add member to role"), sEq(newValues, `"Global Administrator"`)},
		by:     []string{initiatorUPN, "properties.result", "operationName"},
		record: "audit_add_member_to_role_global_admin",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.1.newValue", `"Privileged Role Administrator"`),
	},
	{
		name: "Azure AD Multi-Factor Authentication Disabled", path: "detections/cloud/azure_ad_multi_factor_authentication_disabled.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=AuditLogs operationName="Disable Strong Authentication" | rename properties.* as * | rename targetResources{}.type as type | rename initiatedBy.user.userPrincipalName as initiatedBy | stats count min(_time) as firstTime max(_time) as lastTime by user, type, operationName, initiatedBy, result | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_multi_factor_authentication_disabled_filter` + "`" + ``,
		conds:  []confCond{sEq("category", "AuditLogs"), sEq("operationName", "Disable Strong Authentication")},
		by:     []string{"properties.targetResources{}.type", "operationName", initiatorUPN, "properties.result"},
		ta:     []string{"user"},
		record: "escu_07_disable_strong_authentication",
		miss:   conformance.Set("operationName", "Enable Strong Authentication"),
	},
	{
		name: "Azure AD New Custom Domain Added", path: "detections/cloud/azure_ad_new_custom_domain_added.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  operationName="Add unverified domain" properties.result=success | rename properties.* as * | rename targetResources{}.displayName as domain | stats count min(_time) as firstTime max(_time) as lastTime by user, domain, result, operationName, src_ip | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_new_custom_domain_added_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Add unverified domain"), sEq("properties.result", "success")},
		by:     []string{"properties.targetResources{}.displayName", "properties.result", "operationName"},
		ta:     []string{"user", "src_ip"},
		record: "escu_05_add_unverified_domain",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Azure AD New Federated Domain Added", path: "detections/cloud/azure_ad_new_federated_domain_added.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  operationName="Set domain authentication" "properties.result"=success | rename properties.* as * | rename targetResources{}.displayName as domain | stats count min(_time) as firstTime max(_time) as lastTime by user, domain, result, operationName, src_ip | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_new_federated_domain_added_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Set domain authentication"), sEq("properties.result", "success")},
		by:     []string{"properties.targetResources{}.displayName", "properties.result", "operationName"},
		ta:     []string{"user", "src_ip"},
		record: "audit_set_domain_authentication",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Azure AD New MFA Method Registered", path: "detections/cloud/azure_ad_new_mfa_method_registered.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  operationName="Update user" | rename properties.* as *  | eval propertyName = mvindex('targetResources{}.modifiedProperties{}.displayName', 0) | search propertyName = StrongAuthenticationMethod | eval oldvalue = mvindex('targetResources{}.modifiedProperties{}.oldValue',0) | eval newvalue = mvindex('targetResources{}.modifiedProperties{}.newValue',0) | rex field=newvalue max_match=0 "(?i)(?<new_method_type>\"MethodType\")" | rex field=oldvalue max_match=0 "(?i)(?<old_method_type>\"MethodType\")" | eval count_new_method_type = coalesce(mvcount(new_method_type), 0) | eval count_old_method_type = coalesce(mvcount(old_method_type), 0) | stats earliest(_time) as firstTime latest(_time) as lastTime values(propertyName) by user newvalue oldvalue | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_new_mfa_method_registered_filter` + "`" + ``,
		conds: []confCond{sEq("operationName", "Update user"), sAt(modNames, 0, "StrongAuthenticationMethod"),
			sPred("mvindex(newValue, 0) and mvindex(oldValue, 0) are there (stats … by newvalue oldvalue)", func(ev map[string]any) bool {
				return confAt(ev, newValues, 0) != "" && confAt(ev, oldValues, 0) != ""
			})},
		ta:     []string{"user"},
		record: "audit_strong_auth_method_added",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.0.displayName", "AccountEnabled"),
	},
	{
		name: "Azure AD New MFA Method Registered For User", path: "detections/cloud/azure_ad_new_mfa_method_registered_for_user.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=AuditLogs operationName="User registered security info" properties.operationType=Add | rename properties.* as * | rename targetResources{}.* as * | stats count min(_time) as firstTime max(_time) as lastTime by user, resultDescription, result, src_ip | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_new_mfa_method_registered_for_user_filter` + "`" + ``,
		conds: []confCond{sEq("category", "AuditLogs"), sEq("operationName", "User registered security info"),
			sEq("properties.operationType", "Add")},
		by:     []string{"resultDescription", "properties.result"},
		ta:     []string{"user", "src_ip"},
		record: "escu_16_user_registered_security_info",
		miss:   conformance.Set("properties.operationType", "Update"),
	},
	{
		name: "Azure AD OAuth Application Consent Granted By User", path: "detections/cloud/azure_ad_oauth_application_consent_granted_by_user.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Consent to application" properties.result=success | rename properties.* as *  | eval permissions_index = if(mvfind('targetResources{}.modifiedProperties{}.displayName', "ConsentAction.Permissions") >= 0, mvfind('targetResources{}.modifiedProperties{}.displayName', "ConsentAction.Permissions"), -1) | eval permissions = mvindex('targetResources{}.modifiedProperties{}.newValue',permissions_index) | rex field=permissions "Scope: (?<Scope>[^,]+)" | stats count min(_time) as firstTime max(_time) as lastTime by operationName, user, Scope | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_oauth_application_consent_granted_by_user_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Consent to application"), sEq("properties.result", "success"), sScope},
		by:     []string{"operationName"},
		ta:     []string{"user"},
		record: "audit_consent_granted",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Azure AD PIM Role Assigned", path: "detections/cloud/azure_ad_pim_role_assigned.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Add eligible member to role in PIM completed*" | rename properties.* as * | stats count min(_time) as firstTime max(_time) as lastTime values(user) as user values(targetResources{}.displayName) as displayName  by result, operationName, initiatedBy.user.displayName | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_pim_role_assigned_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Add eligible member to role in PIM completed*")},
		by:     []string{"properties.result", "operationName", "properties.initiatedBy.user.displayName"},
		record: "audit_pim_eligible_global_admin",
		miss:   conformance.Set("operationName", "Add eligible member to role in PIM requested (permanent)"),
	},
	{
		name: "Azure AD PIM Role Assignment Activated", path: "detections/cloud/azure_ad_pim_role_assignment_activated.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Add member to role completed (PIM activation)" | rename properties.* as * | rename initiatedBy.user.userPrincipalName as initiatedBy | stats count min(_time) as firstTime max(_time) as lastTime values(user) as user values(targetResources{}.displayName) as displayName by initiatedBy, result, operationName | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_pim_role_assignment_activated_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Add member to role completed (PIM activation)")},
		by:     []string{initiatorUPN, "properties.result", "operationName"},
		record: "audit_pim_activation",
		miss:   conformance.Set("operationName", "Add member to role requested (PIM activation)"),
	},
	{
		name: "Azure AD Privileged Authentication Administrator Role Assigned", path: "detections/cloud/azure_ad_privileged_authentication_administrator_role_assigned.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  "operationName"="Add member to role"  "properties.targetResources{}.modifiedProperties{}.newValue"="\"Privileged Authentication Administrator\"" | rename properties.* as * | rename initiatedBy.user.userPrincipalName as initiatedBy | stats count min(_time) as firstTime max(_time) as lastTime values(user) as user by initiatedBy, result, operationName | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_privileged_authentication_administrator_role_assigned_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Add member to role"), sEq(newValues, `"Privileged Authentication Administrator"`)},
		by:     []string{initiatorUPN, "properties.result", "operationName"},
		record: "audit_add_member_to_role_priv_auth_admin",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.1.newValue", `"Authentication Administrator"`),
	},
	{
		name: "Azure AD Privileged Graph API Permission Assigned", path: "detections/cloud/azure_ad_privileged_graph_api_permission_assigned.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=AuditLogs operationName="Update application"  | eval newvalue = mvindex('properties.targetResources{}.modifiedProperties{}.newValue',0) | spath input=newvalue  | search "{}.RequiredAppPermissions{}.EntitlementId"="1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9" OR "{}.RequiredAppPermissions{}.EntitlementId"="06b708a9-e830-4db3-a914-8e69da51d44f" OR "{}.RequiredAppPermissions{}.EntitlementId"="9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8"  | eval Permissions = '{}.RequiredAppPermissions{}.EntitlementId' | stats count earliest(_time) as firstTime latest(_time) as lastTime values(Permissions) by user, object, user_agent, operationName | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + `   | ` + "`" + `azure_ad_privileged_graph_api_permission_assigned_filter` + "`" + ``,
		conds: []confCond{sEq("category", "AuditLogs"), sEq("operationName", "Update application"),
			sPermissions("", "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "06b708a9-e830-4db3-a914-8e69da51d44f", "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8")},
		by:     []string{"operationName"},
		ta:     []string{"user", "object", "user_agent"},
		record: "audit_update_application_permissions",
		miss: conformance.Set("properties.targetResources.0.modifiedProperties.0.newValue",
			`[{"ResourceAppId":"00000003-0000-0000-c000-000000000000","RequiredAppPermissions":[{"EntitlementId":"570282fd-fa5c-430d-a7fd-fc8dc98a9dca","DirectAccessGrant":false,"ImpersonationAccessGrants":[20]}],"EncodingVersion":1}]`),
	},
	{
		name: "Azure AD Privileged Role Assigned", path: "detections/cloud/azure_ad_privileged_role_assigned.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  "operationName"="Add member to role" | rename properties.*  as * | rename initiatedBy.user.userPrincipalName as initiatedBy | rename targetResources{}.modifiedProperties{}.newValue  as roles | eval role=mvindex(roles,1) | stats count min(_time) as firstTime max(_time) as lastTime values(user) as user by initiatedBy, result, operationName, role | lookup privileged_azure_ad_roles azureadrole AS role OUTPUT isprvilegedadrole description | search isprvilegedadrole = True | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_privileged_role_assigned_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Add member to role"), sPrivilegedRole},
		by:     []string{initiatorUPN, "properties.result", "operationName"},
		record: "escu_02_add_member_to_role",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.1.newValue", `"Directory Readers"`),
	},
	{
		name: "Azure AD Privileged Role Assigned to Service Principal", path: "detections/cloud/azure_ad_privileged_role_assigned_to_service_principal.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  operationName="Add member to role" | rename properties.* as * | search "targetResources{}.type"=ServicePrincipal | rename initiatedBy.user.userPrincipalName as initiatedBy | rename targetResources{}.modifiedProperties{}.newValue  as roles | eval role=mvindex(roles,1) | rename targetResources{}.displayName as apps | eval displayName=mvindex(apps,0) | stats count min(_time) as firstTime max(_time) as lastTime values(displayName) as displayName by initiatedBy, result, operationName, role | lookup privileged_azure_ad_roles azureadrole AS role OUTPUT isprvilegedadrole description | search isprvilegedadrole = True | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_privileged_role_assigned_to_service_principal_filter` + "`" + ``,
		conds: []confCond{sEq("operationName", "Add member to role"), sEq("properties.targetResources{}.type", "ServicePrincipal"),
			sPrivilegedRole},
		by:     []string{initiatorUPN, "properties.result", "operationName"},
		record: "audit_add_member_to_role_service_principal",
		miss:   conformance.Set("properties.targetResources.0.type", "User"),
	},
	{
		name: "Azure AD Service Principal Authentication", path: "detections/cloud/azure_ad_service_principal_authentication.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Sign-in activity" category=ServicePrincipalSignInLogs | rename properties.* as * | stats count earliest(_time) as firstTime latest(_time) as lastTime by user, user_id, src_ip, resourceDisplayName, resourceId | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_service_principal_authentication_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Sign-in activity"), sEq("category", "ServicePrincipalSignInLogs")},
		by:     []string{"properties.resourceDisplayName", "properties.resourceId"},
		ta:     []string{"user", "user_id", "src_ip"},
		record: "elastic_serviceprincipal_signin",
		miss:   conformance.Set("category", "ManagedIdentitySignInLogs"),
	},
	{
		name: "Azure AD Service Principal Created", path: "detections/cloud/azure_ad_service_principal_created.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  operationName="Add service principal" properties.initiatedBy.user.id=* | rename properties.* as * | rename targetResources{}.displayName as displayName | rename targetResources{}.type as type | stats count min(_time) as firstTime max(_time) as lastTime values(displayName) as displayName by type, user, result, operationName | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_service_principal_created_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Add service principal"), sExists("properties.initiatedBy.user.id")},
		by:     []string{"properties.targetResources{}.type", "properties.result", "operationName"},
		ta:     []string{"user"},
		record: "escu_04_add_service_principal",
		miss: conformance.Set("properties.initiatedBy", map[string]any{"app": map[string]any{"appId": nil, "displayName": "LegacyTestOAuthApp",
			"servicePrincipalId": "fc8c8125-bc0c-499d-8344-e53c6e3caa81", "servicePrincipalName": nil}}),
	},
	{
		name: "Azure AD Service Principal New Client Credentials", path: "detections/cloud/azure_ad_service_principal_new_client_credentials.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  category=AuditLogs operationName="Update application*Certificates and secrets management " | rename properties.* as * | rename  targetResources{}.* as * | stats count min(_time) as firstTime max(_time) as lastTime values(displayName) as displayName by user, modifiedProperties{}.newValue, src_ip | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_service_principal_new_client_credentials_filter` + "`" + ``,
		conds:  []confCond{sEq("category", "AuditLogs"), sEq("operationName", "Update application*Certificates and secrets management ")},
		by:     []string{newValues},
		ta:     []string{"user", "src_ip"},
		record: "audit_app_certificates_and_secrets",
		miss:   conformance.Set("operationName", "Update application – Certificates and secrets management"),
	},
	{
		name: "Azure AD Service Principal Owner Added", path: "detections/cloud/azure_ad_service_principal_owner_added.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  operationName="Add owner to application" | rename properties.* as * | rename initiatedBy.user.userPrincipalName as initiatedBy | rename targetResources{}.userPrincipalName as newOwner | rename targetResources{}.modifiedProperties{}.newValue as displayName | eval displayName = mvindex(displayName,1) | where initiatedBy!=newOwner | stats count min(_time) as firstTime max(_time) as lastTime values(displayName) as displayName by initiatedBy, result, operationName, newOwner | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_service_principal_owner_added_filter` + "`" + ``,
		conds: []confCond{sEq("operationName", "Add owner to application"),
			sPred("where initiatedBy!=newOwner (initiatedBy.user.userPrincipalName, targetResources{}.userPrincipalName)", func(ev map[string]any) bool {
				by, owners := confList(ev, initiatorUPN), confList(ev, "properties.targetResources{}.userPrincipalName")
				return len(by) == 1 && len(owners) > 0 && !(len(owners) == 1 && owners[0] == by[0])
			})},
		by:     []string{initiatorUPN, "properties.result", "operationName", "properties.targetResources{}.userPrincipalName"},
		record: "escu_03_add_owner_to_application",
		miss:   conformance.Set("properties.targetResources.0.userPrincipalName", "globaladmin@splunkresearch.com"),
	},
	{
		name: "Azure AD Successful PowerShell Authentication", path: "detections/cloud/azure_ad_successful_powershell_authentication.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  category=SignInLogs properties.authenticationDetails{}.succeeded=true properties.appDisplayName="Microsoft Azure PowerShell" | rename properties.*  as * | stats count min(_time) as firstTime max(_time) as lastTime values(user) as user by src_ip, appDisplayName, user_agent | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_successful_powershell_authentication_filter` + "`" + ``,
		conds: []confCond{sEq("category", "SignInLogs"), sEq("properties.authenticationDetails{}.succeeded", "true"),
			sEq("properties.appDisplayName", "Microsoft Azure PowerShell")},
		by:     []string{"properties.appDisplayName"},
		ta:     []string{"src_ip", "user_agent"},
		record: "si_azure_powershell",
		miss:   conformance.Set("properties.appDisplayName", "Azure Active Directory PowerShell"),
	},
	{
		name: "Azure AD Successful Single-Factor Authentication", path: "detections/cloud/azure_ad_successful_single_factor_authentication.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=SignInLogs properties.authenticationRequirement=singleFactorAuthentication properties.authenticationDetails{}.succeeded=true | rename properties.* as * | stats count min(_time) as firstTime max(_time) as lastTime values(user) as user by src_ip, appDisplayName, authenticationRequirement | ` + "`" + `azure_ad_successful_single_factor_authentication_filter` + "`" + ``,
		conds: []confCond{sEq("category", "SignInLogs"), sEq("properties.authenticationRequirement", "singleFactorAuthentication"),
			sEq("properties.authenticationDetails{}.succeeded", "true")},
		by:     []string{"properties.appDisplayName", "properties.authenticationRequirement"},
		ta:     []string{"src_ip"},
		record: "si_aad_powershell_single_factor",
		miss:   conformance.Set("properties.authenticationRequirement", "multiFactorAuthentication"),
	},
	{
		name: "Azure AD Tenant Wide Admin Consent Granted", path: "detections/cloud/azure_ad_tenant_wide_admin_consent_granted.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Consent to application" | eval new_field=mvindex('properties.targetResources{}.modifiedProperties{}.newValue', 4) | rename properties.* as *  | rex field=new_field "ConsentType: (?<ConsentType>[^\,]+)" | rex field=new_field "Scope: (?<Scope>[^\,]+)"  | search  ConsentType = "AllPrincipals"  | stats count min(_time) as firstTime max(_time) as lastTime by operationName, user, targetResources{}.displayName, targetResources{}.id, ConsentType, Scope | ` + "`" + `security_content_ctime(firstTime)` + "`" + `  | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_tenant_wide_admin_consent_granted_filter` + "`" + ``,
		conds: []confCond{sEq("operationName", "Consent to application"),
			sPred(`rex field=mvindex(newValue, 4) "ConsentType: (?<ConsentType>[^\,]+)" is AllPrincipals, and "Scope: (?<Scope>[^\,]+)" gives a Scope`, func(ev map[string]any) bool {
				v := confAt(ev, newValues, 4)
				return confMatch("AllPrincipals", confRex(v, `ConsentType: ([^\,]+)`)) && confRex(v, `Scope: ([^\,]+)`) != ""
			})},
		by:     []string{"operationName", "properties.targetResources{}.displayName", "properties.targetResources{}.id"},
		ta:     []string{"user"},
		record: "audit_consent_all_principals",
		miss: conformance.Set("properties.targetResources.0.modifiedProperties.4.newValue",
			`"[] => [[Id: AAAAAAAAAAAAAAAAAAAAALSZcc5Sj_NGtUtP2B3pYeI2veRXIpdKSpcpcgPY4Aty, ClientId: 00000000-0000-0000-0000-000000000000, PrincipalId: 57e4bd36-9722-4a4a-9729-7203d8e00b72, ResourceId: ce7199b4-8f52-46f3-b54b-4fd81de961e2, ConsentType: Principal, Scope: Mail.Read User.Read, CreatedDateTime: , LastModifiedDateTime ]]; "`),
	},
	{
		name: "Azure AD User Consent Blocked for Risky Application", path: "detections/cloud/azure_ad_user_consent_blocked_for_risky_application.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Consent to application" properties.result=failure | rename properties.* as *  | eval reason_index = if(mvfind('targetResources{}.modifiedProperties{}.displayName', "ConsentAction.Reason") >= 0, mvfind('targetResources{}.modifiedProperties{}.displayName', "ConsentAction.Reason"), -1) | eval permissions_index = if(mvfind('targetResources{}.modifiedProperties{}.displayName', "ConsentAction.Permissions") >= 0, mvfind('targetResources{}.modifiedProperties{}.displayName', "ConsentAction.Permissions"), -1) | search reason_index >= 0  | eval reason = mvindex('targetResources{}.modifiedProperties{}.newValue',reason_index) | eval permissions = mvindex('targetResources{}.modifiedProperties{}.newValue',permissions_index) | search reason = "\"Risky application detected\"" | rex field=permissions "Scope: (?<Scope>[^,]+)" | stats count min(_time) as firstTime max(_time) as lastTime by operationName, user, reason, Scope | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_user_consent_blocked_for_risky_application_filter` + "`" + ``,
		conds: []confCond{sEq("operationName", "Consent to application"), sEq("properties.result", "failure"),
			sPair(modNames, "ConsentAction.Reason", newValues, `"Risky application detected"`), sScope},
		by:     []string{"operationName"},
		ta:     []string{"user"},
		record: "escu_06_consent_to_application",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.5.newValue", `"Policy does not allow user consent"`),
	},
	{
		name: "Azure AD User Consent Denied for OAuth Application", path: "detections/cloud/azure_ad_user_consent_denied_for_oauth_application.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Sign-in activity" properties.status.errorCode=65004 | rename properties.* as * | stats count min(_time) as firstTime max(_time) as lastTime by operationName, user, appDisplayName, status.failureReason | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_user_consent_denied_for_oauth_application_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Sign-in activity"), sEq("properties.status.errorCode", "65004")},
		by:     []string{"operationName", "properties.appDisplayName", "properties.status.failureReason"},
		ta:     []string{"user"},
		record: "si_consent_denied_65004",
		miss:   conformance.Set("properties.status.errorCode", 50126),
	},
	{
		name: "Azure AD User ImmutableId Attribute Updated", path: "detections/cloud/azure_ad_user_immutableid_attribute_updated.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  operationName="Update user" properties.targetResources{}.modifiedProperties{}.displayName=SourceAnchor | rename properties.* as * | rename initiatedBy.user.userPrincipalName as initiatedBy | rename targetResources{}.modifiedProperties{}.newValue as modifiedProperties | stats count min(_time) as firstTime max(_time) as lastTime values(user) as user values(modifiedProperties) as modifiedProperties by initiatedBy, src_ip, result, operationName | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_user_immutableid_attribute_updated_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Update user"), sEq(modNames, "SourceAnchor")},
		by:     []string{initiatorUPN, "properties.result", "operationName"},
		ta:     []string{"src_ip"},
		record: "audit_source_anchor_updated",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.0.displayName", "AccountEnabled"),
	},

	// ---- many events, or a field of the add-on in the filter -------------------------
	{
		name: "Azure AD Admin Consent Bypassed by Service Principal", path: "detections/cloud/azure_ad_admin_consent_bypassed_by_service_principal.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` (operationName="Add app role assignment to service principal" OR operationName="Add member to role*") src_user_type=servicePrincipal  | rename properties.* as *   | eval roleId = mvindex('targetResources{}.modifiedProperties{}.newValue', 0)  | eval roleValue = mvindex('targetResources{}.modifiedProperties{}.newValue', 1)  | eval roleDescription = mvindex('targetResources{}.modifiedProperties{}.newValue', 2)  | eval user_id = mvindex('targetResources{}.id', 0), user=coalesce(user,mvindex('targetResources{}.displayName', 0)) | rename initiatedBy.app.displayName as src_user  | stats count earliest(_time) as firstTime latest(_time) as lastTime by src_user user user_id roleId roleValue roleDescription | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + `  | ` + "`" + `azure_ad_admin_consent_bypassed_by_service_principal_filter` + "`" + ``,
		conds:  []confCond{sOr(sEq("operationName", "Add app role assignment to service principal"), sEq("operationName", "Add member to role*"))},
		ta:     []string{"src_user_type", "user", "src_user"},
		record: "escu_01_add_app_role_assignment_to_service_principal",
		miss:   conformance.Set("operationName", "Remove app role assignment from service principal"),
		skip:   "its filter src_user_type=servicePrincipal is a field of the Splunk Add-on for Microsoft Cloud Services (not public); the JSON-path part is checked",
	},
	{
		name: "Azure AD Concurrent Sessions From Different Ips", path: "detections/cloud/azure_ad_concurrent_sessions_from_different_ips.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` properties.authenticationDetails{}.succeeded=true category=NonInteractiveUserSignInLogs action=success | rename properties.* as * | bucket span=5m _time | stats count min(_time) as firstTime max(_time) as lastTime dc(src_ip) AS unique_ips dc(location.city) as dc_city values(location.city) as city values(src_ip) as src_ip values(appDisplayName) as appDisplayName values(location.countryOrRegion) by user _time | where unique_ips > 1 | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_concurrent_sessions_from_different_ips_filter` + "`" + ``,
		conds:  []confCond{sEq("properties.authenticationDetails{}.succeeded", "true"), sEq("category", "NonInteractiveUserSignInLogs")},
		ta:     []string{"action", "src_ip"},
		record: "si_noninteractive_previously_satisfied",
		miss:   conformance.Set("properties.authenticationDetails.0.succeeded", false),
		skip:   "aggregation: a user's sign-ins from two addresses within 5 minutes (and action=success, an add-on field); the per-event filter is checked",
	},
	{
		name: "Azure AD High Number Of Failed Authentications For User", path: "detections/cloud/azure_ad_high_number_of_failed_authentications_for_user.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category= SignInLogs properties.status.errorCode=50126 properties.authenticationDetails{}.succeeded=false | rename properties.* as * | bucket span=10m _time | stats count min(_time) as firstTime max(_time) as lastTime values(src_ip) as src_ip by user | where count > 20 | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_high_number_of_failed_authentications_for_user_filter` + "`" + ``,
		conds: []confCond{sEq("category", "SignInLogs"), sEq("properties.status.errorCode", "50126"),
			sEq("properties.authenticationDetails{}.succeeded", "false")},
		ta:     []string{"user"},
		record: "si_bruteforce_50126",
		miss:   conformance.Set("properties.status.errorCode", 50053),
		skip:   "aggregation: more than 20 failures of one user in 10 minutes; the per-event filter is checked",
	},
	{
		name: "Azure AD High Number Of Failed Authentications From Ip", path: "detections/cloud/azure_ad_high_number_of_failed_authentications_from_ip.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category= SignInLogs properties.status.errorCode=50126 properties.authenticationDetails{}.succeeded=false | rename properties.* as * | bucket span=10m _time | stats count min(_time) as firstTime max(_time) as lastTime dc(user) AS unique_accounts values(user) as user by src_ip _time | where count > 20 | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_high_number_of_failed_authentications_from_ip_filter` + "`" + ``,
		conds: []confCond{sEq("category", "SignInLogs"), sEq("properties.status.errorCode", "50126"),
			sEq("properties.authenticationDetails{}.succeeded", "false")},
		ta:     []string{"src_ip"},
		record: "si_bruteforce_50126",
		miss:   conformance.Set("properties.status.errorCode", 50053),
		skip:   "aggregation: more than 20 failures from one address in 10 minutes; the per-event filter is checked",
	},
	{
		name: "Azure AD Multi-Source Failed Authentications Spike", path: "detections/cloud/azure_ad_multi_source_failed_authentications_spike.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=SignInLogs properties.status.errorCode=50126 properties.authenticationDetails{}.succeeded=false | rename properties.* as * | bucket span=5m _time | eval uniqueIPUserCombo = src_ip . "-" . user | stats count min(_time) as firstTime max(_time) as lastTime dc(uniqueIPUserCombo) as uniqueIpUserCombinations, dc(user) as uniqueUsers, dc(src_ip) as uniqueIPs, dc(user_agent) as uniqueUserAgents, dc(location.countryOrRegion) as uniqueCountries values(user) as user, values(src_ip) as ips, values(user_agent) as user_agents, values(location.countryOrRegion) as countries | where uniqueIpUserCombinations > 20 AND uniqueUsers > 20 AND uniqueIPs > 20 AND uniqueUserAgents = 1 | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_multi_source_failed_authentications_spike_filter` + "`" + ``,
		conds: []confCond{sEq("category", "SignInLogs"), sEq("properties.status.errorCode", "50126"),
			sEq("properties.authenticationDetails{}.succeeded", "false")},
		ta:     []string{"src_ip", "user_agent"},
		record: "si_bruteforce_50126",
		miss:   conformance.Set("properties.status.errorCode", 50053),
		skip:   "aggregation: more than 20 users and addresses failing in 5 minutes; the per-event filter is checked",
	},
	{
		name: "Azure AD Multiple AppIDs and UserAgents Authentication Spike", path: "detections/cloud/azure_ad_multiple_appids_and_useragents_authentication_spike.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=SignInLogs operationName="Sign-in activity" (properties.authenticationRequirement="multiFactorAuthentication" AND properties.status.additionalDetails="MFA required in Azure AD") OR (properties.authenticationRequirement=singleFactorAuthentication AND "properties.authenticationDetails{}.succeeded"=true) | bucket span=5m _time | rename properties.* as * | stats count min(_time) as firstTime max(_time) as lastTime dc(appId) as unique_app_ids dc(userAgent) as unique_user_agents values(appDisplayName) values(deviceDetail.operatingSystem) by user, src_ip | where count > 5 and unique_app_ids > 2 and unique_user_agents > 5 | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_multiple_appids_and_useragents_authentication_spike_filter` + "`" + ``,
		conds: []confCond{sEq("category", "SignInLogs"), sEq("operationName", "Sign-in activity"),
			sOr(sAnd(sEq("properties.authenticationRequirement", "multiFactorAuthentication"), sEq("properties.status.additionalDetails", "MFA required in Azure AD")),
				sAnd(sEq("properties.authenticationRequirement", "singleFactorAuthentication"), sEq("properties.authenticationDetails{}.succeeded", "true")))},
		ta:     []string{"user", "src_ip"},
		record: "escu_12_sign_in_activity",
		miss:   conformance.Set("properties.status.additionalDetails", "MFA completed in Azure AD"),
		skip:   "aggregation: more than 5 sign-ins with 3 apps and 6 user agents from one user and address in 5 minutes; the per-event filter is checked",
	},
	{
		name: "Azure AD Multiple Denied MFA Requests For User", path: "detections/cloud/azure_ad_multiple_denied_mfa_requests_for_user.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=SignInLogs operationName="Sign-in activity" | rename properties.* as * | search status.errorCode=500121 status.additionalDetails="MFA denied; user declined the authentication" | bucket span=10m _time | stats count min(_time) as firstTime max(_time) as lastTime by user, status.additionalDetails, appDisplayName, user_agent | where count > 9 | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_multiple_denied_mfa_requests_for_user_filter` + "`" + ``,
		conds: []confCond{sEq("category", "SignInLogs"), sEq("operationName", "Sign-in activity"), sEq("properties.status.errorCode", "500121"),
			sEq("properties.status.additionalDetails", "MFA denied; user declined the authentication")},
		by:     []string{"properties.status.additionalDetails", "properties.appDisplayName"},
		ta:     []string{"user", "user_agent"},
		record: "si_mfa_denied_500121",
		miss:   conformance.Set("properties.status.additionalDetails", "MFA denied; user did not respond to mobile app notification"),
		skip:   "aggregation: more than 9 denied MFA requests of one user in 10 minutes; the per-event filter is checked",
	},
	{
		name: "Azure AD Multiple Failed MFA Requests For User", path: "detections/cloud/azure_ad_multiple_failed_mfa_requests_for_user.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` category=SignInLogs operationName="Sign-in activity" properties.status.errorCode=500121 properties.status.additionalDetails!="MFA denied; user declined the authentication" | rename properties.* as * | bucket span=10m _time | stats count min(_time) as firstTime max(_time) as lastTime by user, status.additionalDetails, appDisplayName, user_agent | where count > 10 | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_multiple_failed_mfa_requests_for_user_filter` + "`" + ``,
		conds: []confCond{sEq("category", "SignInLogs"), sEq("operationName", "Sign-in activity"), sEq("properties.status.errorCode", "500121"),
			sNe("properties.status.additionalDetails", "MFA denied; user declined the authentication")},
		by:     []string{"properties.status.additionalDetails", "properties.appDisplayName"},
		ta:     []string{"user", "user_agent"},
		record: "si_mfa_oath_500121",
		miss:   conformance.Set("properties.status.additionalDetails", "MFA denied; user declined the authentication"),
		skip:   "aggregation: more than 10 failed MFA requests of one user in 10 minutes; the per-event filter is checked",
	},
	{
		name: "Azure AD Multiple Service Principals Created by SP", path: "detections/cloud/azure_ad_multiple_service_principals_created_by_sp.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Add service principal" properties.initiatedBy.app.appId=* | rename properties.* as * | bucket span=10m _time | rename targetResources{}.displayName as displayName | rename targetResources{}.type as type | rename initiatedBy.app.displayName as src_user | stats min(_time) as firstTime max(_time) as lastTime values(displayName) as displayName dc(displayName) as unique_apps by src_user | where unique_apps > 3 | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_multiple_service_principals_created_by_sp_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Add service principal"), sExists("properties.initiatedBy.app.appId")},
		by:     []string{"properties.initiatedBy.app.displayName"},
		record: "audit_sp_created_by_app",
		miss:   conformance.Set("properties.initiatedBy.app.appId", nil),
		skip:   "aggregation: more than 3 service principals created by one application in 10 minutes; the per-event filter is checked",
	},
	{
		name: "Azure AD Multiple Service Principals Created by User", path: "detections/cloud/azure_ad_multiple_service_principals_created_by_user.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + ` operationName="Add service principal" properties.initiatedBy.user.id=* | rename properties.* as * | bucket span=10m _time | rename targetResources{}.displayName as displayName | stats min(_time) as firstTime max(_time) as lastTime values(displayName) as displayName dc(displayName) as unique_apps by src_user | where unique_apps > 3 | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_multiple_service_principals_created_by_user_filter` + "`" + ``,
		conds:  []confCond{sEq("operationName", "Add service principal"), sExists("properties.initiatedBy.user.id")},
		ta:     []string{"src_user"},
		record: "escu_04_add_service_principal",
		miss:   conformance.Set("properties.initiatedBy.user.id", nil),
		skip:   "aggregation: more than 3 service principals created by one user in 10 minutes (grouped by src_user, an add-on field); the per-event filter is checked",
	},
	{
		name: "Azure AD Multiple Users Failing To Authenticate From Ip", path: "detections/cloud/azure_ad_multiple_users_failing_to_authenticate_from_ip.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  category=SignInLogs properties.status.errorCode=50126 properties.authenticationDetails{}.succeeded=false | rename properties.* as * | bucket span=5m _time | stats count min(_time) as firstTime max(_time) as lastTime dc(user) AS unique_accounts values(user) as user by src_ip | where unique_accounts > 30 | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_multiple_users_failing_to_authenticate_from_ip_filter` + "`" + ``,
		conds: []confCond{sEq("category", "SignInLogs"), sEq("properties.status.errorCode", "50126"),
			sEq("properties.authenticationDetails{}.succeeded", "false")},
		ta:     []string{"src_ip"},
		record: "si_bruteforce_50126",
		miss:   conformance.Set("properties.status.errorCode", 50053),
		skip:   "aggregation: more than 30 users failing from one address in 5 minutes; the per-event filter is checked",
	},
	{
		name: "Azure AD Successful Authentication From Different Ips", path: "detections/cloud/azure_ad_successful_authentication_from_different_ips.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  properties.authenticationDetails{}.succeeded=true category=SignInLogs | rename properties.* as * | bucket span=30m _time | stats count min(_time) as firstTime max(_time) as lastTime dc(src_ip) AS unique_ips values(src_ip) as src_ip values(appDisplayName) as appDisplayName by user | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | where unique_ips  > 1 | ` + "`" + `azure_ad_successful_authentication_from_different_ips_filter` + "`" + ``,
		conds:  []confCond{sEq("properties.authenticationDetails{}.succeeded", "true"), sEq("category", "SignInLogs")},
		ta:     []string{"user", "src_ip"},
		record: "escu_12_sign_in_activity",
		miss:   conformance.Set("category", "NonInteractiveUserSignInLogs"),
		skip:   "aggregation: one user's successful sign-ins from two addresses within 30 minutes; the per-event filter is checked",
	},
	{
		name: "Azure AD Unusual Number of Failed Authentications From Ip", path: "detections/cloud/azure_ad_unusual_number_of_failed_authentications_from_ip.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  category=SignInLogs properties.status.errorCode=50126 properties.authenticationDetails{}.succeeded=false | rename properties.* as * | bucket span=5m _time | stats  dc(userPrincipalName) AS unique_accounts values(userPrincipalName) as userPrincipalName by _time, ipAddress | eventstats  avg(unique_accounts) as ip_avg, stdev(unique_accounts) as ip_std by ipAddress | eval  upperBound=(ip_avg+ip_std*3) | eval  isOutlier=if(unique_accounts > 10 and unique_accounts >= upperBound, 1,0) | where isOutlier = 1 | ` + "`" + `azure_ad_unusual_number_of_failed_authentications_from_ip_filter` + "`" + ``,
		conds: []confCond{sEq("category", "SignInLogs"), sEq("properties.status.errorCode", "50126"),
			sEq("properties.authenticationDetails{}.succeeded", "false")},
		by:     []string{"properties.ipAddress"},
		record: "si_bruteforce_50126",
		miss:   conformance.Set("properties.status.errorCode", 50053),
		skip:   "aggregation: an address's distinct failing users three standard deviations above its mean; the per-event filter is checked",
	},
	{
		name: "Azure AD User Enabled And Password Reset", path: "detections/cloud/azure_ad_user_enabled_and_password_reset.yml",
		search: `` + "`" + `azure_monitor_aad` + "`" + `  (operationName="Enable account" OR operationName="Reset password (by admin)" OR operationName="Update user") | transaction user startsWith=(operationName="Enable account") endsWith=(operationName="Reset password (by admin)") maxspan=2m | rename properties.* as * | rename initiatedBy.user.userPrincipalName as initiatedBy | stats count min(_time) as firstTime max(_time) as lastTime values(operationName) as operationName values(initiatedBy) as initiatedBy by user, result | ` + "`" + `security_content_ctime(firstTime)` + "`" + ` | ` + "`" + `security_content_ctime(lastTime)` + "`" + ` | ` + "`" + `azure_ad_user_enabled_and_password_reset_filter` + "`" + ``,
		conds:  []confCond{sOr(sEq("operationName", "Enable account"), sEq("operationName", "Reset password (by admin)"), sEq("operationName", "Update user"))},
		by:     []string{"properties.result"},
		ta:     []string{"user"},
		record: "escu_08_enable_account",
		miss:   conformance.Set("operationName", "Disable account"),
		skip:   "transaction: an account enabled, then its password reset within 2 minutes; the per-event filter is checked (escu_10_reset_password_by_admin is the second event)",
	},
}

// ---- the tests ----------------------------------------------------------------

// confFailed are the conditions (and stats … by fields) the event does
// not satisfy, or why the event is not one the macro selects.
func (d confDetection) confFailed(h confHEC) []string {
	var failed []string
	if h.Sourcetype != SourcetypeDiagnostic {
		failed = append(failed, "sourcetype="+h.Sourcetype+", not the azure_monitor_aad macro's "+SourcetypeDiagnostic)
	}
	for _, c := range d.conds {
		if !c.eval(h.Event) {
			failed = append(failed, c.String())
		}
	}
	for _, f := range d.by {
		if c := sExists(f); !c.eval(h.Event) {
			failed = append(failed, "by "+f+": not in the event")
		}
	}
	return failed
}

// TestConformanceDetections checks every detection of confDetections on
// its record, read in the diagnostic shape and, for categories Graph also
// serves, polled from Graph and sent in the default envelope
// (diagnostic), and on its near miss.
func TestConformanceDetections(t *testing.T) {
	for _, d := range confDetections {
		t.Run(d.name, func(t *testing.T) {
			if !strings.Contains(d.search, "`azure_monitor_aad`") || d.path == "" || d.record == "" || len(d.conds) == 0 {
				t.Fatal("incomplete entry")
			}
			for _, graph := range []bool{false, true} {
				form := "diagnostic form"
				if graph {
					form = "Graph form"
				}
				h, ok := confEncode(t, d.record, nil, graph, "diagnostic")
				if !ok {
					continue
				}
				if failed := d.confFailed(h); len(failed) > 0 {
					t.Errorf("%s of %s does not satisfy the search: %s", form, d.record, strings.Join(failed, "; "))
					continue
				}
				t.Logf("%s: matches", form)
				if d.miss == nil {
					t.Fatal("no near miss")
				}
				if graph && !strings.HasPrefix(d.miss.Path(), "properties.") {
					continue // an edit of the envelope, which the Graph form has not
				}
				m, _ := confEncode(t, d.record, d.miss, graph, "diagnostic")
				switch missed := d.confFailed(m); len(missed) {
				case 0:
					t.Errorf("%s: the near miss satisfies the search too", form)
				case 1:
				default:
					t.Errorf("%s: the near miss breaks %d conditions, not one: %s", form, len(missed), strings.Join(missed, "; "))
				}
			}
			// With envelope: as_read a Graph-polled record keeps the
			// add-on's Graph sourcetype, which the macro does not select.
			if h, ok := confEncode(t, d.record, nil, true, "as_read"); ok && h.Sourcetype == SourcetypeDiagnostic {
				t.Errorf("with envelope: as_read the Graph form is %s", h.Sourcetype)
			}
		})
	}
}

// confCounts are the detections found, those that apply, and those
// skipped.
func confCounts() (found, apply, skipped int, paths map[string]bool) {
	paths = map[string]bool{}
	for _, d := range confDetections {
		paths[d.path] = true
		if d.skip != "" {
			skipped++
		} else {
			apply++
		}
	}
	return len(paths), apply, skipped, paths
}

// TestConformanceCounts: every detection found is in the table, at least
// 15 apply, and the README states the counts.
func TestConformanceCounts(t *testing.T) {
	found, apply, skipped, paths := confCounts()
	if found != confEntraDetectionsFound || len(confDetections) != found {
		t.Errorf("%d detections in the table (%d entries), %d found at %s", found, len(confDetections), confEntraDetectionsFound, confContentCommit[:8])
	}
	for p := range paths {
		if !strings.HasPrefix(p, "detections/cloud/azure_") || !strings.HasSuffix(p, ".yml") {
			t.Errorf("path %s", p)
		}
	}
	if apply < 15 {
		t.Errorf("only %d detections apply", apply)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("**%d of the %d** ESCU detections", apply, found),
		fmt.Sprintf("%d are skipped", skipped),
		confContentCommit[:12],
	} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
	t.Logf("%d ESCU Entra detections found, %d apply, %d skipped", found, apply, skipped)
}

// ---- the dashboard ------------------------------------------------------------

// confDashGaps are the dashboard's names no conformance event has, and
// why.
var confDashGaps = map[string]string{
	"azure:monitor:activity":                                "the Azure Activity log's sourcetype: Activity records are Azure Resource Manager's, not Entra ID's, and none is among the conformance records (outputs/splunk's own tests encode them)",
	"azure:aad:identity_protection:risky_service_principal": "Graph-polled risky service principals: there is no public diagnostic record of the category (RiskyServicePrincipals), so none is among the conformance records, which are diagnostic records and their Graph forms",
	"azure:aad:other":                                       "Graph items privtrail could not model: no public record is one",
	"privtrail:directory":                                   "privtrail's own directory-scan records, which no public rule reads: not conformance records",
	"privtrail_emergency_access":                            "set only on records of emergency access accounts, and no public record is one's (confEnrich marks no actor as one)",
}

// confSent is what the conformance events hold: indexed fields, event
// paths with the JSON kinds of their values, sourcetypes.
type confSent struct {
	indexed     map[string]bool
	kinds       map[string]map[string]bool
	sourcetypes map[string]bool
	source      string
}

func (s confSent) addPaths(prefix string, v any) {
	set := func(kind string) {
		if s.kinds[prefix] == nil {
			s.kinds[prefix] = map[string]bool{}
		}
		s.kinds[prefix][kind] = true
	}
	switch v := v.(type) {
	case map[string]any:
		if prefix != "" {
			set("object")
		}
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			s.addPaths(p, x)
		}
	case []any:
		set("array")
		for _, x := range v {
			s.addPaths(prefix+"{}", x)
		}
	case string:
		set("string")
	case json.Number:
		set("number")
	case bool:
		set("boolean")
	}
}

// confDashExtra are records no detection reads, kept for the dashboard
// check: a risky user (RiskyUsers), whose Graph form with envelope:
// as_read is the add-on's azure:aad:identity_protection:risky_user.
var confDashExtra = []string{"elastic_riskyuser"}

// confSentEvents encodes every record of testdata/conformance, in both
// forms, with both envelope settings.
func confSentEvents(t *testing.T) confSent {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "conformance", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no records: %v", err)
	}
	for _, name := range confDashExtra {
		if _, err := os.Stat(filepath.Join("testdata", "conformance", name+".json")); err != nil {
			t.Fatal(err)
		}
	}
	s := confSent{indexed: map[string]bool{}, kinds: map[string]map[string]bool{}, sourcetypes: map[string]bool{},
		source: NewEncoder(Config{}).Source}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		for _, graph := range []bool{false, true} {
			for _, envelope := range []string{"diagnostic", "as_read"} {
				h, ok := confEncode(t, name, nil, graph, envelope)
				if !ok {
					continue
				}
				s.sourcetypes[h.Sourcetype] = true
				for k := range h.Fields {
					s.indexed[k] = true
				}
				s.addPaths("", h.Event)
			}
		}
	}
	return s
}

// confNumeric are the dashboard's event paths it needs as numbers
// (geostats' latfield and longfield); the others it compares as strings
// (spath output compared with "false" is a JSON boolean's text).
var confNumeric = map[string]bool{
	"privtrail.geo.lat": true, "privtrail.geo.lon": true,
	"location.geoCoordinates.latitude": true, "location.geoCoordinates.longitude": true,
	"properties.location.geoCoordinates.latitude": true, "properties.location.geoCoordinates.longitude": true,
}

// confBoolean are the event paths the dashboard compares with "false".
var confBoolean = map[string]bool{"privtrail.work_hours.inside": true, "privtrail.device.paw": true}

// confDashProblems checks the dashboard's names against the events.
func confDashProblems(t *testing.T, data []byte, s confSent) (problems []string, checked, gaps map[string]bool) {
	t.Helper()
	gaps = map[string]bool{}
	var d dashDefinition
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	checked = map[string]bool{}
	ids := make([]string, 0, len(d.DataSources))
	for id := range d.DataSources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		q, _ := d.DataSources[id].Options["query"].(string)
		q = dashToken.ReplaceAllStringFunc(q, func(tok string) string {
			switch tok {
			case "$src$":
				return s.source
			case "$idx$":
				return "entra"
			}
			return "x"
		})
		for _, r := range dashSPLRefs(q, "data source "+id) {
			checked[r.kind+" "+r.name] = true
			missing := ""
			switch r.kind {
			case "indexed":
				if !s.indexed[r.name] {
					missing = "indexed field " + r.name
				}
			case "sourcetype":
				if !s.sourcetypes[r.name] {
					missing = "sourcetype " + r.name
				}
			case "json":
				kinds := s.kinds[r.name]
				if len(kinds) == 0 {
					missing = "event path " + r.name
					break
				}
				switch {
				case confNumeric[r.name] && !kinds["number"]:
					problems = append(problems, fmt.Sprintf("%s: %s is used as a number, the events have %v", r.where, r.name, confKeysOf(kinds)))
				case confBoolean[r.name] && !kinds["boolean"]:
					problems = append(problems, fmt.Sprintf("%s: %s is compared with \"false\", the events have %v", r.where, r.name, confKeysOf(kinds)))
				}
			}
			if missing == "" {
				if _, gap := confDashGaps[r.name]; gap {
					problems = append(problems, fmt.Sprintf("%s is listed as a gap but the events have it", r.name))
				}
				continue
			}
			if _, ok := confDashGaps[r.name]; ok {
				gaps[r.name] = true
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: %s is in no conformance event", r.where, missing))
		}
	}
	return problems, checked, gaps
}

func confKeysOf(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestConformanceDashboardFields: every indexed field, event path and
// sourcetype a search of the dashboard uses is in the conformance events,
// with the type the search needs, so that a renamed field fails here.
func TestConformanceDashboardFields(t *testing.T) {
	data, err := os.ReadFile(dashFile)
	if err != nil {
		t.Fatal(err)
	}
	s := confSentEvents(t)
	problems, checked, gaps := confDashProblems(t, data, s)
	for _, p := range problems {
		t.Error(p)
	}
	for _, g := range confKeysOf(gaps) {
		t.Logf("known gap: %s: %s", g, confDashGaps[g])
	}
	if len(checked) < 15 {
		t.Errorf("only %d names checked", len(checked))
	}
	t.Logf("%d dashboard names checked", len(checked))

	// A renamed field, a changed type, a missing indexed field are seen.
	for _, tc := range []struct{ change, want string }{
		{"privtrail.work_hours.inside", "event path privtrail.work_hours.inside"},
		{"privtrail.geo.lat=string", "privtrail.geo.lat is used as a number"},
		{"indexed:privtrail_risk", "indexed field privtrail_risk"},
	} {
		changed := confSent{indexed: map[string]bool{}, kinds: map[string]map[string]bool{}, sourcetypes: s.sourcetypes, source: s.source}
		for k, v := range s.indexed {
			changed.indexed[k] = v
		}
		for k, v := range s.kinds {
			changed.kinds[k] = v
		}
		switch name, kind, _ := strings.Cut(tc.change, "="); {
		case strings.HasPrefix(name, "indexed:"):
			delete(changed.indexed, strings.TrimPrefix(name, "indexed:"))
		case kind != "":
			changed.kinds[name] = map[string]bool{kind: true}
		default:
			delete(changed.kinds, name)
		}
		problems, _, _ := confDashProblems(t, data, changed)
		found := false
		for _, p := range problems {
			found = found || strings.Contains(p, tc.want)
		}
		if !found {
			t.Errorf("changing %s goes unnoticed: %q", tc.change, problems)
		}
	}
}

func TestConformanceEvaluator(t *testing.T) {
	var ev map[string]any
	d := json.NewDecoder(strings.NewReader(`{"category":"SignInLogs","properties":{"status":{"errorCode":50126},
		"authenticationDetails":[{"succeeded":true},{"succeeded":false}],
		"targetResources":[{"modifiedProperties":[{"displayName":"A","newValue":"\"x\""},{"displayName":"B","newValue":"[true]"}]}],
		"nothing":null}}`))
	d.UseNumber()
	if err := d.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    confCond
		want bool
	}{
		{sEq("category", "signinlogs"), true},
		{sEq("category", "Sign*"), true},
		{sEq("properties.status.errorCode", "50126"), true},
		{sEq("properties.authenticationDetails{}.succeeded", "false"), true},
		{sEq("properties.authenticationDetails.succeeded", "false"), false},
		{sNe("properties.status.errorCode", "50126"), false},
		{sNe("properties.missing", "1"), false},
		{sExists("properties.nothing"), false},
		{sAt(newValues, 1, "[true]"), true},
		{sAt(newValues, 2, "*"), false},
		{sPair(modNames, "B", newValues, "[TRUE]"), true},
		{sPair(modNames, "C", newValues, "*"), false},
		{sNot(sEq("category", "AuditLogs")), true},
	} {
		if got := tc.c.eval(ev); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.c, got, tc.want)
		}
	}
	if got := confSpath(`[{"ResourceAppId":"r","RequiredAppPermissions":[{"EntitlementId":"e1"},{"EntitlementId":"e2"}]}]`, "{}.RequiredAppPermissions{}.EntitlementId"); strings.Join(got, ",") != "e1,e2" {
		t.Errorf("confSpath: %v", got)
	}
}
