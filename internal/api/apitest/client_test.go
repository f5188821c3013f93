package apitest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	analyticsscanner "github.com/centos-pipeline/analytics-scanner"
)

// recorder is a testing.TB that keeps the errors a Client reports instead
// of failing the test, so that the checks themselves can be tested.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, strings.TrimSpace(strings.SplitN(fmt.Sprintf(format, args...), "\n", 2)[0]))
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// A server that answers what the contract does not describe, or a test that
// sends what it does not describe, is reported.
func TestClientReportsMismatches(t *testing.T) {
	ok := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", "r1")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}
	tests := []struct {
		name string
		// handler answers GET /healthz unless the request says otherwise.
		handler       http.HandlerFunc
		method, path  string
		contentType   string
		body          string
		nonConforming bool
		token         string
		// want is a part of the one reported error; "" means none.
		want string
	}{
		{name: "conforming exchange", handler: ok, method: "GET", path: "/healthz"},
		{name: "undocumented status", method: "GET", path: "/healthz", want: "status is not supported",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("X-Request-Id", "r1")
				w.WriteHeader(http.StatusTeapot)
			}},
		{name: "undocumented field", method: "GET", path: "/healthz", want: "does not conform",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("X-Request-Id", "r1")
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"status":"ok","uptime":3}`))
			}},
		{name: "missing required header", method: "GET", path: "/healthz", want: `"X-Request-Id" missing`,
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"status":"ok"}`))
			}},
		{name: "undeclared header", method: "GET", path: "/healthz", want: "Location are sent but not declared",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "/elsewhere")
				ok(w, r)
			}},
		{name: "undeclared content type", method: "GET", path: "/healthz", want: "does not conform",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("X-Request-Id", "r1")
				w.Header().Set("Content-Type", "text/html")
				_, _ = w.Write([]byte(`<p>ok</p>`))
			}},
		{name: "unmarked bad request", handler: ok, method: "POST", path: "/scan", contentType: "application/json",
			body: `{"image":"nginx","tag":"1"}`, want: "does not conform to openapi.yaml"},
		{name: "marked request the contract accepts", handler: ok, method: "GET", path: "/healthz", nonConforming: true,
			want: "the contract is looser than the API"},
		{name: "missing token", handler: ok, method: "GET", path: "/metrics", token: "t", want: "does not conform to openapi.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			rec := &recorder{TB: t}
			c := NewClient(rec, srv.URL, "")
			c.token = tt.token // the validator enforces it; requests are sent without it below
			req := c.NewRequest(tt.method, tt.path, tt.contentType, []byte(tt.body))
			if tt.nonConforming {
				req = NonConforming(req)
			}
			if tt.token != "" {
				req = NoToken(req)
			}
			c.Do(req)
			errs := rec.errors()
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("reported %q, want nothing", errs)
			case tt.want != "" && (len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), tt.want)):
				t.Errorf("reported %q, want an error with %q", errs, tt.want)
			}
		})
	}
}

// net/http drops a 204's body, so the check that a body-less answer has no
// body is tested without a server.
func TestValidateResponseBodyWhereNoneDeclared(t *testing.T) {
	rec := &recorder{TB: t}
	c := NewClient(rec, "http://127.0.0.1:1", "")
	vt := c.http.Transport.(*validatingTransport)
	req := c.NewRequest(http.MethodDelete, "/scan/x", "", nil)
	input, err := vt.validateRequest(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := &http.Response{StatusCode: http.StatusNoContent, Header: http.Header{"X-Request-Id": {"r1"}}}
	if err := vt.validateResponse(input, resp, []byte("surprise")); err == nil || !strings.Contains(err.Error(), "declares none") {
		t.Errorf("validateResponse = %v, want a complaint about the body", err)
	}
}

// doc.Validate checks the examples too, so an example cannot drift from its
// schema.
func TestLoadSpecRejectsBadExample(t *testing.T) {
	bad := bytes.Replace(analyticsscanner.OpenAPI, []byte("        attempts: 0\n"), []byte("        attempts: none\n"), 1)
	if bytes.Equal(bad, analyticsscanner.OpenAPI) {
		t.Fatal("the example to break is gone from openapi.yaml")
	}
	if _, err := loadSpec(bad); err == nil {
		t.Error("a spec with an example that breaks its schema loads")
	}
	if _, err := loadSpec(analyticsscanner.OpenAPI); err != nil {
		t.Errorf("openapi.yaml: %v", err)
	}
}
