package scan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/rs/zerolog"
)

// Scanner scans images: it inspects an image, checks its labels, registers
// them with the analytics server and, when anything failed, reports every
// error to the server's scanner-error endpoint.
//
// The one-shot command calls Scan. The service calls Attempt once per queue
// try, so that its durable queue, not this process, owns the retries, and
// Finish once the scan is final.
type Scanner struct {
	// Source reads the images of targets that name no source.
	Source LabelSource
	// Sources are the label sources a target may name by Target.Source
	// (SourceDaemon, SourceRegistry, ...). A target naming a source not
	// here fails, finally. When Sources is nil, Source reads every target.
	Sources map[string]LabelSource
	// LabelKeys are the keys that stand in for a missing required label
	// (see ApplyLabelKeys), whatever the source; nil means
	// DefaultLabelKeys.
	LabelKeys LabelKeys
	// Registrar is the analytics server to register with. When nil,
	// RegistrarErr says why (no SERVER given, a malformed one) and is
	// reported as a scan error.
	Registrar    Registrar
	RegistrarErr error
	// Retry bounds the retries of transient failures made by Scan and of the
	// error report made by Finish. The zero value tries once.
	Retry RetryPolicy
	// DeferReport makes Finish leave the error report to the caller
	// (WouldReport says when one is due): the service sends it as a
	// durable job of its own, with its own time budget, instead of
	// within the scan's last attempt.
	DeferReport bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log zerolog.Logger
}

// Target is what to scan.
type Target struct {
	// Ref is an image reference, an image id or a container id.
	Ref string
	// Name is the image name shown in the result ("image_name") and sent in
	// error reports. Empty means Ref when Ref is a name, else the image's
	// first tag, else its id.
	Name string
	// ScanType is recorded in the result; empty means ScanTypeRegister.
	ScanType string
	// Source names the label source to read the image from, one of the
	// Scanner's Sources; empty means the Scanner's Source.
	Source string
}

// Attempt is the outcome of one try at a scan, before any error report.
type Attempt struct {
	Target   Target
	Started  time.Time
	Finished time.Time
	// Image is the zero Image when inspection failed.
	Image  Image
	Labels Labels
	// Provenance says which key of the image each required value was
	// read from.
	Provenance Provenance
	// Errors lists everything that went wrong, in order. Empty with a
	// non-nil Response means the image is registered.
	Errors []error
	// Response is the server's answer to a successful registration.
	Response *Response
	// Report is the server's answer to the report request of a `report`
	// scan. A report not ready yet makes the scan unsuccessful (an
	// ErrReportNotReady in Errors) but is not a failure to report.
	Report *ReportAnswer
}

// ErrReportNotReady is the error of a `report` scan whose report the server
// has not made yet: ask again later.
var ErrReportNotReady = errors.New("no report yet")

// ServerStatus is the HTTP status of a refused registration, 0 if none.
func (a *Attempt) ServerStatus() int {
	for _, err := range a.Errors {
		if s := ServerStatus(err); s != 0 {
			return s
		}
	}
	return 0
}

// RetryAfter is the longest wait a server asked for before a retry, 0 if
// none.
func (a *Attempt) RetryAfter() time.Duration {
	var d time.Duration
	for _, err := range a.Errors {
		d = max(d, RetryAfter(err))
	}
	return d
}

// Succeeded reports whether the registration was accepted or, for a
// `report` scan, the server answered with a report or lock-file-absent.
func (a *Attempt) Succeeded() bool {
	return len(a.Errors) == 0 && (a.Response != nil || a.Report != nil)
}

// onlyNotReady reports whether the attempt failed only because the report
// is not ready yet: nothing the analytics server should be told about.
func (a *Attempt) onlyNotReady() bool {
	for _, err := range a.Errors {
		if !errors.Is(err, ErrReportNotReady) {
			return false
		}
	}
	return len(a.Errors) > 0
}

