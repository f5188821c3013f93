package queue

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
)

// TestWriteGroupKeepsEachCallersWork runs transactions at once on SQLite,
// where they share groups: one that fails and one that panics leave no
// write behind and get their own error, and every other one's write stands.
func TestWriteGroupKeepsEachCallersWork(t *testing.T) {
	env := newTestEnv(t, "sqlite")
	s := env.open()
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE grouped_test (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	const callers = 40
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			errs[i] = s.inTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO grouped_test (n) VALUES ($1)`, i); err != nil {
					return err
				}
				switch i {
				case 7:
					// Its insert is rolled back to its savepoint.
					_, err := tx.ExecContext(ctx, `INSERT INTO grouped_test (n) VALUES ($1)`, i)
					return err
				case 13:
					panic("boom")
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch i {
		case 7:
			if !isUniqueViolation(err) {
				t.Errorf("caller 7: %v, want its unique violation", err)
			}
		case 13:
			if err == nil || !strings.Contains(err.Error(), "panic in a transaction: boom") {
				t.Errorf("caller 13: %v, want the panic as its error", err)
			}
		default:
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT n FROM grouped_test ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if len(got) != callers-2 {
		t.Fatalf("%d rows written, want %d: %v", len(got), callers-2, got)
	}
	for _, n := range got {
		if n == 7 || n == 13 {
			t.Errorf("row %d was written by a caller that failed", n)
		}
	}
}
