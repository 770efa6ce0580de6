package qradar

// qradar-mapping/import.sh against a fake QRadar console: an HTTPS server
// that answers the REST endpoints the script uses with the fields IBM's API
// reference documents (POST /data_classification/qid_records: name,
// description, severity, low_level_category_id, log_source_type_id; POST
// /data_classification/dsm_event_mappings: log_source_type_id,
// log_source_event_id, log_source_event_category, qid_record_id; 409 for a
// mapping that exists). The fake checks what the script sends; it cannot
// show that a real console accepts it (README).

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	fakeToken      = "7f3c2a1e-0b9d-4c8e-a6f5-3d2e1c0b9a87"
	fakeLEEFTypeID = 4242
)

type fakeQRadar struct {
	t          *testing.T
	mu         sync.Mutex
	categories map[int]string
	qids       []fakeQID
	mappings   []fakeMapping
	posts      int
}

type fakeQID struct {
	ID, QID, Severity, LowLevelCategoryID, LogSourceTypeID int
	Name, Description                                      string
}

type fakeMapping struct {
	ID, LogSourceTypeID, QIDRecordID int
	EventID, Category                string
}

var (
	reTypeFilter    = regexp.MustCompile(`^name="([^"]*)"$`)
	reQIDFilter     = regexp.MustCompile(`^name="([^"]*)" and low_level_category_id=(\d+)$`)
	reMappingFilter = regexp.MustCompile(`^log_source_type_id=(\d+)$`)
	reCategoryPath  = regexp.MustCompile(`^/api/data_classification/low_level_categories/(\d+)$`)
)

