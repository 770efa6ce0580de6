package qradar

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// Config is an `outputs:` entry's `qradar:` block.
type Config struct {
	// Address is the syslog receiver, host:port (QRadar's event collector,
	// or a relay in front of it). Required.
	Address string `yaml:"address"`
	// Transport is "tcp" (default), "tls" or "udp".
	Transport string `yaml:"transport"`
	// Framing is how messages are separated on tcp and tls: "lf" (default,
	// a line feed after each message, what QRadar's TCP syslog expects) or
	// "octet-counting" (RFC 6587 3.4.1, "<length> <message>"). UDP sends
	// one message per datagram and takes no framing.
	Framing string `yaml:"framing"`
	// Format is "leef" (default: LEEF 2.0 with privtrail's attributes) or
	// "json" (the enriched JSON record, for QRadar's Microsoft Entra ID
	// DSM, which parses the diagnostic-settings JSON).
	Format string `yaml:"format"`
	// Envelope is how format json writes Graph-shaped records:
	// "diagnostic" (default) writes sign-ins, directory audits, user risk
	// detections and risky users in the Azure Monitor diagnostic-settings
	// envelope, as Azure Monitor writes the same record — the only JSON
	// the Microsoft Entra ID DSM parses; "as_read" writes every record as
	// it was read. Records read in the diagnostic shape and the other
	// streams are written as read either way. LEEF ignores it.
	Envelope string `yaml:"envelope"`
	// Delimiter separates LEEF attributes: a tab (default), "^" or "|".
	Delimiter string `yaml:"delimiter"`
	// Facility is the syslog facility: local0 (default) … local7, auth,
	// authpriv, user.
	Facility string `yaml:"facility"`
	// Vendor, Product and Version fill the LEEF header; defaults
	// "privtrail", "privtrail" and the agent's version.
	Vendor  string `yaml:"vendor"`
	Product string `yaml:"product"`
	Version string `yaml:"version"`
	// Hostname and AppName fill the syslog header; defaults: the
	// machine's host name and "privtrail".
	Hostname string `yaml:"hostname"`
	AppName  string `yaml:"app_name"`
	// MaxUDPBytes is the largest datagram sent over udp; a larger message
	// goes to the dead-letter file. Default 1472 (an Ethernet MTU less the
	// IP and UDP headers).
	MaxUDPBytes int `yaml:"max_udp_bytes"`
	// Timeout bounds connecting and writing one batch; default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures transport tls (verification is on by default).
	TLS *tlsconfig.Config `yaml:"tls"`

	delivery.Config `yaml:",inline"`
}

// Defaults fills in what was not set (hostname and version from the
// running agent).
func (c *Config) Defaults() {
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.Framing == "" {
		c.Framing = "lf"
	}
	if c.Format == "" {
		c.Format = "leef"
	}
	if c.Envelope == "" {
		c.Envelope = string(entra.EnvelopeDiagnostic)
	}
	if c.Delimiter == "" {
		c.Delimiter = "\t"
	}
	if c.Facility == "" {
		c.Facility = "local0"
	}
	if c.Vendor == "" {
		c.Vendor = "privtrail"
	}
	if c.Product == "" {
		c.Product = "privtrail"
	}
	if c.Version == "" {
		c.Version = agentVersion()
	}
	if c.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			c.Hostname = h
		}
	}
	if c.AppName == "" {
		c.AppName = "privtrail"
	}
	if c.MaxUDPBytes == 0 {
		c.MaxUDPBytes = 1472
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 1 // one connection, one ordered stream: see Validate
	}
	c.Config.Defaults()
}

// Validate checks a `qradar:` block as it will run (with defaults applied
// to a copy, so it may be called on the config as written). Errors name
// the key.
func (c *Config) Validate() error {
	d := *c
	d.Defaults()
	c = &d
	if c.Address == "" {
		return errors.New("address: is required (host:port of the syslog receiver)")
	}
	host, port, err := net.SplitHostPort(c.Address)
	if err != nil || host == "" {
		return fmt.Errorf("address: %q is not host:port", c.Address)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address: %q: port must be 1-65535", c.Address)
	}
	if c.MaxInFlight > 1 {
		// Syslog has no acknowledgement and no sequence numbers: batches
		// written at once would interleave or reorder on the receiver,
		// and a retried one could not be told from a new one.
		return fmt.Errorf("max_in_flight: syslog goes over one connection, in order: must be 1, got %d", c.MaxInFlight)
	}
	switch c.Transport {
	case "tcp", "tls", "udp":
	default:
		return fmt.Errorf("transport: %q is not tcp, tls or udp", c.Transport)
	}
	switch c.Framing {
	case "lf":
	case "octet-counting":
		if c.Transport == "udp" {
			return errors.New("framing: octet-counting applies to tcp and tls; udp sends one message per datagram")
		}
	default:
		return fmt.Errorf("framing: %q is not lf or octet-counting", c.Framing)
	}
	switch c.Format {
	case "leef", "json":
	default:
		return fmt.Errorf("format: %q is not leef or json", c.Format)
	}
	if _, err := entra.ParseEnvelope(c.Envelope); err != nil {
		return fmt.Errorf("envelope: %w", err)
	}
	if _, err := parseDelimiter(c.Delimiter); err != nil {
		return err
	}
	if _, ok := facilities[c.Facility]; !ok {
		return fmt.Errorf("facility: %q is not local0-local7, auth, authpriv or user", c.Facility)
	}
	if c.MaxUDPBytes < 480 || c.MaxUDPBytes > 65507 {
		return fmt.Errorf("max_udp_bytes: %d is not between 480 and 65507", c.MaxUDPBytes)
	}
	if c.Timeout < time.Second {
		return errors.New("timeout: must be at least 1s")
	}
	if c.TLS != nil {
		if c.Transport != "tls" {
			return fmt.Errorf("tls: set, but transport is %s (use transport: tls)", c.Transport)
		}
		if err := c.TLS.Validate(); err != nil {
			return fmt.Errorf("tls.%w", err)
		}
	}
	if err := c.Config.Validate(); err != nil {
		return err
	}
	return nil
}

// parseDelimiter accepts a tab (also written "tab", "x09" or "0x09"), "^"
// or "|".
func parseDelimiter(s string) (byte, error) {
	switch s {
	case "\t", "tab", "x09", "0x09":
		return '\t', nil
	case "^", "x5E", "x5e", "0x5E", "0x5e":
		return '^', nil
	case "|", "x7C", "x7c", "0x7C", "0x7c":
		return '|', nil
	}
	return 0, fmt.Errorf(`delimiter: %q is not a tab ("\t"), "^" or "|"`, s)
}

// facilities are the syslog facility codes privtrail may send with.
var facilities = map[string]int{
	"user": 1, "auth": 4, "authpriv": 10,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

func agentVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
