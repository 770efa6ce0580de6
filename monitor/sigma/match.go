package sigma

import (
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unsafe"

	"github.com/privtrail/privtrail/entra"
)

// modifiers are the parsed modifiers of one detection key
// (field|contains|all).
type modifiers struct {
	contains, startswith, endswith, all, cased bool
	re                                         bool
	reFlags                                    string // of i, m, s
	cidr, exists, windash, fieldref, neq       bool
	base64, base64offset                       bool
	utf16                                      string // "", le, be, bom
	cmp                                        string // gt, gte, lt, lte
}

// refused are modifiers of the specification privtrail does not run,
// and why.
var refused = map[string]string{
	"expand": "placeholders (%name%) need values from a processing pipeline, which privtrail does not have",
	"minute": "the time modifiers are not supported", "hour": "the time modifiers are not supported",
	"day": "the time modifiers are not supported", "week": "the time modifiers are not supported",
	"month": "the time modifiers are not supported", "year": "the time modifiers are not supported",
}

func parseModifiers(keyNode *node, mods []string) (modifiers, error) {
	var m modifiers
	for _, mod := range mods {
		switch mod {
		case "contains":
			m.contains = true
		case "startswith":
			m.startswith = true
		case "endswith":
			m.endswith = true
		case "all":
			m.all = true
		case "cased":
			m.cased = true
		case "re":
			m.re = true
		case "i", "m", "s":
			if !m.re {
				return m, errAt(keyNode, "modifier %q applies to re and must follow it", mod)
			}
			m.reFlags += mod
		case "cidr":
			m.cidr = true
		case "exists":
			m.exists = true
		case "windash":
			m.windash = true
		case "fieldref":
			m.fieldref = true
		case "neq":
			m.neq = true
		case "base64":
			m.base64 = true
		case "base64offset":
			m.base64offset = true
		case "utf16le", "wide":
			m.utf16 = "le"
		case "utf16be":
			m.utf16 = "be"
		case "utf16":
			m.utf16 = "bom"
		case "gt", "gte", "lt", "lte":
			if m.cmp != "" {
				return m, errAt(keyNode, "modifiers %s and %s: one comparison per key", m.cmp, mod)
			}
			m.cmp = mod
		default:
			if why, ok := refused[mod]; ok {
				return m, errAt(keyNode, "modifier %q is not supported: %s", mod, why)
			}
			return m, errAt(keyNode, "unknown modifier %q", mod)
		}
	}
	n := 0
	for _, b := range []bool{m.contains, m.startswith, m.endswith} {
		if b {
			n++
		}
	}
	switch {
	case n > 1:
		return m, errAt(keyNode, "contains, startswith and endswith exclude each other")
	case m.re && (n > 0 || m.windash || m.base64 || m.base64offset || m.utf16 != "" || m.cidr || m.cmp != "" || m.fieldref):
		return m, errAt(keyNode, "re takes no other value modifier")
	case m.base64 && m.base64offset:
		return m, errAt(keyNode, "base64 and base64offset exclude each other")
	case m.utf16 != "" && !m.base64 && !m.base64offset:
		return m, errAt(keyNode, "utf16le/utf16be/utf16/wide only make sense before base64 or base64offset")
	case m.exists && len(mods) > 1:
		return m, errAt(keyNode, "exists takes no other modifier")
	case m.cidr && (n > 0 || m.windash || m.base64 || m.base64offset || m.cmp != "" || m.fieldref):
		return m, errAt(keyNode, "cidr takes no other value modifier")
	case m.cmp != "" && (n > 0 || m.windash || m.base64 || m.base64offset || m.fieldref || m.neq):
		return m, errAt(keyNode, "%s takes no other value modifier", m.cmp)
	case m.fieldref && (n > 0 || m.windash || m.base64 || m.base64offset):
		return m, errAt(keyNode, "fieldref combines only with neq and cased")
	}
	return m, nil
}

// test is one value of a detection item, compiled.
type test struct {
	// match reports whether one value of the field matches.
	match func(r *entra.Record, d *Doc, v value) bool
	// empty is true when the item value also matches a field with no
	// value (null, '').
	empty bool
}

