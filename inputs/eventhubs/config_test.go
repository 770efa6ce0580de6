package eventhubs

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

const (
	testKey = "c2VjcmV0LWtleS1kby1ub3QtbG9n=="
	testCS  = "Endpoint=sb://privtrail-test.servicebus.windows.net/;SharedAccessKeyName=privtrail-listen;SharedAccessKey=" + testKey + ";EntityPath=entra-hub"
)

func mustSecret(t testing.TB, v string) secret.Secret {
	t.Helper()
	s, err := secret.Resolve(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseConnectionString(t *testing.T) {
	tests := []struct {
		in                string
		host, entity, key string
		err               string
	}{
		{in: testCS, host: "privtrail-test.servicebus.windows.net", entity: "entra-hub", key: "privtrail-listen"},
		{in: "endpoint=SB://ns.servicebus.windows.net;sharedaccesskeyname=listen ; sharedaccesskey=" + testKey + ";", host: "ns.servicebus.windows.net", key: "listen"},
		{in: "Endpoint=sb://ns.servicebus.chinacloudapi.cn:5671/;SharedAccessSignature=SharedAccessSignature sr=x&sig=" + testKey + "&se=1&skn=p", host: "ns.servicebus.chinacloudapi.cn"},
		{in: "SharedAccessKeyName=a;SharedAccessKey=" + testKey, err: "no Endpoint"},
		{in: "Endpoint=https://ns.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=" + testKey, err: "sb://"},
		{in: "Endpoint=sb:///;SharedAccessKeyName=a;SharedAccessKey=" + testKey, err: "no valid host"},
		{in: "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=" + testKey, err: "no SharedAccessKeyName"},
		{in: "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=", err: "no SharedAccessKey in it (policy listen)"},
		{in: "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=listen;garbage", err: "part 3 is not Key=Value"},
	}
	for _, tt := range tests {
		cs, err := parseConnectionString(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "c2VjcmV0") {
				t.Errorf("error reveals the key: %v", err)
			}
			continue
		}
		if err != nil || cs.Host != tt.host || cs.EntityPath != tt.entity || cs.KeyName != tt.key {
			t.Errorf("%q: %+v, %v", tt.in, cs, err)
		}
		if got := cs.Broker(); got != tt.host+":9093" {
			t.Errorf("broker %q", got)
		}
	}
}

func TestValidateDefaults(t *testing.T) {
	c := Config{ConnectionString: mustSecret(t, testCS)}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Topics, []string{"entra-hub"}) || c.ConsumerGroup != "$Default" || c.StartFrom != "earliest" ||
		c.BatchSize != 500 || c.MaxWait != time.Second || c.RebalanceWait != 10*time.Second || c.FetchMaxBytes != 8<<20 {
		t.Errorf("defaults: %+v", c)
	}

	k := Config{Brokers: []string{"kafka-1:9092"}, Topics: []string{"signins"}, StartFrom: "LATEST",
		SASL: SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: mustSecret(t, "p")}}
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	if k.ConsumerGroup != "privtrail" || k.SASL.Mechanism != "scram-sha-512" || k.StartFrom != "latest" {
		t.Errorf("generic defaults: %+v", k)
	}

	// Validate works on a copy: the caller's slices are not shared, and
	// a failed Validate changes nothing.
	topics := []string{"signins"}
	g := Config{Brokers: []string{"k:9092"}, Topics: topics, BatchSize: -1}
	if err := g.Validate(); err == nil {
		t.Fatal("batch_size -1 accepted")
	}
	if g.ConsumerGroup != "" || g.MaxWait != 0 {
		t.Errorf("failed Validate applied defaults: %+v", g)
	}
	g.BatchSize = 0
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	g.Topics[0] = "changed"
	if topics[0] != "signins" {
		t.Error("Validate shares the caller's topics slice")
	}
}

