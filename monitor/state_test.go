package monitor

import (
	"encoding/binary"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/store"
	"github.com/privtrail/privtrail/internal/yamlfile"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// stateRig runs one stateful monitor over records against a real store.
type stateRig struct {
	t   testing.TB
	e   *Engine
	dir string
	st  *store.Store
	s   *State
	ev  *Evaluator
	opt StateOptions
}

func newRig(t testing.TB, monitorYAML string, opt ...StateOptions) *stateRig {
	t.Helper()
	var d Definition
	if err := yamlfile.Decode("test.yaml", []byte(monitorYAML), &d); err != nil {
		t.Fatal(err)
	}
	r := &stateRig{t: t, e: compileOne(t, d), dir: t.TempDir()}
	if len(opt) > 0 {
		r.opt = opt[0]
	}
	if r.opt.Now == nil {
		// The host's clock: a year after t0, so that every record of the
		// tests is in its past, whatever the date they run on.
		r.opt.Now = func() time.Time { return t0.AddDate(1, 0, 0) }
	}
	r.open()
	t.Cleanup(func() { r.st.Close() })
	return r
}

func (r *stateRig) open() {
	r.t.Helper()
	st, err := store.Open(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	r.st = st
	if r.s, err = r.e.OpenState(st, "test", r.opt); err != nil {
		r.t.Fatal(err)
	}
	r.ev = r.e.NewEvaluator()
}

// restart closes the store and opens it again, as a new process would.
func (r *stateRig) restart() {
	r.t.Helper()
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

// run evaluates recs as one batch and returns the reasons of the hits, by
// record ID.
func (r *stateRig) run(recs ...*entra.Record) map[string]string {
	r.t.Helper()
	for _, rec := range recs {
		rec.Hits = nil
		r.ev.Eval(rec)
	}
	if _, err := r.s.Apply(r.ev.TakeObservations()); err != nil {
		r.t.Fatal(err)
	}
	out := map[string]string{}
	for _, rec := range recs {
		for _, h := range rec.Hits {
			out[rec.ID] = h.Reason
		}
	}
	return out
}

// each runs recs one batch each and returns the IDs that got hits.
func (r *stateRig) each(recs ...*entra.Record) []string {
	var ids []string
	for _, rec := range recs {
		for id := range r.run(rec) {
			ids = append(ids, id)
		}
	}
	return ids
}

func failure(id, user string, at time.Duration) *entra.Record {
	return &entra.Record{Stream: entra.StreamSignIn, ID: id, Time: t0.Add(at),
		Actor:  entra.Principal{ID: user, UPN: user + "@contoso.example", Privileged: true, IP: "203.0.113.9"},
		SignIn: entra.SignIn{ErrorCode: 50126, IPAddress: "203.0.113.9"}}
}

// burst is n failures of user, one every step from start.
func burst(prefix, user string, start, step time.Duration, n int) []*entra.Record {
	var out []*entra.Record
	for i := range n {
		out = append(out, failure(fmt.Sprintf("%s%03d", prefix, i), user, start+time.Duration(i)*step))
	}
	return out
}

const badPasswords = `
id: test.bad_password
title: bad passwords
risk: high
source: signin
when: actor.privileged && signin.errorCode == 50126
reason: [actor.upn]
threshold: {count: 5, window: 10m}
`

func TestThreshold(t *testing.T) {
	m := time.Minute
	reverse := func(r []*entra.Record) []*entra.Record { r = slices.Clone(r); slices.Reverse(r); return r }
	cases := []struct {
		name string
		recs []*entra.Record
		want []string
	}{
		{"five within the window fire on the fifth", burst("a", "u1", 0, m, 5), []string{"a004"}},
		{"four do not", burst("a", "u1", 0, m, 4), nil},
		{"five spread over more than the window do not", burst("a", "u1", 0, 151*time.Second, 5), nil},
		{"the window's edge is inclusive", burst("a", "u1", 0, 150*time.Second, 5), []string{"a004"}},
		{"500 failures in 10 minutes give one alert", burst("a", "u1", 0, time.Second, 500), []string{"a004"}},
		{"a steady burst gives one alert per window", burst("a", "u1", 0, 30*time.Second, 50), []string{"a004", "a024", "a044"}},
		{"two users' failures do not add up", append(burst("a", "u1", 0, m, 3), burst("b", "u2", 0, m, 3)...), nil},
		{"newest first (a Graph export) gives one alert", reverse(burst("a", "u1", 0, m, 7)), []string{"a002"}},
		{"a late record completes a window in the past", append(append(burst("a", "u1", 0, m, 4), failure("x", "u1", 30*m)), failure("late", "u1", 4*m)), []string{"late"}},
		{"a late record beyond the kept history is not counted", append(append(burst("a", "u1", 0, m, 4), failure("x", "u1", 8*24*time.Hour)), failure("late", "u1", 4*m)), nil},
		{"a burst longer than the records kept still gives one alert per window", burst("a", "u1", 0, time.Second, 2000), []string{"a004", "a604", "a1204", "a1804"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, badPasswords)
			if got := r.each(c.recs...); !slices.Equal(got, c.want) {
				t.Errorf("hits on %v, want %v", got, c.want)
			}
		})
	}
}

func TestThresholdReasonAndNearMissFilter(t *testing.T) {
	r := newRig(t, badPasswords)
	recs := burst("a", "u1", 0, time.Minute, 5)
	recs[2].SignIn.ErrorCode = 50053 // not a bad password: not counted
	recs[3].Actor.Privileged = false // not privileged: not counted
	if got := r.each(recs...); got != nil {
		t.Fatalf("hits on %v; two of five records do not pass the filter", got)
	}
	more := burst("b", "u1", 5*time.Minute, time.Minute, 2)
	got := r.run(more...)
	if want := "upn=u1@contoso.example count=5 threshold=5 window=10m"; got["b001"] != want {
		t.Errorf("reason %q, want %q", got["b001"], want)
	}
}

func TestThresholdDistinct(t *testing.T) {
	r := newRig(t, `
id: test.spray
title: spray
risk: high
source: signin
when: signin.errorCode == 50126
threshold: {by: signin.ipAddress, count: 3, window: 10m, distinct: actor.upn}
`)
	same := burst("a", "u1", 0, time.Minute, 5) // one user five times
	if got := r.each(same...); got != nil {
		t.Fatalf("one user's failures counted as distinct: %v", got)
	}
	spray := []*entra.Record{failure("s1", "u2", 6*time.Minute), failure("s2", "u3", 7*time.Minute)}
	if got := r.each(spray...); !slices.Equal(got, []string{"s2"}) {
		t.Errorf("hits on %v, want the third distinct user s2", got)
	}
}

// A record read again after a restart (its batch was never acknowledged)
// is judged as the first time: the alert comes again on the same record,
// nothing is counted twice.
func TestThresholdRereadAndRestart(t *testing.T) {
	recs := burst("a", "u1", 0, time.Minute, 8)
	for cut := 1; cut < len(recs); cut++ {
		t.Run(fmt.Sprintf("restart after %d", cut), func(t *testing.T) {
			r := newRig(t, badPasswords)
			first := r.each(recs[:cut]...)
			r.restart()
			// The last batch before the crash was not acknowledged: it is
			// read again, then the rest.
			again := r.each(recs[cut-1:]...)
			all := map[string]bool{}
			for _, id := range append(first, again...) {
				all[id] = true
			}
			if len(all) != 1 || !all["a004"] {
				t.Errorf("alerts on %v then %v; want exactly one, on a004", first, again)
			}
		})
	}
}

const newDevice = `
id: test.new_device
title: new device
risk: high
source: signin
when: actor.privileged && signin.status == "success"
reason: [actor.upn]
first_seen:
  values: ["device=signin.deviceDetail.deviceId", "location=signin.location.countryOrRegion"]
  learning: 1d
  forget: 30d
`

func signin(id, user, device, country string, at time.Duration) *entra.Record {
	return &entra.Record{Stream: entra.StreamSignIn, ID: id, Time: t0.Add(at),
		Actor: entra.Principal{ID: user, UPN: user + "@contoso.example", Privileged: true},
		SignIn: entra.SignIn{Status: "success", Device: entra.DeviceDetail{DeviceID: device},
			Location: entra.Location{Country: country}}}
}

func TestFirstSeen(t *testing.T) {
	h, d := time.Hour, 24*time.Hour
	cases := []struct {
		name string
		recs []*entra.Record
		want []string
	}{
		{"learning: nothing fires in the first day", []*entra.Record{
			signin("a", "u1", "dev1", "DE", 0), signin("b", "u1", "dev2", "FR", 20*h)}, nil},
		{"a new device after learning fires", []*entra.Record{
			signin("a", "u1", "dev1", "DE", 0), signin("b", "u1", "dev1", "DE", 2*d), signin("c", "u1", "dev9", "DE", 2*d+h)}, []string{"c"}},
		{"a new country alone fires", []*entra.Record{
			signin("a", "u1", "dev1", "DE", 0), signin("c", "u1", "dev1", "BR", 2*d)}, []string{"c"}},
		{"known values do not fire", []*entra.Record{
			signin("a", "u1", "dev1", "DE", 0), signin("b", "u1", "dev2", "FR", h), signin("c", "u1", "dev2", "DE", 3*d)}, nil},
		{"an empty device ID is no value", []*entra.Record{
			signin("a", "u1", "dev1", "DE", 0), signin("c", "u1", "", "DE", 3*d)}, nil},
		{"one user's device is new for another", []*entra.Record{
			signin("a", "u1", "dev1", "DE", 0), signin("b", "u2", "dev2", "DE", h), signin("c", "u2", "dev1", "DE", 3*d)}, []string{"c"}},
		{"a value not seen for the forget period is new again", []*entra.Record{
			signin("a", "u1", "dev1", "DE", 0), signin("b", "u1", "dev2", "DE", 40*d), signin("c", "u1", "dev1", "DE", 41*d)}, []string{"b", "c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, newDevice)
			if got := r.each(c.recs...); !slices.Equal(got, c.want) {
				t.Errorf("hits on %v, want %v", got, c.want)
			}
		})
	}
}

func TestFirstSeenReasonRereadAndRestart(t *testing.T) {
	r := newRig(t, newDevice)
	r.each(signin("a", "u1", "dev1", "DE", 0))
	r.restart()
	got := r.run(signin("c", "u1", "dev 2", "BR", 48*time.Hour))
	if want := `upn=u1@contoso.example new_device="dev 2" new_location=BR`; got["c"] != want {
		t.Errorf("reason %q, want %q", got["c"], want)
	}
	r.restart()
	if again := r.run(signin("c", "u1", "dev 2", "BR", 48*time.Hour)); again["c"] != got["c"] {
		t.Errorf("read again: %q, want the same hit %q", again["c"], got["c"])
	}
	if later := r.run(signin("d", "u1", "dev 2", "BR", 49*time.Hour)); len(later) != 0 {
		t.Errorf("a later record with the same values fired: %v", later)
	}
}

func TestFirstSeenMaxValues(t *testing.T) {
	r := newRig(t, strings.Replace(newDevice, "forget: 30d", "forget: 30d\n  max_values: 3", 1))
	for i := range 10 {
		r.each(signin(fmt.Sprint("a", i), "u1", fmt.Sprint("dev", i), "DE", time.Duration(i)*time.Minute))
	}
	ks, err := r.s.load(r.s.order[0], "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.events) != 3 {
		t.Errorf("%d values kept, want max_values 3", len(ks.events))
	}
}

const accountCreated = `
id: test.created
title: created then made admin
risk: medium
source: audit
when: audit.activityDisplayName in ["Add member to role", "Delete user"]
reason: [audit.activityDisplayName]
correlate:
  by: TargetUser()
  within: 1h
  with:
    source: audit
    when: audit.activityDisplayName == "Add user"
    by: TargetUser()
    label: created
    reason: ["by=actor.upn"]
`

func audit(id, activity, target string, at time.Duration) *entra.Record {
	return &entra.Record{Stream: entra.StreamAudit, ID: id, Time: t0.Add(at),
		Actor: entra.Principal{ID: "admin", UPN: "adm@contoso.example"},
		Audit: entra.Audit{ActivityDisplayName: activity, Result: "success",
			Targets: []entra.Target{{Principal: entra.Principal{ID: target, Type: "User"}}}}}
}

func TestCorrelateSequence(t *testing.T) {
	m := time.Minute
	cases := []struct {
		name string
		recs []*entra.Record
		want []string
	}{
		{"created then made admin within the hour", []*entra.Record{
			audit("a", "Add user", "t1", 0), audit("b", "Add member to role", "t1", 21*m)}, []string{"b"}},
		{"created then deleted", []*entra.Record{
			audit("a", "Add user", "t1", 0), audit("b", "Delete user", "t1", 35*m)}, []string{"b"}},
		{"made admin 61 minutes later", []*entra.Record{
			audit("a", "Add user", "t1", 0), audit("b", "Add member to role", "t1", 61*m)}, nil},
		{"another user made admin", []*entra.Record{
			audit("a", "Add user", "t1", 0), audit("b", "Add member to role", "t2", 5*m)}, nil},
		{"made admin before being created (event time)", []*entra.Record{
			audit("b", "Add member to role", "t1", 0), audit("a", "Add user", "t1", 5*m)}, nil},
		{"read newest first: the creation completes the pair", []*entra.Record{
			audit("b", "Add member to role", "t1", 21*m), audit("a", "Add user", "t1", 0)}, []string{"a"}},
		{"created, then two role assignments: both fire", []*entra.Record{
			audit("a", "Add user", "t1", 0), audit("b", "Add member to role", "t1", 5*m), audit("c", "Add member to role", "t1", 6*m)}, []string{"b", "c"}},
		{"the creation alone does not fire", []*entra.Record{audit("a", "Add user", "t1", 0)}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, accountCreated)
			if got := r.each(c.recs...); !slices.Equal(got, c.want) {
				t.Errorf("hits on %v, want %v", got, c.want)
			}
		})
	}
}

