package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
)

func TestAnalyticsCheck(t *testing.T) {
	check, err := analyticsCheck(Config{}, nil)
	if err != nil || check.Name != "analytics" {
		t.Fatalf("analyticsCheck without a URL: %+v, %v", check, err)
	}
	if err := check.Check(t.Context()); err == nil || err.Error() != "not configured" {
		t.Errorf("without a URL: %v, want not configured", err)
	}

	var asked atomic.Int32
	ready := atomic.Bool{}
	emu := emulator.New(emulator.Config{})
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(peer.Close)
	check, err = analyticsCheck(Config{AnalyticsURL: peer.URL + "/api/v1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Check(t.Context()); err == nil {
		t.Errorf("a server answering 503: ready, want not")
	}
	ready.Store(true)
	// Cached: the 503 stands for a few seconds, and the server is asked
	// once however often /readyz is.
	for range 5 {
		if err := check.Check(t.Context()); err == nil {
			t.Errorf("within the TTL the cached 503 should stand")
		}
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("the server was asked %d times, want 1", n)
	}
}

func TestCached(t *testing.T) {
	var calls atomic.Int32
	fail := errors.New("down")
	var failing atomic.Bool
	failing.Store(true)
	check := cached(50*time.Millisecond, func(ctx context.Context) error {
		calls.Add(1)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if failing.Load() {
			return fail
		}
		return nil
	})
	if err := check(t.Context()); err != fail {
		t.Fatalf("first: %v", err)
	}
	failing.Store(false)
	if err := check(t.Context()); err != fail || calls.Load() != 1 {
		t.Errorf("within the TTL: %v after %d calls, want the cached failure after 1", err, calls.Load())
	}
	time.Sleep(60 * time.Millisecond)
	if err := check(t.Context()); err != nil || calls.Load() != 2 {
		t.Errorf("after the TTL: %v after %d calls, want a fresh success", err, calls.Load())
	}
	// A caller that gave up is not the server's failure: not kept.
	time.Sleep(60 * time.Millisecond)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := check(canceled); err == nil {
		t.Errorf("a canceled check: nil")
	}
	if err := check(t.Context()); err != nil || calls.Load() != 4 {
		t.Errorf("after a canceled check: %v after %d calls, want a fresh success", err, calls.Load())
	}
}
