package synth

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

var update = flag.Bool("update", false, "rewrite testdata/demo from the generator")

const demoDir = "../../testdata/demo"

func TestDemoFilesUpToDate(t *testing.T) {
	if *update {
		if err := WriteDemo(demoDir); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	if err := WriteDemo(tmp); err != nil {
		t.Fatal(err)
	}
	for _, f := range Demo().Files {
		want, err := os.ReadFile(filepath.Join(tmp, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(demoDir, f.Name))
		if err != nil {
			t.Errorf("%v (run: go test ./internal/synth -run TestDemoFilesUpToDate -update)", err)
			continue
		}
		if bytes.Equal(got, want) {
			continue
		}
		// A newer compress/flate may pack the same content differently.
		if strings.HasSuffix(f.Name, ".gz") && bytes.Equal(gunzip(t, got), gunzip(t, want)) {
			continue
		}
		// A newer mmdbwriter may lay the same networks out differently.
		if strings.HasSuffix(f.Name, ".mmdb") && sameMMDB(t, got, want) {
			continue
		}
		t.Errorf("%s is out of date (run: go test ./internal/synth -run TestDemoFilesUpToDate -update)", f.Name)
	}
}

func TestDemoIsDeterministic(t *testing.T) {
	a, b := Demo(), Demo()
	for i := range a.Files {
		if !bytes.Equal(a.Files[i].Data, b.Files[i].Data) {
			t.Errorf("%s differs between two runs", a.Files[i].Name)
		}
	}
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// demoRecords decodes every file of the demo into its records, keyed by
// file; the lines of signins.jsonl that are not Entra logs come back as
// invalid.
func demoRecords(t *testing.T, f DemoFiles) (recs map[string][]map[string]any, invalid []string) {
	t.Helper()
	recs = map[string][]map[string]any{}
	for _, file := range f.Files {
		switch file.Name {
		case DemoSignIns:
			sc := bufio.NewScanner(bytes.NewReader(file.Data))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["category"] == nil {
					invalid = append(invalid, sc.Text())
					continue
				}
				recs[file.Name] = append(recs[file.Name], m)
			}
		case DemoDirectory, DemoEventHub:
			for _, line := range bytes.Split(bytes.TrimSuffix(file.Data, []byte("\n")), []byte("\n")) {
				var m map[string]any
				if err := json.Unmarshal(line, &m); err != nil {
					t.Fatalf("%s: %v", file.Name, err)
				}
				recs[file.Name] = append(recs[file.Name], m)
			}
		case DemoGraphSignIns:
			var page struct {
				Context string           `json:"@odata.context"`
				Value   []map[string]any `json:"value"`
			}
			if err := json.Unmarshal(file.Data, &page); err != nil || page.Context == "" {
				t.Fatalf("%s: %v", file.Name, err)
			}
			recs[file.Name] = page.Value
		case DemoAudit:
			var arr []map[string]any
			if err := json.Unmarshal(file.Data, &arr); err != nil {
				t.Fatalf("%s: %v", file.Name, err)
			}
			recs[file.Name] = arr
		case DemoDiagnosticAudit:
			var env struct {
				Records []map[string]any `json:"records"`
			}
			if err := json.Unmarshal(gunzip(t, file.Data), &env); err != nil {
				t.Fatalf("%s: %v", file.Name, err)
			}
			recs[file.Name] = env.Records
		}
	}
	return recs, invalid
}

func TestDemoContents(t *testing.T) {
	f := Demo()
	recs, invalid := demoRecords(t, f)
	total := 0
	for name, rs := range recs {
		total += len(rs)
		if len(rs) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	if total < 550 || total > 700 {
		t.Errorf("%d records, want about 620", total)
	}
	if len(invalid) != 2 {
		t.Errorf("%d lines of signins.jsonl are not Entra logs, want 2 (a heartbeat and a cut-off record)", len(invalid))
	}
	// Every record a scenario names is in its file.
	ids := map[string]string{}
	for name, rs := range recs {
		for _, m := range rs {
			for _, k := range []string{"id", "correlationId"} {
				for _, src := range []map[string]any{m, asMap(m["properties"])} {
					if v, ok := src[k].(string); ok {
						ids[v] = name
					}
				}
			}
			if v, ok := asMap(m["properties"])["eventDataId"].(string); ok {
				ids[v] = name
			}
		}
	}
	for _, s := range f.Scenarios {
		for _, id := range s.Records {
			if ids[id] != s.File {
				t.Errorf("scenario %q: record %s is in %q, not %q", s.Title, id, ids[id], s.File)
			}
		}
		for _, id := range s.Related {
			if ids[id] == "" || ids[id] == s.File {
				t.Errorf("scenario %q: related record %s is in %q, want another demo file", s.Title, id, ids[id])
			}
		}
		if len(s.Records) == 0 && s.File != DemoRoleMap {
			t.Errorf("scenario %q names no record", s.Title)
		}
	}
	// Streams: Azure Activity and Domain Services records are there.
	cats := map[string]int{}
	for _, m := range recs[DemoDiagnosticAudit] {
		cats[m["category"].(string)]++
	}
	if cats["Administrative"] == 0 || cats["PrivilegeUse"] == 0 || cats["AuditLogs"] == 0 {
		t.Errorf("diagnostic-audit categories: %v", cats)
	}
	// The Event Hubs file holds every category beyond sign-ins and audits
	// the demo shows, each decoded into the stream it belongs to.
	cats = map[string]int{}
	for _, m := range recs[DemoEventHub] {
		cats[m["category"].(string)]++
	}
	for _, c := range []string{"UserRiskEvents", "RiskyUsers", "ADFSSignInLogs", "MicrosoftGraphActivityLogs", "ProvisioningLogs"} {
		if cats[c] == 0 {
			t.Errorf("%s has no %s record: %v", DemoEventHub, c, cats)
		}
	}
	streams := map[string]string{"UserRiskEvents": "risk", "RiskyUsers": "risk", "ADFSSignInLogs": "signin",
		"MicrosoftGraphActivityLogs": "graphactivity", "ProvisioningLogs": "other"}
	for _, file := range f.Files {
		if file.Name != DemoEventHub {
			continue
		}
		var dec entra.Decoder
		for _, line := range bytes.Split(bytes.TrimSuffix(file.Data, []byte("\n")), []byte("\n")) {
			var rec entra.Record
			if err := dec.Decode(line, &rec); err != nil {
				t.Errorf("%s: %v: %s", file.Name, err, line)
				continue
			}
			if want := streams[rec.LogCategory]; string(rec.Stream) != want {
				t.Errorf("%s: %s decodes as stream %q, want %q", file.Name, rec.LogCategory, rec.Stream, want)
			}
			if rec.Time.Before(day(0)) || !rec.Time.Before(day(5)) {
				t.Errorf("%s: %s at %v, outside the demo week", file.Name, rec.LogCategory, rec.Time)
			}
		}
	}
	t.Logf("%d records: %v", total, f.Counts)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// Every monitor of docs/monitor-triggers.md has a scenario that hits it.
func TestDemoCoversTheTriggerTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/monitor-triggers.md")
	if err != nil {
		t.Skip(err)
	}
	row := regexp.MustCompile(`(?m)^\| ([a-z]+\.[a-z_]+)`)
	hit := map[string]bool{}
	for _, s := range Demo().Scenarios {
		if !s.NearMiss {
			for _, m := range s.Monitors {
				hit[m] = true
			}
		}
	}
	n := 0
	for _, m := range row.FindAllSubmatch(doc, -1) {
		n++
		if id := string(m[1]); !hit[id] {
			t.Errorf("no demo scenario hits %s", id)
		}
	}
	if n < 25 {
		t.Errorf("found only %d monitors in docs/monitor-triggers.md", n)
	}
}
