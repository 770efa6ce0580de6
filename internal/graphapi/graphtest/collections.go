package graphtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// spec is what the fake knows of a collection.
type spec struct {
	key        string // canonical name, e.g. "auditLogs/signIns"
	timeField  string // newest first on it (unless unordered), and $filter on it; "" for neither
	principal  bool   // $filter=principalId eq '…'
	eventTypes bool   // beta $filter=signInEventTypes/any(…)
	// unordered: Graph documents no order, and the fake serves the
	// documents in the order they were added (a replaced one keeps its
	// place), not by time.
	unordered bool
	// resources: Add replaces the document with the same id (the
	// collection holds resources whose state changes, not log entries).
	resources bool
	// filterSelectOnly: the API documents $filter, $select and $top only;
	// any other query option ($orderby, $skip, $count, $search, $expand)
	// is a 400.
	filterSelectOnly bool
	maxTop           int
	defTop           int
}

var specs = []spec{
	{key: SignIns, timeField: "createdDateTime", eventTypes: true, maxTop: 1000, defTop: 1000},
	{key: DirectoryAudits, timeField: "activityDateTime", maxTop: 1000, defTop: 1000},
	// riskdetection-list.md: "supports the $filter and $select OData query
	// parameters … The default page size is 20 objects while the maximum
	// with $top is 500." riskyuser-list.md: the same, "The maximum page
	// size with $top is 500 objects" (its default is not documented: 20
	// is used). Neither documents an order.
	{key: RiskDetections, timeField: "lastUpdatedDateTime", unordered: true, resources: true, filterSelectOnly: true, maxTop: 500, defTop: 20},
	{key: RiskyUsers, timeField: "riskLastUpdatedDateTime", unordered: true, resources: true, filterSelectOnly: true, maxTop: 500, defTop: 20},
	{key: RoleAssignments, principal: true, maxTop: 999, defTop: 100},
	{key: RoleDefinitions, maxTop: 999, defTop: 100},
	{key: RoleEligibilitySchedules, principal: true, maxTop: 999, defTop: 100},
	{key: RoleAssignmentScheduleInstances, principal: true, maxTop: 999, defTop: 100},
	{key: Users, maxTop: 999, defTop: 100},
	{key: UserRegistrationDetails, maxTop: 999, defTop: 100},
	{key: "groups/{id}/transitiveMembers", maxTop: 999, defTop: 100},
}

// signInActivityMaxTop: "When you specify $select=signInActivity or
// $filter=signInActivity while listing users, the maximum page size for
// $top is 120. Requests with $top set higher than 120 will return pages
// with up to 120 users." (user-list.md)
const signInActivityMaxTop = 120

type collection struct {
	spec *spec
	docs []*doc
}

type doc struct {
	raw []byte
	m   map[string]any
	at  time.Time // the time field, zero when absent
}

// snapshot is a query in progress: the documents its first page saw.
type snapshot struct {
	docs   []*doc
	top    int
	sel    []string
	offset int
}

func specFor(key string) (*spec, string) {
	k := strings.ToLower(key)
	for i := range specs {
		sp := &specs[i]
		if strings.ToLower(sp.key) == k {
			return sp, sp.key
		}
		if rest, ok := strings.CutPrefix(k, "groups/"); ok && sp.key == "groups/{id}/transitiveMembers" {
			if id, ok := strings.CutSuffix(rest, "/transitivemembers"); ok && id != "" && !strings.Contains(id, "/") {
				return sp, "groups/" + id + "/transitiveMembers"
			}
		}
	}
	return nil, ""
}

