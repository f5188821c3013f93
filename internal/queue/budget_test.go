package queue

import (
	"net/http"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// TestRetryForBoundsRetriesInTime: with attempts to spare, a scan failing
// transiently keeps trying until RetryFor has passed since its first
// attempt, and then fails. The records' clock moves a minute per
// registration the server refuses, so that the count is exact whatever the
// machine's load: with a 5-minute budget, the 5th failure ends it.
func TestRetryForBoundsRetriesInTime(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		base := time.Now()
		clock := func() time.Time {
			refused, _ := env.emu.Arrivals()
			return base.Add(time.Duration(refused) * time.Minute)
		}
		s := env.start(func(c *Config) {
			c.MaxAttempts, c.RetryFor, c.RetryBase, c.RetryMax, c.Now = 1000, 5*time.Minute, 10*time.Millisecond, 20*time.Millisecond, clock
		})
		env.image("example/outage")
		env.emu.FailNext(100000, http.StatusServiceUnavailable)

		rec := waitFinal(t, s, submit(t, s, "example/outage").ID)
		if rec.Status != scan.StatusFailed || rec.Attempts != 5 {
			t.Fatalf("record = %s after %d attempts, want failed after 5: the budget, not the cap of 1000, ends them", rec.Status, rec.Attempts)
		}
		if ran := rec.FinishedAt.Sub(*rec.StartedAt); ran < 5*time.Minute {
			t.Errorf("the scan failed %s after its first attempt by the records' clock, want the 5m budget spent", ran)
		}
	})
}
