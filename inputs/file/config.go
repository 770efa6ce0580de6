package file

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

const (
	// DefaultBatchSize is batch_size when it is left out.
	DefaultBatchSize = 1000
	// DefaultMaxRecordBytes is max_record_bytes when it is left out: well
	// above the largest Entra record seen in practice (sign-ins with long
	// conditional-access policy lists run to tens of KiB).
	DefaultMaxRecordBytes = 4 << 20
	// maxMaxRecordBytes bounds max_record_bytes because the line buffer is
	// allocated at that size.
	maxMaxRecordBytes = 1 << 30
)

// dirExtensions are the file name endings read when a path is a directory;
// files named explicitly or by a glob are read whatever their name.
var dirExtensions = []string{".json", ".jsonl", ".ndjson", ".log", ".gz"}

// Config is the `file:` block of an input.
type Config struct {
	// Paths are files, filepath.Glob patterns or directories. A directory
	// is read non-recursively: its *.json, *.jsonl, *.ndjson, *.log and
	// *.gz files.
	Paths []string `yaml:"paths"`
	// Exclude are filepath.Match patterns matched against base names.
	Exclude []string `yaml:"exclude"`
	// BatchSize is the number of records per batch (default 1000).
	BatchSize int `yaml:"batch_size"`
	// Watch 0 reads what is there and finishes; a positive interval
	// re-scans for new files and for JSON-lines files that grew.
	Watch time.Duration `yaml:"watch"`
	// MaxRecordBytes bounds one record (default 4 MiB); a longer record is
	// reported as bad and skipped.
	MaxRecordBytes int `yaml:"max_record_bytes"`
}

// Validate checks c and fills in the defaults of keys left at zero.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Paths) == 0 {
		errs = append(errs, errors.New("paths: at least one path is required"))
	}
	for i, p := range c.Paths {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, fmt.Errorf("paths[%d]: empty path", i))
			continue
		}
		if _, err := filepath.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("paths[%d]: %q is not a valid glob pattern", i, p))
		}
	}
	for i, p := range c.Exclude {
		switch {
		case strings.TrimSpace(p) == "":
			errs = append(errs, fmt.Errorf("exclude[%d]: empty pattern", i))
		case strings.ContainsRune(p, '/') || strings.ContainsRune(p, filepath.Separator):
			errs = append(errs, fmt.Errorf("exclude[%d]: %q contains a path separator, but exclude patterns match base names only", i, p))
		default:
			if _, err := filepath.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("exclude[%d]: %q is not a valid glob pattern", i, p))
			}
		}
	}
	switch {
	case c.BatchSize < 0:
		errs = append(errs, fmt.Errorf("batch_size: must be positive, got %d", c.BatchSize))
	case c.BatchSize == 0:
		c.BatchSize = DefaultBatchSize
	}
	if c.Watch < 0 {
		errs = append(errs, fmt.Errorf("watch: must be 0 (read once) or a positive interval such as 30s, got %s", c.Watch))
	}
	switch {
	case c.MaxRecordBytes < 0:
		errs = append(errs, fmt.Errorf("max_record_bytes: must be positive, got %d", c.MaxRecordBytes))
	case c.MaxRecordBytes == 0:
		c.MaxRecordBytes = DefaultMaxRecordBytes
	case c.MaxRecordBytes > maxMaxRecordBytes:
		errs = append(errs, fmt.Errorf("max_record_bytes: %d is over the limit of %d (1 GiB)", c.MaxRecordBytes, maxMaxRecordBytes))
	}
	return errors.Join(errs...)
}
