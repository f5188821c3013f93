package main

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"--version"}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("--version exited %d: %s", code, stderr.String())
	}
	if got, want := stdout.String(), "chaos "+version.Get().String()+"\n"; got != want {
		t.Errorf("--version printed %q, want %q", got, want)
	}
}

// The service's /readyz asks the analytics server's readiness endpoint:
// the stand-in answers it as the real server does while it answers at all.
func TestStandinReadiness(t *testing.T) {
	st, err := newStandin()
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	c, err := analytics.New(analytics.Config{ServerURL: st.url(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		t.Errorf("answering stand-in: %v, want ready", err)
	}
	if err := st.setMode(modeFail); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err == nil {
		t.Errorf("failing stand-in (%d): ready, want not", http.StatusInternalServerError)
	}
}
