package workhours

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
)

const (
	alice   = "adm_alice@contoso.example"            // emea-admins by UPN
	aliceID = "55555555-5555-5555-5555-555555555555" // emea-admins by ID
	ops     = "adm_ops@contoso.example"              // us-ops-night
	oncall  = "oncall@contoso.example"               // weekend-oncall
	carol   = "carol@contoso.example"                // no schedule: default

	emeaGroup  = "99999999-9999-9999-9999-999999999999"
	nightGroup = "88888888-8888-8888-8888-888888888888"
	apacGroup  = "77777777-7777-7777-7777-777777777777"
)

func newStage(t testing.TB, cfg Config) *Stage {
	t.Helper()
	if cfg.Schedules == "" {
		cfg.Schedules = "testdata/schedules.yaml"
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// at parses an RFC 3339 time; records carry UTC.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func userRec(upn string, tm time.Time, groups ...string) *entra.Record {
	rec := &entra.Record{Stream: entra.StreamSignIn, Time: tm, Actor: entra.Principal{Type: "user", UPN: upn}}
	for _, g := range groups {
		rec.Actor.Roles = append(rec.Actor.Roles, entra.RoleHeld{Name: "Security Administrator", Assignment: "active", Via: "group:" + g})
	}
	return rec
}

type tcase struct {
	name   string
	upn    string
	groups []string
	utc    string // event time as logged (UTC)
	inside bool
	local  string // expected LocalTime; checks the offset too
	sched  string // expected schedule, default: the table's
}

func runCases(t *testing.T, s *Stage, sched string, tests []tcase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := userRec(tt.upn, at(t, tt.utc), tt.groups...)
			s.Enrich(rec)
			w := rec.Context.WorkHours
			if w == nil {
				t.Fatal("WorkHours is nil")
			}
			want := sched
			if tt.sched != "" {
				want = tt.sched
			}
			if w.Inside != tt.inside || w.Schedule != want || tt.local != "" && w.LocalTime != tt.local {
				t.Errorf("got inside=%v local=%s schedule=%s, want inside=%v local=%s schedule=%s",
					w.Inside, w.LocalTime, w.Schedule, tt.inside, tt.local, want)
			}
		})
	}
}

func TestWeekdaySchedule(t *testing.T) {
	s := newStage(t, Config{})
	// emea-admins: Europe/Berlin, mon-fri 07:00-12:30 and 13:00-19:00;
	// 2026-03-02 is a Monday (CET, +01:00).
	runCases(t, s, "emea-admins", []tcase{
		{name: "Monday morning", upn: alice, utc: "2026-03-02T08:00:00Z", inside: true, local: "2026-03-02T09:00:00+01:00"},
		{name: "Monday evening, the brief's example", upn: alice, utc: "2026-03-02T21:14:00Z", inside: false, local: "2026-03-02T22:14:00+01:00"},
		{name: "start is inclusive", upn: alice, utc: "2026-03-02T06:00:00Z", inside: true, local: "2026-03-02T07:00:00+01:00"},
		{name: "a second before the start", upn: alice, utc: "2026-03-02T05:59:59Z", inside: false, local: "2026-03-02T06:59:59+01:00"},
		{name: "end is exclusive", upn: alice, utc: "2026-03-02T11:30:00Z", inside: false, local: "2026-03-02T12:30:00+01:00"},
		{name: "last minute of the morning range", upn: alice, utc: "2026-03-02T11:29:59Z", inside: true},
		{name: "lunch gap", upn: alice, utc: "2026-03-02T11:45:00Z", inside: false},
		{name: "second range", upn: alice, utc: "2026-03-02T12:00:00Z", inside: true, local: "2026-03-02T13:00:00+01:00"},
		{name: "19:00 ends the day", upn: alice, utc: "2026-03-02T18:00:00Z", inside: false},
		{name: "UPN in another case", upn: "ADM_Alice@Contoso.Example", utc: "2026-03-02T08:00:00Z", inside: true},
		{name: "Saturday", upn: alice, utc: "2026-03-07T10:00:00Z", inside: false, local: "2026-03-07T11:00:00+01:00"},
		{name: "Sunday", upn: alice, utc: "2026-03-08T10:00:00Z", inside: false},
		{name: "Friday before Christmas Day", upn: alice, utc: "2026-12-24T09:00:00Z", inside: true, local: "2026-12-24T10:00:00+01:00"},
		{name: "holiday (Christmas Day, a Friday)", upn: alice, utc: "2026-12-25T09:00:00Z", inside: false, local: "2026-12-25T10:00:00+01:00"},
		{name: "holiday is a local date: 23:30Z on the 24th is already the 25th in Berlin", upn: alice, utc: "2026-12-24T23:30:00Z", inside: false, local: "2026-12-25T00:30:00+01:00"},
	})
	// default: UTC mon-fri 08:00-18:00, LocalTime with +00:00.
	runCases(t, s, "default", []tcase{
		{name: "default inside", upn: carol, utc: "2026-03-02T08:00:00Z", inside: true, local: "2026-03-02T08:00:00+00:00"},
		{name: "default outside", upn: carol, utc: "2026-03-02T18:00:00Z", inside: false, local: "2026-03-02T18:00:00+00:00"},
		{name: "default weekend", upn: carol, utc: "2026-03-01T12:00:00Z", inside: false},
	})
}

