package elastic

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/privtrail/privtrail/entra"
)

// ecsVersion is the ECS version the documents follow.
const ecsVersion = "8.11.0"

// Encoder turns a record into one bulk item: the create action line and
// the ECS document, each ending in a newline. It implements
// delivery.Encoder and is safe for concurrent use.
type Encoder struct {
	naming  Naming
	parsers fastjson.ParserPool
}

// NewEncoder returns the encoder for the data streams of n.
func NewEncoder(n Naming) *Encoder { return &Encoder{naming: n} }

// Encode appends the bulk item for rec. The enriched JSON is not used: the
// ECS document is built from the record and the original document.
func (e *Encoder) Encode(dst []byte, rec *entra.Record, _ []byte) ([]byte, error) {
	if rec.Time.IsZero() {
		return dst, errors.New("record has no event time (@timestamp is required by data streams)")
	}
	dataset := e.naming.DatasetOf(rec.Stream, rec.LogCategory)

	dst = append(dst, `{"create":{"_index":`...)
	dst = entra.AppendJSONString(dst, "logs-"+dataset+"-"+e.naming.Namespace)
	dst = append(dst, `,"_id":"`...)
	dst = appendDocID(dst, rec)
	dst = append(dst, "\"}}\n"...)

	p := e.parsers.Get()
	defer e.parsers.Put(p)
	var root *fastjson.Value
	if v, err := p.ParseBytes(rec.Raw); err == nil && v.Type() == fastjson.TypeObject {
		root = v
	}

	w := jw{b: dst}
	d := doc{w: &w, rec: rec, root: root, dataset: dataset, namespace: e.naming.Namespace,
		kind: azureDataset(rec.Stream, rec.LogCategory)}
	d.encode()
	return append(w.b, '\n'), nil
}

// appendDocID appends the document's _id: the same record sent twice (an
// at-least-once resend after a crash) gets the same _id, so the second
// create is refused with 409 instead of indexing a duplicate. It is a hash
// of the stream, the record's ID, time and tenant, or of the original
// document when the record has no ID.
func appendDocID(dst []byte, rec *entra.Record) []byte {
	h := sha256.New()
	if rec.ID != "" {
		h.Write([]byte(rec.Stream))
		h.Write([]byte{0})
		h.Write([]byte(rec.ID))
		h.Write([]byte{0})
		h.Write(rec.Time.UTC().AppendFormat(nil, time.RFC3339Nano))
		h.Write([]byte{0})
		h.Write([]byte(rec.TenantID))
	} else {
		h.Write([]byte("raw\x00"))
		h.Write(rec.Raw)
	}
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.AppendEncode(dst, h.Sum(sum[:0])[:16])
}

// doc is the encoding of one record.
type doc struct {
	w         *jw
	rec       *entra.Record
	root      *fastjson.Value // the original document, nil if not an object
	dataset   string
	namespace string
	// kind is the integration's dataset for the record, which decides the
	// field names whatever dataset the naming writes to.
	kind string
}

func (d *doc) encode() {
	w, rec := d.w, d.rec
	w.open()
	w.raw("@timestamp", func(b []byte) []byte {
		b = append(b, '"')
		b = rec.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	})
	w.begin("ecs")
	w.str("version", ecsVersion)
	w.end()
	w.begin("data_stream")
	w.str("type", "logs")
	w.str("dataset", d.dataset)
	w.str("namespace", d.namespace)
	w.end()
	d.event()
	d.rule()
	d.threat()
	if msg := d.message(); msg != "" {
		w.str("message", msg)
	}
	if rec.Level != "" {
		w.begin("log")
		w.str("level", rec.Level)
		w.end()
	}
	d.user()
	d.source()
	d.entraGeo()
	d.graphECS()
	d.userAgent()
	if rec.Stream == entra.StreamAADDS && rec.AADDS.Computer != "" {
		w.begin("host")
		w.str("name", rec.AADDS.Computer)
		w.end()
	}
	w.begin("cloud")
	w.str("provider", "azure")
	if rec.TenantID != "" {
		w.begin("account")
		w.str("id", rec.TenantID)
		w.end()
	}
	if rec.Stream == entra.StreamGraphActivity {
		w.str("region", d.graphRegion())
		w.begin("service")
		w.str("name", graphService(d.kind))
		w.end()
	}
	w.end()
	d.related()
	d.azure()
	d.privtrail()
	w.close()
}

