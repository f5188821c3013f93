package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

const (
	digest  = "sha256:" + "4fc1cd7d3b4c1a56f2a8d54e9cd0e7f25e7e6b3c8f1a9e0d2b7c6a5f4e3d2c1b"
	allowed = "https://analytics.example.org/api/v1"
)

// submitRecorder is a Submit that records the requests it gets and queues
// each as a new scan.
type submitRecorder struct {
	mu   sync.Mutex
	reqs []scan.Request
}

func (s *submitRecorder) submit(_ context.Context, req scan.Request) (scan.Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, req)
	rec := record("scan-1", req.Image, scan.StatusQueued)
	rec.ScanType, rec.Server = req.ScanType, req.Server
	return rec, true, nil
}

func (s *submitRecorder) got() []scan.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]scan.Request(nil), s.reqs...)
}

func TestSubmitAccepts(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        scan.Request
	}{
		{"json name", "application/json", `{"image": "nginx"}`, scan.Request{Image: "nginx", ScanType: "register"}},
		{"json every field", "application/json", `{"image": "nginx:1.25", "scan_type": "register", "server": "` + allowed + `"}`,
			scan.Request{Image: "nginx:1.25", ScanType: "register", Server: allowed}},
		{"json charset", "application/json; charset=utf-8", `{"image": "nginx"}`, scan.Request{Image: "nginx", ScanType: "register"}},
		{"json image trimmed, kept as given", "application/json", `{"image": "  docker.io/library/nginx:latest \n"}`,
			scan.Request{Image: "docker.io/library/nginx:latest", ScanType: "register"}},
		{"json digest reference", "application/json", `{"image": "host:5000/a/b@` + digest + `"}`,
			scan.Request{Image: "host:5000/a/b@" + digest, ScanType: "register"}},
		{"json image id", "application/json", `{"image": "` + digest + `"}`, scan.Request{Image: digest, ScanType: "register"}},
		{"json short id", "application/json", `{"image": "4fc1cd7d3b4c"}`, scan.Request{Image: "4fc1cd7d3b4c", ScanType: "register"}},
		{"json server normalised to the allowed entry", "application/json", `{"image": "nginx", "server": "HTTPS://Analytics.Example.org/api/v1/"}`,
			scan.Request{Image: "nginx", ScanType: "register", Server: allowed}},
		{"plain text", "text/plain", "nginx:1.25\n", scan.Request{Image: "nginx:1.25", ScanType: "register"}},
		{"plain text charset", "text/plain; charset=utf-8", "quay.io/team/app:v2", scan.Request{Image: "quay.io/team/app:v2", ScanType: "register"}},
		{"form bare reference (curl -d)", "application/x-www-form-urlencoded", "host:5000/a/b:1", scan.Request{Image: "host:5000/a/b:1", ScanType: "register"}},
		{"form bare URL-encoded reference (curl --data-urlencode)", "application/x-www-form-urlencoded", "host%3A5000%2Fa%2Fb%3A1",
			scan.Request{Image: "host:5000/a/b:1", ScanType: "register"}},
		{"form fields", "application/x-www-form-urlencoded", "image=nginx%3A1.25&scan_type=register&server=" + allowed,
			scan.Request{Image: "nginx:1.25", ScanType: "register", Server: allowed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &submitRecorder{}
			e := newEnv(t, api.Config{AllowedServers: api.MustAllowList(allowed, "http://other.example")}, &apitest.Service{SubmitFn: rec.submit})
			r := e.c.Do(e.c.NewRequest(http.MethodPost, "/scan", tt.contentType, []byte(tt.body)))
			if r.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d, want 202; body: %s", r.StatusCode, r.Body)
			}
			want := tt.want
			want.Source = scan.SourceDaemon // the default default
			if got := rec.got(); len(got) != 1 || got[0] != want {
				t.Fatalf("service got %+v, want one %+v", got, want)
			}
			if loc := r.Header.Get("Location"); loc != "/scan/scan-1" {
				t.Errorf("Location %q, want /scan/scan-1", loc)
			}
			if ra := r.Header.Get("Retry-After"); ra != "2" {
				t.Errorf("Retry-After %q, want the default 2", ra)
			}
			var got scan.Record
			r.JSON(t, &got)
			if got.ID != "scan-1" || got.Image != tt.want.Image || got.Status != scan.StatusQueued || got.Server != tt.want.Server {
				t.Errorf("record %+v does not show the queued scan of %+v", got, tt.want)
			}
		})
	}
}

