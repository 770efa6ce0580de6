package splunk

// The Dashboard Studio dashboard in dashboards/privtrail.json may only
// search what this package's Encoder sends: indexed fields of the HEC
// envelope, paths of the event JSON (Splunk's {} notation for arrays), and
// the sourcetypes and source the output sets. The test pulls those names
// out of every search's SPL, encodes realistic records with the Encoder,
// and checks each name against the envelopes.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

const dashFile = "dashboards/privtrail.json"

// An emergency access account's sign-in, diagnostic-settings shape (Event
// Hubs).
const dashSignInDiagnostic = `{"time":"2026-03-02T23:14:05.1234567Z","resourceId":"/tenants/72f988bf-86f1-41af-91ab-2d7cd011db47/providers/Microsoft.aadiam","operationName":"Sign-in activity","operationVersion":"1.0","category":"SignInLogs","tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","resultType":"0","resultSignature":"None","resultDescription":"","durationMs":0,"callerIpAddress":"203.0.113.45","correlationId":"5a1d3c1e-6b7f-4c8e-9d0a-1b2c3d4e5f60","identity":"Break Glass 1","Level":4,"location":"NL","properties":{"id":"0d7a1c52-8f35-4c4e-bd1a-3f6b2a9e1c00","createdDateTime":"2026-03-02T23:14:05.1234567+00:00","userDisplayName":"Break Glass 1","userPrincipalName":"breakglass1@contoso.example","userId":"b7c1e0f2-1111-4a4a-9c9c-0123456789ab","appId":"c44b4083-3bb0-49c1-b47d-974e53cbdf3c","appDisplayName":"Azure Portal","ipAddress":"203.0.113.45","status":{"errorCode":0,"additionalDetails":"MFA requirement satisfied by claim in the token"},"clientAppUsed":"Browser","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","deviceDetail":{"deviceId":"","displayName":"","operatingSystem":"Windows10","browser":"Edge 122.0.0","isCompliant":false,"isManaged":false,"trustType":""},"location":{"city":"Amsterdam","state":"Noord-Holland","countryOrRegion":"NL","geoCoordinates":{"latitude":52.3676,"longitude":4.9041}},"correlationId":"5a1d3c1e-6b7f-4c8e-9d0a-1b2c3d4e5f60","conditionalAccessStatus":"notApplied","isInteractive":true,"riskDetail":"none","riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none","resourceDisplayName":"Windows Azure Service Management API","authenticationRequirement":"singleFactorAuthentication","userType":"Member"}}`

// A privileged admin's interactive sign-in, Graph shape, as the signIns API
// returns it.
const dashSignInGraph = `{"id":"5e3b9c1a-7f4d-4a2e-9b61-2c8d0e4f7a10","createdDateTime":"2026-03-02T08:12:44.5120000Z","userDisplayName":"Alice Nguyen (admin)","userPrincipalName":"adm_alice@contoso.example","userId":"3845d718-d1e0-5bb9-9d95-3478a670d77e","appId":"c44b4083-3bb0-49c1-b47d-974e53cbdf3c","appDisplayName":"Azure Portal","ipAddress":"87.123.40.2","clientAppUsed":"Browser","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0","correlationId":"0c6f2b7e-3a51-4d8e-8f9a-6b2d1c0e5a44","conditionalAccessStatus":"success","isInteractive":true,"riskDetail":"none","riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none","riskEventTypes_v2":[],"resourceDisplayName":"Windows Azure Service Management API","resourceId":"797f4846-ba00-4fd7-ba43-dac1f8f63013","authenticationRequirement":"multiFactorAuthentication","userType":"member","autonomousSystemNumber":3320,"status":{"errorCode":0,"failureReason":"Other.","additionalDetails":null},"deviceDetail":{"deviceId":"9d0a4c2e-18b7-4f3d-a6e5-7c1b2d3e4f50","displayName":"PAW-ALICE","operatingSystem":"Windows10","browser":"Edge 122.0.0","isCompliant":true,"isManaged":true,"trustType":"Azure AD joined"},"location":{"city":"Berlin","state":"Berlin","countryOrRegion":"DE","geoCoordinates":{"altitude":null,"latitude":52.52,"longitude":13.405}},"appliedConditionalAccessPolicies":[]}`

