package geo

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/logbuf"
)

// cityNet is one network of a test City database.
type cityNet struct {
	cidr, iso, city string
	lat, lon        float64
}

type asnNet struct {
	cidr string
	asn  uint32
	org  string
}

var (
	testCities = []cityNet{
		{"81.2.69.0/24", "GB", "London", 51.5142, -0.0931},
		{"87.123.40.0/24", "DE", "Berlin", 52.52, 13.405},
		{"2a02:8070:a1c0::/48", "DE", "Munich", 48.1351, 11.582},
		{"72.229.28.0/24", "US", "New York", 40.7128, -74.006},
	}
	testASNs = []asnNet{
		{"81.2.69.0/24", 20712, "Andrews & Arnold Ltd"},
		{"87.123.40.0/24", 3320, "Deutsche Telekom AG"},
		{"2a02:8070:a1c0::/48", 3209, "Vodafone GmbH"},
		// Only in the ASN database: geo with an ASN and no country.
		{"164.92.178.0/24", 14061, "DigitalOcean, LLC"},
	}
)

// names is a localised names map as GeoLite2 writes it (eight languages),
// so that decoding skips what real records carry.
func names(en string) mmdbtype.Map {
	m := mmdbtype.Map{}
	for _, l := range []string{"de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"} {
		v := en
		if l != "en" {
			v = en + " (" + l + ")"
		}
		m[mmdbtype.String(l)] = mmdbtype.String(v)
	}
	return m
}

// cityValue is a City-shaped record with the fields of GeoLite2-City.
func cityValue(c cityNet, id int) mmdbtype.Map {
	country := mmdbtype.Map{"geoname_id": mmdbtype.Uint32(2921044 + id), "iso_code": mmdbtype.String(c.iso), "names": names("Country " + c.iso)}
	return mmdbtype.Map{
		"city":               mmdbtype.Map{"geoname_id": mmdbtype.Uint32(2950159 + id), "names": names(c.city)},
		"continent":          mmdbtype.Map{"code": mmdbtype.String("EU"), "geoname_id": mmdbtype.Uint32(6255148), "names": names("Europe")},
		"country":            country,
		"registered_country": country,
		"location": mmdbtype.Map{"accuracy_radius": mmdbtype.Uint16(20), "latitude": mmdbtype.Float64(c.lat),
			"longitude": mmdbtype.Float64(c.lon), "time_zone": mmdbtype.String("Europe/Berlin")},
		"postal": mmdbtype.Map{"code": mmdbtype.String("10115")},
		"subdivisions": mmdbtype.Slice{mmdbtype.Map{"geoname_id": mmdbtype.Uint32(2950157 + id),
			"iso_code": mmdbtype.String("BE"), "names": names("Region of " + c.city)}},
	}
}

func writeDB(t testing.TB, path, dbType string, insert func(tree *mmdbwriter.Tree) error) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, BuildEpoch: 1772409600, RecordSize: 28,
		Languages: []string{"de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := insert(tree); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	// Written next to the target and renamed over it, as geoipupdate does.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func insertNet(tree *mmdbwriter.Tree, cidr string, v mmdbtype.DataType) error {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return err
	}
	return tree.Insert(n, v)
}

func writeCityDB(t testing.TB, path string, nets []cityNet) {
	writeDB(t, path, "GeoLite2-City", func(tree *mmdbwriter.Tree) error {
		for i, c := range nets {
			if err := insertNet(tree, c.cidr, cityValue(c, i)); err != nil {
				return err
			}
		}
		return nil
	})
}

