package yamlfile

import (
	"strings"
	"testing"
	"time"
)

type doc struct {
	Name  string `yaml:"name"`
	Count int    `yaml:"count"`
	Items []struct {
		Kind string `yaml:"kind"`
	} `yaml:"items"`
}

func TestErrorsNameFileLineAndKey(t *testing.T) {
	tests := []struct {
		data string
		want []string
	}{
		{"name: a\nnmae: b\n", []string{"f.yaml:2:", "nmae"}},
		{"name: a\ncount: lots\n", []string{"f.yaml:2:", "count: lots"}},
		{"name: [unclosed\n", []string{"f.yaml:"}},
	}
	for _, tt := range tests {
		var d doc
		err := Decode("f.yaml", []byte(tt.data), &d)
		if err == nil {
			t.Errorf("%q: no error", tt.data)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tt.data, err, w)
			}
		}
	}
	var d doc
	if err := Decode("f.yaml", []byte("name: ok\ncount: 3\n"), &d); err != nil || d.Count != 3 {
		t.Fatalf("valid doc: %v %+v", err, d)
	}
}

func TestErrorAtFindsTheNode(t *testing.T) {
	data := []byte("items:\n  - kind: paw\n  - kind: laptop\n")
	err := ErrorAt("d.yaml", data, "$.items[1].kind", `"laptop" is not paw or saw`)
	if !strings.HasPrefix(err.Error(), "d.yaml:3:") || !strings.Contains(err.Error(), "laptop") {
		t.Fatalf("err = %q", err)
	}
	if err := ErrorAt("d.yaml", data, "$.nope[7]", "msg"); err.Error() != "d.yaml: msg" {
		t.Fatalf("missing node: %q", err)
	}
}

// Every duration of a config reads the way the docs write it: Go's form,
// days, or a bare 0 ("read once"); a bad one names its line.
func TestDurations(t *testing.T) {
	type cfg struct {
		Watch time.Duration `yaml:"watch"`
	}
	for _, tc := range []struct {
		doc  string
		want time.Duration
		err  string
	}{
		{"watch: 0\n", 0, ""},
		{"watch: 30s\n", 30 * time.Second, ""},
		{"watch: \"1h30m\"\n", 90 * time.Minute, ""},
		{"watch: 7d\n", 7 * 24 * time.Hour, ""},
		{"watch: 0.5d\n", 12 * time.Hour, ""},
		{"watch: soon\n", 0, `f.yaml:1:8: duration "soon": want e.g. 30s, 10m, 1h or 7d`},
		{"watch: -5m\n", 0, "must not be negative"},
	} {
		var c cfg
		err := Decode("f.yaml", []byte(tc.doc), &c)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.doc, err, tc.err)
			}
			continue
		}
		if err != nil || c.Watch != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.doc, c.Watch, err, tc.want)
		}
	}
}

// A value of the wrong type is said in the file's terms: the key, what it
// wants and what it got, not Go's field and type names.
func TestTypeErrorsSpeakYAML(t *testing.T) {
	type doc struct {
		Out struct {
			Sync  *bool    `yaml:"sync"`
			Size  int      `yaml:"batch_size"`
			Paths []string `yaml:"paths"`
			TLS   struct {
				CA string `yaml:"ca"`
			} `yaml:"tls"`
		} `yaml:"file"`
	}
	for _, tc := range []struct{ doc, want string }{
		{"file:\n  sync: maybe\n", `f.yaml:2:9: sync: want true or false, got "maybe"`},
		{"file:\n  batch_size: lots\n", `f.yaml:2:15: batch_size: want a whole number, got "lots"`},
		{"file:\n  paths: x.json\n", `f.yaml:2:10: paths: want a list, got "x.json"`},
		{"file:\n  tls: 3\n", `f.yaml:2:8: tls: want a mapping, got "3"`},
	} {
		var d doc
		err := Decode("f.yaml", []byte(tc.doc), &d)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.doc, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "Go struct") {
			t.Errorf("%q: still speaks Go: %v", tc.doc, err)
		}
	}
}