// userAgent writes user_agent.* for sign-ins and Graph activity records,
// as the integration's pipelines do with Elasticsearch's user_agent
// processor (useragent.go). Audit records carry a user agent only in
// additionalDetails ("User-Agent"), which the integration leaves there.
func (d *doc) userAgent() {
	rec := d.rec
	switch rec.Stream {
	case entra.StreamSignIn:
		if ua := rec.SignIn.UserAgent; ua != "" {
			defaultUACache().parse(ua).write(d.w, ua)
		} else if v := member(d.properties(), "userAgent"); v != nil && v.Type() == fastjson.TypeString {
			// The sign-in pipeline parses a logged "" too (only the Graph
			// activity pipelines skip it): name and device "Other", no
			// original.
			uaOther.write(d.w, "")
		}
	case entra.StreamGraphActivity:
		if ua := rec.GraphActivity.UserAgent; ua != "" {
			defaultUACache().parse(ua).write(d.w, ua)
		}
	}
}

// ---- event, rule, message ---------------------------------------------------

var riskRank = map[string]int{"low": 1, "medium": 2, "high": 3}

// riskScores follow the scores Elastic's detection rules use for low,
// medium and high.
var riskScores = [...]int64{0, 21, 47, 73}

// highestRisk is the highest risk among the record's hits ("" without).
func highestRisk(hits []entra.Hit) string {
	best, rank := "", 0
	for i := range hits {
		if r := riskRank[strings.ToLower(hits[i].Risk)]; r > rank {
			best, rank = strings.ToLower(hits[i].Risk), r
		}
	}
	return best
}

func (d *doc) event() {
	w, rec := d.w, d.rec
	w.begin("event")
	switch {
	case len(rec.Hits) > 0:
		w.str("kind", "alert")
	case rec.Stream == entra.StreamDirectory:
		// The state of an account at a scan, not something that happened.
		w.str("kind", "state")
	default:
		w.str("kind", "event")
	}
	cat, typ := d.categoryAndType()
	w.strs("category", cat...)
	w.strs("type", typ...)
	w.str("action", d.action())
	w.str("outcome", d.outcome())
	w.str("dataset", d.dataset)
	w.str("module", "azure")
	w.str("provider", d.provider())
	w.str("id", rec.ID)
	if ns, ok := d.duration(); ok {
		w.int("duration", ns)
	}
	if rec.Stream == entra.StreamAADDS && rec.AADDS.EventID != 0 {
		w.str("code", strconv.Itoa(rec.AADDS.EventID))
	}
	if r := highestRisk(rec.Hits); r != "" {
		w.int("risk_score", riskScores[riskRank[r]])
		w.int("severity", int64(riskRank[r]))
	}
	w.end()
}

func (d *doc) action() string {
	rec := d.rec
	switch rec.Stream {
	case entra.StreamSignIn:
		if rec.OperationName != "" {
			return rec.OperationName
		}
		return "Sign-in activity"
	case entra.StreamActivity:
		return rec.Activity.OperationName
	case entra.StreamRisk:
		return d.riskAction()
	case entra.StreamGraphActivity:
		if d.kind == datasetAADGraphActivity {
			if a := aadGraphAction(rec.GraphActivity.RequestMethod, rec.GraphActivity.RequestURI); a != "" {
				return a
			}
		}
	}
	return rec.OperationName
}

// provider names the Azure service that logged the record.
func (d *doc) provider() string {
	rec := d.rec
	switch rec.Stream {
	case entra.StreamSignIn:
		return "Microsoft Entra ID"
	case entra.StreamAudit:
		return rec.Audit.LoggedByService
	case entra.StreamAADDS:
		return "Microsoft Entra Domain Services"
	case entra.StreamDirectory:
		return "privtrail" // its directory scan, through Microsoft Graph
	case entra.StreamRisk:
		return "Microsoft Entra ID Protection"
	case entra.StreamGraphActivity:
		return graphService(d.kind)
	}
	return ""
}

func (d *doc) outcome() string {
	rec := d.rec
	var s string
	switch rec.Stream {
	case entra.StreamDirectory, entra.StreamRisk:
		return "" // a state, or a detection, has no outcome
	case entra.StreamGraphActivity:
		return httpOutcome(rec.GraphActivity.ResponseStatusCode, d.kind == datasetAADGraphActivity)
	case entra.StreamOther:
		return d.otherOutcome()
	case entra.StreamSignIn:
		if rec.SignIn.Status == "success" {
			return "success"
		}
		return "failure"
	case entra.StreamAudit:
		s = rec.Audit.Result
	case entra.StreamActivity:
		s = rec.Activity.Status
	}
	switch strings.ToLower(s) {
	case "success", "succeeded":
		return "success"
	case "failure", "failed":
		return "failure"
	}
	return "unknown"
}

