package kafka

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/privtrail/privtrail/entra"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// decodeFile decodes testdata/records/<name>.json.
func decodeFile(tb testing.TB, name string) *entra.Record {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "records", name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	var d entra.Decoder
	rec := &entra.Record{Origin: name}
	if err := d.Decode(bytes.TrimSpace(data), rec); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return rec
}

// goldenCases are the records of the golden files, enriched the way the
// privilege and monitor stages would.
var goldenCases = []struct {
	name   string
	enrich func(*entra.Record)
}{
	{"signin_graph", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Actor.Roles = []entra.RoleHeld{{Name: "Global Administrator", TemplateID: "62e90394-69f5-4237-9190-012177145e10", Assignment: "eligible", Via: "direct", Privileged: true}}
		r.Hits = []entra.Hit{{ID: "signin.legacy_auth", Title: "Legacy authentication by a privileged account", Risk: "high", Source: "signin", Reason: "upn=adm_alice@contoso.example clientAppUsed=Exchange ActiveSync"}}
	}},
	{"signin_diagnostic", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged, r.Actor.Emergency = true, true, true
		r.Hits = []entra.Hit{
			{ID: "signin.off_hours", Title: "Privileged sign-in outside work hours", Risk: "medium", Source: "signin", Reason: "local=03:02"},
			{ID: "signin.emergency_access", Title: "Emergency access account signed in", Risk: "high", Source: "signin", Reason: "upn=breakglass1@contoso.example"},
			{ID: "site.low", Title: "low one", Risk: "low", Source: "signin", Reason: "x"},
		}
	}},
	{"audit_graph", func(r *entra.Record) {
		r.Hits = []entra.Hit{{ID: "audit.role_assigned_outside_pim", Title: "Privileged role assigned outside PIM", Risk: "high", Source: "audit", Reason: `role="Global Administrator" target=bob@contoso.example`}}
	}},
	{"audit_diagnostic", func(r *entra.Record) { r.Actor.Known = true }},
	{"activity_diagnostic", func(r *entra.Record) { r.Actor.Privileged = true }},
	{"aadds_diagnostic", func(*entra.Record) {}},
	{"directory", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Hits = []entra.Hit{{ID: "review.unused_privileged_account", Title: "Privileged account not used", Risk: "medium", Source: "directory", Reason: "daysSinceSignIn=125"}}
	}},
	// The ID Protection, Graph activity and other streams: keyed by the
	// principal at risk, the caller, the principal named.
	{"risk_detection_diagnostic", func(r *entra.Record) {
		r.Actor.Known, r.Actor.Privileged = true, true
		r.Hits = []entra.Hit{{ID: "risk.privileged_user", Title: "Risk detected for a privileged account", Risk: "high", Source: "risk", Reason: "riskEventType=anonymizedIPAddress riskLevel=high"}}
	}},
	{"risky_user_diagnostic", func(*entra.Record) {}},
	{"risky_service_principal_graph", func(*entra.Record) {}},
	{"graphactivity_diagnostic", func(r *entra.Record) { r.Actor.Privileged = true }},
	{"provisioning_diagnostic", func(*entra.Record) {}},
	{"other_diagnostic", func(*entra.Record) {}},
}

