// Package yamlfile decodes privtrail's YAML files (the config, pipeline
// files, role maps, device lists, schedules) one way: strictly — an unknown
// key is an error, since a misspelt key that silently keeps its default is
// how settings get lost — and with errors that read
// "file:line:col: message" followed by the offending lines.
package yamlfile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Decode decodes a YAML (or JSON) document read from file into v.
func Decode(file string, data []byte, v any) error {
	if err := yaml.UnmarshalWithOptions(data, v, yaml.DisallowUnknownField()); err != nil {
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
	err := yaml.NodeToValue(node, v, yaml.DisallowUnknownField())
	var ye yaml.Error
	if err == nil || errors.As(err, &ye) && ye.GetToken() != nil {
		return err
	}
	return NodeError(node, err.Error())
}

// NodeError is an error with msg at node's position, which Decode reports
// as file:line:col.
func NodeError(node ast.Node, msg string) error {
	return &yaml.SyntaxError{Message: msg, Token: node.GetToken()}
}
