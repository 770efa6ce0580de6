package qradar

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/privtrail/privtrail/entra"
)

// Encoder turns one record into one complete, framed RFC 5424 syslog
// message whose MSG is a LEEF 2.0 event or the enriched JSON record. It
// implements delivery.Encoder; it is pure (the output depends only on the
// configuration and the record) and safe for concurrent use.
type Encoder struct {
	json     bool
	envelope entra.Envelope // format json: how Graph-shaped records are written
	octet    bool           // RFC 6587 octet counting: "<len> " before the message
	udp      bool           // one message per datagram: no trailer, size-checked
	maxUDP   int
	delim    byte
	facility int

	host, app string // sanitised syslog header fields
	leefHead  string // "LEEF:2.0|vendor|product|version|"
	delimHead string // the header's DelimiterCharacter field and its '|'
}

// NewEncoder returns the Encoder for cfg; call cfg.Defaults first.
func NewEncoder(cfg Config) *Encoder {
	delim, err := parseDelimiter(cfg.Delimiter)
	if err != nil {
		delim = '\t'
	}
	e := &Encoder{
		json:     cfg.Format == "json",
		envelope: entra.Envelope(cfg.Envelope),
		octet:    cfg.Framing == "octet-counting" && cfg.Transport != "udp",
		udp:      cfg.Transport == "udp",
		maxUDP:   cfg.MaxUDPBytes,
		delim:    delim,
		facility: facilities[cfg.Facility],
		host:     string(appendHeaderField(nil, cfg.Hostname, 255)),
		app:      string(appendHeaderField(nil, cfg.AppName, 48)),
	}
	head := []byte("LEEF:2.0|")
	for _, f := range []string{cfg.Vendor, cfg.Product, cfg.Version} {
		head = appendLEEFHeader(head, f)
		head = append(head, '|')
	}
	e.leefHead = string(head)
	switch delim {
	case '\t':
		e.delimHead = "x09|"
	case '|':
		e.delimHead = "x7C|"
	default:
		e.delimHead = string(delim) + "|"
	}
	return e
}

// Encode appends the framed message for rec to dst. enriched is the
// record's JSON as the runner encoded it (format json); when nil the
// record is encoded here.
func (e *Encoder) Encode(dst []byte, rec *entra.Record, enriched []byte) ([]byte, error) {
	start := len(dst)
	dst = e.appendMessage(dst, rec, enriched)
	n := len(dst) - start
	switch {
	case e.udp:
		if n > e.maxUDP {
			return dst[:start], fmt.Errorf("the syslog message is %d bytes, over max_udp_bytes (%d): udp cannot carry it whole and a cut LEEF event is corrupt; use transport tcp or tls", n, e.maxUDP)
		}
	case e.octet:
		// RFC 6587 3.4.1: MSG-LEN SP SYSLOG-MSG. Shift the message right
		// to make room for its length.
		var num [20]byte
		prefix := strconv.AppendInt(num[:0], int64(n), 10)
		prefix = append(prefix, ' ')
		dst = append(dst, prefix...)
		copy(dst[start+len(prefix):], dst[start:start+n])
		copy(dst[start:], prefix)
	default:
		dst = append(dst, '\n')
	}
	return dst, nil
}

// syslogTime is the layout of the RFC 5424 TIMESTAMP, in UTC. IBM's LEEF
// guide, "LEEF event components" (https://www.ibm.com/docs/en/dsm?topic=overview-leef-event-components):
// "RFC 5424 header format: <priority tag>1 <timestamp> <IP address or
// hostname> [...] The timestamp must be in the format:
// yyyy-MM-ddTHH:mm:ss.SSSZ. Note: The 'T' must be a literal T character.
// The 'Z' can be a literal Z or it can be a timezone value in the following
// format: -04:00", e.g. "<13>1 2019-01-18T11:07:53.520Z 192.168.1.1":
// milliseconds, and Z for UTC.
const syslogTime = "2006-01-02T15:04:05.000Z07:00"

