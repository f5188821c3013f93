package analytics

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/centos-pipeline/analytics-scanner/internal/httperr"
)

// EndpointReadiness answers 200 when the server is ready (the real server's
// and the emulator's /readiness; no credentials needed).
const EndpointReadiness = "readiness"

// Ready asks the server's readiness endpoint and returns nil on a 200. No
// credentials are sent: the endpoint needs none, and a readiness probe run
// by anyone calling /readyz has no business carrying them. The error names
// the endpoint without any password, and no more of the answer than its
// status.
func (c *Client) Ready(ctx context.Context) error {
	u := c.endpoint(EndpointReadiness)
	// Nor the URL's user:password, which Go would send as Basic auth.
	u.User = nil
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("readiness request to %s: %w", u.Redacted(), err)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("readiness request to %s failed: %w", u.Redacted(), httperr.Transport(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d %s", u.Redacted(), resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}