func TestCorrelateReasonAndRestart(t *testing.T) {
	r := newRig(t, accountCreated)
	r.run(audit("a", "Add user", "t1", 0))
	r.restart()
	got := r.run(audit("b", "Add member to role", "t1", 21*time.Minute))
	want := `activityDisplayName="Add member to role" created="by=adm@contoso.example" created_id=a gap=21m0s within=1h`
	if got["b"] != want {
		t.Errorf("reason\n %q, want\n %q", got["b"], want)
	}
	r.restart()
	if again := r.run(audit("b", "Add member to role", "t1", 21*time.Minute)); again["b"] != want {
		t.Errorf("read again: %q", again["b"])
	}
}

const elevationNotPAW = `
id: test.elevation_not_paw
title: elevation from a non-PAW
risk: high
source: audit
when: audit.activityDisplayName == "Add member to role completed (PIM activation)"
reason: ["user=actor.upn"]
correlate:
  within: 2h
  order: any
  with:
    source: signin
    when: actor.privileged && ctx.device != nil && !ctx.device.paw
    label: signin
    reason: ["device=ctx.device.id"]
`

func TestCorrelateAnyOrderAcrossStreams(t *testing.T) {
	m := time.Minute
	activation := func(id, user string, at time.Duration) *entra.Record {
		rec := audit(id, "Add member to role completed (PIM activation)", "role", at)
		rec.Actor = entra.Principal{ID: user, UPN: user + "@contoso.example"}
		return rec
	}
	laptop := func(id, user string, at time.Duration, paw bool) *entra.Record {
		rec := signin(id, user, "dev", "DE", at)
		rec.Context.Device = &entra.Device{ID: "laptop-" + user, PAW: paw}
		return rec
	}
	cases := []struct {
		name string
		recs []*entra.Record
		want []string
	}{
		{"sign-in from a laptop, then the activation", []*entra.Record{laptop("s", "u1", 0, false), activation("a", "u1", 4*m)}, []string{"a"}},
		{"the activation read before the sign-in", []*entra.Record{activation("a", "u1", 4*m), laptop("s", "u1", 0, false)}, []string{"s"}},
		{"sign-in shortly after the activation", []*entra.Record{activation("a", "u1", 0), laptop("s", "u1", 10*m, false)}, []string{"s"}},
		{"sign-in from a PAW", []*entra.Record{laptop("s", "u1", 0, true), activation("a", "u1", 4*m)}, nil},
		{"another user's laptop", []*entra.Record{laptop("s", "u2", 0, false), activation("a", "u1", 4*m)}, nil},
		{"three hours apart", []*entra.Record{laptop("s", "u1", 0, false), activation("a", "u1", 3*time.Hour)}, nil},
		{"one activation, two laptop sign-ins afterwards: one alert", []*entra.Record{
			activation("a", "u1", 0), laptop("s1", "u1", 5*m, false), laptop("s2", "u1", 6*m, false)}, []string{"s1"}},
		{"one sign-in, two activations: both fire", []*entra.Record{
			laptop("s", "u1", 0, false), activation("a1", "u1", 5*m), activation("a2", "u1", 50*m)}, []string{"a1", "a2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, elevationNotPAW)
			if got := r.each(c.recs...); !slices.Equal(got, c.want) {
				t.Errorf("hits on %v, want %v", got, c.want)
			}
		})
	}
}

