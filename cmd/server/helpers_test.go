package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/server"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// startTimeout bounds a server's start-up (migrations included) and
// stopTimeout its return after ctx is canceled: generous for a loaded CI
// machine, while a hang still fails in reasonable time.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
)

// shutdownTimeout is the servers' SCANNER_SHUTDOWN_TIMEOUT unless a test
// sets its own; below stopTimeout, so that a server overrunning it fails.
const shutdownTimeout = 10 * time.Second

// defaults is the configuration of an empty environment, read once by
// TestMain: tests build their Config from it rather than from the
// process's environment, which parallel tests would share.
var defaults server.Config

func TestMain(m *testing.M) {
	// The server's own variables only: SCANNER_TEST_POSTGRES_URL and
	// SCANNER_TEST_IMAGE share the prefix and are the tests' to read.
	ty := reflect.TypeFor[server.Config]()
	for i := range ty.NumField() {
		if name := ty.Field(i).Tag.Get("envconfig"); name != "" {
			_ = os.Unsetenv(server.EnvPrefix + "_" + name)
		}
	}
	var err error
	if defaults, err = server.LoadConfig(); err != nil {
		fmt.Fprintln(os.Stderr, "the default configuration does not load:", err)
		os.Exit(1)
	}
	// Runs the tests, then stops the PostgreSQL they started, if any, and
	// names the tests skipped for a missing dependency.
	testenv.Main(m)
}

// secrets are one test's credentials, random so that finding one in an
// output cannot be a coincidence.
type secrets struct {
	analyticsToken, apiToken, threeScale string
}

func newSecrets() secrets {
	return secrets{
		analyticsToken: "analytics-tok-" + testenv.RandomHex(12),
		apiToken:       "api-tok-" + testenv.RandomHex(12),
		threeScale:     "3scale-secret-" + testenv.RandomHex(12),
	}
}

// assertAbsent fails the test if any secret appears in what.
func (s secrets) assertAbsent(t *testing.T, where, what string) {
	t.Helper()
	for name, secret := range map[string]string{
		"SCANNER_ANALYTICS_TOKEN":         s.analyticsToken,
		"SCANNER_API_TOKEN":               s.apiToken,
		"SCANNER_ANALYTICS_3SCALE_SECRET": s.threeScale,
	} {
		if strings.Contains(what, secret) {
			t.Errorf("%s holds the value of %s", where, name)
		}
	}
}

// listeningLine returns the "listening" log line, or nil.
func listeningLine(t *testing.T, logs *logtest.Buffer) map[string]any {
	t.Helper()
	for _, line := range logs.Lines(t) {
		if line["message"] == "listening" {
			return line
		}
	}
	return nil
}

// waitForAddr returns the address the server logged it listens on; done
// reports the server's end, which fails the test before it listened.
func waitForAddr(t *testing.T, logs *logtest.Buffer, done <-chan error) string {
	t.Helper()
	deadline := time.After(startTimeout)
	for {
		if line := listeningLine(t, logs); line != nil {
			addr, _ := line["addr"].(string)
			return addr
		}
		select {
		case err := <-done:
			t.Fatalf("the server ended before listening: %v\n%s", err, logs.String())
		case <-deadline:
			t.Fatalf("no listening line in the log after %s:\n%s", startTimeout, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// inProcess is run, running in a goroutine of the test.
type inProcess struct {
	url    string // http://host:port
	stderr *logtest.Buffer
	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	stopped bool
	err     error
}

// startServer runs the server with cfg and returns once it listens. The
// server is stopped when the test ends if the test did not.
func startServer(t *testing.T, cfg server.Config) *inProcess {
	t.Helper()
	s := startServerAsync(t, cfg)
	s.url = "http://" + waitForAddr(t, s.stderr, s.done)
	return s
}

// startServerAsync starts the server and returns at once, url unset.
func startServerAsync(t *testing.T, cfg server.Config) *inProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcess{stderr: &logtest.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- server.Run(ctx, cfg, s.stderr) }()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("at the test's end, the server: %v", err)
		}
	})
	return s
}

