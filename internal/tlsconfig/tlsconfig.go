// Package tlsconfig is the TLS block every network input and output
// shares. Verification is on unless the config turns it off by name, and
// doing so is logged as a warning every start.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// Config is a `tls:` block.
type Config struct {
	// CAFile is a PEM bundle of the CAs to trust instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate, for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the server's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns verification off. Only for a lab.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

// Validate checks what can be checked without reading files.
func (c *Config) Validate() error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("cert_file and key_file: give both or neither")
	}
	switch c.MinVersion {
	case "", "1.2", "1.3":
	default:
		return fmt.Errorf("min_version: %q is not 1.2 or 1.3", c.MinVersion)
	}
	return nil
}

// Build returns the *tls.Config for c (nil c gives the defaults: system
// CAs, verification on, TLS 1.2+). what names the component in the warning.
func (c *Config) Build(what string, log *slog.Logger) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c == nil {
		return t, nil
	}
	if c.MinVersion == "1.3" {
		t.MinVersion = tls.VersionTLS13
	}
	t.ServerName = c.ServerName
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate in it", c.CAFile)
		}
		t.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	if c.InsecureSkipVerify {
		if log != nil {
			log.Warn("TLS certificate verification is OFF (tls.insecure_skip_verify): anyone on the path can read and change what is sent", "component", what)
		}
		t.InsecureSkipVerify = true
	}
	return t, nil
}

// ResolvePaths makes the CA, certificate and key files absolute with abs
// (relative to the config file's folder). A nil c has none.
func (c *Config) ResolvePaths(abs func(*string)) {
	if c == nil {
		return
	}
	abs(&c.CAFile)
	abs(&c.CertFile)
	abs(&c.KeyFile)
}
