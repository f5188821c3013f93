package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
)

const (
	testToken  = "tok-3f9a"
	testSecret = "sec-77c1"
	repoURL    = "https://github.com/example/app"
)

// layouts are the two path prefixes every server endpoint answers under.
var layouts = []string{"", "/api/v1"}

// request is one HTTP call in a test table.
type request struct {
	method  string
	path    string
	headers map[string]string
	body    string
}

func jsonHeaders(extra ...string) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

func registerBody(url, sha string) string {
	return fmt.Sprintf(`{"git-url": %q, "git-sha": %q, "email-ids": "a@x.org,b@y.org"}`, url, sha)
}

func newServer(t *testing.T, cfg emulator.Config) (*emulator.Server, *httptest.Server) {
	t.Helper()
	emu := emulator.New(cfg)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

// send performs req and returns the status and the body without its
// trailing newline.
func send(t *testing.T, srv *httptest.Server, req request) (int, string) {
	t.Helper()
	status, body, err := do(srv, req)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// do is send for goroutines other than the test's, which must not call
// t.Fatal.
func do(srv *httptest.Server, req request) (int, string, error) {
	httpReq, err := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
	if err != nil {
		return 0, "", err
	}
	for k, v := range req.headers {
		httpReq.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(httpReq)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSuffix(string(body), "\n"), err
}

// registerResponse registers repoURL at 46e443d through path and returns
// the answer, for its headers; its body is closed.
func registerResponse(t *testing.T, srv *httptest.Server, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(registerBody(repoURL, "46e443d")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func register(t *testing.T, srv *httptest.Server, url, sha string) (int, string) {
	t.Helper()
	return send(t, srv, request{http.MethodPost, "/register", jsonHeaders(), registerBody(url, sha)})
}

// clock is a settable time source for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func firstRegistered(url, sha string) string {
	return fmt.Sprintf(`{"success":true,"summary":"Repository %s with commit-hash %s has been successfully registered. Please check back for report after some time."}`, url, sha)
}

func TestProbesAnswerEmptyObjectWithoutAuth(t *testing.T) {
	_, srv := newServer(t, emulator.Config{Token: testToken, ThreeScaleSecret: testSecret})
	for _, prefix := range layouts {
		for _, probe := range []string{"/readiness", "/liveness"} {
			t.Run(prefix+probe, func(t *testing.T) {
				status, body := send(t, srv, request{method: http.MethodGet, path: prefix + probe})
				if status != http.StatusOK || body != `{}` {
					t.Errorf("got %d %s, want 200 {}", status, body)
				}
			})
		}
	}
}

func TestRegisterAnswersAsTheRealServer(t *testing.T) {
	tests := []struct {
		name        string
		contentType string // "-" sends no Content-Type
		body        string
		wantStatus  int
		wantBody    string
	}{
		{"first registration", "application/json", registerBody(repoURL, "46e443d"),
			200, firstRegistered(repoURL, "46e443d")},
		{"unknown fields are ignored", "application/json", `{"git-url": "u", "git-sha": "s", "extra": 1}`,
			200, firstRegistered("u", "s")},
		{"email-ids may be absent", "application/json", `{"git-url": "u", "git-sha": "s"}`,
			200, firstRegistered("u", "s")},
		{"charset parameter refused", "application/json; charset=utf-8", registerBody(repoURL, "46e443d"),
			400, `{"success":false,"summary":"Set content type to application/json"}`},
		{"upper case refused", "Application/JSON", registerBody(repoURL, "46e443d"),
			400, `{"success":false,"summary":"Set content type to application/json"}`},
		{"form encoding refused", "application/x-www-form-urlencoded", "git-url=u&git-sha=s",
			400, `{"success":false,"summary":"Set content type to application/json"}`},
		{"no content type refused", "-", registerBody(repoURL, "46e443d"),
			400, `{"success":false,"summary":"Set content type to application/json"}`},
		{"missing git-url", "application/json", `{"git-sha": "46e443d", "email-ids": ""}`,
			404, `{"success":false,"summary":"git-url cannot be empty"}`},
		{"empty git-url", "application/json", registerBody("", "46e443d"),
			404, `{"success":false,"summary":"git-url cannot be empty"}`},
		{"missing git-sha", "application/json", `{"git-url": "u"}`,
			404, `{"success":false,"summary":"git-sha cannot be empty"}`},
		{"empty git-sha", "application/json", registerBody(repoURL, ""),
			404, `{"success":false,"summary":"git-sha cannot be empty"}`},
		{"null body has no git-url", "application/json", `null`,
			404, `{"success":false,"summary":"git-url cannot be empty"}`},
		{"invalid JSON", "application/json", `{"git-url": `,
			400, `{"success":false,"summary":"Invalid JSON body: unexpected end of JSON input"}`},
		{"trailing data", "application/json", registerBody("u", "s") + `{}`,
			400, `{"success":false,"summary":"Invalid JSON body: invalid character '{' after top-level value"}`},
	}
	for _, prefix := range layouts {
		for _, tt := range tests {
			t.Run(prefix+"/register "+tt.name, func(t *testing.T) {
				_, srv := newServer(t, emulator.Config{})
				headers := map[string]string{}
				if tt.contentType != "-" {
					headers["Content-Type"] = tt.contentType
				}
				status, body := send(t, srv, request{http.MethodPost, prefix + "/register", headers, tt.body})
				if status != tt.wantStatus || body != tt.wantBody {
					t.Errorf("got %d %s\nwant %d %s", status, body, tt.wantStatus, tt.wantBody)
				}
			})
		}
	}
}

func TestRegisterRefusesWrongFieldTypes(t *testing.T) {
	tests := map[string]string{
		"email-ids as a list": `{"git-url": "u", "git-sha": "s", "email-ids": ["a@x.org"]}`,
		"git-sha as a number": `{"git-url": "u", "git-sha": 46443}`,
		"array body":          `[]`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			_, srv := newServer(t, emulator.Config{})
			status, got := send(t, srv, request{http.MethodPost, "/register", jsonHeaders(), body})
			var res struct {
				Success bool   `json:"success"`
				Summary string `json:"summary"`
			}
			if err := json.Unmarshal([]byte(got), &res); err != nil {
				t.Fatalf("body %s: %v", got, err)
			}
			if status != http.StatusBadRequest || res.Success || !strings.HasPrefix(res.Summary, "Invalid JSON body: ") {
				t.Errorf("got %d %s, want 400 success:false Invalid JSON body", status, got)
			}
		})
	}
}

func TestRepeatRegistrationOfAURLIsAlreadyRegistered(t *testing.T) {
	clk := newClock()
	_, srv := newServer(t, emulator.Config{Now: clk.Now})

	if status, body := register(t, srv, repoURL, "46e443d"); status != 200 || body != firstRegistered(repoURL, "46e443d") {
		t.Fatalf("first: got %d %s", status, body)
	}
	steps := []struct {
		sha          string
		wantLastScan string
	}{
		{"46e443d", "Fri, 01 Mar 2024 10:00:00 GMT"}, // same commit again
		{"9b1c2d3", "Fri, 01 Mar 2024 11:00:00 GMT"}, // another commit: the URL decides
	}
	for _, step := range steps {
		clk.Advance(time.Hour)
		status, body := register(t, srv, repoURL, step.sha)
		want := fmt.Sprintf(`{"success":true,"summary":"Repository %s was already registered, but no report for commit-hash %s was found. Please check back later.","last_scanned_at":%q,"last_scan_report":null}`,
			repoURL, step.sha, step.wantLastScan)
		if status != 200 || body != want {
			t.Errorf("sha %s: got %d %s\nwant 200 %s", step.sha, status, body, want)
		}
	}
	if status, body := register(t, srv, repoURL+"-other", "46e443d"); status != 200 || body != firstRegistered(repoURL+"-other", "46e443d") {
		t.Errorf("another URL: got %d %s", status, body)
	}
}

func TestAuthentication(t *testing.T) {
	const (
		missing = `{"error":"Authentication failed - token missing"}`
		invalid = `{"error":"Authentication failed - could not decode JWT token"}`
	)
	presented := map[string]map[string]string{
		"none":         {},
		"bearer":       {"Authorization": "Bearer " + testToken},
		"wrong bearer": {"Authorization": "Bearer nope"},
		"3scale":       {"x-3scale-account-secret": testSecret},
		"wrong 3scale": {"x-3scale-account-secret": "nope"},
		"basic":        {"Authorization": "Basic " + testToken},
		// The secret must not pass as a token, nor the token as a secret.
		"secret as bearer": {"Authorization": "Bearer " + testSecret},
		"token as 3scale":  {"x-3scale-account-secret": testToken},
	}
	tests := []struct {
		name      string
		cfg       emulator.Config
		presented string
		status    int
		body      string        // for 401 only
		auth      emulator.Auth // logged, for 200 only
	}{
		{"open server, nothing presented", emulator.Config{}, "none", 200, "", emulator.AuthNone},
		{"open server notes a bearer token", emulator.Config{}, "bearer", 200, "", emulator.AuthBearer},
		{"open server notes a 3scale secret", emulator.Config{}, "3scale", 200, "", emulator.AuthThreeScale},
		{"open server ignores basic auth", emulator.Config{}, "basic", 200, "", emulator.AuthNone},
		{"token: none", emulator.Config{Token: testToken}, "none", 401, missing, ""},
		{"token: bearer", emulator.Config{Token: testToken}, "bearer", 200, "", emulator.AuthBearer},
		{"token: wrong bearer", emulator.Config{Token: testToken}, "wrong bearer", 401, invalid, ""},
		{"token: basic", emulator.Config{Token: testToken}, "basic", 401, invalid, ""},
		{"token: 3scale not configured", emulator.Config{Token: testToken}, "token as 3scale", 401, invalid, ""},
		{"secret: none", emulator.Config{ThreeScaleSecret: testSecret}, "none", 401, missing, ""},
		{"secret: 3scale", emulator.Config{ThreeScaleSecret: testSecret}, "3scale", 200, "", emulator.AuthThreeScale},
		{"secret: wrong 3scale", emulator.Config{ThreeScaleSecret: testSecret}, "wrong 3scale", 401, invalid, ""},
		{"secret: bearer not configured", emulator.Config{ThreeScaleSecret: testSecret}, "secret as bearer", 401, invalid, ""},
		{"both: bearer", emulator.Config{Token: testToken, ThreeScaleSecret: testSecret}, "bearer", 200, "", emulator.AuthBearer},
		{"both: 3scale", emulator.Config{Token: testToken, ThreeScaleSecret: testSecret}, "3scale", 200, "", emulator.AuthThreeScale},
		{"both: none", emulator.Config{Token: testToken, ThreeScaleSecret: testSecret}, "none", 401, missing, ""},
		{"both: crossed", emulator.Config{Token: testToken, ThreeScaleSecret: testSecret}, "secret as bearer", 401, invalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, srv := newServer(t, tt.cfg)
			headers := jsonHeaders()
			for k, v := range presented[tt.presented] {
				headers[k] = v
			}
			calls := []request{
				{http.MethodPost, "/register", headers, registerBody(repoURL, "46e443d")},
				{http.MethodPost, "/api/v1/scanner-error", headers, `{"image-name": "i", "email-ids": "", "error": ["e"]}`},
				{http.MethodGet, "/api/v1/report?git-url=u&git-sha=s", headers, ""},
			}
			for _, call := range calls {
				status, body := send(t, srv, call)
				if tt.status == 401 && (status != 401 || body != tt.body) {
					t.Errorf("%s %s: got %d %s, want 401 %s", call.method, call.path, status, body, tt.body)
				}
				if tt.status == 200 && status == 401 {
					t.Errorf("%s %s: got 401 %s", call.method, call.path, body)
				}
			}
			var auths []emulator.Auth
			for _, req := range emu.Requests() {
				auths = append(auths, req.Auth)
			}
			want := []emulator.Auth{tt.auth, tt.auth}
			if tt.status == 401 {
				want = nil
			}
			if !slices.Equal(auths, want) {
				t.Errorf("logged auth %v, want %v", auths, want)
			}
		})
	}
}

func TestReportIsNotFoundUntilTheDelayHasPassed(t *testing.T) {
	const delay = 30 * time.Minute
	clk := newClock()
	_, srv := newServer(t, emulator.Config{Now: clk.Now, ReportDelay: delay})
	const notFound = `{"status":"failure","message":"No report found for this repository"}`
	report := func(t *testing.T, prefix, url, sha string) (int, string) {
		t.Helper()
		return send(t, srv, request{method: http.MethodGet,
			path: prefix + "/report?git-url=" + url + "&git-sha=" + sha})
	}

	for _, prefix := range layouts {
		if status, body := report(t, prefix, repoURL, "46e443d"); status != 404 || body != notFound {
			t.Errorf("%s before registration: got %d %s", prefix, status, body)
		}
	}
	register(t, srv, repoURL, "46e443d")
	ready := reportJSON(t, repoURL, "46e443d", "Fri, 01 Mar 2024 10:30:00 GMT")

	steps := []struct {
		advance    time.Duration
		url, sha   string
		wantStatus int
		wantBody   string
	}{
		{0, repoURL, "46e443d", 404, notFound},
		{delay - time.Second, repoURL, "46e443d", 404, notFound},
		{time.Second, repoURL, "46e443d", 200, ready},
		{time.Hour, repoURL, "46e443d", 200, ready},
		{0, repoURL, "0000000", 404, notFound},                            // an unregistered commit
		{0, "https://github.com/example/other", "46e443d", 404, notFound}, // an unregistered repository
		{0, repoURL, "", 400, `{"status":"failure","message":"git-url and git-sha are required"}`},
		{0, "", "46e443d", 400, `{"status":"failure","message":"git-url and git-sha are required"}`},
	}
	for i, step := range steps {
		clk.Advance(step.advance)
		for _, prefix := range layouts {
			if status, body := report(t, prefix, step.url, step.sha); status != step.wantStatus || body != step.wantBody {
				t.Errorf("step %d %s: got %d %s\nwant %d %s", i, prefix, status, body, step.wantStatus, step.wantBody)
			}
		}
	}

	// A repeat registration of the same commit does not restart its analysis.
	register(t, srv, repoURL, "46e443d")
	if status, body := report(t, "", repoURL, "46e443d"); status != 200 || body != ready {
		t.Errorf("after repeat registration: got %d %s", status, body)
	}
}

func TestScannerError(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantBody    string
		wantLogged  *emulator.ErrorReport
	}{
		{"errors listed", "application/json",
			`{"image-name": "registry.centos.org/app:1", "email-ids": "a@x.org", "error": ["no git-url label", "no git-sha label"]}`,
			200, `{"success":true,"summary":"Scanner error report received"}`,
			&emulator.ErrorReport{ImageName: "registry.centos.org/app:1", EmailIDs: "a@x.org", Errors: []string{"no git-url label", "no git-sha label"}}},
		{"unknown image", "application/json", `{"image-name": "", "email-ids": "", "error": ["docker unreachable"]}`,
			200, `{"success":true,"summary":"Scanner error report received"}`,
			&emulator.ErrorReport{Errors: []string{"docker unreachable"}}},
		{"charset refused", "application/json; charset=utf-8", `{"image-name": "", "email-ids": "", "error": []}`,
			400, `{"success":false,"summary":"Set content type to application/json"}`, nil},
		{"invalid JSON", "application/json", `{`,
			400, `{"success":false,"summary":"Invalid JSON body: unexpected end of JSON input"}`, nil},
	}
	for _, prefix := range layouts {
		for _, tt := range tests {
			t.Run(prefix+" "+tt.name, func(t *testing.T) {
				emu, srv := newServer(t, emulator.Config{})
				status, body := send(t, srv, request{http.MethodPost, prefix + "/scanner-error",
					map[string]string{"Content-Type": tt.contentType}, tt.body})
				if status != tt.wantStatus || body != tt.wantBody {
					t.Errorf("got %d %s\nwant %d %s", status, body, tt.wantStatus, tt.wantBody)
				}
				reports := emu.ErrorReports()
				switch {
				case tt.wantLogged == nil && len(reports) != 0:
					t.Errorf("logged %+v, want nothing", reports)
				case tt.wantLogged != nil && (len(reports) != 1 ||
					reports[0].ImageName != tt.wantLogged.ImageName || reports[0].EmailIDs != tt.wantLogged.EmailIDs ||
					!slices.Equal(reports[0].Errors, tt.wantLogged.Errors)):
					t.Errorf("logged %+v, want [%+v]", reports, *tt.wantLogged)
				}
				if regs := emu.Registrations(); len(regs) != 0 {
					t.Errorf("an error report counted as a registration: %+v", regs)
				}
			})
		}
	}
}

