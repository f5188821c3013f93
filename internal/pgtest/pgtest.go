// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema on the server named by SCANNER_TEST_POSTGRES_URL, dropped when the
// test ends, so that packages testing in parallel never see each other's
// tables (River's included). Without a server the test skips when run by
// hand and fails in CI (CI=true), like every test of a real dependency.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// URLEnv names the PostgreSQL the tests use; .ci/run sets it.
const URLEnv = "SCANNER_TEST_POSTGRES_URL"

// SchemaURL creates a schema named prefix_<random> and returns a database
// URL whose connections use it (search_path). The schema is dropped when the
// test ends: register SchemaURL before whatever uses the database, so that
// its cleanup runs after theirs.
func SchemaURL(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv(URLEnv)
	if base == "" {
		testenv.Require(t, "PostgreSQL", fmt.Errorf("%s is not set", URLEnv))
	}
	testenv.Require(t, "PostgreSQL", nil)
	admin, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
		if err != nil {
			_ = admin.Close()
		}
	}
	testenv.Require(t, "PostgreSQL", err)
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
		t.Fatalf("parse %s: %v", URLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
