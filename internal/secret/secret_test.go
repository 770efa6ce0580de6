package secret

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "token")
	if err := os.WriteFile(f, []byte("s3cr3t-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PRIVTRAIL_TEST_TOKEN", "s3cr3t-from-env")
	tests := []struct {
		ref, want, source, err string
	}{
		{ref: "${PRIVTRAIL_TEST_TOKEN}", want: "s3cr3t-from-env", source: "env:PRIVTRAIL_TEST_TOKEN"},
		{ref: "file:" + f, want: "s3cr3t-from-file", source: "file:" + f},
		{ref: "plain", want: "plain", source: "literal"},
		{ref: "${PRIVTRAIL_TEST_UNSET}", err: "PRIVTRAIL_TEST_UNSET is not set"},
		{ref: "file:" + filepath.Join(dir, "missing"), err: "no such file"},
	}
	for _, tt := range tests {
		s, err := Resolve(tt.ref)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Resolve(%q) err = %v, want %q", tt.ref, err, tt.err)
			}
			continue
		}
		if err != nil || s.Value() != tt.want || s.Source() != tt.source {
			t.Errorf("Resolve(%q) = %q from %q, %v", tt.ref, s.Value(), s.Source(), err)
		}
		for _, printed := range []string{s.String(), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
			if strings.Contains(printed, tt.want) {
				t.Errorf("printing the secret revealed it: %q", printed)
			}
		}
	}
}
