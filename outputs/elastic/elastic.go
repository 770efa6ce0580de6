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
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/privtrail/privtrail/internal/delivery"
)

// New builds the Elasticsearch output named name: its buffer is
// <DataDir>/buffers/<name>/. It does not contact Elasticsearch; the
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
	addrs := cfg.URLs
	if cfg.CloudID != "" {
		u, err := cloudURL(cfg.CloudID)
		if err != nil {
			return nil, fmt.Errorf("cloud_id: %w", err)
		}
		addrs = []string{u}
	}
	opts := []elastictransport.Option{
		elastictransport.WithTransport(&productCheck{next: tr}),
		elastictransport.WithDisableRetry(), // delivery retries, with back-off and Retry-After
	}
	var urls []*url.URL
	for _, a := range addrs {
		u, err := url.Parse(strings.TrimRight(a, "/"))
		if err != nil {
			return nil, fmt.Errorf("url %q: %w", a, err)
		}
		urls = append(urls, u)
	}
	opts = append(opts, elastictransport.WithURLs(urls...))
	if key := cfg.APIKey.Value(); key != "" {
		opts = append(opts, elastictransport.WithAPIKey(key))
	} else if cfg.Username != "" {
		opts = append(opts, elastictransport.WithBasicAuth(cfg.Username, cfg.Password.Value()))
	}
	client, err := elastictransport.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	es := esapi.New(client)
	s := &sender{es: es, tr: tr, log: log, name: name, timeout: cfg.Timeout, now: time.Now}
	if cfg.installTemplates() {
		if s.templates, err = templatesFor(cfg.naming()); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// The low-level client (esapi over elastictransport) is what privtrail
// uses of go-elasticsearch; the module's root package would add its typed
// API, 860 packages that were half of a cold build's compile time. These
// two are what the root package added that privtrail needs.

// productCheck refuses answers that do not come from Elasticsearch, as
// go-elasticsearch's root client does: a proxy or another product
// answering 2xx to a bulk request would swallow records. It checks until
// the first genuine answer.
type productCheck struct {
	next http.RoundTripper
	ok   atomic.Bool
}

var errNotElasticsearch = errors.New("the server is not Elasticsearch (no X-Elastic-Product header): a proxy or another product answered")

func (p *productCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := p.next.RoundTrip(req)
	if err != nil || p.ok.Load() || res.StatusCode < 200 || res.StatusCode > 299 {
		return res, err
	}
	if res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		res.Body.Close()
		return nil, errNotElasticsearch
	}
	p.ok.Store(true)
	return res, nil
}

// cloudURL is the Elasticsearch endpoint of an Elastic Cloud ID:
// "name:base64(host$es-id$kibana-id)" is https://es-id.host.
func cloudURL(id string) (string, error) {
	_, enc, ok := strings.Cut(id, ":")
	if !ok {
		return "", errors.New("want name:base64 as Elastic Cloud shows it")
	}
	data, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("not base64: %w", err)
	}
	parts := strings.Split(string(data), "$")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", errors.New("the decoded value is not host$es-id$kibana-id")
	}
	return "https://" + parts[1] + "." + parts[0], nil
}

// NewSender is the output's Sender alone (Bulk API requests to cfg's
// nodes), without the disk buffer: what internal/outputbench measures
// the whole output against.
func NewSender(name string, cfg Config, deps delivery.Deps) (delivery.Sender, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newSender(name, &cfg, deps)
}
