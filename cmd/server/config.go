package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/envconf"
)

// envPrefix prefixes every variable: SCANNER_ADDR, SCANNER_DATABASE_URL...
const envPrefix = "SCANNER_"

// config is the server's whole configuration, read from the environment.
// Docker itself is configured by Docker's own variables (DOCKER_HOST,
// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION).
//
// go-envconfig is used rather than kelseyhightower/envconfig because it
// reads through a lookup function: run takes getenv, so tests pass their own
// environment instead of mutating the process's.
type config struct {
	Addr        string `env:"ADDR, default=:8080" desc:"listen address"`
	DatabaseURL string `env:"DATABASE_URL" desc:"postgres://... for PostgreSQL (any number of replicas); empty: embedded SQLite in DATA_DIR"`
	DataDir     string `env:"DATA_DIR, default=data" desc:"directory of the embedded SQLite database"`

	AnalyticsURL          string        `env:"ANALYTICS_URL" desc:"analytics server base URL: http://host (seed layout) or https://host/api/v1 (real server)"`
	AnalyticsToken        string        `env:"ANALYTICS_TOKEN" desc:"Bearer token for the analytics server; never logged"`
	Analytics3scaleSecret string        `env:"ANALYTICS_3SCALE_SECRET" desc:"x-3scale-account-secret for the analytics server; never logged"`
	AnalyticsTimeout      time.Duration `env:"ANALYTICS_TIMEOUT, default=15s" desc:"timeout of each request to the analytics server"`
	AllowedServers        []string      `env:"ALLOWED_SERVERS" desc:"comma-separated analytics URLs a request may choose with \"server\"; empty: none"`

	Workers       int           `env:"WORKERS, default=4" desc:"scans this replica runs at once"`
	MaxAttempts   int           `env:"MAX_ATTEMPTS, default=5" desc:"tries of a scan failing transiently before it fails"`
	RetryBase     time.Duration `env:"RETRY_BASE, default=2s" desc:"first retry delay; doubles up to RETRY_MAX"`
	RetryMax      time.Duration `env:"RETRY_MAX, default=5m" desc:"longest retry delay"`
	JobTimeout    time.Duration `env:"JOB_TIMEOUT, default=2m" desc:"time limit of one scan attempt"`
	Retention     time.Duration `env:"RETENTION, default=720h" desc:"how long finished scan records are kept"`
	MaxQueueDepth int           `env:"MAX_QUEUE_DEPTH, default=1000" desc:"unfinished scans beyond which POST /scan answers 429"`
	MaxWait       time.Duration `env:"MAX_WAIT, default=60s" desc:"longest ?wait= a client may ask for"`

	APIToken        string        `env:"API_TOKEN" desc:"when set, all but /healthz and /readyz need Authorization: Bearer <token>"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=30s" desc:"on SIGTERM, how long running scans may take to finish"`
	LogLevel        string        `env:"LOG_LEVEL, default=info" desc:"debug, info, warn or error"`
}

// loadConfig reads and checks the configuration through getenv. An empty
// variable counts as unset, as it does for the one-shot scanner. Every error
// names the variable at fault.
func loadConfig(ctx context.Context, getenv func(string) string) (config, error) {
	var c config
	if err := envconf.Load(ctx, &c, envPrefix, getenv); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	switch {
	case c.Workers < 1:
		return c, fmt.Errorf("configuration: %sWORKERS must be at least 1", envPrefix)
	case c.MaxAttempts < 1:
		return c, fmt.Errorf("configuration: %sMAX_ATTEMPTS must be at least 1", envPrefix)
	case c.MaxQueueDepth < 1:
		return c, fmt.Errorf("configuration: %sMAX_QUEUE_DEPTH must be at least 1", envPrefix)
	case c.MaxWait <= 0 || c.MaxWait > 10*time.Minute:
		// Not 0 either: the API would read it as its default of 60s
		// while the HTTP server's write timeout, MAX_WAIT + 30s, would
		// cut such waits at 30s.
		return c, fmt.Errorf("configuration: %sMAX_WAIT must be more than 0 and at most 10m", envPrefix)
	}
	// A negative JOB_TIMEOUT would mean no timeout to River while its
	// rescuer still deemed a scan running for 30 s dead and ran it again;
	// the other durations have no meaningful negative either. RETENTION
	// does: a negative one keeps records forever.
	for name, d := range map[string]time.Duration{
		"ANALYTICS_TIMEOUT": c.AnalyticsTimeout,
		"RETRY_BASE":        c.RetryBase,
		"RETRY_MAX":         c.RetryMax,
		"JOB_TIMEOUT":       c.JobTimeout,
		"SHUTDOWN_TIMEOUT":  c.ShutdownTimeout,
	} {
		if d < 0 {
			return c, fmt.Errorf("configuration: %s%s must not be negative", envPrefix, name)
		}
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil {
		// zerolog's own message says it is "defaulting to NoLevel", which
		// it is not: the server refuses to start.
		return c, fmt.Errorf("configuration: %sLOG_LEVEL is %q; use debug, info, warn or error", envPrefix, c.LogLevel)
	}
	if c.AnalyticsURL != "" {
		// Checked here, before anything is opened, rather than when the
		// first scan builds its client.
		if _, err := analytics.ParseServerURL(c.AnalyticsURL); err != nil {
			return c, fmt.Errorf("configuration: %sANALYTICS_URL: %w", envPrefix, err)
		}
		// The client also refuses credentials it cannot send (a newline
		// in a token); its errors never quote them.
		if _, err := analytics.New(analytics.Config{ServerURL: c.AnalyticsURL,
			Token: c.AnalyticsToken, ThreeScaleSecret: c.Analytics3scaleSecret}); err != nil {
			return c, fmt.Errorf("configuration: %sANALYTICS_TOKEN or %sANALYTICS_3SCALE_SECRET: %w", envPrefix, envPrefix, err)
		}
	}
	return c, nil
}

// defaultOf returns the default of config's field, as its env tag gives it.
func defaultOf(field string) string {
	for _, v := range envconf.Vars(config{}, envPrefix) {
		if v.Field == field {
			return v.Default
		}
	}
	return ""
}

// printConfigTable writes every variable with its default and meaning: the
// table `server --help` shows.
func printConfigTable(w io.Writer) { envconf.PrintTable(w, config{}, envPrefix) }
