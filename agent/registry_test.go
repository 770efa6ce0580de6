package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/plugin"
	"github.com/privtrail/privtrail/outputs"
)

// memoryOutput is an output type that lives in this file alone: its
// config, its behaviour and the one line that registers it. Nothing else
// in the agent knows of it.
type memoryConfig struct {
	Keep int `yaml:"keep"`
}

func (c *memoryConfig) Validate() error {
	if c.Keep <= 0 {
		return errors.New("keep: must be positive")
	}
	return nil
}

type memoryOutput struct {
	mu   sync.Mutex
	keep int
	ids  []string
	hits int
}

func (o *memoryOutput) Consume(_ context.Context, b *batch.Batch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range b.Records {
		if len(o.ids) < o.keep {
			o.ids = append(o.ids, r.ID)
		}
		o.hits += len(r.Hits)
	}
	b.Ack()
	return nil
}

func (o *memoryOutput) Close(context.Context) error { return nil }

// memoryOutputs are the outputs the registry built, by name.
var memoryOutputs sync.Map

func init() {
	outputs.Register(plugin.New("memory", func(name string, c *memoryConfig, _ outputs.Env) (batch.Output, error) {
		o := &memoryOutput{keep: c.Keep}
		memoryOutputs.Store(name, o)
		return o, nil
	}, nil))
}

// A config names the memory type like any shipped one: it is decoded as
// strictly, validated with the line of the mistake, built and fed by a
// pipeline.
func TestOutputTypeAddedThroughTheRegistryAlone(t *testing.T) {
	dir := t.TempDir()
	var src strings.Builder
	for i := range 12 {
		src.Write(wrongPassword(i))
		src.WriteByte('\n')
	}
	files := map[string]string{
		"signins.jsonl": src.String(),
		"brute.yaml":    bruteForcePipeline,
		"rolemap.yaml":  "users:\n  - {id: adm_alice-id, upn: adm_alice@contoso.example, roles: [{name: Global Administrator}]}\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := func(block string) string {
		return `inputs:
  - name: exports
    file: {paths: [signins.jsonl]}
outputs:
  - name: mem
    memory: ` + block + `
context:
  privilege: {role_map: rolemap.yaml}
pipelines: [brute.yaml]
`
	}
	path := filepath.Join(dir, "privtrail.yaml")
	for _, bad := range []struct{ block, want string }{
		{"{keep: 100, cap: 1}", `privtrail.yaml:6:25: unknown field "cap"`},
		{"{keep: 0}", "outputs[0].memory.keep: must be positive"},
	} {
		_, err := ParseConfig(path, []byte(config(bad.block)))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("memory: %s: err = %v, want %q", bad.block, err, bad.want)
		}
	}

	cfg, err := ParseConfig(path, []byte(config("{keep: 100}")))
	if err != nil {
		t.Fatal(err)
	}
	a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, ok := memoryOutputs.Load("mem")
	if !ok {
		t.Fatal("the registry never built the memory output")
	}
	o := v.(*memoryOutput)
	if len(o.ids) != 12 || o.ids[0] != "pw-0000" || o.ids[11] != "pw-0011" {
		t.Errorf("memory output got %v, want pw-0000 … pw-0011 in order", o.ids)
	}
	if o.hits != 1 {
		t.Errorf("%d monitor hits reached the memory output, want 1 (adm_alice's fifth wrong password)", o.hits)
	}
}