// devTimeLayout and devTimeFormat write devTime in the first of the
// patterns IBM's LEEF guide suggests that carries a time zone. "Custom
// event date format" (https://www.ibm.com/docs/en/dsm?topic=overview-custom-event-date-format):
// "your device must supply the raw date format by using the devTime event
// attribute in the payload of the event. Use the devTimeformat to format
// the devTime event attribute [...] devTimeFormat=MMM dd yyyy HH:mm:ss.SSS z
// [gives] Jun 06 2015 02:07:36.300 GMT" (Java SimpleDateFormat: English
// month abbreviation, milliseconds, the zone name). The zone makes the
// UTC event time unambiguous whatever the time zone of the QRadar console;
// the guide's default pattern, MMM dd yyyy HH:mm:ss, has none.
const (
	devTimeLayout = "Jan 02 2006 15:04:05.000 GMT" // "GMT" is a literal: the time is written in UTC
	devTimeFormat = "MMM dd yyyy HH:mm:ss.SSS z"
)

// appendMessage appends <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
// STRUCTURED-DATA MSG.
func (e *Encoder) appendMessage(dst []byte, rec *entra.Record, enriched []byte) []byte {
	risk := highestRisk(rec.Hits)
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(e.facility*8+risk.syslog), 10)
	dst = append(dst, ">1 "...)
	if rec.Time.IsZero() {
		dst = append(dst, '-')
	} else {
		dst = rec.Time.UTC().AppendFormat(dst, syslogTime)
	}
	dst = append(dst, ' ')
	dst = append(dst, e.host...)
	dst = append(dst, ' ')
	dst = append(dst, e.app...)
	dst = append(dst, " - "...) // PROCID
	dst = appendHeaderField(dst, string(rec.Stream), 32)
	dst = append(dst, " - "...) // STRUCTURED-DATA
	if e.json {
		if e.envelope == entra.EnvelopeDiagnostic && rec.CanEnvelope() {
			return appendJSONMsg(dst, rec.AppendDiagnosticJSON(nil))
		}
		if enriched == nil {
			enriched = rec.AppendJSON(nil)
		}
		return appendJSONMsg(dst, enriched)
	}
	return e.appendLEEF(dst, rec, risk)
}

