package sigma

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/privtrail/privtrail/entra"
)

const snapshot = "../../pipelines/sigma/sigmahq-azure"

// Every rule of the SigmaHQ snapshot compiles, or is skipped because
// privtrail does not read its log (only azure/pim).
func TestSnapshotLoads(t *testing.T) {
	set, err := Load(snapshot, []string{"."})
	if err != nil {
		t.Fatal(err)
	}
	compiled, skipped := 0, map[string]int{}
	for _, r := range set.Rules {
		if r.Skip != "" {
			skipped[r.Skip]++
			if r.Service != "pim" {
				t.Errorf("%s: skipped, but its logsource azure/%s is read: %s", r.File, r.Service, r.Skip)
			}
			continue
		}
		compiled++
	}
	if compiled != 116 || len(set.Rules) != 123 {
		t.Errorf("compiled %d of %d rules, want 116 of 123 (skipped: %v)", compiled, len(set.Rules), skipped)
	}
}

// For every compiled rule of the snapshot, a record derived from the
// rule's own selections fires it, and near misses do not.
//
// The generator is independent of the matcher: it reads the rule with
// go-yaml into plain maps, finds the smallest set of selections that
// makes the condition true by trying every combination with its own
// evaluator, and writes each field's value into an entra.Record through
// setters written here from record.go's documentation (not through the
// compiler's field table). A value becomes a string that satisfies its
// modifiers: contains puts text around it, startswith after, endswith
// before, all joins the values; the first value of a list stands for it.
// Near misses: each field of the chosen selections in turn gets a value
// no rule mentions; for "not filter" the filter's fields are set too.
// Where public samples exist, TestSamples checks real records as well.
func TestSnapshotRulesFire(t *testing.T) {
	set, err := Load(snapshot, []string{"."})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range set.Rules {
		if r.Skip != "" || r.Match == nil {
			continue
		}
		t.Run(filepath.Base(r.File), func(t *testing.T) {
			g, err := newGen(r)
			if err != nil {
				t.Fatal(err)
			}
			pos, broken, filters := g.records(t)
			if !r.Match(pos) {
				t.Fatalf("derived record does not fire the rule: %s", describe(pos))
			}
			for field, rec := range broken {
				if r.Match(rec) {
					t.Errorf("near miss (%s changed) fires the rule: %s", field, describe(rec))
				}
			}
			for _, rec := range filters {
				if r.Match(rec) {
					t.Errorf("near miss (a negated selection also true) fires the rule: %s", describe(rec))
				}
			}
		})
	}
}

func describe(r *entra.Record) string {
	b, _ := json.Marshal(struct {
		*entra.Record
		Raw string
	}{r, string(r.Raw)})
	if len(b) > 600 {
		b = b[:600]
	}
	return string(b)
}

// gen derives records from a rule.
type gen struct {
	service string
	sels    map[string]any
	cond    string
}

