package workhours

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// decodeStrict decodes a YAML (or JSON) document into v; unknown keys are
// errors. Errors read "file:line:col: message" followed by the source
// excerpt yaml.FormatError prints.
func decodeStrict(file string, data []byte, v any) error {
	if err := yaml.UnmarshalWithOptions(data, v, yaml.DisallowUnknownField()); err != nil {
		return fileError(file, err)
	}
	return nil
}

// fileError formats a go-yaml error as "file:line:col: message" plus the
// source excerpt.
func fileError(file string, err error) error {
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

// errorAt reports msg at the node of data that path ("$.schedules[0].hours[1]")
// names, or without a position when the node is not found.
func errorAt(file string, data []byte, path, msg string) error {
	if p, err := yaml.PathString(path); err == nil {
		if f, err := parser.ParseBytes(data, 0); err == nil {
			if n, err := p.FilterFile(f); err == nil && n != nil && n.GetToken() != nil {
				return fileError(file, &yaml.SyntaxError{Message: msg, Token: n.GetToken()})
			}
		}
	}
	return fmt.Errorf("%s: %s", file, msg)
}
