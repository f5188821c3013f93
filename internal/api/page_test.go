package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
)

// pageStub answers like the page does at its entry points: / redirects to
// /ui/, everything else under /ui/ is an HTML page naming its path.
var pageStub = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/":
		http.Redirect(w, r, "/ui/", http.StatusFound)
	case "/ui/boom":
		panic("page bug")
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<p>page %s %s</p>", r.Method, r.URL.Path)
	}
})

// The page signs people in itself, so it is served without the bearer
// token the API needs, yet behind the API's request id, access log and
// panic recovery.
func TestPageIsMountedOutsideTheToken(t *testing.T) {
	e := newEnv(t, api.Config{APIToken: testToken, Page: pageStub}, nil)

	// The entry points, through the validating client and without a token:
	// / follows its redirect to /ui/, both checked against openapi.yaml.
	r := e.c.Do(apitest.NoToken(e.c.NewRequest(http.MethodGet, "/", "", nil)))
	if r.StatusCode != http.StatusOK || string(r.Body) != "<p>page GET /ui/</p>" || r.Header.Get("X-Request-Id") == "" {
		t.Errorf("GET / without a token: %d %q (request id %q), want the page at /ui/ with a request id",
			r.StatusCode, r.Body, r.Header.Get("X-Request-Id"))
	}

	// The page's own paths, outside the contract, reach it as they are.
	base := strings.TrimSuffix(r.Request.URL.String(), "/ui/")
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/ui"},
		{http.MethodGet, "/ui/scans/0190b4a8-0000-7000-8000-000000000001"},
		{http.MethodPost, "/ui/scans"},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("<p>page %s %s</p>", tc.method, tc.path); resp.StatusCode != 200 || string(body) != want {
			t.Errorf("%s %s: %d %q, want the page's %q", tc.method, tc.path, resp.StatusCode, body, want)
		}
	}
	e.log.WaitFor(t, "an access log line of a page request", func(l map[string]any) bool {
		return l["route"] == "/ui/*" && l["path"] == "/ui/scans" && l["request_id"] != nil
	})

	// The API itself still asks for the token.
	r = e.c.Do(apitest.NonConforming(apitest.NoToken(e.c.NewRequest(http.MethodGet, "/scan", "", nil))))
	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /scan without a token: %d, want 401", r.StatusCode)
	}

	// A panicking page is recovered like a handler of the API.
	resp, err := http.Get(base + "/ui/boom")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("a panic in the page: %d, want 500", resp.StatusCode)
	}
}

// Without a page, / and /ui/ are unknown paths like any other.
func TestNoPageWithoutOne(t *testing.T) {
	e := newEnv(t, api.Config{}, nil)
	// The validating client would route these to the page's operations,
	// which a server without a page does not serve: plain requests.
	base := strings.TrimSuffix(e.c.Get("/healthz").Request.URL.String(), "/healthz")
	for _, path := range []string{"/", "/ui/"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"not_found"`) {
			t.Errorf("GET %s without a page: %d %s, want 404 not_found", path, resp.StatusCode, body)
		}
	}
}
