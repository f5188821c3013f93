package api_test

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
	"github.com/centos-pipeline/analytics-scanner/internal/hooks"
	"github.com/centos-pipeline/analytics-scanner/internal/queue"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

const hookToken = "hook-s3cret-token"

// A manifest push that Debian's docker-registry 2.8 sent, byte for byte.
func capturedPush(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../hooks/testdata/distribution-2.8-manifest-push.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The reference the captured push names.
const capturedRef = "127.0.0.1:5055/team/app@sha256:7ad26f6cdecca067707701969ceb25df1a1b6b4045e72f955df7b5ec12f57912"

func hookRequest(c *apitest.Client, path, contentType, token string, body []byte) *http.Request {
	req := c.NewRequest(http.MethodPost, path, contentType, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func withHooks(cfg *api.Config, st *queue.Store) {
	cfg.Sources = []string{scan.SourceDaemon, scan.SourceRegistry}
	cfg.Hooks = api.HooksConfig{Token: hookToken, Submitter: st}
}

type hookAnswer struct {
	Received, Ignored, Enqueued, Existing int
	Scans                                 []struct {
		ID, Image string
		Created   bool
	}
}

func TestHooksDisabledWithoutToken(t *testing.T) {
	e := newEnv(t, api.Config{}, nil)
	for _, path := range []string{"/hooks/distribution", "/hooks/harbor"} {
		r := e.c.Do(hookRequest(e.c, path, "application/json", "anything", []byte(`{"events": []}`)))
		wantError(t, r, http.StatusNotFound, api.EHooksDisabled)
	}
}

func TestHookDistributionQueuesPushes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		env := newStoreEnv(t, backend, storeOptions{api: withHooks})
		addImage(env.source, capturedRef)
		body := capturedPush(t)

		start := time.Now()
		r := env.c.Do(hookRequest(env.c, "/hooks/distribution", hooks.DistributionEventsV1, hookToken, body))
		elapsed := time.Since(start)
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("status %d, want 202; body: %s", r.StatusCode, r.Body)
		}
		t.Logf("the hook answered in %s", elapsed)
		var a hookAnswer
		r.JSON(t, &a)
		if a.Received != 1 || a.Enqueued != 1 || a.Existing != 0 || len(a.Scans) != 1 || a.Scans[0].Image != capturedRef {
			t.Fatalf("answer = %+v, want one scan of %s enqueued", a, capturedRef)
		}
		rec := env.waitFor(t, a.Scans[0].ID, scan.StatusSucceeded)
		if rec.Source != scan.SourceRegistry || rec.Result.ScanResults.ImageName != "127.0.0.1:5055/team/app:1" {
			t.Errorf("record = %+v; want a registry scan named by its tag", rec)
		}

		// The registry delivers again (it retries): nothing changes.
		r = env.c.Do(hookRequest(env.c, "/hooks/distribution", hooks.DistributionEventsV1, hookToken, body))
		var again hookAnswer
		r.JSON(t, &again)
		if r.StatusCode != http.StatusAccepted || again.Enqueued != 0 || again.Existing != 1 || again.Scans[0].ID != a.Scans[0].ID {
			t.Errorf("redelivery: %d %+v; want the same scan, not a new one", r.StatusCode, again)
		}
		page := env.c.Get("/scan")
		var p struct{ Scans []scan.Record }
		page.JSON(t, &p)
		if len(p.Scans) != 1 {
			t.Errorf("%d scans stored, want 1", len(p.Scans))
		}
		metricsText := string(env.c.Get("/metrics").Body)
		for _, line := range []string{
			`scanner_hook_events_total{hook="distribution",outcome="received"} 2`,
			`scanner_hook_events_total{hook="distribution",outcome="enqueued"} 1`,
			`scanner_hook_events_total{hook="distribution",outcome="existing"} 1`,
		} {
			if !strings.Contains(metricsText, line) {
				t.Errorf("metrics lack %s", line)
			}
		}
	})
}

