package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"
)

// checkPprofAddr refuses a profiling address reachable from other hosts
// unless PPROF_PUBLIC says so: profiles show what the process is doing
// (goroutine stacks carry request paths and image names) and the listener
// has no authentication.
func checkPprofAddr(addr string, public bool) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("configuration: %s_PPROF_ADDR is %q: want host:port", EnvPrefix, addr)
	}
	if public || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("configuration: %s_PPROF_ADDR %q is not a loopback address; set %s_PPROF_PUBLIC=true to serve profiles beyond this host", EnvPrefix, addr, EnvPrefix)
}

// pprofHandler serves net/http/pprof's pages under /debug/pprof/, on a mux of
// its own rather than http.DefaultServeMux, so that nothing reaches the
// profiles through the API's listener.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// servePprof serves the profiles on ln until ctx is done. A profile or trace
// request runs for the seconds it asks for, so the write timeout leaves
// room for a few minutes of it.
func servePprof(ctx context.Context, ln net.Listener, log zerolog.Logger) {
	srv := &http.Server{
		Handler:           pprofHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Warn().Str("pprof_addr", ln.Addr().String()).Msg("serving profiles on /debug/pprof/")
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Warn().Err(err).Msg("pprof listener")
	}
}