func TestOvernightShift(t *testing.T) {
	s := newStage(t, Config{})
	// us-ops-night: America/New_York, sun-thu 22:00-06:00, holiday
	// 2026-01-07 (a Wednesday). January: EST, -05:00. 2026-01-04 is a Sunday.
	runCases(t, s, "us-ops-night", []tcase{
		{name: "Sunday 23:00", upn: ops, utc: "2026-01-05T04:00:00Z", inside: true, local: "2026-01-04T23:00:00-05:00"},
		{name: "Sunday 22:00 starts the shift", upn: ops, utc: "2026-01-05T03:00:00Z", inside: true, local: "2026-01-04T22:00:00-05:00"},
		{name: "Sunday 21:59", upn: ops, utc: "2026-01-05T02:59:00Z", inside: false},
		{name: "Monday 02:00, Sunday's shift", upn: ops, utc: "2026-01-05T07:00:00Z", inside: true, local: "2026-01-05T02:00:00-05:00"},
		{name: "Monday 05:59", upn: ops, utc: "2026-01-05T10:59:00Z", inside: true, local: "2026-01-05T05:59:00-05:00"},
		{name: "Monday 06:00", upn: ops, utc: "2026-01-05T11:00:00Z", inside: false, local: "2026-01-05T06:00:00-05:00"},
		{name: "Monday noon", upn: ops, utc: "2026-01-05T17:00:00Z", inside: false},
		{name: "Thursday 23:00", upn: ops, utc: "2026-01-09T04:00:00Z", inside: true, local: "2026-01-08T23:00:00-05:00"},
		{name: "Friday 02:00, Thursday's shift", upn: ops, utc: "2026-01-09T07:00:00Z", inside: true, local: "2026-01-09T02:00:00-05:00"},
		{name: "Friday 23:00", upn: ops, utc: "2026-01-10T04:00:00Z", inside: false, local: "2026-01-09T23:00:00-05:00"},
		{name: "Saturday 02:00", upn: ops, utc: "2026-01-10T07:00:00Z", inside: false},
		{name: "Sunday 02:00 (Saturday not listed)", upn: ops, utc: "2026-01-04T07:00:00Z", inside: false},
		{name: "holiday Wednesday 02:00: Tuesday's shift still counts", upn: ops, utc: "2026-01-07T07:00:00Z", inside: true, local: "2026-01-07T02:00:00-05:00"},
		{name: "holiday Wednesday 23:00", upn: ops, utc: "2026-01-08T04:00:00Z", inside: false, local: "2026-01-07T23:00:00-05:00"},
		{name: "Thursday 02:00: the shift that starts on the holiday is off", upn: ops, utc: "2026-01-08T07:00:00Z", inside: false, local: "2026-01-08T02:00:00-05:00"},
		{name: "Thursday 22:00 after the holiday", upn: ops, utc: "2026-01-09T03:00:00Z", inside: true},
	})
}

