package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// followUpMaxAttempts bounds the errors of a follow-up job (the database
// unreachable, say). The analytics server's failures are not errors of
// the job: the policy backs off and the job snoozes, which River does not
// count as an attempt.
const followUpMaxAttempts = 10

// FollowUpArgs are the arguments of a report follow-up job: the key of the
// analysis report it follows. There is one job per report, whichever number
// of scans share it.
type FollowUpArgs struct {
	Key string `json:"report_key"`
}

// Kind names follow-up jobs in River's table.
func (FollowUpArgs) Kind() string { return "report_followup" }

type followUpWorker struct {
	river.WorkerDefaults[FollowUpArgs]
	s *Store
}

func (w *followUpWorker) Work(ctx context.Context, job *river.Job[FollowUpArgs]) error {
	return w.s.followUp(ctx, job)
}

// reportKey names the report of a commit on a server: the scans of every
// image built from the same commit and registered with the same server share
// it. A digest, so that the key has a bounded length whatever the labels.
func reportKey(server, gitURL, gitSHA string) string {
	sum := sha256.Sum256([]byte(server + "\n" + gitURL + "\n" + gitSHA))
	return hex.EncodeToString(sum[:])
}

func (s *Store) followUpPolicy() scan.FollowUpPolicy {
	return scan.FollowUpPolicy{Interval: s.cfg.ReportInterval, Deadline: s.cfg.ReportDeadline, RetryBase: s.cfg.RetryBase}
}

// reportRow is a row of the reports table, without the report itself.
type reportRow struct {
	key, server, gitURL, gitSHA string
	status                      scan.ReportStatus
}

func getReportRow(ctx context.Context, q querier, key string) (reportRow, error) {
	var (
		r   = reportRow{key: key}
		raw string
	)
	err := q.QueryRowContext(ctx, `SELECT report_server, git_url, git_sha, report_status FROM reports WHERE report_key = $1`, key).
		Scan(&r.server, &r.gitURL, &r.gitSHA, &raw)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(raw), &r.status); err != nil {
		return r, fmt.Errorf("report %s: stored status does not decode: %w", key, err)
	}
	return r, nil
}

// pollOf is a report answer as the follow-up policy reads it.
func pollOf(ans *scan.ReportAnswer, err error) scan.ReportPoll {
	switch {
	case err != nil:
		return scan.ReportPoll{Err: err, Transient: scan.IsTransient(err), RetryAfter: scan.RetryAfter(err)}
	case ans.State == scan.ReportReady:
		return scan.ReportPoll{Report: ans.Report}
	case ans.State == scan.ReportLockFileAbsent:
		return scan.ReportPoll{LockFileAbsent: true, Message: ans.Message}
	}
	return scan.ReportPoll{NotReady: true, Message: ans.Message}
}

// linkReport links a scan that reached the analytics server to the report
// of its commit (key, which the scan's final write recorded), in the
// transaction that makes the scan final. After a
// registration (answer nil) it starts the report's follow-up unless one runs
// already or the report is known; a follow-up that timed out or failed
// starts again. A `report` scan's answer is the report's first (or latest)
// news: a final answer makes a pending report final at once, a not-ready
// one starts the follow-up.
func (s *Store) linkReport(ctx context.Context, tx *sql.Tx, scanID, key, server string, labels scan.Labels, answer *scan.ReportAnswer) error {
	policy := s.followUpPolicy()
	now := s.now()
	existing, err := getReportRow(ctx, tx, key)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		st, wait := policy.Start(now), time.Duration(0)
		var report *scan.Report
		if answer != nil {
			st, wait = policy.Next(st, pollOf(answer, nil), now)
			report = answer.Report
		}
		doc, body, err := encodeReport(st, report)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reports (report_key, report_server, git_url, git_sha,
			report_state, report_status, report_body, report_created, report_updated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
			key, server, labels.GitURL, labels.GitSHA, string(st.State), doc, body, micros(now)); err != nil {
			return err
		}
		if st.State.Final() {
			return s.reportBecameFinal(ctx, tx, key, st)
		}
		return s.insertFollowUp(ctx, tx, key, wait)

	case err != nil:
		return err

	case existing.status.State == scan.ReportPending && answer != nil && answer.State != scan.ReportPending:
		st, _ := policy.Next(existing.status, pollOf(answer, nil), now)
		_, err := s.finishReport(ctx, tx, key, st, answer.Report)
		return err

	case (existing.status.State == scan.ReportTimedOut || existing.status.State == scan.ReportFailed) && answer == nil:
		// Registered again: the server analyses the commit again, so
		// the report is worth following again.
		st := policy.Start(now)
		doc, _, err := encodeReport(st, nil)
		if err != nil {
			return err
		}
		restarted, err := changedOne(ctx, tx, `UPDATE reports SET report_state = $1, report_status = $2, report_updated = $3
			WHERE report_key = $4 AND report_state = $5`, string(st.State), doc, micros(now), key, string(existing.status.State))
		if err != nil || !restarted {
			return err
		}
		return s.insertFollowUp(ctx, tx, key, 0)

	case existing.status.State.Final():
		// The report was known before this scan: tell its receivers now.
		return s.insertCallbacks(ctx, tx, scanID, scan.EventReportFinal)
	}
	return nil
}