// A PIM role activation completed, Graph shape (directoryAudits).
const dashPIMActivation = `{"id":"30987df2-c579-48d2-b490-fe31c0b6e310","category":"RoleManagement","correlationId":"fdfd3c2f-e60e-4ecd-b3fa-1747339652f0","result":"success","resultReason":"INC-4411: tenant-wide Defender onboarding","activityDisplayName":"Add member to role completed (PIM activation)","activityDateTime":"2026-03-02T09:14:31.2999550Z","loggedByService":"PIM","operationType":"Add","userAgent":null,"initiatedBy":{"app":null,"user":{"id":"3845d718-d1e0-5bb9-9d95-3478a670d77e","displayName":null,"userPrincipalName":"adm_alice@contoso.example","ipAddress":"87.123.40.2","userType":null,"homeTenantId":null,"homeTenantName":null}},"targetResources":[{"id":"62e90394-69f5-4237-9190-012177145e10","displayName":"Global Administrator","type":"Role","userPrincipalName":null,"groupType":null,"modifiedProperties":[]},{"id":"c1b76f8f-d0d3-4531-99c9-a512b24df856","displayName":null,"type":"Request","userPrincipalName":null,"groupType":null,"modifiedProperties":[]},{"id":"3845d718-d1e0-5bb9-9d95-3478a670d77e","displayName":"Alice Nguyen (admin)","type":"User","userPrincipalName":"adm_alice@contoso.example","groupType":null,"modifiedProperties":[]}],"additionalDetails":[{"key":"RoleDefinitionOriginId","value":"62e90394-69f5-4237-9190-012177145e10"},{"key":"StartTime","value":"2026-03-02T09:14:31.2999550Z"},{"key":"ExpirationTime","value":"2026-03-02T13:14:31.2999550Z"}]}`

// Global Administrator assigned to an emergency access account outside
// PIM, diagnostic-settings shape.
const dashAuditDiagnostic = `{"time":"2026-03-02T10:39:51.9312625Z","resourceId":"/tenants/72f988bf-86f1-41af-91ab-2d7cd011db47/providers/Microsoft.aadiam","operationName":"Add member to role","operationVersion":"1.0","category":"AuditLogs","tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","resultSignature":"None","durationMs":0,"callerIpAddress":"198.51.100.20","correlationId":"b425f2d7-2245-4952-b599-61dff8054f2b","identity":"Mallory Ops","Level":4,"properties":{"id":"Directory_b425f2d7-2245-4952-b599-61dff8054f2b_FLAW0_72812697","category":"RoleManagement","correlationId":"b425f2d7-2245-4952-b599-61dff8054f2b","result":"success","resultReason":"","activityDisplayName":"Add member to role","activityDateTime":"2026-03-02T10:39:51.9312625+00:00","loggedByService":"Core Directory","operationType":"Assign","userAgent":null,"initiatedBy":{"user":{"id":"3bd47e42-37c9-442f-a2b4-f04de61ef0ce","displayName":"Mallory Ops","userPrincipalName":"mallory@contoso.example","ipAddress":"198.51.100.20","roles":[]}},"targetResources":[{"id":"b7c1e0f2-1111-4a4a-9c9c-0123456789ab","displayName":null,"type":"User","userPrincipalName":"breakglass1@contoso.example","modifiedProperties":[{"displayName":"Role.DisplayName","oldValue":null,"newValue":"\"Global Administrator\""},{"displayName":"Role.TemplateId","oldValue":null,"newValue":"\"62e90394-69f5-4237-9190-012177145e10\""}],"administrativeUnits":[]}],"additionalDetails":[]}}`

