package workhours

import (
	"fmt"
	"strings"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/yamlfile"
)

// DefaultName is the schedule name reported for users covered by the
// file's default schedule.
const DefaultName = "default"

const minutesPerDay = 24 * 60

// dayBits has one bit per minute of a day.
type dayBits [(minutesPerDay + 63) / 64]uint64

func (b *dayBits) set(from, to int) {
	for m := from; m < to; m++ {
		b[m>>6] |= 1 << (m & 63)
	}
}

func (b *dayBits) has(m int) bool { return b[m>>6]&(1<<(m&63)) != 0 }

// Schedule is one compiled working-hours schedule.
type Schedule struct {
	name  string
	order int // position in the file: the first matching group schedule wins
	loc   *time.Location
	// own[d] are the minutes of weekday d covered by ranges that start on
	// d; tail[d] the minutes of d covered by overnight ranges that started
	// on the day before. Split so that a holiday removes a day's own
	// ranges and the tail that starts on it, not the tail that ends on it.
	own, tail [7]dayBits
	holidays  map[int64]struct{} // local dates as days since 1970-01-01
}

// Name is the schedule's name ("default" for the default schedule).
func (s *Schedule) Name() string { return s.name }

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Inside reports whether t falls inside the schedule, by the wall clock of
// the schedule's time zone.
func (s *Schedule) Inside(t time.Time) bool {
	_, off := t.In(s.loc).Zone()
	return s.inside(t.Unix() + int64(off))
}

// inside takes the local wall-clock time as seconds since 1970-01-01
// 00:00 local.
func (s *Schedule) inside(local int64) bool {
	day := local / 86400
	if local%86400 < 0 {
		day--
	}
	minute := int((local - day*86400) / 60)
	wd := int((day%7 + 7 + 4) % 7) // 1970-01-01 was a Thursday (time.Weekday 4)
	if s.own[wd].has(minute) && !s.holiday(day) {
		return true
	}
	return s.tail[wd].has(minute) && !s.holiday(day-1)
}

func (s *Schedule) holiday(day int64) bool {
	if len(s.holidays) == 0 {
		return false
	}
	_, ok := s.holidays[day]
	return ok
}

// Schedules is an immutable, compiled schedules file.
type Schedules struct {
	def     *Schedule
	named   []*Schedule
	byUser  map[string]*Schedule // lower-cased UPN or object ID
	byGroup map[string]*Schedule // lower-cased group object ID
}

// Len is the number of named schedules (the default not counted).
func (ss *Schedules) Len() int { return len(ss.named) }

// Default is the default schedule, or nil.
func (ss *Schedules) Default() *Schedule { return ss.def }

// Resolve finds the schedule of a user: one that lists the user's object
// ID or UPN, else the first (in file order) that lists a group one of its
// roles is held through ("group:<id>"), else the default; nil when none
// applies. byUser reports a match by ID or UPN, which does not depend on
// the roles.
func (ss *Schedules) Resolve(id, upn string, roles []entra.RoleHeld) (s *Schedule, byUser bool) {
	if len(ss.byUser) > 0 {
		for _, k := range [2]string{id, upn} {
			if k == "" {
				continue
			}
			if s := ss.byUser[strings.ToLower(k)]; s != nil { // no allocation when already lower case
				return s, true
			}
		}
	}
	var best *Schedule
	if len(ss.byGroup) > 0 {
		for i := range roles {
			g, ok := strings.CutPrefix(roles[i].Via, "group:")
			if !ok {
				continue
			}
			if s := ss.byGroup[strings.ToLower(g)]; s != nil && (best == nil || s.order < best.order) {
				best = s
			}
		}
	}
	if best == nil {
		best = ss.def
	}
	return best, false
}

// scheduleFile is the on-disk format (YAML or JSON).
type scheduleFile struct {
	Default   *defaultSpec `yaml:"default"`
	Schedules []namedSpec  `yaml:"schedules"`
}

type defaultSpec struct {
	TimeZone string   `yaml:"time_zone"`
	Days     []string `yaml:"days"`
	Hours    []string `yaml:"hours"`
	Holidays []string `yaml:"holidays"`
}

