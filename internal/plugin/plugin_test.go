package plugin

import (
	"errors"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"

	"github.com/privtrail/privtrail/internal/yamlfile"
)

type sinkConfig struct {
	Path string `yaml:"path"`
}

func (c *sinkConfig) Validate() error {
	if c.Path == "" {
		return errors.New("path: is required")
	}
	return nil
}

type sink struct{ path string }

func testRegistry() *Registry[string, *sink] {
	r := NewRegistry[string, *sink]("output")
	r.Add(New("sink", func(name string, c *sinkConfig, env string) (*sink, error) {
		if c.Path == "fail" {
			return &sink{}, errors.New("cannot open")
		}
		return &sink{path: env + c.Path}, nil
	}, nil))
	r.Add(New("null", func(string, *sinkConfig, string) (*sink, error) { return &sink{}, nil }, nil))
	return r
}

// entries decodes a document of entries the way the agent's config does.
type entries struct {
	Items []entry `yaml:"items"`
}

type entry struct{ Entry }

// current is the registry entry decodes with: UnmarshalYAML takes no
// arguments, and the agent's entries name their kind's registry.
var current *Registry[string, *sink]

func (e *entry) UnmarshalYAML(node ast.Node) (err error) {
	e.Entry, err = DecodeEntry(current, node)
	return err
}

func TestDecodeEntry(t *testing.T) {
	current = testRegistry()
	for _, tc := range []struct {
		name, doc, err string
		typ            string
		extra          []string
	}{
		{"block", "items:\n  - name: a\n    sink:\n      path: /x\n", "", "sink", nil},
		{"flow", "items:\n  - {name: a, sink: {path: /x}}\n", "", "sink", nil},
		{"empty block", "items:\n  - name: a\n    null:\n", "", "null", nil},
		{"two types", "items:\n  - {name: a, sink: {path: /x}, null: {}}\n", "", "sink", []string{"null"}},
		{"no type", "items:\n  - {name: a}\n", "", "", nil},
		{"unknown key in the block", "items:\n  - name: a\n    sink:\n      path: /x\n      mode: fast\n", `f.yaml:5:7: unknown field "mode"`, "", nil},
		{"unknown type", "items:\n  - name: a\n    snk: {path: /x}\n", `f.yaml:3:5: unknown field "snk": not a name or an output type (null, sink)`, "", nil},
		{"not a mapping", "items:\n  - just-a-name\n", "f.yaml:2:5: an output is a mapping", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc entries
			err := yamlfile.Decode("f.yaml", []byte(tc.doc), &doc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e := doc.Items[0]
			if e.Name != "a" || e.Type != tc.typ || strings.Join(e.Extra, ",") != strings.Join(tc.extra, ",") {
				t.Fatalf("entry = %+v, want type %q extra %v", e.Entry, tc.typ, tc.extra)
			}
			if tc.typ == "sink" && e.Config.(*sinkConfig).Path != "/x" {
				t.Errorf("config = %+v", e.Config)
			}
		})
	}
}

func TestBuildAndRegistry(t *testing.T) {
	r := testRegistry()
	if got := strings.Join(r.Types(), ","); got != "null,sink" {
		t.Errorf("Types = %s", got)
	}
	f := r.Lookup("sink")
	s, err := f.Build("a", &sinkConfig{Path: "/x"}, "env:")
	if err != nil || s.path != "env:/x" {
		t.Fatalf("Build = %+v, %v", s, err)
	}
	if s, err := f.Build("a", &sinkConfig{Path: "fail"}, ""); err == nil || s != nil {
		t.Errorf("a failed Build returned %+v, %v; want nothing and the error", s, err)
	}
	if f.Checkable() {
		t.Error("a type without check is checkable")
	}
	if what, err := f.Check(t.Context(), &sinkConfig{}, nil); what != "nothing to check" || err != nil {
		t.Errorf("Check = %q, %v", what, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("a second type of the same name did not panic")
		}
	}()
	r.Add(New("sink", func(string, *sinkConfig, string) (*sink, error) { return nil, nil }, nil))
}
