package elastic

// The conformance suite (issue 15): Elastic's prebuilt Entra ID detection
// rules (elastic/detection-rules, rules/integrations/azure) and the
// Kibana dashboard, over the documents this package's Encoder writes.
//
// Each entry of confRules names a public rule, quotes its query as it is
// in the rule file, and states the field conditions the query requires of
// one document (derived by hand from the query: this is not a KQL, EQL or
// ES|QL engine). A record from testdata/conformance — a public Entra record,
// or one derived from a public record as testdata/conformance/README.md
// says — is decoded by entra.Decoder, enriched as privtrail's stages would
// (confEnrich), encoded by the Encoder, and the document must satisfy every
// condition and land in an index the rule reads. A near miss (the same
// record with one edit that breaks one condition) must not satisfy them.
// Records of a category Microsoft Graph also serves are checked a second
// time in their Graph form (the record's properties, as the graph input
// reads them), unless the entry says why not.
//
// Entries with a skip reason are rules one privtrail document cannot fire
// by design (a sequence, a threshold or an aggregation over many events):
// their per-event filter is still checked on the record, but they do not
// count as passing. An entry marked never is a rule no Entra record can
// match as Entra writes it (the reason says why): its record must not
// match. The counts go to outputs/elastic/README.md ("Works
// with"); TestConformanceCounts keeps them honest.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path"
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

// confRulesCommit is the elastic/detection-rules commit the queries were
// copied from.
const confRulesCommit = "14cf530f0d2177023092449cd9d9348b4a8884c2"

// confEntraRulesFound is how many rule files of rules/integrations/azure
// at confRulesCommit read Entra sign-in, audit, ID Protection, Microsoft
// Graph or Azure AD Graph activity logs (by index pattern, ES|QL FROM or
// dataset); every one is in confRules.
const confEntraRulesFound = 80

// ---- conditions ---------------------------------------------------------------

// confCond is one condition a rule's query puts on a document. Fields are
// dotted ECS paths; a "*" segment matches any key (KQL's
// target_resources.*.display_name); arrays are looked through, as
// Elasticsearch flattens them; a path ending at an object stands for all
// the values under it (a flattened field).
type confCond struct {
	op    string // "in", "exists", "like", "ilike", "regex", "cidr", "num", "ne", "not", "or", "and", "pred"
	field string
	vals  []any // in: wanted values (string, int, bool: the mapped type); like/ilike/regex/cidr: patterns
	cmp   string
	n     float64
	sub   []confCond
	desc  string
	pred  func(doc map[string]any) bool
}

// cIs: field equals v (keyword: case-sensitive; v's Go type is the field's
// mapped type: string for keyword, int for long, bool for boolean).
func cIs(f string, v any) confCond { return confCond{op: "in", field: f, vals: []any{v}} }

// cIn: field equals one of vs (KQL's field:(a or b), ES|QL's in).
func cIn(f string, vs ...any) confCond { return confCond{op: "in", field: f, vals: vs} }

// cExists: field has a value (KQL's field:*, ES|QL's is not null).
func cExists(f string) confCond { return confCond{op: "exists", field: f} }

// cLike: field matches one of the wildcard patterns (* and ?),
// case-sensitively (KQL on keyword and wildcard fields, ES|QL like, EQL like).
func cLike(f string, pats ...string) confCond {
	return confCond{op: "like", field: f, vals: strs(pats)}
}

// cILike: as cLike, case-insensitively (EQL's ":" operator).
func cILike(f string, pats ...string) confCond {
	return confCond{op: "ilike", field: f, vals: strs(pats)}
}

// cRegex: field matches the whole regular expression (ES|QL rlike, EQL
// regex; write (?i) for regex~).
func cRegex(f, re string) confCond { return confCond{op: "regex", field: f, vals: []any{re}} }

// cCIDR: an ip field in one of the networks.
func cCIDR(f string, nets ...string) confCond {
	return confCond{op: "cidr", field: f, vals: strs(nets)}
}

// cNum: a numeric field compared with n (">", ">=", "<", "<=").
func cNum(f, cmp string, n float64) confCond { return confCond{op: "num", field: f, cmp: cmp, n: n} }

// cNe: ES|QL's field != v, which is false when the field is null: the
// field must have a value and none equal to v.
func cNe(f string, v any) confCond { return confCond{op: "ne", field: f, vals: []any{v}} }

// cNot: KQL's and EQL's not (true when the field is missing).
func cNot(c confCond) confCond { return confCond{op: "not", sub: []confCond{c}} }

func cOr(cs ...confCond) confCond  { return confCond{op: "or", sub: cs} }
func cAnd(cs ...confCond) confCond { return confCond{op: "and", sub: cs} }

// cPred: a condition the others cannot say (two fields compared), with
// what it checks.
func cPred(desc string, p func(doc map[string]any) bool) confCond {
	return confCond{op: "pred", desc: desc, pred: p}
}

func strs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (c confCond) String() string {
	switch c.op {
	case "in":
		return fmt.Sprintf("%s in %v", c.field, c.vals)
	case "exists":
		return c.field + " exists"
	case "num":
		return fmt.Sprintf("%s %s %v", c.field, c.cmp, c.n)
	case "ne":
		return fmt.Sprintf("%s != %v (not null)", c.field, c.vals[0])
	case "not":
		return "not (" + c.sub[0].String() + ")"
	case "or", "and":
		var parts []string
		for _, s := range c.sub {
			parts = append(parts, s.String())
		}
		return "(" + strings.Join(parts, " "+c.op+" ") + ")"
	case "pred":
		return c.desc
	}
	return fmt.Sprintf("%s %s %v", c.field, c.op, c.vals)
}

// confValues are the values at a dotted path.
func confValues(v any, path []string) []any {
	if len(path) == 0 {
		switch v := v.(type) {
		case nil:
			return nil
		case []any:
			var out []any
			for _, e := range v {
				out = append(out, confValues(e, nil)...)
			}
			return out
		case map[string]any:
			// A flattened field: every value under it.
			var out []any
			for _, k := range confKeys(v) {
				out = append(out, confValues(v[k], nil)...)
			}
			return out
		}
		return []any{v}
	}
	switch v := v.(type) {
	case []any:
		var out []any
		for _, e := range v {
			out = append(out, confValues(e, path)...)
		}
		return out
	case map[string]any:
		if path[0] == "*" {
			var out []any
			for _, k := range confKeys(v) {
				out = append(out, confValues(v[k], path[1:])...)
			}
			return out
		}
		return confValues(v[path[0]], path[1:])
	}
	return nil
}

func confKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// confEqual compares a document value with a wanted one of the field's
// mapped type: a keyword is a JSON string, a long a JSON number, a boolean
// a JSON boolean.
func confEqual(got, want any) bool {
	switch w := want.(type) {
	case string:
		s, ok := got.(string)
		return ok && s == w
	case bool:
		b, ok := got.(bool)
		return ok && b == w
	case int:
		n, ok := got.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f == float64(w)
	}
	return false
}

// confGlob reports whether s matches the wildcard pattern p (* any run, ?
// one character).
func confGlob(p, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(p)) + "$"
	return regexp.MustCompile("(?s)" + re).MatchString(s)
}

func (c confCond) eval(doc map[string]any) bool {
	var vals []any
	if c.field != "" {
		vals = confValues(doc, strings.Split(c.field, "."))
	}
	some := func(f func(v any) bool) bool {
		for _, v := range vals {
			if f(v) {
				return true
			}
		}
		return false
	}
	switch c.op {
	case "in":
		return some(func(v any) bool {
			for _, w := range c.vals {
				if confEqual(v, w) {
					return true
				}
			}
			return false
		})
	case "exists":
		return len(vals) > 0
	case "ne":
		return len(vals) > 0 && !some(func(v any) bool { return confEqual(v, c.vals[0]) })
	case "like", "ilike":
		return some(func(v any) bool {
			s, ok := v.(string)
			if !ok {
				return false
			}
			for _, p := range c.vals {
				p := p.(string)
				if c.op == "ilike" && confGlob(strings.ToLower(p), strings.ToLower(s)) || c.op == "like" && confGlob(p, s) {
					return true
				}
			}
			return false
		})
	case "regex":
		re := regexp.MustCompile("^(?:" + c.vals[0].(string) + ")$")
		return some(func(v any) bool { s, ok := v.(string); return ok && re.MatchString(s) })
	case "cidr":
		return some(func(v any) bool {
			s, _ := v.(string)
			a, err := netip.ParseAddr(s)
			if err != nil {
				return false
			}
			for _, n := range c.vals {
				if netip.MustParsePrefix(n.(string)).Contains(a) {
					return true
				}
			}
			return false
		})
	case "num":
		return some(func(v any) bool {
			n, ok := v.(json.Number)
			if !ok {
				return false
			}
			f, err := n.Float64()
			if err != nil {
				return false
			}
			switch c.cmp {
			case ">":
				return f > c.n
			case ">=":
				return f >= c.n
			case "<":
				return f < c.n
			case "<=":
				return f <= c.n
			}
			return false
		})
	case "not":
		return !c.sub[0].eval(doc)
	case "or":
		for _, s := range c.sub {
			if s.eval(doc) {
				return true
			}
		}
		return false
	case "and":
		for _, s := range c.sub {
			if !s.eval(doc) {
				return false
			}
		}
		return true
	case "pred":
		return c.pred(doc)
	}
	panic("unknown condition " + c.op)
}

