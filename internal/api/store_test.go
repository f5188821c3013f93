package api_test

// The API over the real store: the same HTTP exchanges, validated against
// openapi.yaml, now backed by River on SQLite (always) and PostgreSQL (when
// SCANNER_TEST_POSTGRES_URL is set), with a real analytics emulator behind an
// httptest server. Only the Docker daemon is faked here, by an in-memory
// label source; TestDockerEndToEnd uses the real one.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make test schemas

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
	"github.com/centos-pipeline/analytics-scanner/internal/docker"
	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/pgtest"
	"github.com/centos-pipeline/analytics-scanner/internal/queue"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/scan/scantest"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// waitParam is the ?wait= of these tests: the API's maximum, so that a slow
// machine does not turn into a flaky test.
const waitParam = "?wait=60s"

// storeEnv is an API server over a started store, with its peers.
type storeEnv struct {
	c      *apitest.Client
	store  *queue.Store
	source *scantest.LabelSource
	// emu is the default analytics server; other is the one server the
	// operator allows requests to choose, at otherURL.
	emu, other *emulator.Server
	otherURL   string
	metrics    *metrics.Metrics
	logs       *logtest.Buffer
}

// storeOptions adjust an env's configuration before it starts.
type storeOptions struct {
	store   func(*queue.Config)
	noStart bool // keep the workers stopped, so that scans stay queued
	source  scan.LabelSource
	checks  []api.Check
	// api adjusts the API's configuration, given the store.
	api func(*api.Config, *queue.Store)
}

// forEachBackend runs fn on SQLite and on PostgreSQL.
func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { fn(t, backend) })
	}
}

func newStoreEnv(t *testing.T, backend string, opts storeOptions) *storeEnv {
	t.Helper()
	analyticsToken := "analytics-" + testenv.RandomHex(8)
	env := &storeEnv{
		source:  scantest.NewLabelSource(),
		emu:     emulator.New(emulator.Config{Token: analyticsToken}),
		other:   emulator.New(emulator.Config{Token: analyticsToken}),
		metrics: metrics.New(),
		logs:    &logtest.Buffer{},
	}
	emuSrv := httptest.NewServer(env.emu)
	t.Cleanup(emuSrv.Close)
	otherSrv := httptest.NewServer(env.other)
	t.Cleanup(otherSrv.Close)
	env.otherURL = otherSrv.URL + "/api/v1"
	var source scan.LabelSource = env.source
	if opts.source != nil {
		source = opts.source
	}

	scannerFor := func(server string) (*scan.Scanner, error) {
		base := emuSrv.URL
		switch server {
		case "":
		case env.otherURL:
			base = env.otherURL
		default:
			return nil, fmt.Errorf("server %q is not configured", server)
		}
		client, err := analytics.New(analytics.Config{ServerURL: base, Token: analyticsToken, Timeout: 10 * time.Second})
		if err != nil {
			return nil, err
		}
		return &scan.Scanner{Source: source, Registrar: client}, nil
	}
	cfg := queue.Config{
		DataDir:             t.TempDir(),
		Workers:             2,
		MaxAttempts:         3,
		RetryBase:           10 * time.Millisecond,
		RetryMax:            50 * time.Millisecond,
		JobTimeout:          20 * time.Second,
		MaintenanceInterval: time.Hour,
		ScannerFor:          scannerFor,
		Metrics:             env.metrics,
		Log:                 newLogger(env.logs),
	}
	if backend == "postgres" {
		cfg.DatabaseURL = pgtest.SchemaURL(t, "api_test")
	}
	if opts.store != nil {
		opts.store(&cfg)
	}
	st, err := queue.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("queue.Open: %v", err)
	}
	env.store = st
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.Stop(ctx); err != nil {
			t.Errorf("queue.Stop: %v", err)
		}
		_ = st.Close() // some tests close it themselves
	})
	if !opts.noStart {
		if err := st.Start(context.Background()); err != nil {
			t.Fatalf("queue.Start: %v", err)
		}
	}

	apiCfg := api.Config{
		APIToken:       testToken,
		AllowedServers: api.MustAllowList(env.otherURL),
		Checks:         opts.checks,
		Metrics:        env.metrics,
		Log:            newLogger(env.logs),
	}
	if opts.api != nil {
		opts.api(&apiCfg, st)
	}
	h := api.New(apiCfg, st)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	env.c = apitest.NewClient(t, srv.URL, testToken)
	t.Cleanup(func() {
		if strings.Contains(env.logs.String(), analyticsToken) || strings.Contains(env.logs.String(), testToken) {
			t.Errorf("a token is in the logs")
		}
	})
	return env
}

