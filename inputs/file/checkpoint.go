package file

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
)

const (
	bucket = "checkpoints"
	// fingerprintBytes is how much of a file identifies it, as in
	// Filebeat's fingerprint file identity: enough to cover the first
	// record of any export, so a rotated or replaced file looks new.
	fingerprintBytes = 1024
)

const (
	formatLines    = "lines"
	formatDocument = "document"
)

// position is where reading stands after the last record consumed
// (emitted or reported bad).
type position struct {
	// Records is the number of records consumed from the start of the file.
	Records int64 `json:"records"`
	// Offset, Line and Skip exist only for uncompressed JSON lines, the one
	// format that can be resumed by seeking: Offset is the byte offset of
	// line number Line, of which the first Skip records were consumed (a
	// line can be an envelope holding several records).
	Offset int64 `json:"offset,omitempty"`
	Line   int64 `json:"line,omitempty"`
	Skip   int64 `json:"skip,omitempty"`
}

// checkpoint is what the store keeps per file, as JSON so that an operator
// can read it with a bbolt browser.
type checkpoint struct {
	position
	Format string `json:"format"`
	Gzip   bool   `json:"gzip,omitempty"`
	// FingerprintLen is min(size, 1 KiB) when the checkpoint was taken;
	// Fingerprint the hex SHA-256 of that many leading bytes. A file still
	// matches when its first FingerprintLen bytes hash the same, so a small
	// JSON-lines file that grows keeps its identity.
	FingerprintLen int    `json:"fingerprint_len"`
	Fingerprint    string `json:"fingerprint"`
	// Size is the file size the checkpoint describes: a complete file of
	// the same size is unchanged.
	Size int64 `json:"size"`
	// Complete means every record up to the end of the file (of Size
	// bytes) was acknowledged.
	Complete bool `json:"complete"`
}

func (c *checkpoint) seekable() bool { return c.Format == formatLines && !c.Gzip }

// matches reports whether prefix, the first min(size, 1 KiB) bytes of the
// file now, starts with the bytes the checkpoint was taken on.
func (c *checkpoint) matches(prefix []byte) bool {
	if c.FingerprintLen > len(prefix) {
		return false
	}
	sum := sha256.Sum256(prefix[:c.FingerprintLen])
	return hex.EncodeToString(sum[:]) == c.Fingerprint
}

func fingerprint(prefix []byte) (int, string) {
	sum := sha256.Sum256(prefix)
	return len(prefix), hex.EncodeToString(sum[:])
}

func (in *Input) key(abs string) string { return "file/" + in.name + "/" + abs }

func (in *Input) load(abs string) (*checkpoint, error) {
	if in.st == nil {
		return nil, nil
	}
	v, err := in.st.Get(bucket, in.key(abs))
	if err != nil || v == nil {
		return nil, err
	}
	var cp checkpoint
	if err := json.Unmarshal(v, &cp); err != nil {
		// A checkpoint we cannot read is treated as absent: the file is
		// read again, which duplicates but never loses records.
		in.log.Warn("ignoring unreadable checkpoint", "path", abs, "err", err)
		return nil, nil
	}
	return &cp, nil
}

func (in *Input) save(abs string, cp checkpoint) error {
	if in.st == nil {
		return nil
	}
	v, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	if err := in.st.Put(bucket, in.key(abs), v); err != nil {
		return fmt.Errorf("file input %s: checkpoint %s: %w", in.name, abs, err)
	}
	return nil
}

// commits orders the checkpoint writes of one file across all the passes
// over it in a Run. The runner commits batches in emission order, so each
// commit may simply write its own snapshot; what needs care is the
// end-of-pass checkpoint when the pass ended without a batch to carry it
// (the tail was blank lines, bad records, or nothing new): it must wait
// until every batch emitted before it is committed, or a restart could
// skip those batches' records.
type commits struct {
	in  *Input
	abs string

	mu        sync.Mutex
	emitted   int
	committed int
	tail      *checkpoint
	tailAfter int // the tail is due once this many batches are committed
}

// track registers a batch about to be emitted and returns its Commit.
func (c *commits) track(cp checkpoint) func() error {
	c.mu.Lock()
	c.emitted++
	c.mu.Unlock()
	return func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.committed++
		if err := c.in.save(c.abs, cp); err != nil {
			return err
		}
		if c.tail != nil && c.committed == c.tailAfter {
			t := *c.tail
			c.tail = nil
			return c.in.save(c.abs, t)
		}
		return nil
	}
}

// finish records the end-of-pass checkpoint when no batch carries it.
func (c *commits) finish(cp checkpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.committed == c.emitted {
		c.tail = nil
		return c.in.save(c.abs, cp)
	}
	c.tail, c.tailAfter = &cp, c.emitted
	return nil
}

func (c *commits) outstanding() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed != c.emitted
}