// dashDirectory is a directory scan's record of an unused admin account.
const dashDirectory = `{"id":"dirscan-20260302T120000Z-3845d718-d1e0-5bb9-9d95-3478a670d77e","recordType":"privilegedUser","scanDateTime":"2026-03-02T12:00:00Z","tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","userId":"3845d718-d1e0-5bb9-9d95-3478a670d77e","userPrincipalName":"adm_alice@contoso.example","userDisplayName":"Alice Nguyen (admin)","userType":"Member","accountEnabled":true,"createdDateTime":"2024-01-10T09:00:00Z","lastSignInDateTime":"2025-11-20T08:12:00Z","lastSignInSource":"graph","mfaRegistered":true,"methodsRegistered":["fido2"],"roles":[{"name":"Global Administrator","templateId":"62e90394-69f5-4237-9190-012177145e10","assignment":"eligible"}]}`

var dashGlobalAdmin = entra.RoleHeld{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10",
	Assignment: "eligible", Via: "direct", Privileged: true}

// dashRecords are records as the runner hands them to outputs: decoded,
// tagged by the privilege stage, with context and monitor hits.
func dashRecords(t testing.TB) []*entra.Record {
	t.Helper()
	cases := []struct {
		name   string
		raw    string
		enrich func(*entra.Record)
	}{
		{"emergency sign-in off hours, not from a PAW", dashSignInDiagnostic, func(r *entra.Record) {
			r.Actor.Privileged, r.Actor.Emergency, r.Actor.Known = true, true, true
			r.Actor.Roles = []entra.RoleHeld{dashGlobalAdmin}
			r.Context.Geo = &entra.Geo{CountryISO: "NL", City: "Amsterdam", Lat: 52.3759, Lon: 4.8975, ASN: 64496, ASOrg: "Example Transit B.V."}
			r.Context.Device = &entra.Device{PAW: false, Reason: "no device ID: not a registered PAW", Browser: "Edge 122.0.0", OS: "Windows10"}
			r.Context.WorkHours = &entra.WorkHours{Inside: false, LocalTime: "2026-03-03T00:14:05+01:00", Schedule: "emea-office"}
			r.Hits = []entra.Hit{
				{ID: "breakglass.signin", Title: "Emergency access account sign-in", Risk: "high", Source: "signin", Reason: "upn=breakglass1@contoso.example", Notes: "Confirm with the account's custodians at once."},
				{ID: "signin.off_hours", Title: "Privileged sign-in outside working hours", Risk: "medium", Source: "signin", Reason: "localTime=2026-03-03T00:14:05+01:00"},
				{ID: "pim.elevation_not_paw", Title: "Privileged sign-in from a device that is not a PAW/SAW", Risk: "high", Source: "signin", Reason: "reason=no device ID: not a registered PAW"},
			}
		}},
		{"admin sign-in from a PAW in working hours", dashSignInGraph, func(r *entra.Record) {
			r.Actor.Privileged, r.Actor.Known = true, true
			r.Actor.Roles = []entra.RoleHeld{dashGlobalAdmin}
			r.Context.Geo = &entra.Geo{CountryISO: "DE", City: "Berlin", Lat: 52.5244, Lon: 13.4105, ASN: 3320, ASOrg: "Deutsche Telekom AG"}
			r.Context.Device = &entra.Device{ID: "9d0a4c2e-18b7-4f3d-a6e5-7c1b2d3e4f50", PAW: true, Reason: "registered PAW", Compliant: true, Managed: true, TrustType: "Azure AD joined", Browser: "Edge 122.0.0", OS: "Windows10"}
			r.Context.WorkHours = &entra.WorkHours{Inside: true, LocalTime: "2026-03-02T09:12:44+01:00", Schedule: "emea-office"}
		}},
		{"PIM activation", dashPIMActivation, func(r *entra.Record) {
			r.Actor.Privileged, r.Actor.Known = true, true
			r.Actor.Roles = []entra.RoleHeld{dashGlobalAdmin}
			for i := range r.Audit.Targets {
				if strings.EqualFold(r.Audit.Targets[i].Type, "user") {
					r.Audit.Targets[i].Privileged, r.Audit.Targets[i].Known = true, true
				}
			}
			r.Hits = []entra.Hit{{ID: "pim.elevation", Title: "PIM role activation", Risk: "medium", Source: "audit", Reason: "role=Global Administrator user=adm_alice@contoso.example success"}}
		}},
		{"role assigned to an emergency account outside PIM", dashAuditDiagnostic, func(r *entra.Record) {
			r.Actor.Known = true
			r.Audit.Targets[0].Privileged, r.Audit.Targets[0].Emergency, r.Audit.Targets[0].Known = true, true, true
			r.Hits = []entra.Hit{
				{ID: "breakglass.role_change", Title: "Emergency access account role changed", Risk: "high", Source: "audit", Reason: "target=breakglass1@contoso.example"},
				{ID: "pim.role_assigned_outside_pim", Title: "Privileged role assigned outside PIM", Risk: "high", Source: "audit", Reason: "Role.DisplayName=Global Administrator"},
			}
		}},
		{"directory scan: unused admin account", dashDirectory, func(r *entra.Record) {
			r.Actor.Privileged, r.Actor.Known = true, true
			r.Actor.Roles = []entra.RoleHeld{dashGlobalAdmin}
			r.Hits = []entra.Hit{{ID: "review.unused_privileged_account", Title: "Privileged account not used", Risk: "medium", Source: "directory", Reason: "daysSinceSignIn=102"}}
		}},
	}
	var dec entra.Decoder
	var out []*entra.Record
	for _, c := range cases {
		rec := &entra.Record{Origin: c.name}
		if err := dec.Decode([]byte(c.raw), rec); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		c.enrich(rec)
		out = append(out, rec)
	}
	return out
}

