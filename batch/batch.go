// Package batch is the contract between inputs, the runner and outputs.
//
// An input hands the runner a Batch of raw documents together with a Commit
// callback. The runner decodes and enriches the documents into Records, fans
// the batch out to every output of its pipeline and calls Commit only when
// every output has acknowledged this batch and every batch the same input
// emitted before it (see Tracker). An input therefore checkpoints nothing it
// has not seen delivered everywhere.
package batch

import (
	"sync/atomic"

	"github.com/privtrail/privtrail/entra"
)

// Item is one raw document as read by an input.
type Item struct {
	// Data is the document. The runner keeps a reference to it for the
	// lifetime of the batch, so an input must not reuse the bytes.
	Data []byte
	// Origin names the document for error messages and dead letters,
	// e.g. "exports/signins.json.gz:record 12" or "graph:signIns id=…".
	Origin string
	// Shard is set by an input whose records are divided among several
	// processors (a partition of the cluster topic); see entra.Record.
	Shard string
}

// Batch travels from an input through the runner to the outputs.
type Batch struct {
	Input string // name of the input that produced it
	Items []Item

	// Records are filled by the runner: one per Item that decoded, in the
	// order of Items. Outputs must treat them as read-only: the same
	// Records go to every output.
	Records []*entra.Record
	// JSON holds, for each record, the enriched document JSON outputs
	// write (the original plus the "privtrail" object). The runner encodes
	// it once, in parallel, so JSON outputs share it instead of each
	// encoding again.
	JSON [][]byte

	// Commit is called by the runner once every output acknowledged this
	// batch and all earlier batches of the same input. It runs on the
	// runner's goroutine; it should be quick (a store write).
	Commit func() error

	seq     uint64
	pending atomic.Int32
	done    func(seq uint64)
	release []func()
}

// OnRelease registers f to run once the batch is committed: every output
// acknowledged it and its input's Commit ran. The input and the runner
// use it to reuse the memory of the Items' Data, the Records and the JSON
// for later batches, which is why nothing may keep a reference to them
// past Ack. A batch that is never committed (the agent stopped first) is
// never released; the garbage collector takes it.
//
// OnRelease is called by whoever fills the batch, before the runner hands
// it to the outputs.
func (b *Batch) OnRelease(f func()) { b.release = append(b.release, f) }

// Release runs what OnRelease registered, once; the Tracker calls it
// after the batch's Commit.
func (b *Batch) Release() {
	fs := b.release
	b.release = nil
	for _, f := range fs {
		f()
	}
}

// Ack tells the runner that one output has finished with the batch: its
// destination accepted every record, or the records it rejected for good
// are in the dead-letter file. Each output calls Ack exactly once per batch.
func (b *Batch) Ack() {
	if b.pending.Add(-1) == 0 && b.done != nil {
		b.done(b.seq)
	}
}

// Seq is the batch's position in its input's order (starting at 1).
func (b *Batch) Seq() uint64 { return b.seq }

// Arm prepares b to collect acks from n outputs; done is called with the
// batch's sequence number when the last one arrives. The runner arms a
// batch before handing it to any output.
func (b *Batch) Arm(seq uint64, outputs int, done func(seq uint64)) {
	b.seq = seq
	b.done = done
	b.pending.Store(int32(outputs))
	if outputs == 0 {
		done(seq)
	}
}
