package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigErrorsNameFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	base := "inputs:\n  - name: exports\n    file:\n      paths: [x.json]\noutputs:\n  - name: out\n    stdout: {}\npipelines: [p.yaml]\n"
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"unknown top-level key", "data_dri: /tmp\n" + base, []string{"privtrail.yaml:1", "data_dri"}},
		{"unknown nested key", strings.Replace(base, "paths: [x.json]", "paths: [x.json]\n      bogus_key: 1", 1), []string{"privtrail.yaml:5", "bogus_key"}},
		{"bad value type", "workers: many\n" + base, []string{"privtrail.yaml:1", "workers"}},
		{"bad log level", "log:\n  level: loud\n" + base, []string{"privtrail.yaml:2", "log.level", "loud"}},
		{"input without type", strings.Replace(base, "    file:\n      paths: [x.json]\n", "", 1), []string{"privtrail.yaml:2", "inputs[0]", "configure one input type"}},
		{"file input without paths", strings.Replace(base, "      paths: [x.json]\n", "      batch_size: 10\n", 1), []string{"privtrail.yaml:4", "inputs[0].file.paths"}},
		{"duplicate output", strings.Replace(base, "pipelines", "  - name: out\n    stdout: {}\npipelines", 1), []string{"privtrail.yaml:8", `"out" is used twice`}},
		{"no pipelines", strings.Replace(base, "pipelines: [p.yaml]\n", "", 1), []string{"privtrail.yaml", "pipelines: at least one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "privtrail.yaml")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestShippedConfigsParse(t *testing.T) {
	t.Setenv("SPLUNK_HEC_TOKEN", "lab-token")
	t.Setenv("ELASTIC_PASSWORD", "lab-password")
	for _, path := range []string{"../configs/privtrail.yaml", "../configs/demo.yaml", "../configs/lab.yaml", "../configs/compose-lab.yaml"} {
		c, err := LoadConfig(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if !filepath.IsAbs(c.DataDir) && !strings.HasPrefix(c.DataDir, "/") {
			t.Errorf("%s: data_dir %q not resolved against the config's folder", path, c.DataDir)
		}
	}
}