// confFirst is the first string value at a dotted path, "" if none.
func confFirst(doc map[string]any, field string) string {
	for _, v := range confValues(doc, strings.Split(field, ".")) {
		if s, ok := v.(string); ok {
			return s
		}
	}
	return ""
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
		// As the graph input does with what it cannot model.
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

// confGlobalAdmin is the role the privilege stage finds for the actors of
// these records (the suite is about privileged accounts).
var confGlobalAdmin = entra.RoleHeld{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10",
	Assignment: "eligible", Via: "direct", Privileged: true}

// confHits are the monitors of docs/monitor-triggers.md these records hit
// when their actor is privileged, as the monitor stage would annotate them
// (written here, not evaluated: the monitor catalog is tested in monitor/).
var confHits = map[string][]entra.Hit{
	"si_lockout_50053":       {{ID: "signin.lockout", Title: "Privileged account locked out", Risk: "medium", Source: "signin", Reason: "errorCode=50053"}},
	"si_mfa_oath_500121":     {{ID: "signin.mfa_interrupt", Title: "Privileged sign-in failed at MFA", Risk: "high", Source: "signin", Reason: "errorCode=500121"}},
	"si_high_risk":           {{ID: "signin.identity_protection_risk", Title: "Risk on a privileged sign-in", Risk: "high", Source: "signin", Reason: "riskState=atRisk riskLevelDuringSignIn=high"}},
	"si_legacy_imap":         {{ID: "signin.legacy_auth", Title: "Legacy authentication by a privileged account", Risk: "high", Source: "signin", Reason: "clientAppUsed=IMAP4"}},
	"elastic_userriskevent":  {{ID: "signin.identity_protection_risk", Title: "Risk on a privileged sign-in", Risk: "high", Source: "risk", Reason: "riskState=atRisk riskLevel=high"}},
	"audit_guest_promoted":   {{ID: "audit.guest_to_member", Title: "Guest converted to member", Risk: "medium", Source: "audit", Reason: "UserType Guest -> Member"}},
	"audit_pim_role_setting": {{ID: "pim.settings_changed", Title: "PIM role settings changed", Risk: "medium", Source: "audit", Reason: "role=Global Administrator"}},
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

// confASN is the geo stage's answer with an ASN database: the
// organisation Elasticsearch's GeoLite2-ASN would name (the integration
// reads source.as.* from its geoip processor; privtrail from its geo stage).
func confASN(asn uint, org string) func(*entra.Record) {
	return func(r *entra.Record) {
		if r.Context.Geo == nil {
			r.Context.Geo = &entra.Geo{}
		}
		r.Context.Geo.ASN, r.Context.Geo.ASOrg = asn, org
	}
}

// confDoc encodes rec and returns the bulk item's index and document.
func confDoc(t testing.TB, rec *entra.Record) (string, map[string]any) {
	t.Helper()
	item, err := NewEncoder(defaultNaming).Encode(nil, rec, nil)
	if err != nil {
		t.Fatalf("%s: %v", rec.Origin, err)
	}
	action, body, ok := bytes.Cut(bytes.TrimSpace(item), []byte("\n"))
	if !ok {
		t.Fatalf("%s: not a bulk item: %s", rec.Origin, item)
	}
	var a struct {
		Create struct {
			Index string `json:"_index"`
		} `json:"create"`
	}
	if err := json.Unmarshal(action, &a); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", rec.Origin, err)
	}
	return a.Create.Index, doc
}

// ---- the rules ----------------------------------------------------------------

type confRule struct {
	name  string   // the rule's name
	path  string   // its file in elastic/detection-rules
	kind  string   // query language or rule type: kuery, eql, esql, new_terms, threshold
	index []string // the index patterns it reads (ES|QL: its FROM)
	query string   // the rule's query, as in the file
	conds []confCond
	// newTerms are a new_terms rule's fields: it only alerts on a document
	// that has them (and whose combination is new: one document in an
	// empty history is).
	newTerms []string
	record   string              // testdata/conformance/<record>.json
	enrich   func(*entra.Record) // more enrichment, on top of confEnrich
	// miss breaks one condition: an edit of the input record, or an
	// enrichment (missEnrich) that replaces enrich.
	miss       *conformance.Edit
	missEnrich func(*entra.Record)
	// skip says why one privtrail document cannot fire the rule by
	// design; conds are then the rule's per-event filter (still checked),
	// and the rule does not count as applying.
	skip string
	// never: the rule can match no Entra record as Entra writes it (skip
	// says why); the record, as Entra writes it, must not match.
	never bool
}

const (
	dsSignIn = "azure.signinlogs"
	dsAudit  = "azure.auditlogs"
	dsIDP    = "azure.identity_protection"
	dsGraph  = "azure.graphactivitylogs"
	dsAADG   = "azure.aadgraphactivitylogs"

	appMAB = "29d9ed98-a469-4536-ade2-f981bc1d605e" // Microsoft Authentication Broker
)

// Rules that test result_signature == "SUCCESS" need the envelope's
// resultSignature, which a Graph record does not carry.

var confRules = []confRule{
	// ---- sign-in logs: KQL and new terms ----------------------------------------
	{
		name: "Entra ID Sharepoint or OneDrive Accessed by Unusual Client", path: "rules/integrations/azure/collection_entra_id_sharepoint_access_from_unusual_application.toml",
		kind: "new_terms", index: []string{"logs-azure.signinlogs-*"},
		query: `data_stream.dataset:azure.signinlogs
    and azure.signinlogs.properties.resource_id: (
        00000003-0000-0ff1-ce00-000000000000 or
        6a9b9266-8161-4a7b-913a-a9eda19da220
    ) and azure.signinlogs.properties.app_id: ( *
        and not (
            00000003-0000-0ff1-ce00-000000000000 or
            08e18876-6177-487e-b8b5-cf950c1e598c or
            ab9b8c07-8f02-4f72-87fa-80105867a763 or
            af124e86-4e96-495a-b70a-90f90ab96707
        )
    )
    and azure.signinlogs.properties.tenant_id:*
    and event.outcome:success`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIn("azure.signinlogs.properties.resource_id", "00000003-0000-0ff1-ce00-000000000000", "6a9b9266-8161-4a7b-913a-a9eda19da220"),
			cExists("azure.signinlogs.properties.app_id"),
			cNot(cIn("azure.signinlogs.properties.app_id", "00000003-0000-0ff1-ce00-000000000000", "08e18876-6177-487e-b8b5-cf950c1e598c",
				"ab9b8c07-8f02-4f72-87fa-80105867a763", "af124e86-4e96-495a-b70a-90f90ab96707")),
			cExists("azure.signinlogs.properties.tenant_id"),
			cIs("event.outcome", "success"),
		},
		newTerms: []string{"azure.signinlogs.properties.app_id", "azure.signinlogs.properties.tenant_id"},
		record:   "si_sharepoint_unusual_client",
		miss:     conformance.Set("properties.appId", "08e18876-6177-487e-b8b5-cf950c1e598c"),
	},
	{
		name: "Entra ID ROPC Authentication with Unknown Client ID", path: "rules/integrations/azure/credential_access_entra_id_ropc_unknown_client_id.toml",
		kind: "new_terms", index: []string{"logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs"
    and event.category: "authentication"
    and azure.signinlogs.properties.authentication_protocol: "ropc"
    and azure.signinlogs.properties.status.error_code: 700016
    and not azure.signinlogs.properties.app_display_name: *`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.category", "authentication"),
			cIs("azure.signinlogs.properties.authentication_protocol", "ropc"),
			cIs("azure.signinlogs.properties.status.error_code", 700016),
			cNot(cExists("azure.signinlogs.properties.app_display_name")),
		},
		newTerms: []string{"azure.signinlogs.properties.app_id"},
		record:   "si_ropc_unknown_client",
		miss:     conformance.Set("properties.status.errorCode", 50126),
	},
	{
		name: "Entra ID Conditional Access MFA Bypass with Unusual User, Client and Source ASN", path: "rules/integrations/azure/defense_evasion_entra_id_ca_mfa_bypass_first_party_graph.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs" and
event.outcome: "success" and
azure.signinlogs.properties.user_type: "Member" and
azure.signinlogs.properties.authentication_requirement: "singleFactorAuthentication" and
azure.signinlogs.properties.conditional_access_status: ("success" or "notApplied") and
azure.signinlogs.properties.authentication_details.authentication_method: "Password" and
azure.signinlogs.properties.applied_conditional_access_policies.enforced_grant_controls: "Mfa" and
azure.signinlogs.properties.applied_conditional_access_policies.result: "notApplied" and
(
    azure.signinlogs.properties.resource_id: "00000003-0000-0000-c000-000000000000" or
    azure.signinlogs.properties.resource_display_name: "Microsoft Graph"
) and
azure.signinlogs.properties.app_owner_tenant_id: "f8cdef31-a31e-4b4a-93e4-5f571e91255a" and
azure.signinlogs.properties.user_principal_name: * and
azure.signinlogs.properties.app_id: * and
source.as.number: *`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.outcome", "success"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cIs("azure.signinlogs.properties.authentication_requirement", "singleFactorAuthentication"),
			cIn("azure.signinlogs.properties.conditional_access_status", "success", "notApplied"),
			cIs("azure.signinlogs.properties.authentication_details.authentication_method", "Password"),
			cIs("azure.signinlogs.properties.applied_conditional_access_policies.enforced_grant_controls", "Mfa"),
			cIs("azure.signinlogs.properties.applied_conditional_access_policies.result", "notApplied"),
			cOr(cIs("azure.signinlogs.properties.resource_id", "00000003-0000-0000-c000-000000000000"),
				cIs("azure.signinlogs.properties.resource_display_name", "Microsoft Graph")),
			cIs("azure.signinlogs.properties.app_owner_tenant_id", "f8cdef31-a31e-4b4a-93e4-5f571e91255a"),
			cExists("azure.signinlogs.properties.user_principal_name"),
			cExists("azure.signinlogs.properties.app_id"),
			cExists("source.as.number"),
		},
		newTerms: []string{"azure.signinlogs.properties.user_principal_name", "azure.signinlogs.properties.app_id", "source.as.number"},
		record:   "si_ca_mfa_bypass_graph",
		miss:     conformance.Set("properties.appOwnerTenantId", "887c9144-28b8-431b-885b-764fdeefcf62"),
	},
	{
		name: "Entra ID Service Principal Federated Credential Authentication by Unusual Client", path: "rules/integrations/azure/initial_access_entra_id_federated_login_by_unusual_client.toml",
		kind: "new_terms", index: []string{"logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs"
    and azure.signinlogs.category: "ServicePrincipalSignInLogs"
    and azure.signinlogs.properties.client_credential_type: "federatedIdentityCredential"
    and azure.signinlogs.result_signature: "SUCCESS"
    and azure.signinlogs.properties.app_id: *
    and not azure.signinlogs.properties.app_owner_tenant_id: (
        "f8cdef31-a31e-4b4a-93e4-5f571e91255a" or
        "72f988bf-86f1-41af-91ab-2d7cd011db47"
    )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("azure.signinlogs.category", "ServicePrincipalSignInLogs"),
			cIs("azure.signinlogs.properties.client_credential_type", "federatedIdentityCredential"),
			cIs("azure.signinlogs.result_signature", "SUCCESS"),
			cExists("azure.signinlogs.properties.app_id"),
			cNot(cIn("azure.signinlogs.properties.app_owner_tenant_id", "f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47")),
		},
		newTerms: []string{"azure.signinlogs.properties.app_id"},
		record:   "sp_federated_credential",
		miss:     conformance.Set("properties.clientCredentialType", "clientSecret"),
	},
	{
		name: "Entra ID OAuth Device Code Grant by Unusual User", path: "rules/integrations/azure/initial_access_entra_id_first_time_seen_device_code_auth.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.signinlogs-*", "logs-azure.activitylogs-*"},
		query: `data_stream.dataset:(azure.activitylogs or azure.signinlogs)
    and (
            azure.signinlogs.properties.authentication_protocol:deviceCode or
            azure.signinlogs.properties.original_transfer_method:deviceCodeFlow or
            azure.activitylogs.properties.authentication_protocol:deviceCode
        )
    and event.outcome:success
    and azure.signinlogs.properties.user_type:*
    and not azure.signinlogs.properties.app_id:(
        "29d9ed98-a469-4536-ade2-f981bc1d605e" or
        "d5a56ea4-7369-46b8-a538-c370805301bf" or
        "80faf920-1908-4b52-b5ef-a8e7bedfc67a" or
        "97877f11-0fc6-4aee-b1ff-febb0519dd00" or
        "245e1dee-74ef-4257-a8c8-8208296e1dfd" or
        "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223" or
        "74bcdadc-2fdc-4bb3-8459-76d06952a0e9" or
        "4813382a-8fa7-425e-ab75-3b753aab3abb" or
        "a850aaae-d5a5-4e82-877c-ce54ff916282"
    )`,
		conds: []confCond{
			cIn("data_stream.dataset", "azure.activitylogs", dsSignIn),
			cOr(cIs("azure.signinlogs.properties.authentication_protocol", "deviceCode"),
				cIs("azure.signinlogs.properties.original_transfer_method", "deviceCodeFlow"),
				cIs("azure.activitylogs.properties.authentication_protocol", "deviceCode")),
			cIs("event.outcome", "success"),
			cExists("azure.signinlogs.properties.user_type"),
			cNot(cIn("azure.signinlogs.properties.app_id", appMAB, "d5a56ea4-7369-46b8-a538-c370805301bf", "80faf920-1908-4b52-b5ef-a8e7bedfc67a",
				"97877f11-0fc6-4aee-b1ff-febb0519dd00", "245e1dee-74ef-4257-a8c8-8208296e1dfd", "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223",
				"74bcdadc-2fdc-4bb3-8459-76d06952a0e9", "4813382a-8fa7-425e-ab75-3b753aab3abb", "a850aaae-d5a5-4e82-877c-ce54ff916282")),
		},
		newTerms: []string{"azure.signinlogs.properties.user_principal_name"},
		record:   "si_device_code_azure_cli",
		miss:     conformance.Set("properties.appId", appMAB),
	},
	{
		name: "Entra ID OAuth Device Code Grant by Microsoft Authentication Broker", path: "rules/integrations/azure/initial_access_entra_id_device_code_auth_with_broker_client.toml",
		kind: "kuery", index: []string{"filebeat-*", "logs-azure.signinlogs-*", "logs-azure.activitylogs-*"},
		query: ` data_stream.dataset:(azure.activitylogs or azure.signinlogs)
    and azure.signinlogs.properties.authentication_protocol:deviceCode
    and azure.signinlogs.properties.conditional_access_audiences.application_id:29d9ed98-a469-4536-ade2-f981bc1d605e
    and event.outcome:success or (
        azure.activitylogs.properties.appId:29d9ed98-a469-4536-ade2-f981bc1d605e
        and azure.activitylogs.properties.authentication_protocol:deviceCode)`,
		conds: []confCond{
			cOr(
				cAnd(cIn("data_stream.dataset", "azure.activitylogs", dsSignIn),
					cIs("azure.signinlogs.properties.authentication_protocol", "deviceCode"),
					cIs("azure.signinlogs.properties.conditional_access_audiences.application_id", appMAB),
					cIs("event.outcome", "success")),
				cAnd(cIs("azure.activitylogs.properties.appId", appMAB),
					cIs("azure.activitylogs.properties.authentication_protocol", "deviceCode"))),
		},
		record: "si_device_code_broker",
		miss:   conformance.Set("properties.conditionalAccessAudiences", []any{map[string]any{"applicationId": "00000003-0000-0000-c000-000000000000", "audienceReasons": "none"}}),
	},
	{
		name: "Entra ID High Risk Sign-in", path: "rules/integrations/azure/initial_access_entra_id_high_risk_signin.toml",
		kind: "kuery", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset:azure.signinlogs and
  (
    azure.signinlogs.properties.risk_level_during_signin:high or
    azure.signinlogs.properties.risk_level_aggregated:high
  ) and
  not (event.outcome:failure and azure.signinlogs.properties.risk_level_aggregated:none and azure.signinlogs.properties.risk_state:none) and
  not azure.signinlogs.properties.risk_state:(remediated or dismissed or confirmedSafe)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cOr(cIs("azure.signinlogs.properties.risk_level_during_signin", "high"), cIs("azure.signinlogs.properties.risk_level_aggregated", "high")),
			cNot(cAnd(cIs("event.outcome", "failure"), cIs("azure.signinlogs.properties.risk_level_aggregated", "none"), cIs("azure.signinlogs.properties.risk_state", "none"))),
			cNot(cIn("azure.signinlogs.properties.risk_state", "remediated", "dismissed", "confirmedSafe")),
		},
		record: "si_high_risk",
		miss:   conformance.Set("properties.riskState", "dismissed"),
	},
	{
		name: "Entra ID Microsoft Authentication Broker Sign-In with Non-Standard User Agent", path: "rules/integrations/azure/initial_access_entra_id_microsoft_auth_broker_nonstandard_user_agent.toml",
		kind: "kuery", index: []string{"logs-azure.signinlogs-*"},
		query: `data_stream.dataset:"azure.signinlogs" and event.action:"Sign-in activity" and event.outcome:(success or Success) and 
(azure.signinlogs.properties.app_display_name:"Microsoft Authentication Broker" or azure.signinlogs.properties.app_id:"29d9ed98-a469-4536-ade2-f981bc1d605e") and
user_agent.original:(* and not (Mozilla* or Dalvik* or *CFNetwork* or Windows-AzureAD-Authentication-Provider* or Java*ThinkPad*)) and
azure.signinlogs.properties.resource_display_name:*`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.action", "Sign-in activity"),
			cIn("event.outcome", "success", "Success"),
			cOr(cIs("azure.signinlogs.properties.app_display_name", "Microsoft Authentication Broker"), cIs("azure.signinlogs.properties.app_id", appMAB)),
			cExists("user_agent.original"),
			cNot(cLike("user_agent.original", "Mozilla*", "Dalvik*", "*CFNetwork*", "Windows-AzureAD-Authentication-Provider*", "Java*ThinkPad*")),
			cExists("azure.signinlogs.properties.resource_display_name"),
		},
		record: "si_mab_python_ua",
		miss:   conformance.Set("properties.userAgent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
	},
	{
		name: "Entra ID Microsoft Authentication Broker Sign-In to Unusual Resource", path: "rules/integrations/azure/initial_access_entra_id_microsoft_auth_broker_unusual_resource.toml",
		kind: "kuery", index: []string{"logs-azure.signinlogs-*"},
		query: `data_stream.dataset:"azure.signinlogs" and event.category:"authentication" and event.action:"Sign-in activity" and
event.outcome:success and azure.signinlogs.properties.app_id:"29d9ed98-a469-4536-ade2-f981bc1d605e" and
azure.signinlogs.properties.resource_id:(* and not 
    ("00000002-0000-0000-c000-000000000000" or
    "90a2e5d2-fd7a-4a2e-bc90-3dc50ae8e3ee" or
    "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9" or
    "d4ebce55-015a-49b5-a083-c84d1797ae8c" or
    "00000003-0000-0000-c000-000000000000" or 
    "0a5f63c0-b750-4f38-a71c-4fc0d58b89e2")
)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.category", "authentication"),
			cIs("event.action", "Sign-in activity"),
			cIs("event.outcome", "success"),
			cIs("azure.signinlogs.properties.app_id", appMAB),
			cExists("azure.signinlogs.properties.resource_id"),
			cNot(cIn("azure.signinlogs.properties.resource_id", "00000002-0000-0000-c000-000000000000", "90a2e5d2-fd7a-4a2e-bc90-3dc50ae8e3ee",
				"01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9", "d4ebce55-015a-49b5-a083-c84d1797ae8c", "00000003-0000-0000-c000-000000000000",
				"0a5f63c0-b750-4f38-a71c-4fc0d58b89e2")),
		},
		record: "si_mab_python_ua",
		miss:   conformance.Set("properties.resourceId", "00000003-0000-0000-c000-000000000000"),
	},
	{
		name: "Entra ID OAuth Authorization Code Grant for Unusual User, App, and Resource", path: "rules/integrations/azure/initial_access_entra_id_oauth_auth_code_grant_unusual_app_resource_user.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs" and
    event.outcome: "success" and
    azure.signinlogs.properties.user_type: "Member" and
    (
        (
            azure.signinlogs.properties.app_id: (
                "04b07795-8ddb-461a-bbee-02f9e1bf7b46" or
                "aebc6443-996d-45c2-90f0-388ff96faa56" or
                "1950a258-227b-4e31-a9cf-717495945fc2"
            ) and
            azure.signinlogs.properties.resource_id: (
                "00000002-0000-0000-c000-000000000000" or
                "00000003-0000-0000-c000-000000000000"
            )
        ) or
        (
            azure.signinlogs.properties.app_id: (
                "00b41c95-dab0-4487-9791-b9d2c32c80f2" or
                "1fec8e78-bce4-4aaf-ab1b-5451cc387264" or
                "26a7ee05-5602-4d76-a7ba-eae8b7b67941" or
                "27922004-5251-4030-b22d-91ecd9a37ea4" or
                "4813382a-8fa7-425e-ab75-3b753aab3abb" or
                "ab9b8c07-8f02-4f72-87fa-80105867a763" or
                "872cd9fa-d31f-45e0-9eab-6e460a02d1f1" or
                "af124e86-4e96-495a-b70a-90f90ab96707" or
                "2d7f3606-b07d-41d1-b9d2-0d0c9296a6e8" or
                "844cca35-0656-46ce-b636-13f48b0eecbd" or
                "87749df4-7ccf-48f8-aa87-704bad0e0e16" or
                "cf36b471-5b44-428c-9ce7-313bf84528de" or
                "0ec893e0-5785-4de6-99da-4ed124e5296c" or
                "22098786-6e16-43cc-a27d-191a01a1e3b5" or
                "4e291c71-d680-4d0e-9640-0a3358e31177" or
                "57336123-6e14-4acc-8dcf-287b6088aa28" or
                "57fcbcfa-7cee-4eb1-8b25-12d2030b4ee0" or
                "66375f6b-983f-4c2c-9701-d680650f588f" or
                "a40d7d7d-59aa-447e-a655-679a4107e548" or
                "a569458c-7f2b-45cb-bab9-b7dee514d112" or
                "b26aadf8-566f-4478-926f-589f601d9c74" or
                "c0d2a505-13b8-4ae0-aa9e-cddd5eab0b12" or
                "d326c1ce-6cc6-4de2-bebc-4591e5e13ef0" or
                "e9c51622-460d-4d3d-952d-966a5b1da34c" or
                "eb539595-3fe1-474e-9c1d-feb3625d1be5" or
                "ecd6b820-32c2-49b6-98a6-444530e5a77a" or
                "f05ff7c9-f75a-4acd-a3b5-f4b6a870245d" or
                "f44b1140-bc5e-48c6-8dc0-5cf5a53c0e34" or
                "be1918be-3fe3-4be9-b32b-b542fc27f02e" or
                "cab96880-db5b-4e15-90a7-f3f1d62ffe39" or
                "d7b530a4-7680-4c23-a8bf-c52c121d2e87" or
                "dd47d17a-3194-4d86-bfd5-c6ae6f5651e3" or
                "e9b154d0-7658-433b-bb25-6b8e0a8a7c59"
            ) and
            azure.signinlogs.properties.resource_id: "00000002-0000-0000-c000-000000000000"
        )
    )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.outcome", "success"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cOr(
				cAnd(cIn("azure.signinlogs.properties.app_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "aebc6443-996d-45c2-90f0-388ff96faa56", "1950a258-227b-4e31-a9cf-717495945fc2"),
					cIn("azure.signinlogs.properties.resource_id", "00000002-0000-0000-c000-000000000000", "00000003-0000-0000-c000-000000000000")),
				cAnd(cIn("azure.signinlogs.properties.app_id", confFirstPartyApps...),
					cIs("azure.signinlogs.properties.resource_id", "00000002-0000-0000-c000-000000000000"))),
		},
		newTerms: []string{"azure.signinlogs.properties.user_principal_name", "azure.signinlogs.properties.app_id", "azure.signinlogs.properties.resource_id"},
		record:   "si_device_code_azure_cli",
		miss:     conformance.Set("properties.resourceId", "00000003-0000-0ff1-ce00-000000000000"),
	},
	{
		name: "Entra ID OAuth Device Code Phishing via AiTM", path: "rules/integrations/azure/initial_access_entra_id_oauth_device_code_phishing_tycoon_aitm.toml",
		kind: "kuery", index: []string{"logs-azure.signinlogs-*"},
		query: `data_stream.dataset:"azure.signinlogs" and event.category:"authentication" and event.action:"Sign-in activity" and
event.outcome:success and azure.signinlogs.properties.app_id:"29d9ed98-a469-4536-ade2-f981bc1d605e" and
azure.signinlogs.properties.authentication_protocol:deviceCode and
azure.signinlogs.properties.resource_id:(
    "00000002-0000-0ff1-ce00-000000000000" or
    "00000003-0000-0ff1-ce00-000000000000" or
    "00000003-0000-0000-c000-000000000000"
) and azure.signinlogs.properties.is_interactive:true`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.category", "authentication"),
			cIs("event.action", "Sign-in activity"),
			cIs("event.outcome", "success"),
			cIs("azure.signinlogs.properties.app_id", appMAB),
			cIs("azure.signinlogs.properties.authentication_protocol", "deviceCode"),
			cIn("azure.signinlogs.properties.resource_id", "00000002-0000-0ff1-ce00-000000000000", "00000003-0000-0ff1-ce00-000000000000", "00000003-0000-0000-c000-000000000000"),
			cIs("azure.signinlogs.properties.is_interactive", true),
		},
		record: "si_device_code_broker",
		miss:   conformance.Set("properties.authenticationProtocol", "none"),
	},
	{
		name: "Entra ID OAuth Phishing via First-Party Microsoft Application", path: "rules/integrations/azure/initial_access_entra_id_oauth_phishing_via_first_party_microsoft_application.toml",
		kind: "kuery", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs" and
event.action: "Sign-in activity" and
event.outcome: "success" and
(
  (
    azure.signinlogs.properties.app_id: (
      "aebc6443-996d-45c2-90f0-388ff96faa56" or
      "04b07795-8ddb-461a-bbee-02f9e1bf7b46" or
      "1950a258-227b-4e31-a9cf-717495945fc2"
    ) and (
      azure.signinlogs.properties.resource_id: ("00000003-0000-0000-c000-000000000000" or "00000002-0000-0000-c000-000000000000") or
      azure.signinlogs.properties.resource_display_name: ("Microsoft Graph" or "Windows Azure Active Directory")
    )
  ) or
  (
    azure.signinlogs.properties.app_id: (
      "00b41c95-dab0-4487-9791-b9d2c32c80f2" or
      "1fec8e78-bce4-4aaf-ab1b-5451cc387264" or
      "26a7ee05-5602-4d76-a7ba-eae8b7b67941" or
      "27922004-5251-4030-b22d-91ecd9a37ea4" or
      "4813382a-8fa7-425e-ab75-3b753aab3abb" or
      "ab9b8c07-8f02-4f72-87fa-80105867a763" or
      "872cd9fa-d31f-45e0-9eab-6e460a02d1f1" or
      "af124e86-4e96-495a-b70a-90f90ab96707" or
      "2d7f3606-b07d-41d1-b9d2-0d0c9296a6e8" or
      "844cca35-0656-46ce-b636-13f48b0eecbd" or
      "87749df4-7ccf-48f8-aa87-704bad0e0e16" or
      "cf36b471-5b44-428c-9ce7-313bf84528de" or
      "0ec893e0-5785-4de6-99da-4ed124e5296c" or
      "22098786-6e16-43cc-a27d-191a01a1e3b5" or
      "4e291c71-d680-4d0e-9640-0a3358e31177" or
      "57336123-6e14-4acc-8dcf-287b6088aa28" or
      "57fcbcfa-7cee-4eb1-8b25-12d2030b4ee0" or
      "66375f6b-983f-4c2c-9701-d680650f588f" or
      "a40d7d7d-59aa-447e-a655-679a4107e548" or
      "a569458c-7f2b-45cb-bab9-b7dee514d112" or
      "b26aadf8-566f-4478-926f-589f601d9c74" or
      "c0d2a505-13b8-4ae0-aa9e-cddd5eab0b12" or
      "d326c1ce-6cc6-4de2-bebc-4591e5e13ef0" or
      "e9c51622-460d-4d3d-952d-966a5b1da34c" or
      "eb539595-3fe1-474e-9c1d-feb3625d1be5" or
      "ecd6b820-32c2-49b6-98a6-444530e5a77a" or
      "f05ff7c9-f75a-4acd-a3b5-f4b6a870245d" or
      "f44b1140-bc5e-48c6-8dc0-5cf5a53c0e34" or
      "be1918be-3fe3-4be9-b32b-b542fc27f02e" or
      "cab96880-db5b-4e15-90a7-f3f1d62ffe39" or
      "d7b530a4-7680-4c23-a8bf-c52c121d2e87" or
      "dd47d17a-3194-4d86-bfd5-c6ae6f5651e3" or
      "e9b154d0-7658-433b-bb25-6b8e0a8a7c59"
    ) and (
      azure.signinlogs.properties.resource_id: "00000002-0000-0000-c000-000000000000" or
      azure.signinlogs.properties.resource_display_name: "Windows Azure Active Directory"
    )
  )
)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.action", "Sign-in activity"),
			cIs("event.outcome", "success"),
			cOr(
				cAnd(cIn("azure.signinlogs.properties.app_id", "aebc6443-996d-45c2-90f0-388ff96faa56", "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "1950a258-227b-4e31-a9cf-717495945fc2"),
					cOr(cIn("azure.signinlogs.properties.resource_id", "00000003-0000-0000-c000-000000000000", "00000002-0000-0000-c000-000000000000"),
						cIn("azure.signinlogs.properties.resource_display_name", "Microsoft Graph", "Windows Azure Active Directory"))),
				cAnd(cIn("azure.signinlogs.properties.app_id", confFirstPartyApps...),
					cOr(cIs("azure.signinlogs.properties.resource_id", "00000002-0000-0000-c000-000000000000"),
						cIs("azure.signinlogs.properties.resource_display_name", "Windows Azure Active Directory")))),
		},
		record: "si_device_code_azure_cli",
		miss:   conformance.Set("properties.appId", "1b730954-1685-4b74-9bfd-dac224a7b894"),
	},
	{
		name: "Entra ID OAuth user_impersonation Scope for Unusual User and Client", path: "rules/integrations/azure/initial_access_entra_id_oauth_user_impersonation_scope.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset: azure.signinlogs and
    azure.signinlogs.properties.authentication_processing_details: *user_impersonation* and
    azure.signinlogs.properties.authentication_requirement: "singleFactorAuthentication" and
    azure.signinlogs.properties.token_issuer_type: "AzureAD" and
    azure.signinlogs.properties.token_protection_status_details.sign_in_session_status: "unbound" and
    azure.signinlogs.properties.user_type: "Member" and
    azure.signinlogs.properties.conditional_access_status: "notApplied" and
    not user_agent.original: (Mozilla*PKeyAuth/1.0 or Microsoft*Authentication*iPhone*) and
    not azure.signinlogs.properties.device_detail.operating_system: (Ios* or Android*) and
    event.outcome: "success"
    and not azure.signinlogs.properties.app_id: (
        "a5f63c0-b750-4f38-a71c-4fc0d58b89e2" or
        "6bc3b958-689b-49f5-9006-36d165f30e00" or
        "66a88757-258c-4c72-893c-3e8bed4d6899" or
        "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe" or
        "0000000c-0000-0000-c000-000000000000" or
        "0a5f63c0-b750-4f38-a71c-4fc0d58b89e2" or
        "48af08dc-f6d2-435f-b2a7-069abd99c086" or
        "ab9b8c07-8f02-4f72-87fa-80105867a763" or
        "fc0f3af4-6835-4174-b806-f7db311fd2f3" or
        "5e3ce6c0-2b1f-4285-8d4b-75ee78787346" or
        "e8be65d6-d430-4289-a665-51bf2a194bda" or
        "95de633a-083e-42f5-b444-a4295d8e9314" or
        "d52792f4-ba38-424d-8140-ada5b883f293" or
        "65d91a3d-ab74-42e6-8a2f-0add61688c74" or
        "8c59ead7-d703-4a27-9e55-c96a0054c8d2"
    )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cLike("azure.signinlogs.properties.authentication_processing_details", "*user_impersonation*"),
			cIs("azure.signinlogs.properties.authentication_requirement", "singleFactorAuthentication"),
			cIs("azure.signinlogs.properties.token_issuer_type", "AzureAD"),
			cIs("azure.signinlogs.properties.token_protection_status_details.sign_in_session_status", "unbound"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cIs("azure.signinlogs.properties.conditional_access_status", "notApplied"),
			cNot(cLike("user_agent.original", "Mozilla*PKeyAuth/1.0", "Microsoft*Authentication*iPhone*")),
			cNot(cLike("azure.signinlogs.properties.device_detail.operating_system", "Ios*", "Android*")),
			cIs("event.outcome", "success"),
			cNot(cIn("azure.signinlogs.properties.app_id", "a5f63c0-b750-4f38-a71c-4fc0d58b89e2", "6bc3b958-689b-49f5-9006-36d165f30e00",
				"66a88757-258c-4c72-893c-3e8bed4d6899", "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "0000000c-0000-0000-c000-000000000000",
				"0a5f63c0-b750-4f38-a71c-4fc0d58b89e2", "48af08dc-f6d2-435f-b2a7-069abd99c086", "ab9b8c07-8f02-4f72-87fa-80105867a763",
				"fc0f3af4-6835-4174-b806-f7db311fd2f3", "5e3ce6c0-2b1f-4285-8d4b-75ee78787346", "e8be65d6-d430-4289-a665-51bf2a194bda",
				"95de633a-083e-42f5-b444-a4295d8e9314", "d52792f4-ba38-424d-8140-ada5b883f293", "65d91a3d-ab74-42e6-8a2f-0add61688c74",
				"8c59ead7-d703-4a27-9e55-c96a0054c8d2")),
		},
		newTerms: []string{"azure.signinlogs.properties.user_principal_name", "azure.signinlogs.properties.app_id"},
		record:   "si_user_impersonation_scope",
		miss:     conformance.Set("properties.tokenProtectionStatusDetails", map[string]any{"signInSessionStatus": "bound", "signInSessionStatusCode": 0}),
	},
	{
		name: "Entra ID PowerShell Sign-in", path: "rules/integrations/azure/initial_access_entra_id_powershell_signin.toml",
		kind: "kuery", index: []string{"logs-azure.signinlogs-*", "filebeat-*"},
		query: `data_stream.dataset:azure.signinlogs and
  azure.signinlogs.properties.app_display_name:"Azure Active Directory PowerShell" and
  azure.signinlogs.properties.token_issuer_type:AzureAD and event.outcome:(success or Success)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("azure.signinlogs.properties.app_display_name", "Azure Active Directory PowerShell"),
			cIs("azure.signinlogs.properties.token_issuer_type", "AzureAD"),
			cIn("event.outcome", "success", "Success"),
		},
		record: "si_aad_powershell_single_factor",
		miss:   conformance.Set("properties.status", map[string]any{"errorCode": 50126, "failureReason": "Error validating credentials due to invalid username or password."}),
	},
	{
		name: "Entra ID User Sign-in with Unusual Client", path: "rules/integrations/azure/initial_access_entra_id_rare_app_id_for_principal_auth.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs" and event.category: "authentication"
    and azure.signinlogs.properties.is_interactive: false
    and azure.signinlogs.properties.user_type: "Member"
    and not azure.signinlogs.properties.client_app_used: "Browser"
    and not source.as.organization.name: "MICROSOFT-CORP-MSN-AS-BLOCK"
    and not azure.signinlogs.properties.app_id: (
        "1b3c667f-cde3-4090-b60b-3d2abd0117f0" or
        "26a7ee05-5602-4d76-a7ba-eae8b7b67941" or
        "4b0964e4-58f1-47f4-a552-e2e1fc56dcd7" or
        "ecd6b820-32c2-49b6-98a6-444530e5a77a" or
        "268761a2-03f3-40df-8a8b-c3db24145b6b" or
        "fc0f3af4-6835-4174-b806-f7db311fd2f3" or
        "de50c81f-5f80-4771-b66b-cebd28ccdfc1" or
        "ab9b8c07-8f02-4f72-87fa-80105867a763" or
        "6f7e0f60-9401-4f5b-98e2-cf15bd5fd5e3" or
        "d7b530a4-7680-4c23-a8bf-c52c121d2e87" or
        "52c2e0b5-c7b6-4d11-a89c-21e42bcec444" or
        "38aa3b87-a06d-4817-b275-7a316988d93b" or
        "27922004-5251-4030-b22d-91ecd9a37ea4" or
        "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223" or
        "cab96880-db5b-4e15-90a7-f3f1d62ffe39" or
        "3a4d129e-7f50-4e0d-a7fd-033add0a29f4" or
        "29d9ed98-a469-4536-ade2-f981bc1d605e" or
        "c0ab8ce9-e9a0-42e7-b064-33d422df41f1" or
        "9ea1ad79-fdb6-4f9a-8bc3-2b70f96e34c7" or
        "4813382a-8fa7-425e-ab75-3b753aab3abb" or
        "08e18876-6177-487e-b8b5-cf950c1e598c" or
        "0ec893e0-5785-4de6-99da-4ed124e5296c" or
        "d3590ed6-52b3-4102-aeff-aad2292ab01c" or
        "0dc2408a-bbc0-4238-871e-13b372f0200f" or
        "af124e86-4e96-495a-b70a-90f90ab96707" or
        "e9c51622-460d-4d3d-952d-966a5b1da34c" or
        "f44b1140-bc5e-48c6-8dc0-5cf5a53c0e34" or
        "e2ef5054-0287-4db6-afa3-013d96881fd3" or
        "82864fa0-ed49-4711-8395-a0e6003dca1f" or
        "60c8bde5-3167-4f92-8fdb-059f6176dc0f" or
        "5d661950-3475-41cd-a2c3-d671a3162bc1" or
        "145fc680-eb72-4bcf-b4d5-8277021a1ce8" or
        "c1c74fed-04c9-4704-80dc-9f79a2e515cb" or
        "a2760c41-63c9-42b5-8d58-bfa1fd9e2eb3" or
        "6dec647e-42c4-45a6-8f13-e8250d34e033" or
        "c98e5057-edde-4666-b301-186a01b4dc58" or
        "0a31c71e-0abf-4238-add7-b1a24c165dc1" or
        "a8759234-4b8b-4d94-8c0a-ee1ab73af270" or
        "dae89220-69ba-4957-a77a-47b78695e883" or
        "fd5f78f6-a28f-450b-abc7-777f3dbbfcba" or
        "821caec6-bec3-4542-bead-d3c5fb6b4ef0" or
        "a40d7d7d-59aa-447e-a655-679a4107e548" or
        "bed12bc0-3a62-470d-998c-e47546e7b039" or
        "f4060917-6abe-40d7-baa6-f634c0eda4ac" or
        "b26aadf8-566f-4478-926f-589f601d9c74" or
        "1f7f6f43-2f81-429c-8499-293566d0ab0c" or
        "75f31797-37c9-498e-8dc9-53c16a36afca" or
        "3e050dd7-7815-46a0-8263-b73168a42c10" or
        "243c63a3-247d-41c5-9d83-7788c43f1c43" or
        "75efb5bc-18a1-4e7b-8a66-2ad2503d79c6" or
        "d32f3b53-b7d7-48df-8d0f-f8bf233b3f1f" or
        "95de633a-083e-42f5-b444-a4295d8e9314" or
        "3ff8e6ba-7dc3-4e9e-ba40-ee12b60d6d48" or
        "871c010f-5e61-4fb1-83ac-98610a7e9110" or
        "3e62f81e-590b-425b-9531-cad6683656cf" or
        "8ec6bc83-69c8-4392-8f08-b3c986009232" or
        "d326c1ce-6cc6-4de2-bebc-4591e5e13ef0" or
        "dd762716-544d-4aeb-a526-687b73838a22" or
        "7f8f922d-7ee4-40a6-b435-aad8b84ebde0" or
        "f8d98a96-0999-43f5-8af3-69971c7bb423" or
        "aa580612-c342-4ace-9055-8edee43ccb89" or
        "7f67af8a-fedc-4b08-8b4e-37c4d127b6cf" or
        "00bf137d-f689-4c5d-83d9-7fc31904a7ea" or
        "ceb96695-e468-48ba-ba21-35e2a242d396" or
        "7fba38f4-ec1f-458d-906c-f4e3c4f41335" or
        "a2a1fecc-b06e-4a1e-95c1-2afd94bcadff" or
        "15ddab63-ba81-45db-9bb6-6f8bc445c459" or
        "bc59ab01-8403-45c6-8796-ac3ef710b3e3" or
        "00000003-0000-0ff1-ce00-000000000000" or
        "4e291c71-d680-4d0e-9640-0a3358e31177" or
        "4fb5cc57-dbbc-4cdc-9595-748adff5f414" or
        "22098786-6e16-43cc-a27d-191a01a1e3b5" or
        "ebde7daf-df42-4ade-81a4-d67b339b49e9" or
        "c0d2a505-13b8-4ae0-aa9e-cddd5eab0b12" or
        "a672d62c-fc7b-4e81-a576-e60dc46e951d" or
        "0b1df6d3-2deb-44d4-b44b-7101937e0726" or
        "04f0c124-f2bc-4f59-8241-bf6df9866bbd" or
        "86f4c005-6582-4559-b6cf-8b3111236736" or
        "a0a3c1d3-7b82-4010-bdb0-e7048fb8f1fe" or
        "a187e399-0c36-4b98-8f04-1edc167a0996" or
        "2d4d3d8e-2be3-4bef-9f87-7875a61c29de"
    )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.category", "authentication"),
			cIs("azure.signinlogs.properties.is_interactive", false),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cNot(cIs("azure.signinlogs.properties.client_app_used", "Browser")),
			cNot(cIs("source.as.organization.name", "MICROSOFT-CORP-MSN-AS-BLOCK")),
			cNot(cIn("azure.signinlogs.properties.app_id", confRareAppExcluded...)),
		},
		newTerms: []string{"azure.signinlogs.properties.user_principal_name", "azure.signinlogs.properties.app_id"},
		record:   "elastic_noninteractive_signin",
		miss:     conformance.Set("properties.appId", "d7b530a4-7680-4c23-a8bf-c52c121d2e87"),
	},
	{
		name: "Entra ID User Sign-in with Unusual Authentication Type", path: "rules/integrations/azure/initial_access_entra_id_rare_authentication_requirement_for_principal_user.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs" and event.category: "authentication"
    and azure.signinlogs.properties.user_type: "Member"
    and azure.signinlogs.properties.authentication_details.authentication_method: "Password"
    and not azure.signinlogs.properties.device_detail.browser: *
    and not source.as.organization.name: "MICROSOFT-CORP-MSN-AS-BLOCK"
    and not azure.signinlogs.properties.authentication_requirement: "multiFactorAuthentication"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.category", "authentication"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cIs("azure.signinlogs.properties.authentication_details.authentication_method", "Password"),
			cNot(cExists("azure.signinlogs.properties.device_detail.browser")),
			cNot(cIs("source.as.organization.name", "MICROSOFT-CORP-MSN-AS-BLOCK")),
			cNot(cIs("azure.signinlogs.properties.authentication_requirement", "multiFactorAuthentication")),
		},
		newTerms: []string{"azure.signinlogs.properties.user_principal_name", "azure.signinlogs.properties.authentication_requirement"},
		record:   "si_aad_powershell_single_factor",
		miss:     conformance.Set("properties.deviceDetail.browser", "Chrome 118.0.0"),
	},
	{
		name: "Entra ID High Risk User Sign-in Heuristic", path: "rules/integrations/azure/initial_access_entra_id_risky_user_or_compromised_sign_in.toml",
		kind: "kuery", index: []string{"logs-azure.signinlogs-*", "filebeat-*"},
		query: `data_stream.dataset:azure.signinlogs and
  azure.signinlogs.properties.risk_state:("confirmedCompromised" or "atRisk") and event.outcome:(success or Success)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIn("azure.signinlogs.properties.risk_state", "confirmedCompromised", "atRisk"),
			cIn("event.outcome", "success", "Success"),
		},
		record: "si_high_risk",
		miss:   conformance.Set("properties.riskState", "remediated"),
	},
	{
		name: "Entra ID Service Principal with Unusual Source ASN", path: "rules/integrations/azure/initial_access_entra_id_service_principal_signin_unusual_source_asn.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset:azure.signinlogs
    and azure.signinlogs.category:ServicePrincipalSignInLogs
    and azure.signinlogs.properties.status.error_code:0
    and azure.signinlogs.properties.service_principal_id:*
    and source.as.number:*
    and not source.as.organization.name:(*MICROSOFT* or *Microsoft*)
    and not azure.signinlogs.properties.app_owner_tenant_id:(72f988bf-86f1-41af-91ab-2d7cd011db47 or f8cdef31-a31e-4b4a-93e4-5f571e91255a)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("azure.signinlogs.category", "ServicePrincipalSignInLogs"),
			cIs("azure.signinlogs.properties.status.error_code", 0),
			cExists("azure.signinlogs.properties.service_principal_id"),
			cExists("source.as.number"),
			cNot(cLike("source.as.organization.name", "*MICROSOFT*", "*Microsoft*")),
			cNot(cIn("azure.signinlogs.properties.app_owner_tenant_id", "72f988bf-86f1-41af-91ab-2d7cd011db47", "f8cdef31-a31e-4b4a-93e4-5f571e91255a")),
		},
		newTerms: []string{"azure.signinlogs.properties.service_principal_id", "source.as.number"},
		record:   "sp_federated_credential",
		enrich:   confASN(14061, "DIGITALOCEAN-ASN"),
		miss:     conformance.Set("properties.status.errorCode", 7000222),
	},
	{
		name: "Entra ID User Sign-In via Unusual Legacy Authentication Client", path: "rules/integrations/azure/initial_access_entra_id_unusual_legacy_auth_client_signin.toml",
		kind: "new_terms", index: []string{"logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs" and
    event.action: "Sign-in activity" and
    event.outcome: "success" and
    azure.signinlogs.properties.user_type: "Member" and
    azure.signinlogs.properties.client_app_used: (
        "Authenticated SMTP" or
        "Autodiscover" or
        "Exchange ActiveSync" or
        "Exchange Online PowerShell" or
        "Exchange Web Services" or
        "IMAP4" or
        "MAPI Over HTTP" or
        "Offline Address Book" or
        "Outlook Anywhere" or
        "Outlook Service" or
        "POP3" or
        "Reporting Web Services" or
        "Other clients"
    )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.action", "Sign-in activity"),
			cIs("event.outcome", "success"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cIn("azure.signinlogs.properties.client_app_used", "Authenticated SMTP", "Autodiscover", "Exchange ActiveSync", "Exchange Online PowerShell",
				"Exchange Web Services", "IMAP4", "MAPI Over HTTP", "Offline Address Book", "Outlook Anywhere", "Outlook Service", "POP3",
				"Reporting Web Services", "Other clients"),
		},
		newTerms: []string{"azure.signinlogs.properties.user_principal_name"},
		record:   "si_legacy_imap",
		miss:     conformance.Set("properties.clientAppUsed", "Browser"),
	},
	{
		name: "Entra ID OAuth ROPC Grant Login Detected", path: "rules/integrations/azure/initial_access_entra_id_unusual_ropc_login_attempt.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs" and
    (
        azure.signinlogs.properties.authentication_protocol: "ropc" or
        user_agent.original: "BAV2ROPC"
    ) and
    azure.signinlogs.properties.authentication_requirement: "singleFactorAuthentication" and
    azure.signinlogs.properties.user_type: "Member" and
    event.outcome: "success"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cOr(cIs("azure.signinlogs.properties.authentication_protocol", "ropc"), cIs("user_agent.original", "BAV2ROPC")),
			cIs("azure.signinlogs.properties.authentication_requirement", "singleFactorAuthentication"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cIs("event.outcome", "success"),
		},
		newTerms: []string{"azure.signinlogs.properties.user_principal_name"},
		record:   "si_aad_powershell_single_factor",
		miss:     conformance.Set("properties.authenticationProtocol", "none"),
	},
	{
		name: "Entra ID Potential AiTM Sign-In via OfficeHome (Tycoon2FA)", path: "rules/integrations/azure/initial_access_tycoon_entra_id.toml",
		kind: "kuery", index: []string{"logs-azure.signinlogs-*"},
		query: `data_stream.dataset:"azure.signinlogs" and event.category:"authentication" and
event.action:"Sign-in activity" and
(
    (
        azure.signinlogs.properties.app_id:"29d9ed98-a469-4536-ade2-f981bc1d605e" and
        azure.signinlogs.properties.resource_id:(
            "00000002-0000-0ff1-ce00-000000000000" or "00000003-0000-0000-c000-000000000000"
        )
    ) or
    (
        azure.signinlogs.properties.app_id:"4765445b-32c6-49b0-83e6-1d93765276ca" and
        azure.signinlogs.properties.resource_id:"4765445b-32c6-49b0-83e6-1d93765276ca"
    )
) and user_agent.original:(node or axios* or undici)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.category", "authentication"),
			cIs("event.action", "Sign-in activity"),
			cOr(
				cAnd(cIs("azure.signinlogs.properties.app_id", appMAB),
					cIn("azure.signinlogs.properties.resource_id", "00000002-0000-0ff1-ce00-000000000000", "00000003-0000-0000-c000-000000000000")),
				cAnd(cIs("azure.signinlogs.properties.app_id", "4765445b-32c6-49b0-83e6-1d93765276ca"),
					cIs("azure.signinlogs.properties.resource_id", "4765445b-32c6-49b0-83e6-1d93765276ca"))),
			cLike("user_agent.original", "node", "axios*", "undici"),
		},
		record: "si_officehome_axios",
		miss:   conformance.Set("properties.userAgent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
	},
	{
		name: "Entra ID Microsoft Authentication Broker DRS Sign-In from Suspicious ASN", path: "rules/integrations/azure/persistence_entra_id_microsoft_auth_broker_drs_signin_from_suspicious_asn.toml",
		kind: "kuery", index: []string{"logs-azure.signinlogs-*"},
		query: `data_stream.dataset:"azure.signinlogs" and event.action:"Sign-in activity" and
source.as.number:(
    399629 or 14061 or 136787 or 9009 or 45102 or 215540 or 29802 or 62240 or 204957 or 395092 or 393406 or 400940 or
    59711 or 132203
) and
azure.signinlogs.properties.app_display_name:"Microsoft Authentication Broker" and
azure.signinlogs.properties.resource_display_name:"Device Registration Service"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.action", "Sign-in activity"),
			cIn("source.as.number", 399629, 14061, 136787, 9009, 45102, 215540, 29802, 62240, 204957, 395092, 393406, 400940, 59711, 132203),
			cIs("azure.signinlogs.properties.app_display_name", "Microsoft Authentication Broker"),
			cIs("azure.signinlogs.properties.resource_display_name", "Device Registration Service"),
		},
		record: "si_mab_drs_refresh_token",
		miss:   conformance.Set("properties.autonomousSystemNumber", 8075),
	},
	{
		name: "Entra ID ADRS Token Request by Microsoft Authentication Broker", path: "rules/integrations/azure/persistence_entra_id_suspicious_adrs_token_request.toml",
		kind: "kuery", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs" and
    azure.signinlogs.properties.app_id : "29d9ed98-a469-4536-ade2-f981bc1d605e" and
    azure.signinlogs.properties.resource_id : "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9" and
    azure.signinlogs.category: "NonInteractiveUserSignInLogs" and
    azure.signinlogs.properties.authentication_processing_details: *adrs_access* and
    azure.signinlogs.properties.incoming_token_type: "refreshToken" and
    azure.signinlogs.properties.user_type: "Member"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("azure.signinlogs.properties.app_id", appMAB),
			cIs("azure.signinlogs.properties.resource_id", "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9"),
			cIs("azure.signinlogs.category", "NonInteractiveUserSignInLogs"),
			cLike("azure.signinlogs.properties.authentication_processing_details", "*adrs_access*"),
			cIs("azure.signinlogs.properties.incoming_token_type", "refreshToken"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
		},
		record: "si_mab_drs_refresh_token",
		miss:   conformance.Set("properties.incomingTokenType", "none"),
	},
	{
		name: "Entra ID User Sign-in with Unusual Non-Managed Device", path: "rules/integrations/azure/persistence_entra_id_user_signed_in_from_unusual_device.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs" and
    event.category: "authentication" and
    azure.signinlogs.properties.user_type: "Member" and
    azure.signinlogs.properties.token_protection_status_details.sign_in_session_status: "unbound" and
    not azure.signinlogs.properties.device_detail.is_managed: true and
    not azure.signinlogs.properties.device_detail.device_id: "" and
    not azure.signinlogs.properties.device_detail.trust_type: "Hybrid Azure AD joined" and
    not (azure.signinlogs.category: "NonInteractiveUserSignInLogs" and azure.signinlogs.properties.incoming_token_type: "none") and
    azure.signinlogs.properties.user_principal_name: *`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.category", "authentication"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cIs("azure.signinlogs.properties.token_protection_status_details.sign_in_session_status", "unbound"),
			cNot(cIs("azure.signinlogs.properties.device_detail.is_managed", true)),
			cNot(cIs("azure.signinlogs.properties.device_detail.device_id", "")),
			cNot(cIs("azure.signinlogs.properties.device_detail.trust_type", "Hybrid Azure AD joined")),
			cNot(cAnd(cIs("azure.signinlogs.category", "NonInteractiveUserSignInLogs"), cIs("azure.signinlogs.properties.incoming_token_type", "none"))),
			cExists("azure.signinlogs.properties.user_principal_name"),
		},
		newTerms: []string{"azure.signinlogs.properties.user_principal_name", "azure.signinlogs.properties.device_detail.device_id"},
		record:   "si_mab_drs_refresh_token",
		miss:     conformance.Set("properties.deviceDetail.isManaged", true),
	},
	{
		name: "Entra ID Sign-in TeamFiltration User-Agent Detected", path: "rules/integrations/azure/discovery_entra_id_teamfiltration_user_agents_detected.toml",
		kind: "kuery", index: []string{"filebeat-*", "logs-azure.signinlogs-*", "logs-o365.audit-*"},
		query: `data_stream.dataset:("azure.signinlogs" or "o365.audit")
    and ((user_agent.name:"Electron" and user_agent.os.name:"Windows" and user_agent.version:"8.5.1") or
    user_agent.original:"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Teams/1.3.00.30866 Chrome/80.0.3987.165 Electron/8.5.1 Safari/537.36")`,
		conds: []confCond{
			cIn("data_stream.dataset", dsSignIn, "o365.audit"),
			cOr(cAnd(cIs("user_agent.name", "Electron"), cIs("user_agent.os.name", "Windows"), cIs("user_agent.version", "8.5.1")),
				cIs("user_agent.original", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Teams/1.3.00.30866 Chrome/80.0.3987.165 Electron/8.5.1 Safari/537.36")),
		},
		record: "si_teamfiltration_ua",
		miss:   conformance.Set("properties.userAgent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Teams/1.6.00.4472 Chrome/91.0.4472.164 Electron/13.6.6 Safari/537.36"),
	},
	{
		name: "Entra ID Sign-in BloodHound Suite User-Agent Detected", path: "rules/integrations/azure/discovery_bloodhound_user_agents_detected.toml",
		kind: "eql", index: []string{"filebeat-*", "logs-azure.*", "logs-o365.audit-*"},
		query: `any where data_stream.dataset : (
    "azure.activitylogs",
    "azure.graphactivitylogs",
    "azure.auditlogs",
    "azure.signinlogs",
    "o365.audit"
) and user_agent.original regex~ "(azure|sharp|blood)(hound)/.*"`,
		conds: []confCond{
			cILike("data_stream.dataset", "azure.activitylogs", dsGraph, dsAudit, dsSignIn, "o365.audit"),
			cRegex("user_agent.original", "(?i)(azure|sharp|blood)(hound)/.*"),
		},
		record: "si_azurehound_ua",
		miss:   conformance.Set("properties.userAgent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
	},
	{
		name: "Entra ID Kali365 Default User-Agent Detected", path: "rules/integrations/azure/initial_access_entra_id_kali365_user_agent.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*", "logs-azure.signinlogs-*", "logs-o365.audit-*"},
		query: `data_stream.dataset : ("azure.signinlogs" or "azure.auditlogs" or "o365.audit") and user_agent.original: kali365-live/*`,
		conds: []confCond{
			cIn("data_stream.dataset", dsSignIn, dsAudit, "o365.audit"),
			cLike("user_agent.original", "kali365-live/*"),
		},
		record: "si_kali365_ua",
		miss:   conformance.Set("properties.userAgent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
	},

	// ---- sign-in logs: thresholds, sequences and aggregations -----------------------
	{
		name: "Entra ID Excessive Account Lockouts Detected", path: "rules/integrations/azure/credential_access_entra_id_excessive_account_lockouts.toml",
		kind: "threshold", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `data_stream.dataset: "azure.signinlogs" and event.category: "authentication"
    and azure.signinlogs.category: ("NonInteractiveUserSignInLogs" or "SignInLogs")
    and event.outcome: "failure"
    and azure.signinlogs.properties.authentication_requirement: "singleFactorAuthentication"
    and azure.signinlogs.properties.status.error_code: 50053
    and azure.signinlogs.properties.user_principal_name: (* and not "")
    and not source.as.organization.name: "MICROSOFT-CORP-MSN-as-BLOCK"
    and not source.ip: ("10.0.0.0/8" or "172.16.0.0/12" or "192.168.0.0/16" or "127.0.0.0/8" or "::1/128" or "fd00::/8")`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.category", "authentication"),
			cIn("azure.signinlogs.category", "NonInteractiveUserSignInLogs", "SignInLogs"),
			cIs("event.outcome", "failure"),
			cIs("azure.signinlogs.properties.authentication_requirement", "singleFactorAuthentication"),
			cIs("azure.signinlogs.properties.status.error_code", 50053),
			cExists("azure.signinlogs.properties.user_principal_name"),
			cNot(cIs("azure.signinlogs.properties.user_principal_name", "")),
			cNot(cIs("source.as.organization.name", "MICROSOFT-CORP-MSN-as-BLOCK")),
			cNot(cCIDR("source.ip", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128", "fd00::/8")),
		},
		record: "si_lockout_50053",
		miss:   conformance.Set("properties.status.errorCode", 50126),
		skip:   "threshold: 30 matching sign-ins of 25 distinct user.name; the per-event filter is checked",
	},
	{
		name: "Entra ID User Sign-in Brute Force Attempted", path: "rules/integrations/azure/credential_access_entra_id_brute_force_activity.toml",
		kind: "esql", index: []string{"logs-azure.signinlogs-*"},
		query: `from logs-azure.signinlogs-*

// Define a time window for grouping and maintain the original event timestamp
| eval Esql.time_window_date_trunc = date_trunc(15 minutes, @timestamp)

// Filter relevant failed authentication events with specific error codes
| where data_stream.dataset == "azure.signinlogs"
    and event.category == "authentication"
    and azure.signinlogs.category in ("NonInteractiveUserSignInLogs", "SignInLogs")
    and event.outcome == "failure"
    and azure.signinlogs.properties.authentication_requirement == "singleFactorAuthentication"
    and azure.signinlogs.properties.status.error_code in (
        50034,  // UserAccountNotFound
        50126,  // InvalidUsernameOrPassword
        50055,  // PasswordExpired
        50056,  // InvalidPassword
        50057,  // UserDisabled
        50064,  // CredentialValidationFailure
        50076,  // MFARequiredButNotPassed
        50079,  // MFARegistrationRequired
        50105,  // EntitlementGrantsNotFound
        70000,  // InvalidGrant
        70008,  // ExpiredOrRevokedRefreshToken
        70043,  // BadTokenDueToSignInFrequency
        80002,  // OnPremisePasswordValidatorRequestTimedOut
        80005,  // OnPremisePasswordValidatorUnpredictableWebException
        50144,  // InvalidPasswordExpiredOnPremPassword
        50135,  // PasswordChangeCompromisedPassword
        50142,  // PasswordChangeRequiredConditionalAccess
        120000, // PasswordChangeIncorrectCurrentPassword
        120002, // PasswordChangeInvalidNewPasswordWeak
        120020  // PasswordChangeFailure
    )
    and azure.signinlogs.properties.user_principal_name is not null and azure.signinlogs.properties.user_principal_name != ""
    and user_agent.original != "Mozilla/5.0 (compatible; MSAL 1.0) PKeyAuth/1.0"
    and source.` + "`" + `as` + "`" + `.organization.name != "MICROSOFT-CORP-MSN-as-BLOCK"

| stats
    Esql.azure_signinlogs_properties_authentication_requirement_values = values(azure.signinlogs.properties.authentication_requirement),
    Esql.azure_signinlogs_properties_app_id_values = values(azure.signinlogs.properties.app_id),
    Esql.azure_signinlogs_properties_app_display_name_values = values(azure.signinlogs.properties.app_display_name),
    Esql.azure_signinlogs_properties_resource_id_values = values(azure.signinlogs.properties.resource_id),
    Esql.azure_signinlogs_properties_resource_display_name_values = values(azure.signinlogs.properties.resource_display_name),
    Esql.azure_signinlogs_properties_conditional_access_status_values = values(azure.signinlogs.properties.conditional_access_status),
    Esql.azure_signinlogs_properties_device_detail_browser_values = values(azure.signinlogs.properties.device_detail.browser),
    Esql.azure_signinlogs_properties_device_detail_device_id_values = values(azure.signinlogs.properties.device_detail.device_id),
    Esql.azure_signinlogs_properties_device_detail_operating_system_values = values(azure.signinlogs.properties.device_detail.operating_system),
    Esql.azure_signinlogs_properties_incoming_token_type_values = values(azure.signinlogs.properties.incoming_token_type),
    Esql.azure_signinlogs_properties_risk_state_values = values(azure.signinlogs.properties.risk_state),
    Esql.azure_signinlogs_properties_session_id_values = values(azure.signinlogs.properties.session_id),
    Esql.azure_signinlogs_properties_user_id_values = values(azure.signinlogs.properties.user_id),
    Esql_priv.azure_signinlogs_properties_user_principal_name_values = values(azure.signinlogs.properties.user_principal_name),
    Esql.azure_signinlogs_result_description_values = values(azure.signinlogs.result_description),
    Esql.azure_signinlogs_result_signature_values = values(azure.signinlogs.result_signature),
    Esql.azure_signinlogs_result_type_values = values(azure.signinlogs.result_type),

    Esql.azure_signinlogs_properties_user_id_count_distinct = count_distinct(azure.signinlogs.properties.user_id),
    Esql.azure_signinlogs_properties_user_id_list = values(azure.signinlogs.properties.user_id),
    Esql.azure_signinlogs_result_description_values_all = values(azure.signinlogs.result_description),
    Esql.azure_signinlogs_result_description_count_distinct = count_distinct(azure.signinlogs.result_description),
    Esql.azure_signinlogs_properties_status_error_code_values = values(azure.signinlogs.properties.status.error_code),
    Esql.azure_signinlogs_properties_status_error_code_count_distinct = count_distinct(azure.signinlogs.properties.status.error_code),
    Esql.azure_signinlogs_properties_incoming_token_type_values_all = values(azure.signinlogs.properties.incoming_token_type),
    Esql.azure_signinlogs_properties_app_display_name_values_all = values(azure.signinlogs.properties.app_display_name),
    Esql.source_ip_values = values(source.ip),
    Esql.source_ip_count_distinct = count_distinct(source.ip),
    Esql.source_as_organization_name_values = values(source.` + "`" + `as` + "`" + `.organization.name),
    Esql.source_geo_country_name_values = values(source.geo.country_name),
    Esql.source_geo_country_name_count_distinct = count_distinct(source.geo.country_name),
    Esql.source_as_organization_name_count_distinct = count_distinct(source.` + "`" + `as` + "`" + `.organization.name),
    Esql.timestamp_first_seen = min(@timestamp),
    Esql.timestamp_last_seen = max(@timestamp),
    Esql.event_count = count()
by Esql.time_window_date_trunc

| eval
    Esql.duration_seconds = date_diff("seconds", Esql.timestamp_first_seen, Esql.timestamp_last_seen),
    Esql.brute_force_type = case(
        Esql.azure_signinlogs_properties_user_id_count_distinct >= 10 and Esql.event_count >= 30 and Esql.azure_signinlogs_result_description_count_distinct <= 3
            and Esql.source_ip_count_distinct >= 5
            and Esql.duration_seconds <= 600
            and Esql.azure_signinlogs_properties_user_id_count_distinct > Esql.source_ip_count_distinct,
        "credential_stuffing",

        Esql.azure_signinlogs_properties_user_id_count_distinct >= 15 and Esql.azure_signinlogs_result_description_count_distinct == 1 and Esql.event_count >= 15 and Esql.duration_seconds <= 1800,
        "password_spraying",

        (Esql.azure_signinlogs_properties_user_id_count_distinct == 1 and Esql.azure_signinlogs_result_description_count_distinct == 1 and Esql.event_count >= 30 and Esql.duration_seconds <= 300)
            or (Esql.azure_signinlogs_properties_user_id_count_distinct <= 3 and Esql.source_ip_count_distinct > 30 and Esql.event_count >= 100),
        "password_guessing",

        "other"
    )

| keep
    Esql.time_window_date_trunc,
    Esql.brute_force_type,
    Esql.duration_seconds,
    Esql.event_count,
    Esql.timestamp_first_seen,
    Esql.timestamp_last_seen,
    Esql.azure_signinlogs_properties_user_id_count_distinct,
    Esql.azure_signinlogs_properties_user_id_list,
    Esql.azure_signinlogs_result_description_values_all,
    Esql.azure_signinlogs_result_description_count_distinct,
    Esql.azure_signinlogs_properties_status_error_code_count_distinct,
    Esql.azure_signinlogs_properties_status_error_code_values,
    Esql.azure_signinlogs_properties_incoming_token_type_values_all,
    Esql.azure_signinlogs_properties_app_display_name_values_all,
    Esql.source_ip_values,
    Esql.source_ip_count_distinct,
    Esql.source_as_organization_name_values,
    Esql.source_geo_country_name_values,
    Esql.source_geo_country_name_count_distinct,
    Esql.source_as_organization_name_count_distinct,
    Esql.azure_signinlogs_properties_authentication_requirement_values,
    Esql.azure_signinlogs_properties_app_id_values,
    Esql.azure_signinlogs_properties_app_display_name_values,
    Esql.azure_signinlogs_properties_resource_id_values,
    Esql.azure_signinlogs_properties_resource_display_name_values,
    Esql.azure_signinlogs_properties_conditional_access_status_values,
    Esql.azure_signinlogs_properties_device_detail_browser_values,
    Esql.azure_signinlogs_properties_device_detail_device_id_values,
    Esql.azure_signinlogs_properties_device_detail_operating_system_values,
    Esql.azure_signinlogs_properties_incoming_token_type_values,
    Esql.azure_signinlogs_properties_risk_state_values,
    Esql.azure_signinlogs_properties_session_id_values,
    Esql.azure_signinlogs_properties_user_id_values,
    Esql_priv.azure_signinlogs_properties_user_principal_name_values,
    Esql.azure_signinlogs_result_description_values,
    Esql.azure_signinlogs_result_signature_values,
    Esql.azure_signinlogs_result_type_values

| where Esql.brute_force_type != "other"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.category", "authentication"),
			cIn("azure.signinlogs.category", "NonInteractiveUserSignInLogs", "SignInLogs"),
			cIs("event.outcome", "failure"),
			cIs("azure.signinlogs.properties.authentication_requirement", "singleFactorAuthentication"),
			cIn("azure.signinlogs.properties.status.error_code", confBruteForceCodes...),
			cNe("azure.signinlogs.properties.user_principal_name", ""),
			cNe("user_agent.original", "Mozilla/5.0 (compatible; MSAL 1.0) PKeyAuth/1.0"),
			cNe("source.as.organization.name", "MICROSOFT-CORP-MSN-as-BLOCK"),
		},
		record: "si_bruteforce_50126",
		enrich: confASN(12271, "TWC-12271-NYC"),
		miss:   conformance.Set("properties.status.errorCode", 50053),
		skip:   "aggregation: counts of users, addresses and failures in 15-minute windows; the per-event WHERE is checked (as ES|QL's != is false on null, it needs source.as.organization.name: the geo stage with an ASN database)",
	},
	{
		name: "Entra ID Sign-in Brute Force Attempted (Microsoft 365)", path: "rules/integrations/azure/credential_access_entra_id_signin_brute_force_microsoft_365.toml",
		kind: "esql", index: []string{"logs-azure.signinlogs-*"},
		query: `from logs-azure.signinlogs-*

| eval
    Esql.time_window_date_trunc = date_trunc(15 minutes, @timestamp),
    Esql_priv.azure_signinlogs_properties_user_principal_name_lower = to_lower(azure.signinlogs.properties.user_principal_name),
    Esql.azure_signinlogs_properties_incoming_token_type_lower = to_lower(azure.signinlogs.properties.incoming_token_type),
    Esql.azure_signinlogs_properties_app_display_name_lower = to_lower(azure.signinlogs.properties.app_display_name),
    Esql.user_agent_original = user_agent.original

| where data_stream.dataset == "azure.signinlogs"
    and event.category == "authentication"
    and azure.signinlogs.category in ("NonInteractiveUserSignInLogs", "SignInLogs")
    and azure.signinlogs.properties.resource_display_name rlike "(.*)365|SharePoint|Exchange|Teams|Office(.*)"
    and event.outcome == "failure"
    and azure.signinlogs.properties.status.error_code != 50053
    and azure.signinlogs.properties.status.error_code in (
        50034,  // UserAccountNotFound
        50126,  // InvalidUsernameOrPassword
        50055,  // PasswordExpired
        50056,  // InvalidPassword
        50057,  // UserDisabled
        50064,  // CredentialValidationFailure
        50076,  // MFARequiredButNotPassed
        50079,  // MFARegistrationRequired
        50105,  // EntitlementGrantsNotFound
        70000,  // InvalidGrant
        70008,  // ExpiredOrRevokedRefreshToken
        70043,  // BadTokenDueToSignInFrequency
        80002,  // OnPremisePasswordValidatorRequestTimedOut
        80005,  // OnPremisePasswordValidatorUnpredictableWebException
        50144,  // InvalidPasswordExpiredOnPremPassword
        50135,  // PasswordChangeCompromisedPassword
        50142,  // PasswordChangeRequiredConditionalAccess
        120000, // PasswordChangeIncorrectCurrentPassword
        120002, // PasswordChangeInvalidNewPasswordWeak
        120020  // PasswordChangeFailure
    )
    and azure.signinlogs.properties.user_principal_name is not null
    and azure.signinlogs.properties.user_principal_name != ""
    and user_agent.original != "Mozilla/5.0 (compatible; MSAL 1.0) PKeyAuth/1.0"

| stats
    Esql.azure_signinlogs_properties_authentication_requirement_values = values(azure.signinlogs.properties.authentication_requirement),
    Esql.azure_signinlogs_properties_app_id_values = values(azure.signinlogs.properties.app_id),
    Esql.azure_signinlogs_properties_app_display_name_values = values(azure.signinlogs.properties.app_display_name),
    Esql.azure_signinlogs_properties_resource_id_values = values(azure.signinlogs.properties.resource_id),
    Esql.azure_signinlogs_properties_resource_display_name_values = values(azure.signinlogs.properties.resource_display_name),
    Esql.azure_signinlogs_properties_conditional_access_status_values = values(azure.signinlogs.properties.conditional_access_status),
    Esql.azure_signinlogs_properties_device_detail_browser_values = values(azure.signinlogs.properties.device_detail.browser),
    Esql.azure_signinlogs_properties_device_detail_device_id_values = values(azure.signinlogs.properties.device_detail.device_id),
    Esql.azure_signinlogs_properties_device_detail_operating_system_values = values(azure.signinlogs.properties.device_detail.operating_system),
    Esql.azure_signinlogs_properties_incoming_token_type_values = values(azure.signinlogs.properties.incoming_token_type),
    Esql.azure_signinlogs_properties_risk_state_values = values(azure.signinlogs.properties.risk_state),
    Esql.azure_signinlogs_properties_session_id_values = values(azure.signinlogs.properties.session_id),
    Esql.azure_signinlogs_properties_user_id_values = values(azure.signinlogs.properties.user_id),
    Esql_priv.azure_signinlogs_properties_user_principal_name_values = values(azure.signinlogs.properties.user_principal_name),
    Esql.azure_signinlogs_result_description_values = values(azure.signinlogs.result_description),
    Esql.azure_signinlogs_result_signature_values = values(azure.signinlogs.result_signature),
    Esql.azure_signinlogs_result_type_values = values(azure.signinlogs.result_type),

    Esql.azure_signinlogs_properties_user_principal_name_lower_count_distinct = count_distinct(Esql_priv.azure_signinlogs_properties_user_principal_name_lower),
    Esql_priv.azure_signinlogs_properties_user_principal_name_lower_values = values(Esql_priv.azure_signinlogs_properties_user_principal_name_lower),
    Esql.azure_signinlogs_result_description_count_distinct = count_distinct(azure.signinlogs.result_description),
    Esql.azure_signinlogs_result_description_values = values(azure.signinlogs.result_description),
    Esql.azure_signinlogs_properties_status_error_code_count_distinct = count_distinct(azure.signinlogs.properties.status.error_code),
    Esql.azure_signinlogs_properties_status_error_code_values = values(azure.signinlogs.properties.status.error_code),
    Esql.azure_signinlogs_properties_incoming_token_type_lower_values = values(Esql.azure_signinlogs_properties_incoming_token_type_lower),
    Esql.azure_signinlogs_properties_app_display_name_lower_values = values(Esql.azure_signinlogs_properties_app_display_name_lower),
    Esql.source_ip_values = values(source.ip),
    Esql.source_ip_count_distinct = count_distinct(source.ip),
    Esql.source_as_organization_name_values = values(source.` + "`" + `as` + "`" + `.organization.name),
    Esql.source_as_organization_name_count_distinct = count_distinct(source.` + "`" + `as` + "`" + `.organization.name),
    Esql.source_geo_country_name_values = values(source.geo.country_name),
    Esql.source_geo_country_name_count_distinct = count_distinct(source.geo.country_name),
    Esql.@timestamp.min = min(@timestamp),
    Esql.@timestamp.max = max(@timestamp),
    Esql.event_count = count()
by Esql.time_window_date_trunc

| eval
    Esql.event_duration_seconds = date_diff("seconds", Esql.@timestamp.min, Esql.@timestamp.max),
    Esql.event_bf_type = case(
        Esql.azure_signinlogs_properties_user_principal_name_lower_count_distinct >= 10
            and Esql.event_count >= 30
            and Esql.azure_signinlogs_result_description_count_distinct <= 3
            and Esql.source_ip_count_distinct >= 5
            and Esql.event_duration_seconds <= 600
            and Esql.azure_signinlogs_properties_user_principal_name_lower_count_distinct > Esql.source_ip_count_distinct,
        "credential_stuffing",

        Esql.azure_signinlogs_properties_user_principal_name_lower_count_distinct >= 15
            and Esql.azure_signinlogs_result_description_count_distinct == 1
            and Esql.event_count >= 15
            and Esql.event_duration_seconds <= 1800,
        "password_spraying",

        (Esql.azure_signinlogs_properties_user_principal_name_lower_count_distinct == 1
            and Esql.azure_signinlogs_result_description_count_distinct == 1
            and Esql.event_count >= 30
            and Esql.event_duration_seconds <= 300)
            or (Esql.azure_signinlogs_properties_user_principal_name_lower_count_distinct <= 3
            and Esql.source_ip_count_distinct > 30
            and Esql.event_count >= 100),
        "password_guessing",

        "other"
    )

| where Esql.event_bf_type != "other"

| keep
    Esql.time_window_date_trunc,
    Esql.event_bf_type,
    Esql.event_duration_seconds,
    Esql.event_count,
    Esql.@timestamp.min,
    Esql.@timestamp.max,
    Esql.azure_signinlogs_properties_user_principal_name_lower_count_distinct,
    Esql_priv.azure_signinlogs_properties_user_principal_name_lower_values,
    Esql.azure_signinlogs_result_description_count_distinct,
    Esql.azure_signinlogs_result_description_values,
    Esql.azure_signinlogs_properties_status_error_code_count_distinct,
    Esql.azure_signinlogs_properties_status_error_code_values,
    Esql.azure_signinlogs_properties_incoming_token_type_lower_values,
    Esql.azure_signinlogs_properties_app_display_name_lower_values,
    Esql.source_ip_values,
    Esql.source_ip_count_distinct,
    Esql.source_as_organization_name_values,
    Esql.source_as_organization_name_count_distinct,
    Esql.source_geo_country_name_values,
    Esql.source_geo_country_name_count_distinct,
    Esql.azure_signinlogs_properties_authentication_requirement_values,
    Esql.azure_signinlogs_properties_app_id_values,
    Esql.azure_signinlogs_properties_app_display_name_values,
    Esql.azure_signinlogs_properties_resource_id_values,
    Esql.azure_signinlogs_properties_resource_display_name_values,
    Esql.azure_signinlogs_properties_conditional_access_status_values,
    Esql.azure_signinlogs_properties_device_detail_browser_values,
    Esql.azure_signinlogs_properties_device_detail_device_id_values,
    Esql.azure_signinlogs_properties_device_detail_operating_system_values,
    Esql.azure_signinlogs_properties_incoming_token_type_values,
    Esql.azure_signinlogs_properties_risk_state_values,
    Esql.azure_signinlogs_properties_session_id_values,
    Esql.azure_signinlogs_properties_user_id_values`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.category", "authentication"),
			cIn("azure.signinlogs.category", "NonInteractiveUserSignInLogs", "SignInLogs"),
			cRegex("azure.signinlogs.properties.resource_display_name", "(.*)365|SharePoint|Exchange|Teams|Office(.*)"),
			cIs("event.outcome", "failure"),
			cNe("azure.signinlogs.properties.status.error_code", 50053),
			cIn("azure.signinlogs.properties.status.error_code", confBruteForceCodes...),
			cNe("azure.signinlogs.properties.user_principal_name", ""),
			cNe("user_agent.original", "Mozilla/5.0 (compatible; MSAL 1.0) PKeyAuth/1.0"),
		},
		record: "si_bruteforce_50126",
		miss:   conformance.Set("properties.resourceDisplayName", "Windows Azure Active Directory"),
		skip:   "aggregation: users, addresses and failures per 15-minute window; the per-event WHERE is checked",
	},
	{
		name: "Entra ID Concurrent Sign-in with Suspicious Properties", path: "rules/integrations/azure/credential_access_entra_id_suspicious_signin.toml",
		kind: "esql", index: []string{"logs-azure.signinlogs-*"},
		query: `from logs-azure.signinlogs-* metadata _id, _version, _index

// Scheduled to run every hour, reviewing events from past hour
| where
  @timestamp > now() - 1 hours
  and data_stream.dataset == "azure.signinlogs"
  and source.ip is not null
  and azure.signinlogs.identity is not null
  and to_lower(event.outcome) == "success"

// keep relevant raw fields
| keep
  @timestamp,
  azure.signinlogs.identity,
  source.ip,
  azure.signinlogs.properties.authentication_requirement,
  azure.signinlogs.properties.app_id,
  azure.signinlogs.properties.resource_display_name,
  azure.signinlogs.properties.authentication_protocol,
  azure.signinlogs.properties.app_display_name

// case classifications for identity usage
| eval
      Esql.azure_signinlogs_properties_authentication_device_code_case = case(
      azure.signinlogs.properties.authentication_protocol == "deviceCode"
      and azure.signinlogs.properties.authentication_requirement != "multiFactorAuthentication",
      azure.signinlogs.identity,
      null),

    Esql.azure_signinlogs_auth_visual_studio_case = case(
      azure.signinlogs.properties.app_id == "aebc6443-996d-45c2-90f0-388ff96faa56"
      and azure.signinlogs.properties.resource_display_name == "Microsoft Graph",
      azure.signinlogs.identity,
      null),

    Esql.azure_signinlogs_auth_other_case = case(
      azure.signinlogs.properties.authentication_protocol != "deviceCode"
      and azure.signinlogs.properties.app_id != "aebc6443-996d-45c2-90f0-388ff96faa56",
      azure.signinlogs.identity,
      null)

// Aggregate metrics by user identity
| stats
    Esql.event_count = count(*),
    Esql.azure_signinlogs_properties_authentication_device_code_case_count_distinct = count_distinct(Esql.azure_signinlogs_properties_authentication_device_code_case),
    Esql.azure_signinlogs_properties_auth_visual_studio_count_distinct = count_distinct(Esql.azure_signinlogs_auth_visual_studio_case),
    Esql.azure_signinlogs_properties_auth_other_count_distinct = count_distinct(Esql.azure_signinlogs_auth_other_case),
    Esql.azure_signinlogs_properties_source_ip_count_distinct = count_distinct(source.ip),
    Esql.azure_signinlogs_properties_source_ip_values = values(source.ip),
    Esql.azure_signinlogs_properties_client_app_values = values(azure.signinlogs.properties.app_display_name),
    Esql.azure_signinlogs_properties_resource_display_name_values = values(azure.signinlogs.properties.resource_display_name),
    Esql.azure_signinlogs_properties_auth_requirement_values = values(azure.signinlogs.properties.authentication_requirement)
  by azure.signinlogs.identity

// Detect multiple unique IPs for one user with signs of deviceCode or VSC OAuth usage
| where
  Esql.azure_signinlogs_properties_source_ip_count_distinct >= 2
  and (
    Esql.azure_signinlogs_properties_authentication_device_code_case_count_distinct > 0
    or Esql.azure_signinlogs_properties_auth_visual_studio_count_distinct > 0
  )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cExists("source.ip"),
			cExists("azure.signinlogs.identity"),
			cIs("event.outcome", "success"),
		},
		record: "si_device_code_azure_cli",
		miss:   conformance.Set("properties.status", map[string]any{"errorCode": 50126}),
		skip:   "aggregation: a device-code and another sign-in of one identity from two addresses within the hour; the per-event WHERE (but its @timestamp > now() - 1 hours) is checked",
	},
	{
		name: "Entra ID MFA TOTP Brute Force Attempted", path: "rules/integrations/azure/credential_access_entra_id_totp_brute_force_attempts.toml",
		kind: "esql", index: []string{"logs-azure.signinlogs-*"},
		query: `from logs-azure.signinlogs-* metadata _id, _version, _index

| where
    // filter for Entra Sign-in Logs
    data_stream.dataset == "azure.signinlogs"
    and azure.signinlogs.operation_name == "Sign-in activity"
    and azure.signinlogs.properties.user_type == "Member"

    // filter for MFA attempts with OATH conditional access attempts or TOTP
    and azure.signinlogs.properties.mfa_detail.auth_method == "OATH verification code"

    // filter on failures only from brute-force attempts
    and (
            (
                azure.signinlogs.result_signature == "FAILURE" and
                azure.signinlogs.result_description == "Authentication failed during strong authentication request."
            ) or azure.signinlogs.properties.status.error_code == 500121
        )

| stats
    Esql.event_count = count(*),
    Esql.azure_signinlogs_properties_session_id_count_distinct = count_distinct(azure.signinlogs.properties.session_id),
    Esql.source_address_values = values(source.address),
    Esql.azure_tenant_id_valuues = values(azure.tenant_id),
    Esql_priv.azure_identity_values = values(azure.signinlogs.identity),
    Esql_priv.azure_signinlogs_properties_user_principal_name_values = values(azure.signinlogs.properties.user_principal_name),
    Esql.azure_signinlogs_properties_app_id_values = values(azure.signinlogs.properties.app_id),
    Esql.azure_signinlogs_properties_app_display_name_values = values(azure.signinlogs.properties.app_display_name),
    Esql.azure_signinlogs_properties_authentication_requirement_values = values(azure.signinlogs.properties.authentication_requirement),
    Esql.azure_signinlogs_properties_authentication_protocol_values = values(azure.signinlogs.properties.authentication_protocol),
    Esql.azure_signinlogs_properties_client_app_used_values = values(azure.signinlogs.properties.client_app_used),
    Esql.azure_signinlogs_properties_client_credential_type_values = values(azure.signinlogs.properties.client_credential_type),
    Esql.azure_signinlogs_properties_conditional_access_status_values = values(azure.signinlogs.properties.conditional_access_status),
    Esql.azure_signinlogs_properties_correlation_id_values = values(azure.signinlogs.properties.correlation_id),
    Esql.azure_signinlogs_properties_is_interactive_values = values(azure.signinlogs.properties.is_interactive),
    Esql.azure_signinlogs_properties_mfa_detail_auth_method_values = values(azure.signinlogs.properties.mfa_detail.auth_method),
    Esql.azure_signinlogs_properties_resource_display_name_values = values(azure.signinlogs.properties.resource_display_name),
    Esql.azure_signinlogs_properties_resource_id_values = values(azure.signinlogs.properties.resource_id),
    Esql.azure_signinlogs_properties_risk_state_values = values(azure.signinlogs.properties.risk_state),
    Esql.azure_signinlogs_properties_risk_detail_values = values(azure.signinlogs.properties.risk_detail),
    Esql.azure_signinlogs_properties_status_error_code_values = values(azure.signinlogs.properties.status.error_code),
    Esql.azure_signinlogs_properties_original_request_id_values = values(azure.signinlogs.properties.original_request_id),
    Esql.user_id_values = values(user.id)
    by user.id

| where Esql.event_count >= 20 and Esql.azure_signinlogs_properties_session_id_count_distinct >= 10

| keep
    Esql.event_count,
    Esql.azure_signinlogs_properties_session_id_count_distinct,
    Esql.source_address_values,
    Esql.azure_tenant_id_valuues,
    Esql_priv.azure_identity_values,
    Esql_priv.azure_signinlogs_properties_user_principal_name_values,
    Esql.azure_signinlogs_properties_app_id_values,
    Esql.azure_signinlogs_properties_app_display_name_values,
    Esql.azure_signinlogs_properties_authentication_requirement_values,
    Esql.azure_signinlogs_properties_authentication_protocol_values,
    Esql.azure_signinlogs_properties_client_app_used_values,
    Esql.azure_signinlogs_properties_client_credential_type_values,
    Esql.azure_signinlogs_properties_conditional_access_status_values,
    Esql.azure_signinlogs_properties_correlation_id_values,
    Esql.azure_signinlogs_properties_is_interactive_values,
    Esql.azure_signinlogs_properties_mfa_detail_auth_method_values,
    Esql.azure_signinlogs_properties_resource_display_name_values,
    Esql.azure_signinlogs_properties_resource_id_values,
    Esql.azure_signinlogs_properties_risk_state_values,
    Esql.azure_signinlogs_properties_risk_detail_values,
    Esql.azure_signinlogs_properties_status_error_code_values,
    Esql.azure_signinlogs_properties_original_request_id_values,
    Esql.user_id_values`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("azure.signinlogs.operation_name", "Sign-in activity"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cIs("azure.signinlogs.properties.mfa_detail.auth_method", "OATH verification code"),
			cOr(cAnd(cIs("azure.signinlogs.result_signature", "FAILURE"),
				cIs("azure.signinlogs.result_description", "Authentication failed during strong authentication request.")),
				cIs("azure.signinlogs.properties.status.error_code", 500121)),
		},
		record: "si_mfa_oath_500121",
		miss:   conformance.Set("properties.mfaDetail", map[string]any{"authMethod": "Mobile app notification"}),
		skip:   "aggregation: many failed codes per session; the per-event WHERE is checked",
	},
	{
		name: "Entra ID OAuth Device Code Flow with Concurrent Sign-ins", path: "rules/integrations/azure/credential_access_azure_entra_susp_device_code_signin.toml",
		kind: "esql", index: []string{"logs-azure.signinlogs-*"},
		query: `from logs-azure.signinlogs-* metadata _id, _version, _index

| where event.category == "authentication" and data_stream.dataset == "azure.signinlogs" and
        azure.signinlogs.properties.original_transfer_method == "deviceCodeFlow"

// Track events with deviceCode authentication protocol (browser auth) vs polling client
| eval is_device_code_auth = case(azure.signinlogs.properties.authentication_protocol == "deviceCode", 1, 0)

| stats Esql.count_logon = count(*),
        Esql.device_code_auth_count = sum(is_device_code_auth),
        Esql.timestamp_values = values(@timestamp),
        Esql.source_ip_count_distinct = count_distinct(source.ip),
        Esql.user_agent_count_distinct = count_distinct(user_agent.original),
        Esql.user_agent_values = values(user_agent.original),
        Esql.authentication_protocol_values = values(azure.signinlogs.properties.authentication_protocol),
        Esql.azure_signinlogs_properties_client_app_values = values(azure.signinlogs.properties.app_display_name),
        Esql.azure_signinlogs_properties_app_id_values = values(azure.signinlogs.properties.app_id),
        Esql.azure_signinlogs_properties_resource_display_name_values = values(azure.signinlogs.properties.resource_display_name),
        Esql.azure_signinlogs_properties_auth_requirement_values = values(azure.signinlogs.properties.authentication_requirement),
        Esql.azure_signinlogs_properties_tenant_id = values(azure.tenant_id),
        Esql.azure_signinlogs_properties_status_error_code_values = values(azure.signinlogs.properties.status.error_code),
        Esql.message_values = values(message),
        Esql.azure_signinlogs_properties_resource_id_values = values(azure.signinlogs.properties.resource_id),
        Esql.source_ip_values = values(source.ip)
        by azure.signinlogs.properties.session_id, azure.signinlogs.identity

// Require: 2+ events, at least one deviceCode auth protocol event, and either 2+ IPs or 2+ user agents
| where Esql.count_logon >= 2 and Esql.device_code_auth_count >= 1 and (Esql.source_ip_count_distinct >= 2 or Esql.user_agent_count_distinct >= 2)
| keep
       Esql.*,
       azure.signinlogs.properties.session_id,
       azure.signinlogs.identity`,
		conds: []confCond{
			cIs("event.category", "authentication"),
			cIs("data_stream.dataset", dsSignIn),
			cIs("azure.signinlogs.properties.original_transfer_method", "deviceCodeFlow"),
		},
		record: "si_device_code_azure_cli",
		miss:   conformance.Set("properties.originalTransferMethod", "none"),
		skip:   "aggregation: two or more sign-ins of one session from two addresses or user agents; the per-event WHERE is checked",
	},
	{
		name: "Microsoft Entra ID Impossible Travel Sign-in", path: "rules/integrations/azure/initial_access_entra_id_signin_impossible_travel.toml",
		kind: "esql", index: []string{"logs-azure.signinlogs-*"},
		query: `// successful interactive sign-ins with country + region populated.
from logs-azure.signinlogs-*
| where data_stream.dataset == "azure.signinlogs"
    and event.outcome == "success"
    and azure.signinlogs.category == "SignInLogs"
    and azure.signinlogs.properties.user_principal_name is not null
    and source.geo.location is not null
    and source.geo.region_name is not null

| eval Esql.source_geo_lat = st_y(source.geo.location),
       Esql.source_geo_lon = st_x(source.geo.location)

// collapse each (user, country, region) into one centroid + the actual lat/lon
// of the first and last event in that region. FIRST/LAST lock coords to the
// timestamp ordering so we can later build the honest event pair.
| stats
    Esql.region_centroid_lat = avg(Esql.source_geo_lat),
    Esql.region_centroid_lon = avg(Esql.source_geo_lon),
    Esql.region_first_lat    = first(Esql.source_geo_lat, @timestamp),
    Esql.region_first_lon    = first(Esql.source_geo_lon, @timestamp),
    Esql.region_last_lat     = last(Esql.source_geo_lat,  @timestamp),
    Esql.region_last_lon     = last(Esql.source_geo_lon,  @timestamp),
    Esql.region_first_seen   = min(@timestamp),
    Esql.region_last_seen    = max(@timestamp),
    Esql.region_event_count  = count(*),
    Esql.region_city_values   = values(source.geo.city_name),
    Esql.region_asn_values    = values(source.` + "`" + `as` + "`" + `.organization.name),
    Esql.region_ip_values     = values(source.ip),
    Esql.region_ua_values     = values(user_agent.original),
    Esql.region_app_id_values = values(azure.signinlogs.properties.app_id),
    Esql.region_app_display_name_values = values(azure.signinlogs.properties.app_display_name),
    Esql.region_client_app_used_values  = values(azure.signinlogs.properties.client_app_used),
    Esql.region_resource_id_values      = values(azure.signinlogs.properties.resource_id),
    Esql.region_resource_display_name_values = values(azure.signinlogs.properties.resource_display_name),
    Esql.region_browser_values = values(azure.signinlogs.properties.device_detail.browser),
    Esql.region_os_values      = values(azure.signinlogs.properties.device_detail.operating_system)
  by azure.signinlogs.properties.user_principal_name,
     source.geo.country_name,
     source.geo.region_name

// roll up to the user. two parallel measurements:
// bbox: corners over region centroids. catches A->B->A because B is still
// a centroid in the set even when first/last events are in A.
| stats
    Esql.min_lat = min(Esql.region_centroid_lat),
    Esql.max_lat = max(Esql.region_centroid_lat),
    Esql.min_lon = min(Esql.region_centroid_lon),
    Esql.max_lon = max(Esql.region_centroid_lon),
    Esql.honest_first_lat = first(Esql.region_first_lat, Esql.region_first_seen),
    Esql.honest_first_lon = first(Esql.region_first_lon, Esql.region_first_seen),
    Esql.honest_last_lat  = last(Esql.region_last_lat,   Esql.region_last_seen),
    Esql.honest_last_lon  = last(Esql.region_last_lon,   Esql.region_last_seen),
    Esql.timestamp_first_seen = min(Esql.region_first_seen),
    Esql.timestamp_last_seen  = max(Esql.region_first_seen), // first arrival in last region > tighter bbox window
    Esql.honest_last_time     = max(Esql.region_last_seen),  // user's actual last event > honest window
    Esql.region_count  = count_distinct(source.geo.region_name),
    Esql.country_count = count_distinct(source.geo.country_name),
    Esql.event_count   = sum(Esql.region_event_count),
    Esql.source_geo_country_name_values     = values(source.geo.country_name),
    Esql.source_geo_region_name_values      = values(source.geo.region_name),
    Esql.source_geo_city_name_values        = values(Esql.region_city_values),
    Esql.source_as_organization_name_values = values(Esql.region_asn_values),
    Esql.source_ip_values                   = values(Esql.region_ip_values),
    Esql.user_agent_original_values         = values(Esql.region_ua_values),
    Esql.app_id_values                      = values(Esql.region_app_id_values),
    Esql.app_display_name_values            = values(Esql.region_app_display_name_values),
    Esql.client_app_used_values             = values(Esql.region_client_app_used_values),
    Esql.resource_id_values                 = values(Esql.region_resource_id_values),
    Esql.resource_display_name_values       = values(Esql.region_resource_display_name_values),
    Esql.device_detail_browser_values       = values(Esql.region_browser_values),
    Esql.device_detail_operating_system_values = values(Esql.region_os_values)
  by azure.signinlogs.properties.user_principal_name

// need at least 2 regions to have anything to compare. cap at 5 because regions
// are finer-grained than countries (a traveling employee can hit 3-4 in 90m via
// carrier hub bouncing) > bbox drift stays bounded below this.
| where Esql.region_count >= 2 and Esql.region_count <= 5

// bbox path (primary trigger): corners over region centroids.
| eval Esql.p1 = to_geopoint(concat("POINT(", to_string(Esql.min_lon), " ", to_string(Esql.min_lat), ")")),
       Esql.p2 = to_geopoint(concat("POINT(", to_string(Esql.max_lon), " ", to_string(Esql.max_lat), ")"))
| eval Esql.distance_km    = round(st_distance(Esql.p1, Esql.p2) / 1000.0, 0),
       Esql.window_minutes = date_diff("minute", Esql.timestamp_first_seen, Esql.timestamp_last_seen),
       Esql.travel_kmh     = case(Esql.window_minutes > 0,
                                  round(Esql.distance_km * 60.0 / Esql.window_minutes, 0), null)

// honest pair (triage signal): real coords at the user's actual first and last
// events, time locked to those same two events
| eval Esql.honest_p1 = to_geopoint(concat("POINT(", to_string(Esql.honest_first_lon), " ", to_string(Esql.honest_first_lat), ")")),
       Esql.honest_p2 = to_geopoint(concat("POINT(", to_string(Esql.honest_last_lon),  " ", to_string(Esql.honest_last_lat),  ")"))
| eval Esql.honest_distance_km     = round(st_distance(Esql.honest_p1, Esql.honest_p2) / 1000.0, 0),
       Esql.honest_window_minutes  = date_diff("minute", Esql.timestamp_first_seen, Esql.honest_last_time),
       Esql.honest_travel_kmh      = case(Esql.honest_window_minutes > 0,
                                          round(Esql.honest_distance_km * 60.0 / Esql.honest_window_minutes, 0), null)

// 500 km separation + faster than a commercial airliner. bbox is the trigger
// purely as triage signal.
| where Esql.distance_km >= 500 and Esql.travel_kmh >= 800

| keep azure.signinlogs.properties.user_principal_name,
    Esql.source_geo_country_name_values,
    Esql.source_geo_region_name_values,
    Esql.source_geo_city_name_values,
    Esql.source_as_organization_name_values,
    Esql.source_ip_values,
    Esql.user_agent_original_values,
    Esql.app_id_values,
    Esql.app_display_name_values,
    Esql.client_app_used_values,
    Esql.resource_id_values,
    Esql.resource_display_name_values,
    Esql.device_detail_browser_values,
    Esql.device_detail_operating_system_values,
    Esql.country_count,
    Esql.region_count,
    Esql.event_count,
    Esql.timestamp_first_seen,
    Esql.timestamp_last_seen,
    Esql.window_minutes,
    Esql.distance_km,
    Esql.travel_kmh,
    Esql.honest_distance_km,
    Esql.honest_travel_kmh,
    Esql.honest_window_minutes`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.outcome", "success"),
			cIs("azure.signinlogs.category", "SignInLogs"),
			cExists("azure.signinlogs.properties.user_principal_name"),
			cExists("source.geo.location"),
			cExists("source.geo.region_name"),
		},
		record: "si_device_code_azure_cli",
		miss:   conformance.Set("properties.location.state", ""),
		skip:   "aggregation: a user's sign-ins from regions too far apart for the time between them; the per-event WHERE is checked",
	},
	{
		name: "Entra ID OAuth Flow by Microsoft Authentication Broker to Device Registration Service (DRS)", path: "rules/integrations/azure/initial_access_entra_id_suspicious_oauth_flow_via_auth_broker_to_drs.toml",
		kind: "esql", index: []string{"logs-azure.signinlogs-*"},
		query: `from logs-azure.signinlogs-* metadata _id, _version, _index
| where
    data_stream.dataset == "azure.signinlogs" and
    event.outcome == "success" and
    azure.signinlogs.properties.user_type == "Member" and
    azure.signinlogs.identity is not null and
    azure.signinlogs.properties.user_principal_name is not null and
    source.address is not null and
    azure.signinlogs.properties.app_id == "29d9ed98-a469-4536-ade2-f981bc1d605e" and  // MAB
    azure.signinlogs.properties.resource_id == "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9"  // DRS

| eval
    Esql.time_window_date_trunc = date_trunc(30 minutes, @timestamp),
    Esql.azure_signinlogs_properties_session_id = azure.signinlogs.properties.session_id,
    Esql.is_browser_case = case(
        to_lower(azure.signinlogs.properties.device_detail.browser) rlike "(chrome|firefox|edge|safari).*", 1, 0
    )

| stats
    Esql_priv.azure_signinlogs_properties_user_display_name_values = values(azure.signinlogs.properties.user_display_name),
    Esql_priv.azure_signinlogs_properties_user_principal_name_values = values(azure.signinlogs.properties.user_principal_name),
    Esql.azure_signinlogs_properties_session_id_values = values(azure.signinlogs.properties.session_id),
    Esql.azure_signinlogs_properties_unique_token_identifier_values = values(azure.signinlogs.properties.unique_token_identifier),

    Esql.source_geo_city_name_values = values(source.geo.city_name),
    Esql.source_geo_country_name_values = values(source.geo.country_name),
    Esql.source_geo_region_name_values = values(source.geo.region_name),
    Esql.source_address_values = values(source.address),
    Esql.source_address_count_distinct = count_distinct(source.address),
    Esql.source_as_organization_name_values = values(source.` + "`" + `as` + "`" + `.organization.name),

    Esql.azure_signinlogs_properties_authentication_protocol_values = values(azure.signinlogs.properties.authentication_protocol),
    Esql.azure_signinlogs_properties_authentication_requirement_values = values(azure.signinlogs.properties.authentication_requirement),
    Esql.azure_signinlogs_properties_is_interactive_values = values(azure.signinlogs.properties.is_interactive),

    Esql.azure_signinlogs_properties_incoming_token_type_values = values(azure.signinlogs.properties.incoming_token_type),
    Esql.azure_signinlogs_properties_token_protection_status_details_sign_in_session_status_values = values(azure.signinlogs.properties.token_protection_status_details.sign_in_session_status),
    Esql.azure_signinlogs_properties_session_id_count_distinct = count_distinct(azure.signinlogs.properties.session_id),
    Esql.azure_signinlogs_properties_app_display_name_values = values(azure.signinlogs.properties.app_display_name),
    Esql.azure_signinlogs_properties_app_id_values = values(azure.signinlogs.properties.app_id),
    Esql.azure_signinlogs_properties_resource_id_values = values(azure.signinlogs.properties.resource_id),
    Esql.azure_signinlogs_properties_resource_display_name_values = values(azure.signinlogs.properties.resource_display_name),

    Esql.azure_signinlogs_properties_app_owner_tenant_id_values = values(azure.signinlogs.properties.app_owner_tenant_id),
    Esql.azure_signinlogs_properties_resource_owner_tenant_id_values = values(azure.signinlogs.properties.resource_owner_tenant_id),

    Esql.azure_signinlogs_properties_conditional_access_status_values = values(azure.signinlogs.properties.conditional_access_status),
    Esql.azure_signinlogs_properties_risk_state_values = values(azure.signinlogs.properties.risk_state),
    Esql.azure_signinlogs_properties_risk_level_aggregated_values = values(azure.signinlogs.properties.risk_level_aggregated),

    Esql.azure_signinlogs_properties_device_detail_browser_values = values(azure.signinlogs.properties.device_detail.browser),
    Esql.azure_signinlogs_properties_device_detail_operating_system_values = values(azure.signinlogs.properties.device_detail.operating_system),
    Esql.user_agent_original_values = values(user_agent.original),
    Esql.is_browser_case_max = max(Esql.is_browser_case),

    Esql.event_count = count(*)
  by
    Esql.time_window_date_trunc,
    azure.signinlogs.properties.user_principal_name,
    azure.signinlogs.properties.session_id

| keep
    Esql.time_window_date_trunc,
    Esql_priv.azure_signinlogs_properties_user_display_name_values,
    Esql_priv.azure_signinlogs_properties_user_principal_name_values,
    Esql.azure_signinlogs_properties_session_id_values,
    Esql.azure_signinlogs_properties_unique_token_identifier_values,
    Esql.source_geo_city_name_values,
    Esql.source_geo_country_name_values,
    Esql.source_geo_region_name_values,
    Esql.source_address_values,
    Esql.source_address_count_distinct,
    Esql.source_as_organization_name_values,
    Esql.azure_signinlogs_properties_authentication_protocol_values,
    Esql.azure_signinlogs_properties_authentication_requirement_values,
    Esql.azure_signinlogs_properties_is_interactive_values,
    Esql.azure_signinlogs_properties_incoming_token_type_values,
    Esql.azure_signinlogs_properties_token_protection_status_details_sign_in_session_status_values,
    Esql.azure_signinlogs_properties_session_id_count_distinct,
    Esql.azure_signinlogs_properties_app_display_name_values,
    Esql.azure_signinlogs_properties_app_id_values,
    Esql.azure_signinlogs_properties_resource_id_values,
    Esql.azure_signinlogs_properties_resource_display_name_values,
    Esql.azure_signinlogs_properties_app_owner_tenant_id_values,
    Esql.azure_signinlogs_properties_resource_owner_tenant_id_values,
    Esql.azure_signinlogs_properties_conditional_access_status_values,
    Esql.azure_signinlogs_properties_risk_state_values,
    Esql.azure_signinlogs_properties_risk_level_aggregated_values,
    Esql.azure_signinlogs_properties_device_detail_browser_values,
    Esql.azure_signinlogs_properties_device_detail_operating_system_values,
    Esql.user_agent_original_values,
    Esql.is_browser_case_max,
    Esql.event_count

| where
    Esql.source_address_count_distinct >= 2 and
    Esql.azure_signinlogs_properties_session_id_count_distinct == 1 and
    Esql.is_browser_case_max >= 1 and
    Esql.event_count >= 2`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.outcome", "success"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cExists("azure.signinlogs.identity"),
			cExists("azure.signinlogs.properties.user_principal_name"),
			cExists("source.address"),
			cIs("azure.signinlogs.properties.app_id", appMAB),
			cIs("azure.signinlogs.properties.resource_id", "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9"),
		},
		record: "si_mab_drs_refresh_token",
		miss:   conformance.Set("properties.resourceId", "00000003-0000-0000-c000-000000000000"),
		skip:   "aggregation: two or more broker sign-ins to DRS in one session from two addresses, one from a browser; the per-event WHERE is checked",
	},
	{
		name: "Entra ID OAuth PRT Issuance to Non-Managed Device Detected", path: "rules/integrations/azure/persistence_entra_id_rt_to_prt_transition_from_user_device.toml",
		kind: "eql", index: []string{"filebeat-*", "logs-azure.signinlogs-*"},
		query: `sequence by azure.signinlogs.properties.user_id, azure.signinlogs.properties.device_detail.device_id with maxspan=1h
  [authentication where
    data_stream.dataset == "azure.signinlogs" and
    azure.signinlogs.category == "NonInteractiveUserSignInLogs" and
    azure.signinlogs.properties.app_id == "29d9ed98-a469-4536-ade2-f981bc1d605e" and
    azure.signinlogs.properties.incoming_token_type == "refreshToken" and
    azure.signinlogs.properties.device_detail.trust_type == "Azure AD joined" and
    azure.signinlogs.properties.device_detail.device_id != null and
    azure.signinlogs.properties.token_protection_status_details.sign_in_session_status == "unbound" and
    azure.signinlogs.properties.user_type == "Member" and
    azure.signinlogs.result_signature == "SUCCESS"
  ]
  [authentication where
    data_stream.dataset == "azure.signinlogs" and
    azure.signinlogs.properties.incoming_token_type == "primaryRefreshToken" and
    azure.signinlogs.properties.resource_display_name != "Device Registration Service" and
    azure.signinlogs.result_signature == "SUCCESS" and
    azure.signinlogs.properties.device_detail.is_managed != true
    and not (
        azure.signinlogs.properties.app_display_name == "Windows Sign In" or
        user_agent.original == "Windows-AzureAD-Authentication-Provider/1.0"
    )
  ]`,
		conds: []confCond{
			cIs("event.category", "authentication"),
			cIs("data_stream.dataset", dsSignIn),
			cIs("azure.signinlogs.category", "NonInteractiveUserSignInLogs"),
			cIs("azure.signinlogs.properties.app_id", appMAB),
			cIs("azure.signinlogs.properties.incoming_token_type", "refreshToken"),
			cIs("azure.signinlogs.properties.device_detail.trust_type", "Azure AD joined"),
			cExists("azure.signinlogs.properties.device_detail.device_id"),
			cIs("azure.signinlogs.properties.token_protection_status_details.sign_in_session_status", "unbound"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cIs("azure.signinlogs.result_signature", "SUCCESS"),
		},
		record: "si_mab_drs_refresh_token",
		miss:   conformance.Set("properties.incomingTokenType", "primaryRefreshToken"),
		skip:   "sequence: a refresh-token sign-in then a primary-refresh-token sign-in of the same user and device within an hour; the first event's filter is checked",
	},
	{
		name: "Entra ID AiTM Phishing-Kit Chain Detected", path: "rules/integrations/azure/persistence_entra_id_device_registration_to_prt_chain.toml",
		kind: "eql", index: []string{"logs-azure.signinlogs-*", "logs-azure.auditlogs-*"},
		query: `sequence with maxspan=3m
  [authentication where
    data_stream.dataset == "azure.signinlogs" and
    azure.signinlogs.category == "NonInteractiveUserSignInLogs" and
    azure.signinlogs.properties.app_id == "29d9ed98-a469-4536-ade2-f981bc1d605e" and
    azure.signinlogs.properties.resource_display_name == "Device Registration Service" and
    azure.signinlogs.properties.incoming_token_type == "refreshToken" and
    azure.signinlogs.properties.token_protection_status_details.sign_in_session_status == "unbound" and
    azure.signinlogs.properties.user_type == "Member" and
    azure.signinlogs.result_signature == "SUCCESS"
  ] by azure.signinlogs.properties.user_id
  [any where
    data_stream.dataset == "azure.auditlogs" and
    azure.auditlogs.operation_name == "Register device" and
    azure.auditlogs.properties.initiated_by.user.id != null and
    azure.auditlogs.properties.target_resources.` + "`" + `0` + "`" + `.display_name like "DESKTOP-*" and
    event.outcome == "success"
  ] by azure.auditlogs.properties.initiated_by.user.id
  [authentication where
    data_stream.dataset == "azure.signinlogs" and
    azure.signinlogs.properties.incoming_token_type == "primaryRefreshToken" and
    azure.signinlogs.properties.original_transfer_method == "deviceCodeFlow" and
    azure.signinlogs.properties.is_interactive == true and
    azure.signinlogs.properties.resource_display_name != "Device Registration Service" and
    azure.signinlogs.properties.device_detail.is_managed != true and
    azure.signinlogs.result_signature == "SUCCESS"
  ] by azure.signinlogs.properties.user_id`,
		conds: []confCond{
			cIs("event.category", "authentication"),
			cIs("data_stream.dataset", dsSignIn),
			cIs("azure.signinlogs.category", "NonInteractiveUserSignInLogs"),
			cIs("azure.signinlogs.properties.app_id", appMAB),
			cIs("azure.signinlogs.properties.resource_display_name", "Device Registration Service"),
			cIs("azure.signinlogs.properties.incoming_token_type", "refreshToken"),
			cIs("azure.signinlogs.properties.token_protection_status_details.sign_in_session_status", "unbound"),
			cIs("azure.signinlogs.properties.user_type", "Member"),
			cIs("azure.signinlogs.result_signature", "SUCCESS"),
		},
		record: "si_mab_drs_refresh_token",
		miss:   conformance.Set("properties.tokenProtectionStatusDetails", map[string]any{"signInSessionStatus": "bound"}),
		skip:   "sequence: a broker sign-in to DRS, a device registration and a PRT sign-in within 3 minutes; the first event's filter is checked (the second's is in audit_register_device below)",
	},
	{
		name: "Entra ID OAuth Device Code Sign-in to Azure AD Graph Enumeration", path: "rules/integrations/azure/credential_access_device_code_signin_aad_graph_enum.toml",
		kind: "eql", index: []string{"logs-azure.signinlogs-*", "logs-azure.aadgraphactivitylogs-*"},
		query: `sequence by user.id, azure.tenant_id with maxspan=5m
[authentication where
    data_stream.dataset == "azure.signinlogs" and
    event.outcome == "success" and
    azure.signinlogs.properties.authentication_protocol == "deviceCode" and
    azure.signinlogs.properties.device_detail.is_managed == false and
    azure.signinlogs.properties.resource_id == "00000002-0000-0000-c000-000000000000"]
[web where
    data_stream.dataset == "azure.aadgraphactivitylogs" and
    url.path : (
        "*/users*",
        "*/groups*",
        "*/servicePrincipals*",
        "*/applications*",
        "*/applicationRefs*",
        "*/devices*",
        "*/directoryRoles*",
        "*/roleAssignments*",
        "*/eligibleRoleAssignments*",
        "*/roleDefinitions*",
        "*/directoryObjects*",
        "*/policies*",
        "*/oauth2PermissionGrants*",
        "*/administrativeUnits*",
        "*/tenantDetails*",
        "*/directorySettingTemplates*",
        "*/me*"
    )]`,
		conds: []confCond{
			cIs("event.category", "authentication"),
			cIs("data_stream.dataset", dsSignIn),
			cIs("event.outcome", "success"),
			cIs("azure.signinlogs.properties.authentication_protocol", "deviceCode"),
			cIs("azure.signinlogs.properties.device_detail.is_managed", false),
			cIs("azure.signinlogs.properties.resource_id", "00000002-0000-0000-c000-000000000000"),
		},
		record: "si_device_code_azure_cli",
		miss:   conformance.Set("properties.deviceDetail.isManaged", true),
		skip:   "sequence: a device-code sign-in to the Azure AD Graph, then Azure AD Graph enumeration by the same user within 5 minutes; the first event's filter is checked (the second's: next entry)",
	},
	{
		name: "Entra ID OAuth Device Code Sign-in to Azure AD Graph Enumeration (second event)", path: "rules/integrations/azure/credential_access_device_code_signin_aad_graph_enum.toml",
		kind: "eql", index: []string{"logs-azure.signinlogs-*", "logs-azure.aadgraphactivitylogs-*"},
		query: `sequence by user.id, azure.tenant_id with maxspan=5m
[authentication where
    data_stream.dataset == "azure.signinlogs" and
    event.outcome == "success" and
    azure.signinlogs.properties.authentication_protocol == "deviceCode" and
    azure.signinlogs.properties.device_detail.is_managed == false and
    azure.signinlogs.properties.resource_id == "00000002-0000-0000-c000-000000000000"]
[web where
    data_stream.dataset == "azure.aadgraphactivitylogs" and
    url.path : (
        "*/users*",
        "*/groups*",
        "*/servicePrincipals*",
        "*/applications*",
        "*/applicationRefs*",
        "*/devices*",
        "*/directoryRoles*",
        "*/roleAssignments*",
        "*/eligibleRoleAssignments*",
        "*/roleDefinitions*",
        "*/directoryObjects*",
        "*/policies*",
        "*/oauth2PermissionGrants*",
        "*/administrativeUnits*",
        "*/tenantDetails*",
        "*/directorySettingTemplates*",
        "*/me*"
    )]`,
		conds: []confCond{
			cIs("event.category", "web"),
			cIs("data_stream.dataset", dsAADG),
			cILike("url.path", "*/users*", "*/groups*", "*/servicePrincipals*", "*/applications*", "*/applicationRefs*", "*/devices*",
				"*/directoryRoles*", "*/roleAssignments*", "*/eligibleRoleAssignments*", "*/roleDefinitions*", "*/directoryObjects*",
				"*/policies*", "*/oauth2PermissionGrants*", "*/administrativeUnits*", "*/tenantDetails*", "*/directorySettingTemplates*", "*/me*"),
		},
		record: "elastic_aadgraph_user_users_read",
		miss:   conformance.Set("properties.requestUri", "/v2/ab30785b-417f-42a4-b5dc-8f9051718acb/contacts"),
		skip:   "second event of the sequence above (not counted separately)",
	},
	{
		name: "Azure Service Principal Sign-In Followed by Arc Cluster Credential Access", path: "rules/integrations/azure/credential_access_azure_service_principal_signin_then_arc_credential_listing.toml",
		kind: "eql", index: []string{"logs-azure.signinlogs-*", "logs-azure.activitylogs-*"},
		query: `sequence with maxspan=30m
[authentication where data_stream.dataset == "azure.signinlogs"
    and azure.signinlogs.category == "ServicePrincipalSignInLogs"
    and azure.signinlogs.properties.status.error_code == 0
] by azure.signinlogs.properties.app_id
[any where data_stream.dataset == "azure.activitylogs"
    and azure.activitylogs.operation_name : "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/LISTCLUSTERUSERCREDENTIAL/ACTION"
    and event.outcome : ("Success", "success")
] by azure.activitylogs.identity.claims.appid`,
		conds: []confCond{
			cIs("event.category", "authentication"),
			cIs("data_stream.dataset", dsSignIn),
			cIs("azure.signinlogs.category", "ServicePrincipalSignInLogs"),
			cIs("azure.signinlogs.properties.status.error_code", 0),
		},
		record: "sp_federated_credential",
		miss:   conformance.Set("properties.status.errorCode", 7000222),
		skip:   "sequence: a service principal sign-in, then an Azure Activity log record (Arc cluster credentials listed) by the same app within 30 minutes; the sign-in's filter is checked",
	},
	{
		name: "Entra ID OAuth User Impersonation to Microsoft Graph", path: "rules/integrations/azure/initial_access_entra_id_graph_single_session_from_multiple_addresses.toml",
		kind: "esql", index: []string{"logs-azure.signinlogs-*", "logs-azure.graphactivitylogs-*"},
		query: `from logs-azure.signinlogs-*, logs-azure.graphactivitylogs-* metadata _id, _version, _index
| where
    (data_stream.dataset == "azure.signinlogs"
     and source.` + "`" + `as` + "`" + `.organization.name != "MICROSOFT-CORP-MSN-AS-BLOCK"
     and azure.signinlogs.properties.session_id is not null)
    or
    (data_stream.dataset == "azure.graphactivitylogs"
     and source.` + "`" + `as` + "`" + `.organization.name != "MICROSOFT-CORP-MSN-AS-BLOCK"
     and azure.graphactivitylogs.properties.c_sid is not null)

| eval
    Esql.azure_signinlogs_properties_session_id_coalesce = coalesce(azure.signinlogs.properties.session_id, azure.graphactivitylogs.properties.c_sid),
    Esql.azure_signinlogs_properties_user_id_coalesce = coalesce(azure.signinlogs.properties.user_id, azure.graphactivitylogs.properties.user_principal_object_id),
    Esql.azure_signinlogs_properties_app_id_coalesce = coalesce(azure.signinlogs.properties.app_id, azure.graphactivitylogs.properties.app_id),
    Esql.source_ip = source.ip,
    Esql.@timestamp = @timestamp,
    Esql.event_type_case = case(
        data_stream.dataset == "azure.signinlogs", "signin",
        data_stream.dataset == "azure.graphactivitylogs", "graph",
        "other"
    ),
    Esql.signin_source_asn = case(data_stream.dataset == "azure.signinlogs", source.` + "`" + `as` + "`" + `.organization.name),
    Esql.graph_source_asn = case(data_stream.dataset == "azure.graphactivitylogs", source.` + "`" + `as` + "`" + `.organization.name)

| where Esql.azure_signinlogs_properties_app_id_coalesce not in (
    "4354e225-50c9-4423-9ece-2d5afd904870",  // Augmentation Loop
    "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe",  // Microsoft Teams Services
    "ecd6b820-32c2-49b6-98a6-444530e5a77a",  // Microsoft Edge [Community Contributed]
    "e8be65d6-d430-4289-a665-51bf2a194bda",  // Microsoft 365 App Catalog Services
    "ab9b8c07-8f02-4f72-87fa-80105867a763",  // OneDrive SyncEngine
    "394866fc-eedb-4f01-8536-3ff84b16be2a",  // Microsoft People Cards Service
    "66a88757-258c-4c72-893c-3e8bed4d6899",  // Office 365 Search Service
    "9ea1ad79-fdb6-4f9a-8bc3-2b70f96e34c7",  // Bing
    "d7b530a4-7680-4c23-a8bf-c52c121d2e87",  // Microsoft Edge Enterprise New Tab Page [Community Contributed]
    "6f7e0f60-9401-4f5b-98e2-cf15bd5fd5e3",  // Microsoft Application Command Service [Community Contributed]
    "52c2e0b5-c7b6-4d11-a89c-21e42bcec444",  // Graph Files Manager
    "27922004-5251-4030-b22d-91ecd9a37ea4",  // Outlook Mobile
    "bb893c22-978d-4cd4-a6f7-bb6cc0d6e6ce",  // Olympus [Community Contributed]
    "26a7ee05-5602-4d76-a7ba-eae8b7b67941",  // Windows Search
    "00000007-0000-0000-c000-000000000000",  // Dataverse
    "6bc3b958-689b-49f5-9006-36d165f30e00",  // Teams CMD Services Artifacts
    "0ec893e0-5785-4de6-99da-4ed124e5296c",  // Office UWP PWA [Community Contributed]
    "fc108d3f-543d-4374-bbff-c7c51f651fe5",  // Zoom
    "01fc33a7-78ba-4d2f-a4b7-768e336e890e",  // MS PIM
    "7ab7862c-4c57-491e-8a45-d52a7e023983"   // Power Automate / Logic Apps Graph Connector
    ) and Esql.signin_source_asn IS NOT NULL and Esql.graph_source_asn IS NOT NULL

| keep
    Esql.azure_signinlogs_properties_session_id_coalesce,
    Esql.source_ip,
    Esql.@timestamp,
    Esql.event_type_case,
    Esql.azure_signinlogs_properties_user_id_coalesce,
    Esql.azure_signinlogs_properties_app_id_coalesce,
    Esql.signin_source_asn,
    Esql.graph_source_asn,
    source.` + "`" + `as` + "`" + `.organization.name,
    user_agent.original,
    url.original,
    azure.graphactivitylogs.properties.scopes,
    azure.signinlogs.properties.user_principal_name

| stats
    Esql.azure_signinlogs_properties_user_id_coalesce_values = values(Esql.azure_signinlogs_properties_user_id_coalesce),
    Esql.azure_signinlogs_properties_session_id_coalesce_values = values(Esql.azure_signinlogs_properties_session_id_coalesce),
    Esql_priv.azure_signinlogs_properties_user_principal_name_values = values(azure.signinlogs.properties.user_principal_name),
    Esql.source_ip_values = values(Esql.source_ip),
    Esql.source_ip_count_distinct = count_distinct(Esql.source_ip),
    Esql.source_as_organization_name_values = values(source.` + "`" + `as` + "`" + `.organization.name),
    Esql.source_as_organization_name_count_distinct = count_distinct(source.` + "`" + `as` + "`" + `.organization.name),
    Esql.signin_source_asn_values = values(Esql.signin_source_asn),
    Esql.signin_source_asn_count_distinct = count_distinct(Esql.signin_source_asn),
    Esql.graph_source_asn_values = values(Esql.graph_source_asn),
    Esql.graph_source_asn_count_distinct = count_distinct(Esql.graph_source_asn),
    Esql.user_agent_original_values = values(user_agent.original),
    Esql.azure_signinlogs_properties_app_id_coalesce_values = values(Esql.azure_signinlogs_properties_app_id_coalesce),
    Esql.azure_signinlogs_properties_app_id_coalesce_count_distinct = count_distinct(Esql.azure_signinlogs_properties_app_id_coalesce),
    Esql.event_type_case_values = values(Esql.event_type_case),
    Esql.event_type_case_count_distinct = count_distinct(Esql.event_type_case),
    Esql.signin_time_min = min(case(Esql.event_type_case == "signin", Esql.@timestamp)),
    Esql.graph_time_min = min(case(Esql.event_type_case == "graph", Esql.@timestamp)),
    Esql.url_original_values = values(url.original),
    Esql.azure_graphactivitylogs_properties_scopes_values = values(azure.graphactivitylogs.properties.scopes),
    Esql.event_count = count()
  by
    Esql.azure_signinlogs_properties_session_id_coalesce,
    Esql.azure_signinlogs_properties_app_id_coalesce,
    Esql.azure_signinlogs_properties_user_id_coalesce

| eval
    Esql.event_signin_to_graph_delay_minutes_date_diff = date_diff("minutes", Esql.signin_time_min, Esql.graph_time_min),
    Esql.event_signin_to_graph_delay_days_date_diff = date_diff("days", Esql.signin_time_min, Esql.graph_time_min)

| where
    Esql.event_type_case_count_distinct > 1 and
    Esql.source_ip_count_distinct > 1 and
    Esql.source_as_organization_name_count_distinct > 1 and
    Esql.azure_signinlogs_properties_app_id_coalesce_count_distinct == 1 and
    Esql.signin_time_min is not null and
    Esql.graph_time_min is not null and
    Esql.event_signin_to_graph_delay_minutes_date_diff > 0 and
    Esql.event_signin_to_graph_delay_days_date_diff == 0 and
    (Esql.signin_source_asn_count_distinct + Esql.graph_source_asn_count_distinct) == Esql.source_as_organization_name_count_distinct`,
		conds: []confCond{
			cIs("data_stream.dataset", dsSignIn),
			cNe("source.as.organization.name", "MICROSOFT-CORP-MSN-AS-BLOCK"),
			cExists("azure.signinlogs.properties.session_id"),
		},
		record: "si_device_code_azure_cli",
		enrich: confASN(12271, "TWC-12271-NYC"),
		miss:   conformance.Del("properties.sessionId"),
		skip: "aggregation over a session's sign-ins and Microsoft Graph requests; the first WHERE's sign-in branch is checked. " +
			"(As written, the second WHERE keeps only rows whose signin_source_asn and graph_source_asn are both non-null, which no single sign-in or Graph row is.)",
	},

	// ---- audit logs -----------------------------------------------------------------
	{
		name: "Entra ID External Guest User Invited", path: "rules/integrations/azure/initial_access_entra_id_external_guest_user_invite.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*", "filebeat-*"},
		query: `data_stream.dataset:azure.auditlogs and azure.auditlogs.operation_name:"Invite external user" and azure.auditlogs.properties.target_resources.*.display_name:guest and event.outcome:(Success or success)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Invite external user"),
			cIs("azure.auditlogs.properties.target_resources.*.display_name", "guest"),
			cIn("event.outcome", "Success", "success"),
		},
		record: "audit_invite_guest",
		miss:   conformance.Set("properties.targetResources.0.displayName", "oops"),
	},
	{
		name: "Entra ID Temporary Access Pass Created for User", path: "rules/integrations/azure/initial_access_entra_id_temporary_access_pass_created.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*"},
		query: `data_stream.dataset: "azure.auditlogs" and
(
    (
        azure.auditlogs.operation_name: "User registered security info" and
        azure.auditlogs.properties.result_reason: "User registered temporary access pass method"
    ) or (
        azure.auditlogs.operation_name: "Create Temporary Access Pass method for user"
    ) or (
        azure.auditlogs.operation_name: "Admin registered security info" and
        azure.auditlogs.properties.target_resources.*.modified_properties.*.display_name: *TemporaryAccessPass*
    )
) and
event.outcome: ("Success" or "success")`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cOr(
				cAnd(cIs("azure.auditlogs.operation_name", "User registered security info"),
					cIs("azure.auditlogs.properties.result_reason", "User registered temporary access pass method")),
				cIs("azure.auditlogs.operation_name", "Create Temporary Access Pass method for user"),
				cAnd(cIs("azure.auditlogs.operation_name", "Admin registered security info"),
					cLike("azure.auditlogs.properties.target_resources.*.modified_properties.*.display_name", "*TemporaryAccessPass*"))),
			cIn("event.outcome", "Success", "success"),
		},
		record: "audit_tap_registered",
		miss:   conformance.Set("properties.resultReason", "User registered App Password"),
	},
	{
		name: "Entra ID User Reported Suspicious Activity", path: "rules/integrations/azure/initial_access_entra_id_user_reported_risk.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*"},
		query: `data_stream.dataset: "azure.auditlogs"
    and azure.auditlogs.operation_name: "Suspicious activity reported"
    and azure.auditlogs.properties.additional_details.key: "AuthenticationMethod"
    and azure.auditlogs.properties.target_resources.*.type: "User"
    and event.outcome: "success"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Suspicious activity reported"),
			cIs("azure.auditlogs.properties.additional_details.key", "AuthenticationMethod"),
			cIs("azure.auditlogs.properties.target_resources.*.type", "User"),
			cIs("event.outcome", "success"),
		},
		record: "audit_suspicious_activity_reported",
		miss:   conformance.Set("properties.additionalDetails", []any{map[string]any{"key": "Method", "value": "PhoneAppNotification"}}),
	},
	{
		name: "Entra ID Application Credential Modified", path: "rules/integrations/azure/persistence_entra_id_application_credential_modification.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*", "filebeat-*"},
		query: `data_stream.dataset:azure.auditlogs and azure.auditlogs.operation_name:"Update application - Certificates and secrets management" and event.outcome:(success or Success)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Update application - Certificates and secrets management"),
			cIn("event.outcome", "success", "Success"),
		},
		record: "audit_app_certificates_and_secrets",
		never:  true,
		skip: "no Entra record matches: Entra names the operation \"Update application – Certificates and secrets management \" (an en dash, U+2013, " +
			"and a trailing space: ESCU's search spells it so, and the record here carries it); the rule's exact keyword match with a hyphen and no " +
			"trailing space matches neither privtrail's documents nor the integration's",
	},
	{
		name: "Entra ID Conditional Access Policy (CAP) Modified", path: "rules/integrations/azure/persistence_entra_id_conditional_access_policy_modified.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.auditlogs-*"},
		query: `data_stream.dataset: "azure.auditlogs"
    and event.action:"Update conditional access policy"
    and event.outcome: "success"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("event.action", "Update conditional access policy"),
			cIs("event.outcome", "success"),
		},
		newTerms: []string{"azure.auditlogs.properties.initiated_by.user.userPrincipalName", "source.as.number"},
		record:   "audit_cap_updated",
		enrich:   confASN(7018, "ATT-INTERNET4"),
		miss:     conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID Global Administrator Role Assigned", path: "rules/integrations/azure/persistence_entra_id_global_administrator_role_assigned.toml",
		kind: "kuery", index: []string{"filebeat-*", "logs-azure.auditlogs-*"},
		query: `data_stream.dataset:azure.auditlogs and
    azure.auditlogs.properties.category:RoleManagement and
    azure.auditlogs.operation_name:"Add member to role" and
    azure.auditlogs.properties.target_resources.*.modified_properties.*.new_value: "\"Global Administrator\""`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.properties.category", "RoleManagement"),
			cIs("azure.auditlogs.operation_name", "Add member to role"),
			cIs("azure.auditlogs.properties.target_resources.*.modified_properties.*.new_value", `"Global Administrator"`),
		},
		record: "audit_add_member_to_role_global_admin",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.1.newValue", `"Privileged Role Administrator"`),
	},
	{
		name: "Entra ID Guest Account Promoted to Member", path: "rules/integrations/azure/persistence_entra_id_guest_account_promoted_to_member.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*"},
		query: `data_stream.dataset: "azure.auditlogs" and
azure.auditlogs.operation_name: "Update user" and
azure.auditlogs.properties.target_resources.*.modified_properties.*.display_name: "UserType" and
azure.auditlogs.properties.target_resources.*.modified_properties.*.old_value: *Guest* and
azure.auditlogs.properties.target_resources.*.modified_properties.*.new_value: *Member* and
event.outcome: (Success or success)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Update user"),
			cIs("azure.auditlogs.properties.target_resources.*.modified_properties.*.display_name", "UserType"),
			cLike("azure.auditlogs.properties.target_resources.*.modified_properties.*.old_value", "*Guest*"),
			cLike("azure.auditlogs.properties.target_resources.*.modified_properties.*.new_value", "*Member*"),
			cIn("event.outcome", "Success", "success"),
		},
		record: "audit_guest_promoted",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.0.oldValue", `["Member"]`),
	},
	{
		name: "Entra ID MFA Disabled for User", path: "rules/integrations/azure/persistence_entra_id_mfa_disabled_for_user.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*"},
		query: `data_stream.dataset: "azure.auditlogs" and
    (azure.auditlogs.operation_name: "Disable Strong Authentication" or
    (
        azure.auditlogs.operation_name: "User deleted security info" and
        azure.auditlogs.properties.additional_details.key: "AuthenticationMethod"
    )) and event.outcome: (Success or success)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cOr(cIs("azure.auditlogs.operation_name", "Disable Strong Authentication"),
				cAnd(cIs("azure.auditlogs.operation_name", "User deleted security info"),
					cIs("azure.auditlogs.properties.additional_details.key", "AuthenticationMethod"))),
			cIn("event.outcome", "Success", "success"),
		},
		record: "escu_07_disable_strong_authentication",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID OAuth Application Redirect URI Modified", path: "rules/integrations/azure/persistence_entra_id_oauth_app_redirect_uri_modified.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*"},
		query: `data_stream.dataset: "azure.auditlogs" and
azure.auditlogs.operation_name: "Update application" and
event.outcome: ("Success" or "success") and
azure.auditlogs.properties.target_resources.*.modified_properties.*.display_name: "AppAddress"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Update application"),
			cIn("event.outcome", "Success", "success"),
			cIs("azure.auditlogs.properties.target_resources.*.modified_properties.*.display_name", "AppAddress"),
		},
		record: "audit_redirect_uri_changed",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.0.displayName", "RequiredResourceAccess"),
	},
	{
		name: "Entra ID Device Registration with Phishing Kit Default OS Build", path: "rules/integrations/azure/persistence_entra_id_phishing_kit_default_os_build_device_registration.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*"},
		query: `data_stream.dataset:"azure.auditlogs" and event.action:"Add device" and
    azure.auditlogs.properties.target_resources.0.modified_properties.3.new_value:*10.0.19045.2006* and
    azure.auditlogs.properties.target_resources.0.modified_properties.4.new_value:*DESKTOP-*`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("event.action", "Add device"),
			cLike("azure.auditlogs.properties.target_resources.0.modified_properties.3.new_value", "*10.0.19045.2006*"),
			cLike("azure.auditlogs.properties.target_resources.0.modified_properties.4.new_value", "*DESKTOP-*"),
		},
		record: "audit_add_device_phishkit",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.3.newValue", `["10.0.19045.5247"]`),
	},
	{
		name: "Entra ID Device Registration with ROADtools Default OS Build", path: "rules/integrations/azure/persistence_entra_id_roadtools_default_device_registration.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*"},
		query: `data_stream.dataset:"azure.auditlogs" and event.action:"Add device" and
    azure.auditlogs.properties.target_resources.0.modified_properties.3.new_value:*10.0.19041.928* and
    azure.auditlogs.properties.target_resources.0.modified_properties.4.new_value:*DESKTOP-*`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("event.action", "Add device"),
			cLike("azure.auditlogs.properties.target_resources.0.modified_properties.3.new_value", "*10.0.19041.928*"),
			cLike("azure.auditlogs.properties.target_resources.0.modified_properties.4.new_value", "*DESKTOP-*"),
		},
		record: "audit_add_device_roadtools",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.4.newValue", `["FIN-LT-0421"]`),
	},
	{
		name: "Entra ID Global Administrator Role Assigned (PIM User)", path: "rules/integrations/azure/persistence_entra_id_pim_user_added_global_admin.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*", "filebeat-*"},
		query: `data_stream.dataset:azure.auditlogs and azure.auditlogs.properties.category:RoleManagement and
    azure.auditlogs.operation_name:("Add eligible member to role in PIM completed (permanent)" or
                                    "Add member to role in PIM completed (timebound)") and
    azure.auditlogs.properties.target_resources.*.display_name:"Global Administrator" and
    event.outcome:(Success or success)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.properties.category", "RoleManagement"),
			cIn("azure.auditlogs.operation_name", "Add eligible member to role in PIM completed (permanent)", "Add member to role in PIM completed (timebound)"),
			cIs("azure.auditlogs.properties.target_resources.*.display_name", "Global Administrator"),
			cIn("event.outcome", "Success", "success"),
		},
		record: "audit_pim_eligible_global_admin",
		miss:   conformance.Set("properties.targetResources.0.displayName", "Global Reader"),
	},
	{
		name: "Entra ID Privileged Identity Management (PIM) Role Modified", path: "rules/integrations/azure/persistence_entra_id_privileged_identity_management_role_modified.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*", "filebeat-*"},
		query: `data_stream.dataset:azure.auditlogs and azure.auditlogs.operation_name:"Update role setting in PIM" and event.outcome:(Success or success)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Update role setting in PIM"),
			cIn("event.outcome", "Success", "success"),
		},
		record: "audit_pim_role_setting",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID Register Device with Unusual User Agent (Azure AD Join)", path: "rules/integrations/azure/persistence_entra_id_register_device_unusual_user_agent.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*"},
		query: `data_stream.dataset:"azure.auditlogs" and event.action:"Register device" and
