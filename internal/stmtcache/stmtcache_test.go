package stmtcache

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// testPragmas are those of the queue's write connections (internal/queue,
// sqlitePragmas): WAL, a busy timeout for the connections of one pool that
// write at once, and transactions that take the write lock at BEGIN.
const testPragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"

// newConnector returns a Connector over a real SQLite file in a fresh
// temporary directory, as internal/queue's openSQLite builds it, and the
// file's path.
func newConnector(t testing.TB, size int) (*Connector, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	dsn := path + "?" + testPragmas
	drv := &sqlite.Driver{}
	return &Connector{
		Open: func(context.Context) (driver.Conn, error) { return drv.Open(dsn) },
		Drv:  drv,
		Size: size,
	}, path
}

// openDB opens a pool of at most conns cached connections to a fresh file.
func openDB(t testing.TB, size, conns int) (*sql.DB, string) {
	t.Helper()
	c, path := newConnector(t, size)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

// pin takes one connection of db for the test, so that every call of the
// test runs on the connection whose cache it inspects.
func pin(t testing.TB, db *sql.DB) *sql.Conn {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatalf("take a connection: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// inspect runs f on conn's *Conn. database/sql holds the connection's lock
// while f runs, so f may read the cache even while rows of conn are open.
func inspect(t testing.TB, conn *sql.Conn, f func(c *Conn)) {
	t.Helper()
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(*Conn)
		if !ok {
			return fmt.Errorf("the driver connection is a %T, not a *stmtcache.Conn", dc)
		}
		f(c)
		return nil
	})
	if err != nil {
		t.Fatalf("inspect the connection: %v", err)
	}
}

// keptCount is conn's Kept().
func keptCount(t testing.TB, conn *sql.Conn) int {
	t.Helper()
	var n int
	inspect(t, conn, func(c *Conn) { n = c.Kept() })
	return n
}

// keptOf is the statement conn keeps for query, and whether a call is using
// it; nil when conn keeps none for query.
func keptOf(t testing.TB, conn *sql.Conn, query string) (st driver.Stmt, busy bool) {
	t.Helper()
	inspect(t, conn, func(c *Conn) {
		if k, ok := c.kept[query]; ok {
			st, busy = k.st, k.busy
		}
	})
	return st, busy
}

func mustExec(t testing.TB, e interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) sql.Result {
	t.Helper()
	res, err := e.ExecContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

// ints reads every row of a one-integer-column result.
func ints(t testing.TB, rows *sql.Rows) []int64 {
	t.Helper()
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("scan: %v", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	return out
}

func TestRepeatedTextRunsOneKeptStatement(t *testing.T) {
	db, _ := openDB(t, 0, 1)
	conn := pin(t, db)
	mustExec(t, conn, "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")

	const insert = "INSERT INTO kv (k, v) VALUES ($1, $2)"
	const lookup = "SELECT v FROM kv WHERE k = $1"
	before := keptCount(t, conn)

	var insertStmt, lookupStmt driver.Stmt
	for i := 1; i <= 5; i++ {
		res := mustExec(t, conn, insert, i, fmt.Sprintf("value %d", i))
		if id, err := res.LastInsertId(); err != nil || id != int64(i) {
			t.Fatalf("insert %d: last insert id %d, %v", i, id, err)
		}
		st, busy := keptOf(t, conn, insert)
		switch {
		case st == nil:
			t.Fatalf("insert %d: the insert is not kept", i)
		case busy:
			t.Fatalf("insert %d: the kept insert is still marked busy after the call", i)
		case insertStmt == nil:
			insertStmt = st
		case st != insertStmt:
			t.Fatalf("insert %d ran a statement other than the one kept by the first", i)
		}
	}
	// In reverse, so that a statement answering with the previous call's
	// row, or its binding, would be seen.
	for i := 5; i >= 1; i-- {
		var v string
		if err := conn.QueryRowContext(context.Background(), lookup, i).Scan(&v); err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
		if want := fmt.Sprintf("value %d", i); v != want {
			t.Fatalf("lookup %d = %q, want %q", i, v, want)
		}
		st, busy := keptOf(t, conn, lookup)
		switch {
		case st == nil:
			t.Fatalf("lookup %d: the query is not kept", i)
		case busy:
			t.Fatalf("lookup %d: the kept query is still marked busy once its rows are closed", i)
		case lookupStmt == nil:
			lookupStmt = st
		case st != lookupStmt:
			t.Fatalf("lookup %d ran a statement other than the one kept by the first", i)
		}
	}
	// A missing row: the kept query answers no rows, not a previous one.
	var v string
	if err := conn.QueryRowContext(context.Background(), lookup, 99).Scan(&v); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("lookup of a missing key: %q, %v; want sql.ErrNoRows", v, err)
	}
	if got := keptCount(t, conn); got != before+2 {
		t.Fatalf("Kept() = %d after two texts run 16 times, want %d", got, before+2)
	}
}

func TestNestedQueryOfOneTextRunsOnItsOwnStatement(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t, 0, 1)
	conn := pin(t, db)
	mustExec(t, conn, "CREATE TABLE item (grp TEXT NOT NULL, n INTEGER NOT NULL)")
	for _, n := range []int{1, 2, 3} {
		mustExec(t, conn, "INSERT INTO item (grp, n) VALUES ($1, $2)", "a", n)
		mustExec(t, conn, "INSERT INTO item (grp, n) VALUES ($1, $2)", "b", 10+n)
	}

	const q = "SELECT n FROM item WHERE grp = $1 ORDER BY n"
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback() }()

	outer, err := tx.QueryContext(ctx, q, "a")
	if err != nil {
		t.Fatalf("outer query: %v", err)
	}
	defer outer.Close()
	next := func(rows *sql.Rows, name string) int64 {
		t.Helper()
		if !rows.Next() {
			t.Fatalf("%s query: no more rows: %v", name, rows.Err())
		}
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("%s query: scan: %v", name, err)
		}
		return n
	}
	var gotOuter, gotInner []int64
	gotOuter = append(gotOuter, next(outer, "outer"))
	kept, busy := keptOf(t, conn, q)
	if kept == nil || !busy {
		t.Fatalf("with its rows open the query is kept %v, busy %v; want kept and busy", kept != nil, busy)
	}
	keptWithOuterOpen := keptCount(t, conn)

	// The same text again while the outer rows are open: it must not
	// rebind and reset the statement the outer rows are reading.
	inner, err := tx.QueryContext(ctx, q, "b")
	if err != nil {
		t.Fatalf("inner query: %v", err)
	}
	defer inner.Close()
	for range 2 {
		gotInner = append(gotInner, next(inner, "inner"))
		gotOuter = append(gotOuter, next(outer, "outer"))
	}
	gotInner = append(gotInner, next(inner, "inner"))
	if inner.Next() || outer.Next() {
		t.Fatalf("more rows than inserted")
	}
	if err := errors.Join(inner.Err(), outer.Err(), inner.Close(), outer.Close()); err != nil {
		t.Fatalf("rows: %v", err)
	}
	if want := []int64{1, 2, 3}; !slices.Equal(gotOuter, want) {
		t.Errorf("outer query read %v, want %v", gotOuter, want)
	}
	if want := []int64{11, 12, 13}; !slices.Equal(gotInner, want) {
		t.Errorf("inner query read %v, want %v", gotInner, want)
	}
	// The nested run was not kept in addition, and the kept statement is
	// free again once its rows are closed.
	if got := keptCount(t, conn); got != keptWithOuterOpen {
		t.Errorf("Kept() = %d after the nested run, want %d as before it", got, keptWithOuterOpen)
	}
	if st, busy := keptOf(t, conn, q); st != kept || busy {
		t.Errorf("after both rows closed: kept statement changed %v, busy %v; want the outer's, free", st != kept, busy)
	}
	// An Exec of the text whose rows are open takes the same way round.
	rows, err := tx.QueryContext(ctx, q, "a")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if _, err := tx.ExecContext(ctx, q, "b"); err != nil {
		t.Fatalf("exec of the text whose rows are open: %v", err)
	}
	if got, want := ints(t, rows), []int64{1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("query around a nested exec read %v, want %v", got, want)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	rows, err = conn.QueryContext(ctx, q, "b")
	if err != nil {
		t.Fatalf("query after the transaction: %v", err)
	}
	if got, want := ints(t, rows), []int64{11, 12, 13}; !slices.Equal(got, want) {
		t.Errorf("query after the transaction read %v, want %v", got, want)
	}
	if st, _ := keptOf(t, conn, q); st != kept {
		t.Errorf("the query after the transaction did not run the kept statement")
	}
}

