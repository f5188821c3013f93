package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Credentials with distinctive text, so that tests can tell whether any of
// them leaked into an error.
const (
	testToken  = "tok-9f8e7d6c5b4a"
	testSecret = "3scale-0a1b2c3d4e"
)

// newEmulator starts the emulator as the analytics server: it records
// every request, raw header and body included, and answers as the real
// server unless the test scripts its answers.
func newEmulator(t *testing.T) (emu *emulator.Server, url string) {
	t.Helper()
	emu = emulator.New(emulator.Config{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv.URL
}

// scripted is an answer for the emulator to give, with the given headers.
func scripted(status int, body string, header map[string]string) emulator.Answer {
	a := emulator.Answer{Status: status, Body: body, Header: http.Header{}}
	for k, v := range header {
		a.Header.Set(k, v)
	}
	return a
}

// serve starts a plain HTTP peer for what no well-formed answer shows: a
// body cut off or stalled, a redirect.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.ServerURL, err)
	}
	return c
}

// assertNoCredentials fails when err's text holds a credential.
func assertNoCredentials(t *testing.T, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append([]string{testToken, testSecret}, extra...) {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q holds the credential %q", err.Error(), s)
		}
	}
}

var reg = scan.Registration{
	GitURL:   "https://github.com/fabric8-analytics/f8a-server-backbone",
	GitSHA:   "46e443d",
	EmailIDs: "nshaikh@redhat.com,samuzzal@redhat.com",
}

// stringObject decodes a JSON object whose values must all be strings.
func stringObject(t *testing.T, raw []byte) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("body %s is not a JSON object: %v", raw, err)
	}
	out := map[string]string{}
	for k, v := range m {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			t.Errorf("body key %q = %s, want a string", k, v)
		}
		out[k] = s
	}
	return out
}

func TestRegisterRequest(t *testing.T) {
	paths := []struct{ base, want string }{
		{"", "/register"},
		{"/", "/register"},
		{"/api/v1", "/api/v1/register"},
		{"/api/v1/", "/api/v1/register"},
	}
	for _, p := range paths {
		t.Run("path "+p.base, func(t *testing.T) {
			emu, url := newEmulator(t)
			emu.Always(emulator.EndpointRegister, scripted(200, `{"success": true, "summary": "registered"}`, nil))
			c := newClient(t, Config{ServerURL: url + p.base})
			if got := c.endpoint(EndpointRegister).Redacted(); got != url+p.want {
				t.Errorf("endpoint = %q, want %q", got, url+p.want)
			}
			resp, err := c.Register(context.Background(), reg)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.Summary != "registered" {
				t.Errorf("response = %+v", resp)
			}
			reqs := emu.Requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			q := reqs[0]
			if q.Method != http.MethodPost || q.Path != p.want {
				t.Errorf("request = %s %s, want POST %s", q.Method, q.Path, p.want)
			}
			// The real server compares the whole header.
			if ct := q.Header.Values("Content-Type"); !reflect.DeepEqual(ct, []string{"application/json"}) {
				t.Errorf("Content-Type = %q, want exactly application/json", ct)
			}
			want := map[string]string{"git-url": reg.GitURL, "git-sha": reg.GitSHA, "email-ids": reg.EmailIDs}
			if got := stringObject(t, q.Body); !reflect.DeepEqual(got, want) {
				t.Errorf("body = %v, want %v", got, want)
			}
		})
	}
}

