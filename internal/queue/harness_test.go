package queue

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/pgtest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/scan/scantest"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// waitTimeout bounds every wait for a scan in these tests: generous for a
// loaded CI machine, while a hang still fails in reasonable time.
const waitTimeout = 60 * time.Second

// backends are the databases every store test runs on.
var backends = []string{"sqlite", "postgres"}

// eachBackend runs fn once per database, as subtests named after it.
func eachBackend(t *testing.T, fn func(t *testing.T, env *testEnv)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			fn(t, newTestEnv(t, b))
		})
	}
}

// testEnv is one test's world: a database, a real analytics emulator behind
// an HTTP server, and a fake label source (the Docker path is tested in
// internal/docker).
type testEnv struct {
	t       testing.TB
	backend string
	url     string
	dataDir string
	token   string
	emu     *emulator.Server
	emuURL  string
	source  *scantest.LabelSource
	logs    *logtest.Buffer
}

func newTestEnv(t testing.TB, backend string, emuMods ...func(*emulator.Config)) *testEnv {
	t.Helper()
	env := &testEnv{
		t:       t,
		backend: backend,
		dataDir: t.TempDir(),
		token:   "tok-" + testenv.RandomHex(12),
		source:  scantest.NewLabelSource(),
		logs:    &logtest.Buffer{Echo: t},
	}
	if backend == "postgres" {
		env.url = pgtest.SchemaURL(t, "store_test")
	}
	// The emulator demands the token, so every test also checks that the
	// scanner sends it, and the cleanup below that it never leaks.
	emuCfg := emulator.Config{Token: env.token}
	for _, mod := range emuMods {
		mod(&emuCfg)
	}
	env.emu = emulator.New(emuCfg)
	srv := httptest.NewServer(env.emu)
	t.Cleanup(srv.Close)
	env.emuURL = srv.URL
	t.Cleanup(func() {
		env.logs.Stop()
		if strings.Contains(env.logs.String(), env.token) {
			t.Errorf("the analytics token appears in the logs")
		}
	})
	return env
}

// config is the tests' base configuration: fast retries, frequent
// maintenance, the env's scanner.
func (env *testEnv) config() Config {
	return Config{
		DatabaseURL:         env.url,
		DataDir:             env.dataDir,
		Workers:             2,
		MaxAttempts:         3,
		RetryBase:           10 * time.Millisecond,
		RetryMax:            50 * time.Millisecond,
		JobTimeout:          20 * time.Second,
		MaintenanceInterval: time.Hour,
		ScannerFor:          env.scannerFor,
		Log:                 zerolog.New(env.logs).Level(zerolog.DebugLevel).With().Timestamp().Logger(),
	}
}

// scannerFor serves the default server (the emulator) and refuses others,
// as the service refuses servers off its allow-list.
func (env *testEnv) scannerFor(server string) (*scan.Scanner, error) {
	if server != "" {
		return nil, fmt.Errorf("server %q is not configured", server)
	}
	client, err := analytics.New(analytics.Config{ServerURL: env.emuURL, Token: env.token, Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	return &scan.Scanner{Source: env.source, Registrar: client}, nil
}

// open opens a store on the env's database, closed when the test ends.
func (env *testEnv) open(mods ...func(*Config)) *Store {
	env.t.Helper()
	cfg := env.config()
	for _, mod := range mods {
		mod(&cfg)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		env.t.Fatalf("Open: %v", err)
	}
	env.t.Cleanup(func() { closeStore(env.t, s) })
	return s
}

// start opens and starts a store.
func (env *testEnv) start(mods ...func(*Config)) *Store {
	env.t.Helper()
	s := env.open(mods...)
	if err := s.Start(context.Background()); err != nil {
		env.t.Fatalf("Start: %v", err)
	}
	return s
}

// closeStore stops and closes s; it may be called again on a closed store.
func closeStore(t testing.TB, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// image adds an image with all required labels under ref and returns the
// git-url its registration carries, unique to it.
func (env *testEnv) image(ref string) string {
	gitURL := "https://github.com/example/" + strings.NewReplacer("/", "-", ":", "-").Replace(ref)
	env.source.Add(ref, map[string]string{
		scan.LabelGitURL:   gitURL,
		scan.LabelGitSHA:   "0123456789abcdef0123456789abcdef01234567",
		scan.LabelEmailIDs: "dev@example.com",
	})
	return gitURL
}

func submit(t *testing.T, s *Store, image string) scan.Record {
	t.Helper()
	rec, created, err := s.Submit(context.Background(), scan.Request{Image: image})
	if err != nil {
		t.Fatalf("Submit(%q): %v", image, err)
	}
	if !created {
		t.Fatalf("Submit(%q) returned existing scan %s, want a new one", image, rec.ID)
	}
	return rec
}

// waitFinal waits until the scan is final.
func waitFinal(t *testing.T, s *Store, id string) scan.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rec, err := s.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait(%s): %v", id, err)
	}
	if !rec.Status.Final() {
		t.Fatalf("scan %s still %s after %v (attempts %d, last error %q)", id, rec.Status, waitTimeout, rec.Attempts, rec.LastError)
	}
	return rec
}

// waitStatus polls until the scan has the status.
func waitStatus(t *testing.T, s *Store, id string, want scan.Status) scan.Record {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		rec, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		if rec.Status == want {
			return rec
		}
		if rec.Status.Final() || time.Now().After(deadline) {
			t.Fatalf("scan %s is %s, want %s", id, rec.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitReports waits until the emulator has received n error reports, sent
// by their own jobs after the scans ended, and returns them; a moment more
// shows whether any more follow.
func (env *testEnv) waitReports(t *testing.T, n int) []emulator.ErrorReport {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for len(env.emu.ErrorReports()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	return env.emu.ErrorReports()
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := scan.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// metric finds the sample of a metric family whose only label has the
// value (any sample when label is ""), or nil.
func metric(t *testing.T, m *metrics.Metrics, name, label string) *dto.Metric {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			if label == "" || len(s.GetLabel()) == 1 && s.GetLabel()[0].GetValue() == label {
				return s
			}
		}
	}
	return nil
}

func counterValue(t *testing.T, m *metrics.Metrics, name, label string) float64 {
	t.Helper()
	return metric(t, m, name, label).GetCounter().GetValue()
}

func histogramCount(t *testing.T, m *metrics.Metrics, name, label string) uint64 {
	t.Helper()
	return metric(t, m, name, label).GetHistogram().GetSampleCount()
}
