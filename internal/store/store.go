// Package store is privtrail's embedded key-value store under the data
// directory: input checkpoints and monitor state. It is a thin layer
// over bbolt so that every write is one fsynced transaction: a crash loses
// nothing that a caller was told is stored.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store is safe for concurrent use.
type Store struct {
	db    *bolt.DB
	fresh bool
}

// FileName is the store's file in the data directory.
const FileName = "privtrail.db"

// Open opens (creating if needed) the store file privtrail.db in dir. A
// damaged file is an error naming it, never a panic.
func Open(dir string) (*Store, error) { return open(dir, false) }

// OpenScratch opens the store of a data directory that no later start
// reads (`privtrail replay` without -data-dir: a temporary folder, removed
// at the end unless dead letters are kept there). Its commits are not
// synced: nothing reads what a crash would leave of it.
func OpenScratch(dir string) (*Store, error) { return open(dir, true) }

func open(dir string, noSync bool) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	fi, err := os.Stat(path)
	fresh := err != nil || fi.Size() == 0
	db, err := openBolt(path, &bolt.Options{Timeout: 2 * time.Second, NoSync: noSync})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another privtrail holds it (one agent per data directory)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{db: db, fresh: fresh}, nil
}

// openBolt opens a bbolt file, turning the panics bbolt raises on some
// damaged files (a freelist page of an unknown type) into an error.
func openBolt(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: %v", ErrDamaged, p)
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	for _, damage := range []error{berrors.ErrInvalid, berrors.ErrVersionMismatch, berrors.ErrChecksum, berrors.ErrInvalidMapping} {
		if errors.Is(err, damage) {
			return nil, fmt.Errorf("%w: %w", ErrDamaged, err)
		}
	}
	return db, err
}

// ErrDamaged is a store file bbolt cannot read. README "A damaged store"
// says what to do.
var ErrDamaged = errors.New("the store is damaged (see README, \"A damaged store\")")

// Fresh tells that the store file was missing or empty when Open found
// it: every checkpoint and all monitor state start from nothing.
func (s *Store) Fresh() bool { return s.fresh }

// DataDirUsed tells whether dir holds anything besides the store: a
// dead-letter file, output buffers, saved role maps. A fresh store in a
// used data directory means the store was lost, and every input reads its
// sources again from the start.
func DataDirUsed(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Name() != FileName {
			return true
		}
	}
	return false
}

// ErrInUse is Inspect's answer when a running privtrail holds the store.
var ErrInUse = errors.New("in use by a running privtrail")

// Inspect opens dir's store read-only, calls fn in one read transaction
// and closes it: privtrail check reads the state without changing it. It
// reports false, and does not call fn, when dir holds no store yet (or an
// empty file).
func Inspect(dir string, fn func(r *Reader) error) (bool, error) {
	path := filepath.Join(dir, FileName)
	if fi, err := os.Stat(path); errors.Is(err, os.ErrNotExist) || err == nil && fi.Size() == 0 {
		return false, nil
	}
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return true, fmt.Errorf("%s: %w", path, ErrInUse)
		}
		return true, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	return true, db.View(func(tx *bolt.Tx) error { return fn(&Reader{tx: tx}) })
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Get returns a copy of the value under bucket/key, or nil if there is none.
func (s *Store) Get(bucket, key string) ([]byte, error) {
	var out []byte
	err := s.View(func(r *Reader) error {
		out = r.Get(bucket, []byte(key))
		return nil
	})
	return out, err
}

// Put stores val under bucket/key durably.
func (s *Store) Put(bucket, key string, val []byte) error {
	return s.Update(func(w *Writer) error { return w.Put(bucket, []byte(key), val) })
}

// Delete removes bucket/key; a missing key is not an error.
func (s *Store) Delete(bucket, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
}

// ForEach calls fn for every key of bucket in key order. The slices are
// only valid during the call.
func (s *Store) ForEach(bucket string, fn func(key, val []byte) error) error {
	return s.View(func(r *Reader) error { return r.ForEach(bucket, fn) })
}

