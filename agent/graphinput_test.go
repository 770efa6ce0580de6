package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
)

// An agent configured with a graph input and the top-level graph block
// reads sign-ins and audits from Graph (the fake), tags and forwards them.
func TestAgentReadsGraphLogs(t *testing.T) {
	srv := graphtest.New(t)
	now := time.Now()
	for i := range 30 {
		srv.Add(graphtest.SignIns, graphtest.SignIn(fmt.Sprint("s-", i), now.Add(-45*time.Minute+time.Duration(i)*time.Minute), "adm_alice@contoso.example"))
	}
	for i := range 5 {
		srv.Add(graphtest.DirectoryAudits, graphtest.DirectoryAudit(fmt.Sprint("a-", i), now.Add(-50*time.Minute+time.Duration(i)*time.Minute), "Update user"))
	}
	cfg, dir := graphConfig(t, srv, `http: {listen: "127.0.0.1:0"}
inputs:
  - name: entra
    graph: {streams: [signins, audits], backfill: 1h}
outputs:
  - name: archive
    file: {path: out.jsonl}
`)
	a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.Serve = true
	addr := make(chan string, 1)
	a.Listening = func(s string) { addr <- s }
	stop := runAgent(t, a)
	waitUntil(t, "not every sign-in and audit decoded", func() bool {
		return a.Stats().Stream("signin") >= 30 && a.Stats().Stream("audit") >= 5
	})
	// The input read through the agent's shared client: its counters are
	// the agent's.
	_, body := get(t, "http://"+<-addr+"/metrics")
	for _, w := range []string{"privtrail_graph_requests_total 2", "privtrail_graph_throttled_total 0",
		"privtrail_graph_token_refreshes_total 1", `privtrail_graph_polls_total{input="entra"} 2`,
		`privtrail_graph_duplicates_total{input="entra"} 0`} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	stop()
	_, lines := alerts(t, filepath.Join(dir, "out.jsonl"), "")
	if lines != 35 {
		t.Errorf("%d records forwarded, want 35", lines)
	}
}

