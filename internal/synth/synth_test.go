package synth

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/enrich/privilege"
)

func TestSameSeedSameBytes(t *testing.T) {
	a, b := New(42, DemoTenant()), New(42, DemoTenant())
	for i := 0; i < 5000; i++ {
		x, y := a.Next(), b.Next()
		if !bytes.Equal(x, y) {
			t.Fatalf("record %d differs:\n%s\n%s", i, x, y)
		}
	}
	c := New(43, DemoTenant())
	if bytes.Equal(New(42, DemoTenant()).Next(), c.Next()) {
		t.Error("seeds 42 and 43 gave the same first record")
	}
}

// kind classifies a generated record by stream and shape.
func kind(t *testing.T, rec []byte) (stream string, graph bool) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, rec)
	}
	if cat, ok := m["category"].(string); ok && m["time"] != nil {
		switch cat {
		case "SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs":
			return "signin", false
		case "AuditLogs":
			return "audit", false
		case "Administrative":
			return "activity", false
		case "PrivilegeUse", "AccountManagement", "LogonLogoff", "AccountLogon":
			if !strings.Contains(m["resourceId"].(string), "/providers/Microsoft.AAD/domainServices/") {
				t.Fatalf("Domain Services record without its resourceId: %s", rec)
			}
			return "aadds", false
		}
		t.Fatalf("unknown category %q: %s", cat, rec)
	}
	switch {
	case m["createdDateTime"] != nil:
		return "signin", true
	case m["activityDateTime"] != nil:
		return "audit", true
	}
	t.Fatalf("unknown record: %s", rec)
	return "", false
}

