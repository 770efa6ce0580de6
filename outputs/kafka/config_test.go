package kafka

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/privtrail/privtrail/internal/tlsconfig"
)

func TestConfigValidate(t *testing.T) {
	pass := mustSecret(t, testPassword)
	ok := func() Config { return Config{Brokers: []string{"kafka-1.example:9093"}, Topic: "privtrail.entra"} }
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // error prefix; "" for valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"several brokers, ipv6", func(c *Config) { c.Brokers = []string{"a:9092", "[2001:db8::1]:9093"} }, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers: is required"},
		{"scheme", func(c *Config) { c.Brokers = []string{"kafka://a:9092"} }, `brokers[0]: "kafka://a:9092": write host:port`},
		{"no port", func(c *Config) { c.Brokers = []string{"a:9092", "b"} }, `brokers[1]: "b" is not host:port`},
		{"bad port", func(c *Config) { c.Brokers = []string{"a:0"} }, `brokers[0]: "a:0": port must be 1-65535`},
		{"no topic", func(c *Config) { c.Topic = "" }, "topic: is required"},
		{"topic chars", func(c *Config) { c.Topic = "entra logs" }, `topic: "entra logs": Kafka topic names`},
		{"topic dot", func(c *Config) { c.Topic = ".." }, `topic: ".." is not a valid topic name`},
		{"topic long", func(c *Config) { c.Topic = strings.Repeat("t", 250) }, "topic: "},
		{"key none", func(c *Config) { c.Key = "none" }, ""},
		{"key", func(c *Config) { c.Key = "upn" }, `key: "upn" is not user, subject or none`},
		{"compression", func(c *Config) { c.Compression = "brotli" }, `compression: "brotli" is not none, gzip, snappy, lz4 or zstd`},
		{"compression case", func(c *Config) { c.Compression = "ZSTD" }, ""},
		{"client id", func(c *Config) { c.ClientID = "a\nb" }, "client_id: contains a control character"},
		{"scram", func(c *Config) { c.SASL = SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: pass} }, ""},
		{"plain with tls", func(c *Config) {
			c.SASL, c.TLS = SASL{Mechanism: "plain", Username: "u", Password: pass}, &tlsconfig.Config{}
		}, ""},
		{"plain without tls", func(c *Config) { c.SASL = SASL{Mechanism: "plain", Username: "u", Password: pass} }, "sasl.mechanism: plain sends the password in clear"},
		{"mechanism", func(c *Config) { c.SASL = SASL{Mechanism: "gssapi", Username: "u", Password: pass} }, `sasl.mechanism: "gssapi" is not`},
		{"no mechanism", func(c *Config) { c.SASL = SASL{Username: "u", Password: pass} }, "sasl.mechanism: is required"},
		{"no user", func(c *Config) { c.SASL = SASL{Mechanism: "scram-sha-256", Password: pass} }, "sasl.username: is required"},
		{"no password", func(c *Config) { c.SASL = SASL{Mechanism: "scram-sha-256", Username: "u"} }, "sasl.password: is required"},
		{"tls key", func(c *Config) { c.TLS = &tlsconfig.Config{CertFile: "c.pem"} }, "tls.cert_file and key_file"},
		{"max message bytes", func(c *Config) { c.MaxMessageBytes = 100 }, "max_message_bytes: must be between 1KiB and 1GiB"},
		{"timeout", func(c *Config) { c.Timeout = 500 * time.Millisecond }, "timeout: must be at least 1s"},
		{"batch", func(c *Config) { c.BatchSize = -1 }, "batch_size: "},
		{"buffer", func(c *Config) { c.BatchBytes, c.Buffer.MaxBytes = 1<<20, 1<<10 }, "buffer.max_bytes: "},
		{"envelope diagnostic", func(c *Config) { c.Envelope = "diagnostic" }, ""},
		{"envelope as_read", func(c *Config) { c.Envelope = "as_read" }, ""},
		{"envelope", func(c *Config) { c.Envelope = "azure" }, `envelope: "azure" is not diagnostic or as_read`},
	} {
		c := ok()
		tc.mod(&c)
		before := fmt.Sprintf("%+v", c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one starting with %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), testPassword):
			t.Errorf("%s: the password is in the error", tc.name)
		}
		if after := fmt.Sprintf("%+v", c); after != before {
			t.Errorf("%s: Validate changed the config:\n%s\n%s", tc.name, before, after)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Brokers: []string{"a:9092"}, Topic: "t", Compression: "LZ4", SASL: SASL{Mechanism: "SCRAM-SHA-256"}}
	c.Defaults()
	if c.Key != "user" || !c.headers() || c.Compression != "lz4" || c.SASL.Mechanism != "scram-sha-256" || c.ClientID != "privtrail" ||
		c.MaxMessageBytes != 1_000_000 || c.Timeout != 30*time.Second || c.BatchSize != 500 || c.MaxBackoff != time.Minute || c.Envelope != "as_read" {
		t.Errorf("defaults: %+v", c)
	}
	c = Config{}
	c.Defaults()
	if c.Compression != "gzip" {
		t.Errorf("default compression %q", c.Compression)
	}
	off := false
	c = Config{Headers: &off}
	c.Defaults()
	if c.headers() {
		t.Error("headers: false was overridden")
	}
}

