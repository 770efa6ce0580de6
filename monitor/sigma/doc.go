package sigma

import (
	"bytes"
	"strconv"

	"github.com/valyala/fastjson"

	"github.com/privtrail/privtrail/entra"
)

// Doc is what the matchers of one goroutine need while they judge one
// record: the values a field yields (a stack reused from record to
// record), the members of the raw document the decoder does not keep
// (read at most once per record, and only when a rule asks for them)
// and the texts built from the record. A zero Doc is ready; it is not
// safe for concurrent use. Call Reset before each record: the record's
// values stay valid until then.
type Doc struct {
	rec  *entra.Record
	vals []value
	add  func(string) // appends a non-empty string to vals

	raw    [maxRaw]rawState
	parser fastjson.Parser
	root   *fastjson.Value
	parsed bool

	texts     []byte   // built texts (properties, compact JSON)
	props     []string // the audit targets' modified properties as JSON text
	propsDone bool
}

// Reset makes d forget the record it read: the next match reads its
// record afresh, even if it is the same *entra.Record filled anew.
func (d *Doc) Reset() { d.rec = nil }

// at points d at r, forgetting what it read of another record.
func (d *Doc) at(r *entra.Record) {
	if d.rec == r {
		return
	}
	d.rec = r
	d.vals = d.vals[:0]
	for i := range d.raw {
		d.raw[i].cands = d.raw[i].cands[:0]
		d.raw[i].candDone, d.raw[i].exactDone = false, false
	}
	d.parsed, d.root = false, nil
	d.texts = d.texts[:0]
	d.props = d.props[:0]
	d.propsDone = false
}

// adder returns the function that appends a string value to d.vals,
// made once per Doc so that getters pass it without allocating.
func (d *Doc) adder() func(string) {
	if d.add == nil {
		d.add = func(s string) {
			if s != "" {
				d.vals = append(d.vals, value{s: s})
			}
		}
	}
	return d.add
}

// collect appends the values of g for r to d.vals and returns them; the
// caller truncates d.vals back to start when done (getters nest: fieldref
// reads another field while one is being judged).
func (d *Doc) collect(g getter, r *entra.Record) (vals []value, start int) {
	d.at(r)
	start = len(d.vals)
	g(r, d)
	return d.vals[start:], start
}

// The raw members a field reads; each has a slot in every Doc.
const maxRaw = 4

var rawNames []string

func rawSlot(name string) int {
	for i, n := range rawNames {
		if n == name {
			return i
		}
	}
	if len(rawNames) == maxRaw {
		panic("sigma: more raw members than maxRaw")
	}
	rawNames = append(rawNames, name)
	return len(rawNames) - 1
}

type rawState struct {
	// cands are the values written after every occurrence of the
	// member's quoted name followed by a colon, read from the text
	// without parsing; sure is false when one could not be read that
	// way (then only the parse can tell).
	cands          []value
	candDone, sure bool
	exact          value
	has, exactDone bool
}

// rawValue appends the member's value to d.vals: properties.<name> in
// the diagnostic shape, <name> in Graph's. Strings are unquoted; other
// JSON (arrays, objects) is its compact text, as Log Analytics shows a
// dynamic column. The document is parsed at most once per record, and
// not at all when it does not contain the quoted name.
func (d *Doc) rawValue(r *entra.Record, slot int) {
	st := &d.raw[slot]
	if !st.exactDone {
		st.exactDone = true
		st.has = false
		if cands, sure := d.rawCandidates(r, slot); sure && len(cands) == 0 {
			// No occurrence of the name: no such member, no parse.
			return
		}
		st.exact, st.has = d.parse(r, rawNames[slot])
	}
	if st.has {
		d.vals = append(d.vals, st.exact)
	}
}

// parse reads member name of the record's document, parsing it once.
func (d *Doc) parse(r *entra.Record, name string) (value, bool) {
	if !d.parsed {
		d.parsed = true
		d.root, _ = d.parser.ParseBytes(r.Raw)
	}
	if d.root == nil {
		return value{}, false
	}
	var v *fastjson.Value
	if r.Shape == entra.ShapeDiagnostic {
		v = d.root.Get("properties", name)
	} else {
		v = d.root.Get(name)
	}
	if v == nil {
		return value{}, false
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return value{}, false
	case fastjson.TypeString:
		// A view of the parser's buffer: valid until the next parse,
		// which is the next record's.
		return value{s: bytesString(v.GetStringBytes())}, true
	case fastjson.TypeNumber:
		return value{n: v.GetFloat64(), kind: vNumber}, true
	case fastjson.TypeTrue:
		return value{n: 1, kind: vBool}, true
	case fastjson.TypeFalse:
		return value{kind: vBool}, true
	}
	start := len(d.texts)
	d.texts = v.MarshalTo(d.texts)
	return value{s: bytesString(d.texts[start:])}, true
}

