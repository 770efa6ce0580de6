package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/privtrail/privtrail/internal/delivery"
)

func TestMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name       string
		env        string
		cgroup     string // "" : no cgroup file
		configured delivery.Size
		limit      int64
		source     string
	}{
		{"default", "", "", 0, DefaultMemoryLimit, "default"},
		{"configured", "", "", 512 << 20, 512 << 20, "memory_limit"},
		{"unlimited cgroup", "", "max\n", 0, DefaultMemoryLimit, "default"},
		{"cgroup above the limit", "", "1073741824\n", 0, DefaultMemoryLimit, "default"},
		{"cgroup below the limit", "", "134217728\n", 0, 134217728 / 10 * 9, "90% of the cgroup's memory.max"},
		{"cgroup below memory_limit", "", "209715200\n", 1 << 30, 209715200 / 10 * 9, "90% of the cgroup's memory.max"},
		{"GOMEMLIMIT wins", "300MiB", "209715200\n", 512 << 20, -1, "GOMEMLIMIT"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tt.env)
			if tt.env == "" {
				os.Unsetenv("GOMEMLIMIT")
			}
			path := filepath.Join(dir, "memory.max."+string(rune('a'+i)))
			if tt.cgroup != "" {
				if err := os.WriteFile(path, []byte(tt.cgroup), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			old := cgroupMemoryMax
			cgroupMemoryMax = path
			defer func() { cgroupMemoryMax = old }()
			limit, source := memoryLimit(tt.configured)
			if limit != tt.limit || source != tt.source {
				t.Errorf("memoryLimit(%d) = %d, %q; want %d, %q", tt.configured, limit, source, tt.limit, tt.source)
			}
		})
	}
}
