package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"
)

// The stored form of a key: a version byte, the key's newest event time
// (first, so the expiry sweep reads only that), then its events and
// alerts as varints and length-prefixed strings, decoded without
// reflection. Version 2 is the same with the events and alerts
// compressed (S2): a correlation's key holds dozens of events whose
// reasons and IDs repeat most of their bytes, and the store's size is
// what its mapped pages cost in memory (3× smaller on the shared perf
// data). Entries too small to gain stay version 1, which is also what
// earlier builds wrote.
const (
	stateVersion    = 1
	stateCompressed = 2
	// compressFrom is the least body worth compressing.
	compressFrom = 64
)

// scratch holds the uncompressed body of an entry being encoded or
// decoded; the strings decoded from it are copies.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

func (ks *keyState) encode(b []byte) []byte {
	bp := scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	body := appendEvents((*bp)[:0], ks.events)
	body = appendEvents(body, ks.alerts)
	*bp = body
	if len(body) < compressFrom {
		b = append(b, stateVersion)
		b = binary.AppendVarint(b, ks.last)
		return append(b, body...)
	}
	start := len(b)
	b = append(b, stateCompressed)
	b = binary.AppendVarint(b, ks.last)
	head := len(b)
	b = slices.Grow(b, s2.MaxEncodedLen(len(body)))
	packed := s2.Encode(b[head:head+s2.MaxEncodedLen(len(body))], body)
	if len(packed) >= len(body) {
		b = b[:head]
		b[start] = stateVersion
		return append(b, body...)
	}
	return b[:head+len(packed)]
}

func appendEvents(b []byte, events []event) []byte {
	b = binary.AppendUvarint(b, uint64(len(events)))
	for _, e := range events {
		b = binary.AppendVarint(b, e.t)
		b = appendString(b, e.id)
		b = appendString(b, e.v)
		b = append(b, e.flag)
		b = binary.AppendUvarint(b, uint64(e.n))
		b = appendString(b, e.pid)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errState = errors.New("malformed state entry")

type reader struct {
	b   []byte
	err error
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errState
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errState
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errState
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) byte() uint8 {
	if len(r.b) == 0 {
		r.err = errState
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) events() []event {
	n := r.uvarint()
	// Each event takes at least 6 bytes: a count beyond that is damage,
	// not a reason to allocate.
	if r.err != nil || n > uint64(len(r.b))/6 {
		r.err = errState
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]event, 0, n)
	for range n {
		e := event{t: r.varint(), id: r.string(), v: r.string(), flag: r.byte()}
		e.n = uint32(r.uvarint())
		e.pid = r.string()
		if r.err != nil {
			return nil
		}
		out = append(out, e)
	}
	return out
}

func (ks *keyState) decode(b []byte) error {
	r := reader{b: b}
	version := r.byte()
	if version != stateVersion && version != stateCompressed {
		return fmt.Errorf("%w: unknown version", errState)
	}
	ks.last = r.varint()
	if r.err != nil {
		return r.err
	}
	if version == stateCompressed {
		n, err := s2.DecodedLen(r.b)
		// A body is at most a few MB (256 events of short strings);
		// a length beyond that is damage, not a reason to allocate.
		if err != nil || n > 64<<20 {
			return fmt.Errorf("%w: compressed body", errState)
		}
		bp := scratch.Get().(*[]byte)
		defer scratch.Put(bp)
		body, err := s2.Decode(slices.Grow((*bp)[:0], n)[:n], r.b)
		if err != nil {
			return fmt.Errorf("%w: compressed body: %v", errState, err)
		}
		*bp = body
		r.b = body
	}
	ks.events = r.events()
	ks.alerts = r.events()
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: trailing bytes", errState)
	}
	return nil
}

// lastOf reads only the header of a stored entry, for the sweep.
func lastOf(b []byte) (int64, error) {
	r := reader{b: b}
	if v := r.byte(); v != stateVersion && v != stateCompressed {
		return 0, errState
	}
	last := r.varint()
	return last, r.err
}

func encodeMeta(m stateMeta) []byte {
	b := []byte{stateVersion}
	b = binary.AppendVarint(b, m.start)
	b = binary.AppendVarint(b, m.watermark)
	return binary.AppendVarint(b, m.keys)
}

func decodeMeta(b []byte) (stateMeta, error) {
	r := reader{b: b}
	if r.byte() != stateVersion {
		return stateMeta{}, errState
	}
	m := stateMeta{start: r.varint(), watermark: r.varint(), keys: r.varint()}
	if r.err == nil && len(r.b) != 0 {
		r.err = errState
	}
	return m, r.err
}