// ---- what the output sends -------------------------------------------------

// dashSent is what HEC receives from the Encoder: indexed field names,
// event JSON paths in Splunk's notation (privtrail.monitors{}.id), the
// sourcetypes the output can set and its source.
type dashSent struct {
	indexed     map[string]bool
	paths       map[string]bool
	sourcetypes map[string]bool
	source      string
}

func dashEncode(t testing.TB) dashSent {
	t.Helper()
	s := dashSent{indexed: map[string]bool{}, paths: map[string]bool{}, sourcetypes: map[string]bool{}}
	// What the output sends under either envelope setting: a Graph record
	// goes out in the diagnostic envelope (azure:monitor:aad) by default,
	// as read (the add-on's Graph sourcetypes) with envelope: as_read, and
	// the dashboards serve both.
	for _, envelope := range []string{"diagnostic", "as_read"} {
		enc := NewEncoder(Config{Index: "entra", Envelope: envelope})
		s.source = enc.Source
		for _, rec := range dashRecords(t) {
			item, err := enc.Encode(nil, rec, rec.AppendJSON(nil))
			if err != nil {
				t.Fatalf("%s: %v", rec.Origin, err)
			}
			var env struct {
				Sourcetype string         `json:"sourcetype"`
				Event      any            `json:"event"`
				Fields     map[string]any `json:"fields"`
			}
			if err := json.Unmarshal(item, &env); err != nil {
				t.Fatalf("%s: %v", rec.Origin, err)
			}
			for k := range env.Fields {
				s.indexed[k] = true
			}
			dashPaths(s.paths, "", env.Event)
			s.sourcetypes[env.Sourcetype] = true
		}
		// Every sourcetype the configuration gives some record.
		categories := []string{"", "SignInLogs", "AuditLogs", "UserRiskEvents", "ServicePrincipalRiskEvents", "RiskyUsers",
			"RiskyServicePrincipals", "MicrosoftGraphActivityLogs", "ProvisioningLogs", "NetworkAccessTrafficLogs"}
		for _, st := range entra.Streams {
			for _, sh := range []entra.Shape{entra.ShapeGraph, entra.ShapeDiagnostic} {
				for _, c := range categories {
					s.sourcetypes[enc.Sourcetype(&entra.Record{Stream: st, Shape: sh, LogCategory: c})] = true
				}
			}
		}
	}
	return s
}

// dashPaths adds every path of v as Splunk's JSON extraction names it:
// a.b for objects, a{} for arrays and a{}.b inside them.
func dashPaths(paths map[string]bool, prefix string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			paths[p] = true
			dashPaths(paths, p, x)
		}
	case []any:
		p := prefix + "{}"
		paths[p] = true
		for _, x := range v {
			dashPaths(paths, p, x)
		}
	}
}

