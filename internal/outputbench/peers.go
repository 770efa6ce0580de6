package outputbench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/privtrail/privtrail/internal/rsyslogd"
)

// The peers stand in for the destinations, in process, speaking as much of
// each protocol as the outputs rely on: what is measured is the output,
// so a peer does no more work than it must to answer truthfully.

// hecPeer is a Splunk HTTP Event Collector: POST /services/collector/event
// with the token and (with acknowledgement) the channel header, gzip or
// plain bodies of concatenated events, an ackId per request; and POST
// /services/collector/ack answering a list of ackIds, each true once
// latency has passed since its request was received (and forgotten once
// reported true, as Splunk does).
type hecPeer struct {
	token   string
	ack     bool
	latency time.Duration
	got     *tally
	srv     *http.Server
	url     string

	mu      sync.Mutex
	nextAck int64
	indexed map[int64]time.Time // ackId → when it counts as indexed
}

func newHECPeer(token string, ack bool, latency time.Duration) (*hecPeer, error) {
	p := &hecPeer{token: token, ack: ack, latency: latency, got: newTally(), indexed: map[int64]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /services/collector/event", p.event)
	mux.HandleFunc("POST /services/collector/ack", p.acks)
	url, srv, err := serve(mux)
	if err != nil {
		return nil, err
	}
	p.url, p.srv = url, srv
	return p, nil
}

func (p *hecPeer) close() { p.srv.Close() }

func hecReply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (p *hecPeer) event(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Splunk "+p.token {
		hecReply(w, http.StatusForbidden, `{"text":"Invalid token","code":4}`)
		return
	}
	channel := r.Header.Get("X-Splunk-Request-Channel")
	if p.ack && channel == "" {
		hecReply(w, http.StatusBadRequest, `{"text":"Data channel is missing","code":10}`)
		return
	}
	buf := bodies.Get().(*bytes.Buffer)
	defer bodies.Put(buf)
	buf.Reset()
	var err error
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, _ := gzReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr, err = gzip.NewReader(r.Body)
		} else {
			err = zr.Reset(r.Body)
		}
		if err == nil {
			buf.Grow(int(r.ContentLength) * 8)
			_, err = buf.ReadFrom(zr)
			gzReaders.Put(zr)
		}
	} else {
		buf.Grow(int(r.ContentLength) + 512)
		_, err = buf.ReadFrom(r.Body)
	}
	if err != nil {
		hecReply(w, http.StatusBadRequest, `{"text":"Invalid data format","code":6}`)
		return
	}
	raw := buf.Bytes()
	// Events are JSON objects one after the other; privtrail ends each
	// with a line feed, so a line is an event.
	var keys []uint64
	for n := 0; len(raw) > 0; n++ {
		line, rest, _ := bytes.Cut(raw, []byte{'\n'})
		raw = rest
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' || line[len(line)-1] != '}' {
			hecReply(w, http.StatusBadRequest, fmt.Sprintf(`{"text":"Invalid data format","code":6,"invalid-event-number":%d}`, n))
			return
		}
		keys = append(keys, key(line))
	}
	if len(keys) == 0 {
		hecReply(w, http.StatusBadRequest, `{"text":"No data","code":5}`)
		return
	}
	p.got.add(keys...)
	if !p.ack {
		hecReply(w, http.StatusOK, `{"text":"Success","code":0}`)
		return
	}
	p.mu.Lock()
	id := p.nextAck
	p.nextAck++
	p.indexed[id] = time.Now().Add(p.latency)
	p.mu.Unlock()
	hecReply(w, http.StatusOK, `{"text":"Success","code":0,"ackId":`+strconv.FormatInt(id, 10)+`}`)
}

func (p *hecPeer) acks(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Splunk "+p.token {
		hecReply(w, http.StatusForbidden, `{"text":"Invalid token","code":4}`)
		return
	}
	if !p.ack {
		hecReply(w, http.StatusBadRequest, `{"text":"ACK is disabled","code":14}`)
		return
	}
	var q struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		hecReply(w, http.StatusBadRequest, `{"text":"Invalid data format","code":6}`)
		return
	}
	now := time.Now()
	out := make(map[string]bool, len(q.Acks))
	p.mu.Lock()
	for _, id := range q.Acks {
		at, ok := p.indexed[id]
		done := ok && !now.Before(at)
		if done {
			delete(p.indexed, id)
		}
		out[strconv.FormatInt(id, 10)] = done
	}
	p.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"acks": out})
	hecReply(w, http.StatusOK, string(b))
}

// Request bodies are read into reused buffers: a peer that allocated a
// request's size each time would spend more than the output it measures.
var (
	bodies    = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	gzReaders sync.Pool
)

// esPeer is Elasticsearch as the output sees it: GET / with the
// X-Elastic-Product header, template PUTs, and POST /_bulk of NDJSON create
// actions answered item by item (201 created, 409 for an _id it has).
type esPeer struct {
	got *tally
	srv *http.Server
	url string

	mu  sync.Mutex
	ids map[string]struct{}
}

func newESPeer() (*esPeer, error) {
	p := &esPeer{got: newTally(), ids: map[string]struct{}{}}
	url, srv, err := serve(p)
	if err != nil {
		return nil, err
	}
	p.url, p.srv = url, srv
	return p, nil
}

func (p *esPeer) close() { p.srv.Close() }

func (p *esPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		io.WriteString(w, `{"name":"bench","cluster_name":"outputbench","version":{"number":"8.19.7","build_flavor":"default"},"tagline":"You Know, for Search"}`)
	case r.Method == http.MethodPut && (strings.HasPrefix(r.URL.Path, "/_component_template/") || strings.HasPrefix(r.URL.Path, "/_index_template/")):
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"acknowledged":true}`)
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		p.bulk(w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"type":"resource_not_found_exception","reason":"no handler"},"status":404}`)
	}
}