func TestReceivedListsRequestsInOrderWithoutSecrets(t *testing.T) {
	clk := newClock()
	emu, srv := newServer(t, emulator.Config{Token: testToken, ThreeScaleSecret: testSecret, Now: clk.Now})

	send(t, srv, request{http.MethodPost, "/register",
		jsonHeaders("Authorization", "Bearer "+testToken), registerBody(repoURL, "46e443d")})
	clk.Advance(time.Second)
	send(t, srv, request{http.MethodPost, "/api/v1/register",
		jsonHeaders("x-3scale-account-secret", testSecret), registerBody(repoURL, "")})
	clk.Advance(time.Second)
	send(t, srv, request{http.MethodPost, "/api/v1/scanner-error",
		jsonHeaders("x-3scale-account-secret", testSecret), `{"image-name": "img", "email-ids": "a@x.org", "error": ["boom"]}`})
	// Refused before their bodies are known, so not logged.
	send(t, srv, request{http.MethodPost, "/register", jsonHeaders(), registerBody(repoURL, "46e443d")})
	send(t, srv, request{http.MethodPost, "/register",
		map[string]string{"Authorization": "Bearer " + testToken}, registerBody(repoURL, "46e443d")})

	status, body := send(t, srv, request{method: http.MethodGet, path: "/received"})
	want := `{"requests":[` +
		`{"time":"2024-03-01T10:00:00Z","path":"/register","auth":"bearer","status":200,"registration":{"git-url":"https://github.com/example/app","git-sha":"46e443d","email-ids":"a@x.org,b@y.org"}},` +
		`{"time":"2024-03-01T10:00:01Z","path":"/api/v1/register","auth":"3scale","status":404,"registration":{"git-url":"https://github.com/example/app","git-sha":"","email-ids":"a@x.org,b@y.org"}},` +
		`{"time":"2024-03-01T10:00:02Z","path":"/api/v1/scanner-error","auth":"3scale","status":200,"error_report":{"image-name":"img","email-ids":"a@x.org","error":["boom"]}}` +
		`],"dropped":0}`
	if status != 200 || body != want {
		t.Errorf("GET /received: got %d %s\nwant 200 %s", status, body, want)
	}
	for _, secret := range []string{testToken, testSecret} {
		if strings.Contains(body, secret) {
			t.Errorf("GET /received leaks %q", secret)
		}
	}

	wantRegs := []emulator.Registration{{GitURL: repoURL, GitSHA: "46e443d", EmailIDs: "a@x.org,b@y.org"}}
	if regs := emu.Registrations(); !slices.Equal(regs, wantRegs) {
		t.Errorf("Registrations() = %+v, want %+v (only the ones answered 200)", regs, wantRegs)
	}
	if got := len(emu.Requests()); got != 3 {
		t.Errorf("len(Requests()) = %d, want 3", got)
	}

	if status, body := send(t, srv, request{method: http.MethodDelete, path: "/received"}); status != 204 || body != "" {
		t.Errorf("DELETE /received: got %d %q, want 204 and no body", status, body)
	}
	if status, body := send(t, srv, request{method: http.MethodGet, path: "/received"}); status != 200 || body != `{"requests":[],"dropped":0}` {
		t.Errorf("GET /received after DELETE: got %d %s", status, body)
	}
	// Clearing the log forgets traffic, not registrations.
	if status, body := register(t, srv, repoURL, "46e443d"); status != 401 {
		t.Fatalf("unauthenticated register: got %d %s", status, body)
	}
	send(t, srv, request{http.MethodPost, "/register",
		jsonHeaders("Authorization", "Bearer "+testToken), registerBody(repoURL, "46e443d")})
	if reqs := emu.Requests(); len(reqs) != 1 || reqs[0].Status != 200 {
		t.Errorf("after clear: %+v", reqs)
	}
	if status, body := send(t, srv, request{http.MethodGet, "/api/v1/report?git-url=" + repoURL + "&git-sha=46e443d",
		map[string]string{"Authorization": "Bearer " + testToken}, ""}); status != 200 {
		t.Errorf("report after clear: got %d %s", status, body)
	}
}

