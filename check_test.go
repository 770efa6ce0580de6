package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

const (
	testHECToken   = "0b7e6c1d-hec-token-never-printed"
	testESPassword = "es-password-never-printed"
)

// fakeHEC answers the two requests privtrail check sends a Splunk HTTP
// Event Collector, as HEC does: the health endpoint, and an empty event
// POST (400 code 5 "No data" for a valid token, 403 code 4 otherwise).
func fakeHEC(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/services/collector/health":
			fmt.Fprint(w, `{"text":"HEC is healthy","code":17}`)
		case "/services/collector/event":
			if r.Header.Get("Authorization") != "Splunk "+testHECToken {
				w.WriteHeader(403)
				fmt.Fprint(w, `{"text":"Invalid token","code":4}`)
				return
			}
			w.WriteHeader(400)
			fmt.Fprint(w, `{"text":"No data","code":5}`)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeES answers GET / and _has_privileges (every privilege held) for the
// user privtrail with testESPassword, 401 for anyone else.
func fakeES(t *testing.T) *httptest.Server {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("privtrail:"+testESPassword))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != auth {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":{"type":"security_exception","reason":"unable to authenticate user [privtrail] for REST request [/]"},"status":401}`)
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/":
			fmt.Fprint(w, `{"name":"es01","cluster_name":"prod","version":{"number":"8.15.0"}}`)
		case r.Method == http.MethodPost && r.URL.Path == "/_security/user/_has_privileges":
			var req struct {
				Cluster []string `json:"cluster"`
				Index   []struct {
					Names      []string `json:"names"`
					Privileges []string `json:"privileges"`
				} `json:"index"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			held := func(privs []string) map[string]bool {
				m := map[string]bool{}
				for _, p := range privs {
					m[p] = true
				}
				return m
			}
			index := map[string]map[string]bool{}
			for _, ix := range req.Index {
				for _, n := range ix.Names {
					index[n] = held(ix.Privileges)
				}
			}
			json.NewEncoder(w).Encode(map[string]any{"username": "privtrail", "has_all_requested": true, "cluster": held(req.Cluster), "index": index})
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// check runs privtrail check on a config with every kind of source and
// destination privtrail checks, each pointing at a fake.
func TestCheckTestsSourcesAndDestinations(t *testing.T) {
	hec, es := fakeHEC(t), fakeES(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "privtrail-records"), kfake.SeedTopics(2, "entra"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	syslog, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syslog.Close() })
	go func() {
		for {
			c, err := syslog.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := down.Addr().String()
	down.Close()

	dir := t.TempDir()
	abs, _ := filepath.Abs("pipelines/privileged-accounts.yaml")
	broker := kc.ListenAddrs()[0]
	writeConfig := func(esPassword string, withDown bool) string {
		t.Helper()
		p := filepath.Join(dir, "privtrail.yaml")
		cfg := fmt.Sprintf(`data_dir: %[1]s
inputs:
  - {name: exports, file: {paths: [%[1]s]}}
  - {name: hub, eventhubs: {brokers: ["%[2]s"], topics: [entra]}}
outputs:
  - {name: splunk-prod, splunk: {url: "%[3]s", token: "${PRIVTRAIL_TEST_HEC_TOKEN}", index: entra, allow_http: true}}
  - {name: es, elastic: {urls: ["%[4]s"], username: privtrail, password: "${PRIVTRAIL_TEST_ES_PASSWORD}"}}
  - {name: siem, qradar: {address: "%[5]s"}}
  - {name: records, kafka: {brokers: ["%[2]s"], topic: privtrail-records}}
  - {name: archive, file: {path: "%[1]s/out/enriched.jsonl"}}
  - {name: console, stdout: {}}
pipelines: [%[6]s]
`, dir, broker, hec.URL, es.URL, syslog.Addr(), abs)
		if withDown {
			cfg = strings.Replace(cfg, "outputs:\n", fmt.Sprintf("outputs:\n  - {name: siem-down, qradar: {address: \"%s\"}}\n", closed), 1)
		}
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PRIVTRAIL_TEST_ES_PASSWORD", esPassword)
		return p
	}
	t.Setenv("PRIVTRAIL_TEST_HEC_TOKEN", testHECToken)

	okLines := []string{
		fmt.Sprintf("input exports (file):        ok      0 files to read; nothing to read at %s yet", dir),
		"input hub (eventhubs):       ok      topic entra: 2 partitions, group privtrail: nothing committed yet (reading starts from the earliest)",
		"output splunk-prod (splunk): ok      HEC healthy, token accepted; index entra not verified (HEC checks it only on events)",
		"output es (elastic):         ok      Elasticsearch 8.15.0 cluster prod, credentials accepted (user privtrail), may write logs-azure.*-privtrail",
		fmt.Sprintf("output siem (qradar):        ok      connected over TCP to %s (no TLS: events travel in clear)", syslog.Addr()),
		"output records (kafka):      ok      topic privtrail-records: 6 partitions, WRITE authorized",
		fmt.Sprintf("output archive (file):       ok      %s/out does not exist yet; %s is writable, the output creates it", dir, dir),
		"output console (stdout):     ok      nothing to check",
	}

	t.Run("all reachable", func(t *testing.T) {
		cfg := writeConfig(testESPassword, false)
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-c", cfg}, &out, &errb); code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
		}
		got := checkLines(out.String())
		if want := strings.Join(okLines, "\n"); got != want {
			t.Errorf("lines\n%s\nwant\n%s", got, want)
		}
		if !strings.Contains(out.String(), cfg+": OK (2 inputs, 6 outputs") {
			t.Errorf("no OK line:\n%s", out.String())
		}
		noSecrets(t, out.String()+errb.String())
	})

	t.Run("failures", func(t *testing.T) {
		cfg := writeConfig("not-the-es-password", true)
		var out, errb bytes.Buffer
		code := run([]string{"check", "-c", cfg}, &out, &errb)
		if code == 0 {
			t.Fatalf("check passed with failures:\n%s", out.String())
		}
		want := []string{
			okLines[0],
			"input hub (eventhubs):       ok      topic entra: 2 partitions, group privtrail: nothing committed yet (reading starts from the earliest)",
			fmt.Sprintf("output siem-down (qradar):   FAILED  connect to %[1]s: dial tcp %[1]s: connect: connection refused", closed),
			okLines[2],
			"output es (elastic):         FAILED  credentials refused (401): check username/password",
		}
		want = append(want, okLines[4:]...)
		if got := checkLines(out.String()); got != strings.Join(want, "\n") {
			t.Errorf("lines\n%s\nwant\n%s", got, strings.Join(want, "\n"))
		}
		if strings.Contains(out.String(), ": OK (") {
			t.Errorf("OK printed despite failures:\n%s", out.String())
		}
		if !strings.Contains(errb.String(), "privtrail: 2 of 9 sources and destinations failed the check") {
			t.Errorf("exit error: %s", errb.String())
		}
		noSecrets(t, out.String()+errb.String())
	})

	t.Run("processor", func(t *testing.T) {
		p := filepath.Join(dir, "processor.yaml")
		cfg := fmt.Sprintf(`data_dir: %[1]s
cluster:
  role: processor
  kafka:
    brokers: ["%[2]s"]
    topic: privtrail-records
outputs:
  - {name: archive, file: {path: "%[1]s/out/enriched.jsonl"}}
pipelines: [%[3]s]
`, dir, broker, abs)
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-c", p}, &out, &errb); code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
		}
		want := strings.Join([]string{
			"input cluster (eventhubs):               ok      topic privtrail-records: 6 partitions, group privtrail-processors: nothing committed yet (reading starts from the earliest)",
			"cluster state (privtrail-records-state): ok      state topic privtrail-records-state missing: the first processor creates it (6 partitions, cleanup.policy=compact; needs CREATE on it)",
			fmt.Sprintf("output archive (file):                   ok      %s/out does not exist yet; %s is writable, the output creates it", dir, dir),
		}, "\n")
		if got := checkLines(out.String()); got != want {
			t.Errorf("lines\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("offline", func(t *testing.T) {
		cfg := writeConfig("not-the-es-password", true)
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-offline", "-c", cfg}, &out, &errb); code != 0 {
			t.Fatalf("-offline: exit %d\n%s%s", code, out.String(), errb.String())
		}
		// Only what is on this host: the files to read, the output folder.
		want := strings.Join([]string{
			fmt.Sprintf("input exports (file):  ok      0 files to read; nothing to read at %s yet", dir),
			fmt.Sprintf("output archive (file): ok      %s/out does not exist yet; %s is writable, the output creates it", dir, dir),
		}, "\n")
		if got := checkLines(out.String()); got != want {
			t.Errorf("-offline checked\n%s\nwant only\n%s", got, want)
		}
	})
}

// checkLines are the endpoint lines of check's output.
func checkLines(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "input ") || strings.HasPrefix(l, "output ") || strings.HasPrefix(l, "cluster ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func noSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{testHECToken, testESPassword, "not-the-es-password", base64.StdEncoding.EncodeToString([]byte("privtrail:" + testESPassword))} {
		if strings.Contains(s, secret) {
			t.Errorf("check printed a secret (%s):\n%s", secret, s)
		}
	}
}

// A pipeline that names an input or output the config lacks, and an input
// no pipeline reads, are errors of check as of run: every one reported,
// each with its file and line, and a non-zero exit.
func TestCheckReportsEveryReferenceError(t *testing.T) {
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(pipeline, []byte("name: p\ninputs: [exports, nope]\noutputs:\n  - archive\n  - missing\nmonitors: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "privtrail.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %[1]s/data
http: {listen: "off"}
inputs:
  - {name: exports, file: {paths: [%[1]s]}}
  - {name: orphan, file: {paths: [%[1]s]}}
outputs:
  - {name: archive, file: {path: %[1]s/out.jsonl}}
pipelines: [p.yaml]
`, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{
		pipeline + `:2:19: inputs: "nope" is not an input of ` + cfg,
		pipeline + `:5:5: outputs: "missing" is not an output of ` + cfg,
		cfg + `:5:5: input "orphan" is in no pipeline`,
	}
	for _, cmd := range [][]string{{"check", "-offline", "-c", cfg}, {"run", "-c", cfg}} {
		var out, errb bytes.Buffer
		if code := run(cmd, &out, &errb); code == 0 {
			t.Errorf("%s: exit 0\n%s", cmd[0], out.String())
		}
		for _, w := range want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd[0], w, errb.String())
			}
		}
	}
}