event.outcome:(success or Success) and
azure.auditlogs.properties.userAgent:(* and not (Dsreg* or DeviceRegistrationClient or Dalvik*)) and
azure.auditlogs.properties.additional_details.value:"Azure AD join"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("event.action", "Register device"),
			cIn("event.outcome", "success", "Success"),
			cExists("azure.auditlogs.properties.userAgent"),
			cNot(cLike("azure.auditlogs.properties.userAgent", "Dsreg*", "DeviceRegistrationClient", "Dalvik*")),
			cIs("azure.auditlogs.properties.additional_details.value", "Azure AD join"),
		},
		record: "audit_register_device",
		miss:   conformance.Set("properties.userAgent", "Dsreg/10.0 (Windows 10.0.19045.2006)"),
	},
	{
		name: "Entra ID Service Principal Created", path: "rules/integrations/azure/persistence_entra_id_service_principal_created.toml",
		kind: "kuery", index: []string{"filebeat-*", "logs-azure.auditlogs-*"},
		query: `data_stream.dataset:azure.auditlogs
    and azure.auditlogs.operation_name:"Add service principal"
    and event.outcome:(success or Success)
    and not azure.auditlogs.identity: (
        "Managed Service Identity" or
        "Windows Azure Service Management API" or
        "Microsoft Azure AD Internal - Jit Provisioning" or
        "AAD App Management" or
        "Power Virtual Agents Service"
        )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Add service principal"),
			cIn("event.outcome", "success", "Success"),
			cNot(cIn("azure.auditlogs.identity", "Managed Service Identity", "Windows Azure Service Management API",
				"Microsoft Azure AD Internal - Jit Provisioning", "AAD App Management", "Power Virtual Agents Service")),
		},
		record: "escu_04_add_service_principal",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID Service Principal Credentials Created by Unusual User", path: "rules/integrations/azure/persistence_entra_id_service_principal_credentials_added.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.auditlogs-*"},
		query: `data_stream.dataset: "azure.auditlogs"
    and azure.auditlogs.operation_name:"Add service principal credentials"
    and event.outcome: "success"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Add service principal credentials"),
			cIs("event.outcome", "success"),
		},
		newTerms: []string{"azure.auditlogs.properties.target_resources.0.display_name", "azure.auditlogs.properties.initiated_by.user.id"},
		record:   "audit_sp_credentials_added",
		miss:     conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID User Added as Registered Application Owner", path: "rules/integrations/azure/persistence_entra_id_user_added_as_owner_for_azure_application.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*", "filebeat-*"},
		query: `data_stream.dataset:azure.auditlogs and azure.auditlogs.operation_name:"Add owner to application" and event.outcome:(Success or success)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Add owner to application"),
			cIn("event.outcome", "Success", "success"),
		},
		record: "escu_03_add_owner_to_application",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID User Added as Service Principal Owner", path: "rules/integrations/azure/persistence_entra_id_user_added_as_owner_for_azure_service_principal.toml",
		kind: "kuery", index: []string{"logs-azure.auditlogs-*", "filebeat-*"},
		query: `data_stream.dataset:azure.auditlogs and azure.auditlogs.operation_name:"Add owner to service principal" and event.outcome:(Success or success)`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Add owner to service principal"),
			cIn("event.outcome", "Success", "success"),
		},
		record: "audit_owner_added_to_sp",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID Elevated Access to User Access Administrator", path: "rules/integrations/azure/privilege_escalation_entra_id_elevate_to_user_administrator_access.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.auditlogs-*"},
		query: `data_stream.dataset: azure.auditlogs
    and (
      azure.auditlogs.operation_name: "User has elevated their access to User Access Administrator for their Azure Resources" or
      azure.auditlogs.properties.additional_details.value: "Microsoft.Authorization/elevateAccess/action"
    ) and event.outcome: "success"`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cOr(cIs("azure.auditlogs.operation_name", "User has elevated their access to User Access Administrator for their Azure Resources"),
				cIs("azure.auditlogs.properties.additional_details.value", "Microsoft.Authorization/elevateAccess/action")),
			cIs("event.outcome", "success"),
		},
		newTerms: []string{"azure.auditlogs.properties.initiated_by.user.userPrincipalName"},
		record:   "audit_elevate_access",
		miss:     conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID Domain Federation Configuration Change", path: "rules/integrations/azure/privilege_escalation_entra_id_tenant_domain_federation_via_audit_logs.toml",
		kind: "kuery", index: []string{"filebeat-*", "logs-azure.auditlogs-*"},
		query: `data_stream.dataset: azure.auditlogs
    and azure.auditlogs.properties.category: DirectoryManagement
    and event.action: ("Set domain authentication" or "Set federation settings on domain")
    and event.outcome: success`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.properties.category", "DirectoryManagement"),
			cIn("event.action", "Set domain authentication", "Set federation settings on domain"),
			cIs("event.outcome", "success"),
		},
		record: "audit_set_domain_authentication",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID Custom Domain Added or Verified", path: "rules/integrations/azure/resource_development_entra_id_custom_domain_added_and_verified.toml",
		kind: "kuery", index: []string{"filebeat-*", "logs-azure.auditlogs-*"},
		query: `data_stream.dataset: azure.auditlogs
    and azure.auditlogs.properties.category: DirectoryManagement
    and event.action: ("Add unverified domain" or "Verify domain")
    and event.outcome: success`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.properties.category", "DirectoryManagement"),
			cIn("event.action", "Add unverified domain", "Verify domain"),
			cIs("event.outcome", "success"),
		},
		record: "escu_05_add_unverified_domain",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID Actor Token User Impersonation Abuse", path: "rules/integrations/azure/initial_access_entra_id_actor_token_user_impersonation_abuse.toml",
		kind: "esql", index: []string{"logs-azure.auditlogs-*"},
		query: `from logs-azure.auditlogs-* metadata _id, _version, _index