func TestFailedStatementIsDroppedAndItsTextRunsAgain(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t, 0, 1)
	conn := pin(t, db)
	mustExec(t, conn, "CREATE TABLE u (k INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")

	isUnique := func(err error) bool {
		var le *sqlite.Error
		return errors.As(err, &le) && le.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}

	t.Run("exec", func(t *testing.T) {
		const insert = "INSERT INTO u (k, v) VALUES ($1, $2)"
		mustExec(t, conn, insert, 1, "x")
		first, _ := keptOf(t, conn, insert)
		if first == nil {
			t.Fatal("the insert is not kept")
		}
		n := keptCount(t, conn)
		if _, err := conn.ExecContext(ctx, insert, 2, "x"); !isUnique(err) {
			t.Fatalf("duplicate insert: %v, want a UNIQUE constraint error", err)
		}
		if st, _ := keptOf(t, conn, insert); st != nil {
			t.Fatal("the statement whose call failed is still kept")
		}
		if got := keptCount(t, conn); got != n-1 {
			t.Fatalf("Kept() = %d after the failure, want %d", got, n-1)
		}
		mustExec(t, conn, insert, 3, "y")
		again, _ := keptOf(t, conn, insert)
		if again == nil || again == first {
			t.Fatalf("after the failure the text is kept %v, on the failed statement %v; want kept anew", again != nil, again == first)
		}
		rows, err := conn.QueryContext(ctx, "SELECT k FROM u ORDER BY k")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ints(t, rows), []int64{1, 3}; !slices.Equal(got, want) {
			t.Fatalf("rows %v, want %v", got, want)
		}
	})

	t.Run("query", func(t *testing.T) {
		// The failure comes with the first step, inside QueryContext.
		const insert = "INSERT INTO u (k, v) VALUES ($1, $2) RETURNING k"
		var k int64
		if err := conn.QueryRowContext(ctx, insert, 10, "p").Scan(&k); err != nil || k != 10 {
			t.Fatalf("insert returning: %d, %v", k, err)
		}
		first, _ := keptOf(t, conn, insert)
		if first == nil {
			t.Fatal("the insert is not kept")
		}
		if err := conn.QueryRowContext(ctx, insert, 11, "p").Scan(&k); !isUnique(err) {
			t.Fatalf("duplicate insert: %v, want a UNIQUE constraint error", err)
		}
		if st, _ := keptOf(t, conn, insert); st != nil {
			t.Fatal("the statement whose call failed is still kept")
		}
		if err := conn.QueryRowContext(ctx, insert, 12, "q").Scan(&k); err != nil || k != 12 {
			t.Fatalf("insert after the failure: %d, %v; want 12", k, err)
		}
		if again, _ := keptOf(t, conn, insert); again == nil || again == first {
			t.Fatalf("after the failure the text is kept %v, on the failed statement %v; want kept anew", again != nil, again == first)
		}
	})
}

