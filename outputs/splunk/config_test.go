package splunk

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/privtrail/privtrail/internal/delivery"
	"github.com/privtrail/privtrail/internal/tlsconfig"
)

func TestConfigValidate(t *testing.T) {
	tok := mustSecret(t, testToken)
	ok := func() Config { return Config{URL: "https://splunk.example:8088", Token: tok} }
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // error prefix; "" for valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"http allowed", func(c *Config) { c.URL, c.AllowHTTP = "http://127.0.0.1:8088", true }, ""},
		{"endpoint path", func(c *Config) { c.URL = "https://s:8088/services/collector/event" }, ""},
		{"no url", func(c *Config) { c.URL = "" }, "url: is required"},
		{"http", func(c *Config) { c.URL = "http://splunk.example:8088" }, "url: http://splunk.example:8088 sends the token in clear"},
		{"scheme", func(c *Config) { c.URL = "ftp://splunk.example" }, "url: \"ftp://splunk.example\": the scheme must be https"},
		{"no host", func(c *Config) { c.URL = "https:///x" }, "url: \"https:///x\" has no host"},
		{"credentials", func(c *Config) { c.URL = "https://u:p@splunk.example:8088" }, "url: must not contain credentials"},
		{"query", func(c *Config) { c.URL = "https://splunk.example:8088/?token=x" }, "url: "},
		{"no token", func(c *Config) { c.Token = mustSecret(t, "") }, "token: is required"},
		{"channel", func(c *Config) { c.Channel = "not-a-guid" }, "channel: \"not-a-guid\" is not a GUID"},
		{"ack timeout", func(c *Config) { c.AckTimeout, c.AckPollInterval = time.Second, 2*time.Second }, "ack_timeout: must be at least ack_poll_interval"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout: must not be negative"},
		{"tls key", func(c *Config) { c.TLS = &tlsconfig.Config{CertFile: "c.pem"} }, "tls.cert_file and key_file"},
		{"tls on http", func(c *Config) { c.URL, c.AllowHTTP, c.TLS = "http://x:8088", true, &tlsconfig.Config{} }, "tls: is set but url is http://"},
		{"batch", func(c *Config) { c.BatchSize = -1 }, "batch_size: "},
		{"buffer", func(c *Config) { c.BatchBytes, c.Buffer.MaxBytes = 1<<20, 1<<10 }, "buffer.max_bytes: "},
		{"envelope as_read", func(c *Config) { c.Envelope = "as_read" }, ""},
		{"envelope diagnostic", func(c *Config) { c.Envelope = "diagnostic" }, ""},
		{"envelope", func(c *Config) { c.Envelope = "graph" }, `envelope: "graph" is not diagnostic or as_read`},
	} {
		c := ok()
		tc.mod(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one starting with %q", tc.name, err, tc.want)
		case err != nil:
			noToken(t, "an error", err.Error())
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{URL: "https://splunk.example:8088/splunk/services/collector/", Token: mustSecret(t, testToken)}
	c.Defaults()
	host, _ := os.Hostname()
	if c.Source != "privtrail" || c.Host != host || !c.gzip() || c.AckTimeout != 5*time.Minute || c.AckPollInterval != time.Second ||
		c.Timeout != 30*time.Second || c.Channel != "" || c.BatchSize != 500 || c.Envelope != "diagnostic" {
		t.Errorf("defaults: %+v", c)
	}
	want := Sourcetypes{SignIn: "azure:aad:signin", Audit: "azure:aad:audit", Diagnostic: "azure:monitor:aad", Activity: "azure:monitor:activity", AADDS: "azure:monitor:aad",
		Directory: "privtrail:directory", RiskDetection: "azure:aad:identity_protection:risk_detection", RiskyUser: "azure:aad:identity_protection:risky_user",
		RiskyServicePrincipal: "azure:aad:identity_protection:risky_service_principal", Other: "azure:aad:other"}
	if c.Sourcetypes != want {
		t.Errorf("sourcetypes %+v", c.Sourcetypes)
	}
	if u, err := c.baseURL(); err != nil || u != "https://splunk.example:8088/splunk" {
		t.Errorf("base url %q, %v", u, err)
	}
	// With indexer acknowledgement every output instance gets its own channel.
	a := Config{IndexerAck: true}
	b := Config{IndexerAck: true}
	a.Defaults()
	b.Defaults()
	if !isGUID(a.Channel) || a.Channel == b.Channel {
		t.Errorf("channels %q %q: want two random GUIDs", a.Channel, b.Channel)
	}
	off := false
	c = Config{Gzip: &off}
	c.Defaults()
	if c.gzip() {
		t.Error("gzip: false was overridden")
	}
}

// sample.yaml is a valid `outputs:` entry under the agent's strict
// parsing, and compose.yaml the service the README describes.
func TestSampleAndCompose(t *testing.T) {
	t.Setenv("SPLUNK_HEC_TOKEN", testToken)
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Outputs []struct {
			Name   string  `yaml:"name"`
			Splunk *Config `yaml:"splunk"`
		} `yaml:"outputs"`
	}
	if err := yaml.UnmarshalWithOptions(data, &sample, yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	if len(sample.Outputs) == 0 {
		t.Fatal("sample.yaml has no outputs")
	}
	for _, o := range sample.Outputs {
		if o.Name == "" || o.Splunk == nil {
			t.Fatalf("sample.yaml entry %+v", o)
		}
		if err := o.Splunk.Validate(); err != nil {
			t.Errorf("sample.yaml %s: %v", o.Name, err)
		}
		if o.Splunk.Token.Value() != testToken {
			t.Errorf("sample.yaml %s: token not read from $SPLUNK_HEC_TOKEN", o.Name)
		}
	}
	first := sample.Outputs[0].Splunk
	if first.AckTimeout != 5*time.Minute || first.BatchBytes != 4<<20 || first.Buffer.MaxBytes != 1<<30 || first.Envelope != DefaultEnvelope {
		t.Errorf("sample.yaml durations/sizes: %+v", first)
	}

	data, err = os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	s, ok := compose.Services["splunk"]
	if !ok || s.Image != "splunk/splunk:latest" || s.Environment["SPLUNK_START_ARGS"] != "--accept-license" ||
		s.Environment["SPLUNK_PASSWORD"] == "" || s.Environment["SPLUNK_HEC_TOKEN"] == "" {
		t.Fatalf("compose.yaml splunk service: %+v", s)
	}
	ports := strings.Join(s.Ports, " ")
	if !strings.Contains(ports, "127.0.0.1:8088:8088") || !strings.Contains(ports, "127.0.0.1:8000:8000") {
		t.Errorf("compose.yaml ports %v", s.Ports)
	}
}

func TestClassify(t *testing.T) {
	type kind int
	const (
		ok kind = iota
		transient
		permanent
		partial
	)
	for _, tc := range []struct {
		status int
		body   string
		header string // Retry-After
		want   kind
	}{
		{200, `{"text":"Success","code":0}`, "", ok},
		{200, ``, "", ok},
		{403, `{"text":"Token disabled","code":1}`, "", permanent},
		{401, `{"text":"Token is required","code":2}`, "", permanent},
		{401, `{"text":"Invalid authorization","code":3}`, "", permanent},
		{403, `{"text":"Invalid token","code":4}`, "", permanent},
		{400, `{"text":"No data","code":5}`, "", permanent},
		{400, `{"text":"Invalid data format","code":6}`, "", permanent},
		{400, `{"text":"Invalid data format","code":6,"invalid-event-number":1}`, "", partial},
		{400, `{"text":"Invalid data format","code":6,"invalid-event-number":7}`, "", permanent}, // out of range
		{400, `{"text":"Incorrect index","code":7,"invalid-event-number":0}`, "", permanent},
		{500, `{"text":"Internal server error","code":8}`, "", transient},
		{503, `{"text":"Server is busy","code":9}`, "3", transient},
		{400, `{"text":"Data channel is missing","code":10}`, "", permanent},
		{400, `{"text":"Invalid data channel","code":11}`, "", permanent},
		{400, `{"text":"Event field is required","code":12,"invalid-event-number":2}`, "", partial},
		{400, `{"text":"Event field cannot be blank","code":13,"invalid-event-number":0}`, "", partial},
		{400, `{"text":"Error in handling indexed fields","code":15,"invalid-event-number":1}`, "", partial},
		{503, `{"text":"HEC is unhealthy, queues are full","code":18}`, "", transient},
		{503, `{"text":"HEC is unhealthy, ack service unavailable","code":19}`, "", transient},
		{429, `Too Many Requests`, "2", transient},
		{408, ``, "", transient},
		{502, `<html>Bad Gateway</html>`, "", transient},
		{504, ``, "", transient},
		{404, `{"text":"The requested URL was not found on this server.","code":404}`, "", permanent},
		{301, ``, "", permanent},
		{400, `garbage`, "", permanent},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.header != "" {
				w.Header().Set("Retry-After", tc.header)
			}
			if tc.status/100 == 3 {
				w.Header().Set("Location", "https://elsewhere.example/")
			}
			w.WriteHeader(tc.status)
			w.Write([]byte(tc.body))
		}))
		c, err := NewClient(Config{URL: srv.URL, Token: mustSecret(t, testToken), AllowHTTP: true}, "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		res := c.Send(context.Background(), [][]byte{[]byte("{}\n"), []byte("{}\n"), []byte("{}\n")})
		srv.Close()
		var got kind
		switch {
		case res.Err != nil && delivery.IsPermanent(res.Err):
			got = permanent
		case res.Err != nil:
			got = transient
		case len(res.Rejected) == 1 && len(res.Retry) == 2:
			got = partial
		case len(res.Rejected) == 0 && len(res.Retry) == 0:
			got = ok
		default:
			t.Errorf("%d %s: odd result %+v", tc.status, tc.body, res)
			continue
		}
		if got != tc.want {
			t.Errorf("%d %s: kind %d, want %d (%v)", tc.status, tc.body, got, tc.want, res.Err)
		}
		if tc.header != "" && res.RetryAfter.String() != tc.header+"s" {
			t.Errorf("%d: RetryAfter %v, want %ss", tc.status, res.RetryAfter, tc.header)
		}
		if res.Err != nil && !strings.HasPrefix(res.Err.Error(), "splunk HEC: ") {
			t.Errorf("%d: error %q does not name HEC", tc.status, res.Err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-3":                            0,
		"5":                             5 * time.Second,
		"999999":                        24 * time.Hour,
		"soon":                          0,
		"Mon, 01 Jan 2024 12:00:30 GMT": 30 * time.Second,
		"Mon, 01 Jan 2024 11:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("Retry-After %q = %v, want %v", in, got, want)
		}
	}
}

// Acknowledgement queries that fail are repeated until the answer comes.
func TestAckQueryErrorsAreRetried(t *testing.T) {
	var queries atomic.Int32
	var never atomic.Bool
	channel := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ch := r.Header.Get("X-Splunk-Request-Channel"); ch == "" || (channel != "" && ch != channel) {
			t.Errorf("%s without the channel", r.URL.Path)
		}
		switch r.URL.Path {
		case "/services/collector/event":
			w.Write([]byte(`{"text":"Success","code":0,"ackId":7}`))
		case "/services/collector/ack":
			if never.Load() {
				w.Write([]byte(`{"acks":{"7":false}}`))
				return
			}
			switch queries.Add(1) {
			case 1:
				w.WriteHeader(503)
				w.Write([]byte(`{"text":"HEC is unhealthy, ack service unavailable","code":19}`))
			case 2:
				w.Write([]byte(`{"acks":{"7":false}}`))
			default:
				w.Write([]byte(`{"acks":{"7":true}}`))
			}
		}
	}))
	defer srv.Close()
	c, err := NewClient(Config{URL: srv.URL, Token: mustSecret(t, testToken), AllowHTTP: true, IndexerAck: true, AckPollInterval: time.Millisecond}, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	channel = c.Channel()
	if res := c.Send(context.Background(), [][]byte{[]byte(`{"event":{}}`)}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if q := queries.Load(); q != 3 {
		t.Errorf("%d queries, want 3", q)
	}

	// A stopping agent ends the wait; the batch stays buffered.
	never.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if res := c.Send(ctx, [][]byte{[]byte(`{"event":{}}`)}); res.Err == nil || delivery.IsPermanent(res.Err) {
		t.Fatalf("cancelled wait: %v", res.Err)
	}
}