// Retryable reports whether the attempt failed only for reasons that may go
// away: an unreachable daemon or a transient analytics failure. A missing
// image or label, a bad configuration or a 4xx answer will fail again.
func (a *Attempt) Retryable() bool {
	if len(a.Errors) == 0 {
		return false
	}
	for _, err := range a.Errors {
		if !IsTransient(err) {
			return false
		}
	}
	return true
}

// Err joins the attempt's errors, nil when it succeeded.
func (a *Attempt) Err() error { return errors.Join(a.Errors...) }

func (s *Scanner) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Attempt inspects, checks and registers once, without reporting errors.
func (s *Scanner) Attempt(ctx context.Context, t Target) *Attempt {
	a := &Attempt{Target: t, Started: s.now()}
	defer func() { a.Finished = s.now() }()
	log := s.Log.With().Str("image", t.Ref).Logger()

	if s.Registrar == nil {
		err := s.RegistrarErr
		if err == nil {
			err = errors.New("no analytics server configured")
		}
		a.Errors = append(a.Errors, err)
	}

	source, err := s.sourceFor(t.Source)
	if err != nil {
		a.Errors = append(a.Errors, err)
		return a
	}
	img, err := source.Inspect(ctx, t.Ref)
	if err != nil {
		a.Errors = append(a.Errors, err)
		log.Debug().Err(err).Msg("inspect failed")
		return a
	}
	if img.Origin.Source == "" {
		img.Origin.Source = t.Source
	}
	a.Image = img
	keys := s.LabelKeys
	if keys == nil {
		keys = DefaultLabelKeys()
	}
	filled, prov := ApplyLabelKeys(img.Labels, keys)
	labels, labelErrs := CheckLabels(filled)
	a.Labels = labels
	a.Provenance = prov
	a.Errors = append(a.Errors, labelErrs...)
	if len(a.Errors) > 0 {
		return a
	}

	if t.scanType() == ScanTypeReport {
		s.fetchReport(ctx, a, log)
		return a
	}
	resp, err := s.Registrar.Register(ctx, Registration(labels))
	if err != nil {
		a.Errors = append(a.Errors, err)
		log.Debug().Err(err).Bool("transient", IsTransient(err)).Msg("register failed")
		return a
	}
	a.Response = resp
	log.Debug().Int("status", resp.StatusCode).Msg("registered")
	return a
}

// fetchReport asks once for the report of the attempt's labels.
func (s *Scanner) fetchReport(ctx context.Context, a *Attempt, log zerolog.Logger) {
	ans, err := s.Registrar.FetchReport(ctx, a.Labels.GitURL, a.Labels.GitSHA)
	if err != nil {
		a.Errors = append(a.Errors, err)
		log.Debug().Err(err).Bool("transient", IsTransient(err)).Msg("report request failed")
		return
	}
	a.Report = ans
	if ans.State == ReportPending {
		msg := "the analytics server has not finished analysing this commit; scan again later"
		if ans.Message != "" {
			msg += " (" + ans.Message + ")"
		}
		a.Errors = append(a.Errors, fmt.Errorf("%w: %s", ErrReportNotReady, msg))
	}
	log.Debug().Int("status", ans.StatusCode).Str("report", string(ans.State)).Msg("report answered")
}

// ErrSourceNotEnabled is wrapped when a target names a label source the
// scanner does not have: a configuration matter, not worth retrying.
var ErrSourceNotEnabled = errors.New("image source not enabled")

func (s *Scanner) sourceFor(name string) (LabelSource, error) {
	if name == "" || s.Sources == nil {
		if s.Source == nil {
			return nil, fmt.Errorf("%w: no default source", ErrSourceNotEnabled)
		}
		return s.Source, nil
	}
	if src, ok := s.Sources[name]; ok && src != nil {
		return src, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrSourceNotEnabled, name)
}

// Scan attempts a scan, retrying transient failures within s.Retry, then
// finishes it. It always returns a result, whatever went wrong.
func (s *Scanner) Scan(ctx context.Context, t Target) Result {
	r, _ := s.ScanAttempt(ctx, t)
	return r
}