// Add adds documents to a collection (SignIns, GroupMembers(id), …). A
// document is JSON text ([]byte, json.RawMessage, string) or anything
// encoding/json marshals (a map from the helpers, a struct); it must be
// an object. Sign-ins and audits need their createdDateTime or
// activityDateTime to be found by time, risk detections their
// lastUpdatedDateTime and risky users their riskLastUpdatedDateTime. In
// RiskDetections and RiskyUsers a document with the id of one already
// there replaces it, as an update of the resource does in Graph (a
// dismissed risk, a new risk level); queries already under way keep
// paging through what they saw.
func (s *Server) Add(collectionKey string, docs ...any) {
	s.t.Helper()
	sp, key := specFor(collectionKey)
	if sp == nil {
		s.t.Fatalf("graphtest: %q is not a collection the fake serves", collectionKey)
	}
	var add []*doc
	for i, d := range docs {
		var raw []byte
		switch v := d.(type) {
		case []byte:
			raw = v
		case json.RawMessage:
			raw = v
		case string:
			raw = []byte(v)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				s.t.Fatalf("graphtest: Add(%s) document %d: %v", key, i, err)
			}
			raw = b
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			s.t.Fatalf("graphtest: Add(%s) document %d is not JSON: %v", key, i, err)
		}
		nd := &doc{raw: buf.Bytes()}
		if err := json.Unmarshal(nd.raw, &nd.m); err != nil || nd.m == nil {
			s.t.Fatalf("graphtest: Add(%s) document %d is not a JSON object", key, i)
		}
		if sp.timeField != "" {
			if v, ok := nd.m[sp.timeField].(string); ok {
				t, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					s.t.Fatalf("graphtest: Add(%s) document %d: %s %q: %v", key, i, sp.timeField, v, err)
				}
				nd.at = t
			}
		}
		add = append(add, nd)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.collections[strings.ToLower(key)]
	if c == nil {
		c = &collection{spec: sp}
		s.collections[strings.ToLower(key)] = c
	}
	for _, d := range add {
		if id, ok := d.m["id"].(string); ok && sp.resources {
			// Snapshots of running queries hold their own slices.
			if i := slices.IndexFunc(c.docs, func(o *doc) bool { oid, _ := o.m["id"].(string); return oid == id }); i >= 0 {
				c.docs[i] = d
				continue
			}
		}
		c.docs = append(c.docs, d)
	}
}

// SetPageSize sets the page size a collection uses when the request has
// no $top (Graph's own default otherwise: 1,000 for sign-ins and audits,
// 100 for directory objects), so that tests get several pages from a few
// documents.
func (s *Server) SetPageSize(collectionKey string, n int) {
	sp, key := specFor(collectionKey)
	if sp == nil || n < 1 {
		s.t.Fatalf("graphtest: SetPageSize(%q, %d)", collectionKey, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize[strings.ToLower(key)] = n
}

// recorder keeps the status of an answer for the log.
type recorder struct {
	http.ResponseWriter
	status int
	broken bool
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	rec := Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()}
	rw := &recorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		rec.Status, rec.Broken = rw.status, rw.broken
		s.mu.Lock()
		s.log = append(s.log, rec)
		s.mu.Unlock()
	}()
	reqID := newUUID()
	s.mu.Lock()
	clock := s.clock
	s.mu.Unlock()
	if clock != nil {
		w.Header().Set("Date", clock().UTC().Format(http.TimeFormat))
	}
	w.Header().Set("request-id", reqID)
	if crid := r.Header.Get("client-request-id"); crid != "" {
		w.Header().Set("client-request-id", crid)
	}
	graphErr := func(status int, code, msg string) { s.graphError(rw, r, reqID, status, code, msg) }

	if !s.authorize(rw, r, reqID) {
		return
	}
	lpath := strings.ToLower(r.URL.Path)
	s.mu.Lock()
	if code, ok := s.deny[lpath]; ok {
		s.mu.Unlock()
		graphErr(http.StatusForbidden, code, denyMessage(code))
		return
	}
	if f := s.fail[lpath]; f != nil && f.n > 0 {
		f.n--
		s.mu.Unlock()
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		code, msg := failCode(f.status)
		graphErr(f.status, code, msg)
		return
	}
	s.mu.Unlock()

	if r.Method != http.MethodGet {
		graphErr(http.StatusMethodNotAllowed, "Request_BadRequest", "The fake serves GET only.")
		return
	}
	version, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	sp, key := specFor(rest)
	if sp == nil {
		graphErr(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", firstSegment(rest)))
		return
	}
	s.mu.Lock()
	c := s.collections[strings.ToLower(key)]
	s.mu.Unlock()
	if c == nil && strings.HasPrefix(key, "groups/") {
		id := strings.TrimSuffix(strings.TrimPrefix(key, "groups/"), "/transitiveMembers")
		graphErr(http.StatusNotFound, "Request_ResourceNotFound",
			fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
		return
	}

	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		graphErr(http.StatusBadRequest, "BadRequest", "Invalid query string.")
		return
	}
	snap, token, status, code, msg := s.query(c, sp, key, version, q)
	if status != http.StatusOK {
		graphErr(status, code, msg)
		return
	}
	s.writePage(rw, r, sp, key, version, q, snap, token)
}

// query finds or starts the snapshot of a request.
func (s *Server) query(c *collection, sp *spec, key, version string, q url.Values) (snap *snapshot, token string, status int, code, msg string) {
	if tok := q.Get("$skiptoken"); tok != "" {
		id, off, ok := strings.Cut(tok, "_")
		n, err := strconv.Atoi(off)
		s.mu.Lock()
		base := s.snapshots[id]
		s.mu.Unlock()
		if !ok || err != nil || base == nil || n < 0 || n > len(base.docs) {
			return nil, "", http.StatusBadRequest, "BadRequest", "Invalid $skiptoken."
		}
		cp := *base
		cp.offset = n
		return &cp, id, http.StatusOK, "", ""
	}
	sel := splitList(q.Get("$select"))
	selActivity := slices.ContainsFunc(sel, func(f string) bool { return strings.EqualFold(f, "signInActivity") })
	top := sp.defTop
	s.mu.Lock()
	if n, ok := s.pageSize[strings.ToLower(key)]; ok {
		top = n
	}
	s.mu.Unlock()
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > sp.maxTop {
			return nil, "", http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, sp.maxTop)
		}
		top = n
	}
	if sp.key == Users && selActivity {
		top = min(top, signInActivityMaxTop)
	}
	if sp.filterSelectOnly {
		for k := range q {
			switch strings.ToLower(k) {
			case "$filter", "$select", "$top":
			default:
				return nil, "", http.StatusBadRequest, "BadRequest",
					fmt.Sprintf("Query option '%s' is not allowed. Allowed query options: $filter, $select, $top.", k)
			}
		}
	}
	keep, err := parseFilter(q.Get("$filter"), sp, version == "beta")
	if err != nil {
		return nil, "", http.StatusBadRequest, "BadRequest", err.Error()
	}
	var docs []*doc
	if c != nil {
		s.mu.Lock()
		all := slices.Clone(c.docs)
		s.mu.Unlock()
		for _, d := range all {
			if keep(d) {
				docs = append(docs, d)
			}
		}
	}
	if sp.timeField != "" && !sp.unordered {
		slices.SortStableFunc(docs, func(a, b *doc) int { return b.at.Compare(a.at) })
	}
	snap = &snapshot{docs: docs, top: top, sel: sel}
	token = randomHex(16)
	s.mu.Lock()
	s.snapshots[token] = snap
	s.mu.Unlock()
	return snap, token, http.StatusOK, "", ""
}

