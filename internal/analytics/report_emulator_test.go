package analytics_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestFetchReportFromTheEmulator follows a registration to its report
// against the emulator, whose types are written from the contract and not
// shared with the client: a wrong JSON tag on either side shows here.
func TestFetchReportFromTheEmulator(t *testing.T) {
	const (
		token  = "tok-report-1"
		gitURL = "https://github.com/example/app"
		noLock = "https://github.com/example/no-lock"
		sha    = "46e443d"
		delay  = 30 * time.Minute
	)
	clk := &clock{now: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
	emu := emulator.New(emulator.Config{Token: token, ReportDelay: delay, Now: clk.Now, LockFileAbsent: []string{noLock}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c, err := analytics.New(analytics.Config{ServerURL: srv.URL + "/api/v1", Token: token, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fetch := func(repo string) (*scan.ReportAnswer, error) { return c.FetchReport(ctx, repo, sha) }

	for _, repo := range []string{gitURL, noLock} {
		if _, err := c.Register(ctx, scan.Registration{GitURL: repo, GitSHA: sha, EmailIDs: "a@x.org"}); err != nil {
			t.Fatal(err)
		}
		if ans, err := fetch(repo); err != nil || ans.State != scan.ReportPending {
			t.Errorf("%s before the delay: %+v, %v; want not ready", repo, ans, err)
		}
	}
	clk.Advance(delay)

	emu.FailNextReport(1, http.StatusInternalServerError)
	if _, err := fetch(gitURL); !scan.IsTransient(err) {
		t.Errorf("an injected 500: %v, want a transient error", err)
	}

	ans, err := fetch(gitURL)
	if err != nil || ans.State != scan.ReportReady {
		t.Fatalf("after the delay: %+v, %v; want ready", ans, err)
	}
	got := *ans.Report
	want := emulator.ReportFor(gitURL, sha, clk.Now().UTC().Format(http.TimeFormat))
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	var g, w any
	_ = json.Unmarshal(gotJSON, &g)
	_ = json.Unmarshal(wantJSON, &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("decoded report differs from the emulator's:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	summary := scan.Summarize(got)
	cves := 0
	for _, d := range want.Dependencies {
		cves += d.CVECount
	}
	if summary.Dependencies != len(want.Dependencies) || summary.CVEs != cves || summary.HighestCVSSScore == nil {
		t.Errorf("summary %+v: want %d dependencies, %d CVEs and a highest score", summary, len(want.Dependencies), cves)
	}

	ans, err = fetch(noLock)
	if err != nil || ans.State != scan.ReportLockFileAbsent || ans.Message != emulator.LockFileAbsentMessage(noLock) {
		t.Errorf("lock file absent: %+v, %v", ans, err)
	}

	bad, err := analytics.New(analytics.Config{ServerURL: srv.URL, Token: "wrong", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.FetchReport(ctx, gitURL, sha); err == nil || scan.IsTransient(err) {
		t.Errorf("a wrong token: %v, want a permanent error", err)
	}
}
