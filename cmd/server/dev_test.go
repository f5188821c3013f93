package main

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// `server --dev` with nothing configured: a temporary database, the
// emulator in-process (said loudly), ready, a curl line on stdout that
// scans an image of the daemon, and on SIGTERM a clean exit that removes
// the temporary directory. Not parallel: it sets the process environment.
func TestDevModeScansWithNothingConfigured(t *testing.T) {
	d := dockertest.New(t)
	img := buildImage(t, d, "server-dev", "d3v0001")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("SCANNER_ADDR", "127.0.0.1:0")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr logtest.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--dev"}, &stdout, &stderr) }()

	curlLine := regexp.MustCompile(`(?m)^  curl -s -d (\S+) '(http://127\.0\.0\.1:\d+)/scan\?wait=30s'$`)
	deadline := time.Now().Add(startTimeout)
	var m []string
	for m == nil {
		if m = curlLine.FindStringSubmatch(stdout.String()); m != nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("--dev exited %d before printing a curl line:\n%s\n%s", code, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no curl line on stdout after %s:\nstdout %s\nstderr %s", startTimeout, stdout.String(), stderr.String())
		}
	}
	base := m[2]
	for _, want := range []string{"DEVELOPMENT MODE", "EMULATOR", "temporary SQLite database"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, stderr.String())
		}
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "analytics-scanner-dev-") {
		t.Errorf("the temporary directory holds %v, want the service's data directory", entries)
	}

	c := newClient(t, base, "")
	if r := c.get("/readyz"); r.status != http.StatusOK || !strings.Contains(string(r.body), `"analytics":"ok"`) {
		t.Errorf("/readyz %d %s, want ready with the emulator as analytics", r.status, r.body)
	}
	// What the printed line does, with the test's own image.
	rec := c.submit(img.name, "?wait=30s").record(t)
	if rec.Status != scan.StatusSucceeded || rec.Result == nil || !rec.Result.Successful {
		t.Errorf("the scan of %s: %+v, want succeeded", img.name, rec)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("--dev exited %d after SIGTERM, want 0:\n%s", code, stderr.String())
		}
	case <-time.After(stopTimeout):
		t.Fatalf("--dev did not stop within %s", stopTimeout)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("the temporary data directory outlived the service: %v", entries)
	}
}

// Without --dev nothing is made up: no analytics server means /readyz says
// so, and no data directory is temporary.
func TestProductionDefaultStaysStrict(t *testing.T) {
	cfg := defaults
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Source, cfg.Sources = scan.SourceRegistry, nil // no daemon needed
	srv := startServer(t, cfg)
	r := newClient(t, srv.url, "").get("/readyz")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "analytics: not configured") {
		t.Errorf("/readyz without an analytics server: %d %s, want 503 analytics: not configured", r.status, r.body)
	}
	if strings.Contains(srv.stderr.String(), "EMULATOR") {
		t.Errorf("an emulator was started without --dev:\n%s", srv.stderr.String())
	}
}