func (f *fakeQRadar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("SEC") != fakeToken || r.Header.Get("Accept") != "application/json" {
		reply(401, map[string]any{"http_response": map[string]any{"code": 401}, "message": "You are unauthorized to access the requested resource."})
		return
	}
	filter := r.URL.Query().Get("filter")
	switch {
	case r.Method == "GET" && r.URL.Path == "/api/config/event_sources/log_source_management/log_source_types":
		m := reTypeFilter.FindStringSubmatch(filter)
		if m == nil {
			reply(422, map[string]any{"message": "bad filter " + filter})
			return
		}
		out := []any{}
		if m[1] == "Universal LEEF" {
			out = append(out, map[string]any{"id": fakeLEEFTypeID, "name": "Universal LEEF"})
		}
		reply(200, out)
	case r.Method == "GET" && reCategoryPath.MatchString(r.URL.Path):
		id, _ := strconv.Atoi(reCategoryPath.FindStringSubmatch(r.URL.Path)[1])
		name, ok := f.categories[id]
		if !ok {
			reply(404, map[string]any{"message": "The requested low level category was not found."})
			return
		}
		reply(200, map[string]any{"id": id, "name": name})
	case r.Method == "GET" && r.URL.Path == "/api/data_classification/qid_records":
		m := reQIDFilter.FindStringSubmatch(filter)
		if m == nil {
			reply(422, map[string]any{"message": "bad filter " + filter})
			return
		}
		out := []any{}
		for _, q := range f.qids {
			if q.Name == m[1] && strconv.Itoa(q.LowLevelCategoryID) == m[2] {
				out = append(out, map[string]any{"id": q.ID, "qid": q.QID, "name": q.Name})
			}
		}
		reply(200, out)
	case r.Method == "POST" && r.URL.Path == "/api/data_classification/qid_records":
		f.posts++
		var body struct {
			LogSourceTypeID    *int    `json:"log_source_type_id"`
			Name               *string `json:"name"`
			Description        *string `json:"description"`
			Severity           *int    `json:"severity"`
			LowLevelCategoryID *int    `json:"low_level_category_id"`
		}
		if !f.decode(w, r, &body, reply) {
			return
		}
		if body.LogSourceTypeID == nil || body.Name == nil || body.LowLevelCategoryID == nil || body.Description == nil || body.Severity == nil {
			reply(422, map[string]any{"message": "a required field is missing"})
			return
		}
		q := fakeQID{ID: 60000 + len(f.qids), QID: 2000000 + len(f.qids), Name: *body.Name, Description: *body.Description,
			Severity: *body.Severity, LowLevelCategoryID: *body.LowLevelCategoryID, LogSourceTypeID: *body.LogSourceTypeID}
		f.qids = append(f.qids, q)
		reply(201, map[string]any{"id": q.ID, "qid": q.QID, "name": q.Name, "description": q.Description,
			"severity": q.Severity, "low_level_category_id": q.LowLevelCategoryID, "log_source_type_id": nil})
	case r.Method == "GET" && r.URL.Path == "/api/data_classification/dsm_event_mappings":
		m := reMappingFilter.FindStringSubmatch(filter)
		if m == nil {
			reply(422, map[string]any{"message": "bad filter " + filter})
			return
		}
		if got := r.URL.Query().Get("fields"); got != "log_source_event_id,log_source_event_category,qid_record_id" {
			f.t.Errorf("dsm_event_mappings fields=%q", got)
		}
		out := []any{}
		for _, e := range f.mappings {
			if strconv.Itoa(e.LogSourceTypeID) == m[1] {
				out = append(out, map[string]any{"log_source_event_id": e.EventID,
					"log_source_event_category": e.Category, "qid_record_id": e.QIDRecordID})
			}
		}
		reply(200, out)
	case r.Method == "POST" && r.URL.Path == "/api/data_classification/dsm_event_mappings":
		f.posts++
		var body struct {
			LogSourceTypeID *int    `json:"log_source_type_id"`
			EventID         *string `json:"log_source_event_id"`
			Category        *string `json:"log_source_event_category"`
			QIDRecordID     *int    `json:"qid_record_id"`
		}
		if !f.decode(w, r, &body, reply) {
			return
		}
		if body.LogSourceTypeID == nil || body.EventID == nil || body.Category == nil || body.QIDRecordID == nil {
			reply(422, map[string]any{"message": "a required field is missing"})
			return
		}
		if !slices.ContainsFunc(f.qids, func(q fakeQID) bool { return q.ID == *body.QIDRecordID }) {
			reply(422, map[string]any{"message": "no such QID record"})
			return
		}
		for _, e := range f.mappings {
			if e.LogSourceTypeID == *body.LogSourceTypeID && e.EventID == *body.EventID && e.Category == *body.Category {
				reply(409, map[string]any{"code": 1008, "message": "There is an existing custom DSM event mapping with same the log_source_type_id, log_source_event_id and log_source_event_category combination."})
				return
			}
		}
		e := fakeMapping{ID: 9000 + len(f.mappings), LogSourceTypeID: *body.LogSourceTypeID, QIDRecordID: *body.QIDRecordID,
			EventID: *body.EventID, Category: *body.Category}
		f.mappings = append(f.mappings, e)
		reply(201, map[string]any{"id": e.ID, "log_source_type_id": e.LogSourceTypeID, "log_source_event_id": e.EventID,
			"log_source_event_category": e.Category, "qid_record_id": e.QIDRecordID, "custom_event": true})
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		reply(404, map[string]any{"message": "no such endpoint"})
	}
}

// decode reads a JSON body that holds only known fields.
func (f *fakeQRadar) decode(w http.ResponseWriter, r *http.Request, v any, reply func(int, any)) bool {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, ct)
	}
	data, _ := io.ReadAll(r.Body)
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		f.t.Errorf("%s %s: %v in %s", r.Method, r.URL.Path, err, data)
		reply(422, map[string]any{"message": err.Error()})
		return false
	}
	return true
}

// importSubset are the QID records TestImportScript imports: QIDs with one
// mapping and with two (two streams, two spellings of an event ID).
var importSubset = []string{
	"monitor breakglass.signin",
	"monitor signin.identity_protection_risk",
	"monitor pim.elevation_not_paw",
	"stream default signin:interactive",
	"stream default audit:Add member to role",
	"stream default activity:Microsoft.Authorization/elevateAccess/action",
}

