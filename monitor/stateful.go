package monitor

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/yamlfile"
)

// A stateful monitor is a filter (when) plus one operator that judges the
// records the filter let through against what came before, per key. The
// three operators borrow from CrowdSec's leaky buckets (groupby, distinct,
// a capacity over a leak period) and Sigma's correlation rules
// (event_count, value_count, temporal): a SIEM engineer reads
//
//	threshold: {by: actor.id, count: 5, window: 10m}
//
// as "5 matching records for one user within 10 minutes". Time is always
// the records' event time, never the time they arrived.

// Threshold fires when Count records of one key fall within Window. After a
// hit the key is quiet for Cooldown (default: Window), so a burst of 500
// failures gives one alert per window, not 496.
type Threshold struct {
	By       string   `yaml:"by"`
	Count    int      `yaml:"count"`
	Window   Duration `yaml:"window"`
	Cooldown Duration `yaml:"cooldown"`
	// Distinct, when set, counts distinct values of this expression
	// instead of records (a password spray: distinct users per IP).
	Distinct string `yaml:"distinct"`
}

// FirstSeen fires when one of Values was never seen before for the key.
// During Learning, counted from the monitor's first record, it only
// learns; a value not seen for Forget is forgotten.
type FirstSeen struct {
	By string `yaml:"by"`
	// Values are labelled expressions ("device=signin.deviceDetail.deviceId");
	// an empty result is no value.
	Values    []string  `yaml:"values"`
	Learning  *Duration `yaml:"learning"` // nil: none
	Forget    Duration  `yaml:"forget"`
	MaxValues int       `yaml:"max_values"`
}

// Correlate pairs the monitor's records with records of another filter
// (With) of the same key within Within. With Order "sequence" (the
// default) the With record must come first in event time (a user created,
// then made admin); with "any" either may (a PIM activation and the
// sign-in it came from). Whichever record completes a pair carries the
// hit, so records arriving out of order still pair.
type Correlate struct {
	By     string   `yaml:"by"`
	Within Duration `yaml:"within"`
	Order  string   `yaml:"order"`
	With   struct {
		Source string   `yaml:"source"`
		When   string   `yaml:"when"`
		By     string   `yaml:"by"`
		Label  string   `yaml:"label"`
		Reason []string `yaml:"reason"`
	} `yaml:"with"`
}

// Duration is a time.Duration written as Go writes it (90s, 10m, 1h30m) or
// in days (7d, 90d), the unit retention periods come in.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler: the config's
// durations and the pipelines' read alike (yamlfile.ParseDuration).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := yamlfile.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// String writes d in the largest whole unit, as reasons show it.
func (d Duration) String() string {
	v := time.Duration(d)
	switch {
	case v >= 24*time.Hour && v%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	case v >= time.Hour && v%time.Hour == 0:
		return strconv.FormatInt(int64(v/time.Hour), 10) + "h"
	case v >= time.Minute && v%time.Minute == 0:
		return strconv.FormatInt(int64(v/time.Minute), 10) + "m"
	}
	return v.String()
}

// kind is the operator of a stateful monitor.
type kind uint8

const (
	stateless kind = iota
	opThreshold
	opFirstSeen
	opCorrelate
)

// side is one filter feeding a stateful monitor: the monitor's own, or
// the With filter of a correlation.
type side struct {
	m    *Monitor
	with bool
	filter
	by     *vm.Program // nil: the actor
	values []reasonField
}

