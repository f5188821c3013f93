package scan

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// serverError is an error as a Registrar returns it: it tells whether a
// retry may succeed, the wait the server asked for and its HTTP status
// through the small interfaces the domain reads, never through its type.
type serverError struct {
	status    int
	transient bool
	wait      time.Duration
}

func (e *serverError) Error() string             { return fmt.Sprintf("server answered %d", e.status) }
func (e *serverError) Transient() bool           { return e.transient }
func (e *serverError) RetryAfter() time.Duration { return e.wait }
func (e *serverError) ServerStatus() int         { return e.status }

func TestErrorClassification(t *testing.T) {
	limited := &serverError{status: 429, transient: true, wait: 3 * time.Second}
	wrapped := fmt.Errorf("register: %w", limited)
	if !IsTransient(wrapped) || RetryAfter(wrapped) != 3*time.Second || ServerStatus(wrapped) != 429 {
		t.Errorf("wrapped 429: transient %v, retry after %v, status %d; want true, 3s, 429",
			IsTransient(wrapped), RetryAfter(wrapped), ServerStatus(wrapped))
	}
	plain := errors.New("boom")
	if IsTransient(plain) || RetryAfter(plain) != 0 || ServerStatus(plain) != 0 || IsTransient(nil) {
		t.Error("a plain error or nil is classified as transient or carries a wait or status")
	}
	if !IsTransient(fmt.Errorf("%w: ping", ErrDaemonUnavailable)) {
		t.Error("an unavailable daemon is not transient")
	}
	if IsTransient(&serverError{status: 400}) {
		t.Error("a 400 is transient")
	}
	a := &Attempt{Errors: []error{errors.New("label"), wrapped}}
	if a.ServerStatus() != 429 || a.RetryAfter() != 3*time.Second {
		t.Errorf("attempt: status %d, retry after %v; want 429, 3s: both derived from its errors", a.ServerStatus(), a.RetryAfter())
	}
	if (&Attempt{}).ServerStatus() != 0 {
		t.Error("an attempt without errors has a server status")
	}
}

func TestAttemptRetryable(t *testing.T) {
	transient := &serverError{status: 503, transient: true}
	permanent := &serverError{status: 400}
	down := fmt.Errorf("%w: ping", ErrDaemonUnavailable)
	cases := []struct {
		name string
		errs []error
		want bool
	}{
		{"no errors", nil, false},
		{"daemon unavailable", []error{down}, true},
		{"analytics transient", []error{transient}, true},
		{"analytics transient, wrapped", []error{fmt.Errorf("register: %w", transient)}, true},
		{"daemon and analytics transient", []error{down, transient}, true},
		{"analytics permanent", []error{permanent}, false},
		{"image not found", []error{fmt.Errorf("%w: x", ErrImageNotFound)}, false},
		{"label missing", []error{&LabelError{Label: LabelGitURL, Reason: "is missing"}}, false},
		{"configuration", []error{errors.New("invalid analytics server configuration: no scheme")}, false},
		{"transient and permanent", []error{down, &LabelError{Label: LabelGitSHA, Reason: "is empty"}}, false},
		{"canceled", []error{context.Canceled}, false},
		{"plain error", []error{errors.New("boom")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &Attempt{Errors: tc.errs}
			if got := a.Retryable(); got != tc.want {
				t.Errorf("Retryable() = %v, want %v", got, tc.want)
			}
			if a.Succeeded() {
				t.Error("Succeeded() without a response")
			}
			if (a.Err() == nil) != (len(tc.errs) == 0) {
				t.Errorf("Err() = %v with %d errors", a.Err(), len(tc.errs))
			}
		})
	}
	ok := &Attempt{Response: &Response{StatusCode: 200}}
	if !ok.Succeeded() || ok.Retryable() || ok.Err() != nil {
		t.Errorf("registered attempt: succeeded %v, retryable %v, err %v", ok.Succeeded(), ok.Retryable(), ok.Err())
	}
}

func TestRetryErrorHonoursRetryAfter(t *testing.T) {
	ra := func(d time.Duration) error {
		return &serverError{status: 429, transient: true, wait: d}
	}
	bounded := RetryPolicy{MaxTries: 3, MaxInterval: 4 * time.Second, MaxElapsed: 15 * time.Second}
	unbounded := RetryPolicy{MaxTries: 3, MaxInterval: 4 * time.Second}
	cases := []struct {
		name      string
		p         RetryPolicy
		err       error
		wantWait  time.Duration // 0: no Retry-After wait
		permanent bool
	}{
		{"no Retry-After", bounded, ra(0), 0, false},
		{"sub-second precision kept", bounded, ra(1500 * time.Millisecond), 1500 * time.Millisecond, false},
		{"longer than MaxInterval, MaxElapsed decides", bounded, ra(10 * time.Second), 10 * time.Second, false},
		{"within MaxInterval, no MaxElapsed", unbounded, ra(3 * time.Second), 3 * time.Second, false},
		{"beyond MaxInterval, no MaxElapsed", unbounded, ra(time.Hour), 0, true},
		{"daemon error has none", unbounded, fmt.Errorf("%w: x", ErrDaemonUnavailable), 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p.retryError(&Attempt{Errors: []error{tc.err}})
			var after *backoff.RetryAfterError
			var perm *backoff.PermanentError
			switch {
			case tc.permanent:
				if !errors.As(got, &perm) {
					t.Errorf("retryError = %v, want a permanent error", got)
				}
			case tc.wantWait > 0:
				if !errors.As(got, &after) || after.Duration != tc.wantWait {
					t.Errorf("retryError = %v, want a wait of %v", got, tc.wantWait)
				}
			default:
				if errors.As(got, &after) || errors.As(got, &perm) || !errors.Is(got, tc.err) {
					t.Errorf("retryError = %v, want the error itself", got)
				}
			}
		})
	}
}
