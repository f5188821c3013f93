package queue

import (
	"net/http"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// TestErrorReportOutlivesOutageAndRestart: the error report of a failed
// scan is a job of its own, retried through an outage of scanner-error and
// across a restart of the store, and delivered once.
func TestErrorReportOutlivesOutageAndRestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		fast := func(c *Config) {
			c.MaxAttempts, c.RetryBase, c.RetryMax = 1000, 20*time.Millisecond, 50*time.Millisecond
		}
		first := env.start(fast)
		env.source.Add("example/unlabelled", nil) // fails for good: no labels
		env.emu.Always(emulator.EndpointScannerError, emulator.Answer{Status: http.StatusServiceUnavailable})

		rec := waitFinal(t, first, submit(t, first, "example/unlabelled").ID)
		if rec.Status != scan.StatusFailed || rec.Attempts != 1 {
			t.Fatalf("record = %s after %d attempts, want failed after 1", rec.Status, rec.Attempts)
		}
		refused := func() int {
			n := 0
			for _, r := range env.emu.Requests() {
				if r.ErrorReport != nil && r.Status == http.StatusServiceUnavailable {
					n++
				}
			}
			return n
		}
		for deadline := time.Now().Add(waitTimeout); refused() < 3 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := refused(); n < 3 {
			t.Fatalf("%d refused reports, want the report tried again through the outage", n)
		}
		closeStore(t, first)

		env.emu.Always(emulator.EndpointScannerError, emulator.Answer{}) // the outage ends
		m := metrics.New()
		env.start(fast, func(c *Config) { c.Metrics = m })
		env.waitReports(t, 1)
		time.Sleep(300 * time.Millisecond) // time for a duplicate to arrive
		if reports := env.emu.ErrorReports(); len(reports) != 1 || reports[0].ImageName != "example/unlabelled" {
			t.Fatalf("error reports = %+v, want one for the failed scan", reports)
		}
		if got := counterValue(t, m, "scanner_error_reports_total", "delivered"); got != 1 {
			t.Errorf("error_reports_total{delivered} = %v, want 1", got)
		}
	})
}

// TestErrorReportGivesUpOnARefusal: a report the server refuses (4xx) is
// not sent again.
func TestErrorReportGivesUpOnARefusal(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		m := metrics.New()
		s := env.start(func(c *Config) { c.Metrics, c.RetryBase = m, 20*time.Millisecond })
		env.source.Add("example/unlabelled", nil)
		env.emu.Always(emulator.EndpointScannerError, emulator.Answer{Status: http.StatusBadRequest})
		waitFinal(t, s, submit(t, s, "example/unlabelled").ID)
		deadline := time.Now().Add(waitTimeout)
		for counterValue(t, m, "scanner_error_reports_total", "failed") < 1 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		if n := len(env.emu.Requests()); n != 1 {
			t.Errorf("%d requests to the server, want the one refused report", n)
		}
		if got := counterValue(t, m, "scanner_error_reports_total", "failed"); got != 1 {
			t.Errorf("error_reports_total{failed} = %v, want 1", got)
		}
	})
}
