package elastic

// The Kibana saved objects in dashboards/privtrail.ndjson may only use
// fields this package's Encoder writes. The test collects every field the
// objects name (Lens columns, KQL queries and column filters, map layers,
// the data view), encodes realistic records with the Encoder, and checks
// each field against the documents and the shipped mappings.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

const dashFile = "dashboards/privtrail.ndjson"

// A privileged admin's interactive sign-in, Graph shape, as the signIns API
// returns it.
const dashSignInGraph = `{"id":"5e3b9c1a-7f4d-4a2e-9b61-2c8d0e4f7a10","createdDateTime":"2026-03-02T08:12:44.5120000Z","userDisplayName":"Alice Nguyen (admin)","userPrincipalName":"adm_alice@contoso.example","userId":"3845d718-d1e0-5bb9-9d95-3478a670d77e","appId":"c44b4083-3bb0-49c1-b47d-974e53cbdf3c","appDisplayName":"Azure Portal","ipAddress":"87.123.40.2","clientAppUsed":"Browser","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0","correlationId":"0c6f2b7e-3a51-4d8e-8f9a-6b2d1c0e5a44","conditionalAccessStatus":"success","isInteractive":true,"riskDetail":"none","riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none","riskEventTypes_v2":[],"resourceDisplayName":"Windows Azure Service Management API","resourceId":"797f4846-ba00-4fd7-ba43-dac1f8f63013","authenticationRequirement":"multiFactorAuthentication","userType":"member","autonomousSystemNumber":3320,"status":{"errorCode":0,"failureReason":"Other.","additionalDetails":null},"deviceDetail":{"deviceId":"9d0a4c2e-18b7-4f3d-a6e5-7c1b2d3e4f50","displayName":"PAW-ALICE","operatingSystem":"Windows10","browser":"Edge 122.0.0","isCompliant":true,"isManaged":true,"trustType":"Azure AD joined"},"location":{"city":"Berlin","state":"Berlin","countryOrRegion":"DE","geoCoordinates":{"altitude":null,"latitude":52.52,"longitude":13.405}},"appliedConditionalAccessPolicies":[]}`

// A PIM role activation completed, Graph shape (directoryAudits).
const dashPIMActivation = `{"id":"30987df2-c579-48d2-b490-fe31c0b6e310","category":"RoleManagement","correlationId":"fdfd3c2f-e60e-4ecd-b3fa-1747339652f0","result":"success","resultReason":"INC-4411: tenant-wide Defender onboarding","activityDisplayName":"Add member to role completed (PIM activation)","activityDateTime":"2026-03-02T09:14:31.2999550Z","loggedByService":"PIM","operationType":"Add","userAgent":null,"initiatedBy":{"app":null,"user":{"id":"3845d718-d1e0-5bb9-9d95-3478a670d77e","displayName":null,"userPrincipalName":"adm_alice@contoso.example","ipAddress":"87.123.40.2","userType":null,"homeTenantId":null,"homeTenantName":null}},"targetResources":[{"id":"62e90394-69f5-4237-9190-012177145e10","displayName":"Global Administrator","type":"Role","userPrincipalName":null,"groupType":null,"modifiedProperties":[]},{"id":"c1b76f8f-d0d3-4531-99c9-a512b24df856","displayName":null,"type":"Request","userPrincipalName":null,"groupType":null,"modifiedProperties":[]},{"id":"3845d718-d1e0-5bb9-9d95-3478a670d77e","displayName":"Alice Nguyen (admin)","type":"User","userPrincipalName":"adm_alice@contoso.example","groupType":null,"modifiedProperties":[]}],"additionalDetails":[{"key":"RoleDefinitionOriginId","value":"62e90394-69f5-4237-9190-012177145e10"},{"key":"StartTime","value":"2026-03-02T09:14:31.2999550Z"},{"key":"ExpirationTime","value":"2026-03-02T13:14:31.2999550Z"}]}`

var dashGlobalAdmin = entra.RoleHeld{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10",
	Assignment: "eligible", Via: "direct", Privileged: true}

