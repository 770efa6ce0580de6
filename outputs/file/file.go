// Package file writes enriched records as JSON lines to a file or to
// standard output: the original Entra document, unchanged, plus the
// "privtrail" object (with envelope: diagnostic, Graph-polled sign-ins,
// audits, user risk detections and risky users in the Azure Monitor
// diagnostic-settings envelope).
package file

import (
	"bufio"
	"context"
	"io"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/linefile"
)

// Output appends the batches it consumes, in order, to one file, or to
// standard output. A file never holds a partial record: a batch whose
// write fails is cut back before the runner retries it, and a torn last
// line a crash left is cut off at start (internal/linefile).
type Output struct {
	file     *linefile.File // nil for stdout
	w        *bufio.Writer  // stdout
	sync     bool
	envelope entra.Envelope
	buf      []byte
	// Repaired is how many bytes of a torn last line New cut off.
	Repaired int64
}

// New opens (appending) the file of cfg.
func New(cfg Config) (*Output, error) {
	f, repaired, err := linefile.Open(cfg.Path, 0o640, 256<<10)
	if err != nil {
		return nil, err
	}
	// fsync is for files: on /dev/null, a pipe or a terminal it fails
	// (EINVAL) and would make every batch look undeliverable.
	return &Output{file: f, sync: cfg.sync() && f.Regular(), envelope: envelopeOf(cfg.Envelope), Repaired: repaired}, nil
}

// NewStdout writes to w (os.Stdout in the agent) without syncing, every
// record as read.
func NewStdout(w io.Writer) *Output {
	return NewStdoutConfig(w, StdoutConfig{})
}

// NewStdoutConfig writes to w without syncing, with cfg's envelope.
func NewStdoutConfig(w io.Writer, cfg StdoutConfig) *Output {
	return &Output{w: bufio.NewWriterSize(w, 64<<10), envelope: envelopeOf(cfg.Envelope)}
}

// Consume writes the batch and acknowledges it once it is written (and
// synced, for files).
func (o *Output) Consume(_ context.Context, b *batch.Batch) error {
	write := func(w *bufio.Writer) error { return o.writeBatch(w, b) }
	var err error
	if o.file != nil {
		err = o.file.Append(write, o.sync)
	} else if err = write(o.w); err == nil {
		err = o.w.Flush()
	}
	if err != nil {
		return err
	}
	b.Ack()
	return nil
}

func (o *Output) writeBatch(w *bufio.Writer, b *batch.Batch) error {
	for i, rec := range b.Records {
		var line []byte
		if o.envelope == entra.EnvelopeDiagnostic && rec.CanEnvelope() {
			o.buf = rec.AppendDiagnosticJSON(o.buf[:0])
			line = o.buf
		} else if i < len(b.JSON) && b.JSON[i] != nil {
			line = b.JSON[i]
		} else {
			o.buf = rec.AppendJSON(o.buf[:0])
			line = o.buf
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
	}
	return nil
}

// Close syncs and closes the file (flushes standard output).
func (o *Output) Close(context.Context) error {
	if o.file == nil {
		return o.w.Flush()
	}
	return o.file.Close(o.sync)
}
