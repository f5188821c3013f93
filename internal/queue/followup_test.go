package queue

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// testSHA is the git-sha env.image labels every image with.
const testSHA = "0123456789abcdef0123456789abcdef01234567"

// clock is a settable clock for the emulator: its reports become ready
// when a test says so, not after a sleep.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// reportDelay is how long the emulator's reports stay not ready: longer than
// any test, so that only the clock makes them ready.
const reportDelay = time.Hour

// reportEnv is a test env whose emulator holds reports back until its clock
// is advanced, and whose repositories in noLock have no lock file.
func reportEnv(t *testing.T, backend string, noLock ...string) (*testEnv, *clock) {
	clk := &clock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	env := newTestEnv(t, backend, func(c *emulator.Config) {
		c.Now, c.ReportDelay, c.LockFileAbsent = clk.Now, reportDelay, noLock
	})
	return env, clk
}

// fastReports polls every few milliseconds.
func fastReports(c *Config) {
	c.ReportInterval = 20 * time.Millisecond
	c.ReportDeadline = time.Minute
}

// eachReportBackend runs fn on both databases with a reportEnv.
func eachReportBackend(t *testing.T, fn func(t *testing.T, env *testEnv, clk *clock)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			env, clk := reportEnv(t, b)
			fn(t, env, clk)
		})
	}
}

