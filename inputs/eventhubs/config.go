package eventhubs

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

const (
	// DefaultBatchSize is batch_size when it is left out.
	DefaultBatchSize = 500
	// DefaultMaxWait is max_wait when it is left out.
	DefaultMaxWait = time.Second
	// DefaultFetchMaxBytes is fetch_max_bytes when it is left out.
	DefaultFetchMaxBytes = 8 << 20
	// DefaultRebalanceWait is rebalance_wait when it is left out.
	DefaultRebalanceWait = 10 * time.Second
	// DefaultEventHubsGroup is consumer_group for an Event Hubs connection
	// string. On the Kafka endpoint it is an ordinary Kafka group name, not
	// the Event Hubs "$Default" consumer group of AMQP readers (see
	// README.md).
	DefaultEventHubsGroup = "$Default"
	// DefaultKafkaGroup is consumer_group for generic Kafka brokers.
	DefaultKafkaGroup = "privtrail"
	// EventHubsKafkaPort is the port of an Event Hubs namespace's Kafka
	// endpoint.
	EventHubsKafkaPort = 9093
	// ConnectionStringUser is the SASL PLAIN user name Event Hubs expects
	// when the password is a connection string.
	ConnectionStringUser = "$ConnectionString"

	maxBatchSize = 100_000
	// minFetchMaxBytes and maxFetchMaxBytes bound fetch_max_bytes: below,
	// fetches get too small to keep up (an Event Hubs message alone may
	// be 1 MB); above, the client's own limit on a broker response
	// (100 MiB) comes near.
	minFetchMaxBytes = 64 << 10
	maxFetchMaxBytes = 64 << 20
	// maxRebalanceWait stays below the client's rebalance timeout (60s):
	// a revoke callback that runs longer gets the member thrown out.
	maxRebalanceWait = 45 * time.Second
)

// Config is the `eventhubs:` block of an input.
type Config struct {
	// ConnectionString is an Event Hubs connection string with Listen
	// rights, written ${ENV_VAR} or file:/path:
	// "Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…[;EntityPath=<hub>]".
	// It gives the broker (<namespace>.servicebus.windows.net:9093), SASL
	// PLAIN as "$ConnectionString" with the whole string as password, and
	// TLS. Mutually exclusive with Brokers.
	ConnectionString secret.Secret `yaml:"connection_string"`
	// Brokers are host:port seed brokers of a generic Kafka cluster, used
	// when there is no connection string.
	Brokers []string `yaml:"brokers"`
	// Topics are the topics (event hubs) to read. Default: the EntityPath
	// of the connection string. Required with Brokers or a namespace-level
	// connection string.
	Topics []string `yaml:"topics"`
	// ConsumerGroup is the Kafka consumer group. Default "$Default" with a
	// connection string, "privtrail" with Brokers.
	ConsumerGroup string `yaml:"consumer_group"`
	// SASL authenticates to generic Kafka brokers. Not used with a
	// connection string.
	SASL SASL `yaml:"sasl"`
	// TLS: with a connection string TLS is always on and this block only
	// adjusts it (CA, minimum version); with Brokers, TLS is on when the
	// block is present (`tls: {}` for the defaults).
	TLS *tlsconfig.Config `yaml:"tls"`
	// StartFrom is where a group with no committed offset for a partition
	// starts: "earliest" (default) or "latest". It also applies when the
	// committed offset is no longer in the log (retention passed it).
	StartFrom string `yaml:"start_from"`
	// BatchSize is the number of log records per emitted batch (default
	// 500). A Kafka message carrying an envelope of many records may be
	// split over two batches.
	BatchSize int `yaml:"batch_size"`
	// MaxWait emits a partial batch this long after its first record
	// (default 1s).
	MaxWait time.Duration `yaml:"max_wait"`
	// FetchMaxBytes bounds what one fetch from a broker may bring
	// (default 8 MiB, from 64KiB to 64MiB; each partition's share is at
	// most 1 MiB). The client holds at most one fetch per broker that the
	// input has not taken yet, and asks for the next only once it has
	// taken all of it: while the outputs push back, this is what waits in
	// memory. It counts bytes as the broker stores them: a compressed
	// topic takes several times more once decompressed. A broker still
	// sends a record batch larger than this whole.
	FetchMaxBytes delivery.Size `yaml:"fetch_max_bytes"`
	// RebalanceWait bounds how long a rebalance that takes partitions
	// away, or a shutdown, waits for batches already emitted from them to
	// be acknowledged and committed (default 10s, at most 45s). Records
	// still unacknowledged then are read again by the partition's next
	// owner.
	RebalanceWait time.Duration `yaml:"rebalance_wait"`
}

