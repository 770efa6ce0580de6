package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/monitor/sigma"
)

var risks = map[string]bool{"high": true, "medium": true, "low": true}

// Monitor is a compiled, enabled monitor.
type Monitor struct {
	Definition
	filter
	riskWhen *vm.Program
	// op and sides are set for a stateful monitor: its filter and, for a
	// correlation, the other one.
	op      kind
	sides   []*side
	errors  atomic.Int64
	lastLog atomic.Int64 // unix seconds of the last logged runtime error
}

// filter decides whether a record is a monitor's (a hit, or for a
// stateful monitor an observation of one of its sides) and says why.
type filter struct {
	// guard is the filter's prefilter (see prefilterOf), or nil; exact
	// when it is the whole filter.
	guard func(*entra.Record) bool
	exact bool
	when  *vm.Program
	// reason are the reason's expressions.
	reason []reasonField
	// native and nreason are a native monitor's filter and reason in Go
	// (Native.MatchDoc, Native.Reason; for a correlation's other side
	// Native.WithDoc, Native.WithReason), or nil.
	native  nativeMatch
	nreason nativeReason
}

// compileWhen compiles the filter's expression, with the monitor's params
// written in as constants, and its prefilter.
func (f *filter) compileWhen(src string, params map[string]any) error {
	var err error
	if f.when, err = compile(src, expr.AsBool(), inlineParams(params)); err != nil {
		return err
	}
	pf := prefilterOf(f.when)
	f.guard, f.exact = pf.f, pf.exact
	return nil
}

type (
	nativeMatch  = func(*entra.Record, *sigma.Doc) bool
	nativeReason = func(dst []byte, r *entra.Record, d *sigma.Doc) []byte
)

type reasonField struct {
	label string
	prog  *vm.Program
}

// Errors is how many records this monitor could not evaluate.
func (m *Monitor) Errors() int64 { return m.errors.Load() }

// Engine holds the compiled monitors of one pipeline, grouped by stream.
type Engine struct {
	all      []*Monitor
	byStream map[entra.Stream][]*Monitor
	// sides are the filters of the stateful monitors, by stream: the
	// worker evaluates them, the pipeline's State judges what passed.
	sides map[entra.Stream][]*side
	roles RoleChecker
	log   *slog.Logger
}

// Compile checks and compiles defs. Disabled monitors are validated too,
// so that turning one on later cannot reveal a typo.
func Compile(defs []Definition, roles RoleChecker, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{byStream: map[entra.Stream][]*Monitor{}, sides: map[entra.Stream][]*side{}, roles: roles, log: log}
	seen := map[string]bool{}
	for i := range defs {
		d := defs[i]
		where := fmt.Sprintf("%s: monitor %q", d.file, d.ID)
		if d.ID == "" {
			return nil, fmt.Errorf("%s: monitors[%d]: id is required", d.file, i)
		}
		if d.Native != nil && d.Native.Skipped != "" && !d.IsEnabled() {
			log.Info("sigma rule skipped", "monitor", d.ID, "file", d.Native.RuleFile, "reason", d.Native.Skipped)
			continue
		}
		if d.Native != nil {
			if err := checkNative(&d, where); err != nil {
				return nil, err
			}
		}
		if !idPattern.MatchString(d.ID) && !(d.Native != nil && nativeID.MatchString(d.ID)) {
			return nil, fmt.Errorf("%s: id must be dotted lower-case words like signin.legacy_auth", where)
		}
		if seen[d.ID] {
			return nil, fmt.Errorf("%s: duplicate id", where)
		}
		seen[d.ID] = true
		if d.Title == "" {
			return nil, fmt.Errorf("%s: title is required", where)
		}
		if !risks[d.Risk] {
			return nil, fmt.Errorf("%s: risk: %q is not high, medium or low", where, d.Risk)
		}
		streams, err := d.Streams()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		stream := streams[0]
		if strings.TrimSpace(d.When) == "" {
			return nil, fmt.Errorf("%s: when is required", where)
		}
		if msg := checkControls(d.Params); msg != "" {
			return nil, fmt.Errorf("%s: params.%s", where, msg)
		}
		m := &Monitor{Definition: d}
		if err := m.compileWhen(d.When, d.Params); err != nil {
			return nil, fmt.Errorf("%s: when: %w", where, err)
		}
		if d.Native != nil {
			m.guard, m.exact = d.Native.Match, true // a Sigma rule: the whole filter, in Go
			m.native = d.Native.MatchDoc
			if slices.Equal(d.Reason, d.Native.ReasonExprs) {
				m.nreason = d.Native.Reason
			}
		}
		if d.RiskWhen != "" {
			if m.riskWhen, err = compile(d.RiskWhen, expr.AsKind(reflect.String), inlineParams(d.Params)); err != nil {
				return nil, fmt.Errorf("%s: risk_when: %w", where, err)
			}
		}
		for _, r := range d.Reason {
			label, src := splitReason(r)
			prog, err := compile(src, inlineParams(d.Params))
			if err != nil {
				return nil, fmt.Errorf("%s: reason %q: %w", where, r, err)
			}
			m.reason = append(m.reason, reasonField{label: label, prog: prog})
		}
		if err := compileStateful(&d, m, where); err != nil {
			return nil, err
		}
		if m.op != stateless && len(streams) > 1 {
			return nil, fmt.Errorf("%s: source: a stateful monitor reads one stream, not %q", where, d.Source)
		}
		if !m.IsEnabled() {
			continue
		}
		e.all = append(e.all, m)
		if m.op == stateless {
			for _, st := range streams {
				e.byStream[st] = append(e.byStream[st], m)
			}
			continue
		}
		for _, s := range m.sides {
			st := stream
			if s.with {
				st = entra.Stream(d.Correlate.With.Source)
			}
			e.sides[st] = append(e.sides[st], s)
		}
	}
	return e, nil
}

