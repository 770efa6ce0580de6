package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string) string // returns the path
		want   string                                // with DIR for the temporary folder
		fail   bool
		asRoot bool // false: root would pass anyway (permissions)
	}{
		{name: "new file in an existing folder", asRoot: true,
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "out.jsonl") },
			want:  "folder DIR is writable; out.jsonl will be created"},
		{name: "existing file", asRoot: true,
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "out.jsonl")
				write(t, p, "{\"id\":1}\n", 0o640)
				return p
			},
			want: "folder DIR is writable; out.jsonl opens for appending"},
		{name: "folder the output will create", asRoot: true,
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "a", "b", "out.jsonl") },
			want:  "DIR/a/b does not exist yet; DIR is writable, the output creates it"},
		{name: "a file where the folder should be", asRoot: true,
			setup: func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "a"), "x", 0o640)
				return filepath.Join(dir, "a", "out.jsonl")
			},
			want: "DIR/a is not a folder", fail: true},
		{name: "path is a folder", asRoot: true,
			setup: func(t *testing.T, dir string) string { return dir },
			want:  "DIR is a folder, not a file", fail: true},
		{name: "read-only folder",
			setup: func(t *testing.T, dir string) string {
				ro := filepath.Join(dir, "ro")
				if err := os.Mkdir(ro, 0o500); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(ro, "out.jsonl")
			},
			want: "folder DIR/ro is not writable", fail: true},
		{name: "read-only file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "out.jsonl")
				write(t, p, "", 0o440)
				return p
			},
			want: "DIR/out.jsonl cannot be appended to", fail: true},
		{name: "no path", asRoot: true,
			setup: func(t *testing.T, dir string) string { return "" },
			want:  "path: is required", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.asRoot && os.Geteuid() == 0 {
				t.Skip("root may write anywhere")
			}
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := listing(t, dir)
			got, err := Check(context.Background(), Config{Path: path}, nil)
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if tt.fail {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, want)
				}
			} else if err != nil || got != want {
				t.Fatalf("got %q, %v\nwant %q", got, err, want)
			}
			if after := listing(t, dir); !slices.Equal(before, after) {
				t.Errorf("the check changed the folder:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func write(t *testing.T, path, data string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
}

// listing is every file under dir with its size and modification time.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err == nil {
			out = append(out, fmt.Sprint(p, " ", fi.ModTime(), " ", fi.Size()))
		}
		return nil
	})
	return out
}