func TestSchemaChangeBetweenRunsOfAKeptStatement(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t, 0, 2)
	conn := pin(t, db)
	other := pin(t, db)

	const q = "SELECT * FROM s ORDER BY 1"
	// table reads q's result as column names and rows of text.
	table := func() ([]string, [][]string) {
		t.Helper()
		rows, err := conn.QueryContext(ctx, q)
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		var out [][]string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan: %v", err)
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				row[i] = v.String
			}
			out = append(out, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return cols, out
	}
	check := func(step string, wantCols []string, wantRows [][]string) {
		t.Helper()
		cols, rows := table()
		if !slices.Equal(cols, wantCols) || !reflect.DeepEqual(rows, wantRows) {
			t.Fatalf("%s: columns %v rows %v, want %v %v", step, cols, rows, wantCols, wantRows)
		}
	}

	mustExec(t, conn, "CREATE TABLE s (a INTEGER)")
	mustExec(t, conn, "INSERT INTO s (a) VALUES ($1)", 1)
	check("before any change", []string{"a"}, [][]string{{"1"}})
	kept, _ := keptOf(t, conn, q)
	if kept == nil {
		t.Fatal("the query is not kept")
	}

	// On the same connection.
	mustExec(t, conn, "ALTER TABLE s ADD COLUMN b TEXT NOT NULL DEFAULT 'z'")
	mustExec(t, conn, "INSERT INTO s (a, b) VALUES ($1, $2)", 2, "y")
	check("after ADD COLUMN", []string{"a", "b"}, [][]string{{"1", "z"}, {"2", "y"}})

	// On another connection, the kept one's schema learnt from the file.
	mustExec(t, other, "DROP TABLE s")
	mustExec(t, other, "CREATE TABLE s (c TEXT, d INTEGER, e INTEGER)")
	mustExec(t, other, "INSERT INTO s (c, d, e) VALUES ('m', 4, 5), ('k', 6, 7)")
	check("after DROP and CREATE on another connection", []string{"c", "d", "e"}, [][]string{{"k", "6", "7"}, {"m", "4", "5"}})

	// An Exec kept before a change runs correctly after it too.
	const insert = "INSERT INTO s (c, d) VALUES ($1, $2)"
	mustExec(t, conn, insert, "a", 1)
	mustExec(t, other, "ALTER TABLE s ADD COLUMN f TEXT DEFAULT 'new'")
	mustExec(t, conn, insert, "b", 2)
	check("after ADD COLUMN on another connection", []string{"c", "d", "e", "f"}, [][]string{
		{"a", "1", "", "new"}, {"b", "2", "", "new"}, {"k", "6", "7", "new"}, {"m", "4", "5", "new"},
	})

	// SQLite prepared the kept statements again itself: the cache still
	// holds the statement it kept before the first change.
	if st, _ := keptOf(t, conn, q); st != kept {
		t.Errorf("the query was kept anew after the schema changes; SQLite re-prepares a kept statement itself")
	}
}