// streamNames lists the streams for error messages.
func streamNames() string {
	names := make([]string, len(entra.Streams))
	for i, s := range entra.Streams {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// inFold reports whether s equals one of list's strings,
// case-insensitively; what is not a string is skipped.
func inFold(s string, list []any) bool {
	for _, v := range list {
		if str, ok := v.(string); ok && strings.EqualFold(str, s) {
			return true
		}
	}
	return false
}

func slicesContains(s []entra.Stream, v entra.Stream) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Pure helpers are expr functions, not Env methods: expr calls a function
// directly, a method through reflection, and these run on most records.
var functions = []expr.Option{
	// In reports whether s equals one of list's strings, case-insensitively.
	expr.Function("In", func(p ...any) (any, error) {
		s, _ := p[0].(string)
		list, _ := p[1].([]any)
		return inFold(s, list), nil
	}, new(func(string, []any) bool)),
	// Contains reports whether s contains substr, case-insensitively.
	expr.Function("Contains", func(p ...any) (any, error) {
		s, _ := p[0].(string)
		sub, _ := p[1].(string)
		return containsFold(s, sub), nil
	}, new(func(string, string) bool)),
}

// inlineParams writes a monitor's params into its expressions as
// literals: params.legacy_clients becomes the list itself, which expr then
// compiles as a constant set (a map lookup, where a field of the params map
// is fetched by reflection on every record), a params pattern behind
// `matches` is compiled once rather than on each match, and the prefilter
// reads the set. Params a monitor does not set, and values that are not
// strings, numbers, booleans or lists of strings, stay lookups.
func inlineParams(params map[string]any) expr.Option {
	return expr.Patch(paramsInliner{params})
}

type paramsInliner struct{ params map[string]any }

func (v paramsInliner) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Optional {
		return
	}
	base, ok := m.Node.(*ast.IdentifierNode)
	prop, ok2 := m.Property.(*ast.StringNode)
	if !ok || !ok2 || base.Value != "params" {
		return
	}
	val, ok := v.params[prop.Value]
	if !ok {
		return
	}
	if lit := literalNode(val); lit != nil {
		ast.Patch(node, lit)
	}
}

// literalNode is the expr literal of v, or nil.
func literalNode(v any) ast.Node {
	switch x := v.(type) {
	case string:
		return &ast.StringNode{Value: x}
	case bool:
		return &ast.BoolNode{Value: x}
	case int:
		return &ast.IntegerNode{Value: x}
	case float64:
		return &ast.FloatNode{Value: x}
	case []string:
		nodes := make([]ast.Node, len(x))
		for i, s := range x {
			nodes[i] = &ast.StringNode{Value: s}
		}
		return &ast.ArrayNode{Nodes: nodes}
	case []any:
		nodes := make([]ast.Node, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil
			}
			nodes[i] = &ast.StringNode{Value: s}
		}
		return &ast.ArrayNode{Nodes: nodes}
	}
	return nil
}

