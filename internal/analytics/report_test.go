package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

const (
	reportGitURL = "https://github.com/example/app?x=1&y=2" // a query, to check the encoding
	reportGitSHA = "46e443d"
	readyReport  = `{"git_url": "https://github.com/example/app", "git_sha": "46e443d", "scanned_at": "2018-06-12 10:14:31",
 "dependencies": [{"name": "lodash", "version": "4.17.4", "cve_count": 1, "licenses": ["MIT"],
  "cves": ["CVE-2019-10744"], "highest_cvss_score": 9.1, "cve_id_for_highest_cvss_score": "CVE-2019-10744"}]}`
)

func TestFetchReportRequest(t *testing.T) {
	emu, url := newEmulator(t)
	emu.Always(emulator.EndpointReport, scripted(200, readyReport, nil))
	c := newClient(t, Config{ServerURL: url + "/api/v1", Token: testToken, ThreeScaleSecret: testSecret, UserAgent: "scanner-test"})
	ans, err := c.FetchReport(context.Background(), reportGitURL, reportGitSHA)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := scan.DecodeReport([]byte(readyReport))
	if ans.State != scan.ReportReady || ans.StatusCode != 200 || ans.Report == nil || !reflect.DeepEqual(*ans.Report, want) || len(want.Dependencies) != 1 {
		t.Errorf("answer = %+v", ans)
	}
	reqs := emu.ReportRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodGet || r.Path != "/api/v1/report" || len(r.Body) != 0 {
		t.Errorf("request %s %s with body %q", r.Method, r.Path, r.Body)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("x-3scale-account-secret"); got != testSecret {
		t.Errorf("x-3scale-account-secret = %q", got)
	}
	if got := r.Header.Get("User-Agent"); got != "scanner-test" {
		t.Errorf("User-Agent = %q", got)
	}
}

func TestFetchReportQueryIsEncoded(t *testing.T) {
	emu, url := newEmulator(t)
	emu.Always(emulator.EndpointReport, scripted(200, readyReport, nil))
	c := newClient(t, Config{ServerURL: url})
	if _, err := c.FetchReport(context.Background(), reportGitURL, reportGitSHA); err != nil {
		t.Fatal(err)
	}
	reqs := emu.ReportRequests()
	if len(reqs) != 1 || *reqs[0].Report != (emulator.ReportQuery{GitURL: reportGitURL, GitSHA: reportGitSHA}) {
		t.Fatalf("server read %+v, want git-url %q, git-sha %q", reqs, reportGitURL, reportGitSHA)
	}
}

func TestFetchReportOutcomes(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		wantOutcome scan.ReportState // "" when an error is wanted
		wantMessage string
		transient   bool
		retryAfter  time.Duration
		errHas      string
	}{
		{name: "ready", status: 200, body: readyReport, wantOutcome: scan.ReportReady},
		{name: "an empty report is ready", status: 200, body: `{"git_url":"u","git_sha":"s","scanned_at":"t","dependencies":[]}`, wantOutcome: scan.ReportReady},
		{name: "not ready", status: 404, body: `{"status": "failure", "message": "No report found for this repository"}`,
			wantOutcome: scan.ReportPending, wantMessage: "No report found for this repository"},
		{name: "lock file absent", status: 400,
			body:        `{"git_url": "u", "git_sha": "s", "scanned_at": null, "dependencies": null, "lock_file_absent": true, "message": "No dependency lock file found in the repository"}`,
			wantOutcome: scan.ReportLockFileAbsent, wantMessage: "No dependency lock file found in the repository"},
		{name: "a 404 without the server's JSON is a wrong URL", status: 404, body: `<html>Not Found</html>`, errHas: "404"},
		{name: "another 400 is permanent", status: 400, body: `{"status": "failure", "message": "git-sha is required"}`, errHas: "git-sha is required"},
		{name: "lock_file_absent false is a plain 400", status: 400, body: `{"lock_file_absent": false, "message": "m"}`, errHas: "400"},
		{name: "401 permanent", status: 401, body: `{"error": "Authentication failed - token missing"}`, errHas: "Authentication failed"},
		{name: "403 permanent", status: 403, body: `{}`, errHas: "403"},
		{name: "500 transient", status: 500, body: `{"status": "failure", "message": "Failed to retrieve scan report"}`, transient: true, errHas: "Failed to retrieve scan report"},
		{name: "503 with Retry-After", status: 503, header: map[string]string{"Retry-After": "120"}, body: ``, transient: true, retryAfter: 2 * time.Minute},
		{name: "429 transient", status: 429, header: map[string]string{"Retry-After": "7"}, body: `{}`, transient: true, retryAfter: 7 * time.Second},
		{name: "408 transient", status: 408, body: ``, transient: true},
		{name: "a 200 HTML page is not a report", status: 200, body: `<html>proxy login</html>`, errHas: "not a report"},
		{name: "a 200 without dependencies is not a report", status: 200, body: `{"success": true, "summary": "registered"}`, errHas: "not a report"},
		{name: "a 200 with dependencies null is not a report", status: 200, body: `{"git_url": "u", "dependencies": null}`, errHas: "not a report"},
		{name: "204 is not a report", status: 204, body: ``, errHas: "204"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, url := newEmulator(t)
			emu.Always(emulator.EndpointReport, scripted(tc.status, tc.body, tc.header))
			c := newClient(t, Config{ServerURL: url, Token: testToken, ThreeScaleSecret: testSecret})
			ans, err := c.FetchReport(context.Background(), reportGitURL, reportGitSHA)
			assertNoCredentials(t, err)
			if tc.wantOutcome != "" {
				if err != nil {
					t.Fatalf("FetchReport: %v, want outcome %s", err, tc.wantOutcome)
				}
				if ans.State != tc.wantOutcome || ans.StatusCode != tc.status || ans.Message != tc.wantMessage {
					t.Errorf("answer = %+v, want outcome %s, status %d, message %q", ans, tc.wantOutcome, tc.status, tc.wantMessage)
				}
				if (ans.State == scan.ReportReady) != (ans.Report != nil) {
					t.Errorf("outcome %s with report %+v", ans.State, ans.Report)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("FetchReport = %+v, %v; want an *Error", ans, err)
			}
			if ans != nil {
				t.Errorf("an answer %+v with the error", ans)
			}
			if e.Retryable != tc.transient || scan.IsTransient(err) != tc.transient {
				t.Errorf("error %q: transient %v, want %v", err, e.Retryable, tc.transient)
			}
			if e.StatusCode != tc.status || e.Endpoint != EndpointReport {
				t.Errorf("error status %d endpoint %q", e.StatusCode, e.Endpoint)
			}
			if e.Wait != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", e.Wait, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("error %q does not hold %q", err, tc.errHas)
			}
			// The endpoint URL in errors carries no query.
			if strings.Contains(err.Error(), "git-sha=") {
				t.Errorf("error %q shows the query", err)
			}
		})
	}
}

