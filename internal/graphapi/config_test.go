package graphapi

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
	"github.com/privtrail/privtrail/internal/yamlfile"
)

const testSecret = "s3cr3t~value-that-must-not-print"

func mustSecret(t testing.TB, v string) secret.Secret {
	t.Helper()
	s, err := secret.Resolve(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidateDefaultsAndClouds(t *testing.T) {
	tests := []struct {
		cfg                 Config
		auth, authority, ep string
	}{
		{Config{TenantID: "contoso.onmicrosoft.com", ClientID: "c", ClientSecret: mustSecret(t, testSecret)},
			AuthClientSecret, "https://login.microsoftonline.com", "https://graph.microsoft.com"},
		{Config{TenantID: "t", ClientID: "c", Certificate: "/etc/privtrail/app.pem", Cloud: "USGovernment"},
			AuthCertificate, "https://login.microsoftonline.us", "https://graph.microsoft.us"},
		{Config{Auth: "managed_identity", Cloud: "china"},
			AuthManagedIdentity, "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"},
		{Config{Auth: "Workload_Identity", AuthorityHost: "https://login.example.test/", Endpoint: "HTTPS://graph.example.test:8443"},
			AuthWorkloadIdentity, "https://login.example.test", "https://graph.example.test:8443"},
		{Config{Auth: "managed_identity", Endpoint: "http://127.0.0.1:8080"},
			AuthManagedIdentity, "https://login.microsoftonline.com", "http://127.0.0.1:8080"},
	}
	for _, tt := range tests {
		c := tt.cfg
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", tt.cfg, err)
			continue
		}
		if c.Auth != tt.auth || c.AuthorityHost != tt.authority || c.Endpoint != tt.ep {
			t.Errorf("got auth %s, %s, %s; want %s, %s, %s", c.Auth, c.AuthorityHost, c.Endpoint, tt.auth, tt.authority, tt.ep)
		}
		if c.Timeout != DefaultTimeout || c.ReportsRate != 5 || c.MaxAttempts != 6 || c.Scope() != tt.ep+"/.default" {
			t.Errorf("defaults: %+v", c)
		}
	}
}

func TestValidateErrorsNameKeys(t *testing.T) {
	sec := mustSecret(t, testSecret)
	tests := []struct {
		c    Config
		want string
	}{
		{Config{}, "auth: set client_secret"},
		{Config{TenantID: "t", ClientID: "c", ClientSecret: sec, Certificate: "a.pem"}, "client_secret and certificate: give one"},
		{Config{ClientSecret: sec}, "tenant_id: required with auth: client_secret"},
		{Config{TenantID: "t", Certificate: "a.pem"}, "client_id: required with auth: certificate"},
		{Config{Auth: "client_secret", TenantID: "t", ClientID: "c"}, "client_secret: required with auth: client_secret"},
		{Config{Auth: "certificate", TenantID: "t", ClientID: "c"}, "certificate: required with auth: certificate"},
		{Config{Auth: "managed_identity", ClientSecret: sec}, "client_secret: not used with auth: managed_identity"},
		{Config{Auth: "device_code"}, `auth: "device_code" is not`},
		{Config{Auth: "workload_identity", ManagedIdentityClientID: "x"}, "managed_identity_client_id: only used with auth: managed_identity"},
		{Config{Auth: "managed_identity", CertificatePassword: sec}, "certificate_password: only used with certificate"},
		{Config{TenantID: "contoso/../x", ClientID: "c", ClientSecret: sec}, `tenant_id: "contoso/../x" is not a tenant ID`},
		{Config{Auth: "managed_identity", Cloud: "germany"}, `cloud: "germany" is not public, usgovernment or china`},
		{Config{Auth: "managed_identity", Endpoint: "http://graph.example.test"}, "endpoint: \"http://graph.example.test\": https is required"},
		{Config{Auth: "managed_identity", AuthorityHost: "http://127.0.0.1:9"}, "authority_host: \"http://127.0.0.1:9\": https is required"},
		{Config{Auth: "managed_identity", Endpoint: "https://graph.microsoft.com/v1.0"}, "endpoint: \"https://graph.microsoft.com/v1.0\": give scheme and host only"},
		{Config{Auth: "managed_identity", Endpoint: "graph.microsoft.com"}, "endpoint: \"graph.microsoft.com\" is not an https:// URL"},
		{Config{Auth: "managed_identity", Endpoint: "https://u:p@graph.microsoft.com"}, "endpoint: \"https://u:p@graph.microsoft.com\": no user info"},
		{Config{Auth: "managed_identity", Timeout: -time.Second}, "timeout: must be positive"},
		{Config{Auth: "managed_identity", ReportsRate: -1}, "reports_rate: must be positive"},
		{Config{Auth: "managed_identity", MaxAttempts: 50}, "max_attempts: 50 is over the limit of 20"},
		{Config{Auth: "managed_identity", TLS: &tlsconfig.Config{MinVersion: "1.1"}}, "tls.min_version"},
	}
	for _, tt := range tests {
		c := tt.c
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %q", tt.c, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("error reveals the secret: %v", err)
		}
		if c.Auth != tt.c.Auth || c.Cloud != tt.c.Cloud || c.Timeout != tt.c.Timeout {
			t.Errorf("a failed Validate changed the config: %+v", c)
		}
	}
}

func TestConfigFromYAML(t *testing.T) {
	t.Setenv("PRIVTRAIL_TEST_GRAPH_SECRET", testSecret)
	data := []byte(`
tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
client_id: 3f2d9a71-6c4b-4e8d-a1f0-b2c3d4e5f607
client_secret: ${PRIVTRAIL_TEST_GRAPH_SECRET}
cloud: public
timeout: 30s
reports_rate: 4
tls:
  min_version: "1.3"
`)
	var c Config
	if err := yamlfile.Decode("graph.yaml", data, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ClientSecret.Value() != testSecret || c.Auth != AuthClientSecret || c.Timeout != 30*time.Second || c.ReportsRate != 4 || c.TLS.MinVersion != "1.3" {
		t.Fatalf("%+v", c)
	}
	out, err := yaml.Marshal(c)
	if err != nil || strings.Contains(string(out), testSecret) {
		t.Fatalf("a config dump shows the secret: %s %v", out, err)
	}
	if err := yamlfile.Decode("graph.yaml", []byte("tenant_id: t\nclient_secert: x\n"), &c); err == nil || !strings.Contains(err.Error(), "client_secert") {
		t.Fatalf("a misspelt key: %v", err)
	}
}

func TestKnownAuthority(t *testing.T) {
	for host, want := range map[string]bool{
		"https://login.microsoftonline.com": true,
		"https://login.microsoftonline.us":  true,
		"https://login.chinacloudapi.cn":    true,
		"https://127.0.0.1:8443":            false,
		"https://login.example.test":        false,
	} {
		if got := knownAuthority(host); got != want {
			t.Errorf("knownAuthority(%s) = %v", host, got)
		}
	}
}

func TestSampleYAML(t *testing.T) {
	t.Setenv("PRIVTRAIL_GRAPH_SECRET", testSecret)
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Graph Config `yaml:"graph"`
	}
	if err := yamlfile.Decode("sample.yaml", data, &doc); err != nil {
		t.Fatal(err)
	}
	if err := doc.Graph.Validate(); err != nil {
		t.Fatal(err)
	}
	if doc.Graph.Auth != AuthClientSecret || doc.Graph.ReportsRate != 5 || doc.Graph.MaxAttempts != 6 || doc.Graph.Timeout != time.Minute {
		t.Fatalf("%+v", doc.Graph)
	}
}
