// Package deadletter keeps what privtrail could not deliver or could not
// read: one JSON line per record with where it came from, which stage gave
// up on it and why. Nothing leaves the pipeline silently.
package deadletter

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Entry is one dead letter.
type Entry struct {
	Time   time.Time `json:"time"`
	Stage  string    `json:"stage"`  // "input:<name>", "decode", "output:<name>"
	Origin string    `json:"origin"` // file:line, record id, …
	Reason string    `json:"reason"`
	// Record is the document when it is valid JSON; otherwise RawText holds
	// it as a string so the file stays valid JSON lines.
	Record  json.RawMessage `json:"record,omitempty"`
	RawText string          `json:"raw_text,omitempty"`
}

// Writer appends entries to a JSON-lines file. Safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	f     *os.File
	w     *bufio.Writer
	path  string
	count atomic.Int64
}

// Open opens (appending) the dead-letter file at path.
func Open(path string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, w: bufio.NewWriter(f), path: path}, nil
}

// Path is where the entries go.
func (w *Writer) Path() string { return w.path }

// Count is how many entries this Writer wrote since it was opened.
func (w *Writer) Count() int64 { return w.count.Load() }

// Write records one dead letter and flushes it to the file, so that an
// entry is on disk before the record is acknowledged upstream.
func (w *Writer) Write(stage, origin, reason string, data []byte) error {
	e := Entry{Time: time.Now().UTC(), Stage: stage, Origin: origin, Reason: reason}
	if json.Valid(data) {
		e.Record = data
	} else {
		e.RawText = string(data)
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(append(line, '\n')); err != nil {
		return err
	}
	w.count.Add(1)
	return w.w.Flush()
}

// Close syncs and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.w.Flush(); err != nil {
		w.f.Close()
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}
