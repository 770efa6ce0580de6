package monitor

import (
	"fmt"
	"strings"
)

// Catalog lists every monitor that Microsoft's "Security operations for
// privileged accounts in Microsoft Entra ID" asks to alert on, with the
// stable ID privtrail uses for it and the guide's risk: what `privtrail
// monitors` measures a configuration's coverage against. A monitor of the
// catalog is one of a pipeline file (pipelines/privileged-accounts.yaml)
// or, for the directory source, a scan of Microsoft Graph.
var Catalog = []CatalogEntry{
	{"breakglass.signin", "high", "signin"},
	{"breakglass.password_change", "high", "audit"},
	{"breakglass.role_change", "high", "audit"},
	{"breakglass.auth_method_change", "high", "audit"},
	{"signin.bad_password_threshold", "high", "signin"},
	{"signin.ca_failure", "high", "signin"},
	{"signin.mfa_interrupt", "high/medium", "signin"},
	{"signin.lockout", "high", "signin"},
	{"signin.disabled_account", "low", "signin"},
	{"signin.mfa_fraud", "high", "signin"},
	{"audit.mfa_fraud_reported", "high", "audit"},
	{"signin.unapproved_controls", "high", "signin"},
	{"signin.off_hours", "high", "signin"},
	{"signin.identity_protection_risk", "high", "signin + risk"},
	{"signin.legacy_auth", "high", "signin"},
	{"signin.new_device_or_location", "high", "signin"},
	{"signin.cross_tenant_admin", "medium", "signin"},
	{"signin.ca_not_applied", "high", "signin"},
	{"directory.naming_policy", "high", "directory"},
	{"directory.mfa_not_registered", "high", "directory"},
	{"review.unused_privileged_account", "medium", "directory"},
	{"audit.password_change", "high", "audit"},
	{"audit.pim_alert_disabled", "high", "audit"},
	{"audit.guest_to_member", "medium", "audit"},
	{"audit.guest_invite_unapproved", "medium", "audit"},
	{"audit.privileged_change", "high", "audit"},
	{"audit.security_posture_lowered", "high", "audit"},
	{"audit.high_value_app_change", "high", "audit"},
	{"audit.privileged_account_created", "medium", "audit"},
	{"audit.auth_method_change", "high", "audit"},
	{"audit.tap_added", "high", "audit"},
	{"audit.privileged_role_change", "high", "audit"},
	{"aadds.sensitive_privilege_use", "high", "aadds"},
	{"pim.eligible_role_added", "high", "audit"},
	{"pim.role_assigned_outside_pim", "high", "audit"},
	{"pim.elevation", "medium", "audit"},
	{"pim.approval_decision", "low", "audit"},
	{"pim.settings_changed", "high", "audit"},
	{"pim.elevation_not_paw", "high", "audit + signin"},
	{"azure.elevate_access", "high", "activity"},
}

// CatalogEntry is one monitor of the guide.
type CatalogEntry struct {
	ID, Risk, Source string
}

// InGuide tells whether id is one of the guide's monitors (Catalog), as
// opposed to privtrail's own additions and a team's monitors.
func InGuide(id string) bool {
	for _, c := range Catalog {
		if c.ID == id {
			return true
		}
	}
	return false
}

// DescribeCount says how many of ids are the guide's and how many are
// not: "41 (40 of the guide's 40, 1 more: signin.not_paw)".
func DescribeCount(ids []string) string {
	var guide int
	var more []string
	for _, id := range ids {
		if InGuide(id) {
			guide++
		} else {
			more = append(more, id)
		}
	}
	s := fmt.Sprintf("%d (%d of the guide's %d", len(ids), guide, len(Catalog))
	switch {
	case len(more) == 0:
		return s + ")"
	case len(more) <= 3:
		return s + fmt.Sprintf(", %d more: %s)", len(more), strings.Join(more, ", "))
	}
	return s + fmt.Sprintf(", %d more)", len(more))
}