// ---- what the searches use ----------------------------------------------------

// dashRef is one name a search uses: an indexed field, an event JSON path,
// a sourcetype or a source.
type dashRef struct {
	kind, name, where string
}

// metadata fields every event has, whatever the Encoder writes.
var dashMetadata = map[string]bool{"index": true, "source": true, "sourcetype": true, "host": true, "_time": true, "_raw": true}

var (
	dashToken       = regexp.MustCompile(`\$([A-Za-z_][A-Za-z0-9_.]*)\$`)
	dashSourcetype  = regexp.MustCompile(`\bsourcetype\s*(?:=|::)\s*(?:"([^"]*)"|([^\s()|"]+))`)
	dashSource      = regexp.MustCompile(`\bsource\s*(?:=|::)\s*(?:"([^"]*)"|([^\s()|"]+))`)
	dashSearchTerm  = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_.{}]*)\s*(::|!=|=)`)
	dashPrivtrail   = regexp.MustCompile(`\bprivtrail(?:\.[A-Za-z0-9_]+(?:\{\})?)+`)
	dashIndexedName = regexp.MustCompile(`\bprivtrail_[A-Za-z0-9_]+\b`)
	dashQuotedField = regexp.MustCompile(`'([A-Za-z_][A-Za-z0-9_.{}]*)'`)
	dashArg         = regexp.MustCompile(`(\w+)\s*=\s*("[^"]*"|\S+)|(\S+)`)
	dashQuoted      = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

// dashPipeline splits SPL into its commands at the pipes outside quotes,
// and names each command (the first, without a leading pipe, is search).
func dashPipeline(spl string) [][2]string {
	var cmds [][2]string
	var cur strings.Builder
	inQuote, first := false, true
	flush := func() {
		c := strings.TrimSpace(cur.String())
		cur.Reset()
		if c == "" {
			first = false
			return
		}
		name := "search"
		if !first {
			name, c, _ = strings.Cut(c, " ")
			name = strings.ToLower(name)
		}
		first = false
		cmds = append(cmds, [2]string{name, strings.TrimSpace(c)})
	}
	for i := 0; i < len(spl); i++ {
		switch ch := spl[i]; {
		case ch == '\\' && inQuote && i+1 < len(spl):
			cur.WriteByte(ch)
			i++
			cur.WriteByte(spl[i])
			continue
		case ch == '"':
			inQuote = !inQuote
		case ch == '|' && !inQuote:
			flush()
			continue
		}
		cur.WriteByte(spl[i])
	}
	flush()
	return cmds
}

