package emulator

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/envload"
	"github.com/centos-pipeline/analytics-scanner/internal/probe"
)

// EnvPrefix prefixes every variable of the emulator's command:
// EMULATOR_ADDR, EMULATOR_TOKEN...
const EnvPrefix = "EMULATOR"

// shutdownTimeout bounds the graceful stop: the emulator holds no state
// worth waiting long for.
const shutdownTimeout = 5 * time.Second

// ProgramConfig is the command's configuration: where it listens and the
// Config of the server it runs. LoadProgramConfig reads it from the
// environment; its tags are the one list of names, defaults and meanings.
type ProgramConfig struct {
	Addr             string        `envconfig:"ADDR" default:":9000" desc:"listen address"`
	Token            string        `envconfig:"TOKEN" desc:"accept Authorization: Bearer <token>; when this or THREESCALE_SECRET is set, register, report and scanner-error need one of them"`
	ThreeScaleSecret string        `envconfig:"THREESCALE_SECRET" desc:"accept x-3scale-account-secret: <secret>"`
	ReportDelay      time.Duration `envconfig:"REPORT_DELAY" default:"0s" desc:"how long after its registration a commit's report answers 404"`
	LockFileAbsent   []string      `envconfig:"LOCK_FILE_ABSENT" desc:"comma-separated git-urls whose reports answer 400 lock_file_absent instead of a report"`
}

// LoadProgramConfig reads the configuration from the environment; an empty
// variable counts as unset, and every error names the variable at fault.
func LoadProgramConfig() (ProgramConfig, error) {
	var c ProgramConfig
	if err := envload.Process(EnvPrefix, &c); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if c.ReportDelay < 0 {
		return c, fmt.Errorf("configuration: %s_REPORT_DELAY must not be negative", EnvPrefix)
	}
	return c, nil
}

// PrintUsage writes the command's usage and its table of variables.
func PrintUsage(w io.Writer) error {
	if _, err := io.WriteString(w, `Usage: analytics-emulator [healthcheck [URL]]
       analytics-emulator --help | --version

Emulates the fabric8 analytics server (register, report, scanner-error,
readiness, liveness, under / and /api/v1/) for local stacks and tests.
GET /received lists what it received; DELETE /received clears that list.

healthcheck GETs URL, by default the /readiness of EMULATOR_ADDR on
127.0.0.1, and exits 0 if it answers 200.

`); err != nil {
		return err
	}
	return envload.PrintTable(w, EnvPrefix, &ProgramConfig{})
}

// ReadinessURL is the /readiness URL of an emulator listening on addr.
func ReadinessURL(addr string) (string, error) {
	url, err := probe.LocalURL(addr, "/readiness")
	if err != nil {
		return "", fmt.Errorf("%s_ADDR=%q: %w", EnvPrefix, addr, err)
	}
	return url, nil
}

// Serve runs an emulator on cfg.Addr until ctx is done, logging each
// request to logOut, then shuts down gracefully.
func Serve(ctx context.Context, cfg ProgramConfig, logOut io.Writer) error {
	logger := zerolog.New(logOut).With().Timestamp().Logger()

	listener, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	server := &http.Server{
		Handler: accessLog(logger, New(Config{
			Token:            cfg.Token,
			ThreeScaleSecret: cfg.ThreeScaleSecret,
			ReportDelay:      cfg.ReportDelay,
			LockFileAbsent:   cfg.LockFileAbsent,
		})),
		ReadHeaderTimeout: 10 * time.Second,
	}
	logger.Info().
		Str("addr", listener.Addr().String()).
		Bool("auth_required", cfg.Token != "" || cfg.ThreeScaleSecret != "").
		Str("report_delay", cfg.ReportDelay.String()).
		Strs("lock_file_absent", cfg.LockFileAbsent).
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

// accessLog logs one line per request: method, path, status, duration.
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