func encodeReport(st scan.ReportStatus, report *scan.Report) (status string, body sql.NullString, err error) {
	doc, err := json.Marshal(st)
	if err != nil {
		return "", body, fmt.Errorf("encode the report status: %w", err)
	}
	if report != nil {
		raw, err := json.Marshal(report)
		if err != nil {
			return "", body, fmt.Errorf("encode the report: %w", err)
		}
		body = sql.NullString{String: string(raw), Valid: true}
	}
	return string(doc), body, nil
}

// insertFollowUp queues the follow-up job of a report, to run after wait.
func (s *Store) insertFollowUp(ctx context.Context, tx *sql.Tx, key string, wait time.Duration) error {
	opts := &river.InsertOpts{MaxAttempts: followUpMaxAttempts, Priority: backgroundPriority}
	if wait > 0 {
		opts.ScheduledAt = time.Now().Add(wait) // River's clock
	}
	if _, err := s.client.InsertTx(ctx, tx, FollowUpArgs{Key: key}, opts); err != nil {
		return fmt.Errorf("queue the report follow-up: %w", err)
	}
	return nil
}

// finishReport writes a report's final status (and the report, when ready)
// unless another writer made it final first, and then queues the
// notifications of every scan that shares it.
func (s *Store) finishReport(ctx context.Context, tx *sql.Tx, key string, st scan.ReportStatus, report *scan.Report) (bool, error) {
	doc, body, err := encodeReport(st, report)
	if err != nil {
		return false, err
	}
	changed, err := changedOne(ctx, tx, `UPDATE reports SET report_state = $1, report_status = $2,
		report_body = COALESCE($3, report_body), report_updated = $4
		WHERE report_key = $5 AND report_state = 'pending'`, string(st.State), doc, body, micros(s.now()), key)
	if err != nil || !changed {
		return changed, err
	}
	return true, s.reportBecameFinal(ctx, tx, key, st)
}

