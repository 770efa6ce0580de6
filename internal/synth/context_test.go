package synth

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/privtrail/privtrail/enrich/geo"
	"github.com/privtrail/privtrail/entra"
)

var quiet = slog.New(slog.DiscardHandler)

// sameMMDB reports whether two MaxMind DBs have the same type and map the
// same networks to the same data.
func sameMMDB(t *testing.T, a, b []byte) bool {
	t.Helper()
	dump := func(data []byte) (string, map[string]any) {
		r, err := maxminddb.OpenBytes(data)
		if err != nil {
			t.Errorf("mmdb: %v", err)
			return "", nil
		}
		out := map[string]any{}
		for res := range r.Networks() {
			var v any
			if err := res.Decode(&v); err != nil {
				t.Errorf("mmdb: %v", err)
			}
			out[res.Prefix().String()] = v
		}
		return r.Metadata.DatabaseType, out
	}
	ta, na := dump(a)
	tb, nb := dump(b)
	return ta == tb && len(na) > 0 && reflect.DeepEqual(na, nb)
}

func TestDemoMMDBIsDeterministic(t *testing.T) {
	ten := DemoTenant()
	c1, a1, err := ten.GeoMMDB()
	if err != nil {
		t.Fatal(err)
	}
	c2, a2, _ := ten.GeoMMDB()
	if !slices.Equal(c1, c2) || !slices.Equal(a1, a2) {
		t.Error("two builds of the demo databases differ")
	}
	// The fallback of TestDemoFilesUpToDate tells databases apart.
	if !sameMMDB(t, c1, c2) || sameMMDB(t, c1, a1) {
		t.Error("sameMMDB is wrong")
	}
	dir := t.TempDir()
	if err := WriteDemoMMDB(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{DemoCityMMDB: c1, DemoASNMMDB: a1} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("WriteDemoMMDB: %s differs (%v)", name, err)
		}
	}
}

// demoSignIn is what the context checks need of a demo sign-in.
type demoSignIn struct {
	ID, UPN, IP, DeviceID, Browser, OS, Country string
	Error                                       int
	At                                          time.Time
}

func demoSignIns(t *testing.T, f DemoFiles) map[string]demoSignIn {
	t.Helper()
	recs, _ := demoRecords(t, f)
	out := map[string]demoSignIn{}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	for _, name := range []string{DemoSignIns, DemoGraphSignIns, DemoEventHub} {
		for _, m := range recs[name] {
			if name == DemoEventHub && m["category"] != "ADFSSignInLogs" {
				continue
			}
			if p := asMap(m["properties"]); p != nil {
				m = p
			}
			dev, loc, st := asMap(m["deviceDetail"]), asMap(m["location"]), asMap(m["status"])
			at, err := time.Parse(time.RFC3339Nano, str(m, "createdDateTime"))
			if err != nil {
				t.Fatalf("%s: createdDateTime: %v", name, err)
			}
			code, _ := st["errorCode"].(float64)
			s := demoSignIn{ID: str(m, "id"), UPN: str(m, "userPrincipalName"), IP: str(m, "ipAddress"), DeviceID: str(dev, "deviceId"),
				Browser: str(dev, "browser"), OS: str(dev, "operatingSystem"), Country: str(loc, "countryOrRegion"), Error: int(code), At: at}
			out[s.ID] = s
		}
	}
	return out
}