// appendLEEF appends the LEEF 2.0 event: header, then the attributes in a
// fixed order, each present only when it has a value (see the README's
// mapping table).
func (e *Encoder) appendLEEF(dst []byte, rec *entra.Record, risk riskLevel) []byte {
	dst = append(dst, e.leefHead...)
	op := operation(rec)
	switch name := eventName(rec); {
	case len(rec.Hits) > 0:
		dst = appendLEEFHeader(dst, rec.Hits[0].ID)
	case rec.Stream == "":
		dst = append(dst, "unknown"...)
	case name == "":
		dst = appendLEEFHeader(dst, string(rec.Stream))
	default:
		dst = appendLEEFHeader(dst, string(rec.Stream))
		dst = append(dst, ':')
		dst = appendLEEFHeader(dst, name)
	}
	dst = append(dst, '|')
	dst = append(dst, e.delimHead...)

	w := attrs{e: e, dst: dst}
	a := &rec.Actor
	s := &rec.SignIn
	if !rec.Time.IsZero() {
		w.key("devTime")
		w.dst = rec.Time.UTC().AppendFormat(w.dst, devTimeLayout)
		w.key("devTimeFormat")
		w.dst = append(w.dst, devTimeFormat...)
	}
	w.str("cat", string(rec.Stream))
	w.str("logCategory", rec.LogCategory)
	w.int("sev", int64(risk.leef))
	w.str("usrName", first(a.UPN, a.DisplayName))
	ip := first(a.IP, s.IPAddress)
	w.str("src", ip)
	if rec.Stream == entra.StreamSignIn && s.Status == "success" && a.Type == "user" {
		w.str("identSrc", ip)
	}
	w.str("userId", a.ID)
	roles := a.Roles
	if len(roles) == 0 && rec.Stream == entra.StreamDirectory {
		roles = rec.Directory.Roles // the scan's, when the role map has none
	}
	if len(roles) > 0 {
		w.key("role")
		for i := range roles {
			if i > 0 {
				w.dst = append(w.dst, ", "...)
			}
			w.dst = e.appendValue(w.dst, roles[i].Name)
		}
	}
	w.bool("privileged", a.Privileged)
	w.bool("emergency", a.Emergency)
	w.str("operation", op)
	switch rec.Stream {
	case entra.StreamSignIn:
		w.str("result", s.Status)
		w.int("errorCode", int64(s.ErrorCode))
		w.str("failureReason", s.FailureReason)
		w.str("app", s.AppDisplayName)
		w.str("clientApp", s.ClientAppUsed)
		w.str("resource", s.ResourceDisplayName)
	case entra.StreamAudit:
		w.str("result", rec.Audit.Result)
		w.str("app", rec.Audit.InitiatedByApp)
		if len(rec.Audit.Targets) > 0 {
			t := &rec.Audit.Targets[0].Principal
			w.str("resource", first(t.UPN, t.DisplayName, t.ID))
		}
		if users := rec.TargetUsers(); len(users) > 0 {
			w.str("targetUser", first(users[0].UPN, users[0].DisplayName, users[0].ID))
			priv := false
			for _, u := range users {
				priv = priv || u.Privileged
			}
			w.bool("targetPrivileged", priv)
		}
	case entra.StreamActivity:
		w.str("result", rec.Activity.Status)
		w.str("resource", rec.Activity.ResourceID)
	case entra.StreamAADDS:
		w.str("resource", rec.AADDS.Computer)
	case entra.StreamRisk:
		r := &rec.Risk
		w.str("riskEventType", r.EventType)
		w.str("riskLevel", r.Level)
		w.str("riskState", r.State)
		w.str("riskDetail", r.Detail)
		w.str("riskSource", r.Source)
		w.str("detectionTiming", r.DetectionTiming)
	case entra.StreamGraphActivity:
		g := &rec.GraphActivity
		w.str("url", g.RequestURI)
		if g.ResponseStatusCode != 0 {
			w.int("httpStatus", int64(g.ResponseStatusCode))
		}
		w.str("appId", g.AppID)
		w.str("apiVersion", g.APIVersion)
	case entra.StreamDirectory:
		dir := &rec.Directory
		w.bool("accountEnabled", dir.AccountEnabled)
		w.str("userType", dir.UserType)
		if !dir.LastSignIn.IsZero() {
			w.int("lastSignIn", dir.LastSignIn.UnixMilli())
		}
		w.str("lastSignInSource", dir.LastSignInSource)
		w.int("daysSinceSignIn", int64(dir.DaysSinceSignIn))
		if dir.MFAKnown {
			w.bool("mfaRegistered", dir.MFARegistered)
		} else {
			w.str("mfaRegistered", "unknown")
		}
		if len(dir.Methods) > 0 {
			w.key("mfaMethods")
			for i, m := range dir.Methods {
				if i > 0 {
					w.dst = append(w.dst, ',')
				}
				w.dst = e.appendValue(w.dst, m)
			}
		}
	}
	country := s.Location.Country
	if rec.Stream == entra.StreamRisk {
		country = rec.Risk.Location.Country
	}
	if g := rec.Context.Geo; g != nil && g.CountryISO != "" {
		country = g.CountryISO
	}
	w.str("country", country)
	device := s.Device.DeviceID
	if d := rec.Context.Device; d != nil && d.ID != "" {
		device = d.ID
	}
	w.str("deviceId", device)
	if d := rec.Context.Device; d != nil {
		w.bool("paw", d.PAW)
	}
	if wh := rec.Context.WorkHours; wh != nil {
		w.bool("workHoursInside", wh.Inside)
	}
	w.str("privtrailRisk", risk.name)
	if len(rec.Hits) > 0 {
		w.key("privtrailMonitors")
		for i := range rec.Hits {
			if i > 0 {
				w.dst = append(w.dst, ',')
			}
			w.dst = e.appendValue(w.dst, rec.Hits[i].ID)
		}
		w.str("privtrailTitle", rec.Hits[0].Title)
		w.str("privtrailReason", rec.Hits[0].Reason)
		// The hits' ATT&CK techniques and sub-techniques, as Splunk's
		// privtrail_mitre_attack_id: T1110.001,T1078.
		n := 0
		entra.EachAttackTechnique(rec.Hits, func(number string) {
			if n == 0 {
				w.key("privtrailMitreAttackId")
			} else {
				w.dst = append(w.dst, ',')
			}
			n++
			w.dst = append(w.dst, 'T')
			w.dst = e.appendValue(w.dst, number)
		})
	}
	w.str("tenantId", rec.TenantID)
	w.str("correlationId", rec.CorrelationID)
	w.str("recordId", rec.ID)
	return w.dst
}