// categoryAndType are the ECS event.category and event.type values.
func (d *doc) categoryAndType() (cat, typ []string) {
	rec := d.rec
	switch rec.Stream {
	case entra.StreamSignIn:
		// As Elastic's Azure integration sets them for sign-ins.
		return []string{"authentication"}, []string{"info"}
	case entra.StreamAudit:
		a := &rec.Audit
		switch strings.ToLower(a.OperationType) {
		case "add":
			typ = append(typ, "creation")
		case "delete":
			typ = append(typ, "deletion")
		case "update", "assign", "unassign":
			typ = append(typ, "change")
		default:
			typ = append(typ, "info")
		}
		if strings.EqualFold(a.Category, "RoleManagement") {
			typ = append(typ, "admin")
		}
		var user, group bool
		for i := range a.Targets {
			user = user || strings.EqualFold(a.Targets[i].Type, "user")
			group = group || strings.EqualFold(a.Targets[i].Type, "group")
		}
		if user {
			typ = append(typ, "user")
		}
		if group {
			typ = append(typ, "group")
		}
		return []string{"iam"}, typ
	case entra.StreamActivity:
		op := strings.ToLower(rec.Activity.OperationName)
		cat = []string{"configuration"}
		if strings.HasPrefix(op, "microsoft.authorization/") {
			cat = []string{"iam", "configuration"}
		}
		switch {
		case strings.HasSuffix(op, "/delete"):
			return cat, []string{"deletion"}
		case strings.HasSuffix(op, "/write"), strings.HasSuffix(op, "/action"):
			return cat, []string{"change"}
		}
		return cat, []string{"info"}
	case entra.StreamAADDS:
		switch strings.ToLower(rec.LogCategory) {
		case "accountlogon", "logonlogoff":
			return []string{"authentication"}, []string{"info"}
		case "accountmanagement":
			return []string{"iam"}, []string{"change"}
		case "privilegeuse":
			return []string{"iam"}, []string{"admin"}
		case "policychange":
			return []string{"configuration"}, []string{"change"}
		case "detailtracking":
			return []string{"process"}, []string{"info"}
		}
		return []string{"host"}, []string{"info"}
	case entra.StreamDirectory:
		return []string{"iam"}, []string{"info"}
	case entra.StreamRisk, entra.StreamGraphActivity, entra.StreamOther:
		return d.newStreamCategoryAndType()
	}
	return []string{"configuration"}, []string{"info"}
}

// rule names the monitors an alert matched (ECS rule.*), so Kibana shows
// them the way it shows any detection.
func (d *doc) rule() {
	hits := d.rec.Hits
	if len(hits) == 0 {
		return
	}
	w := d.w
	w.begin("rule")
	w.beginArr("id")
	for i := range hits {
		w.str("", hits[i].ID)
	}
	w.endArr()
	w.beginArr("name")
	for i := range hits {
		w.str("", hits[i].Title)
	}
	w.endArr()
	w.str("ruleset", "privtrail")
	w.end()
}

// threat classifies an alert by the MITRE ATT&CK tags of its hits (ECS
// threat.*, flat: the fields of one event, not a detection rule's
// threat array): threat.framework, threat.tactic.name,
// threat.technique.id and threat.technique.subtechnique.id, a
// sub-technique's technique included. Nothing without ATT&CK tags.
func (d *doc) threat() {
	a := entra.AttackOf(d.rec.Hits)
	if a.Empty() {
		return
	}
	w := d.w
	w.begin("threat")
	w.str("framework", "MITRE ATT&CK")
	if len(a.Tactics) > 0 {
		w.begin("tactic")
		w.strs("name", a.Tactics...)
		w.end()
	}
	if len(a.Techniques) > 0 {
		w.begin("technique")
		w.strs("id", a.Techniques...)
		if len(a.Subtechniques) > 0 {
			w.begin("subtechnique")
			w.strs("id", a.Subtechniques...)
			w.end()
		}
		w.end()
	}
	w.end()
}

// message is the failure reason of a failed sign-in (as the integration
// builds it), or the reason of a failed audit.
func (d *doc) message() string {
	rec := d.rec
	switch rec.Stream {
	case entra.StreamSignIn:
		s := rec.SignIn
		if s.Status == "success" {
			return ""
		}
		switch {
		case s.FailureReason != "" && s.AdditionalDetails != "":
			return s.FailureReason + " (" + s.AdditionalDetails + ")"
		case s.FailureReason != "":
			return s.FailureReason
		}
		return s.AdditionalDetails
	case entra.StreamAudit:
		if !strings.EqualFold(rec.Audit.Result, "success") {
			return rec.Audit.ResultReason
		}
	}
	return ""
}

