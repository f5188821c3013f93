package oneshot

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/atomicscan"
	"github.com/centos-pipeline/analytics-scanner/internal/atomicscan/atomicscantest"
)

// atomicConfig is what atomic reads from <root>/etc/atomic.d/, parsed
// generically.
func atomicConfig(t *testing.T, root string) map[string]any {
	t.Helper()
	return atomicscantest.ReadConfig(t, filepath.Join(root, "etc", "atomic.d", "analytics-integration"))
}

func TestInstallCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantImage string
	}{
		{"--image", map[string]string{"IMAGE": "from-env"}, []string{"--image", "registry.example/team/scanner:2"}, "registry.example/team/scanner:2"},
		{"IMAGE as atomic sets it", map[string]string{"IMAGE": "registry.example/team/scanner:1"}, nil, "registry.example/team/scanner:1"},
		{"no image given", nil, nil, atomicscan.DefaultImage},
		{"empty IMAGE", map[string]string{"IMAGE": ""}, nil, atomicscan.DefaultImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The directories are made as needed.
			root := filepath.Join(t.TempDir(), "host")
			out := runCommand(t, tt.env, append([]string{"install", "--root", root}, tt.args...)...)
			if out.code != exitOK {
				t.Fatalf("exit %d, want 0", out.code)
			}
			if got := atomicConfig(t, root); !reflect.DeepEqual(got, atomicscantest.WantConfig(tt.wantImage)) {
				t.Errorf("config = %#v\nwant %#v", got, atomicscantest.WantConfig(tt.wantImage))
			}
			if !strings.Contains(out.stdout, filepath.Join(root, "etc", "atomic.d", "analytics-integration")) {
				t.Errorf("stdout %q does not say where the config went", out.stdout)
			}
		})
	}
}

func TestUninstallCommand(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if out := runCommand(t, nil, "install", "--root", root); out.code != exitOK {
		t.Fatalf("install: exit %d", out.code)
	}
	path := filepath.Join(root, "etc", "atomic.d", "analytics-integration")
	out := runCommand(t, nil, "uninstall", "--root", root)
	if out.code != exitOK || !strings.Contains(out.stdout, "Removed "+path) {
		t.Errorf("uninstall: exit %d, stdout %q", out.code, out.stdout)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("config still there: %v", err)
	}
	// Again: nothing to remove is no error.
	out = runCommand(t, nil, "uninstall", "--root", root)
	if out.code != exitOK || !strings.Contains(out.stdout, "Nothing to remove") {
		t.Errorf("second uninstall: exit %d, stdout %q", out.code, out.stdout)
	}
}

func TestInstallCommandErrors(t *testing.T) {
	t.Parallel()
	file := plainFile(t)
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    int
		wantErr string
	}{
		{"unknown flag", nil, []string{"install", "--bogus"}, exitUsage, "flag provided but not defined"},
		{"extra argument", nil, []string{"install", "extra"}, exitUsage, "unexpected arguments"},
		{"empty root", nil, []string{"install", "--root", ""}, exitUsage, "--root must not be empty"},
		{"image with space", nil, []string{"install", "--root", t.TempDir(), "--image", "two words"}, exitUsage, "invalid image name"},
		{"bad IMAGE", map[string]string{"IMAGE": "Upper"}, []string{"install", "--root", t.TempDir()}, exitUsage, "invalid image name"},
		{"root is a file", nil, []string{"install", "--root", file}, exitWrite, "scan install: create"},
		{"uninstall unknown flag", nil, []string{"uninstall", "--image", "x"}, exitUsage, "flag provided but not defined"},
		{"uninstall extra argument", nil, []string{"uninstall", "x"}, exitUsage, "unexpected arguments"},
		{"uninstall root is a file", nil, []string{"uninstall", "--root", file}, exitWrite, "scan uninstall: remove"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := runCommand(t, tt.env, tt.args...)
			if out.code != tt.want {
				t.Errorf("exit %d, want %d", out.code, tt.want)
			}
			if out.stdout != "" || !strings.Contains(out.stderr, tt.wantErr) {
				t.Errorf("stdout %q, stderr %q; want nothing and an error containing %q", out.stdout, out.stderr, tt.wantErr)
			}
		})
	}
}

func TestInstallHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"install", "--help"}, {"uninstall", "-h"}} {
		out := runCommand(t, nil, args...)
		if out.code != exitOK || !strings.Contains(out.stdout, "Usage:\n  scan "+args[0]) || !strings.Contains(out.stdout, "--root DIR") {
			t.Errorf("%q: exit %d, stdout %q", args, out.code, out.stdout)
		}
	}
}
