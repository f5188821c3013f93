package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// maxWriteGroup bounds the transactions committed together, so that one
// group holds the writer only briefly.
const maxWriteGroup = 64

// writeGroupTimeout bounds a group's transaction as a whole; each function
// in it runs on its own caller's context.
const writeGroupTimeout = 30 * time.Second

// pendingWrite is a transaction function waiting for its group.
type pendingWrite struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan struct{}
	err  error
}

// writeQueue holds the functions not yet taken into a group.
type writeQueue struct {
	mu      sync.Mutex
	pending []*pendingWrite
	writing bool
}

// inGroup runs fn in a savepoint of the next group's transaction and
// returns once the group is committed, with fn's error or the commit's.
func (s *Store) inGroup(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &pendingWrite{ctx: ctx, fn: fn, done: make(chan struct{})}
	q := &s.writes
	q.mu.Lock()
	q.pending = append(q.pending, p)
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
		if len(q.pending) == 0 {
			q.writing = false
			q.mu.Unlock()
			return
		}
		if own != nil && isClosed(own.done) {
			q.mu.Unlock()
			go s.commitGroups(nil)
			return
		}
		n := min(len(q.pending), maxWriteGroup)
		group := make([]*pendingWrite, n)
		copy(group, q.pending)
		q.pending = append(q.pending[:0], q.pending[n:]...)
		q.mu.Unlock()
		s.commitGroup(group)
	}
}

// commitGroup runs a group's functions, each in a savepoint, and commits.
func (s *Store) commitGroup(group []*pendingWrite) {
	if len(group) == 1 {
		// Alone: a transaction of its own, without savepoints.
		p := group[0]
		p.err = s.plainTx(p.ctx, p.fn)
		close(p.done)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeGroupTimeout)
	defer cancel()
	err := func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, p := range group {
			if p.err = p.ctx.Err(); p.err != nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, `SAVEPOINT grouped`); err != nil {
				_ = tx.Rollback()
				return err
			}
			if p.err = p.fn(tx); p.err != nil {
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