// The Graph input's ID Protection streams: a risk detection and a risky-
// user state of an admin fire signin.identity_protection_risk, a
// dismissed state does not, and an item whose members have types Graph
// does not document is forwarded, not dead-lettered (and judged on what
// can be read of it: no state, no hit).
func TestAgentReadsIDProtection(t *testing.T) {
	srv := graphtest.New(t)
	now := time.Now()
	srv.Add(graphtest.RiskDetections, graphtest.RiskDetection("d-1", now.Add(-40*time.Minute), "adm_alice@contoso.example"))
	srv.Add(graphtest.RiskyUsers,
		graphtest.RiskyUser("u-alice", now.Add(-35*time.Minute), "adm_alice@contoso.example", "atRisk"),
		graphtest.RiskyUser("u-carol", now.Add(-34*time.Minute), "carol@contoso.example", "atRisk"),
		graphtest.RiskyUser("u-bob", now.Add(-33*time.Minute), "adm_bob@contoso.example", "dismissed"),
		// A riskyUser whose state and level are not strings.
		map[string]any{"id": "u-odd", "userPrincipalName": "adm_alice@contoso.example", "riskLastUpdatedDateTime": graphtest.Time(now.Add(-30 * time.Minute)),
			"riskState": map[string]any{"value": "atRisk"}, "riskLevel": []any{"high"}, "isDeleted": "no"})
	cfg, dir := graphConfig(t, srv, `inputs:
  - name: entra
    graph: {streams: [risk_detections, risky_users], backfill: 1h}
outputs:
  - name: archive
    file: {path: out.jsonl}
context:
  privilege: {role_map: rolemap.yaml}
`)
	if err := os.WriteFile(filepath.Join(dir, "rolemap.yaml"), []byte(`users:
  - {id: u-alice, upn: adm_alice@contoso.example, roles: [{name: Global Administrator}]}
  - {id: u-bob, upn: adm_bob@contoso.example, roles: [{name: Security Administrator}]}
  - {id: u-carol, upn: carol@contoso.example, roles: [{name: Reports Reader}]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	stop := runAgent(t, a)
	waitUntil(t, "not every risk record forwarded", func() bool {
		return a.Stats().Stream("risk")+a.Stats().Stream("other") >= 5 && a.Stats().Committed.Load() >= 2
	})
	stop()
	if bad := a.Stats().Bad.Load(); bad != 0 {
		t.Errorf("%d records dead-lettered", bad)
	}
	hits, lines := alerts(t, filepath.Join(dir, "out.jsonl"), "signin.identity_protection_risk")
	if lines != 5 {
		t.Errorf("%d records forwarded, want 5", lines)
	}
	slices.Sort(hits)
	if want := []string{"d-1", "u-alice"}; !slices.Equal(hits, want) {
		t.Errorf("identity_protection_risk on %v, want %v (not the dismissed admin, not the unprivileged user)", hits, want)
	}
	data, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `{"id":"u-odd","isDeleted":"no",`) {
		t.Errorf("the odd riskyUser was not forwarded:\n%s", data)
	}
	if got := a.Stats().Categories(); got["UserRiskEvents"] != 1 || got["RiskyUsers"] != 4 {
		t.Errorf("categories %v", got)
	}
}

// A dirscan input scans the role map's privileged users through Graph and
// the shipped directory monitors judge the records it emits.
func TestAgentScansTheDirectory(t *testing.T) {
	srv := graphtest.New(t)
	now := time.Now()
	srv.Add(graphtest.Users,
		graphtest.User("u-alice", "adm_alice@contoso.example", now.Add(-2*24*time.Hour)),
		graphtest.User("u-marcus", "marcus.webb@contoso.example", now.Add(-45*24*time.Hour)),
		graphtest.User("u-carol", "carol@contoso.example", now.Add(-90*24*time.Hour)))
	srv.Add(graphtest.UserRegistrationDetails,
		graphtest.UserRegistration("u-alice", "adm_alice@contoso.example", true, "fido2"),
		graphtest.UserRegistration("u-marcus", "marcus.webb@contoso.example", true))
	cfg, dir := graphConfig(t, srv, `inputs:
  - name: directory
    dirscan: {}
outputs:
  - name: archive
    file: {path: out.jsonl}
context:
  privilege: {role_map: rolemap.yaml}
`)
	if err := os.WriteFile(filepath.Join(dir, "rolemap.yaml"), []byte(`users:
  - {id: u-alice, upn: adm_alice@contoso.example, roles: [{name: Global Administrator}]}
  - {id: u-marcus, upn: marcus.webb@contoso.example, roles: [{name: Exchange Administrator}]}
  - {id: u-carol, upn: carol@contoso.example, roles: [{name: Reports Reader}]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	stop := runAgent(t, a)
	waitUntil(t, "no scan committed", func() bool { return a.Stats().Committed.Load() >= 1 })
	stop()
	out := filepath.Join(dir, "out.jsonl")
	naming, lines := alerts(t, out, "directory.naming_policy")
	unused, _ := alerts(t, out, "review.unused_privileged_account")
	mfa, _ := alerts(t, out, "directory.mfa_not_registered")
	if lines != 2 {
		t.Errorf("%d directory records, want 2 (the privileged users)", lines)
	}
	if len(naming) != 1 || len(unused) != 1 || len(mfa) != 1 || !strings.Contains(naming[0], "u-marcus") || naming[0] != unused[0] || mfa[0] != naming[0] {
		t.Errorf("naming %v, unused %v, mfa %v; want marcus.webb's record in each", naming, unused, mfa)
	}
}

// With context.privilege.graph, the role map comes from Graph: a user
// Graph says holds Global Administrator is tagged privileged, and the map
// read is saved under data_dir.
func TestAgentRoleMapFromGraph(t *testing.T) {
	srv := graphtest.New(t)
	const ga = "62e90394-69f5-4237-9190-012177145e10"
	srv.Add(graphtest.RoleDefinitions, graphtest.RoleDefinition(ga, "Global Administrator"))
	srv.Add(graphtest.RoleAssignments, graphtest.RoleAssignment("ra-1", "u-alice", ga))
	srv.Add(graphtest.Users, graphtest.User("u-alice", "adm_alice@contoso.example", time.Time{}))
	cfg, dir := graphConfig(t, srv, `inputs:
  - name: exports
    file: {paths: [logs], watch: 20ms}
outputs:
  - name: archive
    file: {path: out.jsonl}
context:
  privilege: {graph: {interval: 1h}}
`)
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o700); err != nil {
		t.Fatal(err)
	}
	a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	stop := runAgent(t, a)
	saved := filepath.Join(dir, "data", "rolemap-graph.json")
	waitUntil(t, "no role map read from Graph and saved", func() bool {
		_, err := os.Stat(saved)
		return err == nil
	})
	line := `{"id":"s-1","createdDateTime":"2026-03-02T08:00:00Z","userId":"u-alice","userPrincipalName":"adm_alice@contoso.example","status":{"errorCode":50053,"failureReason":"Account is locked"},"isInteractive":true,"ipAddress":"203.0.113.9"}` + "\n"
	if err := os.WriteFile(filepath.Join(logs, "signins.jsonl"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the sign-in not delivered", func() bool { return a.Stats().Committed.Load() >= 1 })
	stop()
	hits, _ := alerts(t, filepath.Join(dir, "out.jsonl"), "signin.lockout")
	if len(hits) != 1 {
		t.Errorf("lockout hits %v: adm_alice was not tagged privileged from Graph's role assignments", hits)
	}
}

// graphConfig writes and loads an agent config whose top-level graph
// block is the fake's app registration, followed by rest (inputs,
// outputs, context: relative paths are under the returned directory).
func graphConfig(t *testing.T, srv *graphtest.Server, rest string) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("PRIVTRAIL_TEST_GRAPH_SECRET", srv.ClientSecret)
	pipeline, _ := filepath.Abs("../pipelines/privileged-accounts.yaml")
	text := fmt.Sprintf(`data_dir: data
graph:
  tenant_id: %s
  client_id: %s
  client_secret: ${PRIVTRAIL_TEST_GRAPH_SECRET}
  authority_host: %s
  endpoint: %s
  tls: {ca_file: %s}
pipelines: [%s]
`, srv.TenantID, srv.ClientID, srv.URL(), srv.URL(), srv.CAFile(), pipeline) + rest
	path := filepath.Join(dir, "privtrail.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}

// runAgent starts a in the background; the returned func stops it and
// fails the test if Run did.
func runAgent(t *testing.T, a *Agent) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// waitUntil polls cond for up to 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
