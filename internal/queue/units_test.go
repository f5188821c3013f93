package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

func TestParseDatabaseURL(t *testing.T) {
	tests := []struct {
		name, raw, dataDir string
		wantDialect        dialect
		wantPath, wantDSN  string
		wantErr            string
	}{
		{name: "default", raw: "", dataDir: "/var/lib/scanner", wantDialect: dialectSQLite, wantPath: "/var/lib/scanner/scanner.db"},
		{name: "default without data dir", raw: "", wantErr: "DataDir is required"},
		{name: "postgres", raw: "postgres://u:pw@db:5432/scans?sslmode=disable", wantDialect: dialectPostgres,
			wantDSN: "postgres://u:pw@db:5432/scans?sslmode=disable"},
		{name: "postgresql", raw: "postgresql://db/scans", wantDialect: dialectPostgres, wantDSN: "postgresql://db/scans"},
		{name: "sqlite absolute", raw: "sqlite:///srv/data/q.db", wantDialect: dialectSQLite, wantPath: "/srv/data/q.db"},
		{name: "sqlite relative", raw: "sqlite:q.db", wantDialect: dialectSQLite, wantPath: "q.db"},
		{name: "sqlite double slash relative", raw: "sqlite://data/q.db", wantDialect: dialectSQLite, wantPath: "data/q.db"},
		{name: "sqlite empty", raw: "sqlite:", wantErr: "names no file"},
		{name: "sqlite with options", raw: "sqlite:q.db?mode=ro", wantErr: "plain file path"},
		{name: "other scheme", raw: "mysql://u:secretpw@db/x", wantErr: `scheme "mysql" is not supported`},
		{name: "user and password without scheme", raw: "u:secretpw@db/x", wantErr: `scheme "u" is not supported`},
		{name: "no scheme", raw: "db.example.com/x", wantErr: "has no scheme"},
		{name: "bare path", raw: "/tmp/x.db", wantErr: "has no scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDatabaseURL(tt.raw, tt.dataDir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseDatabaseURL(%q) error = %v, want one containing %q", tt.raw, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secretpw") {
					t.Errorf("error %q quotes the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseDatabaseURL(%q): %v", tt.raw, err)
			}
			if got.dialect != tt.wantDialect || got.path != tt.wantPath || got.dsn != tt.wantDSN {
				t.Errorf("parseDatabaseURL(%q) = %+v, want %v %q %q", tt.raw, got, tt.wantDialect, tt.wantPath, tt.wantDSN)
			}
		})
	}
}

func TestImageKey(t *testing.T) {
	id := strings.Repeat("0a", 32)
	tests := []struct{ a, b string }{
		{"nginx", "docker.io/library/nginx:latest"},
		{"nginx:1.25", "docker.io/library/nginx:1.25"},
		{"example/app", "docker.io/example/app:latest"},
		{"quay.io/org/app", "quay.io/org/app:latest"},
		{"sha256:" + id, id},
		{" nginx ", "nginx"},
	}
	for _, tt := range tests {
		if ka, kb := imageKey(tt.a), imageKey(tt.b); ka != kb {
			t.Errorf("imageKey(%q) = %q, imageKey(%q) = %q; want equal", tt.a, ka, tt.b, kb)
		}
	}
	distinct := []string{"nginx", "nginx:1.25", "quay.io/library/nginx", "example/app@sha256:" + id, id[:12], "Not A Ref!"}
	seen := map[string]string{}
	for _, ref := range distinct {
		k := imageKey(ref)
		if other, dup := seen[k]; dup {
			t.Errorf("imageKey(%q) = imageKey(%q) = %q; want distinct", ref, other, k)
		}
		seen[k] = ref
	}
}

