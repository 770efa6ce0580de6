package delivery

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/privtrail/privtrail/internal/buffer"
)

// Config is the delivery part every SIEM output's config embeds
// (`yaml:",inline"`): how records are batched, retried and buffered.
type Config struct {
	// BatchSize and BatchBytes bound one request; default 500 and 4 MiB.
	BatchSize  int  `yaml:"batch_size"`
	BatchBytes Size `yaml:"batch_bytes"`
	// FlushInterval is how long a partial batch waits for more; default 1s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// MaxBackoff caps the wait between retries; default 1m.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxInFlight is how many requests the output keeps outstanding at
	// once; default 4 (an output whose protocol needs order, such as
	// syslog over one connection, sets 1). With more than one, batches may
	// reach the destination out of order: see the output's README.
	MaxInFlight int          `yaml:"max_in_flight"`
	Buffer      BufferConfig `yaml:"buffer"`
}

// BufferConfig bounds the output's disk buffer.
type BufferConfig struct {
	// MaxBytes bounds what the buffer folder's files take on disk
	// (<data_dir>/buffers/<output>/), in 4 KiB blocks: segment files
	// counted whole until their last entry is removed, frame headers and
	// the acknowledgement file included. Records take about 90–99% of it
	// (the smaller they are, the less); once the next batch would not fit,
	// the output pushes back and the inputs stop reading. Default 1GiB, at
	// least 1MiB. See internal/buffer's README.
	MaxBytes Size `yaml:"max_bytes"`
}

// Defaults fills in what was not set.
func (c *Config) Defaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 4 << 20
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = time.Minute
	}
	if c.Buffer.MaxBytes == 0 {
		c.Buffer.MaxBytes = 1 << 30
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
}

// DefaultMaxInFlight keeps round trips from setting the pace: with
// Splunk's indexer acknowledgement answering after 20 ms, four requests in
// flight carried 2.2–2.5× what one did (internal/outputbench). Other
// values were not compared; raise it for a destination far away.
const DefaultMaxInFlight = 4

// MaxMaxInFlight bounds max_in_flight: each request in flight holds up
// to batch_bytes read out of the buffer.
const MaxMaxInFlight = 64

// Validate checks the values; call Defaults first.
func (c *Config) Validate() error {
	switch {
	case c.BatchSize < 1:
		return fmt.Errorf("batch_size: must be at least 1, got %d", c.BatchSize)
	case c.BatchBytes < 1024:
		return fmt.Errorf("batch_bytes: must be at least 1KiB, got %d", c.BatchBytes)
	case c.FlushInterval < 0:
		return fmt.Errorf("flush_interval: must not be negative")
	case c.MaxBackoff < 100*time.Millisecond:
		return fmt.Errorf("max_backoff: must be at least 100ms")
	case c.MaxInFlight < 1 || c.MaxInFlight > MaxMaxInFlight:
		return fmt.Errorf("max_in_flight: must be between 1 and %d, got %d", MaxMaxInFlight, c.MaxInFlight)
	case c.Buffer.MaxBytes < buffer.MinMaxBytes:
		return fmt.Errorf("buffer.max_bytes: must be at least 1MiB (the file's own pages and growth step come out of it), got %d", c.Buffer.MaxBytes)
	case c.Buffer.MaxBytes < c.BatchBytes:
		return fmt.Errorf("buffer.max_bytes: must be at least batch_bytes (%d)", c.BatchBytes)
	}
	return nil
}

// Size is a byte count written as a number or with a unit: 512KiB, 64MiB,
// 1GiB (also KB/MB/GB as powers of 1000).
type Size int64

var units = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// UnmarshalText parses a Size.
func (s *Size) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(text, u.suffix) {
			text, mult = strings.TrimSpace(strings.TrimSuffix(text, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size (e.g. 1048576, 512KiB, 64MiB, 1GiB)", string(b))
	}
	*s = Size(n * mult)
	return nil
}
