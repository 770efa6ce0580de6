package sigma

import (
	"fmt"
	"math"
	"strconv"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// node is a parsed YAML value with its position: every error the compiler
// reports names the line of the key or value it is about. It is built
// from go-yaml's AST (the library internal/yamlfile uses) rather than
// decoded into structs, because a detection's keys are only known at run
// time and its values keep their YAML type (50053 is a number, '50053' a
// string).
type node struct {
	kind  nodeKind
	line  int
	col   int
	str   string  // scalar text (for numbers, as written)
	num   float64 // for kNumber
	isInt bool
	b     bool    // for kBool
	keys  []*node // mapping: keys (kString) in file order
	vals  []*node // mapping: values; sequence: items
}

type nodeKind uint8

const (
	kNull nodeKind = iota
	kString
	kNumber
	kBool
	kMap
	kSeq
)

func (k nodeKind) String() string {
	return [...]string{"null", "a string", "a number", "a boolean", "a mapping", "a list"}[k]
}

// get returns the value of key in a mapping, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kMap {
		return nil
	}
	for i, k := range n.keys {
		if k.str == key {
			return n.vals[i]
		}
	}
	return nil
}

// keyNode returns the key node of key in a mapping, or nil.
func (n *node) keyNode(key string) *node {
	if n == nil || n.kind != kMap {
		return nil
	}
	for _, k := range n.keys {
		if k.str == key {
			return k
		}
	}
	return nil
}

// scalarText is a scalar as a string: strings as they are, numbers as
// written, booleans as true/false.
func (n *node) scalarText() string {
	switch n.kind {
	case kBool:
		return strconv.FormatBool(n.b)
	case kNull:
		return ""
	}
	return n.str
}

// parseDocs parses every YAML document of data.
func parseDocs(data []byte) ([]*node, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, err
	}
	var docs []*node
	for _, d := range f.Docs {
		if d.Body == nil {
			continue
		}
		n, err := convert(d.Body)
		if err != nil {
			return nil, err
		}
		docs = append(docs, n)
	}
	return docs, nil
}

// posError is an error at a line and column of the file being compiled.
type posError struct {
	line, col int
	msg       string
}

func (e *posError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

func errAt(n *node, format string, args ...any) error {
	if n == nil {
		return &posError{msg: fmt.Sprintf(format, args...)}
	}
	return &posError{line: n.line, col: n.col, msg: fmt.Sprintf(format, args...)}
}

func convert(an ast.Node) (*node, error) {
	n := &node{}
	if tok := an.GetToken(); tok != nil {
		n.line, n.col = tok.Position.Line, tok.Position.Column
	}
	switch x := an.(type) {
	case *ast.AnchorNode:
		return convert(x.Value)
	case *ast.TagNode:
		return convert(x.Value)
	case *ast.AliasNode:
		return nil, errAt(n, "YAML aliases are not supported in Sigma rules")
	case *ast.NullNode:
		n.kind = kNull
	case *ast.StringNode:
		n.kind, n.str = kString, x.Value
	case *ast.LiteralNode:
		n.kind, n.str = kString, x.Value.Value
	case *ast.IntegerNode:
		n.kind, n.isInt, n.str = kNumber, true, x.Token.Value
		switch v := x.Value.(type) {
		case int64:
			n.num = float64(v)
			n.str = strconv.FormatInt(v, 10)
		case uint64:
			n.num = float64(v)
			n.str = strconv.FormatUint(v, 10)
		}
	case *ast.FloatNode:
		n.kind, n.num, n.str = kNumber, x.Value, x.Token.Value
		if math.IsInf(x.Value, 0) || math.IsNaN(x.Value) {
			return nil, errAt(n, "%s is not a number a rule can compare with", x.Token.Value)
		}
	case *ast.BoolNode:
		n.kind, n.b = kBool, x.Value
	case *ast.MappingNode:
		n.kind = kMap
		for _, mv := range x.Values {
			if err := n.addPair(mv); err != nil {
				return nil, err
			}
		}
	case *ast.MappingValueNode:
		n.kind = kMap
		if err := n.addPair(x); err != nil {
			return nil, err
		}
	case *ast.SequenceNode:
		n.kind = kSeq
		for _, v := range x.Values {
			c, err := convert(v)
			if err != nil {
				return nil, err
			}
			n.vals = append(n.vals, c)
		}
	default:
		return nil, errAt(n, "unexpected YAML %s", an.Type())
	}
	return n, nil
}

func (n *node) addPair(mv *ast.MappingValueNode) error {
	if mv.Key == nil {
		return errAt(n, "a mapping entry without a key")
	}
	k, err := convert(mv.Key)
	if err != nil {
		return err
	}
	if k.kind == kMap || k.kind == kSeq {
		return errAt(k, "a mapping key must be a plain value")
	}
	k.str, k.kind = k.scalarText(), kString
	if n.get(k.str) != nil || n.keyNode(k.str) != nil {
		return errAt(k, "duplicate key %q", k.str)
	}
	v, err := convert(mv.Value)
	if err != nil {
		return err
	}
	n.keys = append(n.keys, k)
	n.vals = append(n.vals, v)
	return nil
}
