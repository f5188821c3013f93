package queue

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

func TestSubmitRunsScanToSuccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		m := metrics.New()
		s := env.start(func(c *Config) { c.Metrics = m })
		gitURL := env.image("example/app:1.0")

		queued := submit(t, s, "example/app:1.0")
		if queued.Status != scan.StatusQueued || queued.MaxAttempts != 3 || queued.ID == "" {
			t.Fatalf("submitted record = %+v, want queued with 3 attempts allowed", queued)
		}
		rec := waitFinal(t, s, queued.ID)

		if rec.Status != scan.StatusSucceeded || rec.Attempts != 1 || rec.LastError != "" {
			t.Fatalf("record = status %s, attempts %d, last error %q; want succeeded in 1 attempt",
				rec.Status, rec.Attempts, rec.LastError)
		}
		if rec.StartedAt == nil || rec.FinishedAt == nil || rec.FinishedAt.Before(*rec.StartedAt) ||
			rec.StartedAt.Before(rec.CreatedAt) {
			t.Errorf("times: created %v, started %v, finished %v; want ordered and set",
				rec.CreatedAt, rec.StartedAt, rec.FinishedAt)
		}
		res := rec.Result
		if res == nil {
			t.Fatal("succeeded record has no result")
		}
		want := scan.ScanResults{
			EmailIDs: "dev@example.com", GitSHA: "0123456789abcdef0123456789abcdef01234567",
			GitURL: gitURL, ImageName: "example/app:1.0", ServerURL: env.emuURL,
		}
		if res.ScanResults != want || !res.Successful || res.Summary != scan.SuccessSummary ||
			res.ScanType != scan.ScanTypeRegister || res.Scanner != scan.ScannerName ||
			res.UUID != strings.Repeat("ab", 32) || len(res.Errors) != 0 ||
			res.ServerResponse == nil || res.ServerResponse.Status != http.StatusOK {
			t.Errorf("result = %+v (server response %+v), want the scanner's success document for %+v",
				res, res.ServerResponse, want)
		}
		if res.StartTime.IsZero() || res.FinishedTime.Before(res.StartTime.Time) {
			t.Errorf("result times: start %v, finished %v", res.StartTime, res.FinishedTime)
		}

		regs := env.emu.Registrations()
		if len(regs) != 1 || regs[0].GitURL != gitURL || regs[0].EmailIDs != "dev@example.com" {
			t.Errorf("registrations = %+v, want one for %s", regs, gitURL)
		}
		if got := counterValue(t, m, "scanner_scans_total", "succeeded"); got != 1 {
			t.Errorf("scans_total{succeeded} = %v, want 1", got)
		}
		if got := histogramCount(t, m, "scanner_scan_attempt_duration_seconds", "ok"); got != 1 {
			t.Errorf("attempt durations observed as ok = %d, want 1", got)
		}
	})
}

func TestSubmitDeduplicatesActiveScans(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		ctx := context.Background()
		env.image("example/app")
		first := submit(t, s, "example/app")

		// The same image, however spelled, while the first is queued.
		for _, image := range []string{"example/app", "docker.io/example/app:latest", "example/app:latest"} {
			rec, created, err := s.Submit(ctx, scan.Request{Image: image, ScanType: scan.ScanTypeRegister})
			if err != nil || created || rec.ID != first.ID {
				t.Errorf("Submit(%q) = %s, created %v, %v; want the queued scan %s", image, rec.ID, created, err, first.ID)
			}
		}
		// Another tag or another server is another scan.
		if _, created, err := s.Submit(ctx, scan.Request{Image: "example/app:2"}); err != nil || !created {
			t.Errorf("Submit(another tag) created %v, %v; want a new scan", created, err)
		}
		if _, created, err := s.Submit(ctx, scan.Request{Image: "example/app", Server: "other"}); err != nil || !created {
			t.Errorf("Submit(another server) created %v, %v; want a new scan", created, err)
		}

		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if rec := waitFinal(t, s, first.ID); rec.Status != scan.StatusSucceeded {
			t.Fatalf("first scan %s: %s", rec.Status, rec.LastError)
		}
		again, created, err := s.Submit(ctx, scan.Request{Image: "example/app"})
		if err != nil || !created || again.ID == first.ID {
			t.Fatalf("Submit after completion = %s, created %v, %v; want a new scan", again.ID, created, err)
		}
		if rec := waitFinal(t, s, again.ID); rec.Status != scan.StatusSucceeded {
			t.Fatalf("repeat scan %s: %s", rec.Status, rec.LastError)
		}
	})
}

