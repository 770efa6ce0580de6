package file

import (
	"fmt"
	"io"
)

// maxDepth matches encoding/json: deeper documents are rejected rather than
// allowed to grow the goroutine stack without bound.
const maxDepth = 10000

// previewBytes caps what an oversize or broken record hands to the bad
// callback: the record is unusable either way, and a dead-letter entry of
// several MiB helps nobody.
const previewBytes = 64 << 10

// syntaxError is a framing failure. off is the byte offset in the
// (decompressed) stream, or the column-1 within a line for JSON lines.
type syntaxError struct {
	off int64
	msg string
	eof bool // the input ended inside a value: maybe a file still being written
}

func (e *syntaxError) Error() string { return e.msg }

// readError wraps a failure of the underlying reader so that callers can
// tell an unreadable file (retry later) from a malformed one (report).
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// recFunc receives one framed record. data is only valid during the call;
// oversize means data was cut short at the preview length.
type recFunc func(data []byte, oversize bool) error

var strSafe [256]bool

func init() {
	for i := 0x20; i < 256; i++ {
		strSafe[i] = i != '"' && i != '\\'
	}
}

// scanner frames and validates JSON in one pass over a stream, without
// ever holding more than one record (bounded by max) in memory. It is a
// hand-written validator rather than encoding/json's Decoder because the
// Decoder buffers a whole value before it can tell it is too long, cannot
// skip a value without building it, and stops at the first error.
//
// In memory mode (resetMem) it works on one JSON line and captured records
// are sub-slices of that line, so JSON lines cost no copy until the record
// is cloned for the batch.
type scanner struct {
	src  io.Reader
	own  []byte // stream buffer, reused across files
	buf  []byte
	pos  int
	end  int
	base int64 // stream offset of buf[0]
	rerr error // sticky error from src; io.EOF at the end
	mem  bool

	max     int
	capOn   bool
	capFrom int
	capBuf  []byte
	capOver bool

	depth int
	split bool   // the last top-level value was an array or envelope, not one record
	key   []byte // raw bytes of the current top-level key, capped
}

func (s *scanner) resetStream(src io.Reader, base int64, max int) {
	if s.own == nil {
		s.own = make([]byte, 64<<10)
	}
	*s = scanner{src: src, own: s.own, buf: s.own, base: base, max: max, capBuf: s.capBuf[:0], key: s.key[:0]}
}

func (s *scanner) resetMem(line []byte, base int64, max int) {
	*s = scanner{own: s.own, buf: line, end: len(line), base: base, rerr: io.EOF, mem: true, max: max, capBuf: s.capBuf[:0], key: s.key[:0]}
}

func (s *scanner) off() int64 { return s.base + int64(s.pos) }

