// Package kafka forwards enriched records to a Kafka topic: one Kafka
// record per Entra record, the enriched JSON (the original document plus
// the privtrail object) as the value, keyed by the acting user so that one
// user's records stay in order on one partition, with privtrail-* headers
// for routing. The shared delivery machinery (internal/delivery) gives it a
// disk buffer, batching, retries and dead letters; this package adds the
// encoder (encode.go) and an idempotent franz-go producer with acks=all
// (client.go).
package kafka

import (
	"log/slog"

	"github.com/privtrail/privtrail/internal/delivery"
)

// New builds the Kafka output named name: records are buffered under
// <data_dir>/buffers/<name>/ and produced by batch to cfg.Topic.
func New(name string, cfg Config, deps delivery.Deps) (*delivery.Output, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	client, err := NewClient(cfg, "output:"+name, log)
	if err != nil {
		return nil, err
	}
	if cfg.TLS == nil {
		log.Warn("kafka: no tls block: records travel unencrypted to the brokers", "output", name, "brokers", cfg.Brokers)
	}
	out, err := delivery.New(name, cfg.Config, deps, NewEncoder(cfg), client)
	if err != nil {
		client.Close()
		return nil, err
	}
	return out, nil
}