func TestDST(t *testing.T) {
	s := newStage(t, Config{})
	t.Run("Europe/Berlin", func(t *testing.T) {
		// 2026-03-29 (Sunday) 02:00 CET -> 03:00 CEST; 2026-10-25 (Sunday)
		// 03:00 CEST -> 02:00 CET. emea-admins starts at 07:00 local.
		runCases(t, s, "emea-admins", []tcase{
			{name: "Friday before, CET: 07:00 is 06:00Z", upn: alice, utc: "2026-03-27T06:00:00Z", inside: true, local: "2026-03-27T07:00:00+01:00"},
			{name: "Friday before, CET: 05:59Z is 06:59", upn: alice, utc: "2026-03-27T05:59:00Z", inside: false, local: "2026-03-27T06:59:00+01:00"},
			{name: "Sunday 01:30Z, before the jump", upn: alice, utc: "2026-03-29T00:30:00Z", inside: false, local: "2026-03-29T01:30:00+01:00"},
			{name: "Sunday 01:00Z, the jump: 03:00 CEST", upn: alice, utc: "2026-03-29T01:00:00Z", inside: false, local: "2026-03-29T03:00:00+02:00"},
			{name: "Monday after, CEST: 07:00 is 05:00Z", upn: alice, utc: "2026-03-30T05:00:00Z", inside: true, local: "2026-03-30T07:00:00+02:00"},
			{name: "Monday after, CEST: 05:30Z is 07:30 (CET would say 06:30)", upn: alice, utc: "2026-03-30T05:30:00Z", inside: true, local: "2026-03-30T07:30:00+02:00"},
			{name: "Monday after, CEST: 04:59Z is 06:59", upn: alice, utc: "2026-03-30T04:59:00Z", inside: false, local: "2026-03-30T06:59:00+02:00"},
			{name: "Monday after, CEST: 17:00Z is 19:00", upn: alice, utc: "2026-03-30T17:00:00Z", inside: false, local: "2026-03-30T19:00:00+02:00"},
			{name: "Friday before fall-back, CEST: 07:00 is 05:00Z", upn: alice, utc: "2026-10-23T05:00:00Z", inside: true, local: "2026-10-23T07:00:00+02:00"},
			{name: "Sunday 02:30 the first time (CEST)", upn: alice, utc: "2026-10-25T00:30:00Z", inside: false, local: "2026-10-25T02:30:00+02:00"},
			{name: "Sunday 02:30 the second time (CET)", upn: alice, utc: "2026-10-25T01:30:00Z", inside: false, local: "2026-10-25T02:30:00+01:00"},
			{name: "Monday after, CET: 07:00 is 06:00Z", upn: alice, utc: "2026-10-26T06:00:00Z", inside: true, local: "2026-10-26T07:00:00+01:00"},
			{name: "Monday after, CET: 05:30Z is 06:30 (CEST would say 07:30)", upn: alice, utc: "2026-10-26T05:30:00Z", inside: false, local: "2026-10-26T06:30:00+01:00"},
			{name: "Monday after, CET: 17:59Z is 18:59", upn: alice, utc: "2026-10-26T17:59:00Z", inside: true, local: "2026-10-26T18:59:00+01:00"},
		})
	})
	t.Run("America/New_York", func(t *testing.T) {
		// 2026-03-08 (Sunday) 02:00 EST -> 03:00 EDT; 2026-11-01 (Sunday)
		// 02:00 EDT -> 01:00 EST. weekend-oncall: sat 22:00-06:00, so its
		// shift spans both transitions; us-ops-night: sun-thu 22:00-06:00.
		runCases(t, s, "weekend-oncall", []tcase{
			{name: "Saturday 22:00 EST", upn: oncall, utc: "2026-03-08T03:00:00Z", inside: true, local: "2026-03-07T22:00:00-05:00"},
			{name: "Sunday 01:59 EST", upn: oncall, utc: "2026-03-08T06:59:00Z", inside: true, local: "2026-03-08T01:59:00-05:00"},
			{name: "Sunday 03:00 EDT, right after the jump", upn: oncall, utc: "2026-03-08T07:00:00Z", inside: true, local: "2026-03-08T03:00:00-04:00"},
			{name: "Sunday 05:59 EDT", upn: oncall, utc: "2026-03-08T09:59:00Z", inside: true, local: "2026-03-08T05:59:00-04:00"},
			{name: "Sunday 06:00 EDT ends the shift (EST would say 05:00)", upn: oncall, utc: "2026-03-08T10:00:00Z", inside: false, local: "2026-03-08T06:00:00-04:00"},
			{name: "Saturday 22:00 EDT", upn: oncall, utc: "2026-11-01T02:00:00Z", inside: true, local: "2026-10-31T22:00:00-04:00"},
			{name: "Sunday 01:30 EDT, the first time", upn: oncall, utc: "2026-11-01T05:30:00Z", inside: true, local: "2026-11-01T01:30:00-04:00"},
			{name: "Sunday 01:30 EST, the second time", upn: oncall, utc: "2026-11-01T06:30:00Z", inside: true, local: "2026-11-01T01:30:00-05:00"},
			{name: "Sunday 05:30 EST (EDT would say 06:30)", upn: oncall, utc: "2026-11-01T10:30:00Z", inside: true, local: "2026-11-01T05:30:00-05:00"},
			{name: "Sunday 06:00 EST", upn: oncall, utc: "2026-11-01T11:00:00Z", inside: false, local: "2026-11-01T06:00:00-05:00"},
		})
		runCases(t, s, "us-ops-night", []tcase{
			{name: "Thursday before, EST: 22:00 is 03:00Z", upn: ops, utc: "2026-03-06T03:00:00Z", inside: true, local: "2026-03-05T22:00:00-05:00"},
			{name: "DST Sunday 22:00 EDT is 02:00Z", upn: ops, utc: "2026-03-09T02:00:00Z", inside: true, local: "2026-03-08T22:00:00-04:00"},
			{name: "DST Sunday 21:59 EDT (EST would say 20:59)", upn: ops, utc: "2026-03-09T01:59:00Z", inside: false, local: "2026-03-08T21:59:00-04:00"},
			{name: "Monday 05:59 EDT", upn: ops, utc: "2026-03-09T09:59:00Z", inside: true, local: "2026-03-09T05:59:00-04:00"},
			{name: "Monday 06:00 EDT (EST would say 05:00)", upn: ops, utc: "2026-03-09T10:00:00Z", inside: false, local: "2026-03-09T06:00:00-04:00"},
			{name: "fall-back Sunday 21:59 EST (EDT would say 22:59)", upn: ops, utc: "2026-11-02T02:59:00Z", inside: false, local: "2026-11-01T21:59:00-05:00"},
			{name: "fall-back Sunday 22:00 EST", upn: ops, utc: "2026-11-02T03:00:00Z", inside: true, local: "2026-11-01T22:00:00-05:00"},
		})
	})
}