// rawCandidates returns the values that follow the member's quoted name
// wherever it is written as a key, read from the text without parsing,
// and whether that reading is sure. The member's value, if it has one,
// is among them when sure is set (it follows one of those names), so
// that a value none of them matches cannot match: a prefilter that
// spares most records the parse. Not sure: a value the text reader does
// not read (an escape, whitespace in an array), or a \u escape that
// could spell the name.
func (d *Doc) rawCandidates(r *entra.Record, slot int) ([]value, bool) {
	d.at(r)
	st := &d.raw[slot]
	if st.candDone {
		return st.cands, st.sure
	}
	st.candDone, st.sure = true, true
	doc := r.Raw
	name := rawNames[slot]
	anchor := anchorOf(name)
	found := false
	for from := 0; ; {
		j := bytes.IndexByte(doc[from:], name[anchor])
		if j < 0 {
			break
		}
		at := from + j - anchor // the name's first byte
		from += j + 1
		if at < 1 || at+len(name)+1 > len(doc) || doc[at-1] != '"' || doc[at+len(name)] != '"' ||
			string(doc[at:at+len(name)]) != name {
			continue
		}
		i := skipSpace(doc, at+len(name)+1)
		if i >= len(doc) || doc[i] != ':' {
			continue // not a key
		}
		found = true
		v, null, ok := readValue(doc, skipSpace(doc, i+1))
		if !ok {
			st.sure = false
			return nil, false
		}
		if !null {
			st.cands = append(st.cands, v)
		}
	}
	if found && bytes.Contains(doc, []byte(`\u`)) {
		st.sure = false
		return nil, false
	}
	return st.cands, true
}

// anchorOf is the byte of name the search jumps to: its first upper-case
// letter (rare in JSON), else its last byte.
func anchorOf(name string) int {
	for i := 0; i < len(name); i++ {
		if 'A' <= name[i] && name[i] <= 'Z' {
			return i
		}
	}
	return len(name) - 1
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// readValue reads the JSON value at b[i:] as parse would return it, when
// that needs no unescaping nor compaction; ok is false otherwise, and for
// numbers (which parse reads with its own float parser).
func readValue(b []byte, i int) (v value, null, ok bool) {
	if i >= len(b) {
		return value{}, false, false
	}
	switch c := b[i]; {
	case c == '"':
		j := bytes.IndexByte(b[i+1:], '"')
		if j < 0 {
			return value{}, false, false
		}
		s := b[i+1 : i+1+j]
		if bytes.IndexByte(s, '\\') >= 0 {
			return value{}, false, false
		}
		return value{s: bytesString(s)}, false, true
	case c == '[' || c == '{':
		end, ok := compactEnd(b, i)
		if !ok {
			return value{}, false, false
		}
		return value{s: bytesString(b[i:end])}, false, true
	case bytes.HasPrefix(b[i:], []byte("null")):
		return value{}, true, true
	case bytes.HasPrefix(b[i:], []byte("true")):
		return value{n: 1, kind: vBool}, false, true
	case bytes.HasPrefix(b[i:], []byte("false")):
		return value{kind: vBool}, false, true
	}
	return value{}, false, false
}

// compactEnd returns the end of the array or object at b[i], when it is
// written compactly (no whitespace between tokens) with strings that
// need no escaping: then its text is what fastjson writes for it.
func compactEnd(b []byte, i int) (int, bool) {
	depth := 0
	for j := i; j < len(b); j++ {
		switch c := b[j]; c {
		case '"':
			for j++; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' || b[j] < 0x20 {
					return 0, false
				}
			}
		case '[', '{':
			depth++
		case ']', '}':
			if depth--; depth == 0 {
				return j + 1, true
			}
		case ' ', '\t', '\n', '\r', '\\':
			return 0, false
		}
	}
	return 0, false
}

// properties returns the record's modified properties as the audit
// record's JSON writes them ("displayName":"UserType","oldValue":…,
// "newValue":…), built once per record.
func (d *Doc) properties(r *entra.Record) []string {
	d.at(r)
	if d.propsDone {
		return d.props
	}
	d.propsDone = true
	start := len(d.texts)
	var ends [16]int
	cuts := ends[:0]
	for i := range r.Audit.Targets {
		for j := range r.Audit.Targets[i].ModifiedProperties {
			d.texts = appendPropertyText(d.texts, &r.Audit.Targets[i].ModifiedProperties[j])
			cuts = append(cuts, len(d.texts))
		}
	}
	for _, end := range cuts {
		d.props = append(d.props, bytesString(d.texts[start:end]))
		start = end
	}
	return d.props
}

// appendPropertyText writes a modified property the way it appears in
// the audit record's JSON ("displayName":"UserType","oldValue":"[\"Guest\"]",…):
// what Log Analytics' message text and SigmaHQ's guest-to-member rule quote.
func appendPropertyText(b []byte, p *entra.ModifiedProperty) []byte {
	b = append(b, `"displayName":`...)
	b = strconv.AppendQuote(b, p.DisplayName)
	b = append(b, `,"oldValue":`...)
	b = strconv.AppendQuote(b, p.OldValue)
	b = append(b, `,"newValue":`...)
	return strconv.AppendQuote(b, p.NewValue)
}
