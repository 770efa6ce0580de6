package sigma

import (
	"fmt"
	"strconv"
	"time"

	"github.com/privtrail/privtrail/entra"
)

// pending are the parts of a correlation resolved once every file is read.
type pending struct {
	refs    []string
	refNode *node
	groupBy []string
	gbNode  *node
	aliases map[string]map[string]string
	field   *node
}

// compileCorrelation reads a correlation section. What its operator
// cannot express exactly is an error, never an approximation: privtrail's
// threshold fires when a count reaches a bound (Sigma's gte, or gt + 1),
// and correlate pairs two records.
func compileCorrelation(r *Rule, c *node) error {
	if c.kind != kMap {
		return errAt(c, "correlation: want a mapping")
	}
	for _, k := range c.keys {
		switch k.str {
		case "type", "rules", "group-by", "timespan", "condition", "aliases", "generate":
		default:
			return errAt(k, "correlation: unknown key %q", k.str)
		}
	}
	co := &Correlation{}
	r.Correlation = co
	p := &pending{aliases: map[string]map[string]string{}}
	co.pending = p
	typ, err := stringOf(c, "type")
	if err != nil {
		return err
	}
	co.Type = typ
	switch typ {
	case "event_count", "value_count", "temporal", "temporal_ordered":
	case "value_sum", "value_avg", "value_percentile":
		return errAt(c.get("type"), "correlation type %s cannot be expressed by privtrail's operators (threshold counts records or distinct values; correlate pairs two rules)", typ)
	case "":
		return errAt(c, "correlation: type is required")
	default:
		return errAt(c.get("type"), "correlation: unknown type %q", typ)
	}
	if p.refs, err = stringsOf(c, "rules"); err != nil {
		return err
	}
	p.refNode = c.get("rules")
	if len(p.refs) == 0 {
		return errAt(c, "correlation: rules: name at least one rule (by id or name)")
	}
	if p.groupBy, err = stringsOf(c, "group-by"); err != nil {
		return err
	}
	p.gbNode = c.get("group-by")
	if g := c.get("generate"); g != nil {
		if g.kind != kBool {
			return errAt(g, "correlation: generate: want true or false")
		}
		co.Generate = g.b
	}
	ts, _ := stringOf(c, "timespan")
	m := timespan.FindStringSubmatch(ts)
	if m == nil {
		return errAt(c.get("timespan"), "correlation: timespan %q: want a number and s, m, h or d (90m)", ts)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	co.Timespan = time.Duration(n) * unit
	if co.Timespan <= 0 {
		return errAt(c.get("timespan"), "correlation: timespan must be positive")
	}
	if a := c.get("aliases"); a != nil {
		if a.kind != kMap {
			return errAt(a, "correlation: aliases: want a mapping")
		}
		for i, k := range a.keys {
			v := a.vals[i]
			if v.kind != kMap {
				return errAt(v, "correlation: aliases.%s: want a mapping of rule name to field", k.str)
			}
			p.aliases[k.str] = map[string]string{}
			for j, rk := range v.keys {
				p.aliases[k.str][rk.str] = v.vals[j].scalarText()
			}
		}
	}
	cond := c.get("condition")
	switch typ {
	case "event_count", "value_count":
		if cond == nil || cond.kind != kMap {
			return errAt(c, "correlation %s: condition is required (e.g. gte: 5)", typ)
		}
		var ops []string
		for i, k := range cond.keys {
			v := cond.vals[i]
			switch k.str {
			case "field":
				if typ != "value_count" {
					return errAt(k, "correlation %s: condition.field belongs to value_count", typ)
				}
				if v.kind != kString {
					return errAt(v, "correlation: condition.field: privtrail counts the distinct values of one field")
				}
				co.Field, p.field = v.str, v
			case "gte", "gt":
				if v.kind != kNumber || !v.isInt || v.num < 0 {
					return errAt(v, "correlation: condition.%s: want a whole number", k.str)
				}
				co.Count = int(v.num)
				if k.str == "gt" {
					co.Count++
				}
				ops = append(ops, k.str)
			case "lt", "lte", "eq", "neq":
				return errAt(k, "correlation: condition %s cannot be expressed: privtrail's threshold fires when a count reaches a bound within the timespan (gte, gt), never on a count staying below one", k.str)
			default:
				return errAt(k, "correlation: condition: unknown key %q", k.str)
			}
		}
		if len(ops) != 1 {
			return errAt(cond, "correlation: condition needs exactly one of gte, gt (a range cannot be expressed)")
		}
		if co.Count < 1 {
			co.Count = 1
		}
		if typ == "value_count" && co.Field == "" {
			return errAt(cond, "correlation value_count: condition.field is required")
		}
	case "temporal", "temporal_ordered":
		if len(p.refs) != 2 {
			return errAt(p.refNode, "correlation %s of %d rules cannot be expressed: privtrail's correlate pairs exactly two rules", typ, len(p.refs))
		}
		if cond != nil {
			g := cond.get("gte")
			if len(cond.keys) != 1 || g == nil || g.kind != kNumber || int(g.num) != len(p.refs) {
				return errAt(cond, "correlation %s: condition can only be gte: %d (both rules); fewer cannot be expressed", typ, len(p.refs))
			}
		}
		if p.refs[0] == p.refs[1] {
			return errAt(p.refNode, "correlation %s: the two rules must differ", typ)
		}
	}
	return nil
}

// resolve finds each correlation's rules by id or name, checks that its
// operator can express it, and marks rules not generated on their own.
func (s *Set) resolve() error {
	byID := map[string]*Rule{}
	byName := map[string]*Rule{}
	for _, r := range s.Rules {
		if o := byID[r.ID]; o != nil {
			return fmt.Errorf("%s:%d: rule id %s is also the id of the rule at %s:%d", r.File, r.Line, r.ID, o.File, o.Line)
		}
		byID[r.ID] = r
		if r.Name != "" {
			if o := byName[r.Name]; o != nil {
				return fmt.Errorf("%s:%d: rule name %s is also the name of the rule at %s:%d", r.File, r.Line, r.Name, o.File, o.Line)
			}
			byName[r.Name] = r
		}
	}
	for _, r := range s.Rules {
		co := r.Correlation
		if co == nil {
			continue
		}
		if err := s.resolveOne(r, co, byID, byName); err != nil {
			return fileError(r.File, withRule(r.ID, err))
		}
		co.pending = nil
	}
	return nil
}

func (s *Set) resolveOne(r *Rule, co *Correlation, byID, byName map[string]*Rule) error {
	p := co.pending
	for _, ref := range p.refs {
		x := byID[ref]
		if x == nil {
			x = byName[ref]
		}
		if x == nil {
			return errAt(p.refNode, "correlation: no loaded rule has the id or name %q (the rules of one pipeline file's sigma: paths are searched)", ref)
		}
		if x.Correlation != nil {
			return errAt(p.refNode, "correlation: %q is a correlation; a correlation of correlations cannot be expressed", ref)
		}
		co.Rules = append(co.Rules, x)
	}
	for _, x := range co.Rules {
		if x.Skip != "" {
			r.Skip = fmt.Sprintf("references rule %s, which is skipped: %s", x.ID, x.Skip)
			return nil
		}
	}
	r.Service, r.Stream = co.Rules[0].Service, co.Rules[0].Stream
	if co.Type == "event_count" || co.Type == "value_count" {
		for _, x := range co.Rules[1:] {
			if x.Stream != r.Stream {
				return errAt(p.refNode, "correlation %s over rules of streams %s and %s cannot be expressed: a threshold counts one stream", co.Type, r.Stream, x.Stream)
			}
		}
	}
	for _, x := range co.Rules {
		svc := services[x.Service]
		var fields []string
		for _, g := range p.groupBy {
			f := g
			if a, ok := p.aliases[g]; ok {
				if f, ok = a[x.Name]; !ok {
					return errAt(p.gbNode, "correlation: alias %s names no field for rule %q (aliases are keyed by the rules' name)", g, x.Name)
				}
			}
			if svc.field(f) == nil {
				return errAt(p.gbNode, "correlation: group-by field %q is not mapped for logsource azure/%s (rule %s)", f, x.Service, x.ID)
			}
			fields = append(fields, f)
		}
		co.GroupBy = append(co.GroupBy, fields)
		if co.Field != "" && svc.field(co.Field) == nil {
			return errAt(p.field, "correlation: field %q is not mapped for logsource azure/%s (rule %s)", co.Field, x.Service, x.ID)
		}
		x.UsedBy = append(x.UsedBy, r.ID)
		if !co.Generate {
			x.Standalone = false
		}
	}
	if (co.Type == "event_count" || co.Type == "value_count") && len(co.Rules) > 1 {
		for _, g := range co.GroupBy[1:] {
			if fmt.Sprint(g) != fmt.Sprint(co.GroupBy[0]) {
				return errAt(p.gbNode, "correlation %s: aliases that differ between rules cannot be expressed: a threshold has one key", co.Type)
			}
		}
	}
	if co.Type == "temporal" || co.Type == "temporal_ordered" {
		return nil // each side has its own matcher; see Sides
	}
	ms := make([]matcher, len(co.Rules))
	for i, x := range co.Rules {
		ms[i] = x.MatchDoc
	}
	m := anyMatch(ms)
	r.MatchDoc = m
	r.Match = func(rec *entra.Record) bool {
		var d Doc
		return m(rec, &d)
	}
	return nil
}

// Sides returns a pairing correlation's two filters: main, whose records
// carry the hit, and with, the other; for temporal_ordered, with is the
// rule that must come first.
func (co *Correlation) Sides() (main, with int) {
	if co.Type == "temporal_ordered" {
		return 1, 0
	}
	return 0, 1
}