// reportBecameFinal counts a report that became final and queues the
// notifications of the scans that share it.
func (s *Store) reportBecameFinal(ctx context.Context, tx *sql.Tx, key string, st scan.ReportStatus) error {
	if m := s.cfg.Metrics; m != nil && st.State == scan.ReportReady && st.Summary != nil {
		c := st.Summary.BySeverity
		for severity, n := range map[scan.Severity]int{
			scan.SeverityCritical: c.Critical, scan.SeverityHigh: c.High, scan.SeverityMedium: c.Medium,
			scan.SeverityLow: c.Low, scan.SeverityNone: c.None, scan.SeverityUnknown: c.Unknown,
		} {
			m.ReportCVEs.WithLabelValues(string(severity)).Add(float64(n))
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM scans WHERE report_key = $1`, key)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	// Closed before the inserts: SQLite has one connection.
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.insertCallbacks(ctx, tx, id, scan.EventReportFinal); err != nil {
			return err
		}
	}
	return nil
}

// followUp asks the analytics server once for a report and snoozes the job
// until the next request while the report is pending. A report made final
// meanwhile (by a `report` scan) ends the job without asking.
func (s *Store) followUp(ctx context.Context, job *river.Job[FollowUpArgs]) error {
	key := job.Args.Key
	log := s.log.With().Str("report_key", key[:12]).Logger()
	r, err := getReportRow(ctx, s.rdb, key)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return river.JobCancel(fmt.Errorf("report %s no longer exists", key))
	case err != nil:
		return fmt.Errorf("load report %s: %w", key, err)
	case r.status.State.Final():
		return nil
	}

	var poll scan.ReportPoll
	scanner, err := s.cfg.ScannerFor(r.server)
	switch {
	case err != nil:
		poll = scan.ReportPoll{Err: fmt.Errorf("analytics server %q: %w", r.server, err)}
	case scanner == nil || scanner.Registrar == nil:
		poll = scan.ReportPoll{Err: errors.New("no analytics server configured")}
	default:
		ans, err := scanner.Registrar.FetchReport(ctx, r.gitURL, r.gitSHA)
		if err != nil && errors.Is(ctx.Err(), context.Canceled) {
			// The store is stopping; the next start asks again.
			return river.JobSnooze(0)
		}
		poll = pollOf(ans, err)
	}

	st, wait := s.followUpPolicy().Next(r.status, poll, s.now())
	ev := log.Debug()
	if st.State != scan.ReportPending {
		ev = log.Info()
	}
	ev.Str("state", string(st.State)).Int("tries", st.Tries).Str("message", st.Message).Msg("report follow-up")

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if st.State == scan.ReportPending {
		doc, _, err := encodeReport(st, nil)
		if err != nil {
			return err
		}
		if _, err := s.write(fctx, `UPDATE reports SET report_status = $1, report_updated = $2
			WHERE report_key = $3 AND report_state = 'pending'`, doc, micros(s.now()), key); err != nil {
			return fmt.Errorf("record the report follow-up %s: %w", key, err)
		}
		return river.JobSnooze(wait)
	}
	err = s.inTx(fctx, func(tx *sql.Tx) error {
		if _, err := s.finishReport(fctx, tx, key, st, poll.Report); err != nil {
			return err
		}
		_, err := river.JobCompleteTx[riverdriver.Driver[*sql.Tx]](fctx, tx, job)
		return err
	})
	if err != nil {
		return fmt.Errorf("record the report %s: %w", key, err)
	}
	s.finished.broadcast()
	return nil
}

// Report returns the whole report of a scan's commit.
func (s *Store) Report(ctx context.Context, id string) (scan.Report, error) {
	var (
		state sql.NullString
		body  sql.NullString
	)
	err := s.rdb.QueryRowContext(ctx, `SELECT reports.report_state, reports.report_body`+recordTables+` WHERE id = $1`, id).
		Scan(&state, &body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return scan.Report{}, scan.Errorf(scan.ENotFound, "no scan with id %q", id)
	case err != nil:
		return scan.Report{}, fmt.Errorf("store: report of %s: %w", id, err)
	case !state.Valid:
		return scan.Report{}, scan.Errorf(scan.ENotFound, "scan %s has no report: it did not reach the analytics server", id)
	case !body.Valid:
		return scan.Report{}, scan.Errorf(scan.ENotFound, "scan %s has no report: its report is %s", id, state.String)
	}
	var r scan.Report
	if err := json.Unmarshal([]byte(body.String), &r); err != nil {
		return scan.Report{}, fmt.Errorf("store: report of %s does not decode: %w", id, err)
	}
	return r, nil
}

// ReportStates counts the reports by state, for the metrics.
func (s *Store) ReportStates(ctx context.Context) (map[scan.ReportState]int, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT report_state, COUNT(*) FROM reports GROUP BY report_state`)
	if err != nil {
		return nil, fmt.Errorf("store: count reports: %w", err)
	}
	defer rows.Close()
	counts := make(map[scan.ReportState]int, len(scan.ReportStates))
	for _, st := range scan.ReportStates {
		counts[st] = 0
	}
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("store: count reports: %w", err)
		}
		counts[scan.ReportState(state)] = n
	}
	return counts, rows.Err()
}
