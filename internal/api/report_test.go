package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/notify"
	"github.com/centos-pipeline/analytics-scanner/internal/queue"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// The report part and callbacks through the API, every exchange checked
// against openapi.yaml: a registered scan shows its report ready without
// any further call, GET /scan/{id}/report serves it, GET /scan filters on
// it, an allowed callback_url gets the signed record, another is refused.
func TestReportAndCallbacksThroughTheAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		const secret = "api-test-notify-secret"
		var (
			mu     sync.Mutex
			events []string
		)
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := notify.VerifyRequest([]byte(secret), r, body, time.Now(), notify.DefaultWindow); err != nil {
				t.Errorf("callback: %v", err)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			var n queue.Notification
			if err := json.Unmarshal(body, &n); err != nil {
				t.Errorf("callback body: %v", err)
			}
			mu.Lock()
			events = append(events, n.Event+" "+string(n.Scan.Status))
			mu.Unlock()
		}))
		t.Cleanup(receiver.Close)
		notifier, err := notify.New(notify.Config{Secret: []byte(secret)})
		if err != nil {
			t.Fatal(err)
		}
		env := newStoreEnv(t, backend, storeOptions{
			store: func(c *queue.Config) { c.ReportInterval, c.Notifier = 20*time.Millisecond, notifier },
			api:   func(c *api.Config, _ *queue.Store) { c.AllowedCallbacks = api.MustAllowList(receiver.URL + "/hook") },
		})
		gitURL := addImage(env.source, "app:1")

		r := env.c.PostJSON("/scan", map[string]string{"image": "app:1", "callback_url": "http://127.0.0.1:1/elsewhere"})
		wantError(t, r, http.StatusForbidden, api.ECallbackNotAllowed)

		rec, _ := env.submit(t, waitParam, map[string]string{"image": "app:1", "callback_url": receiver.URL + "/hook"}, http.StatusOK)
		if rec.Status != scan.StatusSucceeded || rec.CallbackURL != receiver.URL+"/hook" {
			t.Fatalf("record %+v", rec)
		}
		deadline := time.Now().Add(60 * time.Second)
		for rec.Report == nil || rec.Report.State != scan.ReportReady {
			if time.Now().After(deadline) {
				t.Fatalf("report %+v, want ready", rec.Report)
			}
			time.Sleep(10 * time.Millisecond)
			rec = env.get(t, "/scan/"+rec.ID)
		}
		if rec.Report.Summary == nil || rec.Report.Summary.Dependencies == 0 || rec.Report.LastTryAt == nil {
			t.Errorf("ready report %+v, want its summary and last try", rec.Report)
		}

		r = env.c.Get("/scan/" + rec.ID + "/report")
		var report scan.Report
		r.JSON(t, &report)
		if r.StatusCode != http.StatusOK || report.GitURL != gitURL || len(report.Dependencies) != rec.Report.Summary.Dependencies {
			t.Errorf("GET report: %d %+v", r.StatusCode, report)
		}
		wantError(t, env.c.Get("/scan/no-such-scan/report"), http.StatusNotFound, scan.ENotFound)

		var p struct {
			Scans []scan.Record `json:"scans"`
		}
		env.c.Get("/scan?report=ready").JSON(t, &p)
		if len(p.Scans) != 1 || p.Scans[0].ID != rec.ID {
			t.Errorf("GET /scan?report=ready: %+v", p.Scans)
		}
		env.c.Get("/scan?report=timed_out").JSON(t, &p)
		if len(p.Scans) != 0 {
			t.Errorf("GET /scan?report=timed_out: %d scans, want none", len(p.Scans))
		}

		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(events)
			mu.Unlock()
			if n >= 2 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		// The two callbacks are jobs of their own, each delivered when a
		// worker takes it: nothing orders the scan's before the report's
		// when the report is ready at once, so only the set is checked.
		got := slices.Sorted(slices.Values(events))
		want := []string{scan.EventReportFinal + " succeeded", scan.EventScanFinal + " succeeded"}
		if !slices.Equal(got, want) {
			t.Errorf("callbacks received: %q, want one scan.final and one report.final", events)
		}
	})
}
