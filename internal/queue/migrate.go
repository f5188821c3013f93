package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

// migration is one step of the store's own schema. Steps are applied in
// order, each once, and never edited once released: a change is a new step.
type migration struct {
	version    int
	name       string
	statements []string
}

// migrations is the store's schema. The SQL is portable between SQLite and
// PostgreSQL: TEXT, INTEGER, BIGINT and partial indexes only.
var migrations = []migration{{
	version: 1,
	name:    "scans",
	statements: []string{
		`CREATE TABLE scans (
			id           TEXT PRIMARY KEY,
			image        TEXT NOT NULL,
			image_key    TEXT NOT NULL,
			scan_type    TEXT NOT NULL,
			server       TEXT NOT NULL DEFAULT '',
			status       TEXT NOT NULL,
			attempts     INTEGER NOT NULL DEFAULT 0,
			max_attempts INTEGER NOT NULL,
			last_error   TEXT NOT NULL DEFAULT '',
			created_at   BIGINT NOT NULL,
			updated_at   BIGINT NOT NULL,
			started_at   BIGINT,
			finished_at  BIGINT,
			result       TEXT,
			job_id       BIGINT
		)`,
		// At most one scan of an image, type and server is in flight:
		// the database, not a read-then-insert race, has the last word.
		`CREATE UNIQUE INDEX scans_active_key ON scans (image_key, scan_type, server)
			WHERE status IN ('queued', 'running', 'retrying')`,
		`CREATE INDEX scans_created ON scans (created_at, id)`,
		`CREATE INDEX scans_image_created ON scans (image, created_at, id)`,
		`CREATE INDEX scans_status_created ON scans (status, created_at, id)`,
		`CREATE INDEX scans_finished ON scans (finished_at) WHERE finished_at IS NOT NULL`,
	},
}, {
	version: 2,
	name:    "scan sources",
	statements: []string{
		// Every scan before this step read the Docker daemon.
		`ALTER TABLE scans ADD COLUMN source TEXT NOT NULL DEFAULT 'daemon'`,
		`ALTER TABLE scans ADD COLUMN name TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE scans ADD COLUMN image_id TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE scans ADD COLUMN digest TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE scans ADD COLUMN manifest_digest TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE scans ADD COLUMN platform TEXT NOT NULL DEFAULT ''`,
		// The same reference read from the daemon and from a registry
		// may be two different images: one of each may be in flight.
		`DROP INDEX scans_active_key`,
		`CREATE UNIQUE INDEX scans_active_source_key ON scans (image_key, scan_type, server, source)
			WHERE status IN ('queued', 'running', 'retrying')`,
		// A pushed digest already scanned is found by this one.
		`CREATE INDEX scans_source_key ON scans (image_key, scan_type, server, source, created_at)`,
	},
}, {
	version: 3,
	name:    "reports and callbacks",
	statements: []string{
		// A scan's report is shared by every scan of the same server,
		// git-url and git-sha (report_key names the pair): it is followed
		// and stored once.
		`ALTER TABLE scans ADD COLUMN report_key TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE scans ADD COLUMN callback_url TEXT NOT NULL DEFAULT ''`,
		`CREATE INDEX scans_report_key ON scans (report_key) WHERE report_key <> ''`,
		// Column names unlike the scans table's, so that queries joining
		// both need not qualify the scans columns.
		`CREATE TABLE reports (
			report_key     TEXT PRIMARY KEY,
			report_server  TEXT NOT NULL,
			git_url        TEXT NOT NULL,
			git_sha        TEXT NOT NULL,
			report_state   TEXT NOT NULL,
			report_status  TEXT NOT NULL,
			report_body    TEXT,
			report_created BIGINT NOT NULL,
			report_updated BIGINT NOT NULL
		)`,
		`CREATE INDEX reports_state ON reports (report_state, report_updated)`,
		`CREATE TABLE callbacks (
			callback_id      TEXT PRIMARY KEY,
			scan_id          TEXT NOT NULL,
			event            TEXT NOT NULL,
			url              TEXT NOT NULL,
			callback_state   TEXT NOT NULL,
			attempt_log      TEXT NOT NULL DEFAULT '[]',
			callback_created BIGINT NOT NULL,
			delivered_at     BIGINT
		)`,
		`CREATE INDEX callbacks_scan ON callbacks (scan_id, callback_created)`,
	},
}, {
	version: 4,
	name:    "runners and registrations",
	statements: []string{
		// Heartbeats of started stores, and which one runs a scan: the
		// scans of a runner gone silent are run again (rescue.go).
		`CREATE TABLE scanner_runners (
			id      TEXT PRIMARY KEY,
			seen_at BIGINT NOT NULL
		)`,
		`ALTER TABLE scans ADD COLUMN runner TEXT NOT NULL DEFAULT ''`,
		// One registration per server, repository and commit within
		// REREGISTER_AFTER: the scan that claimed it, and when it was
		// registered (NULL while its registration is under way).
		`CREATE TABLE registrations (
			server        TEXT NOT NULL,
			git_url       TEXT NOT NULL,
			git_sha       TEXT NOT NULL,
			scan_id       TEXT NOT NULL,
			claimed_at    BIGINT NOT NULL,
			registered_at BIGINT,
			PRIMARY KEY (server, git_url, git_sha)
		)`,
	},
}}

// migrationLockKey is the PostgreSQL advisory lock held while migrating, so
// that replicas starting together migrate one after the other. River's
// migrator takes no lock of its own.
const migrationLockKey int64 = 0x5ca77e55_0001

// migrate brings River's tables and the store's up to date.
func (s *Store) migrate(ctx context.Context, riverDriver riverdriver.Driver[*sql.Tx], log *slog.Logger) error {
	if s.dialect == dialectPostgres {
		unlock, err := s.lockMigrations(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}

	migrator, err := rivermigrate.New(riverDriver, &rivermigrate.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("store: queue migrator: %w", err)
	}
	// On SQLite, Open holds a file lock beside the database around this,
	// so processes opening one file at once migrate one after the other.
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("store: migrate the queue tables: %w", err)
	}
	if len(res.Versions) > 0 {
		s.log.Info().Int("versions", len(res.Versions)).Msg("migrated the queue tables")
	}

	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS scanner_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: create the migrations table: %w", err)
	}
	for _, m := range migrations {
		applied, err := s.applyMigration(ctx, m)
		if err != nil {
			return fmt.Errorf("store: migration %d (%s): %w", m.version, m.name, err)
		}
		if applied {
			s.log.Info().Int("version", m.version).Str("name", m.name).Msg("applied store migration")
		}
	}
	return nil
}

// applyMigration applies m unless it is recorded already, atomically: both
// databases have transactional DDL.
func (s *Store) applyMigration(ctx context.Context, m migration) (applied bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM scanner_migrations WHERE version = $1`, m.version).Scan(&one)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		for _, stmt := range m.statements {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO scanner_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.name, micros(s.now()))
		applied = err == nil
		return err
	})
	return applied && err == nil, err
}

// lockMigrations takes the migration lock on a connection of its own, held
// until unlock is called.
func (s *Store) lockMigrations(ctx context.Context) (unlock func(), err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migration lock: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("store: migration lock: %w", err)
	}
	return func() {
		// The connection goes back to the pool, so the lock is released
		// explicitly; when that fails, the connection is discarded, which
		// ends its session and so releases the lock too.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}, nil
}
