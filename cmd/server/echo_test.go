package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// disguisesOf are the forms in which a secret comes back from a peer that
// repeats it: raw, URL-encoded, JSON-escaped (with a character that needs
// it, see the secrets below) and base64.
func disguisesOf(secret string) []string {
	jsonForm, _ := json.Marshal(secret)
	return []string{secret, url.QueryEscape(secret), strings.Trim(string(jsonForm), `"`),
		base64.StdEncoding.EncodeToString([]byte(secret))}
}

// An analytics server whose every answer repeats the request's headers and
// every other secret of the service (as a peer that had learnt them would):
// no secret may reach the log, the records served by the API, the metrics or
// the database files, in any disguise.
func TestEchoedSecretsCrossNoBoundary(t *testing.T) {
	d := dockertest.New(t)
	img := buildImage(t, d, "server-echo", "46e443d")
	// '<' and '"' make the JSON-escaped forms differ from the raw ones.
	sec := secrets{
		analyticsToken: "analytics<tok-" + testenv.RandomHex(12),
		apiToken:       "api-tok-" + testenv.RandomHex(12),
		threeScale:     `3scale"secret-` + testenv.RandomHex(12),
	}
	hookToken := "hook-tok-" + testenv.RandomHex(12)
	all := map[string]string{
		"SCANNER_ANALYTICS_TOKEN": sec.analyticsToken, "SCANNER_API_TOKEN": sec.apiToken,
		"SCANNER_ANALYTICS_3SCALE_SECRET": sec.threeScale, "SCANNER_HOOK_TOKEN": hookToken,
	}

	var echoed atomic.Int32
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var parts []string
		for name, values := range r.Header {
			for _, v := range values {
				parts = append(parts, name+": "+v)
			}
		}
		for _, s := range all {
			parts = append(parts, disguisesOf(s)...)
		}
		text := "bad gateway; you sent " + strings.Join(parts, " | ")
		body, _ := json.Marshal(map[string]any{"success": false, "error": text})
		echoed.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write(body)
	}))
	t.Cleanup(peer.Close)

	cfg := serverConfig(t, sec, &analyticsPeer{url: peer.URL}, "")
	cfg.MaxAttempts = 2
	cfg.Workers = 1
	cfg.HookToken = hookToken
	cfg.Sources = []string{scan.SourceDaemon, scan.SourceRegistry}
	srv := startServer(t, cfg)
	c := newClient(t, srv.url, sec.apiToken)

	r := c.submit(img.name, "?wait=45s")
	rec := r.record(t)
	if rec.Status != scan.StatusFailed || rec.Result == nil {
		t.Fatalf("POST /scan?wait=45s: %d %s, want a failed scan with a result", r.status, r.body)
	}
	// Without the peer's words in the record the test would prove nothing.
	if !strings.Contains(rec.LastError, "bad gateway; you sent") || !strings.Contains(rec.LastError, "[REDACTED]") {
		t.Fatalf("last_error %q does not quote the peer's answer with the secrets masked", rec.LastError)
	}
	c.get("/scan/" + rec.ID)
	c.listAll()
	c.get("/metrics")
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if n := echoed.Load(); n < 2 {
		t.Fatalf("the peer answered %d times, want a register per attempt and a scanner-error", n)
	}

	outputs := map[string]string{"the log": srv.stderr.String(), "the API's answers": c.seen.String()}
	files, _ := filepath.Glob(filepath.Join(cfg.DataDir, "*"))
	if len(files) == 0 {
		t.Fatalf("no database files in %s", cfg.DataDir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		outputs[filepath.Base(f)] = string(b)
	}
	for where, text := range outputs {
		for name, s := range all {
			for _, form := range disguisesOf(s) {
				if strings.Contains(text, form) {
					t.Errorf("%s holds %s (as %q)", where, name, form)
				}
			}
		}
	}
	if !strings.Contains(outputs["the log"], "[REDACTED]") {
		t.Errorf("the log never shows the mask, so the peer's answer was not logged and the log check proves little:\n%s", outputs["the log"])
	}
}
