package elastic

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// uaWant is user_agent.* as a document holds it ("" = absent).
type uaWant struct {
	name, version, osName, osVersion, osFull, device string
}

func uaFields(doc map[string]any) uaWant {
	s := func(path string) string { v, _ := get(doc, path).(string); return v }
	return uaWant{s("user_agent.name"), s("user_agent.version"), s("user_agent.os.name"),
		s("user_agent.os.version"), s("user_agent.os.full"), s("user_agent.device.name")}
}

// uaCases are real user agents. Where Elastic's Azure integration has a
// pipeline test with the same string, want is its expected output
// (packages/azure/data_stream/<dataset>/_dev/test/pipeline/*-expected.json
// in elastic/integrations); the Elasticsearch cases are the user_agent
// processor's own unit tests (modules/ingest-user-agent,
// UserAgentProcessorTests), which fix its conventions (a four-part
// version, os.full, "Other"); the others are what privtrail writes for
// user agents of the Entra samples that no expected output covers.
var uaCases = []struct {
	ua, source string
	want       uaWant
}{
	// Integration: signinlogs/test-non-interactive-user.log (our
	// entra/testdata/samples/categories/elastic_NonInteractiveUserSignInLogs.jsonl).
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.18363",
		"integration signinlogs", uaWant{"Edge", "18.18363", "Windows", "10", "Windows 10", "Other"}},
	// Integration: graphactivitylogs/test-activitylogs-raw.log (elastic_MicrosoftGraphActivityLogs.jsonl).
	{"python-requests/2.27.1", "integration graphactivitylogs", uaWant{"Python Requests", "2.27", "", "", "", "Other"}},
	// Integration: aadgraphactivitylogs/test-aadgraph-activity.log (elastic_AzureADGraphActivityLogs.jsonl).
	{"AADInternals", "integration aadgraphactivitylogs", uaWant{"Other", "", "", "", "", "Other"}},
	{"azure-graph-test-client/1.0", "integration aadgraphactivitylogs", uaWant{"Other", "", "", "", "", "Other"}},

	// Elasticsearch's processor tests.
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_2) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/33.0.1750.149 Safari/537.36",
		"elasticsearch", uaWant{"Chrome", "33.0.1750.149", "Mac OS X", "10.9.2", "Mac OS X 10.9.2", "Mac"}},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.141 Safari/537.36",
		"elasticsearch", uaWant{"Chrome", "87.0.4280.141", "Windows", "10", "Windows 10", "Other"}},
	{"Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1",
		"elasticsearch", uaWant{"Mobile Safari", "12.1", "iOS", "12.2", "iOS 12.2", "iPad"}},
	{"Mozilla/5.0 (Linux; U; Android 3.0; en-us; Xoom Build/HRI39) AppleWebKit/525.10+ (KHTML, like Gecko) Version/3.0.4 Mobile Safari/523.12.2",
		"elasticsearch", uaWant{"Android", "3.0", "Android", "3.0", "Android 3.0", "Motorola Xoom"}},
	{"Mozilla/5.0 (compatible; EasouSpider; +http://www.easou.com/search/spider.html)",
		"elasticsearch", uaWant{"EasouSpider", "", "", "", "", "Spider"}},
	{"Something I made up v42.0.1", "elasticsearch", uaWant{"Other", "", "", "", "", "Other"}},

	// Entra samples without an expected output: the Splunk sign-in
	// (splunk_security_content_aad_eventhub_records.jsonl) and the
	// User-Agent of audit records' additionalDetails.
	{"Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.22621.2428",
		"entra sample", uaWant{"WindowsPowerShell", "5.1.22621", "Windows", "10", "Windows 10", "Other"}},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36",
		"entra sample", uaWant{"Chrome", "114.0.0.0", "Mac OS X", "10.15.7", "Mac OS X 10.15.7", "Mac"}},
	{"Mozilla/5.0 (Macintosh; Darwin 23.3.0 Darwin Kernel Version 23.3.0: Wed Dec 20 21:28:58 PST 2023; root:xnu-10002.81.5~7/RELEASE_X86_64; en-US) PowerShell/7.3.4",
		"entra sample", uaWant{"Other", "", "", "", "", "Other"}},
	{"Swagger-Codegen/1.0.0.0/csharp/msal", "entra sample", uaWant{"Other", "", "", "", "", "Other"}},
}

