package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/internal/synth"
)

// The baseline must do the job it stands for: every generated record in,
// one valid JSON line out, privileged users marked.
func TestBaselineProcessesEveryRecord(t *testing.T) {
	var in bytes.Buffer
	if err := synth.New(3, synth.DemoTenant()).WriteJSONLines(&in, 3000); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := Baseline(&in, &out, map[string]bool{"adm_alice@contoso.example": true})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3000 {
		t.Fatalf("processed %d of 3000 records", n)
	}
	priv := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m struct {
			Privtrail struct{ Privileged bool } `json:"privtrail"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("output line is not JSON: %v", err)
		}
		if m.Privtrail.Privileged {
			priv++
		}
	}
	if priv == 0 {
		t.Fatal("no record marked privileged")
	}
}
