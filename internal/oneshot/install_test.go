package oneshot

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/centos-pipeline/analytics-scanner/internal/atomicscan"
)

// atomicConfig is what atomic reads from <root>/etc/atomic.d/, parsed
// generically.
func atomicConfig(t *testing.T, root string) map[string]any {
	t.Helper()
	return readAtomicConfig(t, filepath.Join(root, "etc", "atomic.d", "analytics-integration"))
}

func readAtomicConfig(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("config is not YAML: %v\n%s", err, raw)
	}
	return cfg
}

// wantConfig is the whole configuration for image.
func wantConfig(image string) map[string]any {
	return map[string]any{
		"type":         "scanner",
		"scanner_name": "analytics-integration",
		"image_name":   image,
		"default_scan": "register",
		"custom_args": []any{
			"-v", "/var/run/docker.sock:/var/run/docker.sock",
			"--user", "0",
			"-e", "IMAGE_NAME=$IMAGE_NAME",
			"-e", "SERVER=$SERVER",
			// Bare names: docker copies the values from atomic's
			// environment, so they never appear on a command line.
			"-e", "ANALYTICS_TOKEN",
			"-e", "ANALYTICS_3SCALE_SECRET",
		},
		"scans": []any{map[string]any{
			"name":        "register",
			"args":        []any{"/usr/local/bin/scan", "register"},
			"description": "Registers the image under test's git-url, git-sha and email-ids labels with the analytics server.",
		}, map[string]any{
			"name":        "report",
			"args":        []any{"/usr/local/bin/scan", "report"},
			"description": "Asks the analytics server for the report of the image's git-url and git-sha: its dependencies and CVEs.",
		}},
	}
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
			if got := atomicConfig(t, root); !reflect.DeepEqual(got, wantConfig(tt.wantImage)) {
				t.Errorf("config = %#v\nwant %#v", got, wantConfig(tt.wantImage))
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
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
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
