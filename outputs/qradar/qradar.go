// Package qradar forwards records to IBM QRadar (or any syslog receiver)
// as RFC 5424 syslog messages over TCP, TLS or UDP. Each message carries a
// LEEF 2.0 event with privtrail's attributes, or the enriched JSON record
// for QRadar's Microsoft Entra ID DSM. Buffering, batching, retries and
// dead letters are internal/delivery's; see README.md.
package qradar

import (
	"crypto/tls"
	"log/slog"

	"github.com/privtrail/privtrail/internal/delivery"
)

// New starts the output named name: its disk buffer under deps.DataDir
// and the sender that drains it to cfg.Address.
func New(name string, cfg Config, deps delivery.Deps) (*delivery.Output, error) {
	out, _, err := newOutput(name, cfg, deps)
	return out, err
}

func newOutput(name string, cfg Config, deps delivery.Deps) (*delivery.Output, *client, error) {
	cl, err := newSender(name, &cfg, deps)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Transport == "udp" {
		cl.log.Warn("qradar: transport udp can drop messages without anyone knowing, and a message over max_udp_bytes goes to the dead-letter file instead of being cut; prefer tcp or tls",
			"max_udp_bytes", cfg.MaxUDPBytes)
		if cfg.Format == "json" {
			cl.log.Warn("qradar: format json over udp: most enriched records are larger than max_udp_bytes and will be dead-lettered")
		}
	}
	out, err := delivery.New(name, cfg.Config, deps, NewEncoder(cfg), cl)
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	return out, cl, nil
}

// NewSender is the output's Sender alone (syslog to cfg.Address), without
// the disk buffer: what internal/outputbench measures the whole output
// against.
func NewSender(name string, cfg Config, deps delivery.Deps) (delivery.Sender, error) {
	return newSender(name, &cfg, deps)
}

// newSender checks cfg (filling its defaults) and makes its client.
func newSender(name string, cfg *Config, deps delivery.Deps) (*client, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("output", name)
	var tc *tls.Config
	if cfg.Transport == "tls" {
		var err error
		if tc, err = cfg.TLS.Build("outputs.qradar "+name, log); err != nil {
			return nil, err
		}
	}
	return newClient(*cfg, tc, log), nil
}
