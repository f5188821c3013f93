package safefiletest

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that notes a failure instead of failing the test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }

func TestAssertOnlyFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b", "a"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		names    []string
		wantFail bool
	}{
		{[]string{"a", "b"}, false},
		{[]string{"a"}, true},           // a file besides
		{[]string{"a", "b", "c"}, true}, // a file missing
		{nil, true},                     // not empty
	} {
		r := &recorder{TB: t}
		AssertOnlyFiles(r, dir, tc.names...)
		if r.failed != tc.wantFail {
			t.Errorf("AssertOnlyFiles(%q) failed %v, want %v", tc.names, r.failed, tc.wantFail)
		}
	}
	r := &recorder{TB: t}
	AssertOnlyFiles(r, t.TempDir())
	if r.failed {
		t.Error("an empty folder does not pass AssertOnlyFiles with no names")
	}
}