// ---- user, source, geo, related ---------------------------------------------

func isUser(p *entra.Principal) bool {
	return strings.EqualFold(p.Type, "user") || (p.Type == "" && p.UPN != "")
}

// writeUser writes the ECS user fields of p: the UPN's local part as
// user.name and its domain as user.domain (as the integration does), the
// UPN as user.email (Entra requires UPNs in e-mail form; not for Domain
// Services, whose account@NETBIOSDOMAIN is no address).
func writeUser(w *jw, p *entra.Principal, email bool) {
	w.str("id", p.ID)
	if at := strings.LastIndexByte(p.UPN, '@'); at > 0 && at < len(p.UPN)-1 {
		w.str("name", p.UPN[:at])
		w.str("domain", p.UPN[at+1:])
		if email {
			w.str("email", p.UPN)
		}
	} else {
		w.str("name", p.UPN)
	}
	w.str("full_name", p.DisplayName)
}

func (d *doc) user() {
	w, rec := d.w, d.rec
	w.begin("user")
	email := rec.Stream != entra.StreamAADDS
	if a := &rec.Actor; isUser(a) {
		writeUser(w, a, email)
	} else if rec.Stream == entra.StreamGraphActivity {
		// As the integration: the calling service principal.
		w.str("id", rec.GraphActivity.ServicePrincipalID)
	}
	if rec.Stream == entra.StreamDirectory {
		// ECS user.roles: the directory roles the scan found.
		w.beginArr("roles")
		for i := range rec.Directory.Roles {
			w.str("", rec.Directory.Roles[i].Name)
		}
		w.endArr()
	}
	if ts := rec.TargetUsers(); len(ts) > 0 {
		w.begin("target")
		writeUser(w, ts[0], email)
		w.end()
	}
	w.end()
}

// ip returns the actor's address if it is one, and the text as logged.
func (d *doc) ip() (netip.Addr, string) {
	s := strings.TrimSpace(d.rec.Actor.IP)
	if s == "" {
		s = strings.TrimSpace(d.rec.SignIn.IPAddress)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, s
	}
	return a.Unmap().WithZone(""), s
}

func validLatLon(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && (lat != 0 || lon != 0)
}

func (d *doc) source() {
	w, rec := d.w, d.rec
	addr, text := d.ip()
	w.begin("source")
	if addr.IsValid() {
		w.str("ip", addr.String())
	}
	w.str("address", text)
	var l *entra.Location
	switch rec.Stream {
	case entra.StreamSignIn:
		l = &rec.SignIn.Location
	case entra.StreamRisk:
		l = &rec.Risk.Location
	}
	p := sourceGeo(rec.Context.Geo, l)
	w.begin("geo")
	writePlace(w, &p)
	w.end()
	asn, org := int64(0), ""
	if g := rec.Context.Geo; g != nil {
		asn, org = int64(g.ASN), g.ASOrg
	}
	if asn == 0 && rec.SignIn.ASN > 0 {
		asn = int64(rec.SignIn.ASN)
	}
	w.begin("as")
	if asn > 0 {
		w.int("number", asn)
	}
	if org != "" {
		w.begin("organization")
		w.str("name", org)
		w.end()
	}
	w.end()
	w.end()
}

// place is an ECS geo object; lat and lon count only when validLatLon.
type place struct {
	countryISO, countryName, continentName, regionName, cityName string
	lat, lon                                                     float64
}

// entraPlace is Entra's own location of a sign-in (it has ISO country
// codes, no country or continent names).
func entraPlace(l *entra.Location) place {
	return place{countryISO: l.Country, regionName: l.State, cityName: l.City, lat: l.Latitude, lon: l.Longitude}
}

