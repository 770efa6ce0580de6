package elastic

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

const (
	checkUser     = "privtrail"
	checkPassword = "es-s3cr3t-passw0rd"
)

// checkES is fakeES plus what privtrail check asks: GET / may be refused
// (a write-only API key), and POST /_security/user/_has_privileges
// answers from grants as Elasticsearch does, or as a cluster without
// security does.
type checkES struct {
	*fakeES
	infoStatus  int // 0: as fakeES
	securityOff bool
	// grants are index privileges by index pattern; cluster the cluster
	// privileges held.
	grants  map[string][]string
	cluster []string
	asked   []string // the cluster privileges of the last request
}

func newCheckES(t testing.TB) *checkES {
	f := &fakeES{t: t, templates: map[string]string{}, docs: map[string]string{}}
	f.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(checkUser+":"+checkPassword))
	return &checkES{fakeES: f,
		grants:  map[string][]string{"logs-azure.*-privtrail": {"create_doc", "auto_configure"}},
		cluster: []string{"monitor", "manage_index_templates"}}
}

func (c *checkES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	authed := c.auth == "" || sameAuth(r.Header.Get("Authorization"), c.auth)
	switch {
	case authed && r.Method == http.MethodGet && r.URL.Path == "/" && c.infoStatus != 0:
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		writeErr(w, c.infoStatus, "security_exception", "action [cluster:monitor/main] is unauthorized for API key id [k1]")
	case authed && r.Method == http.MethodPost && r.URL.Path == "/_security/user/_has_privileges":
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		if c.securityOff {
			writeErr(w, 500, "exception", "Security must be explicitly enabled when using a [basic] license. Enable security by setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node.")
			return
		}
		c.hasPrivileges(w, r)
	default:
		c.fakeES.ServeHTTP(w, r)
	}
}