func compile(src string, opts ...expr.Option) (*vm.Program, error) {
	rec := &entra.Record{}
	opts = append(append(append([]expr.Option{expr.Env(newEnv(rec)), expr.Patch(envCalls{})}, functions...), envFunctions...), opts...)
	return expr.Compile(src, opts...)
}

var labelled = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*([^=].*)$`)

// splitReason turns "role=RoleChanged()" into its label and expression;
// an unlabelled field path is labelled with its last element
// (signin.errorCode reads errorCode=50126).
func splitReason(s string) (label, src string) {
	if m := labelled.FindStringSubmatch(s); m != nil {
		return m[1], m[2]
	}
	s = strings.TrimSpace(s)
	label = s
	if i := strings.LastIndexByte(s, '.'); i >= 0 && isPath(s) {
		label = s[i+1:]
	}
	return label, s
}

func isPath(s string) bool {
	for _, c := range s {
		if !(c == '.' || c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Monitors returns the enabled monitors in file order.
func (e *Engine) Monitors() []*Monitor { return e.all }

// Evaluator evaluates an engine's monitors. It holds a VM and is not safe
// for concurrent use: make one per goroutine.
type Evaluator struct {
	e   *Engine
	vm  vm.VM
	env Env
	doc sigma.Doc // what native monitors read of the record being evaluated
	buf []byte
	obs []Observation
}

// NewEvaluator returns an Evaluator for e.
func (e *Engine) NewEvaluator() *Evaluator {
	ev := &Evaluator{e: e, env: Env{roles: e.roles}}
	ev.env.doc = &ev.doc
	return ev
}

// Eval appends a Hit to rec.Hits for every stateless monitor of rec's
// stream whose filter matches, and keeps an Observation for every stateful
// one: those are judged later, in input order, by the pipeline's State.
func (ev *Evaluator) Eval(rec *entra.Record) {
	ev.env.set(rec)
	ev.doc.Reset()
	for _, m := range ev.e.byStream[rec.Stream] {
		if !ev.match(m, &m.filter, rec) {
			continue
		}
		rec.Hits = append(rec.Hits, entra.Hit{
			ID: m.ID, Title: m.Title, Risk: ev.risk(m), Source: string(rec.Stream),
			Reason: ev.reasonOf(&m.filter, rec), Notes: m.Notes, Tags: m.Tags,
		})
	}
	for _, s := range ev.e.sides[rec.Stream] {
		if !ev.match(s.m, &s.filter, rec) {
			continue
		}
		key := ev.key(s, rec)
		if key == "" {
			continue // nothing to group by: nothing to judge
		}
		if rec.Shard != "" {
			key = shardKey(rec.Shard, key)
		}
		o := Observation{Record: rec, side: s, key: key, reason: ev.reasonOf(&s.filter, rec), risk: s.m.Risk}
		if !s.with {
			o.risk = ev.risk(s.m)
		}
		for _, v := range s.values {
			if out, err := ev.vm.Run(v.prog, &ev.env); err == nil {
				if str := valueString(out); str != "" {
					o.values = append(o.values, v.label+"="+str)
				}
			}
		}
		ev.obs = append(ev.obs, o)
	}
	ev.env.set(nil)
	ev.doc.Reset()
}

// TakeObservations returns the observations of the records evaluated
// since the last call, in evaluation order, and forgets them.
func (ev *Evaluator) TakeObservations() []Observation {
	o := ev.obs
	ev.obs = nil
	return o
}

func (ev *Evaluator) match(m *Monitor, f *filter, rec *entra.Record) bool {
	// Set before any return: a stateful side's by and distinct read them
	// once it matched, also through a native or exact filter.
	ev.env.Params = m.Params
	if f.native != nil {
		return f.native(rec, &ev.doc)
	}
	if f.guard != nil {
		if !f.guard(rec) {
			return false
		}
		if f.exact {
			return true
		}
	}
	out, err := ev.vm.Run(f.when, &ev.env)
	if err != nil {
		ev.e.runtimeError(m, rec, err)
		return false
	}
	hit, _ := out.(bool)
	return hit
}

func (ev *Evaluator) risk(m *Monitor) string {
	if m.riskWhen != nil {
		if r, err := ev.vm.Run(m.riskWhen, &ev.env); err == nil {
			if s, _ := r.(string); risks[s] {
				return s
			}
		}
	}
	return m.Risk
}

// key is what a stateful monitor groups by: its by expression, or the
// actor (object ID, else UPN). Keys are case-folded: the same user is
// logged with differently cased UPNs.
func (ev *Evaluator) key(s *side, rec *entra.Record) string {
	if s.by == nil {
		if rec.Actor.ID != "" {
			return boundKey(strings.ToLower(rec.Actor.ID))
		}
		return boundKey(strings.ToLower(rec.Actor.UPN))
	}
	out, err := ev.vm.Run(s.by, &ev.env)
	if err != nil {
		ev.e.runtimeError(s.m, rec, err)
		return ""
	}
	return boundKey(strings.ToLower(valueString(out)))
}

// maxKeyBytes bounds a state key. A hostile record's 40 KB "user" would
// exceed the store's key limit (32 KiB), its write would fail for good,
// and the pipeline, which waits until its state is stored, would wait
// forever.
const maxKeyBytes = 512

// boundKey keeps a key of up to maxKeyBytes as it is, and makes a longer
// one its start and a digest of the whole: as distinct as before.
func boundKey(k string) string {
	if len(k) <= maxKeyBytes {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return k[:maxKeyBytes-2*sha256.Size-1] + "#" + hex.EncodeToString(sum[:])
}

// valueString is v as a plain string: strings as they are, other values
// as a reason writes them, nil and "" as "".
func valueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	b := appendValue(nil, v)
	if string(b) == "null" {
		return ""
	}
	return string(b)
}

// reasonOf is a hit's reason: native's, in Go, when the monitor has one,
// else that of its reason expressions.
func (ev *Evaluator) reasonOf(f *filter, rec *entra.Record) string {
	if f.nreason == nil {
		return ev.reason(f.reason)
	}
	ev.buf = f.nreason(ev.buf[:0], rec, &ev.doc)
	return string(ev.buf)
}

func (ev *Evaluator) reason(fields []reasonField) string {
	b := ev.buf[:0]
	for _, f := range fields {
		v, err := ev.vm.Run(f.prog, &ev.env)
		if err != nil || v == nil {
			// nil leaves the field out, so that a monitor of several
			// streams names each stream's own fields.
			continue
		}
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, f.label...)
		b = append(b, '=')
		b = appendValue(b, v)
	}
	ev.buf = b
	return string(b)
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendReasonString(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case bool:
		return strconv.AppendBool(b, x)
	case float64:
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case time.Time:
		return x.AppendFormat(b, time.RFC3339)
	case nil:
		return append(b, "null"...)
	default:
		if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return append(b, "null"...)
		}
		return strconv.AppendQuote(b, fmt.Sprint(x))
	}
}

// appendReasonString appends s as a reason writes a string: as it is, or
// quoted when it is empty or holds a space, =, " or a tab or line break.
func appendReasonString(b []byte, s string) []byte {
	if s == "" || strings.ContainsAny(s, " =\"\t\r\n") {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func (e *Engine) runtimeError(m *Monitor, rec *entra.Record, err error) {
	m.errors.Add(1)
	// One line a minute per monitor: a bad expression must not flood logs.
	now := time.Now().Unix()
	last := m.lastLog.Load()
	if now-last < 60 || !m.lastLog.CompareAndSwap(last, now) {
		return
	}
	e.log.Warn("monitor could not evaluate a record", "monitor", m.ID, "origin", rec.Origin, "err", err, "errors_so_far", m.errors.Load())
}

// guards are the record fields whose Go check can stand in for the VM when
// a filter starts with them.
var guards = map[string]func(*entra.Record) bool{
	"actor.privileged":      func(r *entra.Record) bool { return r.Actor.Privileged },
	"actor.emergencyAccess": func(r *entra.Record) bool { return r.Actor.Emergency },
}

// memberPath is the path of record fields n names (audit.targets), or "".
func memberPath(n ast.Node) string {
	path, _ := fieldPath(n, false)
	return path
}

// fieldPath is the path of fields a chain of member accesses names from
// its root: an identifier (audit.targets, a record field) or, with
// element, any()'s element (.type or #.type, .principal.id; "" for #
// itself). false: n is not such a chain.
func fieldPath(n ast.Node, element bool) (string, bool) {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return x.Value, !element
	case *ast.PointerNode:
		return "", element && x.Name == ""
	case *ast.MemberNode:
		prop, ok := x.Property.(*ast.StringNode)
		if !ok || x.Optional {
			return "", false
		}
		base, ok := fieldPath(x.Node, element)
		switch {
		case !ok:
			return "", false
		case base == "":
			return prop.Value, true
		}
		return base + "." + prop.Value, true
	}
	return "", false
}
