package kafka

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// Config is an `outputs:` entry's `kafka:` block.
type Config struct {
	// Brokers are the seed brokers, host:port each (the client learns the
	// rest of the cluster from them). Required.
	Brokers []string `yaml:"brokers"`
	// Topic receives every record. It must exist: the output does not
	// create topics (partitions, replication and retention are the
	// cluster owner's decisions). Required.
	Topic string `yaml:"topic"`
	// Key is what records are keyed by: "user" (default: the actor's
	// object id, else its UPN lowercased, else the record id), so that
	// one user's records land on one partition, in order; "subject" (the
	// user an audit record is about — its first target user — else the
	// actor: a role granted to a user travels with that user's sign-ins);
	// or "none" (no key: records spread over the partitions, no order
	// between them).
	Key string `yaml:"key"`
	// Headers adds the privtrail-* record headers (stream, privileged,
	// monitors, risk) so consumers can route without parsing the value;
	// default true.
	Headers *bool `yaml:"headers"`
	// Envelope is how Graph-shaped records are written: "as_read"
	// (default) writes every record as it was read; "diagnostic" writes
	// Graph-polled sign-ins, directory audits, user risk detections and
	// risky users in the Azure Monitor diagnostic-settings envelope, as
	// Azure Monitor writes the same record (entra.Record.AppendDiagnosticJSON).
	// The cluster's records topic (cluster.kafka) must keep as_read: its
	// processors decode what the collectors read.
	Envelope string `yaml:"envelope"`
	// Compression is the producer's batch codec: none, gzip (default),
	// snappy, lz4 or zstd.
	Compression string `yaml:"compression"`
	// ClientID is the Kafka client.id (broker logs, quotas); default
	// "privtrail".
	ClientID string `yaml:"client_id"`
	// SASL authenticates the connection (PLAIN requires tls).
	SASL SASL `yaml:"sasl"`
	// TLS encrypts the connection; without it records travel in clear.
	// `tls: {}` trusts the system CAs.
	TLS *tlsconfig.Config `yaml:"tls"`
	// MaxMessageBytes bounds one record batch the producer builds for a
	// partition (before compression), as Kafka's max.message.bytes bounds
	// what a broker accepts; keep it at or below the topic's limit.
	// Default 1000000.
	MaxMessageBytes delivery.Size `yaml:"max_message_bytes"`
	// Timeout is how long one batch may take to be acknowledged by every
	// in-sync replica before the attempt fails and is retried after
	// back-off; default 30s.
	Timeout time.Duration `yaml:"timeout"`

	delivery.Config `yaml:",inline"`
}

// SASL is the `sasl:` block.
type SASL struct {
	// Mechanism is "" (no SASL), "plain", "scram-sha-256" or
	// "scram-sha-512".
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password is written ${ENV_VAR} or file:/path.
	Password secret.Secret `yaml:"password"`
}

// Key modes.
const (
	KeyUser    = "user"
	KeySubject = "subject"
	KeyNone    = "none"
)

// SASL mechanisms.
const (
	MechPlain       = "plain"
	MechScramSHA256 = "scram-sha-256"
	MechScramSHA512 = "scram-sha-512"
)

// Default values.
const (
	DefaultCompression     = "gzip"
	DefaultClientID        = "privtrail"
	DefaultMaxMessageBytes = 1_000_000
	DefaultTimeout         = 30 * time.Second
	// DefaultEnvelope: a forwarder's topic keeps what was read.
	DefaultEnvelope = string(entra.EnvelopeAsRead)
)