// render is an item as the golden files show it: the framing in hex, then
// what it frames, readable.
func render(tb testing.TB, item []byte) []byte {
	tb.Helper()
	m, err := DecodeItem(item)
	if err != nil {
		tb.Fatalf("decode: %v", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "framing %s\n", hex.EncodeToString(item[:len(item)-len(m.Value)]))
	if m.Key == nil {
		b.WriteString("key     (none)\n")
	} else {
		fmt.Fprintf(&b, "key     %s\n", strconv.Quote(string(m.Key)))
	}
	for _, h := range m.Headers {
		fmt.Fprintf(&b, "header  %s: %s\n", h.Name, strconv.Quote(string(h.Value)))
	}
	fmt.Fprintf(&b, "value   %s\n", m.Value)
	return b.Bytes()
}

func TestEncodeGolden(t *testing.T) {
	enc := &Encoder{Key: KeyUser, Headers: true}
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			rec := decodeFile(t, tc.name)
			tc.enrich(rec)
			enriched := rec.AppendJSON(nil)
			item, err := enc.Encode(nil, rec, enriched)
			if err != nil {
				t.Fatal(err)
			}
			m, err := DecodeItem(item)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Value, enriched) {
				t.Fatalf("the value is not the enriched record:\n%s\n%s", m.Value, enriched)
			}
			if !json.Valid(m.Value) {
				t.Fatal("the value is not JSON")
			}
			got := render(t, item)
			golden := filepath.Join("testdata", "golden", tc.name+".txt")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./outputs/kafka -run TestEncodeGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("item differs from %s:\ngot  %s\nwant %s", golden, got, want)
			}
			// Without the runner's JSON the encoder produces the same bytes.
			again, _ := enc.Encode(nil, rec, nil)
			if !bytes.Equal(again, item) {
				t.Errorf("encoding without the enriched JSON differs")
			}
			// Appending keeps what dst held.
			pre := []byte("prefix")
			both, _ := enc.Encode(pre, rec, enriched)
			if !bytes.Equal(both, append([]byte("prefix"), item...)) {
				t.Error("Encode does not append to dst")
			}
		})
	}
}

// envelopeCases are the Graph records of the diagnostic-envelope golden
// files: a sign-in, an audit and a risk detection, which the envelope
// wraps, and a risky service principal, which it does not.
var envelopeCases = []string{"signin_graph", "audit_graph", "risk_detection_graph", "risky_service_principal_graph"}

// TestEncodeGoldenEnvelope: with envelope diagnostic the value of a Graph
// sign-in, audit or risk detection is its Azure Monitor diagnostic
// envelope (testdata/golden/<name>.diagnostic.txt), key and headers
// unchanged; every other record, and every record with as_read (the
// default), is encoded as TestEncodeGolden has it.
func TestEncodeGoldenEnvelope(t *testing.T) {
	asRead := &Encoder{Key: KeyUser, Headers: true}
	diag := &Encoder{Key: KeyUser, Headers: true, Envelope: entra.EnvelopeDiagnostic}
	if d := NewEncoder(Config{}); d.Envelope != entra.EnvelopeAsRead {
		t.Fatalf("default envelope %q", d.Envelope)
	}
	for _, name := range envelopeCases {
		t.Run(name, func(t *testing.T) {
			rec := decodeFile(t, name)
			rec.TenantID = "0b5f5d3c-1111-4c2e-9c55-3c8b7a1c2d3e" // the tenant the graph input polls
			rec.Actor.Privileged = true
			rec.Hits = []entra.Hit{{ID: "m.one", Title: "A monitor", Risk: "high", Source: string(rec.Stream), Reason: "r"}}
			enriched := rec.AppendJSON(nil)
			plain, _ := asRead.Encode(nil, rec, enriched)
			for _, enc := range []*Encoder{asRead, NewEncoder(Config{})} {
				if item, _ := enc.Encode(nil, rec, enriched); !bytes.Equal(item, plain) {
					t.Fatal("as_read does not write the record as read")
				}
			}
			item, err := diag.Encode(nil, rec, enriched)
			if err != nil {
				t.Fatal(err)
			}
			m, err := DecodeItem(item)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.CanEnvelope() {
				if !bytes.Equal(item, plain) {
					t.Fatal("a record without a diagnostic envelope is not written as read")
				}
				return
			}
			if !bytes.Equal(m.Value, rec.AppendDiagnosticJSON(nil)) || !json.Valid(m.Value) {
				t.Fatalf("the value is not the diagnostic envelope: %s", m.Value)
			}
			pm, _ := DecodeItem(plain)
			if !bytes.Equal(m.Key, pm.Key) || fmt.Sprint(m.Headers) != fmt.Sprint(pm.Headers) {
				t.Errorf("key or headers depend on the envelope: %q %v / %q %v", m.Key, m.Headers, pm.Key, pm.Headers)
			}
			if again, _ := diag.Encode(nil, rec, nil); !bytes.Equal(again, item) {
				t.Error("encoding without the enriched JSON differs")
			}
			got := render(t, item)
			golden := filepath.Join("testdata", "golden", name+".diagnostic.txt")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./outputs/kafka -run TestEncodeGoldenEnvelope -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("item differs from %s:\ngot  %s\nwant %s", golden, got, want)
			}
		})
	}
}