// item is one field: value(s) entry of a selection, compiled.
type item struct {
	field *Field
	cost  int
	match matcher
}

// compileItem compiles `field|mods: values` of service svc.
func compileItem(svc *Service, keyNode, valNode *node) (*item, error) {
	parts := strings.Split(keyNode.str, "|")
	name := parts[0]
	if name == "" {
		return nil, errAt(keyNode, "a detection key needs a field name (keywords are a list, not a key)")
	}
	f := svc.field(name)
	if f == nil {
		return nil, errAt(keyNode, "field %q is not mapped for logsource azure/%s (the fields privtrail maps are listed in monitor/sigma/README.md)", name, svc.Name)
	}
	m, err := parseModifiers(keyNode, parts[1:])
	if err != nil {
		return nil, err
	}
	var vals []*node
	switch valNode.kind {
	case kSeq:
		vals = valNode.vals
		if len(vals) == 0 {
			return nil, errAt(valNode, "%s: an empty list of values matches nothing", keyNode.str)
		}
	case kMap:
		return nil, errAt(valNode, "%s: a value must be a scalar or a list of scalars", keyNode.str)
	default:
		vals = []*node{valNode}
	}
	if m.all && len(vals) < 2 {
		return nil, errAt(keyNode, "the all modifier needs a list of at least two values")
	}
	it := &item{field: f, cost: f.Cost}
	get := f.get
	if m.exists {
		if len(vals) != 1 || vals[0].kind != kBool {
			return nil, errAt(valNode, "exists takes true or false")
		}
		want := vals[0].b
		it.match = func(r *entra.Record, d *Doc) bool {
			got, start := d.collect(get, r)
			d.vals = d.vals[:start]
			return (len(got) > 0) == want
		}
		return it, nil
	}
	tests := make([]test, 0, len(vals))
	for _, v := range vals {
		if v.kind == kSeq || v.kind == kMap {
			return nil, errAt(v, "%s: a value must be a scalar", keyNode.str)
		}
		t, err := compileValue(svc, f, m, v)
		if err != nil {
			return nil, err
		}
		tests = append(tests, t)
	}
	// passes reports whether one of the values passes t.
	passes := func(r *entra.Record, d *Doc, got []value, t *test) bool {
		for _, v := range got {
			if t.match(r, d, v) {
				return true
			}
		}
		return false
	}
	var match matcher
	if m.all {
		match = func(r *entra.Record, d *Doc) bool {
			got, start := d.collect(get, r)
			ok := true
			for i := range tests {
				if t := &tests[i]; !passes(r, d, got, t) && !(t.empty && len(got) == 0) {
					ok = false
					break
				}
			}
			d.vals = d.vals[:start]
			return ok
		}
	} else {
		empty := slices.ContainsFunc(tests, func(t test) bool { return t.empty })
		match = func(r *entra.Record, d *Doc) bool {
			got, start := d.collect(get, r)
			ok := empty && len(got) == 0
			for i := 0; i < len(tests) && !ok; i++ {
				ok = passes(r, d, got, &tests[i])
			}
			d.vals = d.vals[:start]
			return ok
		}
	}
	if f.inRaw && !m.all && !empty(tests) {
		// A raw field is parsed from the document: judge the values the
		// text shows after the member's name first, which tells most
		// records apart without the parse (see Doc.rawCandidates).
		inner, slot := match, f.rawSlot
		match = func(r *entra.Record, d *Doc) bool {
			if cands, sure := d.rawCandidates(r, slot); sure {
				ok := false
				for i := 0; i < len(tests) && !ok; i++ {
					ok = passes(r, d, cands, &tests[i])
				}
				if !ok {
					return false
				}
			}
			return inner(r, d)
		}
	}
	if m.neq {
		inner := match
		match = func(r *entra.Record, d *Doc) bool { return !inner(r, d) }
	}
	it.match = match
	return it, nil
}

func empty(tests []test) bool {
	return slices.ContainsFunc(tests, func(t test) bool { return t.empty })
}

