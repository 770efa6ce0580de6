package entra

import (
	"encoding/binary"
	"math/bits"
)

// validJSON reports whether b is exactly one strict JSON value (RFC 8259,
// as encoding/json.Valid sees it: bytes ≥ 0x80 in strings are not checked
// for UTF-8) surrounded by optional whitespace.
//
// fastjson's parser is lenient (raw control characters and unknown escapes
// in strings, NaN, leading zeros…); this validator is a little cheaper
// than fastjson.Validate and agrees with encoding/json (FuzzValidJSON).
func validJSON(b []byte) bool {
	v := validator{b: b}
	v.ws()
	if !v.value(0) {
		return false
	}
	v.ws()
	return v.i == len(b)
}

type validator struct {
	b []byte
	i int
}

// maxValidateDepth bounds recursion; fastjson rejects deeper documents
// (MaxDepth 300) before validation runs.
const maxValidateDepth = 512

func (v *validator) ws() {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\n', '\r':
			v.i++
		default:
			return
		}
	}
}

func (v *validator) value(depth int) bool {
	if v.i >= len(v.b) || depth > maxValidateDepth {
		return false
	}
	switch c := v.b[v.i]; c {
	case '{':
		v.i++
		v.ws()
		if v.i < len(v.b) && v.b[v.i] == '}' {
			v.i++
			return true
		}
		for {
			if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
				return false
			}
			v.ws()
			if v.i >= len(v.b) || v.b[v.i] != ':' {
				return false
			}
			v.i++
			v.ws()
			if !v.value(depth + 1) {
				return false
			}
			v.ws()
			if v.i >= len(v.b) {
				return false
			}
			switch v.b[v.i] {
			case ',':
				v.i++
				v.ws()
			case '}':
				v.i++
				return true
			default:
				return false
			}
		}
	case '[':
		v.i++
		v.ws()
		if v.i < len(v.b) && v.b[v.i] == ']' {
			v.i++
			return true
		}
		for {
			if !v.value(depth + 1) {
				return false
			}
			v.ws()
			if v.i >= len(v.b) {
				return false
			}
			switch v.b[v.i] {
			case ',':
				v.i++
				v.ws()
			case ']':
				v.i++
				return true
			default:
				return false
			}
		}
	case '"':
		return v.str()
	case 't':
		return v.lit("true")
	case 'f':
		return v.lit("false")
	case 'n':
		return v.lit("null")
	default:
		return v.num()
	}
}

func (v *validator) lit(s string) bool {
	if len(v.b)-v.i < len(s) || string(v.b[v.i:v.i+len(s)]) != s {
		return false
	}
	v.i += len(s)
	return true
}

// strPlain marks the bytes that may appear in a string unescaped and
// need no further look: everything but '"', '\\' and control characters.
var strPlain = func() (t [256]bool) {
	for i := range t {
		t[i] = i >= 0x20 && i != '"' && i != '\\'
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special8 sets the high bit of the bytes of x that are '"', '\\' or a
// control character (the bit tricks of "Bit Twiddling Hacks": a byte below
// n sets its high bit in (x - n·ones) &^ x). A borrow may also mark a byte
// above a marked one, never below: the lowest mark is exact.
func special8(x uint64) uint64 {
	quote := x ^ ('"' * ones)
	backslash := x ^ ('\\' * ones)
	below := func(y uint64, n uint64) uint64 { return (y - n*ones) &^ y }
	return (below(x, 0x20) | below(quote, 1) | below(backslash, 1)) & highs
}

// nextSpecial is the index of the first byte at or after i that is '"',
// '\\' or a control character, or len(b).
func nextSpecial(b []byte, i int) int {
	// Eight bytes at a time: most of a record is strings (GUIDs, user
	// agents, URLs), and a short one (a key) ends in its first word.
	for ; i+8 <= len(b); i += 8 {
		if m := special8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && strPlain[b[i]] {
		i++
	}
	return i
}

// str validates the string starting at b[i] == '"'.
func (v *validator) str() bool {
	b := v.b
	i := v.i + 1
	for {
		i = nextSpecial(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '"':
			v.i = i + 1
			return true
		case '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return false
				}
				for _, h := range b[i+2 : i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				i += 6
			default:
				return false
			}
		default: // control character
			return false
		}
	}
}

// num validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (v *validator) num() bool {
	n := NumberLen(v.b[v.i:])
	if n < 0 {
		return false
	}
	v.i += n
	return true
}

// NumberLen returns the length of the JSON number at the start of b
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), or -1 when b does not
// start with one. Encoders that copy number text verbatim check it with
// this, so JSON's number grammar lives in one place.
func NumberLen(b []byte) int {
	digits := func(i int) int {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		start := i + 1
		if i = digits(start); i == start {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		if i = digits(start); i == start {
			return -1
		}
	}
	return i
}
