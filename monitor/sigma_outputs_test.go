package monitor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/monitor"
	"github.com/privtrail/privtrail/outputs/elastic"
	"github.com/privtrail/privtrail/outputs/file"
	"github.com/privtrail/privtrail/outputs/kafka"
	"github.com/privtrail/privtrail/outputs/qradar"
	"github.com/privtrail/privtrail/outputs/splunk"
)

// The done-criterion of Sigma rules as monitors: the example correlation
// (pipelines/sigma/examples/signin_brute_force.yml, run by
// demo-sigma.yaml over the demo data) fires once, and every output
// writes that hit in exactly one of its records, with the rule's tags in
// the privtrail object and its ATT&CK technique in the SIEM's own
// fields: Splunk's privtrail_mitre_attack_id, Elastic's threat.*,
// QRadar's privtrailMitreAttackId (LEEF), the privtrail object in the
// JSON of Splunk's event, QRadar's JSON mode, Kafka's value and the file.
func TestSigmaDemoEveryOutput(t *testing.T) {
	recs := monitor.RunSigmaDemo(t)
	id := monitor.BruteForceID
	wantTags := []string{"attack.credential-access", "attack.t1110.001"}
	// The runner's enriched JSON, shared by the JSON outputs.
	enriched := make([][]byte, len(recs))
	for i, r := range recs {
		enriched[i] = r.AppendJSON(nil)
	}

	type output struct {
		name   string
		encode func(*entra.Record, []byte) ([]byte, error)
		check  func(t *testing.T, item []byte, a entra.Attack) // the item that carries the hit, the ATT&CK tags of its record's hits
	}
	qcfg := func(format string) qradar.Config {
		c := qradar.Config{Address: "127.0.0.1:514", Hostname: "collector-01", Version: "1.4.0", Format: format}
		c.Defaults()
		return c
	}
	encoder := func(enc interface {
		Encode([]byte, *entra.Record, []byte) ([]byte, error)
	}) func(*entra.Record, []byte) ([]byte, error) {
		return func(r *entra.Record, js []byte) ([]byte, error) { return enc.Encode(nil, r, js) }
	}
	outputs := []output{
		{"splunk", encoder(splunk.NewEncoder(splunk.Config{Host: "agent-01", Index: "entra"})), func(t *testing.T, item []byte, a entra.Attack) {
			var env struct {
				Event  json.RawMessage `json:"event"`
				Fields map[string]any  `json:"fields"`
			}
			mustJSON(t, item, &env)
			checkPrivtrail(t, env.Event, id, wantTags)
			if got := env.Fields["privtrail_mitre_attack_id"]; !equalJSON(got, a.IDs) || !containsJSON(got, "T1110.001") {
				t.Errorf("fields.privtrail_mitre_attack_id = %v", got)
			}
			if got := env.Fields["privtrail_monitor"]; !containsJSON(got, id) {
				t.Errorf("fields.privtrail_monitor = %v", got)
			}
		}},
		{"elastic", encoder(elastic.NewEncoder(elastic.Naming{Namespace: "privtrail"})), func(t *testing.T, item []byte, a entra.Attack) {
			lines := bytes.SplitN(item, []byte("\n"), 3)
			checkPrivtrail(t, lines[1], id, wantTags)
			var doc struct {
				Rule   struct{ ID []string } `json:"rule"`
				Threat struct {
					Framework string
					Tactic    struct{ Name []string }
					Technique struct {
						ID           []string
						Subtechnique struct{ ID []string }
					}
				} `json:"threat"`
			}
			mustJSON(t, lines[1], &doc)
			th := doc.Threat
			if !slices.Contains(doc.Rule.ID, id) || th.Framework != "MITRE ATT&CK" ||
				!slices.Equal(th.Tactic.Name, a.Tactics) || !slices.Contains(th.Tactic.Name, "Credential Access") ||
				!slices.Equal(th.Technique.ID, a.Techniques) || !slices.Contains(th.Technique.ID, "T1110") ||
				!slices.Equal(th.Technique.Subtechnique.ID, a.Subtechniques) || !slices.Contains(th.Technique.Subtechnique.ID, "T1110.001") {
				t.Errorf("rule.id %q, threat %+v", doc.Rule.ID, th)
			}
		}},
		{"qradar-leef", encoder(qradar.NewEncoder(qcfg("leef"))), func(t *testing.T, item []byte, a entra.Attack) {
			msg := string(item)
			attrs := map[string]string{}
			_, payload, _ := strings.Cut(msg, "|x09|")
			for _, kv := range strings.Split(strings.TrimRight(payload, "\n"), "\t") {
				k, v, _ := strings.Cut(kv, "=")
				attrs[k] = v
			}
			ids := strings.Split(attrs["privtrailMitreAttackId"], ",")
			if !slices.Contains(strings.Split(attrs["privtrailMonitors"], ","), id) || !slices.Equal(ids, a.IDs) || !slices.Contains(ids, "T1110.001") {
				t.Errorf("LEEF privtrailMonitors=%q privtrailMitreAttackId=%q", attrs["privtrailMonitors"], attrs["privtrailMitreAttackId"])
			}
		}},
		{"qradar-json", encoder(qradar.NewEncoder(qcfg("json"))), func(t *testing.T, item []byte, a entra.Attack) {
			i := bytes.IndexByte(item, '{')
			checkPrivtrail(t, bytes.TrimRight(item[i:], "\n"), id, wantTags)
		}},
		{"kafka", encoder(kafka.NewEncoder(kafka.Config{})), func(t *testing.T, item []byte, a entra.Attack) {
			m, err := kafka.DecodeItem(item)
			if err != nil {
				t.Fatal(err)
			}
			checkPrivtrail(t, m.Value, id, wantTags)
			for _, h := range m.Headers {
				if h.Name == kafka.HeaderMonitors && !slices.Contains(strings.Split(string(h.Value), ","), id) {
					t.Errorf("header %s = %q", h.Name, h.Value)
				}
			}
		}},
	}
	// The file output writes the runner's JSON, a line per record.
	var lines bytes.Buffer
	if err := file.NewStdout(&lines).Consume(context.Background(), &batch.Batch{Records: recs, JSON: enriched}); err != nil {
		t.Fatal(err)
	}
	fileLines := bytes.Split(bytes.TrimSuffix(lines.Bytes(), []byte("\n")), []byte("\n"))
	if len(fileLines) != len(recs) {
		t.Fatalf("file output: %d lines for %d records", len(fileLines), len(recs))
	}
	outputs = append(outputs, output{"file", func(r *entra.Record, _ []byte) ([]byte, error) {
		return fileLines[slices.Index(recs, r)], nil
	}, func(t *testing.T, item []byte, _ entra.Attack) { checkPrivtrail(t, item, id, wantTags) }})

	for _, o := range outputs {
		t.Run(o.name, func(t *testing.T) {
			var carrying [][]byte
			var carrier *entra.Record
			for i, r := range recs {
				item, err := o.encode(r, enriched[i])
				if err != nil {
					t.Fatalf("record %d (%s): %v", i, r.Origin, err)
				}
				if bytes.Contains(item, []byte(id)) {
					carrying, carrier = append(carrying, item), r
				}
			}
			if len(carrying) != 1 {
				t.Fatalf("%d of %d records carry %s, want 1", len(carrying), len(recs), id)
			}
			// The record has the hits of SigmaHQ rules too (ROPC): the
			// ATT&CK fields are those of all its hits.
			o.check(t, carrying[0], entra.AttackOf(carrier.Hits))
		})
	}
}

// checkPrivtrail checks that the JSON document doc has exactly one hit id
// in its privtrail object, with tags.
func checkPrivtrail(t *testing.T, doc []byte, id string, tags []string) {
	t.Helper()
	var d struct {
		Privtrail struct {
			Monitors []entra.Hit `json:"monitors"`
		} `json:"privtrail"`
	}
	mustJSON(t, doc, &d)
	n := 0
	for _, h := range d.Privtrail.Monitors {
		if h.ID != id {
			continue
		}
		n++
		if !slices.Equal(h.Tags, tags) {
			t.Errorf("privtrail.monitors[%s].tags = %q, want %q", id, h.Tags, tags)
		}
		if strings.Contains(h.Notes, "attack.") {
			t.Errorf("notes repeat the tags: %q", h.Notes)
		}
	}
	if n != 1 {
		t.Errorf("privtrail.monitors has %s %d times: %s", id, n, doc)
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func equalJSON(v any, want []string) bool {
	list, ok := v.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i, s := range list {
		if s != want[i] {
			return false
		}
	}
	return true
}

func containsJSON(v any, s string) bool {
	list, _ := v.([]any)
	return slices.Contains(list, any(s))
}
