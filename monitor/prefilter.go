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
// constants — the actor's privilege, an audit's activity name, category
// or service — which Go answers in a few nanoseconds where the VM takes
// most of a microsecond. The VM still decides every record the prefilter
// lets through, so a prefilter only has to be implied by the filter, never
// equivalent to it.
//
// prefilterOf derives one from the filter's syntax tree:
//
//	a && b          a's prefilter and b's (either alone when only one has one)
//	a || b          a's or b's (only when both have one)
//	field           a guarded bool (actor.privileged, actor.emergencyAccess)
//	field == "s"    a string field of the record, compared exactly
//	field in list   a list of strings, literal or params.<name>
//	field startsWith "s"
//
// where field is a path of struct fields of the record without pointers or
// slices on the way. Anything else (negations, calls, numbers, any()) has
// no prefilter: the VM decides alone.
func prefilterOf(p *vm.Program, params map[string]any) func(*entra.Record) bool {
	return prefilterOfNode(p.Node(), params)
}

func prefilterOfNode(n ast.Node, params map[string]any) func(*entra.Record) bool {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return guards[memberPath(n)]
	}
	switch b.Operator {
	case "&&", "and":
		l, r := prefilterOfNode(b.Left, params), prefilterOfNode(b.Right, params)
		switch {
		case l == nil:
			return r
		case r == nil:
			return l
		}
		return func(rec *entra.Record) bool { return l(rec) && r(rec) }
	case "||", "or":
		l, r := prefilterOfNode(b.Left, params), prefilterOfNode(b.Right, params)
		if l == nil || r == nil {
			return nil
		}
		return func(rec *entra.Record) bool { return l(rec) || r(rec) }
	case "==":
		field, c := stringField(b.Left), stringConst(b.Right)
		if field == nil || c == nil {
			field, c = stringField(b.Right), stringConst(b.Left)
		}
		if field == nil || c == nil {
			return nil
		}
		want := *c
		return func(rec *entra.Record) bool { return field(rec) == want }
	case "in":
		field, set := stringField(b.Left), stringSet(b.Right, params)
		if field == nil || set == nil {
			return nil
		}
		return func(rec *entra.Record) bool { _, ok := set[field(rec)]; return ok }
	case "startsWith":
		field, c := stringField(b.Left), stringConst(b.Right)
		if field == nil || c == nil {
			return nil
		}
		prefix := *c
		return func(rec *entra.Record) bool { return strings.HasPrefix(field(rec), prefix) }
	}
	return nil
}

// stringField returns a reader of the record's string field that n names,
// or nil.
func stringField(n ast.Node) func(*entra.Record) string {
	path := memberPath(n)
	if path == "" {
		return nil
	}
	index, ok := fieldIndex(path)
	if !ok {
		return nil
	}
	return func(rec *entra.Record) string {
		return reflect.ValueOf(rec).Elem().FieldByIndex(index).String()
	}
}

// fieldIndex finds the struct fields of entra.Record that a path of expr
// names (their `expr` tags) leads through, ending at a string; false when
// a step is not a plain struct field (a pointer, a slice, a map, a method).
func fieldIndex(path string) ([]int, bool) {
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
	return index, t.Kind() == reflect.String
}

func stringConst(n ast.Node) *string {
	if s, ok := n.(*ast.StringNode); ok {
		return &s.Value
	}
	return nil
}

// stringSet is the set of strings a list of n holds: a literal list (as
// the optimizer leaves it, a map constant) or params.<name>; nil when an
// element is not a string.
func stringSet(n ast.Node, params map[string]any) map[string]struct{} {
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
	case *ast.MemberNode:
		base, ok := x.Node.(*ast.IdentifierNode)
		prop, ok2 := x.Property.(*ast.StringNode)
		if !ok || !ok2 || base.Value != "params" || x.Optional {
			return nil
		}
		switch list := params[prop.Value].(type) {
		case []string:
			set := make(map[string]struct{}, len(list))
			for _, s := range list {
				set[s] = struct{}{}
			}
			return set
		case []any:
			set := make(map[string]struct{}, len(list))
			for _, e := range list {
				s, ok := e.(string)
				if !ok {
					return nil
				}
				set[s] = struct{}{}
			}
			return set
		}
	}
	return nil
}
