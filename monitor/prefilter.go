package monitor

import (
	"reflect"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/privtrail/privtrail/entra"
)

// A prefilter is a plain Go check that a filter implies: when it says no,
// the filter is false, so the VM need not run. Most records match no
// monitor, and most filters open with a test of one field against
// constants — the actor's privilege, a sign-in's error code, an audit's
// activity name, category or service — which Go answers in nanoseconds
// where the VM takes most of a microsecond.
//
// A prefilter is exact when it is the whole filter: then the VM never
// runs for the monitor's filter ("actor.privileged && signin.errorCode ==
// 50053"). An inexact one only has to be implied by the filter; the VM
// decides what it lets through.
type prefilter struct {
	f     func(*entra.Record) bool
	exact bool
}

// prefilterOf derives a prefilter from the filter's syntax tree, or
// returns one with a nil f:
//
//	a && b          both (either alone, inexact, when only one has one)
//	a || b          either (only when both have one)
//	!a              when a's is exact
//
// and, exactly, what exactPredicate compiles.
func prefilterOf(p *vm.Program) prefilter {
	return prefilterOfNode(p.Node())
}

func prefilterOfNode(n ast.Node) prefilter {
	switch x := n.(type) {
	case *ast.UnaryNode:
		if x.Operator != "!" && x.Operator != "not" {
			return prefilter{}
		}
		if in := prefilterOfNode(x.Node); in.exact {
			return prefilter{func(rec *entra.Record) bool { return !in.f(rec) }, true}
		}
		return prefilter{}
	case *ast.BinaryNode:
		switch x.Operator {
		case "&&", "and":
			l, r := prefilterOfNode(x.Left), prefilterOfNode(x.Right)
			switch {
			case l.f == nil && r.f == nil:
				return prefilter{}
			case l.f == nil:
				return prefilter{r.f, false}
			case r.f == nil:
				return prefilter{l.f, false}
			}
			return prefilter{func(rec *entra.Record) bool { return l.f(rec) && r.f(rec) }, l.exact && r.exact}
		case "||", "or":
			l, r := prefilterOfNode(x.Left), prefilterOfNode(x.Right)
			if l.f == nil || r.f == nil {
				return prefilter{}
			}
			return prefilter{func(rec *entra.Record) bool { return l.f(rec) || r.f(rec) }, l.exact && r.exact}
		}
	}
	// The engine's direct readers of the two fields most filters open with.
	if g := guards[memberPath(n)]; g != nil {
		return prefilter{g, true}
	}
	if p := exactPredicate(n, recordType, recordField); p != nil {
		return prefilter{func(rec *entra.Record) bool { return p(reflect.ValueOf(rec).Elem()) }, true}
	}
	return prefilter{}
}

var recordType = reflect.TypeFor[entra.Record]()

// A predicate is a filter, or the predicate of any(), compiled to Go; it
// takes a value of the type it was compiled for.
type predicate func(reflect.Value) bool

// exactPredicate compiles n, a boolean expression about values of type t
// (the record, or the elements any() visits), to Go that answers exactly
// what the VM would, or returns nil when n has a form it does not know:
//
//	true, false
//	!a, a && b, a || b     of forms it knows
//	field                  a bool field
//	field == c             a string or int field against a constant (or !=, or c == field)
//	field in list          a literal list of strings or ints (params are literals by then: inlineParams)
//	field startsWith "s"
//	Contains(field, "s")   privtrail's function: a substring in any case
//	In(field, list)        privtrail's function: one of a literal list's strings in any case
//	any(field, p)          a slice field, p one of these forms about its elements
//
// path names n's fields from t: recordField for the record (audit.targets),
// elementField inside any() (.type, .principal.id, # itself). A field is a
// path of struct fields (an embedded struct's promoted, as expr reads them)
// without pointers or maps on the way. Anything else (other calls, a field
// behind a pointer, a record field inside any()) has none.
func exactPredicate(n ast.Node, t reflect.Type, path pathOf) predicate {
	switch x := n.(type) {
	case *ast.BoolNode:
		v := x.Value
		return func(reflect.Value) bool { return v }
	case *ast.UnaryNode:
		if x.Operator != "!" && x.Operator != "not" {
			return nil
		}
		if in := exactPredicate(x.Node, t, path); in != nil {
			return func(v reflect.Value) bool { return !in(v) }
		}
		return nil
	case *ast.BinaryNode:
		return binaryPredicate(x, t, path)
	case *ast.CallNode:
		return callPredicate(x, t, path)
	case *ast.BuiltinNode:
		return anyPredicate(x, t, path)
	}
	if index, ok := fieldAt(t, n, path, reflect.Bool); ok {
		return func(v reflect.Value) bool { return fieldOf(v, index).Bool() }
	}
	return nil
}

