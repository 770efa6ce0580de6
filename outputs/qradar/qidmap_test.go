package qradar

// What a QRadar admin imports so that privtrail's LEEF events are
// categorised on arrival (README, "Categorised on arrival"): one QID record
// per LEEF EventID privtrail can send, and the DSM event mappings from each
// EventID and event category (the LEEF cat attribute, the stream) to its
// QID record. The files in qradar-mapping/ are generated here from the
// monitor catalog, the shipped pipeline and the stream defaults below:
//
//	go test ./outputs/qradar -run TestQRadarMapping -update
//
// TestQRadarMappingUpToDate fails when they are out of date, and the
// generator fails for a monitor without a low-level category (add it to
// monitorCategories). TestQRadarMappingCoversEncoder drives the Encoder
// and checks that every EventID/cat pair it writes is mapped.

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/monitor"
)

const (
	shippedPipeline  = "../../pipelines/privileged-accounts.yaml"
	mappingDir       = "qradar-mapping"
	qidRecordsFile   = "qid_records.csv"
	eventMappingFile = "event_mappings.json"
	// logSourceTypeName is the log source type IBM documents for LEEF events
	// of products outside its partner program ("Universal LEEF", DSM
	// Configuration Guide): the mappings are created for it.
	logSourceTypeName = "Universal LEEF"
)

// lowLevelCategories are the QRadar low-level event categories the mapping
// uses, with the names QRadar gives them: IBM's "Event categories" pages,
// one per high-level category (Authentication 3000,
// https://www.ibm.com/docs/en/qsip/7.5?topic=categories-authentication;
// Suspicious Activity 7000, .../qsip/7.6.0?topic=categories-suspicious-activity;
// Policy 9000; Audit 19000, .../qsip/7.6.0?topic=categories-audit). The
// README says which were checked there and which only against a copy of the
// list. import.sh compares each name with what the target console returns
// for the ID before it creates anything.
var lowLevelCategories = map[int]string{
	3001:  "Unknown Authentication",
	3007:  "Privilege Escalation Succeeded",
	3010:  "Auth Server Login Failed",
	3014:  "Admin Login Successful",
	3015:  "Admin Login Failure",
	3023:  "User Right Assigned",
	3030:  "Policy Change",
	3031:  "User Account Added",
	3032:  "User Account Changed",
	3035:  "User Account Removed",
	3113:  "Admin Login Attempt",
	3124:  "User Account Locked",
	7006:  "Suspicious Activity",
	9012:  "Misc Policy Violation",
	9013:  "Compliance Policy Violation",
	19001: "General Audit Event",
	19011: "Create Activity Attempted",
	19014: "Read Activity Attempted",
	19017: "Update Activity Attempted",
	19020: "Delete Activity Attempted",
}

// monitorCategories is the low-level category of each monitor's QID: what
// the hit says happened. A failed privileged sign-in is an admin login
// failure, a successful one that a monitor finds odd an admin login
// success (the QID name says why it is odd, the severity how much), a role
// granted a user right assigned, an activation a privilege escalation, a
// monitor about a rule being broken a policy violation, an alert without a
// closer category suspicious activity.
var monitorCategories = map[string]int{
	"breakglass.signin":                     3113, // any sign-in attempt of a Global Administrator, whatever its result
	"breakglass.password_change":            3032, // fires on the activity, whatever its result
	"breakglass.role_change":                3032, // a role added or removed
	"breakglass.auth_method_change":         3032,
	"signin.ca_failure":                     3015,
	"signin.mfa_interrupt":                  3015,
	"signin.lockout":                        3124,
	"signin.bad_password_threshold":         3015,
	"signin.disabled_account":               3015,
	"signin.mfa_fraud":                      3010, // not only admins: a failed sign-in at the identity provider
	"audit.mfa_fraud_reported":              7006,
	"signin.identity_protection_risk":       7006,
	"signin.legacy_auth":                    9012,
	"signin.cross_tenant_admin":             3014,
	"signin.ca_not_applied":                 9012,
	"signin.unapproved_controls":            9012,
	"signin.new_device_or_location":         3014,
	"signin.off_hours":                      3014,
	"audit.privileged_account_created":      3031,
	"audit.password_change":                 3032,
	"audit.pim_alert_disabled":              3030,
	"audit.guest_to_member":                 3032,
	"audit.guest_invite_unapproved":         9012,
	"audit.privileged_change":               19001, // any change by an admin
	"audit.security_posture_lowered":        3030,
	"audit.high_value_app_change":           19001,
	"audit.auth_method_change":              3032,
	"audit.tap_added":                       3032,
	"audit.privileged_role_change":          3023,
	"aadds.sensitive_privilege_use":         7006,
	"pim.eligible_role_added":               3023,
	"pim.role_assigned_outside_pim":         3023,
	"pim.elevation":                         3007,
	"pim.approval_decision":                 19001,
	"pim.settings_changed":                  3030,
	"pim.elevation_not_paw":                 3007,
	"signin.not_paw":                        9012,
	"azure.elevate_access":                  3007,
	"directory.naming_policy":               9013,
	"directory.mfa_not_registered":          9013,
	"review.unused_privileged_account":      9013,
	"graphactivity.emergency_account_write": 7006,
}