// Every sign-in of the week whose address lies in one of the tenant's
// locations resolves, through the geo stage, to that location.
func TestDemoGeoResolves(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemoMMDB(dir); err != nil {
		t.Fatal(err)
	}
	st, err := geo.New(geo.Config{CityDB: filepath.Join(dir, DemoCityMMDB), ASNDB: filepath.Join(dir, DemoASNMMDB)}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ten := DemoTenant()
	resolved, v6, outside := 0, 0, 0
	for _, s := range demoSignIns(t, Demo()) {
		addr, err := netip.ParseAddr(s.IP)
		if err != nil {
			t.Fatalf("sign-in %s: ipAddress %q", s.ID, s.IP)
		}
		var loc *Location
		for i := range ten.Locations {
			for _, c := range ten.Locations[i].CIDRs() {
				if netip.MustParsePrefix(c).Contains(addr) {
					loc = &ten.Locations[i]
				}
			}
		}
		if loc == nil {
			outside++
			t.Logf("sign-in %s: %s is in no tenant location", s.ID, s.IP)
			continue
		}
		rec := &entra.Record{Stream: entra.StreamSignIn, SignIn: entra.SignIn{IPAddress: s.IP}}
		st.Enrich(rec)
		want := entra.Geo{CountryISO: loc.Country, CountryName: countryNames[loc.Country], RegionName: loc.State,
			ContinentName: continents[loc.Country][1], City: loc.City, Lat: loc.Lat, Lon: loc.Lon, ASN: uint(loc.ASN), ASOrg: loc.ASOrg}
		if want.CountryName == "" || want.ContinentName == "" || want.RegionName == "" {
			t.Errorf("location %s (%s): a name is missing: %+v", loc.City, loc.Country, want)
		}
		if rec.Context.Geo == nil || *rec.Context.Geo != want {
			t.Errorf("sign-in %s: %s resolves to %+v, want %+v", s.ID, s.IP, rec.Context.Geo, want)
			continue
		}
		if s.Country != loc.Country && s.Country != "" { // AD FS sign-ins carry no location of Entra's
			t.Errorf("sign-in %s: Entra's location %s, the database's %s", s.ID, s.Country, loc.Country)
		}
		resolved++
		if addr.Is6() {
			v6++
		}
	}
	if resolved < 400 || v6 == 0 || outside > 0 {
		t.Errorf("%d sign-ins resolved (%d IPv6), %d outside every location", resolved, v6, outside)
	}
}

// The context files read back in the formats the device and work-hours
// stages read.
type devicesFile struct {
	Devices []struct {
		ID    string `yaml:"id"`
		Name  string `yaml:"name"`
		Owner string `yaml:"owner"`
		Kind  string `yaml:"kind"`
	} `yaml:"devices"`
}

type scheduleFile struct {
	Name     string   `yaml:"name"`
	TimeZone string   `yaml:"time_zone"`
	Days     []string `yaml:"days"`
	Hours    []string `yaml:"hours"`
	Holidays []string `yaml:"holidays"`
	Users    []string `yaml:"users"`
	Groups   []string `yaml:"groups"`
}

type workHoursFile struct {
	Default   scheduleFile   `yaml:"default"`
	Schedules []scheduleFile `yaml:"schedules"`
}

func demoFile(t *testing.T, f DemoFiles, name string) []byte {
	t.Helper()
	for _, file := range f.Files {
		if file.Name == name {
			return file.Data
		}
	}
	t.Fatalf("the demo has no %s", name)
	return nil
}

func readContextFiles(t *testing.T, f DemoFiles) (devicesFile, workHoursFile) {
	t.Helper()
	var dev devicesFile
	if err := yaml.UnmarshalWithOptions(demoFile(t, f, DemoDevices), &dev, yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("%s: %v", DemoDevices, err)
	}
	var wh workHoursFile
	if err := yaml.UnmarshalWithOptions(demoFile(t, f, DemoWorkHours), &wh, yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("%s: %v", DemoWorkHours, err)
	}
	return dev, wh
}

func TestDemoContextFiles(t *testing.T) {
	f := Demo()
	ten := DemoTenant()
	dev, wh := readContextFiles(t, f)
	if len(dev.Devices) != 14 {
		t.Errorf("%d devices, want every admin's PAW (14)", len(dev.Devices))
	}
	for _, d := range dev.Devices {
		u := ten.user(d.Owner)
		if !u.Privileged() || d.Kind != "paw" || !strings.HasPrefix(d.Name, "PAW-") || d.ID != u.Devices[0].ID {
			t.Errorf("device %+v", d)
		}
	}
	for _, s := range append([]scheduleFile{wh.Default}, wh.Schedules...) {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			t.Errorf("schedule %q: %v", s.Name, err)
		}
		if _, err := parseHours(s.Hours); err != nil || len(s.Days) == 0 {
			t.Errorf("schedule %q: hours %v (%v), days %v", s.Name, s.Hours, err, s.Days)
		}
		for _, h := range s.Holidays {
			if _, err := time.Parse(time.DateOnly, h); err != nil {
				t.Errorf("schedule %q: holiday %v", s.Name, err)
			}
		}
	}
	if len(wh.Schedules) != 2 || wh.Schedules[0].TimeZone == wh.Schedules[1].TimeZone {
		t.Errorf("want two schedules in two time zones: %+v", wh.Schedules)
	}
	// Every admin (not the emergency accounts) has a schedule.
	for _, u := range ten.Users {
		if u.Privileged() && !u.Emergency && scheduleOf(&wh, &u).Name == "" {
			t.Errorf("%s has no schedule", u.UPN)
		}
	}
}

type span struct{ from, to time.Duration } // since midnight; to < from crosses midnight

func parseHours(hours []string) ([]span, error) {
	var out []span
	for _, h := range hours {
		a, b, ok := strings.Cut(h, "-")
		ta, err1 := time.Parse("15:04", a)
		tb, err2 := time.Parse("15:04", b)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad hours %q", h)
		}
		day := func(x time.Time) time.Duration {
			return time.Duration(x.Hour())*time.Hour + time.Duration(x.Minute())*time.Minute
		}
		out = append(out, span{day(ta), day(tb)})
	}
	return out, nil
}

func scheduleOf(wh *workHoursFile, u *User) *scheduleFile {
	for i := range wh.Schedules {
		s := &wh.Schedules[i]
		if slices.Contains(s.Users, u.UPN) || slices.Contains(s.Users, u.ID) {
			return s
		}
		for _, r := range u.Roles {
			if g, ok := strings.CutPrefix(r.Via, "group:"); ok && slices.Contains(s.Groups, g) {
				return s
			}
		}
	}
	return &wh.Default
}

