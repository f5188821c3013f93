package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// ScanArgs are the arguments of a scan job: only the record's id, since the
// record holds the request.
type ScanArgs struct {
	ScanID string `json:"scan_id"`

	// retryAfter is the wait the analytics server asked for in the attempt
	// that just failed. Never stored: River calls the worker's NextRetry
	// on the very job value Work was given, right after Work returns, so
	// the job itself carries it there, whichever replica ran the attempt.
	retryAfter time.Duration
}

// Kind names scan jobs in River's table.
func (ScanArgs) Kind() string { return "analytics_scan" }

// backgroundPriority is the River priority of the jobs that follow a scan
// (its error report, its commit's report follow-up, its callbacks): below
// the scans' own (River's default, 1, the highest), so that a scan queued
// behind a thousand report follow-ups still runs next. River fetches by
// priority first.
const backgroundPriority = 2

// Attempt results, the label values of metrics.ScanDuration.
const (
	attemptOK         = "ok"
	attemptRetry      = "retry"
	attemptFinalError = "final_error"
)

type scanWorker struct {
	river.WorkerDefaults[ScanArgs]
	s *Store
}

func (w *scanWorker) Work(ctx context.Context, job *river.Job[ScanArgs]) error {
	return w.s.work(ctx, job)
}

func (w *scanWorker) NextRetry(job *river.Job[ScanArgs]) time.Time {
	return w.s.nextRetry(job.Attempt, job.Args.retryAfter)
}