func (c *checkES) hasPrivileges(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Cluster []string `json:"cluster"`
		Index   []struct {
			Names      []string `json:"names"`
			Privileges []string `json:"privileges"`
		} `json:"index"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, 400, "parse_exception", err.Error())
		return
	}
	c.mu.Lock()
	c.asked = req.Cluster
	c.mu.Unlock()
	all := true
	cluster := map[string]bool{}
	for _, p := range req.Cluster {
		cluster[p] = slices.Contains(c.cluster, p)
		all = all && cluster[p]
	}
	index := map[string]map[string]bool{}
	for _, ix := range req.Index {
		for _, name := range ix.Names {
			index[name] = map[string]bool{}
			for _, p := range ix.Privileges {
				held := false
				for pattern, privs := range c.grants {
					if ok, _ := path.Match(pattern, name); ok && slices.Contains(privs, p) {
						held = true
					}
				}
				index[name][p] = held
				all = all && held
			}
		}
	}
	json.NewEncoder(w).Encode(map[string]any{"username": checkUser, "has_all_requested": all,
		"cluster": cluster, "index": index, "application": map[string]any{}})
}

// quiet drops the output's log lines (plain http is warned about).
var quiet = slog.New(slog.DiscardHandler)

func checkConfig(t testing.TB, url string) Config {
	pw, err := secret.Resolve(checkPassword)
	if err != nil {
		t.Fatal(err)
	}
	return Config{URLs: []string{url}, Username: checkUser, Password: pw}
}

func TestCheck(t *testing.T) {
	const ok = "Elasticsearch 8.19.7 cluster privtrail-test, credentials accepted (user privtrail), may write logs-azure.*-privtrail"
	tests := []struct {
		name  string
		setup func(es *checkES, c *Config)
		want  string // the result, or a part of the error when fail
		fail  bool
		// asked are the cluster privileges _has_privileges must be asked.
		asked []string
	}{
		{name: "all privileges", want: ok, asked: []string{"manage_index_templates"}},
		{name: "wrong password is 401",
			setup: func(es *checkES, c *Config) { c.Password, _ = secret.Resolve("not-the-password") },
			want:  "credentials refused (401): check username/password", fail: true},
		{name: "wrong api key is 401",
			setup: func(es *checkES, c *Config) {
				c.Username, c.Password = "", secret.Secret{}
				c.APIKey, _ = secret.Resolve("aWQ6a2V5")
			},
			want: "credentials refused (401): check api_key", fail: true},
		{name: "no credentials on a secured cluster",
			setup: func(es *checkES, c *Config) { c.Username, c.Password = "", secret.Secret{} },
			want:  "credentials refused (401): the cluster requires credentials: set api_key or username/password", fail: true},
		{name: "security disabled",
			setup: func(es *checkES, c *Config) { es.securityOff = true; es.auth = "" },
			want:  "Elasticsearch 8.19.7 cluster privtrail-test, security disabled (no credentials or privileges to check)"},
		{name: "missing auto_configure",
			setup: func(es *checkES, c *Config) {
				es.grants = map[string][]string{"logs-azure.*-privtrail": {"create_doc"}}
			},
			want: "credentials accepted (user privtrail), but they may not write: missing auto_configure on logs-azure.*-privtrail (grant create_doc and auto_configure on logs-azure.*-privtrail)", fail: true},
		{name: "grants for some data streams only",
			setup: func(es *checkES, c *Config) {
				es.grants = map[string][]string{"logs-azure.signinlogs-*": {"create_doc", "auto_configure"}, "logs-azure.auditlogs-*": {"create_doc"}}
			},
			want: "missing auto_configure on logs-azure.auditlogs-privtrail; create_doc/auto_configure on logs-azure.activitylogs-privtrail; create_doc/auto_configure on logs-azure.aadds-privtrail; create_doc/auto_configure on logs-azure.directory-privtrail; " +
				"create_doc/auto_configure on logs-azure.identity_protection-privtrail; create_doc/auto_configure on logs-azure.graphactivitylogs-privtrail; " +
				"create_doc/auto_configure on logs-azure.aadgraphactivitylogs-privtrail; create_doc/auto_configure on logs-azure.provisioning-privtrail; " +
				"create_doc/auto_configure on logs-azure.platformlogs-privtrail (grant", fail: true},
		{name: "grants for another namespace",
			setup: func(es *checkES, c *Config) { c.Namespace = "prod" },
			want:  "may not write: missing create_doc/auto_configure on logs-azure.*-prod (grant create_doc and auto_configure on logs-azure.*-prod)", fail: true},
		{name: "one dataset",
			setup: func(es *checkES, c *Config) {
				c.Dataset, c.Namespace = "privtrail.entra", "prod"
				es.grants = map[string][]string{"logs-privtrail.*": {"create_doc", "auto_configure"}}
			},
			want: "Elasticsearch 8.19.7 cluster privtrail-test, credentials accepted (user privtrail), may write logs-privtrail.entra-prod"},
		{name: "no manage_index_templates",
			setup: func(es *checkES, c *Config) { es.cluster = nil },
			want:  ok + "; no manage_index_templates: install the templates by hand (README)", asked: []string{"manage_index_templates"}},
		{name: "templates not installed: not asked",
			setup: func(es *checkES, c *Config) { es.cluster = nil; off := false; c.InstallTemplates = &off },
			want:  ok},
		{name: "write-only key may not read cluster info",
			setup: func(es *checkES, c *Config) { es.infoStatus = 403 },
			want:  "Elasticsearch (cluster info refused: no monitor privilege), credentials accepted (user privtrail), may write logs-azure.*-privtrail"},
		{name: "not Elasticsearch",
			setup: func(es *checkES, c *Config) { es.noProduct = true },
			want:  "the server is not Elasticsearch", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := newCheckES(t)
			srv := httptest.NewServer(es)
			defer srv.Close()
			cfg := checkConfig(t, srv.URL)
			if tt.setup != nil {
				tt.setup(es, &cfg)
			}
			got, err := Check(context.Background(), cfg, quiet)
			if tt.fail {
				if err == nil {
					t.Fatalf("passed (%q), want an error containing %q", got, tt.want)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %q\nwant it to contain %q", err, tt.want)
				}
				noPassword(t, err.Error())
			} else {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if got != tt.want {
					t.Errorf("got  %q\nwant %q", got, tt.want)
				}
			}
			noPassword(t, got)
			order, reqs := es.snapshot()
			if len(order) != 0 || len(es.templates) != 0 {
				t.Errorf("the check wrote: documents %v, templates %v", order, es.templates)
			}
			for _, r := range reqs {
				if !strings.HasPrefix(r, "GET /") && r != "POST /_security/user/_has_privileges" {
					t.Errorf("unexpected request %s", r)
				}
			}
			if tt.asked != nil && !slices.Equal(es.asked, tt.asked) {
				t.Errorf("cluster privileges asked %v, want %v", es.asked, tt.asked)
			}
			if tt.name == "templates not installed: not asked" && len(es.asked) != 0 {
				t.Errorf("cluster privileges asked %v without install_templates", es.asked)
			}
		})
	}
}

func noPassword(t testing.TB, s string) {
	t.Helper()
	if strings.Contains(s, checkPassword) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(checkUser+":"+checkPassword))) {
		t.Errorf("the password appears in %q", s)
	}
}

// Verification is on: a cluster whose certificate is not trusted fails
// the check; with its CA in tls.ca_file it passes.
func TestCheckTLS(t *testing.T) {
	es := newCheckES(t)
	srv := httptest.NewUnstartedServer(es)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()

	cfg := checkConfig(t, srv.URL)
	_, err := Check(context.Background(), cfg, quiet)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v, want a certificate error", err)
	}
	noPassword(t, err.Error())

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.TLS = &tlsconfig.Config{CAFile: ca}
	if got, err := Check(context.Background(), cfg, quiet); err != nil || !strings.HasPrefix(got, "Elasticsearch 8.19.7") {
		t.Fatalf("with ca_file: %q, %v", got, err)
	}
}

func TestCheckClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Check(ctx, checkConfig(t, fmt.Sprintf("http://%s", addr)), quiet)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("closed port: %v", err)
	}
	noPassword(t, err.Error())
}

// The answers of clusters without security to _has_privileges, and
// answers that are not about security.
func TestSecurityDisabled(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		off    bool
	}{
		{500, `{"error":{"root_cause":[{"type":"exception","reason":"Security must be explicitly enabled when using a [basic] license. Enable security by setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node."}],"type":"exception","reason":"Security must be explicitly enabled when using a [basic] license. Enable security by setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node."},"status":500}`, true},
		{400, `{"error":{"type":"illegal_state_exception","reason":"security is not enabled"},"status":400}`, true},
		{404, `{"error":"no handler found for uri [/_security/user/_has_privileges] and method [POST]","status":404}`, true},
		{400, `{"error":"no handler found for uri [/_security/user/_has_privileges] and method [POST]","status":400}`, true},
		{500, `{"error":{"type":"null_pointer_exception","reason":"oops"},"status":500}`, false},
		{500, `{"error":"no handler found","status":500}`, false},
		{403, `{"error":{"type":"security_exception","reason":"security is disabled for this user"},"status":403}`, false},
		{400, `{"error":{"type":"parse_exception","reason":"unknown privilege"},"status":400}`, false},
	} {
		if got := securityDisabled(tt.status, []byte(tt.body)); got != tt.off {
			t.Errorf("%d %s: security disabled %v, want %v", tt.status, tt.body, got, tt.off)
		}
	}
}