func TestEvictionKeepsAtMostSize(t *testing.T) {
	const size = 4
	ctx := context.Background()
	db, _ := openDB(t, size, 1)
	conn := pin(t, db)

	// Ten texts, each run twice in a row and all of them three times over:
	// evicted statements are prepared again and give the right answer.
	for round := range 3 {
		for i := range 10 {
			q := fmt.Sprintf("SELECT %d + $1", i*100)
			for arg := range 2 {
				var got int64
				if err := conn.QueryRowContext(ctx, q, round*10+arg).Scan(&got); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				if want := int64(i*100 + round*10 + arg); got != want {
					t.Fatalf("%s with %d = %d, want %d", q, round*10+arg, got, want)
				}
				if n := keptCount(t, conn); n > size {
					t.Fatalf("Kept() = %d, more than Size %d", n, size)
				}
			}
			if st, _ := keptOf(t, conn, q); st == nil {
				t.Fatalf("%s, just run, is not kept", q)
			}
		}
	}

	// Every kept statement busy, with rows of each still open: a further
	// text runs without being kept rather than growing the cache past Size.
	var open []*sql.Rows
	for i := range size {
		rows, err := conn.QueryContext(ctx, fmt.Sprintf("SELECT %d + $1 UNION ALL SELECT 0", 1000*(i+1)), i)
		if err != nil {
			t.Fatal(err)
		}
		if !rows.Next() {
			t.Fatalf("no row: %v", rows.Err())
		}
		open = append(open, rows)
	}
	var got int64
	if err := conn.QueryRowContext(ctx, "SELECT 7 * $1", 6).Scan(&got); err != nil || got != 42 {
		t.Fatalf("query with every kept statement busy: %d, %v; want 42", got, err)
	}
	if n := keptCount(t, conn); n > size {
		t.Errorf("Kept() = %d with every kept statement busy, more than Size %d", n, size)
	}
	for i, rows := range open {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := int64(1000*(i+1) + i); n != want {
			t.Errorf("open rows %d read %d, want %d", i, n, want)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloseClosesKeptStatementsAndConnection(t *testing.T) {
	ctx := context.Background()

	t.Run("connector", func(t *testing.T) {
		c, path := newConnector(t, 0)
		dc, err := c.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conn := dc.(*Conn)
		for _, q := range []string{
			"CREATE TABLE t (a INTEGER)",
			"INSERT INTO t (a) VALUES (1)",
			"INSERT INTO t (a) VALUES (2)",
		} {
			if _, err := conn.ExecContext(ctx, q, nil); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		rows, err := conn.QueryContext(ctx, "SELECT a FROM t", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if n := conn.Kept(); n != 4 {
			t.Fatalf("Kept() = %d after four texts, want 4", n)
		}
		if _, err := os.Stat(path + "-wal"); err != nil {
			t.Fatalf("the write-ahead log of an open WAL database: %v", err)
		}
		if err := conn.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if n := conn.Kept(); n != 0 {
			t.Errorf("Kept() = %d after Close, want 0", n)
		}
		// SQLite removes the write-ahead log when the last connection to
		// the file closes; a connection closed with statements still
		// prepared is kept alive by SQLite (a "zombie") and the log stays.
		if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the write-ahead log after Close: %v; want it removed, as when the connection is really closed", err)
		}
	})

	t.Run("database/sql", func(t *testing.T) {
		db, path := openDB(t, 0, 2)
		conn := pin(t, db)
		mustExec(t, conn, "CREATE TABLE t (a INTEGER)")
		mustExec(t, conn, "INSERT INTO t (a) VALUES ($1)", 1)
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
			t.Fatalf("count: %d, %v", n, err)
		}
		if keptCount(t, conn) == 0 {
			t.Fatal("nothing kept")
		}
		if err := conn.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("db.Close: %v", err)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO t (a) VALUES ($1)", 2); err == nil {
			t.Error("an exec on the closed database succeeded")
		}
		if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the write-ahead log after db.Close: %v; want it removed", err)
		}
		// The data is all there for the next connection.
		db2, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db2.Close()
		if err := db2.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
			t.Fatalf("count after reopening: %d, %v; want 1", n, err)
		}
	})
}