// errNotStopped is what stop returns when run did not return in time.
var errNotStopped = fmt.Errorf("run did not return within %s of the cancel", stopTimeout)

// stop cancels the server's context, as SIGTERM does, and returns what run
// returned, or errNotStopped.
func (s *inProcess) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return s.err
	}
	s.cancel()
	select {
	case s.err = <-s.done:
		s.stopped = true
		return s.err
	case <-time.After(stopTimeout):
		return errNotStopped
	}
}

// client calls the API through apitest.Client, so that every request and
// response is checked against openapi.yaml, and keeps every response it
// saw, for the test to look for secrets in them.
type client struct {
	t    *testing.T
	api  *apitest.Client
	seen *logtest.Buffer
}

func newClient(t *testing.T, base, token string) *client {
	return &client{t: t, api: apitest.NewClient(t, base, token), seen: &logtest.Buffer{}}
}

// response is a finished API call.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(method, path, contentType, body string) response {
	c.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return c.keep(c.api.Do(c.api.NewRequest(method, path, contentType, b)))
}

// keep notes r among the responses seen and returns it.
func (c *client) keep(r *apitest.Response) response {
	fmt.Fprintf(c.seen, "%s %s -> %s\n", r.Request.Method, r.Request.URL.RequestURI(), r.Status)
	_ = r.Header.Write(c.seen)
	c.seen.Write(r.Body)
	c.seen.Write([]byte("\n"))
	return response{status: r.StatusCode, header: r.Header, body: r.Body}
}

func (c *client) get(path string) response { return c.do(http.MethodGet, path, "", "") }

// submit posts a scan of image; query is appended to /scan as is.
func (c *client) submit(image, query string) response {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"image": image})
	return c.do(http.MethodPost, "/scan"+query, "application/json", string(body))
}

// record decodes a response holding one scan record.
func (r response) record(t *testing.T) scan.Record {
	t.Helper()
	var rec scan.Record
	if err := json.Unmarshal(r.body, &rec); err != nil {
		t.Fatalf("response %d %s is not a record: %v", r.status, r.body, err)
	}
	return rec
}