func TestHookHarborAndIgnoredEvents(t *testing.T) {
	env := newStoreEnv(t, "sqlite", storeOptions{api: withHooks, noStart: true})
	for _, tc := range []struct {
		file, contentType string
		enqueued, ignored int
	}{
		{"harbor-push-default.json", "application/json", 1, 0},
		{"harbor-push-cloudevents.json", "application/cloudevents+json", 1, 0},
		{"harbor-pull-cloudevents.json", "application/json", 0, 1},
	} {
		body, err := os.ReadFile("../hooks/testdata/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		r := env.c.Do(hookRequest(env.c, "/hooks/harbor", tc.contentType, hookToken, body))
		var a hookAnswer
		r.JSON(t, &a)
		if r.StatusCode != http.StatusAccepted || a.Enqueued != tc.enqueued || a.Ignored != tc.ignored {
			t.Errorf("%s: %d %+v; want %d enqueued, %d ignored", tc.file, r.StatusCode, a, tc.enqueued, tc.ignored)
		}
	}
	for _, file := range []string{"distribution-2.8-layer-push.json", "distribution-2.8-blob-pull.json"} {
		body, err := os.ReadFile("../hooks/testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		r := env.c.Do(hookRequest(env.c, "/hooks/distribution", hooks.DistributionEventsV1, hookToken, body))
		var a hookAnswer
		r.JSON(t, &a)
		if r.StatusCode != http.StatusAccepted || a.Enqueued != 0 || a.Ignored != 1 {
			t.Errorf("%s: %d %+v; want the event ignored", file, r.StatusCode, a)
		}
	}
}

// Unauthenticated, malformed, oversized or mistyped notifications get the
// error shape and store nothing.
func TestHookRefusesBadDeliveries(t *testing.T) {
	env := newStoreEnv(t, "sqlite", storeOptions{api: withHooks, noStart: true})
	push := capturedPush(t)
	for _, tc := range []struct {
		name, contentType, token string
		body                     []byte
		status                   int
		code                     string
	}{
		{"no token", hooks.DistributionEventsV1, "", push, http.StatusUnauthorized, api.EUnauthorized},
		{"wrong token", hooks.DistributionEventsV1, hookToken + "x", push, http.StatusUnauthorized, api.EUnauthorized},
		{"the API token", hooks.DistributionEventsV1, testToken, push, http.StatusUnauthorized, api.EUnauthorized},
		{"not JSON", hooks.DistributionEventsV1, hookToken, []byte(`{"events": [`), http.StatusBadRequest, scan.EInvalid},
		{"no events", hooks.DistributionEventsV1, hookToken, []byte(`{"nothing": 1}`), http.StatusBadRequest, scan.EInvalid},
		{"oversized", hooks.DistributionEventsV1, hookToken, append(bytes.Repeat([]byte(" "), api.DefaultHookBodyBytes), push...), http.StatusRequestEntityTooLarge, api.EPayloadTooLarge},
		{"text", "text/plain", hookToken, push, http.StatusUnsupportedMediaType, api.EUnsupportedMediaType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := hookRequest(env.c, "/hooks/distribution", tc.contentType, tc.token, tc.body)
			if tc.token == "" {
				req = apitest.NoToken(req)
			}
			if tc.token == "" || tc.contentType == "text/plain" || tc.name == "not JSON" {
				req = apitest.NonConforming(req)
			}
			if tc.token == testToken {
				// The client's own token is the API token: the contract
				// only sees a bearer token.
				req.Header.Set("Authorization", "Bearer "+testToken)
			}
			wantError(t, env.c.Do(req), tc.status, tc.code)
		})
	}
	page := env.c.Get("/scan")
	var p struct{ Scans []scan.Record }
	page.JSON(t, &p)
	if len(p.Scans) != 0 {
		t.Errorf("%d scans stored after refused deliveries, want 0", len(p.Scans))
	}
	if strings.Contains(env.logs.String(), hookToken) {
		t.Error("the hook token is in the logs")
	}
}

func TestSubmitSource(t *testing.T) {
	rec := &submitRecorder{}
	e := newEnv(t, api.Config{Sources: []string{scan.SourceDaemon, scan.SourceRegistry}, DefaultSource: scan.SourceRegistry},
		&apitest.Service{SubmitFn: rec.submit})
	for _, tc := range []struct{ contentType, body, want string }{
		{"application/json", `{"image": "registry.example/a:1"}`, scan.SourceRegistry},
		{"application/json", `{"image": "registry.example/a:1", "source": "daemon"}`, scan.SourceDaemon},
		{"application/x-www-form-urlencoded", `image=registry.example/a:1&source=registry`, scan.SourceRegistry},
	} {
		r := e.c.Do(e.c.NewRequest(http.MethodPost, "/scan", tc.contentType, []byte(tc.body)))
		got := rec.got()
		if r.StatusCode != http.StatusAccepted || got[len(got)-1].Source != tc.want {
			t.Errorf("%s: %d, source %q; want 202 and %s", tc.body, r.StatusCode, got[len(got)-1].Source, tc.want)
		}
	}
	r := e.c.Do(e.c.NewRequest(http.MethodPost, "/scan", "application/json", []byte(`{"image": "`+strings.Repeat("ab", 32)+`", "source": "registry"}`)))
	wantError(t, r, http.StatusBadRequest, api.EInvalidReference)

	daemonOnly := newEnv(t, api.Config{}, &apitest.Service{SubmitFn: rec.submit})
	r = daemonOnly.c.Do(daemonOnly.c.NewRequest(http.MethodPost, "/scan", "application/json", []byte(`{"image": "a:1", "source": "registry"}`)))
	wantError(t, r, http.StatusBadRequest, api.ESourceNotEnabled)
	r = daemonOnly.c.Do(apitest.NonConforming(daemonOnly.c.NewRequest(http.MethodPost, "/scan", "application/json", []byte(`{"image": "a:1", "source": "floppy"}`))))
	wantError(t, r, http.StatusBadRequest, api.ESourceNotEnabled)
}