func TestCancelledQueryLeavesConnectionAndStatementUsable(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t, 0, 1)
	conn := pin(t, db)
	var before *Conn
	inspect(t, conn, func(c *Conn) { before = c })

	// Counting to n: with a huge n the first step runs until interrupted.
	const count = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1) SELECT count(*) FROM c"
	// Listing 1..n: rows come one step at a time.
	const list = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1) SELECT x FROM c"

	t.Run("during the first step", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		var n int64
		start := time.Now()
		err := conn.QueryRowContext(cctx, count, int64(1)<<50).Scan(&n)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("count to 2^50 with a 100ms deadline: %d, %v; want context.DeadlineExceeded", n, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("the interrupted query returned after %v", d)
		}
		if err := conn.QueryRowContext(ctx, count, 1000).Scan(&n); err != nil || n != 1000 {
			t.Fatalf("the same text after the cancellation: %d, %v; want 1000", n, err)
		}
		kept, _ := keptOf(t, conn, count)
		if kept == nil {
			t.Fatal("the text is not kept after the cancellation")
		}
		if err := conn.QueryRowContext(ctx, count, 77).Scan(&n); err != nil || n != 77 {
			t.Fatalf("the text again: %d, %v; want 77", n, err)
		}
		if st, _ := keptOf(t, conn, count); st != kept {
			t.Fatal("the kept statement was not reused after the cancellation")
		}
	})

	t.Run("while reading rows", func(t *testing.T) {
		got := ints(t, mustQuery(t, conn, ctx, list, 3))
		if !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("list 3: %v", got)
		}
		kept, _ := keptOf(t, conn, list)
		if kept == nil {
			t.Fatal("the text is not kept")
		}
		cctx, cancel := context.WithCancel(ctx)
		rows := mustQuery(t, conn, cctx, list, 1_000_000)
		for i := range 3 {
			var x int64
			if !rows.Next() {
				t.Fatalf("row %d: %v", i, rows.Err())
			}
			if err := rows.Scan(&x); err != nil || x != int64(i+1) {
				t.Fatalf("row %d: %d, %v", i, x, err)
			}
		}
		cancel()
		// database/sql closes the rows once it sees the cancellation; a
		// few more rows may be read before.
		read := 3
		for rows.Next() {
			read++
		}
		if !errors.Is(rows.Err(), context.Canceled) || read >= 1_000_000 {
			t.Fatalf("after the cancellation: %d rows read, %v; want context.Canceled before the end", read, rows.Err())
		}
		_ = rows.Close()

		if st, busy := keptOf(t, conn, list); st != kept || busy {
			t.Fatalf("after rows closed by cancellation: kept statement changed %v, busy %v; want the same, free", st != kept, busy)
		}
		if got := ints(t, mustQuery(t, conn, ctx, list, 4)); !slices.Equal(got, []int64{1, 2, 3, 4}) {
			t.Fatalf("the same text after the cancellation read %v, want [1 2 3 4]", got)
		}
		if st, _ := keptOf(t, conn, list); st != kept {
			t.Fatal("the kept statement was not reused after the cancellation")
		}
	})

	var after *Conn
	inspect(t, conn, func(c *Conn) { after = c })
	if after != before {
		t.Error("the connection was replaced; the cancellation should have left it usable")
	}
}

