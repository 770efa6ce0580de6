package monitor

import (
	"net/netip"
	"reflect"
	"sync"
)

// approvedControls are the parsed allow-lists of a monitor's params:
// approved_countries, approved_ranges (CIDRs), approved_browsers and
// approved_operating_systems. An empty list approves everything.
type approvedControls struct {
	countries []string
	ranges    []netip.Prefix
	browsers  []string
	systems   []string
	err       string
}

// controlsCache keeps the parsed lists per params map: a monitor's params
// never change after Compile, and parsing CIDRs per record would cost more
// than the check.
var controlsCache sync.Map // map pointer → *approvedControls

func controlsFor(params map[string]any) *approvedControls {
	key := reflect.ValueOf(params).UnsafePointer()
	if c, ok := controlsCache.Load(key); ok {
		return c.(*approvedControls)
	}
	c := &approvedControls{
		countries: stringList(params["approved_countries"]),
		browsers:  stringList(params["approved_browsers"]),
		systems:   stringList(params["approved_operating_systems"]),
	}
	for _, r := range stringList(params["approved_ranges"]) {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			if a, aerr := netip.ParseAddr(r); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				c.err = "approved_ranges: " + err.Error()
				continue
			}
		}
		c.ranges = append(c.ranges, p.Masked())
	}
	controlsCache.Store(key, c)
	return c
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkControls validates the approved lists of params at compile time, so
// that a typo in a CIDR is a start-up error, not a monitor that never fires.
func checkControls(params map[string]any) string {
	if params == nil {
		return ""
	}
	return controlsFor(params).err
}

// UnapprovedControls returns which of the sign-in's controls are not on the
// monitor's approved lists (country, IP range, browser, operating system),
// as "name=value" pairs, or "" when all are approved. The country is the
// GeoIP result when the geo stage runs, else Entra's own location.
func (e *Env) UnapprovedControls() string {
	c := controlsFor(e.Params)
	var b []byte
	add := func(name, value string) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, name...)
		b = append(b, '=')
		b = appendValue(b, value)
	}
	if len(c.countries) > 0 {
		country := e.SignIn.Location.Country
		if e.Context.Geo != nil && e.Context.Geo.CountryISO != "" {
			country = e.Context.Geo.CountryISO
		}
		if !anyFold(c.countries, country, false) {
			add("country", orUnknown(country))
		}
	}
	if len(c.ranges) > 0 {
		ip, err := netip.ParseAddr(e.SignIn.IPAddress)
		in := false
		if err == nil {
			ip = ip.Unmap()
			for _, p := range c.ranges {
				if p.Contains(ip) {
					in = true
					break
				}
			}
		}
		if !in {
			add("ip", orUnknown(e.SignIn.IPAddress))
		}
	}
	if len(c.browsers) > 0 && !anyFold(c.browsers, e.SignIn.Device.Browser, true) {
		add("browser", orUnknown(e.SignIn.Device.Browser))
	}
	if len(c.systems) > 0 && !anyFold(c.systems, e.SignIn.Device.OperatingSystem, true) {
		add("operatingSystem", orUnknown(e.SignIn.Device.OperatingSystem))
	}
	return string(b)
}

// anyFold reports whether s matches one of list, ignoring case and
// spaces (Entra writes "Windows10" and "MacOs" where a list says "Windows
// 10" and "macOS"). With prefix, s may go on after the list's value when the
// next character is not a letter: "Edge" approves "Edge 120.0.2210" but not
// "Edgeless".
func anyFold(list []string, s string, prefix bool) bool {
	for _, v := range list {
		if rest, ok := cutFold(s, v); ok && (rest == "" || prefix && !isLetter(rest[0])) {
			return true
		}
	}
	return false
}

// cutFold matches want at the start of s, ignoring case and spaces on both
// sides, and returns what follows in s.
func cutFold(s, want string) (string, bool) {
	i, j := 0, 0
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		for j < len(want) && want[j] == ' ' {
			j++
		}
		if j == len(want) {
			return s[i:], j > 0 || i == len(s)
		}
		if i == len(s) || lower(s[i]) != lower(want[j]) {
			return "", false
		}
		i++
		j++
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isLetter(c byte) bool { c = lower(c); return 'a' <= c && c <= 'z' }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
