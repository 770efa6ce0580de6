package privilege

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// The role changes of the bundled demo week (testdata/demo, written by
// package synth after real record shapes) are all understood.
func TestDemoRoleChanges(t *testing.T) {
	const dir = "../../testdata/demo/"
	var docs []json.RawMessage
	data, err := os.ReadFile(dir + "audit.json")
	if err != nil {
		t.Skip("no demo data:", err)
	}
	if err := json.Unmarshal(data, &docs); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir + "diagnostic-audit.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var diag struct{ Records []json.RawMessage }
	if err := json.NewDecoder(zr).Decode(&diag); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, diag.Records...)
	s := testStage(t, Config{RoleMap: dir + "rolemap.yaml"})
	var d entra.Decoder
	var recs []*entra.Record
	roleRecords := 0
	for _, doc := range docs {
		rec := &entra.Record{}
		if err := d.Decode(doc, rec); err != nil {
			continue // not Entra audit (Activity, Domain Services) or not decodable: the decoder's tests
		}
		if rec.Audit.Category == "RoleManagement" {
			if _, ok := activities[string(appendLower(nil, rec.Audit.ActivityDisplayName))]; ok {
				roleRecords++
			}
		}
		recs = append(recs, rec)
	}
	s.Observe(recs)
	if s.ChangesMalformed.Load() != 0 {
		t.Errorf("%d malformed role changes in the demo", s.ChangesMalformed.Load())
	}
	if s.ChangesApplied.Load() == 0 || s.ChangesApplied.Load()+s.ChangesIgnored.Load() != int64(roleRecords) {
		t.Errorf("applied %d + ignored %d of %d role-change records", s.ChangesApplied.Load(), s.ChangesIgnored.Load(), roleRecords)
	}
	t.Logf("%d role-change records: %d applied, %d ignored; %d histories", roleRecords, s.ChangesApplied.Load(), s.ChangesIgnored.Load(), s.Histories())
}
