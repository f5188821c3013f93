package queue

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/notify"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// receiver is a callback receiver that is down (503) for its first
// downFor requests, then verifies and keeps what it is sent.
type receiver struct {
	t       *testing.T
	secret  []byte
	mu      sync.Mutex
	downFor int
	seen    int
	got     []received
}

type received struct {
	header http.Header
	body   []byte
	note   Notification
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seen++
	if rc.seen <= rc.downFor {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if err := notify.VerifyRequest(rc.secret, r, body, time.Now(), notify.DefaultWindow); err != nil {
		rc.t.Errorf("callback signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		rc.t.Errorf("callback body does not decode: %v", err)
	}
	rc.got = append(rc.got, received{header: r.Header.Clone(), body: body, note: n})
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) deliveries() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// A receiver that is down loses nothing: the scan's and its report's
// notifications arrive once each, signed, when it is up again, and every
// attempt shows on the record. The secret appears nowhere written.
func TestCallbacksReachAReceiverThatWasDown(t *testing.T) {
	eachReportBackend(t, func(t *testing.T, env *testEnv, clk *clock) {
		secret := "notify-secret-" + env.token
		rc := &receiver{t: t, secret: []byte(secret), downFor: 2}
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		notifier, err := notify.New(notify.Config{Secret: []byte(secret), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s := env.start(fastReports, func(c *Config) { c.Notifier, c.NotifyURL = notifier, srv.URL+"/hook" })

		env.image("app:1")
		rec, _, err := s.Submit(t.Context(), scan.Request{Image: "app:1", CallbackURL: srv.URL + "/own?token=query-secret"})
		if err != nil {
			t.Fatal(err)
		}
		if rec.CallbackURL != srv.URL+"/own" {
			t.Errorf("record callback_url %q, want it without its query", rec.CallbackURL)
		}
		waitFinal(t, s, rec.ID)
		clk.Advance(reportDelay)
		waitReport(t, s, rec.ID, scan.ReportReady)

		// Four notifications: scan.final and report.final, each to the
		// scan's URL and to NOTIFY_URL.
		deadline := time.Now().Add(waitTimeout)
		for len(rc.deliveries()) < 4 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // a duplicate would come now
		got := rc.deliveries()
		count := map[string]int{}
		for _, d := range got {
			count[d.note.Event+" "+d.header.Get(notify.HeaderDelivery)]++
			if d.note.Scan.ID != rec.ID {
				t.Errorf("notification of scan %s, want %s", d.note.Scan.ID, rec.ID)
			}
			if d.note.Event == scan.EventReportFinal && (d.note.Scan.Report == nil || d.note.Scan.Report.State != scan.ReportReady || d.note.Scan.Report.Summary == nil) {
				t.Errorf("report.final carries report %+v, want ready with its summary", d.note.Scan.Report)
			}
			if d.note.Event == scan.EventScanFinal && d.note.Scan.Status != scan.StatusSucceeded {
				t.Errorf("scan.final carries status %s", d.note.Scan.Status)
			}
		}
		events := map[string]int{}
		for k, n := range count {
			if n != 1 {
				t.Errorf("delivery %q arrived %d times, want once", k, n)
			}
			events[strings.Fields(k)[0]]++
		}
		if len(got) != 4 || events[scan.EventScanFinal] != 2 || events[scan.EventReportFinal] != 2 {
			t.Errorf("%d deliveries, events %v; want scan.final and report.final twice each", len(got), events)
		}

		final, err := s.Get(t.Context(), rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		failedFirst := 0
		for _, c := range final.Callbacks {
			if c.State != "delivered" || c.DeliveredAt == nil || len(c.Attempts) == 0 || c.Attempts[len(c.Attempts)-1].Status != http.StatusNoContent {
				t.Errorf("callback %+v, want delivered, its last attempt a 204", c)
			}
			if c.Attempts[0].Status == http.StatusServiceUnavailable && c.Attempts[0].Error != "" {
				failedFirst++
			}
			if strings.Contains(c.URL, "query-secret") {
				t.Errorf("callback URL %q shows its query", c.URL)
			}
		}
		if len(final.Callbacks) != 4 || failedFirst != 2 {
			t.Errorf("%d callbacks, %d with a 503 first; want 4 and the 2 the receiver refused", len(final.Callbacks), failedFirst)
		}
		raw, _ := json.Marshal(final)
		for where, text := range map[string]string{"logs": env.logs.String(), "record": string(raw)} {
			if strings.Contains(text, secret) {
				t.Errorf("the notify secret appears in the %s", where)
			}
			if strings.Contains(text, "query-secret") {
				t.Errorf("the callback URL's query appears in the %s", where)
			}
		}
	})
}
