package eventhubs

import (
	"bytes"
	"errors"
	"fmt"
)

// span is one log record inside a Kafka message value: value[start:end].
type span struct{ start, end int }

var errEmpty = errors.New("empty value")

// splitValue finds the log records of one Kafka message value, appending
// their spans to spans:
//
//   - an Azure Monitor / Event Hubs envelope {"records":[...]}: each element
//     of the top-level "records" array (other top-level keys are ignored);
//     an empty array gives no record;
//   - a top-level JSON array: each element;
//   - any other JSON value: the value itself (leading and trailing
//     whitespace and a UTF-8 byte-order mark left out).
//
// split reports whether the value was an envelope or an array (its records
// are numbered in their origins) rather than a record of its own.
//
// Only the structure is checked (brackets, strings, the envelope's keys
// and separators), in one pass that does not look inside strings: a value
// whose structure is broken (truncated, not JSON at all) is an error, and
// the records are validated one by one by the runner's decoder, which
// parses them anyway, so one bad record in an envelope costs only itself.
// Nothing is re-encoded: the spans point into value.
func splitValue(value []byte, spans []span) (_ []span, split bool, _ error) {
	base := 0
	if bytes.HasPrefix(value, []byte("\xef\xbb\xbf")) {
		base = 3
	}
	s := scanner{v: value[base:]}
	i := s.ws(0)
	if i == len(s.v) {
		return spans, false, errEmpty
	}
	n := len(spans)
	var end int
	switch s.v[i] {
	case '[':
		end, spans = s.elements(i, base, spans)
		split = true
	case '{':
		var records int
		if records, end = s.findRecords(i); s.err == nil && records >= 0 {
			var aend int
			aend, spans = s.elements(records, base, spans)
			split = true
			end = s.skipRestOfObject(aend)
		}
	default:
		end = s.value(i)
	}
	if s.err == nil {
		if j := s.ws(end); j != len(s.v) {
			s.fail(j, "data after the JSON value")
		}
	}
	if s.err != nil {
		return spans[:n], false, s.err
	}
	if !split {
		spans = append(spans, span{base + i, base + end})
	}
	return spans, split, nil
}

// scanner walks the structure of one JSON value. On the first error it
// records it, and every method returns len(v) from then on.
type scanner struct {
	v     []byte
	err   error
	stack []byte // closers expected, for value
}

func (s *scanner) fail(at int, what string) int {
	if s.err == nil {
		s.err = fmt.Errorf("%s at byte %d", what, at)
	}
	return len(s.v)
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) ws(i int) int {
	for i < len(s.v) && isWS(s.v[i]) {
		i++
	}
	return i
}

// expect returns the index after c, skipping whitespace before it.
func (s *scanner) expect(i int, c byte, what string) int {
	i = s.ws(i)
	if i >= len(s.v) {
		return s.fail(i, "unexpected end, expecting "+what)
	}
	if s.v[i] != c {
		return s.fail(i, fmt.Sprintf("%q where %s was expected", s.v[i], what))
	}
	return i + 1
}

// str returns the index after the string starting at v[i] (a '"').
func (s *scanner) str(i int) int {
	start := i
	i++
	for {
		j := bytes.IndexByte(s.v[i:], '"')
		if j < 0 {
			return s.fail(start, "unterminated string")
		}
		i += j
		// The quote is escaped if an odd number of backslashes precede it.
		n := 0
		for k := i - 1; k > start && s.v[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// value returns the index after the JSON value starting at v[i].
func (s *scanner) value(i int) int {
	if i >= len(s.v) {
		return s.fail(i, "unexpected end, expecting a value")
	}
	switch c := s.v[i]; c {
	case '"':
		return s.str(i)
	case '{', '[':
		s.stack = s.stack[:0]
		for i < len(s.v) {
			switch c := s.v[i]; c {
			case '"':
				i = s.str(i)
				continue
			case '{':
				s.stack = append(s.stack, '}')
			case '[':
				s.stack = append(s.stack, ']')
			case '}', ']':
				if len(s.stack) == 0 || s.stack[len(s.stack)-1] != c {
					return s.fail(i, fmt.Sprintf("unbalanced %q", c))
				}
				s.stack = s.stack[:len(s.stack)-1]
				if len(s.stack) == 0 {
					return i + 1
				}
			}
			i++
		}
		return s.fail(i, "unexpected end inside an object or array")
	case '}', ']', ',', ':':
		return s.fail(i, fmt.Sprintf("%q where a value was expected", c))
	default: // number, true, false, null: checked by the decoder
		start := i
		for i < len(s.v) {
			switch s.v[i] {
			case ',', ']', '}', ':', '"', '[', '{', ' ', '\t', '\n', '\r':
				if i == start {
					return s.fail(i, "empty value")
				}
				return i
			}
			i++
		}
		return i
	}
}

// findRecords returns where the array value of the object's top-level
// "records" key starts (-1: there is none) and, when there is none, the
// index after the object. v[i] is the object's '{'.
func (s *scanner) findRecords(i int) (records, end int) {
	i = s.ws(i + 1)
	if i < len(s.v) && s.v[i] == '}' {
		return -1, i + 1
	}
	for s.err == nil {
		i = s.ws(i)
		if i >= len(s.v) || s.v[i] != '"' {
			return -1, s.fail(i, "expecting a key")
		}
		keyStart := i
		i = s.str(i)
		isRecords := s.err == nil && string(s.v[keyStart:i]) == `"records"`
		i = s.ws(s.expect(i, ':', "':'"))
		if isRecords && i < len(s.v) && s.v[i] == '[' {
			return i, 0
		}
		i = s.ws(s.value(i))
		if i >= len(s.v) {
			return -1, s.fail(i, "unexpected end of the object")
		}
		switch s.v[i] {
		case ',':
			i++
		case '}':
			return -1, i + 1
		default:
			return -1, s.fail(i, fmt.Sprintf("%q after a member", s.v[i]))
		}
	}
	return -1, len(s.v)
}

// skipRestOfObject returns the index after the object whose member ended
// at i (after the records array).
func (s *scanner) skipRestOfObject(i int) int {
	for s.err == nil {
		i = s.ws(i)
		if i >= len(s.v) {
			return s.fail(i, "unexpected end of the object")
		}
		switch s.v[i] {
		case '}':
			return i + 1
		case ',':
			i = s.ws(i + 1)
			if i >= len(s.v) || s.v[i] != '"' {
				return s.fail(i, "expecting a key")
			}
			i = s.value(s.expect(s.str(i), ':', "':'"))
			i = s.ws(i)
		default:
			return s.fail(i, fmt.Sprintf("%q after a member", s.v[i]))
		}
	}
	return len(s.v)
}

// elements appends the spans (offset by base) of the elements of the
// array starting at v[i] and returns the index after the array.
func (s *scanner) elements(i, base int, spans []span) (int, []span) {
	i = s.ws(i + 1)
	if i < len(s.v) && s.v[i] == ']' {
		return i + 1, spans
	}
	for s.err == nil {
		i = s.ws(i)
		start := i
		i = s.value(i)
		if s.err != nil {
			break
		}
		spans = append(spans, span{base + start, base + i})
		i = s.ws(i)
		if i >= len(s.v) {
			return s.fail(i, "unexpected end of the array"), spans
		}
		switch s.v[i] {
		case ',':
			i++
		case ']':
			return i + 1, spans
		default:
			return s.fail(i, fmt.Sprintf("%q after an array element", s.v[i])), spans
		}
	}
	return len(s.v), spans
}
