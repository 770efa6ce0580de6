package synth

import (
	"fmt"
	"sort"
	"strings"
)

// demoReadme renders testdata/demo/README.md from the scenarios, so that
// the table never drifts from the data.
func demoReadme(t *Tenant, f DemoFiles) []byte {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# Demo data: a working week of contoso.example\n\n")
	p("**Generated — do not edit.** Every file here, this README included, is written by package\n")
	p("`synth` (`synth.Demo`, `internal/synth/demo.go`). After changing the generator, regenerate with\n\n")
	p("    go test ./internal/synth -run TestDemoFilesUpToDate -update\n\n")
	p("and `go test ./internal/synth` checks that the files match the generator byte for byte.\n\n")
	p("The data is fictional: tenant `%s` (%s), Monday 2 to Friday 6 March 2026, UTC.\n", t.Domain, t.ID)
	p("Ordinary traffic (staff and guests signing in, workloads, admins working on their PAWs,\n")
	p("routine directory changes) surrounds crafted scenarios: each monitor of\n")
	p("[docs/monitor-triggers.md](../../docs/monitor-triggers.md) is hit at least once, and most have a\n")
	p("near miss that must not fire.\n\n")

	p("## Files\n\n")
	p("| file | shape | sign-ins | audits | activity | aadds | risk | graph activity | other | not Entra logs |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	shapes := map[string]string{
		DemoSignIns:         "diagnostic-settings records (SignInLogs, NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs), one per line",
		DemoGraphSignIns:    "a Microsoft Graph (beta) `signIns` page, pretty-printed",
		DemoAudit:           "a JSON array of Graph `directoryAudits`, pretty-printed",
		DemoDiagnosticAudit: "gzip of `{\"records\":[...]}`: diagnostic AuditLogs, Administrative (Azure Activity) and Domain Services security events",
		DemoEventHub: "diagnostic-settings records one per line, as an Event Hubs capture or a storage export holds them: " +
			"UserRiskEvents and RiskyUsers (ID Protection), ADFSSignInLogs, MicrosoftGraphActivityLogs, ProvisioningLogs",
	}
	streams := []string{"signin", "audit", "activity", "aadds", "risk", "graphactivity", "other", "invalid"}
	total := map[string]int{}
	for _, name := range []string{DemoSignIns, DemoGraphSignIns, DemoAudit, DemoDiagnosticAudit, DemoEventHub} {
		c := f.Counts[name]
		p("| `%s` | %s |", name, shapes[name])
		for _, st := range streams {
			p(" %d |", c[st])
			total[st] += c[st]
		}
		p("\n")
	}
	p("| **total** | |")
	for _, st := range streams {
		p(" %d |", total[st])
	}
	p("\n")
	p("| `%s` | Friday evening's directory scan: one `directory` record per privileged user (what inputs/dirscan emits) | | | | | | | | |\n", DemoDirectory)
	p("| `%s` | the role map the privilege stage reads | | | | | | | | |\n", DemoRoleMap)
	p("| `%s` | the PAW/SAW list the device stage reads: every admin's `PAW-*` device | | | | | | | | |\n", DemoDevices)
	p("| `%s` | the admins' working hours, read by the work-hours stage | | | | | | | | |\n", DemoWorkHours)
	p("| `%s`, `%s` | GeoLite2-City- and GeoLite2-ASN-shaped MaxMind DBs of the tenant's locations, read by the geo stage | | | | | | | | |\n\n", DemoCityMMDB, DemoASNMMDB)
	p("`signins.jsonl` holds two lines that are not Entra logs, to show the dead-letter path: a\n")
	p("heartbeat object of an Event Hubs forwarder (valid JSON, no Entra shape) and a record cut off\n")
	p("mid-line (invalid JSON).\n\n")
	p("`%s` holds the diagnostic categories beyond sign-ins and audits, in the envelopes and\n", DemoEventHub)
	p("property names of the public samples in `entra/testdata/samples/categories`: ID Protection's\n")
	p("risk detections (UserRiskEvents: an admin's leaked credentials, an offline detection no sign-in\n")
	p("carries, and a staff member's anonymised IP) and risky-user states (RiskyUsers: the admin at risk,\n")
	p("then dismissed), an AD FS sign-in (ADFSSignInLogs, decoded as a sign-in), Microsoft Graph\n")
	p("activity (MicrosoftGraphActivityLogs: an admin's reads, an emergency account's write, which\n")
	p("`graphactivity.emergency_account_write` reports: `pipelines/demo.yaml` turns that opt-in monitor on)\n")
	p("and a ProvisioningLogs record, which privtrail has no model for: it is forwarded as stream `other`.\n\n")

	p("## The tenant\n\n")
	p("| account | roles (assignment, via) | note |\n|---|---|---|\n")
	for _, u := range t.Users {
		if len(u.Roles) == 0 {
			continue
		}
		var roles []string
		for _, r := range u.Roles {
			via := r.Via
			if strings.HasPrefix(via, "group:") {
				for _, g := range t.Groups {
					if "group:"+g.ID == via {
						via = "group " + g.DisplayName
					}
				}
			}
			label := r.Role.Name + " (" + r.Assignment + ", " + via + ")"
			if !r.Role.Privileged {
				label += " — not privileged"
			}
			roles = append(roles, label)
		}
		var note []string
		if u.Emergency {
			note = append(note, "emergency access")
		}
		if u.Disabled {
			note = append(note, "disabled")
		}
		if u.Privileged() && !u.Emergency && !strings.HasPrefix(u.UPN, "adm_") {
			note = append(note, "breaks the adm_ naming pattern")
		}
		p("| `%s` | %s | %s |\n", u.UPN, strings.Join(roles, "; "), strings.Join(note, ", "))
	}
	members, guests := 0, 0
	for _, u := range t.Users {
		if len(u.Roles) == 0 && u.UserType == "Guest" {
			guests++
		} else if len(u.Roles) == 0 {
			members++
		}
	}
	p("\nplus %d staff without roles (among them `hr-onboarding@%s`) and %d guests.\n\n", members, t.Domain, guests)

	p("What the demo assumes of the pipeline's settings (the defaults of `pipelines/privileged-accounts.yaml`\n")
	p("leave these lists empty):\n\n")
	p("- `params.approved_inviters`: %s\n", codeList(t.ApprovedInviters))
	p("- `params.high_value_apps`: %s\n", codeList(t.HighValueApps))
	var offices []string
	for _, i := range t.Offices {
		offices = append(offices, t.Locations[i].City)
	}
	p("- `signin.unapproved_controls`: `approved_countries` %s; `approved_browsers` %s;\n", codeList(t.ApprovedCountries), codeList(t.ApprovedBrowsers))
	p("  `approved_operating_systems` %s; `approved_ranges` the networks of the offices\n", codeList(t.ApprovedOS))
	p("  (%s):\n  %s.\n", strings.Join(offices, ", "), codeList(t.OfficeCIDRs()))
	p("  Entra logs the operating system without the space (`Windows10`, `MacOs`), as these files do:\n")
	p("  the comparison must allow for that, or the list must carry both spellings.\n\n")
	p("Context files (the stages' configuration, not pipeline parameters):\n\n")
	p("- `%s`: the PAW/SAW devices, by `deviceDetail.deviceId`; every admin's `PAW-*` device (each admin also\n", DemoDevices)
	p("  has an everyday laptop, `LT-*`, compliant and managed, not a PAW):\n")
	for _, u := range t.Users {
		for _, d := range u.Devices {
			if d.PAW {
				p("  `%s` (%s, %s)\n", d.ID, d.DisplayName, u.UPN)
			}
		}
	}
	p("- `%s`:\n", DemoWorkHours)
	hours := func(s Schedule) string {
		out := strings.Join(s.Days, " ") + ", " + strings.Join(s.Hours, ", ") + " " + s.TimeZone
		if len(s.Holidays) > 0 {
			out += ", holidays " + strings.Join(s.Holidays, ", ")
		}
		return out
	}
	for _, s := range t.WorkHours.Schedules {
		var who []string
		for _, u := range s.Users {
			who = append(who, strings.TrimSuffix(u, "@"+t.Domain))
		}
		for _, id := range s.Groups {
			for _, g := range t.Groups {
				if g.ID == id {
					who = append(who, "the members of "+g.DisplayName+" (by the group's object ID)")
				}
			}
		}
		p("  - `%s`: %s: %s\n", s.Name, hours(s), strings.Join(who, ", "))
	}
	p("  - `default`: %s: everyone else (the emergency accounts)\n", hours(t.WorkHours.Default))
	p("- `%s`, `%s`: every location's networks with its country, city, subdivision, coordinates\n", DemoCityMMDB, DemoASNMMDB)
	p("  and AS; every sign-in of the week resolves (their build time is fixed, so the bytes never change):\n\n")
	p("| city | country | ASN | AS organisation | networks |\n|---|---|--:|---|---|\n")
	for _, l := range t.Locations {
		p("| %s | %s | %d | %s | %s |\n", l.City, l.Country, l.ASN, l.ASOrg, codeList(l.CIDRs()))
	}
	p("\n")

	p("## Scenarios that must fire\n\n")
	p("Monitors in *italics* are stateful or directory monitors of the catalog (`monitors.md`), not in\n")
	p("`docs/monitor-triggers.md`. Records may fire more monitors than listed (any change an admin\n")
	p("makes also fires `audit.privileged_change`; each admin's first sign-in of the week fires\n")
	p("*signin.new_device_or_location* while its state is empty).\n\n")
	scenarioTable(&b, f.Scenarios, false)
	p("\n## Near misses: must not fire\n\n")
	scenarioTable(&b, f.Scenarios, true)

	p("\n## Coverage\n\n| monitor | scenarios |\n|---|---|\n")
	byMonitor := map[string]int{}
	for _, s := range f.Scenarios {
		if !s.NearMiss {
			for _, m := range s.Monitors {
				byMonitor[m]++
			}
		}
	}
	ids := make([]string, 0, len(byMonitor))
	for m := range byMonitor {
		ids = append(ids, m)
	}
	sort.Strings(ids)
	for _, m := range ids {
		p("| %s | %d |\n", monitorName(m), byMonitor[m])
	}
	p("\n## Shapes worth knowing\n\n")
	p("- Core Directory logs most modified values as JSON arrays in a string: `UserType` goes from\n")
	p("  `\"[\\\"Guest\\\"]\"` to `\"[\\\"Member\\\"]\"`, as in real tenants; role names are JSON strings\n")
	p("  (`\"\\\"Global Administrator\\\"\"`); Conditional Access policies are compact JSON objects in a string.\n")
	p("- A deleted user's `userPrincipalName` is prefixed with its object ID without dashes.\n")
	p("- PIM activations are also logged by Core Directory as `Add member to role` initiated by the\n")
	p("  application `MS-PIM`.\n")
	p("- Graph sign-ins (beta) spell `userType` in lower case (`member`, `guest`); diagnostic ones\n")
	p("  capitalise it. Domain Services events carry the NetBIOS domain (`%s`) and the SAM name\n", netbiosName(t.Domain))
	p("  (`adm_dmitri`), not a UPN.\n")
	p("- ID Protection and AD FS envelopes write `time` in Azure's US form (`3/5/2026 6:18:44 AM`, UTC);\n")
	p("  ID Protection's own times have milliseconds and drop the hour's leading zero\n")
	p("  (`2026-03-05T6:18:44.512Z`). A detection's `id` is 64 hex digits, repeated as the envelope's\n")
	p("  `correlationId`; `additionalInfo` is JSON in a string.\n")
	p("- A RiskyUsers record's `id` (and `correlationId`) is the user's object ID: every state of one user\n")
	p("  has the same IDs, so the hit and the near miss of `adm_hiro` share theirs.\n")
	p("- AD FS sign-ins carry no device, browser, location or Conditional Access result\n")
	p("  (`conditionalAccessStatus` `notApplied`); `durationMs` and `level` are strings.\n")
	p("- Graph activity records name the caller only by object ID (`userId`), never by UPN; `wids` is the\n")
	p("  token's role template IDs separated by spaces; `resourceId` is upper case.\n")
	p("- ProvisioningLogs spell `Id`/`Name` in PascalCase and name the provisioned user only inside\n")
	p("  `sourceIdentity.details`; the envelope's `identity` is the record's ID.\n")
	return []byte(b.String())
}

