// Package graphtest is a fake Microsoft Graph and Entra ID token service
// for tests: one httptest TLS server that signs the app in the way MSAL
// (and so azidentity) expects, and serves the Graph collections privtrail
// reads with Graph's documented behaviour — server-side paging with
// opaque $skiptoken nextLinks, $top limits, newest-first logs (risk
// detections and risky users in no time order, as Graph documents none),
// the $filter forms the log poller uses, Graph's error JSON — plus fault injection
// (429/503 with Retry-After, expired or revoked tokens, bodies cut
// half-way, 403 for a missing permission) and request accounting.
//
//	srv := graphtest.New(t)
//	srv.Add(graphtest.SignIns, graphtest.SignIn("id-1", when, "adm@contoso.example"))
//	c, err := graphapi.New(srv.Config(), log)          // real azidentity, real TLS
//	err = c.Pages(ctx, "/v1.0/auditLogs/signIns", nil, fn)
//	srv.Requests("/v1.0/auditLogs/signIns")          // 1
//
// Collections are named by their path under the version, without a
// leading slash (the constants below, and GroupMembers). Documents may be
// added at any time; a query sees the documents present when its first
// page was served, and its nextLinks page through that snapshot.
package graphtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/secret"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// The collections the fake serves, under /v1.0/ and /beta/.
const (
	SignIns                         = "auditLogs/signIns"
	DirectoryAudits                 = "auditLogs/directoryAudits"
	RoleAssignments                 = "roleManagement/directory/roleAssignments"
	RoleDefinitions                 = "roleManagement/directory/roleDefinitions"
	RoleEligibilitySchedules        = "roleManagement/directory/roleEligibilitySchedules"
	RoleAssignmentScheduleInstances = "roleManagement/directory/roleAssignmentScheduleInstances"
	Users                           = "users"
	UserRegistrationDetails         = "reports/authenticationMethods/userRegistrationDetails"
	RiskDetections                  = "identityProtection/riskDetections"
	RiskyUsers                      = "identityProtection/riskyUsers"
)

// GroupMembers is the collection of a group's transitive members. Adding
// to it (even nothing) makes the group exist; an unknown group is a 404.
func GroupMembers(groupID string) string { return "groups/" + groupID + "/transitiveMembers" }

// DefaultTokenLifetime is how long minted access tokens last, as Entra's
// app-only tokens do by default (60 to 90 minutes).
const DefaultTokenLifetime = time.Hour

// Server is the fake. Its exported fields are the app it knows; change
// them before the first token request.
type Server struct {
	TenantID     string
	ClientID     string
	ClientSecret string

	t      testing.TB
	ts     *httptest.Server
	caFile string

	mu            sync.Mutex
	tokenLifetime time.Duration
	tokens        map[string]*issued
	tokenLog      []TokenRequest
	certs         [][]byte        // DER of the client certificates accepted
	federated     map[string]bool // client assertions accepted as they are
	miHeader      string          // X-IDENTITY-HEADER of the managed identity endpoint

	collections map[string]*collection // by lower-case key
	pageSize    map[string]int         // default page size overrides, by lower-case key
	snapshots   map[string]*snapshot   // by skiptoken id
	fail        map[string]*failure    // by lower-case URL path
	breaks      map[string]int         // lower-case URL path → pages until the cut
	deny        map[string]string      // lower-case URL path → error code
	tamper      func(string) string
	clock       func() time.Time // Graph's clock for the Date header; nil: net/http's (the host's)
	log         []Request
}

type issued struct {
	IssuedToken
	revokedClaims string // non-empty: refused with this claims challenge
}

type failure struct {
	status     int
	retryAfter string
	n          int
}

// Request is one Graph request the fake answered.
type Request struct {
	Time     time.Time
	Method   string
	Path     string // URL path as sent
	RawQuery string // query as sent
	Status   int
	Broken   bool        // the body was cut off (BreakPage)
	Header   http.Header // the request's headers
}

// TokenRequest is one request to the token endpoint.
type TokenRequest struct {
	Time      time.Time
	GrantType string
	ClientID  string
	Scope     string
	Auth      string // "client_secret", "certificate", "federated" or "managed_identity"
	Claims    string // the claims parameter (a claims challenge), if any
	Status    int
}

