package graphtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// miPath is where the fake serves the App Service managed identity
// endpoint (IDENTITY_ENDPOINT).
const miPath = "/msi/token"

// serveOpenIDConfiguration answers MSAL's tenant discovery: with instance
// discovery off (azidentity's DisableInstanceDiscovery, which graphapi sets
// for any authority host that is not a public cloud's), MSAL GETs
// {authority}/v2.0/.well-known/openid-configuration and needs
// token_endpoint, authorization_endpoint and an issuer on the authority's
// host; then it POSTs to token_endpoint.
func (s *Server) serveOpenIDConfiguration(w http.ResponseWriter, tenant string) {
	if tenant != s.TenantID {
		s.tokenError(w, http.StatusBadRequest, "invalid_tenant", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	base := s.URL() + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// serveToken is the v2.0 token endpoint for the client credentials grant,
// with a client secret, a certificate (private_key_jwt) or a federated
// assertion (workload identity).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := r.ParseForm(); err != nil {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	rec := TokenRequest{Time: time.Now(), GrantType: f.Get("grant_type"), ClientID: f.Get("client_id"), Scope: resourceScope(f.Get("scope")), Claims: f.Get("claims")}
	status, kind, code, msg := s.checkTokenRequest(tenant, f, &rec)
	s.mu.Lock()
	rec.Status = status
	s.tokenLog = append(s.tokenLog, rec)
	var tok IssuedToken
	if status == http.StatusOK {
		tok = s.mint(rec.Scope)
	}
	s.mu.Unlock()
	if status != http.StatusOK {
		s.tokenError(w, status, kind, code, msg)
		return
	}
	secs := int(time.Until(tok.ExpiresAt).Seconds())
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok.Value,
	})
}

// checkTokenRequest returns the answer Entra gives: 200, or the status,
// OAuth error and AADSTS code and message of the first problem.
func (s *Server) checkTokenRequest(tenant string, f map[string][]string, rec *TokenRequest) (int, string, int, string) {
	get := func(k string) string {
		if v := f[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	switch {
	case tenant != s.TenantID:
		return http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant)
	case rec.GrantType != "client_credentials":
		return http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
	case rec.ClientID != s.ClientID:
		return http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", rec.ClientID, s.TenantID)
	case !s.graphScope(rec.Scope):
		return http.StatusBadRequest, "invalid_resource", 500011,
			fmt.Sprintf("The resource principal named %s was not found in the tenant named %s.", strings.TrimSuffix(rec.Scope, "/.default"), s.TenantID)
	}
	secretGiven, assertion := get("client_secret"), get("client_assertion")
	switch {
	case secretGiven != "":
		rec.Auth = "client_secret"
		if subtle.ConstantTimeCompare([]byte(secretGiven), []byte(s.ClientSecret)) != 1 {
			return http.StatusUnauthorized, "invalid_client", 7000215,
				fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.ClientID)
		}
	case assertion != "":
		if get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return http.StatusBadRequest, "invalid_request", 50027, "Invalid client_assertion_type."
		}
		s.mu.Lock()
		fed := s.federated[assertion]
		s.mu.Unlock()
		if fed {
			rec.Auth = "federated"
			break
		}
		rec.Auth = "certificate"
		if err := s.verifyAssertion(assertion); err != nil {
			return http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation. " + err.Error()
		}
	default:
		return http.StatusUnauthorized, "invalid_client", 7000216,
			"'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."
	}
	return http.StatusOK, "", 0, ""
}

// resourceScope is the resource's scope of a token request's scope list,
// without the OpenID Connect scopes MSAL adds to every request (openid,
// profile, offline_access), which Entra ignores for the client
// credentials grant.
func resourceScope(list string) string {
	var rest []string
	for _, sc := range strings.Fields(list) {
		switch sc {
		case "openid", "profile", "offline_access":
		default:
			rest = append(rest, sc)
		}
	}
	return strings.Join(rest, " ")
}

// graphScope accepts the fake's own "<url>/.default" and Graph's.
func (s *Server) graphScope(scope string) bool {
	return scope == s.URL()+"/.default" || scope == "https://graph.microsoft.com/.default"
}

// tokenError writes Entra's OAuth error JSON.
func (s *Server) tokenError(w http.ResponseWriter, status int, kind string, code int, msg string) {
	now := time.Now().UTC()
	trace, corr := newUUID(), newUUID()
	writeJSON(w, status, map[string]any{
		"error": kind,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			code, msg, trace, corr, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":    []int{code},
		"timestamp":      now.Format("2006-01-02 15:04:05Z"),
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      s.URL() + "/error?code=" + strconv.Itoa(code),
	})
}

// mint makes a token; s.mu is held. Tokens are opaque to their holders
// (MSAL does not read an access token), so a random string does.
func (s *Server) mint(scope string) IssuedToken {
	now := time.Now()
	tok := IssuedToken{Value: "eyJ0eXAiOiJKV1QifQ." + randomHex(32), Scope: scope, IssuedAt: now, ExpiresAt: now.Add(s.tokenLifetime)}
	s.tokens[tok.Value] = &issued{IssuedToken: tok}
	return tok
}