func binaryPredicate(b *ast.BinaryNode, t reflect.Type, path pathOf) predicate {
	switch b.Operator {
	case "&&", "and", "||", "or":
		l, r := exactPredicate(b.Left, t, path), exactPredicate(b.Right, t, path)
		if l == nil || r == nil {
			return nil
		}
		if b.Operator == "&&" || b.Operator == "and" {
			return func(v reflect.Value) bool { return l(v) && r(v) }
		}
		return func(v reflect.Value) bool { return l(v) || r(v) }
	case "==", "!=":
		eq := comparison(b.Left, b.Right, t, path)
		if eq == nil {
			eq = comparison(b.Right, b.Left, t, path)
		}
		if eq == nil {
			return nil
		}
		if b.Operator == "!=" {
			return func(v reflect.Value) bool { return !eq(v) }
		}
		return eq
	case "in":
		if field, set := stringField(b.Left, t, path), stringSet(b.Right); field != nil && set != nil {
			return func(v reflect.Value) bool { _, ok := set[field(v)]; return ok }
		}
		if field, set := intField(b.Left, t, path), intSet(b.Right); field != nil && set != nil {
			return func(v reflect.Value) bool { _, ok := set[field(v)]; return ok }
		}
	case "startsWith":
		field, c := stringField(b.Left, t, path), stringConst(b.Right)
		if field == nil || c == nil {
			return nil
		}
		prefix := *c
		return func(v reflect.Value) bool { return strings.HasPrefix(field(v), prefix) }
	}
	return nil
}

// comparison is field == constant, for a string or an int field, or nil.
func comparison(field, constant ast.Node, t reflect.Type, path pathOf) predicate {
	if f, c := stringField(field, t, path), stringConst(constant); f != nil && c != nil {
		want := *c
		return func(v reflect.Value) bool { return f(v) == want }
	}
	if f := intField(field, t, path); f != nil {
		if n, ok := constant.(*ast.IntegerNode); ok {
			want := n.Value
			return func(v reflect.Value) bool { return f(v) == want }
		}
	}
	return nil
}

// callPredicate is Contains or In (the functions in engine.go) of a
// string field and a literal.
func callPredicate(c *ast.CallNode, t reflect.Type, path pathOf) predicate {
	callee, ok := c.Callee.(*ast.IdentifierNode)
	if !ok || len(c.Arguments) != 2 {
		return nil
	}
	field := stringField(c.Arguments[0], t, path)
	if field == nil {
		return nil
	}
	switch callee.Value {
	case "Contains":
		if sub := stringConst(c.Arguments[1]); sub != nil {
			s := *sub
			return func(v reflect.Value) bool { return containsFold(field(v), s) }
		}
	case "In":
		if list, ok := inList(c.Arguments[1]); ok {
			return func(v reflect.Value) bool { return inFold(field(v), list) }
		}
	}
	return nil
}

// anyPredicate is any(field, p) over a slice field of structs or strings.
func anyPredicate(b *ast.BuiltinNode, t reflect.Type, path pathOf) predicate {
	if b.Name != "any" || len(b.Arguments) != 2 {
		return nil
	}
	body, ok := b.Arguments[1].(*ast.PredicateNode)
	if !ok {
		return nil
	}
	index, ok := fieldAt(t, b.Arguments[0], path, reflect.Slice)
	if !ok {
		return nil
	}
	elem := fieldType(t, index).Elem()
	if elem.Kind() != reflect.Struct && elem.Kind() != reflect.String {
		return nil
	}
	p := exactPredicate(body.Node, elem, elementField)
	if p == nil {
		return nil
	}
	return func(v reflect.Value) bool {
		list := v.FieldByIndex(index)
		for i := range list.Len() {
			if p(list.Index(i)) {
				return true
			}
		}
		return false
	}
}

// A pathOf is the path of fields n names (fieldPath), false if none.
type pathOf func(n ast.Node) (string, bool)

func recordField(n ast.Node) (string, bool)  { return fieldPath(n, false) }
func elementField(n ast.Node) (string, bool) { return fieldPath(n, true) }