func TestFetchReportTransportFailures(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c := newClient(t, Config{ServerURL: url, Token: testToken})
		_, err := c.FetchReport(context.Background(), reportGitURL, reportGitSHA)
		if !scan.IsTransient(err) || !strings.Contains(fmt.Sprint(err), "refused") {
			t.Errorf("FetchReport = %v, want a transient connection-refused error", err)
		}
		assertNoCredentials(t, err)
	})
	t.Run("a hanging server times out", func(t *testing.T) {
		emu, url := newEmulator(t)
		emu.Always(emulator.EndpointReport, emulator.Answer{Status: 200, Delay: time.Hour})
		c := newClient(t, Config{ServerURL: url, Timeout: 200 * time.Millisecond, Token: testToken})
		start := time.Now()
		_, err := c.FetchReport(context.Background(), reportGitURL, reportGitSHA)
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("FetchReport returned after %v, want about the 200ms timeout", elapsed)
		}
		if !scan.IsTransient(err) || !strings.Contains(fmt.Sprint(err), "no answer in time") {
			t.Errorf("FetchReport = %v, want a transient timeout", err)
		}
		assertNoCredentials(t, err)
	})
	t.Run("a cut-off report is transient", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, readyReport[:40])
		})
		c := newClient(t, Config{ServerURL: url})
		_, err := c.FetchReport(context.Background(), reportGitURL, reportGitSHA)
		if !scan.IsTransient(err) || !strings.Contains(fmt.Sprint(err), "cut off") {
			t.Errorf("FetchReport = %v, want a transient cut-off error", err)
		}
	})
	t.Run("an oversized report is refused, not buffered", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"dependencies": [`)
			dep := strings.Repeat(`{"name": "x", "version": "1", "cve_count": 0, "licenses": []},`, 1000)
			for written := 0; written <= maxReportBytes; written += len(dep) {
				if _, err := io.WriteString(w, dep); err != nil {
					return
				}
			}
			_, _ = io.WriteString(w, `{}]}`)
		})
		c := newClient(t, Config{ServerURL: url})
		_, err := c.FetchReport(context.Background(), reportGitURL, reportGitSHA)
		var e *Error
		if !errors.As(err, &e) || e.Retryable || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("FetchReport = %v, want a permanent too-large error", err)
		}
		if e != nil && len(e.Summary) > maxSummaryBytes+len("…") {
			t.Errorf("summary of %d bytes", len(e.Summary))
		}
	})
	t.Run("a redirect to another host is refused", func(t *testing.T) {
		other, otherURL := newEmulator(t)
		other.Always(emulator.EndpointReport, scripted(200, readyReport, nil))
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, otherURL+"/report", http.StatusFound)
		})
		c := newClient(t, Config{ServerURL: url, ThreeScaleSecret: testSecret})
		_, err := c.FetchReport(context.Background(), reportGitURL, reportGitSHA)
		if err == nil || scan.IsTransient(err) || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("FetchReport = %v, want a permanent refused redirect", err)
		}
		if n := len(other.ReportRequests()); n != 0 {
			t.Errorf("the other host got %d requests", n)
		}
	})
	t.Run("a redirect within the host is followed", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/report" {
				http.Redirect(w, r, "/api/v1/report?"+r.URL.RawQuery, http.StatusMovedPermanently)
				return
			}
			if r.URL.Query().Get("git-sha") != reportGitSHA {
				reply(w, 400, `{"status": "failure", "message": "query lost"}`)
				return
			}
			reply(w, 200, readyReport)
		})
		c := newClient(t, Config{ServerURL: url})
		ans, err := c.FetchReport(context.Background(), reportGitURL, reportGitSHA)
		if err != nil || ans.State != scan.ReportReady {
			t.Errorf("FetchReport = %+v, %v", ans, err)
		}
	})
}
