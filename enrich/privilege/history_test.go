package privilege

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// Principals of testdata/rolemap.yaml, and frank, whom it does not know.
type who struct{ id, upn string }

var (
	alice = who{"11111111-1111-1111-1111-111111111111", "adm_alice@contoso.example"} // eligible GA
	carol = who{"33333333-3333-3333-3333-333333333333", "carol@contoso.example"}     // Reports Reader
	frank = who{"66666666-6666-6666-6666-666666666666", "frank@contoso.example"}     // not in the map
)

const (
	tier0Group = "99999999-9999-9999-9999-999999999999" // grants Security Administrator (rolemap.yaml)
	gaName     = "Global Administrator"
	gaID       = "62e90394-69f5-4237-9190-012177145e10"
	exName     = "Exchange Administrator"
	exID       = "29232cdf-9323-42fd-ade2-1d097af3e4de"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// record decodes a testdata file with entra's decoder, after filling its
// {{placeholders}}: the principal, the event time, and kv pairs.
func record(t testing.TB, file string, u who, at time.Time, kv ...string) *entra.Record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"user": u.id, "upn": u.upn, "display": u.upn, "at": ts(at), "result": "success",
		"reason": "", "id": fmt.Sprintf("%x", at.UnixNano()), "role_object": "38bf5baf-7ec7-4bc2-8920-6d4044da12c2",
		"well_known": "", "role": gaName, "template": gaID, "group": tier0Group, "until": ""}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	for k, v := range vars {
		data = []byte(strings.ReplaceAll(string(data), "{{"+k+"}}", v))
	}
	var d entra.Decoder
	rec := &entra.Record{}
	if err := d.Decode(data, rec); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return rec
}

func signIn(t testing.TB, u who, at time.Time) *entra.Record {
	return record(t, "signin_graph.json", u, at)
}

func activation(t testing.TB, u who, at, until time.Time) *entra.Record {
	return record(t, "audit/pim_activation.json", u, at, "until", ts(until))
}

func coreAdd(t testing.TB, u who, role, template string, at time.Time) *entra.Record {
	return record(t, "audit/core_add_member_to_role.json", u, at, "role", role, "template", template)
}

func coreRemove(t testing.TB, u who, role, template string, at time.Time) *entra.Record {
	return record(t, "audit/core_remove_member_from_role.json", u, at, "role", role, "template", template)
}

// summary says how a principal was tagged.
func summary(p entra.Principal) string {
	if !p.Known {
		return "unknown"
	}
	var b strings.Builder
	if p.Privileged {
		b.WriteString("privileged")
	} else {
		b.WriteString("not privileged")
	}
	if p.Emergency {
		b.WriteString(" emergency")
	}
	for _, r := range p.Roles {
		fmt.Fprintf(&b, " %s/%s/%s", r.Name, r.Assignment, r.Via)
	}
	return b.String()
}

// tagged is how a sign-in of u at `at` is tagged at generation gen.
func tagged(t testing.TB, s *Stage, u who, at time.Time, gen uint64) string {
	t.Helper()
	rec := signIn(t, u, at)
	s.EnrichAt(rec, gen)
	return summary(rec.Actor)
}