// sourceGeo is source.geo: the GeoIP stage's answer g, with what it lacks
// taken from Entra's location of the sign-in l (nil for the other
// streams), as long as the two agree on the country (or either does not
// know it): a City database without the network's region (or a Country
// database) still gives region_name, and an ASN-only answer still gives
// Entra's place. Entra's fields are not mixed into an answer for another
// country. Without g, it is Entra's location, as the integration's
// pipeline writes it.
func sourceGeo(g *entra.Geo, l *entra.Location) place {
	var e place
	if l != nil {
		e = entraPlace(l)
	}
	if g == nil {
		return e
	}
	p := place{countryISO: g.CountryISO, countryName: g.CountryName, continentName: g.ContinentName,
		regionName: g.RegionName, cityName: g.City, lat: g.Lat, lon: g.Lon}
	if e.countryISO != "" && p.countryISO != "" && !strings.EqualFold(e.countryISO, p.countryISO) {
		return p
	}
	for _, f := range [...][2]*string{{&p.countryISO, &e.countryISO}, {&p.regionName, &e.regionName}, {&p.cityName, &e.cityName}} {
		if *f[0] == "" {
			*f[0] = *f[1]
		}
	}
	if !validLatLon(p.lat, p.lon) {
		p.lat, p.lon = e.lat, e.lon
	}
	return p
}

func writePlace(w *jw, p *place) {
	w.str("country_iso_code", p.countryISO)
	w.str("country_name", p.countryName)
	w.str("continent_name", p.continentName)
	w.str("region_name", p.regionName)
	w.str("city_name", p.cityName)
	if validLatLon(p.lat, p.lon) {
		w.begin("location")
		w.float("lat", p.lat)
		w.float("lon", p.lon)
		w.end()
	}
}

// entraGeo is the root geo object the integration fills from the
// sign-in's own location; for a platform log, geo.name is the record's
// location (an Azure region), as the platformlogs pipeline has it.
func (d *doc) entraGeo() {
	if d.kind == datasetPlatform && d.rec.Stream == entra.StreamOther {
		if l := scalarText(member(d.root, "location")); l != "" && d.rec.Shape == entra.ShapeDiagnostic {
			d.w.begin("geo")
			d.w.str("name", l)
			d.w.end()
		}
		return
	}
	if d.rec.Stream != entra.StreamSignIn {
		return
	}
	p := entraPlace(&d.rec.SignIn.Location)
	d.w.begin("geo")
	writePlace(d.w, &p)
	d.w.end()
}

func (d *doc) related() {
	w, rec := d.w, d.rec
	w.begin("related")
	if addr, _ := d.ip(); addr.IsValid() {
		w.strs("ip", addr.String())
	}
	var users []string
	add := func(s string) {
		if s == "" {
			return
		}
		for _, u := range users {
			if u == s {
				return
			}
		}
		users = append(users, s)
	}
	if isUser(&rec.Actor) {
		add(rec.Actor.UPN)
		add(rec.Actor.ID)
	}
	if rec.Stream == entra.StreamGraphActivity {
		add(rec.GraphActivity.ServicePrincipalID)
		if d.kind == datasetAADGraphActivity {
			add(rec.GraphActivity.AppID)
		}
	}
	for _, t := range rec.TargetUsers() {
		add(t.UPN)
		add(t.ID)
	}
	w.strs("user", users...)
	w.end()
}

// ---- azure.* ----------------------------------------------------------------

func (d *doc) azure() {
	w, rec := d.w, d.rec
	w.begin("azure")
	w.str("tenant_id", rec.TenantID)
	w.str("correlation_id", rec.CorrelationID)
	resID := rec.Activity.ResourceID
	if resID == "" && d.rec.Shape == entra.ShapeDiagnostic {
		resID = scalarText(member(d.root, "resourceId"))
	}
	if resID != "" {
		w.begin("resource")
		w.str("id", resID)
		w.end()
	}
	switch rec.Stream {
	case entra.StreamSignIn:
		d.signInLogs()
	case entra.StreamAudit:
		d.auditLogs()
	case entra.StreamActivity:
		d.activityLogs()
	case entra.StreamAADDS:
		d.aadds()
	case entra.StreamDirectory:
		d.directory()
	case entra.StreamRisk:
		d.identityProtection()
	case entra.StreamGraphActivity:
		d.graphActivityLogs()
	case entra.StreamOther:
		if d.kind == datasetProvisioning {
			d.provisioningLogs()
		} else {
			d.platformLogs()
		}
	}
	w.end()
}

// envelopeSkip are the diagnostic envelope's keys that become ECS or
// azure.* fields of their own rather than azure.<dataset>.* ones.
var envelopeSkip = []string{
	"time", "properties", "resourceId", "tenantId", "correlationId", "level",
	"durationMs", "callerIpAddress", "location", "privtrail",
}