func TestEncodeOptions(t *testing.T) {
	rec := decodeFile(t, "signin_graph")
	rec.Hits = []entra.Hit{{ID: "a.one", Risk: "medium"}, {ID: "b.two", Risk: "critical"}, {ID: "c.three", Risk: "bogus"}}
	enriched := rec.AppendJSON(nil)

	item, _ := (&Encoder{Key: KeyNone, Headers: false}).Encode(nil, rec, enriched)
	m, err := DecodeItem(item)
	if err != nil || m.Key != nil || m.Headers != nil || !bytes.Equal(m.Value, enriched) {
		t.Fatalf("key none, no headers: %+v %v", m, err)
	}
	if !bytes.Equal(item[:3], []byte{itemVersion, 0, 0}) {
		t.Errorf("framing %x", item[:3])
	}

	item, _ = (&Encoder{Key: KeyUser, Headers: true}).Encode(nil, rec, enriched)
	m, _ = DecodeItem(item)
	got := map[string]string{}
	for _, h := range m.Headers {
		got[h.Name] = string(h.Value)
	}
	want := map[string]string{HeaderStream: "signin", HeaderPrivileged: "false", HeaderMonitors: "a.one,b.two,c.three", HeaderRisk: "critical"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("headers %v, want %v", got, want)
	}
	if NewEncoder(Config{}).Key != KeyUser || !NewEncoder(Config{}).Headers {
		t.Error("defaults: key user with headers")
	}
}

func TestUserKey(t *testing.T) {
	for _, tc := range []struct {
		id, upn, rec, want string
	}{
		{"D7A3C5E1-2222-4B4B-8D8D-ABCDEFABCDEF", "Adm_Alice@Contoso.example", "r1", "d7a3c5e1-2222-4b4b-8d8d-abcdefabcdef"},
		{"", "Adm_Alice@Contoso.example", "r1", "adm_alice@contoso.example"},
		{"  ", "", "Directory_ABC", "directory_abc"},
		{"", "", "", ""},
		{"", "ÉLODIE@contoso.example", "", "élodie@contoso.example"},
	} {
		rec := &entra.Record{ID: tc.rec}
		rec.Actor.ID, rec.Actor.UPN = tc.id, tc.upn
		if got := UserKey(rec); got != tc.want {
			t.Errorf("UserKey(%q, %q, %q) = %q, want %q", tc.id, tc.upn, tc.rec, got, tc.want)
		}
	}
}