func testStage(t testing.TB, cfg Config) *Stage {
	t.Helper()
	if cfg.RoleMap == "" {
		cfg.RoleMap = "testdata/rolemap.yaml"
	}
	cfg.ReloadInterval = -1
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

const (
	aliceEligible = "privileged Global Administrator/eligible/direct"
	carolBefore   = "not privileged Reports Reader/active/direct"
	gaActive      = "Global Administrator/active/direct"
)

type check struct {
	u    who
	at   time.Time
	want string
}

func TestAuditChanges(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		batches func(t testing.TB) [][]*entra.Record
		checks  []check
		// applied, ignored, malformed records
		counts [3]int64
	}{
		{
			name: "activation, then a sign-in seconds later",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{activation(t, frank, t0, t0.Add(time.Hour)), signIn(t, frank, t0.Add(5*time.Second))}}
			},
			checks: []check{
				{frank, t0.Add(5 * time.Second), "privileged " + gaActive},
				{frank, t0, "privileged " + gaActive},
				{frank, t0.Add(-time.Minute), "unknown"},
				{frank, t0.Add(time.Hour - time.Nanosecond), "privileged " + gaActive},
				{frank, t0.Add(time.Hour), "unknown"}, // expired by its ExpirationTime
			},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "activation of an eligible role adds the active assignment",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{activation(t, alice, t0, t0.Add(2*time.Hour))}}
			},
			checks: []check{
				{alice, t0.Add(-time.Second), aliceEligible},
				{alice, t0.Add(time.Minute), aliceEligible + " " + gaActive},
				{alice, t0.Add(2 * time.Hour), aliceEligible},
			},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "activation without an end time lasts the default 8h",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{record(t, "audit/pim_activation_no_end.json", frank, t0)}}
			},
			checks: []check{
				{frank, t0.Add(8*time.Hour - time.Second), "privileged " + gaActive},
				{frank, t0.Add(8 * time.Hour), "unknown"},
			},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "activation length is configurable",
			cfg:  Config{ActivationLength: 30 * time.Minute},
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{record(t, "audit/pim_activation_no_end.json", frank, t0)}}
			},
			checks: []check{
				{frank, t0.Add(29 * time.Minute), "privileged " + gaActive},
				{frank, t0.Add(30 * time.Minute), "unknown"},
			},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "deactivation ends an activation early",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{
					{activation(t, frank, t0, t0.Add(8*time.Hour))},
					{record(t, "audit/pim_deactivate.json", frank, t0.Add(30*time.Minute))},
				}
			},
			checks: []check{
				{frank, t0.Add(29 * time.Minute), "privileged " + gaActive},
				{frank, t0.Add(31 * time.Minute), "unknown"},
			},
			counts: [3]int64{2, 0, 0},
		},
		{
			name: "activation expired record (principal as the fourth target) ends it",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{
					{record(t, "audit/pim_activation_no_end.json", frank, t0)},
					{record(t, "audit/pim_activation_expired.json", frank, t0.Add(2*time.Hour))},
				}
			},
			checks: []check{
				{frank, t0.Add(time.Hour), "privileged " + gaActive},
				{frank, t0.Add(2*time.Hour + time.Second), "unknown"},
			},
			counts: [3]int64{2, 0, 0},
		},
		{
			name: "remove member: later records not privileged, earlier ones still are",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{
					{coreAdd(t, carol, gaName, gaID, t0)},
					{coreRemove(t, carol, gaName, gaID, t0.Add(time.Hour))},
				}
			},
			checks: []check{
				{carol, t0.Add(-time.Minute), carolBefore},
				{carol, t0.Add(30 * time.Minute), "privileged Reports Reader/active/direct " + gaActive},
				{carol, t0.Add(55 * time.Minute), "privileged Reports Reader/active/direct " + gaActive},
				{carol, t0.Add(time.Hour), carolBefore},
				{carol, t0.Add(48 * time.Hour), carolBefore},
			},
			counts: [3]int64{2, 0, 0},
		},
		{
			name: "removing a role of the snapshot",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{record(t, "audit/pim_eligible_remove.json", alice, t0)}}
			},
			checks: []check{
				{alice, t0.Add(-time.Second), aliceEligible},
				{alice, t0.Add(time.Second), "not privileged"},
			},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "eligible assignment",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{record(t, "audit/pim_eligible_permanent.json", carol, t0, "role", exName, "template", exID)}}
			},
			checks: []check{
				{carol, t0.Add(time.Second), "privileged Reports Reader/active/direct Exchange Administrator/eligible/direct"},
				{carol, t0.Add(-time.Second), carolBefore},
			},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "time-bound eligible assignment ends at its EndDateTime",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{record(t, "audit/pim_eligible_timebound.json", frank, t0, "role", exName, "template", exID, "until", ts(t0.Add(24*time.Hour)))}}
			},
			checks: []check{
				{frank, t0.Add(23 * time.Hour), "privileged Exchange Administrator/eligible/direct"},
				{frank, t0.Add(25 * time.Hour), "unknown"},
			},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "membership of a role-assignable group grants its roles",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{
					{record(t, "audit/group_add_member.json", carol, t0)},
					{record(t, "audit/group_remove_member.json", carol, t0.Add(2*time.Hour))},
				}
			},
			checks: []check{
				{carol, t0.Add(-time.Second), carolBefore},
				{carol, t0.Add(time.Hour), "privileged Reports Reader/active/direct Security Administrator/active/group:" + tier0Group},
				{carol, t0.Add(3 * time.Hour), carolBefore},
			},
			counts: [3]int64{2, 0, 0},
		},
		{
			name: "membership of another group changes nothing",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{record(t, "audit/group_add_member.json", carol, t0, "group", "12345678-0000-0000-0000-000000000000")}}
			},
			checks: []check{{carol, t0.Add(time.Hour), carolBefore}},
			counts: [3]int64{0, 0, 0},
		},
		{
			name: "a late assignment lands before a removal observed first",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{
					{coreRemove(t, frank, gaName, gaID, t0.Add(time.Hour))},
					{coreAdd(t, frank, gaName, gaID, t0)},
				}
			},
			checks: []check{
				{frank, t0.Add(30 * time.Minute), "privileged " + gaActive},
				{frank, t0.Add(2 * time.Hour), "unknown"},
			},
			counts: [3]int64{2, 0, 0},
		},
		{
			name: "diagnostic-settings shape, activity matched case-insensitively",
			batches: func(t testing.TB) [][]*entra.Record {
				rec := record(t, "audit/diagnostic_add_member_to_role.json", frank, t0)
				rec.Audit.ActivityDisplayName = strings.ToUpper(rec.Audit.ActivityDisplayName)
				rec.Audit.Category = "roleManagement"
				return [][]*entra.Record{{rec}}
			},
			checks: []check{{frank, t0.Add(time.Minute), "privileged " + gaActive}},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "role named by template only",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{coreAdd(t, frank, "", exID, t0)}}
			},
			checks: []check{{frank, t0.Add(time.Minute), "privileged Exchange Administrator/active/direct"}},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "role named by its well-known object name only",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{record(t, "audit/core_add_member_to_role.json", frank, t0, "role", "", "template", "", "well_known", "TenantAdmins")}}
			},
			checks: []check{{frank, t0.Add(time.Minute), "privileged " + gaActive}},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "non-privileged role: known, not privileged",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{coreAdd(t, frank, "Reports Reader", "4a5d8f65-41da-4de4-8968-e035b65339cf", t0)}}
			},
			checks: []check{{frank, t0.Add(time.Minute), "not privileged Reports Reader/active/direct"}},
			counts: [3]int64{1, 0, 0},
		},
		{
			name: "ignored: failed, and Core Directory's copy of a PIM change",
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{
					record(t, "audit/core_add_member_to_role.json", frank, t0, "result", "failure"),
					record(t, "audit/core_add_eligible_by_pim_app.json", frank, t0),
				}}
			},
			checks: []check{{frank, t0.Add(time.Minute), "unknown"}},
			counts: [3]int64{0, 2, 0},
		},
		{
			name: "malformed records are counted, the batch goes on",
			batches: func(t testing.TB) [][]*entra.Record {
				noRole := record(t, "audit/core_add_member_to_role.json", frank, t0, "role", "", "template", "")
				noTarget := coreAdd(t, frank, gaName, gaID, t0)
				noTarget.Audit.Targets = noTarget.Audit.Targets[1:] // only the Role target is left
				noTime := activation(t, frank, t0, t0.Add(time.Hour))
				noTime.Time = time.Time{}
				return [][]*entra.Record{{noRole, noTarget, noTime, coreAdd(t, carol, gaName, gaID, t0)}}
			},
			checks: []check{
				{frank, t0.Add(time.Minute), "unknown"},
				{carol, t0.Add(time.Minute), "privileged Reports Reader/active/direct " + gaActive},
			},
			counts: [3]int64{1, 0, 3},
		},
		{
			name: "audit updates turned off",
			cfg:  Config{AuditUpdates: new(bool)},
			batches: func(t testing.TB) [][]*entra.Record {
				return [][]*entra.Record{{activation(t, frank, t0, t0.Add(time.Hour))}}
			},
			checks: []check{{frank, t0.Add(time.Minute), "unknown"}},
			counts: [3]int64{0, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStage(t, tt.cfg)
			var gens []uint64
			for _, b := range tt.batches(t) {
				gens = append(gens, s.Observe(b))
			}
			for i := 1; i < len(gens); i++ {
				if gens[i] <= gens[i-1] {
					t.Fatalf("generations not increasing: %v", gens)
				}
			}
			for _, c := range tt.checks {
				for _, gen := range []uint64{gens[len(gens)-1], ^uint64(0)} {
					if got := tagged(t, s, c.u, c.at, gen); got != c.want {
						t.Errorf("%s at %s (gen %d): %q, want %q", c.u.upn, c.at.Sub(t0), gen, got, c.want)
					}
				}
			}
			got := [3]int64{s.ChangesApplied.Load(), s.ChangesIgnored.Load(), s.ChangesMalformed.Load()}
			if got != tt.counts {
				t.Errorf("applied/ignored/malformed = %v, want %v", got, tt.counts)
			}
			if s.Changes() != got[0] {
				t.Errorf("Changes() = %d, want %d", s.Changes(), got[0])
			}
		})
	}
}