| where azure.auditlogs.properties.initiated_by.user.displayName in (
    "Office 365 Exchange Online",
    "Skype for Business Online",
    "Dataverse",
    "Office 365 SharePoint Online",
    "Microsoft Dynamics ERP"
  ) and
  not azure.auditlogs.operation_name like "*group*" and
  azure.auditlogs.operation_name != "Set directory feature on tenant"
  and azure.auditlogs.properties.initiated_by.user.userPrincipalName rlike ".+@[A-Za-z0-9.]+\\.[A-Za-z]{2,}"
| keep
    @timestamp,
    azure.*,
    client.*,
    event.*,
    source.*,
    _id,
    _version,
    _index`,
		conds: []confCond{
			cIn("azure.auditlogs.properties.initiated_by.user.displayName", "Office 365 Exchange Online", "Skype for Business Online", "Dataverse",
				"Office 365 SharePoint Online", "Microsoft Dynamics ERP"),
			cExists("azure.auditlogs.operation_name"),
			cNot(cLike("azure.auditlogs.operation_name", "*group*")),
			cNe("azure.auditlogs.operation_name", "Set directory feature on tenant"),
			cRegex("azure.auditlogs.properties.initiated_by.user.userPrincipalName", `.+@[A-Za-z0-9.]+\.[A-Za-z]{2,}`),
		},
		record: "audit_actor_token_exchange",
		miss:   conformance.Set("properties.initiatedBy.user.displayName", "Tommy R"),
	},
	{
		name: "Entra ID Illicit Consent Grant via Registered Application", path: "rules/integrations/azure/initial_access_entra_id_illicit_consent_grant_via_registered_application.toml",
		kind: "esql", index: []string{"logs-azure.auditlogs-*"},
		query: `FROM logs-azure.auditlogs-* metadata _id, _version, _index
