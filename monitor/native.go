package monitor

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/monitor/sigma"
)

// Native is a monitor's filter compiled to Go instead of written in expr:
// what a Sigma rule becomes. Compile makes Match the monitor's guard and
// its when the constant true, so the evaluator runs it like any other
// monitor, on records of the monitor's stream only.
type Native struct {
	// Match replaces when; it must be safe for concurrent use and must
	// not keep the record.
	Match func(*entra.Record) bool
	// With replaces correlate.with.when.
	With func(*entra.Record) bool
	// MatchDoc and WithDoc, when set, are Match and With taking the
	// evaluator's sigma.Doc (reset for each record), which reads the raw
	// document at most once per record; the evaluator prefers them.
	MatchDoc, WithDoc func(*entra.Record, *sigma.Doc) bool
	// Reason and WithReason, when set, append the reason of a hit (of
	// correlate.with's records) in Go — what the expressions of
	// ReasonExprs (WithReasonExprs) write, without expr. The evaluator
	// uses them while the monitor's reason (correlate.with.reason) is
	// still those expressions: a pipeline file that overrides it gets its
	// own.
	Reason, WithReason           func(dst []byte, r *entra.Record, d *sigma.Doc) []byte
	ReasonExprs, WithReasonExprs []string
	// Skipped, when set, says why the monitor cannot run (a Sigma rule of
	// a log privtrail does not read): it is listed, never compiled, and
	// enabling it is an error.
	Skipped string
	// RuleFile is the file the rule was read from (the monitor's file is
	// the pipeline file that last overrode it).
	RuleFile string
	// Level and Tags are the Sigma rule's.
	Level string
	Tags  []string
}

// nativeID are the IDs of native monitors: sigma.<rule id>, a rule id
// being a UUID as often as not.
var nativeID = regexp.MustCompile(`^sigma\.[a-z0-9][a-z0-9_-]*$`)

// sigmaDefinitions turns the rules of a Sigma set into monitors.
func sigmaDefinitions(set *sigma.Set) []Definition {
	var defs []Definition
	off := false
	for _, r := range set.Rules {
		d := Definition{
			ID: r.MonitorID(), Title: r.Title, Risk: r.Risk, Source: string(r.Stream), When: "true",
			References: r.References, Tags: r.Tags, Notes: sigmaNotes(r),
			Native: &Native{Match: r.Match, MatchDoc: r.MatchDoc, RuleFile: r.File, Level: r.Level, Tags: r.Tags},
			file:   r.File,
		}
		switch {
		case r.Skip != "":
			d.Native.Skipped = r.Skip
			d.Enabled = &off
		case r.Correlation != nil:
			correlationDefinition(&d, r)
		default:
			setReason(&d, r.Service, r.Fields)
			if !r.Standalone {
				// A correlation uses it without generate: true: its
				// records count there, its own hits are not wanted.
				d.Enabled = &off
			}
		}
		defs = append(defs, d)
	}
	return defs
}

func correlationDefinition(d *Definition, r *sigma.Rule) {
	co := r.Correlation
	switch co.Type {
	case "event_count", "value_count":
		t := &Threshold{By: sigmaKey(r.Service, co.GroupBy[0]), Count: co.Count, Window: Duration(co.Timespan)}
		if co.Field != "" {
			t.Distinct = "SigmaField(" + strconv.Quote(r.Service) + ", " + strconv.Quote(co.Field) + ")"
		}
		d.Threshold = t
		setReason(d, r.Service, co.GroupBy[0])
	default:
		main, with := co.Sides()
		a, b := co.Rules[main], co.Rules[with]
		c := &Correlate{By: sigmaKey(a.Service, co.GroupBy[main]), Within: Duration(co.Timespan), Order: "any"}
		if co.Type == "temporal_ordered" {
			c.Order = "sequence"
		}
		c.With.Source = string(b.Stream)
		c.With.When = "true"
		c.With.By = sigmaKey(b.Service, co.GroupBy[with])
		c.With.Label = "with"
		c.With.Reason = sigmaReason(b.Service, b.Fields)
		d.Correlate = c
		d.Source = string(a.Stream)
		d.Native.Match, d.Native.With = a.Match, b.Match
		d.Native.MatchDoc, d.Native.WithDoc = a.MatchDoc, b.MatchDoc
		d.Native.WithReason, d.Native.WithReasonExprs = sigmaReasonFunc(b.Service, b.Fields), c.With.Reason
		setReason(d, a.Service, a.Fields)
	}
}

// sigmaKey is the by expression of a correlation's group-by fields: one
// key for every record when there are none (Sigma then counts across
// the whole stream).
func sigmaKey(service string, fields []string) string {
	if len(fields) == 0 {
		return `"all"`
	}
	return "SigmaKey(" + strconv.Quote(service) + ", " + strconv.Quote(strings.Join(fields, ",")) + ")"
}

