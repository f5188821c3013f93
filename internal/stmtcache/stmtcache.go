// Package stmtcache keeps a connection's prepared statements for reuse, for
// database/sql drivers that prepare every statement they execute.
//
// modernc.org/sqlite compiles the SQL text of each ExecContext and
// QueryContext call anew and throws the result away: under the scan queue's
// load, SQLite's parser was 35-40% of the server's CPU (see the README,
// Performance). Its prepared statements, however, keep their compiled form
// and may be run again and again. A connection wrapped here prepares each
// distinct SQL text once and runs the kept statement on later calls, River's
// queries included, which go through database/sql like the store's own.
//
// A kept statement is used by one call at a time: a query whose rows are
// still open when the same text runs again (a nested query on one
// connection) gets a statement of its own, prepared and closed as without
// the cache. A statement whose call failed is dropped, so that whatever
// state the failure left it in is not reused.
package stmtcache

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
)

// DefaultSize is how many statements a connection keeps when New is given
// no size: more than the distinct SQL texts of the scan queue and River
// together, so that in steady state nothing is prepared twice.
const DefaultSize = 256

// conn is what a connection must offer to be wrapped: the context-aware
// calls database/sql prefers, which modernc.org/sqlite's connections have.
type conn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
}

// stmt is what a kept statement must offer.
type stmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// Connector opens connections through Open and wraps each.
type Connector struct {
	// Open opens one connection of the underlying driver.
	Open func(ctx context.Context) (driver.Conn, error)
	// Drv is returned by Driver, for database/sql.
	Drv driver.Driver
	// Size bounds the statements kept per connection; 0 means DefaultSize.
	Size int
}

var _ driver.Connector = (*Connector)(nil)

// Connect opens a connection and wraps it. A connection that lacks the
// context-aware calls is refused: the cache could not serve it.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	raw, err := c.Open(ctx)
	if err != nil {
		return nil, err
	}
	cc, ok := raw.(conn)
	if !ok {
		_ = raw.Close()
		return nil, errors.New("stmtcache: the driver's connections lack the context-aware calls")
	}
	size := c.Size
	if size <= 0 {
		size = DefaultSize
	}
	return &Conn{raw: cc, size: size, kept: make(map[string]*kept)}, nil
}

// Driver returns Drv.
func (c *Connector) Driver() driver.Driver { return c.Drv }

// kept is a statement and whether a call is using it.
type kept struct {
	st   stmt
	busy bool
}

// Conn is a connection whose statements are kept. database/sql uses a
// connection from one goroutine at a time, so it needs no lock.
type Conn struct {
	raw  conn
	size int
	kept map[string]*kept
}

var (
	_ driver.ExecerContext      = (*Conn)(nil)
	_ driver.QueryerContext     = (*Conn)(nil)
	_ driver.ConnBeginTx        = (*Conn)(nil)
	_ driver.ConnPrepareContext = (*Conn)(nil)
	_ driver.Pinger             = (*Conn)(nil)
	_ driver.SessionResetter    = (*Conn)(nil)
	_ driver.Validator          = (*Conn)(nil)
)

// Kept is how many statements the connection keeps (for tests).
func (c *Conn) Kept() int { return len(c.kept) }

// take returns the kept statement of query, preparing and keeping it if
// needed, marked busy; nil when the kept one is busy, or when every kept
// statement is and the cache is full (the caller then runs the query
// without the cache).
func (c *Conn) take(ctx context.Context, query string) (*kept, error) {
	if k, ok := c.kept[query]; ok {
		if k.busy {
			return nil, nil
		}
		k.busy = true
		return k, nil
	}
	if len(c.kept) >= c.size {
		c.evictIdle()
		// Every kept statement is in use (rows of each still open): keeping
		// one more would grow the cache past its size, so this call runs
		// without it.
		if len(c.kept) >= c.size {
			return nil, nil
		}
	}
	ds, err := c.raw.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(stmt)
	if !ok {
		_ = ds.Close()
		return nil, nil
	}
	k := &kept{st: st, busy: true}
	c.kept[query] = k
	return k, nil
}

// evictIdle closes every statement not in use. Cheaper to keep than a
// recency list, and reached only by a workload of more distinct texts than
// the cache holds, which then prepares as it would without it.
func (c *Conn) evictIdle() {
	for q, k := range c.kept {
		if !k.busy {
			_ = k.st.Close()
			delete(c.kept, q)
		}
	}
}

// release ends a call's use of k; a failed call drops it.
func (c *Conn) release(query string, k *kept, failed bool) {
	k.busy = false
	if failed {
		if c.kept[query] == k {
			delete(c.kept, query)
		}
		_ = k.st.Close()
	}
}

// ExecContext runs query on its kept statement.
func (c *Conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	k, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.raw.ExecContext(ctx, query, args)
	}
	res, err := k.st.ExecContext(ctx, args)
	c.release(query, k, err != nil)
	return res, err
}

// QueryContext runs query on its kept statement, which stays busy until
// the rows are closed.
func (c *Conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	k, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.raw.QueryContext(ctx, query, args)
	}
	rows, err := k.st.QueryContext(ctx, args)
	if err != nil {
		c.release(query, k, true)
		return nil, err
	}
	return wrapRows(rows, func(failed bool) { c.release(query, k, failed) }), nil
}

// PrepareContext prepares a statement the caller owns (database/sql's
// Prepare); it is not kept.
func (c *Conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.raw.PrepareContext(ctx, query)
}

// Prepare is PrepareContext without a context.
func (c *Conn) Prepare(query string) (driver.Stmt, error) {
	return c.raw.PrepareContext(context.Background(), query)
}

// BeginTx begins a transaction on the underlying connection; statements
// run in it through this Conn all the same.
func (c *Conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.raw.BeginTx(ctx, opts)
}

// Begin is BeginTx with the default options.
//
// Deprecated: database/sql calls BeginTx.
func (c *Conn) Begin() (driver.Tx, error) {
	return c.raw.BeginTx(context.Background(), driver.TxOptions{})
}

// Ping forwards to the connection, or answers nil if it cannot ping.
func (c *Conn) Ping(ctx context.Context) error {
	if p, ok := c.raw.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// ResetSession forwards to the connection.
func (c *Conn) ResetSession(ctx context.Context) error {
	if r, ok := c.raw.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

// IsValid forwards to the connection.
func (c *Conn) IsValid() bool {
	if v, ok := c.raw.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// Close closes the kept statements, then the connection.
func (c *Conn) Close() error {
	var errs []error
	for q, k := range c.kept {
		errs = append(errs, k.st.Close())
		delete(c.kept, q)
	}
	errs = append(errs, c.raw.Close())
	return errors.Join(errs...)
}

// rows releases its statement when closed. It passes on the column-type
// calls database/sql's ColumnTypes uses, answering as a driver without them
// would when the wrapped rows lack one.
type rows struct {
	driver.Rows
	done     func(failed bool)
	failed   bool
	released bool
}

func wrapRows(r driver.Rows, done func(failed bool)) *rows {
	return &rows{Rows: r, done: done}
}

func (r *rows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if err != nil && !errors.Is(err, io.EOF) {
		r.failed = true
	}
	return err
}

func (r *rows) Close() error {
	err := r.Rows.Close()
	if !r.released {
		r.released = true
		r.done(r.failed || err != nil)
	}
	return err
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *rows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
