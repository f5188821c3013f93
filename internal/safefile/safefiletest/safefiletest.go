// Package safefiletest checks what safefile promises its callers' tests: a
// folder that holds the files written and no temporary file besides.
package safefiletest

import (
	"os"
	"slices"
	"testing"
)

// AssertOnlyFiles checks that dir holds exactly names, in os.ReadDir's
// (sorted) order: no temporary file was left behind.
func AssertOnlyFiles(t testing.TB, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if names == nil {
		names = []string{}
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}