func TestResolution(t *testing.T) {
	s := newStage(t, Config{})
	monday := "2026-03-02T08:00:00Z"
	tests := []struct {
		name   string
		id     string
		upn    string
		groups []string
		want   string // "" = no work-hours context
	}{
		{name: "user by UPN", upn: alice, want: "emea-admins"},
		{name: "user by object ID", id: aliceID, upn: "renamed@contoso.example", want: "emea-admins"},
		{name: "object ID in upper case", id: strings.ToUpper(aliceID), want: "emea-admins"},
		{name: "per-user beats per-group", upn: ops, groups: []string{emeaGroup}, want: "us-ops-night"},
		{name: "group via role", upn: carol, groups: []string{emeaGroup}, want: "emea-admins"},
		{name: "group listed as group:<id>, matched in any case", upn: carol, groups: []string{strings.ToUpper(nightGroup)}, want: "us-ops-night"},
		{name: "two groups: the schedule first in the file wins", upn: carol, groups: []string{apacGroup, nightGroup}, want: "us-ops-night"},
		{name: "per-group beats default", upn: carol, groups: []string{apacGroup}, want: "apac-admins"},
		{name: "unlisted group: default", upn: carol, groups: []string{"66666666-6666-6666-6666-666666666666"}, want: "default"},
		{name: "no schedule: default", upn: carol, want: "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for pass := range 2 { // the second pass is served from the cache
				rec := userRec(tt.upn, at(t, monday), tt.groups...)
				rec.Actor.ID = tt.id
				s.Enrich(rec)
				got := ""
				if rec.Context.WorkHours != nil {
					got = rec.Context.WorkHours.Schedule
				}
				if got != tt.want {
					t.Fatalf("pass %d: schedule = %q, want %q", pass, got, tt.want)
				}
			}
		})
	}
}

func TestNoContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.yaml")
	doc := "schedules:\n  - name: emea\n    time_zone: Europe/Berlin\n    days: [mon]\n    hours: [\"07:00-19:00\"]\n    users: [" + alice + "]\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	noDefault := newStage(t, Config{Schedules: path})
	withDefault := newStage(t, Config{})
	tm := at(t, "2026-03-02T08:00:00Z")
	tests := []struct {
		name string
		s    *Stage
		rec  *entra.Record
	}{
		{"no schedule and no default", noDefault, userRec(carol, tm, emeaGroup)},
		{"service principal", withDefault, &entra.Record{Stream: entra.StreamSignIn, Time: tm, Actor: entra.Principal{Type: "servicePrincipal", ID: "app"}}},
		{"actor without type (an application in an audit record)", withDefault, &entra.Record{Stream: entra.StreamAudit, Time: tm}},
		{"no event time", withDefault, userRec(alice, time.Time{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.Enrich(tt.rec)
			if w := tt.rec.Context.WorkHours; w != nil {
				t.Errorf("WorkHours = %+v, want nil", *w)
			}
		})
	}
	// Every stream of user activity gets it when the actor is a user; a
	// directory record (the time of a scan) never does.
	for _, st := range entra.Streams {
		rec := userRec(alice, tm)
		rec.Stream = st
		noDefault.Enrich(rec)
		if st == entra.StreamDirectory {
			if rec.Context.WorkHours != nil {
				t.Errorf("directory record got working hours %+v", *rec.Context.WorkHours)
			}
			continue
		}
		if rec.Context.WorkHours == nil || !rec.Context.WorkHours.Inside {
			t.Errorf("%s: WorkHours = %+v", st, rec.Context.WorkHours)
		}
	}
}

func TestCacheFollowsRoles(t *testing.T) {
	s := newStage(t, Config{CacheSize: 8})
	tm := at(t, "2026-03-02T08:00:00Z")
	// The same user, first with a group role, then (role map swapped by
	// the privilege stage) without it, then with another group.
	for i, step := range []struct {
		groups []string
		want   string
	}{{[]string{emeaGroup}, "emea-admins"}, {nil, "default"}, {[]string{apacGroup}, "apac-admins"}, {[]string{apacGroup}, "apac-admins"}} {
		rec := userRec(carol, tm, step.groups...)
		s.Enrich(rec)
		if got := rec.Context.WorkHours.Schedule; got != step.want {
			t.Errorf("step %d: schedule = %q, want %q", i, got, step.want)
		}
	}
	// A bounded cache: many users, still right.
	for i := range 100 {
		rec := userRec("user"+string(rune('a'+i%26))+"@x", tm)
		if i%2 == 0 {
			rec.Actor.Roles = []entra.RoleHeld{{Via: "group:" + emeaGroup}}
		}
		s.Enrich(rec)
		want := map[bool]string{true: "emea-admins", false: "default"}[i%2 == 0]
		if got := rec.Context.WorkHours.Schedule; got != want {
			t.Fatalf("user %d: schedule = %q, want %q", i, got, want)
		}
	}
}