// The same records in the same order from empty state give the same
// annotations, however they are cut into batches.
func TestStateDeterministic(t *testing.T) {
	var recs []*entra.Record
	for i := range 300 {
		u := fmt.Sprint("u", i%7)
		recs = append(recs, failure(fmt.Sprint("r", i), u, time.Duration(i*i%997)*time.Second))
	}
	run := func(batch int) string {
		r := newRig(t, badPasswords)
		var b strings.Builder
		for i := 0; i < len(recs); i += batch {
			got := r.run(recs[i:min(i+batch, len(recs))]...)
			for _, rec := range recs[i:min(i+batch, len(recs))] {
				if h, ok := got[rec.ID]; ok {
					fmt.Fprintf(&b, "%s %s\n", rec.ID, h)
				}
			}
		}
		return b.String()
	}
	one := run(1)
	if one == "" {
		t.Fatal("no hits at all: the test proves nothing")
	}
	for _, n := range []int{7, 64, 300} {
		if got := run(n); got != one {
			t.Errorf("batches of %d:\n%s\nbatches of 1:\n%s", n, got, one)
		}
	}
}

func TestStateExpiryAndCap(t *testing.T) {
	r := newRig(t, badPasswords, StateOptions{CacheKeys: 16, MaxKeys: 200})
	ms := r.s.order[0]
	// 1,000 users fail once each, one a second.
	for i := range 1000 {
		r.run(failure(fmt.Sprint("r", i), fmt.Sprint("u", i), time.Duration(i)*time.Second))
	}
	if n := ms.keys.Load(); n > 200+sweepPerApply*8 {
		t.Errorf("%d keys after 1,000 with a cap of 200", n)
	}
	// Eight days later (past the default lateness) every old key has expired.
	for i := range 50 {
		r.run(failure(fmt.Sprint("late", i), "someone", 8*24*time.Hour+time.Duration(i)*time.Second))
	}
	stored := 0
	if err := r.st.ForEach(ms.bucket, func(k, v []byte) error { stored++; return nil }); err != nil {
		t.Fatal(err)
	}
	if stored != 1 || ms.keys.Load() != 1 {
		t.Errorf("%d keys stored (counted %d) a day later, want only the fresh one", stored, ms.keys.Load())
	}
	r.restart()
	if n := r.s.Keys()["test.bad_password"]; n != 1 {
		t.Errorf("key count after a restart %d, want 1", n)
	}
}

