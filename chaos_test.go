package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/privtrail/privtrail/agent"
	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/logbuf"
	"github.com/privtrail/privtrail/internal/tmpfs"
	"github.com/privtrail/privtrail/outputs"
	fileoutput "github.com/privtrail/privtrail/outputs/file"
)

// The chaos suite runs the real `privtrail run` (this test binary re-run
// as privtrail, see TestMain) over a file of generated sign-ins, with a
// Splunk HEC output to an HEC in this process and a file output beside it,
// and injects faults while the run is under way, in a seeded random
// order: kill -9 (then a restart on the same data directory), the HEC
// answering 503, the HEC hanging, the HEC closing connections mid-request,
// and the data directory's disk full (a tmpfs; as root only). Some faults
// end with a SIGTERM while they last. After the faults a clean run goes to
// the end, and then every record must have reached both outputs at least
// once, with the monitor hits of one uninterrupted run.
//
// The short version runs in `go test ./...`; PRIVTRAIL_CHAOS_LONG=1 runs
// the long one (README, "Chaos suite").
const (
	chaosLongEnv    = "PRIVTRAIL_CHAOS_LONG"
	chaosSeedEnv    = "PRIVTRAIL_CHAOS_SEED"
	chaosRecordsEnv = "PRIVTRAIL_CHAOS_RECORDS"
	chaosFaultsEnv  = "PRIVTRAIL_CHAOS_FAULTS"
	chaosTokenEnv   = "PRIVTRAIL_CHAOS_HEC_TOKEN"
	chaosToken      = "0b9c5b6e-chaos-hec-token"
)

// Sizes of the chaos run: small batches and a small HEC disk buffer keep
// the file input close behind the HEC, so that every fault meets records
// in flight in every stage.
const (
	chaosInputBatch = 250
	chaosHECBatch   = 250
	chaosBufferSize = 1 << 20
	// chaosLead bounds how far the file input reads ahead of what the HEC
	// has: the HEC buffer (1 MiB, under 1,000 events) and the batches in
	// flight (10, see the duplicates' bound). A fault must leave at least
	// this much to read, or the run has nothing left that a full disk
	// would stop; a stop's drain may deliver this much.
	chaosLead = 5000
	// chaosTimeout is the HEC output's request timeout.
	chaosTimeout = 2 * time.Second
	// The data directory's tmpfs: the store, the HEC buffer and the
	// archive, with room for duplicates.
	chaosDiskSize     = 64 << 20
	chaosArchiveBytes = 1536
)

type faultKind int

const (
	faultKill faultKind = iota
	faultBusy
	faultHang
	faultReset
	faultDiskFull
	faultKinds
)

func (k faultKind) String() string {
	return [...]string{"kill -9", "HEC 503", "HEC hang", "HEC connection closed", "disk full"}[k]
}

type fault struct {
	kind faultKind
	// at is the number of distinct records the HEC has when the fault
	// strikes: the HEC pauses there (503) until the fault begins.
	at int
	// dur is how long the fault lasts at least (it lasts until it was
	// felt).
	dur time.Duration
	// kill lands once the HEC has this share of the records up to the
	// next fault more, while records flow.
	kill float64
	// stop ends the fault's child with SIGTERM while the fault lasts.
	stop bool
}

