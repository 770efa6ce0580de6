package splunk

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeHEC is an HTTP Event Collector as the tests need it: it checks the
// token, the index and the channel, reads gzip, parses stacked events,
// answers with HEC's documented status codes and implements indexer
// acknowledgement. What it indexed is in indexed, in arrival order.
type fakeHEC struct {
	t       testing.TB
	token   string
	indexes map[string]bool // indexes the token may write to ("" is its default)

	// ack enables indexer acknowledgement on the token; an ackId is
	// reported indexed after ackAfter queries, never when neverAck says so.
	ack      bool
	ackAfter int
	neverAck func(id int64) bool

	// badMarker makes an event containing it invalid (code 6), the way HEC
	// answers a malformed event: the events before it are indexed, the
	// rest of the request is dropped.
	badMarker string
	// maxContentLength answers 413 for larger (decompressed) bodies.
	maxContentLength int

	mu       sync.Mutex
	all      int                           // requests to any path
	script   []func(w http.ResponseWriter) // next responses, before anything else
	indexed  []hecEvent
	requests []hecRequest
	acks     map[string]map[int64]int // channel → ackId → queries so far
	nextAck  map[string]int64
	polls    int
	pollChan []string
	widest   int // most ackIds asked about in one query
}

type hecEvent struct {
	Time       json.Number     `json:"time"`
	Host       string          `json:"host"`
	Source     string          `json:"source"`
	Sourcetype string          `json:"sourcetype"`
	Index      string          `json:"index"`
	Event      json.RawMessage `json:"event"`
	Fields     map[string]any  `json:"fields"`
	Doc        map[string]any  `json:"-"`
}

type hecRequest struct {
	gzip    bool
	channel string
	events  int
	status  int
}

