package monitor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// A monitor's tags (a pipeline file's tags list, a Sigma rule's tags) are
// its hits' tags, for stateless and stateful monitors; an override
// replaces them, and a Sigma monitor's notes no longer repeat them.
func TestMonitorTags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("rule.yml", `title: Wrong password
id: 11111111-2222-4333-8444-555555555555
description: A wrong password.
logsource: {product: azure, service: signinlogs}
detection:
    selection: {ResultType: 50126}
    condition: selection
tags: [attack.credential-access, attack.t1110.001]
level: medium
`)
	write("base.yaml", `monitors:
  - id: test.tagged
    title: Tagged
    risk: high
    source: signin
    when: signin.errorCode == 50126
    tags: [attack.initial-access, attack.t1078.004]
  - id: test.untagged
    title: Untagged
    risk: low
    source: signin
    when: signin.errorCode == 50126
  - id: test.burst
    title: Burst
    risk: medium
    source: signin
    when: signin.errorCode == 50126
    threshold: {by: actor.upn, count: 2, window: 10m}
    tags: [attack.t1110]
`)
	path := write("pipeline.yaml", `include: [base.yaml]
sigma: [rule.yml]
monitors:
  - id: test.untagged
    tags: [team.identity]
  - id: sigma.11111111-2222-4333-8444-555555555555
    risk: low
`)
	t0 := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	e, s := loadWithState(t, path, t0.Add(time.Hour))
	ev := e.NewEvaluator()
	var recs []*entra.Record
	for i := range 2 {
		rec := &entra.Record{Stream: entra.StreamSignIn, Actor: entra.Principal{UPN: "adm_bob@contoso.example"},
			SignIn: entra.SignIn{ErrorCode: 50126, Status: "failure"}}
		rec.Time, rec.ID = t0.Add(time.Duration(i)*time.Minute), fmt.Sprint("signin-", i)
		ev.Eval(rec)
		recs = append(recs, rec)
	}
	if _, err := s.Apply(ev.TakeObservations()); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"test.tagged":   {"attack.initial-access", "attack.t1078.004"},
		"test.untagged": {"team.identity"},
		"sigma.11111111-2222-4333-8444-555555555555": {"attack.credential-access", "attack.t1110.001"},
	}
	for id, tags := range want {
		h := findHit(recs[0], id)
		if h == nil || !slices.Equal(h.Tags, tags) {
			t.Errorf("%s: hit %+v, want tags %q", id, h, tags)
			continue
		}
		if strings.Contains(h.Notes, "attack.") {
			t.Errorf("%s: notes repeat the tags: %q", id, h.Notes)
		}
	}
	if h := findHit(recs[1], "test.burst"); h == nil || !slices.Equal(h.Tags, []string{"attack.t1110"}) {
		t.Errorf("threshold hit %+v, want tags [attack.t1110]", h)
	}
}