// ScanAttempt is Scan, also returning the final attempt, whose Report a
// `report` scan's writer needs.
func (s *Scanner) ScanAttempt(ctx context.Context, t Target) (Result, *Attempt) {
	var last *Attempt
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		last = s.Attempt(ctx, t)
		if last.Retryable() {
			return struct{}{}, s.Retry.retryError(last)
		}
		return struct{}{}, nil
	}, append(s.Retry.options(), backoff.WithNotify(func(err error, wait time.Duration) {
		// Called only when another try follows, so the log never promises
		// a retry that does not happen.
		s.Log.Info().Str("image", t.Ref).Err(err).Int64("retry_in_ms", wait.Milliseconds()).Msg("transient failure, retrying")
	}))...)
	return s.Finish(ctx, last), last
}

// Finish turns a final attempt into a result. A failed scan is reported to
// scanner-error when a server is known; the report is best effort and its
// own failure is added to the result's errors.
func (s *Scanner) Finish(ctx context.Context, a *Attempt) Result {
	errs := make([]string, 0, len(a.Errors)+1)
	for _, err := range a.Errors {
		errs = append(errs, err.Error())
	}
	name := a.imageName()
	if !s.DeferReport && s.WouldReport(a) {
		if err := s.report(ctx, name, a.Labels.EmailIDs, errs); err != nil {
			errs = append(errs, "could not report the errors: "+err.Error())
		}
	}

	r := Result{
		ScanType:           a.Target.scanType(),
		CVEFeedLastUpdated: "NA",
		UUID:               a.Image.ShortID(),
		ScanResults: ScanResults{
			EmailIDs:  a.Labels.EmailIDs,
			GitSHA:    a.Labels.GitSHA,
			GitURL:    a.Labels.GitURL,
			ImageName: name,
		},
		Successful:   a.Succeeded(),
		StartTime:    Timestamp{a.Started},
		FinishedTime: Timestamp{s.now()},
		Scanner:      ScannerName,
	}
	if ref := strings.TrimPrefix(a.Target.Ref, "sha256:"); len(ref) == 64 && LooksLikeID(ref) {
		// Scanned by full id: atomic names the folder, and expects the
		// UUID, by that id, which for a container is not its image's.
		r.UUID = ref
	}
	if r.UUID == "" {
		// The image could not be inspected; the id asked for is the best
		// identity there is.
		r.UUID = strings.TrimPrefix(a.Target.Ref, "sha256:")
	}
	if s.Registrar != nil {
		r.ScanResults.ServerURL = s.Registrar.ServerURL()
	}
	if len(a.Provenance) > 0 {
		r.LabelSources = a.Provenance
	}
	if a.Image.ID != "" || a.Image.Origin.Source != "" {
		r.Image = &ResultImage{ID: a.Image.ID, Origin: a.Image.Origin}
	}
	switch {
	case a.Response != nil:
		r.ServerResponse = &ServerResponse{Status: a.Response.StatusCode, Summary: a.Response.Summary, RegisteredBy: a.Response.Prior}
	case a.Report != nil:
		r.ServerResponse = &ServerResponse{Status: a.Report.StatusCode, Summary: a.Report.Message}
	case a.ServerStatus() != 0:
		r.ServerResponse = &ServerResponse{Status: a.ServerStatus()}
	}
	if r.Successful {
		r.Summary = SuccessSummary
	} else {
		r.Errors = errs
		r.Summary = FailureSummary(errs)
	}
	return r
}

// WouldReport reports whether a's failure is to be told to the analytics
// server: it failed, a server is known, and not only because a report was
// not ready yet.
func (s *Scanner) WouldReport(a *Attempt) bool {
	return !a.Succeeded() && s.Registrar != nil && !a.onlyNotReady()
}

