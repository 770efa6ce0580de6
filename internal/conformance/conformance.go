// Package conformance holds what the conformance suites of the SIEM
// outputs (outputs/elastic, outputs/splunk) share about their test
// records: edits of a record's JSON for near misses, and a diagnostic
// record's Graph form.
package conformance

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// Edit changes a test record: the value at a dotted path of the
// record's JSON (numbers index arrays) is replaced, or removed when del.
type Edit struct {
	path  string
	value any
	del   bool
}

// Set is the edit that sets path to v.
func Set(path string, v any) *Edit { return &Edit{path: path, value: v} }

// Del is the edit that removes path.
func Del(path string) *Edit { return &Edit{path: path, del: true} }

// Path is where e edits.
func (e *Edit) Path() string { return e.path }

// Apply returns raw with e applied.
func (e *Edit) Apply(t testing.TB, raw []byte) []byte {
	t.Helper()
	var doc any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	keys := strings.Split(e.path, ".")
	cur := doc
	for i, k := range keys {
		last := i == len(keys)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if e.del {
					delete(c, k)
				} else {
					c[k] = e.value
				}
			} else {
				cur = c[k]
			}
		case []any:
			n, err := strconv.Atoi(k)
			if err != nil || n >= len(c) {
				t.Fatalf("edit %s: no element %s", e.path, k)
			}
			if last {
				c[n] = e.value
			} else {
				cur = c[n]
			}
		default:
			t.Fatalf("edit %s: %s is not in the record", e.path, strings.Join(keys[:i+1], "."))
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// graphCategories are the categories Microsoft Graph also serves (the
// graph input's endpoints), so that a record's properties are a Graph
// record of the same event.
var graphCategories = map[string]string{
	"SignInLogs": "interactiveUser", "NonInteractiveUserSignInLogs": "nonInteractiveUser",
	"ServicePrincipalSignInLogs": "servicePrincipal", "ManagedIdentitySignInLogs": "managedIdentity",
	"AuditLogs": "", "UserRiskEvents": "", "RiskyUsers": "",
}

// GraphForm is the Graph form of a diagnostic record: its properties,
// with signInEventTypes added to a sign-in that lacks it (Graph's beta
// signIns, which serves every kind of sign-in, always has it), and the
// tenant the graph input polls.
func GraphForm(t testing.TB, raw []byte) (graph []byte, category, tenant string, ok bool) {
	t.Helper()
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(env["category"], &category)
	_ = json.Unmarshal(env["tenantId"], &tenant)
	eventType, ok := graphCategories[category]
	if !ok || env["properties"] == nil {
		return nil, category, tenant, false
	}
	props := bytes.TrimSpace(env["properties"])
	if eventType != "" && !bytes.Contains(props, []byte(`"signInEventTypes"`)) {
		props = append(append(props[:len(props)-1:len(props)-1], `,"signInEventTypes":["`+eventType+`"]`...), '}')
	}
	return props, category, tenant, true
}
