package queue

import (
	"context"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Reads do not queue behind a write: with the writer held by an open
// transaction (as a long accept or a worker's final write holds SQLite's one
// writer connection), Get, List and QueueDepth still answer, and see the
// last committed state.
func TestReadsDoNotWaitForTheWriter(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open()
		ctx := context.Background()
		rec, _, err := s.Submit(ctx, scan.Request{Image: "example/readers:1"})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		// An uncommitted change the reads must not see.
		if _, err := tx.ExecContext(ctx, `UPDATE scans SET status = 'running' WHERE id = $1`, rec.ID); err != nil {
			t.Fatal(err)
		}

		readCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		got, err := s.Get(readCtx, rec.ID)
		if err != nil || got.Status != scan.StatusQueued {
			t.Errorf("Get with the writer held: %s, %v; want the committed queued record at once", got.Status, err)
		}
		page, err := s.List(readCtx, scan.Filter{})
		if err != nil || len(page.Scans) != 1 || page.Scans[0].ID != rec.ID {
			t.Errorf("List with the writer held: %+v, %v", page, err)
		}
		if n, err := s.QueueDepth(readCtx); err != nil || n != 1 {
			t.Errorf("QueueDepth with the writer held: %d, %v; want 1", n, err)
		}
	})
}

// The read connections are read-only: a write through them fails instead of
// competing with the writer for SQLite's lock.
func TestSQLiteReadConnectionsRefuseWrites(t *testing.T) {
	s := newTestEnv(t, "sqlite").open()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.rdb == s.db {
		t.Fatal("SQLite reads share the writer's pool")
	}
	if _, err := s.rdb.ExecContext(ctx, `DELETE FROM scans`); err == nil {
		t.Error("a write through the read pool succeeded")
	}
}