// waitReport polls the record until its report is in state want.
func waitReport(t *testing.T, s *Store, id string, want scan.ReportState) scan.Record {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		rec, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		if rec.Report != nil && rec.Report.State == want {
			return rec
		}
		if rec.Report != nil && rec.Report.State.Final() || time.Now().After(deadline) {
			t.Fatalf("scan %s: report %+v, want %s", id, rec.Report, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitReportRequests waits until the emulator has answered n report
// requests and returns them.
func waitReportRequests(t *testing.T, env *testEnv, n int) []emulator.Request {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		reqs := env.emu.ReportRequests()
		if len(reqs) >= n {
			return reqs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d report requests, want %d", len(reqs), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// emulatorReport is the report the emulator serves for gitURL, as the
// scanner decodes it.
func emulatorReport(t *testing.T, gitURL, scannedAt string) scan.Report {
	t.Helper()
	raw, err := json.Marshal(emulator.ReportFor(gitURL, testSHA, scannedAt))
	if err != nil {
		t.Fatal(err)
	}
	r, err := scan.DecodeReport(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func followUpJobs(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = $1`, FollowUpArgs{}.Kind()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A registered scan follows its report without any further call: pending
// while the server answers 404, ready with the summary after N polls; the
// whole report is served, the list filters on it and the metrics count it.
func TestReportBecomesReadyAfterPolls(t *testing.T) {
	eachReportBackend(t, func(t *testing.T, env *testEnv, clk *clock) {
		m := metrics.New()
		s := env.start(fastReports, func(c *Config) { c.Metrics = m })
		m.RegisterReportStates(func() map[string]int {
			counts, err := s.ReportStates(context.Background())
			if err != nil {
				return nil
			}
			out := map[string]int{}
			for k, v := range counts {
				out[string(k)] = v
			}
			return out
		})
		gitURL := env.image("app:1")
		rec := waitFinal(t, s, submit(t, s, "app:1").ID)
		if rec.Status != scan.StatusSucceeded || rec.Report == nil {
			t.Fatalf("scan %+v, want succeeded with a report part", rec)
		}

		const polls = 3
		reqs := waitReportRequests(t, env, polls)
		for _, q := range reqs {
			if q.Status != http.StatusNotFound || q.Report.GitURL != gitURL || q.Report.GitSHA != testSHA || q.Auth != emulator.AuthBearer {
				t.Errorf("report request %+v, want a 404 for %s at %s with the token", q, gitURL, testSHA)
			}
		}
		// The server logs a request before the follow-up records it.
		pending := waitReport(t, s, rec.ID, scan.ReportPending)
		for deadline := time.Now().Add(waitTimeout); pending.Report.Tries < polls && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
			pending = waitReport(t, s, rec.ID, scan.ReportPending)
		}
		if pending.Report.Tries < polls || pending.Report.LastTryAt == nil || pending.Report.Deadline == nil || pending.Report.Summary != nil {
			t.Errorf("pending report %+v, want %d tries, a last try, a deadline and no summary", pending.Report, polls)
		}
		if page, err := s.List(context.Background(), scan.Filter{Report: scan.ReportPending}); err != nil || len(page.Scans) != 1 {
			t.Errorf("List(report=pending) = %d scans, %v; want 1", len(page.Scans), err)
		}
		if _, err := s.Report(context.Background(), rec.ID); scan.ErrorCode(err) != scan.ENotFound {
			t.Errorf("Report while pending: %v, want not found", err)
		}

		clk.Advance(reportDelay)
		ready := waitReport(t, s, rec.ID, scan.ReportReady)
		want := emulatorReport(t, gitURL, clk.Now().Format(http.TimeFormat))
		sum := scan.Summarize(want)
		if ready.Report.Summary == nil || !reflect.DeepEqual(*ready.Report.Summary, sum) || ready.Report.Tries <= polls {
			t.Errorf("ready report %+v, want summary %+v after more than %d tries", ready.Report, sum, polls)
		}
		got, err := s.Report(context.Background(), rec.ID)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Report = %+v, %v\nwant %+v", got, err, want)
		}
		if page, err := s.List(context.Background(), scan.Filter{Report: scan.ReportReady}); err != nil || len(page.Scans) != 1 || page.Scans[0].Report.State != scan.ReportReady {
			t.Errorf("List(report=ready) = %+v, %v", page.Scans, err)
		}
		if page, err := s.List(context.Background(), scan.Filter{Report: scan.ReportPending}); err != nil || len(page.Scans) != 0 {
			t.Errorf("List(report=pending) = %d scans, %v; want none", len(page.Scans), err)
		}
		if _, err := s.List(context.Background(), scan.Filter{Report: "soon"}); scan.ErrorCode(err) != scan.EInvalid {
			t.Errorf("List(report=soon): %v, want invalid", err)
		}

		// Asked no more once ready.
		n := len(env.emu.ReportRequests())
		time.Sleep(100 * time.Millisecond)
		if after := len(env.emu.ReportRequests()); after != n {
			t.Errorf("%d report requests after the report was ready, want none", after-n)
		}
		if v := metric(t, m, "scanner_reports", "ready").GetGauge().GetValue(); v != 1 {
			t.Errorf("scanner_reports{state=ready} = %v, want 1", v)
		}
		total := 0.0
		for _, sev := range []string{"critical", "high", "medium", "low", "none", "unknown"} {
			total += counterValue(t, m, "scanner_report_cves_total", sev)
		}
		if int(total) != sum.CVEs || sum.CVEs == 0 {
			t.Errorf("scanner_report_cves_total sums to %v, want %d", total, sum.CVEs)
		}
		if v := counterValue(t, m, "scanner_report_cves_total", "unknown"); int(v) != sum.BySeverity.Unknown {
			t.Errorf("scanner_report_cves_total{severity=unknown} = %v, want %d", v, sum.BySeverity.Unknown)
		}
	})
}

// A report the server will never make (no lock file) and one it refuses
// (a 4xx) end the follow-up at once; 5xx answers are retried.
func TestReportFinalAnswers(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			// Reports are ready as soon as their commit is registered.
			env := newTestEnv(t, b, func(c *emulator.Config) { c.LockFileAbsent = []string{"https://github.com/example/nolock-1"} })
			s := env.start(fastReports)

			env.image("nolock:1")
			noLock := waitFinal(t, s, submit(t, s, "nolock:1").ID)
			got := waitReport(t, s, noLock.ID, scan.ReportLockFileAbsent)
			if got.Report.Message != emulator.LockFileAbsentMessage("https://github.com/example/nolock-1") || got.Report.Tries != 1 {
				t.Errorf("lock file absent: %+v", got.Report)
			}

			// Two 500s, then the report: the follow-up backs off and
			// goes on.
			env.emu.FailNextReport(2, http.StatusInternalServerError)
			env.image("flaky:1")
			flaky := waitFinal(t, s, submit(t, s, "flaky:1").ID)
			got = waitReport(t, s, flaky.ID, scan.ReportReady)
			if got.Report.Tries != 3 || got.Report.ConsecutiveErrors != 0 {
				t.Errorf("after two 500s: %+v, want ready at the third try", got.Report)
			}

			env.emu.FailNextReport(1, http.StatusForbidden)
			env.image("refused:1")
			refused := waitFinal(t, s, submit(t, s, "refused:1").ID)
			got = waitReport(t, s, refused.ID, scan.ReportFailed)
			if got.Report.Tries != 1 || got.Report.Message == "" {
				t.Errorf("after a 403: %+v, want failed at the first try, saying why", got.Report)
			}
		})
	}
}

// A follow-up gives up at its deadline: timed_out, and asked no more.
func TestReportDeadlineRunsOut(t *testing.T) {
	eachReportBackend(t, func(t *testing.T, env *testEnv, _ *clock) {
		s := env.start(func(c *Config) {
			c.ReportInterval = 50 * time.Millisecond
			c.ReportDeadline = 1500 * time.Millisecond
		})
		env.image("slow:1")
		rec := waitFinal(t, s, submit(t, s, "slow:1").ID)
		got := waitReport(t, s, rec.ID, scan.ReportTimedOut)
		if got.Report.Tries < 2 || got.Report.Deadline == nil || got.Report.LastTryAt == nil || got.Report.LastTryAt.Before(*got.Report.Deadline) {
			t.Errorf("timed out report %+v, want several tries, the last at the deadline", got.Report)
		}
		n := len(env.emu.ReportRequests())
		time.Sleep(150 * time.Millisecond)
		if after := len(env.emu.ReportRequests()); after != n {
			t.Errorf("%d report requests after the deadline, want none", after-n)
		}
	})
}

// The follow-up is durable: a store stopped between two polls and a new one
// started on the same database go on with it.
func TestReportFollowUpSurvivesARestart(t *testing.T) {
	eachReportBackend(t, func(t *testing.T, env *testEnv, clk *clock) {
		first := env.start(fastReports)
		env.image("app:1")
		rec := waitFinal(t, first, submit(t, first, "app:1").ID)
		waitReportRequests(t, env, 2)
		closeStore(t, first)
		tries := waitReport(t, env.open(), rec.ID, scan.ReportPending).Report.Tries

		clk.Advance(reportDelay)
		second := env.start(fastReports)
		got := waitReport(t, second, rec.ID, scan.ReportReady)
		if got.Report.Tries <= tries || got.Report.Summary == nil {
			t.Errorf("after the restart: %+v, want ready after more than %d tries", got.Report, tries)
		}
		if n := followUpJobs(t, second); n != 1 {
			t.Errorf("%d follow-up jobs, want the one that went on", n)
		}
	})
}

// Two images built from the same commit share one follow-up and one report.
func TestReportSharedByImagesOfOneCommit(t *testing.T) {
	eachReportBackend(t, func(t *testing.T, env *testEnv, clk *clock) {
		s := env.start(func(c *Config) {
			// One poll at registration, the next only when the test
			// has looked.
			c.ReportInterval = time.Hour
			c.ReportDeadline = 2 * time.Hour
		})
		gitURL := env.image("app:1")
		env.source.Add("app-debug:1", map[string]string{
			scan.LabelGitURL: gitURL, scan.LabelGitSHA: testSHA, scan.LabelEmailIDs: "dev@example.com",
		})
		a := waitFinal(t, s, submit(t, s, "app:1").ID)
		b := waitFinal(t, s, submit(t, s, "app-debug:1").ID)
		waitReportRequests(t, env, 1)
		time.Sleep(100 * time.Millisecond)
		if n := len(env.emu.ReportRequests()); n != 1 {
			t.Errorf("%d report requests for one commit, want 1", n)
		}
		if n := followUpJobs(t, s); n != 1 {
			t.Errorf("%d follow-up jobs for one commit, want 1", n)
		}
		ra, rb := waitReport(t, s, a.ID, scan.ReportPending), waitReport(t, s, b.ID, scan.ReportPending)
		if !reflect.DeepEqual(ra.Report, rb.Report) {
			t.Errorf("the two scans show different reports: %+v and %+v", ra.Report, rb.Report)
		}

		// A `report` scan of either image asks once and tells both.
		clk.Advance(reportDelay)
		rec, _, err := s.Submit(context.Background(), scan.Request{Image: "app-debug:1", ScanType: scan.ScanTypeReport})
		if err != nil {
			t.Fatal(err)
		}
		r := waitFinal(t, s, rec.ID)
		if r.Status != scan.StatusSucceeded || r.Result == nil || !r.Result.Successful {
			t.Fatalf("report scan %+v, want succeeded", r)
		}
		for _, id := range []string{a.ID, b.ID, r.ID} {
			if got := waitReport(t, s, id, scan.ReportReady); got.Report.Summary == nil {
				t.Errorf("scan %s: report %+v, want ready with a summary", id, got.Report)
			}
		}
		if n := len(env.emu.ReportRequests()); n != 2 {
			t.Errorf("%d report requests, want 2 (the follow-up's first poll, the report scan)", n)
		}
		report, err := s.Report(context.Background(), a.ID)
		if err != nil || report.GitURL != gitURL || len(report.Dependencies) == 0 {
			t.Errorf("Report(%s) = %+v, %v", a.ID, report, err)
		}
	})
}

// A `report` scan of a commit whose report is not ready fails (as the
// one-shot's is unsuccessful), shows the report pending, and is not
// reported to the server as an error.
func TestReportScanNotReady(t *testing.T) {
	eachReportBackend(t, func(t *testing.T, env *testEnv, _ *clock) {
		s := env.start(func(c *Config) { c.ReportInterval = time.Hour })
		env.image("app:1")
		rec, _, err := s.Submit(context.Background(), scan.Request{Image: "app:1", ScanType: scan.ScanTypeReport})
		if err != nil {
			t.Fatal(err)
		}
		got := waitFinal(t, s, rec.ID)
		if got.Status != scan.StatusFailed || got.Attempts != 1 || got.Report == nil || got.Report.State != scan.ReportPending ||
			got.Result == nil || got.Result.ServerResponse == nil || got.Result.ServerResponse.Status != http.StatusNotFound {
			t.Errorf("report scan %+v, want failed after one attempt with the report pending", got)
		}
		if n := len(env.emu.ErrorReports()); n != 0 {
			t.Errorf("%d error reports for a report not ready, want none", n)
		}
	})
}