// Memory stays flat however many distinct keys there are: the cache is
// bounded and the rest lives in the store.
func TestStateMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200,000 keys")
	}
	r := newRig(t, badPasswords, StateOptions{CacheKeys: 1000})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	feed := func(from, to int) {
		for i := from; i < to; i += 1000 {
			recs := make([]*entra.Record, 0, 1000)
			for j := i; j < i+1000; j++ {
				recs = append(recs, failure(fmt.Sprint("r", j), fmt.Sprint("user-", j), time.Duration(j)*time.Millisecond))
			}
			r.run(recs...)
		}
	}
	feed(0, 20_000)
	before := heap()
	feed(20_000, 200_000)
	after := heap()
	if after > before+8<<20 {
		t.Errorf("heap grew from %d MB to %d MB over 180,000 more keys", before>>20, after>>20)
	}
	if n := r.s.Keys()["test.bad_password"]; n != 200_000 {
		t.Errorf("%d keys, want 200,000 (all within retention)", n)
	}
}

// Keys that each hold many events are bounded by memory, not by their
// count: 2,000 users with 60 failures each (64 kept per key) take about
// 20 MB decoded, which a 2 MiB cache_memory keeps to the bound while the
// judgement stays what a cache holding everything gives.
func TestStateCacheBoundedByMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("judges 240,000 records")
	}
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	run := func(limit int64) (hits string, grew int64) {
		r := newRig(t, badPasswords, StateOptions{CacheBytes: limit})
		var b strings.Builder
		var before int64
		// Round after round, each user fails once more, a minute apart:
		// every key grows to the 64 events a threshold of 5 keeps.
		for round := range 60 {
			if round == 2 {
				before = heap()
			}
			recs := make([]*entra.Record, 0, 2000)
			for u := range 2000 {
				recs = append(recs, failure(fmt.Sprintf("r%d-%d", round, u), fmt.Sprint("user-", u), time.Duration(round)*time.Minute+time.Duration(u)*time.Millisecond))
			}
			got := r.run(recs...)
			for _, rec := range recs {
				if h, ok := got[rec.ID]; ok {
					fmt.Fprintf(&b, "%s %s\n", rec.ID, h)
				}
			}
			var cached int64
			for _, ms := range r.s.order {
				cached += ms.cacheBytes
			}
			if cached > limit {
				t.Fatalf("round %d: %d bytes of keys cached, bound %d", round, cached, limit)
			}
		}
		grew = heap() - before
		runtime.KeepAlive(r)
		return b.String(), grew
	}
	all, allGrew := run(1 << 30)
	bounded, boundedGrew := run(2 << 20)
	if all == "" {
		t.Fatal("no hits at all: the test proves nothing")
	}
	if bounded != all {
		t.Errorf("hits with a 2 MiB cache differ from a cache holding every key")
	}
	if allGrew < 10<<20 {
		t.Errorf("a cache holding every key grew the heap by only %d MB: the keys are too small to test the bound", allGrew>>20)
	}
	if boundedGrew > 6<<20 {
		t.Errorf("with cache_memory 2 MiB the heap grew by %d MB (a cache holding every key: %d MB)", boundedGrew>>20, allGrew>>20)
	}
	t.Logf("heap growth over 58 rounds: %d MB holding every key, %d MB with a 2 MiB bound", allGrew>>20, boundedGrew>>20)
}