func writeASNDB(t testing.TB, path string, nets []asnNet) {
	writeDB(t, path, "GeoLite2-ASN", func(tree *mmdbwriter.Tree) error {
		for _, a := range nets {
			v := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(a.asn), "autonomous_system_organization": mmdbtype.String(a.org)}
			if err := insertNet(tree, a.cidr, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// bump moves a file's modification time forward, so that a reload sees a
// change even on file systems with coarse timestamps.
func bump(t testing.TB, path string, by time.Duration) {
	t.Helper()
	at := time.Now().Add(by)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func testLogger() (*slog.Logger, *logbuf.Buffer) {
	lb := &logbuf.Buffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// dbs writes both test databases into a fresh folder.
func dbs(t testing.TB) (city, asn string) {
	dir := t.TempDir()
	city, asn = filepath.Join(dir, "GeoLite2-City.mmdb"), filepath.Join(dir, "GeoLite2-ASN.mmdb")
	writeCityDB(t, city, testCities)
	writeASNDB(t, asn, testASNs)
	return city, asn
}

func newStage(t testing.TB, cfg Config) *Stage {
	t.Helper()
	log, _ := testLogger()
	s, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func signIn(ip string) *entra.Record {
	return &entra.Record{Stream: entra.StreamSignIn, SignIn: entra.SignIn{IPAddress: ip}, Actor: entra.Principal{IP: ip}}
}

func TestEnrich(t *testing.T) {
	city, asn := dbs(t)
	s := newStage(t, Config{CityDB: city, ASNDB: asn})
	cityOnly := newStage(t, Config{CityDB: city})
	berlin := &entra.Geo{CountryISO: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405, ASN: 3320, ASOrg: "Deutsche Telekom AG"}
	for _, tc := range []struct {
		name  string
		stage *Stage
		rec   *entra.Record
		want  *entra.Geo
	}{
		{"IPv4 hit", s, signIn("87.123.40.17"), berlin},
		{"IPv4 hit, other network", s, signIn("81.2.69.142"),
			&entra.Geo{CountryISO: "GB", City: "London", Lat: 51.5142, Lon: -0.0931, ASN: 20712, ASOrg: "Andrews & Arnold Ltd"}},
		{"IPv6 hit", s, signIn("2a02:8070:a1c0:110:1000:2a00:3b00:4c00"),
			&entra.Geo{CountryISO: "DE", City: "Munich", Lat: 48.1351, Lon: 11.582, ASN: 3209, ASOrg: "Vodafone GmbH"}},
		{"IPv4-mapped IPv6 is the IPv4 address", s, signIn("::ffff:87.123.40.17"), berlin},
		{"city database only", cityOnly, signIn("87.123.40.17"), &entra.Geo{CountryISO: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405}},
		{"ASN database only knows it", s, signIn("164.92.178.77"), &entra.Geo{ASN: 14061, ASOrg: "DigitalOcean, LLC"}},
		{"in the city database, not the ASN one", s, signIn("72.229.28.9"), &entra.Geo{CountryISO: "US", City: "New York", Lat: 40.7128, Lon: -74.006}},
		{"miss", s, signIn("8.8.8.8"), nil},
		{"IPv6 miss", s, signIn("2001:4860:4860::8888"), nil},
		{"private IPv4", s, signIn("10.0.2.15"), nil},
		{"private IPv6 (ULA)", s, signIn("fd00::1"), nil},
		{"loopback", s, signIn("127.0.0.1"), nil},
		{"link-local with zone", s, signIn("fe80::1%eth0"), nil},
		{"bad IP", s, signIn("not-an-ip"), nil},
		{"empty IP", s, signIn(""), nil},
		{"audit actor IP", s, &entra.Record{Stream: entra.StreamAudit, Actor: entra.Principal{IP: "87.123.40.2"}}, berlin},
		{"activity caller IP", s, &entra.Record{Stream: entra.StreamActivity, Actor: entra.Principal{IP: "81.2.69.1"}},
			&entra.Geo{CountryISO: "GB", City: "London", Lat: 51.5142, Lon: -0.0931, ASN: 20712, ASOrg: "Andrews & Arnold Ltd"}},
		{"audit without an IP", s, &entra.Record{Stream: entra.StreamAudit}, nil},
	} {
		if w := tc.want; w != nil && w.CountryISO != "" {
			// The English names cityValue writes.
			named := *w
			named.CountryName, named.RegionName, named.ContinentName = "Country "+w.CountryISO, "Region of "+w.City, "Europe"
			tc.want = &named
		}
		t.Run(tc.name, func(t *testing.T) {
			for pass := range 2 { // the second pass is served by the cache
				rec := *tc.rec
				tc.stage.Enrich(&rec)
				if !geoEqual(rec.Context.Geo, tc.want) {
					t.Fatalf("pass %d: geo = %+v, want %+v", pass, deref(rec.Context.Geo), deref(tc.want))
				}
			}
		})
	}
}

// TestNames: the English names of a City record, and what a record
// without them (a Country database, a network with only a registered
// country, no subdivisions) gives.
func TestNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "GeoIP2-Country.mmdb")
	writeDB(t, path, "GeoIP2-Country", func(tree *mmdbwriter.Tree) error {
		ch := mmdbtype.Map{"iso_code": mmdbtype.String("CH"), "names": names("Switzerland")}
		for _, n := range []struct {
			cidr string
			v    mmdbtype.Map
		}{
			{"81.2.69.0/24", cityValue(testCities[0], 0)},
			// Country database: continent and country, no subdivisions.
			{"87.123.40.0/24", mmdbtype.Map{"continent": mmdbtype.Map{"code": mmdbtype.String("EU"), "names": names("Europe")}, "country": ch, "registered_country": ch}},
			// Satellite range: a registered country only, and no English names.
			{"72.229.28.0/24", mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("US"), "names": mmdbtype.Map{"de": mmdbtype.String("USA")}}}},
			// Several subdivisions: the first is the region.
			{"164.92.178.0/24", mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB"), "names": names("United Kingdom")},
				"subdivisions": mmdbtype.Slice{mmdbtype.Map{"names": names("England")}, mmdbtype.Map{"names": names("Greater London")}}}},
		} {
			if err := insertNet(tree, n.cidr, n.v); err != nil {
				return err
			}
		}
		return nil
	})
	s := newStage(t, Config{CityDB: path})
	for ip, want := range map[string]entra.Geo{
		"81.2.69.1": {CountryISO: "GB", CountryName: "Country GB", RegionName: "Region of London", ContinentName: "Europe",
			City: "London", Lat: 51.5142, Lon: -0.0931},
		"87.123.40.1":  {CountryISO: "CH", CountryName: "Switzerland", ContinentName: "Europe"},
		"72.229.28.1":  {CountryISO: "US"},
		"164.92.178.1": {CountryISO: "GB", CountryName: "United Kingdom", RegionName: "England"},
	} {
		rec := signIn(ip)
		s.Enrich(rec)
		if !geoEqual(rec.Context.Geo, &want) {
			t.Errorf("%s: geo = %+v, want %+v", ip, deref(rec.Context.Geo), want)
		}
	}
}

func geoEqual(a, b *entra.Geo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func deref(g *entra.Geo) any {
	if g == nil {
		return nil
	}
	return *g
}

func TestCacheHitPath(t *testing.T) {
	city, asn := dbs(t)
	// The cache is direct-mapped with a random hash seed: two addresses
	// may share a slot. Among 2^17 slots the two here do in one run of
	// 131,072.
	s := newStage(t, Config{CityDB: city, ASNDB: asn, CacheSize: 1 << 16})
	st := s.st.Load()
	a, b := signIn("87.123.40.17"), signIn("87.123.40.17")
	s.Enrich(a)
	if st.cache.Len() != 1 {
		t.Fatalf("cache holds %d entries after one lookup", st.cache.Len())
	}
	s.Enrich(b)
	if a.Context.Geo != b.Context.Geo {
		t.Error("the second record did not get the cached result")
	}
	// Misses are cached too, so a stream of unknown addresses costs one
	// database lookup each.
	s.Enrich(signIn("8.8.8.8"))
	if g, ok := st.cache.Get(netip.MustParseAddr("8.8.8.8")); !ok || g != nil {
		t.Errorf("miss not cached: %v %v", g, ok)
	}
	// Addresses are cached in canonical form: the mapped form hits.
	s.Enrich(signIn("::ffff:87.123.40.17"))
	if st.cache.Len() != 2 {
		t.Errorf("cache holds %d entries, want 2 (mapped address shares the IPv4 entry)", st.cache.Len())
	}
	// Private addresses never reach the cache.
	s.Enrich(signIn("192.168.1.1"))
	if st.cache.Len() != 2 {
		t.Errorf("a private address was cached")
	}
	if n := testing.AllocsPerRun(100, func() { s.Enrich(b) }); n != 0 {
		t.Errorf("cache hit allocates %.0f times", n)
	}
}

func TestReloadAfterReplace(t *testing.T) {
	city, asn := dbs(t)
	log, logs := testLogger()
	s, err := New(Config{CityDB: city, ASNDB: asn}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cityOf := func(ip string) string {
		rec := signIn(ip)
		s.Enrich(rec)
		if rec.Context.Geo == nil {
			return ""
		}
		return rec.Context.Geo.City
	}
	if got := cityOf("87.123.40.17"); got != "Berlin" {
		t.Fatalf("before: %q", got)
	}
	if s.reload() {
		t.Fatal("reload with unchanged files swapped a database")
	}
	moved := append([]cityNet(nil), testCities...)
	moved[1].city = "Potsdam"
	writeCityDB(t, city, moved)
	bump(t, city, time.Second)
	if !s.reload() {
		t.Fatal("reload did not notice the new file")
	}
	if got := cityOf("87.123.40.17"); got != "Potsdam" {
		t.Errorf("after reload: %q, want Potsdam (cache purged, new database)", got)
	}
	if rec := signIn("87.123.40.17"); true {
		s.Enrich(rec)
		if rec.Context.Geo.ASN != 3320 {
			t.Errorf("the ASN database was lost in the reload: %+v", *rec.Context.Geo)
		}
	}
	if !strings.Contains(logs.String(), "geo: database reloaded") {
		t.Errorf("reload not logged:\n%s", logs)
	}

	// A corrupt replacement keeps the old database, with a warning, once.
	if err := os.WriteFile(city, []byte("this is not a MaxMind DB"), 0o644); err != nil {
		t.Fatal(err)
	}
	bump(t, city, 2*time.Second)
	if s.reload() {
		t.Error("a corrupt file was swapped in")
	}
	s.reload()
	if got := cityOf("87.123.40.17"); got != "Potsdam" {
		t.Errorf("after a failed reload: %q, want the old database's Potsdam", got)
	}
	if n := strings.Count(logs.String(), "geo: reload failed"); n != 1 {
		t.Errorf("%d reload warnings, want 1:\n%s", n, logs)
	}
	// Deleted: the old database stays.
	os.Remove(city)
	s.reload()
	s.reload()
	if got := cityOf("87.123.40.17"); got != "Potsdam" {
		t.Errorf("after the file was deleted: %q", got)
	}
	if n := strings.Count(logs.String(), "cannot read the database file"); n != 1 {
		t.Errorf("%d warnings for the missing file, want 1:\n%s", n, logs)
	}
}

func TestReloadByTheWatcher(t *testing.T) {
	city, _ := dbs(t)
	s := newStage(t, Config{CityDB: city, ReloadInterval: 100 * time.Millisecond})
	moved := append([]cityNet(nil), testCities...)
	moved[0].city = "Cambridge"
	writeCityDB(t, city, moved)
	bump(t, city, time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		rec := signIn("81.2.69.142")
		s.Enrich(rec)
		if rec.Context.Geo != nil && rec.Context.Geo.City == "Cambridge" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the watcher did not reload the changed file within 10s")
}

func TestStartupErrors(t *testing.T) {
	city, asn := dbs(t)
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	os.WriteFile(corrupt, bytes.Repeat([]byte("garbage "), 512), 0o644)
	empty := filepath.Join(dir, "empty.mmdb")
	os.WriteFile(empty, nil, 0o644)
	absent := filepath.Join(dir, "absent.mmdb")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // error substring; "" for success
	}{
		{"both", Config{CityDB: city, ASNDB: asn}, ""},
		{"nothing configured", Config{}, "geo: city_db: a City database is required"},
		{"missing city", Config{CityDB: absent}, "geo: city_db " + absent + ": no such file or directory"},
		{"missing asn", Config{CityDB: city, ASNDB: absent}, "geo: asn_db " + absent + ": no such file or directory"},
		{"corrupt", Config{CityDB: corrupt}, "geo: city_db " + corrupt + ": "},
		{"empty", Config{ASNDB: empty}, "geo: asn_db " + empty + ": file is empty"},
		{"swapped", Config{CityDB: asn, ASNDB: city}, `geo: city_db ` + asn + `: database type "GeoLite2-ASN" is not a City database`},
		{"asn db as city db", Config{ASNDB: city}, `is not an ASN database`},
		{"optional, missing", Config{CityDB: absent, ASNDB: asn, Optional: true}, ""},
		{"optional, corrupt", Config{CityDB: corrupt, Optional: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg, nil)
			if s != nil {
				defer s.Close()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestOptionalMissingThenAppears(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "GeoLite2-City.mmdb")
	log, logs := testLogger()
	s, err := New(Config{CityDB: city, Optional: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "geo: city_db "+city) {
		t.Errorf("no warning naming the file:\n%s", logs)
	}
	rec := signIn("87.123.40.17")
	s.Enrich(rec)
	if rec.Context.Geo != nil {
		t.Fatalf("geo without a database: %+v", *rec.Context.Geo)
	}
	if s.reload() {
		t.Error("reload swapped in a database that is still missing")
	}
	if strings.Count(logs.String(), "level=WARN") != 1 {
		t.Errorf("the still-missing file was warned about again:\n%s", logs)
	}
	if d := s.Databases(); len(d) != 1 || d[0].Loaded {
		t.Errorf("Databases() = %+v", d)
	}
	writeCityDB(t, city, testCities)
	if !s.reload() {
		t.Fatal("reload did not load the file that appeared")
	}
	rec = signIn("87.123.40.17")
	s.Enrich(rec)
	if rec.Context.Geo == nil || rec.Context.Geo.City != "Berlin" {
		t.Errorf("after the file appeared: %+v", rec.Context.Geo)
	}
	if d := s.Databases(); !d[0].Loaded || d[0].Type != "GeoLite2-City" || d[0].Built.Year() != 2026 {
		t.Errorf("Databases() = %+v", d)
	}
}

// Records keep flowing while the database is replaced again and again:
// every answer comes from one database or the other, never a mix or a
// crash (run with -race).
func TestConcurrentEnrichDuringReload(t *testing.T) {
	city, asn := dbs(t)
	s := newStage(t, Config{CityDB: city, ASNDB: asn, CacheSize: 8})
	ips := []string{"87.123.40.17", "81.2.69.142", "2a02:8070:a1c0::1", "72.229.28.9", "8.8.8.8", "87.123.40.99"}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i++ {
				rec := signIn(ips[i%len(ips)])
				s.Enrich(rec)
				g := rec.Context.Geo
				if strings.HasPrefix(ips[i%len(ips)], "87.123.40.") && (g == nil || g.City != "Berlin" && g.City != "Potsdam") {
					bad.Store(fmt.Sprintf("%s → %+v", ips[i%len(ips)], g))
				}
			}
		}()
	}
	moved := append([]cityNet(nil), testCities...)
	for i := range 20 {
		moved[1].city = []string{"Berlin", "Potsdam"}[i%2]
		writeCityDB(t, city, moved)
		bump(t, city, time.Duration(i+1)*time.Second)
		if !s.reload() {
			t.Errorf("reload %d did not swap", i)
		}
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{CityDB: "c.mmdb"}, ""},
		{Config{ASNDB: "a.mmdb"}, ""},
		{Config{CityDB: "c.mmdb", CacheSize: 10, ReloadInterval: time.Hour}, ""},
		{Config{}, "city_db: "},
		{Config{CityDB: "c.mmdb", CacheSize: -1}, "cache_size: "},
		{Config{CityDB: "c.mmdb", ReloadInterval: -time.Second}, "reload_interval: "},
		{Config{CityDB: "c.mmdb", ReloadInterval: time.Millisecond}, "reload_interval: "},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if c := (Config{CityDB: "x"}).withDefaults(); c.CacheSize != 65536 || c.ReloadInterval != time.Minute {
		t.Errorf("defaults: %+v", c)
	}
}

// benchDBs writes databases of n /24 networks (and as many IPv6 /48s),
// with records as large as GeoLite2's, so that the tree is deep and the
// decoder has real records to skip through.
func benchDBs(b *testing.B, n int) (city, asn string, addrs []netip.Addr) {
	dir := b.TempDir()
	city, asn = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	var cities []cityNet
	var asns []asnNet
	for i := range n {
		v4 := fmt.Sprintf("%d.%d.%d.0/24", 81+i>>16, i>>8&0xff, i&0xff)
		v6 := fmt.Sprintf("2a02:%x:%x::/48", 0x1000+i>>8, i&0xff)
		for _, cidr := range []string{v4, v6} {
			cities = append(cities, cityNet{cidr, "DE", fmt.Sprintf("City %d", i%5000), 52 + float64(i%90)/10, 13 + float64(i%90)/10})
			asns = append(asns, asnNet{cidr, uint32(3000 + i%2000), fmt.Sprintf("Carrier %d AG", i%2000)})
		}
		p, _ := netip.ParsePrefix(v4)
		addrs = append(addrs, p.Addr().Next())
		p, _ = netip.ParsePrefix(v6)
		addrs = append(addrs, p.Addr().Next())
	}
	writeCityDB(b, city, cities)
	writeASNDB(b, asn, asns)
	return city, asn, addrs
}

// BenchmarkEnrichCacheHit is the common case: an address seen before.
func BenchmarkEnrichCacheHit(b *testing.B) {
	city, asn, _ := benchDBs(b, 64)
	s := newStage(b, Config{CityDB: city, ASNDB: asn})
	rec := signIn("81.0.0.1")
	s.Enrich(rec)
	if rec.Context.Geo == nil {
		b.Fatal("no geo")
	}
	b.ReportAllocs()
	for b.Loop() {
		rec.Context.Geo = nil
		s.Enrich(rec)
	}
}

// BenchmarkLookupMiss is a cache miss: both databases looked up and
// decoded, the result built (the cost Enrich pays once per new address).
func BenchmarkLookupMiss(b *testing.B) {
	city, asn, addrs := benchDBs(b, 20000)
	s := newStage(b, Config{CityDB: city, ASNDB: asn})
	st := s.st.Load()
	if g := s.lookup(st, addrs[0]); g == nil || g.City == "" || g.ASN == 0 {
		b.Fatalf("lookup: %+v", g)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.lookup(st, addrs[i%len(addrs)])
		i++
	}
}

// BenchmarkEnrichCacheMiss is Enrich on addresses never seen: parse, cache
// miss, lookup, cache insert (with evictions: the cache is smaller than
// the address set).
func BenchmarkEnrichCacheMiss(b *testing.B) {
	city, asn, addrs := benchDBs(b, 20000)
	s := newStage(b, Config{CityDB: city, ASNDB: asn, CacheSize: 1024})
	ips := make([]string, len(addrs))
	for i, a := range addrs {
		ips[i] = a.String()
	}
	rec := signIn("")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec.SignIn.IPAddress = ips[i%len(ips)]
		rec.Context.Geo = nil
		s.Enrich(rec)
		i++
	}
}
