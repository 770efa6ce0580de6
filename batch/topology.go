package batch

import (
	"context"

	"github.com/privtrail/privtrail/entra"
)

// Input reads a source and hands its documents to the runner in batches.
//
// Run emits batches in the order the source holds them and returns when
// ctx is done, or, for a finite source (a replay of files), once
// everything was read and emitted. emit blocks while the pipeline is full:
// that is the back-pressure that stops a reader when the outputs cannot
// keep up. An error from emit means ctx ended: Run returns.
//
// An input checkpoints in the batch's Commit and nowhere else. The runner
// calls Commit once every output acknowledged that batch and every batch
// the input emitted before it, so a checkpoint never passes a record that
// some destination has not accepted. After a crash the input starts from
// its last checkpoint: delivery is at least once.
//
// The runner keeps each Item's Data until the batch is committed; an input
// must not reuse those bytes.
type Input interface {
	Run(ctx context.Context, emit func(context.Context, *Batch) error) error
}

// Output delivers batches to a destination.
//
// The runner calls Consume with the batches of each pipeline in the order
// their inputs emitted them, one at a time per output. Consume may block to
// push back. b.Ack must be called exactly once, and only when the
// destination has the batch for good: accepted, written and synced, or in
// the output's own disk buffer (from which it is sent in order after a
// restart), with any record the destination refused permanently written
// to the dead-letter file. Consume may return before that and Ack later,
// from any goroutine (a disk buffer writes several batches with one
// fsync): nil then means the batch was taken, and an output that closes
// before acknowledging a batch it took says so in Close's error (the batch
// is read again on the next start). An error from Consume means the batch
// was not taken and nothing of it will be acknowledged: the runner calls
// Consume again with the same batch, with back-off, until it succeeds or
// the agent stops (the batch is then read again on the next start).
// Records and JSON are
// shared by every output and must not be changed, and once Ack is called
// the output must not read them, nor the Items, any more: their memory is
// reused for later batches (see Batch.OnRelease).
//
// Close flushes what the output holds and releases it; ctx bounds how long
// that may take.
type Output interface {
	Consume(ctx context.Context, b *Batch) error
	Close(ctx context.Context) error
}

// Enricher is a context stage: it adds its part of rec.Context, or tags
// rec's principals, from what it holds in memory. Enrich is called from
// every worker at once and must never wait on I/O (reloads happen in the
// background and are swapped in); it sees each record once, after the
// privilege stage and before the monitors.
type Enricher interface {
	Enrich(rec *entra.Record)
}