// fieldAt is fieldIndex of the path n names.
func fieldAt(t reflect.Type, n ast.Node, path pathOf, k reflect.Kind) ([]int, bool) {
	p, ok := path(n)
	if !ok {
		return nil, false
	}
	return fieldIndex(t, p, k)
}

// fieldIndex finds the struct fields of t that a path of expr names
// (their `expr` tags; an embedded struct's fields are found through it,
// as expr promotes them) leads through, ending at a value of kind k;
// false when a step is not a plain struct field (a pointer, a slice, a
// map, a method) or the kind differs. The empty path is t itself.
func fieldIndex(t reflect.Type, path string, k reflect.Kind) ([]int, bool) {
	var index []int
	if path != "" {
		for name := range strings.SplitSeq(path, ".") {
			if t.Kind() != reflect.Struct {
				return nil, false
			}
			step, ok := fieldByTag(t, name)
			if !ok {
				return nil, false
			}
			index = append(index, step...)
			t = fieldType(t, step)
		}
	}
	return index, t.Kind() == k
}

// fieldByTag finds the field tagged name in struct t, or in the structs
// t embeds.
func fieldByTag(t reflect.Type, name string) ([]int, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("expr"), ","); tag == name && f.IsExported() {
			return []int{i}, true
		}
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Anonymous && f.IsExported() && f.Type.Kind() == reflect.Struct {
			if in, ok := fieldByTag(f.Type, name); ok {
				return append([]int{i}, in...), true
			}
		}
	}
	return nil, false
}

// fieldOf is the field of v at index: v itself for the empty index (#,
// an element of a list of strings), where reflect's FieldByIndex panics.
func fieldOf(v reflect.Value, index []int) reflect.Value {
	if len(index) == 0 {
		return v
	}
	return v.FieldByIndex(index)
}

func fieldType(t reflect.Type, index []int) reflect.Type {
	for _, i := range index {
		t = t.Field(i).Type
	}
	return t
}

// stringField and intField return a reader of the field of t that n
// names, or nil.
func stringField(n ast.Node, t reflect.Type, path pathOf) func(reflect.Value) string {
	if index, ok := fieldAt(t, n, path, reflect.String); ok {
		return func(v reflect.Value) string { return fieldOf(v, index).String() }
	}
	return nil
}

func intField(n ast.Node, t reflect.Type, path pathOf) func(reflect.Value) int {
	if index, ok := fieldAt(t, n, path, reflect.Int); ok {
		return func(v reflect.Value) int { return int(fieldOf(v, index).Int()) }
	}
	return nil
}

func stringConst(n ast.Node) *string {
	if s, ok := n.(*ast.StringNode); ok {
		return &s.Value
	}
	return nil
}

// inList is a literal list as In reads it (inFold skips what is not a
// string); false when an element is not a literal.
func inList(n ast.Node) ([]any, bool) {
	switch x := n.(type) {
	case *ast.ConstantNode:
		l, ok := x.Value.([]any)
		return l, ok
	case *ast.ArrayNode:
		var list []any
		for _, e := range x.Nodes {
			switch e := e.(type) {
			case *ast.StringNode:
				list = append(list, e.Value)
			case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NilNode:
			default:
				return nil, false
			}
		}
		return list, true
	}
	return nil, false
}

// stringSet is the set of strings a literal list n holds (as the
// optimizer leaves it, a map constant; a param is one by then); nil when
// an element is not a string.
func stringSet(n ast.Node) map[string]struct{} {
	switch x := n.(type) {
	case *ast.ConstantNode:
		if m, ok := x.Value.(map[string]struct{}); ok {
			return m
		}
	case *ast.ArrayNode:
		set := make(map[string]struct{}, len(x.Nodes))
		for _, e := range x.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return nil
			}
			set[s.Value] = struct{}{}
		}
		return set
	}
	return nil
}

// intSet is the set of ints of a literal list, or nil.
func intSet(n ast.Node) map[int]struct{} {
	switch x := n.(type) {
	case *ast.ConstantNode:
		if m, ok := x.Value.(map[int]struct{}); ok {
			return m
		}
	case *ast.ArrayNode:
		set := make(map[int]struct{}, len(x.Nodes))
		for _, e := range x.Nodes {
			i, ok := e.(*ast.IntegerNode)
			if !ok {
				return nil
			}
			set[i.Value] = struct{}{}
		}
		return set
	}
	return nil
}