// dashRecords are records as the runner hands them to outputs: decoded,
// tagged by the privilege stage, with context and monitor hits.
func dashRecords(t testing.TB) []*entra.Record {
	t.Helper()
	file := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "records", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSpace(b)
	}
	cases := []struct {
		name   string
		raw    []byte
		enrich func(*entra.Record)
	}{
		{"emergency sign-in off hours, not from a PAW", file("signin_diagnostic"), func(r *entra.Record) {
			r.Actor.Privileged, r.Actor.Emergency, r.Actor.Known = true, true, true
			r.Actor.Roles = []entra.RoleHeld{dashGlobalAdmin}
			r.Context.Geo = &entra.Geo{CountryISO: "NL", City: "Amsterdam", Lat: 52.3759, Lon: 4.8975, ASN: 64496, ASOrg: "Example Transit B.V."}
			r.Context.Device = &entra.Device{ID: "", PAW: false, Reason: "no device ID: not a registered PAW", Browser: "Edge 122.0.0", OS: "Windows10"}
			r.Context.WorkHours = &entra.WorkHours{Inside: false, LocalTime: "2026-03-03T00:14:05+01:00", Schedule: "emea-office"}
			r.Hits = []entra.Hit{
				{ID: "breakglass.signin", Title: "Emergency access account sign-in", Risk: "high", Source: "signin", Reason: "upn=breakglass1@contoso.example", Notes: "Confirm with the account's custodians at once."},
				{ID: "signin.off_hours", Title: "Privileged sign-in outside working hours", Risk: "medium", Source: "signin", Reason: "localTime=2026-03-03T00:14:05+01:00"},
				{ID: "pim.elevation_not_paw", Title: "Privileged sign-in from a device that is not a PAW/SAW", Risk: "high", Source: "signin", Reason: "reason=no device ID: not a registered PAW"},
			}
		}},
		{"admin sign-in from a PAW in working hours", []byte(dashSignInGraph), func(r *entra.Record) {
			r.Actor.Privileged, r.Actor.Known = true, true
			r.Actor.Roles = []entra.RoleHeld{dashGlobalAdmin}
			r.Context.Geo = &entra.Geo{CountryISO: "DE", City: "Berlin", Lat: 52.5244, Lon: 13.4105, ASN: 3320, ASOrg: "Deutsche Telekom AG"}
			r.Context.Device = &entra.Device{ID: "9d0a4c2e-18b7-4f3d-a6e5-7c1b2d3e4f50", PAW: true, Reason: "registered PAW", Compliant: true, Managed: true, TrustType: "Azure AD joined", Browser: "Edge 122.0.0", OS: "Windows10"}
			r.Context.WorkHours = &entra.WorkHours{Inside: true, LocalTime: "2026-03-02T09:12:44+01:00", Schedule: "emea-office"}
		}},
		{"PIM activation", []byte(dashPIMActivation), func(r *entra.Record) {
			r.Actor.Privileged, r.Actor.Known = true, true
			r.Actor.Roles = []entra.RoleHeld{dashGlobalAdmin}
			for i := range r.Audit.Targets {
				if strings.EqualFold(r.Audit.Targets[i].Type, "user") {
					r.Audit.Targets[i].Privileged, r.Audit.Targets[i].Known = true, true
					r.Audit.Targets[i].Roles = []entra.RoleHeld{dashGlobalAdmin}
				}
			}
			r.Hits = []entra.Hit{{ID: "pim.elevation", Title: "PIM role activation", Risk: "medium", Source: "audit", Reason: "role=Global Administrator user=adm_alice@contoso.example success"}}
		}},
		{"role assigned to an emergency account outside PIM", file("audit_diagnostic"), func(r *entra.Record) {
			r.Actor.Known = true
			r.Audit.Targets[0].Privileged, r.Audit.Targets[0].Emergency, r.Audit.Targets[0].Known = true, true, true
			r.Hits = []entra.Hit{
				{ID: "breakglass.role_change", Title: "Emergency access account role changed", Risk: "high", Source: "audit", Reason: "target=bob@contoso.example"},
				{ID: "pim.role_assigned_outside_pim", Title: "Privileged role assigned outside PIM", Risk: "high", Source: "audit", Reason: "Role.DisplayName=Global Administrator"},
			}
		}},
	}
	var dec entra.Decoder
	var out []*entra.Record
	for _, c := range cases {
		rec := &entra.Record{Origin: c.name}
		if err := dec.Decode(c.raw, rec); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		c.enrich(rec)
		out = append(out, rec)
	}
	return out
}

