// Package queue is the service's durable queue and record store: it keeps
// scan requests in a table of its own and runs them as River jobs, on an
// embedded SQLite database or on PostgreSQL. It implements scan.Service.
//
// A scan's record and its job are written in the same transaction when it is
// submitted, when it is canceled and when it ends, so that a process killed
// at any point leaves them consistent: a job whose process died is rescued
// by River and tried again, and a final result is written exactly once.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/notify"
	"github.com/centos-pipeline/analytics-scanner/internal/redact"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Defaults for the zero values of Config.
const (
	DefaultWorkers             = 4
	DefaultMaxAttempts         = 250
	DefaultRetryBase           = 2 * time.Second
	DefaultRetryMax            = 30 * time.Second
	DefaultRetryFor            = time.Hour
	DefaultJobTimeout          = time.Minute
	DefaultDeadAfter           = 20 * time.Second
	DefaultReregisterAfter     = 24 * time.Hour
	DefaultRetention           = 30 * 24 * time.Hour
	DefaultMaxQueueDepth       = 1000
	DefaultMaintenanceInterval = time.Minute
)

// rescueMargin is how much longer than JobTimeout a job may stay running
// before River's rescuer deems its process dead and queues it again. It
// must be positive (River requires RescueStuckJobsAfter > JobTimeout) and
// covers the final write after an attempt that used all its time. River's
// rescuer is only the fallback (it runs every 30 s, on the leader alone):
// the store's heartbeats find a killed runner's scans much sooner (see
// rescue.go).
const rescueMargin = 30 * time.Second

// finishTimeout bounds the work done after an attempt: the error report of a
// failed scan and the final write. It is detached from the attempt's context
// so that a scan that timed out is still reported and recorded.
const finishTimeout = 30 * time.Second

