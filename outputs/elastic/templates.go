package elastic

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
)

// The templates ship as JSON files beside this package so that an
// administrator can read them and, when privtrail's credentials may not
// manage templates, install them by hand (see README.md).
//
//go:embed templates/*.json
var templateFiles embed.FS

// templateDir is where the files live in the source tree, for messages.
const templateDir = "outputs/elastic/templates/"

// indexTemplateFile is the index template as shipped: its index_patterns
// are those of the default naming and are replaced by the configured
// data streams when installed.
const indexTemplateFile = "privtrail-azure.json"

// installable is one template request.
type installable struct {
	Kind string // "component" or "index"
	Name string
	File string // the file under templates/ it comes from
	Body []byte
}

// Path is the API path that puts the template.
func (t installable) Path() string {
	if t.Kind == "component" {
		return "/_component_template/" + t.Name
	}
	return "/_index_template/" + t.Name
}

// componentTemplates, in the order the index template composes them.
var componentTemplates = []string{"privtrail@settings", "privtrail@mappings"}

// indexTemplateName is the index template for a naming: one per
// namespace (and dataset), so that agents writing to different namespaces
// do not overwrite each other's index_patterns.
func indexTemplateName(n Naming) string {
	ds := n.Dataset
	if ds == "" {
		ds = "azure"
	}
	return "privtrail-" + ds + "-" + n.Namespace
}

// templatesFor returns the requests that install privtrail's templates for
// naming n: the component templates first, then the index template.
func templatesFor(n Naming) ([]installable, error) {
	var out []installable
	for _, name := range componentTemplates {
		b, err := templateFiles.ReadFile("templates/" + name + ".json")
		if err != nil {
			return nil, err
		}
		out = append(out, installable{Kind: "component", Name: name, File: name + ".json", Body: b})
	}
	b, err := templateFiles.ReadFile("templates/" + indexTemplateFile)
	if err != nil {
		return nil, err
	}
	var it map[string]any
	if err := json.Unmarshal(b, &it); err != nil {
		return nil, fmt.Errorf("%s: %w", indexTemplateFile, err)
	}
	it["index_patterns"] = n.DataStreams()
	if b, err = json.MarshalIndent(it, "", "  "); err != nil {
		return nil, err
	}
	out = append(out, installable{Kind: "index", Name: indexTemplateName(n), File: indexTemplateFile, Body: b})
	return out, nil
}

// byHandHint tells an administrator how to install the templates.
func byHandHint(ts []installable) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "PUT %s with %s%s", t.Path(), templateDir, t.File)
	}
	if len(ts) > 0 {
		idx := ts[len(ts)-1]
		var it struct {
			Patterns []string `json:"index_patterns"`
		}
		if json.Unmarshal(idx.Body, &it) == nil {
			fmt.Fprintf(&b, " (index_patterns: %s)", strings.Join(it.Patterns, ", "))
		}
	}
	return b.String()
}