var labelChars = regexp.MustCompile(`[^A-Za-z0-9_.]`)

// sigmaLabel is the reason label of a Sigma field: its name with the
// characters a label cannot have replaced.
func sigmaLabel(f string) string {
	label := labelChars.ReplaceAllString(f, "_")
	if label == "" || label[0] >= '0' && label[0] <= '9' || label[0] == '.' {
		label = "f_" + label
	}
	return label
}

// sigmaReason names the fields a rule reads, as the rule spells them.
func sigmaReason(service string, fields []string) []string {
	var out []string
	for _, f := range fields {
		if f == "keywords" {
			out = append(out, "operationName")
			continue
		}
		out = append(out, sigmaLabel(f)+"=SigmaField("+strconv.Quote(service)+", "+strconv.Quote(f)+")")
	}
	return out
}

// setReason sets d's reason to the fields a rule reads: as expressions
// (what a pipeline file shows and may override) and compiled to Go.
func setReason(d *Definition, service string, fields []string) {
	d.Reason = sigmaReason(service, fields)
	d.Native.Reason, d.Native.ReasonExprs = sigmaReasonFunc(service, fields), d.Reason
}

// sigmaReasonFunc is sigmaReason in Go: it appends what the evaluator
// writes for sigmaReason's expressions (label=value, space-separated, a
// field without a value left out), with no expr, reflection or
// allocation of its own.
func sigmaReasonFunc(service string, fields []string) func(dst []byte, r *entra.Record, d *sigma.Doc) []byte {
	type part struct {
		label string
		value func(dst []byte, r *entra.Record, d *sigma.Doc) []byte
	}
	var parts []part
	for _, f := range fields {
		if f == "keywords" {
			// The expression operationName: the record's, even empty.
			parts = append(parts, part{label: "operationName=", value: func(dst []byte, r *entra.Record, _ *sigma.Doc) []byte {
				return appendReasonString(dst, r.OperationName)
			}})
			continue
		}
		if app := sigma.Appender(service, f); app != nil {
			parts = append(parts, part{label: sigmaLabel(f) + "=", value: app})
		}
	}
	return func(dst []byte, r *entra.Record, d *sigma.Doc) []byte {
		for _, p := range parts {
			n := len(dst)
			if n > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, p.label...)
			m := len(dst)
			if dst = p.value(dst, r, d); len(dst) == m {
				dst = dst[:n] // no value: left out
			}
		}
		return dst
	}
}

// sigmaNotes is what a hit's notes say of the rule: its description, its
// references and where it comes from. Its tags (ATT&CK) are the hit's
// tags, not notes.
func sigmaNotes(r *sigma.Rule) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(r.Description))
	add := func(label, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(label)
		b.WriteString(": ")
		b.WriteString(v)
	}
	add("references", strings.Join(r.References, " "))
	add("sigma", filepath.Base(r.File)+" level "+orDash(r.Level))
	if len(r.UsedBy) > 0 {
		add("correlations", strings.Join(r.UsedBy, ", "))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// SigmaField returns the values of a Sigma field of a logsource service
// in the record (joined by ", "), or nil when it has none: what a Sigma
// monitor's reason shows.
func (e *Env) SigmaField(service, field string) any {
	v, ok := e.sigmaValue(service, field)
	if !ok || v == "" {
		return nil
	}
	return strings.Clone(v) // kept by the state (a distinct count's values)
}

// sigmaValue reads a Sigma field of the record through the evaluator's
// document of it, when there is one. The string may be a view of the
// document's buffers.
func (e *Env) sigmaValue(service, field string) (string, bool) {
	if e.doc == nil {
		return sigma.FieldValue(service, field, e.Record)
	}
	return sigma.FieldValueIn(e.doc, service, field, e.Record)
}

// SigmaKey returns the group-by key of a Sigma correlation: the values of
// the comma-separated fields, joined by "|", or "" when none has a value
// (then there is nothing to group by).
func (e *Env) SigmaKey(service, fields string) string {
	var b []byte
	empty := true
	first := true
	for f := range strings.SplitSeq(fields, ",") {
		v, _ := e.sigmaValue(service, f)
		if v != "" {
			empty = false
		}
		if !first {
			b = append(b, '|')
		}
		first = false
		b = append(b, v...)
	}
	if empty {
		return ""
	}
	return string(b)
}

// checkNative checks what Compile needs of a native monitor; where names
// it in errors.
func checkNative(d *Definition, where string) error {
	if d.Native.Skipped != "" {
		return fmt.Errorf("%s: cannot be enabled: skipped: %s", where, d.Native.Skipped)
	}
	if d.Native.Match == nil {
		return fmt.Errorf("%s: a native monitor without a matcher", where)
	}
	if d.Correlate != nil && d.Native.With == nil {
		return fmt.Errorf("%s: a native correlation without its with matcher", where)
	}
	return nil
}