// TestUserAgentTable encodes a sign-in with each user agent and reads
// user_agent.* back from the document.
func TestUserAgentTable(t *testing.T) {
	enc := NewEncoder(defaultNaming)
	base := decodeFile(t, "signin_diagnostic")
	for _, c := range uaCases {
		t.Run(c.source+"/"+c.ua, func(t *testing.T) {
			rec := *base
			rec.SignIn.UserAgent = c.ua
			out, err := enc.Encode(nil, &rec, nil)
			if err != nil {
				t.Fatal(err)
			}
			doc := checkItem(t, out, "logs-azure.signinlogs-privtrail")
			if got := get(doc, "user_agent.original"); got != c.ua {
				t.Errorf("user_agent.original = %v", got)
			}
			if got := uaFields(doc); got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// The user agents of the Entra samples the integration has expected
// outputs for, decoded from the samples themselves and encoded: the Graph
// activity records too, and the empty userAgent of a sign-in (the
// integration's ADFS test: name and device "Other", no original), not of a
// Graph activity record (its pipeline skips "").
func TestUserAgentEntraSamples(t *testing.T) {
	dir := filepath.Join("..", "..", "entra", "testdata", "samples", "categories")
	want := map[string]*uaWant{ // by userAgent; nil: no user_agent
		"":                            nil,
		"python-requests/2.27.1":      {"Python Requests", "2.27", "", "", "", "Other"},
		"AADInternals":                {"Other", "", "", "", "", "Other"},
		"azure-graph-test-client/1.0": {"Other", "", "", "", "", "Other"},
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.18363": {
			"Edge", "18.18363", "Windows", "10", "Windows 10", "Other"},
	}
	emptySignIn := &uaWant{name: "Other", device: "Other"}
	enc := NewEncoder(defaultNaming)
	var dec entra.Decoder
	seen := map[string]int{}
	for _, name := range []string{"elastic_NonInteractiveUserSignInLogs.jsonl", "elastic_ADFSSignInLogs.jsonl",
		"elastic_MicrosoftGraphActivityLogs.jsonl", "elastic_AzureADGraphActivityLogs.jsonl"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Skipf("samples not here: %v", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for line := 1; sc.Scan(); line++ {
			var rec entra.Record
			if err := dec.Decode(bytes.TrimSpace(sc.Bytes()), &rec); err != nil {
				t.Fatalf("%s:%d: %v", name, line, err)
			}
			ua := rec.SignIn.UserAgent
			if rec.Stream == entra.StreamGraphActivity {
				ua = rec.GraphActivity.UserAgent
			}
			w, ok := want[ua]
			if !ok {
				continue
			}
			if ua == "" && rec.Stream == entra.StreamSignIn {
				w = emptySignIn
			}
			seen[ua]++
			out, err := enc.Encode(nil, &rec, nil)
			if err != nil {
				t.Fatal(err)
			}
			doc := checkItem(t, out, defaultNaming.DataStream(rec.Stream, rec.LogCategory))
			where := fmt.Sprintf("%s:%d (%q)", name, line, ua)
			switch {
			case w == nil && get(doc, "user_agent") != nil:
				t.Errorf("%s: user_agent %v, want none", where, get(doc, "user_agent"))
			case w != nil && uaFields(doc) != *w:
				t.Errorf("%s:\ngot  %+v\nwant %+v", where, uaFields(doc), *w)
			case w != nil && ua == "" && get(doc, "user_agent.original") != nil:
				t.Errorf("%s: user_agent.original %v for an empty user agent", where, get(doc, "user_agent.original"))
			case w != nil && ua != "" && get(doc, "user_agent.original") != ua:
				t.Errorf("%s: user_agent.original %v", where, get(doc, "user_agent.original"))
			}
		}
		f.Close()
	}
	for ua := range want {
		if seen[ua] == 0 {
			t.Errorf("no sample record with user agent %q", ua)
		}
	}
}

// Audit records keep their User-Agent in additionalDetails, as the
// integration does: no user_agent.
func TestUserAgentNotForAudits(t *testing.T) {
	rec := decodeFile(t, "audit_graph")
	out, err := NewEncoder(defaultNaming).Encode(nil, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(rec.Raw, []byte("User-Agent")) {
		t.Fatal("the audit record has no User-Agent detail any more: pick another")
	}
	if doc := checkItem(t, out, "logs-azure.auditlogs-privtrail"); get(doc, "user_agent") != nil {
		t.Errorf("user_agent %v on an audit record", get(doc, "user_agent"))
	}
}

// The cache is bounded, serves the same result to concurrent encoders,
// and keys on at most uaParseMax bytes.
func TestUserAgentCache(t *testing.T) {
	c := newUACache(8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				ua := fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/12%d.0.%d.0 Safari/537.36", i%10, g)
				got := c.parse(ua)
				if want := fmt.Sprintf("12%d.0.%d.0", i%10, g); got.name != "Chrome" || got.version != want {
					t.Errorf("%q: %+v, want Chrome %s", ua, *got, want)
				}
			}
		}()
	}
	wg.Wait()
	if n := c.lru.Len(); n > 8 {
		t.Errorf("cache holds %d entries, bound 8", n)
	}

	// Past uaParseMax, the rest is not parsed, nor kept as a key.
	long := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 " +
		strings.Repeat("x", 2*uaParseMax)
	if got := c.parse(long); got.name != "Chrome" || got.osName != "Windows" {
		t.Errorf("long user agent: %+v", *got)
	}
	for _, k := range c.lru.Keys() {
		if len(k) > uaParseMax {
			t.Errorf("cache key of %d bytes", len(k))
		}
	}
	// user_agent.original is still the whole string.
	rec := decodeFile(t, "signin_diagnostic")
	rec.SignIn.UserAgent = long
	out, err := NewEncoder(defaultNaming).Encode(nil, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if doc := checkItem(t, out, "logs-azure.signinlogs-privtrail"); get(doc, "user_agent.original") != long {
		t.Error("user_agent.original was cut")
	}
}

func TestDotted(t *testing.T) {
	for _, c := range []struct {
		parts []string
		want  string
	}{
		{[]string{"1", "2", "3", "4"}, "1.2.3.4"},
		{[]string{"1", "", "3"}, "1"},
		{[]string{"", "2"}, ""},
		{nil, ""},
	} {
		if got := dotted(c.parts...); got != c.want {
			t.Errorf("dotted(%q) = %q, want %q", c.parts, got, c.want)
		}
	}
}

// BenchmarkUserAgentMiss is the cost of a user agent not yet cached (a
// full parse); BenchmarkEncode measures the cached case.
func BenchmarkUserAgentMiss(b *testing.B) {
	p := uaParser()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		parseUserAgent(p, uaCases[i%len(uaCases)].ua)
	}
}

// BenchmarkUserAgentHit is one cached lookup.
func BenchmarkUserAgentHit(b *testing.B) {
	c := newUACache(uaCacheSize)
	ua := uaCases[0].ua
	c.parse(ua)
	b.ReportAllocs()
	for b.Loop() {
		c.parse(ua)
	}
}
