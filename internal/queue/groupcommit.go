package queue

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Group commit of submissions. Every accept is a write, and a database has
// one writer at a time (SQLite's single connection; on PostgreSQL, the
// advisory lock that keeps MaxQueueDepth exact): one transaction per
// accept made each wait for all those before it, each paying for its own
// depth count and commit. Instead, concurrent submissions queue here and
// are written together: one transaction, one depth count, one River insert
// of all their jobs. Nothing waits to fill a batch: whoever finds no batch
// being written writes what is queued at once, and submissions arriving
// meanwhile make the next batch. So a lone submission costs what it did,
// and a burst costs far less per submission.

// maxSubmitBatch bounds the submissions written in one transaction, so
// that one batch does not hold the writer for long.
const maxSubmitBatch = 128

// submitBatchTimeout bounds the transaction of a batch, which runs on no
// one caller's context: a caller who gives up must not fail the others.
const submitBatchTimeout = 30 * time.Second

// pendingSubmit is a submission waiting for its batch to be written.
type pendingSubmit struct {
	ctx  context.Context
	req  scan.Request
	key  string
	done chan struct{}

	rec     scan.Record
	created bool
	err     error
}

// submitQueue holds the submissions not yet taken into a batch, and
// whether a goroutine is writing batches.
type submitQueue struct {
	mu      sync.Mutex
	pending []*pendingSubmit
	writing bool
}

// submitGrouped queues one checked submission and waits for the batch that
// writes it. A caller whose context ends first gets the context's error;
// its scan may still be queued, as a retry of the same request would find.
func (s *Store) submitGrouped(ctx context.Context, req scan.Request, key string) (scan.Record, bool, error) {
	p := &pendingSubmit{ctx: ctx, req: req, key: key, done: make(chan struct{})}
	q := &s.submits
	q.mu.Lock()
	q.pending = append(q.pending, p)
	lead := !q.writing
	q.writing = true
	q.mu.Unlock()
	if lead {
		s.writeBatches(p)
	}
	select {
	case <-p.done:
		return p.rec, p.created, p.err
	case <-ctx.Done():
		return scan.Record{}, false, ctx.Err()
	}
}

// writeBatches writes queued submissions a batch at a time until own's is
// written; then, if more are queued, a goroutine of its own goes on, so
// that own's caller has its answer without waiting for later batches.
func (s *Store) writeBatches(own *pendingSubmit) {
	q := &s.submits
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.writing = false
			q.mu.Unlock()
			return
		}
		if own != nil && isClosed(own.done) {
			q.mu.Unlock()
			go s.writeBatches(nil)
			return
		}
		n := min(len(q.pending), maxSubmitBatch)
		batch := make([]*pendingSubmit, n)
		copy(batch, q.pending)
		q.pending = append(q.pending[:0], q.pending[n:]...)
		q.mu.Unlock()
		s.writeBatch(batch)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// writeBatch writes one batch and answers each of its submissions.
func (s *Store) writeBatch(batch []*pendingSubmit) {
	live := batch[:0:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			// Its caller has gone: nothing is written for it.
			p.err = err
			close(p.done)
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), submitBatchTimeout)
	defer cancel()
	var err error
	for range submitTries {
		err = s.submitBatchOnce(ctx, live)
		if !isUniqueViolation(err) {
			break
		}
		// A submission elsewhere (another replica, a push notification)
		// committed one of these images first; the next pass finds it.
	}
	if isUniqueViolation(err) {
		err = fmt.Errorf("concurrent submissions of the same image kept conflicting: %w", err)
	}
	for _, p := range live {
		if err != nil {
			p.rec, p.created, p.err = scan.Record{}, false, err
		}
		if p.created {
			s.log.Info().Str("scan_id", p.rec.ID).Str("image", p.rec.Image).Str("server", p.rec.Server).Msg("scan queued")
		}
		close(p.done)
	}
}

// submitBatchOnce writes a batch in one transaction, setting each
// submission's outcome: the scan of the same image already active, a new
// one, or EQueueFull for those past the queue's room. An error returned is
// the transaction's, and no submission of the batch was written.
func (s *Store) submitBatchOnce(ctx context.Context, batch []*pendingSubmit) error {
	write := s.plainTx
	if s.dialect == dialectSQLite {
		// Its callers wait for the answer: before the workers' writes.
		write = s.inGroupUrgent
	}
	return write(ctx, func(tx *sql.Tx) error {
		var fresh []*pendingSubmit
		firstOf := make(map[string]*pendingSubmit, len(batch))
		repeats := map[*pendingSubmit]*pendingSubmit{}
		for _, p := range batch {
			p.rec, p.created, p.err = scan.Record{}, false, nil // a retried pass starts over
			// The columns of the unique index of active scans.
			dedupe := strings.Join([]string{p.key, p.req.ScanType, p.req.Server, p.req.Source}, "\x00")
			if first, ok := firstOf[dedupe]; ok {
				repeats[p] = first
				continue
			}
			firstOf[dedupe] = p
			existing, found, err := findScan(ctx, tx, p.req, p.key, `status IN `+activeStatuses)
			if err != nil {
				return err
			}
			if found {
				p.rec = existing
				continue
			}
			fresh = append(fresh, p)
		}
		if len(fresh) > 0 {
			depth, err := s.lockedDepth(ctx, tx)
			if err != nil {
				return err
			}
			room := max(s.cfg.MaxQueueDepth-depth, 0)
			for _, p := range fresh[min(room, len(fresh)):] {
				p.err = scan.Errorf(scan.EQueueFull, "the queue holds %d scans and its limit is %d; try again later",
					depth, s.cfg.MaxQueueDepth)
			}
			fresh = fresh[:min(room, len(fresh))]
		}
		if len(fresh) > 0 {
			reqs, keys := make([]scan.Request, len(fresh)), make([]string, len(fresh))
			for i, p := range fresh {
				reqs[i], keys[i] = p.req, p.key
			}
			recs, err := s.queueScans(ctx, tx, reqs, keys)
			if err != nil {
				return err
			}
			for i, p := range fresh {
				p.rec, p.created = recs[i], true
			}
		}
		// A submission repeated within the batch stands for its first.
		for p, first := range repeats {
			p.rec, p.err = first.rec, first.err
		}
		return nil
	})
}