// compileValue compiles one value of an item.
func compileValue(svc *Service, f *Field, m modifiers, v *node) (test, error) {
	never := func(*entra.Record, *Doc, value) bool { return false }
	if v.kind == kNull {
		if m.contains || m.startswith || m.endswith || m.re || m.cidr || m.cmp != "" || m.fieldref {
			return test{}, errAt(v, "null takes no value modifier")
		}
		return test{match: never, empty: true}, nil
	}
	switch {
	case m.cmp != "":
		if v.kind != kNumber {
			return test{}, errAt(v, "%s compares with a number, not %s", m.cmp, v.kind)
		}
		return test{match: compare(m.cmp, v.num)}, nil
	case m.cidr:
		p, err := netip.ParsePrefix(v.scalarText())
		if err != nil {
			return test{}, errAt(v, "cidr: %v", err)
		}
		p = p.Masked()
		return test{match: func(_ *entra.Record, _ *Doc, x value) bool {
			a, err := netip.ParseAddr(x.text())
			return err == nil && p.Contains(a.Unmap())
		}}, nil
	case m.fieldref:
		other := svc.field(v.scalarText())
		if other == nil {
			return test{}, errAt(v, "fieldref: field %q is not mapped for logsource azure/%s", v.scalarText(), svc.Name)
		}
		cased, get := m.cased, other.get
		return test{match: func(r *entra.Record, d *Doc, x value) bool {
			xs := x.text()
			got, start := d.collect(get, r)
			ok := slices.ContainsFunc(got, func(o value) bool {
				if cased {
					return o.text() == xs
				}
				return strings.EqualFold(o.text(), xs)
			})
			d.vals = d.vals[:start]
			return ok
		}}, nil
	case m.re:
		if v.kind != kString {
			return test{}, errAt(v, "re takes a string")
		}
		flags := ""
		if m.reFlags != "" {
			flags = "(?" + m.reFlags + ")"
		}
		re, err := regexp.Compile(flags + v.str)
		if err != nil {
			return test{}, errAt(v, "re: %v", err)
		}
		return test{match: func(_ *entra.Record, _ *Doc, x value) bool { return re.MatchString(x.text()) }}, nil
	}
	if v.kind == kNumber && !m.contains && !m.startswith && !m.endswith && !m.base64 && !m.base64offset && !m.windash {
		n, text := v.num, v.str
		return test{match: func(_ *entra.Record, _ *Doc, x value) bool {
			switch x.kind {
			case vNumber:
				return x.n == n
			case vString:
				if y, err := strconv.ParseFloat(strings.TrimSpace(x.s), 64); err == nil {
					return y == n
				}
				return x.s == text
			}
			return false
		}}, nil
	}
	if v.kind == kBool && !m.contains && !m.startswith && !m.endswith {
		b := v.b
		return test{match: func(_ *entra.Record, _ *Doc, x value) bool {
			switch x.kind {
			case vBool:
				return (x.n != 0) == b
			case vString:
				return strings.EqualFold(x.s, strconv.FormatBool(b))
			}
			return false
		}}, nil
	}
	s := v.scalarText()
	if s == "" && !m.contains && !m.startswith && !m.endswith {
		return test{match: never, empty: true}, nil
	}
	sm, err := stringMatcher(v, s, m)
	if err != nil {
		return test{}, err
	}
	return test{match: func(_ *entra.Record, _ *Doc, x value) bool {
		if x.kind == vString {
			return sm(x.s)
		}
		return sm(x.text())
	}}, nil
}

func compare(op string, n float64) func(*entra.Record, *Doc, value) bool {
	return func(_ *entra.Record, _ *Doc, x value) bool {
		y := x.n
		switch x.kind {
		case vString:
			var err error
			if y, err = strconv.ParseFloat(strings.TrimSpace(x.s), 64); err != nil {
				return false
			}
		case vBool:
			return false
		}
		switch op {
		case "gt":
			return y > n
		case "gte":
			return y >= n
		case "lt":
			return y < n
		}
		return y <= n
	}
}

