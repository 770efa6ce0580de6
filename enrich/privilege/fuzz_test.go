package privilege

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// FuzzParseAudit feeds the role-change parser any document the decoder
// accepts: it must not panic, what it applies must be well formed, and the
// stage must go on tagging.
func FuzzParseAudit(f *testing.F) {
	files, err := filepath.Glob("testdata/audit/*.json")
	if err != nil || len(files) == 0 {
		f.Fatal("no seeds", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		r := strings.NewReplacer("{{user}}", frank.id, "{{upn}}", frank.upn, "{{display}}", "Frank", "{{at}}", ts(t0),
			"{{until}}", ts(t0.Add(time.Hour)), "{{result}}", "success", "{{reason}}", "", "{{id}}", "1",
			"{{role_object}}", "38bf5baf-7ec7-4bc2-8920-6d4044da12c2", "{{well_known}}", "", "{{role}}", gaName,
			"{{template}}", gaID, "{{group}}", tier0Group)
		f.Add([]byte(r.Replace(string(data))))
	}
	cfg := Config{RoleMap: "testdata/rolemap.yaml", ReloadInterval: -1, HistoryLimit: 4, CacheSize: 64}
	s, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	var d entra.Decoder
	f.Fuzz(func(t *testing.T, data []byte) {
		if s.Histories() > 256 { // keep each execution cheap
			if s, err = New(cfg); err != nil {
				t.Fatal(err)
			}
		}
		var rec entra.Record
		if d.Decode(data, &rec) != nil {
			return
		}
		rc, v := parseAudit(&rec, s.roles, s.Map(), time.Hour)
		if v == applied {
			if rc.id == "" && rc.upn == "" || len(rc.changes) == 0 {
				t.Fatalf("applied without a principal or a change: %+v", rc)
			}
			for _, c := range rc.changes {
				if c.at.IsZero() || !c.until.IsZero() && !c.until.After(c.at) || c.role.Name == "" && c.role.TemplateID == "" ||
					c.op != opAdd && c.op != opRemove || c.role.Assignment != "active" && c.role.Assignment != "eligible" {
					t.Fatalf("bad change %+v", c)
				}
			}
		}
		before := s.ChangesApplied.Load() + s.ChangesIgnored.Load() + s.ChangesMalformed.Load()
		gen := s.Observe([]*entra.Record{&rec})
		after := s.ChangesApplied.Load() + s.ChangesIgnored.Load() + s.ChangesMalformed.Load()
		if (v == notRoleChange) != (after == before) {
			t.Fatalf("verdict %d, counters %d -> %d", v, before, after)
		}
		s.EnrichAt(&rec, gen)
		if rec.Actor.Privileged && !rec.Actor.Known {
			t.Fatalf("privileged but unknown: %+v", rec.Actor)
		}
	})
}

// FuzzJournalLine feeds the journal's line parser anything: it must not
// panic, and a line it accepts, written again, reads back as the same
// changes (what a restart applies is what was learnt).
func FuzzJournalLine(f *testing.F) {
	dir := f.TempDir()
	cfg := Config{RoleMap: "testdata/rolemap.yaml", StateFile: filepath.Join(dir, "state.json")}
	s := testStage(f, cfg)
	if err := s.Sync(learnScenario(f, s)); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(journalPath(cfg.StateFile))
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f.Add([]byte(line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		l, changes, err := s.parseJournalLine(line)
		if err != nil {
			return
		}
		newest, _ := parseTimeText(l.Newest)
		written := appendLines(nil, []journalEntry{{id: l.ID, upn: l.UPN, changes: changes, newest: newest}})
		_, again, err := s.parseJournalLine(written[:len(written)-1])
		if err != nil {
			t.Fatalf("%s written again does not read: %v", written, err)
		}
		for i := range changes {
			if a, b := fileOf(&changes[i]), fileOf(&again[i]); fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("change %d read back as %+v, want %+v", i, b, a)
			}
		}
	})
}
