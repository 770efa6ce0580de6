// Package synth generates deterministic, realistic Microsoft Entra ID logs
// about a fictional tenant, for benchmarks, tests and the bundled demo.
//
// A Generator (New) writes an endless stream of records as compact JSON,
// in both wire shapes privtrail reads: Microsoft Graph resources (signIns,
// directoryAudits) and Azure Monitor diagnostic-settings records (SignInLogs,
// NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs, AuditLogs,
// Administrative, and Entra Domain Services security events). The same seed
// gives the same bytes. Records are built by appending (no encoding/json on
// the hot path), fast enough to feed an end-to-end benchmark with 10^7
// records.
//
// DemoTenant is the tenant contoso.example; Tenant.RoleMapYAML renders its
// role map for the privilege stage. Demo builds the bundled demo dataset
// (testdata/demo): a working week in which every monitor of
// docs/monitor-triggers.md is hit by a crafted scenario, with near misses
// and background traffic. Its eventhub-entra.jsonl adds the diagnostic
// categories the Generator does not write (UserRiskEvents, RiskyUsers,
// ADFSSignInLogs, MicrosoftGraphActivityLogs, ProvisioningLogs), in the
// shapes of the public samples in entra/testdata/samples/categories.
// WriteDemo writes it; TestDemoFilesUpToDate keeps
// testdata/demo in step with the generator:
//
//	go test ./internal/synth -run TestDemoFilesUpToDate -update
package synth
