package buffer

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/privtrail/privtrail/internal/linefile"
)

// Before the segment files, an output's buffer was one bbolt file,
// <dir>.db: a bucket "entries" of values keyed by their 8-byte big-endian
// sequence number, or, for a long entry, of chunks keyed sequence number ‖
// 4-byte chunk index. migrateLegacy moves such a file's entries, in order
// and with their sequence numbers, into the folder.
var legacyBucket = []byte("entries")

const (
	legacySuffix  = ".db"
	migrateSuffix = ".migrating"
	legacyTimeout = 2 * time.Second // for another process holding the file
)

// migrateLegacy writes the entries of dir.db into segment files in
// dir.migrating, syncs them, renames that folder to dir and deletes the
// old file. A crash before the rename leaves the old file as it was (the
// half-written folder is started afresh); after it, the folder is there
// and the old file, a leftover, is deleted.
func migrateLegacy(dir string) error {
	old := dir + legacySuffix
	if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	parent := filepath.Dir(dir)
	if _, err := os.Stat(dir); err == nil {
		if err := os.Remove(old); err != nil {
			return err
		}
		return linefile.SyncDir(parent)
	}
	tmp := dir + migrateSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	db, err := bolt.Open(old, 0o600, &bolt.Options{Timeout: legacyTimeout, ReadOnly: true})
	if err != nil {
		return err
	}
	w := &legacyWriter{dir: tmp}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(legacyBucket)
		if b == nil {
			return nil
		}
		var werr error
		each(b.Cursor(), func(seq uint64, parts [][]byte) bool {
			werr = w.add(seq, parts)
			return werr == nil
		})
		return werr
	})
	if cerr := w.close(); err == nil {
		err = cerr
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = linefile.SyncDir(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err == nil {
		err = linefile.SyncDir(parent)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Remove(old); err != nil {
		return err
	}
	return linefile.SyncDir(parent)
}

// legacyWriter writes migrated entries into segments of maxSegment bytes.
type legacyWriter struct {
	dir  string
	f    *os.File
	size int64
	buf  []byte
}

func (w *legacyWriter) add(seq uint64, parts [][]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	item := make([]byte, 0, n)
	for _, p := range parts {
		item = append(item, p...)
	}
	if w.f == nil || w.size+frameHeader+int64(n) > maxSegment {
		if err := w.close(); err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(w.dir, segName(seq)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		w.f, w.size = f, 0
	}
	w.buf = appendFrame(w.buf[:0], seq, item)
	w.size += int64(len(w.buf))
	_, err := w.f.Write(w.buf)
	return err
}

func (w *legacyWriter) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// each calls fn with every entry of a legacy file, in order, as the parts
// it is stored in (one, or its chunks; valid for the transaction, the
// slice only during the call), until fn returns false.
func each(c *bolt.Cursor, fn func(seq uint64, parts [][]byte) bool) {
	var parts [][]byte
	var seq uint64
	for k, v := c.First(); ; k, v = c.Next() {
		if len(parts) > 0 && (k == nil || binary.BigEndian.Uint64(k) != seq) {
			if !fn(seq, parts) {
				return
			}
			parts = parts[:0]
		}
		if k == nil {
			return
		}
		seq = binary.BigEndian.Uint64(k)
		parts = append(parts, v)
	}
}