func TestConcurrentSubmissionsOfOneImageCreateOneScan(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		// Several rounds, each of racers released together, so that the
		// race between the lookup and the insert is really run.
		const rounds, racers = 10, 8
		for round := range rounds {
			image := fmt.Sprintf("example/race-%d", round)
			var (
				wg      sync.WaitGroup
				created atomic.Int32
				ids     sync.Map
			)
			release := make(chan struct{})
			for range racers {
				wg.Go(func() {
					<-release
					rec, c, err := s.Submit(context.Background(), scan.Request{Image: image})
					if err != nil {
						t.Errorf("Submit: %v", err)
						return
					}
					if c {
						created.Add(1)
					}
					ids.Store(rec.ID, true)
				})
			}
			close(release)
			wg.Wait()
			distinct := 0
			ids.Range(func(any, any) bool { distinct++; return true })
			if created.Load() != 1 || distinct != 1 {
				t.Errorf("%s: %d submissions created %d scans with %d distinct ids; want 1 and 1",
					image, racers, created.Load(), distinct)
			}
		}
		if depth, err := s.QueueDepth(context.Background()); err != nil || depth != rounds {
			t.Errorf("QueueDepth = %d, %v; want %d", depth, err, rounds)
		}
	})
}

func TestTransientFailuresAreRetried(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		m := metrics.New()
		// Retries slow enough to see the scan waiting in retrying.
		s := env.start(func(c *Config) {
			c.Metrics, c.MaxAttempts, c.RetryBase, c.RetryMax = m, 5, 300*time.Millisecond, 300*time.Millisecond
		})
		gitURL := env.image("example/flaky")
		env.emu.FailNext(2, http.StatusServiceUnavailable)

		rec := submit(t, s, "example/flaky")
		retrying := waitStatus(t, s, rec.ID, scan.StatusRetrying)
		if retrying.Attempts < 1 || !strings.Contains(retrying.LastError, "503") {
			t.Errorf("retrying record: attempts %d, last error %q; want >= 1 and the 503", retrying.Attempts, retrying.LastError)
		}
		rec = waitFinal(t, s, rec.ID)
		if rec.Status != scan.StatusSucceeded || rec.Attempts != 3 || rec.LastError != "" {
			t.Fatalf("record = %s after %d attempts (%q); want succeeded after 3", rec.Status, rec.Attempts, rec.LastError)
		}
		if regs := env.emu.Registrations(); len(regs) != 1 || regs[0].GitURL != gitURL {
			t.Errorf("registrations = %+v, want one", regs)
		}
		if reports := env.emu.ErrorReports(); len(reports) != 0 {
			t.Errorf("error reports = %+v, want none for a scan that succeeded", reports)
		}
		if got := counterValue(t, m, "scanner_scan_retries_total", ""); got != 2 {
			t.Errorf("retries = %v, want 2", got)
		}
	})
}

// TestRetryAfterDelaysTheNextAttempt: a server answering 429 with
// Retry-After gets its wait, whichever replica retries, instead of the
// backoff's milliseconds.
func TestRetryAfterDelaysTheNextAttempt(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.start(func(c *Config) { c.RetryBase, c.RetryMax = 10*time.Millisecond, 10*time.Second })
		env.image("example/limited")
		env.emu.FailNextRetryAfter(1, http.StatusTooManyRequests, time.Second)

		start := time.Now()
		rec := waitFinal(t, s, submit(t, s, "example/limited").ID)
		took := time.Since(start)
		if rec.Status != scan.StatusSucceeded || rec.Attempts != 2 {
			t.Fatalf("record = %s after %d attempts (%q); want succeeded after 2", rec.Status, rec.Attempts, rec.LastError)
		}
		if took < time.Second {
			t.Errorf("the scan succeeded %s after its submission, before the server's Retry-After of 1s", took)
		}
	})
}