// checkIP parses the sign-in's IP address.
func checkIP(t *testing.T, rec []byte) {
	t.Helper()
	var m struct {
		IP         string `json:"ipAddress"`
		Properties struct {
			IP string `json:"ipAddress"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(rec, &m); err != nil {
		t.Fatal(err)
	}
	if _, err := netip.ParseAddr(m.IP + m.Properties.IP); err != nil {
		t.Fatalf("ipAddress: %v", err)
	}
}

func TestEveryRecordIsJSONAndTheMixIsRight(t *testing.T) {
	const n = 50000
	g := New(7, DemoTenant())
	counts := map[string]int{}
	shapes := map[string]int{}
	var bytesTotal int
	for i := 0; i < n; i++ {
		rec := g.Next()
		if !json.Valid(rec) {
			t.Fatalf("record %d is not valid JSON:\n%s", i, rec)
		}
		if bytes.ContainsAny(rec, "\n") {
			t.Fatalf("record %d contains a newline", i)
		}
		bytesTotal += len(rec)
		stream, graph := kind(t, rec)
		if stream == "signin" && i%10 == 0 {
			checkIP(t, rec)
		}
		counts[stream]++
		if graph {
			shapes[stream+"/graph"]++
		} else {
			shapes[stream+"/diagnostic"]++
		}
	}
	for stream, want := range map[string]float64{"signin": 80, "audit": 18, "activity": 1, "aadds": 1} {
		got := 100 * float64(counts[stream]) / n
		if math.Abs(got-want) > 2 {
			t.Errorf("%s: %.1f%% of records, want %.0f%% ± 2", stream, got, want)
		}
	}
	for _, s := range []string{"signin/graph", "signin/diagnostic", "audit/graph", "audit/diagnostic", "activity/diagnostic", "aadds/diagnostic"} {
		if shapes[s] == 0 {
			t.Errorf("no %s records", s)
		}
	}
	t.Logf("mix %v, shapes %v, mean size %d bytes", counts, shapes, bytesTotal/n)
}

// Times advance monotonically from Start, a few seconds apart, with 7
// fractional digits; the envelope's createdDateTime carries "+00:00".
func TestTimestamps(t *testing.T) {
	g := New(1, DemoTenant())
	last := Start
	for i := 0; i < 2000; i++ {
		var m struct {
			Time       string `json:"time"`
			Created    string `json:"createdDateTime"`
			Activity   string `json:"activityDateTime"`
			Properties struct {
				Created string `json:"createdDateTime"`
			} `json:"properties"`
			Category string `json:"category"`
		}
		rec := g.Next()
		if err := json.Unmarshal(rec, &m); err != nil {
			t.Fatal(err)
		}
		s := m.Time + m.Created + m.Activity
		if len(s) != len("2026-03-02T07:00:00.1234567Z") || !strings.HasSuffix(s, "Z") {
			t.Fatalf("record %d: time %q is not in Entra's format", i, s)
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		if !ts.After(last) || ts.Sub(last) > 5*time.Second {
			t.Fatalf("record %d: %v after %v", i, ts, last)
		}
		last = ts
		if m.Category == "SignInLogs" && !strings.HasSuffix(m.Properties.Created, "+00:00") {
			t.Fatalf("record %d: properties.createdDateTime %q", i, m.Properties.Created)
		}
	}
}

func TestWriteJSONLines(t *testing.T) {
	var buf bytes.Buffer
	if err := New(3, DemoTenant()).WriteJSONLines(&buf, 1000); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1000 {
		t.Fatalf("%d lines", len(lines))
	}
	g := New(3, DemoTenant())
	for i, l := range lines {
		if want := string(g.Next()); l != want {
			t.Fatalf("line %d differs from Next", i)
		}
	}
}

func TestDemoTenant(t *testing.T) {
	ten := DemoTenant()
	var admins, adm, emergency, guests int
	for _, u := range ten.Users {
		if u.Privileged() && !u.Emergency {
			admins++
			if strings.HasPrefix(u.UPN, "adm_") {
				adm++
			}
		}
		if u.Emergency {
			emergency++
		}
		if u.UserType == "Guest" {
			guests++
		}
	}
	if n := len(ten.Users); n < 190 || n > 210 {
		t.Errorf("%d users, want about 200", n)
	}
	if admins != 14 || adm != 13 || emergency != 2 || guests < 3 {
		t.Errorf("admins %d (adm_ %d), emergency %d, guests %d", admins, adm, emergency, guests)
	}
	seen := map[string]bool{}
	for _, u := range ten.Users {
		if seen[u.UPN] || seen[u.ID] {
			t.Errorf("duplicate user %s", u.UPN)
		}
		seen[u.UPN], seen[u.ID] = true, true
	}
}

// The role map must be what the privilege stage reads.
func TestRoleMapReadsBack(t *testing.T) {
	ten := DemoTenant()
	roles, err := privilege.NewRoleSet(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := privilege.ParseMap("rolemap.yaml", ten.RoleMapYAML(), roles, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, ten.RoleMapYAML())
	}
	priv := m.PrivilegedKeys()
	for _, u := range ten.Users {
		want := u.Privileged()
		if got := priv[strings.ToLower(u.ID)] || priv[strings.ToLower(u.UPN)]; got != want {
			t.Errorf("%s: privileged %v in the role map, want %v", u.UPN, got, want)
		}
	}
	for _, r := range BuiltinRoles {
		if roles.Privileged(r.TemplateID) != r.Privileged {
			t.Errorf("%s: privileged %v in the shipped list, %v here", r.Name, roles.Privileged(r.TemplateID), r.Privileged)
		}
	}
}

func TestJSONStringEscaping(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "tab\tnew\nline\r", "ctl\x01\x1f", "Zürich – São Paulo", "bad\xffutf8", "\x7f"} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("%q: %s is not JSON: %v", s, b, err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want {
			t.Errorf("%q came back as %q", s, back)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(1, DemoTenant())
	var n int64
	for b.Loop() {
		n += int64(len(g.Next()))
	}
	b.SetBytes(n / int64(b.N))
}

func BenchmarkWriteJSONLines(b *testing.B) {
	g := New(1, DemoTenant())
	w := &countingWriter{}
	b.ResetTimer()
	if err := g.WriteJSONLines(w, b.N); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(w.n / int64(b.N))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)
