package emulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
)

// reportJSON is the body the emulator answers with a ready report, as
// emulator.ReportFor makes it.
func reportJSON(t *testing.T, gitURL, gitSHA, scannedAt string) string {
	t.Helper()
	b, err := json.Marshal(emulator.ReportFor(gitURL, gitSHA, scannedAt))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func reportPath(prefix, gitURL, gitSHA string) string {
	return prefix + "/report?" + url.Values{"git-url": {gitURL}, "git-sha": {gitSHA}}.Encode()
}

// TestReportForIsPinned pins one report byte for byte: the shape of the real
// server (CVE keys only on dependencies with CVEs) and the values, which
// tests elsewhere rely on being stable.
func TestReportForIsPinned(t *testing.T) {
	got := reportJSON(t, repoURL, "46e443d", "Fri, 01 Mar 2024 10:30:00 GMT")
	const want = `{"git_url":"https://github.com/example/app","git_sha":"46e443d","scanned_at":"Fri, 01 Mar 2024 10:30:00 GMT","dependencies":[` +
		`{"name":"flask","version":"0.12.2","cve_count":2,"licenses":["BSD-3-Clause"],"cves":["CVE-2021-9362","CVE-2016-8438"],"highest_cvss_score":8.8,"cve_id_for_highest_cvss_score":"CVE-2021-9362"},` +
		`{"name":"requests","version":"2.19.1","cve_count":1,"licenses":["Apache-2.0"],"cves":["CVE-2022-2839"],"highest_cvss_score":1.9,"cve_id_for_highest_cvss_score":"CVE-2022-2839"},` +
		`{"name":"log4j-core","version":"2.14.1","cve_count":0,"licenses":["Apache-2.0"]}]}`
	if got != want {
		t.Errorf("ReportFor changed:\n got %s\nwant %s", got, want)
	}
}

func TestReportForIsWellFormed(t *testing.T) {
	bands := map[string]int{}
	distinct := map[string]bool{}
	for i := range 200 {
		gitURL := fmt.Sprintf("https://github.com/example/app%d", i%7)
		gitSHA := fmt.Sprintf("%07x", i*7919)
		r := emulator.ReportFor(gitURL, gitSHA, "t")
		if again := emulator.ReportFor(gitURL, gitSHA, "t"); !reflect.DeepEqual(r, again) {
			t.Fatalf("ReportFor(%s, %s) is not deterministic", gitURL, gitSHA)
		}
		b, _ := json.Marshal(r.Dependencies)
		distinct[string(b)] = true
		if r.GitURL != gitURL || r.GitSHA != gitSHA || r.ScannedAt != "t" {
			t.Errorf("report names %s %s %s", r.GitURL, r.GitSHA, r.ScannedAt)
		}
		n := len(r.Dependencies)
		if n < 3 || n > 5 {
			t.Errorf("%d dependencies", n)
			continue
		}
		if r.Dependencies[0].CVECount == 0 || r.Dependencies[n-1].CVECount != 0 {
			t.Errorf("first dependency has %d CVEs, last %d: want some, then none", r.Dependencies[0].CVECount, r.Dependencies[n-1].CVECount)
		}
		names := map[string]bool{}
		for _, d := range r.Dependencies {
			if names[d.Name] {
				t.Errorf("dependency %s twice", d.Name)
			}
			names[d.Name] = true
			if d.Version == "" || len(d.Licenses) == 0 {
				t.Errorf("dependency %+v lacks a version or licences", d)
			}
			if d.CVECount != len(d.CVEs) {
				t.Errorf("%s: cve_count %d, %d ids", d.Name, d.CVECount, len(d.CVEs))
			}
			if d.CVECount == 0 {
				if d.HighestCVSSScore != nil || d.CVEIDForHighestCVSSScore != "" {
					t.Errorf("%s: highest score without CVEs", d.Name)
				}
				continue
			}
			if d.HighestCVSSScore == nil || *d.HighestCVSSScore <= 0 || *d.HighestCVSSScore > 10 || d.CVEIDForHighestCVSSScore != d.CVEs[0] {
				t.Errorf("%s: highest %v %q, CVEs %v", d.Name, d.HighestCVSSScore, d.CVEIDForHighestCVSSScore, d.CVEs)
				continue
			}
			sorted := slices.Clone(d.CVEs)
			slices.Sort(sorted)
			if len(slices.Compact(sorted)) != len(d.CVEs) {
				t.Errorf("%s: repeated CVE in %v", d.Name, d.CVEs)
			}
			switch s := *d.HighestCVSSScore; {
			case s >= 9:
				bands["critical"]++
			case s >= 7:
				bands["high"]++
			case s >= 4:
				bands["medium"]++
			default:
				bands["low"]++
			}
		}
	}
	for _, band := range []string{"critical", "high", "medium", "low"} {
		if bands[band] == 0 {
			t.Errorf("no %s CVE in 200 reports: %v", band, bands)
		}
	}
	if len(distinct) < 50 {
		t.Errorf("only %d distinct dependency lists in 200 reports", len(distinct))
	}
}

func TestReportLockFileAbsent(t *testing.T) {
	const noLock = "https://github.com/example/no-lock"
	const delay = time.Minute
	clk := newClock()
	_, srv := newServer(t, emulator.Config{Now: clk.Now, ReportDelay: delay, LockFileAbsent: []string{noLock}})
	want := `{"git_url":"https://github.com/example/no-lock","git_sha":"46e443d","scanned_at":null,"dependencies":null,` +
		`"lock_file_absent":true,"message":"No dependency lock file was found in repository https://github.com/example/no-lock"}`
	for _, prefix := range layouts {
		if status, body := send(t, srv, request{method: http.MethodGet, path: reportPath(prefix, noLock, "46e443d")}); status != 404 {
			t.Errorf("%s unregistered: got %d %s, want 404", prefix, status, body)
		}
	}
	register(t, srv, noLock, "46e443d")
	register(t, srv, repoURL, "46e443d")
	if status, body := send(t, srv, request{method: http.MethodGet, path: reportPath("", noLock, "46e443d")}); status != 404 {
		t.Errorf("before the delay: got %d %s, want 404 (the analysis has not run yet)", status, body)
	}
	clk.Advance(delay)
	for _, prefix := range layouts {
		if status, body := send(t, srv, request{method: http.MethodGet, path: reportPath(prefix, noLock, "46e443d")}); status != 400 || body != want {
			t.Errorf("%s after the delay: got %d %s\nwant 400 %s", prefix, status, body, want)
		}
	}
	// Other repositories still get their reports.
	if status, body := send(t, srv, request{method: http.MethodGet, path: reportPath("", repoURL, "46e443d")}); status != 200 {
		t.Errorf("a repository with a lock file: got %d %s", status, body)
	}
}

func TestFailNextReport(t *testing.T) {
	emu, srv := newServer(t, emulator.Config{})
	register(t, srv, repoURL, "46e443d")
	emu.FailNextReport(2, http.StatusInternalServerError)
	path := reportPath("/api/v1", repoURL, "46e443d")
	for i := range 2 {
		if status, body := send(t, srv, request{method: http.MethodGet, path: path}); status != 500 ||
			body != `{"status":"failure","message":"injected failure"}` {
			t.Errorf("try %d: got %d %s, want the injected 500", i, status, body)
		}
	}
	if status, body := send(t, srv, request{method: http.MethodGet, path: path}); status != 200 {
		t.Errorf("after the injected failures: got %d %s", status, body)
	}
	// A bad request does not use an injection up.
	emu.FailNextReport(1, http.StatusServiceUnavailable)
	if status, _ := send(t, srv, request{method: http.MethodGet, path: "/report?git-url=" + repoURL}); status != 400 {
		t.Errorf("a request without git-sha: got %d, want 400", status)
	}
	if status, _ := send(t, srv, request{method: http.MethodGet, path: path}); status != 503 {
		t.Errorf("got %d, want the injected 503", status)
	}
	emu.FailNextReport(3, http.StatusInternalServerError)
	emu.FailNextReport(0, 0)
	if status, _ := send(t, srv, request{method: http.MethodGet, path: path}); status != 200 {
		t.Errorf("after canceling the injection: got %d, want 200", status)
	}
	// Register is not affected by report injections, nor the reverse.
	emu.FailNextReport(1, http.StatusInternalServerError)
	if status, body := register(t, srv, repoURL, "46e443d"); status != 200 {
		t.Errorf("register during a report injection: %d %s", status, body)
	}

	var statuses []int
	for _, req := range emu.ReportRequests() {
		if req.Report == nil || req.Registration != nil || req.ErrorReport != nil {
			t.Errorf("logged report request %+v", req)
			continue
		}
		statuses = append(statuses, req.Status)
	}
	if want := []int{500, 500, 200, 400, 503, 200}; !slices.Equal(statuses, want) {
		t.Errorf("logged report statuses %v, want %v", statuses, want)
	}
	for _, req := range emu.Requests() {
		if req.Report != nil {
			t.Errorf("a report request in Requests: %+v", req)
		}
	}
	emu.ClearReceived()
	if n := len(emu.ReportRequests()); n != 0 {
		t.Errorf("%d report requests after ClearReceived", n)
	}
}