// Under key: subject an audit record goes with the user it is about; a
// sign-in, or an audit record about no user, with its actor.
func TestSubjectKey(t *testing.T) {
	target := func(typ, id, upn string) entra.Target {
		var tg entra.Target
		tg.Type, tg.ID, tg.UPN = typ, id, upn
		return tg
	}
	for _, tc := range []struct {
		name    string
		stream  entra.Stream
		targets []entra.Target
		want    string
	}{
		{"role granted to a user", entra.StreamAudit, []entra.Target{target("Role", "role-id", ""), target("User", "B0B-ID", "bob@contoso.example")}, "b0b-id"},
		{"target user by UPN only", entra.StreamAudit, []entra.Target{target("User", "", "Bob@Contoso.example")}, "bob@contoso.example"},
		{"first of two users", entra.StreamAudit, []entra.Target{target("User", "u1", ""), target("User", "u2", "")}, "u1"},
		{"application changed", entra.StreamAudit, []entra.Target{target("Application", "app-id", "")}, "admin-id"},
		{"user target without id or UPN", entra.StreamAudit, []entra.Target{target("User", " ", "")}, "admin-id"},
		{"sign-in", entra.StreamSignIn, nil, "admin-id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &entra.Record{Stream: tc.stream, ID: "r1"}
			rec.Actor.ID = "ADMIN-ID"
			rec.Audit.Targets = tc.targets
			if got := SubjectKey(rec); got != tc.want {
				t.Errorf("SubjectKey = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDecodeItemRefusesGarbage(t *testing.T) {
	good, _ := (&Encoder{Key: KeyUser, Headers: true}).Encode(nil, decodeFile(t, "signin_diagnostic"), nil)
	for _, bad := range [][]byte{
		nil,
		{},
		{2, 0, 0},                   // another version
		{itemVersion},               // no key length
		{itemVersion, 5, 'a'},       // key cut short
		{itemVersion, 0},            // no header count
		{itemVersion, 0, 3, 1, 'a'}, // headers cut short
		{itemVersion, 0, 1, 1, 'a', 9, 'b'},
		{itemVersion, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, // absurd header count
		good[:20],
	} {
		if _, err := DecodeItem(bad); err == nil {
			t.Errorf("DecodeItem(%x) accepted it", bad)
		}
	}
	// An empty value is a (strange) valid item.
	if m, err := DecodeItem([]byte{itemVersion, 0, 0}); err != nil || len(m.Value) != 0 {
		t.Errorf("empty item: %+v %v", m, err)
	}
}

// An item the Sender cannot read is dead-lettered, the rest is sent.
func TestSendRejectsUnreadableItems(t *testing.T) {
	c := newCluster(t, clusterSpec{})
	cl, err := NewClient(c.config(t), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	good, _ := (&Encoder{Key: KeyUser, Headers: true}).Encode(nil, decodeFile(t, "signin_graph"), nil)
	res := cl.Send(t.Context(), [][]byte{[]byte("garbage"), good})
	if res.Err != nil || len(res.Retry) != 0 || len(res.Rejected) != 1 || res.Rejected[0].Index != 0 ||
		!strings.Contains(res.Rejected[0].Reason, "unreadable buffered item") {
		t.Fatalf("%+v", res)
	}
	if got := c.readAll(t, 1); len(got) != 1 || string(got[0].Key) != "d7a3c5e1-2222-4b4b-8d8d-abcdefabcdef" {
		t.Fatalf("topic holds %v", got)
	}
}

func TestRefusesRecord(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{kerr.MessageTooLarge, true},
		{fmt.Errorf("%w (uncompressed_bytes=2000000)", kerr.MessageTooLarge), true},
		{kerr.RecordListTooLarge, true},
		{kerr.InvalidRecord, true},
		{kerr.CorruptMessage, true},
		{kerr.InvalidTimestamp, true},
		{kerr.TopicAuthorizationFailed, false},
		{kerr.ClusterAuthorizationFailed, false},
		{kerr.SaslAuthenticationFailed, false},
		{kerr.UnknownTopicOrPartition, false},
		{kerr.NotEnoughReplicas, false},
		{kerr.UnsupportedCompressionType, false},
		{kgo.ErrRecordTimeout, false},
		{kgo.ErrRecordRetries, false},
		{kgo.ErrClientClosed, false},
		{errors.New("dial tcp: connection refused"), false},
	} {
		if got := refusesRecord(tc.err); got != tc.want {
			t.Errorf("refusesRecord(%v) = %v", tc.err, got)
		}
	}
}

func TestDescribeHints(t *testing.T) {
	c := &Client{topic: "t"}
	for err, hint := range map[error]string{
		kerr.SaslAuthenticationFailed:                                                "check sasl.mechanism",
		fmt.Errorf("wrapped: %w", kerr.TopicAuthorizationFailed):                     "WRITE and DESCRIBE on the topic",
		kerr.ClusterAuthorizationFailed:                                              "IDEMPOTENT_WRITE",
		kerr.UnknownTopicOrPartition:                                                 "create the topic",
		kerr.UnsupportedCompressionType:                                              "compression: gzip",
		fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.NotEnoughReplicas): "NOT_ENOUGH_REPLICAS",
	} {
		if d := c.describe(err); !strings.Contains(d, hint) || !strings.HasPrefix(d, "kafka: topic t: ") {
			t.Errorf("describe(%v) = %q, want %q", err, d, hint)
		}
	}
	if r := c.reason(kerr.MessageTooLarge); !strings.Contains(r, "MESSAGE_TOO_LARGE") || !strings.Contains(r, "max.message.bytes") {
		t.Errorf("reason %q", r)
	}
}

// A directory record is keyed by the account it describes, like that
// user's sign-ins: a consumer sees one user's state and activity on one
// partition, in order.
func TestDirectoryKeyedByUser(t *testing.T) {
	dir := decodeFile(t, "directory")
	var d entra.Decoder
	signIn := &entra.Record{}
	doc := `{"createdDateTime":"2026-12-04T11:00:00Z","userId":"5F1C7A2E-3B9D-4C61-9A7E-2D8F0B6C4E13","userPrincipalName":"ADM_GRACE@contoso.example"}`
	if err := d.Decode([]byte(doc), signIn); err != nil {
		t.Fatal(err)
	}
	if k := UserKey(dir); k != "5f1c7a2e-3b9d-4c61-9a7e-2d8f0b6c4e13" || k != UserKey(signIn) {
		t.Errorf("directory key %q, sign-in key %q", k, UserKey(signIn))
	}
	item, err := (&Encoder{Key: KeyUser, Headers: true}).Encode(nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeItem(item)
	if err != nil {
		t.Fatal(err)
	}
	var stream string
	for _, h := range m.Headers {
		if h.Name == HeaderStream {
			stream = string(h.Value)
		}
	}
	if stream != "directory" || !bytes.Contains(m.Value, []byte(`"directory":{"days_since_sign_in":125}`)) {
		t.Errorf("stream header %q, value %s", stream, m.Value)
	}
}

// Records of the new streams are keyed by whom they are about, like the
// sign-ins of that principal: a risk detection and a risky-user record by
// the user at risk, a Graph request by its caller, a record of an
// unmodelled category by the user it names; without one, by the record's
// id.
func TestNewStreamsKeyedBySubject(t *testing.T) {
	var d entra.Decoder
	signIn := &entra.Record{}
	doc := `{"createdDateTime":"2026-03-02T23:00:00Z","userId":"26BE570A-AE82-4189-B4E2-A37C6808512D","userPrincipalName":"adm_alice@contoso.example"}`
	if err := d.Decode([]byte(doc), signIn); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"risk_detection_diagnostic", UserKey(signIn)},
		{"risky_user_diagnostic", UserKey(signIn)},
		{"risky_service_principal_graph", "9089a539-a539-9089-39a5-899039a58990"},
		{"graphactivity_diagnostic", "2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f"},
		{"other_diagnostic", "2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f"},
		{"provisioning_diagnostic", "d6cbb0bd-c3ec-6455-bd3e-4282141ce369"}, // no principal named: the record id
	} {
		rec := decodeFile(t, tc.name)
		if got := UserKey(rec); got != tc.want {
			t.Errorf("%s: user key %q, want %q", tc.name, got, tc.want)
		}
		if got := SubjectKey(rec); got != tc.want {
			t.Errorf("%s: subject key %q, want %q", tc.name, got, tc.want)
		}
		item, err := (&Encoder{Key: KeySubject, Headers: true}).Encode(nil, rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := DecodeItem(item)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != tc.want || len(m.Headers) == 0 || m.Headers[0].Name != HeaderStream || string(m.Headers[0].Value) != string(rec.Stream) {
			t.Errorf("%s: key %q, headers %v", tc.name, m.Key, m.Headers)
		}
	}
}
