package monitor

import (
	"strings"
	"testing"
)

func TestBadApprovedRangeIsACompileError(t *testing.T) {
	defs := []Definition{{ID: "site.controls", Title: "t", Risk: "high", Source: "signin", file: "site.yaml",
		When:   `UnapprovedControls() != ""`,
		Params: map[string]any{"approved_ranges": []any{"10.0.0.0/8", "10.1.2.300/24"}}}}
	_, err := Compile(defs, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "site.yaml") || !strings.Contains(err.Error(), "approved_ranges") {
		t.Fatalf("err = %v, want a start-up error naming the file and approved_ranges", err)
	}
}

func TestAnyFold(t *testing.T) {
	tests := []struct {
		list   []string
		s      string
		prefix bool
		want   bool
	}{
		{[]string{"Edge"}, "Edge 122.0", true, true},
		{[]string{"edge"}, "EDGE", true, true},
		{[]string{"Edge"}, "Edgeless 1", true, false},
		{[]string{"Windows 10"}, "Windows 10", false, true},
		{[]string{"Windows"}, "Windows 10", false, false},
		{[]string{"DE"}, "", false, false},
		{[]string{"Windows 10"}, "Windows10", true, true},
		{[]string{"macOS"}, "MacOs", true, true},
		{[]string{"Windows 10"}, "Windows 1", true, false},
		{[]string{"Chrome"}, "Chrome Mobile 120", true, false}, // another browser
		{[]string{"Edge"}, "Edge122.0", true, true},
	}
	for _, tt := range tests {
		if got := anyFold(tt.list, tt.s, tt.prefix); got != tt.want {
			t.Errorf("anyFold(%v, %q, %v) = %v, want %v", tt.list, tt.s, tt.prefix, got, tt.want)
		}
	}
}