func TestFailedScansAreReportedOnce(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares the image "example/x" and the server.
		setup        func(env *testEnv)
		maxAttempts  int
		wantAttempts int
		wantError    string
		wantReports  int
	}{{
		name: "transient forever",
		setup: func(env *testEnv) {
			env.image("example/x")
			env.emu.FailNext(100, http.StatusInternalServerError)
		},
		maxAttempts: 3, wantAttempts: 3, wantError: "500", wantReports: 1,
	}, {
		name: "permanent 4xx",
		setup: func(env *testEnv) {
			env.image("example/x")
			env.emu.FailNext(1, http.StatusBadRequest)
		},
		maxAttempts: 3, wantAttempts: 1, wantError: "400", wantReports: 1,
	}, {
		name: "labels missing",
		setup: func(env *testEnv) {
			env.source.Add("example/x", map[string]string{scan.LabelGitURL: "https://github.com/example/x"})
		},
		maxAttempts: 3, wantAttempts: 1, wantError: "label git-sha is missing", wantReports: 1,
	}, {
		name:        "image not found",
		setup:       func(*testEnv) {},
		maxAttempts: 3, wantAttempts: 1, wantError: "image not found", wantReports: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, env *testEnv) {
				m := metrics.New()
				s := env.start(func(c *Config) { c.Metrics, c.MaxAttempts = m, tt.maxAttempts })
				tt.setup(env)

				rec := waitFinal(t, s, submit(t, s, "example/x").ID)
				if rec.Status != scan.StatusFailed || rec.Attempts != tt.wantAttempts {
					t.Fatalf("record = %s after %d attempts; want failed after %d", rec.Status, rec.Attempts, tt.wantAttempts)
				}
				if !strings.Contains(rec.LastError, tt.wantError) {
					t.Errorf("last error %q does not mention %q", rec.LastError, tt.wantError)
				}
				if rec.Result == nil || rec.Result.Successful || len(rec.Result.Errors) == 0 ||
					!strings.HasPrefix(rec.Result.Summary, "Error: ") {
					t.Errorf("result = %+v, want a failure document with errors", rec.Result)
				}
				if regs := env.emu.Registrations(); len(regs) != 0 {
					t.Errorf("registrations = %+v, want none", regs)
				}
				reports := env.waitReports(t, tt.wantReports)
				if len(reports) != tt.wantReports {
					t.Fatalf("error reports = %+v, want %d", reports, tt.wantReports)
				}
				if !strings.Contains(strings.Join(reports[0].Errors, "\n"), tt.wantError) {
					t.Errorf("report errors %q do not mention %q", reports[0].Errors, tt.wantError)
				}
				if got := counterValue(t, m, "scanner_scans_total", "failed"); got != 1 {
					t.Errorf("scans_total{failed} = %v, want 1", got)
				}
			})
		})
	}
}

func TestUnknownServerFailsAtOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.start()
		env.image("example/app")
		rec, _, err := s.Submit(context.Background(), scan.Request{Image: "example/app", Server: "elsewhere"})
		if err != nil {
			t.Fatal(err)
		}
		rec = waitFinal(t, s, rec.ID)
		if rec.Status != scan.StatusFailed || rec.Attempts != 1 || !strings.Contains(rec.LastError, `"elsewhere"`) {
			t.Fatalf("record = %s after %d attempts (%q); want failed at once naming the server",
				rec.Status, rec.Attempts, rec.LastError)
		}
		if n := env.source.Inspections("example/app"); n != 0 {
			t.Errorf("image inspected %d times, want 0", n)
		}
	})
}

func TestAttemptTimeoutIsRetriedThenReported(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.start(func(c *Config) { c.JobTimeout, c.MaxAttempts = 300*time.Millisecond, 2 })
		env.image("example/slow")
		env.source.Gate(t, "example/slow") // never opened: every attempt times out

		rec := waitFinal(t, s, submit(t, s, "example/slow").ID)
		if rec.Status != scan.StatusFailed || rec.Attempts != 2 {
			t.Fatalf("record = %s after %d attempts; want failed after 2", rec.Status, rec.Attempts)
		}
		if !strings.Contains(rec.LastError, "deadline exceeded") {
			t.Errorf("last error %q does not say the attempt timed out", rec.LastError)
		}
		// The report is sent after the attempt's deadline passed.
		if reports := env.waitReports(t, 1); len(reports) != 1 {
			t.Errorf("error reports = %+v, want 1", reports)
		}
	})
}

