package graphapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/graphapi"
	"github.com/privtrail/privtrail/internal/graphapi/graphtest"
	"github.com/privtrail/privtrail/internal/secret"
)

func TestCheckNamesEachMissingPermission(t *testing.T) {
	cases := []struct {
		name    string
		deny    []string
		missing []string
	}{
		{"every permission granted", nil, nil},
		{"no PIM eligibility", []string{"/v1.0/roleManagement/directory/roleEligibilitySchedules"}, []string{"RoleEligibilitySchedule.Read.Directory"}},
		{"no audit logs", []string{"/v1.0/auditLogs/signIns", "/v1.0/auditLogs/directoryAudits"}, []string{"AuditLog.Read.All", "AuditLog.Read.All"}},
		{"no ID Protection", []string{"/v1.0/identityProtection/riskDetections", "/v1.0/identityProtection/riskyUsers"},
			[]string{"IdentityRiskEvent.Read.All", "IdentityRiskyUser.Read.All"}},
		{"risky users only missing", []string{"/v1.0/identityProtection/riskyUsers"}, []string{"IdentityRiskyUser.Read.All"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := graphtest.New(t)
			for _, p := range c.deny {
				srv.Deny(p, "")
			}
			cl, _, _ := newClient(t, srv, nil)
			res := cl.Check(context.Background())
			if len(res) != len(graphapi.Permissions) {
				t.Fatalf("%d results for %d permissions", len(res), len(graphapi.Permissions))
			}
			var missing []string
			for _, r := range res {
				if r.Missing {
					missing = append(missing, r.Permission.Permission)
				} else if r.Err != nil {
					t.Errorf("%s: %v", r.Path, r.Err)
				}
			}
			if strings.Join(missing, ",") != strings.Join(c.missing, ",") {
				t.Errorf("missing %v, want %v", missing, c.missing)
			}
		})
	}
}

func TestCheckWithAWrongSecretFailsEveryProbeWithoutLeakingIt(t *testing.T) {
	srv := graphtest.New(t)
	cl, _, _ := newClient(t, srv, func(c *graphapi.Config) {
		s, err := secret.Resolve("not-the-secret-4f1a")
		if err != nil {
			t.Fatal(err)
		}
		c.ClientSecret = s
	})
	for _, r := range cl.Check(context.Background()) {
		if r.Err == nil || r.Missing {
			t.Errorf("%s: err %v, missing %v; want an authentication error", r.Path, r.Err, r.Missing)
		} else if strings.Contains(r.Err.Error(), "not-the-secret-4f1a") {
			t.Errorf("%s: the error shows the secret: %v", r.Path, r.Err)
		}
	}
}

// The ID Protection probes ask for one item of each collection, and a 429
// from /identityProtection/ — which Graph sends without Retry-After — is
// retried with back-off like any other, not reported as a failed check.
func TestCheckProbesIdentityProtection(t *testing.T) {
	srv := graphtest.New(t)
	srv.FailNext("/v1.0/identityProtection/riskyUsers", http.StatusTooManyRequests, "", 1)
	cl, _, sl := newClient(t, srv, nil)
	for _, r := range cl.Check(context.Background()) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Path, r.Err)
		}
	}
	for _, tt := range []struct {
		path     string
		requests int
	}{
		{"/v1.0/identityProtection/riskDetections", 1},
		{"/v1.0/identityProtection/riskyUsers", 2},
	} {
		if n := srv.Requests(tt.path); n != tt.requests {
			t.Errorf("%s: %d requests, want %d", tt.path, n, tt.requests)
		}
		for _, r := range srv.Log() {
			if r.Path == tt.path && r.RawQuery != "$top=1" {
				t.Errorf("%s probed with %q, want $top=1", tt.path, r.RawQuery)
			}
		}
	}
	if w := sl.all(); len(w) != 1 || w[0] > time.Second {
		t.Errorf("waits %v: want one back-off of at most 1 s (no Retry-After)", w)
	}
}
