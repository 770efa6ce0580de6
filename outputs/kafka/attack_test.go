package kafka

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// A Sigma monitor's hit: the value is the enriched JSON, whose privtrail
// object carries the rule's tags; the headers name the monitor as any
// other (Kafka has no ATT&CK field of its own).
func TestSigmaHitTags(t *testing.T) {
	rec := decodeFile(t, "signin_diagnostic")
	tags := []string{"attack.credential-access", "attack.t1110.001"}
	rec.Hits = []entra.Hit{{ID: "sigma.3b9df78d-5511-4eaf-b38b-3790ea90b6de", Title: "Brute force on one account", Risk: "high",
		Source: "signin", Reason: "UserPrincipalName=adm_grace@contoso.example count=5", Tags: tags}}
	enriched := rec.AppendJSON(nil)
	for _, envelope := range []string{"as_read", "diagnostic"} {
		item, err := NewEncoder(Config{Envelope: envelope}).Encode(nil, rec, enriched)
		if err != nil {
			t.Fatal(err)
		}
		m, err := DecodeItem(item)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Value, enriched) {
			t.Errorf("%s: value is not the enriched JSON:\n%s", envelope, m.Value)
		}
		var doc struct {
			Privtrail struct{ Monitors []entra.Hit } `json:"privtrail"`
		}
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Privtrail.Monitors) != 1 || !slices.Equal(doc.Privtrail.Monitors[0].Tags, tags) {
			t.Errorf("%s: privtrail.monitors %+v", envelope, doc.Privtrail.Monitors)
		}
		i := slices.IndexFunc(m.Headers, func(h Header) bool { return h.Name == HeaderMonitors })
		if i < 0 || string(m.Headers[i].Value) != rec.Hits[0].ID {
			t.Errorf("%s: headers %v", envelope, m.Headers)
		}
	}
}