// Config configures a Store.
type Config struct {
	// DatabaseURL chooses the database: "" is the SQLite file
	// <DataDir>/scanner.db; "postgres://..." or "postgresql://..." is
	// PostgreSQL; "sqlite:///abs/path.db" or "sqlite:relative.db" is that
	// SQLite file (relative to the working directory).
	DatabaseURL string
	// DataDir is created if missing (0700).
	DataDir string
	// Workers is how many scans this process runs at once (default 4).
	Workers int
	// MaxAttempts caps the tries of a scan (default 250, which RetryFor
	// binds first at the default retry delays).
	MaxAttempts int
	// RetryBase is the first retry delay; it doubles, with jitter, up to
	// RetryMax (defaults 2s and 30s). RetryMax is also how long after an
	// outage ends a scan waiting through it may take to notice.
	RetryBase time.Duration
	RetryMax  time.Duration
	// RetryFor is the time budget of a scan failing transiently: no new
	// attempt starts once this long has passed since its first (default
	// 1h). The error report of a failed scan has the same budget.
	RetryFor time.Duration
	// JobTimeout bounds each attempt (default 1m: an image inspection,
	// bounded at 30 s, and one analytics request, 15 s by default).
	JobTimeout time.Duration
	// DeadAfter is how long a started store may go without a heartbeat
	// before the scans it was running are deemed orphaned (its process
	// killed) and run again by a live one (default 20s).
	DeadAfter time.Duration
	// Retention is how long final records are kept (default 30 days; 0
	// means the default, a negative value keeps them forever).
	Retention time.Duration
	// ResolveImage, when set, returns the image id a submission's
	// reference names in its source, or an error when it cannot tell
	// cheaply (a source it does not resolve, an image not there, a daemon
	// down). Submissions of one image id are then one scan, whatever
	// reference each used; otherwise the reference's text decides.
	ResolveImage func(ctx context.Context, source, ref string) (imageID string, err error)
	// ReregisterAfter is how long a successful registration of a server,
	// repository and commit stands for later scans of the same, which
	// then send nothing (default 24h; negative: every scan registers,
	// and scans of one commit may register at the same time).
	ReregisterAfter time.Duration
	// MaxQueueDepth is how many scans may be not yet final before Submit
	// answers scan.EQueueFull (default 1000), exactly: concurrent
	// submissions check and insert one at a time (an advisory lock on
	// PostgreSQL, IMMEDIATE transactions on SQLite).
	MaxQueueDepth int
	// ScannerFor returns the scanner for a request's analytics server (""
	// is the default). The store calls it in the worker, once per attempt.
	ScannerFor func(server string) (*scan.Scanner, error)
	// Scrub masks configured secrets in what the store writes: results,
	// errors (River's too) and logs of scans. Nil scrubs nothing.
	Scrub *redact.Scrubber
	// ReportInterval and ReportDeadline drive the follow-up of each
	// registered commit's report (zero means scan.DefaultReportInterval and
	// scan.DefaultReportDeadline); the follow-up's transient failures back
	// off from RetryBase.
	ReportInterval time.Duration
	ReportDeadline time.Duration
	// Notifier signs and delivers callbacks; nil means none are sent.
	Notifier *notify.Notifier
	// NotifyURL receives the callbacks of every scan, beside each scan's
	// own callback URL.
	NotifyURL string
	// Metrics may be nil.
	Metrics *metrics.Metrics
	Log     zerolog.Logger

	// MaintenanceInterval is how often a started store prunes old records
	// and fails scans whose job the queue gave up on (default 1m).
	MaintenanceInterval time.Duration
	// Now is the clock of the records; nil means time.Now. River keeps its
	// own clock.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	setDefault(&c.Workers, DefaultWorkers)
	setDefault(&c.MaxAttempts, DefaultMaxAttempts)
	setDefault(&c.RetryBase, DefaultRetryBase)
	setDefault(&c.RetryMax, DefaultRetryMax)
	setDefault(&c.RetryFor, DefaultRetryFor)
	setDefault(&c.JobTimeout, DefaultJobTimeout)
	setDefault(&c.DeadAfter, DefaultDeadAfter)
	setDefault(&c.ReregisterAfter, DefaultReregisterAfter)
	setDefault(&c.Retention, DefaultRetention)
	setDefault(&c.MaxQueueDepth, DefaultMaxQueueDepth)
	setDefault(&c.MaintenanceInterval, DefaultMaintenanceInterval)
	if c.RetryMax < c.RetryBase {
		c.RetryMax = c.RetryBase
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Store is the durable queue and record store. It is safe for concurrent use.
type Store struct {
	cfg     Config
	dialect dialect
	target  dbTarget
	db      *sql.DB
	// rdb serves Get, List and QueueDepth: on SQLite read-only connections
	// of their own, on PostgreSQL db itself.
	rdb *sql.DB
	// listener is River's LISTEN connection pool on PostgreSQL, else nil.
	listener *pgxpool.Pool
	client   *river.Client[*sql.Tx]
	driver   riverdriver.Driver[*sql.Tx]
	log      zerolog.Logger
	// runnerID names this process in scans.runner and scanner_runners,
	// whose heartbeats tell live runners from killed ones.
	runnerID string

	// finished wakes Waits in this process when a scan becomes final here;
	// Waits also poll, for scans finished by other replicas.
	finished broadcaster
	// submits are the submissions waiting to be written together (see
	// groupcommit.go).
	submits submitQueue
	// writes are the SQLite transactions waiting to be committed together
	// (see writegroup.go).
	writes writeQueue

	mu              sync.Mutex
	started         bool
	stopMaintenance context.CancelFunc
	maintenanceDone chan struct{}
	heartbeatDone   chan struct{}
}

var _ scan.Service = (*Store)(nil)

// Open connects to the database, creates or migrates its tables (River's and
// the store's) and builds the queue client. The store accepts Submit, Get,
// List and Delete at once; Start makes it run scans too.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if cfg.ScannerFor == nil {
		return nil, errors.New("store: Config.ScannerFor is required")
	}
	target, err := parseDatabaseURL(cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	// DataDir only holds the default SQLite database: with any other
	// database it is not created, lest the store fail where the working
	// directory is not writable.
	if cfg.DatabaseURL == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create data directory: %w", err)
		}
	}
	if target.dialect == dialectSQLite {
		// Processes opening one SQLite file at once take turns until its
		// tables are migrated: switching a new file to WAL and River's
		// migrator both fail with SQLITE_BUSY rather than wait when
		// another process is at the same step.
		if err := os.MkdirAll(filepath.Dir(target.path), 0o700); err != nil {
			return nil, fmt.Errorf("store: create the database directory: %w", err)
		}
		unlock, err := lockFile(ctx, target.path+".lock")
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	db, err := openDB(ctx, target, cfg.Workers)
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:     cfg,
		dialect: target.dialect,
		target:  target,
		db:      db,
		log:     cfg.Log.With().Str("component", "store").Logger(),
	}
	s.finished.init()
	runner, err := uuid.NewV7()
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: runner id: %w", err)
	}
	s.runnerID = runner.String()

	var driver riverdriver.Driver[*sql.Tx]
	if target.dialect == dialectSQLite {
		driver = riversqlite.New(db)
	} else {
		// A small pgx pool beside database/sql holds River's LISTEN
		// connection: a new scan wakes an idle worker of any replica at
		// once, instead of every replica polling the database.
		listener, err := pgxpool.New(ctx, target.dsn)
		if err != nil {
			_ = db.Close()
			return nil, errors.New("store: open the PostgreSQL listener: the URL is not valid")
		}
		s.listener = listener
		driver = riverdatabasesql.NewWithPgxListener(db, listener)
	}
	s.driver = driver
	riverLog := slog.New(msDurations{zerolog.NewSlogHandler(riverLogger(cfg.Log))})
	if err := s.migrate(ctx, driver, riverLog); err != nil {
		s.closeDB()
		return nil, err
	}
	// After the migrations, which leave the file in WAL mode.
	if s.rdb, err = openReadDB(ctx, target, db); err != nil {
		s.closeDB()
		return nil, err
	}

	workers := river.NewWorkers()
	for _, add := range []func() error{
		func() error { return river.AddWorkerSafely(workers, &scanWorker{s: s}) },
		func() error { return river.AddWorkerSafely(workers, &reportWorker{s: s}) },
		func() error { return river.AddWorkerSafely(workers, &followUpWorker{s: s}) },
		func() error { return river.AddWorkerSafely(workers, &notifyWorker{s: s}) },
	} {
		if err := add(); err != nil {
			s.closeDB()
			return nil, fmt.Errorf("store: register worker: %w", err)
		}
	}
	jobRetention := riverJobRetention(cfg.Retention)
	client, err := river.NewClient(driver, &river.Config{
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers:              workers,
		MaxAttempts:          cfg.MaxAttempts,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.JobTimeout + rescueMargin,
		// A fetch takes at most as many jobs as there are idle workers,
		// so the cooldown caps throughput at Workers per cooldown: River's
		// 100 ms default allows 40 scans/s with 4 workers, 10 ms about 400
		// (see BenchmarkSubmitAndComplete and the README for measured
		// figures). On PostgreSQL, LISTEN/NOTIFY wakes the fetcher when a
		// scan is queued and polling is only the fallback; SQLite has no
		// such channel, so there polling is all there is.
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: fetchPollInterval(target.dialect),
		PollOnly:          target.dialect == dialectSQLite,
		// Jobs are only the queue's bookkeeping: the scans table keeps
		// everything a user sees, so finished jobs need not outlive a day.
		CompletedJobRetentionPeriod: jobRetention,
		CancelledJobRetentionPeriod: jobRetention,
		DiscardedJobRetentionPeriod: jobRetention,
		Logger:                      riverLog,
	})
	if err != nil {
		s.closeDB()
		return nil, fmt.Errorf("store: create queue client: %w", err)
	}
	s.client = client
	return s, nil
}

