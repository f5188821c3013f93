package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/api"
)

// analyticsReadyTTL is how long one answer of the analytics server's
// readiness endpoint stands for: /readyz is polled by orchestrators (and
// by anyone, as it needs no token), and each poll should not become a
// request to the analytics server.
const analyticsReadyTTL = 5 * time.Second

// analyticsReadyTimeout bounds one readiness request, inside the API's
// own bound on every check.
const analyticsReadyTimeout = 1500 * time.Millisecond

// errAnalyticsNotConfigured is what /readyz says when no analytics server is
// set: every scan would fail, so the service is not ready.
var errAnalyticsNotConfigured = errors.New("not configured")

// analyticsCheck is the readiness check of the default analytics server:
// not configured, or its readiness endpoint asked at most once per
// analyticsReadyTTL.
func analyticsCheck(cfg Config, transport http.RoundTripper) (api.Check, error) {
	if cfg.AnalyticsURL == "" {
		return api.Check{Name: "analytics", Check: func(context.Context) error { return errAnalyticsNotConfigured }}, nil
	}
	client, err := analytics.New(analytics.Config{ServerURL: cfg.AnalyticsURL, Timeout: analyticsReadyTimeout,
		Transport: transport, UserAgent: "analytics-scanner-server/" + cfg.Version})
	if err != nil {
		return api.Check{}, err
	}
	return api.Check{Name: "analytics", Check: cached(analyticsReadyTTL, client.Ready)}, nil
}

// cached returns check with its outcome kept for ttl. Concurrent callers
// while a check runs wait for that one rather than starting their own.
func cached(ttl time.Duration, check func(context.Context) error) func(context.Context) error {
	var (
		mu      sync.Mutex
		checked time.Time
		last    error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !checked.IsZero() && time.Since(checked) < ttl {
			return last
		}
		err := check(ctx)
		if ctx.Err() != nil && err != nil {
			// The caller gave up (its own deadline): that says nothing
			// about the server, so it is not kept.
			return err
		}
		checked, last = time.Now(), err
		return err
	}
}
