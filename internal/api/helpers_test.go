package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// testToken is the API token of servers under test that need one.
const testToken = "s3cret-test-token"

// logBuffer collects a server's log lines; handlers write from their own
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the JSON log lines written so far.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

// waitForLine polls until a log line satisfies match: the access log is
// written after the answer has gone out, so it may trail the response.
func (b *logBuffer) waitForLine(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range b.lines(t) {
			if match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %s in:\n%s", what, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// env is an API server over a fake service, and a validating client of it.
type env struct {
	svc *apitest.Service
	c   *apitest.Client
	log *logBuffer
}

func newEnv(t *testing.T, cfg api.Config, svc *apitest.Service) *env {
	t.Helper()
	if svc == nil {
		svc = &apitest.Service{}
	}
	logs := &logBuffer{}
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

func newLogger(w *logBuffer) zerolog.Logger { return zerolog.New(w).With().Timestamp().Logger() }

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