// riverLogger keeps River's own logs at warnings and above: its info lines
// repeat, per job, what the store already logs in its own words.
func riverLogger(log zerolog.Logger) zerolog.Logger {
	l := log.With().Str("component", "river").Logger()
	if l.GetLevel() < zerolog.WarnLevel {
		l = l.Level(zerolog.WarnLevel)
	}
	return l
}

// riverJobRetention is how long River keeps finished jobs: a day, or less
// when records themselves are kept less, since a job is useless once its
// record is gone.
func riverJobRetention(recordRetention time.Duration) time.Duration {
	const day = 24 * time.Hour
	if recordRetention > 0 && recordRetention < day {
		return recordRetention
	}
	return day
}

func fetchPollInterval(d dialect) time.Duration {
	if d == dialectSQLite {
		// Nothing wakes the fetcher on SQLite when a scan is queued
		// (River's InsertTx does not, and there is no LISTEN), so the
		// poll interval is the wait between accept and start: 100 ms
		// made accept→finished at 50 scans/s 77 ms at the median (see
		// README, Performance). An idle poll is one short query, ~100
		// a second.
		return 10 * time.Millisecond
	}
	// LISTEN/NOTIFY announces new scans; polling only catches what a lost
	// notification missed, so River's default pace spares the server.
	return time.Second
}

