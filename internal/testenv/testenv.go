// Package testenv says whether a test's real dependencies are here: a
// Docker daemon (Docker), PostgreSQL (PostgresURL), the built image, a
// binary. Tests that need one call these or Require (dockertest.New and
// pgtest.SchemaURL go through Docker and PostgresURL): under
// `go test -short` they skip, so that the fast tier runs logic tests only;
// without the dependency they skip when run by hand and fail in CI
// (CI=true), so a missing dependency can never pass for a green run.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// PostgresURLEnv names the PostgreSQL the tests use; .ci/run sets it.
const PostgresURLEnv = "SCANNER_TEST_POSTGRES_URL"

// pingTimeout bounds a presence check: a dependency that is there answers
// in milliseconds.
const pingTimeout = 5 * time.Second

// Docker returns a client of the daemon named by Docker's environment
// (DOCKER_HOST, or the default socket) once it has answered a ping, closed
// when the test ends; without a daemon it is Require's skip or failure.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	Require(t, "a Docker daemon", nil) // skips under -short before dialling
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		if _, err = c.Ping(ctx); err != nil {
			_ = c.Close()
		}
	}
	Require(t, "a Docker daemon", err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// PostgresURL returns the URL of the tests' PostgreSQL (PostgresURLEnv)
// once it has answered a ping; without one it is Require's skip or failure.
func PostgresURL(t testing.TB) string {
	t.Helper()
	Require(t, "PostgreSQL", nil) // skips under -short before dialling
	u := os.Getenv(PostgresURLEnv)
	if u == "" {
		// No server given: the package's own, when PostgreSQL is
		// installed (started once, stopped by Main).
		var err error
		u, err = startedPostgres()
		Require(t, "PostgreSQL", err)
	}
	db, err := sql.Open("pgx", u)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		err = db.PingContext(ctx)
		cancel()
		_ = db.Close()
	}
	Require(t, "PostgreSQL", err)
	return u
}

// Require skips t under -short, which runs no test of a real dependency;
// otherwise it is RequireDependency.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if testing.Short() {
		recordSkip(t, what, nil)
		t.Skipf("needs %s; skipped by -short", what)
	}
	RequireDependency(t, what, err)
}

// RequireDependency skips t when a dependency is missing (err not nil),
// unless CI=true, in which case the test fails: in CI every dependency must
// be there.
func RequireDependency(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v", what, err)
	}
	recordSkip(t, what, err)
	t.Skipf("%s not available (set CI=true to make this a failure): %v", what, err)
}

// RandomHex returns n random bytes in hex: names and secrets no other test
// run shares, so that finding one in an output cannot be a coincidence.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
