package atomicscan

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/atomicscan/atomicscantest"
	"github.com/centos-pipeline/analytics-scanner/internal/safefile/safefiletest"
)

func TestInstallWritesTheScannerConfig(t *testing.T) {
	root := t.TempDir()
	path, err := Install(root, "registry.example/team/analytics-scanner:1.2")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "etc", "atomic.d", "analytics-integration"); path != want {
		t.Errorf("path = %s, want %s", path, want)
	}
	want := atomicscantest.WantConfig("registry.example/team/analytics-scanner:1.2")
	if got := atomicscantest.ReadConfig(t, path); !reflect.DeepEqual(got, want) {
		t.Errorf("config = %#v\nwant %#v", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644 (atomic may run as another user)", fi.Mode().Perm())
	}
}

func TestInstallReplacesAnEarlierConfig(t *testing.T) {
	root := t.TempDir()
	if _, err := Install(root, "old-image"); err != nil {
		t.Fatal(err)
	}
	path, err := Install(root, "new-image")
	if err != nil {
		t.Fatal(err)
	}
	if got := atomicscantest.ReadConfig(t, path)["image_name"]; got != "new-image" {
		t.Errorf("image_name = %v, want new-image", got)
	}
	safefiletest.AssertOnlyFiles(t, filepath.Dir(path), ScannerName)
}

func TestInstallRefusesBadImages(t *testing.T) {
	for _, image := range []string{"", "  ", "two words", "Upper", "bad:tag:twice"} {
		t.Run(image, func(t *testing.T) {
			root := t.TempDir()
			_, err := Install(root, image)
			if !errors.Is(err, ErrInvalidImage) {
				t.Errorf("Install(%q) = %v, want ErrInvalidImage", image, err)
			}
			safefiletest.AssertOnlyFiles(t, root)
		})
	}
}

func TestInstallAcceptsIDs(t *testing.T) {
	const id = "sha256:ebe7b177e793420eee930d297eba19c676fede8ee69c74bcbda3acdaa1f6f266"
	for _, image := range []string{id, id[len("sha256:"):], "localhost:5000/x@" + id} {
		if err := CheckImage(image); err != nil {
			t.Errorf("CheckImage(%q) = %v", image, err)
		}
	}
}

func TestInstallFailsWhenRootIsNotADirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(root, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(root, "img"); err == nil {
		t.Error("Install under a file succeeded")
	}
}

func TestUninstall(t *testing.T) {
	root := t.TempDir()
	installed, err := Install(root, "img")
	if err != nil {
		t.Fatal(err)
	}
	path, removed, err := Uninstall(root)
	if err != nil || !removed || path != installed {
		t.Fatalf("Uninstall = %s, %v, %v; want %s, true, nil", path, removed, err, installed)
	}
	if _, err := os.Stat(installed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("config still there: %v", err)
	}
	// Twice, and on a root that never had one: nothing to do, no error.
	for _, r := range []string{root, t.TempDir()} {
		if _, removed, err := Uninstall(r); err != nil || removed {
			t.Errorf("Uninstall(%s) again = %v, %v; want false, nil", r, removed, err)
		}
	}
}

func TestUninstallReportsOtherFailures(t *testing.T) {
	root := t.TempDir()
	// A non-empty directory where the file should be cannot be removed.
	if err := os.MkdirAll(filepath.Join(ConfigPath(root), "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Uninstall(root); err == nil {
		t.Error("Uninstall of a non-empty directory succeeded")
	}
}
