package ui_test

// The one place where the browser tests meet the service: the real server
// (server.Run, the program behind cmd/server) on a free port, with its
// queue on SQLite, the real Docker daemon as the label source (and, when a
// test asks, go-containerregistry's registry as a second one) and the
// analytics emulator as the analytics server. The tests reach scans only
// through the server's JSON API, checked against openapi.yaml.

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/registrytest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/server"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// stack is the real server with a real daemon and analytics server.
type stack struct {
	URL    string // the server's base URL, http://127.0.0.1:port
	Daemon *dockertest.Daemon
	API    *apitest.Client
	// Logs is everything the server logged.
	Logs *logtest.Buffer
	// Registry is the registry's host:port when the stack has one.
	Registry string
	gate     *gate
}

type stackOptions struct {
	apiToken string
	// held gives the server one worker and holds it on a first scan whose
	// registration waits at a gate, so that later scans stay queued until
	// Release.
	held bool
	// registry adds a registry and enables it as a source beside the
	// daemon, which stays the default.
	registry bool
}

// startTimeout bounds the server's start-up, migrations included.
const startTimeout = 30 * time.Second

func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	d := dockertest.New(t)
	g := &gate{open: make(chan struct{}), arrived: make(chan struct{}, 64)}
	if !opts.held {
		g.release()
	}
	peer := httptest.NewServer(g.wrap(emulator.New(emulator.Config{})))
	t.Cleanup(peer.Close)

	workers := 2
	if opts.held {
		workers = 1
	}
	var registryHost string
	var sources []string
	if opts.registry {
		reg := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
		t.Cleanup(reg.Close)
		registryHost = strings.TrimPrefix(reg.URL, "http://")
		sources = []string{scan.SourceDaemon, scan.SourceRegistry}
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	cfg := server.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(),
		AnalyticsURL: peer.URL + "/api/v1", AnalyticsTimeout: time.Minute,
		Workers: workers, MaxAttempts: 3, RetryBase: 100 * time.Millisecond, RetryMax: time.Second,
		JobTimeout: 2 * time.Minute, Retention: time.Hour, MaxQueueDepth: 100, MaxWait: time.Minute,
		APIToken: opts.apiToken, ShutdownTimeout: 10 * time.Second, LogLevel: "info",
		Source: scan.SourceDaemon, Sources: sources, RegistryTimeout: 30 * time.Second,
		// The report follow-up asks at once and then every second, so a
		// report shows within a test's patience.
		ReportInterval: time.Second, ReportDeadline: time.Minute,
		// Every record is POSTed, signed, to a receiver that takes it.
		NotifyURL: receiver.URL + "/hook", NotifySecret: "ui-notify-" + testenv.RandomHex(12),
	}
	logs := &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the server: %v", err)
			}
		case <-time.After(cfg.ShutdownTimeout + 10*time.Second):
			t.Errorf("the server did not stop within %s of the cancel", cfg.ShutdownTimeout+10*time.Second)
		}
	})
	// Registered after the server's stop, so it runs before it: a held
	// registration is let go rather than cut off by the shutdown.
	t.Cleanup(g.release)

	s := &stack{URL: "http://" + listenAddr(t, logs, done), Daemon: d, Logs: logs, Registry: registryHost, gate: g}
	s.API = apitest.NewClient(t, s.URL, opts.apiToken)
	if opts.held {
		blocker := labelled(t, s, "ui-blocker", "https://github.com/example/ui-blocker", "b10c4e5", "dev@example.org")
		s.submit(t, blocker)
		select {
		case <-g.arrived:
		case <-time.After(time.Minute):
			t.Fatal("the first scan's registration never reached the analytics server")
		}
	}
	return s
}

// listenAddr waits for the server's "listening" log line and returns its
// address; the server ending first fails the test.
func listenAddr(t *testing.T, logs *logtest.Buffer, done <-chan error) string {
	t.Helper()
	deadline := time.After(startTimeout)
	for {
		for _, line := range logs.Lines(t) {
			if addr, ok := line["addr"].(string); ok && line["message"] == "listening" {
				return addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the server ended before listening: %v\n%s", err, logs.String())
		case <-deadline:
			t.Fatalf("no listening line in the log after %s:\n%s", startTimeout, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Release lets held registrations through: the worker frees up and the
// queued scans run.
func (s *stack) Release() { s.gate.release() }

// gate holds register requests to the analytics server until it opens.
type gate struct {
	open    chan struct{}
	once    sync.Once
	arrived chan struct{} // one token per register request that arrived
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

func (g *gate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/register") {
			select {
			case g.arrived <- struct{}{}:
			default:
			}
			select {
			case <-g.open:
			case <-r.Context().Done():
				return // the scanner gave up (its timeout, or shutdown)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// submit queues a scan of image through the API and returns its record.
func (s *stack) submit(t *testing.T, image string) scan.Record {
	t.Helper()
	r := s.API.PostJSON("/scan", map[string]string{"image": image})
	if r.StatusCode != http.StatusAccepted && r.StatusCode != http.StatusOK {
		t.Fatalf("POST /scan %s: %d %s", image, r.StatusCode, r.Body)
	}
	var rec scan.Record
	r.JSON(t, &rec)
	return rec
}

// get returns the record of scan id through the API.
func (s *stack) get(t *testing.T, id string) scan.Record {
	t.Helper()
	r := s.API.Get("/scan/" + id)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /scan/%s: %d %s", id, r.StatusCode, r.Body)
	}
	var rec scan.Record
	r.JSON(t, &rec)
	return rec
}

// scanned submits a scan of image and waits for its end.
func scanned(t *testing.T, s *stack, image string) scan.Record {
	t.Helper()
	r := s.API.PostJSON("/scan?wait=60s", map[string]string{"image": image})
	var rec scan.Record
	if err := json.Unmarshal(r.Body, &rec); err != nil || r.StatusCode != http.StatusOK || !rec.Status.Final() {
		t.Fatalf("scan of %s: %d %s; want it final", image, r.StatusCode, r.Body)
	}
	return rec
}

// pushLabelled pushes a small image whose config carries labels to the
// stack's registry as repo:tag and returns its reference and manifest
// digest.
func pushLabelled(t *testing.T, s *stack, repoTag string, labels map[string]string) (ref, digest string) {
	t.Helper()
	img := registrytest.Image(t, labels, nil)
	ref = s.Registry + "/" + repoTag
	tag, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref, d.String()
}
