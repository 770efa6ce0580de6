package elastic

import (
	"reflect"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// threat.* comes only from ATT&CK tags; other tags stay under
// privtrail.monitors.tags.
func TestEncodeThreat(t *testing.T) {
	enc := NewEncoder(defaultNaming)
	for _, tc := range []struct {
		name string
		tags [][]string
		want any // the threat object, nil for none
	}{
		{"no tags", [][]string{nil}, nil},
		{"other namespaces", [][]string{{"team.identity", "tlp.green", "attack.g0016"}}, nil},
		{"tactic only", [][]string{{"attack.persistence"}}, map[string]any{"framework": "MITRE ATT&CK",
			"tactic": map[string]any{"name": []any{"Persistence"}}}},
		{"two hits", [][]string{{"attack.t1078.004", "attack.command-and-control"}, {"attack.T1078", "attack.t1098.001", "attack.stealth"}},
			map[string]any{"framework": "MITRE ATT&CK",
				"tactic":    map[string]any{"name": []any{"Command and Control", "Stealth"}},
				"technique": map[string]any{"id": []any{"T1078", "T1098"}, "subtechnique": map[string]any{"id": []any{"T1078.004", "T1098.001"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := decodeFile(t, "signin_sigma_diagnostic")
			for i, tags := range tc.tags {
				rec.Hits = append(rec.Hits, entra.Hit{ID: "m" + string(rune('a'+i)), Title: "T", Risk: "low", Source: "signin", Reason: "r", Tags: tags})
			}
			item, err := enc.Encode(nil, rec, nil)
			if err != nil {
				t.Fatal(err)
			}
			doc := checkItem(t, item, "logs-"+defaultNaming.DatasetOf(rec.Stream, rec.LogCategory)+"-privtrail")
			if got := doc["threat"]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("threat = %#v\nwant %#v", got, tc.want)
			}
			for i, h := range doc["privtrail"].(map[string]any)["monitors"].([]any) {
				got, _ := h.(map[string]any)["tags"].([]any)
				if len(got) != len(tc.tags[i]) {
					t.Errorf("privtrail.monitors[%d].tags = %v, want %q", i, got, tc.tags[i])
				}
			}
		})
	}
}
