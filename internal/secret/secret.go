// Package secret holds credentials read from configuration without ever
// putting them in a log line, an error or a config dump.
//
// In a config file a secret is written as ${ENV_VAR} (taken from the
// environment), file:/path/to/file (the file's content, trailing newline
// removed, as Docker and Kubernetes mount secrets), or a literal value
// (allowed, but `privtrail check` warns about it).
package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secret is a resolved credential. Its String and Format methods redact it.
type Secret struct {
	value  string
	source string // "env:NAME", "file:/path" or "literal", for messages
}

// Value returns the secret itself, for the one place that sends it.
func (s Secret) Value() string { return s.value }

// Source says where the secret came from without revealing it.
func (s Secret) Source() string { return s.source }

// IsSet reports whether a secret was configured.
func (s Secret) IsSet() bool { return s.source != "" }

func (s Secret) String() string {
	if !s.IsSet() {
		return ""
	}
	return "[redacted " + s.source + "]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// MarshalText keeps encoders (YAML, JSON dumps) from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Resolve turns a reference as written in a config file into a Secret.
func Resolve(ref string) (Secret, error) {
	switch {
	case ref == "":
		return Secret{}, nil
	case strings.HasPrefix(ref, "${") && strings.HasSuffix(ref, "}"):
		name := ref[2 : len(ref)-1]
		v, ok := os.LookupEnv(name)
		if !ok {
			return Secret{}, fmt.Errorf("environment variable %s is not set", name)
		}
		if v == "" {
			return Secret{}, fmt.Errorf("environment variable %s is empty", name)
		}
		return Secret{value: v, source: "env:" + name}, nil
	case strings.HasPrefix(ref, "file:"):
		path := strings.TrimPrefix(ref, "file:")
		b, err := os.ReadFile(path)
		if err != nil {
			// The error names the path, never the content.
			var pe *os.PathError
			if errors.As(err, &pe) {
				return Secret{}, fmt.Errorf("secret file %s: %v", path, pe.Err)
			}
			return Secret{}, fmt.Errorf("secret file %s: unreadable", path)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return Secret{}, fmt.Errorf("secret file %s is empty", path)
		}
		return Secret{value: v, source: "file:" + path}, nil
	default:
		return Secret{value: ref, source: "literal"}, nil
	}
}

// UnmarshalText lets a Secret be a field of a config struct.
func (s *Secret) UnmarshalText(b []byte) error {
	v, err := Resolve(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