// A submit of an image already being scanned answers with that scan, so that
// a client retrying its submit follows the one scan.
func TestSubmitDeduplicated(t *testing.T) {
	existing := record("scan-older", "nginx", scan.StatusRunning)
	e := newEnv(t, api.Config{RetryAfter: 5 * time.Second}, &apitest.Service{
		SubmitFn: func(context.Context, scan.Request) (scan.Record, bool, error) { return existing, false, nil },
	})
	r := e.c.PostJSON("/scan", map[string]string{"image": "nginx"})
	if r.StatusCode != http.StatusAccepted || r.Header.Get("Location") != "/scan/scan-older" || r.Header.Get("Retry-After") != "5" {
		t.Fatalf("got %d Location %q Retry-After %q, want 202 /scan/scan-older 5",
			r.StatusCode, r.Header.Get("Location"), r.Header.Get("Retry-After"))
	}
	var got scan.Record
	r.JSON(t, &got)
	if got.ID != existing.ID || got.Status != scan.StatusRunning {
		t.Errorf("record %+v, want the existing running scan", got)
	}
}

func TestSubmitRejects(t *testing.T) {
	big := strings.Repeat("a", 2048)
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		// nonConforming requests are ones openapi.yaml itself rejects.
		nonConforming bool
		status        int
		code          string
		// inMessage is a part the message must have.
		inMessage string
	}{
		{name: "malformed JSON", contentType: "application/json", body: `{"image": "nginx"`, nonConforming: true,
			status: 400, code: api.EMalformedJSON},
		{name: "JSON syntax error", contentType: "application/json", body: `{"image": nginx}`, nonConforming: true,
			status: 400, code: api.EMalformedJSON, inMessage: "byte"},
		{name: "JSON not an object", contentType: "application/json", body: `["nginx"]`, nonConforming: true,
			status: 400, code: api.EMalformedJSON},
		{name: "JSON null", contentType: "application/json", body: `null`, nonConforming: true,
			status: 400, code: api.EMalformedJSON},
		{name: "empty JSON body", contentType: "application/json", body: ``, nonConforming: true,
			status: 400, code: api.EMalformedJSON},
		// kin-openapi reads the first JSON value only; the contract cannot
		// say "exactly one".
		{name: "two JSON values", contentType: "application/json", body: `{"image": "a"} {"image": "b"}`,
			status: 400, code: api.EMalformedJSON},
		{name: "unknown field", contentType: "application/json", body: `{"image": "nginx", "tag": "1"}`, nonConforming: true,
			status: 400, code: api.EUnknownField, inMessage: `"tag"`},
		{name: "wrong type", contentType: "application/json", body: `{"image": 5}`, nonConforming: true,
			status: 400, code: scan.EInvalid, inMessage: `"image"`},
		{name: "no image", contentType: "application/json", body: `{}`, nonConforming: true,
			status: 400, code: scan.EInvalid, inMessage: "image"},
		{name: "empty image", contentType: "application/json", body: `{"image": ""}`, nonConforming: true,
			status: 400, code: scan.EInvalid, inMessage: "image"},
		{name: "blank image", contentType: "application/json", body: `{"image": "  "}`,
			status: 400, code: scan.EInvalid, inMessage: "image"},
		{name: "blank plain text", contentType: "text/plain", body: " \n",
			status: 400, code: scan.EInvalid, inMessage: "image"},
		{name: "upper-case reference", contentType: "application/json", body: `{"image": "Nginx"}`,
			status: 400, code: api.EInvalidReference, inMessage: "must be lowercase"},
		{name: "empty tag", contentType: "text/plain", body: "nginx:",
			status: 400, code: api.EInvalidReference, inMessage: "invalid reference format"},
		{name: "bad digest", contentType: "application/json", body: `{"image": "nginx@sha256:abc"}`,
			status: 400, code: api.EInvalidReference, inMessage: "invalid"},
		{name: "unsupported scan type", contentType: "application/json", body: `{"image": "nginx", "scan_type": "scan"}`, nonConforming: true,
			status: 400, code: api.EUnsupportedScanType, inMessage: `"scan"`},
		{name: "unsupported scan type in a form", contentType: "application/x-www-form-urlencoded", body: "image=nginx&scan_type=scan", nonConforming: true,
			status: 400, code: api.EUnsupportedScanType},
		// A form's unknown fields cannot be refused by the contract: form
		// schemas only describe the fields they name.
		{name: "unknown form field", contentType: "application/x-www-form-urlencoded", body: "image=nginx&tag=1",
			status: 400, code: api.EUnknownField, inMessage: `"tag"`},
		{name: "repeated form field", contentType: "application/x-www-form-urlencoded", body: "image=a&image=b",
			status: 400, code: scan.EInvalid, inMessage: "2 times"},
		{name: "server not allowed", contentType: "application/json", body: `{"image": "nginx", "server": "http://elsewhere.example"}`,
			status: 403, code: api.EServerNotAllowed, inMessage: "elsewhere.example"},
		{name: "allowed server on another path", contentType: "application/json", body: `{"image": "nginx", "server": "https://analytics.example.org/api/v2"}`,
			status: 403, code: api.EServerNotAllowed},
		{name: "server with a bad scheme", contentType: "application/json", body: `{"image": "nginx", "server": "ftp://analytics.example.org/api/v1"}`,
			status: 403, code: api.EServerNotAllowed},
		{name: "server with credentials is not echoed", contentType: "application/json", body: `{"image": "nginx", "server": "https://u:hunter2@analytics.example.org/api/v1"}`,
			status: 403, code: api.EServerNotAllowed, inMessage: "xxxxx"},
		{name: "server with credentials but no // is not echoed", contentType: "application/json", body: `{"image": "nginx", "server": "u:hunter2@analytics.example.org"}`,
			status: 403, code: api.EServerNotAllowed},
		{name: "server with a token in its query is not echoed", contentType: "application/json", body: `{"image": "nginx", "server": "https://analytics.example.org/?token=hunter2"}`,
			status: 403, code: api.EServerNotAllowed, inMessage: "analytics.example.org"},
		{name: "JSON over the limit", contentType: "application/json", body: `{"image": "nginx", "server": "` + big + `"}`,
			status: 413, code: api.EPayloadTooLarge, inMessage: "1024 bytes"},
		{name: "plain text over the limit", contentType: "text/plain", body: big,
			status: 413, code: api.EPayloadTooLarge},
		{name: "form over the limit", contentType: "application/x-www-form-urlencoded", body: "image=" + big,
			status: 413, code: api.EPayloadTooLarge},
		{name: "unsupported content type", contentType: "application/xml", body: `<image>nginx</image>`, nonConforming: true,
			status: 415, code: api.EUnsupportedMediaType, inMessage: "application/json"},
		{name: "no content type", body: `{"image": "nginx"}`, nonConforming: true,
			status: 415, code: api.EUnsupportedMediaType},
		{name: "wait not a duration", path: "/scan?wait=soon", contentType: "application/json", body: `{"image": "nginx"}`, nonConforming: true,
			status: 400, code: scan.EInvalid, inMessage: `"wait"`},
		{name: "negative wait", path: "/scan?wait=-1s", contentType: "application/json", body: `{"image": "nginx"}`, nonConforming: true,
			status: 400, code: scan.EInvalid, inMessage: `"wait"`},
		{name: "wait over the maximum", path: "/scan?wait=61s", contentType: "application/json", body: `{"image": "nginx"}`,
			status: 400, code: scan.EInvalid, inMessage: "at most 1m0s"},
		{name: "wait in seconds over the maximum", path: "/scan?wait=90", contentType: "application/json", body: `{"image": "nginx"}`,
			status: 400, code: scan.EInvalid, inMessage: "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, api.Config{AllowedServers: api.MustAllowList(allowed), MaxBodyBytes: 1024}, nil)
			path := tt.path
			if path == "" {
				path = "/scan"
			}
			req := e.c.NewRequest(http.MethodPost, path, tt.contentType, []byte(tt.body))
			if tt.nonConforming {
				req = apitest.NonConforming(req)
			}
			r := e.c.Do(req) // a call of Submit would panic: SubmitFn is nil
			wantError(t, r, tt.status, tt.code)
			msg := errorMessage(t, r)
			if !strings.Contains(msg, tt.inMessage) {
				t.Errorf("message %q lacks %q", msg, tt.inMessage)
			}
			if strings.Contains(string(r.Body), "hunter2") {
				t.Errorf("the answer shows a password: %s", r.Body)
			}
		})
	}
}

func TestSubmitServiceErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{"queue full", scan.Errorf(scan.EQueueFull, "the queue holds 100 scans"), 429, scan.EQueueFull, "10"},
		{"store unavailable", scan.Errorf(scan.EUnavailable, "the store does not answer"), 503, scan.EUnavailable, "10"},
		{"service says invalid", scan.Errorf(scan.EInvalid, "no"), 400, scan.EInvalid, ""},
		{"internal with a code", scan.Errorf(scan.EInternal, "sql: constraint failed on password=hunter2"), 500, scan.EInternal, ""},
		{"internal without a code", errors.New("disk on fire, password=hunter2"), 500, scan.EInternal, ""},
		{"unknown code", scan.Errorf("weird", "password=hunter2"), 500, scan.EInternal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, api.Config{}, &apitest.Service{
				SubmitFn: func(context.Context, scan.Request) (scan.Record, bool, error) { return scan.Record{}, false, tt.err },
			})
			r := e.c.PostJSON("/scan", map[string]string{"image": "nginx"})
			wantError(t, r, tt.status, tt.code)
			if got := r.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if tt.status == 500 {
				if msg := errorMessage(t, r); msg != "internal error" {
					t.Errorf("an internal error shows %q to the user", msg)
				}
				// The details are logged, under the request's id.
				id := r.Header.Get("X-Request-Id")
				e.log.WaitFor(t, "with the internal error", func(l map[string]any) bool {
					return l["message"] == "internal error" && l["request_id"] == id &&
						strings.Contains(l["error"].(string), "hunter2")
				})
			}
		})
	}
}

