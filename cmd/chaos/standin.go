package main

import (
	"context"
	"encoding/json"

	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// mode is how the analytics stand-in behaves at a given moment.
type mode int

const (
	modeAnswer mode = iota // register and scanner-error answer 200 at once
	modeRefuse             // the listener is closed: connections are refused
	modeFail               // every request answers 500
	modeHang               // every request is held until the mode changes or the caller gives up
	modeEcho               // every request answers an error whose body repeats the request's headers
)

func (m mode) String() string {
	return [...]string{"answer", "refuse", "500", "hang", "echo"}[m]
}

// standin is the analytics server the service under test talks to, run in
// this process on a fixed loopback port so that "refuse" can close the
// listener and a later mode reopen it where the service expects it.
type standin struct {
	addr string // 127.0.0.1:port, fixed for the stand-in's life

	mu       sync.Mutex
	mode     mode
	srv      *http.Server
	released chan struct{} // closed to free held requests when the mode changes

	delay time.Duration // how long a registration takes in mode answer

	registered map[string]int // successful registrations by git-sha
	arrivals   int            // register requests received, whatever the answer
	reports    int            // scanner-error reports answered 200
	reportsIn  int            // scanner-error reports received
	echoed     int            // answers that repeated headers
	echoSeq    int
}

// newStandin listens on a free loopback port in mode answer.
func newStandin() (*standin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &standin{addr: ln.Addr().String(), registered: map[string]int{}, released: make(chan struct{})}
	s.serve(ln)
	return s, nil
}

// url is the base URL the service is given (the real server's layout).
func (s *standin) url() string { return "http://" + s.addr + "/api/v1" }

func (s *standin) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second}
	s.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// setMode switches the behaviour. Entering refuse closes the listener and
// every open connection; leaving it listens again on the same port.
func (s *standin) setMode(m mode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m == s.mode {
		return nil
	}
	close(s.released)
	s.released = make(chan struct{})
	old := s.mode
	s.mode = m
	switch {
	case m == modeRefuse:
		err := s.srv.Close()
		s.srv = nil
		return err
	case old == modeRefuse:
		// The port was ours a moment ago; Go sets SO_REUSEADDR, so
		// connections in TIME_WAIT do not keep it.
		var ln net.Listener
		var err error
		for range 50 {
			if ln, err = net.Listen("tcp", s.addr); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("listen again on %s: %w", s.addr, err)
		}
		s.serve(ln)
	}
	return nil
}

// setDelay makes each registration take d in mode answer, as a real
// server's work and network do.
func (s *standin) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

func (s *standin) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.released)
	s.released = make(chan struct{})
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.srv = nil
	return err
}

func (s *standin) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	register := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/register")
	report := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/scanner-error")

	s.mu.Lock()
	m, released, delay := s.mode, s.released, s.delay
	if register {
		s.arrivals++
	}
	if report {
		s.reportsIn++
	}
	s.mu.Unlock()

	switch m {
	case modeHang:
		select {
		case <-released:
		case <-r.Context().Done():
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"success": false, "summary": "chaos: held, then let go"})
		return
	case modeFail:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"success": false, "summary": "chaos: server trouble"})
		return
	case modeEcho:
		s.echo(w, r)
		return
	}

	switch {
	case register:
		var reg struct {
			GitURL string `json:"git-url"`
			GitSHA string `json:"git-sha"`
		}
		if json.Unmarshal(body, &reg) != nil || reg.GitURL == "" || reg.GitSHA == "" {
			writeJSON(w, http.StatusNotFound, map[string]any{"success": false, "summary": "git-url cannot be empty"})
			return
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return // the scanner went away (killed): not registered
			}
		}
		s.mu.Lock()
		s.registered[reg.GitSHA]++
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"success": true,
			"summary": "Repository " + reg.GitURL + " with commit-hash " + reg.GitSHA + " has been successfully registered."})
	case report:
		s.mu.Lock()
		s.reports++
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "summary": "error recorded"})
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/readiness"):
		// The service's /readyz asks this (as the real server's).
		writeJSON(w, http.StatusOK, map[string]any{})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"success": false, "summary": "no such endpoint"})
	}
}

// echo answers as a careless server does: an error whose text repeats
// every request header, credentials included. Answers alternate between a
// permanent 400 and a transient 500, so that both the at-once and the
// retried failure paths carry the echo.
func (s *standin) echo(w http.ResponseWriter, r *http.Request) {
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, k := range names {
		fmt.Fprintf(&sb, "%s: %s; ", k, strings.Join(r.Header[k], ", "))
	}
	s.mu.Lock()
	s.echoed++
	s.echoSeq++
	status := http.StatusBadRequest
	if s.echoSeq%2 == 0 {
		status = http.StatusInternalServerError
	}
	s.mu.Unlock()
	writeJSON(w, status, map[string]any{"success": false, "summary": "rejected the request with headers " + sb.String(),
		"headers": r.Header})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// counts is what the stand-in saw.
type counts struct {
	registered map[string]int
	arrivals   int
	reports    int
	reportsIn  int
	echoed     int
}

func (s *standin) counts() counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	reg := make(map[string]int, len(s.registered))
	for k, v := range s.registered {
		reg[k] = v
	}
	return counts{registered: reg, arrivals: s.arrivals, reports: s.reports, reportsIn: s.reportsIn, echoed: s.echoed}
}

// duplicates counts registrations beyond the first of each git-sha.
func (c counts) duplicates() int {
	n := 0
	for _, v := range c.registered {
		if v > 1 {
			n += v - 1
		}
	}
	return n
}

// reachable reports whether the stand-in accepts connections now (a
// check that refuse really refuses).
func (s *standin) reachable(ctx context.Context) bool {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