// ClientCertificate makes an RSA key and a self-signed certificate for the
// app, registers the certificate, and writes both to a PEM file whose path
// it returns (for graphapi.Config.Certificate).
func (s *Server) ClientCertificate() string {
	t := s.t
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "privtrail graphtest app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
	path := filepath.Join(t.TempDir(), "app-cert.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.certs = append(s.certs, der)
	s.mu.Unlock()
	return path
}

// FederatedToken writes a federated token (what the workload identity
// webhook mounts) to a file, registers it as a client assertion the app
// may use, and returns the file's path (for AZURE_FEDERATED_TOKEN_FILE).
func (s *Server) FederatedToken() string {
	t := s.t
	tok := "eyJhbGciOiJSUzI1NiJ9.federated." + randomHex(24)
	path := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(path, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.federated[tok] = true
	s.mu.Unlock()
	return path
}

// verifyAssertion checks a private_key_jwt client assertion as Entra
// does: signed (PS256 with x5t#S256, or RS256 with x5t) by a registered
// certificate, for this app, aimed at this token endpoint, not expired.
func (s *Server) verifyAssertion(jwt string) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	var hdr struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	var claims struct {
		Aud string      `json:"aud"`
		Iss string      `json:"iss"`
		Sub string      `json:"sub"`
		Exp json.Number `json:"exp"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return err
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return errors.New("bad signature encoding")
	}
	s.mu.Lock()
	certs := append([][]byte(nil), s.certs...)
	s.mu.Unlock()
	var cert *x509.Certificate
	for _, der := range certs {
		s256, s1 := sha256.Sum256(der), sha1.Sum(der)
		if thumbprintIs(hdr.X5tS256, s256[:]) || thumbprintIs(hdr.X5t, s1[:]) {
			cert, _ = x509.ParseCertificate(der)
		}
	}
	if cert == nil {
		return errors.New("no registered certificate has the assertion's thumbprint")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the fake only verifies RSA certificates")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch hdr.Alg {
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	default:
		err = fmt.Errorf("alg %q not supported", hdr.Alg)
	}
	if err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	exp, _ := claims.Exp.Int64()
	switch {
	case claims.Iss != s.ClientID || claims.Sub != s.ClientID:
		return errors.New("iss and sub must be the client id")
	case claims.Aud != s.URL()+"/"+s.TenantID+"/oauth2/v2.0/token":
		return fmt.Errorf("aud %q is not the token endpoint", claims.Aud)
	case time.Now().Unix() > exp:
		return errors.New("the assertion has expired")
	}
	return nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("bad JWT segment encoding")
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	return d.Decode(v)
}

// thumbprintIs compares a header thumbprint, which MSAL writes in
// standard base64 and others in base64url.
func thumbprintIs(got string, sum []byte) bool {
	return got != "" && (got == base64.StdEncoding.EncodeToString(sum) || got == base64.RawURLEncoding.EncodeToString(sum))
}

// ManagedIdentity makes the fake the managed identity endpoint of an App
// Service, as MSAL finds it: it sets IDENTITY_ENDPOINT and IDENTITY_HEADER
// for the rest of the test (so the test cannot be parallel).
func (s *Server) ManagedIdentity() {
	t := s.t
	s.mu.Lock()
	s.miHeader = randomHex(16)
	h := s.miHeader
	s.mu.Unlock()
	t.Setenv("IDENTITY_ENDPOINT", s.URL()+miPath)
	t.Setenv("IDENTITY_HEADER", h)
}

// serveManagedIdentity is App Service's token endpoint (api-version
// 2019-08-01): GET ?resource=…[&client_id=…] with X-IDENTITY-HEADER.
func (s *Server) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	want := s.miHeader
	s.mu.Unlock()
	rec := TokenRequest{Time: time.Now(), GrantType: "managed_identity", ClientID: q.Get("client_id"),
		Scope: q.Get("resource") + "/.default", Auth: "managed_identity"}
	status := http.StatusOK
	switch {
	case want == "" || r.Header.Get("X-IDENTITY-HEADER") != want:
		status = http.StatusUnauthorized
	case !s.graphScope(rec.Scope):
		status = http.StatusBadRequest
	}
	s.mu.Lock()
	rec.Status = status
	s.tokenLog = append(s.tokenLog, rec)
	var tok IssuedToken
	if status == http.StatusOK {
		tok = s.mint(rec.Scope)
	}
	s.mu.Unlock()
	if status != http.StatusOK {
		writeJSON(w, status, map[string]any{"statusCode": status, "message": http.StatusText(status)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok.Value,
		"expires_on":   strconv.FormatInt(tok.ExpiresAt.Unix(), 10),
		"resource":     strings.TrimSuffix(tok.Scope, "/.default"),
		"token_type":   "Bearer",
		"client_id":    s.ClientID,
	})
}