// footprint is the memory a decoded key takes, within a quarter: the
// cache's bound means what it says.
func TestKeyFootprintIsHonest(t *testing.T) {
	var ev []event
	for i := range 40 {
		ev = append(ev, event{t: int64(i), id: fmt.Sprintf("Directory_%08x_%d", i, i), v: fmt.Sprintf("by=u%d@contoso.com target=u%d@contoso.com", i, i+7)})
	}
	raw := (&keyState{last: 40, events: ev}).encode(nil)
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	keys := make([]*keyState, 2000)
	before := heap()
	for i := range keys {
		keys[i] = &keyState{}
		if err := keys[i].decode(raw); err != nil {
			t.Fatal(err)
		}
	}
	real := heap() - before
	estimated := int64(len(keys) * keys[0].footprint())
	if real < estimated*3/4 || real > estimated*5/4 {
		t.Errorf("2,000 decoded keys take %d bytes, footprint says %d", real, estimated)
	}
	runtime.KeepAlive(keys)
}

// Judging several batches before one Flush (a group commit) stores
// exactly what a Flush after every batch stores, and fires the same hits:
// with keys expiring all along (a lateness of an hour over records ten
// days long), a cache of two keys, and new keys that the cache lets go
// before they are judged.
func TestGroupCommitStoresWhatApplyStores(t *testing.T) {
	e := compileYAML(t, badPasswords, newDevice)
	var batches [][]*entra.Record
	for b := range 60 {
		var recs []*entra.Record
		for i := range 40 {
			n := b*40 + i
			user := fmt.Sprintf("user%02d", (n*7)%53)
			at := time.Duration(n) * 6 * time.Minute
			recs = append(recs, failure(fmt.Sprint("f", n), user, at),
				signin(fmt.Sprint("s", n), user, fmt.Sprintf("dev-%d", n%11), []string{"DE", "FR"}[n%2], at))
		}
		batches = append(batches, recs)
	}
	run := func(group int) (string, map[string]string) {
		r := &stateRig{t: t, e: e, dir: t.TempDir(), opt: StateOptions{CacheKeys: 2, Lateness: time.Hour,
			Now: func() time.Time { return t0.AddDate(1, 0, 0) }}}
		r.open()
		defer r.st.Close()
		var hits strings.Builder
		for i, recs := range batches {
			for _, rec := range recs {
				rec.Hits = nil
				r.ev.Eval(rec)
			}
			if _, err := r.s.Judge(r.ev.TakeObservations()); err != nil {
				t.Fatal(err)
			}
			if (i+1)%group == 0 || i == len(batches)-1 {
				if err := r.s.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			for _, rec := range recs {
				for _, h := range rec.Hits {
					fmt.Fprintf(&hits, "%s %s %s\n", rec.ID, h.ID, h.Reason)
				}
			}
		}
		stored := map[string]string{}
		for _, ms := range r.s.order {
			if err := r.st.ForEach(ms.bucket, func(k, v []byte) error {
				stored[ms.bucket+"/"+string(k)] = string(v)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			meta, err := r.st.Get(metaBucket, ms.bucket)
			if err != nil {
				t.Fatal(err)
			}
			stored["meta/"+ms.bucket] = string(meta)
			m, _ := decodeMeta(meta)
			if n := int64(len(stored)); m.keys < 0 || n < m.keys {
				t.Errorf("group %d: %s counts %d keys", group, ms.m.ID, m.keys)
			}
		}
		return hits.String(), stored
	}
	oneHits, oneStored := run(1)
	if oneHits == "" {
		t.Fatal("no hits at all: the test proves nothing")
	}
	for _, group := range []int{2, 3, 7, 60} {
		hits, stored := run(group)
		if hits != oneHits {
			t.Errorf("groups of %d fired differently", group)
		}
		if !maps.Equal(stored, oneStored) {
			for k, v := range oneStored {
				if stored[k] != v {
					t.Errorf("groups of %d: %q = %x, a Flush per batch stored %x", group, k, stored[k], v)
					break
				}
			}
			t.Errorf("groups of %d: %d entries stored, a Flush per batch %d", group, len(stored), len(oneStored))
		}
	}
	// Keys did expire: the sweep was part of it.
	const users = 53
	if n := len(oneStored) - 2; n >= 2*users {
		t.Errorf("%d keys stored of %d users in two monitors: none expired", n, users)
	}
}

// A key that no record made before counts once, however small the cache:
// prefetch reads a batch's keys, and a cache of one key lets them go
// before they are judged.
func TestNewKeysCountOnce(t *testing.T) {
	r := newRig(t, badPasswords, StateOptions{CacheKeys: 1})
	var recs []*entra.Record
	for u := range 10 {
		recs = append(recs, failure(fmt.Sprint("r", u), fmt.Sprint("user", u), time.Duration(u)*time.Second))
	}
	r.run(recs...)
	if n := r.s.Keys()["test.bad_password"]; n != 10 {
		t.Errorf("%d keys counted for 10 users", n)
	}
}

func TestStatefulCompileErrors(t *testing.T) {
	base := "id: x.y\ntitle: t\nrisk: high\nsource: signin\nwhen: true\n"
	cases := map[string]string{
		"threshold: {count: 0, window: 10m}":                                       "threshold.count",
		"threshold: {count: 5}":                                                    "threshold.window is required",
		"threshold: {count: 5, window: 10m, distinct: 'nope('}":                    "threshold.distinct",
		"first_seen: {learning: 1d}":                                               "first_seen.values",
		"correlate: {within: 1h, with: {source: nope, when: true}}":                "correlate.with.source",
		"correlate: {with: {source: audit, when: true}}":                           "correlate.within is required",
		"correlate: {within: 1h, order: later, with: {source: audit, when: true}}": "correlate.order",
		"threshold: {count: 5, window: 10m}\nfirst_seen: {values: [a=actor.id]}":   "one of threshold, first_seen and correlate",
		"threshold: {count: 5, window: 10m, by: 'actor.'}":                         "by:",
	}
	for extra, want := range cases {
		var d Definition
		if err := yamlfile.Decode("test.yaml", []byte(base+extra), &d); err != nil {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: decode error %v, want %q", extra, err, want)
			}
			continue
		}
		d.file = "test.yaml"
		_, err := Compile([]Definition{d}, nil, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", extra, err, want)
		}
	}
}

func TestDurationText(t *testing.T) {
	for in, want := range map[string]time.Duration{"10m": 10 * time.Minute, "1h30m": 90 * time.Minute, "7d": 7 * 24 * time.Hour, "0.5d": 12 * time.Hour, "0s": 0} {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); err != nil || time.Duration(d) != want {
			t.Errorf("%s: %v %v, want %v", in, time.Duration(d), err, want)
		}
	}
	for _, bad := range []string{"", "7", "-1h", "xd", "-2d"} {
		var d Duration
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for d, want := range map[Duration]string{Duration(10 * time.Minute): "10m", Duration(2 * time.Hour): "2h", Duration(7 * 24 * time.Hour): "7d", Duration(90 * time.Second): "1m30s"} {
		if d.String() != want {
			t.Errorf("%v: %q, want %q", time.Duration(d), d.String(), want)
		}
	}
}

// compileYAML compiles the monitors given as YAML into one engine.
func compileYAML(t *testing.T, monitors ...string) *Engine {
	t.Helper()
	var defs []Definition
	for _, y := range monitors {
		var d Definition
		if err := yamlfile.Decode("test.yaml", []byte(y), &d); err != nil {
			t.Fatal(err)
		}
		d.file = "test.yaml"
		defs = append(defs, d)
	}
	e, err := Compile(defs, testStage(t).Roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// manyEvents is a correlation's key of n "Add user" events, as the shared
// perf data makes them.
func manyEvents(n int) *keyState {
	ks := &keyState{last: int64(n) * 50}
	for i := range n {
		ks.events = append(ks.events, event{t: int64(i) * 50, id: fmt.Sprintf("Directory_%08x_%d", i*977, i*977), v: fmt.Sprintf("by=u%d@contoso.com target=u4711@contoso.com", i*31%10000), flag: flagWith})
	}
	return ks
}

// Entries with a body worth it are stored compressed and decode to the
// same key; entries of earlier builds (version 1, never compressed) still
// decode, and the sweep reads the newest time of both.
func TestStateEntriesCompressed(t *testing.T) {
	ks := manyEvents(40)
	plain := appendEvents(appendEvents(binary.AppendVarint([]byte{stateVersion}, ks.last), ks.events), ks.alerts)
	packed := ks.encode(nil)
	if packed[0] != stateCompressed || len(packed) > len(plain)/2 {
		t.Errorf("40 events: version %d, %d bytes (plain %d), want compressed to at most half", packed[0], len(packed), len(plain))
	}
	for name, b := range map[string][]byte{"compressed": packed, "version 1": plain} {
		var got keyState
		if err := got.decode(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(*ks) {
			t.Errorf("%s: decoded %v, want %v", name, got, *ks)
		}
		if last, err := lastOf(b); err != nil || last != ks.last {
			t.Errorf("%s: lastOf = %d, %v", name, last, err)
		}
	}
	small := (&keyState{last: 7, events: []event{{t: 7, id: "r1"}}}).encode(nil)
	if small[0] != stateVersion {
		t.Errorf("a one-event key is stored as version %d, want 1 (too small to gain)", small[0])
	}
}

func FuzzStateDecode(f *testing.F) {
	ks := keyState{last: 5, events: []event{{t: 1, id: "a", v: "x=1", flag: flagFired, n: 5, pid: "p"}, {t: -2}}, alerts: []event{{t: 3, id: "a", n: 5}}}
	f.Add(ks.encode(nil))
	f.Add(manyEvents(40).encode(nil)) // compressed
	f.Add([]byte{stateVersion})
	f.Add([]byte{stateCompressed, 2, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ks keyState
		if ks.decode(b) != nil {
			return
		}
		var again keyState
		if err := again.decode(ks.encode(nil)); err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if fmt.Sprint(again) != fmt.Sprint(ks) {
			t.Fatalf("round trip changed the entry: %v -> %v", ks, again)
		}
		if last, err := lastOf(b); err != nil || last != ks.last {
			t.Fatalf("lastOf = %d, %v; decode says %d", last, err, ks.last)
		}
	})
}

// One batch changes hundreds of keys of two monitors: every entry the
// store holds, read from the file after a restart (no cache in between),
// is exactly the key's state as encoded, and InspectState finds none
// unreadable.
func TestBatchOfManyKeysIsStoredAsEncoded(t *testing.T) {
	e := compileYAML(t, badPasswords, newDevice)
	r := &stateRig{t: t, e: e, dir: t.TempDir()}
	r.open()
	t.Cleanup(func() { r.st.Close() })
	const users = 300
	var recs []*entra.Record
	for u := range users {
		user := fmt.Sprintf("user%03d", u)
		recs = append(recs, failure("f-"+user, user, time.Duration(u)*time.Second),
			signin("s-"+user, user, fmt.Sprintf("dev-%d", u%17), []string{"DE", "FR", "BR"}[u%3], time.Duration(u)*time.Second))
	}
	r.run(recs...)

	want := map[string]map[string][]byte{}
	for _, ms := range r.s.order {
		want[ms.bucket] = map[string][]byte{}
		for _, k := range ms.cache.Keys() {
			ks, _ := ms.cache.Peek(k)
			want[ms.bucket][k] = ks.encode(nil)
		}
		if len(want[ms.bucket]) != users {
			t.Fatalf("%s: %d keys in memory, want %d", ms.m.ID, len(want[ms.bucket]), users)
		}
	}
	r.restart()
	for bucket, keys := range want {
		n := 0
		err := r.st.ForEach(bucket, func(k, v []byte) error {
			n++
			if w := keys[string(k)]; string(v) != string(w) {
				t.Errorf("%s %s: stored %x, encoded %x", bucket, k, v, w)
			}
			return nil
		})
		if err != nil || n != users {
			t.Fatalf("%s: %d keys stored (%v), want %d", bucket, n, err, users)
		}
	}
	if err := r.st.View(func(rd *store.Reader) error {
		states, err := InspectState(rd)
		if err != nil {
			return err
		}
		if len(states) != 2 {
			t.Errorf("InspectState found %d monitors, want 2", len(states))
		}
		for _, s := range states {
			if s.Pipeline != "test" || s.Entries != users || s.Unreadable != 0 {
				t.Errorf("InspectState: %+v, want %d readable entries of pipeline test", s, users)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// An entry that does not decode is started afresh, counted per monitor,
// and found by InspectState.
func TestUnreadableEntryIsCountedAndInspected(t *testing.T) {
	r := newRig(t, badPasswords)
	r.run(failure("a", "u1", 0))
	bucket := r.s.order[0].bucket
	if err := r.st.Put(bucket, "u1", []byte{stateVersion, 0x80}); err != nil {
		t.Fatal(err)
	}
	if err := r.st.View(func(rd *store.Reader) error {
		states, err := InspectState(rd)
		if len(states) != 1 || states[0].Entries != 1 || states[0].Unreadable != 1 {
			t.Errorf("InspectState = %+v, %v; want 1 entry, 1 unreadable", states, err)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r.restart()
	r.run(failure("b", "u1", time.Second))
	if got := r.s.Unreadable()["test.bad_password"]; got != 1 {
		t.Errorf("Unreadable = %d, want 1", got)
	}
}

// A 40 KB user (a hostile record) is beyond the store's key limit: its
// key is bounded, the state is stored, and two such users stay apart.
func TestLongKeysAreBoundedAndStayDistinct(t *testing.T) {
	r := newRig(t, badPasswords)
	long := strings.Repeat("x", 40<<10)
	var recs []*entra.Record
	for i := range 5 {
		recs = append(recs, failure(fmt.Sprintf("a%d", i), long+"a", time.Duration(i)*time.Second),
			failure(fmt.Sprintf("b%d", i), long+"b", time.Duration(i)*time.Second))
	}
	hits := r.run(recs...)
	if len(hits) != 2 || hits["a4"] == "" || hits["b4"] == "" {
		t.Fatalf("hits %v, want one per user, on the fifth", hits)
	}
	n := 0
	err := r.st.ForEach(r.s.order[0].bucket, func(k, _ []byte) error {
		n++
		if len(k) > maxKeyBytes {
			t.Errorf("a stored key of %d bytes", len(k))
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("%d keys stored (%v), want 2", n, err)
	}
}
