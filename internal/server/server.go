// Package server is the program behind cmd/server: the scan-request REST
// service. Run wires the label sources (the Docker daemon, registries), the analytics clients, the
// durable queue and the HTTP API together, serves, and shuts down in order.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/docker"
	"github.com/centos-pipeline/analytics-scanner/internal/hooks"
	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/notify"
	"github.com/centos-pipeline/analytics-scanner/internal/probe"
	"github.com/centos-pipeline/analytics-scanner/internal/queue"
	"github.com/centos-pipeline/analytics-scanner/internal/registry"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/ui"
)

// Run is the whole service: it serves until ctx is done, then stops taking
// requests and lets running scans finish for up to cfg.ShutdownTimeout. Logs
// go to logOut. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg Config, logOut io.Writer) error {
	if err := cfg.check(); err != nil {
		return err
	}
	level, _ := zerolog.ParseLevel(cfg.LogLevel) // checked above
	// Every line is scrubbed on its way out, whatever logged it (a
	// dependency's error, an analytics server's answer), after the
	// console format has made it text.
	scrub := cfg.scrubber()
	logOut, _ = logWriter(logOut, cfg.LogFormat, scrub.Writer) // checked above
	log := zerolog.New(logOut).Level(level).With().Timestamp().Str("service", "scanner").Logger()
	allowed, _ := api.ParseAllowList(cfg.AllowedServers) // checked above
	allowedCallbacks, _ := api.ParseAllowList(cfg.AllowedCallbacks)
	var notifier *notify.Notifier
	if cfg.NotifySecret != "" {
		var err error
		// Its errors never hold the secret.
		if notifier, err = notify.New(notify.Config{Secret: []byte(cfg.NotifySecret), UserAgent: "analytics-scanner/" + cfg.Version}); err != nil {
			return fmt.Errorf("configuration: %s_NOTIFY_SECRET: %w", EnvPrefix, err)
		}
	}
	if cfg.Dev {
		stopDev, err := devSetup(&cfg, log)
		defer stopDev()
		if err != nil {
			return err
		}
	}

	// Bind first: a port in use is the most common start-up failure and
	// should be reported before anything else is opened.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	if cfg.PprofAddr != "" {
		pln, err := net.Listen("tcp", cfg.PprofAddr)
		if err != nil {
			return fmt.Errorf("listen on %s_PPROF_ADDR %s: %w", EnvPrefix, cfg.PprofAddr, err)
		}
		pprofCtx, stopPprof := context.WithCancel(context.WithoutCancel(ctx))
		pprofDone := make(chan struct{})
		go func() { defer close(pprofDone); servePprof(pprofCtx, pln, log) }()
		defer func() { stopPprof(); <-pprofDone }()
	}

	sources, checks, closeSources, err := openSources(cfg)
	if err != nil {
		return err
	}
	defer closeSources()
	labelKeys, _ := scan.ParseLabelKeys(cfg.LabelKeys) // checked above
	var index *docker.Index
	if d, ok := sources[scan.SourceDaemon].(*docker.Source); ok {
		index = docker.NewIndex(d, log.With().Str("component", "docker-index").Logger())
		indexCtx, stopIndex := context.WithCancel(context.WithoutCancel(ctx))
		indexDone := make(chan struct{})
		go func() { defer close(indexDone); index.Run(indexCtx) }()
		defer func() { stopIndex(); <-indexDone }()
	}

	m := metrics.New()
	// Not through the instrumented transport: readiness probes would mix
	// with the scans' GETs of reports in its histogram.
	analyticsReady, err := analyticsCheck(cfg, nil)
	if err != nil {
		return fmt.Errorf("analytics readiness: %w", err)
	}
	checks = append(checks, analyticsReady)
	scanners := &scannerSet{cfg: cfg, sources: sources, labelKeys: labelKeys, metrics: m, log: log}
	if cfg.AnalyticsURL == "" {
		log.Warn().Msg(EnvPrefix + "_ANALYTICS_URL is not set: scans will fail until it is")
	}

	st, err := queue.Open(ctx, queue.Config{
		DatabaseURL: cfg.DatabaseURL,
		DataDir:     cfg.DataDir,
		Workers:     cfg.Workers,
		MaxAttempts: cfg.MaxAttempts,
		RetryBase:   cfg.RetryBase,
		RetryMax:    cfg.RetryMax,
		RetryFor:    cfg.RetryFor,
		// The store's zero means its default; the variable's 0 means off.
		ReregisterAfter: cmp.Or(cfg.ReregisterAfter, -1),
		JobTimeout:      cfg.JobTimeout,
		Retention:       cfg.Retention,
		MaxQueueDepth:   cfg.MaxQueueDepth,
		ScannerFor:      scanners.forServer,
		ResolveImage:    resolveDaemonImage(index),
		Scrub:           scrub,
		ReportInterval:  cfg.ReportInterval,
		ReportDeadline:  cfg.ReportDeadline,
		Notifier:        notifier,
		NotifyURL:       cfg.NotifyURL,
		Metrics:         m,
		Log:             log,
	})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	m.RegisterQueueDepth(func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := st.QueueDepth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})

	m.RegisterReportStates(func() map[string]int {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		counts, err := st.ReportStates(ctx)
		if err != nil {
			return nil
		}
		out := make(map[string]int, len(counts))
		for state, n := range counts {
			out[string(state)] = n
		}
		return out
	})

	// Cancelled when shutdown starts, so that held ?wait= requests answer
	// at once instead of holding the shutdown for up to MAX_WAIT.
	draining, drain := context.WithCancel(context.WithoutCancel(ctx))
	defer drain()

	handler := api.New(api.Config{
		APIToken:         cfg.APIToken,
		AllowedServers:   allowed,
		AllowedCallbacks: allowedCallbacks,
		MaxWait:          cfg.MaxWait,
		ReadTimeout:      cfg.ReadTimeout,
		Checks:           append([]api.Check{{Name: "store", Check: st.Ping}}, checks...),
		Metrics:          m,
		Log:              log,
		Draining:         draining,
		Sources:          cfg.enabledSources(),
		DefaultSource:    cfg.Source,
		Hooks: api.HooksConfig{
			Token:     cfg.HookToken,
			Submitter: st,
			Options:   hooks.Options{Host: cfg.HookRegistryHost, IncludeUntagged: cfg.HookUntagged},
		},
		// The page asks for the same token as the API, once, and keeps a
		// session cookie derived from it; its form offers the API's sources.
		Page: ui.New(ui.Config{APIToken: cfg.APIToken, Sources: cfg.enabledSources(), DefaultSource: cfg.Source, Log: log}, st),
	}, st)

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Headers are a few hundred bytes; what is over this gets a 431
		// in the API's error shape (api.Listener).
		MaxHeaderBytes: maxHeaderBytes,
		// WriteTimeout must outlast the longest ?wait=.
		WriteTimeout: cfg.MaxWait + 30*time.Second,
		IdleTimeout:  2 * time.Minute,
	}

	// The workers get a context that SIGTERM does not cancel: Stop drains
	// them with a deadline instead of killing scans mid-registration.
	if err := st.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	logStart(log, cfg, ln.Addr().String(), st.Database())
	if cfg.Dev && cfg.DevOut != nil {
		printDevHint(ctx, cfg.DevOut, cfg, ln.Addr().String(), sources)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(api.Listener(ln)) }()

	select {
	case err := <-serveErr:
		// Serve only returns early on a listener failure.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = st.Stop(shutdownCtx)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info().Int64("timeout_ms", cfg.ShutdownTimeout.Milliseconds()).Msg("shutting down: no new requests, letting running scans finish")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Stop accepting first, then let the workers drain: a scan still
	// running at the deadline is abandoned and picked up again by any
	// replica (or this one after a restart), never lost.
	drain()
	httpErr := srv.Shutdown(shutdownCtx)
	stopErr := st.Stop(shutdownCtx)
	if httpErr != nil && !errors.Is(httpErr, context.DeadlineExceeded) {
		log.Warn().Err(httpErr).Msg("http shutdown")
	}
	if stopErr != nil {
		log.Warn().Err(stopErr).Msg("workers did not all finish before the deadline; their scans will be retried")
	}
	log.Info().Msg("stopped")
	return nil
}