// compileStateful checks the operator of d, if any, and fills in m's
// sides; where names the monitor in errors.
func compileStateful(d *Definition, m *Monitor, where string) error {
	n := 0
	for _, set := range []bool{d.Threshold != nil, d.FirstSeen != nil, d.Correlate != nil} {
		if set {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if n > 1 {
		return fmt.Errorf("%s: a monitor has one of threshold, first_seen and correlate", where)
	}
	main := &side{m: m, filter: m.filter}
	var by string
	var err error
	switch {
	case d.Threshold != nil:
		m.op, by = opThreshold, d.Threshold.By
		main.values, err = thresholdValues(d.Threshold, where)
	case d.FirstSeen != nil:
		m.op, by = opFirstSeen, d.FirstSeen.By
		main.values, err = firstSeenValues(d.FirstSeen, where)
	case d.Correlate != nil:
		m.op, by = opCorrelate, d.Correlate.By
		var other *side
		if other, err = correlateSide(d.Correlate, m, where); err == nil {
			m.sides = append(m.sides, other)
		}
	}
	if err != nil {
		return err
	}
	if by != "" {
		if main.by, err = compile(by); err != nil {
			return fmt.Errorf("%s: by: %w", where, err)
		}
	}
	m.sides = append([]*side{main}, m.sides...)
	return nil
}

// thresholdValues checks a threshold and compiles what it counts per key:
// records (nil), or the distinct values of an expression.
func thresholdValues(t *Threshold, where string) ([]reasonField, error) {
	if t.Count < 1 {
		return nil, fmt.Errorf("%s: threshold.count: must be at least 1, got %d", where, t.Count)
	}
	if t.Window <= 0 {
		return nil, fmt.Errorf("%s: threshold.window is required (e.g. 10m)", where)
	}
	if t.Distinct == "" {
		return nil, nil
	}
	p, err := compile(t.Distinct)
	if err != nil {
		return nil, fmt.Errorf("%s: threshold.distinct: %w", where, err)
	}
	return []reasonField{{label: "distinct", prog: p}}, nil
}

// firstSeenValues checks a first_seen and compiles the values it learns.
func firstSeenValues(f *FirstSeen, where string) ([]reasonField, error) {
	if len(f.Values) == 0 {
		return nil, fmt.Errorf("%s: first_seen.values: name at least one value (e.g. device=signin.deviceDetail.deviceId)", where)
	}
	if f.MaxValues < 0 {
		return nil, fmt.Errorf("%s: first_seen.max_values: must not be negative", where)
	}
	return compileLabelled(f.Values, where+": first_seen.values")
}

// correlateSide checks a correlation and compiles its with filter, the
// monitor's second side.
func correlateSide(c *Correlate, m *Monitor, where string) (*side, error) {
	if err := checkCorrelate(c, where); err != nil {
		return nil, err
	}
	w := &c.With
	other := &side{m: m, with: true}
	if err := other.compileWhen(w.When, m.Params); err != nil {
		return nil, fmt.Errorf("%s: correlate.with.when: %w", where, err)
	}
	var err error
	if w.By != "" {
		if other.by, err = compile(w.By); err != nil {
			return nil, fmt.Errorf("%s: correlate.with.by: %w", where, err)
		}
	}
	if other.reason, err = compileLabelled(w.Reason, where+": correlate.with.reason"); err != nil {
		return nil, err
	}
	if n := m.Native; n != nil {
		// A Sigma correlation's other side has its own filter in Go.
		other.guard, other.exact, other.native = n.With, true, n.WithDoc
		if slices.Equal(w.Reason, n.WithReasonExprs) {
			other.nreason = n.WithReason
		}
	}
	return other, nil
}

// checkCorrelate checks the settings of a correlation that are not
// expressions.
func checkCorrelate(c *Correlate, where string) error {
	if c.Within <= 0 {
		return fmt.Errorf("%s: correlate.within is required (e.g. 1h)", where)
	}
	switch c.Order {
	case "", "sequence", "any":
	default:
		return fmt.Errorf("%s: correlate.order: %q is not sequence or any", where, c.Order)
	}
	if !slicesContains(entra.Streams, entra.Stream(c.With.Source)) {
		return fmt.Errorf("%s: correlate.with.source: %q is not one of %s", where, c.With.Source, streamNames())
	}
	if strings.TrimSpace(c.With.When) == "" {
		return fmt.Errorf("%s: correlate.with.when is required", where)
	}
	return nil
}

// compileLabelled compiles labelled expressions such as
// "device=signin.deviceDetail.deviceId"; what names the list in errors.
func compileLabelled(list []string, what string) ([]reasonField, error) {
	var fields []reasonField
	for _, s := range list {
		label, src := splitReason(s)
		p, err := compile(src)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, s, err)
		}
		fields = append(fields, reasonField{label: label, prog: p})
	}
	return fields, nil
}

// mergeStateful overlays the operator fields an overriding definition
// sets, so that a user's file can say `threshold: {count: 10}` alone.
func mergeStateful(o *Definition, d *Definition) {
	if t := d.Threshold; t != nil {
		if o.Threshold == nil {
			o.Threshold = &Threshold{}
		}
		x := *o.Threshold
		setIf(&x.By, t.By)
		setIf(&x.Distinct, t.Distinct)
		if t.Count != 0 {
			x.Count = t.Count
		}
		if t.Window != 0 {
			x.Window = t.Window
		}
		if t.Cooldown != 0 {
			x.Cooldown = t.Cooldown
		}
		o.Threshold = &x
	}
	if f := d.FirstSeen; f != nil {
		if o.FirstSeen == nil {
			o.FirstSeen = &FirstSeen{}
		}
		x := *o.FirstSeen
		setIf(&x.By, f.By)
		if f.Values != nil {
			x.Values = f.Values
		}
		if f.Learning != nil {
			x.Learning = f.Learning
		}
		if f.Forget != 0 {
			x.Forget = f.Forget
		}
		if f.MaxValues != 0 {
			x.MaxValues = f.MaxValues
		}
		o.FirstSeen = &x
	}
	if c := d.Correlate; c != nil {
		if o.Correlate == nil {
			o.Correlate = &Correlate{}
		}
		x := *o.Correlate
		setIf(&x.By, c.By)
		setIf(&x.Order, c.Order)
		if c.Within != 0 {
			x.Within = c.Within
		}
		setIf(&x.With.Source, c.With.Source)
		setIf(&x.With.When, c.With.When)
		setIf(&x.With.By, c.With.By)
		setIf(&x.With.Label, c.With.Label)
		if c.With.Reason != nil {
			x.With.Reason = c.With.Reason
		}
		o.Correlate = &x
	}
}
