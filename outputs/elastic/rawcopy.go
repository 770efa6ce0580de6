package elastic

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/valyala/fastjson"

	"github.com/privtrail/privtrail/entra"
)

// This file copies parts of the original Entra document into the ECS
// document under the names Elastic's Azure integration gives them.
// Values are re-encoded from the parse (strings through
// entra.AppendJSONString, numbers checked against the JSON grammar), so a
// lenient parse can never put invalid JSON into a bulk request.

// keyStyle is how copied object keys are renamed.
type keyStyle int

const (
	keepKeys  keyStyle = iota // as logged (dots made underscores)
	snakeKeys                 // the integration's camelCase → snake_case
)

// snakeCase converts a key the way the sign-in pipeline of Elastic's Azure
// integration does: every lower-case letter followed by a run of
// upper-case letters gets an underscore between them (the regex
// ([a-z])([A-Z]+) → $1_$2), then the whole key is lower-cased. So
// riskLevelDuringSignIn becomes risk_level_during_sign_in and IPAddress
// ipaddress.
func snakeCase(dst []byte, k []byte) []byte {
	for i := 0; i < len(k); i++ {
		c := k[i]
		dst = append(dst, lower(c))
		if 'a' <= c && c <= 'z' && i+1 < len(k) && 'A' <= k[i+1] && k[i+1] <= 'Z' {
			dst = append(dst, '_')
			for i+1 < len(k) && 'A' <= k[i+1] && k[i+1] <= 'Z' {
				i++
				dst = append(dst, lower(k[i]))
			}
		}
	}
	return dst
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// fieldName turns a logged key into a field name Elasticsearch accepts as
// one path segment: dots (which Elasticsearch would expand into objects)
// become underscores. An empty result means the key is dropped.
func fieldName(dst []byte, k []byte, style keyStyle) []byte {
	start := len(dst)
	if style == snakeKeys {
		dst = snakeCase(dst, k)
	} else {
		dst = append(dst, k...)
	}
	allBlank := true
	for i := start; i < len(dst); i++ {
		switch dst[i] {
		case '.':
			dst[i] = '_'
		case ' ', '\t', '\r', '\n':
		default:
			allBlank = false
		}
	}
	if allBlank {
		return dst[:start]
	}
	return dst
}

// A nameTable interns what each logged key becomes: the same few hundred
// keys come in every record, and renaming each and allocating its string
// again was a fifth of the encoder's time. Reads load the map without a
// lock (a read lock per key was 7 % of the encoder's time); a new key
// copies it. Entra's categories log a few hundred distinct keys; keys
// beyond maxNames (a source inventing them) are renamed each time, which
// bounds the memory and the copying (~0.5 s of CPU in all for a source
// that invents maxNames keys).
type nameTable struct {
	m      atomic.Pointer[map[string]fieldKey]
	mu     sync.Mutex // serializes the copies
	rename func(k []byte) string
}

// fieldKey is a logged key as a field: its name ("" drops the member),
// that name written as a JSON key, colon included, and whether writing it
// replaced invalid UTF-8.
type fieldKey struct {
	name, json string
	replaced   bool
}

const maxNames = 4096

func newNameTable(rename func(k []byte) string) *nameTable {
	return &nameTable{rename: rename}
}

// of is the field k becomes.
func (t *nameTable) of(k []byte) fieldKey {
	if m := t.m.Load(); m != nil {
		if f, ok := (*m)[string(k)]; ok {
			return f
		}
	}
	f := fieldKey{name: t.rename(k)}
	if f.name != "" {
		f.json = string(append(entra.AppendJSONStringNoting(nil, f.name, &f.replaced), ':'))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var old map[string]fieldKey
	if m := t.m.Load(); m != nil {
		old = *m
	}
	if _, ok := old[string(k)]; !ok && len(old) < maxNames {
		next := make(map[string]fieldKey, len(old)+1)
		for key, f := range old {
			next[key] = f
		}
		next[string(k)] = f
		t.m.Store(&next)
	}
	return f
}

// names are fieldName's names, per key style.
var names = [2]*nameTable{
	keepKeys:  newNameTable(func(k []byte) string { return string(fieldName(nil, k, keepKeys)) }),
	snakeKeys: newNameTable(func(k []byte) string { return string(fieldName(nil, k, snakeKeys)) }),
}

// fieldNameOf is fieldName as a string, interned.
func fieldNameOf(k []byte, style keyStyle) string { return names[style].of(k).name }

// seen remembers the keys written into one object so that two logged keys
// that map to the same field (riskLevelDuringSignIn and
// riskLevelDuringsignIn) do not make a duplicate key, which Elasticsearch
// rejects. The first one wins.
type seen struct {
	// The first keys in place (an object on the stack holds them: a
	// slice grown by add escaped to the heap, a fifth of the encoder's
	// allocations), the rest of a large object after them.
	first [24]string
	n     int
	more  []string
}

func (s *seen) add(k string) bool {
	for _, x := range s.first[:s.n] {
		if x == k {
			return false
		}
	}
	for _, x := range s.more {
		if x == k {
			return false
		}
	}
	if s.n < len(s.first) {
		s.first[s.n] = k
		s.n++
	} else {
		s.more = append(s.more, k)
	}
	return true
}

// appendValue appends v as JSON, renaming object keys (at every depth) by
// style.
func appendValue(dst []byte, v *fastjson.Value, style keyStyle) []byte {
	return appendJSON(dst, v, style, false)
}

// appendJSON is appendValue, leaving out null and empty members and
// elements when prune is set.
func appendJSON(dst []byte, v *fastjson.Value, style keyStyle, prune bool) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		dst = append(dst, '{')
		var ks seen
		n := 0
		o.Visit(func(k []byte, val *fastjson.Value) {
			if prune && emptyValue(val) {
				return
			}
			f := names[style].of(k)
			if f.name == "" || !ks.add(f.name) {
				return
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, f.json...)
			dst = appendJSON(dst, val, style, prune)
		})
		return append(dst, '}')
	case fastjson.TypeArray:
		a, _ := v.Array()
		dst = append(dst, '[')
		n := 0
		for _, e := range a {
			if prune && emptyValue(e) {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = appendJSON(dst, e, style, prune)
		}
		return append(dst, ']')
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return entra.AppendJSONString(dst, b)
	case fastjson.TypeNumber:
		start := len(dst)
		dst = v.MarshalTo(dst)
		if !jsonNumber(dst[start:]) {
			// fastjson also reads NaN, Inf, 01, +1: keep the text.
			text := string(dst[start:])
			return entra.AppendJSONString(dst[:start], text)
		}
		return dst
	case fastjson.TypeTrue:
		return append(dst, "true"...)
	case fastjson.TypeFalse:
		return append(dst, "false"...)
	default:
		return append(dst, "null"...)
	}
}

// jsonNumber reports whether b is a number as JSON spells it.
func jsonNumber(b []byte) bool { return entra.NumberLen(b) == len(b) }

// member returns the member of object v whose key equals name ignoring
// ASCII case (an exact match wins), or nil.
func member(v *fastjson.Value, name string) *fastjson.Value {
	if v == nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	o, _ := v.Object()
	if x := o.Get(name); x != nil {
		return x
	}
	var found *fastjson.Value
	o.Visit(func(k []byte, val *fastjson.Value) {
		if found == nil && eqFold(k, name) {
			found = val
		}
	})
	return found
}

func eqFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func isNull(v *fastjson.Value) bool { return v == nil || v.Type() == fastjson.TypeNull }

// scalarText is the text of a string or number value ("" otherwise).
func scalarText(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b)
	case fastjson.TypeNumber:
		b := v.MarshalTo(nil)
		if jsonNumber(b) {
			return string(b)
		}
	}
	return ""
}

// itoa is strconv.Itoa for the index keys of target_resources.
func itoa(i int) string { return strconv.Itoa(i) }
