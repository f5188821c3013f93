package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/pgtest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/server"
)

// TestEndToEnd runs the whole server in-process against the real Docker
// daemon and an analytics emulator behind a real HTTP server, on each
// database.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			databaseURL := ""
			if backend == "postgres" {
				databaseURL = pgtest.SchemaURL(t, "server_test")
			}
			testEndToEnd(t, databaseURL)
		})
	}
}

func testEndToEnd(t *testing.T, databaseURL string) {
	d := dockertest.New(t)
	good := buildImage(t, d, "server-e2e", "46e443d")
	bad := buildImage(t, d, "server-e2e-bad", "5b1f0a9", scan.LabelEmailIDs)
	sec := newSecrets()
	peer := newAnalyticsPeer(t, sec, 0)
	srv := startServer(t, serverConfig(t, sec, peer, databaseURL))
	waitHealthy(t, srv.url)
	c := newClient(t, srv.url, sec.apiToken)
	anonymous := newClient(t, srv.url, "")

	t.Run("ready", func(t *testing.T) {
		r := anonymous.get("/readyz")
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `"store":"ok"`) || !strings.Contains(string(r.body), `"docker":"ok"`) ||
			!strings.Contains(string(r.body), `"analytics":"ok"`) {
			t.Errorf("/readyz: %d %s, want 200 with store, docker and analytics ok", r.status, r.body)
		}
	})

	t.Run("the API token is required", func(t *testing.T) {
		for _, path := range []string{"/scan", "/metrics"} {
			if r := anonymous.get(path); r.status != http.StatusUnauthorized {
				t.Errorf("GET %s without a token: %d, want 401", path, r.status)
			}
		}
	})

	var goodID string
	t.Run("labelled image succeeds", func(t *testing.T) {
		r := c.submit(good.name, "?wait=30s")
		rec := r.record(t)
		if r.status != http.StatusOK || rec.Status != scan.StatusSucceeded || rec.Result == nil {
			t.Fatalf("POST /scan?wait=30s: %d %s, want 200 succeeded with a result", r.status, r.body)
		}
		goodID = rec.ID
		if loc := r.header.Get("Location"); loc != "/scan/"+rec.ID {
			t.Errorf("Location %q, want /scan/%s", loc, rec.ID)
		}
		if rec.Attempts != 1 || rec.Image != good.name || rec.StartedAt == nil || rec.FinishedAt == nil {
			t.Errorf("record %+v, want one attempt of %s with start and finish times", rec, good.name)
		}
		res := rec.Result
		want := scan.ScanResults{
			EmailIDs:  good.labels[scan.LabelEmailIDs],
			GitSHA:    good.labels[scan.LabelGitSHA],
			GitURL:    good.labels[scan.LabelGitURL],
			ImageName: good.name,
			ServerURL: peer.url + "/api/v1",
		}
		if !res.Successful || res.ScanResults != want || res.UUID != strings.TrimPrefix(good.id, "sha256:") ||
			res.Summary != scan.SuccessSummary || res.Scanner != scan.ScannerName || res.ScanType != scan.ScanTypeRegister ||
			res.ServerResponse == nil || res.ServerResponse.Status != http.StatusOK || len(res.Errors) != 0 {
			t.Errorf("result %+v, want a success with the image's id, labels %+v and the server's 200", res, want)
		}

		regs := peer.emu.Registrations()
		wantReg := emulator.Registration{GitURL: want.GitURL, GitSHA: want.GitSHA, EmailIDs: want.EmailIDs}
		if len(regs) != 1 || regs[0] != wantReg {
			t.Errorf("the emulator received registrations %+v, want exactly %+v", regs, wantReg)
		}
		if reqs := peer.emu.Requests(); len(reqs) != 1 || reqs[0].Auth != emulator.AuthBearer || reqs[0].Path != "/api/v1/register" {
			t.Errorf("the emulator received %+v, want one bearer-authenticated POST /api/v1/register", reqs)
		}
	})
	if goodID == "" {
		t.FailNow()
	}

	t.Run("get and list", func(t *testing.T) {
		r := c.get("/scan/" + goodID)
		if rec := r.record(t); r.status != http.StatusOK || rec.ID != goodID || rec.Status != scan.StatusSucceeded || rec.Result == nil {
			t.Errorf("GET /scan/%s: %d %s, want the succeeded record", goodID, r.status, r.body)
		}
		list := c.listAll()
		if len(list) != 1 || list[0].ID != goodID || list[0].Status != scan.StatusSucceeded {
			t.Errorf("GET /scan listed %+v, want the one succeeded scan", list)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		if got := eventuallyScansTotal(t, c, "succeeded", 1); got != 1 {
			t.Errorf(`scanner_scans_total{outcome="succeeded"} = %d, want 1`, got)
		}
	})

	t.Run("missing label fails and is reported", func(t *testing.T) {
		r := c.submit(bad.name, "?wait=30s")
		rec := r.record(t)
		if r.status != http.StatusOK || rec.Status != scan.StatusFailed || rec.Result == nil || rec.Result.Successful {
			t.Fatalf("POST /scan?wait=30s of an image without email-ids: %d %s, want 200 failed", r.status, r.body)
		}
		if errs := strings.Join(rec.Result.Errors, "; "); !strings.Contains(errs, "label email-ids is missing") {
			t.Errorf("errors %q, want the missing label named", errs)
		}
		if rec.Attempts != 1 {
			t.Errorf("a missing label took %d attempts; it is not transient", rec.Attempts)
		}
		// The report is a job of its own, sent just after the scan ends.
		reports := peer.emu.ErrorReports()
		for deadline := time.Now().Add(30 * time.Second); len(reports) == 0 && time.Now().Before(deadline); reports = peer.emu.ErrorReports() {
			time.Sleep(20 * time.Millisecond)
		}
		if len(reports) != 1 || reports[0].ImageName != bad.name || !strings.Contains(strings.Join(reports[0].Errors, " "), "email-ids") {
			t.Errorf("the emulator received error reports %+v, want one for %s naming email-ids", reports, bad.name)
		}
		if n := len(peer.emu.Registrations()); n != 1 {
			t.Errorf("%d registrations after the failed scan, want still 1", n)
		}
		if got := eventuallyScansTotal(t, c, "failed", 1); got != 1 {
			t.Errorf(`scanner_scans_total{outcome="failed"} = %d, want 1`, got)
		}
	})

	var hcOut logtest.Buffer
	t.Run("healthcheck of the running server", func(t *testing.T) {
		if code := run(t.Context(), []string{"healthcheck", srv.url + "/healthz"}, &hcOut, &hcOut); code != 0 || hcOut.String() != "ok\n" {
			t.Errorf("healthcheck of %s/healthz exited %d, printed %q; want 0 and ok", srv.url, code, hcOut.String())
		}
		// Without a URL, the server SCANNER_ADDR configures (the
		// environment's part is TestHealthcheck's).
		url, err := server.HealthzURL(strings.TrimPrefix(srv.url, "http://"))
		if err == nil {
			err = server.Healthcheck(t.Context(), url)
		}
		if err != nil {
			t.Errorf("healthcheck with SCANNER_ADDR of the server returned %v", err)
		}
	})

	t.Run("stops on cancel", func(t *testing.T) {
		start := time.Now()
		if err := srv.stop(); err != nil {
			t.Errorf("after the cancel: %v, want run to return nil", err)
		}
		took := time.Since(start)
		if took > shutdownTimeout {
			t.Errorf("run returned %s after the cancel, more than SCANNER_SHUTDOWN_TIMEOUT (%s)", took, shutdownTimeout)
		}
		t.Logf("run returned %s after the cancel", took.Round(time.Millisecond))
		if code := run(t.Context(), []string{"healthcheck", srv.url + "/healthz"}, &hcOut, &hcOut); code != 1 {
			t.Errorf("healthcheck of the stopped server exited %d, want 1", code)
		}
	})

	line := listeningLine(t, srv.stderr)
	if line["analytics_token_set"] != true || line["api_token_set"] != true || line["analytics_3scale_secret_set"] != true {
		t.Errorf("the listening line %v does not say which credentials are set", line)
	}
	sec.assertAbsent(t, "the server's log", srv.stderr.String())
	sec.assertAbsent(t, "the API's responses", c.seen.String()+anonymous.seen.String())
	sec.assertAbsent(t, "the healthcheck's output", hcOut.String())
	if t.Failed() {
		t.Logf("server log:\n%s", srv.stderr.String())
	}
}