// A streamDefault is the QID of records without a monitor hit whose LEEF
// EventID is <stream>:<event> (encode.go, eventName). Where the set of
// events is closed (sign-in event types, risk states, HTTP methods, the
// categories privtrail has no model for) it is listed whole; audit
// activities, Azure operations and Domain Services event IDs are open sets:
// the ones privtrail's shipped monitors name are mapped, the others arrive
// unknown (README).
type streamDefault struct {
	stream   entra.Stream
	event    string
	also     []string // other spellings of event that map to the same QID
	name     string
	desc     string
	category int
}

// riskEventTypes are the detection types of Entra ID Protection: Microsoft
// Graph's riskUserActivity and riskServicePrincipalActivity (beta)
// riskEventTypes lists, plus passwordSpray and anomalousToken, which
// privtrail's test records and entra.Risk name.
var riskEventTypes = []string{
	"anonymizedIPAddress", "investigationsThreatIntelligence", "investigationsThreatIntelligenceSigninLinked",
	"leakedCredentials", "maliciousIPAddress", "maliciousIPAddressValidCredentialsBlockedIP",
	"malwareInfectedIPAddress", "mcasImpossibleTravel", "mcasSuspiciousInboxManipulationRules",
	"suspiciousAPITraffic", "suspiciousIPAddress", "unfamiliarFeatures", "unlikelyTravel",
	"passwordSpray", "anomalousToken",
	"generic", "adminConfirmedServicePrincipalCompromised", "suspiciousSignins",
	"anomalousServicePrincipalActivity", "maliciousApplication", "suspiciousApplication",
}

// otherCategories are the diagnostic categories of Entra ID that privtrail
// has no model for (stream other), as entra/testdata/every_category.jsonl
// lists every category Entra sends.
var otherCategories = []string{
	"ProvisioningLogs", "NetworkAccessTrafficLogs", "NetworkAccessAlerts",
	"RemoteNetworkHealthLogs", "EnrichedOffice365AuditLogs", "B2CRequestLogs",
}