// writePage writes the page of snap at its offset, with a nextLink that
// repeats the request's query and adds $skiptoken.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, sp *spec, key, version string, q url.Values, snap *snapshot, token string) {
	end := min(snap.offset+snap.top, len(snap.docs))
	page := snap.docs[snap.offset:end]

	var b bytes.Buffer
	ctx := s.URL() + "/" + version + "/$metadata#" + key
	if sp.key == Users && len(snap.sel) > 0 {
		ctx = s.URL() + "/" + version + "/$metadata#users(" + strings.Join(snap.sel, ",") + ")"
	}
	b.WriteString(`{"@odata.context":`)
	writeString(&b, ctx)
	if end < len(snap.docs) {
		link := s.URL() + r.URL.Path + "?"
		if raw := withoutSkiptoken(r.URL.RawQuery); raw != "" {
			link += raw + "&"
		}
		link += "$skiptoken=" + token + "_" + strconv.Itoa(end)
		s.mu.Lock()
		tamper := s.tamper
		s.mu.Unlock()
		if tamper != nil {
			link = tamper(link)
		}
		b.WriteString(`,"@odata.nextLink":`)
		writeString(&b, link)
	}
	b.WriteString(`,"value":[`)
	for i, d := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(s.render(sp, snap.sel, d))
	}
	b.WriteString("]}")

	lpath := strings.ToLower(r.URL.Path)
	s.mu.Lock()
	cut := false
	if n, ok := s.breaks[lpath]; ok {
		if n <= 1 {
			delete(s.breaks, lpath)
			cut = true
		} else {
			s.breaks[lpath] = n - 1
		}
	}
	s.mu.Unlock()

	body := b.Bytes()
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if !cut {
		_, _ = w.Write(body)
		return
	}
	// Half the promised body, then the connection goes: the client sees
	// an unexpected EOF, as when a proxy or Graph drops it mid-page.
	_, _ = w.Write(body[:len(body)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if rec, ok := w.(*recorder); ok {
		rec.broken = true
	}
	panic(http.ErrAbortHandler)
}

// render is a document as the page shows it: as added, except users,
// whose signInActivity Graph returns only when $select asks for it, and
// whose $select is honoured (id always kept).
func (s *Server) render(sp *spec, sel []string, d *doc) []byte {
	if sp.key != Users {
		return d.raw
	}
	out := map[string]any{}
	if len(sel) == 0 {
		for k, v := range d.m {
			if k != "signInActivity" {
				out[k] = v
			}
		}
	} else {
		for k, v := range d.m {
			if k == "id" || slices.ContainsFunc(sel, func(f string) bool { return strings.EqualFold(f, k) }) {
				out[k] = v
			}
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// authorize checks the bearer token as Graph does, answering 401 with
// its challenge when the token is missing, unknown, expired or revoked.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, reqID string) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	challenge := `Bearer realm="", authorization_uri="` + s.URL() + `/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`
	msg := ""
	s.mu.Lock()
	it := s.tokens[tok]
	switch {
	case !ok || tok == "":
		msg = "Access token is empty."
	case it == nil:
		msg = "Access token validation failure. Invalid audience."
	case it.revokedClaims != "":
		challenge += `, error="insufficient_claims", claims="` + base64.StdEncoding.EncodeToString([]byte(it.revokedClaims)) + `"`
		msg = "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenCreatedWithOutdatedPolicies"
	case !time.Now().Before(it.ExpiresAt):
		msg = "Access token has expired or is not yet valid."
	}
	s.mu.Unlock()
	if msg == "" {
		return true
	}
	w.Header().Set("WWW-Authenticate", challenge)
	s.graphError(w, r, reqID, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
	return false
}

// graphError writes Graph's error JSON.
func (s *Server) graphError(w http.ResponseWriter, r *http.Request, reqID string, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"innerError": map[string]any{
			"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        reqID,
			"client-request-id": r.Header.Get("client-request-id"),
		},
	}})
}

func denyMessage(code string) string {
	switch code {
	case "Authorization_RequestDenied":
		return "Insufficient privileges to complete the operation."
	case "Authentication_RequestFromNonPremiumTenantOrB2CTenant":
		return "Neither tenant is B2C or tenant doesn't have premium license"
	default:
		return "Access is denied to the requested resource."
	}
}

func failCode(status int) (string, string) {
	switch status {
	case http.StatusTooManyRequests:
		return "TooManyRequests", "Too many requests."
	case http.StatusServiceUnavailable:
		return "serviceNotAvailable", "The service is temporarily unavailable for maintenance or is overloaded."
	case http.StatusGatewayTimeout:
		return "GatewayTimeout", "The gateway did not receive a timely response from the upstream server."
	case http.StatusInternalServerError:
		return "generalException", "An unspecified error has occurred."
	case http.StatusNotFound:
		return "Request_ResourceNotFound", "Resource does not exist."
	case http.StatusForbidden:
		return "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	default:
		return strings.ReplaceAll(http.StatusText(status), " ", ""), http.StatusText(status) + "."
	}
}

// parseFilter understands the clauses privtrail sends, joined by "and":
// a time range on the collection's time field (ge, gt, le, lt, eq and an
// unquoted ISO 8601 time), signInEventTypes/any(t: t eq|ne '…' [or …]) on
// beta sign-ins, and principalId eq '…' on role collections. Anything else
// is a 400, as Graph answers a clause an API does not support.
//
// Sign-ins without an event type clause are the interactive ones only, as
// Graph returns by default.
func parseFilter(f string, sp *spec, beta bool) (func(*doc) bool, error) {
	var preds []func(*doc) bool
	haveTypes := false
	if strings.TrimSpace(f) != "" {
		for _, clause := range splitAnd(f) {
			p, types, err := parseClause(clause, sp, beta)
			if err != nil {
				return nil, err
			}
			haveTypes = haveTypes || types
			preds = append(preds, p)
		}
	}
	if sp.key == SignIns && !haveTypes {
		preds = append(preds, func(d *doc) bool { return slices.Contains(eventTypes(d), "interactiveUser") })
	}
	return func(d *doc) bool {
		for _, p := range preds {
			if !p(d) {
				return false
			}
		}
		return true
	}, nil
}

var (
	timeClause      = regexp.MustCompile(`^(?i)([a-z]+)\s+(ge|gt|le|lt|eq)\s+(\S+)$`)
	principalClause = regexp.MustCompile(`^(?i)principalId\s+eq\s+'([^']*)'$`)
	anyClause       = regexp.MustCompile(`^(?i)signInEventTypes/any\(\s*([a-z]\w*)\s*:\s*(.+)\)$`)
	atomClause      = regexp.MustCompile(`^(?i)([a-z]\w*)\s+(eq|ne)\s+'([^']*)'$`)
)

// badFilter is the message of Graph's 400 for a filter it does not take.
type badFilter string

func (b badFilter) Error() string { return string(b) }

func invalidClause(c string) error {
	return badFilter(fmt.Sprintf("Invalid filter clause: the fake does not support '%s' on this collection.", c))
}

func parseClause(c string, sp *spec, beta bool) (func(*doc) bool, bool, error) {
	c = unwrapParens(strings.TrimSpace(c))
	if m := anyClause.FindStringSubmatch(c); m != nil {
		if !sp.eventTypes || !beta {
			return nil, false, invalidClause(c)
		}
		type atom struct {
			eq  bool
			val string
		}
		var atoms []atom
		for _, a := range splitWord(m[2], "or") {
			am := atomClause.FindStringSubmatch(unwrapParens(strings.TrimSpace(a)))
			if am == nil || am[1] != m[1] {
				return nil, false, invalidClause(c)
			}
			atoms = append(atoms, atom{eq: strings.EqualFold(am[2], "eq"), val: am[3]})
		}
		return func(d *doc) bool {
			for _, t := range eventTypes(d) {
				for _, a := range atoms {
					if (t == a.val) == a.eq {
						return true
					}
				}
			}
			return false
		}, true, nil
	}
	if m := principalClause.FindStringSubmatch(c); m != nil {
		if !sp.principal {
			return nil, false, invalidClause(c)
		}
		id := m[1]
		return func(d *doc) bool { s, _ := d.m["principalId"].(string); return s == id }, false, nil
	}
	if m := timeClause.FindStringSubmatch(c); m != nil && sp.timeField != "" && strings.EqualFold(m[1], sp.timeField) {
		t, err := time.Parse(time.RFC3339Nano, m[3])
		if err != nil {
			return nil, false, badFilter(fmt.Sprintf("Invalid filter clause: '%s' is not a DateTimeOffset.", m[3]))
		}
		op := strings.ToLower(m[2])
		return func(d *doc) bool {
			if d.at.IsZero() {
				return false
			}
			switch cmp := d.at.Compare(t); op {
			case "ge":
				return cmp >= 0
			case "gt":
				return cmp > 0
			case "le":
				return cmp <= 0
			case "lt":
				return cmp < 0
			default:
				return cmp == 0
			}
		}, false, nil
	}
	return nil, false, invalidClause(c)
}

// eventTypes are a sign-in's signInEventTypes (beta), or what its
// isInteractive says when it has none (v1.0 documents).
func eventTypes(d *doc) []string {
	if arr, ok := d.m["signInEventTypes"].([]any); ok {
		var out []string
		for _, v := range arr {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if b, ok := d.m["isInteractive"].(bool); ok && !b {
		return []string{"nonInteractiveUser"}
	}
	return []string{"interactiveUser"}
}

// splitAnd splits a filter on " and " outside quotes and parentheses.
func splitAnd(f string) []string { return splitWord(f, "and") }

func splitWord(f, word string) []string {
	var out []string
	depth, quote, start := 0, false, 0
	sep := " " + word + " "
	for i := 0; i < len(f); i++ {
		switch ch := f[i]; {
		case ch == '\'':
			quote = !quote
		case quote:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case depth == 0 && i+len(sep) <= len(f) && strings.EqualFold(f[i:i+len(sep)], sep):
			out = append(out, f[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(out, f[start:])
}

// unwrapParens removes parentheses around a whole clause.
func unwrapParens(c string) string {
	for len(c) >= 2 && c[0] == '(' && c[len(c)-1] == ')' {
		depth := 0
		whole := true
		for i := 0; i < len(c)-1; i++ {
			if c[i] == '(' {
				depth++
			} else if c[i] == ')' {
				depth--
			}
			if depth == 0 {
				whole = false
				break
			}
		}
		if !whole {
			break
		}
		c = strings.TrimSpace(c[1 : len(c)-1])
	}
	return c
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func withoutSkiptoken(raw string) string {
	var keep []string
	for _, p := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); p == "" || (err == nil && strings.EqualFold(dk, "$skiptoken")) {
			continue
		}
		keep = append(keep, p)
	}
	return strings.Join(keep, "&")
}

func firstSegment(p string) string {
	seg, _, _ := strings.Cut(p, "/")
	return seg
}

func writeString(b *bytes.Buffer, s string) {
	j, _ := json.Marshal(s)
	b.Write(j)
}
