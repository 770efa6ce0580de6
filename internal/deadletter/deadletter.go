// Package deadletter keeps what privtrail could not deliver or could not
// read: one JSON line per record with where it came from, which stage gave
// up on it and why. Nothing leaves the pipeline silently.
package deadletter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/internal/linefile"
	"unicode/utf8"
)

// Entry is one dead letter.
type Entry struct {
	Time   time.Time `json:"time"`
	Stage  string    `json:"stage"`  // "input:<name>", "decode", "output:<name>"
	Origin string    `json:"origin"` // file:line, record id, …
	Reason string    `json:"reason"`
	// Record is the document when it is valid JSON nested at most
	// maxRecordDepth deep; otherwise RawText holds it as a string so the
	// file stays JSON lines that any reader can read.
	Record  json.RawMessage `json:"record,omitempty"`
	RawText string          `json:"raw_text,omitempty"`
}

// Writer appends entries to a JSON-lines file. Safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	file  *linefile.File
	path  string
	count atomic.Int64
	// Repaired is how many bytes of a torn last entry Open cut off (a
	// crash in the middle of a write; its record is rejected again).
	Repaired int64
}

// Open opens (appending) the dead-letter file at path. A write that fails
// leaves no partial entry behind, nor does a crash (internal/linefile).
func Open(path string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, repaired, err := linefile.Open(path, 0o600, 64<<10)
	if err != nil {
		return nil, err
	}
	return &Writer{file: f, path: path, Repaired: repaired}, nil
}

// Path is where the entries go.
func (w *Writer) Path() string { return w.path }

// Count is how many entries this Writer wrote since it was opened.
func (w *Writer) Count() int64 { return w.count.Load() }

// Write records one dead letter and flushes it to the file, so that an
// entry is on disk before the record is acknowledged upstream. The reason
// is cut to CutReason's bound; data is kept whole.
func (w *Writer) Write(stage, origin, reason string, data []byte) error {
	e := Entry{Time: time.Now().UTC(), Stage: stage, Origin: origin, Reason: CutReason(reason)}
	if json.Valid(data) && !deeperThan(data, maxRecordDepth) {
		e.Record = data
	} else {
		e.RawText = string(data)
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	err = w.file.Append(func(bw *bufio.Writer) error {
		_, err := bw.Write(line)
		return err
	}, false)
	if err == nil {
		w.count.Add(1)
	}
	return err
}

// Close syncs and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.file.Close(true)
}

// maxRecordDepth is how deeply nested a record may be to be written as
// JSON. JSON readers limit nesting (encoding/json at 10,000 levels, which
// the entry's own object makes 10,001 for a 10,000-deep record; Python's
// json at about 1,000), and a line one of them cannot read hides its
// whole entry. Decode never accepts more than 300 levels.
const maxRecordDepth = 512

// deeperThan reports whether the JSON document b nests objects and arrays
// more than max deep.
func deeperThan(b []byte, max int) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > max {
				return true
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// A reason keeps its first reasonHead and last reasonTail bytes: the start
// says what was being done, the end what went wrong (a parser's error
// about a deeply nested document repeats "cannot parse array value: "
// for kilobytes between the two).
const (
	reasonHead = 160
	reasonTail = 200
	reasonCut  = "…"
)

// MaxReason is the length in bytes of the longest reason CutReason
// returns.
const MaxReason = reasonHead + len(reasonCut) + reasonTail

// CutReason returns reason if it has at most MaxReason bytes, else its
// start and end joined by "…", cut between UTF-8 sequences. Every reason
// in the dead-letter file, and every decode error (entra.DecodeError) the
// runner logs, is cut by it; the record itself is kept whole.
func CutReason(reason string) string {
	if len(reason) <= MaxReason {
		return reason
	}
	head := reasonHead
	for i := 0; i < utf8.UTFMax-1 && head > 0 && !utf8.RuneStart(reason[head]); i++ {
		head--
	}
	tail := len(reason) - reasonTail
	for i := 0; i < utf8.UTFMax-1 && tail < len(reason) && !utf8.RuneStart(reason[tail]); i++ {
		tail++
	}
	return reason[:head] + reasonCut + reason[tail:]
}
