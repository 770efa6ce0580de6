// Package arena keeps a batch's bytes — the lines an input read, the JSON
// the runner encoded — in large pooled chunks instead of one allocation
// per record, and takes the chunks back for the next batch once the batch
// is released (committed: every output acknowledged it and its input
// checkpointed it; see batch.Batch.OnRelease).
//
// Without it the pipeline allocated about 5 KB per 2 KB record for these
// bytes alone, and the garbage collector, run by that allocation rate,
// took a fifth of the CPU; with it the same bytes are written into chunks
// that stay in use, and collections come about half as often.
//
// Whoever holds a slice from an Arena must be done with it when the
// Arena is released: the chunk is rewritten by a later batch.
package arena

import "sync"

// ChunkSize is the size of a pooled chunk: small enough that an arena's
// last, partly filled chunk wastes little (a batch of 500 records takes
// about 1 MB of lines and 1.5 MB of JSON), large enough that a batch takes
// a handful. A record needing more gets a chunk of its own, not pooled.
const ChunkSize = 256 << 10

var chunks = sync.Pool{New: func() any {
	b := make([]byte, 0, ChunkSize)
	return &b
}}

// Arena hands out byte slices carved from pooled chunks. The zero Arena
// is ready to use; it is not safe for concurrent use.
type Arena struct {
	held []*[]byte
	cur  []byte
}

// Append reserves room for need bytes, lets fill append to the arena's
// current chunk (it must return its argument extended, as append does),
// and returns what fill appended, capped so that appending to it cannot
// overwrite what follows. If fill appends more than need and the chunk
// runs out, its bytes land in a fresh allocation, still returned whole.
func (a *Arena) Append(need int, fill func(dst []byte) []byte) []byte {
	if cap(a.cur)-len(a.cur) < need {
		a.next(need)
	}
	before := a.cur
	start := len(before)
	out := fill(before)
	if cap(out) != cap(before) {
		// fill outgrew the chunk: out is a new array, and the chunk is
		// as it was (append never writes past a slice's capacity).
		return out[start:len(out):len(out)]
	}
	a.cur = out
	return out[start:len(out):len(out)]
}

// Copy returns a copy of b held in the arena.
func (a *Arena) Copy(b []byte) []byte {
	return a.Append(len(b), func(dst []byte) []byte { return append(dst, b...) })
}

func (a *Arena) next(need int) {
	if need > ChunkSize {
		a.cur = make([]byte, 0, need)
		return
	}
	c := chunks.Get().(*[]byte)
	a.held = append(a.held, c)
	a.cur = (*c)[:0]
}

// Release gives the arena's chunks back to the pool; every slice it
// handed out is invalid from then on. The Arena may be used again.
func (a *Arena) Release() {
	for _, c := range a.held {
		*c = (*c)[:0]
		chunks.Put(c)
	}
	a.held, a.cur = a.held[:0], nil
}
