package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/centos-pipeline/analytics-scanner/internal/notify"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Callback delivery bounds: a receiver down for a day, tried every half
// hour at worst, still gets its notification.
const (
	callbackMaxAttempts = 60
	callbackRetryMax    = 30 * time.Minute
	// callbackLogLimit bounds the attempts kept on a callback's record.
	callbackLogLimit = 20
)

// The states of a callback.
const (
	callbackPending   = "pending"
	callbackDelivered = "delivered"
	callbackFailed    = "failed"
)

// NotifyArgs are the arguments of a notification job: the callback row,
// which holds the event, the scan and the URL.
type NotifyArgs struct {
	CallbackID string `json:"callback_id"`
}

// Kind names notification jobs in River's table.
func (NotifyArgs) Kind() string { return "notify" }

type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	s *Store
}

func (w *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	return w.s.deliver(ctx, job)
}

func (w *notifyWorker) NextRetry(job *river.Job[NotifyArgs]) time.Time {
	return time.Now().Add(retryDelay(w.s.cfg.RetryBase, max(callbackRetryMax, w.s.cfg.RetryBase), job.Attempt, rand.Float64()))
}

// Notification is the body of a callback: the event and the scan's record
// as GET /scan/{id} shows it, without its callbacks.
type Notification struct {
	Event string      `json:"event"`
	Scan  scan.Record `json:"scan"`
}

// insertCallbacks queues the notification of event for a scan: one callback
// to the scan's own callback URL, one to the operator's NotifyURL, each
// delivered by its own job.
func (s *Store) insertCallbacks(ctx context.Context, tx *sql.Tx, scanID, event string) error {
	if s.cfg.Notifier == nil {
		return nil
	}
	var own string
	if err := tx.QueryRowContext(ctx, `SELECT callback_url FROM scans WHERE id = $1`, scanID).Scan(&own); err != nil {
		return fmt.Errorf("read the callback URL of scan %s: %w", scanID, err)
	}
	for _, target := range []string{own, s.cfg.NotifyURL} {
		if target == "" {
			continue
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO callbacks (callback_id, scan_id, event, url, callback_state, callback_created)
			VALUES ($1, $2, $3, $4, $5, $6)`, id.String(), scanID, event, target, callbackPending, micros(s.now())); err != nil {
			return fmt.Errorf("record the callback: %w", err)
		}
		if _, err := s.client.InsertTx(ctx, tx, NotifyArgs{CallbackID: id.String()}, &river.InsertOpts{MaxAttempts: callbackMaxAttempts, Priority: backgroundPriority}); err != nil {
			return fmt.Errorf("queue the callback: %w", err)
		}
	}
	return nil
}

// callbackRow is a row of the callbacks table.
type callbackRow struct {
	scan.Callback
	scanID string
	url    string
}

func scanCallback(sc interface{ Scan(...any) error }) (callbackRow, error) {
	var (
		c         callbackRow
		log       string
		created   int64
		delivered sql.NullInt64
	)
	if err := sc.Scan(&c.ID, &c.scanID, &c.Event, &c.url, &c.State, &log, &created, &delivered); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(log), &c.Attempts); err != nil {
		return c, fmt.Errorf("callback %s: stored attempts do not decode: %w", c.ID, err)
	}
	c.URL = notify.Redact(c.url)
	c.CreatedAt, c.DeliveredAt = fromMicros(created), nullMicros(delivered)
	return c, nil
}

const callbackColumns = `callback_id, scan_id, event, url, callback_state, attempt_log, callback_created, delivered_at`

// callbacksOf lists a scan's callbacks, oldest first.
func (s *Store) callbacksOf(ctx context.Context, q querier, scanID string) ([]scan.Callback, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+callbackColumns+` FROM callbacks WHERE scan_id = $1
		ORDER BY callback_created, callback_id`, scanID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []scan.Callback
	for rows.Next() {
		c, err := scanCallback(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c.Callback)
	}
	return out, rows.Err()
}

// deliver makes one attempt at a callback and records it on the callback.
// A transient failure returns an error, for River to try again later with
// backoff; the receiver's refusal (a 4xx) or the last attempt ends it.
func (s *Store) deliver(ctx context.Context, job *river.Job[NotifyArgs]) error {
	id := job.Args.CallbackID
	c, err := scanCallback(s.rdb.QueryRowContext(ctx, `SELECT `+callbackColumns+` FROM callbacks WHERE callback_id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return river.JobCancel(fmt.Errorf("callback %s no longer exists", id))
	case err != nil:
		return fmt.Errorf("load callback %s: %w", id, err)
	case c.State != callbackPending:
		return nil
	case s.cfg.Notifier == nil:
		return river.JobCancel(errors.New("callbacks are not configured (no notify secret)"))
	}
	rec, err := getRow(ctx, s.rdb, c.scanID)
	if scan.ErrorCode(err) == scan.ENotFound {
		return river.JobCancel(fmt.Errorf("scan %s of callback %s no longer exists", c.scanID, id))
	} else if err != nil {
		return fmt.Errorf("load scan %s: %w", c.scanID, err)
	}
	body, err := json.Marshal(Notification{Event: c.Event, Scan: rec.Record})
	if err != nil {
		return fmt.Errorf("encode callback %s: %w", id, err)
	}

	receipt, deliverErr := s.cfg.Notifier.Deliver(ctx, c.url, body, id)
	attempt := scan.CallbackAttempt{At: fromMicros(micros(s.now()))}
	if receipt != nil {
		attempt.Status = receipt.StatusCode
	}
	var nerr *notify.Error
	if errors.As(deliverErr, &nerr) {
		attempt.Status, attempt.Error = nerr.StatusCode, nerr.Error()
	} else if deliverErr != nil {
		attempt.Error = deliverErr.Error()
	}
	log := append(c.Attempts, attempt)
	if len(log) > callbackLogLimit {
		log = log[len(log)-callbackLogLimit:]
	}
	logDoc, err := json.Marshal(log)
	if err != nil {
		return err
	}

	state := callbackPending
	retry := deliverErr != nil && notify.IsTransient(deliverErr) && job.Attempt < job.MaxAttempts
	switch {
	case deliverErr == nil:
		state = callbackDelivered
	case !retry:
		state = callbackFailed
	}
	var delivered sql.NullInt64
	if state == callbackDelivered {
		delivered = sql.NullInt64{Int64: micros(attempt.At), Valid: true}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if _, err := s.write(fctx, `UPDATE callbacks SET callback_state = $1, attempt_log = $2, delivered_at = $3
		WHERE callback_id = $4`, state, string(logDoc), delivered, id); err != nil {
		return fmt.Errorf("record callback %s: %w", id, err)
	}
	ev := s.log.Info()
	if deliverErr != nil {
		ev = s.log.Warn().Err(deliverErr)
	}
	ev.Str("scan_id", c.scanID).Str("event", c.Event).Str("url", c.URL).Int("attempt", job.Attempt).
		Str("state", state).Msg("callback")
	if retry {
		return deliverErr
	}
	return nil
}