func TestSubmitWait(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		submit scan.Status
		// waitGives is the status Wait returns; "" means Wait must not be called.
		waitGives  scan.Status
		waitErr    error
		maxWait    time.Duration
		wantStatus int
		wantWithin time.Duration
	}{
		{name: "final within the wait", query: "?wait=5s", submit: scan.StatusQueued, waitGives: scan.StatusSucceeded,
			wantStatus: 200, wantWithin: 5 * time.Second},
		{name: "failed within the wait", query: "?wait=5s", submit: scan.StatusQueued, waitGives: scan.StatusFailed,
			wantStatus: 200, wantWithin: 5 * time.Second},
		{name: "wait runs out", query: "?wait=1500ms", submit: scan.StatusQueued, waitGives: scan.StatusRunning,
			wantStatus: 202, wantWithin: 1500 * time.Millisecond},
		{name: "whole seconds", query: "?wait=3", submit: scan.StatusQueued, waitGives: scan.StatusSucceeded,
			wantStatus: 200, wantWithin: 3 * time.Second},
		{name: "operator's maximum", query: "?wait=2m", maxWait: 5 * time.Minute, submit: scan.StatusQueued, waitGives: scan.StatusSucceeded,
			wantStatus: 200, wantWithin: 2 * time.Minute},
		{name: "zero does not wait", query: "?wait=0", submit: scan.StatusQueued, wantStatus: 202},
		{name: "already final does not wait", query: "?wait=5s", submit: scan.StatusSucceeded, wantStatus: 200},
		{name: "wait fails", query: "?wait=5s", submit: scan.StatusQueued, waitErr: scan.Errorf(scan.EUnavailable, "gone"),
			wantStatus: 503, wantWithin: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var waited captured[bool]
			svc := &apitest.Service{
				SubmitFn: func(_ context.Context, req scan.Request) (scan.Record, bool, error) {
					return record("scan-1", req.Image, tt.submit), true, nil
				},
				WaitFn: func(ctx context.Context, id string) (scan.Record, error) {
					waited.put(true)
					deadline, ok := ctx.Deadline()
					if left := time.Until(deadline); !ok || left <= 0 || left > tt.wantWithin {
						t.Errorf("Wait's context has %v left (deadline %v), want at most %v", left, ok, tt.wantWithin)
					}
					if id != "scan-1" {
						t.Errorf("Wait for %q, want scan-1", id)
					}
					return record(id, "nginx", tt.waitGives), tt.waitErr
				},
			}
			e := newEnv(t, api.Config{MaxWait: tt.maxWait}, svc)
			r := e.c.PostJSON("/scan"+tt.query, map[string]string{"image": "nginx"})
			if r.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body: %s", r.StatusCode, tt.wantStatus, r.Body)
			}
			if _, called := waited.get(); called != (tt.waitGives != "" || tt.waitErr != nil) {
				t.Errorf("Wait called: %v, want %v", called, !called)
			}
			if r.StatusCode >= 400 {
				return
			}
			if r.Header.Get("Location") != "/scan/scan-1" {
				t.Errorf("Location %q, want /scan/scan-1", r.Header.Get("Location"))
			}
			var got scan.Record
			r.JSON(t, &got)
			if final := r.StatusCode == 200; got.Status.Final() != final {
				t.Errorf("status %d with a %s record", r.StatusCode, got.Status)
			}
		})
	}
}

