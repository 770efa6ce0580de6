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
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store is safe for concurrent use.
type Store struct {
	db *bolt.DB
}

// Open opens (creating if needed) the store file privtrail.db in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, "privtrail.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another privtrail holds it (one agent per data directory)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{db: db}, nil
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
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), val)
	})
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
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(fn)
	})
}

// Writer is the write side of one transaction of Update.
type Writer struct {
	tx *bolt.Tx
}

// Put stores val under bucket/key when the transaction commits.
func (w *Writer) Put(bucket string, key, val []byte) error {
	b, err := w.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return err
	}
	return b.Put(key, val)
}

// Delete removes bucket/key when the transaction commits.
func (w *Writer) Delete(bucket string, key []byte) error {
	b := w.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.Delete(key)
}

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

// View runs fn in one read transaction: many reads for the price of one
// transaction, all seeing the same state.
func (s *Store) View(fn func(r *Reader) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Reader{tx: tx}) })
}