// Start starts the workers, River's maintenance (among them the rescuer of
// jobs whose process died) and the store's own (pruning). ctx only carries
// values: the store runs until Stop, whatever happens to ctx.
func (s *Store) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("store: already started")
	}
	ctx = context.WithoutCancel(ctx)
	// Announced before any scan is fetched: a scan naming a runner never
	// heard of would look orphaned to the other replicas.
	if err := s.beat(ctx); err != nil {
		return fmt.Errorf("store: announce this runner: %w", err)
	}
	if err := s.client.Start(ctx); err != nil {
		return fmt.Errorf("store: start queue: %w", err)
	}
	mctx, cancel := context.WithCancel(ctx)
	s.stopMaintenance = cancel
	s.maintenanceDone = make(chan struct{})
	s.heartbeatDone = make(chan struct{})
	go func() {
		defer close(s.maintenanceDone)
		s.maintain(mctx)
	}()
	go func() {
		defer close(s.heartbeatDone)
		s.heartbeat(mctx)
	}()
	s.started = true
	s.log.Info().Int("workers", s.cfg.Workers).Str("database", s.dialect.String()).Msg("store started")
	return nil
}

// Stop stops fetching scans and lets the running ones finish until ctx is
// done; then it cancels them and waits for them to return. A canceled scan
// goes back to the queue without using up an attempt, for this or another
// process to run later. Stop on a store that was not started does nothing.
func (s *Store) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return nil
	}
	s.started = false
	s.stopMaintenance()
	err := s.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		s.log.Warn().Msg("scans still running at the stop deadline; canceling them")
		// The scans return promptly once canceled; the bound only guards
		// against one that does not, so that shutdown cannot hang.
		hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
		err = s.client.StopAndCancel(hard)
	}
	<-s.maintenanceDone
	<-s.heartbeatDone
	s.retire()
	if err != nil {
		return fmt.Errorf("store: stop queue: %w", err)
	}
	s.log.Info().Msg("store stopped")
	return nil
}

// Close closes the database. A store still started is stopped first, its
// running scans given finishTimeout to end; call Stop before to choose.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	stopErr := s.Stop(ctx)
	return errors.Join(stopErr, s.closeDB())
}

// closeDB closes the database and, on PostgreSQL, the listener's pool.
func (s *Store) closeDB() error {
	if s.listener != nil {
		s.listener.Close()
	}
	var readErr error
	if s.rdb != nil && s.rdb != s.db {
		readErr = s.rdb.Close()
	}
	return errors.Join(s.db.Close(), readErr)
}

func (s *Store) now() time.Time { return s.cfg.Now() }

// Database names the database for logs: "postgresql" (the URL may hold a
// password), or "sqlite (<file>)".
func (s *Store) Database() string {
	if s.dialect == dialectSQLite {
		return "sqlite (" + s.target.path + ")"
	}
	return "postgresql"
}

// broadcaster wakes every waiter at once: a waiter takes the current
// channel, which is closed and replaced on each broadcast.
type broadcaster struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcaster) init() { b.ch = make(chan struct{}) }

func (b *broadcaster) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcaster) broadcast() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.ch)
	b.ch = make(chan struct{})
}
