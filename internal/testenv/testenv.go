// Package testenv says whether a test's real dependencies are here: a
// Docker daemon, PostgreSQL, the built image. Tests that need one call
// Require (through dockertest.New, pgtest.SchemaURL or directly): under
// `go test -short` they skip, so that the fast tier runs logic tests only;
// without the dependency they skip when run by hand and fail in CI
// (CI=true), so a missing dependency can never pass for a green run.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
)

// Require skips t under -short, which runs no test of a real dependency;
// otherwise it is RequireDependency.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if testing.Short() {
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
	t.Skipf("%s not available (set CI=true to make this a failure): %v", what, err)
}

// RandomHex returns n random bytes in hex: names and secrets no other test
// run shares, so that finding one in an output cannot be a coincidence.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
