package splunk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Check tests cfg's HTTP Event Collector without indexing anything
// (privtrail check): GET /services/collector/health (200 healthy, 503
// unhealthy), then the token with an empty POST to the event endpoint,
// which HEC answers 400 code 5 "No data" when the token is valid and
// 401/403 codes 1–4 when it is not. With indexer_ack it also asks the ack
// endpoint about a made-up ackId, which answers 400 code 14 when the token
// has acknowledgement disabled. The index cannot be checked this way: HEC
// only checks it on events. It returns what was verified; neither the
// result nor the error holds the token.
func Check(ctx context.Context, cfg Config, log *slog.Logger) (string, error) {
	c, err := NewClient(cfg, "check", log)
	if err != nil {
		return "", err
	}
	defer c.CloseIdleConnections()

	health := strings.TrimSuffix(c.eventURL, "/event") + "/health"
	resp, raw, hr, parsed, err := c.checkRequest(ctx, http.MethodGet, health, false)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", health, err)
	}
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		return "", fmt.Errorf("HEC unhealthy: %s", describe(resp.StatusCode, raw, hr, parsed))
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("GET /services/collector/health: %s (is url the HEC address, e.g. https://splunk.example:8088?)", describe(resp.StatusCode, raw, hr, parsed))
	}

	resp, raw, hr, parsed, err = c.checkRequest(ctx, http.MethodPost, c.eventURL, true)
	if err != nil {
		return "", fmt.Errorf("HEC healthy, but POST %s: %w", c.eventURL, err)
	}
	noData := resp.StatusCode == http.StatusBadRequest && parsed && hr.Code != nil && *hr.Code == codeNoData
	if !noData && resp.StatusCode/100 != 2 {
		reason := c.classify(resp, raw, hr, parsed, 0).Err
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return "", fmt.Errorf("HEC healthy, but the token was refused: %v", reason)
		}
		return "", fmt.Errorf("HEC healthy, but the token check failed: %v", reason)
	}
	out := "HEC healthy, token accepted"

	if c.ack {
		if _, err := c.pollAcks(ctx, []int64{0}); err != nil {
			return "", fmt.Errorf("%s, but indexer acknowledgement failed: %v (indexer_ack is on: tick \"Enable indexer acknowledgement\" on the token, or set indexer_ack: false)", out, err)
		}
		out += ", indexer acknowledgement enabled"
	}
	if cfg.Index != "" {
		out += "; index " + cfg.Index + " not verified (HEC checks it only on events)"
	}
	return out, nil
}

// checkRequest sends one body-less request (with the token when auth is
// set) and reads the answer; resp's body is closed.
func (c *Client) checkRequest(ctx context.Context, method, url string, auth bool) (resp *http.Response, raw []byte, hr hecResponse, parsed bool, err error) {
	req, err := http.NewRequestWithContext(ctx, method, url, http.NoBody)
	if err != nil {
		return nil, nil, hr, false, err
	}
	if auth {
		c.header(req)
	} else {
		req.Header.Set("User-Agent", "privtrail")
	}
	resp, err = c.http.Do(req)
	if err != nil {
		return nil, nil, hr, false, unwrapURLError(err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, nil, hr, false, fmt.Errorf("reading the answer: %w", err)
	}
	parsed = json.Unmarshal(raw, &hr) == nil
	return resp, raw, hr, parsed, nil
}
