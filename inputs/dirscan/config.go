package dirscan

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/graphapi"
)

const (
	// DefaultInterval is interval when it is left out: one scan a day.
	DefaultInterval = 24 * time.Hour
	// DefaultUsersPageSize is users_page_size when it is left out: the
	// largest $top Graph serves for users with signInActivity.
	DefaultUsersPageSize = 120

	minInterval = time.Minute
	maxInterval = 30 * 24 * time.Hour
	// maxUsersPageSize: "When you specify $select=signInActivity … the
	// maximum page size for $top is 120" (Graph's user-list reference).
	maxUsersPageSize = 120
)

// Config is the `dirscan:` block of an input.
type Config struct {
	// Graph is the app registration the directory is read with
	// (internal/graphapi/README.md); it needs the application
	// permissions User.Read.All and AuditLog.Read.All. A caller that
	// shares one *graphapi.Client between features passes it with
	// WithClient and may leave Graph out.
	Graph *graphapi.Config `yaml:"graph"`
	// Interval is the time between scans (default 24h, 1m to 720h).
	Interval time.Duration `yaml:"interval"`
	// TenantID is written in every document. Default: graph.tenant_id;
	// required when there is no graph block, or it has no tenant_id (a
	// managed identity).
	TenantID string `yaml:"tenant_id"`
	// UsersPageSize is $top of the users listing (default and maximum
	// 120).
	UsersPageSize int `yaml:"users_page_size"`
}

// Validate checks c and fills in the defaults of keys left at zero. Every
// error names its key; none contains a secret. A failed Validate leaves
// c as it was.
func (c *Config) Validate() error { return c.validateCopy(true) }

// Delivers says a directory scan emits directory records only
// (inputs.StreamSource).
func (c *Config) Delivers() []entra.Stream { return []entra.Stream{entra.StreamDirectory} }

func (c *Config) validateCopy(needGraph bool) error {
	d := *c
	if c.Graph != nil {
		g := *c.Graph
		d.Graph = &g
	}
	if err := d.validate(needGraph); err != nil {
		return err
	}
	*c = d
	return nil
}

func (c *Config) validate(needGraph bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	errs = append(errs, graphapi.ValidateBlock(c.Graph, needGraph, "read the directory with")...)
	c.TenantID = strings.TrimSpace(c.TenantID)
	if c.TenantID == "" && c.Graph != nil {
		c.TenantID = c.Graph.TenantID
	}
	if c.TenantID == "" {
		bad("tenant_id: required: every document names its tenant (set it, or graph.tenant_id)")
	}
	switch {
	case c.Interval < 0:
		bad("interval: must be positive, got %s", c.Interval)
	case c.Interval == 0:
		c.Interval = DefaultInterval
	case c.Interval < minInterval:
		bad("interval: %s is below the minimum of %s", c.Interval, minInterval)
	case c.Interval > maxInterval:
		bad("interval: %s is over the limit of %s", c.Interval, maxInterval)
	}
	switch {
	case c.UsersPageSize < 0:
		bad("users_page_size: must be positive, got %d", c.UsersPageSize)
	case c.UsersPageSize == 0:
		c.UsersPageSize = DefaultUsersPageSize
	case c.UsersPageSize > maxUsersPageSize:
		bad("users_page_size: %d is over %d, the most Graph returns per page with signInActivity", c.UsersPageSize, maxUsersPageSize)
	}
	return errors.Join(errs...)
}
