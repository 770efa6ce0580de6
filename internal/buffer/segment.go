package buffer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A segment file is a run of frames, each
//
//	length  uint32  little endian, of the payload
//	crc     uint32  CRC-32C of seq ‖ payload
//	seq     uint64  little endian, the entry's sequence number
//	payload length bytes
//
// with consecutive sequence numbers; the file is named after the first
// (20 decimal digits, so names sort as numbers). A frame is valid when it
// is whole and its checksum matches: an append cut by a crash leaves a
// torn frame at the end of the newest segment, which Open cuts off (the
// append never returned, so nothing upstream counts on it).
const (
	frameHeader = 16
	segSuffix   = ".seg"
	// maxFrame bounds a frame's length field: a damaged length must not
	// make Open allocate gigabytes.
	maxFrame = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is returned by Read for a frame whose checksum does not
// match: the file changed under the queue after it was opened.
var ErrCorrupt = errors.New("buffer: corrupt entry on disk")

func frameCRC(seq uint64, payload []byte) uint32 {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	return crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, payload)
}

// appendFrame appends the frame of item number seq to dst.
func appendFrame(dst []byte, seq uint64, item []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(item)))
	dst = binary.LittleEndian.AppendUint32(dst, frameCRC(seq, item))
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	return append(dst, item...)
}

// parseFrame reads the frame at the start of b: its sequence number and
// payload (a view of b), and its whole length; ok false when b does not
// start with a whole, valid frame.
func parseFrame(b []byte) (seq uint64, payload []byte, n int, ok bool) {
	if len(b) < frameHeader {
		return 0, nil, 0, false
	}
	length := binary.LittleEndian.Uint32(b)
	if uint64(length) > uint64(len(b)-frameHeader) {
		return 0, nil, 0, false
	}
	seq = binary.LittleEndian.Uint64(b[8:])
	payload = b[frameHeader : frameHeader+int(length)]
	if binary.LittleEndian.Uint32(b[4:]) != frameCRC(seq, payload) {
		return 0, nil, 0, false
	}
	return seq, payload, frameHeader + int(length), true
}

// The acknowledgement file holds the last removed sequence number
// (uint64 little endian) and the CRC-32C of those 8 bytes.
const ackSize = 12

func ackRecord(seq uint64) []byte {
	rec := binary.LittleEndian.AppendUint64(make([]byte, 0, ackSize), seq)
	return binary.LittleEndian.AppendUint32(rec, crc32.Checksum(rec, castagnoli))
}

func parseAck(rec []byte) (seq uint64, ok bool) {
	if len(rec) != ackSize || binary.LittleEndian.Uint32(rec[8:]) != crc32.Checksum(rec[:8], castagnoli) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(rec), true
}

func segName(first uint64) string { return fmt.Sprintf("%020d%s", first, segSuffix) }

// segment is one file: entries first … first+n-1, size bytes of frames.
type segment struct {
	first uint64
	n     uint64
	size  int64
}

func (s *segment) end() uint64 { return s.first + s.n }

// listSegments returns the first sequence numbers of dir's segment files,
// in order.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, first)
	}
	slices.Sort(out)
	return out, nil
}

// scanned is what reading one segment file at open found.
type scanned struct {
	seg   segment
	sizes []int32 // payload lengths of its entries, in order
	// bad is where the valid frames end before the file does (-1: they
	// do not): a torn append, or damage.
	bad  int64
	tail int64 // the file's size
}

// scanSegment reads every frame of the segment named after first.
func scanSegment(dir string, first uint64) (scanned, error) {
	sc := scanned{seg: segment{first: first}, bad: -1}
	f, err := os.Open(filepath.Join(dir, segName(first)))
	if err != nil {
		return sc, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sc, err
	}
	sc.tail = fi.Size()
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [frameHeader]byte
	var payload []byte
	for off := int64(0); off < sc.tail; {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			sc.bad = off
			break
		}
		length := binary.LittleEndian.Uint32(hdr[:])
		seq := binary.LittleEndian.Uint64(hdr[8:])
		if length > maxFrame || off+frameHeader+int64(length) > sc.tail || seq != first+sc.seg.n {
			sc.bad = off
			break
		}
		payload = slices.Grow(payload[:0], int(length))[:length]
		if _, err := io.ReadFull(r, payload); err != nil {
			sc.bad = off
			break
		}
		if binary.LittleEndian.Uint32(hdr[4:]) != frameCRC(seq, payload) {
			sc.bad = off
			break
		}
		sc.sizes = append(sc.sizes, int32(length))
		sc.seg.n++
		off += frameHeader + int64(length)
		sc.seg.size = off
	}
	return sc, nil
}

// FolderSize is what the buffer folder dir takes on disk as the bound
// counts it: its own block and each file's size rounded up to 4 KiB
// blocks. Files deleted while it looks are skipped.
func FolderSize(dir string) (int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	total := int64(block)
	for _, e := range ents {
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += blocks(fi.Size())
	}
	return total, nil
}