// listAll returns every record through GET /scan?limit=100.
func (c *client) listAll() []scan.Record {
	c.t.Helper()
	r := c.get("/scan?limit=100")
	if r.status != http.StatusOK {
		c.t.Fatalf("GET /scan: %d %s", r.status, r.body)
	}
	var page struct {
		Scans      []scan.Record `json:"scans"`
		NextCursor string        `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		c.t.Fatalf("GET /scan: %v", err)
	}
	if page.NextCursor != "" {
		c.t.Fatalf("GET /scan?limit=100 has more pages; the tests use fewer scans")
	}
	return page.Scans
}

// waitHealthy polls /healthz until it answers 200.
func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never answered 200 (last error: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// analyticsPeer is the analytics server the service talks to: the
// emulator behind a real HTTP server, holding each registration for delay
// (as a slow server would) and counting them as they arrive.
type analyticsPeer struct {
	emu *emulator.Server
	url string // base URL, without /api/v1
}

func newAnalyticsPeer(t *testing.T, s secrets, delay time.Duration) *analyticsPeer {
	t.Helper()
	p := &analyticsPeer{emu: emulator.New(emulator.Config{
		Token: s.analyticsToken, ThreeScaleSecret: s.threeScale, RegisterDelay: delay,
	})}
	srv := httptest.NewServer(p.emu)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// arrived returns how many register requests have arrived, and by git-sha.
func (p *analyticsPeer) arrived() (int, map[string]int) { return p.emu.Arrivals() }

// waitArrivals polls until at least n register requests have arrived.
func (p *analyticsPeer) waitArrivals(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got, _ := p.arrived(); got >= n {
			return
		}
		if time.Now().After(deadline) {
			got, _ := p.arrived()
			t.Fatalf("%d register requests arrived within %s, want %d", got, timeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testImage is a labelled image built on the test daemon.
type testImage struct {
	name   string // repository:tag
	id     string // sha256:...
	labels map[string]string
}

// buildImage builds a FROM-scratch image whose labels register repository
// git-url at sha; labels listed in drop are left out.
func buildImage(t testing.TB, d *dockertest.Daemon, prefix, sha string, drop ...string) testImage {
	t.Helper()
	repo := dockertest.UniqueName(prefix)
	labels := map[string]string{
		scan.LabelGitURL:   "https://github.com/example/" + repo,
		scan.LabelGitSHA:   sha,
		scan.LabelEmailIDs: "dev@example.org,ops@example.org",
	}
	for _, l := range drop {
		delete(labels, l)
	}
	name := repo + ":1.0"
	return testImage{name: name, id: d.BuildLabelled(t, name, labels), labels: labels}
}

// buildImages builds one image per git-sha, all at once: the daemon takes
// about two seconds per build however small, but runs builds side by side.
func buildImages(t *testing.T, d *dockertest.Daemon, prefix string, shas []string) []testImage {
	t.Helper()
	images := make([]testImage, len(shas))
	var wg sync.WaitGroup
	for i, sha := range shas {
		wg.Go(func() { images[i] = buildImage(goroutineTB{t}, d, prefix, sha) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return images
}

// goroutineTB lets code written for a test's own goroutine run on another:
// a fatal failure marks the test failed and ends only that goroutine,
// since FailNow may only be called from the test's goroutine. Errorf,
// Cleanup and Helper are safe from any goroutine.
type goroutineTB struct{ testing.TB }

func (g goroutineTB) Fatal(args ...any) {
	g.TB.Error(args...)
	runtime.Goexit()
}

func (g goroutineTB) Fatalf(format string, args ...any) {
	g.TB.Errorf(format, args...)
	runtime.Goexit()
}

func (g goroutineTB) FailNow() {
	g.TB.Fail()
	runtime.Goexit()
}

// serverConfig is the configuration of a server talking to peer with s's
// credentials, on a SQLite database in a fresh directory unless databaseURL
// is set.
func serverConfig(t *testing.T, s secrets, peer *analyticsPeer, databaseURL string) server.Config {
	cfg := defaults
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.DatabaseURL = databaseURL
	cfg.AnalyticsURL = peer.url + "/api/v1"
	cfg.AnalyticsToken = s.analyticsToken
	cfg.Analytics3scaleSecret = s.threeScale
	cfg.APIToken = s.apiToken
	cfg.RetryBase = 100 * time.Millisecond
	cfg.ShutdownTimeout = shutdownTimeout
	// Debug logs the most, so the secret checks cover the most.
	cfg.LogLevel = "debug"
	return cfg
}

// waitFinal polls GET /scan until every one of want (by id) is final and
// returns the records by id.
func waitFinal(t *testing.T, c *client, want []string, timeout time.Duration) map[string]scan.Record {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		byID := map[string]scan.Record{}
		for _, rec := range c.listAll() {
			byID[rec.ID] = rec
		}
		pending := 0
		for _, id := range want {
			if rec, ok := byID[id]; !ok || !rec.Status.Final() {
				pending++
			}
		}
		if pending == 0 {
			return byID
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d scans not final after %s: %v", pending, len(want), timeout, byID)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// submitNoFatal is submit for other goroutines than the test's: a failure
// is a response with status 0 and the error as body.
func (c *client) submitNoFatal(image, query string) response {
	body, _ := json.Marshal(map[string]string{"image": image})
	r, err := c.api.Try(c.api.NewRequest(http.MethodPost, "/scan"+query, "application/json", body))
	if err != nil {
		return response{body: []byte(err.Error())}
	}
	return c.keep(r)
}