type namedSpec struct {
	Name     string   `yaml:"name"`
	TimeZone string   `yaml:"time_zone"`
	Days     []string `yaml:"days"`
	Hours    []string `yaml:"hours"`
	Holidays []string `yaml:"holidays"`
	Users    []string `yaml:"users"`
	Groups   []string `yaml:"groups"`
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Parse compiles a schedules document; file names it in errors, which
// carry the line and column of the offending key or value.
func Parse(file string, data []byte) (*Schedules, error) {
	var f scheduleFile
	if err := yamlfile.Decode(file, data, &f); err != nil {
		return nil, err
	}
	ss := &Schedules{byUser: map[string]*Schedule{}, byGroup: map[string]*Schedule{}}
	errAt := func(path, format string, args ...any) error {
		return yamlfile.ErrorAt(file, data, path, fmt.Sprintf(format, args...))
	}
	if d := f.Default; d != nil {
		s, err := compile(DefaultName, -1, "default", "$.default", d.TimeZone, d.Days, d.Hours, d.Holidays, errAt)
		if err != nil {
			return nil, err
		}
		ss.def = s
	}
	names := map[string]int{}
	userAt := map[string]int{}
	groupAt := map[string]int{}
	for i, n := range f.Schedules {
		key := fmt.Sprintf("schedules[%d]", i)
		path := "$." + key
		name := strings.TrimSpace(n.Name)
		switch {
		case name == "":
			return nil, errAt(path, "%s.name: a schedule name is required", key)
		case strings.EqualFold(name, DefaultName):
			return nil, errAt(path+".name", "%s.name: %q is reserved for the default schedule", key, n.Name)
		}
		if j, dup := names[name]; dup {
			return nil, errAt(path+".name", "%s.name: duplicate schedule name %q (also schedules[%d])", key, name, j)
		}
		names[name] = i
		s, err := compile(name, i, key, path, n.TimeZone, n.Days, n.Hours, n.Holidays, errAt)
		if err != nil {
			return nil, err
		}
		if len(n.Users) == 0 && len(n.Groups) == 0 {
			return nil, errAt(path, "%s: list users or groups the schedule applies to", key)
		}
		for j, u := range n.Users {
			u = strings.ToLower(strings.TrimSpace(u))
			if u == "" {
				return nil, errAt(fmt.Sprintf("%s.users[%d]", path, j), "%s.users[%d]: empty user", key, j)
			}
			if k, dup := userAt[u]; dup && k != i {
				return nil, errAt(fmt.Sprintf("%s.users[%d]", path, j), "%s.users[%d]: %s is already in schedule %q", key, j, n.Users[j], f.Schedules[k].Name)
			}
			userAt[u] = i
			ss.byUser[u] = s
		}
		for j, g := range n.Groups {
			g = strings.ToLower(strings.TrimSpace(g))
			g = strings.TrimPrefix(g, "group:")
			if g == "" {
				return nil, errAt(fmt.Sprintf("%s.groups[%d]", path, j), "%s.groups[%d]: empty group", key, j)
			}
			if k, dup := groupAt[g]; dup && k != i {
				return nil, errAt(fmt.Sprintf("%s.groups[%d]", path, j), "%s.groups[%d]: %s is already in schedule %q", key, j, n.Groups[j], f.Schedules[k].Name)
			}
			groupAt[g] = i
			ss.byGroup[g] = s
		}
		ss.named = append(ss.named, s)
	}
	return ss, nil
}

func compile(name string, order int, key, path, zone string, days, hours, holidays []string,
	errAt func(path, format string, args ...any) error) (*Schedule, error) {
	s := &Schedule{name: name, order: order}
	if strings.TrimSpace(zone) == "" {
		return nil, errAt(path, "%s.time_zone: an IANA time zone (e.g. Europe/Berlin, UTC) is required", key)
	}
	loc, err := time.LoadLocation(strings.TrimSpace(zone))
	if err != nil {
		return nil, errAt(path+".time_zone", "%s.time_zone: %q is not a known IANA time zone", key, zone)
	}
	s.loc = loc
	if len(days) == 0 {
		return nil, errAt(path, "%s.days: at least one day (mon..sun) is required", key)
	}
	var listed [7]bool
	for j, d := range days {
		wd, ok := weekdays[strings.ToLower(strings.TrimSpace(d))]
		if !ok {
			return nil, errAt(fmt.Sprintf("%s.days[%d]", path, j), "%s.days[%d]: %q is not one of mon, tue, wed, thu, fri, sat, sun", key, j, d)
		}
		listed[wd] = true
	}
	if len(hours) == 0 {
		return nil, errAt(path, "%s.hours: at least one range is required (00:00-24:00 for the whole day)", key)
	}
	for j, h := range hours {
		start, end, err := parseRange(h)
		if err != "" {
			return nil, errAt(fmt.Sprintf("%s.hours[%d]", path, j), "%s.hours[%d]: %q %s", key, j, h, err)
		}
		for wd := range 7 {
			if !listed[wd] {
				continue
			}
			if start < end {
				s.own[wd].set(start, end)
				continue
			}
			// Overnight: the shift that starts on wd runs into the next day.
			s.own[wd].set(start, minutesPerDay)
			s.tail[(wd+1)%7].set(0, end)
		}
	}
	for j, h := range holidays {
		t, err := time.Parse(time.DateOnly, strings.TrimSpace(h))
		if err != nil {
			return nil, errAt(fmt.Sprintf("%s.holidays[%d]", path, j), "%s.holidays[%d]: %q is not a date YYYY-MM-DD", key, j, h)
		}
		if s.holidays == nil {
			s.holidays = map[int64]struct{}{}
		}
		s.holidays[t.Unix()/86400] = struct{}{}
	}
	return s, nil
}

// parseRange parses "HH:MM-HH:MM" into minutes of the day; the end is
// exclusive and may be 24:00; an end before the start is an overnight range.
func parseRange(r string) (start, end int, problem string) {
	a, b, ok := strings.Cut(strings.TrimSpace(r), "-")
	if !ok {
		return 0, 0, "is not a range HH:MM-HH:MM"
	}
	start, ok1 := parseClock(strings.TrimSpace(a))
	end, ok2 := parseClock(strings.TrimSpace(b))
	switch {
	case !ok1 || !ok2:
		return 0, 0, "is not a range HH:MM-HH:MM with times from 00:00 to 24:00"
	case start == end:
		return 0, 0, "starts and ends at the same time (00:00-24:00 is the whole day)"
	case start == minutesPerDay && end == 0:
		return 0, 0, "covers no time"
	}
	return start, end, ""
}

func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || h == 24 && m != 0 {
		return 0, false
	}
	return h*60 + m, true
}
