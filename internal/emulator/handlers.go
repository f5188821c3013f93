package emulator

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// result is the body shape the real server uses for register's answers.
type result struct {
	Success bool   `json:"success"`
	Summary string `json:"summary"`
}

// alreadyRegistered is the real server's answer to a repeat registration.
type alreadyRegistered struct {
	Success       bool   `json:"success"`
	Summary       string `json:"summary"`
	LastScannedAt string `json:"last_scanned_at"`
	// LastScanReport is always null, as the contract records; the
	// emulator has no report contents to inline.
	LastScanReport *struct{} `json:"last_scan_report"`
}

// failure is the body shape of report's refusals.
type failure struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type authError struct {
	Error string `json:"error"`
}

type receivedList struct {
	Requests []Request `json:"requests"`
	// Dropped counts the requests that fell out of the bounded log.
	Dropped int `json:"dropped"`
}

var noReport = failure{Status: "failure", Message: "No report found for this repository"}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// An encoding error here can only be a write error: the client is gone.
	_ = json.NewEncoder(w).Encode(body)
}

func handleProbe(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct{}{})
}

type authKey struct{}

// authenticate refuses requests without valid credentials when the server
// has any configured, and otherwise notes which credentials were presented,
// so a test can check that a client sends them even to an open server.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, hasToken := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		secret := r.Header.Get("x-3scale-account-secret")
		hasSecret := secret != ""

		var auth Auth
		switch {
		case s.cfg.Token == "" && s.cfg.ThreeScaleSecret == "":
			auth = AuthNone
			if hasToken {
				auth = AuthBearer
			} else if hasSecret {
				auth = AuthThreeScale
			}
		case hasToken && matches(token, s.cfg.Token):
			auth = AuthBearer
		case hasSecret && matches(secret, s.cfg.ThreeScaleSecret):
			auth = AuthThreeScale
		case r.Header.Get("Authorization") == "" && !hasSecret:
			// The real server's wording, so clients see what they would see.
			writeJSON(w, http.StatusUnauthorized, authError{"Authentication failed - token missing"})
			return
		default:
			writeJSON(w, http.StatusUnauthorized, authError{"Authentication failed - could not decode JWT token"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey{}, auth)))
	})
}

// matches compares in constant time so response timing does not leak the
// secret; an unconfigured (empty) credential matches nothing.
func matches(presented, configured string) bool {
	return configured != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(configured)) == 1
}

func authFrom(ctx context.Context) Auth {
	if auth, ok := ctx.Value(authKey{}).(Auth); ok {
		return auth
	}
	return AuthNone
}

// decodeJSONBody applies the real server's request rules: the content type
// must be exactly application/json (it compared the whole string, so a
// charset parameter is refused) and the body must decode into dst. It
// returns the body as read; on failure it has answered the request and
// returns false.
func decodeJSONBody(w http.ResponseWriter, r *http.Request, dst any) ([]byte, bool) {
	if r.Header.Get("Content-Type") != "application/json" {
		writeJSON(w, http.StatusBadRequest, result{false, "Set content type to application/json"})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if maxErr, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeJSON(w, http.StatusRequestEntityTooLarge,
				result{false, fmt.Sprintf("Request body is larger than %d bytes", maxErr.Limit)})
			return nil, false
		}
		writeJSON(w, http.StatusBadRequest, result{false, "Could not read the request body: " + err.Error()})
		return nil, false
	}
	if err := json.Unmarshal(body, dst); err != nil {
		writeJSON(w, http.StatusBadRequest, result{false, "Invalid JSON body: " + err.Error()})
		return nil, false
	}
	return body, true
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var reg Registration
	raw, ok := decodeJSONBody(w, r, &reg)
	if !ok {
		return
	}
	s.mu.Lock()
	s.arrivals[reg.GitSHA]++
	s.mu.Unlock()
	if s.serveScripted(w, r, EndpointRegister, raw, &reg, nil) {
		return
	}
	if !hold(r.Context(), s.cfg.RegisterDelay) {
		return // the client went away (timed out, shut down or killed)
	}
	// One critical section, so the log's order is the registrations' order.
	s.mu.Lock()
	status, body, retryAfter := s.registerLocked(reg)
	s.logLocked(r, raw, status, &reg, nil)
	s.mu.Unlock()
	if secs := int(retryAfter / time.Second); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeJSON(w, status, body)
}

// registerLocked validates reg and records it, answering as the real server
// did, with the wait an injected failure asks for. s.mu must be held.
func (s *Server) registerLocked(reg Registration) (status int, body any, retryAfter time.Duration) {
	// The real server answered 404, not 400, to a missing field.
	switch {
	case reg.GitURL == "":
		return http.StatusNotFound, result{false, "git-url cannot be empty"}, 0
	case reg.GitSHA == "":
		return http.StatusNotFound, result{false, "git-sha cannot be empty"}, 0
	}
	if s.failures.remaining > 0 {
		s.failures.remaining--
		return s.failures.status, result{false, "injected failure"}, s.failures.retryAfter
	}
	now := s.cfg.Now()
	repo, known := s.repos[reg.GitURL]
	if !known {
		repo = &repository{commits: make(map[string]time.Time)}
		s.repos[reg.GitURL] = repo
	}
	previous := repo.lastRegisteredAt
	repo.lastRegisteredAt = now
	if _, seen := repo.commits[reg.GitSHA]; !seen {
		repo.commits[reg.GitSHA] = now
	}
	if !known {
		return http.StatusOK, result{true, fmt.Sprintf(
			"Repository %s with commit-hash %s has been successfully registered. Please check back for report after some time.",
			reg.GitURL, reg.GitSHA)}, 0
	}
	return http.StatusOK, alreadyRegistered{
		Success: true,
		Summary: fmt.Sprintf(
			"Repository %s was already registered, but no report for commit-hash %s was found. Please check back later.",
			reg.GitURL, reg.GitSHA),
		LastScannedAt: previous.UTC().Format(http.TimeFormat),
	}, 0
}

func (s *Server) handleScannerError(w http.ResponseWriter, r *http.Request) {
	var report ErrorReport
	raw, ok := decodeJSONBody(w, r, &report)
	if !ok {
		return
	}
	if s.serveScripted(w, r, EndpointScannerError, raw, nil, &report) {
		return
	}
	s.mu.Lock()
	s.logLocked(r, raw, http.StatusOK, nil, &report)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, result{true, "Scanner error report received"})
}

// logLocked records a decoded request in the received-requests log. s.mu
// must be held.
func (s *Server) logLocked(r *http.Request, body []byte, status int, reg *Registration, report *ErrorReport) {
	s.received.add(Request{
		Time:         s.cfg.Now(),
		Path:         r.URL.Path,
		Auth:         authFrom(r.Context()),
		Status:       status,
		Registration: reg,
		ErrorReport:  report,
		Method:       r.Method,
		Header:       r.Header.Clone(),
		Body:         body,
	})
}

func (s *Server) handleReceivedList(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	list := receivedList{Requests: s.received.all(), Dropped: s.received.dropped}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleReceivedClear(w http.ResponseWriter, _ *http.Request) {
	s.ClearReceived()
	w.WriteHeader(http.StatusNoContent)
}
