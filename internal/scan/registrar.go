package scan

import (
	"context"
	"errors"
	"time"
)

// Registration is what a registrar is asked to register: an image's
// repository and commit, and whom to tell about the analysis.
type Registration struct {
	GitURL   string
	GitSHA   string
	EmailIDs string
}

// ErrorReport tells the analytics server why a scan failed. ImageName and
// EmailIDs are "" when unknown; Errors lists every error of the scan.
type ErrorReport struct {
	ImageName string
	EmailIDs  string
	Errors    []string
}

// Response is a registrar's answer to a successful request.
type Response struct {
	StatusCode int
	// Summary is the server's own text, bounded.
	Summary string
	// Prior is set when nothing was sent: an earlier registration of the
	// same repository and commit stands for this one.
	Prior *PriorRegistration
}

// ReportAnswer is the server's answer to a report request that did not
// fail. State is ReportReady (Report is set), ReportPending (the server has
// no report yet: ask again later) or ReportLockFileAbsent (there will never
// be one).
type ReportAnswer struct {
	State      ReportState
	StatusCode int
	// Message is the server's text when there is no report, bounded.
	Message string
	Report  *Report
}

// Registrar is the analytics server as the scanner needs it: the seam the
// domain owns and the analytics client implements, so that the domain never
// depends on how the server is reached.
//
// Errors tell the scanner what it needs through small interfaces rather than
// a concrete type: Transient() bool (a retry may succeed), RetryAfter()
// time.Duration (the server asked for a wait) and ServerStatus() int (the
// HTTP status of a refused request). See IsTransient, RetryAfter and
// ServerStatus.
type Registrar interface {
	// Register registers a repository and commit for analysis.
	Register(ctx context.Context, r Registration) (*Response, error)
	// ReportError tells the server why a scan failed; best effort.
	ReportError(ctx context.Context, r ErrorReport) (*Response, error)
	// FetchReport asks once for the report of a repository and commit.
	// Not ready and lock-file-absent are answers, not errors.
	FetchReport(ctx context.Context, gitURL, gitSHA string) (*ReportAnswer, error)
	// ServerURL is the server's base URL in the form results show: no
	// password.
	ServerURL() string
}

// IsTransient reports whether err may go away on retry: a daemon or a
// registry that cannot answer now, or any error in the chain that says
// Transient() true.
func IsTransient(err error) bool {
	if errors.Is(err, ErrDaemonUnavailable) || errors.Is(err, ErrRegistryUnavailable) {
		return true
	}
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}

// RetryAfter returns the wait a server asked for before a retry (its
// Retry-After), 0 when err carries none.
func RetryAfter(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return max(r.RetryAfter(), 0)
	}
	return 0
}

// ServerStatus returns the HTTP status with which a server refused a
// request, 0 when err carries none.
func ServerStatus(err error) int {
	var s interface{ ServerStatus() int }
	if errors.As(err, &s) {
		return s.ServerStatus()
	}
	return 0
}
