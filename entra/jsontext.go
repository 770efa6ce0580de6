package entra

import (
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string: ", \ and control
// characters are escaped, invalid UTF-8 bytes become \ufffd, and
// U+2028/U+2029 are escaped so the output is also valid JavaScript. Every
// JSON encoder of privtrail (the enriched record, output formats, the
// synthetic logs) uses it, so none can be tricked by a user name.
func AppendJSONString[T string | []byte](dst []byte, s T) []byte {
	return AppendJSONStringNoting(dst, s, nil)
}

// AppendJSONStringNoting is AppendJSONString that also sets *replaced
// (when replaced is not nil) if s held invalid UTF-8, so that an encoder
// can say in the record that it replaced some (entra's "privtrail" object
// and the Elasticsearch document have "replaced_invalid_utf8": true then).
// It never sets *replaced to false.
func AppendJSONStringNoting[T string | []byte](dst []byte, s T, replaced *bool) []byte {
	dst = append(dst, '"')
	// Most strings are plain ASCII: copy them in one go.
	i := plainASCII(s)
	if i == len(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i += plainASCII(s[i:])
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		var b [utf8.UTFMax]byte
		n := copy(b[:], s[i:])
		r, size := utf8.DecodeRune(b[:n])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			if replaced != nil {
				*replaced = true
			}
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendValue appends v as compact JSON.
func appendValue(dst []byte, v *fastjson.Value) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		dst = append(dst, '{')
		first := true
		o.Visit(func(k []byte, val *fastjson.Value) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = AppendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendValue(dst, val)
		})
		return append(dst, '}')
	case fastjson.TypeArray:
		a, _ := v.Array()
		dst = append(dst, '[')
		for i, e := range a {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, e)
		}
		return append(dst, ']')
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return AppendJSONString(dst, b)
	default: // number (validated), true, false, null
		return v.MarshalTo(dst)
	}
}

// appendUnquote appends the content of s, which must be exactly one JSON
// string literal. It reports false (and appends nothing) otherwise.
func appendUnquote(dst, s []byte) ([]byte, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return dst, false
	}
	orig := len(dst)
	s = s[1 : len(s)-1]
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			if c == '"' || c < 0x20 {
				return dst[:orig], false
			}
			j := i + 1
			for j < len(s) && s[j] != '\\' && s[j] != '"' && s[j] >= 0x20 {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(s) {
			return dst[:orig], false
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s[i+2:])
			if !ok {
				return dst[:orig], false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(0), false
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2, ok2 = hex4(s[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst[:orig], false
		}
		i += 2
	}
	return dst, true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendCompact appends valid JSON src without insignificant whitespace.
func appendCompact(dst, src []byte) []byte {
	inStr, esc := false, false
	start := 0
	for i, c := range src {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

// appendValidUTF8 appends b with every byte that does not belong to a
// valid UTF-8 sequence replaced by U+FFFD, one per byte (each byte
// utf8.DecodeRune reads as RuneError of size 1): the rule of
// AppendJSONString, of encoding/json and of the QRadar output's LEEF.
// Bytes ≥ 0x80 stand only inside strings in a JSON document, so the
// result is the same document with its invalid bytes replaced.
func appendValidUTF8(dst, b []byte) []byte {
	start := 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, b[start:i]...)
			dst = append(dst, "\uFFFD"...)
			start = i + 1
		}
		i += size
	}
	return append(dst, b[start:]...)
}

// plainASCII is the length of the prefix of s that a JSON string holds as
// it is: ASCII but '"', '\\' and control characters. Eight bytes at a
// time (special8 and the high bits), as most strings are all of it.
func plainASCII[T string | []byte](s T) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if m := special8(x) | x&highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(s) && s[i] >= 0x20 && s[i] < utf8.RuneSelf && s[i] != '"' && s[i] != '\\' {
		i++
	}
	return i
}