func TestPasswordIsNeverPrinted(t *testing.T) {
	t.Setenv("PRIVTRAIL_TEST_KAFKA_PASSWORD", testPassword)
	cfg := Config{Brokers: []string{"127.0.0.1:1"}, Topic: "t", SASL: SASL{Mechanism: "scram-sha-512", Username: "u", Password: mustSecret(t, "${PRIVTRAIL_TEST_KAFKA_PASSWORD}")}}
	c, err := NewClient(cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), fmt.Sprintf("%v %+v %#v", c, c, c)} {
		if strings.Contains(s, testPassword) {
			t.Errorf("the password appears in %s", s)
		}
	}
}

// sample.yaml is a valid `outputs:` entry under the agent's strict
// parsing, and compose.yaml the service the README describes.
func TestSampleAndCompose(t *testing.T) {
	t.Setenv("KAFKA_PASSWORD", testPassword)
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Outputs []struct {
			Name  string  `yaml:"name"`
			Kafka *Config `yaml:"kafka"`
		} `yaml:"outputs"`
	}
	if err := yaml.UnmarshalWithOptions(data, &sample, yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	if len(sample.Outputs) != 1 || sample.Outputs[0].Kafka == nil {
		t.Fatalf("sample.yaml: %+v", sample)
	}
	k := sample.Outputs[0].Kafka
	if err := k.Validate(); err != nil {
		t.Errorf("sample.yaml: %v", err)
	}
	if k.SASL.Password.Value() != testPassword || len(k.Brokers) != 3 || k.Topic != "privtrail.entra" ||
		k.Timeout != 30*time.Second || k.MaxMessageBytes != 1_000_000 || k.BatchBytes != 4<<20 || k.Buffer.MaxBytes != 1<<30 {
		t.Errorf("sample.yaml values: %+v", k)
	}
	// The defaults it shows are the defaults.
	d := Config{}
	d.Defaults()
	if k.Key != d.Key || *k.Headers != *d.Headers || k.Compression != d.Compression || k.ClientID != d.ClientID || k.Envelope != d.Envelope ||
		k.MaxMessageBytes != d.MaxMessageBytes || k.Timeout != d.Timeout || k.Config != d.Config {
		t.Errorf("sample.yaml shows other defaults than Defaults: %+v vs %+v", k, d)
	}

	data, err = os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	s, ok := compose.Services["kafka"]
	if !ok || !strings.HasPrefix(s.Image, "apache/kafka:3.9") || s.Environment["KAFKA_PROCESS_ROLES"] != "broker,controller" ||
		!strings.Contains(s.Environment["KAFKA_ADVERTISED_LISTENERS"], "127.0.0.1:9092") {
		t.Fatalf("compose.yaml kafka service: %+v", s)
	}
	if len(s.Ports) != 1 || s.Ports[0] != "127.0.0.1:9092:9092" {
		t.Errorf("compose.yaml ports %v: bind to loopback only", s.Ports)
	}
}