// work runs one attempt of a scan. A transient failure with attempts left
// marks the record retrying and returns an error, for River to schedule the
// next attempt; anything else is final: the scanner reports the failure,
// and the record's result and the job's completion are written in one
// transaction, so a result is never written twice nor lost.
func (s *Store) work(ctx context.Context, job *river.Job[ScanArgs]) error {
	id := job.Args.ScanID
	log := s.log.With().Str("scan_id", id).Int("attempt", job.Attempt).Logger()

	// Off the writer: the record was committed with the job.
	r, err := getRow(ctx, s.rdb, id)
	switch {
	case scan.ErrorCode(err) == scan.ENotFound:
		return river.JobCancel(fmt.Errorf("scan %s no longer exists", id))
	case err != nil:
		return fmt.Errorf("load scan %s: %w", id, err)
	case r.Status == scan.StatusCanceled:
		return river.JobCancel(fmt.Errorf("scan %s was canceled", id))
	case r.Status.Final():
		// Already recorded; there is nothing left to do.
		return nil
	}

	started := s.now()
	// "running" is accepted too: the record of a job rescued after its
	// process died still says running.
	marked, err := s.write(ctx, `UPDATE scans SET status = 'running', attempts = $1,
		started_at = COALESCE(started_at, $2), updated_at = $2, runner = $3
		WHERE id = $4 AND status IN `+activeStatuses, job.Attempt, micros(started), s.runnerID, id)
	if err != nil {
		return fmt.Errorf("mark scan %s running: %w", id, err)
	}
	if marked == 0 {
		return river.JobCancel(fmt.Errorf("scan %s was canceled or removed before it ran", id))
	}
	log.Debug().Str("image", r.Image).Msg("scan attempt started")

	target := scan.Target{Ref: r.Image, ScanType: r.ScanType, Source: r.Source, Name: r.name}
	scanner, err := s.cfg.ScannerFor(r.Server)
	if err == nil && scanner == nil {
		err = errors.New("no scanner")
	}
	if err != nil {
		// A server the configuration cannot serve will not serve the next
		// attempt either.
		a := &scan.Attempt{Target: target, Started: started, Finished: started,
			Errors: []error{fmt.Errorf("analytics server %q: %w", r.Server, err)}}
		return s.finish(ctx, job, r.Server, &scan.Scanner{Now: s.cfg.Now, Log: s.log}, a, log)
	}

	if scanner.Registrar != nil && s.cfg.ReregisterAfter >= 0 {
		once := *scanner // scanners are shared between workers
		once.Registrar = &onceRegistrar{Registrar: scanner.Registrar, s: s, scanID: id}
		scanner = &once
	}
	a := scanner.Attempt(ctx, target)
	elapsed := a.Finished.Sub(a.Started)
	if by, ok := waitingForRegistration(a); ok {
		// Another scan is registering the same commit: waiting for it
		// is not a failed attempt, so the job is snoozed (which uses up
		// no attempt) and the record says why it waits.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
		if _, err := s.write(bg, `UPDATE scans SET status = 'retrying', attempts = $1, last_error = $2, updated_at = $3
			WHERE id = $4 AND status = 'running'`, job.Attempt-1, by.Error(), micros(s.now()), id); err != nil {
			log.Warn().Err(err).Msg("could not mark the scan waiting")
		}
		log.Debug().Str("registering_scan", by.by).Msg("waiting for another scan's registration of the same commit")
		return river.JobSnooze(by.RetryAfter())
	}
	if a.Succeeded() {
		return s.finish(ctx, job, r.Server, scanner, a, log)
	}

	if errors.Is(ctx.Err(), context.Canceled) {
		// The store is stopping: the attempt was cut short, not failed.
		// River puts a job stopped so back in the queue without counting
		// the attempt (it recognises the context's cancellation in the
		// error returned), and the record says the same.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
		if _, err := s.write(bg, `UPDATE scans SET status = 'queued', attempts = $1, updated_at = $2
			WHERE id = $3 AND status = 'running'`, job.Attempt-1, micros(s.now()), id); err != nil {
			log.Warn().Err(err).Msg("could not put the interrupted scan's record back in the queue")
		}
		log.Info().Msg("scan interrupted by shutdown; back in the queue")
		return fmt.Errorf("scan %s interrupted: %w", id, ctx.Err())
	}

	// An attempt that ran out of time may well succeed next time.
	transient := a.Retryable() || ctx.Err() != nil
	firstStarted := started
	if r.StartedAt != nil {
		firstStarted = *r.StartedAt
	}
	if transient && job.Attempt < job.MaxAttempts && s.withinBudget(firstStarted) {
		failure := s.scrubError(attemptError(ctx, a))
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
		if _, err := s.write(bg, `UPDATE scans SET status = 'retrying', last_error = $1, updated_at = $2
			WHERE id = $3 AND status = 'running'`, failure.Error(), micros(s.now()), id); err != nil {
			log.Warn().Err(err).Msg("could not mark the scan retrying")
		}
		s.observeAttempt(attemptRetry, elapsed)
		s.countRetry()
		job.Args.retryAfter = a.RetryAfter()
		log.Info().Err(failure).Int("max_attempts", job.MaxAttempts).Msg("scan failed transiently; will retry")
		return failure
	}
	return s.finish(ctx, job, r.Server, scanner, a, log)
}

// withinBudget reports whether a scan or report first tried at first may be
// tried again: RetryFor has not passed since. The budget is checked when
// an attempt fails, so the last one starts before it runs out and ends at
// most RetryMax + JobTimeout after.
func (s *Store) withinBudget(first time.Time) bool {
	return s.now().Sub(first) < s.cfg.RetryFor
}

// attemptError says why an attempt failed, naming a timeout, whose own
// errors ("context deadline exceeded") read poorly.
func attemptError(ctx context.Context, a *scan.Attempt) error {
	err := a.Err()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("the attempt timed out: %w", errors.Join(err, ctx.Err()))
	}
	if err == nil {
		err = errors.New("the attempt failed without an error")
	}
	return err
}