func TestRetryDelay(t *testing.T) {
	const base, maxDelay = 2 * time.Second, 5 * time.Minute
	tests := []struct {
		attempt  int
		jitter   float64
		min, max time.Duration
	}{
		{attempt: 1, jitter: 0.5, min: base, max: base},
		{attempt: 2, jitter: 0.5, min: 2 * base, max: 2 * base},
		{attempt: 4, jitter: 0.5, min: 8 * base, max: 8 * base},
		{attempt: 1, jitter: 0, min: base * 8 / 10, max: base * 8 / 10},
		{attempt: 1, jitter: 0.999999, min: base * 11 / 10, max: base * 12 / 10},
		{attempt: 20, jitter: 0.999999, min: maxDelay, max: maxDelay},
		{attempt: 1000, jitter: 0, min: maxDelay * 8 / 10, max: maxDelay * 8 / 10},
	}
	for _, tt := range tests {
		got := retryDelay(base, maxDelay, tt.attempt, tt.jitter)
		if got < tt.min || got > tt.max {
			t.Errorf("retryDelay(attempt %d, jitter %v) = %v, want in [%v, %v]", tt.attempt, tt.jitter, got, tt.min, tt.max)
		}
	}
}

// TestNextRetryHonoursRetryAfter: the worker's NextRetry reads the wait the
// server asked for from the job Work was given, bounded by RetryMax, and
// never retries sooner than the backoff.
func TestNextRetryHonoursRetryAfter(t *testing.T) {
	s := &Store{cfg: Config{RetryBase: time.Second, RetryMax: time.Minute}}
	w := &scanWorker{s: s}
	within := func(at time.Time, lo, hi time.Duration) bool {
		d := time.Until(at)
		return d >= lo-time.Second && d <= hi
	}
	job := &river.Job[ScanArgs]{JobRow: &rivertype.JobRow{Attempt: 1}}
	if at := w.NextRetry(job); !within(at, 800*time.Millisecond, 1200*time.Millisecond) {
		t.Errorf("without Retry-After the next try is in %v, want the backoff (1s ±20%%)", time.Until(at))
	}
	job.Args.retryAfter = 30 * time.Second
	if at := w.NextRetry(job); !within(at, 30*time.Second, 30*time.Second) {
		t.Errorf("with Retry-After 30s the next try is in %v, want 30s", time.Until(at))
	}
	job.Args.retryAfter = time.Hour
	if at := w.NextRetry(job); !within(at, time.Minute, time.Minute) {
		t.Errorf("with Retry-After 1h the next try is in %v, want RetryMax (1m)", time.Until(at))
	}
	job.Args.retryAfter, job.Attempt = time.Millisecond, 3
	if at := w.NextRetry(job); !within(at, 3200*time.Millisecond, 4800*time.Millisecond) {
		t.Errorf("with a Retry-After shorter than the backoff the next try is in %v, want the backoff (4s ±20%%)", time.Until(at))
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := listCursor{createdAt: 1767225600123456, id: "0197d1c2-aaaa-7000-8000-000000000001"}
	got, err := decodeCursor(c.encode())
	if err != nil || got != c {
		t.Fatalf("decodeCursor(encode(%+v)) = %+v, %v", c, got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	scannerFor := func(string) (*scan.Scanner, error) { return &scan.Scanner{}, nil }
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no scanner", Config{DataDir: t.TempDir()}, "ScannerFor is required"},
		{"unreachable postgres", Config{
			DatabaseURL: "postgres://scanner:hunter2@127.0.0.1:1/scans?connect_timeout=2",
			ScannerFor:  scannerFor,
		}, "connect to postgres"},
		{"unsupported scheme", Config{DatabaseURL: "mysql://scanner:hunter2@db/x", ScannerFor: scannerFor}, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open error = %q, want one containing %q and no password", err, tt.wantErr)
			}
		})
	}
}

func TestOpenCreatesPrivateDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	s, err := Open(context.Background(), Config{
		DataDir:    dir,
		ScannerFor: func(string) (*scan.Scanner, error) { return &scan.Scanner{}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v, %v; want mode 0700", info, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "scanner.db")); err != nil {
		t.Errorf("no database file: %v", err)
	}
}
