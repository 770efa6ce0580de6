package linefile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/internal/tmpfs"
)

// A torn last line, whatever its length, is cut off at Open; complete
// lines are kept byte for byte.
func TestOpenCutsATornLastLine(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than a read chunk
	for _, tc := range []struct{ name, before, after string }{
		{"empty", "", ""},
		{"complete", "a\nb\n", "a\nb\n"},
		{"torn", "a\nb\n{\"id\":\"c\",\"priv", "a\nb\n"},
		{"no line at all", "{\"id\":", ""},
		{"long torn line", "a\n" + long, "a\n"},
		{"torn line after a long one", long + "\n" + "tail", long + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.jsonl")
			if err := os.WriteFile(path, []byte(tc.before), 0o600); err != nil {
				t.Fatal(err)
			}
			f, cut, err := Open(path, 0o600, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Append(func(w *bufio.Writer) error { _, err := w.WriteString("next\n"); return err }, true); err != nil {
				t.Fatal(err)
			}
			f.Close(true)
			got, _ := os.ReadFile(path)
			if string(got) != tc.after+"next\n" || cut != int64(len(tc.before)-len(tc.after)) {
				t.Errorf("file %.40q… (cut %d), want %.40q… + next (cut %d)", got, cut, tc.after, len(tc.before)-len(tc.after))
			}
		})
	}
}

// On a full disk an append fails and leaves the file as it was: no
// partial line for a tailing reader to glue to the next one. Once space
// returns the same lines are appended whole.
func TestFailedAppendLeavesNoPartialLine(t *testing.T) {
	disk := tmpfs.Mount(t, 256<<10)
	path := filepath.Join(disk.Dir, "out.jsonl")
	f, _, err := Open(path, 0o600, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(false)
	batch := func(n int) func(w *bufio.Writer) error {
		return func(w *bufio.Writer) error {
			for i := range 50 {
				fmt.Fprintf(w, "{\"batch\":%d,\"i\":%d,\"pad\":%q}\n", n, i, strings.Repeat("p", 1000))
			}
			return nil
		}
	}
	if err := f.Append(batch(0), true); err != nil {
		t.Fatal(err)
	}
	disk.Fill()
	if err := f.Append(batch(1), true); err == nil {
		t.Fatal("a 50 KB append to a full disk succeeded")
	}
	got, _ := os.ReadFile(path)
	if !bytes.HasSuffix(got, []byte("\n")) || bytes.Count(got, []byte("\n")) != 50 {
		t.Fatalf("after the failed append the file holds %d bytes, %d lines, ends %q", len(got), bytes.Count(got, []byte("\n")), got[max(0, len(got)-20):])
	}
	disk.Free()
	if err := f.Append(batch(1), true); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSuffix(got, []byte("\n")), []byte("\n"))
	if len(lines) != 100 {
		t.Fatalf("%d lines, want 100", len(lines))
	}
	for i, l := range lines {
		if !json.Valid(l) {
			t.Fatalf("line %d is not JSON: %.60q", i+1, l)
		}
	}
}
