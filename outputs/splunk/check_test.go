package splunk

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// checkHEC is fakeHEC plus the health endpoint, as Splunk documents it:
// 200 {"text":"HEC is healthy","code":17}, or 503 with codes 18–20. It
// counts the requests that carried the token to the health endpoint.
type checkHEC struct {
	*fakeHEC
	healthStatus int
	healthBody   string

	mu          sync.Mutex
	healthCalls int
}

func newCheckHEC(t testing.TB) *checkHEC {
	return &checkHEC{fakeHEC: newFakeHEC(t, testToken), healthStatus: 200, healthBody: `{"text":"HEC is healthy","code":17}`}
}

func (h *checkHEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/services/collector/health" {
		h.mu.Lock()
		h.healthCalls++
		h.mu.Unlock()
		if r.Method != http.MethodGet {
			reply(w, 405, `{"text":"Method not allowed","code":404}`)
			return
		}
		reply(w, h.healthStatus, h.healthBody)
		return
	}
	h.fakeHEC.ServeHTTP(w, r)
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *checkHEC, c *Config)
		want  string // in the result, or in the error when fail
		fail  bool
		// elsewhere: the url leads away from the health endpoint.
		elsewhere bool
	}{
		{name: "healthy, token accepted",
			want: "HEC healthy, token accepted"},
		{name: "index named but not verifiable",
			setup: func(h *checkHEC, c *Config) { c.Index = "entra" },
			want:  "HEC healthy, token accepted; index entra not verified (HEC checks it only on events)"},
		{name: "invalid token is 403 code 4",
			setup: func(h *checkHEC, c *Config) { c.Token = mustSecret(t, "wrong-token-value") },
			want:  `HEC healthy, but the token was refused: splunk HEC: 403 Forbidden: code 4 "Invalid token" (check the output's token)`, fail: true},
		{name: "disabled token is 403 code 1",
			setup: func(h *checkHEC, c *Config) {
				h.then(func(w http.ResponseWriter) { hecError(w, 403, codeTokenDisabled, "Token disabled", -1) })
			},
			want: `the token was refused: splunk HEC: 403 Forbidden: code 1 "Token disabled"`, fail: true},
		{name: "HEC unhealthy, queues full (503)",
			setup: func(h *checkHEC, c *Config) {
				h.healthStatus, h.healthBody = 503, `{"text":"HEC is unhealthy, queues are full","code":18}`
			},
			want: `HEC unhealthy: splunk HEC: 503 Service Unavailable: code 18 "HEC is unhealthy, queues are full"`, fail: true},
		{name: "url that is not HEC",
			setup: func(h *checkHEC, c *Config) { c.URL += "/proxy" },
			want:  "GET /services/collector/health: splunk HEC: 404 Not Found", fail: true, elsewhere: true},
		{name: "token requires a channel: indexer_ack off",
			setup: func(h *checkHEC, c *Config) { h.ack = true },
			want:  `token check failed: splunk HEC: 400 Bad Request: code 10 "Data channel is missing" (the token has indexer acknowledgement enabled: set indexer_ack: true)`, fail: true},
		{name: "indexer_ack on, token has it",
			setup: func(h *checkHEC, c *Config) { h.ack, c.IndexerAck = true, true },
			want:  "HEC healthy, token accepted, indexer acknowledgement enabled"},
		{name: "indexer_ack on, token has it disabled",
			setup: func(h *checkHEC, c *Config) { c.IndexerAck = true },
			want:  `but indexer acknowledgement failed: splunk HEC: 400 Bad Request: code 14 "ACK is disabled"`, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hec := newCheckHEC(t)
			srv := httptest.NewServer(hec)
			defer srv.Close()
			cfg := Config{URL: srv.URL, AllowHTTP: true, Token: mustSecret(t, testToken)}
			if tt.setup != nil {
				tt.setup(hec, &cfg)
			}
			got, err := Check(context.Background(), cfg, nil)
			if tt.fail {
				if err == nil {
					t.Fatalf("passed (%q), want an error containing %q", got, tt.want)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %q\nwant it to contain %q", err, tt.want)
				}
				noToken(t, "the error", err.Error())
			} else {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if got != tt.want {
					t.Errorf("got  %q\nwant %q", got, tt.want)
				}
			}
			noToken(t, "the result", got)
			if n := len(hec.events()); n != 0 {
				t.Errorf("the check indexed %d events", n)
			}
			if want := map[bool]int{false: 1, true: 0}[tt.elsewhere]; hec.healthCalls != want {
				t.Errorf("health endpoint asked %d times", hec.healthCalls)
			}
		})
	}
}

// Verification is on: a HEC whose certificate is not trusted fails the
// check; with its CA in tls.ca_file it passes.
func TestCheckTLS(t *testing.T) {
	hec := newCheckHEC(t)
	srv := httptest.NewUnstartedServer(hec)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()

	cfg := Config{URL: srv.URL, Token: mustSecret(t, testToken)}
	_, err := Check(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v, want a certificate error", err)
	}
	noToken(t, "the error", err.Error())

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.TLS = &tlsconfig.Config{CAFile: caFile}
	if got, err := Check(context.Background(), cfg, nil); err != nil || got != "HEC healthy, token accepted" {
		t.Fatalf("with ca_file: %q, %v", got, err)
	}
}

func TestCheckClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Check(ctx, Config{URL: "http://" + addr, AllowHTTP: true, Token: mustSecret(t, testToken)}, nil)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("closed port: %v", err)
	}
}

// An invalid config is reported as such, before anything is contacted.
func TestCheckInvalidConfig(t *testing.T) {
	_, err := Check(context.Background(), Config{URL: "http://splunk.example:8088", Token: mustSecret(t, testToken)}, nil)
	if err == nil || !strings.Contains(err.Error(), "allow_http") {
		t.Fatalf("http url without allow_http: %v", err)
	}
}
