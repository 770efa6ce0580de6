package changelog

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// keyVersion is the first byte of every changelog key. A processor that
// meets another version (written by a newer privtrail) skips the entry
// rather than misreading it: a key it cannot decode is one it cannot
// restore anyway.
const keyVersion = 1

// appendKey appends the changelog key of an entry to dst:
//
//	version byte (1)
//	uvarint len(pipeline) | pipeline
//	uvarint len(monitor)  | monitor
//	uvarint len(key)      | key
//
// Length prefixes rather than separators, because a monitor key is
// whatever the monitor keys on (UPNs, IPs, composite keys with NULs) and
// any separator byte could occur in it; with lengths no two triples share
// an encoding, which compaction relies on to keep exactly one entry per
// key.
func appendKey(dst []byte, pipeline, monitor, key string) []byte {
	dst = append(dst, keyVersion)
	for _, s := range [...]string{pipeline, monitor, key} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// keyLen is len(appendKey(nil, pipeline, monitor, key)).
func keyLen(pipeline, monitor, key string) int {
	n := 1
	for _, s := range [...]string{pipeline, monitor, key} {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

var errKeyVersion = errors.New("unknown key version")

// decodeKey is the inverse of appendKey. It rejects anything appendKey
// could not have produced (other versions, truncated or overlong fields,
// trailing bytes), so that a decoded key re-encodes to the same bytes.
// Given a string, the fields it returns share its memory: a restore
// decodes every key it keeps, and the map it keeps them in already holds
// them as strings.
func decodeKey[T ~string | ~[]byte](b T) (pipeline, monitor, key string, err error) {
	if len(b) == 0 {
		return "", "", "", errors.New("empty key")
	}
	if b[0] != keyVersion {
		return "", "", "", fmt.Errorf("%w %d", errKeyVersion, b[0])
	}
	b = b[1:]
	var out [3]string
	for i := range out {
		n, used := uvarint(b)
		if used <= 0 {
			return "", "", "", errors.New("bad field length")
		}
		// A non-minimal uvarint would decode to the same triple as the
		// minimal one, giving one entry two keys that compaction would
		// keep apart.
		if used != uvarintLen(n) {
			return "", "", "", errors.New("non-minimal field length")
		}
		b = b[used:]
		if n > uint64(len(b)) {
			return "", "", "", errors.New("truncated field")
		}
		out[i] = string(b[:n])
		b = b[n:]
	}
	if len(b) != 0 {
		return "", "", "", errors.New("trailing bytes")
	}
	return out[0], out[1], out[2], nil
}

// uvarint is binary.Uvarint for strings as well: n is 0 if b ends in the
// varint, negative if it overflows 64 bits.
func uvarint[T ~string | ~[]byte](b T) (v uint64, n int) {
	var shift uint
	for i := 0; i < len(b) && i < binary.MaxVarintLen64; i++ {
		c := b[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1)
			}
			return v | uint64(c)<<shift, i + 1
		}
		v |= uint64(c&0x7f) << shift
		shift += 7
	}
	if len(b) >= binary.MaxVarintLen64 {
		return 0, -binary.MaxVarintLen64
	}
	return 0, 0
}