// dashSPLRefs returns the names one search uses. where names the search
// in messages.
func dashSPLRefs(spl, where string) []dashRef {
	var refs []dashRef
	add := func(kind, name string) { refs = append(refs, dashRef{kind, name, where}) }
	field := func(name string) {
		switch {
		case dashMetadata[name]:
		case strings.ContainsAny(name, ".{"):
			add("json", name)
		default:
			add("indexed", name)
		}
	}
	for _, m := range dashSourcetype.FindAllStringSubmatch(spl, -1) {
		add("sourcetype", m[1]+m[2])
	}
	for _, m := range dashSource.FindAllStringSubmatch(spl, -1) {
		add("source", m[1]+m[2])
	}
	// spath outputs, so that spath input=<output> path=<relative> resolves.
	outputs := map[string]string{}
	for _, cmd := range dashPipeline(spl) {
		name, args := cmd[0], cmd[1]
		bare := dashQuoted.ReplaceAllString(args, `""`)
		switch name {
		case "search":
			for _, m := range dashSearchTerm.FindAllStringSubmatch(bare, -1) {
				if m[2] == "::" && !dashMetadata[m[1]] {
					add("indexed", m[1])
				} else {
					field(m[1])
				}
			}
		case "tstats":
			lower := strings.ToLower(bare)
			where, by := "", ""
			if i := strings.Index(lower, " where "); i >= 0 {
				where = bare[i+len(" where "):]
				lower = lower[i+len(" where "):]
			}
			if i := strings.Index(lower, " by "); i >= 0 {
				where, by = where[:i], where[i+len(" by "):]
			} else if i := strings.Index(strings.ToLower(bare), " by "); i >= 0 && where == "" {
				by = bare[i+len(" by "):]
			}
			for _, m := range dashSearchTerm.FindAllStringSubmatch(where, -1) {
				field(m[1])
			}
			for _, f := range strings.FieldsFunc(by, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
				if !strings.Contains(f, "=") { // span=1h
					field(f)
				}
			}
		case "spath":
			var input, output, path string
			for _, m := range dashArg.FindAllStringSubmatch(args, -1) {
				v := strings.Trim(m[2], `"`)
				switch strings.ToLower(m[1]) {
				case "input":
					input = v
				case "output":
					output = v
				case "path":
					path = v
				case "":
					if path == "" {
						path = m[3]
					}
				}
			}
			if path == "" {
				continue // extract-all
			}
			abs := path
			if input != "" && input != "_raw" {
				base, ok := outputs[input]
				if !ok {
					add("json", input+" (an spath input no earlier spath wrote)")
					continue
				}
				abs = base + "." + path
			}
			add("json", abs)
			if output == "" {
				output = path
			}
			outputs[output] = abs
		}
		// Names that are privtrail's wherever they appear.
		for _, m := range dashPrivtrail.FindAllString(bare, -1) {
			add("json", m)
		}
		for _, m := range dashIndexedName.FindAllString(bare, -1) {
			add("indexed", m)
		}
		for _, m := range dashQuotedField.FindAllStringSubmatch(args, -1) {
			if strings.ContainsAny(m[1], ".{") {
				add("json", m[1])
			}
		}
	}
	return refs
}

// ---- the check ----------------------------------------------------------------

type dashDefinition struct {
	DataSources map[string]struct {
		Type    string         `json:"type"`
		Options map[string]any `json:"options"`
	} `json:"dataSources"`
	Visualizations map[string]struct {
		Type        string            `json:"type"`
		DataSources map[string]string `json:"dataSources"`
	} `json:"visualizations"`
	Inputs map[string]struct {
		Type    string `json:"type"`
		Options struct {
			Token        string `json:"token"`
			DefaultValue any    `json:"defaultValue"`
		} `json:"options"`
	} `json:"inputs"`
	Layout struct {
		Structure []struct {
			Item string `json:"item"`
		} `json:"structure"`
		GlobalInputs []string `json:"globalInputs"`
	} `json:"layout"`
}