// submit posts a JSON submit and decodes the record, checking the status.
func (env *storeEnv) submit(t *testing.T, query string, body map[string]string, want int) (scan.Record, *apitest.Response) {
	t.Helper()
	r := env.c.PostJSON("/scan"+query, body)
	if r.StatusCode != want {
		t.Fatalf("POST /scan%s %v: status %d, want %d; body: %s", query, body, r.StatusCode, want, r.Body)
	}
	var rec scan.Record
	r.JSON(t, &rec)
	return rec, r
}

// get fetches a record, checking the status is 200.
func (env *storeEnv) get(t *testing.T, path string) scan.Record {
	t.Helper()
	r := env.c.Get(path)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d; body: %s", path, r.StatusCode, r.Body)
	}
	var rec scan.Record
	r.JSON(t, &rec)
	return rec
}

// waitFor polls a scan until it has status st.
func (env *storeEnv) waitFor(t *testing.T, id string, st scan.Status) scan.Record {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rec := env.get(t, "/scan/"+id)
		if rec.Status == st {
			return rec
		}
		if rec.Status.Final() || time.Now().After(deadline) {
			t.Fatalf("scan %s is %s (last error %q), want %s", id, rec.Status, rec.LastError, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func registered(emu *emulator.Server, gitURL string) bool {
	for _, reg := range emu.Registrations() {
		if reg.GitURL == gitURL {
			return true
		}
	}
	return false
}

func TestStoreBacked(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		t.Run("submit and wait", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			gitURL := addImage(env.source, "registry.example.org/team/app:1.0")
			rec, r := env.submit(t, waitParam, map[string]string{"image": "registry.example.org/team/app:1.0"}, http.StatusOK)
			if rec.Status != scan.StatusSucceeded || rec.Attempts != 1 || rec.Result == nil || !rec.Result.Successful {
				t.Fatalf("record %+v, want succeeded in one attempt with a successful result", rec)
			}
			if rec.Result.ScanResults.GitURL != gitURL || rec.Result.ScanResults.ImageName != "registry.example.org/team/app:1.0" {
				t.Errorf("result %+v, want the image's labels and name", rec.Result.ScanResults)
			}
			if r.Header.Get("Location") != "/scan/"+rec.ID {
				t.Errorf("Location %q, want /scan/%s", r.Header.Get("Location"), rec.ID)
			}
			if !registered(env.emu, gitURL) {
				t.Errorf("the analytics server did not get %s", gitURL)
			}
			if got := env.get(t, "/scan/"+rec.ID); got.Status != scan.StatusSucceeded || got.Result == nil {
				t.Errorf("GET gives %+v, want the stored final record", got)
			}
		})

		t.Run("submit then poll", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			addImage(env.source, "app:2")
			open := env.source.Gate(t, "app:2")
			rec, r := env.submit(t, "", map[string]string{"image": "app:2"}, http.StatusAccepted)
			if rec.Status.Final() || r.Header.Get("Retry-After") == "" {
				t.Fatalf("got %s with Retry-After %q, want a waiting scan and a polling hint", rec.Status, r.Header.Get("Retry-After"))
			}
			env.waitFor(t, rec.ID, scan.StatusRunning)
			// A short wait runs out while the scan is held.
			if got := env.get(t, r.Header.Get("Location")+"?wait=100ms"); got.Status != scan.StatusRunning {
				t.Errorf("after a wait that ran out: %s, want running", got.Status)
			}
			open()
			if got := env.get(t, r.Header.Get("Location")+waitParam); got.Status != scan.StatusSucceeded {
				t.Errorf("after the wait: %s (last error %q), want succeeded", got.Status, got.LastError)
			}
		})

		t.Run("curl bodies", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			for i, tt := range []struct{ contentType, body, image string }{
				{"text/plain", "plain:1\n", "plain:1"},
				{"application/x-www-form-urlencoded", "bare:1", "bare:1"},
				{"application/x-www-form-urlencoded", "image=field%3A1", "field:1"},
			} {
				addImage(env.source, tt.image)
				r := env.c.Do(env.c.NewRequest(http.MethodPost, "/scan"+waitParam, tt.contentType, []byte(tt.body)))
				var rec scan.Record
				r.JSON(t, &rec)
				if r.StatusCode != http.StatusOK || rec.Status != scan.StatusSucceeded || rec.Image != tt.image {
					t.Errorf("%d: got %d %s %q, want 200 succeeded %q", i, r.StatusCode, rec.Status, rec.Image, tt.image)
				}
			}
		})

		t.Run("failed scans", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			env.source.Add("nolabels:1", map[string]string{scan.LabelGitSHA: "46e443d"})
			tests := []struct {
				image string
				errs  []string
			}{
				{"nolabels:1", []string{"label git-url is missing", "label email-ids is missing"}},
				{"missing:1", []string{"image not found"}},
			}
			for _, tt := range tests {
				rec, _ := env.submit(t, waitParam, map[string]string{"image": tt.image}, http.StatusOK)
				if rec.Status != scan.StatusFailed || rec.Result == nil || rec.Result.Successful || rec.LastError == "" {
					t.Fatalf("%s: record %+v, want failed with a result and the error", tt.image, rec)
				}
				// Permanent failures are not retried.
				if rec.Attempts != 1 {
					t.Errorf("%s: %d attempts, want 1", tt.image, rec.Attempts)
				}
				all := strings.Join(rec.Result.Errors, "\n")
				for _, want := range tt.errs {
					if !strings.Contains(all, want) {
						t.Errorf("%s: errors %q lack %q", tt.image, rec.Result.Errors, want)
					}
				}
			}
		})

		t.Run("transient failure retried", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			gitURL := addImage(env.source, "flaky:1")
			env.emu.FailNext(1, http.StatusServiceUnavailable)
			rec, _ := env.submit(t, waitParam, map[string]string{"image": "flaky:1"}, http.StatusOK)
			if rec.Status != scan.StatusSucceeded || rec.Attempts != 2 || !registered(env.emu, gitURL) {
				t.Errorf("record %+v, want succeeded on the second attempt", rec)
			}
		})

		t.Run("duplicate submits share a scan", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			addImage(env.source, "nginx")
			env.source.Gate(t, "nginx")
			first, _ := env.submit(t, "", map[string]string{"image": "nginx"}, http.StatusAccepted)
			// The same image spelt in full is the same scan.
			second, r := env.submit(t, "", map[string]string{"image": "docker.io/library/nginx:latest"}, http.StatusAccepted)
			if second.ID != first.ID || r.Header.Get("Location") != "/scan/"+first.ID {
				t.Errorf("second submit gave %s at %q, want the first scan %s", second.ID, r.Header.Get("Location"), first.ID)
			}
		})

		t.Run("list pages", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			var ids []string
			for _, image := range []string{"one:1", "two:1", "three:1"} {
				addImage(env.source, image)
				rec, _ := env.submit(t, waitParam, map[string]string{"image": image}, http.StatusOK)
				ids = append(ids, rec.ID)
			}
			env.source.Add("bad:1", nil)
			bad, _ := env.submit(t, waitParam, map[string]string{"image": "bad:1"}, http.StatusOK)

			type page struct {
				Scans      []scan.Record `json:"scans"`
				NextCursor string        `json:"next_cursor"`
			}
			list := func(query string) page {
				t.Helper()
				r := env.c.Get("/scan" + query)
				if r.StatusCode != http.StatusOK {
					t.Fatalf("GET /scan%s: %d %s", query, r.StatusCode, r.Body)
				}
				var p page
				r.JSON(t, &p)
				return p
			}
			idsOf := func(p page) string {
				var out []string
				for _, rec := range p.Scans {
					out = append(out, rec.ID)
				}
				return strings.Join(out, ",")
			}
			first := list("?status=succeeded&limit=2")
			if idsOf(first) != ids[2]+","+ids[1] || first.NextCursor == "" {
				t.Fatalf("first page %s (next %q), want %s,%s and a cursor", idsOf(first), first.NextCursor, ids[2], ids[1])
			}
			second := list("?status=succeeded&limit=2&cursor=" + url.QueryEscape(first.NextCursor))
			if idsOf(second) != ids[0] || second.NextCursor != "" {
				t.Errorf("second page %s (next %q), want %s and no cursor", idsOf(second), second.NextCursor, ids[0])
			}
			if p := list(""); len(p.Scans) != 4 || p.Scans[0].ID != bad.ID {
				t.Errorf("all: %s, want 4, newest (%s) first", idsOf(p), bad.ID)
			}
			if p := list("?status=failed"); idsOf(p) != bad.ID {
				t.Errorf("failed: %s, want %s", idsOf(p), bad.ID)
			}
			if p := list("?image=two:1"); idsOf(p) != ids[1] {
				t.Errorf("image two:1: %s, want %s", idsOf(p), ids[1])
			}
			if p := list("?status=queued"); p.Scans == nil || len(p.Scans) != 0 {
				t.Errorf("queued: %s, want an empty list", idsOf(p))
			}
			wantError(t, env.c.Get("/scan?cursor=not-a-cursor"), http.StatusBadRequest, scan.EInvalid)
		})

		t.Run("delete", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			addImage(env.source, "held:1")
			open := env.source.Gate(t, "held:1")
			rec, _ := env.submit(t, "", map[string]string{"image": "held:1"}, http.StatusAccepted)
			env.waitFor(t, rec.ID, scan.StatusRunning)
			wantError(t, env.c.Delete("/scan/"+rec.ID), http.StatusConflict, scan.EConflict)
			open()
			env.get(t, "/scan/"+rec.ID+waitParam)
			if r := env.c.Delete("/scan/" + rec.ID); r.StatusCode != http.StatusNoContent {
				t.Fatalf("deleting the final scan: %d %s, want 204", r.StatusCode, r.Body)
			}
			wantError(t, env.c.Get("/scan/"+rec.ID), http.StatusNotFound, scan.ENotFound)
			wantError(t, env.c.Delete("/scan/"+rec.ID), http.StatusNotFound, scan.ENotFound)
		})

		t.Run("delete a retrying scan", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{store: func(c *queue.Config) {
				c.RetryBase, c.RetryMax = time.Hour, time.Hour // the retry never comes within the test
			}})
			addImage(env.source, "retry:1")
			env.emu.FailNext(1, http.StatusServiceUnavailable)
			rec, _ := env.submit(t, "", map[string]string{"image": "retry:1"}, http.StatusAccepted)
			env.waitFor(t, rec.ID, scan.StatusRetrying)
			r := env.c.Delete("/scan/" + rec.ID)
			var got scan.Record
			r.JSON(t, &got)
			if r.StatusCode != http.StatusOK || got.Status != scan.StatusCanceled {
				t.Fatalf("delete: %d %s, want 200 canceled", r.StatusCode, r.Body)
			}
			// A canceled scan is final: deleting it again removes it.
			if r := env.c.Delete("/scan/" + rec.ID); r.StatusCode != http.StatusNoContent {
				t.Errorf("second delete: %d %s, want 204", r.StatusCode, r.Body)
			}
		})

		t.Run("delete a queued scan", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{noStart: true})
			rec, _ := env.submit(t, "", map[string]string{"image": "queued:1"}, http.StatusAccepted)
			if rec.Status != scan.StatusQueued {
				t.Fatalf("status %s, want queued with no workers", rec.Status)
			}
			r := env.c.Delete("/scan/" + rec.ID)
			var got scan.Record
			r.JSON(t, &got)
			if r.StatusCode != http.StatusOK || got.Status != scan.StatusCanceled || got.ID != rec.ID {
				t.Fatalf("delete: %d %s, want 200 with the scan canceled", r.StatusCode, r.Body)
			}
		})

		t.Run("request-chosen server", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			gitURL := addImage(env.source, "chosen:1")
			rec, _ := env.submit(t, waitParam, map[string]string{"image": "chosen:1", "server": env.otherURL + "/"}, http.StatusOK)
			if rec.Status != scan.StatusSucceeded || rec.Server != env.otherURL || rec.Result.ScanResults.ServerURL != env.otherURL {
				t.Fatalf("record %+v, want succeeded on %s", rec, env.otherURL)
			}
			if !registered(env.other, gitURL) || registered(env.emu, gitURL) {
				t.Errorf("registered with the chosen server: %v, with the default: %v; want only the chosen",
					registered(env.other, gitURL), registered(env.emu, gitURL))
			}
			r := env.c.PostJSON("/scan", map[string]string{"image": "chosen:1", "server": "http://127.0.0.1:1/"})
			wantError(t, r, http.StatusForbidden, api.EServerNotAllowed)
		})

		t.Run("queue full", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{store: func(c *queue.Config) { c.MaxQueueDepth = 1 }})
			addImage(env.source, "first:1")
			env.source.Gate(t, "first:1")
			env.submit(t, "", map[string]string{"image": "first:1"}, http.StatusAccepted)
			r := env.c.PostJSON("/scan", map[string]string{"image": "second:1"})
			wantError(t, r, http.StatusTooManyRequests, scan.EQueueFull)
			if r.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})

		t.Run("readiness follows the store", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			req := func() *apitest.Response {
				return env.c.Do(apitest.NoToken(env.c.NewRequest(http.MethodGet, "/readyz", "", nil)))
			}
			if r := req(); r.StatusCode != http.StatusOK {
				t.Fatalf("readyz: %d %s, want 200", r.StatusCode, r.Body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := env.store.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if err := env.store.Close(); err != nil {
				t.Fatal(err)
			}
			r := req()
			wantError(t, r, http.StatusServiceUnavailable, scan.EUnavailable)
			if msg := errorMessage(t, r); !strings.HasPrefix(msg, "store: ") {
				t.Errorf("message %q, want the store named", msg)
			}
		})

		t.Run("not found", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			for _, id := range []string{"nope", "7b0e4f0e-2f0a-4a65-9d7e-1c2b3a4d5e6f"} {
				wantError(t, env.c.Get("/scan/"+id), http.StatusNotFound, scan.ENotFound)
				wantError(t, env.c.Delete("/scan/"+id), http.StatusNotFound, scan.ENotFound)
			}
		})

		t.Run("metrics", func(t *testing.T) {
			env := newStoreEnv(t, backend, storeOptions{})
			addImage(env.source, "counted:1")
			env.submit(t, waitParam, map[string]string{"image": "counted:1"}, http.StatusOK)
			r := env.c.Get("/metrics")
			for _, want := range []string{
				`scanner_scans_total{outcome="succeeded"} 1`,
				`scanner_http_request_duration_seconds_count{code="200",method="POST",route="/scan"} 1`,
			} {
				if !strings.Contains(string(r.Body), want) {
					t.Errorf("metrics lack %s", want)
				}
			}
		})
	})
}

