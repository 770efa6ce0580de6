package entra

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the enriched record: the original document unchanged
// plus a "privtrail" object spliced in before its closing brace.
//
// The original is not re-encoded. If it spans several lines it is
// compacted first (outputs write JSON lines), and a top-level "privtrail"
// member it already has (privtrail's own output read back) is dropped, so
// the result has exactly one. Raw is expected to be the JSON object Decode
// accepted; if it is not an object the result is
// {"raw":"<Raw as a string>","privtrail":{…}} (or just the privtrail
// member when Raw is empty).
//
// The result is valid UTF-8: every byte of Raw or of a string of the
// privtrail object that is not part of a valid UTF-8 sequence is replaced
// by U+FFFD (one per byte, as encoding/json and the QRadar output do), and
// then the privtrail object ends with "replaced_invalid_utf8":true. Valid
// input, the usual case, costs one utf8.Valid over Raw and no copy.
func (r *Record) AppendJSON(dst []byte) []byte {
	raw := trimWS(r.Raw)
	var w ptWriter
	if !utf8.Valid(raw) {
		raw = appendValidUTF8(make([]byte, 0, len(raw)+16), raw)
		w.replaced = true
	}
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return r.appendWrapped(dst, raw, &w)
	}
	if bytes.IndexByte(raw, '\n') >= 0 || bytes.IndexByte(raw, '\r') >= 0 || mayHavePrivtrail(raw) {
		return r.appendRewritten(dst, raw, &w)
	}
	return r.appendSpliced(dst, raw, &w)
}

// appendSpliced is the fast path: raw minus its closing brace, then the
// privtrail member.
func (r *Record) appendSpliced(dst, raw []byte, w *ptWriter) []byte {
	body := trimWS(raw[1 : len(raw)-1])
	dst = append(dst, raw[:len(raw)-1]...)
	if len(body) > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"privtrail":`...)
	dst = r.appendPrivtrail(dst, w)
	return append(dst, '}')
}

func (r *Record) appendWrapped(dst, raw []byte, w *ptWriter) []byte {
	dst = append(dst, '{')
	if len(raw) > 0 {
		dst = append(dst, `"raw":`...)
		dst = AppendJSONString(dst, raw)
		dst = append(dst, ',')
	}
	dst = append(dst, `"privtrail":`...)
	dst = r.appendPrivtrail(dst, w)
	return append(dst, '}')
}

// appendRewritten is the slow path: compact a multi-line original and drop
// any top-level "privtrail" member.
func (r *Record) appendRewritten(dst, raw []byte, w *ptWriter) []byte {
	src := raw
	if bytes.IndexByte(raw, '\n') >= 0 || bytes.IndexByte(raw, '\r') >= 0 {
		var buf bytes.Buffer
		buf.Grow(len(raw))
		if err := json.Compact(&buf, raw); err != nil {
			return r.appendWrapped(dst, raw, w)
		}
		src = buf.Bytes()
	}
	if !mayHavePrivtrail(src) {
		return r.appendSpliced(dst, src, w)
	}
	mark := len(dst)
	dst = append(dst, '{')
	n := 0
	ok := scanMembers(src, func(key []byte, start, end int) {
		if isPrivtrailKey(key) {
			return
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, src[start:end]...)
		n++
	})
	if !ok {
		return r.appendWrapped(dst[:mark], raw, w)
	}
	if n > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"privtrail":`...)
	dst = r.appendPrivtrail(dst, w)
	return append(dst, '}')
}

// mayHavePrivtrail reports whether raw may contain a "privtrail" key,
// spelled plainly or with \u escapes of its lower-case letters.
func mayHavePrivtrail(raw []byte) bool {
	if bytes.Contains(raw, []byte("privtrail")) {
		return true
	}
	for i := 0; ; {
		j := bytes.Index(raw[i:], []byte(`\u00`))
		if j < 0 {
			return false
		}
		i += j + 4
		if i < len(raw) && (raw[i] == '6' || raw[i] == '7') {
			return true
		}
	}
}

func isPrivtrailKey(key []byte) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return string(key) == "privtrail"
	}
	var buf [64]byte
	q := make([]byte, 0, len(key)+2)
	q = append(q, '"')
	q = append(q, key...)
	q = append(q, '"')
	out, ok := appendUnquote(buf[:0], q)
	return ok && string(out) == "privtrail"
}