// scansTotal reads scanner_scans_total{outcome=...} from /metrics; 0 when
// the series is absent.
// eventuallyScansTotal is scansTotal once it reaches want, or after 5 s.
// A waiting request may see a scan final before its worker has counted it:
// the worker counts after its commit, and a waiter may be woken first by
// another job of the same store (the commit's report follow-up).
func eventuallyScansTotal(t *testing.T, c *client, outcome string, want int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := scansTotal(t, c, outcome)
		if got >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func scansTotal(t *testing.T, c *client, outcome string) int {
	t.Helper()
	r := c.get("/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.status)
	}
	m := regexp.MustCompile(`(?m)^scanner_scans_total\{outcome="` + outcome + `"\} (\d+)$`).FindSubmatch(r.body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestShutdownLetsRunningScanFinish cancels the server while a scan's
// registration is held by the analytics server: the scan must finish during
// the drain, not be cut short and run again by the next start.
func TestShutdownLetsRunningScanFinish(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	img := buildImage(t, d, "server-drain", "9c0d1e2")
	sec := newSecrets()
	peer := newAnalyticsPeer(t, sec, 1500*time.Millisecond)
	vars := serverConfig(t, sec, peer, "")

	first := startServer(t, vars)
	c := newClient(t, first.url, sec.apiToken)
	r := c.submit(img.name, "")
	rec := r.record(t)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST /scan: %d %s, want 202", r.status, r.body)
	}
	// The registration is in flight: the scan is running.
	peer.waitArrivals(t, 1, 30*time.Second)
	start := time.Now()
	err := first.stop()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("after the cancel: %v, want run to return nil", err)
	}
	t.Logf("run returned %s after the cancel", took.Round(time.Millisecond))
	if regs := peer.emu.Registrations(); len(regs) != 1 {
		t.Errorf("the emulator answered %d registrations by the time run returned, want 1", len(regs))
	}

	second := startServer(t, vars)
	c2 := newClient(t, second.url, sec.apiToken)
	r = c2.get("/scan/" + rec.ID)
	got := r.record(t)
	if r.status != http.StatusOK || got.Status != scan.StatusSucceeded || got.Attempts != 1 || got.Result == nil || !got.Result.Successful {
		t.Errorf("after a restart, GET /scan/%s: %d %s; want succeeded in 1 attempt", rec.ID, r.status, r.body)
	}
	if err := second.stop(); err != nil {
		t.Errorf("the second run returned %v", err)
	}
	if total, _ := peer.arrived(); total != 1 {
		t.Errorf("%d register requests in all, want 1", total)
	}
	if t.Failed() {
		t.Logf("first server's log:\n%s\nsecond server's log:\n%s", first.stderr.String(), second.stderr.String())
	}
}

// TestReplicasShareOnePostgres runs two servers on one PostgreSQL database,
// submits to both in turn, and checks that every scan ran exactly once.
func TestReplicasShareOnePostgres(t *testing.T) {
	t.Parallel()
	const n = 20
	databaseURL := pgtest.SchemaURL(t, "server_test")
	d := dockertest.New(t)
	shas := make([]string, n)
	for i := range shas {
		shas[i] = fmt.Sprintf("%07x", 0xa00000+i)
	}
	images := buildImages(t, d, "server-replica", shas)
	sec := newSecrets()
	// A short hold keeps several scans running at once across replicas.
	peer := newAnalyticsPeer(t, sec, 100*time.Millisecond)

	// Started together, as replicas of a deployment are: both migrate the
	// same empty schema at once.
	replicas := make([]*inProcess, 2)
	for i := range replicas {
		cfg := serverConfig(t, sec, peer, databaseURL)
		cfg.Workers = 2
		replicas[i] = startServerAsync(t, cfg)
	}
	for _, r := range replicas {
		r.url = "http://" + waitForAddr(t, r.stderr, r.done)
	}
	clients := []*client{newClient(t, replicas[0].url, sec.apiToken), newClient(t, replicas[1].url, sec.apiToken)}

	ids := make([]string, n)
	for i, img := range images {
		r := clients[i%2].submit(img.name, "")
		if r.status != http.StatusAccepted {
			t.Fatalf("POST /scan of %s to replica %d: %d %s, want 202", img.name, i%2, r.status, r.body)
		}
		ids[i] = r.record(t).ID
	}
	byID := waitFinal(t, clients[0], ids, 60*time.Second)
	for i, id := range ids {
		rec := byID[id]
		if rec.Status != scan.StatusSucceeded || rec.Attempts != 1 || rec.Result == nil ||
			rec.Result.ScanResults.GitSHA != images[i].labels[scan.LabelGitSHA] {
			t.Errorf("scan %s of %s: %+v, want succeeded in 1 attempt with its image's labels", id, images[i].name, rec)
		}
	}
	if got := len(clients[1].listAll()); got != n {
		t.Errorf("replica 1 lists %d scans, want %d", got, n)
	}

	perSHA := map[string]int{}
	for _, reg := range peer.emu.Registrations() {
		perSHA[reg.GitSHA]++
	}
	_, arrivals := peer.arrived()
	for _, img := range images {
		sha := img.labels[scan.LabelGitSHA]
		if perSHA[sha] != 1 || arrivals[sha] != 1 {
			t.Errorf("git-sha %s: %d registrations answered, %d sent; want 1 each", sha, perSHA[sha], arrivals[sha])
		}
	}
	if total := len(peer.emu.Registrations()); total != n {
		t.Errorf("%d registrations in all, want %d", total, n)
	}
	// Each scan was finished by one replica: the replicas' counters add
	// up to n, not more (counted after each commit: see
	// eventuallyScansTotal).
	var done0, done1 int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		done0, done1 = scansTotal(t, clients[0], "succeeded"), scansTotal(t, clients[1], "succeeded")
		if done0+done1 >= n || time.Now().After(deadline) {
			break
		}
	}
	if done0+done1 != n {
		t.Errorf("the replicas finished %d + %d scans, want %d in all", done0, done1, n)
	}
	t.Logf("replica 0 finished %d scans, replica 1 %d", done0, done1)

	for i, r := range replicas {
		if err := r.stop(); err != nil {
			t.Errorf("replica %d: %v, want run to return nil", i, err)
		}
		sec.assertAbsent(t, fmt.Sprintf("replica %d's log", i), r.stderr.String())
		if t.Failed() {
			t.Logf("replica %d's log:\n%s", i, r.stderr.String())
		}
	}
}

