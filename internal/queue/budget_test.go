package queue

import (
	"net/http"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// TestRetryForBoundsRetriesInTime: with attempts to spare, a scan failing
// transiently keeps trying until RetryFor has passed since its first
// attempt, and then fails.
func TestRetryForBoundsRetriesInTime(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		const budget = 700 * time.Millisecond
		s := env.start(func(c *Config) {
			c.MaxAttempts, c.RetryFor, c.RetryBase, c.RetryMax = 1000, budget, 20*time.Millisecond, 100*time.Millisecond
		})
		env.image("example/outage")
		env.emu.FailNext(100000, http.StatusServiceUnavailable)

		rec := waitFinal(t, s, submit(t, s, "example/outage").ID)
		if rec.Status != scan.StatusFailed {
			t.Fatalf("record = %s, want failed once the budget is spent", rec.Status)
		}
		ran := rec.FinishedAt.Sub(*rec.StartedAt)
		// River's scheduler may hold a retry up to a few seconds.
		if ran < budget || ran > budget+8*time.Second {
			t.Errorf("the scan failed %s after its first attempt, want just after the %s budget", ran, budget)
		}
		if rec.Attempts < 2 || rec.Attempts >= 1000 {
			t.Errorf("%d attempts, want several and the budget, not the cap, to end them", rec.Attempts)
		}
	})
}