// The audit record's own target is tagged with the roles it holds at the
// event time: after an assignment, the new role.
func TestRoleChangeTargetTagged(t *testing.T) {
	s := testStage(t, Config{})
	rec := activation(t, frank, t0, t0.Add(time.Hour))
	gen := s.Observe([]*entra.Record{rec})
	s.EnrichAt(rec, gen)
	var user entra.Principal
	for _, tg := range rec.Audit.Targets {
		if tg.Type == "User" {
			user = tg.Principal
		}
	}
	if got := summary(user); got != "privileged "+gaActive {
		t.Errorf("target = %q", got)
	}
	if got := summary(rec.Actor); got != "privileged "+gaActive {
		t.Errorf("actor (the user activating) = %q", got)
	}
}

// The real Core Directory record of ../shared/samples (beside the
// repository), verbatim.
func TestSplunkRecord(t *testing.T) {
	s := testStage(t, Config{})
	data, err := os.ReadFile("testdata/audit/splunk_add_member_to_role.json")
	if err != nil {
		t.Fatal(err)
	}
	var d entra.Decoder
	var rec entra.Record
	if err := d.Decode(data, &rec); err != nil {
		t.Fatal(err)
	}
	s.Observe([]*entra.Record{&rec})
	if s.ChangesApplied.Load() != 1 {
		t.Fatalf("applied = %d, malformed = %d", s.ChangesApplied.Load(), s.ChangesMalformed.Load())
	}
	user := who{"0d664d57-a3ee-4049-8642-280a5c7243ef", "User1@splunkresearch.com"}
	h := s.History(user.id, "")
	want := Interval{Role: entra.RoleHeld{Name: "Privileged Role Administrator", TemplateID: "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
		Assignment: "active", Via: "direct", Privileged: true}, From: rec.Time, Until: s.Map().LoadedAt()}
	// (The role map, loaded now, does not list the user: it is the truth
	// from its load time on.)
	if len(h) != 1 || h[0] != want {
		t.Fatalf("history = %+v, want %+v", h, want)
	}
	// A sign-in by UPN only, in another case, a second later.
	if got := tagged(t, s, who{upn: "user1@SPLUNKRESEARCH.com"}, rec.Time.Add(time.Second), s.Generation()); got != "privileged Privileged Role Administrator/active/direct" {
		t.Errorf("sign-in = %q", got)
	}
	if got := tagged(t, s, user, rec.Time.Add(-time.Second), s.Generation()); got != "unknown" {
		t.Errorf("sign-in before = %q", got)
	}
}

