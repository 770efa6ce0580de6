package elastic

import (
	"os"
	"slices"
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
	for _, tc := range []struct {
		stream   entra.Stream
		category string
		want     string
	}{
		{entra.StreamSignIn, "SignInLogs", "logs-azure.signinlogs-privtrail"},
		{entra.StreamSignIn, "ADFSSignInLogs", "logs-azure.signinlogs-privtrail"},
		{entra.StreamSignIn, "MicrosoftServicePrincipalSignInLogs", "logs-azure.signinlogs-privtrail"},
		{entra.StreamAudit, "AuditLogs", "logs-azure.auditlogs-privtrail"},
		{entra.StreamActivity, "Administrative", "logs-azure.activitylogs-privtrail"},
		{entra.StreamAADDS, "PrivilegeUse", "logs-azure.aadds-privtrail"},
		{entra.StreamDirectory, "DirectoryScan", "logs-azure.directory-privtrail"},
		{entra.StreamRisk, "UserRiskEvents", "logs-azure.identity_protection-privtrail"},
		{entra.StreamRisk, "RiskyUsers", "logs-azure.identity_protection-privtrail"},
		{entra.StreamRisk, "ServicePrincipalRiskEvents", "logs-azure.identity_protection-privtrail"},
		{entra.StreamRisk, "RiskyServicePrincipals", "logs-azure.identity_protection-privtrail"},
		{entra.StreamGraphActivity, "MicrosoftGraphActivityLogs", "logs-azure.graphactivitylogs-privtrail"},
		{entra.StreamGraphActivity, "AzureADGraphActivityLogs", "logs-azure.aadgraphactivitylogs-privtrail"},
		{entra.StreamOther, "ProvisioningLogs", "logs-azure.provisioning-privtrail"},
		{entra.StreamOther, "provisioninglogs", "logs-azure.provisioning-privtrail"},
		{entra.StreamOther, "NetworkAccessTrafficLogs", "logs-azure.platformlogs-privtrail"},
		{entra.StreamOther, "B2CRequestLogs", "logs-azure.platformlogs-privtrail"},
		{entra.StreamOther, "", "logs-azure.platformlogs-privtrail"},
		{"", "", "logs-azure.platformlogs-privtrail"},
	} {
		if got := n.DataStream(tc.stream, tc.category); got != tc.want {
			t.Errorf("%s/%s → %s, want %s", tc.stream, tc.category, got, tc.want)
		}
	}
	want := []string{"logs-azure.signinlogs-privtrail", "logs-azure.auditlogs-privtrail", "logs-azure.activitylogs-privtrail",
		"logs-azure.aadds-privtrail", "logs-azure.directory-privtrail", "logs-azure.identity_protection-privtrail",
		"logs-azure.graphactivitylogs-privtrail", "logs-azure.aadgraphactivitylogs-privtrail", "logs-azure.provisioning-privtrail",
		"logs-azure.platformlogs-privtrail"}
	if got := n.DataStreams(); !slices.Equal(got, want) {
		t.Errorf("data streams %v\nwant %v", got, want)
	}
	// Every stream, whatever its category, goes to one of them.
	for _, s := range entra.Streams {
		for _, c := range []string{"", "SignInLogs", "AzureADGraphActivityLogs", "ProvisioningLogs", "SomethingNew"} {
			if ds := n.DataStream(s, c); !slices.Contains(want, ds) {
				t.Errorf("%s/%s → %s, which the templates and the privilege check do not cover", s, c, ds)
			}
		}
	}
	fixed := Naming{Dataset: "privtrail.entra", Namespace: "default"}
	if got := fixed.DataStreams(); len(got) != 1 || got[0] != "logs-privtrail.entra-default" {
		t.Errorf("fixed dataset: %v", got)
	}
	if got := fixed.DataStream(entra.StreamRisk, "RiskyUsers"); got != "logs-privtrail.entra-default" {
		t.Errorf("fixed dataset: %s", got)
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