func TestCredentialHeaders(t *testing.T) {
	cases := []struct {
		name       string
		cfg        Config
		wantAuth   string
		want3scale string
	}{
		{"none", Config{}, "", ""},
		{"token", Config{Token: testToken}, "Bearer " + testToken, ""},
		{"3scale", Config{ThreeScaleSecret: testSecret}, "", testSecret},
		{"both", Config{Token: testToken, ThreeScaleSecret: testSecret}, "Bearer " + testToken, testSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, url := newEmulator(t)
			tc.cfg.ServerURL = url
			tc.cfg.UserAgent = "scanner-test/1"
			c := newClient(t, tc.cfg)
			if _, err := c.Register(context.Background(), reg); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ReportError(context.Background(), scan.ErrorReport{}); err != nil {
				t.Fatal(err)
			}
			reqs := emu.Requests()
			if len(reqs) != 2 {
				t.Fatalf("requests = %d, want a registration and an error report", len(reqs))
			}
			for _, q := range reqs {
				_, hasAuth := q.Header["Authorization"]
				if got := q.Header.Get("Authorization"); got != tc.wantAuth || hasAuth != (tc.wantAuth != "") {
					t.Errorf("%s Authorization = %q (present %v), want %q", q.Path, got, hasAuth, tc.wantAuth)
				}
				_, has3scale := q.Header[http.CanonicalHeaderKey("x-3scale-account-secret")]
				if got := q.Header.Get("x-3scale-account-secret"); got != tc.want3scale || has3scale != (tc.want3scale != "") {
					t.Errorf("%s x-3scale-account-secret = %q (present %v), want %q", q.Path, got, has3scale, tc.want3scale)
				}
				if got := q.Header.Get("User-Agent"); got != "scanner-test/1" {
					t.Errorf("User-Agent = %q", got)
				}
			}
		})
	}
}

