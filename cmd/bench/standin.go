package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
)

// standIn is the analytics server the service registers with: the project's
// emulator on loopback, counting the registrations it answered 200 and the
// moment of the last one, so that a run can end at the last registration
// without polling the service under test.
type standIn struct {
	URL string

	srv        *http.Server
	registered atomic.Int64
	reported   atomic.Int64
	lastAt     atomic.Int64 // unix nanoseconds of the last registration
}

func startStandIn() (*standIn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &standIn{URL: "http://" + ln.Addr().String()}
	emu := emulator.New(emulator.Config{MaxReceived: 1000})
	s.srv = &http.Server{
		Handler:           s.count(emu),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *standIn) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status != http.StatusOK || r.Method != http.MethodPost {
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/register"):
			s.lastAt.Store(time.Now().UnixNano())
			s.registered.Add(1)
		case strings.HasSuffix(r.URL.Path, "/scanner-error"):
			s.reported.Add(1)
		}
	})
}

// waitRegistered waits until n registrations have arrived and returns the
// time of the last one.
func (s *standIn) waitRegistered(ctx context.Context, n int64) (time.Time, error) {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for s.registered.Load() < n {
		select {
		case <-ctx.Done():
			return time.Time{}, errors.New("timed out waiting for registrations")
		case <-tick.C:
		}
	}
	return time.Unix(0, s.lastAt.Load()), nil
}

func (s *standIn) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
