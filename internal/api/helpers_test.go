package api_test

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// testToken is the API token of servers under test that need one.
const testToken = "s3cret-test-token"

// env is an API server over a fake service, and a validating client of it.
type env struct {
	svc *apitest.Service
	c   *apitest.Client
	log *logtest.Buffer
}

func newEnv(t *testing.T, cfg api.Config, svc *apitest.Service) *env {
	t.Helper()
	if svc == nil {
		svc = &apitest.Service{}
	}
	logs := &logtest.Buffer{}
	cfg.Log = newLogger(logs)
	srv := httptest.NewServer(api.New(cfg, svc))
	t.Cleanup(srv.Close)
	return &env{svc: svc, c: apitest.NewClient(t, srv.URL, cfg.APIToken), log: logs}
}

var t0 = time.Date(2024, 5, 1, 10, 23, 39, 0, time.UTC)

// record is a record in status st; final ones carry a result.
func record(id, image string, st scan.Status) scan.Record {
	r := scan.Record{
		ID: id, Image: image, ScanType: scan.ScanTypeRegister, Status: st,
		MaxAttempts: 5, CreatedAt: t0, UpdatedAt: t0,
	}
	if st != scan.StatusQueued {
		r.Attempts = 1
		started := t0.Add(time.Second)
		r.StartedAt = &started
	}
	if st == scan.StatusRetrying {
		r.LastError = "register request to http://a/register failed: server answered 503 Service Unavailable"
	}
	if st.Final() {
		done := t0.Add(2 * time.Second)
		r.FinishedAt, r.UpdatedAt = &done, done
	}
	if st == scan.StatusSucceeded || st == scan.StatusFailed {
		r.Result = &scan.Result{
			ScanType: scan.ScanTypeRegister, CVEFeedLastUpdated: "NA",
			UUID:         strings.Repeat("ab", 32),
			ScanResults:  scan.ScanResults{EmailIDs: "dev@example.org", GitSHA: "46e443d", GitURL: "https://github.com/example/app", ImageName: image, ServerURL: "http://a"},
			Successful:   st == scan.StatusSucceeded,
			StartTime:    scan.Timestamp{Time: t0.Add(time.Second)},
			FinishedTime: scan.Timestamp{Time: t0.Add(2 * time.Second)},
			Summary:      scan.SuccessSummary,
			Scanner:      scan.ScannerName,
		}
		if st == scan.StatusSucceeded {
			r.Result.ServerResponse = &scan.ServerResponse{Status: 200, Summary: "registered"}
		} else {
			r.LastError = "label git-url is missing"
			r.Result.Errors = []string{r.LastError}
			r.Result.Summary = scan.FailureSummary(r.Result.Errors)
		}
	}
	return r
}

// wantError checks an error answer's status and code.
func wantError(t *testing.T, r *apitest.Response, status int, code string) {
	t.Helper()
	if r.StatusCode != status || r.ErrorCode() != code {
		t.Fatalf("got %d %q, want %d %q; body: %s", r.StatusCode, r.ErrorCode(), status, code, r.Body)
	}
}

// errorMessage is an error answer's message.
func errorMessage(t *testing.T, r *apitest.Response) string {
	t.Helper()
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	r.JSON(t, &e)
	return e.Error.Message
}

func newLogger(w *logtest.Buffer) zerolog.Logger { return zerolog.New(w).With().Timestamp().Logger() }

// captured holds a value a fake service saw in the server's goroutine, for
// the test's goroutine to check: the race detector cannot see the order the
// HTTP exchange gives them.
type captured[T any] struct {
	mu  sync.Mutex
	v   T
	set bool
}

func (c *captured[T]) put(v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.v, c.set = v, true
}

func (c *captured[T]) get() (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v, c.set
}