func newFakeHEC(t testing.TB, token string) *fakeHEC {
	return &fakeHEC{t: t, token: token, indexes: map[string]bool{"": true, "entra": true},
		acks: map[string]map[int64]int{}, nextAck: map[string]int64{}}
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func hecError(w http.ResponseWriter, status, code int, text string, invalid int) {
	body := fmt.Sprintf(`{"text":%q,"code":%d`, text, code)
	if invalid >= 0 {
		body += fmt.Sprintf(`,"invalid-event-number":%d`, invalid)
	}
	reply(w, status, body+"}")
}

// then queues a scripted answer for the next event request.
func (h *fakeHEC) then(f func(w http.ResponseWriter)) {
	h.mu.Lock()
	h.script = append(h.script, f)
	h.mu.Unlock()
}

func (h *fakeHEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.all++
	h.mu.Unlock()
	switch r.URL.Path {
	case "/services/collector/event":
		h.event(w, r)
	case "/services/collector/ack":
		h.ackQuery(w, r)
	default:
		reply(w, 404, `{"text":"The requested URL was not found on this server.","code":404}`)
	}
}

// auth checks the Authorization header as HEC does.
func (h *fakeHEC) auth(w http.ResponseWriter, r *http.Request) bool {
	a := r.Header.Get("Authorization")
	switch {
	case a == "":
		hecError(w, 401, 2, "Token is required", -1)
	case !strings.HasPrefix(a, "Splunk "):
		hecError(w, 401, 3, "Invalid authorization", -1)
	case strings.TrimPrefix(a, "Splunk ") != h.token:
		hecError(w, 403, 4, "Invalid token", -1)
	default:
		return true
	}
	return false
}

// channel checks X-Splunk-Request-Channel when the token uses
// acknowledgement.
func (h *fakeHEC) channel(w http.ResponseWriter, r *http.Request) (string, bool) {
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if !h.ack {
		return ch, true
	}
	switch {
	case ch == "":
		hecError(w, 400, 10, "Data channel is missing", -1)
	case !isGUID(ch):
		hecError(w, 400, 11, "Invalid data channel", -1)
	default:
		return ch, true
	}
	return "", false
}

func (h *fakeHEC) event(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	req := hecRequest{gzip: r.Header.Get("Content-Encoding") == "gzip", channel: r.Header.Get("X-Splunk-Request-Channel")}
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	defer func() { req.status = rec.status; h.requests = append(h.requests, req) }()
	w = rec
	if !h.auth(w, r) {
		return
	}
	ch, ok := h.channel(w, r)
	if !ok {
		return
	}
	var body io.Reader = r.Body
	if req.gzip {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			hecError(w, 400, 6, "Invalid data format", -1)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		hecError(w, 400, 6, "Invalid data format", -1)
		return
	}
	if len(h.script) > 0 {
		f := h.script[0]
		h.script = h.script[1:]
		f(w)
		return
	}
	if h.maxContentLength > 0 && len(data) > h.maxContentLength {
		reply(w, 413, fmt.Sprintf(`{"text":"Content-Length of %d too large (maximum is %d)","code":27}`, len(data), h.maxContentLength))
		return
	}
	if len(bytes.TrimSpace(data)) == 0 {
		hecError(w, 400, 5, "No data", -1)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for i := 0; dec.More(); i++ {
		var ev hecEvent
		if err := dec.Decode(&ev); err != nil {
			hecError(w, 400, 6, "Invalid data format", i)
			return
		}
		req.events++
		switch {
		case ev.Event == nil:
			hecError(w, 400, 12, "Event field is required", i)
			return
		case string(ev.Event) == `""`:
			hecError(w, 400, 13, "Event field cannot be blank", i)
			return
		case !h.indexes[ev.Index]:
			hecError(w, 400, 7, "Incorrect index", i)
			return
		case h.badMarker != "" && bytes.Contains(ev.Event, []byte(h.badMarker)):
			hecError(w, 400, 6, "Invalid data format", i)
			return
		}
		if err := json.Unmarshal(ev.Event, &ev.Doc); err != nil {
			hecError(w, 400, 6, "Invalid data format", i)
			return
		}
		h.indexed = append(h.indexed, ev)
	}
	if !h.ack {
		reply(w, 200, `{"text":"Success","code":0}`)
		return
	}
	id := h.nextAck[ch]
	h.nextAck[ch]++
	if h.acks[ch] == nil {
		h.acks[ch] = map[int64]int{}
	}
	h.acks[ch][id] = 0
	reply(w, 200, fmt.Sprintf(`{"text":"Success","code":0,"ackId":%d}`, id))
}

func (h *fakeHEC) ackQuery(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.auth(w, r) {
		return
	}
	if !h.ack {
		hecError(w, 400, 14, "ACK is disabled", -1)
		return
	}
	ch, ok := h.channel(w, r)
	if !ok {
		return
	}
	h.polls++
	h.pollChan = append(h.pollChan, ch)
	var q struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		hecError(w, 400, 6, "Invalid data format", -1)
		return
	}
	h.widest = max(h.widest, len(q.Acks))
	out := map[string]bool{}
	for _, id := range q.Acks {
		n, known := h.acks[ch][id]
		if known {
			n++
			h.acks[ch][id] = n
		}
		out[strconv.FormatInt(id, 10)] = known && n >= h.ackAfter && (h.neverAck == nil || !h.neverAck(id))
	}
	b, _ := json.Marshal(map[string]any{"acks": out})
	reply(w, 200, string(b))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// ids are the "id" members of the indexed events, in order: of the
// record, or of its properties when the output wrote it in the
// diagnostic envelope.
func (h *fakeHEC) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.indexed))
	for _, ev := range h.indexed {
		id, ok := ev.Doc["id"].(string)
		if props, isObj := ev.Doc["properties"].(map[string]any); !ok && isObj {
			id, _ = props["id"].(string)
		}
		out = append(out, id)
	}
	return out
}

func (h *fakeHEC) events() []hecEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hecEvent(nil), h.indexed...)
}

func (h *fakeHEC) reqs() []hecRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hecRequest(nil), h.requests...)
}
