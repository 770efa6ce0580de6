package privilege

import (
	"errors"
	"fmt"
	"time"
)

// Config is the `context.privilege` block of configs/privtrail.yaml.
type Config struct {
	// RoleMap is a YAML or JSON file of users, their role assignments and
	// the emergency access accounts (see README.md for the format).
	RoleMap string `yaml:"role_map"`
	// PrivilegedRoles replaces the shipped list of privileged roles; names
	// or template IDs.
	PrivilegedRoles []string `yaml:"privileged_roles"`
	// ExtraPrivilegedRoles adds to the shipped (or replaced) list.
	ExtraPrivilegedRoles []string `yaml:"extra_privileged_roles"`
	// EmergencyAccess adds emergency access accounts (UPNs or object IDs)
	// to those of the role map.
	EmergencyAccess []string `yaml:"emergency_access"`
	// CacheSize is ignored: lookups have no cache since they became as
	// fast without one. It is kept so that configs which set it still load.
	CacheSize int `yaml:"cache_size"`
	// ReloadInterval is how often the role map file is checked for
	// changes; default 1m, a negative value turns reloading off.
	ReloadInterval time.Duration `yaml:"reload_interval"`

	// AuditUpdates applies the role changes of directory audit records
	// (Observe) to the role histories; default true.
	AuditUpdates *bool `yaml:"audit_updates"`
	// ActivationLength is how long a PIM activation counts when its audit
	// record names no end time; default 8h, Entra's maximum.
	ActivationLength time.Duration `yaml:"activation_length"`
	// HistoryLimit is the most role changes kept per principal (older
	// ones are folded into what the principal held before); default 32.
	HistoryLimit int `yaml:"history_limit"`
	// HistoryRetention drops role intervals that ended this long before
	// the newest event time seen; default 720h (30 days).
	HistoryRetention time.Duration `yaml:"history_retention"`
	// StateFile is where the role map in use and the role histories are
	// saved (Stage.Save, and Close) and read back at start, so that a
	// restart tags users as before even when the role map source is
	// unreachable; what Observe learns in between is journaled beside it
	// (journal.go). The agent puts it under its data_dir. Default: none.
	StateFile string `yaml:"state_file"`
	// Graph, when set, refreshes the role map from Microsoft Graph in the
	// background (role assignments, PIM schedules, role-assignable groups);
	// role_map, if also set, is what serves until the first refresh.
	Graph *GraphSource `yaml:"graph"`
}

// Defaults of the audit-driven updates.
const (
	DefaultActivationLength = 8 * time.Hour
	DefaultHistoryLimit     = 32
	DefaultHistoryRetention = 30 * 24 * time.Hour
)

// GraphSource reads the role map from Microsoft Graph (enrich/rolesync)
// with the agent's top-level graph block.
type GraphSource struct {
	// Interval between refreshes; default 15m.
	Interval time.Duration `yaml:"interval"`
}

// Validate checks the values that do not need the file system.
func (c *Config) Validate() error {
	if c.RoleMap == "" && len(c.EmergencyAccess) == 0 && c.StateFile == "" && c.Graph == nil {
		return errors.New("role_map: a role map file is required (or graph, emergency_access or a state_file)")
	}
	if c.Graph != nil && c.Graph.Interval < 0 {
		return fmt.Errorf("graph.interval: must not be negative, got %s", c.Graph.Interval)
	}
	if c.CacheSize < 0 {
		return fmt.Errorf("cache_size: must not be negative, got %d", c.CacheSize)
	}
	return c.validateHistory()
}

func (c *Config) validateHistory() error {
	switch {
	case c.ActivationLength < 0:
		return fmt.Errorf("activation_length: must not be negative, got %s", c.ActivationLength)
	case c.HistoryLimit < 0:
		return fmt.Errorf("history_limit: must not be negative, got %d", c.HistoryLimit)
	case c.HistoryRetention < 0:
		return fmt.Errorf("history_retention: must not be negative, got %s", c.HistoryRetention)
	case c.CacheSize < 0:
		return fmt.Errorf("cache_size: must not be negative, got %d", c.CacheSize)
	}
	return nil
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.ActivationLength == 0 {
		c.ActivationLength = DefaultActivationLength
	}
	if c.HistoryLimit == 0 {
		c.HistoryLimit = DefaultHistoryLimit
	}
	if c.HistoryRetention == 0 {
		c.HistoryRetention = DefaultHistoryRetention
	}
	if c.AuditUpdates == nil {
		on := true
		c.AuditUpdates = &on
	}
	return c
}
