package qradar

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/privtrail/privtrail/internal/tlsconfig"
)

func TestDefaults(t *testing.T) {
	c := Config{Address: "qradar:514"}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Transport != "tcp" || c.Framing != "lf" || c.Format != "leef" || c.Delimiter != "\t" || c.Facility != "local0" ||
		c.Vendor != "privtrail" || c.Product != "privtrail" || c.Version == "" || c.AppName != "privtrail" ||
		c.MaxUDPBytes != 1472 || c.Timeout != 30*time.Second || c.BatchSize != 500 || c.Envelope != "diagnostic" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	for key, mod := range map[string]func(*Config){
		"address:":                        func(c *Config) { c.Address = "" },
		"address: \"qradar\"":             func(c *Config) { c.Address = "qradar" },
		"address: \"qradar:0\": port":     func(c *Config) { c.Address = "qradar:0" },
		"transport:":                      func(c *Config) { c.Transport = "sctp" },
		"framing: \"nul\"":                func(c *Config) { c.Framing = "nul" },
		"framing: octet-counting applies": func(c *Config) { c.Transport = "udp"; c.Framing = "octet-counting" },
		"format:":                         func(c *Config) { c.Format = "cef" },
		"envelope: \"graph\" is not":      func(c *Config) { c.Envelope = "graph" },
		"delimiter:":                      func(c *Config) { c.Delimiter = "," },
		"facility:":                       func(c *Config) { c.Facility = "kern" },
		"max_udp_bytes:":                  func(c *Config) { c.MaxUDPBytes = 100000 },
		"timeout:":                        func(c *Config) { c.Timeout = time.Millisecond },
		"tls: set":                        func(c *Config) { c.Transport = "tcp"; c.TLS = &tlsconfig.Config{} },
		"tls.cert_file":                   func(c *Config) { c.Transport = "tls"; c.TLS = &tlsconfig.Config{CertFile: "c.pem"} },
		"batch_size:":                     func(c *Config) { c.BatchSize = -1 },
	} {
		c := Config{Address: "qradar:514"}
		mod(&c)
		c.Defaults()
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), key) {
			t.Errorf("want an error starting %q, got %v", key, err)
		}
	}
	for _, e := range []string{"diagnostic", "as_read"} {
		c := Config{Address: "qradar:514", Format: "json", Envelope: e}
		c.Defaults()
		if err := c.Validate(); err != nil || c.Envelope != e {
			t.Errorf("envelope %q: %v", e, err)
		}
	}
	for _, d := range []string{"\t", "tab", "x09", "^", "|", "x7C"} {
		c := Config{Address: "qradar:514", Delimiter: d}
		c.Defaults()
		if err := c.Validate(); err != nil {
			t.Errorf("delimiter %q: %v", d, err)
		}
	}
}

// sample.yaml parses strictly (unknown keys are errors, as in the agent).
func TestSampleConfig(t *testing.T) {
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Outputs []struct {
			Name   string  `yaml:"name"`
			QRadar *Config `yaml:"qradar"`
		} `yaml:"outputs"`
	}
	if err := yaml.UnmarshalWithOptions(data, &file, yaml.DisallowUnknownField()); err != nil {
		t.Fatal(err)
	}
	if len(file.Outputs) != 2 {
		t.Fatalf("%d outputs", len(file.Outputs))
	}
	for _, o := range file.Outputs {
		c := *o.QRadar
		c.Defaults()
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", o.Name, err)
		}
	}
	c := file.Outputs[0].QRadar
	if c.Delimiter != "\t" || c.FlushInterval != time.Second || c.Buffer.MaxBytes != 1<<30 || c.Hostname != "privtrail-01" {
		t.Errorf("qradar: %+v", c)
	}
	if tls := file.Outputs[1].QRadar; tls.TLS == nil || tls.TLS.CAFile != "/etc/privtrail/qradar-ca.pem" || tls.Framing != "octet-counting" {
		t.Errorf("qradar-tls: %+v", tls)
	}
}

// The compose stand-in's rsyslog configuration is valid, and compose.yaml
// binds it to loopback only.
func TestComposeFragment(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Ports   []string `yaml:"ports"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	s := compose.Services["qradar-standin"]
	if len(s.Ports) != 1 || s.Ports[0] != "127.0.0.1:514:514/tcp" || len(s.Volumes) != 2 {
		t.Fatalf("qradar-standin: %+v", s)
	}
	bin := rsyslogdPath(t)
	if out, err := exec.Command(bin, "-N1", "-f", "rsyslog-qradar.conf").CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1: %v\n%s", err, out)
	}
}