// A batch is never tagged with a change of a later batch, even when the
// later batch was observed before the earlier one is enriched.
func TestGenerationRule(t *testing.T) {
	s := testStage(t, Config{})
	early := signIn(t, frank, t0.Add(10*time.Minute))
	g1 := s.Observe([]*entra.Record{early})
	// The activation (event time before the sign-in) arrives in the next
	// batch, observed before batch 1 is enriched.
	g2 := s.Observe([]*entra.Record{activation(t, frank, t0, t0.Add(time.Hour))})
	if g2 <= g1 {
		t.Fatalf("generations %d, %d", g1, g2)
	}
	s.EnrichAt(early, g1)
	if got := summary(early.Actor); got != "unknown" {
		t.Errorf("batch 1 sees batch 2's change: %q", got)
	}
	if got := tagged(t, s, frank, t0.Add(10*time.Minute), g2); got != "privileged "+gaActive {
		t.Errorf("batch 2 = %q", got)
	}
	// And the other way round: a removal in batch 2 does not reach batch 1.
	g3 := s.Observe([]*entra.Record{record(t, "audit/pim_deactivate.json", frank, t0.Add(5*time.Minute))})
	if got := tagged(t, s, frank, t0.Add(10*time.Minute), g2); got != "privileged "+gaActive {
		t.Errorf("batch 2 after batch 3's removal = %q", got)
	}
	if got := tagged(t, s, frank, t0.Add(10*time.Minute), g3); got != "unknown" {
		t.Errorf("batch 3 = %q", got)
	}
}

