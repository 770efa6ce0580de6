package buffer

import (
	"encoding/binary"
	"math/bits"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// How entries sit on bbolt's pages (see the README). An entry of at most
// chunk bytes is one key/value, keyed by its sequence number; a longer one
// is cut into chunks of chunk bytes keyed sequence number ‖ chunk index.
// A chunk is small enough that four always share a leaf page, so bbolt
// never writes a leaf over more than one page: every page is allocated on
// its own, and any freed page can take any new one. The file then grows
// only when the live pages outgrow it, never through fragmentation.
const (
	pageHeaderSize  = 16 // bbolt's page header (internal/common.PageHeaderSize)
	leafElementSize = 16 // a leaf element's header (internal/common.LeafPageElementSize)
	branchElemSize  = 16 // a branch element's header
	seqKeySize      = 8
	chunkKeySize    = 12
	// chunksPerPage full chunks fill a leaf page exactly. Larger chunks
	// would let a leaf outgrow its page; smaller ones cost keys (eight per
	// page gave 1% more room for 1–4KB records and a third less throughput).
	chunksPerPage = 4
	// reservePages stay free for deletions, which appends may not use:
	// deleting rewrites a few pages (the first leaf, the branch pages above
	// it, the root) before it frees any.
	reservePages = 16
	// bbolt grows the file in steps of AllocSize beyond its high-water mark:
	// a sixty-fourth of the bound, a power of two between these.
	minGrowStep = 32 << 10
	maxGrowStep = 16 << 20 // bbolt's default
	// minUsablePages is the least room Open accepts for entries.
	minUsablePages = 64
	// A file for a bound of largePagesFrom or more has 16KiB pages (a
	// quarter of the writes, most records one key), a smaller one 4KiB
	// pages (finer room). A file keeps the page size it was created with.
	largePagesFrom = 64 << 20
)

// pageSizeFor is the page size of a new file for bound.
func pageSizeFor(bound int64) int {
	if bound >= largePagesFrom {
		return 16 << 10
	}
	return 4 << 10
}

// layout is how entries map onto one file's pages and what the bound
// leaves them.
type layout struct {
	page    int64 // bbolt's page size, fixed when the file was created
	chunk   int   // the longest value under one key
	minFill int64 // element bytes at least on a leaf page bbolt closed to start another
	step    int64 // bbolt's growth step (DB.AllocSize)
	limit   int64 // the file size an append may grow to (bbolt's MaxSize)
	usable  int64 // pages the live data may take: the file is then within limit
	height  int64 // of the B-tree when the file is full
	txPages int64 // pages a write rewrites besides the leaves it adds
}

func newLayout(page, bound int64) layout {
	l := layout{page: page}
	elem := (page - pageHeaderSize) / chunksPerPage
	l.chunk = int(elem) - leafElementSize - chunkKeySize
	// bbolt closes a leaf page when the next element does not fit in it.
	l.minFill = page - pageHeaderSize - elem
	l.step = 1 << (bits.Len64(uint64(bound/64)) - 1)
	l.step = min(max(l.step, minGrowStep), maxGrowStep)
	l.limit = bound - reservePages*page
	// bbolt grows the file to one page past its high-water mark plus a
	// step, and refuses a growth beyond limit: keep the mark below.
	l.usable = (l.limit-l.step)/page - 1
	// A write rewrites the path from the root bucket's page to the last
	// leaf, and, deleting too, to the first leaf, which may merge with its
	// neighbour and split again: three pages per level of the tree (branch
	// pages at least half full when the file is full) and a few more.
	fanout := page / 2 / (branchElemSize + chunkKeySize)
	l.height = 1
	for n := l.usable; n > 1; n = (n + fanout - 1) / fanout {
		l.height++
	}
	l.txPages = 3*l.height + 4
	return l
}

// cost is what an append of items takes: at most (its leaves filled to at
// least minFill, two of them maybe less, the leaf it extends, branch pages
// for the new leaves, the pages it rewrites), likely (full leaves, one path
// rewritten), and the items' bytes.
func (l layout) cost(items [][]byte) (most, likely, size int64) {
	var elems int64
	for _, it := range items {
		n := int64(len(it))
		size += n
		if n <= int64(l.chunk) {
			elems += leafElementSize + seqKeySize + n
			continue
		}
		chunks := (n + int64(l.chunk) - 1) / int64(l.chunk)
		elems += chunks*(leafElementSize+chunkKeySize) + n
	}
	leaves := (elems+l.page+l.minFill-1)/l.minFill + 2
	most = leaves + leaves/64 + 1 + l.txPages
	likely = (elems+l.page-pageHeaderSize-1)/(l.page-pageHeaderSize) + l.height + 1
	return most, likely, size
}

// put stores item number seq in b.
func (l layout) put(b *bolt.Bucket, seq uint64, item []byte) error {
	var key [chunkKeySize]byte
	binary.BigEndian.PutUint64(key[:], seq)
	if len(item) <= l.chunk {
		return b.Put(key[:seqKeySize], item)
	}
	for i := uint32(0); len(item) > 0; i++ {
		n := min(len(item), l.chunk)
		binary.BigEndian.PutUint32(key[seqKeySize:], i)
		if err := b.Put(key[:], item[:n]); err != nil {
			return err
		}
		item = item[n:]
	}
	return nil
}

// each calls fn with every entry from sequence number from on, as the
// parts it is stored in (one, or its chunks; valid for the transaction, the
// slice only during the call), until fn returns false.
func each(c *bolt.Cursor, from uint64, fn func(seq uint64, parts [][]byte) bool) {
	var start [seqKeySize]byte
	binary.BigEndian.PutUint64(start[:], from)
	var parts [][]byte
	var seq uint64
	for k, v := c.Seek(start[:]); ; k, v = c.Next() {
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

func partsLen(parts [][]byte) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}

// join copies parts (n bytes in all) into one slice.
func join(parts [][]byte, n int) []byte {
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

const rewriteSuffix = ".rewrite"

// rewrite copies the entries of the file at path, in order and with their
// sequence numbers, into a fresh file laid out as above and puts it in the
// old one's place. A bbolt file never shrinks; this is how one written by
// an older version, or grown under a larger bound, comes down to what its
// entries take. A crash before the rename leaves the old file as it was.
func rewrite(path string, maxBytes int64, page int) error {
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout, ReadOnly: true})
	if err != nil {
		return err
	}
	tmp := path + rewriteSuffix
	dst, l, err := openDB(tmp, maxBytes, page)
	if err != nil {
		src.Close()
		return err
	}
	var batch []Entry
	var size int
	flush := func() error {
		err := dst.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(entriesBucket)
			if err != nil {
				return err
			}
			b.FillPercent = 1
			for _, e := range batch {
				if err := l.put(b, e.Seq, e.Data); err != nil {
					return err
				}
			}
			return nil
		})
		batch, size = batch[:0], 0
		return err
	}
	err = src.View(func(tx *bolt.Tx) error {
		var err error
		if b := tx.Bucket(entriesBucket); b != nil {
			each(b.Cursor(), 0, func(seq uint64, parts [][]byte) bool {
				n := partsLen(parts)
				batch = append(batch, Entry{Seq: seq, Data: join(parts, n)})
				if size += n; size >= 8<<20 {
					err = flush()
				}
				return err == nil
			})
		}
		if err == nil {
			err = flush()
		}
		return err
	})
	for _, db := range []*bolt.DB{dst, src} {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
