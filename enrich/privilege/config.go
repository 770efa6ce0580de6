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
	// CacheSize bounds the lookup cache (entries); default 65536.
	CacheSize int `yaml:"cache_size"`
	// ReloadInterval is how often the role map file is checked for
	// changes; default 1m, a negative value turns reloading off.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Validate checks the values that do not need the file system.
func (c *Config) Validate() error {
	if c.RoleMap == "" && len(c.EmergencyAccess) == 0 {
		return errors.New("role_map: a role map file is required (or at least emergency_access)")
	}
	if c.CacheSize < 0 {
		return fmt.Errorf("cache_size: must not be negative, got %d", c.CacheSize)
	}
	return nil
}