// envelope copies the diagnostic envelope's other keys (operationName,
// category, resultType, identity, …) in snake case, and adds their names
// to ks.
func (d *doc) envelope(ks *seen) {
	if d.rec.Shape != entra.ShapeDiagnostic || d.root == nil {
		return
	}
	o, _ := d.root.Object()
	o.Visit(func(k []byte, v *fastjson.Value) {
		for _, s := range envelopeSkip {
			if eqFold(k, s) {
				return
			}
		}
		f := names[snakeKeys].of(k)
		if f.name == "" || !ks.add(f.name) {
			return
		}
		d.w.field(f, func(b []byte) []byte { return appendValue(b, v, snakeKeys) })
	})
}

// properties is the object the integration reads its
// azure.<dataset>.properties.* from: the diagnostic record's properties, or
// the whole Graph resource.
func (d *doc) properties() *fastjson.Value {
	p := d.root
	if d.rec.Shape == entra.ShapeDiagnostic {
		p = member(d.root, "properties")
	}
	if p == nil || p.Type() != fastjson.TypeObject {
		return nil
	}
	return p
}

// signInRenames and signInDrops are what the integration's pipeline does
// to the snake-cased properties after converting them.
var signInRenames = map[string]string{
	"created_date_time":               "created_at",
	"processing_time_in_milliseconds": "processing_time_ms",
	"risk_level_during_sign_in":       "risk_level_during_signin",
}

var signInDrops = map[string]bool{
	// → source.ip, user_agent.original, geo.* / source.geo.*
	"ip_address": true, "ipaddress": true, "user_agent": true, "location": true,
	"privtrail": true,
}

func (d *doc) signInLogs() {
	w, rec := d.w, d.rec
	s := &rec.SignIn
	w.begin("signinlogs")
	var ks seen
	d.envelope(&ks)
	// A Graph resource has no envelope: fill in what the integration's
	// rules read from it.
	if ks.add("category") {
		w.str("category", rec.LogCategory)
	}
	if ks.add("operation_name") {
		w.str("operation_name", d.action())
	}
	if ks.add("result_type") {
		w.str("result_type", strconv.Itoa(s.ErrorCode))
	}
	// What Azure writes in resultSignature of newer sign-in records
	// (older ones carry "None"); rules filter on it.
	if ks.add("result_signature") {
		if s.ErrorCode == 0 {
			w.str("result_signature", "SUCCESS")
		} else {
			w.str("result_signature", "FAILURE")
		}
	}
	if ks.add("result_description") && s.ErrorCode != 0 {
		w.str("result_description", s.FailureReason)
	}
	if ks.add("identity") {
		w.str("identity", rec.Actor.DisplayName)
	}
	if p := d.properties(); p != nil {
		w.begin("properties")
		o, _ := p.Object()
		var pks seen
		o.Visit(func(k []byte, v *fastjson.Value) {
			f := signInFields.of(k)
			n := f.name
			if n == "" || !pks.add(n) {
				return
			}
			if n == "status" && v.Type() == fastjson.TypeObject {
				// failure_reason and additional_details become message.
				w.begin("status")
				so, _ := v.Object()
				var sks seen
				so.Visit(func(k []byte, v *fastjson.Value) {
					sn := fieldNameOf(k, snakeKeys)
					if sn == "" || sn == "failure_reason" || sn == "additional_details" || !sks.add(sn) {
						return
					}
					w.raw(sn, func(b []byte) []byte { return appendValue(b, v, snakeKeys) })
				})
				w.end()
				return
			}
			w.field(f, func(b []byte) []byte { return appendValue(b, v, snakeKeys) })
		})
		w.end()
	}
	w.end()
}

// signInFields are the sign-in properties' fields: snake case, then the
// integration's renames and drops.
var signInFields = newNameTable(func(k []byte) string {
	n := string(fieldName(nil, k, snakeKeys))
	if r, ok := signInRenames[n]; ok {
		n = r
	}
	if signInDrops[n] {
		return ""
	}
	return n
})

// auditRenames are the properties the integration's audit pipeline
// renames; the others keep their logged names.
var auditRenames = map[string]string{
	"activitydisplayname": "activity_display_name",
	"activitydatetime":    "activity_datetime",
	"additionaldetails":   "additional_details",
	"resultreason":        "result_reason",
	"correlationid":       "correlation_id",
	"loggedbyservice":     "logged_by_service",
	"operationtype":       "operation_type",
	"initiatedby":         "initiated_by",
	"targetresources":     "target_resources",
}

