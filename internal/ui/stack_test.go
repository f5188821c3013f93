package ui_test

// The one place where the browser tests meet the service's implementation:
// the store (internal/store; internal/queue after the design refactor), the
// real Docker daemon as the label source, and the analytics emulator as
// the server. Renaming the store package is a change to this file alone.

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/docker"
	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/store"
	"github.com/centos-pipeline/analytics-scanner/internal/ui"
)

// stack is the page over a real store, daemon and analytics server.
type stack struct {
	URL    string
	Daemon *dockertest.Daemon
	Emu    *emulator.Server
	Svc    scan.Service
	// Start starts the store's workers; until then scans stay queued.
	Start func()
}

type stackOptions struct {
	apiToken string
	noStart  bool // keep the workers stopped, so that scans stay queued
}

func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	d := dockertest.New(t)
	source, err := docker.New()
	if err != nil {
		t.Fatalf("docker source: %v", err)
	}
	t.Cleanup(func() { _ = source.Close() })
	emu := emulator.New(emulator.Config{})
	emuSrv := httptest.NewServer(emu)
	t.Cleanup(emuSrv.Close)
	scannerFor := func(string) (*scan.Scanner, error) {
		client, err := analytics.New(analytics.Config{ServerURL: emuSrv.URL, Timeout: 10 * time.Second})
		if err != nil {
			return nil, err
		}
		return &scan.Scanner{Source: source, Analytics: client}, nil
	}
	st, err := store.Open(context.Background(), store.Config{
		DataDir: t.TempDir(), Workers: 2, MaxAttempts: 3,
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, JobTimeout: 20 * time.Second,
		MaintenanceInterval: time.Hour, ScannerFor: scannerFor, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.Stop(ctx); err != nil {
			t.Errorf("store.Stop: %v", err)
		}
		_ = st.Close()
	})
	start := func() {
		if err := st.Start(context.Background()); err != nil {
			t.Fatalf("store.Start: %v", err)
		}
	}
	if !opts.noStart {
		start()
	}
	srv := httptest.NewServer(ui.New(ui.Config{APIToken: opts.apiToken}, st))
	t.Cleanup(srv.Close)
	return &stack{URL: srv.URL, Daemon: d, Emu: emu, Svc: st, Start: start}
}