// ---- what the output emits --------------------------------------------------

// dashEmitted is every field path of the encoded documents (objects and
// leaves, arrays flattened as Elasticsearch does), with the JSON kind of
// its values.
type dashEmitted map[string]string

func dashEncode(t testing.TB) dashEmitted {
	t.Helper()
	enc := NewEncoder(defaultNaming)
	em := dashEmitted{}
	for _, rec := range dashRecords(t) {
		item, err := enc.Encode(nil, rec, nil)
		if err != nil {
			t.Fatalf("%s: %v", rec.Origin, err)
		}
		lines := bytes.SplitN(item, []byte("\n"), 3)
		if len(lines) < 2 {
			t.Fatalf("%s: not a bulk item: %q", rec.Origin, item)
		}
		var doc map[string]any
		if err := json.Unmarshal(lines[1], &doc); err != nil {
			t.Fatalf("%s: %v", rec.Origin, err)
		}
		em.add("", doc)
	}
	return em
}

func (em dashEmitted) add(prefix string, v any) {
	switch v := v.(type) {
	case map[string]any:
		if prefix != "" {
			em.set(prefix, "object")
		}
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			em.add(p, x)
		}
	case []any:
		for _, x := range v {
			em.add(prefix, x)
		}
	case string:
		em.set(prefix, "string")
	case bool:
		em.set(prefix, "boolean")
	case float64:
		em.set(prefix, "number")
	}
}

func (em dashEmitted) set(p, kind string) {
	if old, ok := em[p]; !ok || old == "object" {
		em[p] = kind
	}
}