func (d *doc) auditLogs() {
	w, rec := d.w, d.rec
	w.begin("auditlogs")
	var ks seen
	d.envelope(&ks)
	if ks.add("category") {
		w.str("category", "AuditLogs")
	}
	if ks.add("operation_name") {
		w.str("operation_name", rec.OperationName)
	}
	if ks.add("identity") {
		id := rec.Actor.DisplayName
		if id == "" {
			id = rec.Actor.UPN
		}
		w.str("identity", id)
	}
	if p := d.properties(); p != nil {
		w.begin("properties")
		o, _ := p.Object()
		var pks seen
		o.Visit(func(k []byte, v *fastjson.Value) {
			f := auditFields.of(k)
			n := f.name
			if n == "" || !pks.add(n) {
				return
			}
			if n == "target_resources" {
				if v.Type() == fastjson.TypeArray {
					w.begin(n)
					writeTargetResources(w, v)
					w.end()
				}
				return
			}
			w.field(f, func(b []byte) []byte { return appendValue(b, v, keepKeys) })
		})
		w.end()
	}
	w.end()
}

// auditFields are the audit properties' fields: the logged keys, the
// integration's renames (whatever the key's case), privtrail's own
// object dropped.
var auditFields = newNameTable(func(k []byte) string {
	n := string(fieldName(nil, k, keepKeys))
	if r, ok := auditRenames[strings.ToLower(n)]; ok {
		n = r
	}
	if n == "privtrail" {
		return ""
	}
	return n
})

// writeTargetResources writes targetResources as the integration does: an
// object keyed by position ("0", "1", …), each with its modifiedProperties
// keyed the same way, values as logged; so that rules can say
// target_resources.0.modified_properties.1.new_value.
func writeTargetResources(w *jw, v *fastjson.Value) {
	arr, _ := v.Array()
	for i, t := range arr {
		if t.Type() != fastjson.TypeObject {
			continue
		}
		w.begin(itoa(i))
		for _, f := range [...]struct{ from, to string }{
			{"displayName", "display_name"}, {"id", "id"}, {"type", "type"},
			{"ipAddress", "ip_address"}, {"userPrincipalName", "user_principal_name"},
			{"groupType", "group_type"},
		} {
			if x := member(t, f.from); !isNull(x) {
				w.raw(f.to, func(b []byte) []byte { return appendValue(b, x, keepKeys) })
			}
		}
		if mp := member(t, "modifiedProperties"); mp != nil && mp.Type() == fastjson.TypeArray {
			w.begin("modified_properties")
			props, _ := mp.Array()
			for j, p := range props {
				if p.Type() != fastjson.TypeObject {
					continue
				}
				w.begin(itoa(j))
				for _, f := range [...]struct{ from, to string }{
					{"displayName", "display_name"}, {"newValue", "new_value"}, {"oldValue", "old_value"},
				} {
					if x := member(p, f.from); !isNull(x) {
						w.raw(f.to, func(b []byte) []byte { return appendValue(b, x, keepKeys) })
					}
				}
				w.end()
			}
			w.end()
		}
		w.end()
	}
}

func (d *doc) activityLogs() {
	w, a := d.w, &d.rec.Activity
	w.begin("activitylogs")
	w.str("category", a.Category)
	w.str("operation_name", a.OperationName)
	// resultType as logged (Success, Start, …), else the normalised status.
	if rt := scalarText(member(d.root, "resultType")); rt != "" {
		w.str("result_type", rt)
	} else {
		w.str("result_type", a.Status)
	}
	w.str("result_signature", a.ResultSignature)
	if p := member(d.root, "properties"); p != nil && p.Type() == fastjson.TypeObject {
		// Mapped as flattened: any shape is accepted.
		w.raw("properties", func(b []byte) []byte { return appendValue(b, p, keepKeys) })
	}
	w.end()
}

func (d *doc) aadds() {
	w, rec := d.w, d.rec
	a := &rec.AADDS
	w.begin("aadds")
	w.str("category", rec.LogCategory)
	w.str("operation_name", rec.OperationName)
	if a.EventID != 0 {
		w.int("event_id", int64(a.EventID))
	}
	w.str("computer", a.Computer)
	w.str("domain", a.Domain)
	w.str("service_name", a.ServiceName)
	w.str("process_name", a.ProcessName)
	w.str("privilege_list", a.PrivilegeList)
	if p := member(d.root, "properties"); p != nil && p.Type() == fastjson.TypeObject {
		w.raw("properties", func(b []byte) []byte { return appendValue(b, p, keepKeys) })
	}
	w.end()
}

