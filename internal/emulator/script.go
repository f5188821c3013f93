package emulator

import (
	"context"
	"io"
	"net/http"
	"time"
)

// Endpoint names one of the emulated server's endpoints, whatever its
// prefix ("/" or "/api/v1/").
type Endpoint string

// The endpoints a script can answer for.
const (
	EndpointRegister     Endpoint = "register"
	EndpointScannerError Endpoint = "scanner-error"
	EndpointReport       Endpoint = "report"
)

// Answer is a scripted reply: what a test wants a client to see instead of
// the real server's answer, down to a malformed body or a hang.
type Answer struct {
	// Status is the status code; it must be set.
	Status int
	// Body is written as is; an empty Body sends none. Content-Type is
	// application/json unless Header sets another.
	Body string
	// Header is added to the answer (e.g. Retry-After).
	Header http.Header
	// Delay holds the answer this long; longer than the client's timeout,
	// it is a hung server. A client that goes away meanwhile gets nothing.
	Delay time.Duration
}

// script is what Script and Always asked of one endpoint.
type script struct {
	queue  []Answer
	always *Answer
}

// Script makes the next len(answers) requests to e answer, in order, with
// answers instead of what the real server would say; after them (and the
// standing answer Always set, if any) e answers as before. It applies to
// requests that got past authentication and, for register and
// scanner-error, decoding, so that their bodies are still logged: a scripted
// request is logged on arrival with the scripted status, before any Delay.
// Script replaces what an earlier Script queued; Script(e) clears it.
func (s *Server) Script(e Endpoint, answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scripts[e]
	sc.queue = append([]Answer(nil), answers...)
	s.scripts[e] = sc
}

// Always makes every request to e, once Script's queue is used up, answer
// a; an Answer without a Status cancels it.
func (s *Server) Always(e Endpoint, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scripts[e]
	sc.always = nil
	if a.Status != 0 {
		sc.always = &a
	}
	s.scripts[e] = sc
}

// scriptedLocked returns the answer scripted for the next request to e, if
// any, and uses it up. s.mu must be held.
func (s *Server) scriptedLocked(e Endpoint) (Answer, bool) {
	sc := s.scripts[e]
	if len(sc.queue) > 0 {
		a := sc.queue[0]
		sc.queue = sc.queue[1:]
		s.scripts[e] = sc
		return a, true
	}
	if sc.always != nil {
		return *sc.always, true
	}
	return Answer{}, false
}

// serveScripted answers r with the answer scripted for e, if there is one,
// logging the request (its decoded body in reg or report) on arrival, and
// says whether it did.
func (s *Server) serveScripted(w http.ResponseWriter, r *http.Request, e Endpoint, raw []byte, reg *Registration, report *ErrorReport) bool {
	s.mu.Lock()
	a, ok := s.scriptedLocked(e)
	if ok {
		s.logLocked(r, raw, a.Status, reg, report)
	}
	s.mu.Unlock()
	if ok {
		writeScripted(w, r, a)
	}
	return ok
}

// hold waits d, or less when ctx ends first (the client went away), and
// says whether the whole wait passed.
func hold(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeScripted sends a, after its Delay unless the client goes away first.
func writeScripted(w http.ResponseWriter, r *http.Request, a Answer) {
	if !hold(r.Context(), a.Delay) {
		return
	}
	for k, vs := range a.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.Status)
	// A write error can only mean the client is gone.
	_, _ = io.WriteString(w, a.Body)
}
