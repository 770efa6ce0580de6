package graph

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/secret"
)

func appConfig(t testing.TB) *graphapi.Config {
	t.Helper()
	sec, err := secret.Resolve("not-a-real-secret")
	if err != nil {
		t.Fatal(err)
	}
	return &graphapi.Config{TenantID: "8a6b1c3e-0f4d-4b6a-9e2f-5d7c8b9a0e1f", ClientID: "3f2d9a71-6c4b-4e8d-a1f0-b2c3d4e5f607", ClientSecret: sec}
}

func TestValidateDefaults(t *testing.T) {
	c := Config{Graph: appConfig(t)}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Streams, []string{"signins", "signins_beta", "audits", "risk_detections", "risky_users"}) || !c.defaulted || c.Interval != time.Minute || c.Lag != 7*time.Minute ||
		c.Overlap != 15*time.Minute || c.Backfill != 24*time.Hour || c.Window != time.Hour || c.PageSize != 1000 ||
		c.BatchSize != 1000 || c.DedupIDs != 100_000 || len(c.EventTypes) != 0 {
		t.Errorf("defaults: %+v", c)
	}
	if c.Graph.Auth != graphapi.AuthClientSecret || c.Graph.ReportsRate != 5 {
		t.Errorf("the graph block got no defaults: %+v", c.Graph)
	}

	// Validate works on a copy: the caller's slices and graph block are
	// not shared, and a failed Validate changes nothing.
	streams := []string{"SignIns", "signins_beta"}
	types := []string{"SERVICEPRINCIPAL"}
	g := appConfig(t)
	d := Config{Graph: g, Streams: streams, EventTypes: types, BatchSize: -1}
	if err := d.Validate(); err == nil {
		t.Fatal("batch_size -1 accepted")
	}
	if d.Interval != 0 || d.Streams[0] != "SignIns" || g.Auth != "" {
		t.Errorf("failed Validate changed the config: %+v", d)
	}
	d.BatchSize = 0
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Streams, []string{"signins", "signins_beta"}) || !slices.Equal(d.EventTypes, []string{"servicePrincipal"}) {
		t.Errorf("not normalised: %v %v", d.Streams, d.EventTypes)
	}
	if d.defaulted {
		t.Error("streams listed, yet marked as defaulted")
	}
	// Validated again (the agent validates at load, New once more): the
	// streams stay those the defaults gave, and stay marked so.
	if err := c.Validate(); err != nil || !c.defaulted || len(c.Streams) != len(DefaultStreams) {
		t.Errorf("second Validate: %v, defaulted %v, streams %v", err, c.defaulted, c.Streams)
	}
	if streams[0] != "SignIns" || types[0] != "SERVICEPRINCIPAL" || g.Auth != "" || d.Graph == g {
		t.Error("Validate changed the caller's slices or graph block")
	}
}

func TestValidateErrorsNameKeys(t *testing.T) {
	g := appConfig(t)
	tests := []struct {
		c    Config
		want string
	}{
		{Config{}, "graph: required"},
		{Config{Graph: &graphapi.Config{ClientID: "x", ClientSecret: g.ClientSecret}}, "graph.tenant_id: required"},
		{Config{Graph: &graphapi.Config{ClientSecret: g.ClientSecret, Cloud: "mars"}}, "graph.cloud: \"mars\""},
		{Config{Graph: g, Streams: []string{"signin"}}, `streams[0]: "signin" is not signins, signins_beta, audits, risk_detections or risky_users`},
		{Config{Graph: g, Streams: []string{"audits", "Audits"}}, `streams[1]: "audits" is listed twice`},
		{Config{Graph: g, Streams: []string{"signins"}, EventTypes: []string{"servicePrincipal"}}, "event_types: only used with the signins_beta stream"},
		{Config{Graph: g, EventTypes: []string{"robot"}}, `event_types[0]: "robot" is not nonInteractiveUser`},
		{Config{Graph: g, EventTypes: []string{"interactiveUser"}}, "event_types[0]: interactiveUser sign-ins are read by the signins stream already"},
		{Config{Graph: g, EventTypes: []string{"managedIdentity", "ManagedIdentity"}}, `event_types[1]: "managedIdentity" is listed twice`},
		{Config{Graph: g, Interval: -time.Second}, "interval: must be positive"},
		{Config{Graph: g, Interval: time.Millisecond}, "interval: 1ms is below the minimum of 1s"},
		{Config{Graph: g, Lag: 48 * time.Hour}, "lag: 48h0m0s is over the limit of 24h0m0s"},
		{Config{Graph: g, Overlap: -time.Minute}, "overlap: must be positive"},
		{Config{Graph: g, Backfill: 31 * 24 * time.Hour}, "backfill: 744h0m0s is over 720h0m0s: Entra keeps"},
		{Config{Graph: g, Window: time.Second}, "window: 1s is below the minimum of 1m0s"},
		{Config{Graph: g, PageSize: 1001}, "page_size: 1001 is over the limit of 1000"},
		{Config{Graph: g, BatchSize: -3}, "batch_size: must be positive"},
		{Config{Graph: g, DedupIDs: 20_000_000}, "dedup_ids: 20000000 is over the limit"},
	}
	for _, tt := range tests {
		err := tt.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.c, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "not-a-real-secret") {
			t.Errorf("error reveals the secret: %v", err)
		}
	}
	// Several errors at once, each naming its key.
	c := Config{Graph: &graphapi.Config{}, PageSize: 5000, Streams: []string{"x"}}
	err := c.Validate()
	for _, want := range []string{"graph.auth:", "page_size:", "streams[0]:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: no %q", err, want)
		}
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(line, "tenant_id") || strings.HasPrefix(line, "auth") {
			t.Errorf("a graph block error without its prefix: %q", line)
		}
	}
	// A shared client makes the graph block optional.
	shared := Config{}
	if err := shared.validateCopy(false); err != nil {
		t.Errorf("without graph block, client shared: %v", err)
	}
}

// sample.yaml is a valid `inputs:` entry under the agent's strict parsing.
func TestSample(t *testing.T) {
	t.Setenv("PRIVTRAIL_GRAPH_SECRET", "not-a-real-secret")
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Inputs []struct {
			Name  string  `yaml:"name"`
			Graph *Config `yaml:"graph"`
		} `yaml:"inputs"`
	}
	if err := yaml.UnmarshalWithOptions(data, &sample, yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	if len(sample.Inputs) != 1 || sample.Inputs[0].Graph == nil {
		t.Fatalf("sample.yaml: %+v", sample)
	}
	c := sample.Inputs[0].Graph
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	def := Config{Graph: appConfig(t)}
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Graph.ClientSecret.Value() != "not-a-real-secret" || !slices.Equal(c.Streams, def.Streams) ||
		c.Interval != def.Interval || c.Lag != def.Lag || c.Overlap != def.Overlap || c.Backfill != def.Backfill ||
		c.Window != def.Window || c.PageSize != def.PageSize || c.BatchSize != def.BatchSize || c.DedupIDs != def.DedupIDs {
		t.Errorf("sample.yaml does not show the defaults: %+v", c)
	}
}
