package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// RequestIDHeader carries a request's id both ways.
const RequestIDHeader = "X-Request-Id"

// saneRequestID is what an incoming id may look like: enough for UUIDs and
// the ids proxies make, too little for log injection or unbounded growth.
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID gives the request an id (the client's, when sane) and a logger
// that carries it, and echoes the id in the response.
func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !saneRequestID.MatchString(id) {
			id = uuid.NewString()
		}
		w.Header().Set(RequestIDHeader, id)
		log := s.log.With().Str("request_id", id).Logger()
		next.ServeHTTP(w, r.WithContext(log.WithContext(r.Context())))
	})
}

// observe writes one access-log line per request and times it by route
// pattern. It runs after routing has finished, so the pattern is known.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			elapsed := time.Since(start)
			status := ww.Status()
			if status == 0 {
				// Nothing was written: net/http will send a 200.
				status = http.StatusOK
			}
			route := routePattern(r)
			s.metrics.HTTPRequestDuration.
				WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(status)).
				Observe(elapsed.Seconds())
			level := zerolog.InfoLevel
			if status >= 500 {
				level = zerolog.WarnLevel
			}
			// No headers, so no Authorization; no query either, which
			// holds nothing a log needs.
			zerolog.Ctx(r.Context()).WithLevel(level).
				Str("method", r.Method).
				Str("route", route).
				Str("path", logPath(r.URL.Path)).
				Int("status", status).
				Int("bytes", ww.BytesWritten()).
				Float64("duration_ms", float64(elapsed.Microseconds())/1000).
				Str("remote", r.RemoteAddr).
				Msg("request")
		}()
		next.ServeHTTP(ww, r)
	})
}

// routePattern is the chi pattern that served r, or "unmatched", so that
// metric labels stay bounded whatever paths clients try.
func routePattern(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		if p := rctx.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// recoverPanics turns a handler's panic into a logged, JSON 500 instead of
// a dropped connection, unless the answer had already begun.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				// net/http's own way to abort a response: let it through.
				panic(p)
			}
			zerolog.Ctx(r.Context()).Error().
				Str("panic", fmt.Sprint(p)).
				Str("stack", string(debug.Stack())).
				Msg("handler panicked")
			if ww, ok := w.(middleware.WrapResponseWriter); ok && ww.Status() != 0 {
				return // the status is sent; the client sees a cut-off body
			}
			s.writeError(w, r, scan.Errorf(scan.EInternal, "panic: %v", p))
		}()
		next.ServeHTTP(w, r)
	})
}

// requireToken lets a request through only with the configured bearer
// token, when one is configured.
func (s *server) requireToken(next http.Handler) http.Handler {
	if s.cfg.APIToken == "" {
		return next
	}
	want := sha256.Sum256([]byte(s.cfg.APIToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if header == "" {
			s.writeError(w, r, scan.Errorf(EUnauthorized, "this endpoint needs an Authorization: Bearer token"))
			return
		}
		scheme, token, _ := strings.Cut(header, " ")
		// Comparing digests keeps the comparison constant-time whatever
		// the lengths; the token itself never reaches a message or a log.
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			s.writeError(w, r, scan.Errorf(EUnauthorized, "the bearer token is not valid"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, scan.Errorf(scan.ENotFound, "no such path: %s", quote(r.URL.Path)))
}

// handleMethodNotAllowed answers 405 with the Allow header chi's own handler
// would have set: a custom handler is not told the allowed methods, so they
// are found again by matching the path with each method.
func (s *server) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if s.router.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allowed = append(allowed, m)
		}
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	s.writeError(w, r, scan.Errorf(EMethodNotAllowed, "%s is not allowed on %s; use %s",
		methodLabel(r.Method), quote(r.URL.Path), strings.Join(allowed, " or ")))
}
