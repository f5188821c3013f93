package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
)

func TestPprofAddrLoopbackUnlessPublic(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		refused bool
	}{
		{map[string]string{"SCANNER_PPROF_ADDR": "127.0.0.1:6060"}, false},
		{map[string]string{"SCANNER_PPROF_ADDR": "[::1]:6060"}, false},
		{map[string]string{"SCANNER_PPROF_ADDR": "localhost:6060"}, false},
		{map[string]string{"SCANNER_PPROF_ADDR": ":6060"}, true},
		{map[string]string{"SCANNER_PPROF_ADDR": "0.0.0.0:6060"}, true},
		{map[string]string{"SCANNER_PPROF_ADDR": "10.1.2.3:6060"}, true},
		{map[string]string{"SCANNER_PPROF_ADDR": "6060"}, true},
		{map[string]string{"SCANNER_PPROF_ADDR": ":6060", "SCANNER_PPROF_PUBLIC": "true"}, false},
	} {
		_, err := loadWith(t, tc.env)
		if tc.refused && (err == nil || !strings.Contains(err.Error(), "SCANNER_PPROF_ADDR")) {
			t.Errorf("%v: %v, want an error naming SCANNER_PPROF_ADDR", tc.env, err)
		}
		if !tc.refused && err != nil {
			t.Errorf("%v: %v, want it accepted", tc.env, err)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) (int, string, error) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// The profiles are served on PPROF_ADDR and only there: the API's listener
// answers 404 under /debug/pprof/. The registry source needs no daemon, so
// this runs anywhere.
func TestRunServesPprofOnItsOwnListener(t *testing.T) {
	cfg := Config{Addr: freeAddr(t), PprofAddr: freeAddr(t), DataDir: t.TempDir(), Source: "registry",
		Workers: 1, MaxAttempts: 1, MaxQueueDepth: 1, MaxWait: time.Second, LogLevel: "info",
		ShutdownTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(t.Context())
	var logs logtest.Buffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, &logs) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body, err := get(t, "http://"+cfg.PprofAddr+"/debug/pprof/cmdline")
		if err == nil {
			if status != http.StatusOK || body == "" {
				t.Fatalf("GET /debug/pprof/cmdline on PPROF_ADDR: %d %q", status, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PPROF_ADDR %s not answering after 30s: %v\n%s", cfg.PprofAddr, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, body, err := get(t, "http://"+cfg.PprofAddr+"/debug/pprof/goroutine?debug=1"); err != nil || status != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Errorf("goroutine profile on PPROF_ADDR: %d, %v", status, err)
	}
	for {
		status, _, err := get(t, "http://"+cfg.Addr+"/healthz")
		if err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API listener is not answering: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, _, err := get(t, "http://"+cfg.Addr+"/debug/pprof/cmdline"); err != nil || status != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/cmdline on the API listener: %d, %v; want 404", status, err)
	}
	if !strings.Contains(logs.String(), cfg.PprofAddr) {
		t.Errorf("the log does not name the profiling address:\n%s", logs.String())
	}
}

// Without PPROF_ADDR nothing profiles: no listener is opened.
func TestRunWithoutPprofAddrOpensNoListener(t *testing.T) {
	cfg := Config{Addr: freeAddr(t), DataDir: t.TempDir(), Source: "registry",
		Workers: 1, MaxAttempts: 1, MaxQueueDepth: 1, MaxWait: time.Second, LogLevel: "info",
		ShutdownTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(t.Context())
	var logs logtest.Buffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, &logs) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _, err := get(t, "http://"+cfg.Addr+"/healthz")
		if err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API listener is not answering: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if strings.Contains(logs.String(), "pprof") {
		t.Errorf("a pprof listener was started without PPROF_ADDR:\n%s", logs.String())
	}
}