// operation names what happened, per stream: the sign-in's event type,
// the audit activity, the Azure operation, the AADDS event ID, the
// directory record's type (privilegedUser), the risk detection's type
// (RiskyUser or RiskyServicePrincipal for a risk state), the Graph
// request's method; for a category without a model its operationName.
func operation(rec *entra.Record) string {
	switch rec.Stream {
	case entra.StreamRisk:
		if rec.Risk.Kind == "detection" || rec.Risk.EventType != "" {
			return first(rec.Risk.EventType, rec.OperationName)
		}
		if rec.Actor.Type == "servicePrincipal" || strings.EqualFold(rec.LogCategory, "RiskyServicePrincipals") {
			return "RiskyServicePrincipal"
		}
		return "RiskyUser"
	case entra.StreamGraphActivity:
		return first(strings.ToUpper(rec.GraphActivity.RequestMethod), rec.OperationName)
	case entra.StreamSignIn:
		return rec.SignIn.EventType
	case entra.StreamAudit:
		return first(rec.Audit.ActivityDisplayName, rec.OperationName)
	case entra.StreamActivity:
		return first(rec.Activity.OperationName, rec.OperationName)
	case entra.StreamAADDS:
		if rec.AADDS.EventID != 0 {
			return strconv.Itoa(rec.AADDS.EventID)
		}
	case entra.StreamDirectory:
		return first(rec.Directory.RecordType, rec.OperationName)
	}
	return rec.OperationName
}

// eventName is what the LEEF EventID of a record without monitor hits
// names after the stream: the operation, and for a category without a
// model (stream other) the category, so that each category can have its
// QID.
func eventName(rec *entra.Record) string {
	if rec.Stream == entra.StreamOther {
		return first(rec.LogCategory, rec.OperationName)
	}
	return operation(rec)
}

func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// attrs writes LEEF attributes separated by the delimiter. Keys are
// constants of this file: none contains '=', the delimiter, '|' or a
// control character.
type attrs struct {
	e   *Encoder
	dst []byte
	n   int
}

func (w *attrs) key(k string) {
	if w.n > 0 {
		w.dst = append(w.dst, w.e.delim)
	}
	w.n++
	w.dst = append(w.dst, k...)
	w.dst = append(w.dst, '=')
}

func (w *attrs) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.dst = w.e.appendValue(w.dst, v)
}

func (w *attrs) int(k string, v int64) {
	w.key(k)
	w.dst = strconv.AppendInt(w.dst, v, 10)
}

func (w *attrs) bool(k string, v bool) {
	w.key(k)
	w.dst = strconv.AppendBool(w.dst, v)
}

// riskLevel is the highest monitor risk of a record and what it maps to.
type riskLevel struct {
	name   string
	leef   int // LEEF sev, 1-10
	syslog int // syslog severity, 0-7
}

var riskLevels = []riskLevel{
	{"none", 1, 6},      // informational
	{"low", 3, 5},       // notice
	{"medium", 5, 4},    // warning
	{"high", 8, 2},      // critical
	{"critical", 10, 1}, // alert (not a catalog risk; for custom monitors)
}