// maxHeaderBytes bounds a request's header block.
const maxHeaderBytes = 64 << 10

func logStart(log zerolog.Logger, cfg Config, addr, database string) {
	analyticsURL := ""
	if cfg.AnalyticsURL != "" {
		analyticsURL = analytics.RedactURL(cfg.AnalyticsURL)
	}
	log.Info().
		Str("version", cfg.Version).
		Str("addr", addr).
		Str("database", database).
		Str("analytics_url", analyticsURL).
		Bool("analytics_token_set", cfg.AnalyticsToken != "").
		Bool("analytics_3scale_secret_set", cfg.Analytics3scaleSecret != "").
		Bool("api_token_set", cfg.APIToken != "").
		Strs("sources", cfg.enabledSources()).
		Str("default_source", cfg.Source).
		Bool("hooks_enabled", cfg.HookToken != "").
		Int("workers", cfg.Workers).
		Int("max_attempts", cfg.MaxAttempts).
		Msg("listening")
}

// openSources opens the label sources the configuration enables, with a
// readiness check for each: "docker" pings the daemon; "registry" pings
// SCANNER_HOOK_REGISTRY_HOST when the hooks are on (the registry that
// notifies is the one scans will read), and otherwise only says the source
// is enabled, since any registry a request names may be asked. A
// service without the daemon source opens no Docker client at all.
func openSources(cfg Config) (map[string]scan.LabelSource, []api.Check, func(), error) {
	sources := map[string]scan.LabelSource{}
	var checks []api.Check
	closeAll := func() {}
	if cfg.enabled(scan.SourceDaemon) {
		d, err := docker.New()
		if err != nil {
			return nil, nil, nil, err
		}
		sources[scan.SourceDaemon] = d
		checks = append(checks, api.Check{Name: "docker", Check: d.Ping})
		closeAll = func() { _ = d.Close() }
	}
	if cfg.enabled(scan.SourceRegistry) {
		platform, _ := registry.ParsePlatform(cfg.Platform) // checked before
		r, err := registry.New(registry.Options{Platform: platform, Insecure: cfg.InsecureRegistries,
			Timeout: cfg.RegistryTimeout})
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("registry source: %w", err)
		}
		sources[scan.SourceRegistry] = r
		check := func(context.Context) error { return nil }
		if host := cfg.HookRegistryHost; host != "" && cfg.HookToken != "" {
			check = func(ctx context.Context) error { return r.Ping(ctx, host) }
		}
		checks = append(checks, api.Check{Name: "registry", Check: check})
	}
	return sources, checks, closeAll, nil
}

