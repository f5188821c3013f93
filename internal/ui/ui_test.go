package ui_test

// Unit tests of the page over a fake scan.Service (apitest.Service, the one
// fake of that seam), through a real httptest server.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/ui"
)

const testToken = "ui-test-token-0123456789"

var t0 = time.Date(2026, 11, 29, 10, 23, 39, 0, time.UTC)

// fixedNow is the page's clock in these tests.
func fixedNow() time.Time { return t0.Add(30 * time.Minute) }

func record(id, image string, st scan.Status) scan.Record {
	r := scan.Record{ID: id, Image: image, ScanType: scan.ScanTypeRegister, Status: st, MaxAttempts: 5, CreatedAt: t0, UpdatedAt: t0}
	if st != scan.StatusQueued {
		r.Attempts = 1
		started := t0.Add(time.Second)
		r.StartedAt = &started
	}
	if st.Final() {
		done := t0.Add(3 * time.Second)
		r.FinishedAt = &done
	}
	if st == scan.StatusSucceeded {
		r.Result = &scan.Result{
			ScanType: scan.ScanTypeRegister, UUID: strings.Repeat("ab", 32), Successful: true, Summary: scan.SuccessSummary,
			ScanResults:    scan.ScanResults{GitURL: "https://github.com/example/app", GitSHA: "46e443d", ImageName: image},
			ServerResponse: &scan.ServerResponse{Status: 200, Summary: "Repository registered"},
		}
	}
	if st == scan.StatusFailed {
		r.Result = &scan.Result{ScanType: scan.ScanTypeRegister, Errors: []string{"label git-sha is missing", "label email-ids is empty"}}
	}
	return r
}

type client struct {
	t    *testing.T
	base string
	http *http.Client
}

// newServer serves the page over svc; cfg.Now defaults to fixedNow.
func newServer(t *testing.T, cfg ui.Config, svc *apitest.Service) *client {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedNow
	}
	srv := httptest.NewServer(ui.New(cfg, svc))
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: srv.URL, http: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type response struct {
	*http.Response
	body string
}

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, string(b)}
}

func (c *client) get(path string) response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return c.do(req)
}

// post sends a form as a browser on the page's own origin would.
func (c *client) post(path string, form url.Values) response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
}

func listOf(recs ...scan.Record) func(context.Context, scan.Filter) (scan.Page, error) {
	return func(_ context.Context, f scan.Filter) (scan.Page, error) { return scan.Page{Scans: recs}, nil }
}

