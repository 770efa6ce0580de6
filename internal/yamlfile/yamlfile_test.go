package yamlfile

import (
	"strings"
	"testing"
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
