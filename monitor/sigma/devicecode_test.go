package sigma

import (
	"bytes"
	"os"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// SigmaHQ's device-code rule (azure_app_device_code_authentication)
// selects properties.message: Device Code, which privtrail maps, like
// Log Analytics, to the sign-in's authentication protocol. Entra logs that
// protocol as an enum value — deviceCode in the diagnostic record, Log
// Analytics' AuthenticationProtocol column and Graph beta's signIn — so the
// rule as shipped matches no real device-code sign-in (README, "Field
// mapping"), while the ROPC rule (ROPC, logged ropc) matches, ignoring
// case; a copy of the rule with the logged value matches.
func TestDeviceCodeRule(t *testing.T) {
	load := func(name string) []byte {
		b, err := os.ReadFile("../../pipelines/sigma/sigmahq-azure/signin_logs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	deviceCode := load("azure_app_device_code_authentication.yml")
	adapted := bytes.Replace(deviceCode, []byte("properties.message: Device Code"), []byte("properties.message: deviceCode"), 1)
	if bytes.Equal(adapted, deviceCode) {
		t.Fatal("the snapshot's device-code rule no longer selects properties.message: Device Code")
	}
	// A diagnostic-settings sign-in (Event Hub, storage account) of the
	// device code flow: properties.authenticationProtocol as Entra writes it.
	signIn := func(protocol string) *entra.Record {
		doc := `{"time":"2026-03-03T09:09:28.6702627Z","operationName":"Sign-in activity","category":"SignInLogs",` +
			`"tenantId":"3f0c8a52-6d1e-4b7a-9c25-8e4f1d2a7b96","resultType":"0","properties":{"id":"7dfadba2-312a-4589-a9ac-7c662b91b669",` +
			`"createdDateTime":"2026-03-03T09:09:28.6702627+00:00","userPrincipalName":"adm_grace@contoso.example",` +
			`"appDisplayName":"Microsoft Azure CLI","status":{"errorCode":0},"isInteractive":true,` +
			`"authenticationProtocol":"` + protocol + `"}}`
		var d entra.Decoder
		r := &entra.Record{}
		if err := d.Decode([]byte(doc), r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, c := range []struct {
		name     string
		rule     []byte
		protocol string
		want     bool
	}{
		{"SigmaHQ device code on deviceCode", deviceCode, "deviceCode", false},
		{"adapted copy on deviceCode", adapted, "deviceCode", true},
		{"adapted copy on ropc", adapted, "ropc", false},
		{"SigmaHQ ROPC on ropc", load("azure_app_ropc_authentication.yml"), "ropc", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := CompileFile("rule.yml", c.rule)
			if err != nil {
				t.Fatal(err)
			}
			var d Doc
			if got := rs[0].MatchDoc(signIn(c.protocol), &d); got != c.want {
				t.Errorf("match = %v, want %v", got, c.want)
			}
		})
	}
}