func TestCancelQueuedScan(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		m := metrics.New()
		s := env.open(func(c *Config) { c.Metrics = m })
		ctx := context.Background()
		env.image("example/canceled")
		env.image("example/kept")
		queued := submit(t, s, "example/canceled")

		rec, removed, err := s.Delete(ctx, queued.ID)
		if err != nil || removed || rec.Status != scan.StatusCanceled || rec.FinishedAt == nil {
			t.Fatalf("Delete(queued) = %+v, removed %v, %v; want it canceled and kept", rec, removed, err)
		}
		if got, err := s.Get(ctx, queued.ID); err != nil || got.Status != scan.StatusCanceled || got.Result != nil {
			t.Fatalf("Get(canceled) = %+v, %v", got, err)
		}

		// Run another scan through the queue: once it is done, the
		// canceled one had every chance to run.
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if rec := waitFinal(t, s, submit(t, s, "example/kept").ID); rec.Status != scan.StatusSucceeded {
			t.Fatalf("other scan %s", rec.Status)
		}
		if n := env.source.Inspections("example/canceled"); n != 0 {
			t.Errorf("canceled image inspected %d times, want 0", n)
		}
		if regs := env.emu.Registrations(); len(regs) != 1 {
			t.Errorf("registrations = %+v, want only the other scan's", regs)
		}
		if got, _ := s.Get(ctx, queued.ID); got.Status != scan.StatusCanceled {
			t.Errorf("canceled scan became %s", got.Status)
		}
		if got := counterValue(t, m, "scanner_scans_total", "canceled"); got != 1 {
			t.Errorf("scans_total{canceled} = %v, want 1", got)
		}

		// A canceled scan is final: deleting it again removes it.
		if _, removed, err := s.Delete(ctx, queued.ID); err != nil || !removed {
			t.Fatalf("Delete(canceled) removed %v, %v; want removed", removed, err)
		}
		_, err = s.Get(ctx, queued.ID)
		wantCode(t, err, scan.ENotFound)
	})
}

func TestDeleteFinalScan(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.start()
		ctx := context.Background()
		env.image("example/app")
		done := waitFinal(t, s, submit(t, s, "example/app").ID)

		rec, removed, err := s.Delete(ctx, done.ID)
		if err != nil || !removed || rec.ID != done.ID || rec.Status != scan.StatusSucceeded || rec.Result == nil {
			t.Fatalf("Delete(final) = %+v, removed %v, %v; want the record as it was, removed", rec, removed, err)
		}
		_, err = s.Get(ctx, done.ID)
		wantCode(t, err, scan.ENotFound)
		_, _, err = s.Delete(ctx, done.ID)
		wantCode(t, err, scan.ENotFound)
		page, err := s.List(ctx, scan.Filter{})
		if err != nil || len(page.Scans) != 0 {
			t.Errorf("List after delete = %+v, %v; want empty", page.Scans, err)
		}
	})
}

func TestDeleteRunningScanConflicts(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.start()
		env.image("example/busy")
		open := env.source.Gate(t, "example/busy")
		defer open()

		rec := submit(t, s, "example/busy")
		waitStatus(t, s, rec.ID, scan.StatusRunning)
		_, _, err := s.Delete(context.Background(), rec.ID)
		wantCode(t, err, scan.EConflict)

		open()
		if rec := waitFinal(t, s, rec.ID); rec.Status != scan.StatusSucceeded {
			t.Fatalf("scan %s after the failed delete, want succeeded", rec.Status)
		}
	})
}

func TestGetAndDeleteUnknownScan(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		ctx := context.Background()
		for _, id := range []string{"0197d1c2-0000-7000-8000-000000000000", "not-an-id", ""} {
			_, err := s.Get(ctx, id)
			wantCode(t, err, scan.ENotFound)
			_, _, err = s.Delete(ctx, id)
			wantCode(t, err, scan.ENotFound)
			_, err = s.Wait(ctx, id)
			wantCode(t, err, scan.ENotFound)
		}
	})
}

