package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
)

// TestRunServesReports runs the emulator as the local stack does and follows
// two registered repositories to their reports: one ready, one configured by
// EMULATOR_LOCK_FILE_ABSENT.
func TestRunServesReports(t *testing.T) {
	const (
		withLock    = "https://github.com/example/app"
		withoutLock = "https://github.com/example/no-lock"
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr logtest.Buffer
	setenv(t, map[string]string{
		"EMULATOR_ADDR":             "127.0.0.1:0",
		"EMULATOR_REPORT_DELAY":     "300ms",
		"EMULATOR_LOCK_FILE_ABSENT": withoutLock,
	})
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"analytics-emulator"}, &stdout, &stderr) }()
	baseURL := "http://" + waitForAddr(t, &stderr, done) + "/api/v1"
	waitUntilLive(t, baseURL)

	report := func(gitURL string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(baseURL + "/report?" + url.Values{"git-url": {gitURL}, "git-sha": {"46e443d"}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("report body %q: %v", raw, err)
		}
		return resp.StatusCode, body
	}
	for _, repo := range []string{withLock, withoutLock} {
		resp, err := http.Post(baseURL+"/register", "application/json",
			strings.NewReader(`{"git-url": "`+repo+`", "git-sha": "46e443d", "email-ids": "a@x.org"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if status, body := report(repo); status != http.StatusNotFound || body["message"] != "No report found for this repository" {
			t.Errorf("%s right after registration: %d %v", repo, status, body)
		}
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body := report(withLock)
		if status == http.StatusOK {
			deps, _ := body["dependencies"].([]any)
			if body["git_sha"] != "46e443d" || len(deps) < 3 {
				t.Errorf("report %v: want git_sha 46e443d and at least 3 dependencies", body)
			}
			break
		}
		if status != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("report of %s: %d %v", withLock, status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Registered a moment after withLock, its delay may not quite have
	// passed yet: until then it is 404, as any report in the making.
	for {
		status, body := report(withoutLock)
		if status == http.StatusNotFound && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if status != http.StatusBadRequest || body["lock_file_absent"] != true || body["message"] == "" {
			t.Errorf("report of %s: %d %v, want 400 with lock_file_absent true and a message", withoutLock, status, body)
		}
		break
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run returned %v", err)
	}
}