// A replay tags every record the same way however the workers
// interleave: a stage whose batches are enriched right after each Observe
// and one whose workers enrich them in parallel while later batches are
// observed (a few in flight, as in the runner) tag every record alike.
func TestDeterministicUnderParallelEnrichment(t *testing.T) {
	users := []who{frank, carol, alice}
	batches := func() [][]*entra.Record {
		var out [][]*entra.Record
		for i := range 300 {
			at := t0.Add(time.Duration(i) * 7 * time.Minute)
			u := users[i%len(users)]
			var b []*entra.Record
			switch i % 4 {
			case 0:
				b = append(b, activation(t, u, at, at.Add(20*time.Minute)))
			case 1:
				b = append(b, record(t, "audit/pim_deactivate.json", u, at.Add(-3*time.Minute)))
			case 2:
				b = append(b, coreAdd(t, u, exName, exID, at.Add(-10*time.Minute)))
			case 3:
				b = append(b, coreRemove(t, u, exName, exID, at))
			}
			for _, w := range users {
				for _, d := range []time.Duration{-15 * time.Minute, -time.Minute, time.Minute, 10 * time.Minute} {
					b = append(b, signIn(t, w, at.Add(d)))
				}
			}
			out = append(out, b)
		}
		return out
	}
	tags := func(b []*entra.Record) []string {
		var out []string
		for _, r := range b {
			out = append(out, summary(r.Actor))
			for _, tg := range r.Audit.Targets {
				out = append(out, summary(tg.Principal))
			}
		}
		return out
	}

	serial := testStage(t, Config{HistoryLimit: 8})
	var want [][]string
	for _, b := range batches() {
		gen := serial.Observe(b)
		for _, r := range b {
			serial.EnrichAt(r, gen)
		}
		want = append(want, tags(b))
	}

	parallel := testStage(t, Config{HistoryLimit: 8})
	type job struct {
		i   int
		b   []*entra.Record
		gen uint64
	}
	jobs := make(chan job, 8) // batches in flight between Observe and the workers
	got := make([][]string, len(want))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				// Enrich the batch back to front, yielding, to interleave.
				for k := len(j.b) - 1; k >= 0; k-- {
					parallel.EnrichAt(j.b[k], j.gen)
					runtime.Gosched()
				}
				got[j.i] = tags(j.b)
			}
		}()
	}
	for i, b := range batches() {
		jobs <- job{i: i, b: b, gen: parallel.Observe(b)}
	}
	close(jobs)
	wg.Wait()
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("batch %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}

// A worker holding a batch can be overtaken by any number of later
// batches (the runner bounds the batches queued, not how long one worker
// takes over its own). A batch enriched after far more later batches were
// observed than a principal keeps changes, each of them changing that
// principal, is still tagged as in a serial run.
func TestGenerationLongAfter(t *testing.T) {
	const n = 150 // many more versions per principal than a few in flight
	batches := func() [][]*entra.Record {
		var out [][]*entra.Record
		for i := range n {
			at := t0.Add(time.Duration(i) * 10 * time.Minute)
			b := []*entra.Record{activation(t, frank, at, at.Add(5*time.Minute))}
			if i%3 == 0 {
				b = append(b, coreAdd(t, frank, exName, exID, at.Add(-time.Minute)))
			} else {
				b = append(b, coreRemove(t, frank, exName, exID, at.Add(-2*time.Minute)))
			}
			for _, d := range []time.Duration{-time.Hour, -3 * time.Minute, time.Minute, 7 * time.Minute} {
				b = append(b, signIn(t, frank, at.Add(d)), signIn(t, alice, at.Add(d)))
			}
			out = append(out, b)
		}
		return out
	}
	tags := func(b []*entra.Record) []string {
		var out []string
		for _, r := range b {
			out = append(out, summary(r.Actor))
			for _, tg := range r.Audit.Targets {
				out = append(out, summary(tg.Principal))
			}
		}
		return out
	}
	serial := testStage(t, Config{HistoryLimit: 8})
	var want [][]string
	for _, b := range batches() {
		gen := serial.Observe(b)
		for _, r := range b {
			serial.EnrichAt(r, gen)
		}
		want = append(want, tags(b))
	}
	// Every batch observed before any is enriched, then enriched oldest
	// first, newest first, and the first one last of all.
	for _, order := range []string{"oldest first", "newest first"} {
		s := testStage(t, Config{HistoryLimit: 8})
		bs := batches()
		gens := make([]uint64, len(bs))
		for i, b := range bs {
			gens[i] = s.Observe(b)
		}
		for k := range bs {
			i := k
			if order == "newest first" {
				i = len(bs) - 1 - k
			}
			for _, r := range bs[i] {
				s.EnrichAt(r, gens[i])
			}
			if got := tags(bs[i]); !slices.Equal(got, want[i]) {
				t.Errorf("%s, batch %d (gen %d of %d):\n got %q\nwant %q", order, i, gens[i], s.Generation(), got, want[i])
			}
		}
	}
}

// Lookups, Observe and swaps at once, for the race detector.
func TestConcurrentUse(t *testing.T) {
	s := testStage(t, Config{})
	m := s.Map()
	stop := make(chan struct{})
	done := make(chan struct{})
	for range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				for _, u := range []who{frank, carol, alice} {
					rec := &entra.Record{Time: t0.Add(time.Duration(i%100) * time.Minute), Actor: entra.Principal{ID: u.id, UPN: u.upn}}
					s.EnrichAt(rec, s.Generation())
					s.Enrich(rec)
				}
				_ = s.History(frank.id, "")
			}
		}()
	}
	for i := range 300 {
		at := t0.Add(time.Duration(i) * time.Minute)
		s.Observe([]*entra.Record{activation(t, frank, at, at.Add(10*time.Minute)), coreAdd(t, carol, exName, exID, at)})
		if i%50 == 0 {
			s.Swap(m.AsOf(at))
		}
	}
	if err := s.Save(filepath.Join(t.TempDir(), "state.yaml")); err != nil {
		t.Error(err)
	}
	close(stop)
	for range 3 {
		<-done
	}
}

