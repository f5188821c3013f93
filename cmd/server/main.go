// Command server is the scan-request REST service: POST /scan queues a scan
// of an image on a durable queue, workers inspect the image on the Docker
// daemon and register its labels with the analytics server, and every
// result is stored and served. See the README and openapi.yaml.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/docker"
	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/probe"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/queue"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `Usage:
  server              run the scan service (configured by the environment below)
  server healthcheck [URL]
                      GET URL (default: /healthz on SCANNER_ADDR, at 127.0.0.1 when
                      it names no host) and exit 0 if it answers 200: the image has
                      no shell or curl for health checks
  server --help | --version

Exit status: 0 after a clean shutdown (SIGTERM or SIGINT), 1 on a start-up
or runtime error (bad configuration, address in use, database unreachable),
2 on a usage error.

Docker is configured by its own variables: DOCKER_HOST, DOCKER_TLS_VERIFY,
DOCKER_CERT_PATH, DOCKER_API_VERSION.

Environment:
`

// run is the whole program; main only wires it to the process so that tests
// can run the real server in-process with their own environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help", "help":
			fmt.Fprint(stdout, usage)
			printConfigTable(stdout)
			return nil
		case "-version", "--version", "version":
			fmt.Fprintln(stdout, "server", version)
			return nil
		case "healthcheck":
			return healthcheck(ctx, args[1:], getenv, stdout)
		default:
			fmt.Fprint(stderr, usage)
			printConfigTable(stderr)
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
	}

	cfg, err := loadConfig(ctx, getenv)
	if err != nil {
		return err
	}
	level, err := zerolog.ParseLevel(cfg.LogLevel) // checked by loadConfig
	if err != nil {
		return fmt.Errorf("configuration: %sLOG_LEVEL: %w", envPrefix, err)
	}
	log := zerolog.New(stderr).Level(level).With().Timestamp().Str("service", "scanner").Logger()

	allowed, err := normalizeServers(cfg.AllowedServers)
	if err != nil {
		return err
	}

	// Bind first: a port in use is the most common start-up failure and
	// should be reported before anything else is opened.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()

	source, err := docker.New()
	if err != nil {
		return err
	}
	defer source.Close()

	m := metrics.New()
	scanners := &scannerSet{cfg: cfg, source: source, metrics: m, log: log}
	if cfg.AnalyticsURL == "" {
		log.Warn().Msg(envPrefix + "ANALYTICS_URL is not set: scans will fail until it is")
	}

	dataDir := cfg.DataDir
	if cfg.DatabaseURL != "" {
		// DATA_DIR only holds the default SQLite database; the store would
		// create it all the same, failing where the working directory is
		// not writable.
		dataDir = ""
	}
	st, err := queue.Open(ctx, queue.Config{
		DatabaseURL:   cfg.DatabaseURL,
		DataDir:       dataDir,
		Workers:       cfg.Workers,
		MaxAttempts:   cfg.MaxAttempts,
		RetryBase:     cfg.RetryBase,
		RetryMax:      cfg.RetryMax,
		JobTimeout:    cfg.JobTimeout,
		Retention:     cfg.Retention,
		MaxQueueDepth: cfg.MaxQueueDepth,
		ScannerFor:    scanners.forServer,
		Metrics:       m,
		Log:           log,
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

	// Cancelled when shutdown starts, so that held ?wait= requests answer
	// at once instead of holding the shutdown for up to MAX_WAIT.
	draining, drain := context.WithCancel(context.WithoutCancel(ctx))
	defer drain()

	handler := api.New(api.Config{
		APIToken:       cfg.APIToken,
		AllowedServers: allowed,
		MaxWait:        cfg.MaxWait,
		Checks: []api.Check{
			{Name: "store", Check: st.Ping},
			{Name: "docker", Check: source.Ping},
		},
		Metrics:  m,
		Log:      log,
		Draining: draining,
	}, st)

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// WriteTimeout must outlast the longest ?wait=.
		WriteTimeout: cfg.MaxWait + 30*time.Second,
		IdleTimeout:  2 * time.Minute,
	}

	// The workers get a context that SIGTERM does not cancel: Stop drains
	// them with a deadline instead of killing scans mid-registration.
	if err := st.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	logStart(log, cfg, ln.Addr().String())

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		// Serve only returns early on a listener failure.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = st.Stop(shutdownCtx)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info().Dur("timeout", cfg.ShutdownTimeout).Msg("shutting down: no new requests, letting running scans finish")
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

func logStart(log zerolog.Logger, cfg config, addr string) {
	// Only the kind of a PostgreSQL URL is shown: the URL may hold a
	// password. A sqlite: URL is a file path.
	db := "sqlite (" + cfg.DataDir + ")"
	switch {
	case strings.HasPrefix(cfg.DatabaseURL, "postgres://") || strings.HasPrefix(cfg.DatabaseURL, "postgresql://"):
		db = "postgresql"
	case cfg.DatabaseURL != "":
		db = "sqlite (" + cfg.DatabaseURL + ")"
	}
	log.Info().
		Str("version", version).
		Str("addr", addr).
		Str("database", db).
		Str("analytics_url", redactURL(cfg.AnalyticsURL)).
		Bool("analytics_token_set", cfg.AnalyticsToken != "").
		Bool("analytics_3scale_secret_set", cfg.Analytics3scaleSecret != "").
		Bool("api_token_set", cfg.APIToken != "").
		Int("workers", cfg.Workers).
		Int("max_attempts", cfg.MaxAttempts).
		Msg("listening")
}

func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := analytics.ParseServerURL(raw)
	if err != nil {
		return "(invalid)"
	}
	return u.Redacted()
}