// inside is the reference reading of the work-hours format: the local day
// must be listed and not a holiday; a span that crosses midnight belongs to
// the day it starts on.
func inside(s *scheduleFile, at time.Time) bool {
	loc, _ := time.LoadLocation(s.TimeZone)
	local := at.In(loc)
	spans, _ := parseHours(s.Hours)
	since := time.Duration(local.Hour())*time.Hour + time.Duration(local.Minute())*time.Minute + time.Duration(local.Second())*time.Second
	working := func(d time.Time) bool {
		return slices.Contains(s.Days, strings.ToLower(d.Weekday().String()[:3])) && !slices.Contains(s.Holidays, d.Format(time.DateOnly))
	}
	for _, sp := range spans {
		if sp.from < sp.to {
			if working(local) && since >= sp.from && since < sp.to {
				return true
			}
			continue
		}
		if working(local) && since >= sp.from || working(local.AddDate(0, 0, -1)) && since < sp.to {
			return true
		}
	}
	return false
}

// The scenarios of the three context monitors hit or miss as written when
// the monitors are read as the catalog describes them (signin.off_hours:
// privileged, success, outside the schedule; signin.not_paw:
// privileged, success, not a listed PAW; signin.unapproved_controls:
// privileged, and the GeoIP country, the range, the browser or the OS not
// approved, the OS compared without spaces as Entra writes it).
func TestDemoContextScenarios(t *testing.T) {
	f := Demo()
	ten := DemoTenant()
	dev, wh := readContextFiles(t, f)
	paw := map[string]bool{}
	for _, d := range dev.Devices {
		paw[d.ID] = true
	}
	dir := t.TempDir()
	if err := WriteDemoMMDB(dir); err != nil {
		t.Fatal(err)
	}
	gs, err := geo.New(geo.Config{CityDB: filepath.Join(dir, DemoCityMMDB)}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer gs.Close()
	var ranges []netip.Prefix
	for _, c := range ten.OfficeCIDRs() {
		ranges = append(ranges, netip.MustParsePrefix(c))
	}
	prefixed := func(list []string, s string, squash bool) bool {
		for _, v := range list {
			if squash {
				v, s = strings.ReplaceAll(v, " ", ""), strings.ReplaceAll(s, " ", "")
			}
			if strings.EqualFold(v, s) || len(s) > len(v) && strings.EqualFold(v, s[:len(v)]) && (squash || s[len(v)] == ' ') {
				return true
			}
		}
		return false
	}
	fires := map[string]func(s demoSignIn, u *User) bool{
		monOffHours: func(s demoSignIn, u *User) bool {
			return u.Privileged() && s.Error == 0 && !inside(scheduleOf(&wh, u), s.At)
		},
		monNotPAW: func(s demoSignIn, u *User) bool {
			return u.Privileged() && s.Error == 0 && !paw[s.DeviceID]
		},
		monUnapproved: func(s demoSignIn, u *User) bool {
			rec := &entra.Record{Stream: entra.StreamSignIn, SignIn: entra.SignIn{IPAddress: s.IP}}
			gs.Enrich(rec)
			country := s.Country
			if rec.Context.Geo != nil {
				country = rec.Context.Geo.CountryISO
			}
			addr, _ := netip.ParseAddr(s.IP)
			inRange := slices.ContainsFunc(ranges, func(p netip.Prefix) bool { return p.Contains(addr) })
			return u.Privileged() && (!slices.Contains(ten.ApprovedCountries, country) || !inRange ||
				!prefixed(ten.ApprovedBrowsers, s.Browser, false) || !prefixed(ten.ApprovedOS, s.OS, true))
		},
	}
	signIns := demoSignIns(t, f)
	checked := map[string][2]int{}
	for _, sc := range f.Scenarios {
		for _, m := range sc.Monitors {
			fire := fires[m]
			if fire == nil {
				continue
			}
			fired := false
			for _, id := range sc.Records {
				s, ok := signIns[id]
				if !ok {
					t.Fatalf("%s: record %s is not a sign-in", sc.Title, id)
				}
				fired = fired || fire(s, ten.user(s.UPN))
			}
			if fired == sc.NearMiss {
				t.Errorf("%s (near miss %v): %s fires %v", sc.Title, sc.NearMiss, m, fired)
			}
			c := checked[m]
			if sc.NearMiss {
				c[1]++
			} else {
				c[0]++
			}
			checked[m] = c
		}
	}
	for m := range fires {
		if c := checked[m]; c[0] < 2 || c[1] < 2 {
			t.Errorf("%s: %d hits and %d near misses, want at least 2 of each", m, c[0], c[1])
		}
	}
	t.Logf("hits, near misses: %v", checked)
}