// TestDockerEndToEnd scans an image built on the real Docker daemon, from
// POST /scan to the analytics server, through a real store.
func TestDockerEndToEnd(t *testing.T) {
	d := dockertest.New(t)
	name := dockertest.UniqueName("api-e2e") + ":1.0"
	labels := map[string]string{
		scan.LabelGitURL:   "https://github.com/example/" + strings.TrimSuffix(name, ":1.0"),
		scan.LabelGitSHA:   "46e443d",
		scan.LabelEmailIDs: "dev@example.org,ops@example.org",
	}
	id := d.BuildLabelled(t, name, labels)
	source, err := docker.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = source.Close() })

	env := newStoreEnv(t, "sqlite", storeOptions{source: source, checks: []api.Check{{Name: "docker", Check: source.Ping}}})
	ready := env.c.Do(apitest.NoToken(env.c.NewRequest(http.MethodGet, "/readyz", "", nil)))
	if !strings.Contains(string(ready.Body), `"docker":"ok"`) || ready.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %d %s, want 200 with docker ok", ready.StatusCode, ready.Body)
	}

	var recs []scan.Record
	for _, ref := range []string{name, id} {
		r := env.c.Do(env.c.NewRequest(http.MethodPost, "/scan"+waitParam, "text/plain", []byte(ref)))
		var rec scan.Record
		r.JSON(t, &rec)
		recs = append(recs, rec)
		if r.StatusCode != http.StatusOK || rec.Status != scan.StatusSucceeded || rec.Result == nil {
			t.Fatalf("scan of %s: %d %s, want 200 succeeded", ref, r.StatusCode, r.Body)
		}
		res := rec.Result
		if res.UUID != strings.TrimPrefix(id, "sha256:") || res.ScanResults.GitURL != labels[scan.LabelGitURL] ||
			res.ScanResults.EmailIDs != labels[scan.LabelEmailIDs] || res.ScanResults.GitSHA != labels[scan.LabelGitSHA] {
			t.Errorf("scan of %s: result %+v, want the image's id and labels", ref, res)
		}
	}
	// The second scan, of the same commit, relies on the first's
	// registration (SCANNER_REREGISTER_AFTER) instead of sending it again.
	if n := len(env.emu.Registrations()); n != 1 {
		t.Errorf("%d registrations, want one for the commit", n)
	}
	if sr := recs[1].Result.ServerResponse; sr == nil || sr.RegisteredBy == nil || sr.RegisteredBy.ScanID != recs[0].ID {
		t.Errorf("second scan's server response %+v, want it to name scan %s's registration", sr, recs[0].ID)
	}
	wantMissing := env.c.Do(env.c.NewRequest(http.MethodPost, "/scan"+waitParam, "text/plain", []byte(dockertest.UniqueName("api-e2e-absent"))))
	var missing scan.Record
	wantMissing.JSON(t, &missing)
	if missing.Status != scan.StatusFailed || missing.Result == nil || !strings.Contains(strings.Join(missing.Result.Errors, " "), "not found") {
		t.Errorf("scan of an absent image: %s, want failed with a not-found error", wantMissing.Body)
	}
}

// addImage makes ref an image with every required label and returns its
// git-url, unique to ref.
func addImage(src *scantest.LabelSource, ref string) string {
	gitURL := "https://github.com/example/" + strings.NewReplacer("/", "-", ":", "-").Replace(ref)
	src.Add(ref, map[string]string{
		scan.LabelGitURL: gitURL, scan.LabelGitSHA: "46e443d", scan.LabelEmailIDs: "dev@example.org",
	})
	return gitURL
}