func (p *esPeer) bulk(w http.ResponseWriter, r *http.Request) {
	buf := bodies.Get().(*bytes.Buffer)
	defer bodies.Put(buf)
	buf.Reset()
	buf.Grow(int(r.ContentLength) + 512)
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return
	}
	body := buf.Bytes()
	badRequest := func(reason string) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"type":"illegal_argument_exception","reason":%q},"status":400}`, reason)
	}
	var out bytes.Buffer
	out.WriteString(`{"took":1,"errors":`)
	var items bytes.Buffer
	var keys []uint64
	errs := false
	for len(body) > 0 {
		action, rest, ok := bytes.Cut(body, []byte{'\n'})
		if len(bytes.TrimSpace(action)) == 0 {
			body = rest
			continue
		}
		doc, rest2, ok2 := bytes.Cut(rest, []byte{'\n'})
		if !ok || !ok2 {
			badRequest("The bulk request must be terminated by a newline [\\n]")
			return
		}
		body = rest2
		if !bytes.HasPrefix(action, []byte(`{"create":{`)) {
			badRequest("only create is allowed for a data stream")
			return
		}
		index, id := field(action, "_index"), field(action, "_id")
		if len(doc) == 0 || doc[0] != '{' {
			badRequest("Malformed document")
			return
		}
		if items.Len() > 0 {
			items.WriteByte(',')
		}
		p.mu.Lock()
		_, dup := p.ids[string(id)]
		if !dup {
			p.ids[string(id)] = struct{}{}
		}
		p.mu.Unlock()
		keys = append(keys, key(id))
		if dup {
			errs = true
			fmt.Fprintf(&items, `{"create":{"_index":%q,"_id":%q,"status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}}`, index, id)
		} else {
			fmt.Fprintf(&items, `{"create":{"_index":%q,"_id":%q,"status":201,"result":"created"}}`, index, id)
		}
	}
	p.got.add(keys...)
	out.WriteString(strconv.FormatBool(errs))
	out.WriteString(`,"items":[`)
	out.Write(items.Bytes())
	out.WriteString(`]}`)
	w.Write(out.Bytes())
}

// field is the string value of "name" in a flat JSON line (an action
// line privtrail wrote: no escapes in these values).
func field(line []byte, name string) []byte {
	k := []byte(`"` + name + `":"`)
	i := bytes.Index(line, k)
	if i < 0 {
		return nil
	}
	v := line[i+len(k):]
	if j := bytes.IndexByte(v, '"'); j >= 0 {
		return v[:j]
	}
	return nil
}

// serve runs h on a loopback port.
func serve(h http.Handler) (string, *http.Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), srv, nil
}

// syslogPeer is a syslog receiver over TCP with line-feed framing: a
// real rsyslogd writing every message to a file when one is installed
// (what the QRadar output's own tests use), else a listener in process
// counting lines.
type syslogPeer struct {
	addr string
	got  *tally
	what string
	stop func()
}

func newSyslogPeer(dir string) (*syslogPeer, error) {
	if bin := rsyslogd.Path(); bin != "" {
		return startRsyslog(bin, dir)
	}
	return listenSyslog()
}

func (p *syslogPeer) close() { p.stop() }

func listenSyslog() (*syslogPeer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &syslogPeer{addr: ln.Addr().String(), got: newTally(), what: "TCP syslog listener (in process)"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	p.stop = func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				sc := bufio.NewScanner(c)
				sc.Buffer(make([]byte, 256<<10), 1<<20)
				for sc.Scan() {
					p.got.add(key(sc.Bytes()))
				}
			}()
		}
	}()
	return p, nil
}

// startRsyslog runs rsyslogd on a free loopback port, writing each
// message's raw bytes as a line of dir/raw.log, which a goroutine tallies
// as it grows.
func startRsyslog(bin, dir string) (*syslogPeer, error) {
	dir = filepath.Join(dir, "rsyslog")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	raw := filepath.Join(dir, "raw.log")
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="256k" parser.escapeControlCharactersOnReceive="off")
module(load="imtcp")
template(name="raw" type="string" string="%%rawmsg%%\n")
ruleset(name="received") {
  action(type="omfile" file=%q template="raw" asyncWriting="on" ioBufferSize="256k" flushOnTXEnd="on")
}
input(type="imtcp" port="0" listenPortFileName=%q ruleset="received")
`, dir, raw, rsyslogd.PortFile(dir))
	proc, err := rsyslogd.Start(bin, dir, conf, 0)
	if err != nil {
		return nil, err
	}
	p := &syslogPeer{addr: proc.Addr(), got: newTally(), what: "rsyslogd (imtcp → omfile)"}
	done := make(chan struct{})
	follower := make(chan struct{})
	go func() {
		defer close(follower)
		follow(raw, p.got, done)
	}()
	p.stop = func() {
		proc.Signal(syscall.SIGTERM)
		close(done)
		<-follower
	}
	return p, nil
}

// follow tallies the lines appended to path until done is closed (then
// once more, for what was written last).
func follow(path string, t *tally, done <-chan struct{}) {
	var off int64
	var partial []byte
	buf := make([]byte, 4<<20)
	read := func() {
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		for {
			n, err := f.ReadAt(buf, off)
			off += int64(n)
			data := append(partial, buf[:n]...)
			var keys []uint64
			for {
				line, rest, ok := bytes.Cut(data, []byte{'\n'})
				if !ok {
					break
				}
				keys = append(keys, key(line))
				data = rest
			}
			partial = append(partial[:0:0], data...)
			t.add(keys...)
			if err != nil || n == 0 {
				return
			}
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			read()
			return
		case <-tick.C:
			read()
		}
	}
}