// Defaults fills in what was not set.
func (c *Config) Defaults() {
	if c.Key == "" {
		c.Key = KeyUser
	}
	if c.Headers == nil {
		on := true
		c.Headers = &on
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if c.Envelope == "" {
		c.Envelope = DefaultEnvelope
	}
	c.Compression = strings.ToLower(c.Compression)
	if c.MaxInFlight == 0 {
		// Requests are handed over in buffer order and what fails is sent
		// again before anything after it (Client.Start): one user's
		// records stay in order with several in flight.
		c.MaxInFlight = delivery.DefaultMaxInFlight
	}
	c.SASL.Mechanism = strings.ToLower(c.SASL.Mechanism)
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	c.Config.Defaults()
}

func (c *Config) headers() bool { return c.Headers == nil || *c.Headers }

// Validate checks a `kafka:` block; the error starts with the key it is
// about. It works on a copy with defaults applied, so it may be called on
// the config as written.
func (c Config) Validate() error {
	c.Defaults()
	if len(c.Brokers) == 0 {
		return errors.New("brokers: is required (host:port of one or more brokers, e.g. [kafka-1.example:9093])")
	}
	for i, b := range c.Brokers {
		if err := checkBroker(b); err != nil {
			return fmt.Errorf("brokers[%d]: %w", i, err)
		}
	}
	if c.Topic == "" {
		return errors.New("topic: is required")
	}
	if err := checkTopic(c.Topic); err != nil {
		return fmt.Errorf("topic: %w", err)
	}
	switch c.Key {
	case KeyUser, KeySubject, KeyNone:
	default:
		return fmt.Errorf("key: %q is not user, subject or none", c.Key)
	}
	if _, err := entra.ParseEnvelope(c.Envelope); err != nil {
		return fmt.Errorf("envelope: %w", err)
	}
	if _, ok := codecs[c.Compression]; !ok {
		return fmt.Errorf("compression: %q is not none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	if strings.ContainsFunc(c.ClientID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("client_id: contains a control character")
	}
	if err := c.SASL.validate(c.TLS != nil); err != nil {
		return err
	}
	if c.TLS != nil {
		if err := c.TLS.Validate(); err != nil {
			return fmt.Errorf("tls.%w", err)
		}
	}
	if c.MaxMessageBytes < 1<<10 || c.MaxMessageBytes > 1<<30 {
		return fmt.Errorf("max_message_bytes: must be between 1KiB and 1GiB, got %d", c.MaxMessageBytes)
	}
	if c.Timeout < time.Second {
		return errors.New("timeout: must be at least 1s")
	}
	return c.Config.Validate()
}

func (s *SASL) validate(tls bool) error {
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password.IsSet() {
			return errors.New("sasl.mechanism: is required with sasl.username/password (plain, scram-sha-256 or scram-sha-512)")
		}
		return nil
	case MechPlain:
		if !tls {
			return errors.New("sasl.mechanism: plain sends the password in clear without tls; add a tls block (tls: {} trusts the system CAs) or use scram-sha-512")
		}
	case MechScramSHA256, MechScramSHA512:
	default:
		return fmt.Errorf("sasl.mechanism: %q is not plain, scram-sha-256 or scram-sha-512", s.Mechanism)
	}
	if s.Username == "" {
		return errors.New("sasl.username: is required")
	}
	if !s.Password.IsSet() {
		return errors.New("sasl.password: is required (${ENV_VAR} or file:/path/to/password)")
	}
	return nil
}

// checkBroker accepts host:port.
func checkBroker(b string) error {
	if strings.Contains(b, "://") {
		return fmt.Errorf("%q: write host:port, without a scheme (tls: turns on TLS)", b)
	}
	host, port, err := net.SplitHostPort(b)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not host:port", b)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port must be 1-65535", b)
	}
	return nil
}

// checkTopic applies Kafka's rules for topic names: 1 to 249 of
// [a-zA-Z0-9._-], and not "." or "..".
func checkTopic(t string) error {
	if len(t) > 249 {
		return fmt.Errorf("%q is longer than Kafka's 249 characters", t)
	}
	if t == "." || t == ".." {
		return fmt.Errorf("%q is not a valid topic name", t)
	}
	for _, r := range t {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q: Kafka topic names are made of letters, digits, '.', '_' and '-'", t)
		}
	}
	return nil
}
