package elastic

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func TestShippedIndexTemplateMatchesDefaultNaming(t *testing.T) {
	it := readJSON(t, filepath.Join("templates", indexTemplateFile))
	var patterns []string
	for _, p := range it["index_patterns"].([]any) {
		patterns = append(patterns, p.(string))
	}
	if !slices.Equal(patterns, Naming{Namespace: defaultNamespace}.DataStreams()) {
		t.Errorf("the shipped index_patterns %v are not the default data streams", patterns)
	}
	var composed []string
	for _, c := range it["composed_of"].([]any) {
		composed = append(composed, c.(string))
	}
	if !slices.Equal(composed, componentTemplates) {
		t.Errorf("composed_of %v", composed)
	}
	if s, ok := it["template"].(map[string]any); ok {
		if _, ok := s["settings"].(map[string]any)["index.default_pipeline"]; ok {
			t.Error("the index template must not set a default pipeline")
		}
	}
	settings := readJSON(t, filepath.Join("templates", "privtrail@settings.json"))
	if strings.Contains(mustMarshal(settings), "pipeline") {
		t.Error("privtrail@settings must not set a pipeline: the integration's would parse the documents again")
	}
	ts, err := templatesFor(Naming{Dataset: "privtrail.entra", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if ts[2].Name != "privtrail-privtrail.entra-default" || !bytes.Contains(ts[2].Body, []byte(`"logs-privtrail.entra-default"`)) {
		t.Errorf("index template %s %s", ts[2].Name, ts[2].Body)
	}
}

func mustMarshal(v any) string { b, _ := json.Marshal(v); return string(b) }

// Every field the encoder writes outside the copied Entra properties has
// an explicit mapping, so that no field's type depends on which document
// arrives first.
func TestMappingsCoverEncodedFields(t *testing.T) {
	m := readJSON(t, filepath.Join("templates", "privtrail@mappings.json"))
	props := m["template"].(map[string]any)["mappings"].(map[string]any)["properties"].(map[string]any)
	// mapped reports whether path is mapped, or lies under a flattened or
	// property-less object field.
	mapped := func(path string) bool {
		cur := props
		parts := strings.Split(path, ".")
		for i, p := range parts {
			f, ok := cur[p].(map[string]any)
			if !ok {
				return false
			}
			if f["type"] == "flattened" || f["type"] == "geo_point" || (f["type"] == "object" && f["properties"] == nil) {
				return true
			}
			if i == len(parts)-1 {
				return f["type"] != nil
			}
			sub, ok := f["properties"].(map[string]any)
			if !ok {
				return false
			}
			cur = sub
		}
		return false
	}
	dynamic := []string{"azure.signinlogs.properties.", "azure.auditlogs.properties.", "azure.signinlogs.", "azure.auditlogs.",
		// Properties copied under their logged names (as the integration
		// does), and keys of envelopes the platformlogs pipeline keeps.
		"azure.identityprotection.properties.", "azure.graphactivitylogs.properties.", "azure.aadgraphactivitylogs.properties.",
		"azure.provisioning.properties.", "azure.platformlogs."}
	envelope := map[string]bool{}
	for _, k := range []string{"category", "operation_name", "operation_version", "identity", "result_type", "result_signature", "result_description"} {
		envelope["azure.signinlogs."+k], envelope["azure.auditlogs."+k] = true, true
	}
	for _, k := range []string{"category", "operation_name", "result_type", "result_signature", "result_description", "status", "identity"} {
		envelope["azure.platformlogs."+k] = true
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.ndjson"))
	var missing []string
	for _, file := range files {
		b, _ := os.ReadFile(file)
		line := bytes.SplitN(b, []byte("\n"), 3)[1]
		var doc map[string]any
		json.Unmarshal(line, &doc)
		for _, path := range leafPaths("", doc) {
			if mapped(path) {
				continue
			}
			copied := false
			for _, d := range dynamic {
				copied = copied || (strings.HasPrefix(path, d) && !envelope[path])
			}
			if !copied && !slices.Contains(missing, path) {
				missing = append(missing, path)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("fields without a mapping in templates/privtrail@mappings.json:\n%s", strings.Join(missing, "\n"))
	}
	// The fields prebuilt rules compare with exact values are keywords.
	for _, path := range []string{"event.dataset", "event.outcome", "event.action", "azure.signinlogs.category",
		"azure.signinlogs.properties.risk_level_during_signin", "azure.signinlogs.properties.app_id",
		"azure.auditlogs.operation_name", "azure.auditlogs.properties.category", "privtrail.monitors.id", "privtrail.monitors.risk",
		"azure.identityprotection.properties.risk_level", "azure.identityprotection.properties.risk_event_type",
		"azure.identityprotection.properties.risk_state", "azure.identityprotection.properties.activity",
		"azure.graphactivitylogs.properties.app_id", "azure.graphactivitylogs.properties.service_principal_id",
		"azure.aadgraphactivitylogs.properties.app_id", "azure.provisioning.properties.provisioning_action",
		"azure.platformlogs.category", "http.request.method", "http.response.status_code", "url.original"} {
		if !mapped(path) {
			t.Errorf("%s is not mapped", path)
		}
	}
}

func leafPaths(prefix string, v any) []string {
	switch x := v.(type) {
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, leafPaths(prefix+k+".", e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, leafPaths(prefix, e)...)
		}
		if len(x) == 0 {
			return []string{strings.TrimSuffix(prefix, ".")}
		}
		return out
	}
	return []string{strings.TrimSuffix(prefix, ".")}
}
