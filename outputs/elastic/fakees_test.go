package elastic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeES follows the parts of the Elasticsearch REST API the output uses:
// GET / (with the X-Elastic-Product header the Go client checks), PUT
// _component_template and _index_template, and POST _bulk with NDJSON,
// create semantics (409 for an _id that exists) and per-item results.
type fakeES struct {
	t   testing.TB
	srv *httptest.Server

	// auth, when set, is the Authorization header every request must carry.
	auth string
	// noProduct leaves out X-Elastic-Product, as a proxy that is not
	// Elasticsearch would.
	noProduct bool
	// light skips decoding the documents (for the throughput benchmark,
	// so that it measures the output rather than this fake).
	light bool

	mu             sync.Mutex
	log            []string          // "METHOD path" of every request
	templates      map[string]string // path → body
	templateStatus int               // answer to template PUTs; 0 = 200
	docs           map[string]string // _id → document
	order          []string          // _ids in the order they were created
	bulks          int
	items          int // create actions received
	// script answers whole bulk requests, first to last (then normally);
	// a nil entry answers normally.
	script []func(w http.ResponseWriter) bool
	// itemHook may refuse item k (0-based, across all bulks) with a status,
	// an error type and reason.
	itemHook func(k int, id string, doc map[string]any) (int, string, string)
}

func newFakeES(t testing.TB) *fakeES {
	f := &fakeES{t: t, templates: map[string]string{}, docs: map[string]string{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func newFakeTLS(t testing.TB) *fakeES {
	f := &fakeES{t: t, templates: map[string]string{}, docs: map[string]string{}}
	f.srv = httptest.NewUnstartedServer(f)
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake of the test
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !f.noProduct {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	w.Header().Set("Content-Type", "application/json")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	if f.auth != "" && !sameAuth(r.Header.Get("Authorization"), f.auth) {
		w.Header().Set("WWW-Authenticate", `ApiKey, Basic realm="security"`)
		writeErr(w, 401, "security_exception", "unable to authenticate user [x] for REST request [/_bulk]")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		fmt.Fprint(w, `{"name":"es01","cluster_name":"privtrail-test","version":{"number":"8.19.7","build_flavor":"default"},"tagline":"You Know, for Search"}`)
	case r.Method == http.MethodPut && (strings.HasPrefix(r.URL.Path, "/_component_template/") || strings.HasPrefix(r.URL.Path, "/_index_template/")):
		if !json.Valid(body) {
			writeErr(w, 400, "x_content_parse_exception", "not JSON")
			return
		}
		if f.templateStatus != 0 && f.templateStatus != 200 {
			writeErr(w, f.templateStatus, "security_exception", "action [cluster:admin/index_template/put] is unauthorized for API key id [k1]")
			return
		}
		f.templates[r.URL.Path] = string(body)
		fmt.Fprint(w, `{"acknowledged":true}`)
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		f.bulk(w, r, body)
	default:
		writeErr(w, 404, "resource_not_found_exception", "no handler for "+r.Method+" "+r.URL.Path)
	}
}

func writeErr(w http.ResponseWriter, status int, typ, reason string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"root_cause":[{"type":%q,"reason":%q}],"type":%q,"reason":%q},"status":%d}`, typ, reason, typ, reason, status)
}

func (f *fakeES) bulk(w http.ResponseWriter, r *http.Request, body []byte) {
	f.bulks++
	if len(f.script) > 0 {
		next := f.script[0]
		f.script = f.script[1:]
		if next != nil && next(w) {
			return
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") && !strings.HasPrefix(ct, "application/json") {
		writeErr(w, 406, "media_type_header_exception", "Content-Type "+ct)
		return
	}
	type item struct {
		Status int            `json:"status"`
		Index  string         `json:"_index"`
		ID     string         `json:"_id"`
		Result string         `json:"result,omitempty"`
		Error  map[string]any `json:"error,omitempty"`
	}
	var items []map[string]item
	errs := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			writeErr(w, 400, "illegal_argument_exception", "Malformed action/metadata line: "+string(line))
			return
		}
		a, ok := action["create"]
		if !ok {
			writeErr(w, 400, "illegal_argument_exception", "only create is allowed for a data stream")
			return
		}
		if !sc.Scan() {
			writeErr(w, 400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
			return
		}
		docLine := append([]byte(nil), sc.Bytes()...)
		k := f.items
		f.items++
		it := item{Index: a.Index, ID: a.ID}
		var doc map[string]any
		dec := json.NewDecoder(bytes.NewReader(docLine))
		dec.UseNumber()
		switch {
		case f.light:
		case dec.Decode(&doc) != nil:
			it.Status, it.Error = 400, map[string]any{"type": "document_parsing_exception", "reason": "failed to parse"}
		case doc["@timestamp"] == nil:
			it.Status, it.Error = 400, map[string]any{"type": "illegal_argument_exception", "reason": "data stream timestamp field [@timestamp] is missing"}
		case doc["event.ingested"] == nil:
			it.Status, it.Error = 400, map[string]any{"type": "test_exception", "reason": "event.ingested missing"}
		case !strings.HasPrefix(a.Index, "logs-") || "logs-"+strAt(doc, "data_stream.dataset")+"-"+strAt(doc, "data_stream.namespace") != a.Index:
			it.Status, it.Error = 400, map[string]any{"type": "test_exception", "reason": "data_stream fields do not match " + a.Index}
		}
		if it.Status == 0 && f.itemHook != nil {
			if st, typ, reason := f.itemHook(k, a.ID, doc); st != 0 {
				it.Status, it.Error = st, map[string]any{"type": typ, "reason": reason,
					"caused_by": map[string]any{"type": "illegal_argument_exception", "reason": "cause of " + typ}}
			}
		}
		if it.Status == 0 {
			if _, dup := f.docs[a.ID]; dup {
				it.Status, it.Error = 409, map[string]any{"type": "version_conflict_engine_exception",
					"reason": "[" + a.ID + "]: version conflict, document already exists (current version [1])"}
			} else {
				it.Status, it.Result = 201, "created"
				f.docs[a.ID] = string(docLine)
				f.order = append(f.order, a.ID)
			}
		}
		if it.Status > 299 {
			errs = true
		}
		items = append(items, map[string]item{"create": it})
	}
	out, _ := json.Marshal(map[string]any{"took": 3, "errors": errs, "items": items})
	w.Write(out)
}

// snapshot returns the created _ids in order and the request log.
func (f *fakeES) snapshot() (order []string, log []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.order...), append([]string(nil), f.log...)
}

func strAt(doc map[string]any, path string) string {
	s, _ := get(doc, path).(string)
	return s
}

// sameAuth compares Authorization headers; the scheme is case-insensitive
// (the Go client sends "APIKey", Kibana shows "ApiKey").
func sameAuth(got, want string) bool {
	gs, gc, _ := strings.Cut(got, " ")
	ws, wc, _ := strings.Cut(want, " ")
	return strings.EqualFold(gs, ws) && gc == wc
}