// stringMatcher compiles a string value with its wildcards, encodings and
// modifiers into a test of one string.
func stringMatcher(v *node, s string, m modifiers) (func(string) bool, error) {
	if m.base64 || m.base64offset {
		// Encoded values are literal: their wildcards would be encoded too.
		b := []byte(s)
		switch m.utf16 {
		case "le":
			b = utf16Bytes(s, binary.LittleEndian, false)
		case "be":
			b = utf16Bytes(s, binary.BigEndian, false)
		case "bom":
			b = utf16Bytes(s, binary.LittleEndian, true)
		}
		var alts []string
		if m.base64 {
			alts = []string{base64.StdEncoding.EncodeToString(b)}
		} else {
			alts = base64Offsets(b)
		}
		// Base64 text is case-sensitive: folding it would match other bytes.
		var ms []func(string) bool
		for _, a := range alts {
			ms = append(ms, literalMatcher(a, m, true))
		}
		return func(x string) bool {
			for _, f := range ms {
				if f(x) {
					return true
				}
			}
			return false
		}, nil
	}
	pat := parseWildcards(s)
	if m.contains || m.endswith {
		pat = append([]piece{{star: true}}, pat...)
	}
	if m.contains || m.startswith {
		pat = append(pat, piece{star: true})
	}
	pat = mergeStars(pat)
	if !m.windash {
		if f := fastMatcher(pat, m.cased); f != nil {
			return f, nil
		}
	}
	re, err := regexp.Compile(patternRegexp(pat, m))
	if err != nil {
		return nil, errAt(v, "value %q: %v", s, err)
	}
	return re.MatchString, nil
}

func literalMatcher(lit string, m modifiers, cased bool) func(string) bool {
	pat := []piece{{lit: lit}}
	if m.contains || m.endswith {
		pat = append([]piece{{star: true}}, pat...)
	}
	if m.contains || m.startswith {
		pat = append(pat, piece{star: true})
	}
	return fastMatcher(pat, cased)
}

// utf16Bytes encodes s as UTF-16, optionally after a byte order mark.
func utf16Bytes(s string, order binary.AppendByteOrder, bom bool) []byte {
	var out []byte
	if bom {
		out = order.AppendUint16(out, 0xFEFF)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		out = order.AppendUint16(out, u)
	}
	return out
}

// base64Offsets are the three encodings of b at offsets 0, 1 and 2 of a
// base64 stream, without the characters that depend on the neighbouring
// bytes (as pySigma computes them).
func base64Offsets(b []byte) []string {
	start := [3]int{0, 2, 3}
	var out []string
	for i := 0; i < 3; i++ {
		shifted := append(make([]byte, i), b...)
		enc := base64.StdEncoding.EncodeToString(shifted)
		endTrim := [3]int{0, 3, 2}[(len(b)+i)%3]
		enc = enc[start[i] : len(enc)-endTrim]
		out = append(out, enc)
	}
	return out
}

// piece is a literal run or a wildcard of a Sigma string value.
type piece struct {
	lit  string
	star bool // *
	one  bool // ?
}

// parseWildcards splits a Sigma string into literals and wildcards: * and
// ? are wildcards, \* \? and \\ their literal characters, and a backslash
// before anything else is a backslash.
func parseWildcards(s string) []piece {
	var out []piece
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, piece{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\') {
				lit.WriteByte(s[i+1])
				i++
				continue
			}
			lit.WriteByte(c)
		case '*':
			flush()
			out = append(out, piece{star: true})
		case '?':
			flush()
			out = append(out, piece{one: true})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out
}