func TestReportErrorBody(t *testing.T) {
	cases := []struct {
		name     string
		in       scan.ErrorReport
		wantBody string
	}{
		{"no errors is an empty list", scan.ErrorReport{ImageName: "a/b", EmailIDs: "x@y.org"},
			`{"image-name":"a/b","email-ids":"x@y.org","error":[]}`},
		{"unknown name and emails are empty strings", scan.ErrorReport{Errors: []string{"label git-url is missing"}},
			`{"image-name":"","email-ids":"","error":["label git-url is missing"]}`},
		{"every error in order", scan.ErrorReport{ImageName: "a/b", Errors: []string{"one", `two "quoted", with comma`}},
			`{"image-name":"a/b","email-ids":"","error":["one","two \"quoted\", with comma"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, url := newEmulator(t)
			c := newClient(t, Config{ServerURL: url + "/api/v1"})
			if _, err := c.ReportError(context.Background(), tc.in); err != nil {
				t.Fatal(err)
			}
			reqs := emu.Requests()
			if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/api/v1/scanner-error" {
				t.Fatalf("requests = %+v, want one POST /api/v1/scanner-error", reqs)
			}
			if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got, want any
			if err := json.Unmarshal(reqs[0].Body, &got); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal([]byte(tc.wantBody), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body = %s, want %s", reqs[0].Body, tc.wantBody)
			}
		})
	}
}

func TestParseServerURL(t *testing.T) {
	valid := []struct{ in, want string }{
		{"http://h", "http://h"},
		{"https://h:8443/api/v1", "https://h:8443/api/v1"},
		{"  http://h/api/v1/  ", "http://h/api/v1/"},
		{"http://h/api?x=1#frag", "http://h/api"},
		{"HTTP://h", "http://h"},
		{"http://user:pw@h", "http://user:pw@h"},
	}
	for _, tc := range valid {
		t.Run("valid "+tc.in, func(t *testing.T) {
			u, err := ParseServerURL(tc.in)
			if err != nil {
				t.Fatalf("ParseServerURL(%q): %v", tc.in, err)
			}
			if u.String() != tc.want {
				t.Errorf("ParseServerURL(%q) = %q, want %q", tc.in, u, tc.want)
			}
		})
	}

	invalid := []struct{ name, in, mention string }{
		{"empty", "", "empty"},
		{"blank", "  \t", "empty"},
		{"host and port, no scheme", "localhost:8080", "no scheme"},
		{"address and port, no scheme", "127.0.0.1:29101", `"127.0.0.1:29101" has no scheme`},
		{"address, port and path, no scheme", "127.0.0.1:29101/api/v1", "no scheme"},
		{"password, address and port, no scheme", "user:secret@127.0.0.1:8080", "no scheme"},
		{"host and path, no scheme", "host/path", "no scheme"},
		{"bare host", "analytics.example", "no scheme"},
		{"ftp", "ftp://h/x", `"ftp"`},
		{"no host", "http://", "no host"},
		{"path, no host", "http:///api/v1", "no host"},
		{"does not parse", "http://h:port/", "does not parse"},
		{"password, no host", "http://user:secret@", "no host"},
		{"password, ftp", "ftp://user:secret@h", `"ftp"`},
		{"password, does not parse", "http://user:secret@h:port", "does not parse"},
		{"password, no scheme", "user:secret@h:8080", "no scheme"},
		{"password, opaque http", "http:user:secret@h", "no host"},
		{"password, opaque other", "mailto:user:secret@h", "scheme"},
		{"password, scheme-relative", "//user:secret@h/api", "no scheme"},
	}
	for _, tc := range invalid {
		t.Run("invalid "+tc.name, func(t *testing.T) {
			u, err := ParseServerURL(tc.in)
			if err == nil {
				t.Fatalf("ParseServerURL(%q) = %v, want an error", tc.in, u)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not say %q", err, tc.mention)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
			if _, err := New(Config{ServerURL: tc.in}); !errors.Is(err, ErrConfig) {
				t.Errorf("New: %v, want ErrConfig", err)
			}
		})
	}
}

func TestServerURLRedactsPassword(t *testing.T) {
	c := newClient(t, Config{ServerURL: "http://user:secret@h/api/v1"})
	for name, got := range map[string]string{
		"ServerURL": c.ServerURL(),
		"endpoint":  c.endpoint(EndpointRegister).Redacted(),
	} {
		if strings.Contains(got, "secret") || !strings.Contains(got, "h/api/v1") {
			t.Errorf("%s = %q, want the URL without its password", name, got)
		}
	}
}

func TestNewRejectsUnsendableCredentials(t *testing.T) {
	// A token read from a file often keeps its newline. Go refuses to send
	// such a header, and without this check every request would fail as
	// if the network were down, and be retried.
	cases := map[string]Config{
		"token with newline":    {Token: testToken + "\n"},
		"token with CR LF":      {Token: testToken + "\r\nX-Injected: 1"},
		"3scale with newline":   {ThreeScaleSecret: testSecret + "\n"},
		"token with NUL":        {Token: testToken + "\x00"},
		"3scale with a control": {ThreeScaleSecret: "\x7f" + testSecret},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			cfg.ServerURL = "http://h"
			// The client is not printed: it holds the credential.
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v; want an ErrConfig", err)
			} else {
				assertNoCredentials(t, err)
			}
		})
	}
	// Ordinary token characters are fine, spaces and tabs included.
	if _, err := New(Config{ServerURL: "http://h", Token: "a.b-c_d~e+f/g=", ThreeScaleSecret: "x y\tz"}); err != nil {
		t.Errorf("New with valid credentials: %v", err)
	}
}

func TestClassification(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		body        string
		header      map[string]string
		wantOK      bool
		transient   bool
		wantSummary string
	}{
		{"200 success true", 200, `{"success": true, "summary": "Repository r has been successfully registered."}`, nil, true, false, "Repository r has been successfully registered."},
		{"200 already registered", 200, `{"success": true, "summary": "already registered", "last_scanned_at": "Thu, 01 Mar 2018 10:23:39 GMT", "last_scan_report": null}`, nil, true, false, "already registered"},
		{"200 success false", 200, `{"success": false, "summary": "refused"}`, nil, false, false, "refused"},
		{"200 non-JSON", 200, `<html>OK</html>`, nil, true, false, "<html>OK</html>"},
		{"200 empty", 200, ``, nil, true, false, ""},
		{"200 JSON without success", 200, `{"message": "queued"}`, nil, true, false, "queued"},
		{"201", 201, `{"summary": "created"}`, nil, true, false, "created"},
		{"204", 204, ``, nil, true, false, ""},
		{"400 content type", 400, `{"success": false, "summary": "Set content type to application/json"}`, nil, false, false, "Set content type to application/json"},
		{"401", 401, `{"error": "Authentication failed - could not decode JWT token"}`, nil, false, false, "Authentication failed - could not decode JWT token"},
		{"403", 403, `forbidden`, nil, false, false, "forbidden"},
		{"404 wrong URL", 404, `<html>Not Found</html>`, nil, false, false, "<html>Not Found</html>"},
		{"404 validation", 404, `{"success": false, "summary": "git-url cannot be empty"}`, nil, false, false, "git-url cannot be empty"},
		{"408", 408, ``, nil, false, true, ""},
		{"429", 429, `{"summary": "slow down"}`, map[string]string{"Retry-After": "7"}, false, true, "slow down"},
		{"500", 500, `{"success": false, "summary": "database is down"}`, nil, false, true, "database is down"},
		{"502", 502, `bad gateway`, nil, false, true, "bad gateway"},
		{"503", 503, ``, nil, false, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, url := newEmulator(t)
			emu.Always(emulator.EndpointRegister, scripted(tc.status, tc.body, tc.header))
			c := newClient(t, Config{ServerURL: url, Token: testToken, ThreeScaleSecret: testSecret})
			resp, err := c.Register(context.Background(), reg)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("Register: %v, want success", err)
				}
				if resp.StatusCode != tc.status || resp.Summary != tc.wantSummary {
					t.Errorf("response = %+v, want status %d summary %q", resp, tc.status, tc.wantSummary)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Register = %v, %v; want an *Error", resp, err)
			}
			if resp != nil {
				t.Errorf("response %+v with an error", resp)
			}
			if e.StatusCode != tc.status || e.Transient() != tc.transient || scan.IsTransient(err) != tc.transient ||
				e.Summary != tc.wantSummary || e.Endpoint != EndpointRegister || e.URL != url+"/register" {
				t.Errorf("error = %+v, want status %d transient %v summary %q", e, tc.status, tc.transient, tc.wantSummary)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
				t.Errorf("error %q does not give the status", err)
			}
			assertNoCredentials(t, err)
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c := newClient(t, Config{ServerURL: url, Token: testToken, ThreeScaleSecret: testSecret})
	_, err := c.Register(context.Background(), reg)
	var e *Error
	if !errors.As(err, &e) || !scan.IsTransient(err) || e.StatusCode != 0 || e.Err == nil {
		t.Fatalf("Register = %v, want a transient *Error without status", err)
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %q does not say the connection was refused", err)
	}
	assertNoCredentials(t, err)
}

func TestHangingServerTimesOut(t *testing.T) {
	emu, url := newEmulator(t)
	// Held until the client gives up, which ends the handler too.
	emu.Always(emulator.EndpointRegister, emulator.Answer{Status: 200, Delay: time.Hour})

	c := newClient(t, Config{ServerURL: url, Timeout: 200 * time.Millisecond, Token: testToken})
	start := time.Now()
	_, err := c.Register(context.Background(), reg)
	elapsed := time.Since(start)
	if !scan.IsTransient(err) {
		t.Errorf("Register = %v, want a transient error", err)
	}
	if !strings.Contains(fmt.Sprint(err), "no answer in time") {
		t.Errorf("error %q does not say the server did not answer in time", err)
	}
	if elapsed < 200*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("Register returned after %v, want about the 200ms timeout", elapsed)
	}
	assertNoCredentials(t, err)
}

func TestLargeBodiesAreBounded(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	cases := []struct {
		name   string
		status int
		body   string
		wantOK bool
	}{
		{"200 non-JSON 1 MiB", 200, big, true},
		{"500 non-JSON 1 MiB", 500, big, false},
		{"404 JSON with a 1 MiB summary", 404, `{"success": false, "summary": "` + big + `"}`, false},
		{"400 JSON with a long multi-byte summary", 400, `{"summary": "` + strings.Repeat("é", 5000) + `"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, url := newEmulator(t)
			emu.Always(emulator.EndpointRegister, scripted(tc.status, tc.body, nil))
			c := newClient(t, Config{ServerURL: url})
			resp, err := c.Register(context.Background(), reg)
			var summary string
			switch {
			case tc.wantOK && err == nil:
				summary = resp.Summary
			case !tc.wantOK && err != nil:
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T", err)
				}
				summary = e.Summary
				if len(err.Error()) > maxSummaryBytes+200 {
					t.Errorf("error text is %d bytes", len(err.Error()))
				}
			default:
				t.Fatalf("Register = %+v, %v; want ok %v", resp, err, tc.wantOK)
			}
			if len(summary) > maxSummaryBytes+len("…") || len(summary) < maxSummaryBytes/2 {
				t.Errorf("summary is %d bytes, want about %d", len(summary), maxSummaryBytes)
			}
			if !strings.HasSuffix(summary, "…") || !json.Valid([]byte(fmt.Sprintf("%q", summary))) {
				t.Errorf("summary %.40q… is not marked as cut", summary)
			}
		})
	}
}

