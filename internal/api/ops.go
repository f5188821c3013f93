package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	analyticsscanner "github.com/centos-pipeline/analytics-scanner"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

type health struct {
	Status string `json:"status"`
}

// readiness is the body of /readyz; Error is set only when not ready.
type readiness struct {
	Error  *errorBody        `json:"error,omitempty"`
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// maxReasonBytes bounds a failed check's reason in /readyz, which anyone
// may call.
const maxReasonBytes = 300

// handleHealth says the process serves requests, and nothing more: a failing
// dependency must not get a live process restarted.
func (s *server) handleHealth() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, health{Status: "ok"})
	}
}

// handleReady runs every check at once, each within CheckTimeout, and
// answers 503 naming the first failing check, in Config.Checks order, when
// any fails.
func (s *server) handleReady() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		errs := make([]error, len(s.checks))
		var wg sync.WaitGroup
		for i, check := range s.checks {
			wg.Go(func() { errs[i] = s.runCheck(r.Context(), check.Check) })
		}
		wg.Wait()

		body := readiness{Status: "ready", Checks: make(map[string]string, len(s.checks))}
		for i, check := range s.checks {
			if errs[i] == nil {
				body.Checks[check.Name] = "ok"
				continue
			}
			body.Checks[check.Name] = reason(errs[i])
			if body.Error == nil {
				body.Status = "not_ready"
				body.Error = &errorBody{Code: scan.EUnavailable, Message: check.Name + ": " + reason(errs[i])}
			}
		}
		if body.Error != nil {
			encode(w, http.StatusServiceUnavailable, body)
			return
		}
		encode(w, http.StatusOK, body)
	}
}

// runCheck runs one check within the timeout, also when the check itself
// ignores its context.
func (s *server) runCheck(ctx context.Context, check func(context.Context) error) (err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- scan.Errorf(scan.EInternal, "check panicked")
			}
		}()
		done <- check(ctx)
	}()
	select {
	case err = <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s", s.cfg.CheckTimeout)
	}
}

// reason is a failed check's error as /readyz shows it: one bounded line.
func reason(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if msg == "" {
		msg = "failed"
	}
	if len(msg) > maxReasonBytes {
		msg = strings.ToValidUTF8(msg[:maxReasonBytes], "") + "…"
	}
	return msg
}

// handleOpenAPI serves the API's contract.
func (s *server) handleOpenAPI() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(analyticsscanner.OpenAPI)
	}
}
