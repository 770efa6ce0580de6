package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privtrail/privtrail/inputs/eventhubs"
	"github.com/privtrail/privtrail/outputs/kafka"
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
		{"two input types", strings.Replace(base, "      paths: [x.json]\n", "      paths: [x.json]\n    eventhubs: {brokers: [\"127.0.0.1:9092\"]}\n", 1), []string{"privtrail.yaml:2", "inputs[0]", "one input type", "not several"}},
		{"unknown input type", strings.Replace(base, "    file:\n", "    fiel:\n", 1), []string{"privtrail.yaml:3", `unknown field "fiel"`, "dirscan, eventhubs, file, graph"}},
		{"two output types", strings.Replace(base, "    stdout: {}\n", "    stdout: {}\n    file: {path: x}\n", 1), []string{"privtrail.yaml:6", "outputs[0]", "exactly one output type"}},
		{"unknown key in an output type", strings.Replace(base, "    stdout: {}\n", "    file: {path: x, sink: true}\n", 1), []string{"privtrail.yaml:7", `unknown field "sink"`}},
		{"unknown context stage", "context:\n  geoip: {city_db: x}\n" + base, []string{"privtrail.yaml:2", `unknown field "geoip"`, "privilege, device, geo, work_hours"}},
		{"unknown key in a context stage", "context:\n  geo:\n    city: x\n" + base, []string{"privtrail.yaml:3", `unknown field "city"`}},
		{"dirscan without privilege", strings.Replace(base, "    file:\n      paths: [x.json]\n", "    dirscan: {graph: {tenant_id: t, client_id: c, client_secret: s}}\n", 1), []string{"privtrail.yaml:3", "inputs[0].dirscan: needs context.privilege"}},
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
	paths, err := filepath.Glob("../configs/*.yaml")
	if err != nil || len(paths) < 6 {
		t.Fatalf("configs: %v %v", paths, err)
	}
	for _, path := range paths {
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

func TestClusterConfig(t *testing.T) {
	const kafkaBlock = "  kafka:\n    brokers: [\"127.0.0.1:9092\"]\n    topic: records\n"
	pipeline := "pipelines: [../pipelines/privileged-accounts.yaml]\n"
	output := "outputs:\n  - {name: out, file: {path: out.jsonl}}\n"
	input := "inputs:\n  - {name: in, file: {paths: [x.jsonl]}}\n"
	for _, tc := range []struct {
		name, text, err string
		check           func(t *testing.T, c *Config)
	}{
		{name: "collector", text: "cluster:\n  role: collector\n" + kafkaBlock + input,
			check: func(t *testing.T, c *Config) {
				k, _ := c.Outputs[0].Config.(*kafka.Config)
				if len(c.Outputs) != 1 || k == nil || k.Topic != "records" || k.Key != "subject" {
					t.Errorf("collector output = %+v, want the records topic keyed by subject", c.Outputs)
				}
			}},
		{name: "processor", text: "cluster:\n  role: processor\n" + kafkaBlock + output + pipeline,
			check: func(t *testing.T, c *Config) {
				in, _ := c.Inputs[0].Config.(*eventhubs.Config)
				if len(c.Inputs) != 1 || in == nil || in.Topics[0] != "records" || in.ConsumerGroup != "privtrail-processors" {
					t.Errorf("processor input = %+v", c.Inputs)
				}
				if c.Cluster.StateTopic != "records-state" {
					t.Errorf("state topic = %q", c.Cluster.StateTopic)
				}
			}},
		{name: "unknown role", text: "cluster:\n  role: worker\n" + kafkaBlock + input + output + pipeline, err: `cluster.role: "worker" is not collector or processor`},
		{name: "no kafka", text: "cluster:\n  role: processor\n" + output + pipeline, err: "cluster.kafka: is required"},
		{name: "bad kafka", text: "cluster:\n  role: processor\n  kafka: {topic: records}\n" + output + pipeline, err: "cluster.kafka.brokers: is required"},
		{name: "collector with outputs", text: "cluster:\n  role: collector\n" + kafkaBlock + input + output, err: "outputs: a collector sends every record to cluster.kafka.topic"},
		{name: "collector with pipelines", text: "cluster:\n  role: collector\n" + kafkaBlock + input + pipeline, err: "pipelines: a collector runs no monitors"},
		{name: "processor with inputs", text: "cluster:\n  role: processor\n" + kafkaBlock + input + output + pipeline, err: "inputs: a processor reads cluster.kafka.topic only"},
		{name: "processor with two pipelines", text: "cluster:\n  role: processor\n" + kafkaBlock + output + "pipelines: [../pipelines/privileged-accounts.yaml, ../pipelines/demo.yaml]\n", err: "a processor runs one pipeline"},
		{name: "state topic is the records topic", text: "cluster:\n  role: processor\n  state_topic: records\n" + kafkaBlock + output + pipeline, err: "cluster.state_topic: must differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(filepath.Join(t.TempDir(), "privtrail.yaml"), []byte(tc.text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
