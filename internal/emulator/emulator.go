// Package emulator stands in for the fabric8 analytics server, so that the
// scanner can run in a local stack and in end-to-end tests without the real
// service and its credentials.
//
// It answers register, report, readiness and liveness as the real server
// (fabric8-gemini-server) did, and scanner-error as the mock used to develop
// the original scanner did, under both "/" and "/api/v1/", with the status
// codes and JSON bodies of the analytics server's contract (the project's
// analytics-server-contract document, kept with its shared docs). On top,
// it records what it received for tests to inspect (GET /received, or the
// Go accessors) and can inject failures to exercise a client's retries.
package emulator

import (
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
)

// MaxBodyBytes bounds a request body. The real payloads are a few hundred
// bytes; the bound only keeps a misbehaving client from exhausting memory.
const MaxBodyBytes = 1 << 20

// DefaultMaxReceived is how many received requests are kept when
// Config.MaxReceived is zero.
const DefaultMaxReceived = 10_000

// Config sets up a Server. The zero value is a server without authentication
// whose reports are ready as soon as a repository is registered.
type Config struct {
	// Token, when set, is accepted as "Authorization: Bearer <Token>".
	Token string
	// ThreeScaleSecret, when set, is accepted as "x-3scale-account-secret".
	// When Token or ThreeScaleSecret is set, register, report and
	// scanner-error need one of them.
	ThreeScaleSecret string
	// ReportDelay is how long after its registration a commit's report
	// stays "not found", as while the real server analysed it.
	ReportDelay time.Duration
	// Now is the clock; nil means time.Now. Tests inject one to step over
	// ReportDelay without sleeping.
	Now func() time.Time
	// MaxReceived bounds the received-requests log, oldest dropped first;
	// zero means DefaultMaxReceived.
	MaxReceived int
	// RegisterDelay holds each well-formed registration this long before
	// it is answered, as a slow server would; longer than a client's
	// timeout, it is a hung server. A client that goes away meanwhile gets
	// no answer and nothing is registered or logged. Arrivals counts the
	// registrations as they arrive, before the hold.
	RegisterDelay time.Duration
	// LockFileAbsent lists git-urls whose reports, once ReportDelay has
	// passed, answer 400 lock_file_absent instead of a report.
	LockFileAbsent []string
}

// Server is the emulated analytics server. It is an http.Handler and is safe
// for concurrent use.
type Server struct {
	cfg    Config
	router chi.Router

	mu       sync.Mutex
	repos    map[string]*repository // by git-url
	received requestLog
	// reports logs the report requests (see ReportRequests).
	reports requestLog
	// failures is what FailNext asked for: the next failures.remaining
	// register requests answer failures.status.
	failures struct {
		remaining, status int
		retryAfter        time.Duration
	}
	// arrivals counts well-formed register requests by git-sha as they
	// arrive, held or not.
	arrivals map[string]int
	// reportFailures is the same for report requests (FailNextReport).
	reportFailures struct{ remaining, status int }
	// scripts holds what Script and Always asked, by endpoint.
	scripts map[Endpoint]script
}

// repository is what the emulator remembers of one registered git-url.
type repository struct {
	lastRegisteredAt time.Time
	// commits maps each registered git-sha to its first registration, the
	// moment its analysis "started".
	commits map[string]time.Time
}

// New returns a Server configured by cfg.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxReceived <= 0 {
		cfg.MaxReceived = DefaultMaxReceived
	}
	s := &Server{
		cfg:      cfg,
		repos:    make(map[string]*repository),
		arrivals: make(map[string]int),
		scripts:  make(map[Endpoint]script),
		received: requestLog{limit: cfg.MaxReceived},
		reports:  requestLog{limit: cfg.MaxReceived},
	}
	s.router = s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.router.ServeHTTP(w, r)
}

// routes lists the whole API. The server's endpoints are mounted twice
// because the original scanner called "/register" while the real server
// served "/api/v1/register"; /received is the emulator's own and lives only
// at the root.
func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Group(s.analyticsAPI)
	r.Route("/api/v1", s.analyticsAPI)
	r.Get("/received", s.handleReceivedList)
	r.Delete("/received", s.handleReceivedClear)
	return r
}

func (s *Server) analyticsAPI(r chi.Router) {
	r.Get("/readiness", handleProbe)
	r.Get("/liveness", handleProbe)
	r.Group(func(r chi.Router) {
		r.Use(s.authenticate)
		r.Post("/register", s.handleRegister)
		r.Post("/scanner-error", s.handleScannerError)
		r.Get("/report", s.handleReport)
	})
}

// FailNext makes the next n register requests that would otherwise succeed
// answer status with {"success": false, "summary": "injected failure"},
// without registering anything, so that a client's retries can be tested.
// Requests refused for their own fault (auth, content type, body) do not use
// one up. n <= 0 cancels a pending injection.
func (s *Server) FailNext(n int, status int) { s.FailNextRetryAfter(n, status, 0) }

// FailNextRetryAfter is FailNext with a Retry-After header, in whole
// seconds, on each injected failure (none when retryAfter is under a
// second): a rate-limited or overloaded server asking for a wait.
func (s *Server) FailNextRetryAfter(n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures.remaining = max(n, 0)
	s.failures.status = status
	s.failures.retryAfter = retryAfter
}

// Arrivals returns how many well-formed register requests have arrived, in
// all and by git-sha, counting those still held by RegisterDelay or given
// up by their client.
func (s *Server) Arrivals() (total int, bySHA map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bySHA = make(map[string]int, len(s.arrivals))
	for sha, n := range s.arrivals {
		bySHA[sha] = n
		total += n
	}
	return total, bySHA
}

// Registrations returns, oldest first, the register requests that were
// answered 200 (first or repeat registrations) and are still in the log.
func (s *Server) Registrations() []Registration {
	var out []Registration
	for _, req := range s.Requests() {
		if req.Registration != nil && req.Status == http.StatusOK {
			out = append(out, *req.Registration)
		}
	}
	return out
}

// ErrorReports returns, oldest first, the scanner-error reports that were
// answered 200 and are still in the log.
func (s *Server) ErrorReports() []ErrorReport {
	var out []ErrorReport
	for _, req := range s.Requests() {
		if req.ErrorReport != nil && req.Status == http.StatusOK {
			out = append(out, *req.ErrorReport)
		}
	}
	return out
}

// Requests returns, oldest first, every logged register and scanner-error
// request, whatever it was answered.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received.all()
}

// ClearReceived empties the received-requests log. Registered repositories
// are kept: they are the server's state, not a record of traffic.
func (s *Server) ClearReceived() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received.clear()
	s.reports.clear()
}
