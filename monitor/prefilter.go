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
//	field           a bool field of the record
//	field == c      a string or int field against a constant (or !=)
//	field in list   a literal list of strings or ints (params are literals by then: inlineParams)
//	field startsWith "s"
//	true, false
//
// where field is a path of struct fields of the record without pointers,
// slices or maps on the way. Anything else (calls, any(), a field behind a
// pointer) has none.
func prefilterOf(p *vm.Program) prefilter {
	return prefilterOfNode(p.Node())
}

func prefilterOfNode(n ast.Node) prefilter {
	switch x := n.(type) {
	case *ast.BoolNode:
		v := x.Value
		return prefilter{func(*entra.Record) bool { return v }, true}
	case *ast.UnaryNode:
		if x.Operator != "!" && x.Operator != "not" {
			return prefilter{}
		}
		if in := prefilterOfNode(x.Node); in.exact {
			return prefilter{func(rec *entra.Record) bool { return !in.f(rec) }, true}
		}
		return prefilter{}
	case *ast.BinaryNode:
		return binaryPrefilter(x)
	}
	if f := boolField(n); f != nil {
		return prefilter{f, true}
	}
	return prefilter{}
}

func binaryPrefilter(b *ast.BinaryNode) prefilter {
	switch b.Operator {
	case "&&", "and":
		l, r := prefilterOfNode(b.Left), prefilterOfNode(b.Right)
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
		l, r := prefilterOfNode(b.Left), prefilterOfNode(b.Right)
		if l.f == nil || r.f == nil {
			return prefilter{}
		}
		return prefilter{func(rec *entra.Record) bool { return l.f(rec) || r.f(rec) }, l.exact && r.exact}
	case "==", "!=":
		eq := comparison(b.Left, b.Right)
		if eq == nil {
			eq = comparison(b.Right, b.Left)
		}
		if eq == nil {
			return prefilter{}
		}
		if b.Operator == "!=" {
			return prefilter{func(rec *entra.Record) bool { return !eq(rec) }, true}
		}
		return prefilter{eq, true}
	case "in":
		if field, set := stringField(b.Left), stringSet(b.Right); field != nil && set != nil {
			return prefilter{func(rec *entra.Record) bool { _, ok := set[field(rec)]; return ok }, true}
		}
		if field, set := intField(b.Left), intSet(b.Right); field != nil && set != nil {
			return prefilter{func(rec *entra.Record) bool { _, ok := set[field(rec)]; return ok }, true}
		}
	case "startsWith":
		field, c := stringField(b.Left), stringConst(b.Right)
		if field == nil || c == nil {
			return prefilter{}
		}
		prefix := *c
		return prefilter{func(rec *entra.Record) bool { return strings.HasPrefix(field(rec), prefix) }, true}
	}
	return prefilter{}
}

// comparison is field == constant, for a string or an int field, or nil.
func comparison(field, constant ast.Node) func(*entra.Record) bool {
	if f, c := stringField(field), stringConst(constant); f != nil && c != nil {
		want := *c
		return func(rec *entra.Record) bool { return f(rec) == want }
	}
	if f, c := intField(field), constant; f != nil {
		if n, ok := c.(*ast.IntegerNode); ok {
			want := n.Value
			return func(rec *entra.Record) bool { return f(rec) == want }
		}
	}
	return nil
}

// fieldIndex finds the struct fields of entra.Record that a path of expr
// names (their `expr` tags) leads through, ending at a value of kind k;
// false when a step is not a plain struct field (a pointer, a slice, a
// map, a method) or the kind differs.
func fieldIndex(path string, k reflect.Kind) ([]int, bool) {
	t := reflect.TypeFor[entra.Record]()
	var index []int
	for name := range strings.SplitSeq(path, ".") {
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		found := false
		for i := range t.NumField() {
			f := t.Field(i)
			if tag, _, _ := strings.Cut(f.Tag.Get("expr"), ","); tag == name && f.IsExported() {
				index, t, found = append(index, i), f.Type, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return index, t.Kind() == k
}

func fieldValue(rec *entra.Record, index []int) reflect.Value {
	return reflect.ValueOf(rec).Elem().FieldByIndex(index)
}

// stringField, intField and boolField return a reader of the record's
// field that n names, or nil. The two guards the engine always had keep
// their direct readers.
func stringField(n ast.Node) func(*entra.Record) string {
	if index, ok := fieldIndex(memberPath(n), reflect.String); ok {
		return func(rec *entra.Record) string { return fieldValue(rec, index).String() }
	}
	return nil
}

func intField(n ast.Node) func(*entra.Record) int {
	if index, ok := fieldIndex(memberPath(n), reflect.Int); ok {
		return func(rec *entra.Record) int { return int(fieldValue(rec, index).Int()) }
	}
	return nil
}

func boolField(n ast.Node) func(*entra.Record) bool {
	path := memberPath(n)
	if g := guards[path]; g != nil {
		return g
	}
	if index, ok := fieldIndex(path, reflect.Bool); ok {
		return func(rec *entra.Record) bool { return fieldValue(rec, index).Bool() }
	}
	return nil
}

func stringConst(n ast.Node) *string {
	if s, ok := n.(*ast.StringNode); ok {
		return &s.Value
	}
	return nil
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