func newGen(r *Rule) (*gen, error) {
	data, err := os.ReadFile(r.File)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Logsource struct{ Service string } `yaml:"logsource"`
		Detection map[string]any           `yaml:"detection"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	g := &gen{service: doc.Logsource.Service, sels: doc.Detection}
	g.cond, _ = doc.Detection["condition"].(string)
	delete(g.sels, "condition")
	return g, nil
}

// constraint is what one field must satisfy.
type constraint struct {
	eq             any
	prefix, suffix string
	contains       []string
	isNull, hasEq  bool
}

func (c *constraint) value() any {
	if c.hasEq {
		return c.eq
	}
	return c.prefix + "<" + strings.Join(c.contains, " ") + ">" + c.suffix
}

// records returns a record that must fire the rule, near misses by the
// field changed, and records with a negated selection made true.
func (g *gen) records(t *testing.T) (*entra.Record, map[string]*entra.Record, []*entra.Record) {
	t.Helper()
	names := make([]string, 0, len(g.sels))
	for n := range g.sels {
		names = append(names, n)
	}
	sort.Strings(names)
	var best map[string]bool
	for mask := 0; mask < 1<<len(names); mask++ {
		truth := map[string]bool{}
		n := 0
		for i, name := range names {
			truth[name] = mask&(1<<i) != 0
			if truth[name] {
				n++
			}
		}
		if evalCond(g.cond, truth) && (best == nil || n < len(best)) {
			best = map[string]bool{}
			for k, v := range truth {
				if v {
					best[k] = v
				}
			}
		}
	}
	if best == nil {
		t.Fatalf("no combination of selections satisfies %q", g.cond)
	}
	cons := map[string]*constraint{}
	var keywords []string
	for name := range best {
		keywords = append(keywords, g.constrain(t, g.sels[name], cons)...)
	}
	pos := g.build(t, cons, keywords, "")
	broken := map[string]*entra.Record{}
	for field, c := range cons {
		if c.isNull {
			continue
		}
		broken[field] = g.build(t, cons, nil, field)
	}
	if len(keywords) > 0 {
		broken["keywords"] = g.build(t, cons, nil, "")
	}
	var filters []*entra.Record
	for _, name := range names {
		if best[name] {
			continue
		}
		// A selection left false whose truth would turn the condition
		// false: set its fields as well.
		truth := map[string]bool{}
		for _, k := range names {
			truth[k] = best[k] || k == name
		}
		if evalCond(g.cond, truth) {
			continue
		}
		more := map[string]*constraint{}
		for k, v := range cons {
			more[k] = v
		}
		kw := g.constrain(t, g.sels[name], more)
		filters = append(filters, g.build(t, more, append(keywords, kw...), ""))
	}
	return pos, broken, filters
}

// constrain adds the fields of a selection (its first alternative, for a
// list of maps) and returns its keywords.
func (g *gen) constrain(t *testing.T, sel any, cons map[string]*constraint) []string {
	switch x := sel.(type) {
	case map[string]any:
		for key, v := range x {
			parts := strings.Split(key, "|")
			field := strings.ToLower(parts[0])
			c := cons[field]
			if c == nil {
				c = &constraint{}
				cons[field] = c
			}
			mods := map[string]bool{}
			for _, m := range parts[1:] {
				mods[m] = true
			}
			vals, isList := v.([]any)
			if !isList {
				vals = []any{v}
			}
			if !mods["all"] {
				vals = vals[:1]
			}
			for _, val := range vals {
				s, isStr := val.(string)
				switch {
				case val == nil || isStr && s == "" && len(mods) == 0:
					c.isNull = true
				case mods["contains"]:
					c.contains = append(c.contains, s)
				case mods["startswith"]:
					c.prefix = s
				case mods["endswith"]:
					c.suffix = s
				case len(mods) == 0:
					c.eq, c.hasEq = val, true
				default:
					t.Fatalf("generator: modifiers %v not derived", parts[1:])
				}
			}
		}
	case []any:
		if m, ok := x[0].(map[string]any); ok {
			return g.constrain(t, m, cons)
		}
		return []string{fmt.Sprint(x[0])}
	default:
		t.Fatalf("generator: selection %T", sel)
	}
	return nil
}

const nearMiss = "privtrail-near-miss"

// build writes the constraints into a record; the field named by broken
// gets a value that satisfies none of them.
func (g *gen) build(t *testing.T, cons map[string]*constraint, keywords []string, broken string) *entra.Record {
	r := &entra.Record{Shape: entra.ShapeDiagnostic}
	raw := map[string]any{"properties": map[string]any{}}
	setters := setterTable[g.service]
	// Fields derived from others (the activity's provider from its
	// operation) come after those they derive from.
	fields := make([]string, 0, len(cons))
	for f := range cons {
		fields = append(fields, f)
	}
	sort.Slice(fields, func(i, j int) bool {
		return (fields[i] == "resourceprovidervalue") != (fields[j] == "resourceprovidervalue") && fields[j] == "resourceprovidervalue" || fields[i] < fields[j] && (fields[i] == "resourceprovidervalue") == (fields[j] == "resourceprovidervalue")
	})
	for _, f := range fields {
		c := cons[f]
		if c.isNull && f != broken {
			continue
		}
		set := setters[f]
		if set == nil {
			t.Fatalf("generator: no setter for %s field %q", g.service, f)
		}
		v := c.value()
		if f == broken {
			switch x := v.(type) {
			case uint64:
				v = x + 1
			case int:
				v = x + 1
			case bool:
				v = !x
			case string:
				// A boolean written as a string flips; other text misses.
				v = map[string]string{"true": "false", "false": "true"}[strings.ToLower(x)]
				if v == "" {
					v = nearMiss
				}
			default:
				v = nearMiss
			}
		}
		set(r, raw, v)
	}
	if len(keywords) > 0 {
		raw["keywords"] = "x " + strings.Join(keywords, " ") + " y"
	}
	r.Raw, _ = json.Marshal(raw)
	return r
}

func text(v any) string { return fmt.Sprint(v) }

type setter func(r *entra.Record, raw map[string]any, v any)

func props(raw map[string]any) map[string]any { return raw["properties"].(map[string]any) }

func addTarget(r *entra.Record) *entra.Target {
	r.Audit.Targets = append(r.Audit.Targets, entra.Target{})
	return &r.Audit.Targets[len(r.Audit.Targets)-1]
}

func addProperty(r *entra.Record, p entra.ModifiedProperty) {
	t := addTarget(r)
	t.ModifiedProperties = append(t.ModifiedProperties, p)
}

// setterTable writes a rule's field into a record as the decoder would
// from a Log Analytics / diagnostic record (record.go says where).
var setterTable = map[string]map[string]setter{
	"signinlogs": {
		"resulttype": func(r *entra.Record, _ map[string]any, v any) {
			n, _ := strconv.Atoi(text(v))
			r.SignIn.ErrorCode = n
		},
		"resultdescription":         func(r *entra.Record, _ map[string]any, v any) { r.SignIn.FailureReason = text(v) },
		"status":                    func(r *entra.Record, _ map[string]any, v any) { r.SignIn.AdditionalDetails = text(v) },
		"authenticationrequirement": func(r *entra.Record, _ map[string]any, v any) { r.SignIn.AuthenticationRequirement = text(v) },
		"riskstate":                 func(r *entra.Record, _ map[string]any, v any) { r.SignIn.RiskState = text(v) },
		"devicedetail.trusttype":    func(r *entra.Record, _ map[string]any, v any) { r.SignIn.Device.TrustType = text(v) },
		"devicedetail.deviceid":     func(r *entra.Record, _ map[string]any, v any) { r.SignIn.Device.DeviceID = text(v) },
		"devicedetail.iscompliant":  func(r *entra.Record, _ map[string]any, v any) { r.SignIn.Device.IsCompliant = text(v) == "true" },
		"networklocationdetails": func(_ *entra.Record, raw map[string]any, v any) {
			props(raw)["networkLocationDetails"] = json.RawMessage(rawJSON(v))
		},
		"useragent":               func(r *entra.Record, _ map[string]any, v any) { r.SignIn.UserAgent = text(v) },
		"resourcedisplayname":     func(r *entra.Record, _ map[string]any, v any) { r.SignIn.ResourceDisplayName = text(v) },
		"conditionalaccessstatus": func(r *entra.Record, _ map[string]any, v any) { r.SignIn.ConditionalAccessStatus = text(v) },
		"clientapp":               func(r *entra.Record, _ map[string]any, v any) { r.SignIn.ClientAppUsed = text(v) },
		"username":                func(r *entra.Record, _ map[string]any, v any) { r.Actor.UPN = text(v) },
		"activitydetails":         func(r *entra.Record, _ map[string]any, v any) { r.LogCategory = text(v) },
		"properties.message":      func(_ *entra.Record, raw map[string]any, v any) { props(raw)["authenticationProtocol"] = text(v) },
	},
	"auditlogs": {
		"operationname":       func(r *entra.Record, _ map[string]any, v any) { r.Audit.ActivityDisplayName = text(v) },
		"activitydisplayname": func(r *entra.Record, _ map[string]any, v any) { r.Audit.ActivityDisplayName = text(v) },
		"activitytype":        func(r *entra.Record, _ map[string]any, v any) { r.Audit.ActivityDisplayName = text(v) },
		"properties.message": func(r *entra.Record, _ map[string]any, v any) {
			// A quoted modified property is one; anything else is the
			// activity's name.
			var p struct{ DisplayName, OldValue, NewValue string }
			if json.Unmarshal([]byte("{"+text(v)+"}"), &p) == nil {
				addProperty(r, entra.ModifiedProperty{DisplayName: p.DisplayName, OldValue: p.OldValue, NewValue: p.NewValue})
				return
			}
			r.Audit.ActivityDisplayName = text(v)
		},
		"category":                   func(r *entra.Record, _ map[string]any, v any) { r.Audit.Category = text(v) },
		"loggedbyservice":            func(r *entra.Record, _ map[string]any, v any) { r.Audit.LoggedByService = text(v) },
		"status":                     func(r *entra.Record, _ map[string]any, v any) { r.Audit.ResultReason = text(v) },
		"properties.result":          func(r *entra.Record, _ map[string]any, v any) { r.Audit.Result = text(v) },
		"failure_status_reason":      func(r *entra.Record, _ map[string]any, v any) { r.Audit.ResultReason = text(v) },
		"initiatedby":                func(r *entra.Record, _ map[string]any, v any) { r.Actor.UPN = text(v) },
		"target":                     func(r *entra.Record, _ map[string]any, v any) { addTarget(r).UPN = text(v) },
		"targetresources":            func(r *entra.Record, _ map[string]any, v any) { addTarget(r).DisplayName = text(v) },
		"properties.targetresources": func(r *entra.Record, _ map[string]any, v any) { addTarget(r).DisplayName = text(v) },
		"targetresources.type":       func(r *entra.Record, _ map[string]any, v any) { addTarget(r).Type = text(v) },
		"targetresources.modifiedproperties": func(r *entra.Record, _ map[string]any, v any) {
			addProperty(r, entra.ModifiedProperty{DisplayName: "p", NewValue: text(v)})
		},
		"targetresources.modifiedproperties.newvalue": func(r *entra.Record, _ map[string]any, v any) {
			addProperty(r, entra.ModifiedProperty{DisplayName: "p", NewValue: text(v)})
		},
		"targetresources.modifiedproperties.displayname": func(r *entra.Record, _ map[string]any, v any) {
			addProperty(r, entra.ModifiedProperty{DisplayName: text(v)})
		},
		"consentcontext.isadminconsent": func(r *entra.Record, _ map[string]any, v any) {
			addProperty(r, entra.ModifiedProperty{DisplayName: "ConsentContext.IsAdminConsent", NewValue: `"` + text(v) + `"`})
		},
		"additionaldetails.additionalinfo": func(r *entra.Record, _ map[string]any, v any) {
			r.Audit.AdditionalDetails = append(r.Audit.AdditionalDetails, entra.KeyValue{Key: "AdditionalInfo", Value: text(v)})
		},
	},
	"activitylogs": {
		"operationname":      func(r *entra.Record, _ map[string]any, v any) { r.Activity.OperationName = text(v) },
		"operationnamevalue": func(r *entra.Record, _ map[string]any, v any) { r.Activity.OperationName = text(v) },
		"categoryvalue":      func(r *entra.Record, _ map[string]any, v any) { r.Activity.Category = text(v) },
		"resourceid":         func(r *entra.Record, _ map[string]any, v any) { r.Activity.ResourceID = text(v) },
		"resourceprovidervalue": func(r *entra.Record, _ map[string]any, v any) {
			if !strings.HasPrefix(strings.ToLower(r.Activity.OperationName), strings.ToLower(text(v))+"/") {
				r.Activity.OperationName = text(v) + "/derived/action"
			}
		},
		"properties.message": func(_ *entra.Record, raw map[string]any, v any) { props(raw)["message"] = text(v) },
	},
	"riskdetection": {
		"riskeventtype": func(r *entra.Record, _ map[string]any, v any) { r.Risk.EventType = text(v) },
	},
}

// rawJSON is a value as JSON text: JSON it already is, else a string.
func rawJSON(v any) string {
	if s := text(v); json.Valid([]byte(s)) {
		return s
	}
	b, _ := json.Marshal(text(v))
	return string(b)
}

// evalCond evaluates a condition for given selection truths: the
// generator's own reading of the grammar (and, or, not, parentheses,
// "1 of"/"all of" with wildcards and them).
func evalCond(cond string, truth map[string]bool) bool {
	toks := strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(cond))
	pos := 0
	var or, and, unary func() bool
	peek := func() string {
		if pos < len(toks) {
			return toks[pos]
		}
		return ""
	}
	or = func() bool {
		v := and()
		for peek() == "or" {
			pos++
			w := and()
			v = v || w
		}
		return v
	}
	and = func() bool {
		v := unary()
		for peek() == "and" {
			pos++
			w := unary()
			v = v && w
		}
		return v
	}
	unary = func() bool {
		t := peek()
		pos++
		switch {
		case t == "not":
			return !unary()
		case t == "(":
			v := or()
			pos++ // )
			return v
		case peek() == "of":
			pos++
			pat := peek()
			pos++
			all, n, hit := t == "all", 0, 0
			for _, name := range selectionNames(truth) {
				ok, _ := filepath.Match(pat, name)
				if pat == "them" {
					ok = !strings.HasPrefix(name, "_")
				}
				if ok {
					n++
					if truth[name] {
						hit++
					}
				}
			}
			if all {
				return n > 0 && hit == n
			}
			return hit > 0
		}
		return truth[t]
	}
	return or()
}

// selectionNames are the names evalCond may see: those with a truth
// value (false ones included, set by the caller for "all of").
func selectionNames(truth map[string]bool) []string {
	var out []string
	for k := range truth {
		out = append(out, k)
	}
	return out
}