func TestSubmitRejectsInvalidRequests(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		for _, req := range []scan.Request{{Image: ""}, {Image: "  "}, {Image: "example/app", ScanType: "cve"}} {
			_, _, err := s.Submit(context.Background(), req)
			wantCode(t, err, scan.EInvalid)
		}
	})
}

func TestListPagesNewestFirst(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		ctx := context.Background()
		var ids []string
		for i := range 7 {
			ids = append(ids, submit(t, s, fmt.Sprintf("example/page-%d", i)).ID)
		}
		slices.Reverse(ids) // newest first

		var got []string
		cursor := ""
		for page := 1; ; page++ {
			p, err := s.List(ctx, scan.Filter{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatalf("List page %d: %v", page, err)
			}
			wantLen := min(3, 7-len(got))
			if len(p.Scans) != wantLen {
				t.Fatalf("page %d has %d scans, want %d", page, len(p.Scans), wantLen)
			}
			for _, rec := range p.Scans {
				got = append(got, rec.ID)
			}
			if p.NextCursor == "" {
				if page != 3 {
					t.Fatalf("paging ended after %d pages, want 3", page)
				}
				break
			}
			if page == 3 {
				t.Fatal("page 3 has a next cursor")
			}
			cursor = p.NextCursor
		}
		if !slices.Equal(got, ids) {
			t.Errorf("paged ids = %v\nwant newest first %v", got, ids)
		}

		all, err := s.List(ctx, scan.Filter{})
		if err != nil || len(all.Scans) != 7 || all.NextCursor != "" {
			t.Errorf("List(default limit) = %d scans, cursor %q, %v; want all 7 on one page", len(all.Scans), all.NextCursor, err)
		}
	})
}

func TestListFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		ctx := context.Background()
		a := submit(t, s, "example/a")
		b := submit(t, s, "example/b")
		c := submit(t, s, "example/c")
		if _, _, err := s.Delete(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			filter scan.Filter
			want   []string
		}{
			{"image", scan.Filter{Image: "example/a"}, []string{a.ID}},
			{"image is exact", scan.Filter{Image: "example/a:latest"}, nil},
			{"status", scan.Filter{Status: scan.StatusCanceled}, []string{b.ID}},
			{"status queued", scan.Filter{Status: scan.StatusQueued}, []string{c.ID, a.ID}},
			{"image and status", scan.Filter{Image: "example/b", Status: scan.StatusQueued}, nil},
			{"none", scan.Filter{}, []string{c.ID, b.ID, a.ID}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p, err := s.List(ctx, tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, rec := range p.Scans {
					got = append(got, rec.ID)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("List(%+v) = %v, want %v", tt.filter, got, tt.want)
				}
			})
		}
	})
}

func TestListRejectsInvalidFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		tests := []struct {
			name   string
			filter scan.Filter
			code   string
		}{
			{"unknown status", scan.Filter{Status: "done"}, scan.EInvalid},
			{"negative limit", scan.Filter{Limit: -1}, scan.EInvalid},
			{"limit over max", scan.Filter{Limit: scan.MaxListLimit + 1}, scan.EInvalid},
			{"cursor not base64", scan.Filter{Cursor: "!!!"}, scan.EInvalid},
			{"cursor without id", scan.Filter{Cursor: listCursor{createdAt: 5}.encode()}, scan.EInvalid},
			{"cursor with bad time", scan.Filter{Cursor: "eDpzb21lLWlk"}, scan.EInvalid}, // "x:some-id"
			{"max limit", scan.Filter{Limit: scan.MaxListLimit}, ""},
			{"valid cursor", scan.Filter{Cursor: listCursor{createdAt: 5, id: "x"}.encode()}, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.List(context.Background(), tt.filter)
				wantCode(t, err, tt.code)
			})
		}
	})
}

