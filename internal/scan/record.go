package scan

import (
	"context"
	"time"
)

// Status is where a scan request stands in the service's queue.
type Status string

// The statuses of a scan. Succeeded, failed and canceled are final.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusRetrying  Status = "retrying"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Statuses lists every status, for validation and documentation.
var Statuses = []Status{StatusQueued, StatusRunning, StatusRetrying, StatusSucceeded, StatusFailed, StatusCanceled}

// Final reports whether a scan in status s will not change any more.
func (s Status) Final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCanceled
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Record is a scan request as the service keeps it.
type Record struct {
	ID       string `json:"id"`
	Image    string `json:"image"`
	ScanType string `json:"scan_type"`
	// Server is the analytics server the request chose, when it chose one
	// (only servers the operator allows); empty means the default.
	Server string `json:"server,omitempty"`
	// Source is where the image is read: SourceDaemon or SourceRegistry.
	Source string `json:"source,omitempty"`
	// ImageID, Digest, ManifestDigest and Platform say which image the
	// scan read (see Origin), once an attempt has read it.
	ImageID        string     `json:"image_id,omitempty"`
	Digest         string     `json:"digest,omitempty"`
	ManifestDigest string     `json:"manifest_digest,omitempty"`
	Platform       string     `json:"platform,omitempty"`
	Status         Status     `json:"status"`
	Attempts       int        `json:"attempts"`
	MaxAttempts    int        `json:"max_attempts"`
	LastError      string     `json:"last_error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	// Result is set once the scan is final (not when canceled): the same
	// document the one-shot scanner writes.
	Result *Result `json:"result,omitempty"`
	// Report is where the report of the scan's repository and commit
	// stands: followed after a successful registration, asked once by a
	// `report` scan. Shared by every scan of the same server, git-url and
	// git-sha. Absent when the scan never reached the server.
	Report *ReportStatus `json:"report,omitempty"`
	// CallbackURL is the request's callback_url, shown without userinfo or
	// query.
	CallbackURL string `json:"callback_url,omitempty"`
	// Callbacks are the deliveries of this scan's notifications, in the
	// order they were made (GET /scan/{id} only).
	Callbacks []Callback `json:"callbacks,omitempty"`
}

// Callback events: a scan became final, its report became final.
const (
	EventScanFinal   = "scan.final"
	EventReportFinal = "report.final"
)

// Callback is one notification of a scan to one URL, delivered by the
// durable queue until the receiver accepts it.
type Callback struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	// URL is shown without userinfo or query.
	URL string `json:"url"`
	// State is pending (being tried), delivered or failed (given up).
	State       string            `json:"state"`
	Attempts    []CallbackAttempt `json:"attempts"`
	CreatedAt   time.Time         `json:"created_at"`
	DeliveredAt *time.Time        `json:"delivered_at,omitempty"`
}

// CallbackAttempt is one try at delivering a callback.
type CallbackAttempt struct {
	At time.Time `json:"at"`
	// Status is the receiver's HTTP status, 0 when none arrived.
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Request asks for a scan.
type Request struct {
	// Image is a reference or an image/container id, already validated.
	Image    string
	ScanType string
	// Server optionally names the analytics server; callers check it
	// against the operator's allow-list before submitting.
	Server string
	// Source is where to read the image: SourceDaemon or SourceRegistry;
	// empty means SourceDaemon.
	Source string
	// Name is the image's name for display, when Image is a digest
	// reference a registry reported with a tag ("host/app:1").
	Name string
	// CallbackURL optionally asks for the record to be POSTed there when
	// the scan, then its report, becomes final; callers check it against
	// the operator's allow-list.
	CallbackURL string
}

// List page sizes: a Filter's Limit is from 1 to MaxListLimit, and 0 means
// DefaultListLimit. The API and the queue both apply them.
const (
	DefaultListLimit = 50
	MaxListLimit     = 100
)

// Filter selects records for List, newest first.
type Filter struct {
	Image  string
	Status Status
	// Report selects the scans whose report is in this state.
	Report ReportState
	Limit  int
	// Cursor is the opaque NextCursor of a previous page.
	Cursor string
}

// Page is one page of records.
type Page struct {
	Scans      []Record
	NextCursor string
}

// Service accepts scan requests, runs them on a durable queue and keeps
// their records.
type Service interface {
	// Submit queues a scan. When a scan of the same image and type is
	// already queued, running or retrying, it returns that one with
	// created false instead of queuing a second registration.
	Submit(ctx context.Context, req Request) (rec Record, created bool, err error)
	// Get returns one record, or an error with code ENotFound.
	Get(ctx context.Context, id string) (Record, error)
	// Wait returns the record once it is final or ctx is done, whichever
	// comes first; in the latter case it returns the current record and
	// no error.
	Wait(ctx context.Context, id string) (Record, error)
	List(ctx context.Context, f Filter) (Page, error)
	// Delete cancels a queued or retrying scan (returning it canceled) or
	// removes a final one (returning it as it was). A running scan cannot
	// be deleted: EConflict.
	Delete(ctx context.Context, id string) (rec Record, removed bool, err error)
	// Report returns the whole report of a scan's repository and commit:
	// ENotFound when the scan does not exist or has no report (yet).
	Report(ctx context.Context, id string) (Report, error)
	// QueueDepth counts the scans not yet final.
	QueueDepth(ctx context.Context) (int, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}
