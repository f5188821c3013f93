package analytics_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

func TestReady(t *testing.T) {
	token := "tok-" + testenv.RandomHex(8)
	newClient := func(t *testing.T, url string) *analytics.Client {
		t.Helper()
		c, err := analytics.New(analytics.Config{ServerURL: url, Token: token, ThreeScaleSecret: "s-" + token, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("the emulator, which needs a token elsewhere, is ready", func(t *testing.T) {
		emu := httptest.NewServer(emulator.New(emulator.Config{Token: "another-" + token}))
		t.Cleanup(emu.Close)
		for _, base := range []string{emu.URL, emu.URL + "/api/v1"} {
			if err := newClient(t, base).Ready(t.Context()); err != nil {
				t.Errorf("Ready at %s: %v", base, err)
			}
		}
	})

	t.Run("no credentials are sent, the path is kept", func(t *testing.T) {
		var path, auth, threeScale string
		peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			path, auth, threeScale = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("x-3scale-account-secret")
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		t.Cleanup(peer.Close)
		err := newClient(t, "http://scanner:pw-"+token+"@"+strings.TrimPrefix(peer.URL, "http://")+"/api/v1").Ready(t.Context())
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("Ready of a 503: %v, want an error with the status", err)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("the error shows a credential: %v", err)
		}
		if path != "/api/v1/readiness" || auth != "" || threeScale != "" {
			t.Errorf("asked %q with Authorization %q, 3scale %q; want /api/v1/readiness without credentials", path, auth, threeScale)
		}
	})

	t.Run("an unreachable server is not ready", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if err := newClient(t, "http://"+addr).Ready(t.Context()); err == nil {
			t.Errorf("Ready of a closed port: nil, want an error")
		}
	})

	t.Run("a hung server is not ready within the timeout", func(t *testing.T) {
		release := make(chan struct{})
		peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(peer.Close)
		t.Cleanup(func() { close(release) })
		start := time.Now()
		if err := newClient(t, peer.URL).Ready(t.Context()); err == nil || time.Since(start) > 3*time.Second {
			t.Errorf("Ready of a hung server: %v after %s, want an error within the 1s timeout", err, time.Since(start))
		}
	})
}
