package elastic

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/privtrail/privtrail/internal/delivery"
)

// writePrivileges are the index privileges the output needs on its data
// streams: create_doc for the bulk create action, auto_configure to
// create a data stream on its first document.
var writePrivileges = []string{"create_doc", "auto_configure"}

// Check tests cfg's cluster without writing anything (privtrail check):
// GET / with the configured credentials (version and cluster name; 401
// means the credentials are refused), then POST
// /_security/user/_has_privileges for create_doc and auto_configure on
// every data stream the output writes (and manage_index_templates when it
// installs its templates). A cluster without security says so and passes.
// It returns what was verified; neither the result nor the error holds a
// secret.
func Check(ctx context.Context, cfg Config, log *slog.Logger) (string, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	s, err := newSender("check", &cfg, delivery.Deps{Log: log})
	if err != nil {
		return "", err
	}
	defer s.Close()

	res, err := s.es.Info(s.es.Info.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("elasticsearch: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	var out string
	switch code := res.StatusCode; {
	case code >= 200 && code <= 299:
		var p fastjson.Parser
		out = "Elasticsearch (unreadable cluster info)"
		if v, err := p.ParseBytes(body); err == nil {
			out = fmt.Sprintf("Elasticsearch %s cluster %s", v.GetStringBytes("version", "number"), v.GetStringBytes("cluster_name"))
		}
	case code == http.StatusUnauthorized:
		return "", fmt.Errorf("credentials refused (401): %s", credentialsHint(&cfg))
	case code == http.StatusForbidden:
		// A write-only API key may not read cluster info: the privileges
		// below still tell whether it may write.
		out = "Elasticsearch (cluster info refused: no monitor privilege)"
	default:
		return "", requestError("GET /", res, body)
	}

	pattern := "logs-" + cmp.Or(cfg.Dataset, "azure.*") + "-" + cfg.Namespace
	req := map[string]any{"index": []map[string]any{{"names": cfg.naming().DataStreams(), "privileges": writePrivileges}}}
	if cfg.installTemplates() {
		req["cluster"] = []string{"manage_index_templates"}
	}
	reqBody, _ := json.Marshal(req)
	res, err = s.es.Security.HasPrivileges(bytes.NewReader(reqBody), s.es.Security.HasPrivileges.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("%s, but _has_privileges: %w", out, err)
	}
	body, _ = io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	switch code := res.StatusCode; {
	case code == http.StatusUnauthorized:
		return "", fmt.Errorf("credentials refused (401): %s", credentialsHint(&cfg))
	case securityDisabled(code, body):
		return out + ", security disabled (no credentials or privileges to check)", nil
	case code < 200 || code > 299:
		return "", fmt.Errorf("%s, but %w", out, requestError("POST /_security/user/_has_privileges", res, body))
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return "", fmt.Errorf("%s, but _has_privileges answered unreadable JSON: %v", out, err)
	}
	who := string(v.GetStringBytes("username"))
	if missing := missingPrivileges(v, cfg.naming().DataStreams(), pattern); missing != "" {
		return "", fmt.Errorf("credentials accepted (user %s), but they may not write: missing %s (grant create_doc and auto_configure on %s)",
			who, missing, pattern)
	}
	out += fmt.Sprintf(", credentials accepted (user %s), may write %s", who, pattern)
	if cfg.installTemplates() && !v.GetBool("cluster", "manage_index_templates") {
		out += "; no manage_index_templates: install the templates by hand (README)"
	}
	return out, nil
}

// missingPrivileges lists the write privileges a _has_privileges answer
// denies, per data stream ("create_doc/auto_configure on a; auto_configure
// on b"), or on pattern when every data stream lacks the same; "" when
// none is missing.
func missingPrivileges(v *fastjson.Value, dataStreams []string, pattern string) string {
	var lacks []string // per data stream, privileges joined with /
	same := true
	for i, ds := range dataStreams {
		var privs []string
		for _, p := range writePrivileges {
			if !v.GetBool("index", ds, p) {
				privs = append(privs, p)
			}
		}
		lacks = append(lacks, strings.Join(privs, "/"))
		same = same && lacks[i] == lacks[0]
	}
	if same && len(dataStreams) > 1 {
		if lacks[0] == "" {
			return ""
		}
		return lacks[0] + " on " + pattern
	}
	var parts []string
	for i, l := range lacks {
		if l != "" {
			parts = append(parts, l+" on "+dataStreams[i])
		}
	}
	return strings.Join(parts, "; ")
}

// credentialsHint says which configured credentials to look at.
func credentialsHint(cfg *Config) string {
	switch {
	case cfg.APIKey.IsSet():
		return "check api_key (the encoded value)"
	case cfg.Username != "":
		return "check username/password"
	}
	return "the cluster requires credentials: set api_key or username/password"
}

// securityDisabled reports whether a _has_privileges answer says that
// security is off (Elasticsearch answers 500 "Security must be explicitly
// enabled…", older versions 400; a build without it 404 or 400 "no handler
// found for uri").
func securityDisabled(code int, body []byte) bool {
	if code != http.StatusBadRequest && code != http.StatusNotFound && code != http.StatusInternalServerError {
		return false
	}
	r := strings.ToLower(errorReason(body))
	return strings.Contains(r, "security") && (strings.Contains(r, "not enabled") || strings.Contains(r, "must be explicitly enabled") || strings.Contains(r, "disabled")) ||
		code != http.StatusInternalServerError && strings.Contains(r, "no handler")
}
