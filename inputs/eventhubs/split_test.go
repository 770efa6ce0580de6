package eventhubs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSplitValue(t *testing.T) {
	tests := []struct {
		in    string
		want  []string
		split bool
		err   string
	}{
		{in: `{"records":[{"a":1},{"b":"x]}\"{"} , {"c":[1,{"d":2}]}]}`, want: []string{`{"a":1}`, `{"b":"x]}\"{"}`, `{"c":[1,{"d":2}]}`}, split: true},
		{in: " \n{\n  \"records\" : [\n    {\"a\":1}\n  ]\n}\n", want: []string{`{"a":1}`}, split: true},
		{in: `{"records":[]}`, want: nil, split: true},
		{in: "\xef\xbb\xbf{\"records\":[{\"a\":\"\\\\\"}]}", want: []string{`{"a":"\\"}`}, split: true},
		// Other top-level keys, before or after, are skipped; the
		// same key nested inside a record is left alone.
		{in: `{"x":{"records":[1]},"n":-1.5e3,"t":true,"records":[{"properties":{"records":[2]}}],"y":null}`, want: []string{`{"properties":{"records":[2]}}`}, split: true},
		{in: `[{"a":1}, {"b":2}]`, want: []string{`{"a":1}`, `{"b":2}`}, split: true},
		{in: `  {"time":"2024-01-01","category":"SignInLogs"}  `, want: []string{`{"time":"2024-01-01","category":"SignInLogs"}`}},
		{in: `{"records":{"not":"an array"}}`, want: []string{`{"records":{"not":"an array"}}`}},
		{in: `"a string"`, want: []string{`"a string"`}},
		// Records are not validated here (the decoder does it, one by
		// one); the structure is.
		{in: `{"records":[{"a":tru},{"b":2}]}`, want: []string{`{"a":tru}`, `{"b":2}`}, split: true},
		{in: `{"records":[{"a":1},`, err: "unexpected end"},
		{in: `{"records":[{"a":1}]`, err: "unexpected end of the object"},
		{in: `{"records":[{"a":1}]}}`, err: "data after the JSON value at byte 21"},
		{in: `{"records":[{"a":"1}]}`, err: "unterminated string"},
		{in: `{"records":[{"a":1]]}`, err: "unbalanced ']'"},
		{in: `{"records" [1]}`, err: `'[' where ':' was expected`},
		{in: `{"x":1 "records":[1]}`, err: `'"' after a member`},
		{in: `{records:[1]}`, err: "expecting a key"},
		{in: `[1 2]`, err: `'2' after an array element`},
		{in: `[,]`, err: `',' where a value was expected`},
		{in: `not json {`, err: "data after the JSON value at byte 4"},
		{in: "  ", err: "empty"},
	}
	for _, tt := range tests {
		spans, split, err := splitValue([]byte(tt.in), nil)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		var got []string
		for _, s := range spans {
			got = append(got, tt.in[s.start:s.end])
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) || split != tt.split {
			t.Errorf("%q: %q split=%v, want %q split=%v", tt.in, got, split, tt.want, tt.split)
		}
	}
}

// FuzzSplitValue checks the scanner against encoding/json: on valid JSON
// it must find exactly the elements json.RawMessage finds, and on any
// input it must not panic or return spans out of bounds.
func FuzzSplitValue(f *testing.F) {
	f.Add([]byte(`{"records":[{"a":"]"},[1,2],"s"]}`))
	f.Add([]byte(`{"x":[{"records":1}],"records":[{"a":"\\\""}, 2 ] , "y":{}}`))
	f.Add([]byte(`[{"a":1}]`))
	f.Add([]byte(`  "s" `))
	f.Fuzz(func(t *testing.T, b []byte) {
		spans, split, err := splitValue(b, nil)
		for _, s := range spans {
			if s.start < 0 || s.end > len(b) || s.start >= s.end {
				t.Fatalf("bad span %+v of %d bytes", s, len(b))
			}
		}
		if !json.Valid(b) || bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) || bytes.Count(b, []byte(`"records"`)) > 1 {
			return
		}
		if err != nil {
			t.Fatalf("valid JSON %q: %v", b, err)
		}
		var want []json.RawMessage
		trimmed := bytes.TrimSpace(b)
		var obj map[string]json.RawMessage
		switch {
		case trimmed[0] == '[':
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
		case trimmed[0] == '{' && json.Unmarshal(b, &obj) == nil && len(obj["records"]) > 0 && obj["records"][0] == '[':
			if err := json.Unmarshal(obj["records"], &want); err != nil {
				t.Fatal(err)
			}
		default:
			if split || len(spans) != 1 || !bytes.Equal(b[spans[0].start:spans[0].end], trimmed) {
				t.Fatalf("%q: spans %v split %v", b, spans, split)
			}
			return
		}
		if !split || len(spans) != len(want) {
			t.Fatalf("%q: %d spans (split %v), want %d", b, len(spans), split, len(want))
		}
		for i, s := range spans {
			if !bytes.Equal(b[s.start:s.end], want[i]) {
				t.Fatalf("%q: element %d is %q, want %q", b, i, b[s.start:s.end], want[i])
			}
		}
	})
}