// A client that gives up waiting releases the service's Wait.
func TestSubmitWaitClientGone(t *testing.T) {
	released := make(chan struct{})
	svc := &apitest.Service{
		SubmitFn: func(_ context.Context, req scan.Request) (scan.Record, bool, error) {
			return record("scan-1", req.Image, scan.StatusQueued), true, nil
		},
		WaitFn: func(ctx context.Context, id string) (scan.Record, error) {
			<-ctx.Done()
			close(released)
			return record(id, "nginx", scan.StatusQueued), nil
		},
	}
	e := newEnv(t, api.Config{}, svc)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req := e.c.NewRequest(http.MethodPost, "/scan?wait=60s", "text/plain", []byte("nginx")).WithContext(ctx)
	if _, err := e.c.Try(req); err == nil {
		t.Fatal("the request was answered, want it cut off by the client")
	}
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait still runs 5s after the client went away")
	}
}

// A server starting to shut down ends held waits at once, with a 202, so
// that a shutdown is not held up by MaxWait.
func TestSubmitWaitEndsWhenDraining(t *testing.T) {
	draining, drain := context.WithCancel(context.Background())
	defer drain()
	waiting := make(chan struct{})
	svc := &apitest.Service{
		SubmitFn: func(_ context.Context, req scan.Request) (scan.Record, bool, error) {
			return record("scan-1", req.Image, scan.StatusQueued), true, nil
		},
		WaitFn: func(ctx context.Context, id string) (scan.Record, error) {
			close(waiting)
			<-ctx.Done()
			return record(id, "nginx", scan.StatusRunning), nil
		},
	}
	e := newEnv(t, api.Config{Draining: draining}, svc)
	go func() {
		<-waiting
		drain()
	}()
	start := time.Now()
	r := e.c.PostJSON("/scan?wait=60s", map[string]string{"image": "nginx"})
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202; body: %s", r.StatusCode, r.Body)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the wait ended %v after draining began, want at once", took)
	}
}