// SASL is the `sasl:` block, for generic Kafka brokers.
type SASL struct {
	// Mechanism is "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string `yaml:"mechanism"`
	// Username is the SASL user.
	Username string `yaml:"username"`
	// Password is written ${ENV_VAR} or file:/path.
	Password secret.Secret `yaml:"password"`
}

func (s SASL) isSet() bool {
	return s.Mechanism != "" || s.Username != "" || s.Password.IsSet()
}

// Validate checks c and fills in the defaults of keys left at zero. Every
// error names its key; none contains a secret. It works on a copy and
// writes it back only when everything is valid, so a failed Validate
// leaves c as it was.
func (c *Config) Validate() error {
	d := *c
	d.Brokers = slices.Clone(c.Brokers)
	d.Topics = slices.Clone(c.Topics)
	if c.TLS != nil {
		t := *c.TLS
		d.TLS = &t
	}
	if err := d.validate(); err != nil {
		return err
	}
	*c = d
	return nil
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	for i, t := range c.Topics {
		switch {
		case strings.TrimSpace(t) == "":
			bad("topics[%d]: empty topic name", i)
		case slices.Index(c.Topics, t) < i:
			bad("topics[%d]: %q is listed twice", i, t)
		}
	}

	switch {
	case c.ConnectionString.IsSet() && len(c.Brokers) > 0:
		bad("connection_string and brokers: give one (Event Hubs or generic Kafka), not both")
	case c.ConnectionString.IsSet():
		cs, err := parseConnectionString(c.ConnectionString.Value())
		if err != nil {
			bad("connection_string (%s): %v", c.ConnectionString.Source(), err)
			break
		}
		if c.SASL.isSet() {
			bad("sasl: not used with connection_string (Event Hubs authenticates with the connection string itself)")
		}
		switch {
		case len(c.Topics) == 0 && cs.EntityPath == "":
			bad("topics: required, because the connection string has no EntityPath (it is namespace-level): name the event hubs to read")
		case len(c.Topics) == 0:
			c.Topics = []string{cs.EntityPath}
		case cs.EntityPath != "":
			for i, t := range c.Topics {
				if !strings.EqualFold(t, cs.EntityPath) { // event hub names ignore case
					bad("topics[%d]: %q, but the connection string is scoped to event hub %q (EntityPath) and cannot read another", i, t, cs.EntityPath)
				}
			}
		}
		if c.ConsumerGroup == "" {
			c.ConsumerGroup = DefaultEventHubsGroup
		}
	case len(c.Brokers) > 0:
		for i, b := range c.Brokers {
			host, port, err := net.SplitHostPort(b)
			if err != nil || host == "" {
				bad("brokers[%d]: %q is not host:port", i, b)
				continue
			}
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				bad("brokers[%d]: %q: port %q is not a number from 1 to 65535", i, b, port)
			}
		}
		if len(c.Topics) == 0 {
			bad("topics: at least one topic is required with brokers")
		}
		if c.ConsumerGroup == "" {
			c.ConsumerGroup = DefaultKafkaGroup
		}
		if c.SASL.isSet() {
			c.SASL.Mechanism = strings.ToLower(c.SASL.Mechanism)
			switch c.SASL.Mechanism {
			case "plain", "scram-sha-256", "scram-sha-512":
			case "":
				bad("sasl.mechanism: required when sasl is set (plain, scram-sha-256 or scram-sha-512)")
			default:
				bad("sasl.mechanism: %q is not plain, scram-sha-256 or scram-sha-512", c.SASL.Mechanism)
			}
			if c.SASL.Username == "" {
				bad("sasl.username: required with sasl.mechanism")
			}
			if !c.SASL.Password.IsSet() {
				bad("sasl.password: required with sasl.mechanism")
			}
		}
	default:
		bad("connection_string or brokers: one is required (an Event Hubs connection string, or host:port of Kafka brokers)")
	}
	if strings.TrimSpace(c.ConsumerGroup) == "" && c.ConsumerGroup != "" {
		bad("consumer_group: blank")
	}

	if c.TLS != nil {
		if err := c.TLS.Validate(); err != nil {
			bad("tls.%v", err)
		}
	}

	switch strings.ToLower(c.StartFrom) {
	case "":
		c.StartFrom = "earliest"
	case "earliest", "latest":
		c.StartFrom = strings.ToLower(c.StartFrom)
	default:
		bad("start_from: %q is not earliest or latest", c.StartFrom)
	}

	switch {
	case c.BatchSize < 0:
		bad("batch_size: must be positive, got %d", c.BatchSize)
	case c.BatchSize == 0:
		c.BatchSize = DefaultBatchSize
	case c.BatchSize > maxBatchSize:
		bad("batch_size: %d is over the limit of %d", c.BatchSize, maxBatchSize)
	}
	switch {
	case c.MaxWait < 0:
		bad("max_wait: must be positive, got %s", c.MaxWait)
	case c.MaxWait == 0:
		c.MaxWait = DefaultMaxWait
	}
	switch {
	case c.FetchMaxBytes == 0:
		c.FetchMaxBytes = DefaultFetchMaxBytes
	case c.FetchMaxBytes < minFetchMaxBytes || c.FetchMaxBytes > maxFetchMaxBytes:
		bad("fetch_max_bytes: %d is not between 64KiB and 64MiB", c.FetchMaxBytes)
	}
	switch {
	case c.RebalanceWait < 0:
		bad("rebalance_wait: must be positive, got %s", c.RebalanceWait)
	case c.RebalanceWait == 0:
		c.RebalanceWait = DefaultRebalanceWait
	case c.RebalanceWait > maxRebalanceWait:
		bad("rebalance_wait: %s is over %s (the group's rebalance timeout is 60s)", c.RebalanceWait, maxRebalanceWait)
	}
	return errors.Join(errs...)
}

