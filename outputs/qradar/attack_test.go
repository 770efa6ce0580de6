package qradar

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// sigmaRecord is the demo's fifth wrong password of adm_grace with the
// hit of the example Sigma correlation (ATT&CK tags) and a shipped
// monitor's hit with a tag of its own.
func sigmaRecord(t testing.TB) *entra.Record {
	r := decodeFile(t, "signin_sigma_diagnostic")
	r.Actor.Known, r.Actor.Privileged = true, true
	r.Hits = []entra.Hit{
		{ID: "sigma.3b9df78d-5511-4eaf-b38b-3790ea90b6de", Title: "Brute force on one account - 5 wrong passwords within 10 minutes",
			Risk: "high", Source: "signin", Reason: "UserPrincipalName=adm_grace@contoso.example count=5",
			Tags: []string{"attack.credential-access", "attack.t1110.001", "attack.T1078", "attack.g0016"}},
		{ID: "signin.legacy_auth", Title: "Legacy authentication", Risk: "high", Source: "signin", Reason: "x",
			Tags: []string{"attack.t1110.001", "attack.t1078.004", "team.identity"}},
	}
	return r
}

// LEEF carries the hits' ATT&CK technique IDs in privtrailMitreAttackId
// (comma-separated like privtrailMonitors, whatever the delimiter); JSON
// carries the privtrail object with each hit's tags.
func TestMitreAttackID(t *testing.T) {
	rec := sigmaRecord(t)
	for _, delim := range []string{"\t", "^", "|"} {
		enc := NewEncoder(testConfig(func(c *Config) { c.Delimiter = delim }))
		got := mustEncode(t, enc, rec, nil)
		if delim == "\t" {
			checkGolden(t, "signin_sigma.leef.lf.txt", got)
		}
		ev := parseLEEF(t, parseSyslog(t, unframe(t, got, false)[0]).msg)
		if v := ev.attrs["privtrailMitreAttackId"]; v != "T1110.001,T1078,T1078.004" {
			t.Errorf("delimiter %q: privtrailMitreAttackId=%q", delim, v)
		}
		if i, j := slices.Index(ev.keys, "privtrailReason"), slices.Index(ev.keys, "privtrailMitreAttackId"); j != i+1 {
			t.Errorf("delimiter %q: privtrailMitreAttackId is not after privtrailReason: %q", delim, ev.keys)
		}
	}
	// None without ATT&CK tags.
	plain := sigmaRecord(t)
	plain.Hits[0].Tags, plain.Hits[1].Tags = []string{"attack.credential-access"}, nil
	ev := parseLEEF(t, parseSyslog(t, unframe(t, mustEncode(t, NewEncoder(testConfig(nil)), plain, nil), false)[0]).msg)
	if _, ok := ev.attrs["privtrailMitreAttackId"]; ok {
		t.Errorf("privtrailMitreAttackId without technique tags: %q", ev.attrs)
	}

	enc := NewEncoder(testConfig(func(c *Config) { c.Format = "json" }))
	got := mustEncode(t, enc, rec, rec.AppendJSON(nil))
	checkGolden(t, "signin_sigma.json.lf.txt", got)
	msg := parseSyslog(t, unframe(t, got, false)[0]).msg
	var doc struct {
		Privtrail struct {
			Monitors []entra.Hit `json:"monitors"`
		} `json:"privtrail"`
	}
	if err := json.Unmarshal(bytes.TrimPrefix([]byte(msg), []byte("\ufeff")), &doc); err != nil {
		t.Fatalf("%v: %q", err, msg)
	}
	if len(doc.Privtrail.Monitors) != 2 || !slices.Equal(doc.Privtrail.Monitors[0].Tags, rec.Hits[0].Tags) {
		t.Errorf("JSON monitors %+v", doc.Privtrail.Monitors)
	}

	// Writing the IDs allocates nothing.
	enc = NewEncoder(testConfig(nil))
	buf := make([]byte, 0, 64<<10)
	if n := testing.AllocsPerRun(100, func() { buf, _ = enc.Encode(buf[:0], rec, nil) }); n > 0 {
		t.Errorf("%v allocations per encode", n)
	}
}