// chaosPlan draws the faults: every kind at least once when there are
// enough faults, in a random order, spread over the run.
func chaosPlan(rng *rand.Rand, records, faults int, disk bool) []fault {
	var kinds []faultKind
	for k := range faultKinds {
		if k != faultDiskFull || disk {
			kinds = append(kinds, k)
		}
	}
	var plan []fault
	for i := range faults {
		k := kinds[rng.IntN(len(kinds))]
		if i < len(kinds) {
			k = kinds[i]
		}
		dur := time.Duration(300+rng.IntN(1700)) * time.Millisecond
		if k == faultHang {
			dur += chaosTimeout // long enough for the client to give up
		}
		plan = append(plan, fault{kind: k, dur: dur,
			kill: rng.Float64() / 2, stop: k != faultKill && rng.IntN(3) == 0})
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	// Both exit codes of a stop are seen: a stop during an HEC outage
	// (0: nothing left over once the HEC is back) and during a full disk
	// (3: monitor state not stored).
	for _, want := range []faultKind{faultBusy, faultDiskFull} {
		for i := range plan {
			if plan[i].kind == want {
				plan[i].stop = true
				break
			}
		}
	}
	// Spread over the records, short of the last 2×chaosLead: every fault
	// leaves records to read.
	span := float64(records - 2*chaosLead)
	for i := range plan {
		plan[i].at = int(span * (float64(i) + 0.5 + rng.Float64()/2) / float64(len(plan)+1))
	}
	return plan
}

// chaosID is the id of generated record i.
func chaosID(i int) string { return fmt.Sprintf("chaos-%07d", i) }

func chaosIndex(id string, n int) (int, bool) {
	s, ok := strings.CutPrefix(id, "chaos-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < n
}

// chaosAdmins are the privileged users who sign in all the time; the
// others come and go (a user signs in over some 500 records, then never
// again), so that the monitor state keeps growing: a full disk then
// fails the state's writes, not only the buffers'.
const chaosAdmins, chaosSpan, chaosEvery = 16, 16, 32

func chaosUser(u int) (id, upn string) {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", u), fmt.Sprintf("adm_%06d@contoso.example", u)
}

// writeChaosInput writes n Graph sign-ins, one a line, and the role map
// that makes their users privileged. The busy admins' wrong passwords
// come often enough that signin.bad_password_threshold (5 in 10 minutes)
// fires now and then, and signin.lockout on the rare 50053.
func writeChaosInput(t *testing.T, dir string, n int, seed uint64) (input, roleMap string) {
	t.Helper()
	users := chaosAdmins + n/chaosEvery + chaosSpan
	var rm bytes.Buffer
	rm.WriteString("users:\n")
	for u := range users {
		id, upn := chaosUser(u)
		fmt.Fprintf(&rm, "  - id: %s\n    upn: %s\n    roles:\n"+
			"      - {name: Global Administrator, template_id: 62e90394-69f5-4237-9190-012177145e10, assignment: active, via: direct}\n", id, upn)
	}
	roleMap = filepath.Join(dir, "rolemap.yaml")
	if err := os.WriteFile(roleMap, rm.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	input = filepath.Join(dir, "signins.jsonl")
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	start := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	apps := []string{"Azure Portal", "Microsoft Graph PowerShell", "Office 365 Exchange Online", "Azure CLI"}
	for i := range n {
		var u, code int
		if rng.IntN(4) == 0 {
			u = rng.IntN(chaosAdmins)
			switch r := rng.IntN(100); {
			case r < 16:
				code = 50126
			case r < 17:
				code = 50053
			}
		} else {
			u = chaosAdmins + i/chaosEvery + rng.IntN(chaosSpan)
			if rng.IntN(10) == 0 {
				code = 50126
			}
		}
		userID, upn := chaosUser(u)
		at := start.Add(time.Duration(i) * 250 * time.Millisecond)
		fmt.Fprintf(w, `{"id":%q,"createdDateTime":%q,"userId":%q,"userPrincipalName":%q,"appDisplayName":%q,"ipAddress":"203.0.113.%d",`+
			`"clientAppUsed":"Browser","isInteractive":true,"status":{"errorCode":%d},"deviceDetail":{"deviceId":"dev-%d","browser":"Edge 120","operatingSystem":"Windows10"},`+
			`"location":{"city":"Lyon","countryOrRegion":"FR"}}`+"\n",
			chaosID(i), at.Format(time.RFC3339Nano), userID, upn, apps[rng.IntN(len(apps))], 1+rng.IntN(200), code, rng.IntN(4))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return input, roleMap
}

// chaosHEC is an HTTP Event Collector that records how often each
// generated record arrived and the monitors it carried, and misbehaves on
// demand.
type chaosHEC struct {
	n int

	mu       sync.Mutex
	counts   []uint16          // deliveries per record
	distinct int               // records delivered at least once
	hits     map[int]string    // the monitors of each record's first delivery (none: absent)
	problems []string          // unknown ids, a delivery judged otherwise than the first, bad requests
	mode     faultKind         // faultBusy, faultHang, faultReset, or faultKill for none
	pauseAt  int               // distinct records at which to answer 503 until told otherwise
	hang     chan struct{}     // closed when a hang ends
	felt     map[faultKind]int // requests that met each fault
	paused   int               // requests refused by the pause
	requests int
	// resent are events recorded by requests whose connection was then
	// closed without an answer, or whose client had given up: each
	// arrives again, by design.
	resent int
	resets int
}

func newChaosHEC(n int) *chaosHEC {
	return &chaosHEC{n: n, counts: make([]uint16, n), hits: map[int]string{}, mode: faultKill, felt: map[faultKind]int{}}
}

func (h *chaosHEC) problem(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.problems) < 20 {
		h.problems = append(h.problems, fmt.Sprintf(format, args...))
	}
}

// chaosDoc is what the checks read of a record as an output wrote it: its
// id (a Graph record as read, or in the diagnostic envelope) and its
// monitors.
type chaosDoc struct {
	ID         string `json:"id"`
	Properties struct {
		ID string `json:"id"`
	} `json:"properties"`
	Privtrail struct {
		Monitors []struct {
			ID string `json:"id"`
		} `json:"monitors"`
	} `json:"privtrail"`
}

func (d *chaosDoc) id() string {
	if d.ID != "" {
		return d.ID
	}
	return d.Properties.ID
}

func (d *chaosDoc) monitors() string {
	var ids []string
	for _, m := range d.Privtrail.Monitors {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

func (h *chaosHEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/services/collector/health":
		w.Write([]byte(`{"text":"HEC is healthy","code":17}`))
		return
	case "/services/collector/event":
	default:
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Splunk "+chaosToken {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"text":"Invalid token","code":4}`))
		h.problem("a request with the wrong token")
		return
	}
	h.mu.Lock()
	h.requests++
	mode, hang := h.mode, h.hang
	paused := mode == faultKill && h.distinct >= h.pauseAt
	switch {
	case paused:
		h.paused++
	case mode != faultKill:
		h.felt[mode]++
	}
	var full bool
	if mode == faultReset {
		h.resets++
		full = h.resets%2 == 0
	}
	h.mu.Unlock()

	busy := func() {
		w.Header().Set("Content-Type", "application/json")
		if !paused {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"text":"Server is busy","code":9}`))
	}
	switch {
	case paused || mode == faultBusy:
		io.Copy(io.Discard, r.Body)
		busy()
		return
	case mode == faultReset && !full:
		// Half the body read, then the connection closed: the request
		// is cut off while it is being sent.
		io.CopyN(io.Discard, r.Body, max(r.ContentLength/2, 1))
		h.closeConn(w)
		return
	}
	body, err := h.read(r)
	if err != nil {
		return // the client went away
	}
	if mode == faultHang {
		// Taken, and not answered until the hang ends; a client that
		// gave up first gets nothing, and nothing was recorded.
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
		if r.Context().Err() != nil {
			return
		}
	}
	n, ok := h.record(body)
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"text":"Invalid data format","code":6}`))
		return
	}
	if mode == faultReset {
		// Indexed, and the connection closed before the answer: the
		// client cannot tell, and sends these events again.
		h.mu.Lock()
		h.resent += n
		h.mu.Unlock()
		h.closeConn(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"text":"Success","code":0}`))
	if r.Context().Err() != nil {
		// Indexed as the client gave up (its timeout, on a loaded
		// machine): it sends these events again.
		h.mu.Lock()
		h.resent += n
		h.mu.Unlock()
	}
}

func (h *chaosHEC) closeConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.problem("hijack: %v", err)
		return
	}
	conn.Close()
}

func (h *chaosHEC) read(r *http.Request) ([]byte, error) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		body = zr
	}
	return io.ReadAll(body)
}

// record parses stacked HEC events and counts their records.
func (h *chaosHEC) record(body []byte) (int, bool) {
	type got struct {
		i        int
		monitors string
	}
	var evs []got
	dec := json.NewDecoder(bytes.NewReader(body))
	for dec.More() {
		var ev struct {
			Event chaosDoc `json:"event"`
		}
		if err := dec.Decode(&ev); err != nil {
			h.problem("an HEC request that does not parse: %v", err)
			return 0, false
		}
		i, ok := chaosIndex(ev.Event.id(), h.n)
		if !ok {
			h.problem("an HEC event with an unknown id %q", ev.Event.id())
			continue
		}
		evs = append(evs, got{i, ev.Event.monitors()})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range evs {
		if h.counts[ev.i] == 0 {
			h.distinct++
			if ev.monitors != "" {
				h.hits[ev.i] = ev.monitors
			}
		} else if h.hits[ev.i] != ev.monitors && len(h.problems) < 20 {
			h.problems = append(h.problems, fmt.Sprintf("%s delivered again to the HEC with hits %q, first %q", chaosID(ev.i), ev.monitors, h.hits[ev.i]))
		}
		if h.counts[ev.i] < 1<<16-1 {
			h.counts[ev.i]++
		}
	}
	return len(evs), true
}

// pause makes the HEC answer 503 once it holds at records distinct
// records, until begin or resume.
func (h *chaosHEC) pause(at int) {
	h.mu.Lock()
	h.pauseAt = at
	h.mu.Unlock()
}

func (h *chaosHEC) pausedRequests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.paused
}

// begin starts an HEC fault.
func (h *chaosHEC) begin(k faultKind) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mode = k
	if k == faultHang {
		h.hang = make(chan struct{})
	}
}

// end ends the HEC fault; the HEC pauses again at next records.
func (h *chaosHEC) end(next int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pauseAt = next
	if h.hang != nil {
		close(h.hang)
		h.hang = nil
	}
	h.mode = faultKill
}

func (h *chaosHEC) feltCount(k faultKind) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.felt[k]
}

func (h *chaosHEC) progress() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.distinct
}

// chaosChild is one `privtrail run` process.
type chaosChild struct {
	cmd  *exec.Cmd
	log  *logbuf.Buffer
	done chan struct{}
	err  error
}

func (c *chaosChild) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// status is how the child ended: "0", "3", "SIGKILL"...
func (c *chaosChild) status() string {
	var ee *exec.ExitError
	switch {
	case c.err == nil:
		return "0"
	case errors.As(c.err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			switch ws.Signal() {
			case syscall.SIGKILL:
				return "SIGKILL"
			case syscall.SIGTERM:
				return "SIGTERM"
			}
			return ws.Signal().String()
		}
		return strconv.Itoa(ee.ExitCode())
	default:
		return c.err.Error()
	}
}

// chaosRig runs children over one data directory and keeps the figures.
type chaosRig struct {
	t      *testing.T
	cfg    string
	hec    *chaosHEC
	child  *chaosChild
	starts int
	exits  map[string]int
}

func (c *chaosRig) start() {
	c.t.Helper()
	cmd := exec.Command(os.Args[0], "run", "-c", c.cfg)
	cmd.Env = append(os.Environ(), runPrivtrailEnv+"=1")
	log := &logbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	ch := &chaosChild{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { ch.err = cmd.Wait(); close(ch.done) }()
	c.child, c.starts = ch, c.starts+1
}

// fatal fails the test with the last child's log.
func (c *chaosRig) fatal(format string, args ...any) {
	c.t.Helper()
	log := ""
	if c.child != nil {
		log = c.child.log.String()
		if len(log) > 6000 {
			log = "…" + log[len(log)-6000:]
		}
	}
	c.t.Fatalf("%s\nlast privtrail's log:\n%s", fmt.Sprintf(format, args...), log)
}

// until polls cond until it holds; the child must not end meanwhile.
func (c *chaosRig) until(what string, timeout time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if c.child.exited() {
			c.fatal("privtrail ended (%s) while waiting for %s", c.child.status(), what)
		}
		if time.Now().After(deadline) {
			c.fatal("no %s in %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lasting lets a fault last d, then polls felt.
func (c *chaosRig) lasting(what string, d time.Duration, felt func() bool) {
	c.t.Helper()
	end := time.Now().Add(d)
	c.until(what, d+2*time.Minute, func() bool { return time.Now().After(end) && felt() })
}

// wait waits for the child to end and checks how.
func (c *chaosRig) wait(timeout time.Duration, want ...string) string {
	c.t.Helper()
	select {
	case <-c.child.done:
	case <-time.After(timeout):
		c.child.cmd.Process.Kill()
		<-c.child.done
		c.fatal("privtrail did not end in %s", timeout)
	}
	got := c.child.status()
	c.exits[got]++
	if !slices.Contains(want, got) {
		c.fatal("privtrail ended with %s, want %s", got, strings.Join(want, " or "))
	}
	// What README says of the exit status: 3 is a stop with work left
	// for the next start, 0 one with nothing left over; and never 1.
	log := c.child.log.String()
	if left := strings.Contains(log, "stopped with work left for the next start"); left != (got == "3") && got != "SIGKILL" {
		c.fatal("privtrail ended with %s, and its log says work was left: %v", got, left)
	}
	return got
}

func (c *chaosRig) signal(s syscall.Signal) {
	c.t.Helper()
	if err := c.child.cmd.Process.Signal(s); err != nil {
		c.fatal("signal %v: %v", s, err)
	}
}

// chaosReference runs the records once, uninterrupted, in this process
// and returns the monitors of each record that had a hit.
func chaosReference(t *testing.T, cfgPath, dir string, n int) map[int]string {
	t.Helper()
	cfg, err := agent.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = filepath.Join(dir, "reference")
	cfg.DeadLetter = filepath.Join(dir, "reference", "dead-letter.jsonl")
	cfg.Outputs = []outputs.Entry{{Name: "null", Type: "stdout", Config: &fileoutput.StdoutConfig{}}}
	var log logbuf.Buffer
	a := agent.New(cfg, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn})))
	a.Stdout = io.Discard
	ref := &chaosCollect{n: n, hits: map[int]string{}}
	a.AddOutput("reference", ref)
	if err := a.Run(context.Background()); err != nil {
		t.Fatalf("reference run: %v\n%s", err, log.String())
	}
	if ref.seen != n {
		t.Fatalf("reference run: %d records, want %d\n%s", ref.seen, n, log.String())
	}
	return ref.hits
}

type chaosCollect struct {
	n, seen int
	hits    map[int]string
}

func (c *chaosCollect) Consume(_ context.Context, b *batch.Batch) error {
	for _, rec := range b.Records {
		c.seen++
		i, ok := chaosIndex(rec.ID, c.n)
		if !ok {
			return fmt.Errorf("unknown id %q", rec.ID)
		}
		var ids []string
		for _, h := range rec.Hits {
			ids = append(ids, h.ID)
		}
		if len(ids) > 0 {
			slices.Sort(ids)
			c.hits[i] = strings.Join(ids, ",")
		}
	}
	b.Ack()
	return nil
}

func (c *chaosCollect) Close(context.Context) error { return nil }

// chaosFileOutput reads the file output: every line whole and valid, and
// each record's deliveries and first monitors.
func chaosFileOutput(t *testing.T, path string, n int) (counts []uint16, hits map[int]string, lines int, problems []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts, hits = make([]uint16, n), map[int]string{}
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		lines++
		bad := func(format string, args ...any) {
			if len(problems) < 20 {
				problems = append(problems, fmt.Sprintf("file output line %d: %s: %.200s", lines, fmt.Sprintf(format, args...), line))
			}
		}
		if err == io.EOF {
			bad("torn: no newline at the end of the file")
			break
		}
		var doc chaosDoc
		if err := json.Unmarshal(line, &doc); err != nil {
			bad("does not parse: %v", err)
			continue
		}
		i, ok := chaosIndex(doc.id(), n)
		if !ok {
			bad("unknown id %q", doc.id())
			continue
		}
		m := doc.monitors()
		if counts[i] == 0 {
			if m != "" {
				hits[i] = m
			}
		} else if hits[i] != m {
			bad("%s delivered again with hits %q, first %q", doc.id(), m, hits[i])
		}
		if counts[i] < 1<<16-1 {
			counts[i]++
		}
	}
	return counts, hits, lines, problems
}

// chaosCanMount says whether this process may mount a tmpfs (root with
// CAP_SYS_ADMIN), without skipping the test when it may not.
func chaosCanMount(t *testing.T) bool {
	if os.Geteuid() != 0 {
		return false
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1048576"); err != nil {
		return false
	}
	return syscall.Unmount(dir, syscall.MNT_DETACH) == nil
}

func chaosEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills privtrail processes for several seconds")
	}
	records, faults := 20_000, 6
	seed := uint64(16)
	if os.Getenv(chaosLongEnv) == "1" {
		records, faults, seed = 1_000_000, 50, uint64(time.Now().UnixNano())
	}
	records = chaosEnvInt(t, chaosRecordsEnv, records)
	faults = chaosEnvInt(t, chaosFaultsEnv, faults)
	if v := os.Getenv(chaosSeedEnv); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a number", chaosSeedEnv, v)
		}
		seed = s
	}
	if (records-2*chaosLead)/(faults+1) < 4*chaosHECBatch {
		t.Fatalf("%d records are too few for %d faults: at least %d", records, faults, 2*chaosLead+4*chaosHECBatch*(faults+1))
	}
	t.Setenv(chaosTokenEnv, chaosToken) // for the reference run's config; children inherit it
	began := time.Now()
	dir := t.TempDir()
	input, roleMap := writeChaosInput(t, dir, records, seed)

	var disk *tmpfs.FS
	dataDir := filepath.Join(dir, "data")
	if chaosCanMount(t) {
		disk = tmpfs.Mount(t, chaosDiskSize+int64(records)*chaosArchiveBytes)
		dataDir = filepath.Join(disk.Dir, "data")
	} else {
		t.Log("not root: no disk-full fault (it needs a tmpfs to fill)")
	}
	rng := rand.New(rand.NewPCG(seed, 0xc4a05))
	plan := chaosPlan(rng, records, faults, disk != nil)
	t.Logf("chaos seed %d (%s=%d to run it again): %d records, %d faults", seed, chaosSeedEnv, seed, records, len(plan))

	hec := newChaosHEC(records)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	// The archive is in the data directory, as in configs/privtrail.yaml:
	// a full disk stops it too.
	out := filepath.Join(dataDir, "archive.jsonl")
	pipeline, err := filepath.Abs("pipelines/privileged-accounts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "privtrail.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `data_dir: %s
log: {level: info}
http: {listen: "off"}
workers: 2
inputs:
  - name: signins
    file: {paths: [%s], batch_size: %d}
outputs:
  - name: hec
    splunk:
      url: %s
      allow_http: true
      token: ${%s}
      timeout: %v
      max_backoff: 500ms
      batch_size: %d
      batch_bytes: 512KiB
      flush_interval: 50ms
      buffer: {max_bytes: %d}
  - name: archive
    file: {path: %s}
context:
  privilege: {role_map: %s}
pipelines: [%s]
`, dataDir, input, chaosInputBatch, srv.URL, chaosTokenEnv, chaosTimeout, chaosHECBatch, chaosBufferSize, out, roleMap, pipeline), 0o600); err != nil {
		t.Fatal(err)
	}

	ref := chaosReference(t, cfg, dir, records)
	refTime := time.Since(began)
	byMonitor := map[string]int{}
	for _, m := range ref {
		for id := range strings.SplitSeq(m, ",") {
			byMonitor[id]++
		}
	}
	if byMonitor["signin.bad_password_threshold"] == 0 {
		t.Fatalf("the records never fire signin.bad_password_threshold: the test proves nothing (hits %v)", byMonitor)
	}

	c := &chaosRig{t: t, cfg: cfg, hec: hec, exits: map[string]int{}}
	byKind := map[faultKind]int{}
	stops, unclean := 0, 0
	hec.pause(plan[0].at)
	c.start()
	for k, f := range plan {
		next := records + 1
		if k+1 < len(plan) {
			next = plan[k+1].at
		}
		since := hec.pausedRequests()
		c.until(fmt.Sprintf("pause of the HEC at %d records before fault %d (%v)", f.at, k+1, f.kind), 2*time.Minute,
			func() bool { return hec.pausedRequests() > since })
		byKind[f.kind]++
		// A stop's drain delivers what was read; it must leave records
		// for the faults after it.
		stop := f.stop
		if stop && records-hec.progress() < 2*chaosLead {
			t.Logf("fault %d: no stop, %d records from the end", k+1, records-hec.progress())
			stop = false
		}
		// Where the HEC pauses again while records flow into a kill or
		// a full disk: the next fault, or short of the end, so that the
		// run cannot finish under the fault.
		guard := func(at int) int {
			g := next
			if g > records {
				g = at + (records-at)*3/4
			}
			return max(g, at+2*chaosHECBatch)
		}
		switch f.kind {
		case faultKill:
			// Records flow again (the HEC pauses at the next fault, or
			// before the end: the run cannot finish under the kill), and
			// the kill lands among them.
			at := hec.progress()
			g := guard(at)
			target := at + chaosHECBatch + int(f.kill*float64(g-at))
			t.Logf("fault %d at %d records: %v once the HEC has %d", k+1, at, f.kind, target)
			paused := hec.pausedRequests()
			hec.pause(g)
			c.until("records flowing before the kill", 2*time.Minute, func() bool {
				return hec.progress() >= target || hec.pausedRequests() > paused
			})
			c.signal(syscall.SIGKILL)
			c.wait(time.Minute, "SIGKILL")
			unclean++
			hec.pause(next)
			c.start()

		case faultBusy, faultHang, faultReset:
			t.Logf("fault %d at %d records: %v for %v, stop %v", k+1, hec.progress(), f.kind, f.dur, stop)
			before := hec.feltCount(f.kind)
			hec.begin(f.kind)
			c.lasting(fmt.Sprintf("request meeting the %v", f.kind), f.dur, func() bool { return hec.feltCount(f.kind) > before })
			if !stop {
				hec.end(next)
				break
			}
			// Stopped while the HEC fails; it comes back within the drain
			// (30 s), so everything reaches it and nothing is left over.
			stops++
			c.signal(syscall.SIGTERM)
			time.Sleep(300 * time.Millisecond)
			hec.end(records + 1)
			c.wait(2*time.Minute, "0")
			hec.pause(next)
			c.start()

		case faultDiskFull:
			// Filled while the HEC pauses; then records flow into it (up
			// to the next fault, or short of the end: the run cannot
			// finish before the full disk is felt).
			at := hec.progress()
			t.Logf("fault %d at %d records: %v for %v, stop %v", k+1, at, f.kind, f.dur, stop)
			mark := len(c.child.log.String())
			disk.Fill()
			hec.pause(guard(at))
			since := func(s string) func() bool {
				return func() bool { return strings.Contains(c.child.log.String()[mark:], s) }
			}
			c.lasting("write failing on the full disk", f.dur, since("no space left on device"))
			if !stop {
				disk.Free()
				hec.pause(next)
				break
			}
			// Stopped while the disk is full; it frees up within the drain.
			// A pipeline still waiting to store its monitor state when told
			// to stop leaves work for the next start (exit 3); one whose
			// write went through meanwhile (the output buffer gives the
			// space of delivered segments back) says so and may end clean.
			stops++
			hec.pause(records + 1)
			c.signal(syscall.SIGTERM)
			time.Sleep(300 * time.Millisecond)
			disk.Free()
			exit := c.wait(2*time.Minute, "0", "3")
			log := c.child.log.String()[mark:]
			held := strings.LastIndex(log, "monitor state not stored; the pipeline waits until it is")
			if exit == "0" && held >= 0 && strings.LastIndex(log, "monitor state stored again") < held {
				t.Fatalf("privtrail ended clean (0) while its monitor state was not stored:\n%s", log)
			}
			if exit == "3" {
				unclean++
				log := c.child.log.String()
				t.Logf("exit 3: %s", strings.TrimSpace(log[strings.LastIndex(log, "stopped with work left"):]))
			}
			hec.pause(next)
			c.start()
		}
	}
	// The clean run to the end.
	hec.pause(records + 1)
	c.wait(time.Duration(5+records/2000)*time.Minute, "0")
	elapsed := time.Since(began)

	// Every record reached both outputs; a record delivered again was
	// judged the same; the monitors hit what one uninterrupted run hits.
	hec.mu.Lock()
	hecCounts, hecHits, hecProblems := slices.Clone(hec.counts), maps.Clone(hec.hits), slices.Clone(hec.problems)
	requests, paused, resent := hec.requests, hec.paused, hec.resent
	hec.mu.Unlock()
	fileCounts, fileHits, lines, fileProblems := chaosFileOutput(t, out, records)
	for _, p := range append(hecProblems, fileProblems...) {
		t.Error(p)
	}
	tally := func(what string, counts []uint16, hits map[int]string) (lost, dups int) {
		for i, n := range counts {
			switch {
			case n == 0:
				if lost++; lost <= 5 {
					t.Errorf("%s: %s never arrived", what, chaosID(i))
				}
			default:
				dups += int(n) - 1
			}
		}
		if lost > 0 {
			t.Errorf("%s: %d of %d records lost", what, lost, records)
		}
		wrong := 0
		for i := range records {
			if counts[i] > 0 && hits[i] != ref[i] {
				if wrong++; wrong <= 5 {
					t.Errorf("%s: %s hit %q, one uninterrupted run %q", what, chaosID(i), hits[i], ref[i])
				}
			}
		}
		if wrong > 0 {
			t.Errorf("%s: %d records judged otherwise than by one uninterrupted run", what, wrong)
		}
		return lost, dups
	}
	hecLost, hecDups := tally("HEC", hecCounts, hecHits)
	fileLost, fileDups := tally("file output", fileCounts, fileHits)

	// Duplicates are bounded. A run that ended with work left (kill -9,
	// exit 3) has its unacknowledged batches read again: the batches
	// between the input and its last checkpoint, which the queues bound
	// (the pipeline's workers+1, one in the sequencer's hand, two queued
	// and one in hand at the slowest output, one at the input; 8 with 2
	// workers, 10 allowed), and the HEC request in flight. A connection
	// closed after the HEC indexed a request, or a hung request answered
	// as the client gave up, sends that request again.
	const inFlight = 10
	fileBound := unclean * inFlight * chaosInputBatch
	hecBound := unclean*(inFlight*chaosInputBatch+chaosHECBatch) + resent + byKind[faultHang]*chaosHECBatch
	if fileDups > fileBound {
		t.Errorf("file output: %d duplicates, more than %d (%d runs ended with work left)", fileDups, fileBound, unclean)
	}
	if hecDups > hecBound {
		t.Errorf("HEC: %d duplicates, more than %d (%d runs ended with work left, %d events indexed without the client seeing the answer)", hecDups, hecBound, unclean, resent)
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, "dead-letter.jsonl")); err != nil && !os.IsNotExist(err) {
		t.Error(err)
	} else if len(b) > 0 {
		t.Errorf("dead letters of valid records:\n%.2000s", b)
	}

	var kinds []string
	for k := range faultKinds {
		if byKind[k] > 0 {
			kinds = append(kinds, fmt.Sprintf("%v %d", k, byKind[k]))
		}
	}
	var exits []string
	for _, s := range slices.Sorted(maps.Keys(c.exits)) {
		exits = append(exits, fmt.Sprintf("%s ×%d", s, c.exits[s]))
	}
	var hitFigures []string
	for _, m := range slices.Sorted(maps.Keys(byMonitor)) {
		hitFigures = append(hitFigures, fmt.Sprintf("%s %d", m, byMonitor[m]))
	}
	t.Logf("chaos seed %d: %d records, %d faults (%s), %d stops, %d runs; exits %s", seed, records, len(plan), strings.Join(kinds, ", "),
		stops, c.starts, strings.Join(exits, ", "))
	var archive int64
	if fi, err := os.Stat(out); err == nil {
		archive = fi.Size()
	}
	t.Logf("lost: HEC %d, file %d of %d; duplicates: HEC %d (bound %d; %d events indexed without the client seeing the answer), file %d (bound %d); "+
		"%d file lines (%d MB); %d HEC requests, %d refused while paused for a fault",
		hecLost, fileLost, records, hecDups, hecBound, resent, fileDups, fileBound, lines, archive>>20, requests, paused)
	t.Logf("records with hits %d (%s), the same as one uninterrupted run; reference run %v, total %v",
		len(ref), strings.Join(hitFigures, ", "), refTime.Round(time.Millisecond), elapsed.Round(time.Millisecond))
}