// scannerSet builds one scanner per analytics server and reuses it, so that
// each server's client keeps its connections.
type scannerSet struct {
	cfg       Config
	sources   map[string]scan.LabelSource
	labelKeys scan.LabelKeys
	metrics   *metrics.Metrics
	log       zerolog.Logger

	mu       sync.Mutex
	scanners map[string]*scan.Scanner
}

// reportRetry bounds the retries of an error report: the scan is already
// final, so a few quick tries are all it is worth.
var reportRetry = scan.RetryPolicy{MaxTries: 3, InitialInterval: 200 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsed: 10 * time.Second}

func (s *scannerSet) forServer(server string) (*scan.Scanner, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.scanners[server]; ok {
		return sc, nil
	}
	url := server
	if url == "" {
		url = s.cfg.AnalyticsURL
	}
	sc := &scan.Scanner{Source: s.sources[s.cfg.Source], Sources: s.sources, LabelKeys: s.labelKeys,
		Retry: reportRetry, Log: s.log}
	if url == "" {
		sc.RegistrarErr = errors.New("no analytics server: " + EnvPrefix + "_ANALYTICS_URL is not set")
	} else {
		// Credentials go to the default server and to servers the
		// operator allowed; a request cannot name any other.
		client, err := analytics.New(analytics.Config{
			ServerURL:        url,
			Token:            s.cfg.AnalyticsToken,
			ThreeScaleSecret: s.cfg.Analytics3scaleSecret,
			Timeout:          s.cfg.AnalyticsTimeout,
			Transport:        s.metrics.InstrumentTransport(http.DefaultTransport),
			UserAgent:        "analytics-scanner-server/" + s.cfg.Version,
		})
		if err != nil {
			return nil, err
		}
		sc.Registrar = client
	}
	if s.scanners == nil {
		s.scanners = map[string]*scan.Scanner{}
	}
	s.scanners[server] = sc
	return sc, nil
}

// HealthzURL is the /healthz URL of a server listening on addr: an address
// with no host or an unspecified one is reached on 127.0.0.1.
func HealthzURL(addr string) (string, error) {
	url, err := probe.LocalURL(addr, "/healthz")
	if err != nil {
		return "", fmt.Errorf("healthcheck: %s_ADDR=%q: %w", EnvPrefix, addr, err)
	}
	return url, nil
}

// Healthcheck GETs url and wants 200: the image has no shell or curl for
// container health checks.
func Healthcheck(ctx context.Context, url string) error {
	if err := probe.Get(ctx, url, 5*time.Second); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	return nil
}

// HealthcheckURL is the URL `server healthcheck` checks by default: the
// /healthz of the address SCANNER_ADDR names, else of its default.
func HealthcheckURL() (string, error) {
	addr := os.Getenv(EnvPrefix + "_ADDR")
	if addr == "" {
		f, _ := reflect.TypeFor[Config]().FieldByName("Addr")
		addr = f.Tag.Get("default")
	}
	return HealthzURL(addr)
}

// resolveDaemonImage looks a submitted reference up in the daemon's image
// list, kept in memory (docker.Index), so that one image submitted under its
// name and its ids is one scan without a daemon call per accept. Registry
// references are not looked up at submission: that is a network round trip
// per request, and pushes arrive by digest anyway. nil without the daemon
// source.
func resolveDaemonImage(index *docker.Index) func(context.Context, string, string) (string, error) {
	if index == nil {
		return nil
	}
	return func(ctx context.Context, source, ref string) (string, error) {
		if source != scan.SourceDaemon {
			return "", errors.New("only daemon references are resolved at submission")
		}
		return index.Resolve(ctx, ref)
	}
}