func TestReceivedKeepsOnlyTheNewest(t *testing.T) {
	emu, srv := newServer(t, emulator.Config{MaxReceived: 3})
	for i := range 5 {
		register(t, srv, fmt.Sprintf("https://github.com/example/app%d", i), "46e443d")
	}
	var urls []string
	for _, reg := range emu.Registrations() {
		urls = append(urls, reg.GitURL)
	}
	want := []string{"https://github.com/example/app2", "https://github.com/example/app3", "https://github.com/example/app4"}
	if !slices.Equal(urls, want) {
		t.Errorf("kept %v, want %v", urls, want)
	}
	_, body := send(t, srv, request{method: http.MethodGet, path: "/received"})
	var list struct {
		Requests []emulator.Request `json:"requests"`
		Dropped  int                `json:"dropped"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Requests) != 3 || list.Dropped != 2 {
		t.Errorf("GET /received: %d requests, %d dropped; want 3 and 2", len(list.Requests), list.Dropped)
	}
}

func TestFailNextInjectsRegisterFailures(t *testing.T) {
	emu, srv := newServer(t, emulator.Config{})
	emu.FailNext(2, http.StatusServiceUnavailable)
	const injected = `{"success":false,"summary":"injected failure"}`

	steps := []struct {
		name       string
		body       string
		wantStatus int
		wantBody   string
	}{
		{"invalid request keeps its own answer", registerBody(repoURL, ""), 404, `{"success":false,"summary":"git-sha cannot be empty"}`},
		{"first injected", registerBody(repoURL, "46e443d"), 503, injected},
		{"second injected", registerBody(repoURL, "46e443d"), 503, injected},
		{"then registered, as for the first time", registerBody(repoURL, "46e443d"), 200, firstRegistered(repoURL, "46e443d")},
	}
	for _, step := range steps {
		status, body := send(t, srv, request{http.MethodPost, "/register", jsonHeaders(), step.body})
		if status != step.wantStatus || body != step.wantBody {
			t.Errorf("%s: got %d %s\nwant %d %s", step.name, status, body, step.wantStatus, step.wantBody)
		}
	}
	var statuses []int
	for _, req := range emu.Requests() {
		statuses = append(statuses, req.Status)
	}
	if want := []int{404, 503, 503, 200}; !slices.Equal(statuses, want) {
		t.Errorf("logged statuses %v, want %v", statuses, want)
	}
	if regs := emu.Registrations(); len(regs) != 1 {
		t.Errorf("Registrations() = %+v, want the one answered 200", regs)
	}

	emu.FailNext(5, http.StatusInternalServerError)
	emu.FailNext(0, 0)
	if status, body := register(t, srv, repoURL+"2", "46e443d"); status != 200 {
		t.Errorf("after FailNext(0): got %d %s", status, body)
	}
}

func TestRequestBodyIsBounded(t *testing.T) {
	// Valid JSON of exactly the limit: the registration padded with spaces.
	atLimit := registerBody(repoURL, "46e443d")
	atLimit += strings.Repeat(" ", emulator.MaxBodyBytes-len(atLimit))
	tests := []struct {
		name       string
		path       string
		body       string
		wantStatus int
		wantBody   string
	}{
		{"register at the limit", "/register", atLimit, 200, firstRegistered(repoURL, "46e443d")},
		{"register over the limit", "/register", atLimit + " ", 413,
			`{"success":false,"summary":"Request body is larger than 1048576 bytes"}`},
		{"scanner-error over the limit", "/api/v1/scanner-error", strings.Repeat(" ", emulator.MaxBodyBytes+1), 413,
			`{"success":false,"summary":"Request body is larger than 1048576 bytes"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newServer(t, emulator.Config{})
			status, body := send(t, srv, request{http.MethodPost, tt.path, jsonHeaders(), tt.body})
			if status != tt.wantStatus || body != tt.wantBody {
				t.Errorf("got %d %s\nwant %d %s", status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	const workers = 32
	emu, srv := newServer(t, emulator.Config{Token: testToken})
	auth := jsonHeaders("Authorization", "Bearer "+testToken)

	var wg sync.WaitGroup
	statuses := make([]int, workers)
	bodies := make([]string, workers)
	for i := range workers {
		wg.Go(func() {
			url := fmt.Sprintf("https://github.com/example/app%d", i%(workers/2)) // each URL twice
			calls := []request{
				{http.MethodPost, "/register", auth, registerBody(url, "46e443d")},
				{http.MethodGet, "/report?git-url=" + url + "&git-sha=46e443d", auth, ""},
				{http.MethodPost, "/scanner-error", auth, `{"image-name": "i", "email-ids": "", "error": ["e"]}`},
				{method: http.MethodGet, path: "/received"},
			}
			for j, call := range calls {
				status, body, err := do(srv, call)
				if err != nil {
					t.Error(err)
				}
				if j == 0 {
					statuses[i], bodies[i] = status, body
				}
			}
			emu.Requests()
			emu.FailNext(0, 0)
		})
	}
	wg.Wait()

	var repeats int
	for i, status := range statuses {
		if status != 200 {
			t.Errorf("worker %d: register answered %d %s", i, status, bodies[i])
		}
		if strings.Contains(bodies[i], "was already registered") {
			repeats++
		}
	}
	// Each URL was registered twice: exactly one of the two is the first.
	if repeats != workers/2 {
		t.Errorf("%d repeat registrations, want %d", repeats, workers/2)
	}
	if got := len(emu.Registrations()); got != workers {
		t.Errorf("%d registrations logged, want %d", got, workers)
	}
	if got := len(emu.ErrorReports()); got != workers {
		t.Errorf("%d error reports logged, want %d", got, workers)
	}
}

// TestRegisterDelayHoldsAndCountsArrivals: a held registration is counted
// on arrival, answered after the delay, and dropped, unregistered, when its
// client gives up first (a hung server, as the client sees it).
func TestRegisterDelayHoldsAndCountsArrivals(t *testing.T) {
	const delay = 300 * time.Millisecond
	emu, srv := newServer(t, emulator.Config{RegisterDelay: delay})

	start := time.Now()
	if status, body := register(t, srv, "https://github.com/a/b", "1111111"); status != http.StatusOK {
		t.Fatalf("held registration answered %d %s, want 200", status, body)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("registration answered after %s, want at least the delay %s", took, delay)
	}

	ctx, cancel := context.WithTimeout(context.Background(), delay/3)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/register", strings.NewReader(registerBody("https://github.com/a/b", "2222222")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a client giving up after %s got an answer, %d", delay/3, resp.StatusCode)
	}
	// The handler sees the client go away and returns without registering.
	deadline := time.Now().Add(2 * time.Second)
	for {
		total, bySHA := emu.Arrivals()
		if total == 2 && bySHA["1111111"] == 1 && bySHA["2222222"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("arrivals = %d %v, want both registrations counted", total, bySHA)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(delay)
	if regs := emu.Registrations(); len(regs) != 1 || regs[0].GitSHA != "1111111" {
		t.Errorf("registrations = %+v, want only the answered one", regs)
	}
}

func TestFailNextRetryAfterAsksForAWait(t *testing.T) {
	emu, srv := newServer(t, emulator.Config{})
	emu.FailNextRetryAfter(1, http.StatusTooManyRequests, 3*time.Second)
	for i, want := range []struct {
		status     int
		retryAfter string
	}{{429, "3"}, {200, ""}} {
		resp := registerResponse(t, srv, "/register")
		if resp.StatusCode != want.status || resp.Header.Get("Retry-After") != want.retryAfter {
			t.Errorf("request %d: %d with Retry-After %q, want %d with %q", i+1, resp.StatusCode, resp.Header.Get("Retry-After"), want.status, want.retryAfter)
		}
	}
}
