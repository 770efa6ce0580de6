// Package elastic sends records to Elasticsearch data streams as ECS
// documents, with the Entra fields under the names Elastic's Azure
// integration uses, so that Elastic's prebuilt Entra ID detection rules
// and dashboards work on them. See README.md.
//
// The package supplies the delivery.Encoder (encode.go, pure) and the
// delivery.Sender (client.go, the Bulk API); internal/delivery does the disk
// buffer, batching, retries and dead letters.
package elastic

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/privtrail/privtrail/internal/delivery"
)

// New builds the Elasticsearch output named name: its buffer is
// <DataDir>/buffers/<name>.db. It does not contact Elasticsearch; the
// first batch does (cluster info, templates, then the bulk request).
func New(name string, cfg Config, deps delivery.Deps) (*delivery.Output, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := newSender(name, &cfg, deps)
	if err != nil {
		return nil, err
	}
	return delivery.New(name, cfg.Config, deps, NewEncoder(cfg.naming()), s)
}

func newSender(name string, cfg *Config, deps delivery.Deps) (*sender, error) {
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	tlsCfg, err := cfg.TLS.Build("output "+name, log)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.MaxIdleConnsPerHost = 4
	tr.ResponseHeaderTimeout = cfg.Timeout

	hasCreds := cfg.APIKey.IsSet() || cfg.Username != ""
	for _, u := range cfg.URLs {
		if pu, err := url.Parse(u); err == nil && pu.Scheme == "http" && hasCreds {
			log.Warn("elasticsearch URL is plain http: credentials and records travel unencrypted", "output", name, "url", u)
		}
	}
	esCfg := elasticsearch.Config{
		Addresses:    cfg.URLs,
		CloudID:      cfg.CloudID,
		APIKey:       cfg.APIKey.Value(),
		Transport:    tr,
		DisableRetry: true, // delivery retries, with back-off and Retry-After
	}
	if cfg.APIKey.Value() == "" {
		esCfg.Username, esCfg.Password = cfg.Username, cfg.Password.Value()
	}
	es, err := elasticsearch.NewClient(esCfg)
	if err != nil {
		return nil, err
	}
	s := &sender{es: es, tr: tr, log: log, name: name, timeout: cfg.Timeout, now: time.Now}
	if cfg.installTemplates() {
		if s.templates, err = templatesFor(cfg.naming()); err != nil {
			return nil, err
		}
	}
	return s, nil
}
