package elastic

import (
	"strings"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ua-parser/uap-go/uaparser"
)

// userAgent is a user agent parsed as Elasticsearch's user_agent ingest
// processor writes it (modules/ingest-user-agent, UserAgentProcessor): the
// integration's sign-in and Graph activity pipelines run that processor
// with its default properties, so these are the values their documents
// hold.
//
//   - name: the browser or client family, "Other" when no regex matches;
//   - version: major[.minor[.patch[.build]]], up to the first part the match
//     does not give; absent without a major version;
//   - os.name, and os.version and os.full ("<name> <version>") when the OS
//     has a major version; no os at all when no OS regex matches;
//   - device.name: the device family, "Other" when no regex matches.
//
// The regexes are uap-core's, as github.com/ua-parser/uap-go embeds them
// (Elasticsearch ships its own copy of uap-core's regexes.yaml, of its own
// date: a user agent that a newer or older regex set classifies differently
// can differ).
type userAgent struct {
	name, version     string
	osName, osVersion string // osName "": no os
	device            string
}

// uaOther is what the processor writes for an empty user agent: no regex
// matches "", so the name and device are "Other" and there is no OS.
var uaOther = &userAgent{name: "Other", device: "Other"}

// write writes user_agent with original as user_agent.original (nothing
// when original is empty, as the integration's final clean-up drops
// empty strings).
func (ua *userAgent) write(w *jw, original string) {
	w.begin("user_agent")
	w.str("original", original)
	w.str("name", ua.name)
	w.str("version", ua.version)
	if ua.osName != "" {
		w.begin("os")
		w.str("name", ua.osName)
		if ua.osVersion != "" {
			w.str("version", ua.osVersion)
			w.str("full", ua.osName+" "+ua.osVersion)
		}
		w.end()
	}
	w.begin("device")
	w.str("name", ua.device)
	w.end()
	w.end()
}

const (
	// uaCacheSize bounds the parsed user agents kept: a tenant has a few
	// hundred distinct ones (browser and client versions times operating
	// systems), so the cache holds them all with room to spare, and a
	// stream of random ones (sign-in attempts from a spraying tool) only
	// evicts older entries.
	uaCacheSize = 4096
	// uaParseMax is how much of a user agent is parsed (and keys the
	// cache). Real user agents are under 300 bytes; Go's regexps run in
	// linear time, but 1,200 of them over an 8 KB header made up by an
	// attacker cost ~70 ms, and such strings would fill the cache with
	// large keys. user_agent.original is always the whole string.
	uaParseMax = 512
)

// uaCache is a bounded LRU of parsed user agents, safe for concurrent use
// by any number of encoders: a hit costs one map lookup under a mutex; a
// miss parses (about 1 ms: every regex of uap-core is tried until one
// matches, for the browser, the OS and the device).
type uaCache struct {
	lru *lru.Cache[string, *userAgent]
}

func newUACache(size int) *uaCache {
	c, err := lru.New[string, *userAgent](size)
	if err != nil {
		panic(err) // size <= 0
	}
	return &uaCache{lru: c}
}

// defaultUACache is shared by every Encoder (the parser's compiled regexes,
// ~12 MB, and the parsed agents are the same for all outputs).
var defaultUACache = sync.OnceValue(func() *uaCache { return newUACache(uaCacheSize) })

// parse returns s parsed; s must not be empty.
func (c *uaCache) parse(s string) *userAgent {
	if len(s) > uaParseMax {
		s = s[:uaParseMax]
	}
	if ua, ok := c.lru.Get(s); ok {
		return ua
	}
	ua := parseUserAgent(uaParser(), s)
	// The key outlives the record: copy it out of the decoder's buffer.
	c.lru.Add(strings.Clone(s), ua)
	return ua
}

// uaParser is uap-go's parser with uap-core's regexes compiled (~150 ms and
// ~12 MB, once, at the first user agent). Its own caches are left minimal:
// uaCache caches whole results.
var uaParser = sync.OnceValue(func() *uaparser.Parser {
	p, err := uaparser.New(uaparser.WithCacheSize(1))
	if err != nil {
		panic(err) // it returns none; the embedded regexes compile or panic
	}
	return p
})

// parseUserAgent applies uap-core's regexes to s with the processor's
// conventions (see userAgent).
func parseUserAgent(p *uaparser.Parser, s string) *userAgent {
	ua := &userAgent{name: "Other", device: "Other"}
	// The browser: uap-go's ParseUserAgent loop (first regex whose family
	// is not empty, uap-go's replacements), kept here for the one thing
	// uap-go leaves out: the fifth group, which Elasticsearch writes as the
	// version's fourth part (Chrome/122.0.6261.95 → 122.0.6261.95).
	var m uaparser.UserAgent
	for _, re := range p.UA {
		re.Match(s, &m)
		if m.Family == "" {
			continue
		}
		ua.name = m.Family
		build := ""
		if re.Reg.NumSubexp() >= 5 {
			if loc := re.Reg.FindStringSubmatchIndex(s); loc != nil && loc[10] >= 0 {
				build = s[loc[10]:loc[11]]
			}
		}
		ua.version = dotted(m.Major, m.Minor, m.Patch, build)
		break
	}
	if o := p.ParseOs(s); o.Family != "Other" && o.Family != "" {
		ua.osName = o.Family
		ua.osVersion = dotted(o.Major, o.Minor, o.Patch, o.PatchMinor)
	}
	if d := p.ParseDevice(s); d.Family != "" {
		ua.device = d.Family
	}
	return ua
}

// dotted joins the version parts with dots, up to the first empty one.
func dotted(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if p == "" {
			break
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}