| WHERE (azure.auditlogs.operation_name == "Consent to application"
    OR event.action == "Consent to application")
  AND event.outcome == "success"

| MV_EXPAND azure.auditlogs.properties.additional_details.value
| WHERE azure.auditlogs.properties.additional_details.value
    RLIKE "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
| RENAME azure.auditlogs.properties.additional_details.value AS Esql.app_id

| STATS
    Esql.timestamp_first_seen = MIN(@timestamp),
    Esql.timestamp_last_seen = MAX(@timestamp),
    Esql.app_display_name_values = VALUES(` + "`" + `azure.auditlogs.properties.target_resources.0.display_name` + "`" + `),
    Esql.service_principal_id_values = VALUES(` + "`" + `azure.auditlogs.properties.target_resources.0.id` + "`" + `),
    Esql.is_admin_consent_values = VALUES(` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.0.new_value` + "`" + `),
    Esql.is_app_only_values = VALUES(` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.1.new_value` + "`" + `),
    Esql.on_behalf_of_all_values = VALUES(` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.2.new_value` + "`" + `),
    Esql.consent_context_tags_values = VALUES(` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.3.new_value` + "`" + `),
    Esql.consent_permissions_values = VALUES(` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.4.new_value` + "`" + `),
    Esql.consent_reason_values = VALUES(` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.5.new_value` + "`" + `),
    Esql.user_id_values = VALUES(azure.auditlogs.properties.initiated_by.user.id),
    Esql.ip_address_values = VALUES(azure.auditlogs.properties.initiated_by.user.ipAddress),
    Esql.tenant_id_values = VALUES(azure.tenant_id),
    Esql.correlation_id_values = VALUES(azure.auditlogs.properties.correlation_id),
    Esql.event_count = COUNT(*)
    BY azure.auditlogs.properties.initiated_by.user.userPrincipalName, Esql.app_id

| WHERE Esql.timestamp_first_seen >= NOW() - 9 minutes
| KEEP Esql.*, azure.*`,
		conds: []confCond{
			cOr(cIs("azure.auditlogs.operation_name", "Consent to application"), cIs("event.action", "Consent to application")),
			cIs("event.outcome", "success"),
			cRegex("azure.auditlogs.properties.additional_details.value", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
		},
		record: "audit_consent_granted",
		miss:   conformance.Set("properties.result", "failure"),
	},
	{
		name: "Entra ID Federated Identity Credential Issuer Modified", path: "rules/integrations/azure/persistence_entra_id_service_principal_federated_issuer_modified.toml",
		kind: "esql", index: []string{"logs-azure.auditlogs-*"},
		query: `from logs-azure.auditlogs-* metadata _id, _version, _index
| where event.action == "Update application"
| where ` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.0.display_name` + "`" + ` == "FederatedIdentityCredentials"
| eval Esql.target_resources_old_value_clean = replace(` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.0.old_value` + "`" + `, "\\\\", "")
| eval Esql.target_resources_new_value_clean = replace(` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.0.new_value` + "`" + `, "\\\\", "")
| dissect Esql.target_resources_old_value_clean "%{}\"Issuer\":\"%{Esql.external_idp_old_issuer}\"%{}"
| dissect Esql.target_resources_new_value_clean "%{}\"Issuer\":\"%{Esql.external_idp_new_issuer}\"%{}"
| where Esql.external_idp_old_issuer is not null and Esql.external_idp_new_issuer is not null
| where Esql.external_idp_old_issuer != Esql.external_idp_new_issuer
| keep @timestamp, Esql.*, azure.*, event.*, cloud.*, related.*, tags, source.*, agent.*, client.*, _id, _version, _index, data_stream.namespace`,
		conds: []confCond{
			cIs("event.action", "Update application"),
			cIs("azure.auditlogs.properties.target_resources.0.modified_properties.0.display_name", "FederatedIdentityCredentials"),
			cPred("the Issuer dissected from target_resources.0.modified_properties.0.old_value and from .new_value are both there and differ", func(doc map[string]any) bool {
				issuer := func(field string) string {
					s := strings.ReplaceAll(confFirst(doc, field), `\`, "")
					_, rest, ok := strings.Cut(s, `"Issuer":"`)
					if !ok {
						return ""
					}
					v, _, ok := strings.Cut(rest, `"`)
					if !ok {
						return ""
					}
					return v
				}
				o := issuer("azure.auditlogs.properties.target_resources.0.modified_properties.0.old_value")
				n := issuer("azure.auditlogs.properties.target_resources.0.modified_properties.0.new_value")
				return o != "" && n != "" && o != n
			}),
		},
		record: "audit_fic_issuer_changed",
		miss: conformance.Set("properties.targetResources.0.modifiedProperties.0.newValue",
			`[{"Audiences":["api://AzureADTokenExchange"],"Description":null,"Issuer":"https://token.actions.githubusercontent.com","Name":"deploy","Subject":"repo:contoso/app:environment:prod"}]`),
	},
	{
		name: "Entra ID Unusual Cloud Device Registration", path: "rules/integrations/azure/persistence_entra_id_suspicious_cloud_device_registration.toml",
		kind: "eql", index: []string{"filebeat-*", "logs-azure.auditlogs-*"},
		query: `sequence by azure.correlation_id with maxspan=5m
[any where data_stream.dataset == "azure.auditlogs" and
    azure.auditlogs.identity == "Device Registration Service" and
    azure.auditlogs.operation_name == "Add device" and
    (
        azure.auditlogs.properties.additional_details.value like "Microsoft.OData.Client/*" or
        azure.auditlogs.properties.additional_details.value like "Dsreg/*" or
        azure.auditlogs.properties.additional_details.value == "DeviceRegistrationClient"
    ) and
    ` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.1.display_name` + "`" + ` == "CloudAccountEnabled" and
    ` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.1.new_value` + "`" + ` == "[true]"]
[any where data_stream.dataset == "azure.auditlogs" and
    azure.auditlogs.operation_name == "Add registered users to device" and
    ` + "`" + `azure.auditlogs.properties.target_resources.0.modified_properties.2.new_value` + "`" + ` like "*urn:ms-drs:enterpriseregistration.windows.net*"]
[any where data_stream.dataset == "azure.auditlogs" and
    azure.auditlogs.operation_name == "Add registered owner to device"]`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.identity", "Device Registration Service"),
			cIs("azure.auditlogs.operation_name", "Add device"),
			cOr(cLike("azure.auditlogs.properties.additional_details.value", "Microsoft.OData.Client/*", "Dsreg/*"),
				cIs("azure.auditlogs.properties.additional_details.value", "DeviceRegistrationClient")),
			cIs("azure.auditlogs.properties.target_resources.0.modified_properties.1.display_name", "CloudAccountEnabled"),
			cIs("azure.auditlogs.properties.target_resources.0.modified_properties.1.new_value", "[true]"),
		},
		record: "audit_add_device_roadtools",
		miss:   conformance.Set("properties.targetResources.0.modifiedProperties.1.newValue", "[false]"),
		skip:   "sequence: a device added, registered users added to it and a registered owner added, in one correlation within 5 minutes; the first event's filter is checked",
	},
	{
		name: "Entra ID Multiple Device Registrations by a Single User", path: "rules/integrations/azure/persistence_entra_id_multiple_device_registrations.toml",
		kind: "esql", index: []string{"logs-azure.auditlogs-*"},
		query: `from logs-azure.auditlogs-*
| where data_stream.dataset == "azure.auditlogs"
    and azure.auditlogs.operation_name == "Register device"
    and azure.auditlogs.properties.initiated_by.user.userPrincipalName is not null
    // For "Register device" the registered device is the primary target resource (index 0);
    // target_resources is a numeric-indexed object array in this integration, so wildcard/name-based matching is not available.
    and ` + "`" + `azure.auditlogs.properties.target_resources.0.display_name` + "`" + ` is not null

| eval Esql.bucket_window = date_trunc(15 minutes, @timestamp)

| stats
    Esql.count_distinct_devices = count_distinct(` + "`" + `azure.auditlogs.properties.target_resources.0.display_name` + "`" + `),
    Esql.device_name_values = values(` + "`" + `azure.auditlogs.properties.target_resources.0.display_name` + "`" + `),
    Esql.user_agent_values = values(azure.auditlogs.properties.userAgent),
    Esql.source_ip_values = values(source.ip),
    Esql.source_as_number_values = values(source.` + "`" + `as` + "`" + `.number),
    Esql.source_as_organization_values = values(source.` + "`" + `as` + "`" + `.organization.name),
    Esql.source_country_values = values(source.geo.country_name),
    Esql.source_city_values = values(source.geo.city_name),
    Esql.source_region_values = values(source.geo.region_name),
    Esql.correlation_id_values = values(azure.correlation_id),
    Esql.timestamp_first_seen = min(@timestamp),
    Esql.timestamp_last_seen = max(@timestamp),
    Esql.event_count = count(*)
    by azure.auditlogs.properties.initiated_by.user.userPrincipalName, Esql.bucket_window

| where Esql.count_distinct_devices >= 3

| keep azure.auditlogs.properties.initiated_by.user.userPrincipalName, Esql.*`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAudit),
			cIs("azure.auditlogs.operation_name", "Register device"),
			cExists("azure.auditlogs.properties.initiated_by.user.userPrincipalName"),
			cExists("azure.auditlogs.properties.target_resources.0.display_name"),
		},
		record: "audit_register_device",
		miss:   conformance.Set("operationName", "Update device"),
		skip:   "aggregation: three or more devices registered by one user in 15 minutes; the per-event WHERE is checked",
	},

	// ---- ID Protection ----------------------------------------------------------------
	{
		name: "Entra ID Protection Admin Confirmed Compromise", path: "rules/integrations/azure/initial_access_entra_id_protection_confirmed_compromise.toml",
		kind: "kuery", index: []string{"logs-azure.identity_protection-*"},
		query: `data_stream.dataset: azure.identity_protection and
    azure.identityprotection.properties.risk_detail: (
        "adminConfirmedSigninCompromised" or
        "adminConfirmedUserCompromised"
    )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsIDP),
			cIn("azure.identityprotection.properties.risk_detail", "adminConfirmedSigninCompromised", "adminConfirmedUserCompromised"),
		},
		record: "risk_confirmed_compromised",
		miss:   conformance.Set("properties.riskDetail", "none"),
	},
	{
		name: "Entra ID Protection - Risk Detection - Sign-in Risk", path: "rules/integrations/azure/initial_access_entra_id_protection_sign_in_risk_detected.toml",
		kind: "kuery", index: []string{"logs-azure.identity_protection-*"},
		query: `data_stream.dataset: "azure.identity_protection" and
    event.action: "User Risk Detection" and
    azure.identityprotection.properties.activity: "signin" and
    not azure.identityprotection.properties.risk_state: (
        "remediated" or "dismissed" or "confirmedSafe"
    )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsIDP),
			cIs("event.action", "User Risk Detection"),
			cIs("azure.identityprotection.properties.activity", "signin"),
			cNot(cIn("azure.identityprotection.properties.risk_state", "remediated", "dismissed", "confirmedSafe")),
		},
		record: "elastic_userriskevent",
		miss:   conformance.Set("properties.riskState", "dismissed"),
	},
	{
		name: "Entra ID Protection - Risk Detection - User Risk", path: "rules/integrations/azure/initial_access_entra_id_protection_user_risk_detected.toml",
		kind: "kuery", index: []string{"logs-azure.identity_protection-*"},
		query: `data_stream.dataset: "azure.identity_protection" and
    event.action: ("User Risk Detection" or "Risky user") and
    azure.identityprotection.properties.activity: "user" and
    not azure.identityprotection.properties.risk_state: (
        "remediated" or "dismissed" or "confirmedSafe"
    )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsIDP),
			cIn("event.action", "User Risk Detection", "Risky user"),
			cIs("azure.identityprotection.properties.activity", "user"),
			cNot(cIn("azure.identityprotection.properties.risk_state", "remediated", "dismissed", "confirmedSafe")),
		},
		record: "risk_user_leaked_credentials",
		miss:   conformance.Set("properties.activity", "signin"),
	},
	{
		name: "Entra ID Protection Alerts for User Detected", path: "rules/integrations/azure/initial_access_entra_id_protection_alerts_for_user.toml",
		kind: "eql", index: []string{"logs-azure.identity_protection-*"},
		query: `sequence by azure.identityprotection.properties.user_principal_name with maxspan=10m
[any where event.module == "azure" and data_stream.dataset == "azure.identity_protection"] with runs=2`,
		conds: []confCond{
			cIs("event.module", "azure"),
			cIs("data_stream.dataset", dsIDP),
			cExists("azure.identityprotection.properties.user_principal_name"),
		},
		record: "elastic_userriskevent",
		miss:   conformance.Del("properties.userPrincipalName"),
		skip:   "sequence: two ID Protection records of one user within 10 minutes; the per-event filter (and the sequence key) is checked",
	},
	{
		name: "Entra ID Protection User Alert and Device Registration", path: "rules/integrations/azure/persistence_identity_protect_alert_followed_by_device_reg.toml",
		kind: "eql", index: []string{"logs-azure.identity_protection-*", "logs-azure.auditlogs-*"},
		query: `sequence with maxspan=5m
[any where data_stream.dataset == "azure.identity_protection"] by azure.identityprotection.properties.user_principal_name
[any where data_stream.dataset == "azure.auditlogs" and event.action == "Register device"] by azure.auditlogs.properties.initiated_by.user.userPrincipalName`,
		conds: []confCond{
			cIs("data_stream.dataset", dsIDP),
			cExists("azure.identityprotection.properties.user_principal_name"),
		},
		record: "elastic_userriskevent",
		miss:   conformance.Del("properties.userPrincipalName"),
		skip:   "sequence: an ID Protection record, then a device registration by the same user within 5 minutes; the first event's filter and key are checked",
	},

	// ---- Microsoft Graph activity ---------------------------------------------------------
	{
		name: "Microsoft Graph Email Access by Unusual User and Client", path: "rules/integrations/azure/collection_graph_email_access_by_unusual_public_client_via_graph.toml",
		kind: "new_terms", index: []string{"logs-azure.graphactivitylogs-*"},
		query: `data_stream.dataset:azure.graphactivitylogs and
    azure.graphactivitylogs.result_signature:200 and
    azure.graphactivitylogs.properties.c_idtyp:user and
    azure.graphactivitylogs.properties.client_auth_method:0 and
    http.request.method:(DELETE or GET or PATCH or POST or PUT) and
    url.path:((/beta/me/* or /beta/users/* or /v1.0/me/* or /v1.0/users/*) and (*inbox* or *mail* or *messages*) and not *mailboxSettings*) and
    azure.graphactivitylogs.properties.app_id:* and
    azure.graphactivitylogs.properties.user_principal_object_id:* and
    source.as.number:*`,
		conds: []confCond{
			cIs("data_stream.dataset", dsGraph),
			cIs("azure.graphactivitylogs.result_signature", "200"),
			cIs("azure.graphactivitylogs.properties.c_idtyp", "user"),
			cIs("azure.graphactivitylogs.properties.client_auth_method", 0),
			cIn("http.request.method", "DELETE", "GET", "PATCH", "POST", "PUT"),
			cLike("url.path", "/beta/me/*", "/beta/users/*", "/v1.0/me/*", "/v1.0/users/*"),
			cLike("url.path", "*inbox*", "*mail*", "*messages*"),
			cNot(cLike("url.path", "*mailboxSettings*")),
			cExists("azure.graphactivitylogs.properties.app_id"),
			cExists("azure.graphactivitylogs.properties.user_principal_object_id"),
			cExists("source.as.number"),
		},
		newTerms: []string{"azure.graphactivitylogs.properties.app_id", "azure.graphactivitylogs.properties.user_principal_object_id", "source.as.number"},
		record:   "ga_mail_read",
		enrich:   confASN(2856, "British Telecommunications PLC"),
		miss:     conformance.Set("properties.requestUri", "https://graph.microsoft.com/v1.0/me/mailboxSettings"),
	},
	{
		name: "Microsoft Graph Request User Impersonation by Unusual Client", path: "rules/integrations/azure/initial_access_graph_first_occurrence_of_client_request.toml",
		kind: "new_terms", index: []string{"logs-azure.graphactivitylogs-*"},
		query: `data_stream.dataset: "azure.graphactivitylogs"
    and event.type: "access"
    and azure.graphactivitylogs.properties.app_id: *
    and azure.graphactivitylogs.properties.c_idtyp: "user"
    and azure.graphactivitylogs.properties.client_auth_method: 0
    and http.response.status_code: 200
    and url.domain: "graph.microsoft.com"
    and not url.path: (
        /v1.0/organization
        or /v1.0/me/licenseDetails
        or /v1.0/me/photo*
        or /v1.0/me/photos*
        or /beta/me/settings/regionalAndLanguageSettings
        or /v1.0/me/drive/special/copilotuploads
        or /v1.0/me/informationProtection/sensitivityLabels
        or /beta/me/informationProtection/dataLossPreventionPolicies
    )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsGraph),
			cIs("event.type", "access"),
			cExists("azure.graphactivitylogs.properties.app_id"),
			cIs("azure.graphactivitylogs.properties.c_idtyp", "user"),
			cIs("azure.graphactivitylogs.properties.client_auth_method", 0),
			cIs("http.response.status_code", 200),
			cIs("url.domain", "graph.microsoft.com"),
			cNot(cLike("url.path", "/v1.0/organization", "/v1.0/me/licenseDetails", "/v1.0/me/photo*", "/v1.0/me/photos*",
				"/beta/me/settings/regionalAndLanguageSettings", "/v1.0/me/drive/special/copilotuploads",
				"/v1.0/me/informationProtection/sensitivityLabels", "/beta/me/informationProtection/dataLossPreventionPolicies")),
		},
		newTerms: []string{"azure.graphactivitylogs.properties.app_id", "azure.graphactivitylogs.properties.user_principal_object_id"},
		record:   "ga_mail_read",
		miss:     conformance.Set("properties.requestUri", "https://graph.microsoft.com/v1.0/organization"),
	},
	{
		name: "Entra ID External Authentication Methods (EAM) Modified", path: "rules/integrations/azure/persistence_graph_eam_addition_or_modification.toml",
		kind: "new_terms", index: []string{"filebeat-*", "logs-azure.graphactivitylogs-*"},
		query: `data_stream.dataset: azure.graphactivitylogs and
    url.path: *authenticationMethodsPolicy* and
    http.request.method: "PATCH" and
    http.response.status_code: 200`,
		conds: []confCond{
			cIs("data_stream.dataset", dsGraph),
			cLike("url.path", "*authenticationMethodsPolicy*"),
			cIs("http.request.method", "PATCH"),
			cIs("http.response.status_code", 200),
		},
		newTerms: []string{"azure.graphactivitylogs.properties.user_principal_object_id"},
		record:   "ga_eam_policy_patch",
		miss:     conformance.Set("properties.requestMethod", "GET"),
	},
	{
		name: "Microsoft Graph Multi-Category Reconnaissance Burst", path: "rules/integrations/azure/discovery_graph_activity_delegated_user_multi_category_recon.toml",
		kind: "esql", index: []string{"logs-azure.graphactivitylogs-*"},
		query: `from logs-azure.graphactivitylogs-* metadata _id, _version, _index

// Graph calls via delegated user tokens (any status, any method)
| where event.dataset == "azure.graphactivitylogs"
  and azure.graphactivitylogs.properties.c_idtyp == "user"
  and azure.graphactivitylogs.properties.client_auth_method == 0

// high-value recon endpoints by url.path
| eval Esql.is_role_enum = case(
    url.path like "*roleManagement/directory*"
      or url.path like "*memberOf/microsoft.graph.directoryRole*"
      or url.path like "*transitiveRoleAssignments*",
    true,
    false
  )
| eval Esql.is_cross_tenant_enum = case(
    url.path like "*tenantRelationships*"
      or url.path like "*getResourceTenants*",
    true,
    false
  )
| eval Esql.is_mailbox_recon = case(
    url.path like "*mailboxSettings*"
      or url.path like "*mailFolders*"
      or url.path like "*messages*"
      or url.path like "*inbox*",
    true,
    false
  )
| eval Esql.is_contact_harvest = case(
    url.path like "*contacts*"
      or url.path like "*contactFolders*",
    true,
    false
  )
| eval Esql.is_org_recon = case(
    url.path like "*subscribedSkus*"
      or url.path like "*appRoleAssign*"
      or (
          url.path like "*/organization*"
          and not url.path like "*branding*"
          and not url.path like "*localizations*"
        ),
    true,
    false
  )

// Combine: is this request hitting a high-value endpoint?
| eval Esql.is_high_value = case(
    Esql.is_role_enum or Esql.is_cross_tenant_enum or Esql.is_mailbox_recon
      or Esql.is_contact_harvest or Esql.is_org_recon,
    true,
    false
  )
| where Esql.is_high_value == true

// Classify each hit into a recon category
| eval Esql.recon_category = case(
    Esql.is_role_enum, "role_discovery",
    Esql.is_cross_tenant_enum, "cross_tenant_recon",
    Esql.is_mailbox_recon, "mailbox_recon",
    Esql.is_contact_harvest, "contact_harvesting",
    Esql.is_org_recon, "org_and_licensing_recon",
    "other"
  )

// Flag failed requests (recon that errored is still recon)
| eval Esql.is_failed_request = case(
    http.response.status_code >= 400, true, false
  )

// Aggregate per user + session + source IP
| stats
    Esql.total_high_value_calls = count(*),
    Esql.distinct_categories = count_distinct(Esql.recon_category),
    Esql.distinct_paths = count_distinct(url.path),
    Esql.failed_calls = sum(case(Esql.is_failed_request, 1, 0)),
    Esql.categories = values(Esql.recon_category),
    Esql.sample_paths = values(url.path),
    Esql.http_methods = values(http.request.method),
    Esql.status_codes = values(http.response.status_code),
    Esql.first_seen = min(@timestamp),
    Esql.last_seen = max(@timestamp),
    Esql.user_agents = values(user_agent.original),
    Esql.app_ids = values(azure.graphactivitylogs.properties.app_id)
  by
    azure.graphactivitylogs.properties.user_principal_object_id,
    source.ip,
    source.` + "`" + `as` + "`" + `.organization.name,
    source.` + "`" + `as` + "`" + `.number,
    azure.graphactivitylogs.properties.c_sid,
    azure.tenant_id

// Threshold: 3+ distinct recon categories 
| where Esql.distinct_categories >= 4 and Esql.total_high_value_calls >= 20

// Burst duration in seconds
| eval Esql.burst_duration_seconds = date_diff("seconds", Esql.first_seen, Esql.last_seen)
| where Esql.burst_duration_seconds <= 60

| keep
    azure.graphactivitylogs.properties.user_principal_object_id,
    azure.graphactivitylogs.properties.c_sid,
    azure.tenant_id,
    source.ip,
    source.` + "`" + `as` + "`" + `.organization.name,
    source.` + "`" + `as` + "`" + `.number,
    Esql.*`,
		conds: []confCond{
			cIs("event.dataset", dsGraph),
			cIs("azure.graphactivitylogs.properties.c_idtyp", "user"),
			cIs("azure.graphactivitylogs.properties.client_auth_method", 0),
			cLike("url.path", "*roleManagement/directory*", "*memberOf/microsoft.graph.directoryRole*", "*transitiveRoleAssignments*",
				"*tenantRelationships*", "*getResourceTenants*", "*mailboxSettings*", "*mailFolders*", "*messages*", "*inbox*",
				"*contacts*", "*contactFolders*", "*subscribedSkus*", "*appRoleAssign*", "*/organization*"),
		},
		record: "ga_mail_read",
		miss:   conformance.Set("properties.requestUri", "https://graph.microsoft.com/v1.0/me/drive/root/children"),
		skip:   "aggregation: 20 or more calls in four recon categories by one user within a minute; the per-event filter is checked",
	},

	// ---- Azure AD Graph activity ------------------------------------------------------------
	{
		name: "Azure AD Graph Access with Unusual Client and User", path: "rules/integrations/azure/discovery_aad_graph_unusual_client_for_user.toml",
		kind: "new_terms", index: []string{"logs-azure.aadgraphactivitylogs-*"},
		query: `data_stream.dataset:"azure.aadgraphactivitylogs" and
    azure.aadgraphactivitylogs.properties.actor_type : "User" and
    azure.aadgraphactivitylogs.properties.app_id: (* and not (
        "74658136-14ec-4630-ad9b-26e160ff0fc6" or
        "bb8f18b0-9c38-48c9-a847-e1ef3af0602d" or
        "00000006-0000-0ff1-ce00-000000000000" or
        "18ed3507-a475-4ccb-b669-d66bc9f2a36e")
    ) and user.id:*`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAADG),
			cIs("azure.aadgraphactivitylogs.properties.actor_type", "User"),
			cExists("azure.aadgraphactivitylogs.properties.app_id"),
			cNot(cIn("azure.aadgraphactivitylogs.properties.app_id", "74658136-14ec-4630-ad9b-26e160ff0fc6", "bb8f18b0-9c38-48c9-a847-e1ef3af0602d",
				"00000006-0000-0ff1-ce00-000000000000", "18ed3507-a475-4ccb-b669-d66bc9f2a36e")),
			cExists("user.id"),
		},
		newTerms: []string{"azure.aadgraphactivitylogs.properties.app_id", "user.id"},
		record:   "elastic_aadgraph_user_users_read",
		miss:     conformance.Set("properties.appId", "74658136-14ec-4630-ad9b-26e160ff0fc6"),
	},
	{
		name: "Azure AD Graph Access with Unusual User and ASN", path: "rules/integrations/azure/initial_access_aad_graph_unusual_asn.toml",
		kind: "new_terms", index: []string{"logs-azure.aadgraphactivitylogs-*"},
		query: `data_stream.dataset:azure.aadgraphactivitylogs and
    user.id:* and source.as.number:(* and
        not (
            3598 or 7224 or 8068 or 8069 or 8070 or
            8071 or 8072 or 8073 or 8074 or 8075 or
            8987 or 12076 or 14618 or 15169 or 16509 or
            19527 or 36040 or 36384 or 36385 or 36492 or
            39111 or 394089 or 396982
        )
    )`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAADG),
			cExists("user.id"),
			cExists("source.as.number"),
			cNot(cIn("source.as.number", 3598, 7224, 8068, 8069, 8070, 8071, 8072, 8073, 8074, 8075, 8987, 12076, 14618, 15169, 16509,
				19527, 36040, 36384, 36385, 36492, 39111, 394089, 396982)),
		},
		newTerms:   []string{"user.id", "source.as.number"},
		record:     "elastic_aadgraph_user_users_read",
		enrich:     confASN(20712, "Andrews & Arnold Ltd"),
		missEnrich: confASN(8075, "MICROSOFT-CORP-MSN-AS-BLOCK"),
	},
	{
		name: "Azure AD Graph Access with Suspicious User-Agent", path: "rules/integrations/azure/discovery_aad_graph_suspicious_user_agent.toml",
		kind: "esql", index: []string{"logs-azure.aadgraphactivitylogs-*"},
		query: `from logs-azure.aadgraphactivitylogs-* metadata _id, _version, _index

| where data_stream.dataset == "azure.aadgraphactivitylogs"
    and azure.aadgraphactivitylogs.properties.actor_type == "User"
    and user_agent.original is not null
| eval Esql.ua_lower = to_lower(user_agent.original)
| where Esql.ua_lower like "*fasthttp*"
    or Esql.ua_lower like "*aiohttp*"
    or Esql.ua_lower like "*hound*"
    or Esql.ua_lower like "*aadinternals*"
    or Esql.ua_lower like "*go-http-client*"
    or Esql.ua_lower like "python*"
    or Esql.ua_lower like "*curl/*"
    or Esql.ua_lower like "*okhttp*"
    or Esql.ua_lower like "*axios*"
    or Esql.ua_lower like "*node-fetch*"
    or Esql.ua_lower like "*go-resty*"
    or Esql.ua_lower like "*bav2ropc*"
    or Esql.ua_lower like "*undici*"
| keep
    _id,
    _version,
    _index,
    @timestamp,
    user.id,
    source.ip,
    source.as.organization.name,
    user_agent.original,
    azure.aadgraphactivitylogs.properties.app_id,
    azure.aadgraphactivitylogs.properties.api_version,
    url.path,
    http.response.status_code,
    azure.tenant_id,
    Esql.ua_lower`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAADG),
			cIs("azure.aadgraphactivitylogs.properties.actor_type", "User"),
			cExists("user_agent.original"),
			cILike("user_agent.original", "*fasthttp*", "*aiohttp*", "*hound*", "*aadinternals*", "*go-http-client*", "python*", "*curl/*",
				"*okhttp*", "*axios*", "*node-fetch*", "*go-resty*", "*bav2ropc*", "*undici*"),
		},
		record: "aadgraph_aiohttp",
		miss:   conformance.Set("properties.userAgent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
	},
	{
		name: "Azure AD Graph Potential Enumeration (ROADrecon)", path: "rules/integrations/azure/discovery_aad_graph_roadrecon_aiohttp_enumeration.toml",
		kind: "esql", index: []string{"logs-azure.aadgraphactivitylogs-*"},
		query: `from logs-azure.aadgraphactivitylogs-* metadata _id, _version, _index

| where data_stream.dataset == "azure.aadgraphactivitylogs"
  and to_lower(user_agent.original) like "*aiohttp*"

| eval Esql.target_endpoints = case(
    url.path like "*/eligibleRoleAssignments*", "eligibleRoleAssignments",
    url.path like "*/roleAssignments*",         "roleAssignments",
    url.path like "*/users*",                   "users",
    url.path like "*/groups*",                  "groups",
    url.path like "*/servicePrincipals*",       "servicePrincipals",
    url.path like "*/applications*",            "applications",
    url.path like "*/devices*",                 "devices",
    url.path like "*/directoryRoles*",          "directoryRoles",
    url.path like "*/roleDefinitions*",         "roleDefinitions",
    url.path like "*/administrativeUnits*",     "administrativeUnits",
    url.path like "*/contacts*",                "contacts",
    url.path like "*/oauth2PermissionGrants*",  "oauth2PermissionGrants",
    url.path like "*/authorizationPolicy*",     "authorizationPolicy",
    url.path like "*/settings*",                "settings",
    url.path like "*/policies*",                "policies",
    url.path like "*/tenantDetails*",           "tenantDetails",
    "other"
  )
| where Esql.target_endpoints != "other"

| eval Esql.time_window = date_trunc(1 minutes, @timestamp)

| stats
    Esql.request_count                = count(*),
    Esql.distinct_endpoints           = count_distinct(Esql.target_endpoints),
    Esql.api_versions                 = values(azure.aadgraphactivitylogs.properties.api_version),
    Esql.app_ids                      = values(azure.aadgraphactivitylogs.properties.app_id),
    Esql.user_agent                   = values(user_agent.original),
    Esql.http_methods                 = values(http.request.method),
    Esql.status_codes                 = values(http.response.status_code),
    Esql.source_ips                   = values(source.ip),
    Esql.source_asn_orgs              = values(source.` + "`" + `as` + "`" + `.organization.name),
    Esql.source_countries             = values(source.geo.country_name),
    Esql.actor_types                  = values(azure.aadgraphactivitylogs.properties.actor_type),
    Esql.client_auth_methods          = values(azure.aadgraphactivitylogs.properties.client_auth_method),
    Esql.session_ids                  = values(azure.aadgraphactivitylogs.properties.session_id),
    Esql.sign_in_activity_ids         = values(azure.aadgraphactivitylogs.properties.sign_in_activity_id),
    Esql.scopes                       = values(azure.aadgraphactivitylogs.properties.scopes),
    Esql.first_seen                   = min(@timestamp),
    Esql.last_seen                    = max(@timestamp)
  by
    user.id,
    azure.tenant_id,
    Esql.time_window

| where Esql.distinct_endpoints >= 5

| keep
    user.id,
    azure.tenant_id,
    Esql.*`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAADG),
			cILike("user_agent.original", "*aiohttp*"),
			cLike("url.path", "*/eligibleRoleAssignments*", "*/roleAssignments*", "*/users*", "*/groups*", "*/servicePrincipals*", "*/applications*",
				"*/devices*", "*/directoryRoles*", "*/roleDefinitions*", "*/administrativeUnits*", "*/contacts*", "*/oauth2PermissionGrants*",
				"*/authorizationPolicy*", "*/settings*", "*/policies*", "*/tenantDetails*"),
		},
		record: "aadgraph_aiohttp",
		miss:   conformance.Set("properties.userAgent", "azure-graph-test-client/1.0"),
		skip:   "aggregation: five or more endpoint kinds enumerated by one user within a minute; the per-event filter is checked",
	},
	{
		name: "Azure AD Graph High 4xx Error Ratio from User", path: "rules/integrations/azure/discovery_aad_graph_high_4xx_ratio_by_user.toml",
		kind: "esql", index: []string{"logs-azure.aadgraphactivitylogs-*"},
		query: `from logs-azure.aadgraphactivitylogs-* metadata _id, _version, _index

| where data_stream.dataset == "azure.aadgraphactivitylogs"
| eval Esql.is_4xx = case(
    http.response.status_code >= 400 and
    http.response.status_code < 500, 1, 0
  )
| eval Esql.time_window = date_trunc(2 minutes, @timestamp)
| stats
    Esql.total_calls     = count(*),
    Esql.azure_tenants   = values(azure.tenant_id),
    Esql.errors          = sum(Esql.is_4xx),
    Esql.url_path_count  = count_distinct(url.path),
    Esql.api_versions    = values(azure.aadgraphactivitylogs.properties.api_version),
    Esql.app_ids         = values(azure.aadgraphactivitylogs.properties.app_id),
    Esql.source_ips      = values(source.ip),
    Esql.source_asn_name = values(source.as.organization.name),
    Esql.user_agents     = values(user_agent.original),
    Esql.first_seen      = min(@timestamp),
    Esql.last_seen       = max(@timestamp)
  by
    user.id,
    source.as.number,
    Esql.time_window
| eval Esql.error_rate = round(Esql.errors * 1.0 / Esql.total_calls, 2)
| where 
    Esql.total_calls > 20 and Esql.errors >= 10 and
    Esql.error_rate >= 0.4 and Esql.url_path_count >= 15
| keep
    user.id,
    source.as.number,
    Esql.*`,
		conds: []confCond{
			cIs("data_stream.dataset", dsAADG),
			cExists("http.response.status_code"),
			cExists("url.path"),
			cExists("user.id"),
		},
		record: "elastic_aadgraph_user_users_read",
		miss:   conformance.Set("category", "MicrosoftGraphActivityLogs"),
		skip:   "aggregation: over 20 calls, 10 of them 4xx, to 15 paths by one user within two minutes; the per-event filter and the fields it aggregates are checked",
	},
}

// confFirstPartyApps is the second list of first-party client ids of the
// OAuth phishing rules.
var confFirstPartyApps = []any{
	"00b41c95-dab0-4487-9791-b9d2c32c80f2", "1fec8e78-bce4-4aaf-ab1b-5451cc387264", "26a7ee05-5602-4d76-a7ba-eae8b7b67941",
	"27922004-5251-4030-b22d-91ecd9a37ea4", "4813382a-8fa7-425e-ab75-3b753aab3abb", "ab9b8c07-8f02-4f72-87fa-80105867a763",
	"872cd9fa-d31f-45e0-9eab-6e460a02d1f1", "af124e86-4e96-495a-b70a-90f90ab96707", "2d7f3606-b07d-41d1-b9d2-0d0c9296a6e8",
	"844cca35-0656-46ce-b636-13f48b0eecbd", "87749df4-7ccf-48f8-aa87-704bad0e0e16", "cf36b471-5b44-428c-9ce7-313bf84528de",
	"0ec893e0-5785-4de6-99da-4ed124e5296c", "22098786-6e16-43cc-a27d-191a01a1e3b5", "4e291c71-d680-4d0e-9640-0a3358e31177",
	"57336123-6e14-4acc-8dcf-287b6088aa28", "57fcbcfa-7cee-4eb1-8b25-12d2030b4ee0", "66375f6b-983f-4c2c-9701-d680650f588f",
	"a40d7d7d-59aa-447e-a655-679a4107e548", "a569458c-7f2b-45cb-bab9-b7dee514d112", "b26aadf8-566f-4478-926f-589f601d9c74",
	"c0d2a505-13b8-4ae0-aa9e-cddd5eab0b12", "d326c1ce-6cc6-4de2-bebc-4591e5e13ef0", "e9c51622-460d-4d3d-952d-966a5b1da34c",
	"eb539595-3fe1-474e-9c1d-feb3625d1be5", "ecd6b820-32c2-49b6-98a6-444530e5a77a", "f05ff7c9-f75a-4acd-a3b5-f4b6a870245d",
	"f44b1140-bc5e-48c6-8dc0-5cf5a53c0e34", "be1918be-3fe3-4be9-b32b-b542fc27f02e", "cab96880-db5b-4e15-90a7-f3f1d62ffe39",
	"d7b530a4-7680-4c23-a8bf-c52c121d2e87", "dd47d17a-3194-4d86-bfd5-c6ae6f5651e3", "e9b154d0-7658-433b-bb25-6b8e0a8a7c59",
}

// confBruteForceCodes are the error codes of the brute-force rules.
var confBruteForceCodes = []any{50034, 50126, 50055, 50056, 50057, 50064, 50076, 50079, 50105, 70000, 70008, 70043, 80002, 80005,
	50144, 50135, 50142, 120000, 120002, 120020}

// confRareAppExcluded are the client ids "Entra ID User Sign-in with
// Unusual Client" leaves out.
var confRareAppExcluded = []any{
	"1b3c667f-cde3-4090-b60b-3d2abd0117f0", "26a7ee05-5602-4d76-a7ba-eae8b7b67941", "4b0964e4-58f1-47f4-a552-e2e1fc56dcd7",
	"ecd6b820-32c2-49b6-98a6-444530e5a77a", "268761a2-03f3-40df-8a8b-c3db24145b6b", "fc0f3af4-6835-4174-b806-f7db311fd2f3",
	"de50c81f-5f80-4771-b66b-cebd28ccdfc1", "ab9b8c07-8f02-4f72-87fa-80105867a763", "6f7e0f60-9401-4f5b-98e2-cf15bd5fd5e3",
	"d7b530a4-7680-4c23-a8bf-c52c121d2e87", "52c2e0b5-c7b6-4d11-a89c-21e42bcec444", "38aa3b87-a06d-4817-b275-7a316988d93b",
	"27922004-5251-4030-b22d-91ecd9a37ea4", "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223", "cab96880-db5b-4e15-90a7-f3f1d62ffe39",
	"3a4d129e-7f50-4e0d-a7fd-033add0a29f4", "29d9ed98-a469-4536-ade2-f981bc1d605e", "c0ab8ce9-e9a0-42e7-b064-33d422df41f1",
	"9ea1ad79-fdb6-4f9a-8bc3-2b70f96e34c7", "4813382a-8fa7-425e-ab75-3b753aab3abb", "08e18876-6177-487e-b8b5-cf950c1e598c",
	"0ec893e0-5785-4de6-99da-4ed124e5296c", "d3590ed6-52b3-4102-aeff-aad2292ab01c", "0dc2408a-bbc0-4238-871e-13b372f0200f",
	"af124e86-4e96-495a-b70a-90f90ab96707", "e9c51622-460d-4d3d-952d-966a5b1da34c", "f44b1140-bc5e-48c6-8dc0-5cf5a53c0e34",
	"e2ef5054-0287-4db6-afa3-013d96881fd3", "82864fa0-ed49-4711-8395-a0e6003dca1f", "60c8bde5-3167-4f92-8fdb-059f6176dc0f",
	"5d661950-3475-41cd-a2c3-d671a3162bc1", "145fc680-eb72-4bcf-b4d5-8277021a1ce8", "c1c74fed-04c9-4704-80dc-9f79a2e515cb",
	"a2760c41-63c9-42b5-8d58-bfa1fd9e2eb3", "6dec647e-42c4-45a6-8f13-e8250d34e033", "c98e5057-edde-4666-b301-186a01b4dc58",
	"0a31c71e-0abf-4238-add7-b1a24c165dc1", "a8759234-4b8b-4d94-8c0a-ee1ab73af270", "dae89220-69ba-4957-a77a-47b78695e883",
	"fd5f78f6-a28f-450b-abc7-777f3dbbfcba", "821caec6-bec3-4542-bead-d3c5fb6b4ef0", "a40d7d7d-59aa-447e-a655-679a4107e548",
	"bed12bc0-3a62-470d-998c-e47546e7b039", "f4060917-6abe-40d7-baa6-f634c0eda4ac", "b26aadf8-566f-4478-926f-589f601d9c74",
	"1f7f6f43-2f81-429c-8499-293566d0ab0c", "75f31797-37c9-498e-8dc9-53c16a36afca", "3e050dd7-7815-46a0-8263-b73168a42c10",
	"243c63a3-247d-41c5-9d83-7788c43f1c43", "75efb5bc-18a1-4e7b-8a66-2ad2503d79c6", "d32f3b53-b7d7-48df-8d0f-f8bf233b3f1f",
	"95de633a-083e-42f5-b444-a4295d8e9314", "3ff8e6ba-7dc3-4e9e-ba40-ee12b60d6d48", "871c010f-5e61-4fb1-83ac-98610a7e9110",
	"3e62f81e-590b-425b-9531-cad6683656cf", "8ec6bc83-69c8-4392-8f08-b3c986009232", "d326c1ce-6cc6-4de2-bebc-4591e5e13ef0",
	"dd762716-544d-4aeb-a526-687b73838a22", "7f8f922d-7ee4-40a6-b435-aad8b84ebde0", "f8d98a96-0999-43f5-8af3-69971c7bb423",
	"aa580612-c342-4ace-9055-8edee43ccb89", "7f67af8a-fedc-4b08-8b4e-37c4d127b6cf", "00bf137d-f689-4c5d-83d9-7fc31904a7ea",
	"ceb96695-e468-48ba-ba21-35e2a242d396", "7fba38f4-ec1f-458d-906c-f4e3c4f41335", "a2a1fecc-b06e-4a1e-95c1-2afd94bcadff",
	"15ddab63-ba81-45db-9bb6-6f8bc445c459", "bc59ab01-8403-45c6-8796-ac3ef710b3e3", "00000003-0000-0ff1-ce00-000000000000",
	"4e291c71-d680-4d0e-9640-0a3358e31177", "4fb5cc57-dbbc-4cdc-9595-748adff5f414", "22098786-6e16-43cc-a27d-191a01a1e3b5",
	"ebde7daf-df42-4ade-81a4-d67b339b49e9", "c0d2a505-13b8-4ae0-aa9e-cddd5eab0b12", "a672d62c-fc7b-4e81-a576-e60dc46e951d",
	"0b1df6d3-2deb-44d4-b44b-7101937e0726", "04f0c124-f2bc-4f59-8241-bf6df9866bbd", "86f4c005-6582-4559-b6cf-8b3111236736",
	"a0a3c1d3-7b82-4010-bdb0-e7048fb8f1fe", "a187e399-0c36-4b98-8f04-1edc167a0996", "2d4d3d8e-2be3-4bef-9f87-7875a61c29de",
}

// ---- the tests ----------------------------------------------------------------

// confAll are a rule's conditions, with the presence of its new terms
// fields.
func (r confRule) confAll() []confCond {
	conds := append([]confCond(nil), r.conds...)
	for _, f := range r.newTerms {
		conds = append(conds, cExists(f))
	}
	return conds
}

// confFailed are the conditions doc does not satisfy.
func confFailed(conds []confCond, doc map[string]any) []string {
	var failed []string
	for _, c := range conds {
		if !c.eval(doc) {
			failed = append(failed, c.String())
		}
	}
	return failed
}

func confIndexMatches(patterns []string, index string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, index); ok {
			return true
		}
	}
	return false
}

// confEncode decodes, enriches and encodes one record of a rule.
func confEncode(t *testing.T, r confRule, edit *conformance.Edit, enrich func(*entra.Record), graph bool) (string, map[string]any, bool) {
	t.Helper()
	rec, ok := confRecord(t, r.record, edit, graph)
	if !ok {
		return "", nil, false
	}
	confEnrich(r.record, rec)
	if enrich != nil {
		enrich(rec)
	}
	index, doc := confDoc(t, rec)
	return index, doc, true
}

// TestConformanceRules checks every rule of confRules on its record, in
// the diagnostic form and in the Graph form, and on its near miss.
func TestConformanceRules(t *testing.T) {
	for _, r := range confRules {
		t.Run(r.name, func(t *testing.T) {
			if !strings.Contains(r.query, "azure") || r.path == "" || r.record == "" || len(r.conds) == 0 || len(r.index) == 0 {
				t.Fatal("incomplete entry")
			}
			if r.never && r.skip == "" {
				t.Fatal("never needs a skip reason")
			}
			conds := r.confAll()
			for _, graph := range []bool{false, true} {
				form := "diagnostic form"
				if graph {
					form = "Graph form"
				}
				index, doc, ok := confEncode(t, r, nil, r.enrich, graph)
				if !ok {
					continue // no Graph form of this category
				}
				if !confIndexMatches(r.index, index) {
					t.Errorf("%s: the document goes to %s, which the rule's index patterns %v do not read", form, index, r.index)
				}
				failed := confFailed(conds, doc)
				switch {
				case r.never:
					if len(failed) == 0 {
						t.Errorf("%s: the record matches, though the entry says no Entra record can: %s", form, r.skip)
					}
					continue
				case len(failed) > 0:
					t.Errorf("%s of %s does not satisfy the rule: %s", form, r.record, strings.Join(failed, "; "))
					continue
				}
				t.Logf("%s: matches", form)
				// The near miss: one condition broken.
				if r.miss == nil && r.missEnrich == nil {
					t.Fatal("no near miss")
				}
				if graph && r.miss != nil && !strings.HasPrefix(r.miss.Path(), "properties.") {
					continue // an edit of the envelope, which the Graph form has not
				}
				enrich := r.enrich
				if r.missEnrich != nil {
					enrich = r.missEnrich
				}
				_, missDoc, _ := confEncode(t, r, r.miss, enrich, graph)
				switch missed := confFailed(conds, missDoc); len(missed) {
				case 0:
					t.Errorf("%s: the near miss satisfies the rule too", form)
				case 1:
				default:
					t.Errorf("%s: the near miss breaks %d conditions, not one: %s", form, len(missed), strings.Join(missed, "; "))
				}
			}
		})
	}
}

// confCounts are the rules found, those that apply to privtrail's
// documents, those of them whose record Microsoft Graph also serves, those
// that also apply to the Graph form, and those skipped.
func confCounts(t *testing.T) (found, apply, graphable, applyGraph, skipped int, paths map[string]bool) {
	t.Helper()
	paths = map[string]bool{}
	skippedPaths := map[string]bool{}
	hasGraph := map[string]bool{}
	for _, r := range confRules {
		paths[r.path] = true
		if r.skip != "" {
			skippedPaths[r.path] = true
		}
		raw, err := os.ReadFile(filepath.Join("testdata", "conformance", r.record+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, ok := conformance.GraphForm(t, bytes.TrimSpace(raw)); ok {
			hasGraph[r.path] = true
		}
	}
	for p := range paths {
		if skippedPaths[p] {
			skipped++
			continue
		}
		apply++
		if hasGraph[p] {
			graphable++
			applyGraph++
		}
	}
	return len(paths), apply, graphable, applyGraph, skipped, paths
}

// TestConformanceCounts: every Entra rule found is in the table, at
// least 30 apply, and the README states the counts.
func TestConformanceCounts(t *testing.T) {
	found, apply, graphable, applyGraph, skipped, paths := confCounts(t)
	if found != confEntraRulesFound {
		t.Errorf("%d rules in the table, %d Entra rules found at %s", found, confEntraRulesFound, confRulesCommit[:8])
	}
	for p := range paths {
		if !strings.HasPrefix(p, "rules/integrations/azure/") || !strings.HasSuffix(p, ".toml") {
			t.Errorf("path %s", p)
		}
	}
	if apply < 30 {
		t.Errorf("only %d rules apply", apply)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("**%d of the %d** public Entra ID rules", apply, found),
		fmt.Sprintf("%d of the %d that read sign-in, audit or ID Protection logs also apply to Graph-polled records", applyGraph, graphable),
		fmt.Sprintf("%d are skipped", skipped),
		confRulesCommit[:12],
	} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
	t.Logf("%d Entra rules found, %d apply (%d of %d with a Graph form also on Graph-polled records), %d skipped",
		found, apply, applyGraph, graphable, skipped)
}

// ---- the dashboard ------------------------------------------------------------

// confDashRef is one field a saved object uses and the type its use needs:
// string, number, boolean, date, geo_point, or any (a count, a tooltip, an
// exists query).
type confDashRef struct {
	field, want, where string
}

var confKQLClause = regexp.MustCompile(`([A-Za-z_@][A-Za-z0-9_.@-]*)\s*(:|<=|>=|<|>)\s*("(?:[^"\\]|\\.)*"|[^\s()]+)`)