// normalizeServers parses the allow-list so that requests can be matched
// against it exactly.
func normalizeServers(raw []string) ([]string, error) {
	var out []string
	for _, s := range raw {
		if strings.TrimSpace(s) == "" {
			continue
		}
		u, err := analytics.ParseServerURL(s)
		if err != nil {
			return nil, fmt.Errorf("configuration: %sALLOWED_SERVERS: %w", envPrefix, err)
		}
		// The entry as written becomes the "server" of records, which
		// every API client reads, and of the store's log lines: a
		// password in it would be shown to all of them.
		if u.User != nil {
			return nil, fmt.Errorf("configuration: %sALLOWED_SERVERS: the entry for host %q holds a user name or password; "+
				"entries are shown in scan records and logs, so credentials go in %sANALYTICS_TOKEN or %sANALYTICS_3SCALE_SECRET",
				envPrefix, u.Host, envPrefix, envPrefix)
		}
		out = append(out, u.String())
	}
	return out, nil
}

// scannerSet builds one scanner per analytics server and reuses it, so that
// each server's client keeps its connections.
type scannerSet struct {
	cfg     config
	source  scan.LabelSource
	metrics *metrics.Metrics
	log     zerolog.Logger

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
	sc := &scan.Scanner{Source: s.source, Retry: reportRetry, Log: s.log}
	if url == "" {
		sc.RegistrarErr = errors.New("no analytics server: " + envPrefix + "ANALYTICS_URL is not set")
	} else {
		// Credentials go to the default server and to servers the
		// operator allowed; a request cannot name any other.
		client, err := analytics.New(analytics.Config{
			ServerURL:        url,
			Token:            s.cfg.AnalyticsToken,
			ThreeScaleSecret: s.cfg.Analytics3scaleSecret,
			Timeout:          s.cfg.AnalyticsTimeout,
			Transport:        s.metrics.InstrumentTransport(http.DefaultTransport),
			UserAgent:        "analytics-scanner-server/" + version,
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

// healthcheck is for container health checks in an image without a shell.
// Without a URL it checks the server the environment configures, so that a
// health check keeps working when SCANNER_ADDR moves the port.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var url string
	switch len(args) {
	case 0:
		addr := getenv(envPrefix + "ADDR")
		if addr == "" {
			addr = defaultOf("Addr")
		}
		var err error
		if url, err = healthzURL(addr); err != nil {
			return err
		}
	case 1:
		url = args[0]
	default:
		return fmt.Errorf("%w: healthcheck takes one URL, not %q", errUsage, args)
	}
	if err := probe.Get(ctx, url, 5*time.Second); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// healthzURL is the /healthz URL of a server listening on addr: an address
// with no host or an unspecified one is reached on 127.0.0.1.
func healthzURL(addr string) (string, error) {
	url, err := probe.LocalURL(addr, "/healthz")
	if err != nil {
		return "", fmt.Errorf("healthcheck: %sADDR=%q: %w", envPrefix, addr, err)
	}
	return url, nil
}
