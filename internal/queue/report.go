package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// ReportArgs are the arguments of the job that tells the analytics server
// why a scan failed: only the scan's id, since its record holds the result
// the report is made of. Unique by scan id, so that a scan is reported once
// however many times its end is written (a rescued final write, the
// maintenance failing an abandoned scan).
type ReportArgs struct {
	ScanID string `json:"scan_id" river:"unique"`
}

// Kind names error report jobs in River's table.
func (ReportArgs) Kind() string { return "analytics_error_report" }

// InsertOpts makes the job unique by its args in every state, completed
// included: a report delivered is not sent again.
func (ReportArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type reportWorker struct {
	river.WorkerDefaults[ReportArgs]
	s *Store
}

func (w *reportWorker) Work(ctx context.Context, job *river.Job[ReportArgs]) error {
	return w.s.sendReport(ctx, job)
}

func (w *reportWorker) NextRetry(job *river.Job[ReportArgs]) time.Time {
	return w.s.nextRetry(job.Attempt, 0)
}

// queueReport queues the error report of a failed scan in tx, the
// transaction that makes the scan final: the report is then as durable as
// the result, and sent whatever happens to this process.
func (s *Store) queueReport(ctx context.Context, tx *sql.Tx, scanID string) error {
	_, err := s.client.InsertTx(ctx, tx, ReportArgs{ScanID: scanID}, &river.InsertOpts{MaxAttempts: s.cfg.MaxAttempts, Priority: backgroundPriority})
	if err != nil {
		return fmt.Errorf("queue the error report: %w", err)
	}
	return nil
}

// sendReport sends a failed scan's errors to its analytics server's
// scanner-error endpoint, from the result stored in its record. A
// transient failure is tried again, as a scan is, for RetryFor since the
// report was queued; a permanent one (a 4xx) is given up at once.
func (s *Store) sendReport(ctx context.Context, job *river.Job[ReportArgs]) error {
	id := job.Args.ScanID
	log := s.log.With().Str("scan_id", id).Int("attempt", job.Attempt).Logger()
	r, err := getRow(ctx, s.rdb, id)
	switch {
	case scan.ErrorCode(err) == scan.ENotFound:
		return river.JobCancel(fmt.Errorf("scan %s no longer exists", id))
	case err != nil:
		return fmt.Errorf("load scan %s: %w", id, err)
	case r.Result == nil || r.Result.Successful:
		return river.JobCancel(fmt.Errorf("scan %s has no failure to report", id))
	}
	scanner, err := s.cfg.ScannerFor(r.Server)
	if err == nil && (scanner == nil || scanner.Registrar == nil) {
		err = errors.New("no analytics server")
	}
	if err != nil {
		return river.JobCancel(fmt.Errorf("report of scan %s: %w", id, err))
	}
	res := r.Result.ScanResults
	_, err = scanner.Registrar.ReportError(ctx, scan.ErrorReport{ImageName: res.ImageName, EmailIDs: res.EmailIDs, Errors: r.Result.Errors})
	if err == nil {
		log.Info().Msg("error report delivered")
		s.countReport("delivered")
		return nil
	}
	err = s.scrubError(err)
	transient := scan.IsTransient(err) || ctx.Err() != nil
	// The budget runs from when the report was queued, the scan's end.
	if transient && job.Attempt < job.MaxAttempts && s.withinBudget(job.CreatedAt) {
		log.Info().Err(err).Msg("error report failed transiently; will retry")
		return err
	}
	log.Warn().Err(err).Msg("error report failed; giving up")
	s.countReport("failed")
	return river.JobCancel(fmt.Errorf("report of scan %s: %w", id, err))
}

func (s *Store) countReport(outcome string) {
	if m := s.cfg.Metrics; m != nil {
		m.ErrorReports.WithLabelValues(outcome).Inc()
	}
}