func fixedStreamDefaults() []streamDefault {
	var out []streamDefault
	for _, t := range []struct{ event, cats string }{
		{"interactive", "SignInLogs, ADFSSignInLogs"},
		{"nonInteractive", "NonInteractiveUserSignInLogs"},
		{"servicePrincipal", "ServicePrincipalSignInLogs, MicrosoftServicePrincipalSignInLogs"},
		{"managedIdentity", "ManagedIdentitySignInLogs"},
	} {
		out = append(out, streamDefault{entra.StreamSignIn, t.event, nil, "Entra ID sign-in: " + t.event,
			"A sign-in of event type " + t.event + " (" + t.cats + ") that no privtrail monitor flagged; the result and errorCode attributes say whether it succeeded.", 3001})
	}
	out = append(out, streamDefault{entra.StreamActivity, "Microsoft.Authorization/elevateAccess/action",
		[]string{"MICROSOFT.AUTHORIZATION/ELEVATEACCESS/ACTION"}, // the diagnostic-settings shape logs it in capitals
		"Azure activity: Microsoft.Authorization/elevateAccess/action",
		"A Global Administrator elevated their access to manage all Azure subscriptions (Azure Activity log), with no privtrail monitor hit.", 3007})
	for _, t := range []struct{ id, what string }{
		{"4672", "Special privileges assigned to a new logon"},
		{"4673", "A privileged service was called"},
	} {
		out = append(out, streamDefault{entra.StreamAADDS, t.id, nil, "Entra Domain Services event " + t.id,
			t.what + " (Windows security event " + t.id + " from Entra Domain Services), with no privtrail monitor hit.", 19001})
	}
	out = append(out, streamDefault{entra.StreamDirectory, entra.RecordTypePrivilegedUser, nil, "privtrail directory scan: privileged user",
		"The state of one privileged account at a privtrail directory scan (DirectoryScan) that no privtrail monitor flagged.", 19001})
	for _, t := range riskEventTypes {
		out = append(out, streamDefault{entra.StreamRisk, t, nil, "Entra ID Protection risk detection: " + t,
			"An Entra ID Protection risk detection of type " + t + " (UserRiskEvents, ServicePrincipalRiskEvents) with no privtrail monitor hit.", 7006})
	}
	for _, t := range []struct{ event, cat string }{
		{"RiskyUser", "RiskyUsers"},
		{"RiskyServicePrincipal", "RiskyServicePrincipals"},
	} {
		out = append(out, streamDefault{entra.StreamRisk, t.event, nil, "Entra ID Protection risk state: " + t.event,
			"The risk state of a user or service principal (" + t.cat + ") with no privtrail monitor hit.", 7006})
	}
	for _, t := range []struct {
		method   string
		category int
	}{{"GET", 19014}, {"POST", 19011}, {"PUT", 19017}, {"PATCH", 19017}, {"DELETE", 19020}} {
		out = append(out, streamDefault{entra.StreamGraphActivity, t.method, nil, "Microsoft Graph request: " + t.method,
			"A " + t.method + " request to Microsoft Graph or Azure AD Graph (MicrosoftGraphActivityLogs, AzureADGraphActivityLogs) with no privtrail monitor hit; httpStatus says whether it succeeded.", t.category})
	}
	for _, c := range otherCategories {
		out = append(out, streamDefault{entra.StreamOther, c, nil, "Entra ID log: " + c,
			"A record of the Entra ID diagnostic category " + c + ", which privtrail forwards without a model.", 19001})
	}
	return out
}

// Audit activities: the ones the shipped monitors name. Their category
// comes from the list they are in (a params list of a monitor) or, for a
// literal of a monitor's filter, from auditActivityCategories; any other is
// a general audit event.
var (
	auditParamCategories = map[string]int{
		"password_activities":    3032,
		"auth_method_activities": 3032,
		"role_add_activities":    3023,
		"always":                 3030, // audit.security_posture_lowered
		"policy_updates":         3030,
		"tenant_settings":        3030,
	}
	auditActivityCategories = map[string]int{
		"Add user":                   3031,
		"Invite external user":       3031,
		"Delete user":                3035,
		"Update user":                3032,
		"Disable PIM alert":          3030,
		"Update role setting in PIM": 3030,
		"Add member to role completed (PIM activation)": 3007,
	}
	reActivityEq     = regexp.MustCompile(`activityDisplayName\s*==\s*"([^"]+)"`)
	reActivityList   = regexp.MustCompile(`activityDisplayName\s+in\s+\[([^\]]*)\]`)
	reActivityParams = regexp.MustCompile(`activityDisplayName\s+in\s+params\.(\w+)`)
	reQuoted         = regexp.MustCompile(`"([^"]+)"`)
)

