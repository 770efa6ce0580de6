// Package directcache is a fixed-size, lock-free cache for lookups that
// every pipeline worker makes for every record (GeoIP, a user's working
// hours schedule).
//
// It is direct-mapped: a key's hash picks its one slot, and adding a key
// replaces whatever the slot held. Get and Add are an atomic load or
// store and allocate at most the entry added, so workers on every core
// never wait for each other, where a shared LRU makes each of them take
// its lock and move a list element on every hit. The price is a lower hit
// rate than an LRU of the same size when hot keys collide; Caches are
// sized at twice the keys they are meant to hold to keep that rare.
//
// Use it only for values that can be recomputed: a miss costs one lookup
// of the source, never a wrong answer.
package directcache

import "sync/atomic"

// Cache maps keys to values in 2^n slots. The zero Cache is not usable:
// call New.
type Cache[K comparable, V any] struct {
	hash  func(K) uint64
	slots []atomic.Pointer[entry[K, V]]
	mask  uint64
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns a cache of at least size slots (rounded up to a power of
// two, at least 1). hash must spread keys over all 64 bits, as
// hash/maphash does.
func New[K comparable, V any](size int, hash func(K) uint64) *Cache[K, V] {
	n := 1
	for n < size {
		n *= 2
	}
	return &Cache[K, V]{hash: hash, slots: make([]atomic.Pointer[entry[K, V]], n), mask: uint64(n - 1)}
}

// Get returns the value cached for k.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	if e := c.slots[c.hash(k)&c.mask].Load(); e != nil && e.key == k {
		return e.val, true
	}
	var zero V
	return zero, false
}

// Add caches v for k, replacing what k's slot held.
func (c *Cache[K, V]) Add(k K, v V) {
	c.slots[c.hash(k)&c.mask].Store(&entry[K, V]{key: k, val: v})
}

// Slots is the number of slots.
func (c *Cache[K, V]) Slots() int { return len(c.slots) }

// Len counts the entries held; it reads every slot.
func (c *Cache[K, V]) Len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			n++
		}
	}
	return n
}