// dashCheck returns what is wrong with the dashboard definition data.
func dashCheck(data []byte, sent dashSent) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	var d dashDefinition
	if err := json.Unmarshal(data, &d); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	if len(d.DataSources) == 0 || len(d.Visualizations) == 0 {
		bad("no dataSources or visualizations")
	}

	// Tokens a search may use: the inputs' (with their defaults) and the
	// time range's.
	tokens := map[string]string{}
	for id, in := range d.Inputs {
		if in.Options.Token == "" {
			bad("input %s has no token", id)
			continue
		}
		if in.Type == "input.timerange" {
			tokens[in.Options.Token+".earliest"], tokens[in.Options.Token+".latest"] = "-24h", "now"
			continue
		}
		def, ok := in.Options.DefaultValue.(string)
		if !ok {
			bad("input %s: a search token needs a default value", id)
		}
		tokens[in.Options.Token] = def
	}
	for _, id := range d.Layout.GlobalInputs {
		if _, ok := d.Inputs[id]; !ok {
			bad("layout.globalInputs names %s, not an input", id)
		}
	}
	placed := map[string]bool{}
	for _, s := range d.Layout.Structure {
		if _, ok := d.Visualizations[s.Item]; !ok {
			bad("the layout places %s, not a visualization", s.Item)
		}
		placed[s.Item] = true
	}
	used := map[string]bool{}
	for id, v := range d.Visualizations {
		if !placed[id] {
			bad("visualization %s is not in the layout", id)
		}
		if len(v.DataSources) == 0 && !strings.HasPrefix(v.Type, "splunk.markdown") {
			bad("visualization %s has no data source", id)
		}
		for _, ds := range v.DataSources {
			if _, ok := d.DataSources[ds]; !ok {
				bad("visualization %s uses data source %s, which is not defined", id, ds)
			}
			used[ds] = true
		}
	}

	var refs []dashRef
	for id, ds := range d.DataSources {
		if !used[id] {
			bad("data source %s is not used by any visualization", id)
		}
		if ds.Type != "ds.search" && ds.Type != "ds.chain" {
			bad("data source %s: type %s", id, ds.Type)
			continue
		}
		q, _ := ds.Options["query"].(string)
		if strings.TrimSpace(q) == "" {
			bad("data source %s has no query", id)
			continue
		}
		q = dashToken.ReplaceAllStringFunc(q, func(tok string) string {
			name := strings.Trim(tok, "$")
			v, ok := tokens[name]
			if !ok {
				bad("data source %s: token %s is set by no input", id, tok)
			}
			return v
		})
		refs = append(refs, dashSPLRefs(q, "data source "+id)...)
	}

	for _, r := range refs {
		switch r.kind {
		case "indexed":
			if !sent.indexed[r.name] {
				bad("%s: %s is not an indexed field the splunk output sends (fields: %v)", r.where, r.name, dashKeys(sent.indexed))
			}
		case "json":
			if !sent.paths[r.name] {
				bad("%s: %s is not a path of the events the splunk output sends", r.where, r.name)
			}
		case "sourcetype":
			if !sent.sourcetypes[r.name] {
				bad("%s: sourcetype %s is not one the splunk output sets (%v)", r.where, r.name, dashKeys(sent.sourcetypes))
			}
		case "source":
			if r.name != sent.source {
				bad("%s: source %s, but the splunk output's source is %s", r.where, r.name, sent.source)
			}
		}
	}
	sort.Strings(problems)
	return problems
}

func dashKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ---- tests --------------------------------------------------------------------

func TestDashboardsSearchSentFields(t *testing.T) {
	data, err := os.ReadFile(dashFile)
	if err != nil {
		t.Fatal(err)
	}
	sent := dashEncode(t)
	for _, p := range dashCheck(data, sent) {
		t.Error(p)
	}

	// The check has something to check: the names the panels were built on.
	var d dashDefinition
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for id, ds := range d.DataSources {
		q, _ := ds.Options["query"].(string)
		for _, r := range dashSPLRefs(q, id) {
			seen[r.kind+" "+r.name] = true
		}
	}
	for _, want := range []string{
		"indexed privtrail_monitor", "indexed privtrail_risk", "indexed privtrail_privileged",
		"indexed privtrail_emergency_access", "indexed privtrail_stream", "indexed privtrail_user",
		"json privtrail.monitors{}", "json privtrail.monitors{}.id", "json privtrail.monitors{}.title", "json privtrail.monitors{}.risk",
		"json privtrail.geo.lat", "json privtrail.geo.lon", "json privtrail.work_hours.inside", "json privtrail.device.paw",
		"json privtrail.user.upn", "sourcetype azure:aad:signin", "sourcetype azure:aad:audit", "sourcetype azure:monitor:aad",
	} {
		if !seen[want] {
			t.Errorf("no search uses %s: did the extraction break?", want)
		}
	}
	t.Logf("%d names used: %s", len(seen), strings.Join(dashKeys(seen), ", "))
}

