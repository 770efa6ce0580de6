package device

import (
	"errors"
	"fmt"
	"time"
)

// DefaultReloadInterval is how often the device list file is checked for
// changes when reload_interval is not set.
const DefaultReloadInterval = time.Minute

// Config is the `context.device` block of configs/privtrail.yaml.
type Config struct {
	// Devices is the YAML (or JSON) file of registered privileged access
	// and secure admin workstations (see README.md for the format).
	Devices string `yaml:"devices"`
	// RequireCompliant makes a listed device count as a PAW/SAW only when
	// the sign-in also reports it compliant (deviceDetail.isCompliant).
	RequireCompliant bool `yaml:"require_compliant"`
	// ReloadInterval is how often the file's modification time and size
	// are checked; a change reloads it. Default 1m.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Validate checks the values that do not need the file system.
func (c *Config) Validate() error {
	if c.Devices == "" {
		return errors.New("devices: a registered-device list file is required")
	}
	if c.ReloadInterval < 0 {
		return fmt.Errorf("reload_interval: must not be negative, got %s", c.ReloadInterval)
	}
	return nil
}
