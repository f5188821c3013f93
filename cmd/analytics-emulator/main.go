// Command analytics-emulator serves an emulated fabric8 analytics server
// (package internal/emulator) for local stacks and end-to-end tests.
//
//	analytics-emulator                     serve, configured by EMULATOR_* variables
//	analytics-emulator healthcheck [URL]   exit 0 when URL answers 200
//
// The healthcheck subcommand exists because the image has neither shell nor
// curl for a compose healthcheck to call.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/probe"
)

const (
	// shutdownTimeout bounds how long in-flight requests may finish after
	// SIGINT/SIGTERM; compose waits 10 s before it kills.
	shutdownTimeout = 5 * time.Second
	// healthcheckTimeout keeps a hung emulator from hanging its healthcheck.
	healthcheckTimeout = 5 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "analytics-emulator:", err)
		os.Exit(1)
	}
}

// run is the whole program; args includes the program name. It serves until
// ctx is canceled, then shuts down gracefully and returns nil.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	// Parse errors are returned, and help goes to stdout, not to the flag
	// package's default of stderr.
	flags.SetOutput(io.Discard)
	if err := flags.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return nil
		}
		return fmt.Errorf("%w (see --help)", err)
	}
	cfg, err := loadConfig(ctx, getenv)
	if err != nil {
		return err
	}

	switch cmd := flags.Arg(0); {
	case cmd == "":
		return serve(ctx, cfg, stderr)
	case cmd == "healthcheck" && flags.NArg() <= 2:
		url := flags.Arg(1)
		if url == "" {
			if url, err = readinessURL(cfg.Addr); err != nil {
				return err
			}
		}
		return healthcheck(ctx, url)
	default:
		return fmt.Errorf("unexpected arguments %q (see --help)", flags.Args())
	}
}

// readinessURL is where the emulator listening on addr answers readiness,
// seen from the same host or container.
func readinessURL(addr string) (string, error) {
	url, err := probe.LocalURL(addr, "/readiness")
	if err != nil {
		return "", fmt.Errorf("%sADDR=%q: %w", envPrefix, addr, err)
	}
	return url, nil
}

func healthcheck(ctx context.Context, url string) error {
	if err := probe.Get(ctx, url, healthcheckTimeout); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	return nil
}

// serve runs the emulator on cfg.Addr until ctx is canceled, logging JSON
// lines to logOut.
func serve(ctx context.Context, cfg config, logOut io.Writer) error {
	logger := zerolog.New(logOut).With().Timestamp().Logger()

	listener, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	server := &http.Server{
		Handler: accessLog(logger, emulator.New(emulator.Config{
			Token:            cfg.Token,
			ThreeScaleSecret: cfg.ThreeScaleSecret,
			ReportDelay:      cfg.ReportDelay,
		})),
		// Without it a client that never finishes its headers holds a
		// connection forever.
		ReadHeaderTimeout: 10 * time.Second,
	}
	logger.Info().
		Str("addr", listener.Addr().String()).
		Bool("auth_required", cfg.Token != "" || cfg.ThreeScaleSecret != "").
		Str("report_delay", cfg.ReportDelay.String()).
		Msg("listening")

	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-served // http.ErrServerClosed, now that Shutdown has returned
	logger.Info().Msg("stopped")
	return nil
}

// accessLog logs one line per request. It logs no headers: Authorization
// and x-3scale-account-secret carry secrets.
func accessLog(logger zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		recorder := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(recorder, r)
		status := recorder.Status()
		if status == 0 { // the handler wrote nothing: net/http sends 200
			status = http.StatusOK
		}
		logger.Info().
			Str("method", r.Method).
			Str("path", r.URL.Path).
			Int("status", status).
			Float64("duration_ms", float64(time.Since(start).Microseconds())/1000).
			Msg("request")
	})
}
