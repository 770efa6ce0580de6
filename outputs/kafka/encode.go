package kafka

import (
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/privtrail/privtrail/entra"
)

// itemVersion is the first byte of every encoded item. Items wait in the
// disk buffer across restarts (and upgrades), so the framing says which
// layout it is.
const itemVersion = 1

// Header names.
const (
	HeaderStream     = "privtrail-stream"
	HeaderPrivileged = "privtrail-privileged"
	HeaderEmergency  = "privtrail-emergency-access"
	HeaderMonitors   = "privtrail-monitors"
	HeaderRisk       = "privtrail-risk"
)

// Encoder turns a record into one buffered item: the Kafka record's key,
// headers and value, framed so that the Sender can split them again:
//
//	0x01                                   format version
//	uvarint(len(key)) key                  empty: no key (null)
//	uvarint(n) { uvarint(len(name)) name uvarint(len(value)) value } × n
//	value                                  the rest: the enriched JSON, verbatim (or the
//	                                       record in the diagnostic envelope, see Envelope)
//
// It is pure: the item is a function of the record, the enriched bytes and
// the settings below.
type Encoder struct {
	// Key is KeyUser, KeySubject or KeyNone.
	Key string
	// Headers adds the privtrail-* headers.
	Headers bool
	// Envelope entra.EnvelopeDiagnostic writes a Graph-shaped record that
	// has a diagnostic envelope (entra.Record.CanEnvelope) in it, instead
	// of the enriched bytes; the zero value writes every record as read.
	Envelope entra.Envelope
}

// NewEncoder returns the encoder for cfg (defaults applied).
func NewEncoder(cfg Config) *Encoder {
	cfg.Defaults()
	return &Encoder{Key: cfg.Key, Headers: cfg.headers(), Envelope: entra.Envelope(cfg.Envelope)}
}

// Encode appends rec's item to dst. enriched is the record's JSON as the
// runner encoded it (the original document plus the privtrail object);
// when it is empty the record is encoded here.
func (e *Encoder) Encode(dst []byte, rec *entra.Record, enriched []byte) ([]byte, error) {
	dst = append(dst, itemVersion)
	key := ""
	switch e.Key {
	case KeyUser:
		key = UserKey(rec)
	case KeySubject:
		key = SubjectKey(rec)
	}
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	if e.Headers {
		dst = appendHeaders(dst, rec)
	} else {
		dst = append(dst, 0)
	}
	if e.Envelope == entra.EnvelopeDiagnostic && rec.CanEnvelope() {
		return rec.AppendDiagnosticJSON(dst), nil
	}
	if len(enriched) == 0 {
		return rec.AppendJSON(dst), nil
	}
	return append(dst, enriched...), nil
}

// UserKey is the key of rec under key: user — the actor's object id, else
// its user principal name, else the record's id, lowercased (Entra writes
// the same GUID and UPN in different cases in different logs). "" when the
// record has none of them.
func UserKey(rec *entra.Record) string {
	for _, k := range []string{rec.Actor.ID, rec.Actor.UPN, rec.ID} {
		if k = strings.TrimSpace(k); k != "" {
			return lower(k)
		}
	}
	return ""
}

// SubjectKey is the key of rec under key: subject — for an audit record
// that names a target user, that user's object id (else UPN), lowercased;
// otherwise UserKey. An admin granting a role, creating an account or
// resetting a password is then keyed like the sign-ins of the account it
// is about, which is where a processor judges that account.
func SubjectKey(rec *entra.Record) string {
	if rec.Stream == entra.StreamAudit {
		for _, t := range rec.TargetUsers() {
			for _, k := range []string{t.ID, t.UPN} {
				if k = strings.TrimSpace(k); k != "" {
					return lower(k)
				}
			}
		}
	}
	return UserKey(rec)
}

// lower lowercases ASCII without allocating when there is nothing to do,
// and anything else the way strings.ToLower does.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
		if 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func appendHeaders(dst []byte, rec *entra.Record) []byte {
	n := 1 // privileged
	if rec.Stream != "" {
		n++
	}
	if rec.Actor.Emergency {
		n++
	}
	if len(rec.Hits) > 0 {
		n += 2
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	if rec.Stream != "" {
		dst = appendHeader(dst, HeaderStream, string(rec.Stream))
	}
	if rec.Actor.Privileged {
		dst = appendHeader(dst, HeaderPrivileged, "true")
	} else {
		dst = appendHeader(dst, HeaderPrivileged, "false")
	}
	if rec.Actor.Emergency {
		dst = appendHeader(dst, HeaderEmergency, "true")
	}
	if len(rec.Hits) > 0 {
		dst = binary.AppendUvarint(dst, uint64(len(HeaderMonitors)))
		dst = append(dst, HeaderMonitors...)
		size := len(rec.Hits) - 1
		for i := range rec.Hits {
			size += len(rec.Hits[i].ID)
		}
		dst = binary.AppendUvarint(dst, uint64(size))
		risk, rank := "", -1
		for i := range rec.Hits {
			h := &rec.Hits[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, h.ID...)
			if r := riskRank(h.Risk); r > rank {
				risk, rank = h.Risk, r
			}
		}
		dst = appendHeader(dst, HeaderRisk, risk)
	}
	return dst
}

func appendHeader(dst []byte, name, value string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// riskRank orders the monitor risks; anything unknown ranks lowest.
func riskRank(r string) int {
	switch r {
	case "low":
		return 1
	case "medium":
		return 2
	case "high":
		return 3
	case "critical":
		return 4
	}
	return 0
}

// Message is a decoded item. Its slices point into the item.
type Message struct {
	Key     []byte // nil: no key
	Headers []Header
	Value   []byte
}

// Header is one Kafka record header.
type Header struct {
	Name  string
	Value []byte
}

var errItem = errors.New("not a kafka output item (truncated, or written by another version)")

// DecodeItem splits an item Encode wrote.
func DecodeItem(item []byte) (Message, error) {
	var m Message
	if len(item) == 0 || item[0] != itemVersion {
		return m, errItem
	}
	rest := item[1:]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, false
		}
		f := rest[k : k+int(n) : k+int(n)]
		rest = rest[k+int(n):]
		return f, true
	}
	key, ok := field()
	if !ok {
		return m, errItem
	}
	if len(key) > 0 {
		m.Key = key
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k)/2 { // every header takes at least two bytes
		return m, errItem
	}
	rest = rest[k:]
	if n > 0 {
		m.Headers = make([]Header, 0, n)
	}
	for range n {
		name, ok := field()
		if !ok {
			return Message{}, errItem
		}
		value, ok := field()
		if !ok {
			return Message{}, errItem
		}
		m.Headers = append(m.Headers, Header{Name: string(name), Value: value})
	}
	m.Value = rest
	return m, nil
}