func TestGet(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		get   scan.Record
		err   error
		wait  scan.Status // "" when Wait must not be called
		want  int
		code  string
		state scan.Status
	}{
		{name: "queued", path: "/scan/scan-1", get: record("scan-1", "nginx", scan.StatusQueued), want: 200, state: scan.StatusQueued},
		{name: "retrying", path: "/scan/scan-1", get: record("scan-1", "nginx", scan.StatusRetrying), want: 200, state: scan.StatusRetrying},
		{name: "succeeded with its result", path: "/scan/scan-1", get: record("scan-1", "nginx", scan.StatusSucceeded), want: 200, state: scan.StatusSucceeded},
		{name: "failed with its result", path: "/scan/scan-1", get: record("scan-1", "nginx", scan.StatusFailed), want: 200, state: scan.StatusFailed},
		{name: "canceled", path: "/scan/scan-1", get: record("scan-1", "nginx", scan.StatusCanceled), want: 200, state: scan.StatusCanceled},
		{name: "waits until final", path: "/scan/scan-1?wait=10s", get: record("scan-1", "nginx", scan.StatusRunning),
			wait: scan.StatusSucceeded, want: 200, state: scan.StatusSucceeded},
		{name: "wait runs out", path: "/scan/scan-1?wait=1", get: record("scan-1", "nginx", scan.StatusRunning),
			wait: scan.StatusRunning, want: 200, state: scan.StatusRunning},
		{name: "final does not wait", path: "/scan/scan-1?wait=10s", get: record("scan-1", "nginx", scan.StatusFailed), want: 200, state: scan.StatusFailed},
		{name: "not found", path: "/scan/nope", err: scan.Errorf(scan.ENotFound, "scan nope not found"), want: 404, code: scan.ENotFound},
		{name: "store unavailable", path: "/scan/scan-1", err: scan.Errorf(scan.EUnavailable, "down"), want: 503, code: scan.EUnavailable},
		{name: "wait over the maximum", path: "/scan/scan-1?wait=2m", want: 400, code: scan.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotID captured[string]
			svc := &apitest.Service{
				GetFn: func(_ context.Context, id string) (scan.Record, error) {
					gotID.put(id)
					return tt.get, tt.err
				},
			}
			if tt.wait != "" {
				svc.WaitFn = func(_ context.Context, id string) (scan.Record, error) {
					return record(id, "nginx", tt.wait), nil
				}
			}
			e := newEnv(t, api.Config{}, svc)
			r := e.c.Get(tt.path)
			if tt.code != "" {
				wantError(t, r, tt.want, tt.code)
				return
			}
			if r.StatusCode != tt.want {
				t.Fatalf("status %d, want %d; body: %s", r.StatusCode, tt.want, r.Body)
			}
			var got scan.Record
			r.JSON(t, &got)
			if id, _ := gotID.get(); id != "scan-1" || got.Status != tt.state {
				t.Errorf("asked for %q, got a %s record; want scan-1 %s", id, got.Status, tt.state)
			}
			if (got.Result != nil) != (tt.state == scan.StatusSucceeded || tt.state == scan.StatusFailed) {
				t.Errorf("a %s record with result %v", got.Status, got.Result)
			}
		})
	}
}

