package elastic

import (
	"math"
	"strconv"

	"github.com/privtrail/privtrail/entra"
)

// jw appends one JSON document. Objects and arrays opened with begin and
// beginArr are dropped again, key and all, when nothing was written into
// them, so the encoder never emits "user":{} or "related":{"ip":[]}.
// Every string goes through entra.AppendJSONStringNoting, which replaces
// invalid UTF-8 by U+FFFD and sets replaced.
type jw struct {
	b        []byte
	frames   []frame
	replaced bool
}

type frame struct {
	start    int  // where the member (comma and key) began
	empty    bool // nothing written into the container yet
	parentMT bool // the parent's empty flag before this member
}

func (w *jw) top() *frame { return &w.frames[len(w.frames)-1] }

// open starts the document's top-level object.
func (w *jw) open() {
	w.b = append(w.b, '{')
	w.frames = append(w.frames[:0], frame{start: len(w.b) - 1, empty: true})
}

// close ends the top-level object.
func (w *jw) close() {
	w.b = append(w.b, '}')
	w.frames = w.frames[:0]
}

// key writes the separator and key of a member of the current object, or
// just the separator for an element of the current array (k == "").
func (w *jw) key(k string) {
	w.sep()
	if k != "" {
		w.b = entra.AppendJSONStringNoting(w.b, k, &w.replaced)
		w.b = append(w.b, ':')
	}
}

// sep writes the comma before a member or element of the current
// container unless it is the first.
func (w *jw) sep() {
	f := w.top()
	if !f.empty {
		w.b = append(w.b, ',')
	}
	f.empty = false
}

func (w *jw) push(k string, c byte) {
	f := w.top()
	start, mt := len(w.b), f.empty
	w.key(k)
	w.b = append(w.b, c)
	w.frames = append(w.frames, frame{start: start, empty: true, parentMT: mt})
}

// begin opens an object member k (an array element when k is "").
func (w *jw) begin(k string) { w.push(k, '{') }

// beginArr opens an array member k.
func (w *jw) beginArr(k string) { w.push(k, '[') }

// end closes the innermost object, dropping it if it stayed empty.
func (w *jw) end() { w.pop('}') }

// endArr closes the innermost array, dropping it if it stayed empty.
func (w *jw) endArr() { w.pop(']') }

func (w *jw) pop(c byte) {
	f := w.frames[len(w.frames)-1]
	w.frames = w.frames[:len(w.frames)-1]
	if f.empty {
		w.b = w.b[:f.start]
		w.top().empty = f.parentMT
		return
	}
	w.b = append(w.b, c)
}

// str writes k: v unless v is empty.
func (w *jw) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.b = entra.AppendJSONStringNoting(w.b, v, &w.replaced)
}

// strs writes k: [v…] of the non-empty vs.
func (w *jw) strs(k string, vs ...string) {
	w.beginArr(k)
	for _, v := range vs {
		w.str("", v)
	}
	w.endArr()
}

func (w *jw) boolean(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

func (w *jw) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

// float writes k: v, or nothing for NaN and infinities (not JSON).
func (w *jw) float(k string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	w.key(k)
	w.b = strconv.AppendFloat(w.b, v, 'f', -1, 64)
}

// field writes the member f (an interned key, already JSON) followed by
// whatever append appends (one JSON value).
func (w *jw) field(f fieldKey, fn func([]byte) []byte) {
	w.sep()
	w.b = append(w.b, f.json...)
	w.replaced = w.replaced || f.replaced
	w.b = fn(w.b)
}

// raw writes k: followed by whatever append appends (one JSON value).
func (w *jw) raw(k string, fn func([]byte) []byte) {
	w.key(k)
	w.b = fn(w.b)
}