func mustQuery(t testing.TB, conn *sql.Conn, ctx context.Context, query string, args ...any) *sql.Rows {
	t.Helper()
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return rows
}

// TestConcurrentUse runs mixed work on a pool of four cached connections
// from eight goroutines; with -race it also checks that database/sql's
// locking covers the cache (a Conn has no lock of its own).
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t, 0, 4)
	mustExec(t, db, "CREATE TABLE w (g INTEGER NOT NULL, i INTEGER NOT NULL, v INTEGER NOT NULL, PRIMARY KEY (g, i))")

	const (
		insert = "INSERT INTO w (g, i, v) VALUES ($1, $2, $3)"
		get    = "SELECT v FROM w WHERE g = $1 AND i = $2"
		bump   = `UPDATE w
SET v = v + $3
WHERE g = $1 AND i = $2
RETURNING v`
		count = "SELECT count(*), coalesce(sum(v), 0) FROM w WHERE g = $1"
		list  = "SELECT i FROM w WHERE g = $1 ORDER BY i"
	)
	duration := time.Second
	if testing.Short() {
		duration = 200 * time.Millisecond
	}
	deadline := time.Now().Add(duration)

	const workers = 8
	var (
		wg     sync.WaitGroup
		rounds atomic.Int64
	)
	errs := make(chan error, workers)
	for g := range workers {
		wg.Go(func() {
			errs <- func() error {
				var sum int64
				// At least five rounds, so that each goroutine nests once.
				i := 0
				defer func() { rounds.Add(int64(i)) }()
				for ; i < 5 || time.Now().Before(deadline); i++ {
					v := int64(g*1_000_000 + i)
					if _, err := db.ExecContext(ctx, insert, g, i, v); err != nil {
						return fmt.Errorf("insert %d/%d: %w", g, i, err)
					}
					var got int64
					if err := db.QueryRowContext(ctx, get, g, i).Scan(&got); err != nil || got != v {
						return fmt.Errorf("get %d/%d: %d, %v; want %d", g, i, got, err, v)
					}
					if err := db.QueryRowContext(ctx, bump, g, i, g+1).Scan(&got); err != nil || got != v+int64(g+1) {
						return fmt.Errorf("bump %d/%d: %d, %v; want %d", g, i, got, err, v+int64(g+1))
					}
					sum += got
					var n, s int64
					if err := db.QueryRowContext(ctx, count, g).Scan(&n, &s); err != nil || n != int64(i+1) || s != sum {
						return fmt.Errorf("count %d after %d: %d rows summing %d, %v; want %d summing %d", g, i, n, s, err, i+1, sum)
					}
					if i%5 != 4 {
						continue
					}
					// Now and then, a nested run of one text in a transaction.
					if err := nestedLists(ctx, db, list, g, i+1); err != nil {
						return err
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	t.Logf("%d rounds of insert, get, bump and count (every fifth with a nested read in a transaction) in %v", rounds.Load(), duration)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// nestedLists reads list for g twice at once in one transaction, and checks
// both read 0..n-1.
func nestedLists(ctx context.Context, db *sql.DB, list string, g, n int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	outer, err := tx.QueryContext(ctx, list, g)
	if err != nil {
		return fmt.Errorf("outer list: %w", err)
	}
	defer outer.Close()
	for want := range n {
		var i int64
		if !outer.Next() {
			return fmt.Errorf("outer list %d ended at %d of %d: %v", g, want, n, outer.Err())
		}
		if err := outer.Scan(&i); err != nil || i != int64(want) {
			return fmt.Errorf("outer list %d row %d: %d, %v", g, want, i, err)
		}
		if want != n/2 {
			continue
		}
		inner, err := tx.QueryContext(ctx, list, g)
		if err != nil {
			return fmt.Errorf("inner list: %w", err)
		}
		var got []int64
		for inner.Next() {
			var j int64
			if err := inner.Scan(&j); err != nil {
				inner.Close()
				return err
			}
			got = append(got, j)
		}
		if err := errors.Join(inner.Err(), inner.Close()); err != nil {
			return fmt.Errorf("inner list: %w", err)
		}
		if len(got) != n || got[0] != 0 || got[n-1] != int64(n-1) {
			return fmt.Errorf("inner list %d: %d rows %v..., want 0..%d", g, len(got), got[:min(len(got), 3)], n-1)
		}
	}
	if outer.Next() {
		return fmt.Errorf("outer list %d: more than %d rows", g, n)
	}
	if err := errors.Join(outer.Err(), outer.Close()); err != nil {
		return fmt.Errorf("outer list: %w", err)
	}
	return tx.Commit()
}

// benchUpdate is a query the size of River's job updates: several lines,
// a CASE, JSON, a few parameters and RETURNING.
const benchUpdate = `UPDATE job
SET state = CASE WHEN $1 THEN 'completed' ELSE 'running' END,
    attempt = attempt + 1,
    attempted_at = $2,
    finalized_at = CASE WHEN $1 THEN $2 ELSE NULL END,
    metadata = json_patch(metadata, $3)
WHERE id = $4
  AND queue = $5
RETURNING id, state, attempt, attempted_at, finalized_at, metadata, queue, kind`

const benchSchema = `CREATE TABLE job (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    attempted_at INTEGER,
    finalized_at INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    queue TEXT NOT NULL,
    kind TEXT NOT NULL
)`

const benchJobs = 100

func benchExec(b *testing.B, db *sql.DB) {
	ctx := context.Background()
	mustExec(b, db, benchSchema)
	for id := range benchJobs {
		mustExec(b, db, "INSERT INTO job (id, state, queue, kind) VALUES ($1, 'available', 'default', 'scan')", id)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := db.ExecContext(ctx, benchUpdate, i%2 == 0, int64(i), `{"n":1}`, i%benchJobs, "default"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecKept runs benchUpdate through the cache, as the queue does.
func BenchmarkExecKept(b *testing.B) {
	db, _ := openDB(b, 0, 1)
	benchExec(b, db)
}

// BenchmarkExecUncached runs benchUpdate through modernc.org/sqlite alone,
// which compiles the text for every call.
func BenchmarkExecUncached(b *testing.B) {
	db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "test.db")+"?"+testPragmas)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	benchExec(b, db)
}
