// Package file writes enriched records as JSON lines to a file or to
// standard output: the original Entra document, unchanged, plus the
// "privtrail" object.
package file

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/privtrail/privtrail/batch"
)

// Output appends the batches it consumes, in order, to one file.
type Output struct {
	f    *os.File // nil for stdout
	w    *bufio.Writer
	sync bool
	buf  []byte
}

// New opens (appending) the file of cfg.
func New(cfg Config) (*Output, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(cfg.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, err
	}
	sync := cfg.sync()
	// fsync is for files: on /dev/null, a pipe or a terminal it fails
	// (EINVAL) and would make every batch look undeliverable.
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		sync = false
	}
	return &Output{f: f, w: bufio.NewWriterSize(f, 256<<10), sync: sync}, nil
}

// NewStdout writes to w (os.Stdout in the agent) without syncing.
func NewStdout(w io.Writer) *Output {
	return &Output{w: bufio.NewWriterSize(w, 64<<10)}
}

// Consume writes the batch and acknowledges it once it is written (and
// synced, for files).
func (o *Output) Consume(_ context.Context, b *batch.Batch) error {
	for i, rec := range b.Records {
		var line []byte
		if i < len(b.JSON) && b.JSON[i] != nil {
			line = b.JSON[i]
		} else {
			o.buf = rec.AppendJSON(o.buf[:0])
			line = o.buf
		}
		if _, err := o.w.Write(line); err != nil {
			return err
		}
		if err := o.w.WriteByte('\n'); err != nil {
			return err
		}
	}
	if err := o.w.Flush(); err != nil {
		return err
	}
	if o.sync && o.f != nil {
		if err := o.f.Sync(); err != nil {
			return err
		}
	}
	b.Ack()
	return nil
}

// Close flushes and closes the file.
func (o *Output) Close(context.Context) error {
	err := o.w.Flush()
	if o.f != nil {
		if o.sync {
			if serr := o.f.Sync(); err == nil {
				err = serr
			}
		}
		if cerr := o.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
