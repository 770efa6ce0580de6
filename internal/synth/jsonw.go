package synth

import (
	"strconv"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// enc builds one compact JSON document by appending; it tracks whether the
// next member or element needs a comma. It is the generator's hot path, so
// it never allocates beyond growing b.
type enc struct {
	b     []byte
	comma bool
}

func (e *enc) key(k string) {
	if e.comma {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
	e.comma = true
}

// item starts an array element.
func (e *enc) item() {
	if e.comma {
		e.b = append(e.b, ',')
	}
	e.comma = true
}

func (e *enc) obj(k string) { e.key(k); e.b = append(e.b, '{'); e.comma = false }
func (e *enc) arr(k string) { e.key(k); e.b = append(e.b, '['); e.comma = false }
func (e *enc) objItem()     { e.item(); e.b = append(e.b, '{'); e.comma = false }
func (e *enc) begin()       { e.b = append(e.b, '{'); e.comma = false }
func (e *enc) end()         { e.b = append(e.b, '}'); e.comma = true }
func (e *enc) endArr()      { e.b = append(e.b, ']'); e.comma = true }

func (e *enc) str(k, v string) { e.key(k); e.b = appendJSONString(e.b, v) }

// safe writes a string member whose value needs no escaping (IDs,
// addresses, enumerations): it skips the scan.
func (e *enc) safe(k, v string) {
	e.key(k)
	e.b = append(e.b, '"')
	e.b = append(e.b, v...)
	e.b = append(e.b, '"')
}

// more appends literal members; lit must start with a comma.
func (e *enc) more(lit string) { e.b = append(e.b, lit...); e.comma = true }

// strNull writes null for an empty value, as Graph does.
func (e *enc) strNull(k, v string) {
	e.key(k)
	if v == "" {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = appendJSONString(e.b, v)
}

// strItem writes a string array element.
func (e *enc) strItem(v string) { e.item(); e.b = appendJSONString(e.b, v) }

func (e *enc) int(k string, v int) { e.key(k); e.b = strconv.AppendInt(e.b, int64(v), 10) }

func (e *enc) float(k string, v float64) { e.key(k); e.b = strconv.AppendFloat(e.b, v, 'f', -1, 64) }

func (e *enc) bool(k string, v bool) { e.key(k); e.b = strconv.AppendBool(e.b, v) }

func (e *enc) null(k string) { e.key(k); e.b = append(e.b, "null"...) }

// raw writes v, which must be JSON already.
func (e *enc) raw(k, v string) { e.key(k); e.b = append(e.b, v...) }

func (e *enc) time(k string, t time.Time, offset bool) {
	e.key(k)
	e.b = append(e.b, '"')
	e.b = appendTime(e.b, t, offset)
	e.b = append(e.b, '"')
}

func (e *enc) strs(k string, vs []string) {
	e.arr(k)
	for _, v := range vs {
		e.strItem(v)
	}
	e.endArr()
}

// appendJSONString is entra's escaper: the generator writes what the
// decoder reads with the same rules.
func appendJSONString(b []byte, s string) []byte { return entra.AppendJSONString(b, s) }

const hexDigits = "0123456789abcdef"

// appendGUIDBytes formats 16 bytes as a lower-case GUID.
func appendGUIDBytes(b []byte, u []byte) []byte {
	for i, x := range u[:16] {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return b
}

// appendGUID formats two random words as a version 4 GUID.
func appendGUID(b []byte, hi, lo uint64) []byte {
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
	var u [16]byte
	for i := 0; i < 8; i++ {
		u[i] = byte(hi >> (56 - 8*i))
		u[8+i] = byte(lo >> (56 - 8*i))
	}
	return appendGUIDBytes(b, u[:])
}

// appendTime writes t in UTC with 7 fractional digits, the way Entra does:
// "2026-03-02T07:00:00.1234567Z", or with "+00:00" instead of Z (offset),
// as properties.createdDateTime of diagnostic records has it.
func appendTime(b []byte, t time.Time, offset bool) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	b = append2(b, s)
	b = append(b, '.')
	f := t.Nanosecond() / 100
	var frac [7]byte
	for i := 6; i >= 0; i-- {
		frac[i] = byte('0' + f%10)
		f /= 10
	}
	b = append(b, frac[:]...)
	if offset {
		return append(b, "+00:00"...)
	}
	return append(b, 'Z')
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}