func mergeStars(p []piece) []piece {
	out := p[:0:0]
	for _, x := range p {
		if x.star && len(out) > 0 && out[len(out)-1].star {
			continue
		}
		out = append(out, x)
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// fastMatcher handles the shapes nearly every rule has — a literal,
// *literal, literal*, *literal* — without a regular expression, or
// returns nil. Case folding is ASCII's: non-ASCII literals take the
// regular expression, which folds Unicode.
func fastMatcher(p []piece, cased bool) func(string) bool {
	var lit string
	var lead, trail bool
	switch {
	case len(p) == 1 && p[0].star:
		return func(string) bool { return true }
	case len(p) == 1 && p[0].lit != "":
		lit = p[0].lit
	case len(p) == 2 && p[0].star && p[1].lit != "":
		lit, lead = p[1].lit, true
	case len(p) == 2 && p[0].lit != "" && p[1].star:
		lit, trail = p[0].lit, true
	case len(p) == 3 && p[0].star && p[1].lit != "" && p[2].star:
		lit, lead, trail = p[1].lit, true, true
	default:
		return nil
	}
	if cased {
		switch {
		case lead && trail:
			return func(s string) bool { return strings.Contains(s, lit) }
		case lead:
			return func(s string) bool { return strings.HasSuffix(s, lit) }
		case trail:
			return func(s string) bool { return strings.HasPrefix(s, lit) }
		}
		return func(s string) bool { return s == lit }
	}
	if !isASCII(lit) {
		return nil
	}
	low := strings.ToLower(lit)
	switch {
	case lead && trail:
		return func(s string) bool { return containsFoldASCII(s, low) }
	case lead:
		return func(s string) bool { return len(s) >= len(low) && equalFoldASCII(s[len(s)-len(low):], low) }
	case trail:
		return func(s string) bool { return len(s) >= len(low) && equalFoldASCII(s[:len(low)], low) }
	}
	return func(s string) bool { return len(s) == len(low) && equalFoldASCII(s, low) }
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFoldASCII compares s with low, a lower-case ASCII string.
func equalFoldASCII(s, low string) bool {
	for i := 0; i < len(low); i++ {
		if lowerASCII(s[i]) != low[i] {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether low, lower-case ASCII, is in s,
// ignoring ASCII case.
func containsFoldASCII(s, low string) bool {
	if len(low) == 0 {
		return true
	}
	c0 := low[0]
	up := c0
	if 'a' <= c0 && c0 <= 'z' {
		up = c0 - ('a' - 'A')
	}
	// Jump between candidates of either case of the first byte with
	// IndexByte (vectorised): the documents scanned are kilobytes long.
	last := len(s) - len(low)
	nl, nu := -1, -1
	for i := 0; i <= last; {
		if nl < i {
			if nl = strings.IndexByte(s[i:], c0); nl < 0 {
				nl = len(s)
			} else {
				nl += i
			}
		}
		if nu < i {
			if nu = strings.IndexByte(s[i:], up); nu < 0 {
				nu = len(s)
			} else {
				nu += i
			}
		}
		i = min(nl, nu)
		if i > last {
			return false
		}
		if equalFoldASCII(s[i:i+len(low)], low) {
			return true
		}
		i++
	}
	return false
}

// patternRegexp writes a wildcard pattern as an anchored regular
// expression.
func patternRegexp(p []piece, m modifiers) string {
	var b strings.Builder
	if !m.cased {
		b.WriteString("(?i)")
	}
	b.WriteString("(?s)^")
	for _, x := range p {
		switch {
		case x.star:
			b.WriteString(".*")
		case x.one:
			b.WriteString(".")
		case m.windash:
			for _, r := range x.lit {
				if strings.ContainsRune(windashes, r) {
					b.WriteString("[" + regexp.QuoteMeta(windashes) + "]")
					continue
				}
				b.WriteString(regexp.QuoteMeta(string(r)))
			}
		default:
			b.WriteString(regexp.QuoteMeta(x.lit))
		}
	}
	b.WriteString("$")
	return b.String()
}

// windashes are the characters windash makes interchangeable.
const windashes = "-/–—―"

// keywordMatcher compiles one keyword: a string matched anywhere in the
// record's raw JSON, ignoring case.
func keywordMatcher(v *node) (matcher, error) {
	if v.kind == kSeq || v.kind == kMap || v.kind == kNull {
		return nil, errAt(v, "a keyword must be a string or number, not %s", v.kind)
	}
	sm, err := stringMatcher(v, v.scalarText(), modifiers{contains: true})
	if err != nil {
		return nil, err
	}
	return func(r *entra.Record, _ *Doc) bool { return sm(bytesString(r.Raw)) }, nil
}

// bytesString views b as a string without copying: the raw document is
// scanned by every keyword rule of its stream, and never changes while a
// record is evaluated.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
