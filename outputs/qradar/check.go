package qradar

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
)

// Check tests that cfg's syslog receiver takes connections (privtrail
// check): over tcp it connects, over tls it connects and verifies the
// receiver's certificate as the output does, and closes without sending
// anything. Over udp nothing can be verified (no connection, no answer),
// so it only resolves the address. It returns what was verified.
func Check(ctx context.Context, cfg Config, log *slog.Logger) (string, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Transport == "udp" {
		host, _, _ := net.SplitHostPort(cfg.Address) // validated
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return "", fmt.Errorf("udp %s: %w", cfg.Address, err)
		}
		return fmt.Sprintf("udp %s resolves to %s; nothing more can be verified over UDP (no connection, no answer)", cfg.Address, strings.Join(addrs, ", ")), nil
	}
	var tc *tls.Config
	if cfg.Transport == "tls" {
		var err error
		if tc, err = cfg.TLS.Build("outputs.qradar check", log); err != nil {
			return "", err
		}
	}
	c := newClient(cfg, tc, log)
	defer c.Close()
	if err := c.connect(ctx); err != nil {
		return "", err
	}
	if conn, ok := c.conn.(*tls.Conn); ok {
		verified := "certificate verified"
		if tc.InsecureSkipVerify {
			verified = "certificate NOT verified: insecure_skip_verify"
		}
		return fmt.Sprintf("connected over %s to %s (%s)", tls.VersionName(conn.ConnectionState().Version), cfg.Address, verified), nil
	}
	return "connected over TCP to " + cfg.Address + " (no TLS: events travel in clear)", nil
}
