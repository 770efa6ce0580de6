package dirscan

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/yamlfile"
)

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		needGraph bool
		want      string // error substring; "" valid
	}{
		{"defaults", Config{TenantID: "t"}, false, ""},
		{"no graph", Config{TenantID: "t"}, true, "graph: required"},
		{"no tenant", Config{}, false, "tenant_id: required"},
		{"tenant from graph", Config{Graph: &graphapi.Config{Auth: "managed_identity", TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47"}}, true, ""},
		{"short interval", Config{TenantID: "t", Interval: time.Second}, false, "interval: 1s is below"},
		{"negative interval", Config{TenantID: "t", Interval: -time.Hour}, false, "interval: must be positive"},
		{"page size", Config{TenantID: "t", UsersPageSize: 999}, false, "users_page_size: 999 is over 120"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			err := c.validateCopy(tc.needGraph)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want %q", err, tc.want)
				}
				if c.Interval != tc.cfg.Interval {
					t.Error("a failed Validate changed the config")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Interval != DefaultInterval || c.UsersPageSize != DefaultUsersPageSize || c.TenantID == "" {
				t.Errorf("defaults: %+v", c)
			}
		})
	}
}

func TestSample(t *testing.T) {
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Inputs []struct {
			Name    string `yaml:"name"`
			Dirscan Config `yaml:"dirscan"`
		} `yaml:"inputs"`
	}
	if err := yamlfile.Decode("sample.yaml", data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Inputs) != 1 {
		t.Fatalf("%+v", file)
	}
	c := file.Inputs[0].Dirscan
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Interval != 24*time.Hour || c.UsersPageSize != 120 || c.TenantID != "72f988bf-86f1-41af-91ab-2d7cd011db47" {
		t.Errorf("%+v", c)
	}
}
