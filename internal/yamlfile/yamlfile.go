// Package yamlfile decodes privtrail's YAML files (the config, pipeline
// files, role maps, device lists, schedules) one way: strictly — an unknown
// key is an error, since a misspelt key that silently keeps its default is
// how settings get lost — and with errors that read
// "file:line:col: message" followed by the offending lines.
package yamlfile

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Decode decodes a YAML (or JSON) document read from file into v.
func Decode(file string, data []byte, v any) error {
	if err := yaml.UnmarshalWithOptions(data, v, options...); err != nil {
		err = inYAMLTerms(err)
		var de *durationError
		if errors.As(err, &de) {
			if tok := findScalar(data, de.value); tok != nil {
				return Error(file, &yaml.SyntaxError{Message: de.Error(), Token: tok})
			}
		}
		return Error(file, err)
	}
	return nil
}

// Error formats a go-yaml error as "file:line:col: message" plus the
// source excerpt.
func Error(file string, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	pos := ye.GetToken().Position
	text := yaml.FormatError(err, false, true)
	// FormatError starts with "[line:col] "; the prefix says it already.
	text = strings.TrimPrefix(text, fmt.Sprintf("[%d:%d] ", pos.Line, pos.Column))
	return fmt.Errorf("%s:%d:%d: %s", file, pos.Line, pos.Column, strings.TrimRight(text, "\n"))
}

// ErrorAt reports msg at the node of data that path ("$.devices[2].kind")
// names, or without a position when the node is not found.
func ErrorAt(file string, data []byte, path, msg string) error {
	if p, err := yaml.PathString(path); err == nil {
		if f, err := parser.ParseBytes(data, 0); err == nil {
			if n, err := p.FilterFile(f); err == nil && n != nil && n.GetToken() != nil {
				return Error(file, &yaml.SyntaxError{Message: msg, Token: n.GetToken()})
			}
		}
	}
	return fmt.Errorf("%s: %s", file, msg)
}

// DecodeNode decodes node, a part of a file parsed by Decode (a custom
// UnmarshalYAML's argument), into v as strictly as Decode: unknown keys
// are errors. Errors carry the node's position in the file.
func DecodeNode(node ast.Node, v any) error {
	err := yaml.NodeToValue(node, v, options...)
	if err == nil {
		return nil
	}
	err = inYAMLTerms(err)
	var de *durationError
	if errors.As(err, &de) {
		if tok := scalarIn(node, de.value); tok != nil {
			return &yaml.SyntaxError{Message: de.Error(), Token: tok}
		}
	}
	var ye yaml.Error
	if err == nil || errors.As(err, &ye) && ye.GetToken() != nil {
		return err
	}
	return NodeError(node, err.Error())
}

// Pairs returns the key/value pairs of a mapping node (through an
// anchor; a null node has none), for an UnmarshalYAML that reads keys
// it only knows at run time; ok is false when node is not a mapping.
func Pairs(node ast.Node) (pairs []*ast.MappingValueNode, ok bool) {
	if a, isAnchor := node.(*ast.AnchorNode); isAnchor {
		node = a.Value
	}
	switch n := node.(type) {
	case *ast.NullNode:
		return nil, true
	case *ast.MappingNode:
		return n.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{n}, true
	}
	return nil, false
}

// NodeError is an error with msg at node's position, which Decode reports
// as file:line:col.
func NodeError(node ast.Node, msg string) error {
	return &yaml.SyntaxError{Message: msg, Token: node.GetToken()}
}

// options are the same everywhere: unknown keys are errors, and every
// time.Duration reads as ParseDuration does.
var options = []yaml.DecodeOption{
	yaml.DisallowUnknownField(),
	yaml.CustomUnmarshaler(func(d *time.Duration, b []byte) error {
		var s string
		if err := yaml.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseDuration(s)
		if err != nil {
			return &durationError{value: s, err: err}
		}
		*d = v
		return nil
	}),
}

var (
	goTypeError = regexp.MustCompile(`^cannot unmarshal (\S+) into Go (?:struct field \S+|value) of type (\S+)`)
	shapeError  = regexp.MustCompile(`^(\S+) was used where (\S+) is expected`)
)

// inYAMLTerms rewrites the decoder's type errors, which speak Go ("cannot
// unmarshal string into Go struct field Config.Outputs of type bool"),
// as what the file should say: "sync: want true or false, got "maybe"".
func inYAMLTerms(err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return err
	}
	tok := ye.GetToken()
	msg := ye.GetMessage()
	var want string
	if m := goTypeError.FindStringSubmatch(msg); m != nil {
		want = wantOf(m[2])
	} else if m := shapeError.FindStringSubmatch(msg); m != nil {
		want = map[string]string{"sequence": "a list", "mapping": "a mapping"}[m[2]]
	}
	if want == "" {
		return err
	}
	text := fmt.Sprintf("want %s, got %s", want, gotOf(tok))
	if key := keyOf(tok); key != "" {
		text = key + ": " + text
	}
	return &yaml.SyntaxError{Message: text, Token: tok}
}

func wantOf(goType string) string {
	goType = strings.TrimLeft(goType, "*")
	switch {
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "text"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	}
	return ""
}

// gotOf says what the file holds at tok: a scalar as written, or its
// shape.
func gotOf(tok *token.Token) string {
	switch tok.Type {
	case token.SequenceStartType, token.SequenceEntryType:
		return "a list"
	case token.MappingStartType:
		return "a mapping"
	}
	return strconv.Quote(tok.Value)
}

// keyOf is the key whose value starts at tok ("sync" in "sync: maybe"),
// or "".
func keyOf(tok *token.Token) string {
	p := tok.Prev
	if p == nil || p.Type != token.MappingValueType || p.Prev == nil {
		return ""
	}
	return p.Prev.Value
}

// durationError is a bad duration. The decoder hands a custom unmarshaler
// the value's bytes and no position, so Decode finds the value in the
// file to name its line.
type durationError struct {
	value string
	err   error
}

func (e *durationError) Error() string { return e.err.Error() }

// findScalar returns the token of the first scalar of the file whose value
// is s, or nil.
func findScalar(data []byte, s string) *token.Token {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil
	}
	for _, doc := range f.Docs {
		if tok := scalarIn(doc, s); tok != nil {
			return tok
		}
	}
	return nil
}

// scalarIn returns the token of the first scalar value below node whose
// value is s, or nil.
func scalarIn(node ast.Node, s string) *token.Token {
	var found *token.Token
	ast.Walk(visitor(func(n ast.Node) bool {
		if found != nil {
			return false
		}
		if sc, ok := n.(ast.ScalarNode); ok && n.Type() != ast.MappingKeyType && fmt.Sprint(sc.GetValue()) == s {
			found = n.GetToken()
		}
		return found == nil
	}), node)
	return found
}

type visitor func(ast.Node) bool

func (v visitor) Visit(n ast.Node) ast.Visitor {
	if v(n) {
		return v
	}
	return nil
}

// ParseDuration reads a duration of the config and pipeline files: Go's
// form (30s, 5m, 1h30m), whole or fractional days (7d, 0.5d), or 0.
// Negative durations are errors.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q: want a number of days like 7d", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 30s, 10m, 1h or 7d", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q: must not be negative", s)
	}
	return v, nil
}
