package queue

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/centos-pipeline/analytics-scanner/internal/notify"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// waitPoll is how often Wait rereads a record. A scan finished by this
// process wakes its waiters at once; the poll is for scans finished by
// another replica.
const waitPoll = 250 * time.Millisecond

// waitReadTimeout bounds each read made by Wait, whose own context may be
// done already: it must still return the current record.
const waitReadTimeout = 5 * time.Second

// submitTries bounds the passes of Submit that lose a race for the same
// image to a concurrent submission; the second pass normally finds the
// winner.
const submitTries = 3

// recordColumns are the columns scanRecord reads, in its order, from
// recordTables.
const recordColumns = `id, image, scan_type, server, status, attempts, max_attempts, last_error,
	created_at, updated_at, started_at, finished_at, result, job_id,
	source, name, image_id, digest, manifest_digest, platform,
	scans.report_key, callback_url, reports.report_status`

// recordTables is a scan with its report, which scans of the same server,
// git-url and git-sha share.
const recordTables = ` FROM scans LEFT JOIN reports ON reports.report_key = scans.report_key`

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// changedOne runs a statement meant to update or delete one row, guarded
// by the row's status, and reports whether it did: false means another
// writer (a cancel, a worker, a replica) changed the row first.
func changedOne(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// row is a scan record with the columns the service does not show.
type row struct {
	scan.Record
	jobID sql.NullInt64
	// name is the image's display name, when the request gave one.
	name        string
	reportKey   string
	callbackURL string
}

func scanRecord(sc interface{ Scan(...any) error }) (row, error) {
	var (
		r                 row
		status            string
		created, updated  int64
		started, finished sql.NullInt64
		result            sql.NullString
		reportStatus      sql.NullString
	)
	err := sc.Scan(&r.ID, &r.Image, &r.ScanType, &r.Server, &status, &r.Attempts, &r.MaxAttempts, &r.LastError,
		&created, &updated, &started, &finished, &result, &r.jobID,
		&r.Source, &r.name, &r.ImageID, &r.Digest, &r.ManifestDigest, &r.Platform,
		&r.reportKey, &r.callbackURL, &reportStatus)
	if err != nil {
		return row{}, err
	}
	r.Status = scan.Status(status)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	r.StartedAt, r.FinishedAt = nullMicros(started), nullMicros(finished)
	if result.Valid && result.String != "" {
		var res scan.Result
		if err := json.Unmarshal([]byte(result.String), &res); err != nil {
			return row{}, fmt.Errorf("scan %s: stored result does not decode: %w", r.ID, err)
		}
		r.Result = &res
	}
	if reportStatus.Valid && reportStatus.String != "" {
		var st scan.ReportStatus
		if err := json.Unmarshal([]byte(reportStatus.String), &st); err != nil {
			return row{}, fmt.Errorf("scan %s: stored report status does not decode: %w", r.ID, err)
		}
		r.Report = &st
	}
	if r.callbackURL != "" {
		r.CallbackURL = notify.Redact(r.callbackURL)
	}
	return r, nil
}

func getRow(ctx context.Context, q querier, id string) (row, error) {
	r, err := scanRecord(q.QueryRowContext(ctx, `SELECT `+recordColumns+recordTables+` WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, scan.Errorf(scan.ENotFound, "no scan with id %q", id)
	}
	return r, err
}

// imageKey is the form of an image reference under which submissions are
// deduplicated, so that "nginx" and "docker.io/library/nginx:latest", or
// an id with and without "sha256:", count as the same image. A reference
// that does not parse is its own key.
func imageKey(ref string) string {
	ref = strings.TrimSpace(ref)
	if scan.LooksLikeID(ref) {
		return strings.TrimPrefix(ref, "sha256:")
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.TagNameOnly(named).String()
}

// resolveTimeout bounds the lookup of an image's id at submission: it is
// only worth doing when cheap, and a daemon that is slow to answer is
// better left to the worker, which retries.
const resolveTimeout = 2 * time.Second

// submitKey is the key a submission is deduplicated under: the image's id
// when ResolveImage finds it (so that its name, its full id, its sha256:
// id and its id prefixes make one scan), else the reference's own key.
func (s *Store) submitKey(ctx context.Context, req scan.Request) string {
	if s.cfg.ResolveImage == nil {
		return imageKey(req.Image)
	}
	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	id, err := s.cfg.ResolveImage(rctx, req.Source, req.Image)
	if err != nil || !scan.LooksLikeID(id) || len(strings.TrimPrefix(id, "sha256:")) != 64 {
		// Not found, unreachable, or a source that does not resolve: the
		// worker will say what is wrong.
		return imageKey(req.Image)
	}
	return imageKey(id)
}

// Submit queues a scan, or returns the one of the same image, type and
// server already queued, running or retrying (created false). The record and
// its job are written in one transaction.
func (s *Store) Submit(ctx context.Context, req scan.Request) (rec scan.Record, created bool, err error) {
	if strings.TrimSpace(req.Image) == "" {
		return scan.Record{}, false, scan.Errorf(scan.EInvalid, "image is required")
	}
	scanType, ok := scan.ResolveScanType(req.ScanType)
	if !ok {
		return scan.Record{}, false, scan.Errorf(scan.EInvalid, "scan type %q is not supported; the scan types are %q",
			req.ScanType, scan.ScanTypes)
	}
	req.ScanType = scanType
	if req.Source, err = resolveSource(req.Source); err != nil {
		return scan.Record{}, false, err
	}
	key := s.submitKey(ctx, req)
	rec, created, err = s.submitGrouped(ctx, req, key)
	if err != nil && scan.ErrorCode(err) == scan.EInternal {
		err = fmt.Errorf("store: submit: %w", err)
	}
	return rec, created, err
}

// resolveSource applies the default source and refuses unknown ones.
func resolveSource(source string) (string, error) {
	switch source {
	case "":
		return scan.SourceDaemon, nil
	case scan.SourceDaemon, scan.SourceRegistry:
		return source, nil
	}
	return "", scan.Errorf(scan.EInvalid, "source %q is not one of %q, %q", source, scan.SourceDaemon, scan.SourceRegistry)
}

// findScan returns the newest scan of req's image, type, server and source
// that meets cond, if any.
func findScan(ctx context.Context, tx *sql.Tx, req scan.Request, key, cond string) (scan.Record, bool, error) {
	r, err := scanRecord(tx.QueryRowContext(ctx, `SELECT `+recordColumns+recordTables+`
		WHERE image_key = $1 AND scan_type = $2 AND server = $3 AND source = $4 AND `+cond+`
		ORDER BY created_at DESC, id DESC LIMIT 1`,
		key, req.ScanType, req.Server, req.Source))
	switch {
	case err == nil:
		return r.Record, true, nil
	case errors.Is(err, sql.ErrNoRows):
		return scan.Record{}, false, nil
	}
	return scan.Record{}, false, err
}

// depthLockKey is the PostgreSQL advisory lock that serialises the depth
// check and insert of concurrent submissions.
const depthLockKey int64 = 0x5ca77e55_0002

// checkDepth refuses adding scans to a queue that would then hold more
// than MaxQueueDepth unfinished ones.
func (s *Store) checkDepth(ctx context.Context, tx *sql.Tx, adding int) error {
	depth, err := s.lockedDepth(ctx, tx)
	if err != nil {
		return err
	}
	if depth+adding > s.cfg.MaxQueueDepth {
		return scan.Errorf(scan.EQueueFull, "the queue holds %d scans and its limit is %d; try again later", depth, s.cfg.MaxQueueDepth)
	}
	return nil
}

// lockedDepth counts the unfinished scans, holding, until tx ends, the
// lock that makes the depth limit exact.
func (s *Store) lockedDepth(ctx context.Context, tx *sql.Tx) (int, error) {
	if s.dialect == dialectPostgres {
		// Submissions count and insert one at a time, so the limit is
		// exact: without this, concurrent transactions each counted
		// before the others' inserts were visible (62 accepted of 50 at
		// concurrency 64). The lock ends with the transaction; the count
		// below, a statement of its own, sees every insert committed
		// before it was granted. SQLite needs none: its transactions
		// begin IMMEDIATE, one writer at a time.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, depthLockKey); err != nil {
			return 0, err
		}
	}
	var depth int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM scans WHERE status IN `+activeStatuses).Scan(&depth)
	return depth, err
}

// insertScan writes the record of a queued scan whose job is jobID.
func (s *Store) insertScan(ctx context.Context, tx *sql.Tx, req scan.Request, key, id string, jobID int64) (scan.Record, error) {
	now := s.now()
	rec := scan.Record{
		ID: id, Image: req.Image, ScanType: req.ScanType, Server: req.Server, Source: req.Source,
		Status: scan.StatusQueued, MaxAttempts: s.cfg.MaxAttempts,
		CreatedAt: fromMicros(micros(now)), UpdatedAt: fromMicros(micros(now)),
	}
	if req.CallbackURL != "" {
		rec.CallbackURL = notify.Redact(req.CallbackURL)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO scans
		(id, image, image_key, scan_type, server, source, name, status, attempts, max_attempts, last_error,
		 created_at, updated_at, job_id, callback_url)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, '', $10, $10, $11, $12)`,
		rec.ID, rec.Image, key, rec.ScanType, rec.Server, rec.Source, req.Name, rec.Status, rec.MaxAttempts,
		micros(now), jobID, req.CallbackURL)
	return rec, err
}

// Get returns one record, or an error with code scan.ENotFound. It reads on
// the read connections, without waiting for the writer.
func (s *Store) Get(ctx context.Context, id string) (scan.Record, error) {
	r, err := getRow(ctx, s.rdb, id)
	if err != nil {
		if scan.ErrorCode(err) == scan.EInternal {
			err = fmt.Errorf("store: get %s: %w", id, err)
		}
		return scan.Record{}, err
	}
	if r.Callbacks, err = s.callbacksOf(ctx, s.rdb, id); err != nil {
		return scan.Record{}, fmt.Errorf("store: get %s: %w", id, err)
	}
	return r.Record, nil
}

// Wait returns the record once it is final or ctx is done; in the latter
// case it returns the record as it is, without error.
func (s *Store) Wait(ctx context.Context, id string) (scan.Record, error) {
	ticker := time.NewTicker(waitPoll)
	defer ticker.Stop()
	for {
		// Taken before the read, so a scan that ends between the read and
		// the select still wakes this wait.
		woken := s.finished.wait()
		readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), waitReadTimeout)
		rec, err := s.Get(readCtx, id)
		cancel()
		if err != nil || rec.Status.Final() {
			return rec, err
		}
		select {
		case <-ctx.Done():
			return rec, nil
		case <-woken:
		case <-ticker.C:
		}
	}
}

// listCursor is where a page ends: the (created_at, id) of its last record.
type listCursor struct {
	createdAt int64
	id        string
}

func (c listCursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.createdAt, 10) + ":" + c.id))
}

func decodeCursor(s string) (listCursor, error) {
	invalid := scan.Errorf(scan.EInvalid, "the cursor is not one this service returned")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return listCursor{}, invalid
	}
	ts, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" {
		return listCursor{}, invalid
	}
	createdAt, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return listCursor{}, invalid
	}
	return listCursor{createdAt: createdAt, id: id}, nil
}

// List returns records newest first, filtered by exact image and by status.
func (s *Store) List(ctx context.Context, f scan.Filter) (scan.Page, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = scan.DefaultListLimit
	case limit < 1 || limit > scan.MaxListLimit:
		return scan.Page{}, scan.Errorf(scan.EInvalid, "limit must be between 1 and %d", scan.MaxListLimit)
	}
	if f.Status != "" && !f.Status.Valid() {
		return scan.Page{}, scan.Errorf(scan.EInvalid, "status %q is not one of %v", f.Status, scan.Statuses)
	}
	if f.Report != "" && !f.Report.Valid() {
		return scan.Page{}, scan.Errorf(scan.EInvalid, "report %q is not one of %v", f.Report, scan.ReportStates)
	}
	var (
		conds []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Image != "" {
		conds = append(conds, "image = "+arg(f.Image))
	}
	if f.Status != "" {
		conds = append(conds, "status = "+arg(string(f.Status)))
	}
	if f.Report != "" {
		conds = append(conds, "reports.report_state = "+arg(string(f.Report)))
	}
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return scan.Page{}, err
		}
		at, id := arg(c.createdAt), arg(c.id)
		conds = append(conds, fmt.Sprintf("(created_at < %s OR (created_at = %s AND id < %s))", at, at, id))
	}
	query := `SELECT ` + recordColumns + recordTables
	if len(conds) > 0 {
		query += ` WHERE ` + strings.Join(conds, " AND ")
	}
	// One more than asked tells whether there is a next page.
	query += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(limit+1)

	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return scan.Page{}, fmt.Errorf("store: list: %w", err)
	}
	defer rows.Close()
	page := scan.Page{Scans: []scan.Record{}}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return scan.Page{}, fmt.Errorf("store: list: %w", err)
		}
		page.Scans = append(page.Scans, r.Record)
	}
	if err := rows.Err(); err != nil {
		return scan.Page{}, fmt.Errorf("store: list: %w", err)
	}
	if len(page.Scans) > limit {
		page.Scans = page.Scans[:limit]
		last := page.Scans[limit-1]
		page.NextCursor = listCursor{createdAt: micros(last.CreatedAt), id: last.ID}.encode()
	}
	return page, nil
}

// Delete cancels a queued or retrying scan, returning it canceled, or
// removes a final one, returning it as it was (removed true). A running scan
// answers scan.EConflict.
func (s *Store) Delete(ctx context.Context, id string) (scan.Record, bool, error) {
	var (
		rec      scan.Record
		removed  bool
		canceled bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// A scan can change between the read and the conditional write
		// (a worker picks it up, or finishes it); then read it again.
		for range 3 {
			r, err := getRow(ctx, tx, id)
			if err != nil {
				return err
			}
			switch {
			case r.Status == scan.StatusRunning:
				return scan.Errorf(scan.EConflict, "scan %s is running; it can be deleted once it ends", id)

			case r.Status.Final():
				if ok, err := changedOne(ctx, tx, `DELETE FROM scans WHERE id = $1`, id); err != nil {
					return err
				} else if !ok {
					continue
				}
				// Its pending callbacks end with it (their jobs find no
				// row and cancel themselves).
				if _, err := tx.ExecContext(ctx, `DELETE FROM callbacks WHERE scan_id = $1`, id); err != nil {
					return err
				}
				if r.jobID.Valid {
					// River's cleaner would remove the job in time;
					// removing it now leaves nothing of the scan behind.
					_, err := s.client.JobDeleteTx(ctx, tx, r.jobID.Int64)
					if err != nil && !errors.Is(err, river.ErrNotFound) && !errors.Is(err, rivertype.ErrJobRunning) {
						return fmt.Errorf("delete the job: %w", err)
					}
				}
				rec, removed = r.Record, true
				return nil

			default:
				now := s.now()
				if ok, err := changedOne(ctx, tx, `UPDATE scans SET status = 'canceled', finished_at = $1, updated_at = $1
					WHERE id = $2 AND status IN `+cancelableStatuses, micros(now), id); err != nil {
					return err
				} else if !ok {
					continue
				}
				if r.jobID.Valid {
					_, err := s.client.JobCancelTx(ctx, tx, r.jobID.Int64)
					if err != nil && !errors.Is(err, river.ErrNotFound) {
						return fmt.Errorf("cancel the job: %w", err)
					}
				}
				if err := s.insertCallbacks(ctx, tx, id, scan.EventScanFinal); err != nil {
					return err
				}
				at := fromMicros(micros(now))
				r.Status, r.UpdatedAt, r.FinishedAt = scan.StatusCanceled, at, &at
				rec, canceled = r.Record, true
				return nil
			}
		}
		return scan.Errorf(scan.EConflict, "scan %s kept changing; try again", id)
	})
	if err != nil {
		if scan.ErrorCode(err) == scan.EInternal {
			err = fmt.Errorf("store: delete %s: %w", id, err)
		}
		return scan.Record{}, false, err
	}
	switch {
	case canceled:
		s.countFinished(scan.StatusCanceled)
		s.finished.broadcast()
		s.log.Info().Str("scan_id", id).Msg("scan canceled")
	case removed:
		s.log.Info().Str("scan_id", id).Msg("scan deleted")
	}
	return rec, removed, nil
}

// QueueDepth counts the scans not yet final.
func (s *Store) QueueDepth(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM scans WHERE status IN `+activeStatuses).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: queue depth: %w", err)
	}
	return n, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}
