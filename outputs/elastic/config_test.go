package elastic

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/privtrail/privtrail/entra"
)

// sample.yaml is what the README shows: it must parse strictly (unknown
// keys are errors in privtrail's config) and validate.
func TestSampleConfig(t *testing.T) {
	t.Setenv("PRIVTRAIL_ES_API_KEY", "aWQ6a2V5")
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Outputs []struct {
			Name    string  `yaml:"name"`
			Elastic *Config `yaml:"elastic"`
		} `yaml:"outputs"`
	}
	if err := yaml.UnmarshalWithOptions(data, &doc, yaml.DisallowUnknownField()); err != nil {
		t.Fatal(err)
	}
	c := doc.Outputs[0].Elastic
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.URLs) != 2 || c.APIKey.Value() != "aWQ6a2V5" || c.Namespace != "privtrail" || !c.installTemplates() ||
		c.BatchSize != 500 || c.BatchBytes != 4<<20 || c.FlushInterval != time.Second || c.TLS.CAFile == "" {
		t.Errorf("parsed %+v", c)
	}
	if strings.Contains(c.APIKey.String(), "aWQ6") {
		t.Error("the API key prints")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func() Config { return Config{URLs: []string{"https://es:9200"}} }
	for _, c := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"cloud id", func(c *Config) { c.URLs = nil; c.CloudID = "x:eA==" }, ""},
		{"no url", func(c *Config) { c.URLs = nil }, "urls: is required"},
		{"both", func(c *Config) { c.CloudID = "x" }, "give one, not both"},
		{"scheme", func(c *Config) { c.URLs = []string{"es:9200"} }, "urls[0]: scheme must be http or https"},
		{"credentials in url", func(c *Config) { c.URLs = []string{"https://elastic:changeme@es:9200"} }, "credentials in the URL"},
		{"user without password", func(c *Config) { c.Username = "u" }, "password: is required"},
		{"upper-case namespace", func(c *Config) { c.Namespace = "Prod" }, "namespace: \"Prod\" must be lower case"},
		{"dash in namespace", func(c *Config) { c.Namespace = "my-ns" }, "must not contain"},
		{"dataset with a colon", func(c *Config) { c.Dataset = "a:b" }, "dataset:"},
		{"dataset starting with _", func(c *Config) { c.Dataset = "_x" }, "must not start with"},
		{"long namespace", func(c *Config) { c.Namespace = strings.Repeat("n", 101) }, "longer than 100"},
		{"tiny timeout", func(c *Config) { c.Timeout = time.Millisecond }, "timeout:"},
		{"delivery part", func(c *Config) { c.BatchSize = -1 }, "batch_size:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok()
			c.mod(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	// The password of a URL never reaches an error message.
	cfg := Config{URLs: []string{"https://elastic:hunter2@es:9200", "http://[::1"}}
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("got %v", err)
	}
}

func TestNaming(t *testing.T) {
	n := Naming{Namespace: "privtrail"}
	for s, want := range map[entra.Stream]string{
		entra.StreamSignIn:    "logs-azure.signinlogs-privtrail",
		entra.StreamAudit:     "logs-azure.auditlogs-privtrail",
		entra.StreamActivity:  "logs-azure.activitylogs-privtrail",
		entra.StreamAADDS:     "logs-azure.aadds-privtrail",
		entra.StreamDirectory: "logs-azure.directory-privtrail",
	} {
		if got := n.DataStream(s); got != want {
			t.Errorf("%s → %s, want %s", s, got, want)
		}
	}
	if got := len(n.DataStreams()); got != len(entra.Streams) {
		t.Errorf("%d data streams for %d streams", got, len(entra.Streams))
	}
	fixed := Naming{Dataset: "privtrail.entra", Namespace: "default"}
	if got := fixed.DataStreams(); len(got) != 1 || got[0] != "logs-privtrail.entra-default" {
		t.Errorf("fixed dataset: %v", got)
	}
	// Every data stream of the default naming matches the index pattern
	// logs-azure* of Elastic's prebuilt rules and logs-azure.<dataset>-* of
	// their ES|QL variants, but not the integration's own namespace.
	for _, ds := range n.DataStreams() {
		if !strings.HasPrefix(ds, "logs-azure") || strings.HasSuffix(ds, "-default") {
			t.Errorf("%s", ds)
		}
	}
}

// An Elastic Cloud ID names the deployment's Elasticsearch endpoint.
func TestCloudURL(t *testing.T) {
	// "eu-west-1.aws.found.io$es123$kb456", as Elastic Cloud shows it.
	id := "prod:ZXUtd2VzdC0xLmF3cy5mb3VuZC5pbyRlczEyMyRrYjQ1Ng=="
	if got, err := cloudURL(id); err != nil || got != "https://es123.eu-west-1.aws.found.io" {
		t.Errorf("cloudURL = %q, %v", got, err)
	}
	for _, bad := range []string{"no-colon", "x:%%%", "x:eA=="} {
		if _, err := cloudURL(bad); err == nil {
			t.Errorf("cloudURL(%q) accepted", bad)
		}
	}
}