func TestDashboardsCheckCatchesWrongFields(t *testing.T) {
	data, err := os.ReadFile(dashFile)
	if err != nil {
		t.Fatal(err)
	}
	sent := dashEncode(t)
	for _, c := range []struct{ what, old, new, want string }{
		{"indexed field in tstats by", `by _time, privtrail_risk span=1h`, `by _time, privtrail_severity span=1h`, "privtrail_severity"},
		{"indexed field in tstats where", `privtrail_monitor=\"pim.elevation\"`, `privtrail_monitors=\"pim.elevation\"`, "privtrail_monitors is not an indexed field"},
		{"indexed field term", `privtrail_privileged::true`, `privtrail_admin::true`, "privtrail_admin"},
		{"indexed field that is not privtrail's", `by _time, privtrail_user span=1d`, `by _time, upn span=1d`, "upn is not an indexed field"},
		{"event JSON path", `path=privtrail.work_hours.inside `, `path=privtrail.work_hours.inside_hours `, "privtrail.work_hours.inside_hours"},
		{"relative spath", `spath input=hit path=title`, `spath input=hit path=name`, "privtrail.monitors{}.name"},
		{"original record path", `path=properties.location.geoCoordinates.latitude`, `path=properties.location.geo.latitude`, "properties.location.geo.latitude"},
		{"array notation", `path=privtrail.targets{}.upn`, `path=privtrail.targets.upn`, "privtrail.targets.upn is not a path"},
		{"sourcetype", `sourcetype=\"azure:aad:audit\"`, `sourcetype=\"azure:ad:audit\"`, "sourcetype azure:ad:audit"},
		{"source", `"defaultValue": "privtrail"`, `"defaultValue": "entra-logs"`, "source entra-logs"},
		{"undefined token", `index=$idx$`, `index=$index$`, "token $index$ is set by no input"},
		{"missing data source", `"primary": "ds_top_monitors"`, `"primary": "ds_top_monitor"`, "ds_top_monitor, which is not defined"},
	} {
		t.Run(c.what, func(t *testing.T) {
			if !strings.Contains(string(data), c.old) {
				t.Fatalf("%s no longer contains %s: update this case", dashFile, c.old)
			}
			bad := strings.Replace(string(data), c.old, c.new, 1)
			problems := dashCheck([]byte(bad), sent)
			found := false
			for _, p := range problems {
				found = found || strings.Contains(p, c.want)
			}
			if !found {
				t.Errorf("replacing %s by %s: want a problem mentioning %q, got %q", c.old, c.new, c.want, problems)
			}
		})
	}
}

func TestDashboardsSPLRefs(t *testing.T) {
	spl := `| tstats count where index=main source="privtrail" (sourcetype="azure:aad:signin" OR sourcetype=azure:monitor:aad) privtrail_monitor="a|b" by _time, privtrail_risk, privtrail_user span=1h
| timechart span=1h sum(count) by privtrail_risk`
	got := map[string]bool{}
	for _, r := range dashSPLRefs(spl, "t") {
		got[r.kind+" "+r.name] = true
	}
	for _, want := range []string{"indexed privtrail_monitor", "indexed privtrail_risk", "indexed privtrail_user",
		"sourcetype azure:aad:signin", "sourcetype azure:monitor:aad", "source privtrail"} {
		if !got[want] {
			t.Errorf("tstats: %s not found in %v", want, got)
		}
	}
	if got["indexed count"] || got["indexed span"] || got["indexed index"] {
		t.Errorf("tstats: not fields: %v", got)
	}

	spl = `index=main privtrail_stream::signin userPrincipalName="x=y" location.city=Berlin
| spath path=privtrail.monitors{} output=hit
| spath privtrail.user.upn
| mvexpand hit
| spath input=hit path=id output=monitor
| eval lat=coalesce('privtrail.geo.lat', 'properties.location.geoCoordinates.latitude')
| stats count by monitor`
	got = map[string]bool{}
	for _, r := range dashSPLRefs(spl, "t") {
		got[r.kind+" "+r.name] = true
	}
	for _, want := range []string{"indexed privtrail_stream", "indexed userPrincipalName", "json location.city",
		"json privtrail.monitors{}", "json privtrail.user.upn", "json privtrail.monitors{}.id",
		"json privtrail.geo.lat", "json properties.location.geoCoordinates.latitude"} {
		if !got[want] {
			t.Errorf("search: %s not found in %v", want, got)
		}
	}
	if got["indexed x"] || got["json monitor"] || got["indexed monitor"] {
		t.Errorf("search: not fields of the event: %v", got)
	}
}