func TestRootRedirects(t *testing.T) {
	c := newServer(t, ui.Config{}, &apitest.Service{})
	for _, path := range []string{"/", "/ui"} {
		r := c.get(path)
		wantStatus(t, r, http.StatusFound)
		if loc := r.Header.Get("Location"); loc != "/ui/" {
			t.Errorf("GET %s: Location %q, want /ui/", path, loc)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	c := newServer(t, ui.Config{}, &apitest.Service{ListFn: listOf()})
	for _, path := range []string{"/ui/", "/ui/static/ui.js", "/ui/no-such-page"} {
		r := c.get(path)
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q allows inline code", path, csp)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
	page := c.get("/ui/")
	if strings.Contains(page.body, "<script>") || strings.Contains(page.body, " style=") || strings.Contains(page.body, " onclick") {
		t.Errorf("the page has inline script or style, which the CSP would block:\n%s", page.body)
	}
	if !strings.Contains(page.body, `<script src="/ui/static/ui.js" defer></script>`) {
		t.Errorf("the page does not load its script")
	}
	if r := c.get("/ui/static/ui.css"); r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Content-Type"), "text/css") {
		t.Errorf("ui.css: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
}

func TestListShowsRecords(t *testing.T) {
	running := record("id-run", "team/app:2", scan.StatusRunning)
	c := newServer(t, ui.Config{}, &apitest.Service{ListFn: listOf(
		record("id-ok", "team/app:1", scan.StatusSucceeded), record("id-bad", "team/bad:1", scan.StatusFailed), running)})
	r := c.get("/ui/")
	wantStatus(t, r, http.StatusOK)
	for _, want := range []string{
		`<span class="badge badge-succeeded">succeeded</span>`, // colour and text
		`<span class="badge badge-failed">failed</span>`,
		`data-final="false"`, // the running row is followed
		`<a href="/ui/scans/id-ok" class="image">team/app:1</a>`,
		`abababababab`, // short image id
		`<a href="https://github.com/example/app" rel="noopener noreferrer">https://github.com/example/app</a>`,
		`46e443d`,
		`200: Repository registered`, // the server's answer
		`label git-sha is missing`,   // the first error
		`datetime="2026-11-29T10:23:39Z" title="2026-11-29 10:23:39 UTC"`,
		`2.0 s`,  // duration
		`1 of 5`, // attempts
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the list lacks %s", want)
		}
	}
	if strings.Contains(r.body, "label email-ids is empty") {
		t.Errorf("the list shows more than the first error")
	}
	// A running scan's duration is counted up to now.
	if !strings.Contains(r.body, "29m59s") {
		t.Errorf("the running scan's duration is not now - started")
	}
}

func TestHostileLabelsAreInert(t *testing.T) {
	rec := record("id-evil", "evil/app:1", scan.StatusSucceeded)
	rec.Result.ScanResults.GitURL = "javascript:alert(document.cookie)"
	rec.Result.ScanResults.GitSHA = `<script>alert(1)</script>`
	rec.Result.ServerResponse.Summary = `<img src=x onerror=alert(2)>`
	svc := &apitest.Service{ListFn: listOf(rec), GetFn: func(context.Context, string) (scan.Record, error) { return rec, nil }}
	c := newServer(t, ui.Config{}, svc)
	for _, path := range []string{"/ui/", "/ui/scans/id-evil"} {
		r := c.get(path)
		wantStatus(t, r, http.StatusOK)
		if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<img src=x") {
			t.Errorf("%s: a label is in the page unescaped", path)
		}
		if !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: the label is not shown as text", path)
		}
		if strings.Contains(r.body, `href="javascript:`) || strings.Contains(r.body, "href=\"#ZgotmplZ") {
			t.Errorf("%s: the javascript: git-url is a link", path)
		}
		if !strings.Contains(r.body, "javascript:alert(document.cookie)") {
			t.Errorf("%s: the javascript: git-url is not shown as text", path)
		}
	}
}

func TestListFilters(t *testing.T) {
	var mu sync.Mutex
	var got []scan.Filter
	svc := &apitest.Service{ListFn: func(_ context.Context, f scan.Filter) (scan.Page, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, f)
		if f.Cursor == "c1" {
			return scan.Page{Scans: []scan.Record{record("id-2", "team/app:1", scan.StatusFailed)}}, nil
		}
		return scan.Page{Scans: []scan.Record{record("id-1", "team/app:1", scan.StatusFailed)}, NextCursor: "c1"}, nil
	}}
	c := newServer(t, ui.Config{PageSize: 7}, svc)
	r := c.get("/ui/?status=failed&image=team/app:1")
	wantStatus(t, r, http.StatusOK)
	mu.Lock()
	first := got[0]
	mu.Unlock()
	if first != (scan.Filter{Status: scan.StatusFailed, Image: "team/app:1", Limit: 7}) {
		t.Errorf("List got %+v, want the page's filters", first)
	}
	if !strings.Contains(r.body, `<option value="failed" selected>`) || !strings.Contains(r.body, `value="team/app:1"`) {
		t.Errorf("the filter form does not show the filters in use")
	}
	// The submit form offers every scan type the service runs, the
	// default first and preselected.
	for i, typ := range scan.ScanTypes {
		want := `<option value="` + typ + `">`
		if i == 0 {
			want = `<option value="` + typ + `" selected>`
		}
		if !strings.Contains(r.body, want) {
			t.Errorf("the submit form lacks %s", want)
		}
	}
	next := `href="/ui/?cursor=c1&amp;image=team%2Fapp%3A1&amp;status=failed"`
	if !strings.Contains(r.body, next) {
		t.Fatalf("no link to the next page keeping the filters (%s)", next)
	}
	r = c.get("/ui/?cursor=c1&image=team%2Fapp%3A1&status=failed")
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, "id-2") || !strings.Contains(r.body, `>Newest</a>`) {
		t.Errorf("the second page lacks its row or the way back")
	}

	r = c.get("/ui/?status=bogus")
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, "There is no status &#34;bogus&#34;") {
		t.Errorf("an unknown status is not explained")
	}
}

