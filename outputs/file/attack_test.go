package file

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
)

// A Sigma monitor's hit reaches the file with the rule's tags, whether
// the runner encoded the record or the output does.
func TestSigmaHitTags(t *testing.T) {
	tags := []string{"attack.credential-access", "attack.t1110.001"}
	rec := &entra.Record{Raw: []byte(`{"id":"a"}`), Stream: entra.StreamSignIn, Time: time.Date(2026, 3, 3, 9, 9, 28, 0, time.UTC),
		Hits: []entra.Hit{{ID: "sigma.3b9df78d-5511-4eaf-b38b-3790ea90b6de", Title: "Brute force", Risk: "high", Source: "signin", Reason: "x", Tags: tags}}}
	for _, js := range [][][]byte{nil, {rec.AppendJSON(nil)}} {
		var out bytes.Buffer
		if err := NewStdout(&out).Consume(context.Background(), &batch.Batch{Records: []*entra.Record{rec}, JSON: js}); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Privtrail struct{ Monitors []entra.Hit } `json:"privtrail"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("%v: %s", err, out.Bytes())
		}
		if len(doc.Privtrail.Monitors) != 1 || !slices.Equal(doc.Privtrail.Monitors[0].Tags, tags) {
			t.Errorf("privtrail.monitors %+v", doc.Privtrail.Monitors)
		}
	}
}
