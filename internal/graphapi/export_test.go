package graphapi

import (
	"context"
	"time"
)

// Test knobs for the external tests (package graphapi_test), which cannot
// reach unexported fields: graphtest imports graphapi, so the tests that use
// the fake live outside the package.

// SetSleep replaces the wait between attempts.
func SetSleep(c *Client, f func(ctx context.Context, d time.Duration) error) { c.sleep = f }

// SetReportsLimit replaces the reports limiter by n requests per window.
func SetReportsLimit(c *Client, n int, window time.Duration) {
	c.reports = newWindowLimiter(n, window)
}

// SetTokenClock replaces the clock the token cache judges expiry by.
func SetTokenClock(c *Client, now func() time.Time) { c.tokens.now = now }
