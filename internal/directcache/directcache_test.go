package directcache

import (
	"hash/maphash"
	"strconv"
	"sync"
	"testing"
)

var seed = maphash.MakeSeed()

func hashString(s string) uint64 { return maphash.String(seed, s) }

func TestGetAdd(t *testing.T) {
	c := New[string, int](100, hashString)
	if c.Slots() != 128 {
		t.Fatalf("Slots = %d, want 128 (100 rounded up to a power of two)", c.Slots())
	}
	if _, ok := c.Get("a"); ok {
		t.Fatal("empty cache hit")
	}
	c.Add("a", 1)
	if c.Len() != 1 {
		t.Fatalf("Len = %d after one Add", c.Len())
	}
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %d, %v", v, ok)
	}
	c.Add("a", 2)
	if v, _ := c.Get("a"); v != 2 {
		t.Fatalf("Get(a) after replace = %d", v)
	}
}

// A key that shares its slot with another evicts it: a miss, never the
// other key's value.
func TestCollisionIsAMiss(t *testing.T) {
	c := New[string, string](1, hashString)
	c.Add("a", "A")
	c.Add("b", "B")
	if v, ok := c.Get("a"); ok {
		t.Fatalf("Get(a) = %q after b took its slot", v)
	}
	if v, ok := c.Get("b"); !ok || v != "B" {
		t.Fatalf("Get(b) = %q, %v", v, ok)
	}
}

// Every hit under concurrent writers is the value added for that key
// (run with -race).
func TestConcurrent(t *testing.T) {
	c := New[string, string](64, hashString)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20000 {
				k := strconv.Itoa((i * (w + 1)) % 500)
				if v, ok := c.Get(k); ok && v != "v"+k {
					t.Errorf("Get(%s) = %s", k, v)
					return
				}
				c.Add(k, "v"+k)
			}
		}()
	}
	wg.Wait()
}

func BenchmarkGetParallel(b *testing.B) {
	c := New[string, int](1024, hashString)
	keys := make([]string, 512)
	for i := range keys {
		keys[i] = "user" + strconv.Itoa(i) + "@contoso.com"
		c.Add(keys[i], i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get(keys[i&511])
			i++
		}
	})
}