func (s *Scanner) report(ctx context.Context, name, emails string, errs []string) error {
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		_, err := s.Registrar.ReportError(ctx, ErrorReport{
			ImageName: name, EmailIDs: emails, Errors: errs,
		})
		if err != nil && !IsTransient(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, s.Retry.options()...)
	if err != nil {
		s.Log.Warn().Err(err).Str("image", name).Msg("error report failed")
	}
	return err
}

// imageName is the name to show for the image: the one asked for, else the
// reference when it is a name, else the image's first tag, else its id.
func (a *Attempt) imageName() string {
	switch {
	case a.Target.Name != "":
		return a.Target.Name
	case a.Target.Ref != "" && !LooksLikeID(a.Target.Ref):
		return a.Target.Ref
	case len(a.Image.Names) > 0:
		return a.Image.Names[0]
	case a.Image.ID != "":
		return a.Image.ShortID()
	}
	return a.Target.Ref
}

// LooksLikeID reports whether ref names an image or container by id rather
// than by name: 12 to 64 lower-case hex digits, optionally after "sha256:".
// Such a string cannot be a pullable repository name without a tag anyway.
func LooksLikeID(ref string) bool {
	ref = strings.TrimPrefix(ref, "sha256:")
	if len(ref) < 12 || len(ref) > 64 {
		return false
	}
	for _, c := range ref {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (t Target) scanType() string {
	if t.ScanType == "" {
		return ScanTypeRegister
	}
	return t.ScanType
}

// retryError carries the attempt's errors to the backoff loop, honouring a
// Retry-After the analytics server sent. A Retry-After that does not fit the
// policy ends the retries, since retrying sooner than asked would only be
// refused again: backoff itself stops when it would overrun MaxElapsed, and
// without a MaxElapsed the bound is MaxInterval, lest a server that asks for
// an hour hold the caller for an hour per try.
func (p RetryPolicy) retryError(a *Attempt) error {
	err := a.Err()
	if wait := a.RetryAfter(); wait > 0 {
		if p.MaxElapsed <= 0 && wait > p.maxInterval() {
			return backoff.Permanent(err)
		}
		// Not backoff.RetryAfter, which takes whole seconds and would
		// retry early after a Retry-After given as a date.
		return &backoff.RetryAfterError{Duration: wait}
	}
	return err
}

func (p RetryPolicy) maxInterval() time.Duration {
	if p.MaxInterval > 0 {
		return p.MaxInterval
	}
	return backoff.DefaultMaxInterval
}

// RetryPolicy bounds retries of transient failures. The zero value tries once.
type RetryPolicy struct {
	// MaxTries counts the first try; 0 or 1 means no retry.
	MaxTries uint
	// InitialInterval is the first wait; it doubles, with jitter, up to
	// MaxInterval.
	InitialInterval time.Duration
	MaxInterval     time.Duration
	// MaxElapsed stops retrying once this much time has passed, or would
	// have passed after the next wait. Zero means no limit but MaxTries.
	// A server's Retry-After is honoured when it fits within MaxElapsed
	// (within MaxInterval when MaxElapsed is zero); a longer one ends the
	// retries.
	MaxElapsed time.Duration
}

// DefaultRetry is a few tries within seconds: enough to ride out a blip of
// the daemon or the server without holding a pipeline for minutes.
var DefaultRetry = RetryPolicy{MaxTries: 4, InitialInterval: 500 * time.Millisecond, MaxInterval: 4 * time.Second, MaxElapsed: 15 * time.Second}

func (p RetryPolicy) options() []backoff.RetryOption {
	if p.MaxTries <= 1 {
		return []backoff.RetryOption{backoff.WithMaxTries(1)}
	}
	b := backoff.NewExponentialBackOff()
	if p.InitialInterval > 0 {
		b.InitialInterval = p.InitialInterval
	}
	if p.MaxInterval > 0 {
		b.MaxInterval = p.MaxInterval
	}
	return []backoff.RetryOption{
		backoff.WithBackOff(b),
		backoff.WithMaxTries(p.MaxTries),
		backoff.WithMaxElapsedTime(p.MaxElapsed),
	}
}