// scanMembers calls fn for each member of the JSON object src with the
// member's raw key (without quotes) and the byte span of the whole member
// (key through value). It reports false if src is not a well-formed
// object.
func scanMembers(src []byte, fn func(key []byte, start, end int)) bool {
	i := skipSpace(src, 0)
	if i >= len(src) || src[i] != '{' {
		return false
	}
	i = skipSpace(src, i+1)
	if i < len(src) && src[i] == '}' {
		return skipSpace(src, i+1) == len(src)
	}
	for {
		if i >= len(src) || src[i] != '"' {
			return false
		}
		start := i
		kEnd := skipString(src, i)
		if kEnd < 0 {
			return false
		}
		key := src[start+1 : kEnd-1]
		i = skipSpace(src, kEnd)
		if i >= len(src) || src[i] != ':' {
			return false
		}
		i = skipSpace(src, i+1)
		vEnd := skipValue(src, i)
		if vEnd < 0 {
			return false
		}
		fn(key, start, vEnd)
		i = skipSpace(src, vEnd)
		if i >= len(src) {
			return false
		}
		switch src[i] {
		case ',':
			i = skipSpace(src, i+1)
		case '}':
			return skipSpace(src, i+1) == len(src)
		default:
			return false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"',
// or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i], or
// -1. Containers are matched by bracket depth (the input is assumed to be
// valid JSON; malformed input yields -1 or a wrong but in-bounds span).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				j := skipString(b, i)
				if j < 0 {
					return -1
				}
				i = j - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && !isWS(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// ptWriter writes the strings of the privtrail object and notes whether
// the record needed invalid UTF-8 replaced (in Raw, or in one of them).
type ptWriter struct{ replaced bool }

func (w *ptWriter) str(dst []byte, s string) []byte {
	return AppendJSONStringNoting(dst, s, &w.replaced)
}

// appendPrivtrail appends the privtrail object. Field order is fixed;
// empty parts are omitted. Directory records get a "directory" object
// with what privtrail computed (days_since_sign_in, -1 when unknown). The
// last member, "replaced_invalid_utf8":true, is there only when w noted a
// replacement.
func (r *Record) appendPrivtrail(dst []byte, w *ptWriter) []byte {
	dst = append(dst, '{')
	first := true
	if r.Stream != "" {
		dst = appendKey(dst, &first, "stream")
		dst = w.str(dst, string(r.Stream))
	}
	if r.Shape != "" {
		dst = appendKey(dst, &first, "shape")
		dst = w.str(dst, string(r.Shape))
	}
	if r.LogCategory != "" {
		// The diagnostic category, also for Graph-shaped records (which
		// carry none): one field to group every stream by.
		dst = appendKey(dst, &first, "category")
		dst = w.str(dst, r.LogCategory)
	}
	if !r.Time.IsZero() {
		dst = appendKey(dst, &first, "event_time")
		dst = append(dst, '"')
		dst = r.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	if !r.Actor.isEmpty() {
		dst = appendKey(dst, &first, "user")
		dst = w.appendPrincipal(dst, &r.Actor)
	}
	n := 0
	for i := range r.Audit.Targets {
		t := &r.Audit.Targets[i].Principal
		if !eqFold(t.Type, "user") || !(t.Known || t.Privileged) {
			continue
		}
		if n == 0 {
			dst = appendKey(dst, &first, "targets")
			dst = append(dst, '[')
		} else {
			dst = append(dst, ',')
		}
		dst = w.appendPrincipal(dst, t)
		n++
	}
	if n > 0 {
		dst = append(dst, ']')
	}
	if r.Stream == StreamDirectory {
		// What the directory document does not say itself.
		dst = appendKey(dst, &first, "directory")
		dst = append(dst, `{"days_since_sign_in":`...)
		dst = strconv.AppendInt(dst, int64(r.Directory.DaysSinceSignIn), 10)
		dst = append(dst, '}')
	}
	if g := r.Context.Geo; g != nil {
		dst = appendKey(dst, &first, "geo")
		dst = w.appendGeo(dst, g)
	}
	if dv := r.Context.Device; dv != nil {
		dst = appendKey(dst, &first, "device")
		dst = w.appendDevice(dst, dv)
	}
	if wh := r.Context.WorkHours; wh != nil {
		dst = appendKey(dst, &first, "work_hours")
		dst = append(dst, `{"inside":`...)
		dst = strconv.AppendBool(dst, wh.Inside)
		dst = append(dst, `,"local_time":`...)
		dst = w.str(dst, wh.LocalTime)
		dst = append(dst, `,"schedule":`...)
		dst = w.str(dst, wh.Schedule)
		dst = append(dst, '}')
	}
	if len(r.Hits) > 0 {
		dst = appendKey(dst, &first, "monitors")
		dst = append(dst, '[')
		for i := range r.Hits {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = w.appendHit(dst, &r.Hits[i])
		}
		dst = append(dst, ']')
	}
	if w.replaced {
		dst = appendKey(dst, &first, "replaced_invalid_utf8")
		dst = append(dst, "true"...)
	}
	return append(dst, '}')
}

func appendKey(dst []byte, first *bool, key string) []byte {
	if !*first {
		dst = append(dst, ',')
	}
	*first = false
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func (p *Principal) isEmpty() bool {
	return p.ID == "" && p.UPN == "" && p.DisplayName == "" && !p.Privileged && !p.Emergency && len(p.Roles) == 0
}

func (w *ptWriter) appendPrincipal(dst []byte, p *Principal) []byte {
	dst = append(dst, '{')
	first := true
	if p.ID != "" {
		dst = appendKey(dst, &first, "id")
		dst = w.str(dst, p.ID)
	}
	if p.UPN != "" {
		dst = appendKey(dst, &first, "upn")
		dst = w.str(dst, p.UPN)
	}
	if p.DisplayName != "" {
		dst = appendKey(dst, &first, "display_name")
		dst = w.str(dst, p.DisplayName)
	}
	dst = appendKey(dst, &first, "privileged")
	dst = strconv.AppendBool(dst, p.Privileged)
	dst = append(dst, `,"emergency_access":`...)
	dst = strconv.AppendBool(dst, p.Emergency)
	if len(p.Roles) > 0 {
		dst = append(dst, `,"roles":[`...)
		for i := range p.Roles {
			ro := &p.Roles[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = w.str(dst, ro.Name)
			dst = append(dst, `,"template_id":`...)
			dst = w.str(dst, ro.TemplateID)
			dst = append(dst, `,"assignment":`...)
			dst = w.str(dst, ro.Assignment)
			dst = append(dst, `,"via":`...)
			dst = w.str(dst, ro.Via)
			dst = append(dst, `,"privileged":`...)
			dst = strconv.AppendBool(dst, ro.Privileged)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func (w *ptWriter) appendGeo(dst []byte, g *Geo) []byte {
	dst = append(dst, '{')
	if g.CountryISO != "" {
		dst = append(dst, `"country_iso":`...)
		dst = w.str(dst, g.CountryISO)
		dst = append(dst, ',')
	}
	for _, f := range [...]struct{ key, v string }{
		{`"country_name":`, g.CountryName}, {`"region_name":`, g.RegionName}, {`"continent_name":`, g.ContinentName},
	} {
		if f.v != "" {
			dst = append(dst, f.key...)
			dst = w.str(dst, f.v)
			dst = append(dst, ',')
		}
	}
	if g.City != "" {
		dst = append(dst, `"city":`...)
		dst = w.str(dst, g.City)
		dst = append(dst, ',')
	}
	dst = append(dst, `"lat":`...)
	dst = appendFloat(dst, g.Lat)
	dst = append(dst, `,"lon":`...)
	dst = appendFloat(dst, g.Lon)
	if g.ASN != 0 {
		dst = append(dst, `,"asn":`...)
		dst = strconv.AppendUint(dst, uint64(g.ASN), 10)
	}
	if g.ASOrg != "" {
		dst = append(dst, `,"as_org":`...)
		dst = w.str(dst, g.ASOrg)
	}
	return append(dst, '}')
}

// appendFloat writes f in plain decimal; JSON has no NaN or infinities, so
// those become null.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

func (w *ptWriter) appendDevice(dst []byte, d *Device) []byte {
	dst = append(dst, `{"id":`...)
	dst = w.str(dst, d.ID)
	dst = append(dst, `,"paw":`...)
	dst = strconv.AppendBool(dst, d.PAW)
	if d.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = w.str(dst, d.Reason)
	}
	dst = append(dst, `,"compliant":`...)
	dst = strconv.AppendBool(dst, d.Compliant)
	dst = append(dst, `,"managed":`...)
	dst = strconv.AppendBool(dst, d.Managed)
	if d.TrustType != "" {
		dst = append(dst, `,"trust_type":`...)
		dst = w.str(dst, d.TrustType)
	}
	if d.Browser != "" {
		dst = append(dst, `,"browser":`...)
		dst = w.str(dst, d.Browser)
	}
	if d.OS != "" {
		dst = append(dst, `,"os":`...)
		dst = w.str(dst, d.OS)
	}
	return append(dst, '}')
}

func (w *ptWriter) appendHit(dst []byte, h *Hit) []byte {
	dst = append(dst, `{"id":`...)
	dst = w.str(dst, h.ID)
	dst = append(dst, `,"title":`...)
	dst = w.str(dst, h.Title)
	dst = append(dst, `,"risk":`...)
	dst = w.str(dst, h.Risk)
	dst = append(dst, `,"source":`...)
	dst = w.str(dst, h.Source)
	dst = append(dst, `,"reason":`...)
	dst = w.str(dst, h.Reason)
	if h.Notes != "" {
		dst = append(dst, `,"notes":`...)
		dst = w.str(dst, h.Notes)
	}
	if len(h.Tags) > 0 {
		dst = append(dst, `,"tags":[`...)
		for i, t := range h.Tags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = w.str(dst, t)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}