func TestList(t *testing.T) {
	two := []scan.Record{record("b", "nginx", scan.StatusQueued), record("a", "nginx", scan.StatusSucceeded)}
	tests := []struct {
		name          string
		query         string
		nonConforming bool
		page          scan.Page
		err           error
		wantFilter    scan.Filter
		want          int
		code          string
	}{
		{name: "defaults", page: scan.Page{Scans: two, NextCursor: "c2"},
			wantFilter: scan.Filter{Limit: scan.DefaultListLimit}, want: 200},
		{name: "filters and cursor", query: "?image=nginx&status=queued&limit=1&cursor=c1", page: scan.Page{Scans: two[:1]},
			wantFilter: scan.Filter{Image: "nginx", Status: scan.StatusQueued, Limit: 1, Cursor: "c1"}, want: 200},
		{name: "largest page", query: "?limit=100", wantFilter: scan.Filter{Limit: 100}, want: 200},
		{name: "empty page", query: "?status=canceled", wantFilter: scan.Filter{Status: scan.StatusCanceled, Limit: scan.DefaultListLimit}, want: 200},
		{name: "bad status", query: "?status=done", nonConforming: true, want: 400, code: scan.EInvalid},
		{name: "report state", query: "?report=ready", wantFilter: scan.Filter{Report: scan.ReportReady, Limit: scan.DefaultListLimit}, want: 200},
		{name: "bad report state", query: "?report=soon", nonConforming: true, want: 400, code: scan.EInvalid},
		{name: "zero limit", query: "?limit=0", nonConforming: true, want: 400, code: scan.EInvalid},
		{name: "limit over the maximum", query: "?limit=101", nonConforming: true, want: 400, code: scan.EInvalid},
		{name: "limit not a number", query: "?limit=ten", nonConforming: true, want: 400, code: scan.EInvalid},
		{name: "cursor the service refuses", query: "?cursor=garbage", err: scan.Errorf(scan.EInvalid, "cursor is not valid"),
			wantFilter: scan.Filter{Limit: scan.DefaultListLimit, Cursor: "garbage"}, want: 400, code: scan.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotFilter captured[scan.Filter]
			e := newEnv(t, api.Config{}, &apitest.Service{
				ListFn: func(_ context.Context, f scan.Filter) (scan.Page, error) {
					gotFilter.put(f)
					return tt.page, tt.err
				},
			})
			req := e.c.NewRequest(http.MethodGet, "/scan"+tt.query, "", nil)
			if tt.nonConforming {
				req = apitest.NonConforming(req)
			}
			r := e.c.Do(req)
			if tt.code != "" {
				wantError(t, r, tt.want, tt.code)
			} else if r.StatusCode != tt.want {
				t.Fatalf("status %d, want %d; body: %s", r.StatusCode, tt.want, r.Body)
			}
			f, listed := gotFilter.get()
			if tt.nonConforming {
				if listed {
					t.Errorf("the service was asked to list %+v", f)
				}
				return
			}
			if !listed || f != tt.wantFilter {
				t.Errorf("filter %+v (listed %v), want %+v", f, listed, tt.wantFilter)
			}
			if tt.code != "" {
				return
			}
			var got struct {
				Scans      []scan.Record `json:"scans"`
				NextCursor *string       `json:"next_cursor"`
			}
			r.JSON(t, &got)
			if got.Scans == nil || len(got.Scans) != len(tt.page.Scans) {
				t.Errorf("scans %v, want the %d of the page (and [] for none)", got.Scans, len(tt.page.Scans))
			}
			for i := range got.Scans {
				if got.Scans[i].ID != tt.page.Scans[i].ID {
					t.Errorf("scan %d is %s, want %s: the service's order is kept", i, got.Scans[i].ID, tt.page.Scans[i].ID)
				}
			}
			if (got.NextCursor != nil) != (tt.page.NextCursor != "") || got.NextCursor != nil && *got.NextCursor != tt.page.NextCursor {
				t.Errorf("next_cursor %v, want %q (absent when empty)", got.NextCursor, tt.page.NextCursor)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name    string
		rec     scan.Record
		removed bool
		err     error
		want    int
		code    string
	}{
		{name: "queued is canceled", rec: record("scan-1", "nginx", scan.StatusCanceled), want: 200},
		{name: "final is removed", rec: record("scan-1", "nginx", scan.StatusSucceeded), removed: true, want: 204},
		{name: "running conflicts", err: scan.Errorf(scan.EConflict, "scan scan-1 is running"), want: 409, code: scan.EConflict},
		{name: "unknown", err: scan.Errorf(scan.ENotFound, "scan scan-1 not found"), want: 404, code: scan.ENotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotID captured[string]
			e := newEnv(t, api.Config{}, &apitest.Service{
				DeleteFn: func(_ context.Context, id string) (scan.Record, bool, error) {
					gotID.put(id)
					return tt.rec, tt.removed, tt.err
				},
			})
			r := e.c.Delete("/scan/scan-1")
			if id, _ := gotID.get(); id != "scan-1" {
				t.Errorf("deleted %q, want scan-1", id)
			}
			if tt.code != "" {
				wantError(t, r, tt.want, tt.code)
				return
			}
			if r.StatusCode != tt.want {
				t.Fatalf("status %d, want %d; body: %s", r.StatusCode, tt.want, r.Body)
			}
			if tt.want == 204 {
				if len(r.Body) != 0 {
					t.Errorf("204 with a body: %s", r.Body)
				}
				return
			}
			var got scan.Record
			r.JSON(t, &got)
			if got.Status != scan.StatusCanceled {
				t.Errorf("record in status %s, want canceled", got.Status)
			}
		})
	}
}
