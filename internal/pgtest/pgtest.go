// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema on the server named by SCANNER_TEST_POSTGRES_URL, dropped when the
// test ends, so that packages testing in parallel never see each other's
// tables (River's included). Without a server the test skips when run by
// hand and fails in CI (CI=true), like every test of a real dependency.
package pgtest

import (
	"database/sql"
	"net/url"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// SchemaURL creates a schema named prefix_<random> and returns a database
// URL whose connections use it (search_path). The schema is dropped when the
// test ends: register SchemaURL before whatever uses the database, so that
// its cleanup runs after theirs.
func SchemaURL(t testing.TB, prefix string) string {
	t.Helper()
	base := testenv.PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	schema := prefix + "_" + testenv.RandomHex(6)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		_ = admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", testenv.PostgresURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