func TestImportScript(t *testing.T) {
	for _, tool := range []string{"sh", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: import.sh is not run", tool)
		}
	}
	full := buildQIDMap(t)
	subset := full
	subset.QIDRecords = nil
	for _, r := range full.QIDRecords {
		if slices.Contains(importSubset, r.Privtrail) {
			subset.QIDRecords = append(subset.QIDRecords, r)
		}
	}
	if len(subset.QIDRecords) != len(importSubset) {
		t.Fatalf("the mapping has %d of the %d records of importSubset", len(subset.QIDRecords), len(importSubset))
	}
	var nMappings int
	for _, r := range subset.QIDRecords {
		nMappings += len(r.Mappings)
	}

	fake := &fakeQRadar{t: t, categories: map[int]string{}}
	for id, name := range lowLevelCategories {
		fake.categories[id] = name
	}
	srv := httptest.NewUnstartedServer(fake)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake the unverified run aborts
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	subsetFile := filepath.Join(dir, "subset.json")
	if err := os.WriteFile(subsetFile, subset.json(), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join(mappingDir, "import.sh"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command("sh", append([]string{script}, args...)...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir, "no_proxy=*", "NO_PROXY=*",
			"QRADAR_URL=" + srv.URL, "QRADAR_SEC_TOKEN=" + fakeToken, "QRADAR_CA_FILE=" + ca}, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	counts := func() (int, int, int) {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return len(fake.qids), len(fake.mappings), fake.posts
	}
	summary := func(qc, qr, mc, me int) string {
		return fmt.Sprintf("QID records %d created, %d reused; event mappings %d created, %d already there", qc, qr, mc, me)
	}

	t.Run("TLS is verified by default", func(t *testing.T) {
		out, err := run([]string{"QRADAR_CA_FILE="}, "--file", subsetFile)
		if err == nil || !strings.Contains(out, "request failed") {
			t.Fatalf("without QRADAR_CA_FILE the self-signed console was accepted: %v\n%s", err, out)
		}
		if _, _, posts := counts(); posts != 0 {
			t.Fatalf("%d POSTs", posts)
		}
	})
	t.Run("--insecure is explicit and warned about", func(t *testing.T) {
		out, err := run([]string{"QRADAR_CA_FILE="}, "--file", subsetFile, "--insecure", "--dry-run")
		if err != nil || !strings.Contains(out, "WARNING: --insecure: the TLS certificate of "+srv.URL+" is not verified") {
			t.Fatalf("%v\n%s", err, out)
		}
		if _, _, posts := counts(); posts != 0 {
			t.Fatalf("%d POSTs", posts)
		}
	})
	t.Run("a wrong low-level category stops it before it writes", func(t *testing.T) {
		fake.mu.Lock()
		fake.categories[3113] = "Something Else"
		fake.mu.Unlock()
		out, err := run(nil, "--file", subsetFile)
		fake.mu.Lock()
		fake.categories[3113] = lowLevelCategories[3113]
		fake.mu.Unlock()
		if err == nil || !strings.Contains(out, `low-level category 3113 is "Something Else"`) {
			t.Fatalf("%v\n%s", err, out)
		}
		if _, _, posts := counts(); posts != 0 {
			t.Fatalf("%d POSTs", posts)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		out, err := run(nil, "--file", subsetFile, "--dry-run")
		if err != nil || !strings.Contains(out, summary(len(subset.QIDRecords), 0, nMappings, 0)) {
			t.Fatalf("%v\n%s", err, out)
		}
		if _, _, posts := counts(); posts != 0 {
			t.Fatalf("%d POSTs", posts)
		}
	})
	t.Run("creates every QID record and mapping", func(t *testing.T) {
		out, err := run([]string{"QRADAR_API_VERSION=17.0"}, "--file", subsetFile)
		if err != nil || !strings.Contains(out, `log source type "Universal LEEF": id 4242`) ||
			!strings.Contains(out, summary(len(subset.QIDRecords), 0, nMappings, 0)) {
			t.Fatalf("%v\n%s", err, out)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		byName := map[string]fakeQID{}
		for _, q := range fake.qids {
			byName[q.Name] = q
		}
		for _, r := range subset.QIDRecords {
			q, ok := byName[r.QIDRecord.Name]
			if !ok || q.Description != r.QIDRecord.Description || q.Severity != r.QIDRecord.Severity ||
				q.LowLevelCategoryID != r.QIDRecord.LowLevelCategoryID || q.LogSourceTypeID != fakeLEEFTypeID {
				t.Errorf("%s: QID record %+v", r.Privtrail, q)
				continue
			}
			for _, m := range r.Mappings {
				if !slices.ContainsFunc(fake.mappings, func(e fakeMapping) bool {
					return e.EventID == m.EventID && e.Category == m.Category && e.QIDRecordID == q.ID && e.LogSourceTypeID == fakeLEEFTypeID
				}) {
					t.Errorf("%s: no mapping %s / %s -> %d", r.Privtrail, m.EventID, m.Category, q.ID)
				}
			}
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		qids, maps, posts := counts()
		out, err := run(nil, "--file", subsetFile)
		if err != nil || !strings.Contains(out, summary(0, 0, 0, nMappings)) {
			t.Fatalf("%v\n%s", err, out)
		}
		if q, m, p := counts(); q != qids || m != maps || p != posts {
			t.Fatalf("second run: %d QID records, %d mappings, %d POSTs; was %d, %d, %d", q, m, p, qids, maps, posts)
		}
	})
	t.Run("reuses QID records whose mappings are gone", func(t *testing.T) {
		fake.mu.Lock()
		fake.mappings = fake.mappings[1:] // the first record's only mapping
		fake.mu.Unlock()
		qids, _, _ := counts()
		out, err := run(nil, "--file", subsetFile)
		if err != nil || !strings.Contains(out, summary(0, 1, 1, nMappings-1)) {
			t.Fatalf("%v\n%s", err, out)
		}
		if q, m, _ := counts(); q != qids || m != nMappings {
			t.Fatalf("%d QID records (was %d), %d mappings", q, qids, m)
		}
	})
	t.Run("a given log source type ID is used as is", func(t *testing.T) {
		out, err := run(nil, "--file", subsetFile, "--log-source-type-id", "77", "--dry-run")
		if err != nil || strings.Contains(out, `log source type "`) || !strings.Contains(out, "log source type 77:") ||
			!strings.Contains(out, summary(0, len(subset.QIDRecords), nMappings, 0)) {
			t.Fatalf("%v\n%s", err, out)
		}
	})
	t.Run("a wrong token is reported", func(t *testing.T) {
		out, err := run([]string{"QRADAR_SEC_TOKEN=nope"}, "--file", subsetFile)
		if err == nil || !strings.Contains(out, "HTTP 401: You are unauthorized") {
			t.Fatalf("%v\n%s", err, out)
		}
	})
	// The shipped file, beside the script, on a console that has all of it:
	// the script reads every record and finds every mapping in place.
	t.Run("the shipped event_mappings.json", func(t *testing.T) {
		fake.mu.Lock()
		fake.qids, fake.mappings = nil, nil
		for _, r := range full.QIDRecords {
			q := fakeQID{ID: 70000 + len(fake.qids), Name: r.QIDRecord.Name, LowLevelCategoryID: r.QIDRecord.LowLevelCategoryID}
			fake.qids = append(fake.qids, q)
			for _, m := range r.Mappings {
				fake.mappings = append(fake.mappings, fakeMapping{LogSourceTypeID: fakeLEEFTypeID, QIDRecordID: q.ID, EventID: m.EventID, Category: m.Category})
			}
		}
		all := len(fake.mappings)
		fake.mu.Unlock()
		_, _, posts := counts()
		out, err := run(nil)
		if err != nil || !strings.Contains(out, summary(0, 0, 0, all)) {
			t.Fatalf("%v\n%s", err, out)
		}
		if _, _, p := counts(); p != posts {
			t.Fatalf("%d POSTs", p-posts)
		}
	})
}
