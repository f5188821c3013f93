package pgtest

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

func TestSchemaURLIsolatesAndDrops(t *testing.T) {
	var schema string
	t.Run("use", func(t *testing.T) {
		u := SchemaURL(t, "pgtest")
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRowContext(context.Background(), `SELECT current_schema()`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(schema, "pgtest_") {
			t.Fatalf("current schema %q, want pgtest_*", schema)
		}
		if _, err := db.Exec(`CREATE TABLE t (x int)`); err != nil {
			t.Fatalf("create a table in the test's schema: %v", err)
		}
	})
	if schema == "" {
		return // skipped: no PostgreSQL
	}
	// The subtest's cleanup has run: its schema must be gone.
	admin := SchemaURL(t, "pgtest_check")
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("schema %s still exists after its test", schema)
	}
}