// confKQLRefs are the fields of a KQL query with the type of the value
// each is compared with.
func confKQLRefs(q, where string) []confDashRef {
	var out []confDashRef
	for _, m := range confKQLClause.FindAllStringSubmatch(q, -1) {
		want := "string"
		switch v := m[3]; {
		case v == "*":
			want = "any"
		case v == "true" || v == "false":
			want = "boolean"
		case strings.HasPrefix(v, `"`):
			want = "string"
		default:
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				want = "number"
			}
		}
		out = append(out, confDashRef{m[1], want, where})
	}
	return out
}

// confDashTypedRefs walks a saved object as dashCollect does, keeping the
// type each use needs.
func confDashTypedRefs(t *testing.T, o dashObject) []confDashRef {
	t.Helper()
	var attrs map[string]any
	if err := json.Unmarshal(o.Attributes, &attrs); err != nil {
		t.Fatal(err)
	}
	where := o.Type + " " + o.ID
	var refs []confDashRef
	add := func(f, want string) { refs = append(refs, confDashRef{f, want, where}) }
	if o.Type == "index-pattern" {
		if f, _ := attrs["timeFieldName"].(string); f != "" {
			add(f, "date")
		}
		for _, k := range []string{"fieldAttrs", "fields"} {
			s, _ := attrs[k].(string)
			v, _ := dashJSONText(s)
			switch v := v.(type) {
			case map[string]any:
				for f := range v {
					add(f, "any")
				}
			case []any:
				for _, e := range v {
					if m, ok := e.(map[string]any); ok {
						if n, _ := m["name"].(string); n != "" && !strings.HasPrefix(n, "_") {
							add(n, "any")
						}
					}
				}
			}
		}
		return refs
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if x, ok := dashJSONText(v); ok {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			if lang, _ := v["language"].(string); lang == "kuery" {
				q, _ := v["query"].(string)
				refs = append(refs, confKQLRefs(q, where)...)
			}
			if op, _ := v["operationType"].(string); op != "" {
				if f, _ := v["sourceField"].(string); f != "" && f != "___records___" {
					want, _ := v["dataType"].(string)
					switch {
					case op == "count" || op == "unique_count" || op == "cardinality":
						want = "any"
					case want == "ip":
						want = "string"
					}
					add(f, want)
				}
			}
			if f, _ := v["geoField"].(string); f != "" {
				add(f, "geo_point")
			}
			if typ, _ := v["type"].(string); typ == "ES_SEARCH" {
				tips, _ := v["tooltipProperties"].([]any)
				for _, f := range tips {
					if s, _ := f.(string); s != "" {
						add(s, "any")
					}
				}
				for _, k := range []string{"sortField", "topHitsSplitField"} {
					if f, _ := v[k].(string); f != "" {
						add(f, "any")
					}
				}
			}
			if ms, ok := v["metrics"].([]any); ok {
				for _, m := range ms {
					if m, ok := m.(map[string]any); ok {
						if f, _ := m["field"].(string); f != "" {
							add(f, "any")
						}
					}
				}
			}
			if meta, ok := v["meta"].(map[string]any); ok {
				if f, _ := meta["key"].(string); f != "" {
					add(f, "any")
				}
			}
			if f, _ := v["term"].(string); f != "" {
				add(f, "any")
			}
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(attrs)
	return refs
}

// confKinds are the JSON kinds of every field path of the documents.
type confKinds map[string]map[string]bool

func (k confKinds) add(prefix string, v any) {
	set := func(kind string) {
		if k[prefix] == nil {
			k[prefix] = map[string]bool{}
		}
		k[prefix][kind] = true
	}
	switch v := v.(type) {
	case map[string]any:
		if prefix != "" {
			_, lat := v["lat"].(json.Number)
			_, lon := v["lon"].(json.Number)
			if lat && lon && len(v) == 2 {
				set("geo_point")
			} else {
				set("object")
			}
		}
		for key, x := range v {
			p := key
			if prefix != "" {
				p = prefix + "." + key
			}
			k.add(p, x)
		}
	case []any:
		for _, x := range v {
			k.add(prefix, x)
		}
	case string:
		set("string")
		if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
			set("date")
		}
	case bool:
		set("boolean")
	case json.Number:
		set("number")
	}
}

// confDashGaps are the dashboard's fields no conformance document has,
// and why.
var confDashGaps = map[string]string{}

// confDocuments are the documents of the suite: each record of
// testdata/conformance in both forms, enriched as confEnrich does, and
// each rule's record with the rule's own enrichment.
func confDocuments(t *testing.T) []map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "conformance", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no records: %v", err)
	}
	var docs []map[string]any
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		for _, graph := range []bool{false, true} {
			_, doc, ok := confEncode(t, confRule{record: name}, nil, nil, graph)
			if ok {
				docs = append(docs, doc)
			}
		}
	}
	for _, r := range confRules {
		if r.enrich != nil {
			_, doc, _ := confEncode(t, r, nil, r.enrich, false)
			docs = append(docs, doc)
		}
	}
	return docs
}