// connString is what privtrail needs of an Event Hubs connection string.
// It holds no secret: the key stays in the Secret.
type connString struct {
	Host       string // <namespace>.servicebus.windows.net
	EntityPath string // the event hub of a hub-level string, or ""
	KeyName    string // SharedAccessKeyName, or "" with a SAS token
}

// Broker is the namespace's Kafka endpoint.
func (cs connString) Broker() string {
	return net.JoinHostPort(cs.Host, strconv.Itoa(EventHubsKafkaPort))
}

// parseConnectionString reads an Event Hubs connection string. Its errors
// never quote the string or a part of it other than the endpoint host and
// key name, which are not secret.
func parseConnectionString(s string) (connString, error) {
	var cs connString
	var endpoint string
	var haveKey, haveSAS bool
	for i, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return cs, fmt.Errorf("part %d is not Key=Value", i+1)
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "endpoint":
			endpoint = v
		case "sharedaccesskeyname":
			cs.KeyName = v
		case "sharedaccesskey":
			haveKey = v != ""
		case "sharedaccesssignature":
			haveSAS = v != ""
		case "entitypath":
			cs.EntityPath = v
		}
	}
	if endpoint == "" {
		return cs, errors.New("no Endpoint=sb://<namespace>.servicebus.windows.net/ in it")
	}
	rest, ok := cutPrefixFold(endpoint, "sb://")
	if !ok {
		return cs, errors.New("the Endpoint does not start with sb:// (copy the connection string from the namespace's or event hub's \"Shared access policies\")")
	}
	host, _, _ := strings.Cut(rest, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h // a port in the endpoint is the AMQP one; Kafka is 9093
	}
	if host == "" || strings.ContainsAny(host, " \t@?#") {
		return cs, errors.New("the Endpoint has no valid host")
	}
	cs.Host = host
	switch {
	case haveSAS:
	case cs.KeyName == "":
		return cs, errors.New("no SharedAccessKeyName in it")
	case !haveKey:
		return cs, fmt.Errorf("no SharedAccessKey in it (policy %s)", cs.KeyName)
	}
	return cs, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
