package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerificationOnByDefault(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var c *Config
	tc, err := c.Build("test", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	if _, err := client.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a self-signed server was accepted: %v", err)
	}

	// Trusting its CA explicitly works.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	tc, err = (&Config{CAFile: ca}).Build("test", nil)
	if err != nil {
		t.Fatal(err)
	}
	client = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	resp.Body.Close()
	if tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("min version %x", tc.MinVersion)
	}
}

func TestInsecureIsLoud(t *testing.T) {
	var logs bytes.Buffer
	tc, err := (&Config{InsecureSkipVerify: true}).Build("outputs.splunk", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil || !tc.InsecureSkipVerify {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "verification is OFF") || !strings.Contains(logs.String(), "outputs.splunk") {
		t.Fatalf("no warning: %q", logs.String())
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{CertFile: "a"}, {KeyFile: "b"}, {MinVersion: "1.0"}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
	if _, err := (&Config{CAFile: "/nonexistent"}).Build("x", nil); err == nil {
		t.Error("missing ca_file must be an error")
	}
}
