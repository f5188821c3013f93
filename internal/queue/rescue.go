package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// A scan's job stays "running" in River's table when its process is killed,
// and River's own rescuer only frees it JobTimeout + rescueMargin later, on
// its 30-second round, run by the leader alone (itself re-elected only after
// the dead leader's term runs out): 2 to 3 minutes in all. Heartbeats make
// it seconds: every started store writes its runner row every DeadAfter/4,
// the worker names its runner on the record it marks running, and a store
// that finds a running scan whose runner has been silent for DeadAfter makes
// the scan's job available again at once. Each store rescues only others'
// scans, and a rescue is guarded by the job's state, so two replicas finding
// the same orphan cannot both rescue it.

// errOrphaned is the last error of a scan run again because its runner died.
const errOrphaned = "the process running this scan stopped answering (killed?); running it again"

// heartbeat keeps this runner's row fresh and rescues the scans of dead
// runners, until ctx is done.
func (s *Store) heartbeat(ctx context.Context) {
	ticker := time.NewTicker(s.cfg.DeadAfter / 4)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		bctx, cancel := context.WithTimeout(ctx, s.cfg.DeadAfter/2)
		if err := s.beat(bctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("heartbeat failed")
		}
		if n, err := s.rescueOrphans(bctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("rescuing the scans of dead runners failed")
		} else if n > 0 {
			s.log.Warn().Int("scans", n).Msg("ran again the scans of a runner that stopped answering")
		}
		cancel()
	}
}

// beat records that this runner is alive.
func (s *Store) beat(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO scanner_runners (id, seen_at) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`, s.runnerID, micros(s.now()))
	return err
}

// retire removes this runner's row on a clean stop: its interrupted scans
// went back to the queue, and a scan it left running some other way is
// better run again at once than after DeadAfter. Runner rows of killed
// processes are removed by the maintenance once long dead.
func (s *Store) retire() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM scanner_runners WHERE id = $1`, s.runnerID); err != nil {
		s.log.Warn().Err(err).Msg("could not remove this runner's heartbeat row")
	}
}

// orphan is a running scan whose runner is silent.
type orphan struct {
	id, runner          string
	jobID               int64
	attempt, maxAttempt int
}

// rescueOrphans makes the jobs of running scans whose runner has not been
// heard of for DeadAfter available again, and their records retrying.
func (s *Store) rescueOrphans(ctx context.Context) (int, error) {
	cutoff := micros(s.now().Add(-s.cfg.DeadAfter))
	// Any active status, not only running: a runner killed after its
	// worker marked the record retrying but before River's completer
	// marked the job retryable leaves the job running too.
	rows, err := s.db.QueryContext(ctx, `SELECT s.id, s.runner, s.job_id, s.attempts, s.max_attempts
		FROM scans s JOIN river_job j ON j.id = s.job_id
		WHERE s.status IN `+activeStatuses+` AND j.state = 'running' AND s.runner <> '' AND s.runner <> $1
		AND NOT EXISTS (SELECT 1 FROM scanner_runners r WHERE r.id = s.runner AND r.seen_at >= $2)
		LIMIT $3`, s.runnerID, cutoff, abandonedBatch)
	if err != nil {
		return 0, fmt.Errorf("find orphaned scans: %w", err)
	}
	var found []orphan
	for rows.Next() {
		var o orphan
		if err := rows.Scan(&o.id, &o.runner, &o.jobID, &o.attempt, &o.maxAttempt); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("find orphaned scans: %w", err)
		}
		found = append(found, o)
	}
	// Closed before the writes below: SQLite has one connection.
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find orphaned scans: %w", err)
	}
	rescued := 0
	for _, o := range found {
		ok, err := s.rescueOrphan(ctx, o)
		if err != nil {
			return rescued, fmt.Errorf("rescue scan %s: %w", o.id, err)
		}
		if ok {
			rescued++
			s.log.Warn().Str("scan_id", o.id).Int("attempt", o.attempt).Msg("scan orphaned by a dead runner; running it again")
		}
	}
	if rescued == 0 {
		// Rows of runners dead for long, whose scans are all dealt with.
		_, err = s.db.ExecContext(ctx, `DELETE FROM scanner_runners WHERE seen_at < $1`,
			micros(s.now().Add(-24*time.Hour)))
	}
	return rescued, err
}

// rescueOrphan makes the orphan's job available now (discarded when it has
// no attempt left, for failAbandoned to fail the scan) and its record
// retrying, in one transaction. River's own rescue statement does the job's
// part: it only touches a job still running, so a scan that finished or was
// rescued meanwhile is left alone.
func (s *Store) rescueOrphan(ctx context.Context, o orphan) (bool, error) {
	// River's clock for the job, the records' for the record.
	now, riverNow := s.now(), time.Now().UTC()
	state, finalized := rivertype.JobStateAvailable, (*time.Time)(nil)
	if o.attempt >= o.maxAttempt {
		state, finalized = rivertype.JobStateDiscarded, &riverNow
	}
	errData, err := json.Marshal(rivertype.AttemptError{At: riverNow, Attempt: o.attempt, Error: errOrphaned})
	if err != nil {
		return false, err
	}
	var rescued bool
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		rescued, err = changedOne(ctx, tx, `UPDATE scans SET status = 'retrying', runner = '', last_error = $1, updated_at = $2
			WHERE id = $3 AND runner = $4 AND status IN `+activeStatuses, errOrphaned, micros(now), o.id, o.runner)
		if err != nil || !rescued {
			return err
		}
		_, err = s.driver.UnwrapExecutor(tx).JobRescueMany(ctx, &riverdriver.JobRescueManyParams{
			ID:           []int64{o.jobID},
			Error:        [][]byte{errData},
			FinalizedAt:  []*time.Time{finalized},
			ScheduledAt:  []time.Time{riverNow},
			State:        []string{string(state)},
			StuckHorizon: riverNow.Add(time.Second),
		})
		return err
	})
	return rescued, err
}