// IssuedToken is an access token the fake minted.
type IssuedToken struct {
	Value     string
	Scope     string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// New starts the fake; it stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		TenantID:      "8a6b1c3e-0f4d-4b6a-9e2f-5d7c8b9a0e1f",
		ClientID:      "3f2d9a71-6c4b-4e8d-a1f0-b2c3d4e5f607",
		ClientSecret:  "fake~" + randomHex(20),
		t:             t,
		tokenLifetime: DefaultTokenLifetime,
		tokens:        map[string]*issued{},
		federated:     map[string]bool{},
		collections:   map[string]*collection{},
		pageSize:      map[string]int{},
		snapshots:     map[string]*snapshot{},
		fail:          map[string]*failure{},
		breaks:        map[string]int{},
		deny:          map[string]string{},
	}
	s.ts = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.ts.Close)
	s.caFile = filepath.Join(t.TempDir(), "graphtest-ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
	if err := os.WriteFile(s.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// URL is the fake's base URL, both the authority host and the Graph
// endpoint (https://127.0.0.1:port).
func (s *Server) URL() string { return s.ts.URL }

// Client is an http.Client that trusts the fake's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// CAFile is a PEM file of the fake's certificate, for tls.ca_file.
func (s *Server) CAFile() string { return s.caFile }

// Config is a client-secret graphapi.Config for the fake: tenant, app and
// secret, the fake as authority host and endpoint, and its certificate
// as the CA. Add graphapi.WithHTTPClient(srv.Client()) or not: either works.
func (s *Server) Config() graphapi.Config {
	sec, err := secret.Resolve(s.ClientSecret)
	if err != nil {
		s.t.Fatal(err)
	}
	return graphapi.Config{
		TenantID:      s.TenantID,
		ClientID:      s.ClientID,
		ClientSecret:  sec,
		AuthorityHost: s.URL(),
		Endpoint:      s.URL(),
		TLS:           &tlsconfig.Config{CAFile: s.caFile},
	}
}

// SetTokenLifetime sets the lifetime of tokens minted from now on.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenLifetime = d
}

// ExpireTokens makes every token issued so far expired: Graph answers
// 401 InvalidAuthenticationToken to it.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for _, tok := range s.tokens {
		tok.ExpiresAt = past
	}
}

// RevokeTokens refuses every token issued so far with a claims challenge
// (continuous access evaluation): 401 with WWW-Authenticate carrying
// error="insufficient_claims" and claims, base64 of claimsJSON.
func (s *Server) RevokeTokens(claimsJSON string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tok := range s.tokens {
		tok.revokedClaims = claimsJSON
	}
}

// IssueToken mints a valid token for the Graph endpoint, for tests that
// send requests by hand.
func (s *Server) IssueToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mint(s.URL() + "/.default").Value
}

// Tokens lists the tokens minted so far, oldest first.
func (s *Server) Tokens() []IssuedToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []IssuedToken
	for _, tok := range s.tokens {
		out = append(out, tok.IssuedToken)
	}
	slices.SortFunc(out, func(a, b IssuedToken) int { return a.IssuedAt.Compare(b.IssuedAt) })
	return out
}

// TokenRequests lists the requests to the token endpoint (and the
// managed identity endpoint), oldest first.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.tokenLog...)
}

// FailNext answers the next n Graph requests to path (a URL path such as
// "/v1.0/auditLogs/signIns", any query) with status and Graph's error
// JSON, and with Retry-After: retryAfter when it is not empty.
func (s *Server) FailNext(path string, status int, retryAfter string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[strings.ToLower(path)] = &failure{status: status, retryAfter: retryAfter, n: n}
}

// BreakPage cuts off the n-th page served on path from now on (1: the
// next one): the headers promise the whole body, half of it is sent, and
// the connection is closed.
func (s *Server) BreakPage(path string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.breaks[strings.ToLower(path)] = n
}

// Deny answers every request to path with 403 and code, as Graph does
// when the app lacks the permission; "" is Authorization_RequestDenied,
// "Insufficient privileges to complete the operation."
func (s *Server) Deny(path, code string) {
	if code == "" {
		code = "Authorization_RequestDenied"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny[strings.ToLower(path)] = code
}

// Allow undoes Deny (the permission was granted).
func (s *Server) Allow(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.deny, strings.ToLower(path))
}

// SetClock sets the fake Graph's clock: every Graph answer (errors
// included) carries the HTTP Date header now() gives, in whole seconds as
// Graph writes it, so that a test can put Graph's clock ahead of or behind
// the clock of the client it tests. nil (the default): the Date net/http
// writes, from the host's clock. Only the Date header follows it: tokens
// still expire by the host's clock.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = now
}

// TamperNextLinks passes every nextLink the fake writes through f, for
// tests of clients that must refuse a nextLink to another host.
func (s *Server) TamperNextLinks(f func(link string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = f
}

// Requests counts the Graph requests to path (a URL path, compared
// without regard to case, any query).
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if strings.EqualFold(r.Path, path) {
			n++
		}
	}
	return n
}

// Log lists the Graph requests answered so far, oldest first.
func (s *Server) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// serve routes the token service, the managed identity endpoint and
// Graph, all on the one host.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1.0/") || strings.HasPrefix(p, "/beta/"):
		s.serveGraph(w, r)
	case p == miPath:
		s.serveManagedIdentity(w, r)
	default:
		tenant, rest, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		switch {
		case rest == "v2.0/.well-known/openid-configuration" && r.Method == http.MethodGet:
			s.serveOpenIDConfiguration(w, tenant)
		case rest == "oauth2/v2.0/token" && r.Method == http.MethodPost:
			s.serveToken(w, r, tenant)
		default:
			http.NotFound(w, r)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