// finish makes a scan final: the scanner builds the result, then the
// record, the job's completion and, for a failure, the job of its error
// report are written together, with the scan's notifications and, for a
// scan that reached the server, the link to its commit's report. It runs
// on a context detached from the attempt's, so that a scan whose last
// attempt timed out is still recorded.
func (s *Store) finish(ctx context.Context, job *river.Job[ScanArgs], server string, scanner *scan.Scanner, a *scan.Attempt, log zerolog.Logger) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	deferred := *scanner // scanners are shared between workers
	deferred.DeferReport = true
	result := deferred.Finish(fctx, a)
	report := deferred.WouldReport(a)

	status, label := scan.StatusSucceeded, attemptOK
	if !result.Successful {
		status, label = scan.StatusFailed, attemptFinalError
	}
	doc, lastError, err := s.encodeResult(result)
	if err != nil {
		return fmt.Errorf("encode the result of scan %s: %w", job.Args.ScanID, err)
	}

	var updated bool
	err = s.inTx(fctx, func(tx *sql.Tx) error {
		now := micros(s.now())
		// A record no longer running (canceled, removed) keeps its state;
		// the job is completed all the same.
		var err error
		o := a.Image.Origin
		// A scan that reached the server follows (or tells) its commit's
		// report: a registration, or a report answer. Its link to the
		// report is written with its result, one statement for both.
		linked := a.Response != nil || a.Report != nil
		key := ""
		if linked {
			key = reportKey(server, a.Labels.GitURL, a.Labels.GitSHA)
		}
		updated, err = changedOne(fctx, tx, `UPDATE scans SET status = $1, result = $2, last_error = $3,
			finished_at = $4, updated_at = $4, image_id = $5, digest = $6, manifest_digest = $7, platform = $8,
			report_key = $9
			WHERE id = $10 AND status = 'running'`,
			status, doc, lastError, now, a.Image.ID, o.Digest, o.ManifestDigest, o.Platform, key, job.Args.ScanID)
		if err != nil {
			return err
		}
		if updated && report {
			if err := s.queueReport(fctx, tx, job.Args.ScanID); err != nil {
				return err
			}
		}
		if updated {
			if err := s.insertCallbacks(fctx, tx, job.Args.ScanID, scan.EventScanFinal); err != nil {
				return err
			}
			if linked {
				if err := s.linkReport(fctx, tx, job.Args.ScanID, key, server, a.Labels, a.Report); err != nil {
					return fmt.Errorf("link the report: %w", err)
				}
			}
		}
		// The type argument only names the driver kind; the client comes
		// from the work context, and both drivers work on *sql.Tx.
		_, err = river.JobCompleteTx[riverdriver.Driver[*sql.Tx]](fctx, tx, job)
		return err
	})
	if err != nil {
		return fmt.Errorf("record the result of scan %s: %w", job.Args.ScanID, err)
	}
	s.observeAttempt(label, a.Finished.Sub(a.Started))
	if updated {
		s.countFinished(status)
		s.finished.broadcast()
	}
	ev := log.Info()
	if !result.Successful {
		ev = log.Warn().Str("error", lastError)
	}
	ev.Str("status", string(status)).Msg("scan finished")
	return nil
}

// nextRetry is when a failed attempt is tried again: RetryBase doubling per
// attempt, with ±20% jitter so that scans failed together do not retry
// together, capped at RetryMax; later when the server asked for it
// (retryAfter, itself bounded by RetryMax).
func (s *Store) nextRetry(attempt int, retryAfter time.Duration) time.Time {
	wait := retryDelay(s.cfg.RetryBase, s.cfg.RetryMax, attempt, rand.Float64())
	wait = max(wait, min(retryAfter, s.cfg.RetryMax))
	return time.Now().Add(wait) // River's clock, not the records'
}

// retryDelay is the wait after the given attempt (1 for the first), with
// jitter in [0, 1) spreading it over ±20%.
func retryDelay(base, maxDelay time.Duration, attempt int, jitter float64) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	// Capped before the jitter, so that scans failing for long still
	// spread out below the cap instead of all retrying at it.
	d = min(d, maxDelay)
	d = time.Duration(float64(d) * (0.8 + 0.4*jitter))
	return max(min(d, maxDelay), 0)
}

func (s *Store) countFinished(status scan.Status) {
	if m := s.cfg.Metrics; m != nil {
		m.ScansTotal.WithLabelValues(string(status)).Inc()
	}
}

func (s *Store) observeAttempt(result string, d time.Duration) {
	if m := s.cfg.Metrics; m != nil {
		m.ScanDuration.WithLabelValues(result).Observe(d.Seconds())
	}
}

func (s *Store) countRetry() {
	if m := s.cfg.Metrics; m != nil {
		m.Retries.Inc()
	}
}
