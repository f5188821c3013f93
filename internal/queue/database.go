package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/centos-pipeline/analytics-scanner/internal/stmtcache"
)

// dialect is the kind of database behind the store. The SQL is written once
// for both: "$n" placeholders (which modernc's SQLite accepts too), BIGINT
// unix microseconds for times, TEXT for ids and JSON.
type dialect int

const (
	dialectSQLite dialect = iota + 1
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectSQLite {
		return "sqlite"
	}
	return "postgres"
}

// dbTarget is a parsed Config.DatabaseURL.
type dbTarget struct {
	dialect dialect
	// path is the SQLite file; dsn is the PostgreSQL URL.
	path string
	dsn  string
}

// parseDatabaseURL reads Config.DatabaseURL. Its errors never quote the URL,
// which may hold a password.
func parseDatabaseURL(raw, dataDir string) (dbTarget, error) {
	switch {
	case raw == "":
		if dataDir == "" {
			return dbTarget{}, errors.New("store: DataDir is required for the embedded SQLite database")
		}
		return dbTarget{dialect: dialectSQLite, path: filepath.Join(dataDir, "scanner.db")}, nil
	case strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return dbTarget{}, errors.New("store: the PostgreSQL URL does not parse")
		}
		return dbTarget{dialect: dialectPostgres, dsn: raw}, nil
	case strings.HasPrefix(raw, "sqlite:"):
		// "sqlite:///abs" and "sqlite:rel" are the documented forms;
		// "sqlite://rel" is read as "rel" rather than as a host.
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		switch {
		case path == "":
			return dbTarget{}, errors.New("store: the sqlite: URL names no file")
		case strings.ContainsAny(path, "?#"):
			// The driver reads everything after '?' as its own options.
			return dbTarget{}, errors.New("store: the sqlite: URL must be a plain file path, without '?' or '#'")
		}
		return dbTarget{dialect: dialectSQLite, path: path}, nil
	}
	scheme, _, ok := strings.Cut(raw, ":")
	if !ok || strings.ContainsAny(scheme, "/@") {
		return dbTarget{}, errors.New("store: the database URL has no scheme; use a postgres://, postgresql:// or sqlite: URL")
	}
	return dbTarget{}, fmt.Errorf("store: database URL scheme %q is not supported; use a postgres://, postgresql:// or sqlite: URL", scheme)
}

// sqlitePragmas are applied to every SQLite connection. WAL lets readers in
// other processes proceed during a write; NORMAL synchronous is durable in
// WAL mode except for the last transactions before a power loss; the busy
// timeout makes a second process wait for the lock instead of failing.
// Transactions begin IMMEDIATE, taking the write lock at once: a deferred
// transaction that reads and then writes can fail with SQLITE_BUSY when
// another process wrote meanwhile, and the busy timeout cannot help it.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"

func openDB(ctx context.Context, t dbTarget, workers int) (*sql.DB, error) {
	var (
		db  *sql.DB
		err error
	)
	switch t.dialect {
	case dialectSQLite:
		if dir := filepath.Dir(t.path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("store: create the database directory: %w", err)
			}
		}
		db = openSQLite(t.path + "?" + sqlitePragmas)
		// One connection: SQLite allows one writer, and River's SQLite
		// driver relies on its operations queuing for the connection
		// rather than failing with SQLITE_BUSY. Hence also: inside a
		// transaction, only calls on that transaction, or they deadlock.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	case dialectPostgres:
		db, err = sql.Open("pgx", t.dsn)
		if err != nil {
			return nil, errors.New("store: open PostgreSQL: the URL is not valid")
		}
		// Workers, River's fetcher, completer and maintenance, the API and
		// a migration lock all want connections; bounded so that a few
		// replicas stay well inside the server's max_connections.
		db.SetMaxOpenConns(2*workers + 10)
		db.SetMaxIdleConns(workers + 4)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", t.dialect, err)
	}
	return db, nil
}

// openSQLite opens a pool of SQLite connections that keep their prepared
// statements (see internal/stmtcache): without it, SQLite's parser was the
// largest single cost of a scan. PostgreSQL needs no such wrapper: pgx keeps
// each connection's prepared statements itself.
func openSQLite(dsn string) *sql.DB {
	drv := &sqlite.Driver{}
	return sql.OpenDB(&stmtcache.Connector{
		Open: func(context.Context) (driver.Conn, error) { return drv.Open(dsn) },
		Drv:  drv,
	})
}

// sqliteReadPragmas are those of the read connections: query_only makes a
// write through them an error rather than a second writer fighting the
// first for the lock. The database is already in WAL mode (a property of
// the file, set by the writer), in which readers see the last commit and
// neither wait for the writer nor hold it up.
const sqliteReadPragmas = "_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=foreign_keys(1)"

// sqliteReaders is how many read connections a SQLite store keeps: reads
// (GET /scan, ?wait= polls, the queue-depth gauge) are short, and the
// machine's cores, not connections, bound how many run at once.
const sqliteReaders = 4

// openReadDB opens the pool that Get, List and QueueDepth use. On SQLite it
// is a second *sql.DB of read-only connections, so that reads no longer
// queue behind the single writer connection that accepts and workers
// share; on PostgreSQL the one pool serves both, and db is returned.
func openReadDB(ctx context.Context, t dbTarget, db *sql.DB) (*sql.DB, error) {
	if t.dialect != dialectSQLite {
		return db, nil
	}
	rdb := openSQLite(t.path + "?" + sqliteReadPragmas)
	rdb.SetMaxOpenConns(sqliteReaders)
	rdb.SetMaxIdleConns(sqliteReaders)
	rdb.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := rdb.PingContext(pingCtx); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("store: connect to sqlite for reading: %w", err)
	}
	return rdb, nil
}

// isUniqueViolation reports whether err is a unique constraint failure, the
// sign that a concurrent Submit won the race for the same image.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE ||
			liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// inTx runs fn in a transaction and commits it when fn returns nil. On
// SQLite, fn must not use s.db, only tx: the store has one connection; and
// fn may share its transaction with others' (see writegroup.go), each in a
// savepoint of its own, so an error returned rolls back fn's writes only.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.dialect == dialectSQLite {
		return s.inGroup(ctx, fn)
	}
	return s.plainTx(ctx, fn)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}
