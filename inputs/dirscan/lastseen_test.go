package dirscan

import (
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// The document carries the newer of Graph's last sign-in and privtrail's
// own, with its source.
func TestLastSignInNewerOfGraphAndAgent(t *testing.T) {
	scan := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	graphUser := func(last string) *user {
		u, err := parseUser([]byte(`{"id":"u1","userPrincipalName":"adm_a@contoso.example","accountEnabled":true,` +
			`"signInActivity":{"lastSignInDateTime":` + last + `,"lastSuccessfulSignInDateTime":` + last + `}}`))
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	cases := []struct {
		name     string
		graph    string
		seen     time.Time
		want     string
		source   string
		daysSeen int
	}{
		{"graph only", `"2026-11-30T08:00:00Z"`, time.Time{}, "2026-11-30T08:00:00Z", entra.SignInSourceGraph, 4},
		{"agent saw a later one", `"2026-10-01T08:00:00Z"`, scan.Add(-24 * time.Hour), "2026-12-03T12:00:00Z", entra.SignInSourceAgent, 1},
		{"graph is newer", `"2026-12-04T08:00:00Z"`, scan.Add(-72 * time.Hour), "2026-12-04T08:00:00Z", entra.SignInSourceGraph, 0},
		{"graph never, the agent did", `null`, scan.Add(-40 * 24 * time.Hour), "2026-10-25T12:00:00Z", entra.SignInSourceAgent, 40},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, err := document(scan, "tenant", &Principal{ID: "u1", UPN: "adm_a@contoso.example", LastSeen: c.seen}, graphUser(c.graph), nil)
			if err != nil {
				t.Fatal(err)
			}
			var rec entra.Record
			var dec entra.Decoder
			if err := dec.Decode(doc, &rec); err != nil {
				t.Fatalf("%v\n%s", err, doc)
			}
			if got := rec.Directory.LastSignIn.UTC().Format(time.RFC3339); got != c.want || rec.Directory.LastSignInSource != c.source || rec.Directory.DaysSinceSignIn != c.daysSeen {
				t.Errorf("last %s from %s (%d days), want %s from %s (%d days)", got, rec.Directory.LastSignInSource, rec.Directory.DaysSinceSignIn, c.want, c.source, c.daysSeen)
			}
		})
	}
}