// auditStreamDefaults returns the audit activities the monitors of p name
// in their filters (==, in [...], in params.x), in pipeline order.
func auditStreamDefaults(p *monitor.Pipeline) ([]streamDefault, error) {
	var names []string
	category := map[string]int{}
	add := func(name string, cat int) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		if cat != 0 && category[name] == 0 {
			category[name] = cat
		}
	}
	for i := range p.Monitors {
		d := &p.Monitors[i]
		filters := []string{}
		if streams, _ := d.Streams(); slices.Contains(streams, entra.StreamAudit) {
			filters = append(filters, d.When)
		}
		if c := d.Correlate; c != nil && c.With.Source == string(entra.StreamAudit) {
			filters = append(filters, c.With.When)
		}
		for _, f := range filters {
			for _, m := range reActivityEq.FindAllStringSubmatch(f, -1) {
				add(m[1], 0)
			}
			for _, m := range reActivityList.FindAllStringSubmatch(f, -1) {
				for _, q := range reQuoted.FindAllStringSubmatch(m[1], -1) {
					add(q[1], 0)
				}
			}
			for _, m := range reActivityParams.FindAllStringSubmatch(f, -1) {
				list, ok := d.Params[m[1]].([]any)
				if !ok {
					return nil, fmt.Errorf("%s: params.%s is not a list of activities", d.ID, m[1])
				}
				for _, v := range list {
					s, ok := v.(string)
					if !ok {
						return nil, fmt.Errorf("%s: params.%s: %v is not a string", d.ID, m[1], v)
					}
					add(s, auditParamCategories[m[1]])
				}
			}
		}
	}
	out := make([]streamDefault, 0, len(names))
	for _, n := range names {
		cat := auditActivityCategories[n]
		if cat == 0 {
			cat = category[n]
		}
		if cat == 0 {
			cat = 19001
		}
		out = append(out, streamDefault{entra.StreamAudit, n, nil, "Entra ID audit: " + n,
			"A directory audit record (AuditLogs) of the activity \"" + n + "\" that no privtrail monitor flagged.", cat})
	}
	return out, nil
}

// The generated files.

type qidMapFile struct {
	Comment           string      `json:"_comment"`
	LogSourceTypeName string      `json:"log_source_type_name"`
	QIDRecords        []qidRecord `json:"qid_records"`
}

type qidRecord struct {
	// Privtrail says where the record comes from: "monitor <id>" or
	// "stream default <stream>:<event>".
	Privtrail        string         `json:"privtrail"`
	QIDRecord        qidFields      `json:"qid_record"`
	LowLevelCategory string         `json:"low_level_category_name"`
	Mappings         []eventMapping `json:"dsm_event_mappings"`
}

// qidFields are the fields of POST /data_classification/qid_records except
// log_source_type_id, which import.sh adds.
type qidFields struct {
	Name               string `json:"name"`
	Description        string `json:"description"`
	Severity           int    `json:"severity"`
	LowLevelCategoryID int    `json:"low_level_category_id"`
}

// eventMapping is a POST /data_classification/dsm_event_mappings without
// log_source_type_id and qid_record_id: the LEEF EventID and cat.
type eventMapping struct {
	EventID  string `json:"log_source_event_id"`
	Category string `json:"log_source_event_category"`
}

