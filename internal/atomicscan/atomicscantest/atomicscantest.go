// Package atomicscantest holds what the tests of atomic's scanner
// configuration share: the file read as atomic reads it, and the whole
// configuration it must hold, written out once as the contract rather than
// derived from the code under test.
package atomicscantest

import (
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// ReadConfig parses the configuration file at path the way atomic does,
// into plain maps and lists, so that a test sees the YAML rather than the
// package's own struct.
func ReadConfig(t testing.TB, path string) map[string]any {
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

// WantConfig is the whole configuration for image, as ReadConfig returns it.
func WantConfig(image string) map[string]any {
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
