package safefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/safefile/safefiletest"
)

func TestWriteFile(t *testing.T) {
	t.Run("creates with the given mode and leaves no temporary file", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "out.json")
		if err := WriteFile(p, []byte("first"), 0o644); err != nil {
			t.Fatal(err)
		}
		assertFile(t, p, "first")
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
		}
		safefiletest.AssertOnlyFiles(t, dir, "out.json")
	})

	t.Run("replaces an existing file whole", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "out.json")
		if err := os.WriteFile(p, []byte(strings.Repeat("old ", 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(p, []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		assertFile(t, p, "new")
		safefiletest.AssertOnlyFiles(t, dir, "out.json")
	})

	t.Run("fails in a missing directory without leaving anything", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteFile(filepath.Join(dir, "absent", "out.json"), []byte("x"), 0o644); err == nil {
			t.Fatal("WriteFile into a missing directory succeeded")
		}
		safefiletest.AssertOnlyFiles(t, dir)
	})

	t.Run("fails over a directory and keeps it", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "taken")
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(p, []byte("x"), 0o644); err == nil {
			t.Fatal("WriteFile over a directory succeeded")
		}
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			t.Errorf("directory was replaced: %v, %v", fi, err)
		}
		safefiletest.AssertOnlyFiles(t, dir, "taken")
	})
}

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s = %q, want %q", path, got, want)
	}
}