// Writer is the write side of one transaction of Update.
type Writer struct {
	tx *bolt.Tx
	// kept holds the copies of the values put: bbolt keeps a reference to
	// a value until the transaction commits, so a caller that encodes
	// every value into one reused buffer would otherwise store the last
	// value's bytes under every key.
	kept []byte
}

// Put stores val under bucket/key when the transaction commits. Put
// copies key and val: the caller may reuse both as soon as it returns.
func (w *Writer) Put(bucket string, key, val []byte) error {
	b, err := w.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return err
	}
	// bbolt copies the key itself.
	return b.Put(key, w.keep(val))
}

// keep copies val into the transaction's arena: a few allocations per
// transaction instead of one per value.
func (w *Writer) keep(val []byte) []byte {
	if len(val) == 0 {
		return val
	}
	if cap(w.kept)-len(w.kept) < len(val) {
		w.kept = make([]byte, 0, max(len(val), min(2*cap(w.kept), 1<<20), 4096))
	}
	n := len(w.kept)
	w.kept = append(w.kept, val...)
	return w.kept[n:len(w.kept):len(w.kept)]
}

// Delete removes bucket/key when the transaction commits.
func (w *Writer) Delete(bucket string, key []byte) error {
	b := w.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.Delete(key)
}

// DeleteBucket removes bucket and everything in it; a missing bucket is
// not an error.
func (w *Writer) DeleteBucket(bucket string) error {
	if err := w.tx.DeleteBucket([]byte(bucket)); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	return nil
}

// Reader is the read side of the transaction, for what fn needs to see
// before it writes.
func (w *Writer) Reader() *Reader { return &Reader{tx: w.tx} }

// Scan calls fn for up to n keys of bucket from the first key >= from, in
// key order, and returns the key after the last one visited (nil when the
// bucket's end was reached). fn may Delete the key it is given.
func (w *Writer) Scan(bucket string, from []byte, n int, fn func(key, val []byte) error) ([]byte, error) {
	b := w.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	k, v := c.Seek(from)
	for ; k != nil && n > 0; n-- {
		if err := fn(k, v); err != nil {
			return nil, err
		}
		// fn may have deleted k, which moves the cursor onto the next key
		// already: seek past k instead of calling Next.
		next := append(append([]byte(nil), k...), 0)
		k, v = c.Seek(next)
	}
	if k == nil {
		return nil, nil
	}
	return append([]byte(nil), k...), nil
}

// Update runs fn in one fsynced write transaction: everything fn puts or
// deletes is stored together, or (when fn or the commit fails) nothing.
func (s *Store) Update(fn func(w *Writer) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&Writer{tx: tx}) })
}

// Scan calls fn with bucket's keys from the first at or after from, in
// order, until fn returns false or the keys end: Writer.Scan's read-only
// form, for a reader that decides as it goes where to stop. key and val
// are valid only during the call.
func (r *Reader) Scan(bucket string, from []byte, fn func(key, val []byte) bool) {
	b := r.tx.Bucket([]byte(bucket))
	if b == nil {
		return
	}
	c := b.Cursor()
	for k, v := c.Seek(from); k != nil && fn(k, v); k, v = c.Next() {
	}
}

// Reader is the read side of one transaction of View.
type Reader struct {
	tx *bolt.Tx
}

// Get returns a copy of the value under bucket/key, or nil.
func (r *Reader) Get(bucket string, key []byte) []byte {
	b := r.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	if v := b.Get(key); v != nil {
		return append([]byte(nil), v...)
	}
	return nil
}

// ForEach calls fn for every key of bucket in key order. The slices are
// only valid during the call.
func (r *Reader) ForEach(bucket string, fn func(key, val []byte) error) error {
	b := r.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.ForEach(fn)
}

// Buckets returns the names of the buckets that start with prefix, in
// order.
func (r *Reader) Buckets(prefix string) []string {
	var out []string
	c := r.tx.Cursor()
	for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, _ = c.Next() {
		out = append(out, string(k))
	}
	return out
}

// View runs fn in one read transaction: many reads for the price of one
// transaction, all seeing the same state.
func (s *Store) View(fn func(r *Reader) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Reader{tx: tx}) })
}