func TestQueueFull(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open(func(c *Config) { c.MaxQueueDepth = 2 })
		ctx := context.Background()
		a := submit(t, s, "example/a")
		submit(t, s, "example/b")

		_, _, err := s.Submit(ctx, scan.Request{Image: "example/c"})
		wantCode(t, err, scan.EQueueFull)
		// A scan already queued is still found: it adds nothing.
		if rec, created, err := s.Submit(ctx, scan.Request{Image: "example/a"}); err != nil || created || rec.ID != a.ID {
			t.Errorf("Submit(queued image) on a full queue = %s, created %v, %v; want the queued scan", rec.ID, created, err)
		}
		if depth, err := s.QueueDepth(ctx); err != nil || depth != 2 {
			t.Errorf("QueueDepth = %d, %v; want 2", depth, err)
		}
		if _, _, err := s.Delete(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		submit(t, s, "example/c")
	})
}

func TestRetentionPrunesOldFinalScans(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		var clock atomic.Int64
		clock.Store(time.Now().UnixMicro())
		now := func() time.Time { return time.UnixMicro(clock.Load()) }
		s := env.open(func(c *Config) {
			c.Now, c.Retention, c.MaintenanceInterval = now, time.Hour, 20*time.Millisecond
		})
		ctx := context.Background()
		old := submit(t, s, "example/old")
		if _, _, err := s.Delete(ctx, old.ID); err != nil {
			t.Fatal(err)
		}
		pending := submit(t, s, "example/pending") // never final: kept however old
		clock.Add((2 * time.Hour).Microseconds())
		recent := submit(t, s, "example/recent")
		if _, _, err := s.Delete(ctx, recent.ID); err != nil {
			t.Fatal(err)
		}

		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(waitTimeout)
		for {
			_, err := s.Get(ctx, old.ID)
			if scan.ErrorCode(err) == scan.ENotFound {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("old final scan not pruned: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, id := range []string{pending.ID, recent.ID} {
			if _, err := s.Get(ctx, id); err != nil {
				t.Errorf("scan %s was pruned: %v", id, err)
			}
		}
	})
}

func TestRetentionNegativeKeepsForever(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		var clock atomic.Int64
		clock.Store(time.Now().UnixMicro())
		s := env.open(func(c *Config) {
			c.Now, c.Retention = func() time.Time { return time.UnixMicro(clock.Load()) }, -1
		})
		ctx := context.Background()
		rec := submit(t, s, "example/old")
		if _, _, err := s.Delete(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		clock.Add((10 * 365 * 24 * time.Hour).Microseconds())
		if n, err := s.prune(ctx); err != nil || n != 0 {
			t.Errorf("prune = %d, %v; want nothing removed", n, err)
		}
		if _, err := s.Get(ctx, rec.ID); err != nil {
			t.Errorf("Get after prune: %v", err)
		}
	})
}

func TestQueuedScansSurviveRestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		const n = 5
		api := env.open() // an API-only process: it queues, never runs
		var ids []string
		for i := range n {
			image := fmt.Sprintf("example/restart-%d", i)
			env.image(image)
			ids = append(ids, submit(t, api, image).ID)
		}
		closeStore(t, api)

		s := env.start()
		for _, id := range ids {
			if rec := waitFinal(t, s, id); rec.Status != scan.StatusSucceeded || rec.Attempts != 1 {
				t.Errorf("scan %s: %s after %d attempts, want succeeded after 1", id, rec.Status, rec.Attempts)
			}
		}
		if regs := env.emu.Registrations(); len(regs) != n {
			t.Errorf("%d registrations, want %d", len(regs), n)
		}
	})
}

func TestStoppedMidScanFinishesAfterReopen(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		env.image("example/interrupted")
		open := env.source.Gate(t, "example/interrupted")
		defer open()

		first := env.start()
		rec := submit(t, first, "example/interrupted")
		waitStatus(t, first, rec.ID, scan.StatusRunning)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := first.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		stopped, err := first.Get(context.Background(), rec.ID)
		if err != nil || stopped.Status != scan.StatusQueued || stopped.Attempts != 0 {
			t.Fatalf("after Stop: %+v, %v; want queued again with the attempt not counted", stopped, err)
		}
		closeStore(t, first)

		open()
		second := env.start()
		done := waitFinal(t, second, rec.ID)
		if done.Status != scan.StatusSucceeded || done.Attempts != 1 {
			t.Fatalf("after reopen: %s after %d attempts, want succeeded after 1", done.Status, done.Attempts)
		}
		if regs := env.emu.Registrations(); len(regs) != 1 {
			t.Errorf("%d registrations, want 1", len(regs))
		}
	})
}