// TestShutdownStartsNoNewScans cancels the server while one scan runs and a
// client waits (?wait=) for a second, queued behind it: the running scan
// finishes within SHUTDOWN_TIMEOUT; the queued one is left for the next
// start instead of being started and cut short at the deadline, which would
// register it twice; and the waiting client is answered at once, 202 with
// the scan queued, rather than holding the shutdown.
func TestShutdownStartsNoNewScans(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	images := buildImages(t, d, "server-drain-queue", []string{"d1a2b3c", "d4e5f60"})
	sec := newSecrets()
	const hold = 2500 * time.Millisecond
	peer := newAnalyticsPeer(t, sec, hold)
	// Long enough for the running scan (hold) but not for a second one
	// started after it.
	vars := serverConfig(t, sec, peer, "")
	vars.Workers, vars.ShutdownTimeout = 1, 4*time.Second

	first := startServer(t, vars)
	c := newClient(t, first.url, sec.apiToken)
	running := c.submit(images[0].name, "").record(t)
	peer.waitArrivals(t, 1, 30*time.Second)

	waiter := newClient(t, first.url, sec.apiToken)
	waited := make(chan response, 1)
	go func() { waited <- waiter.submitNoFatal(images[1].name, "?wait=60s") }()
	// Once the scan is listed, its submit has moved on to waiting.
	var queued scan.Record
	for deadline := time.Now().Add(10 * time.Second); queued.ID == ""; {
		for _, rec := range c.listAll() {
			if rec.Image == images[1].name {
				queued = rec
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the second scan was not listed within 10s of its submit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if queued.Status != scan.StatusQueued {
		t.Fatalf("the second scan is %s, want queued behind the first", queued.Status)
	}

	start := time.Now()
	if err := first.stop(); err != nil {
		t.Fatalf("after the cancel: %v, want run to return nil", err)
	}
	took := time.Since(start)
	t.Logf("run returned %s after the cancel", took.Round(time.Millisecond))
	select {
	case r := <-waited:
		if r.status != http.StatusAccepted || r.record(t).Status != scan.StatusQueued {
			t.Errorf("the waiting client got %d %s, want 202 with the scan queued", r.status, r.body)
		}
	case <-time.After(stopTimeout):
		t.Error("the waiting client got no answer after run returned")
	}
	if total, _ := peer.arrived(); total != 1 {
		t.Errorf("%d register requests by the end of the shutdown, want only the running scan's", total)
	}

	second := startServer(t, vars)
	c = newClient(t, second.url, sec.apiToken)
	byID := waitFinal(t, c, []string{running.ID, queued.ID}, 30*time.Second)
	_, arrivals := peer.arrived()
	for i, id := range []string{running.ID, queued.ID} {
		rec, sha := byID[id], images[i].labels[scan.LabelGitSHA]
		if rec.Status != scan.StatusSucceeded || rec.Attempts != 1 || arrivals[sha] != 1 {
			t.Errorf("scan %d: %s in %d attempts, %d registrations; want succeeded once", i, rec.Status, rec.Attempts, arrivals[sha])
		}
	}
	if t.Failed() {
		t.Logf("first server's log:\n%s", first.stderr.String())
	}
}

// TestOneImageUnderItsNamesIsOneScan submits one image under its name and
// its ids while its first scan is still registering: the server resolves
// each reference from the daemon's image list in memory (docker.Index), so
// every submission after the first is answered with the first's scan (202,
// since it is not final yet), and the list holds one scan.
func TestOneImageUnderItsNamesIsOneScan(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	img := buildImage(t, d, "server-one-image", "0a1b2c3")
	sec := newSecrets()
	peer := newAnalyticsPeer(t, sec, 3*time.Second) // keeps the first scan active
	srv := startServer(t, serverConfig(t, sec, peer, ""))
	waitHealthy(t, srv.url)
	c := newClient(t, srv.url, sec.apiToken)

	first := c.submit(img.name, "")
	if first.status != http.StatusAccepted {
		t.Fatalf("first submission: %d %s, want 202", first.status, first.body)
	}
	want := first.record(t).ID
	hex := strings.TrimPrefix(img.id, "sha256:")
	for _, ref := range []string{img.id, hex, hex[:12], "docker.io/library/" + img.name} {
		r := c.submit(ref, "")
		if r.status != http.StatusAccepted || r.record(t).ID != want {
			t.Errorf("POST /scan %q: %d %s, want 202 with scan %s", ref, r.status, r.body, want)
		}
	}
	if all := c.listAll(); len(all) != 1 {
		t.Errorf("GET /scan lists %d scans, want 1: %+v", len(all), all)
	}
}
