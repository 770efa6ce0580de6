package file

import (
	"errors"
	"fmt"

	"github.com/privtrail/privtrail/entra"
)

// Config is an `outputs:` entry's `file:` block (or `stdout:`, where Path
// is not set).
type Config struct {
	// Path of the JSON-lines file the enriched records are appended to.
	Path string `yaml:"path"`
	// Sync makes every batch durable (fsync) before it is acknowledged, so
	// that an input never checkpoints a record the file could still lose.
	// Default true; turn off only for scratch output.
	Sync *bool `yaml:"sync"`
	// Envelope is how Graph-shaped records are written: "as_read"
	// (default) writes every record as it was read; "diagnostic" writes
	// Graph-polled sign-ins, directory audits, user risk detections and
	// risky users in the Azure Monitor diagnostic-settings envelope, as
	// Azure Monitor writes the same record.
	Envelope string `yaml:"envelope"`
}

// DefaultEnvelope: an archive keeps what was read.
const DefaultEnvelope = string(entra.EnvelopeAsRead)

// Validate checks a `file:` block.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("path: is required (use the stdout output for standard output)")
	}
	return validateEnvelope(c.Envelope)
}

func (c *Config) sync() bool { return c.Sync == nil || *c.Sync }

// validateEnvelope accepts "" (the default) and the envelopes.
func validateEnvelope(s string) error {
	if s == "" {
		return nil
	}
	if _, err := entra.ParseEnvelope(s); err != nil {
		return fmt.Errorf("envelope: %w", err)
	}
	return nil
}

// envelopeOf is the envelope a config's value selects ("" is the default).
func envelopeOf(s string) entra.Envelope {
	if s == "" {
		return entra.Envelope(DefaultEnvelope)
	}
	return entra.Envelope(s)
}