// buildQIDMap generates the mapping from the catalog, the shipped pipeline
// and the stream defaults.
func buildQIDMap(t testing.TB) qidMapFile {
	t.Helper()
	f, err := generateQIDMap(shippedPipeline)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// generateQIDMap generates the mapping for the monitors of pipeline, which
// must define every monitor of the catalog and of monitorCategories.
func generateQIDMap(pipeline string) (qidMapFile, error) {
	p, err := monitor.LoadPipeline(pipeline)
	if err != nil {
		return qidMapFile{}, err
	}
	ids := map[string]bool{}
	for _, d := range p.Monitors {
		ids[d.ID] = true
	}
	var errs []string
	for _, c := range monitor.Catalog {
		if !ids[c.ID] {
			errs = append(errs, fmt.Sprintf("catalog monitor %s is not in %s: it has no QID", c.ID, pipeline))
		}
	}
	for id := range monitorCategories {
		if !ids[id] {
			errs = append(errs, fmt.Sprintf("monitorCategories has %s, which %s does not define", id, pipeline))
		}
	}
	for _, d := range p.Monitors {
		if _, ok := monitorCategories[d.ID]; !ok {
			errs = append(errs, fmt.Sprintf("monitor %s has no QRadar low-level category: add it to monitorCategories in outputs/qradar/qidmap_test.go, then run go test ./outputs/qradar -run TestQRadarMapping -update", d.ID))
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return qidMapFile{}, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}

	f := qidMapFile{
		Comment: "Generated by `go test ./outputs/qradar -run TestQRadarMapping -update` from the monitor catalog, " +
			"pipelines/privileged-accounts.yaml and the stream defaults in outputs/qradar/qidmap_test.go; do not edit. " +
			"import.sh creates each qid_record (with log_source_type_id) and its dsm_event_mappings through the QRadar REST API.",
		LogSourceTypeName: logSourceTypeName,
	}
	for _, d := range p.Monitors {
		cat := monitorCategories[d.ID]
		streams, err := d.Streams()
		if err != nil {
			return qidMapFile{}, fmt.Errorf("%s: %v", d.ID, err)
		}
		if c := d.Correlate; c != nil && !slices.Contains(streams, entra.Stream(c.With.Source)) {
			// Whichever record completes the pair carries the hit.
			streams = append(streams, entra.Stream(c.With.Source))
		}
		var names []string
		rec := qidRecord{Privtrail: "monitor " + d.ID}
		for _, s := range streams {
			rec.Mappings = append(rec.Mappings, eventMapping{d.ID, string(s)})
			names = append(names, string(s))
		}
		rec.QIDRecord = qidFields{
			Name: d.Title,
			Description: oneLine(d.Notes) + fmt.Sprintf(" (privtrail monitor %s, risk %s, on %s records.)",
				d.ID, d.Risk, strings.Join(names, " and ")),
			Severity:           highestRisk([]entra.Hit{{Risk: d.Risk}}).leef,
			LowLevelCategoryID: cat,
		}
		rec.LowLevelCategory = lowLevelCategories[cat]
		f.QIDRecords = append(f.QIDRecords, rec)
	}
	audit, err := auditStreamDefaults(p)
	if err != nil {
		return qidMapFile{}, err
	}
	defaults := append(fixedStreamDefaults(), audit...)
	slices.SortStableFunc(defaults, func(a, b streamDefault) int {
		return slices.Index(entra.Streams, a.stream) - slices.Index(entra.Streams, b.stream)
	})
	for _, s := range defaults {
		rec := qidRecord{
			Privtrail: "stream default " + string(s.stream) + ":" + s.event,
			QIDRecord: qidFields{Name: s.name, Description: s.desc,
				Severity: riskLevels[0].leef, LowLevelCategoryID: s.category},
			LowLevelCategory: lowLevelCategories[s.category],
		}
		for _, e := range append([]string{s.event}, s.also...) {
			rec.Mappings = append(rec.Mappings, eventMapping{string(s.stream) + ":" + e, string(s.stream)})
		}
		f.QIDRecords = append(f.QIDRecords, rec)
	}
	return f, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (f qidMapFile) json() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// csv is one row per DSM event mapping, as the DSM Editor's event mapping
// view lists them, with the fields of its QID record.
func (f qidMapFile) csv() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"log_source_event_id", "log_source_event_category", "name", "description", "severity", "low_level_category_id", "low_level_category"})
	for _, r := range f.QIDRecords {
		for _, m := range r.Mappings {
			w.Write([]string{m.EventID, m.Category, r.QIDRecord.Name, r.QIDRecord.Description,
				strconv.Itoa(r.QIDRecord.Severity), strconv.Itoa(r.QIDRecord.LowLevelCategoryID), r.LowLevelCategory})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// mappedPairs is the set of "EventID\x00cat" the mapping covers.
func (f qidMapFile) mappedPairs() map[string]bool {
	m := map[string]bool{}
	for _, r := range f.QIDRecords {
		for _, e := range r.Mappings {
			m[e.EventID+"\x00"+e.Category] = true
		}
	}
	return m
}

// TestQRadarMappingUpToDate: the files in qradar-mapping/ are what the
// generator makes of today's catalog, pipeline and stream defaults; -update
// rewrites them.
func TestQRadarMappingUpToDate(t *testing.T) {
	f := buildQIDMap(t)
	for _, file := range []struct {
		name string
		data []byte
	}{
		{eventMappingFile, f.json()},
		{qidRecordsFile, f.csv()},
	} {
		path := filepath.Join(mappingDir, file.name)
		if *update {
			if err := os.WriteFile(path, file.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./outputs/qradar -run TestQRadarMapping -update to create it)", err)
		}
		if !bytes.Equal(file.data, want) {
			t.Errorf("%s is out of date: a monitor, its title, notes, risk or source, or a stream default changed; run go test ./outputs/qradar -run TestQRadarMapping -update and re-run import.sh", path)
		}
	}
}

// TestQRadarMappingNewMonitor: a monitor without a low-level category, as a
// pipeline that adds one to the shipped monitors has, stops the generator,
// and so TestQRadarMappingUpToDate, until monitorCategories has it.
func TestQRadarMappingNewMonitor(t *testing.T) {
	shipped, err := filepath.Abs(shippedPipeline)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "team.yaml")
	pipeline := "include: [" + strconv.Quote(shipped) + "]\nmonitors:\n" +
		"  - id: team.new_monitor\n    title: A monitor without a QID\n    risk: high\n    source: signin\n    when: actor.privileged\n"
	if err := os.WriteFile(path, []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = generateQIDMap(path)
	if err == nil || !strings.Contains(err.Error(), "monitor team.new_monitor has no QRadar low-level category") {
		t.Fatalf("err = %v", err)
	}
}

// TestQRadarMappingIsValid: what QRadar accepts and what import.sh relies
// on. IBM, "Creating a QID map entry": the name "can be up to 255
// characters", the description "up to 2048", "the valid range [of the
// severity] is 1 - 10". Names are unique (import.sh finds an existing QID
// record by name and category); neither names nor event IDs hold '"' or
// '\' (they go into REST API filters between double quotes).
func TestQRadarMappingIsValid(t *testing.T) {
	f := buildQIDMap(t)
	names := map[string]bool{}
	pairs := map[string]bool{}
	used := map[int]bool{}
	for _, r := range f.QIDRecords {
		q := r.QIDRecord
		if q.Name == "" || len([]rune(q.Name)) > 255 || len([]rune(q.Description)) > 2048 {
			t.Errorf("%s: name %q (%d characters), description of %d characters", r.Privtrail, q.Name, len([]rune(q.Name)), len([]rune(q.Description)))
		}
		if q.Severity < 1 || q.Severity > 10 {
			t.Errorf("%s: severity %d", r.Privtrail, q.Severity)
		}
		if names[q.Name] {
			t.Errorf("%s: name %q twice", r.Privtrail, q.Name)
		}
		names[q.Name] = true
		if lowLevelCategories[q.LowLevelCategoryID] == "" || r.LowLevelCategory != lowLevelCategories[q.LowLevelCategoryID] {
			t.Errorf("%s: low-level category %d %q", r.Privtrail, q.LowLevelCategoryID, r.LowLevelCategory)
		}
		used[q.LowLevelCategoryID] = true
		if len(r.Mappings) == 0 {
			t.Errorf("%s: no event mapping", r.Privtrail)
		}
		for _, s := range append([]string{q.Name}, mappingIDs(r)...) {
			if strings.ContainsAny(s, "\"\\") {
				t.Errorf("%s: %q holds a double quote or a backslash", r.Privtrail, s)
			}
		}
		for _, m := range r.Mappings {
			k := m.EventID + "\x00" + m.Category
			if pairs[k] {
				t.Errorf("%s: %s/%s mapped twice", r.Privtrail, m.EventID, m.Category)
			}
			pairs[k] = true
			// What the encoder writes in the header: appendLEEFHeader
			// leaves it unchanged.
			if got := string(appendLEEFHeader(nil, m.EventID)); got != m.EventID {
				t.Errorf("%s: the encoder writes EventID %q as %q", r.Privtrail, m.EventID, got)
			}
			if !slices.Contains(entra.Streams, entra.Stream(m.Category)) {
				t.Errorf("%s: category %q is not a stream", r.Privtrail, m.Category)
			}
		}
	}
	for id, name := range lowLevelCategories {
		if !used[id] {
			t.Errorf("low-level category %d %q is not used: remove it", id, name)
		}
	}
}

func mappingIDs(r qidRecord) []string {
	var out []string
	for _, m := range r.Mappings {
		out = append(out, m.EventID, m.Category)
	}
	return out
}

// TestQRadarMappingCoversEncoder drives the Encoder with the package's test
// records and checks each EventID/cat pair it writes against the mapping:
// every shipped monitor (opt-in ones included) as the first hit of a
// record of each stream it reads, and every record without a hit.
func TestQRadarMappingCoversEncoder(t *testing.T) {
	mapped := buildQIDMap(t).mappedPairs()
	enc := NewEncoder(testConfig(nil))
	leefPair := func(t *testing.T, rec *entra.Record) (string, string) {
		t.Helper()
		s := parseSyslog(t, unframe(t, mustEncode(t, enc, rec, nil), false)[0])
		ev := parseLEEF(t, s.msg)
		return ev.header[3], ev.attrs["cat"]
	}

	// One record of each stream, from testdata/input (activity_*.json and
	// aadds_diagnostic.json are copies of monitor/testdata/records).
	base := map[entra.Stream]string{
		entra.StreamSignIn:        "signin_graph_success",
		entra.StreamAudit:         "audit_diagnostic_add_member_to_role",
		entra.StreamActivity:      "activity_rest",
		entra.StreamAADDS:         "aadds_diagnostic",
		entra.StreamDirectory:     "directory_never_signed_in",
		entra.StreamRisk:          "risk_detection_diagnostic",
		entra.StreamGraphActivity: "graphactivity_diagnostic",
		entra.StreamOther:         "provisioning_diagnostic",
	}
	for _, s := range entra.Streams {
		if base[s] == "" {
			t.Fatalf("no test record of stream %s", s)
		}
	}
	p, err := monitor.LoadPipeline(shippedPipeline)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range p.Monitors {
		streams, err := d.Streams()
		if err != nil {
			t.Fatal(err)
		}
		if c := d.Correlate; c != nil && !slices.Contains(streams, entra.Stream(c.With.Source)) {
			streams = append(streams, entra.Stream(c.With.Source))
		}
		for _, s := range streams {
			t.Run(d.ID+"/"+string(s), func(t *testing.T) {
				rec := decodeFile(t, base[s])
				rec.Hits = []entra.Hit{{ID: d.ID, Title: d.Title, Risk: d.Risk, Source: d.Source, Reason: "x=y"}}
				id, cat := leefPair(t, rec)
				if id != d.ID || cat != string(s) {
					t.Fatalf("EventID %q cat %q, want %q %q", id, cat, d.ID, s)
				}
				if !mapped[id+"\x00"+cat] {
					t.Errorf("EventID %q cat %q is not in %s", id, cat, eventMappingFile)
				}
			})
		}
	}

	// Records without a hit: every test record of this package (the golden
	// and new-stream cases with their hits removed, and each input file).
	var plain []func(testing.TB) *entra.Record
	for _, c := range goldenCases {
		plain = append(plain, c.record)
	}
	for _, c := range newStreamCases {
		plain = append(plain, c.record)
	}
	inputs, err := filepath.Glob(filepath.Join("testdata", "input", "*.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no input records: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		plain = append(plain, func(t testing.TB) *entra.Record { return decodeFile(t, name) })
	}
	seen := map[entra.Stream]bool{}
	for i, rec := range plain {
		t.Run(fmt.Sprintf("plain/%d", i), func(t *testing.T) {
			r := rec(t)
			r.Hits = nil
			id, cat := leefPair(t, r)
			seen[r.Stream] = true
			if !mapped[id+"\x00"+cat] {
				t.Errorf("%s: EventID %q cat %q is not in %s", r.Origin, id, cat, eventMappingFile)
			}
		})
	}
	for _, s := range entra.Streams {
		if !seen[s] {
			t.Errorf("no test record of stream %s without a hit", s)
		}
	}

	// The closed sets: one record of every diagnostic category Entra sends.
	// Audit activities are an open set (only those the monitors name are
	// mapped); ContosoFutureLogs is the file's made-up category.
	fh, err := os.Open("../../entra/testdata/every_category.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var d entra.Decoder
		rec := &entra.Record{Origin: fmt.Sprintf("every_category.jsonl:%d", n)}
		if err := d.Decode(sc.Bytes(), rec); err != nil {
			t.Fatalf("%s: %v", rec.Origin, err)
		}
		if rec.Stream == entra.StreamAudit || rec.LogCategory == "ContosoFutureLogs" {
			continue
		}
		t.Run(rec.Origin, func(t *testing.T) {
			id, cat := leefPair(t, rec)
			if !mapped[id+"\x00"+cat] {
				t.Errorf("%s (%s): EventID %q cat %q is not in %s", rec.Origin, rec.LogCategory, id, cat, eventMappingFile)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
