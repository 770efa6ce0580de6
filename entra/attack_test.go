package entra

import (
	"reflect"
	"testing"
)

func TestAttackOf(t *testing.T) {
	hits := []Hit{
		{ID: "a", Tags: []string{"attack.initial-access", "attack.t1078.004", "attack.T1110", "attack.g0016", "attack.s0154", "cve.2021-44228", "attack.command-and-control"}},
		{ID: "b"},
		{ID: "c", Tags: []string{"attack.t1078", "attack.t1078.004", "attack.Initial_Access", "attack.stealth", "attack.defense-impairment",
			"attack.t12", "attack.t1078.04", "attack.", "attack.-x", "attack.x-", "attack.a--b", "attack.t1078x004", "detection.threat-hunting"}},
	}
	got := AttackOf(hits)
	want := Attack{
		IDs:           []string{"T1078.004", "T1110", "T1078"},
		Techniques:    []string{"T1078", "T1110"},
		Subtechniques: []string{"T1078.004"},
		Tactics:       []string{"Initial Access", "Command and Control", "Stealth", "Defense Impairment"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AttackOf = %+v\nwant %+v", got, want)
	}
	var ids []string
	EachAttackTechnique(hits, func(n string) { ids = append(ids, "T"+n) })
	if !reflect.DeepEqual(ids, want.IDs) {
		t.Errorf("EachAttackTechnique: %q, want %q", ids, want.IDs)
	}
	if n := testing.AllocsPerRun(10, func() { EachAttackTechnique(hits, func(string) {}) }); n != 0 {
		t.Errorf("EachAttackTechnique allocates %v times", n)
	}
	if a := AttackOf(hits[1:2]); !a.Empty() || a.IDs != nil {
		t.Errorf("AttackOf(no tags) = %+v, want empty", a)
	}
	if a := AttackOf([]Hit{{Tags: []string{"attack.and-x"}}}); !reflect.DeepEqual(a.Tactics, []string{"And X"}) {
		t.Errorf("tactic of attack.and-x = %q", a.Tactics)
	}
}
