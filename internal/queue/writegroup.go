package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Group commit of SQLite transactions. SQLite has one writer, and the
// store one write connection: transactions run one after another whatever
// their callers do. Each commit writes every page it changed to the WAL,
// and a scan's writes touch the same pages as its neighbours' (the scans
// table's indexes, River's job table): committing the transactions that
// queue up together, each in a savepoint of one transaction, writes those
// pages once per group instead of once per transaction.
//
// A savepoint keeps each caller's work its own: a function that fails has
// its writes rolled back to its savepoint, and the others' stand. The group
// commits once; a failed commit fails every caller, so that none is told
// its writes stuck when they did not. As with submissions, nothing waits to
// fill a group: a lone transaction runs at once.
//
// PostgreSQL runs transactions concurrently and gains nothing from this.

// maxWriteGroup bounds the transactions committed together, and
// maxGroupTime the time a group may run before it commits, leaving the
// functions it has not started to the next: an accept that arrives while a
// group runs waits for that group only (accepts go first in the next, see
// urgent), so the group's length is the accept's wait.
const (
	maxWriteGroup = 64
	maxGroupTime  = 3 * time.Millisecond
)

// writeGroupTimeout bounds a group's transaction as a whole; each function
// in it runs on its own caller's context.
const writeGroupTimeout = 30 * time.Second

// pendingWrite is a transaction function waiting for its group.
type pendingWrite struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan struct{}
	err  error
	// urgent functions go first into every group.
	urgent bool
}

// writeQueue holds the functions not yet taken into a group: urgent ones
// (accepts, whose callers wait for the answer) go first into every group.
type writeQueue struct {
	mu      sync.Mutex
	urgent  []*pendingWrite
	pending []*pendingWrite
	writing bool
}

func (q *writeQueue) empty() bool { return len(q.urgent) == 0 && len(q.pending) == 0 }

// take removes the next group from the queue; the caller holds mu.
func (q *writeQueue) take() []*pendingWrite {
	group := make([]*pendingWrite, 0, min(len(q.urgent)+len(q.pending), maxWriteGroup))
	for _, from := range []*[]*pendingWrite{&q.urgent, &q.pending} {
		n := min(len(*from), maxWriteGroup-len(group))
		group = append(group, (*from)[:n]...)
		*from = append((*from)[:0], (*from)[n:]...)
	}
	return group
}

// putBack returns the functions a group did not start to the head of the
// queue; the caller holds mu.
func (q *writeQueue) putBack(rest []*pendingWrite) {
	var urgent, other []*pendingWrite
	for _, p := range rest {
		if p.urgent {
			urgent = append(urgent, p)
		} else {
			other = append(other, p)
		}
	}
	q.urgent = append(urgent, q.urgent...)
	q.pending = append(other, q.pending...)
}

// inGroup runs fn in a savepoint of the next group's transaction and
// returns once the group is committed, with fn's error or the commit's.
func (s *Store) inGroup(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.enqueueWrite(ctx, fn, false)
}

// inGroupUrgent is inGroup for a function that goes before the others.
func (s *Store) inGroupUrgent(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.enqueueWrite(ctx, fn, true)
}

func (s *Store) enqueueWrite(ctx context.Context, fn func(tx *sql.Tx) error, urgent bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &pendingWrite{ctx: ctx, fn: fn, done: make(chan struct{}), urgent: urgent}
	q := &s.writes
	q.mu.Lock()
	if urgent {
		q.urgent = append(q.urgent, p)
	} else {
		q.pending = append(q.pending, p)
	}
	lead := !q.writing
	q.writing = true
	q.mu.Unlock()
	if lead {
		s.commitGroups(p)
	}
	// No early return on ctx: fn may be running, and its caller must not
	// go on before it has finished with what it shares with fn.
	<-p.done
	return p.err
}

// commitGroups commits groups until own's is committed; then, if more are
// queued, a goroutine of its own goes on, so that own's caller has its
// answer without waiting for later groups.
func (s *Store) commitGroups(own *pendingWrite) {
	q := &s.writes
	for {
		q.mu.Lock()
		if q.empty() {
			q.writing = false
			q.mu.Unlock()
			return
		}
		if own != nil && isClosed(own.done) {
			q.mu.Unlock()
			go s.commitGroups(nil)
			return
		}
		group := q.take()
		q.mu.Unlock()
		if rest := s.commitGroup(group); len(rest) > 0 {
			q.mu.Lock()
			q.putBack(rest)
			q.mu.Unlock()
		}
	}
}

// commitGroup runs a group's functions, each in a savepoint, and commits;
// it returns those it did not start once maxGroupTime had passed.
func (s *Store) commitGroup(group []*pendingWrite) (rest []*pendingWrite) {
	if len(group) == 1 {
		// Alone: a transaction of its own, without savepoints.
		p := group[0]
		p.err = s.plainTx(p.ctx, guarded(p.fn))
		close(p.done)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeGroupTimeout)
	defer cancel()
	started := time.Now()
	err := func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for i, p := range group {
			if i > 0 && time.Since(started) > maxGroupTime {
				rest, group = group[i:], group[:i]
				break
			}
			if p.err = p.ctx.Err(); p.err != nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, `SAVEPOINT grouped`); err != nil {
				_ = tx.Rollback()
				return err
			}
			if p.err = guarded(p.fn)(tx); p.err != nil {
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO grouped`); err != nil {
					// SQLite may have rolled the whole transaction back
					// (an interrupted write does): nothing of the group
					// stands.
					_ = tx.Rollback()
					return fmt.Errorf("roll back a grouped transaction: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE grouped`); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("release a grouped transaction: %w", err)
			}
		}
		return tx.Commit()
	}()
	for _, p := range group {
		if err != nil {
			// The function's own error, if any, is kept beside the
			// group's: it says more about why that caller failed.
			if p.err == nil {
				p.err = err
			} else {
				p.err = errors.Join(p.err, err)
			}
		}
		close(p.done)
	}
	return rest
}

// guarded turns a panic in fn into its error: fn may run on another
// caller's goroutine (the group's), where a panic would not reach the code
// that recovers fn's own caller (River's, or the HTTP server's) and would
// end the process instead.
func guarded(fn func(tx *sql.Tx) error) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic in a transaction: %v\n%s", r, debug.Stack())
			}
		}()
		return fn(tx)
	}
}

// write runs one statement that changes rows and says how many it
// changed. On SQLite it joins the write group, so that it waits its turn in
// order with the transactions instead of racing them for the connection:
// database/sql hands a freed connection to a random waiter, and with a
// dozen workers waiting, an accept could lose that draw many times over.
func (s *Store) write(ctx context.Context, query string, args ...any) (int64, error) {
	if s.dialect != dialectSQLite {
		res, err := s.db.ExecContext(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	var n int64
	err := s.inGroup(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// plainTx runs fn in a transaction of its own and commits it when fn
// returns nil.
func (s *Store) plainTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