func TestRescuedScanRunsAgain(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		ctx := context.Background()
		env.image("example/rescued")
		rec := submit(t, s, "example/rescued")

		// What a process killed mid-attempt leaves once River's rescuer has
		// put the job back in the queue: the record still says running,
		// the job has an attempt behind it.
		r, err := getRow(ctx, s.db, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec(`UPDATE scans SET status = 'running', attempts = 1, started_at = created_at WHERE id = $1`, rec.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec(`UPDATE river_job SET attempt = 1 WHERE id = $1`, r.jobID.Int64); err != nil {
			t.Fatal(err)
		}

		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		done := waitFinal(t, s, rec.ID)
		if done.Status != scan.StatusSucceeded || done.Attempts != 2 {
			t.Fatalf("rescued scan: %s after %d attempts, want succeeded after 2", done.Status, done.Attempts)
		}
		if regs := env.emu.Registrations(); len(regs) != 1 {
			t.Errorf("%d registrations, want 1", len(regs))
		}
	})
}

func TestAbandonedScanIsFailedAndReported(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		ctx := context.Background()
		env.image("example/abandoned")
		env.image("example/kept")
		rec := submit(t, s, "example/abandoned")
		kept := submit(t, s, "example/kept")

		// What River's rescuer does to the job of a process that died in
		// its last attempt: the job leaves the active states while the
		// record still says running.
		r, err := getRow(ctx, s.db, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE scans SET status = 'running', attempts = 3 WHERE id = $1`, rec.ID); err != nil {
				return err
			}
			_, err := s.client.JobCancelTx(ctx, tx, r.jobID.Int64)
			return err
		}); err != nil {
			t.Fatal(err)
		}

		n, err := s.failAbandoned(ctx)
		if err != nil || n != 1 {
			t.Fatalf("failAbandoned = %d, %v; want 1", n, err)
		}
		got, err := s.Get(ctx, rec.ID)
		if err != nil || got.Status != scan.StatusFailed || got.FinishedAt == nil ||
			!strings.Contains(got.LastError, "abandoned") || got.Result == nil || got.Result.Successful {
			t.Fatalf("abandoned scan = %+v, %v; want failed with a result", got, err)
		}
		if got, _ := s.Get(ctx, kept.ID); got.Status != scan.StatusQueued {
			t.Errorf("a healthy queued scan became %s", got.Status)
		}
		if n, err := s.failAbandoned(ctx); err != nil || n != 0 {
			t.Errorf("second failAbandoned = %d, %v; want 0", n, err)
		}
		// The report was queued with the failure; a started store sends it.
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if reports := env.waitReports(t, 1); len(reports) != 1 || reports[0].ImageName != "example/abandoned" {
			t.Errorf("error reports = %+v, want one for the abandoned scan", reports)
		}
	})
}

func TestWaitReturnsCurrentRecordWhenContextEnds(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		rec := submit(t, s, "example/waiting")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		got, err := s.Wait(ctx, rec.ID)
		if err != nil || got.ID != rec.ID || got.Status != scan.StatusQueued {
			t.Fatalf("Wait = %+v, %v; want the queued record and no error", got, err)
		}
		done, cancel2 := context.WithCancel(context.Background())
		cancel2()
		if got, err := s.Wait(done, rec.ID); err != nil || got.ID != rec.ID {
			t.Fatalf("Wait(done context) = %+v, %v; want the record", got, err)
		}
	})
}

func TestPingAndQueueDepth(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		ctx := context.Background()
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		for i, want := range []int{1, 2, 3} {
			submit(t, s, fmt.Sprintf("example/depth-%d", i))
			if got, err := s.QueueDepth(ctx); err != nil || got != want {
				t.Fatalf("QueueDepth = %d, %v; want %d", got, err, want)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err == nil {
			t.Error("Ping on a closed store succeeded")
		}
	})
}

func TestReopenKeepsRecordsAndSchema(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		rec := submit(t, s, "example/app")
		closeStore(t, s)

		again := env.open()
		got, err := again.Get(context.Background(), rec.ID)
		if err != nil || got.Status != scan.StatusQueued {
			t.Fatalf("Get after reopen = %+v, %v", got, err)
		}
		var applied int
		if err := again.db.QueryRow(`SELECT COUNT(*) FROM scanner_migrations`).Scan(&applied); err != nil || applied != len(migrations) {
			t.Errorf("scanner_migrations holds %d rows, %v; want %d", applied, err, len(migrations))
		}
	})
}

func TestConcurrentOpenOfNewDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		var wg sync.WaitGroup
		stores := make([]*Store, 3)
		errs := make([]error, 3)
		for i := range stores {
			wg.Go(func() { stores[i], errs[i] = Open(context.Background(), env.config()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				continue
			}
			t.Cleanup(func() { closeStore(t, stores[i]) })
		}
		if t.Failed() {
			return
		}
		rec := submit(t, stores[0], "example/app")
		if got, err := stores[2].Get(context.Background(), rec.ID); err != nil || got.ID != rec.ID {
			t.Errorf("another store's Get = %+v, %v", got, err)
		}
	})
}

func TestTwoStoresShareTheQueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		const n = 40
		var worked [2]atomic.Int32
		counting := func(i int) func(*Config) {
			return func(c *Config) {
				c.Workers = 4
				c.ScannerFor = func(server string) (*scan.Scanner, error) {
					worked[i].Add(1)
					return env.scannerFor(server)
				}
			}
		}
		stores := []*Store{env.start(counting(0)), env.start(counting(1))}
		want := map[string]bool{}
		ids := make([]string, n)
		for i := range n {
			image := fmt.Sprintf("example/shared-%d", i)
			want[env.image(image)] = true
			ids[i] = submit(t, stores[i%2], image).ID
		}
		for i, id := range ids {
			rec := waitFinal(t, stores[(i+1)%2], id)
			if rec.Status != scan.StatusSucceeded || rec.Attempts != 1 {
				t.Errorf("scan %s: %s after %d attempts (%q)", id, rec.Status, rec.Attempts, rec.LastError)
			}
		}
		regs := env.emu.Registrations()
		seen := map[string]int{}
		for _, r := range regs {
			seen[r.GitURL]++
		}
		if len(regs) != n {
			t.Errorf("%d registrations for %d scans", len(regs), n)
		}
		for url := range want {
			if seen[url] != 1 {
				t.Errorf("%s registered %d times, want once", url, seen[url])
			}
		}
		// Both poll the one queue; neither may sit idle while the other
		// works through 40 scans.
		t.Logf("attempts per store: %d and %d", worked[0].Load(), worked[1].Load())
		if worked[0].Load() == 0 || worked[1].Load() == 0 {
			t.Errorf("attempts per store: %d and %d; want both stores working", worked[0].Load(), worked[1].Load())
		}
	})
}

func TestSecretsStayOutOfRecordsAndLogs(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.start(func(c *Config) { c.MaxAttempts = 2 })
		env.image("example/ok")
		env.image("example/fails")
		ok := waitFinal(t, s, submit(t, s, "example/ok").ID)
		env.emu.FailNext(10, http.StatusUnauthorized)
		failed := waitFinal(t, s, submit(t, s, "example/fails").ID)
		if ok.Status != scan.StatusSucceeded || failed.Status != scan.StatusFailed {
			t.Fatalf("statuses %s and %s, want succeeded and failed", ok.Status, failed.Status)
		}
		for _, rec := range []scan.Record{ok, failed} {
			if doc := fmt.Sprintf("%+v %+v", rec, *rec.Result); strings.Contains(doc, env.token) {
				t.Errorf("record %s holds the token", rec.ID)
			}
		}
		if !strings.Contains(env.logs.String(), "scan finished") {
			t.Error("no logs captured; the check below would prove nothing")
		}
		// newTestEnv's cleanup checks the logs for the token.
	})
}
