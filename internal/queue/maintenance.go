package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// pruneBatch bounds each delete of old records, so that pruning a large
// backlog never holds SQLite's single connection for long.
const pruneBatch = 500

// abandonedBatch bounds the scans failed per maintenance pass.
const abandonedBatch = 100

// errAbandoned is the error of a scan whose job River gave up on.
var errAbandoned = errors.New("the scan was abandoned: its last attempt was interrupted " +
	"(its worker stopped or crashed) and it has no attempts left")

// maintain runs the store's periodic work until ctx is done. Every started
// replica runs it; each step is safe to run concurrently.
func (s *Store) maintain(ctx context.Context) {
	ticker := time.NewTicker(s.cfg.MaintenanceInterval)
	defer ticker.Stop()
	for {
		if n, err := s.prune(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("pruning old scans failed")
		} else if n > 0 {
			s.log.Info().Int64("removed", n).Str("retention", s.cfg.Retention.String()).Msg("pruned old scans")
		}
		if err := s.pruneRegistrations(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("pruning old registrations failed")
		}
		if n, err := s.failAbandoned(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("failing abandoned scans failed")
		} else if n > 0 {
			s.log.Warn().Int("failed", n).Msg("failed scans the queue had abandoned")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// pruneRegistrations deletes the registrations that stand for nothing any
// more: registered longer than ReregisterAfter ago, or claims left behind.
func (s *Store) pruneRegistrations(ctx context.Context) error {
	if s.cfg.ReregisterAfter < 0 {
		return nil
	}
	now := s.now()
	_, err := s.db.ExecContext(ctx, `DELETE FROM registrations WHERE registered_at < $1
		OR (registered_at IS NULL AND claimed_at < $2)`,
		micros(now.Add(-s.cfg.ReregisterAfter)), micros(now.Add(-2*s.claimHold())))
	if err != nil {
		return fmt.Errorf("store: prune registrations: %w", err)
	}
	return nil
}

// prune deletes the final records older than the retention period.
func (s *Store) prune(ctx context.Context) (int64, error) {
	if s.cfg.Retention < 0 {
		return 0, nil
	}
	cutoff := micros(s.now().Add(-s.cfg.Retention))
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM scans WHERE id IN (
			SELECT id FROM scans WHERE status IN `+finalStatuses+` AND finished_at < $1 LIMIT $2)`,
			cutoff, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("store: prune: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("store: prune: %w", err)
		}
		total += n
		if n < pruneBatch {
			break
		}
	}
	// What only pruned scans referred to goes with them: their callbacks,
	// and the final reports no scan shares any more.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM callbacks WHERE NOT EXISTS
		(SELECT 1 FROM scans WHERE scans.id = callbacks.scan_id)`); err != nil {
		return total, fmt.Errorf("store: prune callbacks: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM reports WHERE report_state <> 'pending' AND report_updated < $1
		AND NOT EXISTS (SELECT 1 FROM scans WHERE scans.report_key = reports.report_key)`, cutoff); err != nil {
		return total, fmt.Errorf("store: prune reports: %w", err)
	}
	return total, nil
}

// failAbandoned fails the scans that are not final but whose job River no
// longer works on. That happens when a process dies during a scan's last
// attempt: River's rescuer then discards the job, and without this the
// record would stay running forever and block new scans of its image.
func (s *Store) failAbandoned(ctx context.Context) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM scans s WHERE s.status IN `+activeStatuses+`
		AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = s.job_id
			AND j.state IN `+liveJobStates+`)
		LIMIT $1`, abandonedBatch)
	if err != nil {
		return 0, fmt.Errorf("store: find abandoned scans: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("store: find abandoned scans: %w", err)
		}
		ids = append(ids, id)
	}
	// Closed before the writes below: SQLite has one connection.
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: find abandoned scans: %w", err)
	}

	failed := 0
	for _, id := range ids {
		ok, err := s.failAbandonedScan(ctx, id)
		if err != nil {
			return failed, err
		}
		if ok {
			failed++
		}
	}
	return failed, nil
}

// failAbandonedScan claims the scan by making it final (so that only one
// replica reports it), then reports the failure and stores the result, as
// the worker would have done at the end of its last attempt.
func (s *Store) failAbandonedScan(ctx context.Context, id string) (bool, error) {
	now := s.now()
	failed, err := changedOne(ctx, s.db, `UPDATE scans SET status = 'failed', last_error = $1, finished_at = $2, updated_at = $2
		WHERE id = $3 AND status IN `+activeStatuses, errAbandoned.Error(), micros(now), id)
	if err != nil {
		return false, fmt.Errorf("store: fail abandoned scan %s: %w", id, err)
	}
	if !failed {
		return false, nil
	}
	s.countFinished(scan.StatusFailed)
	defer s.finished.broadcast()

	r, err := getRow(ctx, s.db, id)
	if err != nil {
		return true, fmt.Errorf("store: fail abandoned scan %s: %w", id, err)
	}
	scanner, err := s.cfg.ScannerFor(r.Server)
	if err != nil || scanner == nil {
		scanner = &scan.Scanner{Now: s.cfg.Now, Log: s.log}
	}
	started := r.CreatedAt
	if r.StartedAt != nil {
		started = *r.StartedAt
	}
	a := &scan.Attempt{Target: scan.Target{Ref: r.Image, ScanType: r.ScanType}, Started: started, Finished: now,
		Errors: []error{errAbandoned}}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	deferred := *scanner // scanners are shared between workers
	deferred.DeferReport = true
	result := deferred.Finish(fctx, a)
	if err := s.storeResult(fctx, id, result, deferred.WouldReport(a)); err != nil {
		return true, err
	}
	s.log.Warn().Str("scan_id", id).Str("image", r.Image).Msg("scan abandoned by the queue; marked failed")
	return true, nil
}

// storeResult sets the result of a scan already made final and queues its
// notifications and, when report is set, its error report in the same
// transaction.
func (s *Store) storeResult(ctx context.Context, id string, result scan.Result, report bool) error {
	doc, lastError, err := s.encodeResult(result)
	if err != nil {
		return fmt.Errorf("store: encode the result of scan %s: %w", id, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE scans SET result = $1, last_error = $2 WHERE id = $3`,
			doc, lastError, id); err != nil {
			return err
		}
		if report {
			if err := s.queueReport(ctx, tx, id); err != nil {
				return err
			}
		}
		// With the result, so that the notification carries it.
		return s.insertCallbacks(ctx, tx, id, scan.EventScanFinal)
	})
	if err != nil {
		return fmt.Errorf("store: record the result of scan %s: %w", id, err)
	}
	return nil
}
