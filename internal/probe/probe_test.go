package probe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLocalURL(t *testing.T) {
	tests := []struct {
		addr, path string
		want       string
		wantErr    string // substring; "" means nil
	}{
		{addr: ":8080", path: "/healthz", want: "http://127.0.0.1:8080/healthz"},
		{addr: "0.0.0.0:9090", path: "/healthz", want: "http://127.0.0.1:9090/healthz"},
		{addr: "[::]:8080", path: "/readiness", want: "http://127.0.0.1:8080/readiness"},
		{addr: "[::ffff:0.0.0.0]:8080", path: "/healthz", want: "http://127.0.0.1:8080/healthz"},
		{addr: "127.0.0.1:9001", path: "/healthz", want: "http://127.0.0.1:9001/healthz"},
		{addr: "[::1]:9000", path: "/readiness", want: "http://[::1]:9000/readiness"},
		{addr: "[fe80::1%eth0]:9000", path: "/healthz", want: "http://[fe80::1%25eth0]:9000/healthz"},
		{addr: "scanner:8080", path: "/healthz", want: "http://scanner:8080/healthz"},
		{addr: "localhost:http", path: "/", want: "http://localhost:http/"},
		{addr: "8080", path: "/healthz", wantErr: "missing port"},
		{addr: "", path: "/healthz", wantErr: "missing port"},
		{addr: "::1:8080", path: "/healthz", wantErr: "too many colons"},
		{addr: ":0", path: "/healthz", wantErr: "no fixed port"},
		{addr: "127.0.0.1:", path: "/healthz", wantErr: "no fixed port"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := LocalURL(tt.addr, tt.path)
			switch {
			case tt.wantErr == "" && (err != nil || got != tt.want):
				t.Errorf("LocalURL(%q, %q) = %q, %v; want %q", tt.addr, tt.path, got, err, tt.want)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("LocalURL(%q, %q) = %q, %v; want an error containing %q", tt.addr, tt.path, got, err, tt.wantErr)
			}
		})
	}
}

// TestLocalURLIsReachable: the URL LocalURL gives for a server listening on
// all interfaces reaches that server.
func TestLocalURLIsReachable(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	url, err := LocalURL(":"+port, "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if err := Get(t.Context(), url, 5*time.Second); err != nil {
		t.Errorf("Get(%s) of a server listening on :%s: %v", url, port, err)
	}
}

func TestGet(t *testing.T) {
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/down":
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		case "/hang":
			<-r.Context().Done() // until the client gives up
		default:
			http.NotFound(w, r)
		}
	}))
	defer peer.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/ok"
	closed.Close() // nothing listens there now

	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		wantErr string // substring; "" means nil
		wantIs  error  // when set, errors.Is(err, wantIs) must hold
	}{
		{name: "200", url: peer.URL + "/ok", timeout: 5 * time.Second},
		{name: "a redirect to 200 is followed", url: peer.URL + "/moved", timeout: 5 * time.Second},
		{name: "no timeout", url: peer.URL + "/ok", timeout: 0},
		{name: "404 is named with the URL", url: peer.URL + "/nowhere", timeout: 5 * time.Second, wantErr: peer.URL + "/nowhere answered 404 Not Found"},
		{name: "503", url: peer.URL + "/down", timeout: 5 * time.Second, wantErr: "answered 503 Service Unavailable"},
		{name: "nothing listening", url: closedURL, timeout: 5 * time.Second, wantErr: "connection refused"},
		{name: "a hung server fails at the timeout", url: peer.URL + "/hang", timeout: 100 * time.Millisecond, wantIs: context.DeadlineExceeded},
		{name: "not a URL", url: "http://[::1", timeout: 5 * time.Second, wantErr: "missing ']'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := Get(t.Context(), tt.url, tt.timeout)
			took := time.Since(start)
			switch {
			case tt.wantErr == "" && tt.wantIs == nil && err != nil:
				t.Errorf("Get(%s) returned %v, want nil", tt.url, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Get(%s) returned %v, want an error containing %q", tt.url, err, tt.wantErr)
			case tt.wantIs != nil && !errors.Is(err, tt.wantIs):
				t.Errorf("Get(%s) returned %v, want %v", tt.url, err, tt.wantIs)
			}
			if took > 3*time.Second {
				t.Errorf("Get(%s) took %s", tt.url, took)
			}
		})
	}
}

// TestGetStopsWhenContextIsCanceled: with no timeout of its own, Get still
// ends when its caller's context does.
func TestGetStopsWhenContextIsCanceled(t *testing.T) {
	entered := make(chan struct{})
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	}))
	defer peer.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-entered
		cancel()
	}()
	done := make(chan error, 1)
	go func() { done <- Get(ctx, peer.URL, 0) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Get returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Get did not return after its context was canceled")
	}
}