// fill makes at least one unread byte available, reporting false at the
// end of input or on a read error (left in s.rerr).
func (s *scanner) fill() bool {
	if s.pos < s.end {
		return true
	}
	if s.rerr != nil {
		return false
	}
	if s.capOn {
		s.keep(s.end)
	}
	s.base += int64(s.end)
	s.pos, s.end, s.capFrom = 0, 0, 0
	for {
		n, err := s.src.Read(s.buf)
		s.end = n
		if err != nil {
			s.rerr = err
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// keep moves buf[capFrom:to] into the capture, switching to preview mode
// once the record outgrows max so that the rest of it is only validated.
func (s *scanner) keep(to int) {
	chunk := s.buf[s.capFrom:to]
	s.capFrom = to
	if s.capOver {
		return
	}
	if len(s.capBuf)+len(chunk) > s.max {
		s.capOver = true
		if len(s.capBuf) > previewBytes {
			s.capBuf = s.capBuf[:previewBytes]
		}
		room := previewBytes - len(s.capBuf)
		s.capBuf = append(s.capBuf, chunk[:min(room, len(chunk))]...)
		return
	}
	s.capBuf = append(s.capBuf, chunk...)
}

func (s *scanner) begin() {
	s.capOn = true
	s.capFrom = s.pos
	s.capBuf = s.capBuf[:0]
	s.capOver = false
}

func (s *scanner) finish() ([]byte, bool) {
	s.capOn = false
	if s.mem {
		d := s.buf[s.capFrom:s.pos]
		if len(d) > s.max {
			return d[:min(len(d), previewBytes)], true
		}
		return d, false
	}
	s.keep(s.pos)
	return s.capBuf, s.capOver
}

// partial is what was captured of a record that turned out broken.
func (s *scanner) partial() []byte {
	if !s.capOn {
		return nil
	}
	if s.mem {
		return s.buf[s.capFrom:s.pos]
	}
	s.keep(s.pos)
	return s.capBuf
}

// ws skips insignificant whitespace and peeks at the next byte. Inside a
// captured record read from a stream it also drops that whitespace, so a
// record from a pretty-printed document comes out compact, on one line,
// which is what line-oriented outputs need.
func (s *scanner) ws() (byte, bool) {
	for {
		start := s.pos
		for s.pos < s.end {
			c := s.buf[s.pos]
			if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
				if s.capOn && !s.mem && s.pos > start {
					s.keep(start)
					s.capFrom = s.pos
				}
				return c, true
			}
			s.pos++
		}
		if s.capOn && !s.mem && s.pos > start {
			s.keep(start)
			s.capFrom = s.pos
		}
		if !s.fill() {
			return 0, false
		}
	}
}

func (s *scanner) peek() (byte, bool) {
	if s.pos < s.end || s.fill() {
		return s.buf[s.pos], true
	}
	return 0, false
}

// cut is the error for input that ended inside a value.
func (s *scanner) cut() error {
	if s.rerr != nil && s.rerr != io.EOF {
		return &readError{s.rerr}
	}
	return &syntaxError{off: s.off(), msg: "unexpected end of input", eof: true}
}

func (s *scanner) bad(c byte, context string) error {
	q := fmt.Sprintf("byte 0x%02x", c)
	if c >= 0x20 && c < 0x7f {
		q = fmt.Sprintf("character %q", rune(c))
	}
	return &syntaxError{off: s.off(), msg: "invalid " + q + " " + context}
}

func (s *scanner) deeper() error {
	s.depth++
	if s.depth > maxDepth {
		return &syntaxError{off: s.off(), msg: fmt.Sprintf("nesting deeper than %d levels", maxDepth)}
	}
	return nil
}

func (s *scanner) value() error {
	c, ok := s.ws()
	if !ok {
		return s.cut()
	}
	switch {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '"':
		s.pos++
		return s.str(nil)
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return s.bad(c, "looking for beginning of value")
}

func (s *scanner) object() error {
	s.pos++
	if err := s.deeper(); err != nil {
		return err
	}
	c, ok := s.ws()
	if !ok {
		return s.cut()
	}
	if c == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if c != '"' {
			return s.bad(c, "looking for beginning of object key string")
		}
		s.pos++
		if err := s.str(nil); err != nil {
			return err
		}
		if c, ok = s.ws(); !ok {
			return s.cut()
		}
		if c != ':' {
			return s.bad(c, "after object key")
		}
		s.pos++
		if err := s.value(); err != nil {
			return err
		}
		if c, ok = s.ws(); !ok {
			return s.cut()
		}
		switch c {
		case ',':
			s.pos++
			if c, ok = s.ws(); !ok {
				return s.cut()
			}
		case '}':
			s.pos++
			s.depth--
			return nil
		default:
			return s.bad(c, "after object key:value pair")
		}
	}
}

func (s *scanner) array() error {
	s.pos++
	if err := s.deeper(); err != nil {
		return err
	}
	c, ok := s.ws()
	if !ok {
		return s.cut()
	}
	if c == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if err := s.value(); err != nil {
			return err
		}
		if c, ok = s.ws(); !ok {
			return s.cut()
		}
		switch c {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.bad(c, "after array element")
		}
	}
}

// str scans a string after its opening quote. When key is not nil it
// collects the raw (still escaped) content, capped at 16 bytes: enough to
// recognise "records" and "value".
func (s *scanner) str(key *[]byte) error {
	for {
		start := s.pos
		i := s.pos
		buf := s.buf[:s.end]
		for i < len(buf) && strSafe[buf[i]] {
			i++
		}
		if key != nil && len(*key) <= 16 {
			*key = append(*key, buf[start:min(i, start+17)]...)
		}
		s.pos = i
		if i == s.end {
			if !s.fill() {
				return s.cut()
			}
			continue
		}
		switch c := buf[i]; c {
		case '"':
			s.pos++
			return nil
		case '\\':
			if key != nil {
				// An escaped key never matches an envelope key; that is fine
				// for the names Microsoft emits.
				*key = append(*key, '\\')
			}
			s.pos++
			c, ok := s.peek()
			if !ok {
				return s.cut()
			}
			switch c {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				s.pos++
				for range 4 {
					c, ok := s.peek()
					if !ok {
						return s.cut()
					}
					if !isHex(c) {
						return s.bad(c, "in \\u hexadecimal character escape")
					}
					s.pos++
				}
			default:
				return s.bad(c, "in string escape code")
			}
		default:
			return s.bad(c, "in string literal (control characters must be escaped)")
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *scanner) lit(w string) error {
	for i := 0; i < len(w); i++ {
		c, ok := s.peek()
		if !ok {
			return s.cut()
		}
		if c != w[i] {
			return s.bad(c, "in literal "+w)
		}
		s.pos++
	}
	return nil
}

func (s *scanner) digits() {
	for {
		for s.pos < s.end {
			if !isDigit(s.buf[s.pos]) {
				return
			}
			s.pos++
		}
		if !s.fill() {
			return
		}
	}
}

func (s *scanner) number() error {
	if s.buf[s.pos] == '-' {
		s.pos++
	}
	c, ok := s.peek()
	if !ok {
		return s.cut()
	}
	switch {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.pos++
		s.digits()
	default:
		return s.bad(c, "in numeric literal")
	}
	if c, ok = s.peek(); ok && c == '.' {
		s.pos++
		if c, ok = s.peek(); !ok {
			return s.cut()
		}
		if !isDigit(c) {
			return s.bad(c, "after decimal point in numeric literal")
		}
		s.digits()
	}
	if c, ok = s.peek(); ok && (c == 'e' || c == 'E') {
		s.pos++
		if c, ok = s.peek(); !ok {
			return s.cut()
		}
		if c == '+' || c == '-' {
			s.pos++
			if c, ok = s.peek(); !ok {
				return s.cut()
			}
		}
		if !isDigit(c) {
			return s.bad(c, "in exponent of numeric literal")
		}
		s.digits()
	}
	return nil
}

// documents frames every top-level value of a stream: concatenated
// documents (jq output, several arrays) are all read.
func (s *scanner) documents(rec recFunc) error {
	for {
		if _, ok := s.ws(); !ok {
			if s.rerr == io.EOF {
				return nil
			}
			return &readError{s.rerr}
		}
		if err := s.top(rec); err != nil {
			return err
		}
	}
}

// line frames one JSON line held in memory. rec must not keep data: it is
// a sub-slice of the line.
func (s *scanner) line(line []byte, max int, rec recFunc) error {
	s.resetMem(line, 0, max)
	if _, ok := s.ws(); !ok {
		return nil
	}
	if err := s.top(rec); err != nil {
		return err
	}
	if c, ok := s.ws(); ok {
		return s.bad(c, "after top-level value")
	}
	return nil
}

// valid reports whether line is exactly one JSON value.
func (s *scanner) valid(line []byte) bool {
	s.resetMem(line, 0, len(line))
	if err := s.value(); err != nil {
		return false
	}
	_, more := s.ws()
	return !more
}

// top frames one top-level value: an array yields its elements, an object
// with a "value" or "records" array (Graph page, Azure Monitor / Event Hubs
// envelope) yields that array's elements, anything else is one record.
func (s *scanner) top(rec recFunc) error {
	c, ok := s.ws()
	if !ok {
		return s.cut()
	}
	s.depth = 0
	s.split = false
	switch c {
	case '[':
		s.pos++
		s.split = true
		return s.elements(rec)
	case '{':
		return s.page(rec)
	}
	s.begin()
	if err := s.value(); err != nil {
		return err
	}
	return rec(s.finish())
}

// elements frames the elements of an array whose '[' was consumed.
func (s *scanner) elements(rec recFunc) error {
	if err := s.deeper(); err != nil {
		return err
	}
	c, ok := s.ws()
	if !ok {
		return s.cut()
	}
	if c == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		s.begin()
		if err := s.value(); err != nil {
			return err
		}
		if err := rec(s.finish()); err != nil {
			return err
		}
		if c, ok = s.ws(); !ok {
			return s.cut()
		}
		switch c {
		case ',':
			s.pos++
			if _, ok = s.ws(); !ok {
				return s.cut()
			}
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.bad(c, "after array element")
		}
	}
}

func envelopeKey(k []byte) bool {
	return string(k) == "value" || string(k) == "records"
}

// page frames a top-level object. It is captured as one record until a
// "value" or "records" key turns out to hold an array; from then on it is
// an envelope and only that array's elements are records. The capture
// costs nothing extra for an envelope because Graph puts little (the
// @odata.context) before "value".
func (s *scanner) page(rec recFunc) error {
	s.begin()
	s.pos++
	if err := s.deeper(); err != nil {
		return err
	}
	envelope := false
	c, ok := s.ws()
	if !ok {
		return s.cut()
	}
	if c != '}' {
		for {
			if c != '"' {
				return s.bad(c, "looking for beginning of object key string")
			}
			s.pos++
			s.key = s.key[:0]
			if err := s.str(&s.key); err != nil {
				return err
			}
			if c, ok = s.ws(); !ok {
				return s.cut()
			}
			if c != ':' {
				return s.bad(c, "after object key")
			}
			s.pos++
			if c, ok = s.ws(); !ok {
				return s.cut()
			}
			if c == '[' && envelopeKey(s.key) {
				s.capOn = false
				envelope, s.split = true, true
				s.pos++
				if err := s.elements(rec); err != nil {
					return err
				}
			} else if err := s.value(); err != nil {
				return err
			}
			if c, ok = s.ws(); !ok {
				return s.cut()
			}
			if c == '}' {
				break
			}
			if c != ',' {
				return s.bad(c, "after object key:value pair")
			}
			s.pos++
			if c, ok = s.ws(); !ok {
				return s.cut()
			}
		}
	}
	s.pos++
	s.depth--
	if envelope {
		return nil
	}
	return rec(s.finish())
}
