// Package api is the service's HTTP API: scans are submitted, followed,
// listed and deleted over JSON, next to health, readiness, metrics and the
// OpenAPI document that is the API's contract (openapi.yaml at the
// repository root). It turns requests into calls of a scan.Service and the
// service's errors into one JSON error shape; it knows nothing of queues,
// SQL or Docker.
package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Defaults for the zero values of Config.
const (
	// DefaultMaxBodyBytes bounds a submit body: a reference is at most a
	// few hundred bytes, so 64 KiB is generous and still cheap to buffer.
	DefaultMaxBodyBytes = 64 << 10
	// DefaultMaxWait bounds ?wait=: long enough to cover a normal scan,
	// short enough for proxies that cut idle requests at a minute or two.
	DefaultMaxWait = 60 * time.Second
	// DefaultRetryAfter is the polling interval suggested with a 202.
	DefaultRetryAfter = 2 * time.Second
	// DefaultBusyRetryAfter is suggested with a 429 or 503: longer than the
	// polling interval, so that an overloaded service is given room.
	DefaultBusyRetryAfter = 10 * time.Second
	// DefaultCheckTimeout bounds each readiness check.
	DefaultCheckTimeout = 2 * time.Second
)

// Config configures the API. The zero value serves an open API (no token,
// no request-chosen servers) with the defaults above.
type Config struct {
	// APIToken, when set, is required as "Authorization: Bearer <token>" on
	// every endpoint but /healthz and /readyz. It is never logged.
	APIToken string
	// AllowedServers lists the analytics servers a request may name in
	// "server". The zero value means requests cannot choose a server.
	AllowedServers AllowList
	// AllowedCallbacks lists the URLs a request may name in "callback_url",
	// matched as servers are. The zero value allows none.
	AllowedCallbacks AllowList
	// MaxBodyBytes bounds a request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ReadTimeout bounds the arrival of a request's body; zero means
	// DefaultReadTimeout.
	ReadTimeout time.Duration
	// MaxWait bounds ?wait=; zero means DefaultMaxWait.
	MaxWait time.Duration
	// RetryAfter is the polling interval suggested with a 202; zero means
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// BusyRetryAfter is suggested with a 429 (queue full) or 503; zero means
	// DefaultBusyRetryAfter.
	BusyRetryAfter time.Duration
	// Checks are the readiness checks, e.g. the Docker daemon's ping. The
	// service's Ping is checked as "store" unless Checks has a "store".
	Checks []Check
	// CheckTimeout bounds each check; zero means DefaultCheckTimeout.
	CheckTimeout time.Duration
	// Metrics serves /metrics and times every request. Nil means a fresh
	// metrics.New(), so that /metrics always answers.
	Metrics *metrics.Metrics
	// Log receives the access log and internal errors; its zero value
	// discards them.
	Log zerolog.Logger
	// Draining, when done, ends every held ?wait= at once (the answer is
	// then 202 with the record as it stands). The server cancels it when
	// it starts shutting down.
	Draining context.Context
	// Page is the page for people (internal/ui), served at / and under
	// /ui/ behind the same request id, access log, metrics and panic
	// recovery as the API. It signs people in itself (a session cookie
	// made from the same token), so the bearer token is not asked of it.
	// Nil serves no page.
	Page http.Handler
	// Sources are the image sources a request may name in "source"
	// (scan.SourceDaemon, scan.SourceRegistry); empty means the daemon
	// only. DefaultSource is the one a request that names none gets;
	// empty means the first of Sources.
	Sources       []string
	DefaultSource string
	// Hooks configures the registry notification endpoints, disabled
	// unless it has a token and a submitter.
	Hooks HooksConfig
}

// Check is a named readiness check. Check returns nil when the dependency
// answers; its error, shortened, is shown by /readyz to anyone.
type Check struct {
	Name  string
	Check func(context.Context) error
}

// server is the API's state: its configuration with defaults applied and the
// service it fronts. Handlers are its methods' results.
type server struct {
	cfg     Config
	svc     scan.Service
	log     zerolog.Logger
	router  *chi.Mux
	checks  []Check
	metrics *metrics.Metrics
}

// New returns the API's handler, serving svc. Readiness checks without a
// name or function, or listed twice, are logged and ignored.
func New(cfg Config, svc scan.Service) http.Handler {
	s := &server{cfg: withDefaults(cfg), svc: svc, log: cfg.Log}
	s.metrics = s.cfg.Metrics
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	// Readiness without the store would send traffic to an API that
	// cannot answer it.
	if !slices.ContainsFunc(cfg.Checks, func(c Check) bool { return c.Name == "store" }) {
		s.checks = append(s.checks, Check{Name: "store", Check: svc.Ping})
	}
	seen := map[string]bool{"store": len(s.checks) > 0}
	for _, check := range cfg.Checks {
		if check.Name == "" || check.Check == nil || seen[check.Name] {
			s.log.Error().Str("check", check.Name).Msg("ignoring a readiness check without a name or function, or listed twice")
			continue
		}
		seen[check.Name] = true
		s.checks = append(s.checks, check)
	}
	s.router = chi.NewRouter()
	s.routes(s.router)
	return s.router
}

func withDefaults(c Config) Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.BusyRetryAfter <= 0 {
		c.BusyRetryAfter = DefaultBusyRetryAfter
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = DefaultCheckTimeout
	}
	if len(c.Sources) == 0 {
		c.Sources = []string{scan.SourceDaemon}
	}
	if c.DefaultSource == "" {
		c.DefaultSource = c.Sources[0]
	}
	if c.Hooks.MaxBodyBytes <= 0 {
		c.Hooks.MaxBodyBytes = DefaultHookBodyBytes
	}
	return c
}
