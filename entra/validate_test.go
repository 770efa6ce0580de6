package entra

import (
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

// nextSpecial finds the first byte that strPlain does not accept, after
// any bytes in front of it, for every pair of byte values at every two
// positions of a word and across words (a special byte's borrow must not
// hide a later one, nor mark an earlier one).
func TestNextSpecial(t *testing.T) {
	for _, n := range []int{8, 13} {
		for pos := range n {
			for c := range 256 {
				for _, d := range []byte{0x00, 0x1f, ' ', '!', '"', '#', '\\', 0x80, 0xff} {
					b := []byte("abcdefghijklm")[:n]
					b[pos] = byte(c)
					if pos+1 < n {
						b[pos+1] = d
					}
					want := 0
					for want < n && strPlain[b[want]] {
						want++
					}
					for from := range min(want, 3) + 1 {
						if got := nextSpecial(b, from); got != want {
							t.Fatalf("%q from %d: %d, want %d", b, from, got, want)
						}
					}
				}
			}
		}
	}
}

// BenchmarkValidJSON validates the public sample records (every category,
// both wire shapes).
func BenchmarkValidJSON(b *testing.B) {
	var docs [][]byte
	n := 0
	for _, doc := range loadSamples(b, localSamplesDir) {
		docs = append(docs, doc.data)
		n += len(doc.data)
	}
	b.SetBytes(int64(n / len(docs)))
	for i := 0; b.Loop(); i++ {
		if !validJSON(docs[i%len(docs)]) {
			b.Fatal("invalid")
		}
	}
}
