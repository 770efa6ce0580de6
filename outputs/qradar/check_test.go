package qradar

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/tlsconfig"
)

func TestCheck(t *testing.T) {
	c := newCerts(t)
	cert, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		t.Fatal(err)
	}
	tlsSrv := newLineServer(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, "")
	tcpSrv := newLineServer(t, nil, "")
	plain := newLineServer(t, nil, "") // receives a TLS ClientHello
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name string
		cfg  Config
		want string // the result, or a part of the error when fail
		fail bool
	}{
		{name: "tcp", cfg: Config{Address: tcpSrv.addr},
			want: "connected over TCP to " + tcpSrv.addr + " (no TLS: events travel in clear)"},
		{name: "tls, trusted CA", cfg: Config{Address: tlsSrv.addr, Transport: "tls", TLS: &tlsconfig.Config{CAFile: c.ca}},
			want: "connected over TLS 1.3 to " + tlsSrv.addr + " (certificate verified)"},
		{name: "tls, untrusted certificate", cfg: Config{Address: tlsSrv.addr, Transport: "tls"},
			want: "certificate signed by unknown authority", fail: true},
		{name: "tls, certificate for another name", cfg: Config{Address: tlsSrv.addr, Transport: "tls", TLS: &tlsconfig.Config{CAFile: c.ca, ServerName: "qradar.example"}},
			want: "not qradar.example", fail: true},
		{name: "tls, verification off", cfg: Config{Address: tlsSrv.addr, Transport: "tls", TLS: &tlsconfig.Config{InsecureSkipVerify: true}},
			want: "connected over TLS 1.3 to " + tlsSrv.addr + " (certificate NOT verified: insecure_skip_verify)"},
		{name: "tls to a plain tcp receiver", cfg: Config{Address: plain.addr, Transport: "tls", TLS: &tlsconfig.Config{CAFile: c.ca}, Timeout: time.Second},
			want: "connect to " + plain.addr, fail: true},
		{name: "closed port", cfg: Config{Address: closed},
			want: "connect to " + closed + ": dial tcp " + closed + ": connect: connection refused", fail: true},
		{name: "udp only resolves", cfg: Config{Address: "127.0.0.1:514", Transport: "udp"},
			want: "udp 127.0.0.1:514 resolves to 127.0.0.1; nothing more can be verified over UDP (no connection, no answer)"},
		{name: "invalid config", cfg: Config{Address: "qradar.example", Transport: "tcp"},
			want: `address: "qradar.example" is not host:port`, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := Check(ctx, tt.cfg, quietLog())
			if tt.fail {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tt.want)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if got := append(tcpSrv.got(), tlsSrv.got()...); len(got) != 0 {
		t.Errorf("the check sent %q", got)
	}
}
