package monitor

import (
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// SigmaKey and SigmaField read through the evaluator's document of the
// record, parsed once; what they return stays the record's when the
// evaluator moves on to the next one (a key and a distinct value are kept
// by the state).
func TestSigmaValuesOutliveTheRecord(t *testing.T) {
	e := compileYAML(t, badPasswords)
	ev := e.NewEvaluator()
	rec := func(id, app, code string) *entra.Record {
		var dec entra.Decoder
		r := &entra.Record{}
		raw := `{"id":"` + id + `","createdDateTime":"2026-03-02T10:00:00Z","userPrincipalName":"u@contoso.example","userId":"u1","appDisplayName":"` + app + `","ipAddress":"203.0.113.9","status":{"errorCode":` + code + `}}`
		if err := dec.Decode([]byte(raw), r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := rec("a", "Azure Portal", "50126"), rec("b", "Graph Explorer", "50053")
	// As a monitor's by and distinct read them while the evaluator is
	// at the record.
	at := func(r *entra.Record) { ev.doc.Reset(); ev.env.set(r) }
	at(a)
	key := ev.env.SigmaKey("signinlogs", "AppDisplayName,ResultType,UserPrincipalName")
	field := ev.env.SigmaField("signinlogs", "ResultType")
	if want := "Azure Portal|50126|u@contoso.example"; key != want {
		t.Fatalf("SigmaKey = %q, want %q", key, want)
	}
	if field != "50126" {
		t.Fatalf("SigmaField = %v", field)
	}
	at(b)
	if again := ev.env.SigmaKey("signinlogs", "AppDisplayName,ResultType,UserPrincipalName"); again != "Graph Explorer|50053|u@contoso.example" {
		t.Errorf("SigmaKey of the next record = %q", again)
	}
	if key != "Azure Portal|50126|u@contoso.example" || field != "50126" {
		t.Errorf("the first record's values changed once the evaluator read the next: %q, %v", key, field)
	}
}