func TestValidateErrorsNameKeys(t *testing.T) {
	cs := mustSecret(t, testCS)
	nsCS := mustSecret(t, "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey="+testKey)
	tests := []struct {
		c    Config
		want string
	}{
		{Config{}, "connection_string or brokers: one is required"},
		{Config{ConnectionString: cs, Brokers: []string{"k:9092"}}, "connection_string and brokers"},
		{Config{ConnectionString: mustSecret(t, "Endpoint=sb://ns/;SharedAccessKeyName=x")}, "connection_string (literal): no SharedAccessKey"},
		{Config{ConnectionString: nsCS}, "topics: required, because the connection string has no EntityPath"},
		{Config{ConnectionString: cs, Topics: []string{"other"}}, `topics[0]: "other", but the connection string is scoped to event hub "entra-hub"`},
		{Config{ConnectionString: cs, SASL: SASL{Mechanism: "plain"}}, "sasl: not used with connection_string"},
		{Config{Brokers: []string{"nohost"}, Topics: []string{"t"}}, `brokers[0]: "nohost" is not host:port`},
		{Config{Brokers: []string{"k:99999"}, Topics: []string{"t"}}, `brokers[0]: "k:99999": port`},
		{Config{Brokers: []string{"k:9092"}}, "topics: at least one topic is required"},
		{Config{Brokers: []string{"k:9092"}, Topics: []string{"t", "t"}}, `topics[1]: "t" is listed twice`},
		{Config{Brokers: []string{"k:9092"}, Topics: []string{" "}}, "topics[0]: empty topic name"},
		{Config{Brokers: []string{"k:9092"}, Topics: []string{"t"}, SASL: SASL{Mechanism: "gssapi", Username: "u", Password: mustSecret(t, "p")}}, `sasl.mechanism: "gssapi"`},
		{Config{Brokers: []string{"k:9092"}, Topics: []string{"t"}, SASL: SASL{Username: "u"}}, "sasl.mechanism: required"},
		{Config{Brokers: []string{"k:9092"}, Topics: []string{"t"}, SASL: SASL{Mechanism: "plain", Username: "u"}}, "sasl.password: required"},
		{Config{Brokers: []string{"k:9092"}, Topics: []string{"t"}, SASL: SASL{Mechanism: "plain", Password: mustSecret(t, "p")}}, "sasl.username: required"},
		{Config{Brokers: []string{"k:9092"}, Topics: []string{"t"}, TLS: &tlsconfig.Config{CertFile: "c"}}, "tls.cert_file and key_file"},
		{Config{ConnectionString: cs, StartFrom: "beginning"}, `start_from: "beginning" is not earliest or latest`},
		{Config{ConnectionString: cs, BatchSize: -5}, "batch_size: must be positive"},
		{Config{ConnectionString: cs, BatchSize: 1 << 30}, "batch_size: 1073741824 is over the limit"},
		{Config{ConnectionString: cs, MaxWait: -time.Second}, "max_wait: must be positive"},
		{Config{ConnectionString: cs, RebalanceWait: time.Minute}, "rebalance_wait: 1m0s is over 45s"},
		{Config{ConnectionString: cs, ConsumerGroup: "  "}, "consumer_group: blank"},
		{Config{ConnectionString: cs, FetchMaxBytes: 1 << 10}, "fetch_max_bytes: 1024 is not between 64KiB and 64MiB"},
		{Config{ConnectionString: cs, FetchMaxBytes: 1 << 30}, "fetch_max_bytes: 1073741824 is not between"},
	}
	for _, tt := range tests {
		err := tt.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %q", tt.c, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("error reveals the key: %v", err)
		}
	}
}

// sample.yaml is a valid `inputs:` entry under the agent's strict parsing.
func TestSample(t *testing.T) {
	t.Setenv("EVENTHUB_CONNECTION_STRING", testCS)
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Inputs []struct {
			Name      string  `yaml:"name"`
			EventHubs *Config `yaml:"eventhubs"`
		} `yaml:"inputs"`
	}
	if err := yaml.UnmarshalWithOptions(data, &sample, yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	if len(sample.Inputs) != 1 || sample.Inputs[0].EventHubs == nil {
		t.Fatalf("sample.yaml: %+v", sample)
	}
	c := sample.Inputs[0].EventHubs
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ConnectionString.Value() != testCS || c.ConsumerGroup != "privtrail" || !slices.Equal(c.Topics, []string{"entra-hub"}) || c.RebalanceWait != 10*time.Second ||
		c.FetchMaxBytes != 8<<20 {
		t.Errorf("sample.yaml: %+v", c)
	}

	// The commented generic Kafka block is valid too, once uncommented.
	var generic []string
	for _, line := range strings.Split(string(data), "\n") {
		if s, ok := strings.CutPrefix(line, "  # "); ok && !strings.HasPrefix(strings.TrimSpace(s), "The same") {
			generic = append(generic, "  "+s)
		}
	}
	t.Setenv("KAFKA_PASSWORD", "pw")
	data = []byte("inputs:\n" + strings.Join(generic, "\n") + "\n")
	sample.Inputs = nil
	if err := yaml.UnmarshalWithOptions(data, &sample, yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("generic block: %v\n%s", err, data)
	}
	g := sample.Inputs[0].EventHubs
	g.TLS = nil // the CA file does not exist here
	if err := g.Validate(); err != nil || g.SASL.Mechanism != "scram-sha-512" || len(g.Brokers) != 2 {
		t.Errorf("generic block: %+v, %v", g, err)
	}
}
