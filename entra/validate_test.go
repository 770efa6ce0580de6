package entra

import (
	"encoding/binary"
	"encoding/json"
	"testing"
)

var validateCases = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `-`, `01`, `1.`, `.5`, `1.5e`, `1.5e+3`, `1E-3`, `-1.25e10`, `+1`,
	`NaN`, `Infinity`, `true`, `tru`, `nul`, `null `, ` {"a" : [1 , 2 ] } `, `{"a":1,}`, `[1,]`, `{,}`, `[,1]`,
	`{"a"}`, `{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`, `"\u00e9"`, `"\u00G9"`, `"\u00e"`, `"\x"`, `"\/\b\f\n\r\t\"\\"`,
	"\"a\tb\"", "\"a\x7fb\"", "\"\xff\xfe\"", `"unterminated`, `"0123456789abcdef\"0123456789"`, `"0123456789abcdef` + "\x01" + `"`,
	`{"a":"b"}{"c":1}`, `[[[[[]]]]]`, `[[[[[]]]]`, "\v{}", "{}\x00", `"€€€€€€€€"`,
}

func TestValidJSON(t *testing.T) {
	for _, c := range validateCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%q) = %v, encoding/json says %v", c, got, want)
		}
	}
	for _, doc := range loadSamples(t, localSamplesDir) {
		if !validJSON(doc.data) {
			t.Errorf("%s: not valid", doc.name)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range validateCases {
		f.Add([]byte(c))
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

// plain8 agrees with strPlain on every byte value at every position of
// eight otherwise plain bytes.
func TestPlain8(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			x := binary.LittleEndian.Uint64(b)
			if got, want := plain8(x), strPlain[c]; got != want {
				t.Errorf("byte %#x at %d: plain8 %v, strPlain %v", c, pos, got, want)
			}
		}
	}
}