func TestSubmit(t *testing.T) {
	var mu sync.Mutex
	var reqs []scan.Request
	svc := &apitest.Service{
		ListFn: listOf(),
		SubmitFn: func(_ context.Context, req scan.Request) (scan.Record, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			reqs = append(reqs, req)
			switch req.Image {
			case "busy:1":
				return scan.Record{}, false, scan.Errorf(scan.EQueueFull, "the queue holds 1000 unfinished scans")
			case "again:1":
				return record("id-old", req.Image, scan.StatusRunning), false, nil
			}
			return record("id-new", req.Image, scan.StatusQueued), true, nil
		},
	}
	c := newServer(t, ui.Config{Sources: []string{scan.SourceDaemon, scan.SourceRegistry}, DefaultSource: scan.SourceDaemon}, svc)

	form := c.get("/ui/")
	for _, want := range []string{`<option value="daemon" selected>daemon</option>`, `<option value="registry">registry</option>`} {
		if !strings.Contains(form.body, want) {
			t.Errorf("the submit form lacks %s", want)
		}
	}
	r := c.post("/ui/scans", url.Values{"image": {" team/app:1 "}, "scan_type": {"register"}})
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/ui/?submitted=id-new" {
		t.Errorf("Location %q, want the list with the new scan", loc)
	}
	if page := c.get(r.Header.Get("Location")); !strings.Contains(page.body, `Scan queued: <a href="/ui/scans/id-new">`) {
		t.Errorf("the list does not say the scan was queued")
	}
	r = c.post("/ui/scans", url.Values{"image": {"again:1"}, "scan_type": {"register"}})
	if loc := r.Header.Get("Location"); loc != "/ui/?existing=id-old" {
		t.Errorf("a deduplicated submit: Location %q", loc)
	}
	r = c.post("/ui/scans", url.Values{"image": {"registry.example.org/app:2"}, "scan_type": {"report"}, "source": {"registry"}})
	wantStatus(t, r, http.StatusSeeOther)

	imageID := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		name, image, scanType, source string
		status                        int
		want                          string
	}{
		{"no image", "", "register", "", http.StatusBadRequest, "Enter an image"},
		{"bad reference", "UPPER/Case:tag", "register", "", http.StatusBadRequest, "neither an image reference nor an image id"},
		{"unknown type", "team/app:1", "inventory", "", http.StatusBadRequest, "Scan type &#34;inventory&#34; is not offered"},
		{"source not enabled", "team/app:1", "register", "oci", http.StatusBadRequest, "Source &#34;oci&#34; is not enabled here"},
		{"an id from a registry", imageID, "register", "registry", http.StatusBadRequest, "a registry is asked by reference"},
		{"queue full", "busy:1", "register", "", http.StatusTooManyRequests, "The queue is full right now"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.post("/ui/scans", url.Values{"image": {tt.image}, "scan_type": {tt.scanType}, "source": {tt.source}})
			wantStatus(t, r, tt.status)
			if !strings.Contains(r.body, tt.want) {
				t.Errorf("the page does not say %q:\n%s", tt.want, r.body)
			}
			if tt.image != "" && !strings.Contains(r.body, `value="`+strings.ReplaceAll(tt.image, "/", "/")+`"`) {
				t.Errorf("the form is not refilled with %q", tt.image)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	// An empty source is the default one.
	want := []scan.Request{
		{Image: "team/app:1", ScanType: "register", Source: "daemon"},
		{Image: "again:1", ScanType: "register", Source: "daemon"},
		{Image: "registry.example.org/app:2", ScanType: "report", Source: "registry"},
		{Image: "busy:1", ScanType: "register", Source: "daemon"},
	}
	if fmt.Sprint(reqs) != fmt.Sprint(want) {
		t.Errorf("Submit got %+v, want %+v (invalid forms never reach the service)", reqs, want)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	called := false
	svc := &apitest.Service{
		SubmitFn: func(context.Context, scan.Request) (scan.Record, bool, error) {
			called = true
			return scan.Record{}, true, nil
		},
		DeleteFn: func(context.Context, string) (scan.Record, bool, error) {
			called = true
			return scan.Record{}, true, nil
		},
	}
	c := newServer(t, ui.Config{}, svc)
	for _, path := range []string{"/ui/scans", "/ui/scans/id-1/delete"} {
		for _, hdr := range []map[string]string{
			{"Sec-Fetch-Site": "cross-site"},
			{"Origin": "https://evil.example"},
		} {
			req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader("image=team/app:1"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			r := c.do(req)
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %v: status %d, want 403", path, hdr, r.StatusCode)
			}
		}
	}
	if called {
		t.Errorf("a cross-origin POST reached the service")
	}
}

func TestDetail(t *testing.T) {
	rec := record("id-bad", "team/bad:1", scan.StatusFailed)
	svc := &apitest.Service{GetFn: func(_ context.Context, id string) (scan.Record, error) {
		if id != rec.ID {
			return scan.Record{}, scan.Errorf(scan.ENotFound, "no scan %s", id)
		}
		return rec, nil
	}}
	c := newServer(t, ui.Config{}, svc)
	r := c.get("/ui/scans/id-bad")
	wantStatus(t, r, http.StatusOK)
	for _, want := range []string{
		`<th scope="row">max_attempts</th><td>5</td>`,
		`<th scope="row">scan_type</th><td>register</td>`,
		`<li>label git-sha is missing</li><li>label email-ids is empty</li>`, // each error on its line
		`<pre class="result" tabindex="0">{`,
		`&#34;Errors&#34;: [`, // pretty printed
		`href="/ui/scans/id-bad/delete">Delete…</a>`,
		`data-scan-id="id-bad" data-final="true"`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the detail page lacks %s", want)
		}
	}
	r = c.get("/ui/scans/nope")
	wantStatus(t, r, http.StatusNotFound)
	if !strings.Contains(r.body, "There is no such scan") {
		t.Errorf("a missing scan is not explained in plain words")
	}
}

func TestCancelAndDelete(t *testing.T) {
	var mu sync.Mutex
	recs := map[string]scan.Record{
		"id-q":   record("id-q", "q:1", scan.StatusQueued),
		"id-run": record("id-run", "r:1", scan.StatusRunning),
		"id-ok":  record("id-ok", "ok:1", scan.StatusSucceeded),
	}
	svc := &apitest.Service{
		GetFn: func(_ context.Context, id string) (scan.Record, error) {
			mu.Lock()
			defer mu.Unlock()
			rec, ok := recs[id]
			if !ok {
				return rec, scan.Errorf(scan.ENotFound, "no scan %s", id)
			}
			return rec, nil
		},
		DeleteFn: func(_ context.Context, id string) (scan.Record, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			rec := recs[id]
			switch {
			case rec.Status == scan.StatusRunning:
				return rec, false, scan.Errorf(scan.EConflict, "scan %s is running", id)
			case rec.Status.Final():
				delete(recs, id)
				return rec, true, nil
			}
			rec.Status = scan.StatusCanceled
			recs[id] = rec
			return rec, false, nil
		},
	}
	c := newServer(t, ui.Config{}, svc)

	confirm := c.get("/ui/scans/id-q/delete")
	wantStatus(t, confirm, http.StatusOK)
	if !strings.Contains(confirm.body, "Yes, cancel the scan") {
		t.Errorf("the confirmation of a queued scan does not offer to cancel")
	}
	r := c.post("/ui/scans/id-q/delete", nil)
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/ui/scans/id-q?canceled=1" {
		t.Errorf("after a cancel: Location %q", loc)
	}
	if d := c.get("/ui/scans/id-q?canceled=1"); !strings.Contains(d.body, "The scan was canceled.") || !strings.Contains(d.body, "badge-canceled") {
		t.Errorf("the detail page does not show the cancel")
	}

	if !strings.Contains(c.get("/ui/scans/id-ok/delete").body, "Yes, delete the scan") {
		t.Errorf("the confirmation of a final scan does not offer to delete")
	}
	r = c.post("/ui/scans/id-ok/delete", nil)
	if loc := r.Header.Get("Location"); loc != "/ui/?removed=id-ok" {
		t.Errorf("after a delete: Location %q", loc)
	}

	if !strings.Contains(c.get("/ui/scans/id-run/delete").body, "running right now") {
		t.Errorf("the confirmation of a running scan does not say it cannot be deleted")
	}
	r = c.post("/ui/scans/id-run/delete", nil)
	wantStatus(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "This scan is running right now") {
		t.Errorf("a conflict is not explained in plain words:\n%s", r.body)
	}
}

func TestRowsJSON(t *testing.T) {
	recs := map[string]scan.Record{
		"id-1": record("id-1", "a:1", scan.StatusSucceeded),
		"id-2": record("id-2", "b:1", scan.StatusRunning),
	}
	var listed scan.Filter
	svc := &apitest.Service{
		GetFn: func(_ context.Context, id string) (scan.Record, error) {
			rec, ok := recs[id]
			if !ok {
				return rec, scan.Errorf(scan.ENotFound, "no scan %s", id)
			}
			return rec, nil
		},
		ListFn: func(_ context.Context, f scan.Filter) (scan.Page, error) {
			listed = f
			return scan.Page{Scans: []scan.Record{record("id-9", "c:1", scan.StatusQueued)}}, nil
		},
	}
	c := newServer(t, ui.Config{}, svc)
	r := c.get("/ui/rows.json?id=id-1&id=id-2&id=gone&first=1&status=queued&image=c:1")
	wantStatus(t, r, http.StatusOK)
	var body struct {
		Rows []struct {
			ID, Status, GitURL, Answer string
			Final                      bool
			GitURLLink                 bool `json:"git_url_link"`
		} `json:"rows"`
		Newest string `json:"newest"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("rows.json: %v: %s", err, r.body)
	}
	if len(body.Rows) != 2 || body.Rows[0].Status != "succeeded" || !body.Rows[0].Final || !body.Rows[0].GitURLLink ||
		body.Rows[1].Status != "running" || body.Rows[1].Final {
		t.Errorf("rows %+v, want id-1 succeeded and id-2 running (a deleted id left out)", body.Rows)
	}
	if body.Newest != "id-9" || listed != (scan.Filter{Status: scan.StatusQueued, Image: "c:1", Limit: 1}) {
		t.Errorf("newest %q from filter %+v, want id-9 from the page's filters", body.Newest, listed)
	}
	many := url.Values{}
	for i := range 101 {
		many.Add("id", fmt.Sprint(i))
	}
	r = c.get("/ui/rows.json?" + many.Encode())
	wantStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, `{"error":{"code":"invalid_request"`) {
		t.Errorf("too many ids: %s, want the API's error shape", r.body)
	}
}

func TestSignIn(t *testing.T) {
	rec := record("id-1", "a:1", scan.StatusSucceeded)
	// The cookie jar expires cookies by the real clock, so the page's
	// clock starts at the real time.
	now := time.Now()
	var clock sync.Mutex
	svc := &apitest.Service{ListFn: listOf(rec), GetFn: func(context.Context, string) (scan.Record, error) { return rec, nil }}
	c := newServer(t, ui.Config{APIToken: testToken, SessionLifetime: time.Hour, Now: func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		return now
	}}, svc)

	// Without a session: pages go to the sign-in page, the poll gets 401.
	r := c.get("/ui/scans/id-1")
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/ui/signin?next=%2Fui%2Fscans%2Fid-1" {
		t.Errorf("Location %q, want the sign-in page coming back here", loc)
	}
	r = c.get("/ui/rows.json?id=id-1")
	wantStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(r.body, `{"error":{"code":"unauthorized"`) {
		t.Errorf("rows.json without a session: %s", r.body)
	}
	if r := c.get("/ui/chart"); r.StatusCode != http.StatusUnauthorized || strings.Contains(r.body, "<svg") {
		t.Errorf("the chart without a session: %d %s, want 401 and no chart", r.StatusCode, r.body)
	}
	if r := c.post("/ui/scans", url.Values{"image": {"a:1"}}); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/ui/signin") {
		t.Errorf("a submit without a session: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	page := c.get("/ui/signin?next=/ui/scans/id-1")
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.body, `<label for="token">API token</label>`) || !strings.Contains(page.body, `type="password"`) {
		t.Errorf("the sign-in page has no labelled password field")
	}

	r = c.post("/ui/signin", url.Values{"token": {"wrong"}, "next": {"/ui/scans/id-1"}})
	wantStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(r.body, "That is not the service&#39;s API token") || len(r.Cookies()) != 0 {
		t.Errorf("a wrong token: no plain refusal, or a cookie was set")
	}
	if strings.Contains(r.body, "wrong") {
		t.Errorf("the refused token is echoed back")
	}

	r = c.post("/ui/signin", url.Values{"token": {testToken}, "next": {"//evil.example/x"}})
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/ui/" {
		t.Errorf("next=//evil.example: Location %q, want /ui/", loc)
	}
	cookies := r.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v, want one session cookie", cookies)
	}
	ck := cookies[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/ui/" {
		t.Errorf("cookie %+v, want HttpOnly, SameSite=Strict, not Secure over plain HTTP, Path /ui/", ck)
	}
	if strings.Contains(ck.Value, testToken) || strings.Contains(ck.Value, url.QueryEscape(testToken)) {
		t.Errorf("the cookie holds the token")
	}
	if r := c.get("/ui/scans/id-1"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "Sign out") {
		t.Errorf("with the session: %d, want the page with a sign-out button", r.StatusCode)
	}
	if r := c.get("/ui/rows.json?id=id-1"); r.StatusCode != http.StatusOK {
		t.Errorf("rows.json with the session: %d", r.StatusCode)
	}

	// A tampered cookie is refused.
	u, _ := url.Parse(c.base + "/ui/")
	exp, _, _ := strings.Cut(ck.Value, ".")
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: exp + "9.AAAA", Path: "/ui/"}})
	if r := c.get("/ui/"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("a forged session: %d, want the sign-in redirect", r.StatusCode)
	}

	// The session ends with its lifetime.
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/ui/"}})
	if r := c.get("/ui/"); r.StatusCode != http.StatusOK {
		t.Fatalf("the restored session: %d", r.StatusCode)
	}
	clock.Lock()
	now = now.Add(time.Hour + time.Second)
	clock.Unlock()
	if r := c.get("/ui/"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("an expired session: %d, want the sign-in redirect", r.StatusCode)
	}

	// Behind a TLS proxy the cookie is Secure.
	req, _ := http.NewRequest(http.MethodPost, c.base+"/ui/signin", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	if r := c.do(req); len(r.Cookies()) != 1 || !r.Cookies()[0].Secure {
		t.Errorf("over TLS the cookie is not Secure: %v", r.Cookies())
	}
}

func TestSessionFromOtherTokenRefused(t *testing.T) {
	svc := &apitest.Service{ListFn: listOf()}
	a := newServer(t, ui.Config{APIToken: "token-a"}, svc)
	b := newServer(t, ui.Config{APIToken: "token-b"}, svc)
	r := a.post("/ui/signin", url.Values{"token": {"token-a"}})
	wantStatus(t, r, http.StatusSeeOther)
	u, _ := url.Parse(b.base + "/ui/")
	b.http.Jar.SetCookies(u, r.Cookies())
	if r := b.get("/ui/"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("a session made with another token: %d, want refused", r.StatusCode)
	}
}

func TestChart(t *testing.T) {
	now := fixedNow() // 10:53 UTC
	at := func(id string, st scan.Status, ago time.Duration) scan.Record {
		r := record(id, "a:1", st)
		r.CreatedAt = now.Add(-ago)
		return r
	}
	svc := &apitest.Service{ListFn: func(_ context.Context, f scan.Filter) (scan.Page, error) {
		if f.Limit == ui.DefaultPageSize {
			return scan.Page{}, nil // the list itself: empty
		}
		if f.Cursor == "" {
			return scan.Page{Scans: []scan.Record{
				at("1", scan.StatusSucceeded, time.Minute),
				at("2", scan.StatusSucceeded, 2*time.Minute),
				at("3", scan.StatusFailed, 3*time.Minute),
			}, NextCursor: "p2"}, nil
		}
		return scan.Page{Scans: []scan.Record{
			at("4", scan.StatusQueued, 5*time.Hour),
			at("5", scan.StatusSucceeded, 25*time.Hour), // older than a day
		}, NextCursor: "p3"}, nil
	}}
	c := newServer(t, ui.Config{}, svc)
	r := c.get("/ui/")
	wantStatus(t, r, http.StatusOK)
	for _, want := range []string{
		"4 scans: 2 succeeded, 1 failed, 0 canceled, 1 not finished.",
		"<title>10:00–11:00 UTC: 2 succeeded, 1 failed</title>",
		"<title>05:00–06:00 UTC: 1 pending</title>",
		"<title>09:00–10:00 UTC: no scans</title>",
		"tallest bar: 3",
		`class="bar-succeeded"`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}

	// The chart alone, which the script fetches to redraw it as scans end:
	// the same counts, without the page around them.
	frag := c.get("/ui/chart")
	wantStatus(t, frag, http.StatusOK)
	if !strings.Contains(frag.body, "4 scans: 2 succeeded, 1 failed, 0 canceled, 1 not finished.") ||
		strings.Contains(frag.body, "<html") || frag.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /ui/chart: %q (Cache-Control %q), want the chart alone, not cached", frag.body, frag.Header.Get("Cache-Control"))
	}
}

// A ready report's CVEs come from the service's whole report; when it
// cannot be read the page says so and still shows the record.
func TestDetailReadsTheReport(t *testing.T) {
	score := 7.5
	rec := record("id-1", "a:1", scan.StatusSucceeded)
	rec.Report = &scan.ReportStatus{State: scan.ReportReady, Tries: 1, Summary: &scan.ReportSummary{Dependencies: 1, VulnerableDependencies: 1, CVEs: 1}}
	var asked []string
	var mu sync.Mutex
	fail := false
	svc := &apitest.Service{
		GetFn: func(context.Context, string) (scan.Record, error) { return rec, nil },
		ReportFn: func(_ context.Context, id string) (scan.Report, error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, id)
			if fail {
				return scan.Report{}, scan.Errorf(scan.EUnavailable, "database down")
			}
			return scan.Report{Dependencies: []scan.Dependency{{Name: "flask", Version: "0.12", CVEs: []string{"CVE-2018-1000656"},
				CVECount: 1, HighestCVSSScore: &score, CVEIDForHighestCVSSScore: "CVE-2018-1000656"}}}, nil
		},
	}
	c := newServer(t, ui.Config{}, svc)
	r := c.get("/ui/scans/id-1")
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, "<td>CVE-2018-1000656</td><td>flask</td><td>0.12</td><td>high</td><td>7.5</td>") {
		t.Errorf("the detail page has no CVE table:\n%s", r.body)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	r = c.get("/ui/scans/id-1")
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, "The report&#39;s CVEs could not be read just now") || strings.Contains(r.body, "<table class=\"cves\">") {
		t.Errorf("a report that cannot be read: the page should say so and show no table")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 || asked[0] != "id-1" {
		t.Errorf("Report asked for %q, want id-1 twice", asked)
	}
}

// The list filters by report state too, keeps it across pages and in the
// script's poll, and says so when a state does not exist.
func TestReportFilter(t *testing.T) {
	var mu sync.Mutex
	var got []scan.Filter
	svc := &apitest.Service{ListFn: func(_ context.Context, f scan.Filter) (scan.Page, error) {
		mu.Lock()
		got = append(got, f)
		mu.Unlock()
		return scan.Page{Scans: []scan.Record{record("id-1", "a:1", scan.StatusSucceeded)}, NextCursor: "c1"}, nil
	}}
	c := newServer(t, ui.Config{PageSize: 5}, svc)
	r := c.get("/ui/?report=pending")
	wantStatus(t, r, http.StatusOK)
	for _, want := range []string{`<option value="pending" selected>pending</option>`, `href="/ui/?cursor=c1&amp;report=pending"`, `data-report="pending"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the list filtered by report lacks %s", want)
		}
	}
	r = c.get("/ui/?report=bogus")
	if !strings.Contains(r.body, "There is no report state &#34;bogus&#34;") {
		t.Errorf("an unknown report state is not said")
	}
	c.get("/ui/rows.json?first=1&report=ready")
	mu.Lock()
	defer mu.Unlock()
	if got[0] != (scan.Filter{Report: scan.ReportPending, Limit: 5}) {
		t.Errorf("List got %+v, want the report filter", got[0])
	}
	if last := got[len(got)-1]; last != (scan.Filter{Report: scan.ReportReady, Limit: 1}) {
		t.Errorf("the poll's List got %+v, want the report filter", last)
	}
}
