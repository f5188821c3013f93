package api_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	analyticsscanner "github.com/centos-pipeline/analytics-scanner"
	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Every route the router serves is in openapi.yaml with the same method,
// and every operation of openapi.yaml is served.
func TestRoutesMatchSpec(t *testing.T) {
	spec := apitest.LoadSpec(t)
	routes, ok := api.New(api.Config{Page: http.NotFoundHandler()}, &apitest.Service{}).(chi.Routes)
	if !ok {
		t.Fatal("api.New does not return a chi router")
	}
	// The page's catch-alls are its own routes (forms, detail pages, its
	// polling), not the API's contract; openapi.yaml has its entry points.
	pageOwn := []string{"GET /ui", "GET /ui/*", "POST /ui/*"}
	var served []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !slices.Contains(pageOwn, method+" "+route) {
			served = append(served, method+" "+route)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range spec.Doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(served)
	sort.Strings(documented)
	if !slices.Equal(served, documented) {
		t.Errorf("served routes:\n  %s\ndocumented operations:\n  %s",
			strings.Join(served, "\n  "), strings.Join(documented, "\n  "))
	}
}

// The error codes the API answers with are the ones openapi.yaml lists.
func TestErrorCodesMatchSpec(t *testing.T) {
	spec := apitest.LoadSpec(t)
	body := spec.Doc.Components.Schemas["ErrorBody"].Value
	var documented []string
	for _, v := range body.Properties["code"].Value.Enum {
		documented = append(documented, v.(string))
	}
	sort.Strings(documented)
	if got := api.ErrorCodes(); !slices.Equal(got, documented) {
		t.Errorf("codes in errors.go: %v\ncodes in openapi.yaml: %v", got, documented)
	}
	// The domain's codes must all have a status of their own.
	for _, code := range []string{scan.EInvalid, scan.ENotFound, scan.EConflict, scan.EQueueFull, scan.EUnavailable, scan.EInternal} {
		if !slices.Contains(api.ErrorCodes(), code) {
			t.Errorf("domain code %q has no status", code)
		}
	}
	if got := api.ErrorStatus("no-such-code"); got != http.StatusInternalServerError {
		t.Errorf("an unknown code maps to %d, want 500", got)
	}
}

func TestHealthz(t *testing.T) {
	// Liveness ignores the store: a failing dependency must not get a live
	// process restarted.
	e := newEnv(t, api.Config{APIToken: testToken}, &apitest.Service{
		PingFn: func(context.Context) error { return errors.New("down") },
	})
	r := e.c.Do(apitest.NoToken(e.c.NewRequest(http.MethodGet, "/healthz", "", nil)))
	var got struct{ Status string }
	r.JSON(t, &got)
	if r.StatusCode != 200 || got.Status != "ok" {
		t.Fatalf("got %d %s, want 200 ok", r.StatusCode, r.Body)
	}
}

func TestReadyz(t *testing.T) {
	fail := func(msg string) func(context.Context) error {
		return func(context.Context) error { return errors.New(msg) }
	}
	ok := func(context.Context) error { return nil }
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	// deaf ignores its context; the timeout must still hold.
	deaf := func(context.Context) error { time.Sleep(2 * time.Second); return nil }
	tests := []struct {
		name       string
		store      func(context.Context) error
		checks     []api.Check
		want       int
		wantChecks map[string]string
		wantMsg    string
	}{
		{name: "all answer", store: ok, checks: []api.Check{{Name: "docker", Check: ok}},
			want: 200, wantChecks: map[string]string{"store": "ok", "docker": "ok"}},
		{name: "store only", store: ok, want: 200, wantChecks: map[string]string{"store": "ok"}},
		{name: "docker down", store: ok, checks: []api.Check{{Name: "docker", Check: fail("Cannot connect to the Docker daemon\nat unix:///var/run/docker.sock")}},
			want: 503, wantChecks: map[string]string{"store": "ok", "docker": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"},
			wantMsg: "docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock"},
		{name: "store down", store: fail("database is locked"), checks: []api.Check{{Name: "docker", Check: ok}},
			want: 503, wantChecks: map[string]string{"store": "database is locked", "docker": "ok"}, wantMsg: "store: database is locked"},
		{name: "both down, the store first", store: fail("s"), checks: []api.Check{{Name: "docker", Check: fail("d")}},
			want: 503, wantChecks: map[string]string{"store": "s", "docker": "d"}, wantMsg: "store: s"},
		{name: "both down, in the operator's order", store: fail("never asked"),
			checks: []api.Check{{Name: "docker", Check: fail("d")}, {Name: "store", Check: fail("s")}},
			want:   503, wantChecks: map[string]string{"store": "s", "docker": "d"}, wantMsg: "docker: d"},
		{name: "check hangs", store: ok, checks: []api.Check{{Name: "docker", Check: hang}},
			want: 503, wantChecks: map[string]string{"store": "ok", "docker": "no answer within 100ms"}, wantMsg: "docker: no answer within 100ms"},
		{name: "check ignores its deadline", store: deaf,
			want: 503, wantChecks: map[string]string{"store": "no answer within 100ms"}, wantMsg: "store: no answer within 100ms"},
		{name: "a check of the operator's replaces the store's", store: fail("never asked"), checks: []api.Check{{Name: "store", Check: ok}},
			want: 200, wantChecks: map[string]string{"store": "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, api.Config{APIToken: testToken, Checks: tt.checks, CheckTimeout: 100 * time.Millisecond},
				&apitest.Service{PingFn: tt.store})
			start := time.Now()
			r := e.c.Do(apitest.NoToken(e.c.NewRequest(http.MethodGet, "/readyz", "", nil)))
			if elapsed := time.Since(start); elapsed > time.Second {
				t.Errorf("readyz took %v, want the checks bounded by their 100ms timeout", elapsed)
			}
			var got struct {
				Status string
				Checks map[string]string
				Error  *struct{ Code, Message string }
			}
			r.JSON(t, &got)
			if r.StatusCode != tt.want {
				t.Fatalf("status %d, want %d; body: %s", r.StatusCode, tt.want, r.Body)
			}
			if len(got.Checks) != len(tt.wantChecks) {
				t.Errorf("checks %v, want %v", got.Checks, tt.wantChecks)
			}
			for name, want := range tt.wantChecks {
				if got.Checks[name] != want {
					t.Errorf("check %s: %q, want %q", name, got.Checks[name], want)
				}
			}
			if tt.want == 200 {
				if got.Status != "ready" || got.Error != nil {
					t.Errorf("ready answer %s", r.Body)
				}
				return
			}
			if got.Status != "not_ready" || got.Error == nil || got.Error.Code != scan.EUnavailable || got.Error.Message != tt.wantMsg {
				t.Errorf("got %s, want not_ready with unavailable %q", r.Body, tt.wantMsg)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	svc := &apitest.Service{
		SubmitFn: func(_ context.Context, req scan.Request) (scan.Record, bool, error) {
			return record("scan-1", req.Image, scan.StatusQueued), true, nil
		},
		GetFn: func(_ context.Context, id string) (scan.Record, error) {
			return record(id, "nginx", scan.StatusQueued), nil
		},
		ListFn: func(context.Context, scan.Filter) (scan.Page, error) {
			return scan.Page{}, nil
		},
		DeleteFn: func(_ context.Context, id string) (scan.Record, bool, error) {
			return record(id, "nginx", scan.StatusCanceled), false, nil
		},
	}
	endpoints := []struct {
		method, path, contentType, body string
		want                            int
	}{
		{http.MethodPost, "/scan", "text/plain", "nginx", 202},
		{http.MethodGet, "/scan", "", "", 200},
		{http.MethodGet, "/scan/scan-1", "", "", 200},
		{http.MethodDelete, "/scan/scan-1", "", "", 200},
		{http.MethodGet, "/metrics", "", "", 200},
		{http.MethodGet, "/openapi.yaml", "", "", 200},
	}
	credentials := []struct {
		name          string
		authorization string // "" sends none
		ok            bool
	}{
		{"no token", "", false},
		{"wrong token", "Bearer wrong-token-value", false},
		{"token as another scheme", "Basic " + testToken, false},
		{"token prefix", "Bearer " + testToken[:5], false},
		{"right token", "Bearer " + testToken, true},
		{"scheme in lower case", "bearer " + testToken, true},
	}
	for _, ep := range endpoints {
		for _, cred := range credentials {
			t.Run(ep.method+" "+ep.path+"/"+cred.name, func(t *testing.T) {
				e := newEnv(t, api.Config{APIToken: testToken}, svc)
				req := e.c.NewRequest(ep.method, ep.path, ep.contentType, []byte(ep.body))
				if cred.authorization == "" {
					req = apitest.NoToken(req)
				} else {
					req.Header.Set("Authorization", cred.authorization)
				}
				if !cred.ok || !strings.HasPrefix(cred.authorization, "Bearer ") {
					req = apitest.NonConforming(req)
				}
				r := e.c.Do(req)
				if cred.ok {
					if r.StatusCode != ep.want {
						t.Fatalf("status %d, want %d; body: %s", r.StatusCode, ep.want, r.Body)
					}
					return
				}
				wantError(t, r, 401, api.EUnauthorized)
				if h := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", h)
				}
				if strings.Contains(string(r.Body), testToken[:5]) || strings.Contains(string(r.Body), "wrong-token") {
					t.Errorf("the answer echoes a token: %s", r.Body)
				}
				e.log.WaitFor(t, "for the 401", func(l map[string]any) bool { return l["status"] == float64(401) })
				if logs := e.log.String(); strings.Contains(logs, testToken[:5]) || strings.Contains(logs, "wrong-token") {
					t.Errorf("the log shows a token:\n%s", logs)
				}
			})
		}
	}
}

// Without a configured token the API is open.
func TestNoTokenConfigured(t *testing.T) {
	e := newEnv(t, api.Config{}, &apitest.Service{
		ListFn: func(context.Context, scan.Filter) (scan.Page, error) { return scan.Page{}, nil },
	})
	if r := e.c.Get("/scan"); r.StatusCode != 200 {
		t.Fatalf("status %d, want 200; body: %s", r.StatusCode, r.Body)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	tests := []struct {
		method, path string
		want         int
		code         string
		allow        string
	}{
		{http.MethodGet, "/nope", 404, scan.ENotFound, ""},
		{http.MethodGet, "/scan/a/b", 404, scan.ENotFound, ""},
		{http.MethodGet, "/scan/", 404, scan.ENotFound, ""},
		{http.MethodPut, "/scan", 405, api.EMethodNotAllowed, "GET, POST"},
		{http.MethodPatch, "/scan/scan-1", 405, api.EMethodNotAllowed, "GET, DELETE"},
		{http.MethodPost, "/healthz", 405, api.EMethodNotAllowed, "GET"},
		{http.MethodDelete, "/metrics", 405, api.EMethodNotAllowed, "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			e := newEnv(t, api.Config{APIToken: testToken}, nil)
			r := e.c.Do(apitest.NonConforming(e.c.NewRequest(tt.method, tt.path, "", nil)))
			wantError(t, r, tt.want, tt.code)
			if got := r.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

// A handler's panic becomes a JSON 500 with the details logged, and the
// server goes on serving.
func TestPanicBecomesJSON500(t *testing.T) {
	e := newEnv(t, api.Config{}, &apitest.Service{
		GetFn: func(context.Context, string) (scan.Record, error) { panic("boom: password=hunter2") },
		ListFn: func(context.Context, scan.Filter) (scan.Page, error) {
			return scan.Page{}, nil
		},
	})
	r := e.c.Get("/scan/scan-1")
	wantError(t, r, 500, scan.EInternal)
	if msg := errorMessage(t, r); msg != "internal error" {
		t.Errorf("message %q, want the generic one", msg)
	}
	id := r.Header.Get("X-Request-Id")
	e.log.WaitFor(t, "for the panic", func(l map[string]any) bool {
		stack, _ := l["stack"].(string)
		return l["message"] == "handler panicked" && l["request_id"] == id &&
			strings.Contains(l["panic"].(string), "boom") && strings.Contains(stack, "scans.go")
	})
	e.log.WaitFor(t, "access log of the 500", func(l map[string]any) bool {
		return l["message"] == "request" && l["status"] == float64(500) && l["request_id"] == id
	})
	if r := e.c.Get("/scan"); r.StatusCode != 200 {
		t.Fatalf("after the panic: status %d, want 200", r.StatusCode)
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"none", "", false},
		{"sane", "req-42_a.b:c", true},
		{"uuid", "7b0e4f0e-2f0a-4a65-9d7e-1c2b3a4d5e6f", true},
		{"spaces", "a b", false},
		{"log injection", "x\",\"level\":\"error", false},
		{"too long", strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, api.Config{}, &apitest.Service{
				SubmitFn: func(_ context.Context, req scan.Request) (scan.Record, bool, error) {
					return record("scan-1", req.Image, scan.StatusQueued), true, nil
				},
			})
			req := e.c.NewRequest(http.MethodPost, "/scan", "text/plain", []byte("nginx"))
			if tt.sent != "" {
				req.Header.Set("X-Request-Id", tt.sent)
			}
			r := e.c.Do(req)
			id := r.Header.Get("X-Request-Id")
			switch {
			case tt.kept && id != tt.sent:
				t.Fatalf("X-Request-Id %q, want the client's %q", id, tt.sent)
			case !tt.kept && (id == "" || id == tt.sent):
				t.Fatalf("X-Request-Id %q, want a fresh id", id)
			}
			access := e.log.WaitFor(t, "access log", func(l map[string]any) bool { return l["message"] == "request" })
			for _, l := range e.log.Lines(t) {
				if l["request_id"] != id {
					t.Errorf("log line without the request id %q: %v", id, l)
				}
			}
			want := map[string]any{"method": "POST", "route": "/scan", "path": "/scan", "status": float64(202), "level": "info"}
			for k, v := range want {
				if access[k] != v {
					t.Errorf("access log %s = %v, want %v", k, access[k], v)
				}
			}
			for _, k := range []string{"bytes", "duration_ms", "remote"} {
				if _, ok := access[k]; !ok {
					t.Errorf("access log lacks %s: %v", k, access)
				}
			}
			if access["bytes"] != float64(len(r.Body)) {
				t.Errorf("access log bytes %v, want %d", access["bytes"], len(r.Body))
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	m := metrics.New()
	e := newEnv(t, api.Config{APIToken: testToken, Metrics: m}, &apitest.Service{
		GetFn: func(context.Context, string) (scan.Record, error) {
			return scan.Record{}, scan.Errorf(scan.ENotFound, "no")
		},
	})
	e.c.Get("/scan/a")
	e.c.Get("/scan/b")
	e.c.Do(apitest.NonConforming(e.c.NewRequest(http.MethodGet, "/nope", "", nil)))
	e.c.Do(apitest.NonConforming(e.c.NewRequest("BREW", "/scan", "", nil)))
	r := e.c.Get("/metrics")
	if r.StatusCode != 200 {
		t.Fatalf("status %d; body: %s", r.StatusCode, r.Body)
	}
	for _, want := range []string{
		`scanner_http_request_duration_seconds_count{code="404",method="GET",route="/scan/{id}"} 2`,
		`scanner_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`,
		`scanner_http_request_duration_seconds_count{code="405",method="OTHER",route="unmatched"} 1`,
		`scanner_scans_total{outcome="succeeded"} 0`,
	} {
		if !bytes.Contains(r.Body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, api.Config{APIToken: testToken}, nil)
	r := e.c.Get("/openapi.yaml")
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/yaml" || !bytes.Equal(r.Body, analyticsscanner.OpenAPI) {
		t.Fatalf("got %d %q with %d bytes, want 200 application/yaml with the embedded %d bytes",
			r.StatusCode, r.Header.Get("Content-Type"), len(r.Body), len(analyticsscanner.OpenAPI))
	}
}