// statefulMonitors are the catalog monitors the trigger table does not list.
var statefulMonitors = map[string]bool{
	monBadPassword: true, monOffHours: true, monNewDevice: true, monUnapproved: true, monAccountCreated: true,
	monNamingPolicy: true, monUnusedPrivilege: true, monElevationNotPAW: true,
}

func monitorName(m string) string {
	if statefulMonitors[m] {
		return "*" + m + "*"
	}
	return "`" + m + "`"
}

func scenarioTable(b *strings.Builder, scenarios []Scenario, nearMiss bool) {
	fmt.Fprintf(b, "| when (UTC) | file | scenario | monitors | record IDs |\n|---|---|---|---|---|\n")
	for _, s := range scenarios {
		if s.NearMiss != nearMiss {
			continue
		}
		var ms []string
		for _, m := range s.Monitors {
			ms = append(ms, monitorName(m))
		}
		var ids []string
		for _, id := range s.Records {
			ids = append(ids, "`"+id+"`")
		}
		if len(ids) > 3 {
			ids = append(ids[:2], fmt.Sprintf("… (%d records)", len(s.Records)))
		}
		for _, id := range s.Related {
			ids = append(ids, "(with `"+id+"`)")
		}
		when := s.When.Format("Mon 15:04:05")
		if s.File == DemoRoleMap {
			when = "—"
		}
		fmt.Fprintf(b, "| %s | `%s` | %s | %s | %s |\n", when, s.File, strings.ReplaceAll(s.Title, "|", "\\|"), strings.Join(ms, ", "), strings.Join(ids, " "))
	}
}

func codeList(xs []string) string {
	var out []string
	for _, x := range xs {
		out = append(out, "`"+x+"`")
	}
	return strings.Join(out, ", ")
}