// A snapshot swap is the truth as of its time: changes of an earlier event
// time stop applying from then, later ones still apply, and the history
// from before the swap still answers for late records.
func TestSnapshotSwap(t *testing.T) {
	s := testStage(t, Config{})
	gBefore := s.Observe([]*entra.Record{coreAdd(t, carol, gaName, gaID, t0)})
	swapAt := t0.Add(time.Hour)
	// The new snapshot: carol without GA (its refresh missed the change,
	// or GA was removed since), alice without her eligible GA.
	m, err := ParseMap("graph", []byte(`users:
  - id: 33333333-3333-3333-3333-333333333333
    upn: carol@contoso.example
    roles: [{name: Reports Reader, template_id: 4a5d8f65-41da-4de4-8968-e035b65339cf}]
  - id: 11111111-1111-1111-1111-111111111111
    upn: adm_alice@contoso.example
  - id: 77777777-7777-7777-7777-777777777777
    upn: new_admin@contoso.example
    roles: [{name: Global Administrator}]
emergency_access:
  - {id: 44444444-4444-4444-4444-444444444444, upn: breakglass1@contoso.example}
`), s.Roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Swap(m.AsOf(swapAt))
	gSwap := s.Generation()
	if gSwap <= gBefore {
		t.Fatalf("the swap took no generation: %d, %d", gBefore, gSwap)
	}
	gAfter := s.Observe([]*entra.Record{coreAdd(t, carol, exName, exID, t0.Add(3*time.Hour))})
	newAdmin := who{"77777777-7777-7777-7777-777777777777", "new_admin@contoso.example"}
	for _, c := range []struct {
		u    who
		at   time.Time
		gen  uint64
		want string
	}{
		{carol, t0.Add(30 * time.Minute), gAfter, "privileged Reports Reader/active/direct " + gaActive}, // late record: history from before the swap
		{carol, t0.Add(2 * time.Hour), gAfter, carolBefore},                                              // the add before the swap is superseded
		{carol, t0.Add(4 * time.Hour), gAfter, "privileged Reports Reader/active/direct Exchange Administrator/active/direct"},
		{alice, t0.Add(30 * time.Minute), gAfter, aliceEligible}, // as the old snapshot said
		{alice, t0.Add(2 * time.Hour), gAfter, "not privileged"},
		{alice, t0.Add(2 * time.Hour), gBefore, aliceEligible}, // a batch observed before the swap
		{newAdmin, t0.Add(30 * time.Minute), gAfter, "unknown"},
		{newAdmin, t0.Add(2 * time.Hour), gAfter, "privileged Global Administrator/active/direct"},
		{newAdmin, t0.Add(2 * time.Hour), gBefore, "unknown"},
		{frank, t0.Add(2 * time.Hour), gAfter, "unknown"},
	} {
		if got := tagged(t, s, c.u, c.at, c.gen); got != c.want {
			t.Errorf("%s at %s gen %d: %q, want %q", c.u.upn, c.at.Sub(t0), c.gen, got, c.want)
		}
	}
	if s.Map() != s.idx.Load().m || s.Map().Len() != 4 {
		t.Errorf("map in use: %d principals", s.Map().Len())
	}
	// A principal that did not change keeps the fast path.
	if s.History("44444444-4444-4444-4444-444444444444", "") != nil {
		t.Error("an unchanged principal got a history")
	}
}

// A rewritten role map file with the same content is not a new snapshot.
func TestReloadSameContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rolemap.yaml")
	data, err := os.ReadFile("testdata/rolemap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s := testStage(t, Config{RoleMap: path})
	gen := s.Generation()
	if ok, err := s.reload(true); ok || err != nil {
		t.Errorf("reload of the same content = %v, %v", ok, err)
	}
	if err := os.WriteFile(path, append(data, "\n# changed\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.reload(true); !ok || err != nil {
		t.Errorf("reload of new content = %v, %v", ok, err)
	}
	if s.Generation() != gen+1 {
		t.Errorf("generation %d after a swap, want %d", s.Generation(), gen+1)
	}
}

func TestHistoryLimit(t *testing.T) {
	s := testStage(t, Config{HistoryLimit: 4})
	for i := range 20 {
		at := t0.Add(time.Duration(i) * time.Hour)
		s.Observe([]*entra.Record{activation(t, frank, at, at.Add(30*time.Minute))})
	}
	p := s.byKey[frank.id]
	if len(p.changes) > 4 {
		t.Fatalf("%d changes kept, limit 4", len(p.changes))
	}
	last := t0.Add(19 * time.Hour)
	if got := tagged(t, s, frank, last.Add(10*time.Minute), s.Generation()); got != "privileged "+gaActive {
		t.Errorf("newest activation: %q", got)
	}
	if got := tagged(t, s, frank, last.Add(40*time.Minute), s.Generation()); got != "unknown" {
		t.Errorf("after the newest activation: %q", got)
	}
	if got := tagged(t, s, frank, last.Add(-50*time.Minute), s.Generation()); got != "privileged "+gaActive {
		t.Errorf("an activation still kept: %q", got)
	}
	if n := len(s.History(frank.id, "")); n > 4 {
		t.Errorf("%d intervals, want at most 4", n)
	}
}

func TestHistoryRetention(t *testing.T) {
	s := testStage(t, Config{HistoryRetention: 24 * time.Hour})
	s.Observe([]*entra.Record{activation(t, frank, t0, t0.Add(time.Hour)), coreAdd(t, frank, exName, exID, t0)})
	if n := len(s.History(frank.id, "")); n != 2 {
		t.Fatalf("%d intervals, want 2", n)
	}
	// Time moves on: the newest event is two days later. The sweep
	// compacts principals no record touched.
	for i := range sweepEvery {
		s.Observe([]*entra.Record{signIn(t, carol, t0.Add(48*time.Hour+time.Duration(i)*time.Second))})
	}
	h := s.History(frank.id, "")
	// (Until the role map's load time: it does not list frank.)
	if len(h) != 1 || h[0].Role.Name != exName || !h[0].From.IsZero() || !h[0].Until.Equal(s.Map().LoadedAt()) {
		t.Fatalf("history = %+v, want only the Exchange Administrator assignment", h)
	}
	if got := tagged(t, s, frank, t0.Add(10*time.Minute), s.Generation()); got != "privileged Exchange Administrator/active/direct" {
		t.Errorf("the ended activation is still there: %q", got)
	}
}

// Memory per principal stays flat under a long stream of changes.
func TestMemoryFlat(t *testing.T) {
	n := 40000
	if testing.Short() {
		n = 5000
	}
	s := testStage(t, Config{HistoryLimit: 16})
	act := activation(t, frank, t0, t0.Add(time.Minute))
	deact := record(t, "audit/pim_deactivate.json", frank, t0)
	grp := record(t, "audit/group_add_member.json", frank, t0)
	in := signIn(t, frank, t0)
	var heap [2]uint64
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		act.Time, deact.Time, grp.Time, in.Time = at, at.Add(30*time.Second), at, at.Add(10*time.Second)
		act.Audit.AdditionalDetails[4].Value = ts(at.Add(2 * time.Hour))
		s.Observe([]*entra.Record{act, grp, in, deact})
		switch i {
		case n / 5, n - 1:
			heap[min(i/(n/2), 1)] = heapInUse()
		}
	}
	p := s.byKey[frank.id]
	if len(p.changes) > 16 || len(s.plist) != 1 {
		t.Fatalf("%d changes, %d principals", len(p.changes), len(s.plist))
	}
	v, depth := p.cur.Load(), 0
	for ; v != nil; v = v.prev.Load() {
		depth++
		if len(v.segs) > 2*16+2 {
			t.Errorf("version of generation %d has %d segments", v.gen, len(v.segs))
		}
	}
	// The newest version, and those superseded in the last keepGenerations
	// generations (one per generation: every batch changes frank).
	if depth > keepGenerations+2 {
		t.Errorf("%d versions kept, at most %d", depth, keepGenerations+2)
	}
	if heap[1] > heap[0]+2<<20 {
		t.Errorf("heap grew from %d to %d bytes", heap[0], heap[1])
	}
	if got := tagged(t, s, frank, t0.Add(time.Duration(n-1)*time.Minute+20*time.Second), s.Generation()); !strings.HasPrefix(got, "privileged") {
		t.Errorf("newest activation: %q", got)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestIntervals(t *testing.T) {
	s := testStage(t, Config{})
	s.Observe([]*entra.Record{
		activation(t, alice, t0, t0.Add(time.Hour)),
		record(t, "audit/group_add_member.json", alice, t0.Add(30*time.Minute)),
	})
	got := s.History(alice.id, "")
	ga := entra.RoleHeld{Name: gaName, TemplateID: gaID, Assignment: "eligible", Via: "direct", Privileged: true}
	act := ga
	act.Assignment = "active"
	sec := entra.RoleHeld{Name: "Security Administrator", TemplateID: "194ae4cb-b126-40b2-bd5b-6091b380977d", Assignment: "active",
		Via: "group:" + tier0Group, Privileged: true}
	want := []Interval{{Role: ga}, {Role: act, From: t0, Until: t0.Add(time.Hour)}, {Role: sec, From: t0.Add(30 * time.Minute), Until: s.Map().LoadedAt()}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("intervals:\n got %+v\nwant %+v", got, want)
	}
	if s.History(frank.id, frank.upn) != nil {
		t.Error("frank has no history")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "role_map: a role map file is required"},
		{Config{StateFile: "state.yaml"}, ""},
		{Config{RoleMap: "x", HistoryLimit: -1}, "history_limit"},
		{Config{RoleMap: "x", HistoryRetention: -time.Hour}, "history_retention"},
		{Config{RoleMap: "x", ActivationLength: -time.Hour}, "activation_length"},
		{Config{RoleMap: "x", CacheSize: -1}, "cache_size"},
	} {
		err := c.cfg.Validate()
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := New(Config{RoleMap: "testdata/rolemap.yaml", HistoryLimit: -2}); err == nil {
		t.Error("New accepted a negative history_limit")
	}
}

// The first real map after a start with none (only emergency accounts,
// waiting for Graph's first read) answers for earlier records too: the
// placeholder is no evidence that anyone held nothing.
func TestFirstMapAfterPlaceholderAppliesToEarlierRecords(t *testing.T) {
	s, err := New(Config{EmergencyAccess: []string{"breakglass1@contoso.example"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := ParseMap("graph", []byte("users:\n  - {id: u-1, upn: adm_new@contoso.example, roles: [{name: Global Administrator}]}\n"), s.Roles(), []string{"breakglass1@contoso.example"})
	if err != nil {
		t.Fatal(err)
	}
	read := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	s.Swap(m.AsOf(read))
	rec := &entra.Record{Stream: entra.StreamSignIn, Time: read.Add(-72 * time.Hour), Actor: entra.Principal{ID: "u-1"}}
	s.Enrich(rec)
	if !rec.Actor.Privileged {
		t.Error("a sign-in three days before the first map was read is not tagged privileged")
	}
	// A second map is evidence: a user it drops is still privileged for
	// records before it.
	m2, _ := ParseMap("graph", []byte("users: []\n"), s.Roles(), nil)
	s.Swap(m2.AsOf(read.Add(time.Hour)))
	before := &entra.Record{Stream: entra.StreamSignIn, Time: read.Add(30 * time.Minute), Actor: entra.Principal{ID: "u-1"}}
	after := &entra.Record{Stream: entra.StreamSignIn, Time: read.Add(2 * time.Hour), Actor: entra.Principal{ID: "u-1"}}
	s.Enrich(before)
	s.Enrich(after)
	if !before.Actor.Privileged || after.Actor.Privileged {
		t.Errorf("after the role was removed: before %v, after %v; want true, false", before.Actor.Privileged, after.Actor.Privileged)
	}
}
