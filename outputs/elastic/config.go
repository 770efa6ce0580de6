package elastic

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// Config is an `outputs:` entry's `elastic:` block.
type Config struct {
	// URLs of the Elasticsearch nodes (https://host:9200). Required unless
	// CloudID is set; never both.
	URLs []string `yaml:"urls"`
	// CloudID of an Elastic Cloud deployment, instead of URLs.
	CloudID string `yaml:"cloud_id"`
	// APIKey is the encoded API key (the "encoded" value Kibana shows,
	// base64 of id:key). It wins over Username/Password.
	APIKey   secret.Secret `yaml:"api_key"`
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`

	// Dataset, when empty (the default), sends each record to the dataset
	// Elastic's Azure integration uses for its category (azure.signinlogs,
	// azure.auditlogs, azure.activitylogs, azure.identity_protection,
	// azure.graphactivitylogs, azure.aadgraphactivitylogs,
	// azure.provisioning, azure.platformlogs; azure.aadds and
	// azure.directory have no integration counterpart), so Elastic's
	// prebuilt Entra ID rules see the records.
	// Set, every stream goes to this one dataset (e.g. privtrail.entra).
	Dataset string `yaml:"dataset"`
	// Namespace of the data streams; default "privtrail", which keeps
	// privtrail's data streams apart from the integration's own
	// (logs-azure.signinlogs-default) and lets privtrail's index template
	// win over the integration's for them.
	Namespace string `yaml:"namespace"`
	// InstallTemplates puts privtrail's component and index templates
	// before the first bulk request of each start; default true.
	InstallTemplates *bool `yaml:"install_templates"`
	// Timeout bounds one request; default 1m.
	Timeout time.Duration `yaml:"timeout"`

	TLS *tlsconfig.Config `yaml:"tls"`

	delivery.Config `yaml:",inline"`
}

const (
	defaultNamespace = "privtrail"
	defaultTimeout   = time.Minute
)

// Defaults fills in what was not set.
func (c *Config) Defaults() {
	if c.Namespace == "" {
		c.Namespace = defaultNamespace
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	c.Config.Defaults()
}

func (c *Config) installTemplates() bool { return c.InstallTemplates == nil || *c.InstallTemplates }

// Validate checks an `elastic:` block; the error starts with the key it is
// about. It does not change c.
func (c *Config) Validate() error {
	cfg := *c
	cfg.Defaults()
	switch {
	case len(cfg.URLs) == 0 && cfg.CloudID == "":
		return errors.New("urls: is required (or cloud_id)")
	case len(cfg.URLs) > 0 && cfg.CloudID != "":
		return errors.New("urls and cloud_id: give one, not both")
	}
	for i, u := range cfg.URLs {
		if err := checkURL(u); err != nil {
			return fmt.Errorf("urls[%d]: %v", i, err)
		}
	}
	switch {
	case cfg.Username != "" && !cfg.Password.IsSet():
		return errors.New("password: is required with username")
	case cfg.Password.IsSet() && cfg.Username == "":
		return errors.New("username: is required with password")
	}
	if cfg.Dataset != "" {
		if err := checkNamePart(cfg.Dataset); err != nil {
			return fmt.Errorf("dataset: %v", err)
		}
	}
	if err := checkNamePart(cfg.Namespace); err != nil {
		return fmt.Errorf("namespace: %v", err)
	}
	if cfg.Timeout < time.Second {
		return errors.New("timeout: must be at least 1s")
	}
	if cfg.TLS != nil {
		if err := cfg.TLS.Validate(); err != nil {
			return fmt.Errorf("tls.%w", err)
		}
	}
	return cfg.Config.Validate()
}

// checkURL accepts http(s)://host[:port][/path] without credentials:
// those belong in username/password or api_key, where they are secrets.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		// url's error repeats the input, which may hold a password.
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	case u.User != nil:
		return errors.New("credentials in the URL are not allowed: use username/password or api_key")
	case u.Host == "":
		return errors.New("no host")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("no query or fragment allowed")
	}
	return nil
}

// checkNamePart applies Elastic's data stream naming scheme to a dataset or
// namespace: lower case, at most 100 bytes, none of \ / * ? " < > | , # :
// space or -, and not starting with . _ or +.
func checkNamePart(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > 100:
		return fmt.Errorf("%q is longer than 100 bytes", s)
	case s != strings.ToLower(s):
		return fmt.Errorf("%q must be lower case", s)
	case strings.ContainsAny(s, "\\/*?\"<>|,#: -"):
		return fmt.Errorf("%q must not contain \\ / * ? \" < > | , # : space or -", s)
	case strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("%q must not contain control characters", s)
	case strings.HasPrefix(s, ".") || strings.HasPrefix(s, "_") || strings.HasPrefix(s, "+"):
		return fmt.Errorf("%q must not start with . _ or +", s)
	}
	return nil
}

// Naming maps a record to its data stream. The zero Dataset means the
// per-stream Azure datasets.
type Naming struct {
	Dataset   string
	Namespace string
}

// The datasets of Elastic's Azure integration (and privtrail's own, under
// the same azure. prefix so that logs-azure* finds them).
const (
	datasetSignIn           = "azure.signinlogs"
	datasetAudit            = "azure.auditlogs"
	datasetActivity         = "azure.activitylogs"
	datasetAADDS            = "azure.aadds"     // privtrail's: the integration has none
	datasetDirectory        = "azure.directory" // privtrail's own documents
	datasetIDProtection     = "azure.identity_protection"
	datasetGraphActivity    = "azure.graphactivitylogs"
	datasetAADGraphActivity = "azure.aadgraphactivitylogs"
	datasetProvisioning     = "azure.provisioning"
	datasetPlatform         = "azure.platformlogs"
)

// datasets are every dataset the per-stream naming writes, in the order
// of entra.Streams.
var datasets = []string{datasetSignIn, datasetAudit, datasetActivity, datasetAADDS, datasetDirectory,
	datasetIDProtection, datasetGraphActivity, datasetAADGraphActivity, datasetProvisioning, datasetPlatform}

// azureDataset is the dataset Elastic's Azure integration routes a record
// of this stream and diagnostic category to (its events pipeline decides
// by category): ADFS and Microsoft service principal sign-ins are sign-ins,
// every ID Protection category is identity_protection, Microsoft Graph and
// Azure AD Graph activity have a dataset each, ProvisioningLogs has its
// own, and every other category (and a record without a stream) is a
// platform log.
func azureDataset(s entra.Stream, category string) string {
	switch s {
	case entra.StreamSignIn:
		return datasetSignIn
	case entra.StreamAudit:
		return datasetAudit
	case entra.StreamActivity:
		return datasetActivity
	case entra.StreamAADDS:
		return datasetAADDS
	case entra.StreamDirectory:
		return datasetDirectory
	case entra.StreamRisk:
		return datasetIDProtection
	case entra.StreamGraphActivity:
		if strings.EqualFold(category, "AzureADGraphActivityLogs") {
			return datasetAADGraphActivity
		}
		return datasetGraphActivity
	case entra.StreamOther:
		if strings.EqualFold(category, "ProvisioningLogs") {
			return datasetProvisioning
		}
	}
	return datasetPlatform
}

// DatasetOf is the dataset a record of stream s and diagnostic category
// (Record.LogCategory) goes to.
func (n Naming) DatasetOf(s entra.Stream, category string) string {
	if n.Dataset != "" {
		return n.Dataset
	}
	return azureDataset(s, category)
}

// DataStream is "logs-<dataset>-<namespace>".
func (n Naming) DataStream(s entra.Stream, category string) string {
	return "logs-" + n.DatasetOf(s, category) + "-" + n.Namespace
}

// DataStreams lists every data stream the naming can produce, in the
// order of entra.Streams.
func (n Naming) DataStreams() []string {
	if n.Dataset != "" {
		return []string{"logs-" + n.Dataset + "-" + n.Namespace}
	}
	out := make([]string, 0, len(datasets))
	for _, d := range datasets {
		out = append(out, "logs-"+d+"-"+n.Namespace)
	}
	return out
}

func (c *Config) naming() Naming { return Naming{Dataset: c.Dataset, Namespace: c.Namespace} }