// highestRisk ranks the hits' risks; an unknown risk counts as low.
func highestRisk(hits []entra.Hit) riskLevel {
	best := 0
	for i := range hits {
		r := 1
		for j := 1; j < len(riskLevels); j++ {
			if eqFold(hits[i].Risk, riskLevels[j].name) {
				r = j
				break
			}
		}
		best = max(best, r)
	}
	return riskLevels[best]
}

func eqFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// The substitution rule (README "Substitution rule"). LEEF has no escape
// mechanism, so characters that could end the message, the attribute or
// the header field are replaced, never escaped:
//
//   - every control character (U+0000-U+001F, U+007F-U+009F: CR, LF, tab,
//     NUL, NEL, ...) and U+2028/U+2029 become a space;
//   - in attribute values the delimiter, when it is "^" or "|", becomes
//     U+FFFD (a tab delimiter is already a control character);
//   - in LEEF header fields "|" becomes U+FFFD;
//   - invalid UTF-8 becomes U+FFFD, one per invalid byte.
//
// '=' and '\' are kept: a LEEF 2.0 parser splits the attributes at the
// delimiter and each attribute at its first '=', so a value that cannot
// contain the delimiter can neither end its attribute nor start another.
const replacement = "\uFFFD"

// appendValue appends an attribute value.
func (e *Encoder) appendValue(dst []byte, s string) []byte {
	special := e.delim
	if special == '\t' {
		special = 0 // a control character: replaced anyway
	}
	return appendClean(dst, s, special)
}

// appendLEEFHeader appends a LEEF header field (vendor, product, version,
// EventID).
func appendLEEFHeader(dst []byte, s string) []byte { return appendClean(dst, s, '|') }

// appendClean applies the substitution rule; special (if not 0) is the
// printable ASCII character that becomes U+FFFD.
func appendClean(dst []byte, s string, special byte) []byte {
	run := 0 // start of the bytes not yet copied
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != 0x7f && (b != special || special == 0) {
				i++
				continue
			}
			dst = append(dst, s[run:i]...)
			if b == special && special != 0 {
				dst = append(dst, replacement...)
			} else {
				dst = append(dst, ' ')
			}
			i++
			run = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[run:i]...)
			dst = append(dst, replacement...)
		case r <= 0x9f || r == 0x2028 || r == 0x2029:
			dst = append(dst, s[run:i]...)
			dst = append(dst, ' ')
		default:
			i += size
			continue
		}
		i += size
		run = i
	}
	return append(dst, s[run:]...)
}

// appendHeaderField appends a syslog header field (RFC 5424: 1*max
// PRINTUSASCII, no spaces): each character outside '!'..'~' becomes '_',
// the field is cut at max bytes, and an empty one is the NILVALUE "-".
func appendHeaderField(dst []byte, s string, max int) []byte {
	if s == "" {
		return append(dst, '-')
	}
	n := 0
	for _, r := range s {
		if n == max {
			break
		}
		if r < '!' || r > '~' {
			r = '_'
		}
		dst = append(dst, byte(r))
		n++
	}
	return dst
}

// appendJSONMsg appends the enriched JSON as the MSG: bytes below 0x20
// become spaces and invalid UTF-8 becomes U+FFFD. A valid JSON document
// has such bytes only as whitespace between tokens (inside strings they
// are escaped), so this changes no value; it only guarantees that nothing
// in the message can end it under LF framing.
func appendJSONMsg(dst, msg []byte) []byte {
	clean := true
	for _, b := range msg {
		if b < 0x20 || b >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		return append(dst, msg...)
	}
	run := 0
	for i := 0; i < len(msg); {
		b := msg[i]
		if b < utf8.RuneSelf {
			if b < 0x20 {
				dst = append(dst, msg[run:i]...)
				dst = append(dst, ' ')
				run = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(msg[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, msg[run:i]...)
			dst = append(dst, replacement...)
			run = i + 1
		}
		i += size
	}
	return append(dst, msg[run:]...)
}