// confDashCheck returns what is wrong with the saved objects' fields
// against the documents' kinds, and the fields checked.
func confDashCheck(t *testing.T, objs []dashObject, kinds confKinds) (problems []string, checked, gaps map[string]bool) {
	t.Helper()
	checked, gaps = map[string]bool{}, map[string]bool{}
	for _, o := range objs {
		refs := confDashTypedRefs(t, o)
		typed := map[string]bool{}
		for _, r := range refs {
			typed[r.field] = true
		}
		// The typed walk finds every field the package's own extraction does.
		plain, err := dashCollect(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range plain {
			if !typed[r.field] {
				problems = append(problems, fmt.Sprintf("%s: %s is used but the typed extraction missed it", r.where, r.field))
			}
		}
		for _, r := range refs {
			checked[r.field] = true
			got := kinds[r.field]
			if len(got) == 0 {
				if _, ok := confDashGaps[r.field]; ok {
					gaps[r.field] = true
				} else {
					problems = append(problems, fmt.Sprintf("%s: %s is in no conformance document", r.where, r.field))
				}
				continue
			}
			if _, ok := confDashGaps[r.field]; ok {
				problems = append(problems, fmt.Sprintf("%s is listed as a gap but the documents have it: remove it from confDashGaps", r.field))
			}
			if r.want != "any" && !got[r.want] {
				problems = append(problems, fmt.Sprintf("%s: %s is used as %s, the documents have %v", r.where, r.field, r.want, confKeysOf(got)))
			}
		}
	}
	return problems, checked, gaps
}

// TestConformanceDashboardFields: every field a panel of the Kibana
// dashboard uses is in the conformance documents, with the type the
// panel's query or column needs, so that renaming a field the dashboard
// reads (or changing its type) fails here.
func TestConformanceDashboardFields(t *testing.T) {
	data, err := os.ReadFile(dashFile)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := dashParse(data)
	if err != nil {
		t.Fatal(err)
	}
	kinds := confKinds{}
	for _, doc := range confDocuments(t) {
		kinds.add("", doc)
	}
	problems, checked, gaps := confDashCheck(t, objs, kinds)
	for _, p := range problems {
		t.Error(p)
	}
	for _, f := range confKeysOf(gaps) {
		t.Logf("known gap: %s: %s", f, confDashGaps[f])
	}
	if len(checked) < 15 {
		t.Errorf("only %d fields checked", len(checked))
	}
	t.Logf("%d dashboard fields checked against %d document paths", len(checked), len(kinds))

	// The check sees a field renamed in the documents, and one whose
	// type changed.
	for _, tc := range []struct{ field, kind, want string }{
		{"privtrail.work_hours.inside", "", "privtrail.work_hours.inside is in no conformance document"},
		{"privtrail.device.paw", "string", "privtrail.device.paw is used as boolean"},
		{"@timestamp", "number", "@timestamp is used as date"},
	} {
		changed := confKinds{}
		for p, ks := range kinds {
			changed[p] = ks
		}
		if tc.kind == "" {
			delete(changed, tc.field)
		} else {
			changed[tc.field] = map[string]bool{tc.kind: true}
		}
		problems, _, _ := confDashCheck(t, objs, changed)
		found := false
		for _, p := range problems {
			found = found || strings.Contains(p, tc.want)
		}
		if !found {
			t.Errorf("changing %s to %q goes unnoticed: %q", tc.field, tc.kind, problems)
		}
	}
}

func confKeysOf(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestConformanceEvaluator(t *testing.T) {
	var doc map[string]any
	d := json.NewDecoder(strings.NewReader(`{"a":{"b":[{"c":"x","n":5},{"c":"y"}],"t":true,"ip":"10.1.2.3",
		"tr":{"0":{"mp":{"1":{"nv":"\"Global Administrator\""}}}},"flat":[{"key":"k","value":"[\"adrs_access\"]"}]}}`))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    confCond
		want bool
	}{
		{cIs("a.b.c", "y"), true},
		{cIs("a.b.c", "Y"), false},
		{cILike("a.b.c", "Y"), true},
		{cIs("a.b.n", 5), true},
		{cIs("a.b.n", "5"), false},
		{cIs("a.t", true), true},
		{cIs("a.t", "true"), false},
		{cExists("a.b.n"), true},
		{cExists("a.b.m"), false},
		{cNot(cIs("a.b.m", "x")), true},
		{cNe("a.b.m", "x"), false},
		{cNe("a.b.c", "z"), true},
		{cIs("a.tr.*.mp.*.nv", `"Global Administrator"`), true},
		{cLike("a.flat", "*adrs_access*"), true},
		{cCIDR("a.ip", "10.0.0.0/8"), true},
		{cCIDR("a.ip", "192.168.0.0/16"), false},
		{cNum("a.b.n", ">=", 5), true},
		{cNum("a.b.n", ">", 5), false},
		{cRegex("a.b.c", "x|y"), true},
		{cRegex("a.b.c", "x"), true},
		{cRegex("a.b.c", "(?i)X"), true},
		{cRegex("a.b.c", "x."), false},
		{cOr(cIs("a.b.c", "q"), cIs("a.t", true)), true},
		{cAnd(cIs("a.b.c", "q"), cIs("a.t", true)), false},
	} {
		if got := tc.c.eval(doc); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.c, got, tc.want)
		}
	}
}