func TestBodyReadIsCapped(t *testing.T) {
	// The server sends more than the cap, then stalls. A client that read
	// the whole body would wait for its timeout; one that stops at the cap
	// returns at once.
	release := make(chan struct{})
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte(strings.Repeat("y", 4*maxResponseBytes)))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	// Registered after serve's Close, so it runs first: Close waits for
	// handlers.
	t.Cleanup(func() { close(release) })
	c := newClient(t, Config{ServerURL: url, Timeout: 5 * time.Second})
	start := time.Now()
	resp, err := c.Register(context.Background(), reg)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Register took %v: it read past the cap", elapsed)
	}
	if len(resp.Summary) > maxSummaryBytes+len("…") {
		t.Errorf("summary is %d bytes", len(resp.Summary))
	}
}

func TestCutOffSuccessIsTransient(t *testing.T) {
	// A 200 whose body is cut off may or may not have registered.
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"success": tr`)
	})
	c := newClient(t, Config{ServerURL: url})
	_, err := c.Register(context.Background(), reg)
	var e *Error
	if !errors.As(err, &e) || !e.Transient() || e.StatusCode != 200 {
		t.Errorf("Register = %v, want a transient error with status 200", err)
	}
	// The server did not say success false: the message must not claim so.
	if err != nil && (strings.Contains(err.Error(), "success false") || !strings.Contains(err.Error(), "cut off")) {
		t.Errorf("error %q: want it to say the answer was cut off, not that the server said success false", err)
	}
}

func TestRedirects(t *testing.T) {
	t.Run("to another host refused, credentials not sent", func(t *testing.T) {
		other, otherURL := newEmulator(t)
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, otherURL+"/register", http.StatusTemporaryRedirect)
		})
		c := newClient(t, Config{ServerURL: url, Token: testToken, ThreeScaleSecret: testSecret})
		_, err := c.Register(context.Background(), reg)
		var e *Error
		if !errors.As(err, &e) || e.Transient() || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("Register = %v, want a permanent refused-redirect error", err)
		}
		if n := len(other.Requests()); n != 0 {
			t.Errorf("the other host got %d requests, want none", n)
		}
		assertNoCredentials(t, err)
	})
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(fmt.Sprintf("%d on the same host followed", status), func(t *testing.T) {
			// The emulator, moved: /register redirects to where it serves.
			emu := emulator.New(emulator.Config{})
			emu.Always(emulator.EndpointRegister, scripted(200, `{"success": true, "summary": "moved and registered"}`, nil))
			var redirected atomic.Int64
			url := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/register" {
					redirected.Add(1)
					http.Redirect(w, r, "/api/v1/register", status)
					return
				}
				emu.ServeHTTP(w, r)
			})
			c := newClient(t, Config{ServerURL: url, Token: testToken, ThreeScaleSecret: testSecret})
			resp, err := c.Register(context.Background(), reg)
			if err != nil || resp.Summary != "moved and registered" {
				t.Fatalf("Register = %+v, %v; want the redirected success", resp, err)
			}
			reqs := emu.Requests()
			if n := redirected.Load(); n != 1 || len(reqs) != 1 {
				t.Fatalf("%d requests redirected and %d at the target, want 1 and 1", n, len(reqs))
			}
			q := reqs[0]
			if q.Method != http.MethodPost || q.Path != "/api/v1/register" ||
				q.Header.Get("Content-Type") != "application/json" ||
				q.Header.Get("Authorization") != "Bearer "+testToken || q.Header.Get("x-3scale-account-secret") != testSecret {
				t.Errorf("redirected request = %s %s %v", q.Method, q.Path, q.Header)
			}
			if got := stringObject(t, q.Body); got["git-url"] != reg.GitURL {
				t.Errorf("redirected body = %s, want the registration again", q.Body)
			}
		})
	}
	// Go follows 301, 302 and 303 with a GET and no body: such a
	// "registration" would register nothing, whatever the answer.
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther} {
		t.Run(fmt.Sprintf("%d that would turn POST into GET refused", status), func(t *testing.T) {
			url := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost {
					t.Errorf("the client sent %s %s", r.Method, r.URL.Path)
				}
				if r.URL.Path == "/register" {
					http.Redirect(w, r, "/elsewhere", status)
					return
				}
				reply(w, 200, `<html>a page</html>`)
			})
			c := newClient(t, Config{ServerURL: url})
			resp, err := c.Register(context.Background(), reg)
			if err == nil || scan.IsTransient(err) || !strings.Contains(err.Error(), "redirect") {
				t.Errorf("Register = %+v, %v; want a permanent refused-redirect error", resp, err)
			}
		})
	}
	t.Run("loop stopped", func(t *testing.T) {
		var requests atomic.Int64
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			http.Redirect(w, r, r.URL.Path+"x", http.StatusTemporaryRedirect)
		})
		c := newClient(t, Config{ServerURL: url})
		_, err := c.Register(context.Background(), reg)
		if err == nil || scan.IsTransient(err) {
			t.Errorf("Register = %v, want a permanent error", err)
		}
		if n := requests.Load(); n > 6 {
			t.Errorf("followed %d redirects", n-1)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name     string
		status   int
		value    string
		min, max time.Duration
	}{
		{"429 seconds", 429, "7", 7 * time.Second, 7 * time.Second},
		{"503 seconds", 503, "120", 120 * time.Second, 120 * time.Second},
		{"503 date", 503, date, 25 * time.Second, 30 * time.Second},
		{"503 date in the past", 503, "Thu, 01 Mar 2018 10:23:39 GMT", 0, 0},
		{"429 none", 429, "", 0, 0},
		{"429 zero", 429, "0", 0, 0},
		{"429 negative", 429, "-5", 0, 0},
		{"429 garbage", 429, "soon", 0, 0},
		{"429 number with junk", 429, "12abc", 0, 0},
		{"429 fraction", 429, "1.5", 0, 0},
		{"429 huge does not overflow", 429, "99999999999999999", maxRetryAfter, maxRetryAfter},
		{"429 beyond int64", 429, "999999999999999999999999", maxRetryAfter, maxRetryAfter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, url := newEmulator(t)
			a := scripted(tc.status, ``, nil)
			if tc.value != "" {
				a.Header.Set("Retry-After", tc.value)
			}
			emu.Always(emulator.EndpointRegister, a)
			_, err := newClient(t, Config{ServerURL: url}).Register(context.Background(), reg)
			var e *Error
			if !errors.As(err, &e) || !e.Transient() {
				t.Fatalf("Register = %v, want a transient *Error", err)
			}
			if e.RetryAfter() < tc.min || e.RetryAfter() > tc.max {
				t.Errorf("RetryAfter = %v, want %v..%v", e.RetryAfter(), tc.min, tc.max)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	cause := errors.New("connection refused")
	cases := []struct {
		name string
		e    *Error
		want string
	}{
		{"no answer", &Error{Endpoint: EndpointRegister, URL: "http://h/register", Err: cause},
			"register request to http://h/register failed: connection refused"},
		{"success false", &Error{Endpoint: EndpointRegister, URL: "http://h/register", StatusCode: 200, Summary: "no"},
			"register request to http://h/register failed: server answered 200 with success false: no"},
		{"status", &Error{Endpoint: EndpointScannerError, URL: "http://h/scanner-error", StatusCode: 404},
			"scanner-error request to http://h/scanner-error failed: server answered 404 Not Found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", cases[0].e), cause) {
		t.Error("Error does not unwrap to its cause")
	}
	if scan.IsTransient(nil) || scan.IsTransient(cause) || scan.IsTransient(&Error{}) || !scan.IsTransient(fmt.Errorf("x: %w", &Error{Retryable: true})) {
		t.Error("IsTransient misclassifies")
	}
}

func TestPasswordInServerURLNeverInErrors(t *testing.T) {
	for _, status := range []int{0, 400, 500} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reply(w, status, `{}`) }))
			t.Cleanup(srv.Close)
			if status == 0 {
				srv.Close()
			}
			u := strings.Replace(srv.URL, "http://", "http://user:pw-s3cret@", 1)
			_, err := newClient(t, Config{ServerURL: u}).Register(context.Background(), reg)
			if err == nil {
				t.Fatal("Register succeeded")
			}
			assertNoCredentials(t, err, "pw-s3cret")
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	emu, url := newEmulator(t)
	c := newClient(t, Config{ServerURL: url, Token: testToken})
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, errs[i] = c.Register(context.Background(), reg)
			} else {
				_, errs[i] = c.ReportError(context.Background(), scan.ErrorReport{ImageName: fmt.Sprint(i)})
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	paths := map[string]int{}
	for _, q := range emu.Requests() {
		paths[q.Path]++
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if paths["/register"] != 8 || paths["/scanner-error"] != 8 || len(keys) != 2 {
		t.Errorf("requests by path = %v", paths)
	}
}

// redirectingTransport answers in memory: every https request with a 307 to
// the same URL over http, every http request with 200. Two real httptest
// servers cannot share a host:port across schemes, and only then does a
// downgrade look like a same-host redirect.
type redirectingTransport struct {
	mu   sync.Mutex
	sent []*http.Request
}

func (rt *redirectingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.sent = append(rt.sent, req)
	rt.mu.Unlock()
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"success": true}`)), Request: req}
	if req.URL.Scheme == "https" {
		u := *req.URL
		u.Scheme = "http"
		resp.StatusCode = http.StatusTemporaryRedirect
		resp.Header.Set("Location", u.String())
		resp.Body = io.NopCloser(strings.NewReader(""))
	}
	return resp, nil
}

func TestRedirectFromHTTPSToHTTPRefused(t *testing.T) {
	rt := &redirectingTransport{}
	c := newClient(t, Config{ServerURL: "https://analytics.example/api/v1", Token: testToken, ThreeScaleSecret: testSecret, Transport: rt})
	_, err := c.Register(context.Background(), reg)
	if err == nil || scan.IsTransient(err) || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("Register = %v, want a permanent refused-redirect error", err)
	}
	assertNoCredentials(t, err)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, req := range rt.sent {
		if req.URL.Scheme != "https" {
			t.Errorf("sent %s %s with the credentials in clear text", req.Method, req.URL)
		}
	}
}