// directory writes azure.directory.*: the directory document's members in
// snake case, from the validated record (not copied from the document),
// plus days_since_sign_in and mfa_known, which privtrail computes.
// mfa_registered and last_sign_in_date_time are left out when unknown, so
// that a filter on them never matches an account the scan knew nothing
// about.
func (d *doc) directory() {
	w, rec := d.w, d.rec
	dir := &rec.Directory
	w.begin("directory")
	w.str("record_type", dir.RecordType)
	w.str("user_type", dir.UserType)
	w.boolean("account_enabled", dir.AccountEnabled)
	if !dir.Created.IsZero() {
		w.str("created_date_time", dir.Created.UTC().Format(time.RFC3339Nano))
	}
	if !dir.LastSignIn.IsZero() {
		w.str("last_sign_in_date_time", dir.LastSignIn.UTC().Format(time.RFC3339Nano))
	}
	w.str("last_sign_in_source", dir.LastSignInSource)
	w.int("days_since_sign_in", int64(dir.DaysSinceSignIn))
	w.boolean("mfa_known", dir.MFAKnown)
	if dir.MFAKnown {
		w.boolean("mfa_registered", dir.MFARegistered)
	}
	w.strs("methods_registered", dir.Methods...)
	w.beginArr("roles")
	for i := range dir.Roles {
		r := &dir.Roles[i]
		w.begin("")
		w.str("name", r.Name)
		w.str("template_id", r.TemplateID)
		w.str("assignment", r.Assignment)
		w.end()
	}
	w.endArr()
	w.end()
}

// ---- privtrail.* ------------------------------------------------------------

func (d *doc) privtrail() {
	w, rec := d.w, d.rec
	w.begin("privtrail")
	w.str("stream", string(rec.Stream))
	w.str("shape", string(rec.Shape))
	w.str("log_category", rec.LogCategory)
	w.str("risk", highestRisk(rec.Hits))
	if !principalEmpty(&rec.Actor) {
		w.begin("user")
		writePrincipal(w, &rec.Actor)
		w.end()
	}
	w.beginArr("targets")
	for i := range rec.Audit.Targets {
		t := &rec.Audit.Targets[i].Principal
		if !strings.EqualFold(t.Type, "user") || !(t.Known || t.Privileged) {
			continue
		}
		w.begin("")
		writePrincipal(w, t)
		w.end()
	}
	w.endArr()
	if dv := rec.Context.Device; dv != nil {
		w.begin("device")
		w.str("id", dv.ID)
		w.boolean("paw", dv.PAW)
		w.str("reason", dv.Reason)
		w.boolean("compliant", dv.Compliant)
		w.boolean("managed", dv.Managed)
		w.str("trust_type", dv.TrustType)
		w.str("browser", dv.Browser)
		w.str("os", dv.OS)
		w.end()
	}
	if wh := rec.Context.WorkHours; wh != nil {
		w.begin("work_hours")
		w.boolean("inside", wh.Inside)
		w.str("local_time", wh.LocalTime)
		w.str("schedule", wh.Schedule)
		w.end()
	}
	w.beginArr("monitors")
	for i := range rec.Hits {
		h := &rec.Hits[i]
		w.begin("")
		w.str("id", h.ID)
		w.str("title", h.Title)
		w.str("risk", h.Risk)
		w.str("source", h.Source)
		w.str("reason", h.Reason)
		w.str("notes", h.Notes)
		if len(h.Tags) > 0 {
			w.strs("tags", h.Tags...)
		}
		w.end()
	}
	w.endArr()
	// Last, once every string is written: as in the enriched JSON of the
	// other outputs (entra.Record.AppendJSON).
	if w.replaced || !utf8.Valid(rec.Raw) {
		w.boolean("replaced_invalid_utf8", true)
	}
	w.end()
}

func principalEmpty(p *entra.Principal) bool {
	return p.ID == "" && p.UPN == "" && p.DisplayName == "" && !p.Privileged && !p.Emergency && len(p.Roles) == 0
}

func writePrincipal(w *jw, p *entra.Principal) {
	w.str("id", p.ID)
	w.str("upn", p.UPN)
	w.str("display_name", p.DisplayName)
	w.str("type", p.Type)
	w.boolean("privileged", p.Privileged)
	w.boolean("emergency_access", p.Emergency)
	w.boolean("known", p.Known)
	w.beginArr("roles")
	for i := range p.Roles {
		r := &p.Roles[i]
		w.begin("")
		w.str("name", r.Name)
		w.str("template_id", r.TemplateID)
		w.str("assignment", r.Assignment)
		w.str("via", r.Via)
		w.boolean("privileged", r.Privileged)
		w.end()
	}
	w.endArr()
}