// dashMappings are the field types of templates/privtrail@mappings.json,
// multi-fields included (user.name.text).
func dashMappings(t testing.TB) map[string]string {
	t.Helper()
	b, err := templateFiles.ReadFile("templates/privtrail@mappings.json")
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Template struct {
			Mappings struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	var walk func(prefix string, props map[string]json.RawMessage)
	walk = func(prefix string, props map[string]json.RawMessage) {
		for name, raw := range props {
			var m struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
				Fields     map[string]struct {
					Type string `json:"type"`
				} `json:"fields"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("mapping %s%s: %v", prefix, name, err)
			}
			p := prefix + name
			switch {
			case m.Type != "":
				types[p] = m.Type
			case m.Properties != nil:
				types[p] = "object"
			}
			for sub, f := range m.Fields {
				types[p+"."+sub] = f.Type
			}
			if m.Properties != nil {
				walk(p+".", m.Properties)
			}
		}
	}
	walk("", tmpl.Template.Mappings.Properties)
	return types
}

// ---- what the saved objects reference ---------------------------------------

// dashRef is one field a saved object names, and what it is used for:
// "agg" (a Lens bucket or metric, a map metric or sort: needs doc values),
// "geo" (a map layer's geo field), "time" (the data view's time field),
// "query" (KQL) or "show" (tooltips, field labels).
type dashRef struct {
	field, use, where string
}

type dashObject struct {
	ID                   string          `json:"id"`
	Type                 string          `json:"type"`
	Attributes           json.RawMessage `json:"attributes"`
	References           []dashReference `json:"references"`
	CoreMigrationVersion string          `json:"coreMigrationVersion"`
	TypeMigrationVersion string          `json:"typeMigrationVersion"`
}

type dashReference struct {
	Name, Type, ID string
}

func dashParse(data []byte) ([]dashObject, error) {
	var objs []dashObject
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			return nil, fmt.Errorf("line %d is empty (ndjson: one object per line)", n)
		}
		var o dashObject
		dec := json.NewDecoder(bytes.NewReader(line))
		if err := dec.Decode(&o); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("line %d holds more than one JSON value", n)
		}
		objs = append(objs, o)
	}
	return objs, sc.Err()
}

// dashKQLField finds the field of each `field : value` (or range) clause
// of a KQL query, once quoted strings are blanked out.
var (
	dashKQLQuoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	dashKQLField  = regexp.MustCompile(`([A-Za-z_@][A-Za-z0-9_.@-]*)\s*(?::|<=|>=|<|>)`)
)

func dashKQLFields(q string) []string {
	q = dashKQLQuoted.ReplaceAllString(q, `""`)
	var out []string
	for _, m := range dashKQLField.FindAllStringSubmatch(q, -1) {
		out = append(out, m[1])
	}
	return out
}

// dashJSONText decodes a string attribute that holds JSON (panelsJSON,
// layerListJSON, searchSourceJSON, fieldAttrs, …).
func dashJSONText(s string) (any, bool) {
	s = strings.TrimSpace(s)
	if s == "" || (s[0] != '{' && s[0] != '[') {
		return nil, false
	}
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return nil, false
	}
	return v, true
}

// dashCollect walks a saved object's attributes (JSON held in strings
// included) and returns every field it names.
func dashCollect(o dashObject) ([]dashRef, error) {
	var attrs map[string]any
	if err := json.Unmarshal(o.Attributes, &attrs); err != nil {
		return nil, fmt.Errorf("%s %s: attributes: %v", o.Type, o.ID, err)
	}
	where := o.Type + " " + o.ID
	var refs []dashRef
	add := func(field, use string) { refs = append(refs, dashRef{field, use, where}) }

	if o.Type == "index-pattern" {
		if f, _ := attrs["timeFieldName"].(string); f != "" {
			add(f, "time")
		}
		if s, _ := attrs["fieldAttrs"].(string); s != "" {
			v, _ := dashJSONText(s)
			m, _ := v.(map[string]any)
			for f := range m {
				add(f, "show")
			}
		}
		if s, _ := attrs["fields"].(string); s != "" {
			v, _ := dashJSONText(s)
			fs, _ := v.([]any)
			for _, f := range fs {
				if m, ok := f.(map[string]any); ok {
					if n, _ := m["name"].(string); n != "" && !strings.HasPrefix(n, "_") {
						add(n, "show")
					}
				}
			}
		}
		return refs, nil
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
				for _, f := range dashKQLFields(q) {
					add(f, "query")
				}
			}
			if op, _ := v["operationType"].(string); op != "" {
				if f, _ := v["sourceField"].(string); f != "" && f != "___records___" {
					add(f, "agg")
				}
			}
			if f, _ := v["geoField"].(string); f != "" {
				add(f, "geo")
			}
			if typ, _ := v["type"].(string); typ == "ES_SEARCH" {
				tips, _ := v["tooltipProperties"].([]any)
				for _, f := range tips {
					if s, _ := f.(string); s != "" {
						add(s, "show")
					}
				}
				for _, k := range []string{"sortField", "topHitsSplitField"} {
					if f, _ := v[k].(string); f != "" {
						add(f, "agg")
					}
				}
			}
			if ms, ok := v["metrics"].([]any); ok {
				for _, m := range ms {
					if m, ok := m.(map[string]any); ok {
						if f, _ := m["field"].(string); f != "" {
							add(f, "agg")
						}
					}
				}
			}
			if meta, ok := v["meta"].(map[string]any); ok {
				if f, _ := meta["key"].(string); f != "" {
					add(f, "query")
				}
			}
			if f, _ := v["term"].(string); f != "" {
				add(f, "agg")
			}
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(attrs)
	return refs, nil
}

// ---- the check ----------------------------------------------------------------

var dashAggregatable = map[string]bool{
	"keyword": true, "constant_keyword": true, "boolean": true, "long": true, "integer": true,
	"short": true, "byte": true, "double": true, "float": true, "scaled_float": true,
	"date": true, "ip": true, "geo_point": true, "wildcard": true,
}

// dashCheck returns what is wrong with the saved objects in data: fields
// the Encoder does not emit, fields of the wrong type for their use, and
// references an import would not resolve.
func dashCheck(data []byte, em dashEmitted, mapped map[string]string) []string {
	objs, err := dashParse(data)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	// The objects an import creates, and that references may name.
	byKey := map[string]dashObject{}
	for _, o := range objs {
		switch {
		case o.ID == "" || o.Type == "" || len(o.Attributes) == 0:
			bad("an object lacks id, type or attributes: %+v", o)
			continue
		case o.References == nil:
			bad("%s %s: no references array", o.Type, o.ID)
		case o.CoreMigrationVersion == "" || o.TypeMigrationVersion == "":
			bad("%s %s: coreMigrationVersion and typeMigrationVersion are needed so that Kibana migrates it", o.Type, o.ID)
		}
		switch o.Type {
		case "index-pattern", "lens", "map", "dashboard":
		default:
			bad("%s %s: unexpected type", o.Type, o.ID)
		}
		k := o.Type + "/" + o.ID
		if _, dup := byKey[k]; dup {
			bad("%s is in the file twice", k)
		}
		byKey[k] = o
	}
	resolve := func(o dashObject, name, typ string) {
		for _, r := range o.References {
			if r.Name != name {
				continue
			}
			if typ != "" && r.Type != typ {
				bad("%s %s: reference %s is a %s, want %s", o.Type, o.ID, name, r.Type, typ)
			}
			if _, ok := byKey[r.Type+"/"+r.ID]; !ok {
				bad("%s %s: reference %s names %s/%s, which is not in the file", o.Type, o.ID, name, r.Type, r.ID)
			}
			return
		}
		bad("%s %s: no reference named %s", o.Type, o.ID, name)
	}

	var refs []dashRef
	for _, o := range objs {
		r, err := dashCollect(o)
		if err != nil {
			bad("%v", err)
			continue
		}
		refs = append(refs, r...)
		var attrs map[string]any
		_ = json.Unmarshal(o.Attributes, &attrs)
		switch o.Type {
		case "index-pattern":
			title, _ := attrs["title"].(string)
			for _, ds := range defaultNaming.DataStreams() {
				if !dashMatchesAny(title, ds) {
					bad("data view %s (%q) does not match the data stream %s the output writes", o.ID, title, ds)
				}
			}
		case "lens":
			dashCheckLens(o, attrs, resolve, bad)
		case "map":
			s, _ := attrs["layerListJSON"].(string)
			v, ok := dashJSONText(s)
			layers, _ := v.([]any)
			if !ok || len(layers) == 0 {
				bad("map %s: no layerListJSON", o.ID)
			}
			for _, l := range layers {
				l, _ := l.(map[string]any)
				sd, _ := l["sourceDescriptor"].(map[string]any)
				if n, _ := sd["indexPatternRefName"].(string); n != "" {
					resolve(o, n, "index-pattern")
				}
			}
		case "dashboard":
			dashCheckPanels(o, attrs, resolve, bad)
		}
	}

	for _, r := range refs {
		if p := dashCheckField(r, em, mapped); p != "" {
			bad("%s: %s", r.where, p)
		}
	}
	sort.Strings(problems)
	return problems
}

func dashMatchesAny(patterns, name string) bool {
	for _, p := range strings.Split(patterns, ",") {
		if ok, _ := path.Match(strings.TrimSpace(p), name); ok {
			return true
		}
	}
	return false
}

// dashCheckField says what is wrong with one referenced field, or "".
func dashCheckField(r dashRef, em dashEmitted, mapped map[string]string) string {
	f := r.field
	typ, isMapped := mapped[f]
	kind, emitted := em[f]
	if !emitted {
		// A multi-field (user.name.text) is there when its parent is.
		if i := strings.LastIndexByte(f, '.'); i > 0 && isMapped {
			if _, parent := em[f[:i]]; parent {
				if _, parentMapped := mapped[f[:i]]; parentMapped {
					emitted, kind = true, "multi-field"
				}
			}
		}
	}
	if !emitted {
		return fmt.Sprintf("%s (%s) is not a field the elastic output emits", f, r.use)
	}
	if !isMapped {
		// Dynamic mapping: strings_as_keyword, booleans, numbers.
		switch kind {
		case "string":
			typ = "keyword"
		case "boolean":
			typ = "boolean"
		case "number":
			typ = "float"
		default:
			typ = "object"
		}
	}
	switch {
	case typ == "object":
		return fmt.Sprintf("%s (%s) is an object, not a field", f, r.use)
	case r.use == "geo" && typ != "geo_point":
		return fmt.Sprintf("%s is mapped %s; a map layer needs a geo_point", f, typ)
	case r.use == "time" && typ != "date":
		return fmt.Sprintf("%s is mapped %s; the time field must be a date", f, typ)
	case r.use == "agg" && !dashAggregatable[typ]:
		return fmt.Sprintf("%s is mapped %s, which cannot be aggregated or sorted on", f, typ)
	}
	return ""
}

func dashCheckLens(o dashObject, attrs map[string]any, resolve func(dashObject, string, string), bad func(string, ...any)) {
	state, _ := attrs["state"].(map[string]any)
	ds, _ := state["datasourceStates"].(map[string]any)
	fb, _ := ds["formBased"].(map[string]any)
	layers, _ := fb["layers"].(map[string]any)
	if len(layers) == 0 {
		bad("lens %s: no formBased layers", o.ID)
	}
	cols := map[string]bool{}
	for id, l := range layers {
		resolve(o, "indexpattern-datasource-layer-"+id, "index-pattern")
		l, _ := l.(map[string]any)
		columns, _ := l["columns"].(map[string]any)
		order, _ := l["columnOrder"].([]any)
		if len(order) != len(columns) {
			bad("lens %s: layer %s: columnOrder lists %d of %d columns", o.ID, id, len(order), len(columns))
		}
		for _, c := range order {
			c, _ := c.(string)
			if _, ok := columns[c]; !ok {
				bad("lens %s: layer %s: columnOrder names %q, not a column", o.ID, id, c)
			}
			cols[c] = true
		}
	}
	// Every column the visualization shows exists.
	var accessors []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for k, x := range v {
				switch k {
				case "xAccessor", "splitAccessor", "metricAccessor", "columnId", "accessor":
					if s, ok := x.(string); ok {
						accessors = append(accessors, s)
					}
				case "accessors":
					as, _ := x.([]any)
					for _, a := range as {
						s, _ := a.(string)
						accessors = append(accessors, s)
					}
				case "layerId":
					if id, _ := x.(string); layers[id] == nil {
						bad("lens %s: visualization names layer %v, not in the datasource", o.ID, x)
					}
				}
				walk(x)
			}
		}
	}
	walk(state["visualization"])
	if len(accessors) == 0 {
		bad("lens %s: the visualization shows no column", o.ID)
	}
	for _, a := range accessors {
		if !cols[a] {
			bad("lens %s: the visualization shows column %q, which no layer has", o.ID, a)
		}
	}
}

func dashCheckPanels(o dashObject, attrs map[string]any, resolve func(dashObject, string, string), bad func(string, ...any)) {
	s, _ := attrs["panelsJSON"].(string)
	var panels []struct {
		Type         string `json:"type"`
		PanelIndex   string `json:"panelIndex"`
		PanelRefName string `json:"panelRefName"`
		GridData     struct {
			X, Y, W, H int
			I          string
		} `json:"gridData"`
	}
	if err := json.Unmarshal([]byte(s), &panels); err != nil || len(panels) == 0 {
		bad("dashboard %s: panelsJSON: %v (%d panels)", o.ID, err, len(panels))
		return
	}
	var cells [][48]bool
	for _, p := range panels {
		if p.PanelIndex == "" || p.GridData.I != p.PanelIndex || p.PanelRefName == "" {
			bad("dashboard %s: panel %q needs panelIndex = gridData.i and a panelRefName", o.ID, p.PanelIndex)
			continue
		}
		resolve(o, p.PanelIndex+":"+p.PanelRefName, p.Type)
		g := p.GridData
		if g.X < 0 || g.W <= 0 || g.H <= 0 || g.X+g.W > 48 {
			bad("dashboard %s: panel %s lies outside the 48-column grid", o.ID, p.PanelIndex)
			continue
		}
		for y := g.Y; y < g.Y+g.H; y++ {
			for len(cells) <= y {
				cells = append(cells, [48]bool{})
			}
			for x := g.X; x < g.X+g.W; x++ {
				if cells[y][x] {
					bad("dashboard %s: panel %s overlaps another at (%d,%d)", o.ID, p.PanelIndex, x, y)
				}
				cells[y][x] = true
			}
		}
	}
}

// ---- tests --------------------------------------------------------------------

func TestDashboardsQueryEmittedFields(t *testing.T) {
	data, err := os.ReadFile(dashFile)
	if err != nil {
		t.Fatal(err)
	}
	em, mapped := dashEncode(t), dashMappings(t)
	for _, p := range dashCheck(data, em, mapped) {
		t.Error(p)
	}

	// The check has something to check: the fields the panels were built on.
	objs, err := dashParse(data)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		refs, err := dashCollect(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			seen[r.field] = true
		}
	}
	for _, f := range []string{"privtrail.monitors.id", "privtrail.monitors.title", "privtrail.monitors.risk",
		"privtrail.risk", "source.geo.location", "privtrail.work_hours.inside", "privtrail.device.paw",
		"privtrail.user.privileged", "privtrail.user.emergency_access", "privtrail.user.upn", "@timestamp"} {
		if !seen[f] {
			t.Errorf("no saved object references %s: did the extraction break?", f)
		}
	}
	var names []string
	for f := range seen {
		names = append(names, f)
	}
	sort.Strings(names)
	t.Logf("%d fields referenced: %s", len(names), strings.Join(names, " "))
	if len(seen) < 15 {
		t.Errorf("only %d fields referenced: %v", len(seen), seen)
	}
}

func TestDashboardsCheckCatchesWrongFields(t *testing.T) {
	data, err := os.ReadFile(dashFile)
	if err != nil {
		t.Fatal(err)
	}
	em, mapped := dashEncode(t), dashMappings(t)
	for _, c := range []struct{ what, old, new, want string }{
		{"Lens bucket field", `"sourceField":"privtrail.monitors.id"`, `"sourceField":"privtrail.monitor.id"`, "privtrail.monitor.id"},
		{"KQL query field", `privtrail.work_hours.inside : false`, `privtrail.work_hours.outside : false`, "privtrail.work_hours.outside"},
		{"KQL column filter", `"query":"privtrail.device.paw : false"`, `"query":"privtrail.device.is_paw : false"`, "privtrail.device.is_paw"},
		{"map geo field", `geoField\":\"source.geo.location`, `geoField\":\"source.geo.point`, "source.geo.point"},
		{"map tooltip", `tooltipProperties\":[\"privtrail.user.upn`, `tooltipProperties\":[\"privtrail.user.mail`, "privtrail.user.mail"},
		{"map metric", `\"field\":\"privtrail.user.upn\"`, `\"field\":\"privtrail.user.principal\"`, "privtrail.user.principal"},
		{"terms on a text field", `"sourceField":"privtrail.monitors.title"`, `"sourceField":"privtrail.monitors.reason"`, "privtrail.monitors.reason is mapped match_only_text"},
		{"data view field label", `"privtrail.device.paw\":{\"customLabel`, `"privtrail.device.saw\":{\"customLabel`, "privtrail.device.saw"},
		{"data view pattern", `"title":"logs-azure.*-privtrail"`, `"title":"logs-privtrail-*"`, "does not match the data stream"},
		{"dangling panel reference", `"type":"lens","id":"privtrail-top-monitors"`, `"type":"lens","id":"privtrail-top-monitor"`, "not in the file"},
	} {
		t.Run(c.what, func(t *testing.T) {
			if !bytes.Contains(data, []byte(c.old)) {
				t.Fatalf("%s no longer contains %s: update this case", dashFile, c.old)
			}
			bad := bytes.Replace(data, []byte(c.old), []byte(c.new), 1)
			problems := dashCheck(bad, em, mapped)
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

func TestDashboardsKQLFields(t *testing.T) {
	for q, want := range map[string][]string{
		`privtrail.user.privileged : true and privtrail.stream : "signin"`:                  {"privtrail.user.privileged", "privtrail.stream"},
		`not privtrail.monitors.id:"a : b" or (event.severity >= 2)`:                        {"privtrail.monitors.id", "event.severity"},
		`privtrail.monitors.id : *`:                                                         {"privtrail.monitors.id"},
		`@timestamp < "2026-01-01" and user.name:x`:                                         {"@timestamp", "user.name"},
		`message : "privtrail.fake : 1"`:                                                    {"message"},
		`privtrail.user.emergency_access:true or privtrail.targets.emergency_access : true`: {"privtrail.user.emergency_access", "privtrail.targets.emergency_access"},
	} {
		got := dashKQLFields(q)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: got %q, want %q", q, got, want)
		}
	}
}
