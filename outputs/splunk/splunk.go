// Package splunk forwards enriched records to a Splunk HTTP Event
// Collector (HEC): one JSON event per record, the original Entra document
// plus the privtrail object as the event, with indexed fields for the
// monitors it hit. The shared delivery machinery (internal/delivery) gives
// it a disk buffer, batching, retries and dead letters; this package adds
// the encoder (encode.go) and the HEC protocol (client.go), with optional
// indexer acknowledgement.
package splunk

import (
	"log/slog"

	"github.com/privtrail/privtrail/internal/delivery"
)

// New builds the Splunk HEC output named name: records are buffered under
// <data_dir>/buffers/<name>/ and sent by batch to cfg.URL.
func New(name string, cfg Config, deps delivery.Deps) (*delivery.Output, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := NewClient(cfg, "output:"+name, deps.Log)
	if err != nil {
		return nil, err
	}
	if cfg.IndexerAck {
		log := deps.Log
		if log == nil {
			log = slog.Default()
		}
		log.Info("splunk: waiting for indexer acknowledgement of every batch", "output", name, "channel", cfg.Channel, "ack_timeout", cfg.AckTimeout)
	}
	return delivery.New(name, cfg.Config, deps, NewEncoder(cfg), client)
}