func TestBadFiles(t *testing.T) {
	sched := func(fields string) string {
		return "schedules:\n  - name: x\n" + fields + "    users: [a@b]\n"
	}
	const zone, days, hours = "    time_zone: UTC\n", "    days: [mon]\n", "    hours: [\"08:00-18:00\"]\n"
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"bad zone", sched("    time_zone: Europe/Atlantis\n" + days + hours),
			[]string{"s.yaml:3:16: ", `schedules[0].time_zone: "Europe/Atlantis" is not a known IANA time zone`, ">  3 |     time_zone: Europe/Atlantis"}},
		{"bad day", sched(zone + "    days: [mon, tues]\n" + hours),
			[]string{"s.yaml:4:17: ", `schedules[0].days[1]: "tues" is not one of mon`}},
		{"bad hours", sched(zone + days + "    hours: [\"08:00-12:00\", \"25:00-26:00\"]\n"),
			[]string{"s.yaml:5:28: ", `schedules[0].hours[1]: "25:00-26:00" is not a range HH:MM-HH:MM`}},
		{"start == end", sched(zone + days + "    hours: [\"08:00-08:00\"]\n"),
			[]string{"s.yaml:5:13: ", `"08:00-08:00" starts and ends at the same time`}},
		{"24:30", sched(zone + days + "    hours: [\"20:00-24:30\"]\n"), []string{"s.yaml:5:", "is not a range"}},
		{"minutes 60", sched(zone + days + "    hours: [\"08:60-12:00\"]\n"), []string{"s.yaml:5:", "is not a range"}},
		{"no dash", sched(zone + days + "    hours: [\"08:00\"]\n"), []string{"s.yaml:5:", "is not a range"}},
		{"bad holiday", sched(zone + days + hours + "    holidays: [2026-02-30]\n"),
			[]string{"s.yaml:6:", `schedules[0].holidays[0]: "2026-02-30" is not a date YYYY-MM-DD`}},
		{"unknown schedule field", sched(zone + days + hours + "    timezone: UTC\n"),
			[]string{"s.yaml:6:5: ", `unknown field "timezone"`}},
		{"users in the default", "default:\n  time_zone: UTC\n  days: [mon]\n  hours: [\"08:00-18:00\"]\n  users: [a@b]\n",
			[]string{"s.yaml:5:3: ", `unknown field "users"`}},
		{"bad zone in the default", "default:\n  time_zone: Mars/Olympus\n  days: [mon]\n  hours: [\"08:00-18:00\"]\n",
			[]string{"s.yaml:2:14: ", `default.time_zone: "Mars/Olympus"`}},
		{"missing time zone", sched(days + hours), []string{"s.yaml:2:", "schedules[0].time_zone: an IANA time zone"}},
		{"no days", sched(zone + hours), []string{"s.yaml:2:", "schedules[0].days: at least one day"}},
		{"no hours", sched(zone + days), []string{"s.yaml:2:", "schedules[0].hours: at least one range"}},
		{"no name", "schedules:\n  - time_zone: UTC\n    days: [mon]\n    hours: [\"08:00-18:00\"]\n    users: [a@b]\n",
			[]string{"s.yaml:2:", "schedules[0].name: a schedule name is required"}},
		{"reserved name", "schedules:\n  - name: Default\n" + zone + days + hours + "    users: [a@b]\n",
			[]string{"s.yaml:2:11: ", `"Default" is reserved`}},
		{"nobody", "schedules:\n  - name: x\n" + zone + days + hours, []string{"s.yaml:2:", "list users or groups"}},
		{"user in two schedules", sched(zone+days+hours) + "  - name: y\n" + zone + days + hours + "    users: [A@B]\n",
			[]string{"s.yaml:11:13: ", `schedules[1].users[0]: A@B is already in schedule "x"`}},
		{"duplicate name", sched(zone+days+hours) + "  - name: x\n" + zone + days + hours + "    users: [c@d]\n",
			[]string{"s.yaml:7:11: ", `duplicate schedule name "x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.yaml")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := New(Config{Schedules: path}, nil)
			if err == nil {
				t.Fatalf("no error for\n%s", tt.doc)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestRanges(t *testing.T) {
	tests := []struct {
		in         string
		start, end int
		bad        bool
	}{
		{in: "00:00-24:00", start: 0, end: 1440},
		{in: "22:00-06:00", start: 1320, end: 360},
		{in: " 07:00 - 12:30 ", start: 420, end: 750},
		{in: "24:00-06:00", start: 1440, end: 360},
		{in: "24:00-00:00", bad: true},
		{in: "25:00-26:00", bad: true},
		{in: "7:00-12:00", bad: true},
		{in: "08:00-08:00", bad: true},
		{in: "ab:cd-ef:gh", bad: true},
	}
	for _, tt := range tests {
		start, end, problem := parseRange(tt.in)
		if (problem != "") != tt.bad || !tt.bad && (start != tt.start || end != tt.end) {
			t.Errorf("parseRange(%q) = %d, %d, %q", tt.in, start, end, problem)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{{Config{}, "schedules:"}, {Config{Schedules: "x", CacheSize: -1}, "cache_size:"}, {Config{Schedules: "x"}, ""}} {
		err := tt.cfg.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want prefix %q", tt.cfg, err, tt.want)
		}
	}
}

func TestEnrichConcurrent(t *testing.T) {
	s := newStage(t, Config{CacheSize: 16})
	tm := at(t, "2026-03-02T08:00:00Z")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				upn, want := carol, "default"
				switch (i + g) % 3 {
				case 1:
					upn, want = alice, "emea-admins"
				case 2:
					upn, want = "u"+string(rune('a'+i%26))+"@x", "default"
				}
				rec := userRec(upn, tm)
				s.Enrich(rec)
				if rec.Context.WorkHours == nil || rec.Context.WorkHours.Schedule != want {
					t.Errorf("%s: %+v, want %s", upn, rec.Context.WorkHours, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestEnrichAllocs(t *testing.T) {
	s := newStage(t, Config{})
	rec := userRec(alice, at(t, "2026-03-02T08:00:00Z"), emeaGroup)
	if n := testing.AllocsPerRun(100, func() { s.Enrich(rec) }); n > 2 {
		t.Errorf("%v allocations per record on a cache hit, want at most 2 (WorkHours and LocalTime)", n)
	}
}

func BenchmarkEnrich(b *testing.B) {
	s := newStage(b, Config{})
	for _, bc := range []struct {
		name   string
		upn    string
		groups []string
	}{
		{"user_schedule", alice, nil},
		{"group_schedule", carol, []string{apacGroup, nightGroup}},
		{"default", "User.Name@Contoso.Example", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rec := userRec(bc.upn, at(b, "2026-03-02T21:14:00Z"), bc.groups...)
			rec.Actor.ID = "5a5a5a5a-0000-0000-0000-000000000000"
			b.ReportAllocs()
			for b.Loop() {
				s.Enrich(rec)
			}
		})
	}
}

func BenchmarkEnrichParallel(b *testing.B) {
	s := newStage(b, Config{})
	tm := at(b, "2026-03-02T21:14:00Z")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		recs := []*entra.Record{userRec(alice, tm), userRec(carol, tm, apacGroup), userRec(ops, tm), userRec("x@y", tm)}
		i := 0
		for pb.Next() {
			s.Enrich(recs[i&3])
			i++
		}
	})
}
